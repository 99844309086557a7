"""``diface eval``: measure a model bundle on a held-out corpus split (no Qt; an evaluation harness,
kept beside the benches; real recordings without ground truth: :mod:`diface_editor.bench.real_speech`).

For every clip of the split (``<name>.wav`` + ``<name>.npz`` ground truth, usually the synthetic
corpus' ``test`` folder: unseen sentences and unseen voices) this compares, on the default rig's
vertices (:mod:`diface_editor.engine.metrics`; face motion only, millimetres):

* ``static``: the model's mean training pose (the face normaliser's mean) held still;
* ``teacher_align``: the procedural teacher driven by a pocketsphinx forced alignment of the audio
  with the transcript from the corpus ``manifest.json`` (the route ``diface lipsync`` takes; same
  teacher seed as the ground truth);
* ``teacher_tts_phones``: the same teacher on the corpus item's own TTS phone timings (the ``phones``
  array of the ``.npz``): 0 when the teacher code is the one that built the corpus, so the gap to
  ``teacher_align`` is the alignment's share;
* ``model``: the model with its recommended (few-step) sampler, every clip;
* ``model_ddpm1000``: the model with 3DiFACE's 1000-step ancestral sampler, on a subset
  (``ddpm_clips`` clips, the first by name) because it is ~50x slower; the default sampler is also
  reported on the same subset so the two compare like for like;
* diversity (``n_div`` samples per clip on ``diversity_clips`` clips) and head beat alignment.

:func:`evaluate` returns a JSON-able dict; see the keys in :func:`_summary`.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from diface_editor.core.errors import DifaceError
from diface_editor.engine import metrics as M

log = logging.getLogger(__name__)

#: closure threshold on the mid-lip gap (mm): lips within this count as closed
CLOSED_GAP_MM = 1.5
BILABIALS = ("P", "B", "M")
#: open vowels: a mouth that never opens would "close" on every p/b/m, so openness is reported too
OPEN_VOWELS = ("AA", "AE", "AH", "AO", "AW", "AY", "EH")
OPEN_GAP_MM = 3.0


class EvalError(DifaceError):
    """The evaluation data or options are unusable."""


# ---------------------------------------------------------------------- rig geometry
@dataclass
class RigGeometry:
    """The default rig reduced to what the metrics need (vertex subsets, deformed cheaply).

    Attributes:
        rig: the :class:`~diface_editor.core.rig.BlendshapeRig`.
        face_idx: vertices any blendshape moves (MVE and diversity are averaged over these).
        lip_idx, upper_idx: the rig's lip and upper-face sets.
        lip_upper_mid, lip_lower_mid: mid-lip vertices (|x| < 4 mm) of the upper / lower lip (the
            lower lip is the part ``jawOpen`` moves down by more than half its maximum).
    """

    rig: Any
    face_idx: np.ndarray
    lip_idx: np.ndarray
    upper_idx: np.ndarray
    lip_upper_mid: np.ndarray
    lip_lower_mid: np.ndarray

    @classmethod
    def default(cls) -> RigGeometry:
        from diface_editor.core.rig import load_default_rig

        rig = load_default_rig()
        moved = np.flatnonzero(np.abs(rig.deltas).max(axis=(0, 2)) > 1e-7)
        li = rig.lip_idx
        T = rig.template
        jaw = rig.deltas[rig.shape_index("jawOpen")]
        mid = li[np.abs(T[li, 0]) < 0.004]
        low = mid[jaw[mid, 1] < 0.5 * jaw[li, 1].min()]
        up = mid[jaw[mid, 1] > 0.1 * jaw[li, 1].min()]
        return cls(rig, moved, li, rig.upper_face_idx, up, low)

    def weights(self, anim) -> np.ndarray:
        """(T, K) weights of an ARKit animation in the rig's blendshape order."""
        return self.rig.weights_for(anim)

    def verts(self, face: np.ndarray, idx: np.ndarray | None = None) -> np.ndarray:
        """(T, len(idx), 3) metres of vertices ``idx`` (all when None) for (T, K) weights."""
        return self.rig.deform(np.asarray(face, np.float32), idx)

    def lip_gap_mm(self, face: np.ndarray) -> np.ndarray:
        """(T,) vertical mid-lip gap in mm (lowest upper-lip minus highest lower-lip vertex; ~0 at rest,
        negative when the lips press together)."""
        up = self.verts(face, self.lip_upper_mid)[..., 1].min(axis=1)
        low = self.verts(face, self.lip_lower_mid)[..., 1].max(axis=1)
        return (up - low) * M.MM


