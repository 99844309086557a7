"""Dockable panels and bars of the main window: generation settings and the transport bar."""

from __future__ import annotations

from PySide6 import QtCore, QtWidgets

from diface_editor.core.document import Document

SAMPLER_LABELS = (("dpmpp", "DPM-Solver++ (fast)"), ("ddim", "DDIM (fast)"), ("ddpm", "DDPM (reference, slow)"))


def format_time(t: float) -> str:
    """``m:ss.ss`` for a time in seconds."""
    m, s = divmod(max(0.0, t), 60.0)
    return f"{int(m)}:{s:05.2f}"


class GeneratePanel(QtWidgets.QWidget):
    """Model, sampler settings and the Generate / Resample buttons for the current document.

    Widgets write to the document (``doc.set_sampler``); the panel follows ``doc.events.settings``.
    The buttons are wired by the main window (``generate_button``, ``resample_button``).
    """

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.doc: Document | None = None
        self._syncing = False
        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(8, 8, 8, 8)
        lay.setSpacing(8)

        model_box = QtWidgets.QGroupBox("Model")
        ml = QtWidgets.QVBoxLayout(model_box)
        self.model_label = QtWidgets.QLabel("—")
        self.model_label.setWordWrap(True)
        self.model_label.setTextInteractionFlags(QtCore.Qt.TextSelectableByMouse)
        ml.addWidget(self.model_label)
        self.choose_model_button = QtWidgets.QPushButton("Choose Model Folder…")
        self.choose_model_button.setToolTip("Use another model bundle (a folder with config.json and weights)")
        ml.addWidget(self.choose_model_button)
        lay.addWidget(model_box)

        samp = QtWidgets.QGroupBox("Sampling")
        form = QtWidgets.QFormLayout(samp)
        form.setLabelAlignment(QtCore.Qt.AlignRight)
        self.sampler = QtWidgets.QComboBox()
        for key, label in SAMPLER_LABELS:
            self.sampler.addItem(label, key)
        self.sampler.setToolTip("Few-step samplers take seconds; DDPM runs all diffusion steps (the 3DiFACE reference)")
        self.steps = QtWidgets.QSpinBox()
        self.steps.setRange(0, 1000)
        self.steps.setSpecialValueText("model default")
        self.steps.setToolTip("Denoising steps (0 = the model's recommended number)")
        self.guidance = QtWidgets.QDoubleSpinBox()
        self.guidance.setRange(0.0, 10.0)
        self.guidance.setSingleStep(0.25)
        self.guidance.setToolTip("Classifier-free guidance on the audio: higher follows the speech more strongly")
        seed_row = QtWidgets.QHBoxLayout()
        self.seed = QtWidgets.QSpinBox()
        self.seed.setRange(0, 2**31 - 1)
        self.seed.setToolTip("Random seed: the same seed and settings give the same motion")
        self.new_seed = QtWidgets.QToolButton(text="New")
        self.new_seed.setToolTip("Pick a new random seed")
        self.new_seed.clicked.connect(self._random_seed)
        seed_row.addWidget(self.seed, 1)
        seed_row.addWidget(self.new_seed)
        form.addRow("Sampler", self.sampler)
        form.addRow("Steps", self.steps)
        form.addRow("Guidance", self.guidance)
        form.addRow("Seed", seed_row)
        lay.addWidget(samp)

        self.generate_button = QtWidgets.QPushButton("Generate")
        self.generate_button.setObjectName("primary")
        self.generate_button.setToolTip("Generate lip sync, expression and head motion for the whole clip (Ctrl+G)")
        lay.addWidget(self.generate_button)

        sel = QtWidgets.QGroupBox("Selection")
        sl = QtWidgets.QVBoxLayout(sel)
        self.selection_label = QtWidgets.QLabel("No range selected: drag across the timeline.")
        self.selection_label.setWordWrap(True)
        sl.addWidget(self.selection_label)
        self.resample_button = QtWidgets.QPushButton("Resample Selection")
        self.resample_button.setToolTip("Regenerate only the selected range; everything outside stays as it is (Ctrl+R)")
        sl.addWidget(self.resample_button)
        lay.addWidget(sel)
        lay.addStretch(1)

        self.sampler.currentIndexChanged.connect(self._write)
        self.steps.valueChanged.connect(self._write)
        self.guidance.valueChanged.connect(self._write)
        self.seed.valueChanged.connect(self._write)

    def set_document(self, doc: Document | None) -> None:
        if self.doc is not None:
            self.doc.events.disconnect_object(self)
        self.doc = doc
        if doc is not None:
            doc.events.settings.connect(self._sync)
            doc.events.selection.connect(self._sync_selection)
        self._sync()
        self._sync_selection()

    def set_model_text(self, text: str, ok: bool) -> None:
        self.model_label.setText(text)
        self.model_label.setStyleSheet("" if ok else "color: #ffb4a8;")

    def _sync(self, _ev=None) -> None:
        if self.doc is None:
            return
        s = self.doc.sampler
        self._syncing = True
        try:
            self.sampler.setCurrentIndex(max(0, self.sampler.findData(s.sampler)))
            self.steps.setValue(int(s.steps or 0))
            self.guidance.setValue(float(s.guidance))
            self.seed.setValue(int(s.seed))
        finally:
            self._syncing = False

    def _sync_selection(self, _ev=None) -> None:
        doc = self.doc
        sel = doc.selection if doc is not None else None
        if sel is None:
            self.selection_label.setText("No range selected: drag across the timeline.")
        else:
            a, b = sel
            self.selection_label.setText(f"Frames {a}–{b - 1} ({(b - a) / doc.fps:.2f} s, "
                                         f"{format_time(a / doc.fps)} to {format_time(b / doc.fps)})")
        self.resample_button.setEnabled(sel is not None)

    def _write(self, *_):
        if self._syncing or self.doc is None:
            return
        steps = self.steps.value()
        self.doc.set_sampler(sampler=self.sampler.currentData(), steps=steps or None,
                             guidance=float(self.guidance.value()), seed=int(self.seed.value()))

    def _random_seed(self) -> None:
        import random

        self.seed.setValue(random.randrange(0, 2**31 - 1))


