"""Edit > Swap Pose: copy the pose at one frame to another (3DiFACE's ``keyframe_swap``).

The dialog only collects the choice: a source frame, a target frame (spin boxes in frames, the time
in seconds shown beside each) and which parts to copy (Face / Head). The main window runs the
edit (``EngineBridge.swap_pose``) when it is accepted. OK is disabled while the two frames are the
same or no part is ticked.
"""

from __future__ import annotations

from PySide6 import QtWidgets


class SwapPoseDialog(QtWidgets.QDialog):
    """Choose ``(source, target, parts)`` for a pose swap.

    Args:
        n_frames: frames in the clip (spin boxes range over ``0..n_frames-1``).
        fps: frames per second (for the times shown).
        source: initial source frame (e.g. the last copied frame, or the playhead).
        target: initial target frame (e.g. the playhead).
        parts: initially ticked parts (``"face"``, ``"head"``).
    """

    def __init__(self, n_frames: int, fps: float, source: int, target: int,
                 parts: tuple[str, ...] = ("face", "head"), parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Swap Pose")
        self.setObjectName("swap-pose-dialog")
        self.fps = float(fps)
        self.setMinimumWidth(420)
        last = max(0, int(n_frames) - 1)
        lay = QtWidgets.QVBoxLayout(self)
        intro = QtWidgets.QLabel("Copy the pose at the source frame to the target frame. Both frames are pinned "
                                 "and the influence window around the target is re-solved; everything else "
                                 "stays as it is.")
        intro.setWordWrap(True)
        lay.addWidget(intro)
        form = QtWidgets.QFormLayout()
        self.source_spin, self.source_time = self._frame_row(form, "Source frame", last, source)
        self.target_spin, self.target_time = self._frame_row(form, "Target frame", last, target)
        lay.addLayout(form)
        row = QtWidgets.QHBoxLayout()
        row.addWidget(QtWidgets.QLabel("Copy:"))
        self.face_box = QtWidgets.QCheckBox("Face")
        self.face_box.setToolTip("Copy the blendshape weights (the face is re-solved around the target)")
        self.head_box = QtWidgets.QCheckBox("Head")
        self.head_box.setToolTip("Copy the head rotation (the head is re-solved around the target)")
        self.face_box.setChecked("face" in parts)
        self.head_box.setChecked("head" in parts)
        row.addWidget(self.face_box)
        row.addWidget(self.head_box)
        row.addStretch(1)
        lay.addLayout(row)
        self.hint = QtWidgets.QLabel("")
        self.hint.setStyleSheet("color: #e0a040")
        lay.addWidget(self.hint)
        self.buttons = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.Ok | QtWidgets.QDialogButtonBox.Cancel)
        self.ok_button = self.buttons.button(QtWidgets.QDialogButtonBox.Ok)
        self.ok_button.setText("Swap")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        lay.addWidget(self.buttons)
        for w in (self.source_spin, self.target_spin):
            w.valueChanged.connect(self._update)
        for b in (self.face_box, self.head_box):
            b.toggled.connect(self._update)
        self._update()

    def _frame_row(self, form: QtWidgets.QFormLayout, label: str, last: int, value: int):
        spin = QtWidgets.QSpinBox()
        spin.setRange(0, last)
        spin.setValue(int(min(max(value, 0), last)))
        spin.setKeyboardTracking(True)
        time_label = QtWidgets.QLabel("")
        time_label.setMinimumWidth(70)
        h = QtWidgets.QHBoxLayout()
        h.addWidget(spin, 1)
        h.addWidget(time_label)
        form.addRow(label, h)
        return spin, time_label

    def parts(self) -> tuple[str, ...]:
        """The ticked parts, face first."""
        return tuple(p for p, b in (("face", self.face_box), ("head", self.head_box)) if b.isChecked())

    def values(self) -> tuple[int, int, tuple[str, ...]]:
        """``(source frame, target frame, parts)``."""
        return int(self.source_spin.value()), int(self.target_spin.value()), self.parts()

    def _update(self, *_args) -> None:
        self.source_time.setText(f"{self.source_spin.value() / self.fps:.2f} s")
        self.target_time.setText(f"{self.target_spin.value() / self.fps:.2f} s")
        a, b, parts = self.values()
        why = ("Choose two different frames." if a == b else "Tick Face and/or Head." if not parts else "")
        self.hint.setText(why)
        self.hint.setVisible(bool(why))
        self.ok_button.setEnabled(not why)

