"""File > Export…: pick a format from :data:`diface_editor.core.formats.FORMATS` and a file; writes
with :func:`~diface_editor.core.formats.save_animation` (atomic). Errors are shown in a dialog."""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6 import QtCore, QtWidgets

from diface_editor.core.animation import Animation
from diface_editor.core.errors import DifaceError
from diface_editor.gui.dialogs import show_error

log = logging.getLogger(__name__)


def exportable_formats(anim: Animation) -> list:
    """Formats that can save ``anim``: every format with a saver, minus ARKit-only ones for vertex motion."""
    from diface_editor.core.formats import FORMATS

    out = []
    for fmt in FORMATS.values():
        if not fmt.can_save:
            continue
        desc = fmt.description.lower()
        if anim.space == "vertex" and "arkit" in desc and "vert" not in desc:
            continue
        out.append(fmt)
    return out


def save_options_for(fmt, rig=None, audio=None) -> dict:
    """Keyword options the editor can supply to ``fmt``'s saver (the rig for vertex formats, the audio)."""
    opts = {}
    names = fmt.save_options()
    if "rig" in names and rig is not None:
        opts["rig"] = rig
    if "audio" in names and audio is not None:
        opts["audio"] = audio
    return opts


def export_animation(anim: Animation, path: str | Path, fmt, rig=None, audio=None) -> Path:
    """Write ``anim`` to ``path`` in ``fmt`` (adds the format's suffix if missing). Raises DifaceError."""
    from diface_editor.core.formats import save_animation

    path = Path(path)
    if path.suffix.lower() not in fmt.extensions:
        path = path.with_name(path.name + fmt.extension)
    return save_animation(anim, path, format=fmt.name, **save_options_for(fmt, rig, audio))


class ExportDialog(QtWidgets.QDialog):
    """Choose format and destination; :meth:`accept` writes the file (errors stay in the dialog)."""

    def __init__(self, anim: Animation, default_stem: str, folder: str | Path, rig=None, audio=None,
                 parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export Animation")
        self.setMinimumWidth(560)
        self.anim, self.rig, self.audio = anim, rig, audio
        self.written: Path | None = None
        self.error_box: QtWidgets.QMessageBox | None = None
        self.formats = exportable_formats(anim)
        form = QtWidgets.QFormLayout(self)
        self.format_box = QtWidgets.QComboBox()
        for fmt in self.formats:
            self.format_box.addItem(f"{fmt.description.split(':')[0]}", fmt.name)
        self.format_box.setToolTip("File format to write")
        self.desc = QtWidgets.QLabel()
        self.desc.setWordWrap(True)
        self.desc.setStyleSheet("color: #9aa0a8;")
        row = QtWidgets.QHBoxLayout()
        self.path_edit = QtWidgets.QLineEdit(str(Path(folder) / default_stem))
        self.path_edit.setToolTip("Destination file (the format's suffix is added when missing)")
        browse = QtWidgets.QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        row.addWidget(self.path_edit, 1)
        row.addWidget(browse)
        info = QtWidgets.QLabel(f"{anim.n_frames} frames at {anim.fps:g} fps ({anim.duration:.2f} s), "
                                f"{anim.space} motion")
        form.addRow("Format:", self.format_box)
        form.addRow("", self.desc)
        form.addRow("File:", row)
        form.addRow("", info)
        self.buttons = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.Ok | QtWidgets.QDialogButtonBox.Cancel)
        self.buttons.button(QtWidgets.QDialogButtonBox.Ok).setText("Export")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        form.addRow(self.buttons)
        self.format_box.currentIndexChanged.connect(self._on_format)
        self._on_format()

    def current_format(self):
        i = self.format_box.currentIndex()
        return self.formats[i] if 0 <= i < len(self.formats) else None

    def set_format(self, name: str) -> None:
        i = self.format_box.findData(name)
        if i >= 0:
            self.format_box.setCurrentIndex(i)

    def _on_format(self) -> None:
        fmt = self.current_format()
        if fmt is None:
            self.desc.setText("No export format is available.")
            return
        self.desc.setText(fmt.description)
        p = Path(self.path_edit.text())
        stem = p.name[: -len(p.suffix)] if p.suffix.lower() in {e for f in self.formats for e in f.extensions} else p.name
        self.path_edit.setText(str(p.with_name(stem + fmt.extension)))

    def _browse(self) -> None:
        fmt = self.current_format()
        if fmt is None:
            return
        filt = f"{fmt.name} ({' '.join('*' + e for e in fmt.extensions)})"
        path, _ = QtWidgets.QFileDialog.getSaveFileName(self, "Export As", self.path_edit.text(), filt)
        if path:
            self.path_edit.setText(path)

    def export(self) -> Path:
        """Write the file with the chosen options (raises :class:`DifaceError`)."""
        fmt = self.current_format()
        if fmt is None:
            raise DifaceError("no export format is available for this animation")
        text = self.path_edit.text().strip()
        if not text:
            raise DifaceError("choose a file to export to")
        return export_animation(self.anim, Path(text).expanduser(), fmt, self.rig, self.audio)

    def accept(self) -> None:
        QtWidgets.QApplication.setOverrideCursor(QtCore.Qt.WaitCursor)
        try:
            self.written = self.export()
        except (DifaceError, OSError) as e:
            QtWidgets.QApplication.restoreOverrideCursor()
            self.error_box = show_error(self, "Export failed", str(e))
            return
        QtWidgets.QApplication.restoreOverrideCursor()
        super().accept()
