"""``diface bench edit``: latency of local edits in a 10 s clip and in a 10 minute clip.

As in the editor: one :class:`~diface_editor.engine.worker.Engine` worker thread with previews on,
audio features computed beforehand (when the audio is loaded), the edit submitted and timed until
its :class:`~diface_editor.engine.events.JobResult` arrives. Two edits, each ``--repeats`` times at
random places: a ``--range-s`` (2 s) range resample of face and head, and a single head keyframe
(a new pose, ``--radius`` frames of influence, head regenerated). Because only a window around the
edit is sampled, the 10 minute figures should match the 10 s ones. Also checks that every frame
outside the edit came back bit-identical, and reports the median seam smoothness at the range
borders (:func:`diface_editor.engine.windows.seam_report`, about 1 = no seam). Synthetic
speech-like audio; the base animation is smooth random motion (its content does not change the
cost).
"""

from __future__ import annotations

import argparse
import logging
import queue
import time

import numpy as np

log = logging.getLogger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", metavar="DIR", default=None, help="model bundle (default: models/default)")
    p.add_argument("--short", type=float, default=10.0, help="short clip length in seconds (default 10)")
    p.add_argument("--long", type=float, default=600.0, help="long clip length in seconds (default 600)")
    p.add_argument("--repeats", type=int, default=10, help="edits of each kind per clip (default 10)")
    p.add_argument("--range-s", type=float, default=2.0, help="length of the resampled range (default 2 s)")
    p.add_argument("--radius", type=int, default=15, help="keyframe influence radius in frames (default 15)")
    p.add_argument("--sampler", default=None, help="sampler (default: the model's)")
    p.add_argument("--steps", type=int, default=None, help="steps (default: the model's)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or mps")


def smooth_motion(n_frames: int, model, seed: int = 0):
    """A smooth random animation in the model's space (low-passed noise; weights in 0..1)."""
    from diface_editor.core.animation import Animation

    rng = np.random.default_rng(seed)
    k = np.exp(-0.5 * (np.arange(-30, 31) / 8.0) ** 2)
    k /= k.sum()

    def lowpass(c: int, scale: float) -> np.ndarray:
        x = rng.standard_normal((n_frames + 60, c))
        y = np.stack([np.convolve(x[:, j], k, mode="same") for j in range(c)], 1)[30:-30]
        return (scale * y / (y.std() + 1e-9)).astype(np.float32)

    n_face = model.n_face or 0
    face = lowpass(n_face, 0.15) if n_face else np.zeros((n_frames, 0), np.float32)
    if model.space == "arkit":
        face = np.clip(face + 0.2, 0.0, 1.0)
    return Animation(fps=model.fps, face=face, head=lowpass(3, 0.1), channel_names=tuple(model.channel_names),
                     space=model.space)


def _pct(xs: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(xs), q))


