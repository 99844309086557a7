"""Undoable edits of a :class:`~diface_editor.core.document.Document`.

Every change of motion or keyframes is a :class:`Command` with ``do(doc)`` and ``undo(doc)``.
Commands store exactly the slices they change (old and new values, copied), so ``undo`` restores
the animation bit for bit and ``do`` after ``undo`` re-applies the same bits. The GUI wraps them in
a ``QUndoStack`` (``gui/undo.py``); scripts and tests can use :class:`UndoStack`, which has the same
semantics without Qt.

Commands are applied by a stack only: ``stack.push(cmd)`` runs ``cmd.do(doc)``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from diface_editor.core.animation import Animation
from diface_editor.core.document import Document, DocumentError, SamplerSettings
from diface_editor.core.keyframes import Keyframe, KeyframeSet
from diface_editor.core.transcript import Transcript


class Command(ABC):
    """One undoable edit. ``text`` names it in Edit > Undo <text> and the history panel."""

    text: str = "edit"

    @abstractmethod
    def do(self, doc: Document) -> None:
        """Apply the edit (also used for redo)."""

    @abstractmethod
    def undo(self, doc: Document) -> None:
        """Revert exactly what :meth:`do` changed."""


class ReplaceFrames(Command):
    """Overwrite frames ``start..start+n-1`` of face and/or head (e.g. a generation result).

    Args:
        start: first frame.
        face: (n, C) new face values, or (n, len(face_cols)) with ``face_cols``; ``None`` keeps face.
        head: (n, 3) new axis-angle values; ``None`` keeps head.
        face_cols: which face columns ``face`` holds (default: all).
        text: label in the undo history.
    """

    def __init__(self, start: int, face: np.ndarray | None = None, head: np.ndarray | None = None,
                 face_cols: list[int] | np.ndarray | None = None, text: str = "change frames") -> None:
        if face is None and head is None:
            raise DocumentError("nothing to change: give face and/or head values")
        self.start = int(start)
        self.face_cols = None if face_cols is None else np.asarray(face_cols, np.intp).copy()
        self.new_face = None if face is None else np.array(face, np.float32, copy=True)
        self.new_head = None if head is None else np.array(head, np.float32, copy=True)
        self.n = len(self.new_face) if self.new_face is not None else len(self.new_head)
        self.old_face: np.ndarray | None = None
        self.old_head: np.ndarray | None = None
        self.text = text

    @property
    def stop(self) -> int:
        return self.start + self.n

    def _capture(self, doc: Document) -> None:
        anim = doc.animation
        if self.start < 0 or self.stop > anim.n_frames:
            raise DocumentError(f"frames {self.start}..{self.stop - 1} are outside the clip (0..{anim.n_frames - 1})")
        sl = slice(self.start, self.stop)
        if self.new_face is not None:
            self.old_face = (anim.face[sl].copy() if self.face_cols is None else anim.face[sl][:, self.face_cols].copy())
        if self.new_head is not None:
            self.old_head = anim.head[sl].copy()

    def do(self, doc: Document) -> None:
        if self.old_face is None and self.old_head is None:
            self._capture(doc)
        doc.write_frames(self.start, face=self.new_face, head=self.new_head, face_cols=self.face_cols)

    def undo(self, doc: Document) -> None:
        doc.write_frames(self.start, face=self.old_face, head=self.old_head, face_cols=self.face_cols)


class ReplaceAnimation(Command):
    """Swap the whole animation (used when the length changes, e.g. the first generation)."""

    def __init__(self, animation: Animation, text: str = "replace animation") -> None:
        self.new = animation.copy()
        self.old: Animation | None = None
        self.text = text

    def do(self, doc: Document) -> None:
        if self.old is None:
            self.old = doc.animation.copy()
        doc.replace_animation(self.new.copy())

    def undo(self, doc: Document) -> None:
        assert self.old is not None
        doc.replace_animation(self.old.copy())


class SetKeyframes(Command):
    """Replace the keyframe set by ``new`` (the old set is captured on first ``do``)."""

    def __init__(self, new: KeyframeSet | list[Keyframe], text: str = "change keyframes") -> None:
        self.new = tuple(new)
        self.old: tuple[Keyframe, ...] | None = None
        self.text = text

    def do(self, doc: Document) -> None:
        if self.old is None:
            self.old = tuple(doc.keyframes)
        doc.replace_keyframes(KeyframeSet(list(self.new)))

    def undo(self, doc: Document) -> None:
        assert self.old is not None
        doc.replace_keyframes(KeyframeSet(list(self.old)))


class SetTranscript(Command):
    """Replace the document's transcript / alignment (e.g. a retimed word or phone boundary)."""

    def __init__(self, new: Transcript | None, text: str = "change transcript") -> None:
        self.new = new
        self.old: Transcript | None = None
        self._captured = False
        self.text = text

    def do(self, doc: Document) -> None:
        if not self._captured:
            self.old, self._captured = doc.transcript, True
        doc.set_transcript(self.new)

    def undo(self, doc: Document) -> None:
        doc.set_transcript(self.old)


class SetSampler(Command):
    """Replace the document's sampler settings as a content change (a performance control: the
    version moves on, so a job computed with the old settings is stale)."""

    def __init__(self, new: SamplerSettings, text: str = "change settings") -> None:
        self.new = new
        self.old: SamplerSettings | None = None
        self.text = text

    def do(self, doc: Document) -> None:
        if self.old is None:
            self.old = doc.sampler
        doc.set_sampler(self.new, content=True)

    def undo(self, doc: Document) -> None:
        doc.set_sampler(self.old, content=True)


