"""Dockable panels and bars of the main window: generation settings and the transport bar."""

from __future__ import annotations

from dataclasses import replace

from PySide6 import QtCore, QtWidgets

from diface_editor.core.document import Document

SAMPLER_LABELS = (("dpmpp", "DPM-Solver++ (fast)"), ("ddim", "DDIM (fast)"), ("ddpm", "DDPM (reference, slow)"))


def format_time(t: float) -> str:
    """``m:ss.ss`` for a time in seconds."""
    m, s = divmod(max(0.0, t), 60.0)
    return f"{int(m)}:{s:05.2f}"


class _WheelOnlyWhenFocused(QtCore.QObject):
    """Event filter: a spin box or combo box takes the mouse wheel only when it has the keyboard focus,
    so scrolling the panel does not change the settings under the pointer (a user walkthrough found
    Lip sync changed, and the clip re-solved, by scrolling to the Style box)."""

    def eventFilter(self, obj, ev) -> bool:  # noqa: N802 (Qt's name)
        if ev.type() == QtCore.QEvent.Wheel and isinstance(obj, QtWidgets.QWidget) and not obj.hasFocus():
            p = obj.parentWidget()
            while p is not None and not isinstance(p, QtWidgets.QAbstractScrollArea):
                p = p.parentWidget()
            if p is not None:  # the panel's scroll area scrolls instead
                QtCore.QCoreApplication.sendEvent(p.verticalScrollBar(), ev)
            return True
        return False


