"""Reference mode: run an imported 3DiFACE model exactly as the original code does.

diface's own pipeline (windows, continuity post-processing, known frames in ``x_t``, the windowed
audio encoder, few-step samplers) is the default, also for imported models. Reference mode instead
reproduces ``complete_syn_w_sty.py`` of the public 3DiFACE code end to end, and is numerically
checked against it (``tests/test_fidelity_threediface.py``, reference numbers from
``tools/threediface_reference.py``):

* **frame count**: one pass over the whole clip of ``nf = (samples // 16000) * 30 // 32 * 32``
  frames (the audio is cropped to ``nf / 30`` s); an edit takes the whole take, cropped to a
  multiple of 32 frames. No windows, no context limit, no post-processing (no continuity warp).
* **audio features**: wav2vec2's CNN features (50 Hz) are linearly interpolated
  (``align_corners=True``) to ``nf`` frames *before* the feature projection and the transformer,
  over the whole clip, with the waveform normalised over the whole clip first (``Wav2Vec2Processor``).
* **sampler**: ancestral DDPM over all training steps (1000), the model's noise and x0 clamp.
* **known frames**: the face diffusion imposes them only on the x0 prediction; the head diffusion
  writes them into ``x_t`` (keyframe flag 1) and into x0.
* **guidance**: only the face model is wrapped in classifier-free guidance (the bundle's guidance,
  0.5 in 3DiFACE's demo); the head model runs conditional only.
* **edit modes**: ``in_between`` (regenerate ``start..stop-1``, keep the rest),
  ``keyframe`` (keep the given frames, 3DiFACE: every 60th), ``keyframe_swap`` (for every pair
  ``(a, b)``: frame ``b`` becomes the pose of frame ``a``; only the ``b`` frames are known, the
  ``a`` frames are generated like every other frame; several pairs in one call).

Each part draws its noise from its own ``torch.Generator`` (``seed`` for the face, ``seed + 1`` for
the head): the original draws both from torch's global generator, so results match it for injected
noise, not for the same integer seed.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from diface_editor.core.errors import DifaceError
from diface_editor.ml.sampling import sample_window

SAMPLE_RATE = 16000
FPS = 30
EDIT_MODES = ("in_between", "keyframe", "keyframe_swap")


class ReferenceModeError(DifaceError, ValueError):
    """Reference mode cannot run this request (model, clip length or edit arguments)."""


def reference_frame_count(n_samples: int) -> int:
    """3DiFACE's frame count for a clip of ``n_samples`` at 16 kHz: whole seconds * 30, down to a multiple of 32."""
    return (int(n_samples) // SAMPLE_RATE) * FPS // 32 * 32


def normalise_waveform(samples: np.ndarray, do_normalize: bool = True) -> np.ndarray:
    """``Wav2Vec2Processor(samples).input_values``: zero mean, unit variance over the whole clip (float32)."""
    x = np.asarray(samples, np.float32)
    if not do_normalize:
        return x
    return (x - x.mean()) / np.sqrt(x.var() + 1e-7)


def reference_features(wav2vec2, input_values: np.ndarray | torch.Tensor, n_frames: int) -> torch.Tensor:
    """3DiFACE's audio path (``wav2vec.py``): CNN features -> linear interpolation to ``n_frames``
    (``align_corners=True``) -> feature projection -> transformer. ``input_values`` is the normalised
    waveform, already cropped to ``n_frames / 30`` s. Returns (n_frames, hidden) float32 (before
    the model's ``audio_feature_map``, which diface's denoisers apply themselves)."""
    import torch.nn.functional as F

    x = torch.as_tensor(np.asarray(input_values, np.float32)).reshape(1, -1)
    with torch.inference_mode():
        h = wav2vec2.feature_extractor(x.to(next(wav2vec2.parameters()).device))  # (1, 512, n50)
        h = F.interpolate(h, size=int(n_frames), align_corners=True, mode="linear").transpose(1, 2)
        h = wav2vec2.feature_projection(h)[0]
        h = wav2vec2.encoder(h)[0]
    return h[0].float().cpu()


def load_wav2vec2(model):
    """The bundle's wav2vec2 (a transformers ``Wav2Vec2Model``) and its ``do_normalize`` setting."""
    from diface_editor.ml.audio.base import TRANSFORMERS_LOCK

    with TRANSFORMERS_LOCK:  # the engine may be building its encoder on another thread
        from transformers import Wav2Vec2Model

    spec = dict(model.audio_encoder or {})
    if spec.get("type") != "hf" or not spec.get("path"):
        raise ReferenceModeError("reference mode needs a model imported from 3DiFACE (its audio encoder is the "
                                 f"checkpoint's wav2vec2); this model's audio encoder is {spec or 'none'}")
    path = Path(spec["path"])
    if not path.is_absolute():
        if model.path is None:
            raise ReferenceModeError("reference mode needs the model loaded from its bundle folder")
        path = Path(model.path) / path
    with TRANSFORMERS_LOCK:
        w2v = Wav2Vec2Model.from_pretrained(str(path), local_files_only=True).eval().requires_grad_(False)
    do_norm = True
    pre = path / "preprocessor_config.json"
    if pre.is_file():
        do_norm = bool(json.loads(pre.read_text()).get("do_normalize", True))
    return w2v.to(model.device), do_norm


@dataclass(frozen=True)
class EditSpec:
    """One 3DiFACE edit: ``mode`` in :data:`EDIT_MODES`; ``span`` (in_between), ``frames``
    (keyframe), ``pairs`` ((from, to), ...) (keyframe_swap)."""

    mode: str
    span: tuple[int, int] | None = None
    frames: tuple[int, ...] = ()
    pairs: tuple[tuple[int, int], ...] = ()

    def known(self, motion: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(known values, known mask)`` (T, C) from the take's normalised ``motion`` (T, C), as
        ``get_edit_mask`` in ``complete_syn_w_sty.py`` builds them."""
        T = motion.shape[0]
        if self.mode == "in_between":
            if self.span is None:
                raise ReferenceModeError("in_between needs a frame range")
            a, b = self.span
            if not 0 <= a < b <= T:
                raise ReferenceModeError(f"in_between range {a}:{b} is outside the {T} frames")
            mask = np.ones(motion.shape, bool)
            mask[a:b] = False
            return motion.copy(), mask
        if self.mode == "keyframe":
            frames = self.frames or tuple(range(0, T, 60))
            bad = [f for f in frames if not 0 <= f < T]
            if bad:
                raise ReferenceModeError(f"keyframes {bad} are outside the {T} frames")
            mask = np.zeros(motion.shape, bool)
            mask[list(frames)] = True
            return motion.copy(), mask
        if self.mode == "keyframe_swap":
            if not self.pairs:
                raise ReferenceModeError("keyframe_swap needs at least one FROM,TO pair")
            known = np.zeros_like(motion)
            mask = np.zeros(motion.shape, bool)
            for a, b in self.pairs:
                if not (0 <= a < T and 0 <= b < T):
                    raise ReferenceModeError(f"swap pair {a},{b} is outside the {T} frames")
                mask[b] = True
                known[b] = motion[a]
            return known, mask
        raise ReferenceModeError(f"unknown edit mode {self.mode!r}; choose one of {', '.join(EDIT_MODES)}")


_W2V_CACHE: dict[int, tuple[object, tuple]] = {}


def cached_wav2vec2(model):
    """:func:`load_wav2vec2`, loaded once per model object (the editor's engine calls it per job)."""
    hit = _W2V_CACHE.get(id(model))
    if hit is not None and hit[0] is model:
        return hit[1]
    _W2V_CACHE.clear()  # one model at a time: the engine holds one
    res = load_wav2vec2(model)
    _W2V_CACHE[id(model)] = (model, res)
    return res


def reference_features_for(model, samples: np.ndarray, n_frames: int) -> torch.Tensor:
    """3DiFACE's features of 16 kHz ``samples`` for ``n_frames`` frames (the waveform normalised over
    the whole clip, cropped to ``n_frames / 30`` s): (n_frames, hidden) float32."""
    return _features_for(model, samples, n_frames)


def part_guidance(model, part: str) -> float:
    """Guidance as 3DiFACE's demo applies it: the bundle's guidance for the face, none for the head."""
    return float(model.sampling.get("guidance", 1.0)) if part == "face" else 1.0


def sample_part(model, part: str, features: torch.Tensor | np.ndarray | None, *, seed: int,
                known: np.ndarray | None = None, mask: np.ndarray | None = None, style=None,
                guidance: float | None = None, n_frames: int | None = None, callback=None,
                cancel=None) -> np.ndarray:
    """One 1000-step DDPM pass of ``part`` over the whole clip the 3DiFACE way; (T, C) normalised.
    ``callback(step, total, x0_preview)`` / ``cancel`` as in :func:`~diface_editor.ml.sampling.sample_window`
    (cancelling raises its ``SamplingCancelled``)."""
    p = model.part(part)
    C = p.denoiser.config.in_channels
    T = int(n_frames if n_frames is not None else (features.shape[0] if features is not None else known.shape[0]))
    if known is None:
        known = np.zeros((T, C), np.float32)
        mask = np.zeros((T, C), bool)
    styled = p.denoiser.config.style_classes > 0
    if styled and style is None:
        raise ReferenceModeError("reference mode needs a style (3DiFACE always passes an identity): choose --style")
    out = sample_window(p, features, known, mask, sampler="ddpm", steps=None,
                        guidance=part_guidance(model, part) if guidance is None else float(guidance), seed=int(seed),
                        style=style if styled else None, known_in_xt=(part != "face"), callback=callback,
                        cancel=cancel)
    return out[0]


def _features_for(model, samples: np.ndarray, n_frames: int) -> torch.Tensor:
    w2v, do_norm = cached_wav2vec2(model)
    x = normalise_waveform(samples, do_norm)[: int(n_frames / FPS * SAMPLE_RATE)]
    return reference_features(w2v, x, n_frames)


def reference_generate(model, samples: np.ndarray, *, seed: int = 0, style=None,
                       parts: Sequence[str] = ("face", "head"), guidance: float | None = None,
                       features: torch.Tensor | None = None, callback=None, cancel=None):
    """Generate a take from 16 kHz ``samples`` as ``complete_syn_w_sty.py`` (``synthensis_mode: generate``).

    Returns an :class:`~diface_editor.core.animation.Animation` of :func:`reference_frame_count` frames
    (parts not generated are zero). ``guidance`` overrides the face's (the head is never guided).
    ``features``: :func:`reference_features_for` of these samples, if already computed;
    ``callback(part, step, total, x0_preview)`` after every step; ``cancel`` as in ``sample_window``."""
    nf = reference_frame_count(len(samples))
    if nf < 32:
        raise ReferenceModeError(f"the clip is {len(samples) / SAMPLE_RATE:.2f} s; 3DiFACE's frame rule "
                                 "(whole seconds * 30, down to a multiple of 32) needs at least 2 s")
    feats = _features_for(model, samples, nf) if features is None else features
    g = {"face": guidance}
    return _assemble(model, {p: sample_part(model, p, feats, seed=seed + i, style=style, guidance=g.get(p),
                                            callback=_part_callback(callback, p), cancel=cancel)
                             for i, p in enumerate(("face", "head")) if p in parts and model.has_part(p)}, nf)


def _part_callback(callback, part: str):
    if callback is None:
        return None
    return lambda step, total, x0: callback(part, step, total, x0)


def reference_edit(model, anim, samples: np.ndarray, edit: EditSpec | dict[str, EditSpec], *, seed: int = 0,
                   style=None, parts: Sequence[str] = ("head",), guidance: float | None = None,
                   features: torch.Tensor | None = None, callback=None, cancel=None):
    """Edit ``anim`` as ``complete_syn_w_sty.py`` (``synthensis_mode: edit``): the whole take (cropped
    to a multiple of 32 frames) in one pass per edited part, the audio cropped to it. Frames past the
    crop and parts not edited are kept as they are. ``edit``: one spec for every part, or one per
    part (``{"face": .., "head": ..}``). ``features``, ``callback``, ``cancel``: as in
    :func:`reference_generate`."""
    nf = anim.n_frames // 32 * 32
    if nf < 32:
        raise ReferenceModeError(f"the take has {anim.n_frames} frames; 3DiFACE edits need at least 32")
    feats = _features_for(model, samples, nf) if features is None else features
    out = anim.copy()
    for i, part in enumerate(("face", "head")):
        if part not in parts or not model.has_part(part):
            continue
        p = model.part(part)
        cur = (out.face if part == "face" else out.head)[:nf]
        z = p.normalise(cur.astype(np.float32))
        spec = edit[part] if isinstance(edit, dict) else edit
        known, mask = spec.known(z)
        res = p.denormalise(sample_part(model, part, feats, seed=seed + i, known=known, mask=mask, style=style,
                                        guidance=guidance if part == "face" else None,
                                        callback=_part_callback(callback, part), cancel=cancel))
        if part == "face":
            out.face[:nf] = res
        else:
            out.head[:nf] = res
    out.metadata["reference_mode"] = "3diface"
    return out


def _assemble(model, zs: dict[str, np.ndarray], nf: int):
    from diface_editor.core.animation import Animation

    face_part = model.part("face") if model.has_part("face") else None
    C = face_part.denoiser.config.in_channels if face_part is not None else 0
    face = model.part("face").denormalise(zs["face"]) if "face" in zs else np.zeros((nf, C), np.float32)
    head = model.part("head").denormalise(zs["head"]) if "head" in zs else np.zeros((nf, 3), np.float32)
    space = model.motion_space
    names = tuple(model.face_channels) if space == "arkit" else ()
    anim = Animation(fps=float(FPS), face=np.asarray(face, np.float32), head=np.asarray(head, np.float32),
                     channel_names=names, space=space)
    anim.metadata["reference_mode"] = "3diface"
    return anim
