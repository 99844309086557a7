"""File > Export…: pick a format from :data:`diface_editor.core.formats.FORMATS` (or an MP4 video,
rendered by ``diface render`` with its size, camera and quality) and a file; writes with
:func:`~diface_editor.core.formats.save_animation` (atomic). Errors are shown in a dialog.

A large file (over :data:`BACKGROUND_BYTES`, e.g. 2 minutes as 3DiFACE ``.npy``) is written off the
GUI thread and a video is rendered in a ``diface render`` child process, both with a progress bar;
the dialog stays responsive and Cancel stops a render."""

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


#: the Export dialog's entry for a rendered video
VIDEO = "mp4"
#: outputs estimated larger than this are written on a background thread (with a progress bar)
BACKGROUND_BYTES = 16 * 2**20
VIDEO_SIZES = ("512x512", "720x720", "1024x1024", "1280x720", "1920x1080")


def estimated_bytes(anim: Animation, fmt) -> int:
    """A rough size of ``anim`` written as ``fmt`` (vertex takes and text formats are the large ones)."""
    per_frame = anim.face.shape[1] + 3
    if getattr(fmt, "name", "") == "3diface" and anim.space == "arkit":
        per_frame = 5023 * 3  # written as FLAME vertices
    return int(anim.n_frames * per_frame * (12 if getattr(fmt, "name", "") == "livelink" else 4))


