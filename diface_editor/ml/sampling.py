"""Masked sampling of one window of motion from a :class:`~diface_editor.ml.part.ModelPart`.

Samplers (all over the model's own training schedule, x0-prediction form):

* ``"ddpm"``: ancestral DDPM over all ``num_train_steps`` (1000) steps with the fixed-small
  posterior variance: the 3DiFACE reference.
* ``"ddim"``: DDIM with ``steps`` steps (``eta=0`` deterministic by default).
* ``"dpmpp"``: DPM-Solver++(2M) with ``steps`` steps (first order at the first and the last step,
  the last one lands on the clean sample).
* ``"student"``: one call of the part's distilled student (:mod:`diface_editor.ml.distill`) on the
  starting noise at ``t = T-1``; its guidance is the one it was distilled with (no second,
  unconditional pass), known entries are handled as for the other samplers.

Few-step samplers use "trailing" timestep spacing ``t_i = round(T - i*T/N) - 1`` (the first step
is at ``t = T-1``, pure noise); with the same spacing diffusers' ``DDIMScheduler`` and
``DPMSolverMultistepScheduler`` (``prediction_type="sample"``, ``clip_sample=False``,
``trained_betas`` from our schedule) give the same updates (checked in the tests).

Editing is the same sampling with known entries: before every step the known values are written
into ``x_t`` (flag 1), and after every network call the x0 prediction is overwritten at the known
entries, so the known entries of the result are *exactly* the given values for every sampler.
``known_in_xt=False`` skips the first half (known entries only overwrite the x0 prediction), which is
how 3DiFACE's face diffusion imposes them (its head diffusion does both); the reference mode for
imported models (:mod:`diface_editor.ml.compat.reference`) uses it for the face.

Classifier-free guidance: ``x0 = uncond + s * (cond - uncond)``, with the conditional and the
unconditional (audio zeroed) passes batched in one forward pass; ``s == 1`` runs the conditional
pass only, ``s == 0`` the unconditional pass only.

Every call builds its own sampler state, so concurrent calls on different threads are safe as
long as they do not share a ``torch.Generator``; the network is only read.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch

from diface_editor.core.errors import DifaceError
from diface_editor.core.samplers import SAMPLERS
from diface_editor.ml.diffusion import GaussianDiffusion, known_flags
from diface_editor.ml.part import ModelPart

log = logging.getLogger(__name__)

#: Steps used when ``steps=None``.
DEFAULT_STEPS: dict[str, int | None] = {"ddpm": None, "ddim": 50, "dpmpp": 20, "student": 1}

#: ``callback(step, total, x0_preview)``: ``step`` counts 1..total; ``x0_preview`` is the current
#: x0 estimate, (S, T, C) float32 normalised numpy with known entries already exact.
Callback = Callable[[int, int, np.ndarray], None]


class SamplingCancelled(Exception):
    """Raised between steps when the ``cancel`` check says stop. Sampling leaves no state behind."""


class SamplingError(DifaceError, ValueError):
    """Bad sampling arguments (unknown sampler, wrong shapes, step count)."""


class _IsSet(Protocol):
    def is_set(self) -> bool: ...


Cancel = Callable[[], bool] | _IsSet | threading.Event | None


def timesteps_for(sampler: str, steps: int | None, num_train_steps: int) -> list[int]:
    """Integer timesteps visited, from noisy to clean.

    ``"ddpm"``: all steps ``T-1 .. 0`` (``steps`` must be None or T). Others: trailing spacing,
    ``steps`` in 1..T.
    """
    T = num_train_steps
    if sampler not in SAMPLERS:
        raise SamplingError(f"unknown sampler {sampler!r}; choose one of {', '.join(SAMPLERS)}")
    if sampler == "student":
        if steps not in (None, 1):
            raise SamplingError(f"the student sampler takes one step (got steps={steps})")
        return [T - 1]
    if sampler == "ddpm":
        if steps not in (None, T):
            raise SamplingError(f"the ddpm sampler always runs all {T} steps (got steps={steps}); "
                                "use ddim or dpmpp for fewer steps")
        return list(range(T - 1, -1, -1))
    n = DEFAULT_STEPS[sampler] if steps is None else int(steps)
    if not 1 <= n <= T:
        raise SamplingError(f"steps must be between 1 and {T}, got {steps}")
    ts = (np.round(np.arange(T, 0, -T / n)).astype(np.int64) - 1).tolist()
    return [int(t) for t in ts[:n]]


def _is_cancelled(cancel: Cancel) -> bool:
    if cancel is None:
        return False
    if hasattr(cancel, "is_set"):
        return bool(cancel.is_set())
    return bool(cancel())


@dataclass
class _Net:
    """The guided, masked x0 predictor for one call: f(x_t, t) -> x0 with known entries exact."""

    part: ModelPart
    known: torch.Tensor        # (S, C, T) normalised (zeros where unknown)
    mask: torch.Tensor         # (S, C, T) bool
    flags: torch.Tensor | None
    audio: torch.Tensor | None  # (S, T, D)
    style: torch.Tensor | None  # (S, K)
    guidance: float
    known_in_xt: bool = True
    denoiser: Any = None  # another network than part.denoiser (the student)

    def __call__(self, x: torch.Tensor, t: int) -> torch.Tensor:
        model = self.denoiser if self.denoiser is not None else self.part.denoiser
        S = x.shape[0]
        x_in = torch.where(self.mask, self.known, x) if self.known_in_xt else x
        tt = torch.full((S,), t, dtype=torch.long, device=x.device)
        s = self.guidance
        if self.audio is None or s == 1.0:
            x0 = model(x_in, tt, self.flags, self.audio, None, self.style)
        elif s == 0.0:
            x0 = model(x_in, tt, self.flags, self.audio, torch.ones(S, dtype=torch.bool, device=x.device), self.style)
        else:
            drop = torch.cat([torch.zeros(S, dtype=torch.bool), torch.ones(S, dtype=torch.bool)]).to(x.device)
            out = model(torch.cat([x_in, x_in]), torch.cat([tt, tt]),
                        None if self.flags is None else torch.cat([self.flags, self.flags]),
                        torch.cat([self.audio, self.audio]), drop,
                        None if self.style is None else torch.cat([self.style, self.style]))
            cond, uncond = out[:S], out[S:]
            x0 = uncond + s * (cond - uncond)
        clip = self.part.diffusion.config.clip_x0
        if clip is not None:
            x0 = x0.clamp(-clip, clip)
        return torch.where(self.mask, self.known, x0)


def sample(part: ModelPart, known: torch.Tensor, known_mask: torch.Tensor, audio: torch.Tensor | None, *,
           sampler: str = "dpmpp", steps: int | None = None, guidance: float = 1.0, eta: float = 0.0,
           generator: torch.Generator | None = None, style: torch.Tensor | None = None,
           callback: Callback | None = None, cancel: Cancel = None, temperature: float = 1.0,
           known_in_xt: bool = True) -> torch.Tensor:
    """Tensor-level sampler (:func:`sample_window` is the public entry point).

    Args:
        part: the model part (its denoiser's device is used).
        known: (S, C, T) normalised values, used where ``known_mask`` is True.
        known_mask: (S, C, T) bool.
        audio: (S, T, D) features or None.
        generator: CPU ``torch.Generator`` for all noise (determinism).
        style: (S, K) or None.
        temperature: scale of the sampler's noise (see :func:`sample_window`).
        known_in_xt: also write the known entries into ``x_t`` before every call (see the module docstring).
    Returns:
        (S, C, T) normalised samples on the part's device.
    """
    diff: GaussianDiffusion = part.diffusion
    ts = timesteps_for(sampler, steps, diff.num_train_steps)
    dev = part.device
    S, C, T = known.shape
    mask = known_mask.to(dev)
    net = _Net(part, torch.where(mask, known.to(dev), torch.zeros((), device=dev)), mask,
               known_flags(mask, part.denoiser.config.flag_mode),
               None if audio is None else audio.to(dev), None if style is None else style.to(dev), float(guidance),
               bool(known_in_xt))
    if sampler == "student":
        if part.student is None:
            raise SamplingError(f"this model ships no distilled student for the {part.name}; use dpmpp or ddim")
        net.denoiser, net.guidance = part.student, 1.0  # guidance was distilled into the student

    tau = float(temperature)

    def randn() -> torch.Tensor:
        n = diff.sample_noise((S, C, T), generator)
        return (n if tau == 1.0 else n * tau).to(dev)

    x = randn()
    total = len(ts)
    prev_x0: torch.Tensor | None = None
    ab = diff.alphas_cumprod
    for i, t in enumerate(ts):
        if _is_cancelled(cancel):
            raise SamplingCancelled(f"sampling cancelled before step {i + 1} of {total}")
        x0 = net(x, t)
        t_next = ts[i + 1] if i + 1 < total else -1
        a_t, a_n = float(ab[t]), diff.alpha_bar(t_next)
        if sampler == "ddpm":
            if t > 0:
                beta = float(diff.betas[t])
                c1 = beta * np.sqrt(a_n) / (1.0 - a_t)
                c2 = (1.0 - a_n) * np.sqrt(1.0 - beta) / (1.0 - a_t)
                var = beta * (1.0 - a_n) / (1.0 - a_t)
                x = c1 * x0 + c2 * x + float(np.sqrt(var)) * randn()
            else:
                x = x0
        elif sampler in ("ddim", "student"):
            eps = (x - np.sqrt(a_t) * x0) / np.sqrt(1.0 - a_t)
            sigma = eta * np.sqrt((1.0 - a_n) / (1.0 - a_t) * (1.0 - a_t / a_n)) if eta > 0 else 0.0
            x = np.sqrt(a_n) * x0 + np.sqrt(max(1.0 - a_n - sigma ** 2, 0.0)) * eps
            if sigma > 0:
                x = x + float(sigma) * randn()
        else:  # DPM-Solver++(2M), data prediction
            x = _dpmpp_step(x, x0, prev_x0, t, t_next, ts[i - 1] if i > 0 else None, diff,
                            last=(i + 1 == total))
            prev_x0 = x0
        if callback is not None:
            callback(i + 1, total, x0.transpose(1, 2).detach().cpu().numpy().astype(np.float32))
    return torch.where(mask, net.known, x)


def _lambda(ab: float) -> float:
    """log(alpha / sigma) of a cumulative alpha."""
    return 0.5 * (np.log(ab) - np.log1p(-ab))


def _dpmpp_step(x: torch.Tensor, x0: torch.Tensor, prev_x0: torch.Tensor | None, t: int, t_next: int,
                t_prev: int | None, diff: GaussianDiffusion, last: bool) -> torch.Tensor:
    """One DPM-Solver++(2M) update from ``t`` to ``t_next`` (``-1`` = clean)."""
    if t_next < 0:
        return x0  # sigma_next = 0: the first-order update lands on the x0 estimate
    a_t, a_n = diff.alpha_bar(t), diff.alpha_bar(t_next)
    alpha_n, sigma_t, sigma_n = np.sqrt(a_n), np.sqrt(1 - a_t), np.sqrt(1 - a_n)
    lam_t, lam_n = _lambda(a_t), _lambda(a_n)
    h = lam_n - lam_t
    phi = np.expm1(-h)  # exp(-h) - 1
    if prev_x0 is None or t_prev is None or last:
        return float(sigma_n / sigma_t) * x - float(alpha_n * phi) * x0
    r = (lam_t - _lambda(diff.alpha_bar(t_prev))) / h
    d = x0 + (0.5 / r) * (x0 - prev_x0)
    return float(sigma_n / sigma_t) * x - float(alpha_n * phi) * d


def _as_tensor(a: Any, name: str) -> torch.Tensor:
    if isinstance(a, torch.Tensor):
        return a.detach().to("cpu")
    try:
        return torch.from_numpy(np.array(a, copy=True))
    except TypeError:
        raise SamplingError(f"{name} must be a numpy array or a torch tensor") from None


def _style_tensor(style: Any, n_classes: int, S: int, names: tuple[str, ...] = ()) -> torch.Tensor | None:
    if n_classes <= 0 or style is None:
        if style is not None:
            raise SamplingError("this model has no style classes; pass style=None")
        return None
    if isinstance(style, str):
        if style not in names:
            raise SamplingError(f"unknown style {style!r}; this model has: {', '.join(names) or 'unnamed styles'}")
        style = names.index(style)
    if isinstance(style, (int, np.integer)):
        if not 0 <= int(style) < n_classes:
            raise SamplingError(f"style {style} is out of range (the model has {n_classes} styles)")
        v = torch.zeros(n_classes)
        v[int(style)] = 1.0
    else:
        v = _as_tensor(style, "style").float().reshape(-1)
        if v.numel() != n_classes:
            raise SamplingError(f"style needs {n_classes} weights, got {v.numel()}")
    return v[None].expand(S, n_classes).contiguous()


def sample_window(model_part: ModelPart, features: np.ndarray | torch.Tensor | None,
                  known: np.ndarray | torch.Tensor, known_mask: np.ndarray | torch.Tensor, *,
                  sampler: str = "dpmpp", steps: int | None = None, guidance: float = 1.0, seed: int = 0,
                  n_samples: int = 1, style: int | str | np.ndarray | None = None, eta: float = 0.0,
                  callback: Callback | None = None, cancel: Cancel = None, temperature: float = 1.0,
                  known_in_xt: bool = True) -> np.ndarray:
    """Sample one window of motion for one model part, keeping the known entries exactly.

    Args:
        model_part: the :class:`ModelPart` (``MotionModel.part("face"|"head")``).
        features: (T, D) audio features aligned with the window's frames (D =
            ``model_part.audio_dim``); ``None`` for an unconditional model or to sample without audio.
        known: (T, C) normalised motion (``model_part.normalise``); read only where ``known_mask``.
        known_mask: (T, C) bool, True = keep this entry (given clean, flag 1), False = generate.
            Per-frame-flag models (``flag_mode="frame"``, the head) flag a frame only when all its
            channels are known; partially known frames still get their known entries exactly.
        sampler: ``"dpmpp"`` (DPM-Solver++(2M)), ``"ddim"`` or ``"ddpm"`` (all training steps).
        steps: sampler steps (``None`` = :data:`DEFAULT_STEPS`; ddpm only accepts None or 1000).
        guidance: classifier-free guidance scale s (1 = conditional only, 0 = unconditional).
        seed: seed of the CPU ``torch.Generator`` that draws all noise (same seed, same result).
        n_samples: S independent variants drawn in one batch.
        style: style class index, name (``model_part.style_names``) or (K,) weights, for models
            with style classes (``None``: no style term, i.e. the average style).
        eta: DDIM stochasticity (0 = deterministic DDIM).
        temperature: scale of every noise draw (the starting noise, and DDPM's / DDIM-eta's per-step
            noise); 1 samples the trained distribution, lower values trade variety between samples
            for accuracy (the samples move towards the likeliest motion), like a TTS model's noise scale.
        callback: ``callback(step, total, x0_preview)`` after each step (see :data:`Callback`).
        cancel: a callable returning True, or an object with ``is_set()`` (``threading.Event``),
            checked before every step; when set, :class:`SamplingCancelled` is raised.
        known_in_xt: write the known entries into ``x_t`` as well as into every x0 prediction (the
            default); False: only into x0, as 3DiFACE's face diffusion.
    Returns:
        (S, T, C) float32 normalised samples; ``out[:, known_mask] == known[known_mask]`` exactly.
    """
    cfg = model_part.denoiser.config
    known_t = _as_tensor(known, "known").float()
    mask_t = _as_tensor(known_mask, "known_mask").bool()
    if known_t.ndim != 2 or known_t.shape[1] != cfg.in_channels:
        raise SamplingError(f"known must be (frames, {cfg.in_channels}), got {tuple(known_t.shape)}")
    T, C = known_t.shape
    if T < 1:
        raise SamplingError("cannot sample an empty window")
    if tuple(mask_t.shape) != (T, C):
        raise SamplingError(f"known_mask must have the shape of known {(T, C)}, got {tuple(mask_t.shape)}")
    if n_samples < 1:
        raise SamplingError("n_samples must be >= 1")
    if not 0.0 < float(temperature) <= 2.0:
        raise SamplingError(f"temperature must be in (0, 2], got {temperature}")
    known_t = torch.nan_to_num(torch.where(mask_t, known_t, torch.zeros(())))
    audio = None
    if features is not None and cfg.audio_dim > 0:
        f = _as_tensor(features, "features").float()
        if tuple(f.shape) != (T, cfg.audio_dim):
            raise SamplingError(f"features must be ({T}, {cfg.audio_dim}) for this window, got {tuple(f.shape)}")
        audio = f[None].expand(n_samples, T, cfg.audio_dim)
    S = n_samples
    g = torch.Generator(device="cpu")
    g.manual_seed(int(seed))
    model = model_part.denoiser
    was_training = model.training
    if was_training:  # eval()/train() walk every submodule: a third of a one-step drag's time
        model.eval()
    try:
        with torch.inference_mode():
            out = sample(model_part, known_t.T[None].expand(S, C, T), mask_t.T[None].expand(S, C, T), audio,
                         sampler=sampler, steps=steps, guidance=guidance, eta=eta, generator=g,
                         style=_style_tensor(style, cfg.style_classes, S, model_part.style_names),
                         callback=callback, cancel=cancel, temperature=float(temperature),
                         known_in_xt=known_in_xt)
    finally:
        if was_training:
            model.train()
    return out.transpose(1, 2).cpu().numpy().astype(np.float32, copy=False)