def phone_frames(phones, names: tuple[str, ...], fps: float, n: int, slack: int, min_s: float = 0.0):
    """``(first, stop)`` frame ranges of the phones named ``names`` (stress digits ignored) that last
    at least ``min_s`` seconds, widened by ``slack`` frames on each side and clipped to ``n`` frames."""
    for ph, a, b in phones:
        if str(ph).upper().rstrip("012") not in names or b - a < min_s:
            continue
        f0, f1 = max(0, int(np.floor(a * fps)) - slack), min(n, int(np.ceil(b * fps)) + 1 + slack)
        if f1 > f0:
            yield f0, f1


def share_below(signal: np.ndarray, phones, names: tuple[str, ...], fps: float, threshold: float,
                slack_frames: int = 1, min_s: float = 0.0) -> tuple[int, int]:
    """(hits, count): phones of ``names`` (see :func:`phone_frames`) during which ``signal`` drops to
    ``threshold`` or less at some frame from ``slack_frames`` before the phone to ``slack_frames`` after."""
    hits = tot = 0
    for f0, f1 in phone_frames(phones, names, fps, len(signal), slack_frames, min_s):
        tot += 1
        hits += bool(np.min(signal[f0:f1]) <= threshold)
    return hits, tot


def closure_share(gap_mm: np.ndarray, phones, fps: float, threshold_mm: float = CLOSED_GAP_MM,
                  slack_frames: int = 1) -> tuple[float | None, int]:
    """Share of bilabial phones (p, b, m) during which the lip gap drops to ``threshold_mm`` or less.

    A phone counts as closed when any frame from ``slack_frames`` before its start to ``slack_frames``
    after its end has the gap at or below the threshold. Returns ``(share or None, number of phones)``.
    """
    hits, tot = share_below(gap_mm, phones, BILABIALS, fps, threshold_mm, slack_frames)
    return (hits / tot if tot else None), tot


def open_share(gap_mm: np.ndarray, phones, fps: float, threshold_mm: float = OPEN_GAP_MM) -> tuple[float | None, int]:
    """Share of open-vowel phones (:data:`OPEN_VOWELS`, at least 50 ms) during which the mid-lip gap
    reaches ``threshold_mm`` or more. Returns ``(share or None, number of phones)``."""
    hits, tot = share_below(-np.asarray(gap_mm), phones, OPEN_VOWELS, fps, -threshold_mm, 0, 0.05)
    return (hits / tot if tot else None), tot


# ---------------------------------------------------------------------- data
@dataclass
class EvalClip:
    name: str
    audio: Any                 # AudioClip
    gt: Any                    # Animation at the model's fps, ARKit
    text: str | None = None
    teacher_seed: int = 0
    extra: dict = field(default_factory=dict)


def load_split(data: Path, split: str, fps: float, max_clips: int | None) -> list[EvalClip]:
    """Clips of ``data/<split>`` (or of ``data`` itself when it has no such folder), sorted by name."""
    from diface_editor.core.audio import AudioClip
    from diface_editor.core.formats import load_animation, resample_animation

    data = Path(data).expanduser()
    folder = data / split if (data / split).is_dir() else data
    if not folder.is_dir():
        raise EvalError(f"evaluation data folder {folder} does not exist")
    manifest = {}
    mpath = data / "manifest.json"
    if mpath.is_file():
        for it in json.loads(mpath.read_text(encoding="utf-8")).get("items", []):
            manifest[Path(it.get("npz", it.get("id", ""))).stem] = it
    clips = []
    for npz in sorted(folder.glob("*.npz")):
        wav = npz.with_suffix(".wav")
        if not wav.is_file():
            continue
        anim = load_animation(npz)
        if anim.space != "arkit":
            raise EvalError(f"{npz} is not ARKit motion; diface eval measures ARKit models on the default rig")
        if abs(anim.fps - fps) > 1e-6:
            anim = resample_animation(anim, fps)
        it = manifest.get(npz.stem, {})
        extra = {}
        with np.load(npz, allow_pickle=False) as z:
            if "phones" in z.files and z["phones"].dtype.names:  # corpus items: the TTS phone timings
                extra["phones"] = [(str(p), float(a), float(b)) for p, a, b in z["phones"].tolist()]
        clips.append(EvalClip(npz.stem, AudioClip.load(wav), anim, it.get("text"), int(it.get("teacher_seed", 0)),
                              extra))
        if max_clips and len(clips) >= max_clips:
            break
    if not clips:
        raise EvalError(f"no <name>.wav + <name>.npz pairs in {folder}")
    return clips


