"""``diface bench audio-encoders``: speed of the audio encoders (seconds of compute per 10 s of audio).

For each encoder spec: build it (timed), compute the features of a synthetic speech-like clip of
``--seconds`` with a fresh memory-only cache (cold, best of ``--repeats``), then again from the
cache (warm). Reports ``s_per_10s_audio`` and the real-time factor. Runs on ``--threads`` torch
threads (default 2, the project's CPU budget).
"""

from __future__ import annotations

import argparse
import time


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seconds", type=float, default=60.0, help="clip length in seconds (default 60)")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    p.add_argument("--repeats", type=int, default=3, help="cold runs; the best is reported (default 3)")
    p.add_argument("--fps", type=float, default=30.0, help="motion frame rate (default 30)")
    p.add_argument("--device", default="cpu", help="cpu, cuda, mps or auto (default cpu)")
    p.add_argument("--encoder", action="append", default=None,
                   help="encoder spec: logmel, whisper or a checkpoint folder (repeatable; default: logmel and whisper)")


def _clip(seconds: float):
    import numpy as np

    from diface_editor.core.audio import AudioClip

    rate = 16000
    rng = np.random.default_rng(0)
    t = np.arange(int(seconds * rate)) / rate
    phase = 2 * np.pi * np.cumsum(120 + 30 * np.sin(2 * np.pi * 0.7 * t)) / rate
    voiced = sum(np.sin(k * phase) / k for k in range(1, 6))
    env = np.clip(np.sin(2 * np.pi * 4 * t), 0, None)
    return AudioClip.from_array((0.3 * env * voiced + 0.02 * rng.standard_normal(t.size)).astype(np.float32), rate)


def run(args: argparse.Namespace) -> dict:
    import torch

    from diface_editor.ml.audio import FeatureCache, get_encoder

    torch.set_num_threads(args.threads)
    clip = _clip(args.seconds)
    n_frames = int(round(clip.duration * args.fps))
    results = []
    for spec in args.encoder or ["logmel", "whisper"]:
        t = time.perf_counter()
        enc = get_encoder(spec, device=args.device, cache=FeatureCache())
        load_s = time.perf_counter() - t
        enc.cache.clear()
        enc.features(_clip(1.0), 30, args.fps)  # warm-up (first-call allocations)
        cold = []
        for _ in range(max(1, args.repeats)):
            enc.cache.clear()
            t = time.perf_counter()
            f = enc.features(clip, n_frames, args.fps)
            cold.append(time.perf_counter() - t)
        t = time.perf_counter()
        enc.features(clip, n_frames, args.fps)
        warm = time.perf_counter() - t
        best = min(cold)
        results.append({"encoder": enc.id, "dim": enc.dim, "load_s": round(load_s, 3),
                        "audio_s": round(clip.duration, 3), "frames": n_frames, "shape": list(f.shape),
                        "cold_s": [round(c, 4) for c in cold], "s_per_10s_audio": round(best / clip.duration * 10, 4),
                        "realtime_factor": round(clip.duration / best, 1), "cached_s": round(warm, 6)})
    return {"bench": "audio-encoders", "threads": args.threads, "device": args.device, "results": results}
