"""Engine jobs in 3DiFACE reference mode (``request.reference_mode``): the editor's and the engine's
requests run through :mod:`diface_editor.ml.compat.reference`, which reproduces the original code
end to end (whole clip in one pass, 1000-step DDPM, its audio features, known frames on x0 only for
the face, guidance on the face only).

How the editor's requests map onto the original's three edit modes (frames are 30 fps frames):

* **generate**: ``synthensis_mode: generate``. The original's frame rule keeps
  ``nf = (whole seconds * 30) // 32 * 32`` frames; the document's frames past ``nf`` hold the last
  generated pose (the original cuts the audio there).
* **range** (Resample, Variants): ``in_between`` over the range (its end clipped to ``nf``).
* **keyframes** (keyframe solves, drags): ``keyframe``: the keyframes' frames are kept, every other
  frame of the edited parts is generated (no influence radius: the original has none).
* **swap**: ``keyframe_swap`` with one pair: the target frame gets the source's pose, the source is
  generated like any other frame.

The document's keyframes stay pinned in every mode (their frames are known, as ``keyframe`` keeps
them); a take without keyframes gets exactly the original's edit. Blinks, visemes, performance
gains, sampler, steps and temperature do not apply. The edit covers the first ``nf`` frames of the
take (``n_frames // 32 * 32``); frames past it are kept, bit for bit.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from diface_editor.core.animation import Animation
from diface_editor.core.keyframes import EditMask, Keyframe
from diface_editor.engine.backend import Cancelled, EngineError
from diface_editor.engine.requests import EditRequest, GenerateRequest, Request, VariantsRequest

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000


def supports_reference_mode(model) -> bool:
    """Whether ``model`` (a loaded ``MotionModel`` or the engine's adapter around one) is an imported
    3DiFACE bundle that can run in reference mode (its bundle carries ``sampling.reference_mode``)."""
    bundle = getattr(model, "model", model)
    sampling = getattr(bundle, "sampling", None) or {}
    return "reference_mode" in sampling and hasattr(bundle, "part")


@dataclass(frozen=True)
class _PinnedSpec:
    """An original edit spec plus frames whose values are kept as well (the document's keyframes)."""

    spec: Any  # ml.compat.reference.EditSpec
    pinned: tuple[int, ...]

    def known(self, motion: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        known, mask = self.spec.known(motion)
        rows = [f for f in self.pinned if 0 <= f < motion.shape[0]]
        if rows:
            known = known.copy()
            known[rows] = motion[rows]
            mask[rows] = True
        return known, mask


class _FeatureCache:
    """The reference features of the last clip (whole-clip wav2vec2; recomputed for another clip or length)."""

    def __init__(self) -> None:
        self.held: tuple | None = None  # (bundle, audio, samples, nf, features)

    def get(self, bundle, audio, samples: np.ndarray, nf: int):
        from diface_editor.ml.compat.reference import reference_features_for

        h = self.held
        if not (h is not None and h[0] is bundle and h[3] == nf and len(h[2]) == len(samples)
                and (h[1] is audio or np.array_equal(h[2], samples))):
            self.held = h = (bundle, audio, samples, nf, reference_features_for(bundle, samples, nf))
        return h[4]


_FEATURES = _FeatureCache()


def _samples_16k(audio) -> np.ndarray:
    if audio is None:
        raise EngineError("reference mode needs the clip's audio")
    return np.asarray(audio.resampled(SAMPLE_RATE), np.float32)


def _frames(keys, part: str, nf: int) -> tuple[int, ...]:
    return tuple(sorted({int(k.frame) for k in keys if k.part == part and k.frame < nf}))


def execute_reference(request: Request, model, *, progress=None, cancel: Callable[[], bool] | None = None
                      ) -> tuple[Animation | list[Animation], tuple[int, int], dict[str, Any]]:
    """Run ``request`` in reference mode: ``(animation or list, changed (start, stop), info)``, like
    :func:`diface_editor.engine.jobs.execute`. Raises :class:`EngineError` (not an imported 3DiFACE
    model, a clip too short for the original's frame rule, an edit past the frames it covers) and
    :class:`Cancelled`."""
    from diface_editor.engine.motion_adapter import resolve_style
    from diface_editor.ml.compat.reference import ReferenceModeError
    from diface_editor.ml.sampling import SamplingCancelled

    if not supports_reference_mode(model):
        raise EngineError("3DiFACE reference mode needs a model imported from 3DiFACE (diface import-3diface); "
                          "turn reference mode off for this model")
    bundle = getattr(model, "model", model)
    t0 = time.perf_counter()
    edit = request.edit if isinstance(request, VariantsRequest) else request
    n = int(request.n) if isinstance(request, VariantsRequest) else int(getattr(request, "n_samples", 1))
    style = resolve_style(bundle, edit.style)
    if style is None and any(bundle.part(p).denoiser.config.style_classes for p in edit.parts if bundle.has_part(p)):
        raise EngineError("3DiFACE reference mode needs a speaking style (the original always passes an identity; "
                          "its demo uses style 2): choose one under Style in the Generate panel (CLI: --style)")
    samples = _samples_16k(edit.audio)
    parts = [p for p in ("face", "head") if p in edit.parts and bundle.has_part(p)]
    total = 1000 * max(1, len(parts)) * n
    try:
        if isinstance(edit, GenerateRequest):
            anims, changed, nf = _generate(bundle, edit, samples, style, parts, n, progress, total, cancel)
        else:
            anims, changed, nf = _edit(bundle, edit, samples, style, parts, n, progress, total, cancel)
    except SamplingCancelled:
        raise Cancelled() from None
    except ReferenceModeError as e:
        raise EngineError(f"3DiFACE reference mode: {e}") from None
    steps = max(int(bundle.part(p).diffusion.config.num_train_steps) for p in parts) if parts else 0
    info = {"kind": "generate" if isinstance(edit, GenerateRequest) else ("variants" if n > 1 or
                                                                          isinstance(request, VariantsRequest)
                                                                          else "edit"),
            "reference_mode": True, "reference_frames": nf, "sampler": "ddpm", "steps": steps,
            "guidance": float(edit.guidance), "n_samples": n, "n_frames": anims[0].n_frames, "windows": 1,
            "calls": len(parts) * n, "frames_sampled": nf * len(parts) * n, "blinks": False, "viseme_entries": 0,
            "total_s": time.perf_counter() - t0}
    log.info("reference mode %s: %d of %d frames in one pass, %.1f s", info["kind"], nf, anims[0].n_frames,
             info["total_s"])
    as_list = isinstance(request, VariantsRequest) or n > 1
    return (anims if as_list else anims[0]), changed, info


def _progress_fn(progress, total: int, sample_index: int, n_parts: int, order: dict[str, int],
                 preview: Callable[[str, np.ndarray], Animation]):
    if progress is None:
        return None

    def cb(part: str, step: int, steps: int, x0: np.ndarray) -> None:
        done = (sample_index * n_parts + order[part]) * steps + step
        progress(done, total, lambda: preview(part, x0[0]))

    return cb


def _generate(bundle, req: GenerateRequest, samples, style, parts, n, progress, total, cancel):
    from diface_editor.core.document import frames_for_duration
    from diface_editor.ml.compat.reference import reference_frame_count, reference_generate

    T = frames_for_duration(req.audio.duration, bundle.fps)  # the document's frame count
    nf = reference_frame_count(len(samples))
    feats = _FEATURES.get(bundle, req.audio, samples, nf) if nf >= 32 else None
    anims = []
    latest: dict[str, np.ndarray] = {}

    def preview(part: str, z: np.ndarray) -> Animation:
        latest[part] = np.asarray(bundle.part(part).denormalise(z), np.float32)
        return _hold(_empty(bundle, nf), T).with_arrays(**{p: _hold_array(v, T) for p, v in latest.items()})

    for i in range(n):

        cb = _progress_fn(progress, total, i, len(parts), {p: j for j, p in enumerate(parts)}, preview)
        out = reference_generate(bundle, samples, seed=int(req.seed) + 2 * i, style=style, parts=parts,
                                 guidance=float(req.guidance), features=feats, callback=cb, cancel=cancel)
        a = _hold(out, T)
        a.metadata.update({"generator": "diface", "reference_mode": "3diface", "seed": str(int(req.seed) + 2 * i),
                           "sampler": "ddpm", "guidance": f"{float(req.guidance):g}"})
        anims.append(a)
    return anims, (0, T), nf


def _empty(bundle, nf: int) -> Animation:
    from diface_editor.ml.compat.reference import _assemble

    return _assemble(bundle, {}, nf)


def _hold_array(x: np.ndarray, T: int) -> np.ndarray:
    if x.shape[0] >= T:
        return np.ascontiguousarray(x[:T])
    return np.concatenate([x, np.repeat(x[-1:], T - x.shape[0], axis=0)], axis=0)


def _hold(anim: Animation, T: int) -> Animation:
    """``anim`` at ``T`` frames: cut, or its last pose held over the frames past it."""
    out = anim.with_arrays(face=_hold_array(anim.face, T), head=_hold_array(anim.head, T))
    out.metadata.update(anim.metadata)
    return out


def _check_take(anim: Animation, bundle) -> None:
    """The take must be in the model's motion space with its channels (a take made with another model
    cannot be edited by this one)."""
    n_face = bundle.part("face").n_channels if bundle.has_part("face") else anim.n_face
    if anim.space != bundle.motion_space or anim.n_face != n_face:
        what = "ARKit blendshapes" if anim.space == "arkit" else f"{anim.n_face // 3} vertices"
        raise EngineError(f"this take ({what}) was not made with this model ({bundle.motion_space} space, "
                          f"{n_face} face channels): Generate a new take with it first, or choose the model "
                          f"the take was made with")


def _edit(bundle, req: EditRequest, samples, style, parts, n, progress, total, cancel):
    from diface_editor.ml.compat.reference import EditSpec, reference_edit

    base = req.base
    _check_take(base, bundle)
    T = base.n_frames
    nf = T // 32 * 32
    if nf < 32:
        raise EngineError(f"3DiFACE reference mode: the take has {T} frames; the original's edits need at least 32")
    keys: list[Keyframe] = list(req.keyframes)
    if req.mode == "range":
        a, b = req.range
        if a >= nf:
            raise EngineError(f"3DiFACE reference mode edits frames 0..{nf - 1} (the original crops the take to a "
                              f"multiple of 32 frames); frames {a}..{b - 1} lie past them: turn reference mode off "
                              f"to edit them")
        base_spec = {p: EditSpec("in_between", span=(a, min(b, nf))) for p in parts}
        keys = [k for k in keys if a <= k.frame < b]
    elif req.mode == "keyframes":
        base_spec = {}
        for p in list(parts):
            frames = _frames(keys, p, nf)
            if frames:
                base_spec[p] = EditSpec("keyframe", frames=frames)
        if not base_spec:
            # nothing keyed in the edited parts (the last keyframe was deleted): nothing is kept, the
            # parts are generated afresh over the frames the original covers
            base_spec = {p: EditSpec("in_between", span=(0, nf)) for p in parts}
    else:  # swap
        a, b = req.swap
        if max(a, b) >= nf:
            raise EngineError(f"3DiFACE reference mode swaps frames 0..{nf - 1} (the original crops the take to a "
                              f"multiple of 32 frames); frame {max(a, b)} lies past them")
        parts = [p for p in parts if p in req.swap_parts] or parts
        base_spec = {p: EditSpec("keyframe_swap", pairs=((a, b),)) for p in parts}
        keys = [k for k in keys if k.frame not in (a, b)]
    parts = [p for p in parts if p in base_spec]
    mask = EditMask.all_known(base)
    target = mask.apply_keyframes(base, keys)  # keyframe values written in, as the pins of every edit
    specs = {p: _PinnedSpec(base_spec[p], _frames(keys, p, nf)) if base_spec[p].mode != "keyframe"
             else base_spec[p] for p in parts}
    feats = _FEATURES.get(bundle, req.audio, samples, nf)
    anims = []
    for i in range(n):
        def preview(part, z):
            arr = np.asarray(bundle.part(part).denormalise(z), np.float32)
            full = (target.face if part == "face" else target.head).copy()
            full[:nf] = arr
            return target.with_arrays(**{part: full})

        cb = _progress_fn(progress, total, i, len(parts), {p: j for j, p in enumerate(parts)}, preview)
        out = reference_edit(bundle, target, samples, specs, seed=int(req.seed) + 2 * i, style=style, parts=parts,
                             guidance=float(req.guidance), features=feats, callback=cb, cancel=cancel)
        for p in parts:  # known entries come back through normalise/denormalise (1e-8 off): keep them exact
            have, want = (out.face, target.face) if p == "face" else (out.head, target.head)
            known = specs[p].known(np.zeros((nf, have.shape[1]), np.float32))[1]
            have[:nf][known] = want[:nf][known]
        anims.append(out)
    rows = np.zeros(T, bool)
    for a_ in anims:
        rows |= np.any(a_.face != base.face, axis=1) | np.any(a_.head != base.head, axis=1)
    idx = np.flatnonzero(rows)
    changed = (int(idx[0]), int(idx[-1]) + 1) if idx.size else (0, 0)
    return anims, changed, nf
