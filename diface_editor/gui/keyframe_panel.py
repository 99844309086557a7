"""The Keyframes dock: the list of the document's keyframes and an inspector for the selected one.

The list shows every keyframe (frame, time, part, group); selecting one moves the playhead there.
The inspector edits the selected keyframe: a face keyframe pins all face channels or one group
(mouth, jaw, eyes, brows, cheeks_nose; a combo box) and its values can be set with sliders (one per
channel of the group, 0..1 weights); a head keyframe shows its yaw/pitch/roll in degrees (spin
boxes). Nothing here changes the document: every change is emitted as the new keyframe and the main
window turns it into an undoable command (and a re-solve around it).

Signals:
    keyframe_selected(object): a :class:`~diface_editor.core.keyframes.Keyframe` was picked in the list.
    keyframe_edited(object, object): ``(old, new)`` keyframes; emitted once per finished gesture
        (slider released, spin box edited, group chosen).
    delete_requested(object): the selected keyframe.
"""

from __future__ import annotations

import numpy as np
from PySide6 import QtCore, QtWidgets

from diface_editor.core.arkit import GROUPS
from diface_editor.core.document import Document
from diface_editor.core.keyframes import Keyframe
from diface_editor.core.rotations import axis_angle_to_ypr, ypr_to_axis_angle

FACE_GROUPS = ("all",) + tuple(GROUPS)
SLIDER_SCALE = 1000  # slider ticks per unit weight


