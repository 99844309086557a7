"""Keyframes and edit masks.

A keyframe pins motion at one frame: a **head** keyframe pins the 3 head-rotation channels, a
**face** keyframe pins all face channels or one channel group (``"mouth"``, ``"jaw"``, ``"eyes"``,
``"brows"``, ``"cheeks_nose"``; see :data:`diface_editor.core.arkit.GROUPS`). Values are in the
animation's own units (weights, radians); ``values=None`` means "keep what the animation has there".

An :class:`EditMask` says per frame and channel what is *known* (kept, given to the sampler as
clean with flag 1) and what is to be generated.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from diface_editor.core.animation import Animation
from diface_editor.core.arkit import group_indices
from diface_editor.core.errors import DifaceError

Part = Literal["face", "head"]


class KeyframeError(DifaceError, ValueError):
    """A keyframe or mask does not fit the animation."""


@dataclass(frozen=True)
class Keyframe:
    """A pinned pose.

    Attributes:
        frame: frame index (0-based, at the animation's fps).
        part: ``"face"`` or ``"head"``.
        group: face channel group or ``"all"`` (ignored for head keyframes).
        values: pinned values: (3,) radians for head; (len(group channels),) weights for face;
            ``None`` = the animation's current values at ``frame``.
    """

    frame: int
    part: Part = "head"
    group: str = "all"
    values: tuple[float, ...] | None = None

    def channels(self, anim: Animation) -> list[int]:
        """Column indices this keyframe pins (face columns, or 0..2 for head)."""
        if self.part == "head":
            return [0, 1, 2]
        if anim.space == "vertex" or self.group == "all":
            return list(range(anim.n_face))
        return group_indices(self.group, anim.channel_names)

    def pinned_values(self, anim: Animation) -> np.ndarray:
        """Values (n_channels,) this keyframe pins, in the animation's units."""
        if not 0 <= self.frame < anim.n_frames:
            raise KeyframeError(f"keyframe at frame {self.frame} is outside the clip (0..{anim.n_frames - 1})")
        cols = self.channels(anim)
        if self.values is None:
            src = anim.head if self.part == "head" else anim.face
            return src[self.frame, cols].copy()
        vals = np.asarray(self.values, np.float32)
        if vals.shape != (len(cols),):
            raise KeyframeError(f"{self.part} keyframe at frame {self.frame} has {vals.size} values "
                                f"for {len(cols)} channels")
        return vals

    def moved(self, frame: int) -> Keyframe:
        return Keyframe(frame=int(frame), part=self.part, group=self.group, values=self.values)

    def with_values(self, values) -> Keyframe:
        return Keyframe(frame=self.frame, part=self.part, group=self.group,
                        values=None if values is None else tuple(float(v) for v in values))


@dataclass
class EditMask:
    """What is known (True) and what is generated (False), per frame and channel.

    Attributes:
        face: (T, C) bool, known face channels.
        head: (T, 3) bool, known head channels.
    """

    face: np.ndarray
    head: np.ndarray

    @classmethod
    def all_known(cls, anim: Animation) -> EditMask:
        return cls(np.ones((anim.n_frames, anim.n_face), bool), np.ones((anim.n_frames, 3), bool))

    def apply_keyframes(self, anim: Animation, keyframes: list[Keyframe]) -> Animation:
        """Mark every keyframe's channels known, and return ``anim`` with the pinned values written in."""
        out = anim.copy()
        for k in keyframes:
            cols = k.channels(anim)
            vals = k.pinned_values(anim)
            if k.part == "head":
                self.head[k.frame, cols] = True
                out.head[k.frame, cols] = vals
            else:
                self.face[k.frame, cols] = True
                out.face[k.frame, cols] = vals
        return out
@dataclass
class KeyframeSet:
    """The document's keyframes, kept sorted by (frame, part, group)."""

    items: list[Keyframe] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.items.sort(key=lambda k: (k.frame, k.part, k.group))

    def add(self, key: Keyframe) -> None:
        """Add ``key``, replacing a keyframe of the same frame, part and group."""
        self.items = [k for k in self.items if (k.frame, k.part, k.group) != (key.frame, key.part, key.group)]
        self.items.append(key)
        self.__post_init__()

    def remove(self, key: Keyframe) -> None:
        self.items = [k for k in self.items if k != key]

    def at(self, frame: int) -> list[Keyframe]:
        return [k for k in self.items if k.frame == frame]

    def __iter__(self):
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)
