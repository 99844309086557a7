"""Per-channel standardisation of motion: ``z = (x - mean) / std``.

Face channels use statistics computed from the training data; the head of vertex-space /
3DiFACE models uses 3DiFACE's fixed HDTF statistics (:data:`HEAD_STATS_3DIFACE`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: 3DiFACE's head-pose statistics (HDTF, axis-angle radians): mean and std per axis.
HEAD_STATS_3DIFACE: tuple[tuple[float, float, float], tuple[float, float, float]] = (
    (-0.05855, -0.00283, -0.01964),
    (0.11085, 0.10225, 0.08779),
)


@dataclass(eq=False)
class Normaliser:
    """Per-channel affine normalisation.

    Attributes:
        mean: (C,) float32, in the motion's units (weights, radians, metres).
        std: (C,) float32, > 0.
    """

    mean: np.ndarray
    std: np.ndarray

    def __post_init__(self) -> None:
        self.mean = np.asarray(self.mean, np.float32).reshape(-1)
        self.std = np.asarray(self.std, np.float32).reshape(-1)
        if self.mean.shape != self.std.shape:
            raise ValueError(f"mean has {self.mean.size} channels but std has {self.std.size}")
        if not (np.all(np.isfinite(self.mean)) and np.all(np.isfinite(self.std)) and np.all(self.std > 0)):
            raise ValueError("normalisation statistics must be finite with std > 0")

    @property
    def n_channels(self) -> int:
        return int(self.mean.size)

    def normalise(self, x: np.ndarray) -> np.ndarray:
        """(..., C) motion -> (..., C) float32 standardised."""
        return ((np.asarray(x, np.float32) - self.mean) / self.std).astype(np.float32)

    def denormalise(self, z: np.ndarray) -> np.ndarray:
        """(..., C) standardised -> (..., C) float32 motion."""
        return (np.asarray(z, np.float32) * self.std + self.mean).astype(np.float32)

    @classmethod
    def identity(cls, n_channels: int) -> Normaliser:
        return cls(np.zeros(n_channels, np.float32), np.ones(n_channels, np.float32))

    @classmethod
    def from_data(cls, frames: np.ndarray, std_floor: float = 1e-2) -> Normaliser:
        """Statistics of (N, C) frames; std is floored at ``std_floor`` (near-constant channels
        such as an unused ``tongueOut`` would otherwise blow tiny wiggles up)."""
        frames = np.asarray(frames, np.float64)
        if frames.ndim != 2 or frames.shape[0] < 1:
            raise ValueError(f"need (frames, channels) data to compute statistics, got shape {frames.shape}")
        return cls(frames.mean(0), np.maximum(frames.std(0), std_floor))

    @classmethod
    def head_3diface(cls) -> Normaliser:
        """3DiFACE's fixed head statistics (for vertex-space / 3DiFACE models)."""
        return cls(*HEAD_STATS_3DIFACE)

    def to_dict(self) -> dict[str, list[float]]:
        return {"mean": [float(v) for v in self.mean], "std": [float(v) for v in self.std]}

    @classmethod
    def from_dict(cls, d: dict) -> Normaliser:
        return cls(np.asarray(d["mean"], np.float32), np.asarray(d["std"], np.float32))
