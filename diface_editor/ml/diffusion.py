"""Gaussian diffusion over normalised motion: noise schedule, forward noising and the training loss.

Faithful to 3DiFACE (guided-diffusion / MDM style): 1000 training steps, the cosine schedule of
improved DDPM (Nichol & Dhariwal 2021), and a network that predicts the clean motion ``x0``.

Masked training ("sparsely guided" editing): entries where ``known`` is True are given to the
network clean (their flag is 1) and everything else is noised to step ``t``. The loss is

    mse(pred, x0) over generated entries
    + velocity_weight * mse(diff_t(x0_hat), diff_t(x0)) over frame pairs touching a generated entry

where ``x0_hat = where(known, x0, pred)`` is the composite the sampler produces (known entries
are always overwritten at sampling time), so the velocity term also covers the seams between
known and generated frames. Classifier-free guidance is trained by dropping the audio condition
for a random ``cond_drop_prob`` fraction of the batch (the denoiser zeroes the projected features).

Sampling lives in :mod:`diface_editor.ml.sampling`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from diface_editor.core.strict_dict import from_dict_strict

Schedule = Literal["cosine", "linear"]


@dataclass
class DiffusionConfig:
    """Diffusion process and loss weights (saved in a bundle's ``config.json`` per part).

    Attributes:
        num_train_steps: diffusion steps T (3DiFACE: 1000).
        schedule: ``"cosine"`` (improved DDPM; 3DiFACE) or ``"linear"`` (DDPM, scaled to T).
        velocity_weight: weight of the velocity (first temporal difference) term.
        cond_drop_prob: per-sample probability of dropping the audio condition in training.
        noise: distribution of the diffusion noise (training and sampling): ``{"type": "gaussian"}``
            (standard normal, the default) or ``{"type": "uniform", "low": a, "high": b}`` (i.i.d.
            uniform on [a, b); published 3DiFACE models were trained with such noise).
        clip_x0: clamp the predicted clean motion to ``[-clip_x0, clip_x0]`` (normalised units)
            before each sampler update, as guided-diffusion's ``clip_denoised``; ``None`` = off.
    """

    num_train_steps: int = 1000
    schedule: Schedule = "cosine"
    velocity_weight: float = 1.0
    cond_drop_prob: float = 0.1
    noise: dict[str, Any] = field(default_factory=lambda: {"type": "gaussian"})
    clip_x0: float | None = None

    def __post_init__(self) -> None:
        self.noise = dict(self.noise)
        kind = self.noise.get("type")
        if kind == "gaussian" and set(self.noise) == {"type"}:
            pass
        elif kind == "uniform" and set(self.noise) == {"type", "low", "high"}:
            self.noise = {"type": "uniform", "low": float(self.noise["low"]), "high": float(self.noise["high"])}
            if not self.noise["low"] < self.noise["high"]:
                raise ValueError("uniform noise needs low < high")
        else:
            raise ValueError(f"noise must be {{'type': 'gaussian'}} or {{'type': 'uniform', 'low': a, 'high': b}}, "
                             f"got {self.noise!r}")
        if self.clip_x0 is not None and not float(self.clip_x0) > 0:
            raise ValueError("clip_x0 must be a positive number or None")
        if not 2 <= self.num_train_steps <= 100_000:
            raise ValueError(f"num_train_steps must be from 2 to 100000 (got {self.num_train_steps})")
        if self.schedule not in ("cosine", "linear"):
            raise ValueError(f"unknown noise schedule {self.schedule!r} (expected 'cosine' or 'linear')")
        if not 0.0 <= self.cond_drop_prob <= 1.0:
            raise ValueError("cond_drop_prob must be in [0, 1]")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DiffusionConfig:
        return from_dict_strict(cls, d, "diffusion config")


def cosine_betas(n_steps: int, s: float = 0.008, max_beta: float = 0.999) -> np.ndarray:
    """Improved-DDPM cosine schedule: ``alpha_bar(t) = cos^2((t/T + s) / (1 + s) * pi/2)``.

    Returns:
        (n_steps,) float64 betas.
    """
    def abar(u: float) -> float:
        return math.cos((u + s) / (1 + s) * math.pi / 2) ** 2
    return np.array([min(1 - abar((i + 1) / n_steps) / abar(i / n_steps), max_beta) for i in range(n_steps)],
                    dtype=np.float64)


def linear_betas(n_steps: int) -> np.ndarray:
    """DDPM's linear schedule (1e-4 .. 0.02 at 1000 steps, scaled for other step counts)."""
    scale = 1000 / n_steps
    return np.linspace(scale * 1e-4, scale * 0.02, n_steps, dtype=np.float64)


class GaussianDiffusion:
    """Schedule arrays (float64 numpy, indexed by the integer timestep) and the training loss.

    Attributes:
        config: the :class:`DiffusionConfig`.
        betas, alphas_cumprod: (T,) float64.
        num_train_steps: T.
    """

    def __init__(self, config: DiffusionConfig | None = None):
        self.config = config or DiffusionConfig()
        n = self.config.num_train_steps
        self.betas = cosine_betas(n) if self.config.schedule == "cosine" else linear_betas(n)
        self.alphas_cumprod = np.cumprod(1.0 - self.betas)
        self.num_train_steps = n
        self._sqrt_ab = torch.from_numpy(np.sqrt(self.alphas_cumprod)).float()
        self._sqrt_1mab = torch.from_numpy(np.sqrt(1.0 - self.alphas_cumprod)).float()

    def alpha_bar(self, t: int) -> float:
        """Cumulative signal fraction at integer step ``t``; ``t < 0`` means clean (1.0)."""
        return 1.0 if t < 0 else float(self.alphas_cumprod[t])

    def sample_noise(self, shape, generator: torch.Generator | None = None) -> torch.Tensor:
        """Float32 CPU noise of ``shape`` from the configured distribution (standard normal by default)."""
        if self.config.noise["type"] == "uniform":
            lo, hi = self.config.noise["low"], self.config.noise["high"]
            return torch.rand(tuple(shape), generator=generator, dtype=torch.float32) * (hi - lo) + lo
        return torch.randn(tuple(shape), generator=generator, dtype=torch.float32)

    def q_sample(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """Sample ``x_t ~ q(x_t | x0) = sqrt(abar_t) x0 + sqrt(1 - abar_t) noise``.

        Args:
            x0: (B, C, T) clean motion; t: (B,) integer steps; noise: like ``x0``.
        """
        a = self._sqrt_ab.to(x0.device)[t].view(-1, 1, 1)
        s = self._sqrt_1mab.to(x0.device)[t].view(-1, 1, 1)
        return a * x0 + s * noise

    def training_loss(self, model: nn.Module, x0: torch.Tensor, known: torch.Tensor, *,
                      audio: torch.Tensor | None = None, style: torch.Tensor | None = None,
                      generator: torch.Generator | None = None,
                      t: torch.Tensor | None = None, cond_mask: torch.Tensor | None = None,
                      aux: AuxLossFn | None = None) -> tuple[torch.Tensor, dict[str, float]]:
        """Masked x0-prediction loss for one batch.

        Args:
            model: a :class:`~diface_editor.ml.denoiser.Denoiser`.
            x0: (B, C, T) clean normalised motion.
            known: (B, C, T) bool, True = given clean to the network (flag 1), excluded from the MSE.
            audio: (B, T, D) features or None.
            style: (B, K) one-hot or None.
            generator: CPU ``torch.Generator`` for timesteps, noise and condition dropout.
            t: (B,) steps to use instead of uniform random ones.
            cond_mask: (B,) bool condition-drop mask instead of a random one.
            aux: an extra loss on the prediction, ``aux(x0_hat, x0, gen) -> scalar`` with ``x0_hat``
                the prediction with known entries replaced by ``x0`` and ``gen`` the (B, C, T) float
                mask of generated entries (e.g. a lip-vertex loss through the rig); added as is.
        Returns:
            ``(loss, parts)`` with the scalar loss tensor and a dict of floats ``{"mse", "vel"}``
            (plus ``"aux"`` when ``aux`` is given).
        """
        B, C, T = x0.shape
        dev = x0.device
        # all randomness is drawn on the CPU (same numbers on every device), then moved
        if t is None:
            t = torch.randint(0, self.num_train_steps, (B,), generator=generator)
        t = t.to(dev)
        noise = self.sample_noise(x0.shape, generator).to(dev, x0.dtype)
        if cond_mask is None:
            cond_mask = torch.rand(B, generator=generator) < self.config.cond_drop_prob
        cond_mask = cond_mask.to(dev)
        x_t = torch.where(known, x0, self.q_sample(x0, t, noise))
        flags = known_flags(known, model.config.flag_mode)
        pred = model(x_t, t, flags, audio, cond_mask, style)
        gen = (~known).to(x0.dtype)
        n_gen = gen.sum().clamp_min(1.0)
        mse = (((pred - x0) ** 2) * gen).sum() / n_gen
        loss = mse
        vel_val = 0.0
        if self.config.velocity_weight > 0 and T > 1:
            x0_hat = torch.where(known, x0, pred)
            v_err = (x0_hat[..., 1:] - x0_hat[..., :-1]) - (x0[..., 1:] - x0[..., :-1])
            pair = torch.maximum(gen[..., 1:], gen[..., :-1])
            vel = ((v_err ** 2) * pair).sum() / pair.sum().clamp_min(1.0)
            loss = loss + self.config.velocity_weight * vel
            vel_val = float(vel.detach())
        parts = {"mse": float(mse.detach()), "vel": vel_val}
        if aux is not None:
            a = aux(torch.where(known, x0, pred), x0, gen)
            loss = loss + a
            parts["aux"] = float(a.detach())
        return loss, parts


#: ``aux(x0_hat, x0, gen) -> scalar tensor``: an extra loss term (see :meth:`GaussianDiffusion.training_loss`).
AuxLossFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def known_flags(known: torch.Tensor, flag_mode: str) -> torch.Tensor | None:
    """Flag channels for the denoiser from a known mask.

    Args:
        known: (B, C, T) bool.
        flag_mode: ``"channel"`` -> (B, C, T) float; ``"frame"`` -> (B, 1, T) float, 1 where every
            channel of the frame is known; ``"none"`` -> None.
    """
    if flag_mode == "channel":
        return known.float()
    if flag_mode == "frame":
        return known.all(dim=1, keepdim=True).float()
    return None
