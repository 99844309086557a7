"""Turning a request into part plans, running them, and assembling the result.

:func:`execute` is the one code path behind :meth:`Engine.submit` (worker thread) and
:meth:`Engine.run_sync` (CLI, benchmarks).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from diface_editor.core.animation import Animation
from diface_editor.core.blinks import BLINK_CHANNELS, auto_blinks, hide_blinks, lay_blinks, shows_blinks
from diface_editor.core.keyframes import EditMask, Keyframe
from diface_editor.engine.backend import EngineError, WindowModel
from diface_editor.engine.requests import EditRequest, GenerateRequest, Request, VariantsRequest
from diface_editor.engine.windows import JOIN_CLEARANCE, PartPlan, count_calls, plan_part, run_windows, window_borders

log = logging.getLogger(__name__)

#: ``features(audio, n_frames) -> (n_frames, D)`` float32 (cached by the caller).
FeaturesFn = Callable[[Any, int], np.ndarray]
#: ``progress(step, total, make_preview)``; ``make_preview() -> Animation`` (first sample).
JobProgressFn = Callable[[int, int, Callable[[], Animation]], None]


@dataclass
class JobPlan:
    """A request resolved against a model.

    Attributes:
        kind: ``"generate"``, ``"edit"`` or ``"variants"``.
        target: the base animation with pinned values written in; the result's known entries.
        plans: one :class:`PartPlan` per regenerated part.
        changed: ``(start, stop)`` frames that may differ from the request's base.
        n_samples: results to draw; ``as_list``: return a list even for one sample.
        seed .. temperature, blink_seed: from the request.
        pin_frames: frames holding a face keyframe (their values stay, blinks or not).
    """

    kind: str
    target: Animation
    plans: list[PartPlan]
    changed: tuple[int, int]
    n_samples: int
    as_list: bool
    seed: int
    sampler: str
    steps: int | None
    guidance: float
    style: str | int | None
    audio: Any
    temperature: float | None = None
    blink_seed: int | None = None
    pin_frames: tuple[int, ...] = ()
    gains: dict[str, np.ndarray] = field(default_factory=dict)
    viseme_entries: int = 0


def _viseme_pins(request, model: WindowModel, n_frames: int,
                 rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray] | None:
    """The request's viseme constraints for the face (:func:`~diface_editor.engine.visemes.viseme_pins`),
    or ``None`` (no phones, strength 0, no generated face, not an ARKit model). ``rows``: (T,) bool, the
    frames whose pins are needed (None: all)."""
    from diface_editor.engine.visemes import viseme_pins

    if not request.phones or request.viseme_strength <= 0.0 or "face" not in request.parts or model.space != "arkit":
        return None
    audio = request.audio
    mask, values = viseme_pins(request.phones, n_frames, model.fps, model.channel_names,
                               getattr(audio, "samples", None), getattr(audio, "sample_rate", None),
                               lip_sync=float(getattr(request, "lip_sync", 1.0)), rows=rows)
    return (mask, values) if mask.any() else None


def _gains(request, model: WindowModel, n_face: int) -> dict[str, np.ndarray]:
    from diface_editor.engine.visemes import performance_gains

    out = {}
    for part in request.parts:
        names = model.channel_names if model.space == "arkit" else ()
        g = performance_gains(part, names, 3 if part == "head" else n_face, lip_sync=request.lip_sync,
                              upper_face=request.upper_face, head_motion=request.head_motion)
        if g is not None:
            out[part] = g
    return out


def check_compatible(anim: Animation, model: WindowModel) -> None:
    """Raise :class:`EngineError` if ``anim`` is not in the model's motion space, channels or fps."""
    if anim.space != model.space:
        raise EngineError(f"the animation is in {anim.space!r} space but the model works in {model.space!r} space")
    if anim.space == "arkit" and tuple(anim.channel_names) != tuple(model.channel_names):
        raise EngineError("the animation's face channels differ from the model's; reorder them to the model's "
                          "channel names first")
    if model.n_face is not None and anim.n_face != model.n_face:
        raise EngineError(f"the animation has {anim.n_face} face channels but the model has {model.n_face}")
    if abs(anim.fps - model.fps) > 1e-6:
        raise EngineError(f"the animation runs at {anim.fps:g} fps but the model at {model.fps:g} fps; "
                          f"resample it first")


