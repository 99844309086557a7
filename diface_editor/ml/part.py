"""One half of a motion model: a denoiser with its normaliser and diffusion schedule.

A :class:`~diface_editor.ml.bundle.MotionModel` holds a ``"face"`` and/or a ``"head"`` part;
:func:`diface_editor.ml.sampling.sample_window` samples from one part.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from diface_editor.ml.denoiser import Denoiser
from diface_editor.ml.diffusion import DiffusionConfig, GaussianDiffusion
from diface_editor.ml.normalisation import Normaliser


@dataclass(eq=False)
class ModelPart:
    """A denoiser ready for sampling.

    Attributes:
        name: ``"face"`` or ``"head"``.
        denoiser: the network (kept in eval mode by the sampler).
        normaliser: per-channel statistics of this part's motion (C channels).
        diffusion: the noise schedule the denoiser was trained with.
        channel_names: names of the C channels (ARKit names, ``headRotX..Z``; empty for vertex
            offsets).
        style_names: names of the style classes (len = ``denoiser.config.style_classes``).
        student: a distilled one-step denoiser (same architecture; :mod:`diface_editor.ml.distill`) or
            ``None``; used by the ``"student"`` sampler.
        student_info: how the student was made (the bundle's ``parts.<name>.student`` entry).
    """

    name: str
    denoiser: Denoiser = field(repr=False)
    normaliser: Normaliser = field(repr=False)
    diffusion: GaussianDiffusion = field(default_factory=GaussianDiffusion, repr=False)
    channel_names: tuple[str, ...] = ()
    style_names: tuple[str, ...] = ()
    student: Denoiser | None = field(default=None, repr=False)
    student_info: dict = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        c = self.denoiser.config.in_channels
        if self.normaliser.n_channels != c:
            raise ValueError(f"{self.name} normaliser has {self.normaliser.n_channels} channels, "
                             f"the denoiser {c}")
        if self.channel_names and len(self.channel_names) != c:
            raise ValueError(f"{self.name} has {len(self.channel_names)} channel names for {c} channels")

    @property
    def n_channels(self) -> int:
        """Motion channels C."""
        return self.denoiser.config.in_channels

    @property
    def audio_dim(self) -> int:
        """Audio feature width D the denoiser expects (0 = unconditional model)."""
        return self.denoiser.config.audio_dim

    @property
    def device(self) -> torch.device:
        return self.denoiser.device

    def normalise(self, x: np.ndarray) -> np.ndarray:
        """(..., C) motion in its units -> normalised float32."""
        return self.normaliser.normalise(x)

    def denormalise(self, z: np.ndarray) -> np.ndarray:
        """(..., C) normalised -> motion in its units (float32)."""
        return self.normaliser.denormalise(z)

    @classmethod
    def create(cls, name: str, denoiser: Denoiser, normaliser: Normaliser | None = None,
               diffusion: DiffusionConfig | GaussianDiffusion | None = None, **kw) -> ModelPart:
        """Convenience constructor (identity normaliser, default 1000-step cosine schedule)."""
        if normaliser is None:
            normaliser = Normaliser.identity(denoiser.config.in_channels)
        if not isinstance(diffusion, GaussianDiffusion):
            diffusion = GaussianDiffusion(diffusion)
        return cls(name, denoiser, normaliser, diffusion, **kw)