def guard_wheel(root: QtWidgets.QWidget) -> None:
    """Apply :class:`_WheelOnlyWhenFocused` to every spin box and combo box under ``root``."""
    f = _WheelOnlyWhenFocused(root)
    for w in root.findChildren(QtWidgets.QAbstractSpinBox) + root.findChildren(QtWidgets.QComboBox):
        w.setFocusPolicy(QtCore.Qt.StrongFocus)
        w.installEventFilter(f)


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
        self.seed_lock = QtWidgets.QCheckBox("Lock")
        self.seed_lock.setChecked(True)
        self.seed_lock.setToolTip("Locked: every edit uses this seed. Unlocked: each edit draws a new seed "
                                  "(shown here afterwards)")
        seed_row.addWidget(self.seed_lock)
        form.addRow("Sampler", self.sampler)
        form.addRow("Steps", self.steps)
        form.addRow("Guidance", self.guidance)
        form.addRow("Seed", seed_row)
        self.blinks = QtWidgets.QCheckBox("Add eye blinks")
        self.blinks.setToolTip("Lay natural, randomly timed blinks over the generated face (the model itself does "
                               "not blink). The blink timing stays the same through edits; a take generated "
                               "without blinks gets none from its edits. Key the eyes group to pin the eyes")
        form.addRow("", self.blinks)
        self.reference_mode = QtWidgets.QCheckBox("3DiFACE reference mode")
        self.reference_mode.setToolTip(
            "Models imported from 3DiFACE: run the original code's pipeline end to end (the whole clip in one "
            "pass, 1000 DDPM steps, its audio features; Resample = in_between, keyframes = keyframe edit of the "
            "whole take, Swap = keyframe_swap). Slow: every edit regenerates the take. Off: diface's own fast "
            "pipeline. See docs/3diface_compat.md")
        self.reference_mode.setVisible(False)
        form.addRow("", self.reference_mode)
        lay.addWidget(samp)

        edit = QtWidgets.QGroupBox("Edits")
        ef = QtWidgets.QFormLayout(edit)
        ef.setLabelAlignment(QtCore.Qt.AlignRight)
        self.parts = QtWidgets.QComboBox()
        for key, label in (("both", "Face + head"), ("face", "Face only"), ("head", "Head only")):
            self.parts.addItem(label, key)
        self.parts.setToolTip("What an edit (keyframe solve, resample, variants, pasted pose) regenerates")
        self.influence = QtWidgets.QSpinBox()
        self.influence.setRange(1, 600)
        self.influence.setSuffix(" frames")
        self.influence.setToolTip("Influence radius: a keyframe change re-solves this many frames on each side of it; "
                                  "every other frame stays exactly as it is")
        self.interactive_steps = QtWidgets.QSpinBox()
        self.interactive_steps.setRange(0, 200)
        self.interactive_steps.setSpecialValueText("as Steps")
        self.interactive_steps.setValue(4)
        self.interactive_steps.setToolTip("Sampler steps for keyframe drags and pasted poses (few steps = fast feedback; "
                                          "0 = the Steps above)")
        self.auto_solve = QtWidgets.QCheckBox("Re-solve around keyframe changes")
        self.auto_solve.setChecked(True)
        self.auto_solve.setToolTip("After adding, moving or changing a keyframe, regenerate the influence window around it")
        self.drag_student = QtWidgets.QCheckBox("Drags use the 1-step student")
        self.drag_student.setChecked(True)
        self.drag_student.setToolTip("Keyframe drags, pasted and swapped poses use the model's distilled one-step "
                                     "student: one network call per edit (Resample and Generate keep the full "
                                     "sampler). Off: the sampler with the drag steps")
        self.drag_student.setVisible(False)
        ef.addRow("Parts", self.parts)
        ef.addRow("Influence", self.influence)
        ef.addRow("Drag steps", self.interactive_steps)
        ef.addRow(self.drag_student)
        ef.addRow(self.auto_solve)
        lay.addWidget(edit)

        perf = QtWidgets.QGroupBox("Transcript and performance")
        pf = QtWidgets.QFormLayout(perf)
        pf.setLabelAlignment(QtCore.Qt.AlignRight)
        self.transcript = QtWidgets.QPlainTextEdit()
        self._syncing_text = False  # the document's transcript is being shown in the box
        self.transcript.setPlaceholderText("What is said (optional): aligned with the audio, the mouth then "
                                           "closes at p/b/m, meets the teeth at f/v, rounds and opens with it")
        self.transcript.setFixedHeight(64)
        self.align_button = QtWidgets.QPushButton("Align")
        self.align_button.setToolTip("Align the transcript with the audio (words and phones); the next Generate "
                                     "or edit follows its visemes")
        self.use_anyway_button = QtWidgets.QPushButton("Use Anyway")
        self.use_anyway_button.setToolTip("The speech recogniser hears other words than these, so the transcript "
                                          "was not used. If it is right (an accent, a name, a noisy take), align "
                                          "it without that check")
        self.use_anyway_button.hide()
        self.transcript_status = QtWidgets.QLabel("No transcript: the motion follows the audio alone.")
        self.transcript_status.setWordWrap(True)
        pf.addRow(self.transcript)
        arow = QtWidgets.QHBoxLayout()
        arow.addWidget(self.transcript_status, 1)
        bcol = QtWidgets.QVBoxLayout()
        bcol.addWidget(self.align_button)
        bcol.addWidget(self.use_anyway_button)
        bcol.addStretch(1)
        arow.addLayout(bcol)
        pf.addRow(arow)

        def gain(lo: float, hi: float, tip: str) -> QtWidgets.QDoubleSpinBox:
            w = QtWidgets.QDoubleSpinBox()
            w.setRange(lo, hi)
            w.setSingleStep(0.1)
            w.setDecimals(2)
            w.setKeyboardTracking(False)
            w.setToolTip(tip)
            return w

        self.viseme_strength = gain(0.0, 1.0, "How hard the transcript's visemes are held: 0 = audio only, 1 = lips "
                                               "closed at every p/b/m, lip to teeth at f/v")
        self.lip_sync = gain(0.0, 2.0, "Mouth amplitude (1 = the model's)")
        self.upper_face = gain(0.0, 2.0, "Brow and eye activity (1 = the model's)")
        self.head_motion = gain(0.0, 2.0, "Amount of head motion (1 = the model's, 0 = still)")
        self.style = QtWidgets.QComboBox()
        self.style.setToolTip("The model's speaking style / identity")
        self.set_styles(())
        pf.addRow("Visemes", self.viseme_strength)
        pf.addRow("Lip sync", self.lip_sync)
        pf.addRow("Upper face", self.upper_face)
        pf.addRow("Head motion", self.head_motion)
        pf.addRow("Style", self.style)
        lay.addWidget(perf)

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
        vrow = QtWidgets.QHBoxLayout()
        self.variants_button = QtWidgets.QPushButton("Variants")
        self.variants_button.setToolTip("Draw several candidates for the selected range to choose from")
        self.n_variants = QtWidgets.QSpinBox()
        self.n_variants.setRange(2, 16)
        self.n_variants.setPrefix("× ")
        self.n_variants.setToolTip("How many candidates Variants draws")
        vrow.addWidget(self.variants_button, 1)
        vrow.addWidget(self.n_variants)
        sl.addLayout(vrow)
        self.variants = VariantsList()
        sl.addWidget(self.variants)
        lay.addWidget(sel)
        lay.addStretch(1)

        guard_wheel(self)
        self.sampler.currentIndexChanged.connect(self._write)
        self.steps.valueChanged.connect(self._write)
        self.guidance.valueChanged.connect(self._write)
        self.seed.valueChanged.connect(self._write)
        self.influence.valueChanged.connect(self._write)
        self.n_variants.valueChanged.connect(self._write)
        self.blinks.toggled.connect(self._write)
        self.reference_mode.toggled.connect(self._write)
        for name in ("viseme_strength", "lip_sync", "upper_face", "head_motion"):
            getattr(self, name).valueChanged.connect(lambda _v, n=name: self._write_performance(n))
        self.style.currentIndexChanged.connect(lambda _i: self._write_performance("style"))
        self.align_button.clicked.connect(lambda: self.align_requested.emit(self.transcript.toPlainText()))
        self.use_anyway_button.clicked.connect(
            lambda: self.use_anyway_requested.emit(self.transcript.toPlainText()))
        self.transcript.textChanged.connect(self._on_transcript_text)
        self.parts.currentIndexChanged.connect(self._emit_options)
        self.interactive_steps.valueChanged.connect(self._emit_options)
        self.seed_lock.toggled.connect(self._emit_options)
        self.auto_solve.toggled.connect(self._emit_options)
        self.drag_student.toggled.connect(self._emit_options)
        self.drag_student.toggled.connect(self._update_drag_steps)

    options_changed = QtCore.Signal()
    #: the transcript text to align with the audio
    align_requested = QtCore.Signal(str)
    #: the transcript text to align without the recogniser's check (it refused this text)
    use_anyway_requested = QtCore.Signal(str)
    #: the user typed, pasted or cut in the transcript box (not the document's transcript shown there)
    transcript_typed = QtCore.Signal()
    #: a performance control (``"lip_sync"``, ``"upper_face"``, ``"head_motion"``, ``"viseme_strength"``,
    #: ``"style"``) was changed by the user to a value (a float; the style's name or None): the window
    #: sets it as one undo step with its re-solve (the panel does not write it to the document itself)
    performance_changed = QtCore.Signal(str, object)

    def set_styles(self, names) -> None:
        """The model's style names (empty: the model has no styles, the box is disabled)."""
        self._syncing, was = True, self._syncing
        try:
            self.style.clear()
            self.style.addItem("model default" if names else "the model has no styles", None)
            for n in names:
                self.style.addItem(str(n), str(n))
            self.style.setEnabled(bool(names))
        finally:
            self._syncing = was
        if self.doc is not None:
            self._sync()

    def _write_performance(self, name: str) -> None:
        if self._syncing or self.doc is None:
            return
        value = self.style.currentData() if name == "style" else float(getattr(self, name).value())
        if getattr(self.doc.sampler, name) == value:
            return
        self.performance_changed.emit(name, value)

    def _sync_transcript(self, _ev=None) -> None:
        tr = self.doc.transcript if self.doc is not None else None
        if tr is None:
            self.transcript_status.setText("No transcript: the motion follows the audio alone.")
        else:
            self.transcript_status.setText(tr.status())
        text = tr.text if tr is not None else ""
        if self.transcript.toPlainText() != text:
            self._syncing_text = True
            try:
                self.transcript.setPlainText(text)
            finally:
                self._syncing_text = False
        self._sync_use_anyway()

    def _on_transcript_text(self) -> None:
        self._sync_use_anyway()
        if not self._syncing_text:
            self.transcript_typed.emit()

    def _sync_use_anyway(self) -> None:
        """"Use Anyway" is offered while the document's transcript was refused by the recogniser's check
        and the box still holds its text."""
        tr = self.doc.transcript if self.doc is not None else None
        self.use_anyway_button.setVisible(tr is not None and tr.mismatched
                                          and self.transcript.toPlainText().strip() == tr.text.strip())

    def edit_options(self):
        """The per-edit choices as an :class:`~diface_editor.engine.session.EditOptions`."""
        from diface_editor.engine.session import EditOptions

        p = self.parts.currentData()
        return EditOptions(parts=("face", "head") if p == "both" else (p,), seed_locked=self.seed_lock.isChecked(),
                           auto_solve=self.auto_solve.isChecked(),
                           interactive_steps=self.interactive_steps.value() or None,
                           drag_student=self.drag_student.isChecked() and self._student_available)

    def _emit_options(self, *_) -> None:
        self.options_changed.emit()

    def set_document(self, doc: Document | None) -> None:
        if self.doc is not None:
            self.doc.events.disconnect_object(self)
        self.doc = doc
        if doc is not None:
            doc.events.settings.connect(self._sync)
            doc.events.selection.connect(self._sync_selection)
            doc.events.transcript.connect(self._sync_transcript)
        self._sync()
        self._sync_selection()
        self._sync_transcript()

    _student_available = False

    def set_student_available(self, available: bool) -> None:
        """Show the drag-student switch (the model ships a distilled student) or hide it."""
        if bool(available) != self._student_available:
            self._student_available = bool(available)
            self.drag_student.setVisible(self._student_available)
            self._update_drag_steps()
            self.options_changed.emit()

    def _update_drag_steps(self, *_) -> None:
        self.interactive_steps.setEnabled(not (self._student_available and self.drag_student.isChecked())
                                          and not (self.doc is not None and self.doc.sampler.reference_mode))

    def set_reference_available(self, available: bool) -> None:
        """Show the reference-mode switch (the model is an imported 3DiFACE bundle) or hide it."""
        self.reference_mode.setVisible(bool(available))

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
            self.influence.setValue(int(s.influence_frames))
            self.n_variants.setValue(max(2, int(s.n_variants)))
            self.blinks.setChecked(bool(s.blinks))
            self.reference_mode.setChecked(bool(s.reference_mode))
            # reference mode always runs DDPM over every training step, without diface's extras
            for w in (self.sampler, self.steps, self.influence, self.blinks, self.drag_student):
                w.setEnabled(not s.reference_mode)
            self._update_drag_steps()
            for name in ("viseme_strength", "lip_sync", "upper_face", "head_motion"):
                getattr(self, name).setValue(float(getattr(s, name)))
            self.style.setCurrentIndex(max(0, self.style.findData(s.style)))
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
        self.variants_button.setEnabled(sel is not None)

    def _write(self, *_):
        if self._syncing or self.doc is None:
            return
        steps = self.steps.value()
        # (set_sampler's first parameter is itself called ``sampler``: pass whole settings)
        ref = self.reference_mode.isChecked()
        self.doc.set_sampler(replace(self.doc.sampler, sampler="ddpm" if ref else self.sampler.currentData(),
                                     steps=steps or None,
                             guidance=float(self.guidance.value()), seed=int(self.seed.value()),
                             influence_frames=int(self.influence.value()), n_variants=int(self.n_variants.value()),
                             blinks=self.blinks.isChecked(), reference_mode=ref))

    def _random_seed(self) -> None:
        import random

        self.seed.setValue(random.randrange(0, 2**31 - 1))


