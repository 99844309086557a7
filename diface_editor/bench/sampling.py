"""``diface bench sampling``: few-step samplers against the 1000-step DDPM reference.

On one model and a 10 s clip: median wall time (over ``--repeats``) of generating the clip with
ancestral DDPM over all training steps (3DiFACE's sampler) and with DDIM / DPM-Solver++ at a few
step counts; with held-out data (``--data``, a folder of ``<name>.npz`` + ``<name>.wav`` pairs, or
the validation folder the model's recipe names) also the lip vertex error (LVE, DESIGN.md section
10: per frame the largest lip-vertex L2 error, averaged over frames, on the default rig's lip
vertices without head rotation, in mm; plus the squared variant in mm^2) against the ground truth
and the diversity of two samples for the same audio. Each row also gives the seam smoothness of
the windowed 10 s generation (:func:`diface_editor.engine.windows.seam_report`: velocity and
acceleration jump at window borders relative to the clip's own, worst part, next to the same
statistic half-way between borders as the seamless baseline).
Audio features are computed once beforehand
(timings are sampling only; ``features_s`` is reported separately).

``generate_rtf_60s``: wall time of generating a 60 s clip from its audio file (a WAV of the same
speech-like audio, read from disk, features computed with an empty feature cache, the model's
default sampler; model and encoder already loaded), divided by 60 (median of ``--repeats``;
``generate_60s_features_s`` is the feature part of the median run). Target <= 0.05.

``fast_sampler``/``fast_steps`` is the fastest few-step configuration whose LVE is within
``--tolerance`` (relative) of the DDPM reference, else the one with the lowest LVE; without data it
is the model's recommended configuration.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", metavar="DIR", default=None, help="model bundle (default: models/default)")
    p.add_argument("--data", metavar="DIR", default=None,
                   help="held-out pairs <name>.npz + <name>.wav (default: the model recipe's val_dir, if present)")
    p.add_argument("--seconds", type=float, default=10.0, help="length of the timed clip (default 10)")
    p.add_argument("--samplers", default="ddim,dpmpp", help="few-step samplers to compare (default ddim,dpmpp)")
    p.add_argument("--steps", default="5,10,20,50", help="step counts (default 5,10,20,50)")
    p.add_argument("--repeats", type=int, default=3, help="timed repeats per configuration (median)")
    p.add_argument("--ddpm-repeats", type=int, default=None,
                   help="timed repeats of the slow DDPM reference (default: --repeats)")
    p.add_argument("--clips", type=int, default=4, help="held-out clips for LVE (default 4)")
    p.add_argument("--tolerance", type=float, default=0.05,
                   help="relative LVE tolerance for 'equal quality' to DDPM (default 0.05)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or mps")


def synthetic_speech(seconds: float, rate: int = 16000, seed: int = 0):
    """A speech-like :class:`~diface_editor.core.audio.AudioClip`: a glottal buzz with a wandering
    pitch, formant-ish colouring and a syllable envelope with pauses (deterministic)."""
    from diface_editor.core.audio import AudioClip

    rng = np.random.default_rng(seed)
    n = int(round(seconds * rate))
    t = np.arange(n) / rate
    f0 = 120 + 30 * np.sin(2 * np.pi * 0.3 * t) + 10 * np.sin(2 * np.pi * 1.7 * t)
    phase = 2 * np.pi * np.cumsum(f0) / rate
    buzz = sum(np.sin(k * phase) / k for k in range(1, 12))
    syll = np.maximum(0, np.sin(2 * np.pi * 3.5 * t + 2 * np.sin(2 * np.pi * 0.4 * t))) ** 1.5
    pauses = (np.sin(2 * np.pi * 0.17 * t + 1.0) > -0.8).astype(np.float64)
    noise = 0.05 * rng.standard_normal(n)
    sig = 0.25 * (buzz * syll * pauses + noise * syll)
    return AudioClip.from_array(sig.astype(np.float32), rate)


def clip_to_length(audio, seconds: float):
    """``audio`` looped or cut to ``seconds``."""
    from diface_editor.core.audio import AudioClip

    n = int(round(seconds * audio.sample_rate))
    reps = -(-n // len(audio.samples))
    return AudioClip.from_array(np.tile(audio.samples, reps)[:n], audio.sample_rate)


def lip_vertex_error(rig, pred, gt) -> tuple[float, float]:
    """(LVE mm, squared LVE mm^2): per frame the largest lip-vertex L2 error (face only, no head
    rotation), averaged over frames."""
    n = min(pred.n_frames, gt.n_frames)
    vp = rig.vertices(face=rig.weights_for(pred)[:n])[:, rig.lip_idx]
    vg = rig.vertices(face=rig.weights_for(gt)[:n])[:, rig.lip_idx]
    d2 = ((vp.astype(np.float64) - vg) ** 2).sum(-1).max(1) * 1e6
    return float(np.sqrt(d2).mean()), float(d2.mean())


def diversity(rig, a, b) -> tuple[float, float]:
    """(mean lip-vertex distance mm, mean head-rotation difference deg) between two samples."""
    from diface_editor.core.rotations import axis_angle_to_matrix, matrix_to_axis_angle

    va = rig.vertices(face=rig.weights_for(a))[:, rig.lip_idx]
    vb = rig.vertices(face=rig.weights_for(b))[:, rig.lip_idx]
    lip = float(np.linalg.norm(va.astype(np.float64) - vb, axis=-1).mean() * 1000)
    ra, rb = axis_angle_to_matrix(a.head.astype(np.float64)), axis_angle_to_matrix(b.head.astype(np.float64))
    rel = matrix_to_axis_angle(np.einsum("tji,tjk->tik", ra, rb))
    return lip, float(np.degrees(np.linalg.norm(rel, axis=1)).mean())


def held_out_clips(data: Path, model, n: int) -> list:
    """Up to ``n`` ``(name, Animation, AudioClip)`` ground-truth pairs at the model's fps and channels."""
    from diface_editor.core.audio import AudioClip
    from diface_editor.core.formats import load_animation, resample_animation
    from diface_editor.ml.train import find_pairs

    out = []
    for name, npz, wav in find_pairs(data)[:n]:
        anim = load_animation(npz)
        if abs(anim.fps - model.fps) > 1e-6:
            anim = resample_animation(anim, model.fps)
        if anim.space == "arkit":
            anim = anim.reorder_channels(tuple(model.channel_names))
        out.append((name, anim, AudioClip.load(wav)))
    return out


