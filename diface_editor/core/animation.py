"""The animation document's motion: per-frame face channels and head rotation.

Two motion spaces share one type:

* ``"arkit"``: ``face`` is (T, 52) ARKit blendshape weights (nominally 0..1) named by
  ``channel_names`` (see :mod:`diface_editor.core.arkit`);
* ``"vertex"``: ``face`` is (T, 3V) per-vertex offsets in metres from a template
  (FLAME/VOCA style, x/y/z interleaved per vertex); ``channel_names`` is empty.

``head`` is always (T, 3) axis-angle rotation in radians about the rig's neck pivot.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np

from diface_editor.core.arkit import ARKIT_NAMES
from diface_editor.core.errors import DifaceError

MotionSpace = Literal["arkit", "vertex"]
DEFAULT_FPS = 30.0


class AnimationError(DifaceError, ValueError):
    """An animation's arrays or metadata are inconsistent."""


@dataclass(eq=False)
class Animation:
    """Motion sampled at ``fps`` frames per second.

    Attributes:
        fps: frames per second (> 0).
        face: (T, C) float32: blendshape weights (``space="arkit"``) or vertex offsets in metres
            (``space="vertex"``, C = 3V).
        head: (T, 3) float32 axis-angle head rotation in radians.
        channel_names: names of the C face channels (``space="arkit"``); empty for ``"vertex"``.
        space: the motion space, ``"arkit"`` or ``"vertex"``.
    """

    fps: float
    face: np.ndarray
    head: np.ndarray
    channel_names: tuple[str, ...] = ARKIT_NAMES
    space: MotionSpace = "arkit"
    metadata: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.face = np.ascontiguousarray(self.face, dtype=np.float32)
        self.head = np.ascontiguousarray(self.head, dtype=np.float32)
        self.channel_names = tuple(str(n) for n in self.channel_names)
        self.validate()

    # ------------------------------------------------------------------ construction
    @classmethod
    def zeros(cls, n_frames: int, fps: float = DEFAULT_FPS, channel_names: tuple[str, ...] = ARKIT_NAMES,
              space: MotionSpace = "arkit", n_face: int | None = None) -> Animation:
        """A neutral animation of ``n_frames`` frames (all weights 0, head at rest)."""
        c = len(channel_names) if space == "arkit" else int(n_face or 0)
        return cls(fps=fps, face=np.zeros((n_frames, c), np.float32), head=np.zeros((n_frames, 3), np.float32),
                   channel_names=channel_names if space == "arkit" else (), space=space)

    # ------------------------------------------------------------------ validation
    def validate(self) -> None:
        """Raise :class:`AnimationError` with a human sentence if anything is inconsistent."""
        from diface_editor.core.limits import MAX_FPS

        if not isinstance(self.fps, (int, float, np.integer, np.floating)) or isinstance(self.fps, bool):
            raise AnimationError(f"fps must be a number, got {self.fps!r}")
        if not np.isfinite(self.fps) or self.fps <= 0 or self.fps > MAX_FPS:
            raise AnimationError(f"fps must be a positive number up to {MAX_FPS:g}, got {self.fps!r}")
        if self.space not in ("arkit", "vertex"):
            raise AnimationError(f"unknown motion space {self.space!r} (expected 'arkit' or 'vertex')")
        if self.face.ndim != 2:
            raise AnimationError(f"face must be a (frames, channels) array, got shape {self.face.shape}")
        if self.head.ndim != 2 or self.head.shape[1] != 3:
            raise AnimationError(f"head must be a (frames, 3) axis-angle array, got shape {self.head.shape}")
        if self.face.shape[0] != self.head.shape[0]:
            raise AnimationError(
                f"face has {self.face.shape[0]} frames but head has {self.head.shape[0]}; they must match")
        if self.space == "arkit":
            if len(self.channel_names) != self.face.shape[1]:
                raise AnimationError(
                    f"{len(self.channel_names)} channel names for {self.face.shape[1]} face channels")
            if len(set(self.channel_names)) != len(self.channel_names):
                raise AnimationError("face channel names must be unique")
        else:
            if self.face.shape[1] % 3:
                raise AnimationError(f"vertex-offset face needs 3 numbers per vertex, got {self.face.shape[1]} columns")
        if not np.all(np.isfinite(self.face)) or not np.all(np.isfinite(self.head)):
            raise AnimationError("animation contains NaN or infinite values")

    # ------------------------------------------------------------------ properties
    @property
    def n_frames(self) -> int:
        return int(self.face.shape[0])

    @property
    def duration(self) -> float:
        """Length in seconds (``n_frames / fps``)."""
        return self.n_frames / self.fps

    @property
    def n_face(self) -> int:
        return int(self.face.shape[1])

    def channel_index(self, name: str) -> int:
        try:
            return self.channel_names.index(name)
        except ValueError:
            raise KeyError(f"no face channel named {name!r}") from None

    def channel(self, name: str) -> np.ndarray:
        """(T,) curve of one named face channel."""
        return self.face[:, self.channel_index(name)]

    # ------------------------------------------------------------------ operations
    def copy(self) -> Animation:
        return replace(self, face=self.face.copy(), head=self.head.copy(), metadata=dict(self.metadata))

    def slice(self, start: int, stop: int) -> Animation:
        """Frames ``start`` (inclusive) to ``stop`` (exclusive), clipped to the clip."""
        start, stop = max(0, int(start)), min(self.n_frames, int(stop))
        if stop < start:
            raise AnimationError(f"empty or reversed frame range {start}..{stop}")
        return replace(self, face=self.face[start:stop].copy(), head=self.head[start:stop].copy(),
                       metadata=dict(self.metadata))

    def concat(self, other: Animation) -> Animation:
        """This animation followed by ``other`` (same fps, space and channels)."""
        if other.fps != self.fps:
            raise AnimationError(f"cannot join animations at {self.fps} and {other.fps} fps")
        if other.space != self.space or other.channel_names != self.channel_names or other.n_face != self.n_face:
            raise AnimationError("cannot join animations with different face channels")
        return replace(self, face=np.concatenate([self.face, other.face]),
                       head=np.concatenate([self.head, other.head]), metadata=dict(self.metadata))

    def with_arrays(self, face: np.ndarray | None = None, head: np.ndarray | None = None) -> Animation:
        """A copy with ``face`` and/or ``head`` replaced (validated)."""
        return replace(self, face=self.face.copy() if face is None else face,
                       head=self.head.copy() if head is None else head, metadata=dict(self.metadata))

    def equals(self, other: Animation) -> bool:
        """Bit-identical motion, names, space and fps."""
        return (self.fps == other.fps and self.space == other.space and self.channel_names == other.channel_names
                and np.array_equal(self.face, other.face) and np.array_equal(self.head, other.head))

    def reorder_channels(self, names: tuple[str, ...]) -> Animation:
        """Same motion with face columns in the order ``names``; channels missing here are 0."""
        face = np.zeros((self.n_frames, len(names)), np.float32)
        for j, n in enumerate(names):
            if n in self.channel_names:
                face[:, j] = self.face[:, self.channel_names.index(n)]
        return replace(self, face=face, channel_names=tuple(names), head=self.head.copy())

    def frame_of(self, seconds: float) -> int:
        """Nearest frame index of a time in seconds, clipped to the clip."""
        return int(np.clip(round(seconds * self.fps), 0, max(0, self.n_frames - 1)))