# ---------------------------------------------------------------------- per-clip scores
def _trim(*arrs: np.ndarray) -> list[np.ndarray]:
    n = min(len(a) for a in arrs)
    return [a[:n] for a in arrs]


def score(geo: RigGeometry, pred_face: np.ndarray, gt_face: np.ndarray) -> dict[str, float]:
    """Vertex metrics of one prediction (T, K) against ground truth (T, K) rig weights."""
    pred_face, gt_face = _trim(pred_face, gt_face)
    pv, gv = geo.verts(pred_face, geo.face_idx), geo.verts(gt_face, geo.face_idx)
    pos = {int(v): i for i, v in enumerate(geo.face_idx)}
    lip = np.array([pos[int(v)] for v in geo.lip_idx if int(v) in pos])
    upper = np.array([pos[int(v)] for v in geo.upper_idx if int(v) in pos], dtype=int)
    tmpl = geo.rig.template[geo.face_idx]
    lve = M.lip_vertex_error(pv, gv, lip)
    fdd = M.face_dynamics_deviation(pv, gv, tmpl, upper) if upper.size else {"sq": float("nan"), "norm": float("nan")}
    return {"lve_mm": lve["l2"], "lve_sq_mm2": lve["sq"], "mve_mm": M.mean_vertex_error(pv, gv),
            "fdd_mm2": fdd["sq"], "fdd_norm_mm": fdd["norm"]}


def _mean(rows: list[dict[str, float]], key: str) -> float | None:
    vals = [r[key] for r in rows if r.get(key) is not None and np.isfinite(r[key])]
    return float(np.mean(vals)) if vals else None


def _ba(clip: EvalClip, head: np.ndarray, fps: float) -> float | None:
    beats = M.audio_onsets(clip.audio.samples, clip.audio.sample_rate)
    return M.beat_alignment(beats, M.head_beats(head, fps))


# ---------------------------------------------------------------------- the run
@dataclass
class EvalOptions:
    """Options of :func:`evaluate`.

    Attributes:
        split: corpus split folder (``test``).
        max_clips: at most this many clips (first by name; None = all).
        ddpm_clips: clips sampled with DDPM-1000 (first by name; 0 = skip).
        diversity_clips, n_div: clips and samples per clip of the diversity measurement.
        sweep: extra ``(sampler, steps)`` settings measured on the DDPM subset (to choose defaults).
        teacher: also run the pocketsphinx + teacher baseline where a transcript exists.
        seed: sampling seed.
        guidance: classifier-free guidance scale (None: the model's recommended one, else 1).
        temperature: sampling temperature for every part (None: the model's recommendation per part).
    """

    split: str = "test"
    max_clips: int | None = None
    ddpm_clips: int = 6
    diversity_clips: int = 8
    n_div: int = 3
    sweep: tuple[tuple[str, int], ...] = ()
    teacher: bool = True
    seed: int = 0
    guidance: float | None = None
    temperature: float | None = None