class ExportDialog(QtWidgets.QDialog):
    """Choose format and destination; :meth:`accept` writes the file (errors stay in the dialog)."""

    def __init__(self, anim: Animation, default_stem: str, folder: str | Path, rig=None, audio=None,
                 parent: QtWidgets.QWidget | None = None, last_format: str | None = None,
                 transcript=None) -> None:
        super().__init__(parent)
        self.transcript = transcript if transcript is not None and transcript.aligned else None
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
        self.format_box.addItem("MP4 video (rendered head with the audio)", VIDEO)
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
        self.words_check = QtWidgets.QCheckBox("Words and phones beside the file (NAME.words.json, NAME.TextGrid)")
        self.words_check.setToolTip("The aligned transcript as JSON and as a Praat TextGrid; glTF and .npz "
                                    "files also carry it in their metadata")
        self.words_check.setChecked(self.transcript is not None)
        self.words_check.setEnabled(self.transcript is not None)
        self._words_on = self.transcript is not None  # read by export(), which may run off the GUI thread
        self.words_check.toggled.connect(lambda on: setattr(self, "_words_on", bool(on)))
        form.addRow("", self.words_check)
        # the video's render options (diface render)
        from diface_editor.render.video import CAMERAS

        self.video_box = QtWidgets.QGroupBox("Video")
        vf = QtWidgets.QFormLayout(self.video_box)
        self.video_size = QtWidgets.QComboBox()
        self.video_size.addItems(VIDEO_SIZES)
        self.video_camera = QtWidgets.QComboBox()
        self.video_camera.addItems(list(CAMERAS))
        self.video_crf = QtWidgets.QSpinBox()
        self.video_crf.setRange(0, 51)
        self.video_crf.setValue(18)
        self.video_crf.setToolTip("x264 quality: lower is better (18 = visually lossless)")
        self.video_supersample = QtWidgets.QSpinBox()
        self.video_supersample.setRange(1, 4)
        self.video_supersample.setValue(2)
        self.video_supersample.setToolTip("Anti-aliasing factor (1 = off)")
        vf.addRow("Size:", self.video_size)
        vf.addRow("Camera:", self.video_camera)
        vf.addRow("Quality (crf):", self.video_crf)
        vf.addRow("Supersample:", self.video_supersample)
        form.addRow(self.video_box)
        self.progress = QtWidgets.QProgressBar()
        self.progress.hide()
        form.addRow(self.progress)
        self._job = None  # the running background write or render
        self.buttons = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.Ok | QtWidgets.QDialogButtonBox.Cancel)
        self.buttons.button(QtWidgets.QDialogButtonBox.Ok).setText("Export")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        form.addRow(self.buttons)
        self.format_box.currentIndexChanged.connect(self._on_format)
        if last_format:
            self.set_format(last_format)
        self._on_format()

    def is_video(self) -> bool:
        return self.format_box.currentData() == VIDEO

    def current_format(self):
        i = self.format_box.currentIndex()
        return self.formats[i] if 0 <= i < len(self.formats) else None

    def format_name(self) -> str:
        """The chosen entry's name (a format's name or ``"mp4"``)."""
        return str(self.format_box.currentData() or "")

    def set_format(self, name: str) -> None:
        i = self.format_box.findData(name)
        if i >= 0:
            self.format_box.setCurrentIndex(i)

    def _on_format(self) -> None:
        video = self.is_video()
        self.video_box.setVisible(video)
        fmt = self.current_format()
        if fmt is None and not video:
            self.desc.setText("No export format is available.")
            return
        self.desc.setText("The head rendered from the front (or another camera) with the audio, as H.264 MP4 "
                          "(what `diface render` writes)" if video else fmt.description)
        ext = ".mp4" if video else fmt.extension
        p = Path(self.path_edit.text())
        known = {e for f in self.formats for e in f.extensions} | {".mp4"}
        stem = p.name[: -len(p.suffix)] if p.suffix.lower() in known else p.name
        self.path_edit.setText(str(p.with_name(stem + ext)))

    def _browse(self) -> None:
        fmt = self.current_format()
        if fmt is None and not self.is_video():
            return
        filt = "MP4 video (*.mp4)" if self.is_video() else f"{fmt.name} ({' '.join('*' + e for e in fmt.extensions)})"
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
        from diface_editor.core.formats.transcript_files import transcript_metadata, write_transcript_sidecars

        words = self.transcript if self._words_on else None
        anim = self.anim.copy()
        anim.metadata.update(transcript_metadata(words, anim.duration, anim.fps))
        written = export_animation(anim, Path(text).expanduser(), fmt, self.rig, self.audio)
        write_transcript_sidecars(written, words, anim.duration, anim.fps)
        return written

    def video_command(self, out: Path, work: Path) -> list[str]:
        """The ``diface render`` command for the video (the animation and audio saved into ``work``)."""
        import sys

        from diface_editor.core.formats import save_animation

        anim_path = save_animation(self.anim, work / "take.npz", format="native")
        cmd = [sys.executable, "-m", "diface_editor", "render", str(anim_path), "-o", str(out),
               "--size", self.video_size.currentText(), "--camera", self.video_camera.currentText(),
               "--crf", str(self.video_crf.value()), "--supersample", str(self.video_supersample.value())]
        if self.audio is not None:
            import soundfile as sf

            wav = work / "audio.wav"
            sf.write(str(wav), self.audio.samples, int(self.audio.sample_rate))
            cmd += ["--audio", str(wav)]
        else:
            cmd += ["--no-audio"]
        return cmd

    def busy(self) -> bool:
        """A background write or render runs."""
        return self._job is not None

    def _start_job(self) -> None:
        self.progress.show()
        self.buttons.button(QtWidgets.QDialogButtonBox.Ok).setEnabled(False)
        self.format_box.setEnabled(False)

    def _job_done(self, written: Path | None, error: str | None) -> None:
        self._job = None
        self.progress.hide()
        self.buttons.button(QtWidgets.QDialogButtonBox.Ok).setEnabled(True)
        self.format_box.setEnabled(True)
        if error is not None:
            self.error_box = show_error(self, "Export failed", error)
            return
        self.written = written
        super().accept()

    def _render(self, out: Path) -> None:
        import re
        import tempfile

        if out.suffix.lower() != ".mp4":
            out = out.with_name(out.name + ".mp4")
        work = Path(tempfile.mkdtemp(prefix="diface-export-"))
        cmd = self.video_command(out, work)
        proc = QtCore.QProcess(self)
        self._job = proc
        self.progress.setRange(0, self.anim.n_frames)
        self.progress.setValue(0)
        self.progress.setFormat("rendering %v / %m frames")
        err: list[str] = []

        def read() -> None:
            text = bytes(proc.readAllStandardError()).decode("utf-8", "replace")
            err.append(text)
            done = re.findall(r"(\d+)/(\d+)", text)
            if done:
                self.progress.setValue(int(done[-1][0]))

        def finished(code, _status) -> None:
            import shutil

            shutil.rmtree(work, ignore_errors=True)
            if code == 0 and out.is_file():
                self._job_done(out, None)
            else:
                tail = "".join(err).strip().splitlines()
                msg = next((ln for ln in reversed(tail) if ln.startswith("diface")), tail[-1] if tail else "")
                self._job_done(None, f"the video could not be rendered ({msg or f'exit code {code}'})")

        proc.readyReadStandardError.connect(read)
        proc.finished.connect(finished)
        self._start_job()
        proc.start(cmd[0], cmd[1:])

    def _write_in_background(self) -> None:
        from diface_editor.gui.background import BackgroundCall

        job = BackgroundCall(self.export, "the export", self)
        self._job = job
        self.progress.setRange(0, 0)  # a busy bar: the writers report no progress
        self.progress.setFormat("writing…")
        job.succeeded.connect(lambda path: self._job_done(path, None))
        job.failed.connect(lambda message: self._job_done(None, message))
        self._start_job()
        job.start()

    def accept(self) -> None:
        if self._job is not None:
            return
        text = self.path_edit.text().strip()
        if self.is_video():
            if not text:
                self.error_box = show_error(self, "Export failed", "Choose a file to export to.")
                return
            self._render(Path(text).expanduser())
            return
        fmt = self.current_format()
        if fmt is not None and estimated_bytes(self.anim, fmt) > BACKGROUND_BYTES:
            self._write_in_background()
            return
        QtWidgets.QApplication.setOverrideCursor(QtCore.Qt.WaitCursor)
        try:
            self.written = self.export()
        except (DifaceError, OSError) as e:
            QtWidgets.QApplication.restoreOverrideCursor()
            self.error_box = show_error(self, "Export failed", str(e))
            return
        QtWidgets.QApplication.restoreOverrideCursor()
        super().accept()

    def reject(self) -> None:
        if isinstance(self._job, QtCore.QProcess):
            self._job.kill()  # Cancel stops a render
            self._job.waitForFinished(3000)
        elif self._job is not None:
            self._job.wait()
        super().reject()