def finite(v: float, digits: int = 3) -> float | None:
    """``round(v, digits)``, or ``None`` for NaN/inf (JSON has no NaN)."""
    return round(float(v), digits) if v is not None and np.isfinite(v) else None


def _median_time(fn, repeats: int) -> tuple[float, object]:
    times, out = [], None
    for r in range(repeats):
        t0 = time.perf_counter()
        out = fn(r)
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def generate_rtf_60s(engine, audio, repeats: int) -> tuple[float, float]:
    """(median wall time / 60 of generating 60 s from a WAV file, features included; that run's
    feature seconds). ``audio`` is looped to 60 s and written to a temporary WAV; each repeat reads
    the file and computes its features with an empty cache (the engine's and the encoder's)."""
    import tempfile

    import soundfile as sf

    from diface_editor.core.audio import AudioClip
    from diface_editor.engine.jobs import n_frames_for
    from diface_editor.engine.requests import GenerateRequest
    from diface_editor.ml.audio.cache import FeatureCache

    clip60 = clip_to_length(audio, 60.0)
    enc = engine.encoder
    saved = enc._cache
    runs = []
    with tempfile.TemporaryDirectory(prefix="diface-bench-rtf-") as tmp:
        wav = Path(tmp) / "speech60.wav"
        sf.write(str(wav), np.asarray(clip60.samples, np.float32), clip60.sample_rate)
        try:
            for r in range(max(1, repeats)):
                enc._cache = FeatureCache()  # memory only, empty: the features are computed again
                engine._feat_cache.clear()
                t0 = time.perf_counter()
                loaded = AudioClip.load(wav)
                engine.features(loaded, n_frames_for(loaded, engine.model.fps))
                t1 = time.perf_counter()
                engine.run_sync(GenerateRequest(loaded, seed=r))
                runs.append((time.perf_counter() - t0, t1 - t0))
        finally:
            enc._cache = saved
    wall, feat = sorted(runs)[len(runs) // 2]
    log.info("60 s from its file: %.2f s (features %.2f s)", wall, feat)
    return wall / 60.0, feat


def run(args: argparse.Namespace) -> dict:
    import torch

    from diface_editor.core.rig import load_default_rig
    from diface_editor.engine.loading import load_model, model_path
    from diface_editor.engine.requests import GenerateRequest
    from diface_editor.engine.windows import seam_report
    from diface_editor.engine.worker import Engine

    if args.threads:
        torch.set_num_threads(args.threads)
    bundle = load_model(args.model, device=args.device)
    engine = Engine(bundle, previews=False)
    model = engine.model
    samplers = [s.strip() for s in args.samplers.split(",") if s.strip()]
    step_list = [int(s) for s in args.steps.split(",") if s.strip()]
    ddpm_steps = model.default_steps("ddpm")

    data = Path(args.data).expanduser() if args.data else None
    if data is None:
        val_dir = ((bundle.training or {}).get("data") or {}).get("val_dir")
        if val_dir and Path(val_dir).is_dir():
            data = Path(val_dir)
    pairs = held_out_clips(data, model, args.clips) if data is not None else []
    rig = load_default_rig() if (pairs and model.space == "arkit") else None

    clip = clip_to_length(pairs[0][2], args.seconds) if pairs else synthetic_speech(args.seconds)
    n_frames = int(round(args.seconds * model.fps))
    t0 = time.perf_counter()
    engine.features(clip, n_frames)
    features_s = time.perf_counter() - t0
    for _, gt, audio in pairs:
        engine.features(audio, gt.n_frames)

    configs = [("ddpm", ddpm_steps)] + [(s, k) for s in samplers for k in step_list if k <= ddpm_steps]
    table = []
    for sampler, steps in configs:
        def gen(r, sampler=sampler, steps=steps):
            return engine.run_sync(GenerateRequest(clip, seed=r, sampler=sampler, steps=steps))
        t_cfg = time.perf_counter()
        reps = (args.ddpm_repeats or args.repeats) if sampler == "ddpm" else args.repeats
        wall, res = _median_time(gen, reps)
        log.info("%s-%d: %.2f s per 10 s clip (median of %d)", sampler, steps, wall, reps)
        seams = seam_report(res.animation, res.info["borders"], model.normalize)
        row = {"sampler": sampler, "steps": steps, "wall_s": round(wall, 4),
               "rtf": round(wall / args.seconds, 4), "windows": res.info["windows"],
               "seam_velocity_jump": finite(seams["velocity_jump"]),
               "seam_velocity_jump_baseline": finite(seams["velocity_jump_baseline"]),
               "seam_acceleration_jump": finite(seams["acceleration_jump"]),
               "seam_acceleration_jump_baseline": finite(seams["acceleration_jump_baseline"])}
        if rig is not None:
            errs = []
            for i, (_, gt, audio) in enumerate(pairs):
                out = engine.run_sync(GenerateRequest(audio, seed=i, sampler=sampler, steps=steps)).animation
                errs.append(lip_vertex_error(rig, out, gt))
            row["lve_mm"] = round(float(np.mean([e[0] for e in errs])), 4)
            row["lve_sq_mm2"] = round(float(np.mean([e[1] for e in errs])), 4)
            a, b = engine.run_sync(GenerateRequest(pairs[0][2], seed=7, sampler=sampler, steps=steps,
                                                   n_samples=2)).animation
            row["diversity_lip_mm"], row["diversity_head_deg"] = (round(v, 4) for v in diversity(rig, a, b))
        table.append(row)
        log.info("%s (config took %.0f s)", row, time.perf_counter() - t_cfg)

    rtf, feat60 = generate_rtf_60s(engine, clip, args.repeats)
    ref = table[0]
    for row in table:
        row["speedup"] = round(ref["wall_s"] / row["wall_s"], 2) if row["wall_s"] > 0 else None
    fast_rows = table[1:]
    if rig is not None:
        ok = [r for r in fast_rows if r["lve_mm"] <= ref["lve_mm"] * (1 + args.tolerance)]
        pick = min(ok, key=lambda r: r["wall_s"]) if ok else min(fast_rows, key=lambda r: r["lve_mm"])
        rule = (f"fastest few-step config with LVE within {args.tolerance:.0%} of DDPM-{ddpm_steps}" if ok
                else "no few-step config within tolerance: the one with the lowest LVE")
    else:
        rec = bundle.sampling or {}
        pick = next((r for r in fast_rows if (r["sampler"], r["steps"]) == (rec.get("sampler"), rec.get("steps"))),
                    fast_rows[-1] if fast_rows else ref)
        rule = "no held-out data: the model's recommended config (quality not measured)"
    return {
        "model": str(model_path(args.model)), "device": str(bundle.device), "threads": torch.get_num_threads(),
        "clip_s": args.seconds, "repeats": args.repeats, "ddpm_repeats": args.ddpm_repeats or args.repeats,
        "ddpm_steps": ddpm_steps,
        "features_s": round(features_s, 4),
        "generate_rtf_60s": round(rtf, 4), "generate_60s_features_s": round(feat60, 3),
        "ddpm1000_s": ref["wall_s"], "fast_sampler": pick["sampler"], "fast_steps": pick["steps"],
        "fast_s": pick["wall_s"], "speedup": pick["speedup"],
        "lve_ddpm1000_mm": ref.get("lve_mm"), "lve_fast_mm": pick.get("lve_mm"),
        "lve_gap_mm": (round(pick["lve_mm"] - ref["lve_mm"], 4) if rig is not None else None),
        "selection": rule, "data": str(data) if data else None, "n_clips": len(pairs),
        "table": table,
    }