def _check_parts(parts, model: WindowModel) -> None:
    missing = [p for p in parts if p not in model.parts]
    if missing:
        raise EngineError(f"this model cannot generate the {' and '.join(missing)} (it has: "
                          f"{', '.join(model.parts) or 'nothing'}); choose other parts")


def n_frames_for(audio, fps: float) -> int:
    """Frames of motion for an audio clip: ``round(duration * fps)``, at least 1
    (:func:`~diface_editor.core.document.frames_for_duration`, the rule of a new document too)."""
    from diface_editor.core.document import frames_for_duration

    return frames_for_duration(audio.duration, fps)


def _bounding(rows: np.ndarray) -> tuple[int, int]:
    idx = np.flatnonzero(rows)
    return (int(idx[0]), int(idx[-1]) + 1) if idx.size else (0, 0)


def plan_request(request: Request, model: WindowModel, *, visemes: bool = True) -> JobPlan:
    """Resolve ``request`` into per-part window plans (see the request classes for the semantics).
    ``visemes=False``: without the transcript's viseme pins (the audio-only plan)."""
    spec = model.spec
    if isinstance(request, GenerateRequest):
        _check_parts(request.parts, model)
        t = n_frames_for(request.audio, model.fps)
        base = Animation.zeros(t, fps=model.fps, channel_names=tuple(model.channel_names), space=model.space,
                               n_face=model.n_face or 0)
        known = {p: np.zeros_like(getattr(base, p), bool) for p in request.parts}
        vp = _viseme_pins(request, model, t) if visemes else None
        avoid = None
        if vp is not None:
            known["face"] = vp[0].copy()
            base.face[vp[0]] = vp[1][vp[0]]
            avoid = _lip_pin_frames(vp[0], model)
        plans = [plan_part(p, getattr(base, p), known[p], spec, avoid=avoid if p == "face" else None)
                 for p in request.parts]
        if vp is not None:
            plans = [replace(pl, short=vp[0].copy()) if pl.part == "face" else pl for pl in plans]
        return JobPlan("generate", base, plans, (0, t), request.n_samples, request.n_samples > 1, request.seed,
                       request.sampler, request.steps, request.guidance, request.style, request.audio,
                       request.temperature, request.blink_seed, gains=_gains(request, model, base.n_face),
                       viseme_entries=int(vp[0].sum()) if vp is not None else 0)

    variants = isinstance(request, VariantsRequest)
    edit: EditRequest = request.edit if variants else request
    base = edit.base
    check_compatible(base, model)
    _check_parts(edit.parts, model)
    t = base.n_frames
    regen = np.zeros(t, bool)

    def around(frame: int) -> None:
        if edit.radius is None:
            regen[:] = True
        else:
            regen[max(0, frame - edit.radius): frame + edit.radius + 1] = True

    if edit.mode == "range":
        a, b = edit.range
        regen[a:b] = True
        pins = [k for k in edit.keyframes if a <= k.frame < b]
    elif edit.mode == "keyframes":
        pins = list(edit.keyframes)
        for f in (edit.centres if edit.centres is not None else [k.frame for k in pins]):
            around(f)
    else:  # swap: copy the pose at a to b, pin both, regenerate around b
        a, b = edit.swap
        pins = []
        for p in edit.swap_parts:
            src = base.head if p == "head" else base.face
            pins += [Keyframe(b, p, values=tuple(float(v) for v in src[a])), Keyframe(a, p)]
        pins += [k for k in edit.keyframes if k.frame not in (a, b)]
        around(b)

    mask = EditMask.all_known(base)
    for p in edit.parts:
        getattr(mask, p)[regen] = False
    if edit.face_channels == "mouth" and model.space == "arkit" and "face" in edit.parts:
        from diface_editor.engine.visemes import channel_group

        mask.face[:, ~channel_group(list(model.channel_names), "mouth")] = True  # the rest of the face is kept
    target = mask.apply_keyframes(base, pins)
    vp = _viseme_pins(edit, model, t, rows=_regenerated_and_near(mask.face)) if visemes and edit.phones else None
    n_vis = 0
    if vp is not None:  # only where the face is regenerated: kept frames stay bit for bit
        add = vp[0] & ~mask.face
        mask.face |= add
        target.face[add] = vp[1][add]
        n_vis = int(add.sum())
    avoid = _lip_pin_frames(vp[0], model) if vp is not None else None
    plans = [plan_part(p, getattr(target, p), getattr(mask, p), spec, avoid=avoid if p == "face" else None)
             for p in edit.parts]
    if n_vis:
        plans = [replace(pl, short=add) if pl.part == "face" else pl for pl in plans]
    rows = np.zeros(t, bool)
    for plan in plans:
        rows |= ~plan.known.all(axis=1)
    for k in pins:  # pins may write new values outside the regenerated frames
        src, dst = (base.head, target.head) if k.part == "head" else (base.face, target.face)
        if not np.array_equal(src[k.frame], dst[k.frame]):
            rows[k.frame] = True
    n = request.n if variants else 1
    return JobPlan("variants" if variants else "edit", target, plans, _bounding(rows), n, variants, edit.seed,
                   edit.sampler, edit.steps, edit.guidance, edit.style, edit.audio, edit.temperature,
                   edit.blink_seed, tuple(sorted({k.frame for k in pins if k.part == "face"})),
                   gains=_gains(edit, model, base.n_face), viseme_entries=n_vis)