def evaluate(model, data: str | Path, options: EvalOptions | None = None,
             progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Evaluate ``model`` (a :class:`~diface_editor.ml.bundle.MotionModel`) on ``data``.

    Returns the summary dict (see :func:`_summary`) with per-method tables and per-clip rows.
    """
    from diface_editor.engine.requests import GenerateRequest
    from diface_editor.engine.worker import Engine

    o = options or EvalOptions()
    say = progress or (lambda s: None)
    fps = float(model.fps)
    if model.motion_space != "arkit":
        raise EvalError("diface eval measures ARKit models on the default rig; this model is vertex-space")
    geo = RigGeometry.default()
    clips = load_split(Path(data), o.split, fps, o.max_clips)
    engine = Engine(model, previews=False)
    rec = dict(model.sampling or {})
    d_sampler = str(rec.get("sampler", "dpmpp"))
    d_steps = rec.get("steps")
    guidance = float(o.guidance if o.guidance is not None else rec.get("guidance", 1.0))
    has_head = model.has_part("head")
    parts = tuple(p for p in ("face", "head") if model.has_part(p))

    def gen(clip: EvalClip, sampler: str, steps, n: int = 1, seed: int | None = None):
        t0 = time.perf_counter()
        res = engine.run_sync(GenerateRequest(clip.audio, seed=o.seed if seed is None else seed, sampler=sampler,
                                              steps=None if sampler == "ddpm" else steps, parts=parts, n_samples=n,
                                              guidance=guidance, temperature=o.temperature))
        dt = time.perf_counter() - t0
        return res.animations, dt

    mean_pose = np.asarray(model.part("face").normaliser.mean, np.float32).reshape(-1) \
        if model.has_part("face") else np.zeros(len(model.face_channels), np.float32)
    chan = tuple(model.face_channels)
    from diface_editor.core.animation import Animation

    def rig_face(face: np.ndarray) -> np.ndarray:
        a = Animation(fps=fps, face=np.asarray(face, np.float32), head=np.zeros((len(face), 3), np.float32),
                      channel_names=chan, space="arkit")
        return geo.weights(a)

    rows: dict[str, list[dict]] = {"static": [], "teacher_align": [], "teacher_tts_phones": [], "model": [],
                                   "model_ddpm1000": [], "model_subset": []}
    sweep_rows: dict[str, list[dict]] = {f"{s}:{k}": [] for s, k in o.sweep}
    gen_seconds = audio_seconds = 0.0
    ddpm_seconds = ddpm_audio = 0.0
    ba_gt, ba_model = [], []
    div_face, div_head = [], []
    teacher_fail = 0
    for i, clip in enumerate(clips):
        say(f"clip {i + 1}/{len(clips)} {clip.name}")
        gt_face = geo.weights(clip.gt)
        T = len(gt_face)
        rows["static"].append({"clip": clip.name, **score(geo, rig_face(np.repeat(mean_pose[None], T, 0)), gt_face)})
        anims, dt = gen(clip, d_sampler, d_steps)
        gen_seconds += dt
        audio_seconds += clip.audio.duration
        pred = anims[0]
        rows["model"].append({"clip": clip.name, **score(geo, geo.weights(pred), gt_face)})
        if has_head:
            ba_gt.append(_ba(clip, clip.gt.head, fps))
            ba_model.append(_ba(clip, pred.head, fps))
        if o.teacher and clip.text:
            try:
                from diface_editor.synth.align import align
                from diface_editor.synth.teacher import TeacherConfig, animate

                al = align(clip.audio.samples, clip.audio.sample_rate, clip.text)
                t_anim = animate(al.phones, duration=clip.audio.duration, samples=clip.audio.samples,
                                 sample_rate=clip.audio.sample_rate, seed=clip.teacher_seed,
                                 config=TeacherConfig(fps=fps))
                rows["teacher_align"].append({"clip": clip.name, **score(geo, geo.weights(t_anim), gt_face)})
                if clip.extra.get("phones"):  # the same teacher on the TTS timings: isolates the alignment
                    t2 = animate(clip.extra["phones"], duration=clip.audio.duration, samples=clip.audio.samples,
                                 sample_rate=clip.audio.sample_rate, seed=clip.teacher_seed,
                                 config=TeacherConfig(fps=fps))
                    rows["teacher_tts_phones"].append({"clip": clip.name, **score(geo, geo.weights(t2), gt_face)})
            except DifaceError as e:
                teacher_fail += 1
                log.warning("teacher baseline skipped for %s: %s", clip.name, e)
        if i < o.ddpm_clips:
            rows["model_subset"].append(rows["model"][-1])
            anims, dt = gen(clip, "ddpm", None)
            ddpm_seconds += dt
            ddpm_audio += clip.audio.duration
            rows["model_ddpm1000"].append({"clip": clip.name, **score(geo, geo.weights(anims[0]), gt_face)})
            for s, k in o.sweep:
                anims, dt = gen(clip, s, k)
                sweep_rows[f"{s}:{k}"].append({"clip": clip.name, "seconds": dt, "audio_s": clip.audio.duration,
                                               **score(geo, geo.weights(anims[0]), gt_face)})
        if i < o.diversity_clips and o.n_div >= 2:
            anims, _ = gen(clip, d_sampler, d_steps, n=o.n_div, seed=o.seed + 1000)
            w = np.stack([geo.weights(a) for a in anims])
            div_face.append(M.face_diversity(np.stack([geo.verts(x, geo.face_idx) for x in w])))
            if has_head:
                div_head.append(M.head_diversity(np.stack([a.head for a in anims])))

    out = _summary(rows, sweep_rows, dict(
        d_sampler=d_sampler, d_steps=engine.model.default_steps(d_sampler), guidance=guidance,
        temperature=o.temperature if o.temperature is not None else dict(engine.model.temperature), n=len(clips), o=o,
        rtf=gen_seconds / max(audio_seconds, 1e-9), ddpm_rtf=ddpm_seconds / max(ddpm_audio, 1e-9) if ddpm_audio else None,
        ba_gt=ba_gt, ba_model=ba_model, div_face=div_face, div_head=div_head, teacher_fail=teacher_fail,
        audio_min=audio_seconds / 60))
    out["model"] = {"name": getattr(model, "name", ""), "path": str(getattr(model, "path", "") or "")}
    out["data"] = str(Path(data).expanduser().resolve())
    return out


def _finite_mean(vals) -> float | None:
    v = [x for x in vals if x is not None and np.isfinite(x)]
    return float(np.mean(v)) if v else None


def _summary(rows, sweep_rows, s) -> dict[str, Any]:
    """The JSON result. Top-level keys (mm / mm² / degrees):

    ``lve_mm`` (model, default sampler, all clips), ``lve_sq_mm2``, ``mve_mm``, ``fdd`` (CodeTalker
    FDD in mm², GT minus prediction), ``fdd_norm_mm``, ``lve_ddpm1000_mm`` (subset),
    ``lve_default_subset_mm`` (default sampler on the same subset), ``lve_static_mm``,
    ``lve_teacher_align_mm``, ``diversity`` (face, mm), ``diversity_head_deg``, ``ba`` (model),
    ``ba_gt``; ``methods`` holds the full table, ``sweep`` the sampler sweep.
    """
    methods = {}
    for name, r in rows.items():
        if not r:
            continue
        methods[name] = {"clips": len(r), **{k: _mean(r, k) for k in ("lve_mm", "lve_sq_mm2", "mve_mm", "fdd_mm2", "fdd_norm_mm")}}
    sweep = []
    for key, r in sweep_rows.items():
        if r:
            sampler, steps = key.split(":")
            sweep.append({"sampler": sampler, "steps": int(steps), "clips": len(r), "lve_mm": _mean(r, "lve_mm"),
                          "mve_mm": _mean(r, "mve_mm"),
                          "rtf": float(sum(x["seconds"] for x in r) / sum(x["audio_s"] for x in r))})
    g = lambda m, k: methods.get(m, {}).get(k)  # noqa: E731
    o = s["o"]
    return {
        "clips": s["n"], "audio_minutes": round(s["audio_min"], 3), "split": o.split,
        "sampler": s["d_sampler"], "steps": s["d_steps"], "guidance": s["guidance"], "temperature": s["temperature"],
        "lve_mm": g("model", "lve_mm"), "lve_sq_mm2": g("model", "lve_sq_mm2"), "mve_mm": g("model", "mve_mm"),
        "fdd": g("model", "fdd_mm2"), "fdd_norm_mm": g("model", "fdd_norm_mm"),
        "lve_ddpm1000_mm": g("model_ddpm1000", "lve_mm"), "lve_default_subset_mm": g("model_subset", "lve_mm"),
        "ddpm1000_clips": len(rows["model_ddpm1000"]),
        "lve_static_mm": g("static", "lve_mm"), "mve_static_mm": g("static", "mve_mm"),
        "lve_teacher_align_mm": g("teacher_align", "lve_mm"), "teacher_align_failed": s["teacher_fail"],
        "lve_teacher_tts_phones_mm": g("teacher_tts_phones", "lve_mm"),
        "diversity": _finite_mean(s["div_face"]), "diversity_head_deg": _finite_mean(s["div_head"]),
        "diversity_clips": len(s["div_face"]), "diversity_samples": o.n_div,
        "ba": _finite_mean(s["ba_model"]), "ba_gt": _finite_mean(s["ba_gt"]),
        "rtf": s["rtf"], "ddpm1000_rtf": s["ddpm_rtf"],
        "methods": methods, "sweep": sweep,
        "units": {"lve_mm": "mm (max over lip vertices per frame, mean over frames)",
                  "lve_sq_mm2": "mm^2 (FaceFormer's squared variant; /10 gives x1e-5 m^2)",
                  "fdd": "mm^2 (CodeTalker: std over time of squared upper-face displacement, GT minus prediction)",
                  "diversity": "mm (mean pairwise per-vertex distance of face samples)",
                  "rtf": "generation seconds per second of audio (this machine)"},
    }


# ---------------------------------------------------------------------- real speech