class KeyframePanel(QtWidgets.QWidget):
    """List of keyframes plus an inspector for the selected one (see the module docstring)."""

    keyframe_selected = QtCore.Signal(object)
    keyframe_edited = QtCore.Signal(object, object)
    delete_requested = QtCore.Signal(object)

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.doc: Document | None = None
        self.current: Keyframe | None = None
        self._syncing = False
        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 6)
        self.list = QtWidgets.QListWidget()
        self.list.setToolTip("Keyframes (I adds one at the playhead; double-click a curve adds one there)")
        lay.addWidget(self.list, 1)
        row = QtWidgets.QHBoxLayout()
        self.delete_button = QtWidgets.QPushButton("Delete")
        self.delete_button.setToolTip("Delete the selected keyframe")
        row.addStretch(1)
        row.addWidget(self.delete_button)
        lay.addLayout(row)

        self.inspector = QtWidgets.QGroupBox("Keyframe")
        il = QtWidgets.QFormLayout(self.inspector)
        self.group = QtWidgets.QComboBox()
        for g in FACE_GROUPS:
            self.group.addItem({"all": "all channels", "cheeks_nose": "cheeks + nose"}.get(g, g), g)
        self.group.setToolTip("Which face channels this keyframe pins (the rest is free to be generated)")
        il.addRow("Pins", self.group)
        self.head_spins = []
        for name in ("yaw", "pitch", "roll"):
            sb = QtWidgets.QDoubleSpinBox()
            sb.setRange(-180.0, 180.0)
            sb.setDecimals(1)
            sb.setSuffix(" °")
            sb.setKeyboardTracking(False)
            sb.editingFinished.connect(self._head_edited)
            sb.installEventFilter(self)
            il.addRow(name, sb)
            self.head_spins.append(sb)
        self.slider_area = QtWidgets.QScrollArea()
        self.slider_area.setWidgetResizable(True)
        self.slider_area.setMinimumHeight(160)
        self.slider_host = QtWidgets.QWidget()
        self.slider_form = QtWidgets.QFormLayout(self.slider_host)
        self.slider_form.setContentsMargins(0, 0, 0, 0)
        self.slider_area.setWidget(self.slider_host)
        il.addRow(self.slider_area)
        lay.addWidget(self.inspector, 2)
        self.sliders: dict[str, QtWidgets.QSlider] = {}

        self.list.currentRowChanged.connect(self._on_row)
        self.group.currentIndexChanged.connect(self._group_chosen)
        self.delete_button.clicked.connect(lambda: self.current is not None and self.delete_requested.emit(self.current))
        self._show_inspector()

    def set_head_limits(self, limits) -> None:
        """The ``(low, high)`` degrees of yaw, pitch and roll the head spin boxes accept."""
        for sb, (lo, hi) in zip(self.head_spins, limits):
            sb.setRange(float(lo), float(hi))

    def eventFilter(self, obj, ev) -> bool:
        """Enter commits a typed value and Escape takes it back; either way the field lets go of the
        keyboard, so the window's shortcuts (Delete, Space, I, ...) work again."""
        if obj in self.head_spins and ev.type() == QtCore.QEvent.KeyPress:
            if ev.key() in (QtCore.Qt.Key_Return, QtCore.Qt.Key_Enter):
                obj.interpretText()
                self._head_edited()
                obj.clearFocus()
                return True
            if ev.key() == QtCore.Qt.Key_Escape:
                self._show_inspector()  # the keyframe's values as they are
                obj.clearFocus()
                return True
        return super().eventFilter(obj, ev)

    # ------------------------------------------------------------------ document
    def set_document(self, doc: Document | None) -> None:
        if self.doc is not None:
            self.doc.events.disconnect_object(self)
        self.doc = doc
        self.current = None
        if doc is not None:
            doc.events.keyframes.connect(self._on_keyframes)
            doc.events.animation.connect(self._on_animation)
        self._on_keyframes(None)

    @property
    def keys(self) -> list[Keyframe]:
        return list(self.doc.keyframes) if self.doc is not None else []

    def _on_keyframes(self, _ev) -> None:
        keys = self.keys
        fps = self.doc.fps if self.doc is not None else 30.0
        self.list.blockSignals(True)
        self.list.clear()
        for k in keys:
            what = "head" if k.part == "head" else f"face · {k.group}"
            self.list.addItem(f"{k.frame:>5d}   {k.frame / fps:6.2f} s   {what}{'' if k.values is None else ' · set'}")
        row = self._row_of(self.current)
        if row is None and self.current is not None:  # moved or changed: follow the same frame/part
            row = next((i for i, k in enumerate(keys) if (k.frame, k.part) == (self.current.frame, self.current.part)), None)
        self.current = keys[row] if row is not None else None
        self.list.setCurrentRow(-1 if row is None else row)
        self.list.blockSignals(False)
        self._show_inspector()

    def _on_animation(self, _ev) -> None:
        if self.current is not None and self.current.values is None:
            self._show_inspector()  # the keyframe follows the animation: show its new values

    def _row_of(self, key: Keyframe | None) -> int | None:
        if key is None:
            return None
        for i, k in enumerate(self.keys):
            if k == key:
                return i
        return None

    def select(self, key: Keyframe | None) -> None:
        """Show ``key`` in the inspector (and select it in the list)."""
        row = self._row_of(key)
        self.list.setCurrentRow(-1 if row is None else row)

    def _on_row(self, row: int) -> None:
        keys = self.keys
        self.current = keys[row] if 0 <= row < len(keys) else None
        self._show_inspector()
        if self.current is not None:
            self.keyframe_selected.emit(self.current)

    # ------------------------------------------------------------------ inspector
    def _values(self, key: Keyframe) -> np.ndarray:
        return key.pinned_values(self.doc.animation)

    def _show_inspector(self) -> None:
        key, doc = self.current, self.doc
        self._syncing = True
        try:
            self.inspector.setEnabled(key is not None and doc is not None)
            self.delete_button.setEnabled(key is not None)
            is_face = key is not None and key.part == "face"
            self.group.setVisible(is_face)
            self.inspector.layout().labelForField(self.group).setVisible(is_face)
            for sb in self.head_spins:
                sb.setVisible(key is not None and key.part == "head")
                self.inspector.layout().labelForField(sb).setVisible(key is not None and key.part == "head")
            self.slider_area.setVisible(is_face)
            if key is None or doc is None or not 0 <= key.frame < doc.n_frames:
                self.inspector.setTitle("Keyframe")
                return
            self.inspector.setTitle(f"{key.part.capitalize()} keyframe at frame {key.frame}")
            if key.part == "head":
                ypr = np.degrees(axis_angle_to_ypr(self._values(key)[None])[0])
                for sb, v in zip(self.head_spins, ypr):
                    sb.setValue(float(v))
                return
            self.group.setCurrentIndex(max(0, self.group.findData(key.group)))
            self._build_sliders(key)
        finally:
            self._syncing = False

    def _build_sliders(self, key: Keyframe) -> None:
        anim = self.doc.animation
        cols = key.channels(anim)
        names = [anim.channel_names[c] if c < len(anim.channel_names) else f"c{c}" for c in cols]
        vals = self._values(key)
        if list(self.sliders) != names:
            while self.slider_form.rowCount():
                self.slider_form.removeRow(0)
            self.sliders = {}
            for n in names:
                s = QtWidgets.QSlider(QtCore.Qt.Horizontal)
                s.setRange(0, SLIDER_SCALE)
                s.setToolTip(f"{n}: weight 0..1 at this keyframe (release to apply)")
                s.sliderReleased.connect(self._face_edited)
                s.valueChanged.connect(lambda _v, s=s: None if s.isSliderDown() or self._syncing else self._face_edited())
                self.slider_form.addRow(n, s)
                self.sliders[n] = s
        for s, v in zip(self.sliders.values(), vals):
            s.setValue(int(round(float(np.clip(v, 0.0, 1.0)) * SLIDER_SCALE)))

    def slider_values(self) -> np.ndarray:
        return np.array([s.value() / SLIDER_SCALE for s in self.sliders.values()], np.float32)

    def _emit_edit(self, new: Keyframe) -> None:
        old = self.current
        if old is None or new == old:
            return
        self.current = new
        self.keyframe_edited.emit(old, new)

    def _group_chosen(self, _i: int) -> None:
        key = self.current
        if self._syncing or key is None or key.part != "face":
            return
        g = self.group.currentData()
        if g != key.group:
            self._emit_edit(Keyframe(key.frame, "face", g, None))

    def _face_edited(self) -> None:
        key = self.current
        if self._syncing or key is None or key.part != "face":
            return
        self._emit_edit(key.with_values(self.slider_values()))

    def _head_edited(self) -> None:
        key = self.current
        if self._syncing or key is None or key.part != "head":
            return
        ypr = np.radians([sb.value() for sb in self.head_spins])
        new_aa = ypr_to_axis_angle(np.asarray(ypr, np.float64)[None])[0]
        old_ypr = np.degrees(axis_angle_to_ypr(self._values(key)[None])[0])
        if np.allclose(old_ypr, [sb.value() for sb in self.head_spins], atol=0.05):
            return
        self._emit_edit(key.with_values(new_aa))