class VariantsList(QtWidgets.QWidget):
    """Candidates of a Variants job: click one to preview it (viewport and curves, nothing changes),
    **Apply** makes it one undoable edit, **Discard** drops them all.

    Signals:
        preview_requested(int): index of the variant to show (-1: stop previewing).
        apply_requested(int): index of the variant to apply.
        discarded()
    """

    preview_requested = QtCore.Signal(int)
    apply_requested = QtCore.Signal(int)
    discarded = QtCore.Signal()
    #: the number of candidates changed (0: none any more)
    count_changed = QtCore.Signal(int)

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.list = QtWidgets.QListWidget()
        self.list.setMaximumHeight(110)
        self.list.setToolTip("Click a candidate to preview it; Apply keeps it (undoable)")
        lay.addWidget(self.list)
        row = QtWidgets.QHBoxLayout()
        self.prev_button = QtWidgets.QToolButton(text="◀")
        self.prev_button.setToolTip("Previous candidate")
        self.next_button = QtWidgets.QToolButton(text="▶")
        self.next_button.setToolTip("Next candidate")
        self.apply_button = QtWidgets.QPushButton("Apply")
        self.apply_button.setToolTip("Replace the range with the previewed candidate (one undo step)")
        self.discard_button = QtWidgets.QPushButton("Discard")
        self.discard_button.setToolTip("Drop the candidates; the animation stays as it is")
        for w in (self.prev_button, self.next_button):
            row.addWidget(w)
        row.addWidget(self.apply_button, 1)
        row.addWidget(self.discard_button, 1)
        lay.addLayout(row)
        self.list.currentRowChanged.connect(self.preview_requested.emit)
        self.prev_button.clicked.connect(lambda: self.cycle(-1))
        self.next_button.clicked.connect(lambda: self.cycle(1))
        self.apply_button.clicked.connect(lambda: self.apply_requested.emit(self.list.currentRow()))
        self.discard_button.clicked.connect(self.discard)
        self.set_count(0)

    def set_count(self, n: int, label: str = "Variant") -> None:
        """Show ``n`` candidates (0 hides the list) and preview the first."""
        self.list.blockSignals(True)
        self.list.clear()
        for i in range(n):
            self.list.addItem(f"{label} {i + 1}")
        self.list.blockSignals(False)
        self.setVisible(n > 0)
        self.count_changed.emit(n)
        if n:
            self.list.setCurrentRow(0)

    @property
    def count(self) -> int:
        return self.list.count()

    def cycle(self, step: int) -> None:
        n = self.list.count()
        if n:
            self.list.setCurrentRow((self.list.currentRow() + step) % n)

    def discard(self) -> None:
        had = self.list.count() > 0
        self.set_count(0)
        self.preview_requested.emit(-1)
        if had:
            self.discarded.emit()


