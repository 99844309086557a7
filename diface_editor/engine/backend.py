"""What the engine needs from a motion model, as one small interface.

The engine's window logic only needs: the motion space, a normaliser per part, the window sizes,
the model's recommended temperature and smoothing per part, and a function that samples one masked
window (``ml.sampling.sample_window``). :class:`WindowModel` states that interface;
:func:`diface_editor.engine.motion_adapter.as_window_model` wraps an
:class:`diface_editor.ml.bundle.MotionModel` into it. This module imports nothing of the engine (the
adapter imports it, never the other way round), so the window logic is testable without torch.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from diface_editor.core.errors import DifaceError

log = logging.getLogger(__name__)

#: ``callback(step, total, x0)``: ``step`` 1-based steps done of ``total`` in this call, ``x0`` the
#: current clean-motion prediction (S, n, C) in normalised units (or ``None`` if not available).
StepCallback = Callable[[int, int, "np.ndarray | None"], None]


class Cancelled(Exception):
    """Raised inside a job when it was cancelled (superseded by a newer job)."""


class EngineError(DifaceError):
    """The model cannot do what was asked (missing part, mismatched channels...)."""


@dataclass(frozen=True)
class WindowSpec:
    """Window sizes, in frames.

    Attributes:
        window: frames per sampling window (long spans are cut into windows of this length).
        overlap: frames of the previous window's result given as known context to the next window.
        context: known frames on each side of a local edit.
        multiple: window lengths are grown (with more context, where the clip allows) to a
            multiple of this (a U-Net with k stride-2 levels wants 2**k).
    """

    window: int = 240
    overlap: int = 60
    context: int = 30
    multiple: int = 1

    def __post_init__(self) -> None:
        if self.window < 2 or self.multiple < 1:
            raise ValueError(f"bad window spec {self}")
        if not 0 <= self.overlap < self.window or not 0 <= self.context:
            raise ValueError(f"bad window spec {self}: need 0 <= overlap < window and context >= 0")
        if self.window - self.overlap < 1 or 2 * self.context >= self.window:
            raise ValueError(f"bad window spec {self}: window too short for its overlap/context")


@runtime_checkable
class WindowModel(Protocol):
    """The engine's view of a motion model.

    Attributes:
        fps: frames per second of the motion.
        space: ``"arkit"`` or ``"vertex"``.
        channel_names: face channel names (``"arkit"``), empty for ``"vertex"``.
        n_face: number of face channels C (``None``: any, for a head-only model in vertex space).
        parts: the parts this model can sample (``"face"``, ``"head"``).
        spec: window sizes.
        temperature: recommended sampling temperature per part (``{part: tau}``; a part missing
            from it samples at 1). A request's ``temperature`` overrides it for every part.
        smoothing: Gaussian low-pass of a part's generated motion, ``{part: sigma in frames}``
            (empty: none; see :func:`diface_editor.engine.continuity.smooth_generated`).
    """

    fps: float
    space: str
    channel_names: tuple[str, ...]
    n_face: int | None
    parts: tuple[str, ...]
    spec: WindowSpec
    temperature: Mapping[str, float]
    smoothing: Mapping[str, float]

    def default_steps(self, sampler: str) -> int:
        """Steps used when a request leaves ``steps`` at ``None``."""

    def make_encoder(self):
        """The audio encoder this model was trained with: an object with
        ``features(clip, n_frames, fps) -> (n_frames, D) float32``."""

    def normalize(self, part: str, x: np.ndarray) -> np.ndarray:
        """(..., C) values in the animation's units -> normalised float32 (per-channel affine)."""

    def denormalize(self, part: str, x: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`normalize`."""

    def sample(self, part: str, features: np.ndarray, known: np.ndarray, known_mask: np.ndarray, *,
               sampler: str, steps: int, guidance: float, seed: int, n_samples: int,
               style: str | int | None, callback: StepCallback | None,
               cancel: Callable[[], bool] | None, temperature: float | None = None) -> np.ndarray:
        """Sample one window: ``features`` (n, D), ``known`` (n, C) normalised, ``known_mask`` (n, C)
        bool -> (n_samples, n, C) normalised float32 whose known entries equal ``known``.
        ``temperature``: scales every noise draw (``None``: ``self.temperature[part]``, else 1).
        Raises :class:`Cancelled` when ``cancel()`` turns true between steps."""