class AttachesMotion:
    """Mixin for a command whose re-solve runs on the engine after it is pushed: the re-solve's
    motion is *attached* to it (:meth:`attach`) rather than pushed as a second step, so one Undo
    restores the change and the motion together (a transcript edit, a performance control)."""

    motion: Command | None = None

    def attach(self, doc: Document, motion: Command) -> None:
        """Apply ``motion`` (the re-solve's frames) to ``doc`` as part of this step. Only valid while
        this command is the last one applied (the caller checks the document version)."""
        if self.motion is not None:
            raise ValueError("this edit already has its motion")
        motion.do(doc)
        self.motion = motion

    def do(self, doc: Document) -> None:
        super().do(doc)  # type: ignore[misc]
        if self.motion is not None:
            self.motion.do(doc)

    def undo(self, doc: Document) -> None:
        if self.motion is not None:
            self.motion.undo(doc)
        super().undo(doc)  # type: ignore[misc]


class PerformanceEdit(AttachesMotion, SetSampler):
    """A performance control's new value (lip sync, upper face, head motion, viseme strength, style)
    and, once the engine has re-solved for it, that motion too: one undo step for both."""


def add_keyframe(doc: Document, key: Keyframe) -> SetKeyframes:
    """Command adding ``key`` (replacing one of the same frame, part and group)."""
    if not 0 <= key.frame < doc.n_frames:
        raise DocumentError(f"frame {key.frame} is outside the clip (0..{doc.n_frames - 1})")
    ks = KeyframeSet(list(doc.keyframes))
    ks.add(key)
    return SetKeyframes(ks, text=f"add {key.part} keyframe at frame {key.frame}")


def remove_keyframes(doc: Document, keys: list[Keyframe]) -> SetKeyframes:
    """Command removing ``keys``."""
    drop = set(keys)
    return SetKeyframes([k for k in doc.keyframes if k not in drop],
                        text="delete keyframe" if len(keys) == 1 else f"delete {len(keys)} keyframes")


def move_keyframe(doc: Document, key: Keyframe, frame: int) -> SetKeyframes:
    """Command moving ``key`` to ``frame`` (clipped to the clip)."""
    frame = int(np.clip(frame, 0, doc.n_frames - 1))
    ks = KeyframeSet([k for k in doc.keyframes if k != key])
    ks.add(key.moved(frame))
    return SetKeyframes(ks, text=f"move keyframe to frame {frame}")


class Compound(Command):
    """Several commands as one undo step (done in order, undone in reverse)."""

    def __init__(self, commands: list[Command], text: str = "edit") -> None:
        self.commands = list(commands)
        self.text = text

    def do(self, doc: Document) -> None:
        for c in self.commands:
            c.do(doc)

    def undo(self, doc: Document) -> None:
        for c in reversed(self.commands):
            c.undo(doc)


def apply_result(doc: Document, animation: Animation, changed: tuple[int, int] | None = None,
                 text: str = "generate") -> Command:
    """The command that writes an engine result into ``doc``.

    Only frames ``changed = (start, stop)`` are stored (both old and new) when the result has the
    document's length, fps and channels; otherwise the whole animation is replaced.
    """
    cur = doc.animation
    same_layout = (animation.n_frames == cur.n_frames and animation.fps == cur.fps
                   and animation.channel_names == cur.channel_names and animation.n_face == cur.n_face
                   and animation.space == cur.space)
    if not same_layout:
        return ReplaceAnimation(animation, text=text)
    a, b = (0, cur.n_frames) if changed is None else (max(0, int(changed[0])), min(cur.n_frames, int(changed[1])))
    if b <= a:
        raise DocumentError(f"the result's changed range {changed} is empty")
    return ReplaceFrames(a, face=animation.face[a:b], head=animation.head[a:b], text=text)


class UndoStack:
    """A plain undo/redo stack with the same behaviour as ``QUndoStack`` (no Qt).

    ``push`` applies the command and drops the redo tail; ``is_clean`` is True at the index last
    marked with ``set_clean`` (e.g. after saving).
    """

    def __init__(self, doc: Document, limit: int = 0) -> None:
        self.doc = doc
        self.limit = int(limit)
        self._items: list[Command] = []
        self._index = 0
        self._clean = 0

    def push(self, cmd: Command) -> None:
        cmd.do(self.doc)
        del self._items[self._index:]
        if self._clean > self._index:
            self._clean = -1
        self._items.append(cmd)
        self._index += 1
        if self.limit and len(self._items) > self.limit:
            drop = len(self._items) - self.limit
            del self._items[:drop]
            self._index -= drop
            self._clean -= drop

    def undo(self) -> bool:
        if not self.can_undo:
            return False
        self._index -= 1
        self._items[self._index].undo(self.doc)
        return True

    def redo(self) -> bool:
        if not self.can_redo:
            return False
        self._items[self._index].do(self.doc)
        self._index += 1
        return True

    @property
    def can_undo(self) -> bool:
        return self._index > 0

    @property
    def can_redo(self) -> bool:
        return self._index < len(self._items)

    @property
    def index(self) -> int:
        return self._index

    def __len__(self) -> int:
        return len(self._items)

    def set_clean(self) -> None:
        self._clean = self._index

    @property
    def is_clean(self) -> bool:
        return self._clean == self._index

    def clear(self) -> None:
        self._items.clear()
        self._index = self._clean = 0