class VariantsStrip(QtWidgets.QFrame):
    """The candidates of a Variants job where the eye is: a highlighted strip right above the
    timeline (over the selection they were drawn for), one button per candidate, ◀ ▶, Apply and
    Discard. It is a second view of a :class:`VariantsList` (the Generate panel's): picking in
    either shows in both, and it hides when the candidates are applied or dropped."""

    def __init__(self, variants: VariantsList, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.variants = variants
        self.setObjectName("variants-strip")
        self.setFrameShape(QtWidgets.QFrame.StyledPanel)
        self.setStyleSheet("#variants-strip { background: #2d4a6e; border: 1px solid #5aa0ff; border-radius: 3px; }")
        lay = QtWidgets.QHBoxLayout(self)
        lay.setContentsMargins(8, 3, 8, 3)
        self.label = QtWidgets.QLabel("Variants:")
        self.label.setToolTip("Candidates for the selected range: click one to preview it (nothing changes until "
                              "Apply)")
        lay.addWidget(self.label)
        self.group = QtWidgets.QButtonGroup(self)
        self.group.setExclusive(True)
        self.button_row = QtWidgets.QHBoxLayout()
        self.button_row.setSpacing(2)
        lay.addLayout(self.button_row)
        prev_b = QtWidgets.QToolButton(text="◀")
        prev_b.setToolTip("Previous candidate")
        next_b = QtWidgets.QToolButton(text="▶")
        next_b.setToolTip("Next candidate")
        self.apply_button = QtWidgets.QPushButton("Apply")
        self.apply_button.setObjectName("primary")
        self.apply_button.setToolTip("Replace the range with the previewed candidate (one undo step)")
        self.discard_button = QtWidgets.QPushButton("Discard")
        self.discard_button.setToolTip("Drop the candidates; the animation stays as it is")
        for w in (prev_b, next_b):
            lay.addWidget(w)
        lay.addStretch(1)
        lay.addWidget(self.apply_button)
        lay.addWidget(self.discard_button)
        prev_b.clicked.connect(lambda: variants.cycle(-1))
        next_b.clicked.connect(lambda: variants.cycle(1))
        self.apply_button.clicked.connect(variants.apply_button.click)
        self.discard_button.clicked.connect(variants.discard)
        self.group.idClicked.connect(variants.list.setCurrentRow)
        variants.count_changed.connect(self._set_count)
        variants.list.currentRowChanged.connect(self._show_current)
        self._set_count(variants.count)

    def _set_count(self, n: int) -> None:
        for b in self.group.buttons():
            self.group.removeButton(b)
            b.deleteLater()
        for i in range(n):
            b = QtWidgets.QToolButton(text=str(i + 1))
            b.setCheckable(True)
            b.setToolTip(f"Preview variant {i + 1}")
            self.group.addButton(b, i)
            self.button_row.addWidget(b)
        self.label.setText(f"{n} variants:" if n else "Variants:")
        self.setVisible(n > 0)

    def _show_current(self, row: int) -> None:
        b = self.group.button(row)
        if b is not None:
            b.setChecked(True)


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