def run(args: argparse.Namespace) -> dict:
    import torch

    from diface_editor.bench.sampling import synthetic_speech
    from diface_editor.core.keyframes import Keyframe
    from diface_editor.engine.events import JobFailed, JobResult
    from diface_editor.engine.loading import load_model, model_path
    from diface_editor.engine.requests import EditRequest
    from diface_editor.engine.windows import seam_report
    from diface_editor.engine.worker import Engine

    if args.threads:
        torch.set_num_threads(args.threads)
    bundle = load_model(args.model, device=args.device)
    engine = Engine(bundle)  # previews on, as in the editor
    model = engine.model
    rec = bundle.sampling or {}
    sampler = args.sampler or rec.get("sampler", "dpmpp")
    steps = args.steps or (rec.get("steps") if rec.get("sampler") == sampler else None)
    steps = steps or model.default_steps(sampler)
    out: dict = {"model": str(model_path(args.model)), "device": str(bundle.device),
                 "threads": torch.get_num_threads(), "sampler": sampler, "steps": steps,
                 "range_s": args.range_s, "keyframe_radius_frames": args.radius, "repeats": args.repeats,
                 "window": {"window": model.spec.window, "overlap": model.spec.overlap,
                            "context": model.spec.context}}
    rng = np.random.default_rng(0)
    outside_identical = True
    seams: list[float] = []
    try:
        for seconds in (args.short, args.long):
            tag = f"{int(round(seconds))}s"
            n = int(round(seconds * model.fps))
            clip = synthetic_speech(seconds, seed=1)
            base = smooth_motion(n, model)
            t0 = time.perf_counter()
            engine.features(clip, n)
            out[f"features_s_{tag}"] = round(time.perf_counter() - t0, 3)
            span = int(round(args.range_s * model.fps))

            def timed(req, check) -> float:
                nonlocal outside_identical
                while not engine.events.empty():
                    engine.events.get_nowait()
                t = time.perf_counter()
                jid = engine.submit(req, doc_version=0)
                while True:
                    try:
                        ev = engine.events.get(timeout=600)
                    except queue.Empty:
                        raise RuntimeError("the engine gave no result within 10 minutes") from None
                    if ev.job_id != jid:
                        continue
                    if isinstance(ev, JobFailed):
                        raise RuntimeError(f"edit failed: {ev.message}")
                    if isinstance(ev, JobResult):
                        dt = time.perf_counter() - t
                        outside_identical &= check(ev)
                        return dt

            def range_req(a: int) -> tuple:
                req = EditRequest(base, clip, mode="range", range=(a, a + span), sampler=sampler, steps=steps,
                                  seed=int(rng.integers(1 << 30)))

                def check(ev) -> bool:
                    x = ev.animation
                    seams.append(seam_report(x, {"face": [a, a + span], "head": [a, a + span]},
                                             model.normalize)["velocity_jump"])
                    return (np.array_equal(x.face[:a], base.face[:a]) and np.array_equal(x.face[a + span:], base.face[a + span:])
                            and np.array_equal(x.head[:a], base.head[:a]) and np.array_equal(x.head[a + span:], base.head[a + span:]))
                return req, check

            def key_req(f: int) -> tuple:
                key = Keyframe(f, "head", values=tuple(float(v) for v in rng.uniform(-0.3, 0.3, 3)))
                req = EditRequest(base, clip, mode="keyframes", keyframes=(key,), radius=args.radius, parts=("head",),
                                  sampler=sampler, steps=steps, seed=int(rng.integers(1 << 30)))
                lo, hi = max(0, f - args.radius), f + args.radius + 1

                def check(ev) -> bool:
                    x = ev.animation
                    return (np.array_equal(x.face, base.face) and np.array_equal(x.head[:lo], base.head[:lo])
                            and np.array_equal(x.head[hi:], base.head[hi:]))
                return req, check

            timed(*range_req(0))  # warm-up (first torch calls)
            for name, make, lo, hi in (("range_edit", range_req, 0, n - span),
                                       ("keyframe_edit", key_req, 0, n)):
                lat = [timed(*make(int(rng.integers(lo, hi)))) * 1000 for _ in range(args.repeats)]
                out[f"{name}_p50_ms_{tag}"] = round(_pct(lat, 50), 1)
                out[f"{name}_p95_ms_{tag}"] = round(_pct(lat, 95), 1)
                log.info("%s %s: %s", name, tag, lat)
    finally:
        engine.shutdown(timeout=30)
    out["outside_bit_identical"] = bool(outside_identical)
    out["range_edit_seam_velocity_jump"] = round(float(np.nanmedian(seams)), 3) if seams else None
    short, long_ = f"{int(round(args.short))}s", f"{int(round(args.long))}s"
    for name in ("range_edit", "keyframe_edit"):
        out[f"{name}_long_over_short"] = round(out[f"{name}_p50_ms_{long_}"] / out[f"{name}_p50_ms_{short}"], 3)
    return out