class _BlinkLayer:
    """The request's procedural blinks (:mod:`diface_editor.core.blinks`) on the generated face.

    The sampler and the continuity warp see the known face with its blinks bridged over
    (:func:`~diface_editor.core.blinks.hide_blinks`), so a window border inside a blink does not
    hold the eyes half shut; the result gets the known values back exactly and the blinks laid over
    its generated entries. An edit of a take that does not carry the schedule (generated with
    another seed or without blinks, a lip-sync or imported take) gets no blinks added.
    """

    def __init__(self, job: JobPlan, plan: PartPlan, model: WindowModel) -> None:
        self.names = tuple(model.channel_names)
        self.curves = auto_blinks(job.target.n_frames, model.fps, int(job.blink_seed))
        self.known = plan.known
        self.original = plan.target

    def context(self, plan: PartPlan, pin_frames: tuple[int, ...]) -> PartPlan:
        if self.known.any():
            plan = replace(plan, target=hide_blinks(plan.target, self.names, self.curves, pin_frames))
        return plan

    def __call__(self, face: np.ndarray) -> np.ndarray:
        face = np.where(self.known, self.original, face)
        return lay_blinks(face, self.names, self.curves, ~self.known)

    @staticmethod
    def for_job(job: JobPlan, model: WindowModel) -> _BlinkLayer | None:
        """The layer, or ``None`` (no blink seed, no generated face, no ARKit eyeBlink channels)."""
        plan = next((p for p in job.plans if p.part == "face"), None)
        if job.blink_seed is None or plan is None or model.space != "arkit":
            return None
        if not all(c in model.channel_names for c in BLINK_CHANNELS):
            return None
        layer = _BlinkLayer(job, plan, model)
        # an edit keeps the take's blinking: no new blinks in a take made without this schedule
        kept_rows = plan.known.all(axis=1)
        if kept_rows.any() and not shows_blinks(plan.target, layer.names, layer.curves, kept_rows):
            return None
        return layer