class TransportBar(QtWidgets.QWidget):
    """Start / play-pause / loop buttons and the time read-out above the timeline.

    The buttons trigger the main window's actions, so tooltips and shortcuts are shared.
    """

    def __init__(self, actions: dict[str, QtWidgets.QWidget], parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        lay = QtWidgets.QHBoxLayout(self)
        lay.setContentsMargins(6, 2, 6, 2)
        lay.setSpacing(2)
        self.buttons = {}
        for name in ("start", "play", "end", "loop"):
            b = QtWidgets.QToolButton()
            b.setDefaultAction(actions[name])
            b.setAutoRaise(True)
            b.setIconSize(QtCore.QSize(18, 18))
            lay.addWidget(b)
            self.buttons[name] = b
        lay.addSpacing(10)
        self.time_label = QtWidgets.QLabel("0:00.00 / 0:00.00")
        f = self.time_label.font()
        f.setFamily("monospace")
        f.setStyleHint(f.StyleHint.Monospace)
        self.time_label.setFont(f)
        self.time_label.setToolTip("Playhead time / clip length, and the frame number")
        lay.addWidget(self.time_label)
        lay.addStretch(1)
        for name, short in (("zoom_out", "−"), ("zoom_in", "+"), ("fit", "Fit")):
            b = QtWidgets.QToolButton()
            b.setDefaultAction(actions[name])
            b.setText(short)
            b.setAutoRaise(True)
            lay.addWidget(b)
            self.buttons[name] = b

    def set_time(self, t: float, duration: float, frame: int, n_frames: int) -> None:
        self.time_label.setText(f"{format_time(t)} / {format_time(duration)}   frame {frame:>5d} / {max(0, n_frames - 1)}")
