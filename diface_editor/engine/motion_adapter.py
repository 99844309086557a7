"""The engine's :class:`~diface_editor.engine.backend.WindowModel` view of an ``ml.bundle.MotionModel``,
and :func:`as_window_model`, which the engine calls on whatever model it is given.

Window sizes come from the bundle's ``sampling`` section (``window_s``, ``overlap_s``,
``context_s``, in seconds), rounded to frames. Defaults: the window the model was trained on
(``training.data.window_seconds``, else 8 s), 2 s overlap (at most half the window) and 1 s of
context per side of a local edit. Windows are grown to a multiple of the denoisers' down-sampling
factor with real context where the clip allows.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np

from diface_editor.core.arkit import ARKIT_NAMES
from diface_editor.engine.backend import Cancelled, EngineError, StepCallback, WindowModel, WindowSpec

log = logging.getLogger(__name__)

DEFAULT_WINDOW_S = 8.0
DEFAULT_OVERLAP_S = 2.0
DEFAULT_CONTEXT_S = 1.0


def window_spec_for(model) -> WindowSpec:
    """The :class:`WindowSpec` of a ``MotionModel`` (see the module docstring)."""
    s = dict(getattr(model, "sampling", {}) or {})
    fps = float(model.fps)
    factor = max((p.denoiser.config.factor for p in model.parts.values()), default=1)
    trained = ((getattr(model, "training", None) or {}).get("data") or {}).get("window_seconds")
    window_s = float(s.get("window_s") or trained or DEFAULT_WINDOW_S)
    window = max(2 * factor, int(round(window_s * fps)))
    window = -(-window // factor) * factor
    overlap = min(window // 2, int(round(float(s.get("overlap_s", DEFAULT_OVERLAP_S)) * fps)))
    context = min((window - 1) // 2, int(round(float(s.get("context_s", DEFAULT_CONTEXT_S)) * fps)))
    return WindowSpec(window=window, overlap=overlap, context=context, multiple=factor)


class MotionModelAdapter:
    """Wraps a loaded ``MotionModel`` for the engine (face and/or head parts)."""

    def __init__(self, model) -> None:
        from diface_editor.ml import sampling  # torch, only when a real model is used

        self._sampling = sampling
        self.model = model
        self.fps = float(model.fps)
        self.space = model.motion_space
        self.parts = tuple(p for p in ("face", "head") if model.has_part(p))
        if "face" in model.parts:
            face = model.part("face")
            self.channel_names = tuple(face.channel_names) if self.space == "arkit" else ()
            self.n_face = int(face.n_channels)
        else:  # head-only model: the face is carried through unchanged
            self.channel_names = ARKIT_NAMES if self.space == "arkit" else ()
            self.n_face = len(self.channel_names) if self.space == "arkit" else None
        self.spec = window_spec_for(model)
        #: Gaussian smoothing of generated motion per part, in frames (the bundle's recommended
        #: ``sampling["smooth_s"] = {part: seconds}``; see engine.continuity.smooth_generated)
        smooth = dict((getattr(model, "sampling", None) or {}).get("smooth_s") or {})
        self.smoothing = {p: float(v) * self.fps for p, v in smooth.items() if p in self.parts and float(v) > 0}
        #: recommended sampling temperature per part (the bundle's ``sampling["temperature"]``: a
        #: number for every part or ``{part: value}``; 1 where not given)
        temp = (getattr(model, "sampling", None) or {}).get("temperature", 1.0)
        self.temperature = {p: float(temp.get(p, 1.0) if isinstance(temp, dict) else temp) for p in self.parts}

    def __repr__(self) -> str:
        return f"MotionModelAdapter({getattr(self.model, 'name', '')!r}, parts={self.parts}, {self.spec})"

    # ------------------------------------------------------------------ WindowModel
    def default_steps(self, sampler: str) -> int:
        if sampler == "ddpm":
            return max(int(self.model.part(p).diffusion.config.num_train_steps) for p in self.parts)
        rec = self.model.sampling or {}
        if rec.get("sampler") == sampler and rec.get("steps"):
            return int(rec["steps"])
        return int(self._sampling.DEFAULT_STEPS[sampler])

    def has_student(self, part: str) -> bool:
        """Whether the bundle ships a distilled one-step student for ``part`` (sampler ``"student"``)."""
        return part in self.parts and self.model.part(part).student is not None

    def make_encoder(self):
        return self.model.build_audio_encoder()

    def normalize(self, part: str, x: np.ndarray) -> np.ndarray:
        return self.model.part(part).normalise(x)

    def denormalize(self, part: str, x: np.ndarray) -> np.ndarray:
        return self.model.part(part).denormalise(x)

    def _style(self, style: str | int | None) -> int | None:
        return resolve_style(self.model, style)

    def sample(self, part: str, features: np.ndarray, known: np.ndarray, known_mask: np.ndarray, *,
               sampler: str, steps: int, guidance: float, seed: int, n_samples: int,
               style: str | int | None, callback: StepCallback | None,
               cancel: Callable[[], bool] | None, temperature: float | None = None) -> np.ndarray:
        """See :class:`~diface_editor.engine.backend.WindowModel`; ``temperature`` overrides the
        bundle's recommended one for this part."""
        mp = self.model.part(part)
        tau = float(temperature) if temperature is not None else self.temperature.get(part, 1.0)
        feats = features if mp.audio_dim > 0 else None
        if sampler == "ddpm" and steps != mp.diffusion.config.num_train_steps:
            raise EngineError(f"the ddpm sampler always runs all {mp.diffusion.config.num_train_steps} steps; "
                              "use ddim or dpmpp for fewer steps")
        style_index = self._style(style)  # an error on a model without styles, never ignored
        try:
            return self._sampling.sample_window(
                mp, feats, known, known_mask, sampler=sampler, steps=None if sampler in ("ddpm", "student") else steps,
                guidance=guidance, seed=seed, n_samples=n_samples,
                style=style_index if mp.denoiser.config.style_classes else None,
                callback=callback, cancel=cancel, temperature=tau)
        except self._sampling.SamplingCancelled:
            raise Cancelled() from None


def as_window_model(model) -> WindowModel:
    """``model`` if it already implements :class:`WindowModel` (a test double), else a
    :class:`MotionModelAdapter` around an ``ml.bundle.MotionModel`` (torch is imported then)."""
    if isinstance(model, WindowModel):
        return model
    return MotionModelAdapter(model)


def style_count(model) -> int:
    """Style classes of a loaded :class:`~diface_editor.ml.bundle.MotionModel` (0 = no styles)."""
    return max((int(p.denoiser.config.style_classes or 0) for p in model.parts.values()), default=0)


def resolve_style(model, style: str | int | None) -> int | None:
    """The style index of ``style`` (a name or an index) for ``model``; :class:`EngineError` when the
    model has no styles or no such style (a style is never silently ignored)."""
    if style is None:
        return None
    n = style_count(model)
    names = tuple(model.style_names)
    if n == 0:
        raise EngineError(f"this model has no speaking styles, so style {style!r} cannot be used; leave it out")
    if isinstance(style, str) and style in names:
        return names.index(style)
    if isinstance(style, (int, np.integer)) or str(style).strip().isdigit():
        i = int(style)
        if 0 <= i < n:
            return i
        raise EngineError(f"style {i} does not exist; this model has styles 0 to {n - 1}"
                          + (f" ({', '.join(names)})" if names else ""))
    raise EngineError(f"unknown style {style!r}; this model has: {', '.join(names) or f'styles 0 to {n - 1}'}")