def execute(request: Request, model: WindowModel, features: FeaturesFn, *,
            progress: JobProgressFn | None = None, cancel: Callable[[], bool] | None = None
            ) -> tuple[Animation | list[Animation], tuple[int, int], dict[str, Any]]:
    """Run ``request`` to completion: ``(animation or list, changed (start, stop), info)``.

    Raises :class:`~diface_editor.engine.backend.Cancelled` when ``cancel()`` turns true.
    """
    edit = request.edit if isinstance(request, VariantsRequest) else request
    if edit.reference_mode:
        from diface_editor.engine.reference_jobs import execute_reference

        return execute_reference(request, model, progress=progress, cancel=cancel)
    t0 = time.perf_counter()
    if isinstance(request, GenerateRequest) and request.recognise_words and not request.phones:
        from diface_editor.engine.edit_policy import with_recognised_words

        request, heard = with_recognised_words(request)
        recognised_s = time.perf_counter() - t0
        if cancel is not None and cancel():
            from diface_editor.engine.backend import Cancelled

            raise Cancelled()
        anims, changed, info = execute(request, model, features, progress=progress, cancel=cancel)
        info["transcript"] = heard
        info["recognition_s"] = recognised_s
        info["total_s"] = time.perf_counter() - t0
        return anims, changed, info
    job = plan_request(request, model)
    strength = float(edit.viseme_strength)
    if job.viseme_entries and not (getattr(edit, "face_channels", "all") == "mouth" and strength >= 1.0):
        # the audio-only result and the pinned one, same seed: the mouth channels move from the first
        # towards the second by the strength (exactly the pinned values at 1), every other face channel
        # and the head stay the audio-only result's bit for bit (the pins only constrain the mouth)
        from diface_editor.engine.visemes import channel_group

        free_job = plan_request(request, model, visemes=False)
        # only the face of the audio-only result is used: the head has no pins, so the pinned run's
        # head (same seed, same plan) is the audio-only head already
        free_job = replace(free_job, plans=[pl for pl in free_job.plans if pl.part == "face"])
        free, _, _ = _run(free_job, model, features, progress=None, cancel=cancel)
        pinned, changed, info = _run(job, model, features, progress=progress, cancel=cancel)
        mouth = channel_group(list(model.channel_names), "mouth")
        anims = []
        for a, b in zip(free, pinned):
            face = a.face.copy()
            face[:, mouth] = (b.face[:, mouth] if strength >= 1.0 else
                              a.face[:, mouth] + np.float32(strength) * (b.face[:, mouth] - a.face[:, mouth]))
            anims.append(b.with_arrays(face=face.astype(np.float32)))
        info["total_s"] = time.perf_counter() - t0
        return (anims if job.as_list else anims[0]), changed, info
    anims, changed, info = _run(job, model, features, progress=progress, cancel=cancel)
    info["total_s"] = time.perf_counter() - t0
    return (anims if job.as_list else anims[0]), changed, info


def _regenerated_and_near(known: np.ndarray) -> np.ndarray:
    """(T,) bool: the frames where a (T, C) known mask regenerates something, widened as far as a window
    join looks for lip pins (:func:`~diface_editor.engine.windows.plan_span`'s ``avoid``): the frames
    whose viseme pins an edit needs, so an edit of a long take visits only the phones near it."""
    return np.convolve((~known).any(axis=1), np.ones(2 * JOIN_CLEARANCE + 3), "same") > 0


def _lip_pin_frames(pinned: np.ndarray, model: WindowModel) -> np.ndarray:
    """(T,) bool: frames where a viseme pin holds the lips (p/b/m, f/v) beyond the jaw and rounding
    channels; window joins keep clear of them (:func:`~diface_editor.engine.windows.plan_span`)."""
    from diface_editor.engine.visemes import JAW_CHANNELS, LIP_CHANNELS, ROUND_CHANNELS

    names = list(model.channel_names)
    cols = [names.index(c) for c in LIP_CHANNELS if c in names and c not in JAW_CHANNELS + ROUND_CHANNELS]
    return pinned[:, cols].any(axis=1) if cols else np.zeros(len(pinned), bool)


def _velocity_channels(model: WindowModel) -> dict[str, np.ndarray]:
    """Channels whose velocity the continuity warp matches: all but the ARKit mouth (see
    :mod:`diface_editor.engine.continuity`: the mouth keeps following the audio at a join)."""
    if model.space != "arkit" or not model.channel_names:
        return {}
    from diface_editor.engine.visemes import channel_group

    return {"face": ~channel_group(list(model.channel_names), "mouth")}


def _has_student(model: WindowModel, part: str) -> bool:
    """Whether ``model`` ships a distilled one-step student for ``part`` (test doubles: only if they say so)."""
    has = getattr(model, "has_student", None)
    return bool(has(part)) if callable(has) else False


def _run(job: JobPlan, model: WindowModel, features: FeaturesFn, *, progress: JobProgressFn | None,
         cancel: Callable[[], bool] | None) -> tuple[list[Animation], tuple[int, int], dict[str, Any]]:
    """Sample every window of ``job``: ``(animations, changed, info)``."""
    t0 = time.perf_counter()
    if job.sampler == "student" and not all(_has_student(model, p.part) for p in job.plans):
        # a model without a distilled student: its own few-step sampler with the request's steps
        rec = str((getattr(getattr(model, "model", None), "sampling", None) or {}).get("sampler", "dpmpp"))
        job = replace(job, sampler=rec if rec in ("ddim", "dpmpp") else "dpmpp")
    # ddpm always runs every training step (3DiFACE's reference); a step count only applies to ddim/dpmpp;
    # the student always takes one
    steps = int(model.default_steps("ddpm") if job.sampler == "ddpm" else
                1 if job.sampler == "student" else (job.steps or model.default_steps(job.sampler)))
    target = job.target
    t_feat = time.perf_counter()
    feats = features(job.audio, target.n_frames) if job.plans else np.zeros((target.n_frames, 0), np.float32)
    feats = np.asarray(feats, np.float32)
    if feats.shape[0] != target.n_frames:
        raise EngineError(f"the audio encoder returned {feats.shape[0]} feature frames for {target.n_frames} "
                          f"motion frames")
    t_sample = time.perf_counter()

    def sample(part, f, known, mask, seed, ns, cb):
        res = model.sample(part, f, known, mask, sampler=job.sampler, steps=steps, guidance=job.guidance,
                           seed=seed, n_samples=ns, style=job.style, callback=cb, cancel=cancel,
                           temperature=None if job.temperature is None else float(job.temperature))
        gain = job.gains.get(part)
        if gain is None:
            return res
        # the performance controls: generated values scaled about the rest pose, before the
        # continuity warp blends them into their known neighbours (known entries are put back there)
        raw = np.asarray(model.denormalize(part, np.asarray(res, np.float32)), np.float32)
        scaled = raw * gain[None, None, :]
        if part == "face" and model.space == "arkit":
            scaled = np.clip(scaled, 0.0, 1.0)
        return model.normalize(part, np.where(np.asarray(mask, bool)[None], raw, scaled).astype(np.float32))

    lay = _BlinkLayer.for_job(job, model)
    plans = job.plans if lay is None else [lay.context(p, job.pin_frames) if p.part == "face" else p
                                           for p in job.plans]

    def to_anim(arrays: dict[str, np.ndarray]) -> Animation:
        face = arrays.get("face")
        if lay is not None and face is not None:
            face = lay(face)
        return target.with_arrays(face=face, head=arrays.get("head"))

    win_progress = None
    if progress is not None:
        def win_progress(step, total, make_arrays):
            progress(step, total, lambda: to_anim(make_arrays()))

    outs = run_windows(plans, feats, sample, normalize=model.normalize, denormalize=model.denormalize,
                       seed=job.seed, n_samples=job.n_samples, steps=steps, progress=win_progress, cancel=cancel,
                       limits={"face": (0.0, 1.0)} if model.space == "arkit" else None,
                       smooth=dict(model.smoothing), velocity=_velocity_channels(model))
    anims = [to_anim(o) for o in outs]
    if job.kind == "generate":
        for a in anims:
            a.metadata.update({"generator": "diface", "seed": str(job.seed), "sampler": job.sampler,
                               "steps": str(steps), "guidance": f"{job.guidance:g}"})
            if lay is not None:
                a.metadata["blink_seed"] = str(job.blink_seed)
    t_end = time.perf_counter()
    info = {
        "kind": job.kind, "sampler": job.sampler, "steps": steps, "guidance": job.guidance,
        "temperature": job.temperature if job.temperature is not None else dict(model.temperature),
        "blinks": lay is not None, "viseme_entries": job.viseme_entries,
        "gains": {p: [float(x) for x in np.unique(g)] for p, g in job.gains.items()},
        "n_samples": job.n_samples, "n_frames": target.n_frames,
        "windows": sum(len(p.windows) for p in job.plans),
        "calls": count_calls(job.plans, job.n_samples),
        "frames_sampled": sum(w.length for p in job.plans for w in p.windows),
        "borders": {p.part: window_borders(p.windows, target.n_frames) for p in job.plans},
        "features_s": t_sample - t_feat, "sampling_s": t_end - t_sample, "total_s": t_end - t0,
    }
    return anims, job.changed, info
