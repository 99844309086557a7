"""``diface bench audio``: AudioClip speed on a long clip (decode, hash, resample, waveform peaks).

Prints seconds for one-off work and milliseconds per ``peaks()`` call at several zoom levels
(the timeline asks for about one bin per pixel on every redraw, so a call must stay well under a
frame, ~16 ms).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--minutes", type=float, default=10.0, help="clip length (default 10)")
    parser.add_argument("--rate", type=int, default=48000, help="sample rate of the clip (default 48000)")
    parser.add_argument("--channels", type=int, default=2, help="channels in the file (default 2)")
    parser.add_argument("--bins", type=int, default=2000, help="bins per peaks() call (default 2000)")


def run(args: argparse.Namespace) -> dict:
    import numpy as np
    import soundfile as sf

    from diface_editor.core.audio import AudioClip

    n = int(args.minutes * 60 * args.rate)
    rng = np.random.default_rng(0)
    t = np.arange(n) / args.rate
    env = 0.5 * (1 + np.sin(2 * np.pi * 0.3 * t))
    mono = (0.3 * env * np.sin(2 * np.pi * 220 * t) + 0.02 * rng.standard_normal(n)).astype(np.float32)
    data = np.repeat(mono[:, None], args.channels, axis=1)
    out: dict = {"bench": "audio", "minutes": args.minutes, "rate": args.rate, "channels": args.channels}
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "long.wav"
        sf.write(p, data, args.rate, subtype="PCM_16")
        del data
        t0 = time.perf_counter()
        clip = AudioClip.load(p)
        out["load_s"] = round(time.perf_counter() - t0, 4)
    t0 = time.perf_counter()
    _ = clip.sha256
    out["sha256_s"] = round(time.perf_counter() - t0, 4)
    t0 = time.perf_counter()
    clip.resampled(16000)
    out["resample_to_16k_s"] = round(time.perf_counter() - t0, 4)
    t0 = time.perf_counter()
    clip.peaks(0, clip.duration, args.bins)
    out["first_peaks_call_incl_pyramid_s"] = round(time.perf_counter() - t0, 4)
    views = {"whole_clip": (0.0, clip.duration), "one_minute": (60.0, 120.0), "ten_seconds": (300.0, 310.0),
             "one_second": (300.0, 301.0), "ten_ms": (300.0, 300.01)}
    peaks_ms = {}
    for name, (a, b) in views.items():
        times = []
        for k in range(20):
            shift = k * 0.37
            t0 = time.perf_counter()
            clip.peaks(a + shift, b + shift, args.bins)
            times.append(time.perf_counter() - t0)
        peaks_ms[name] = round(1000 * float(np.median(times)), 3)
    out["peaks_ms_median"] = peaks_ms
    out["bins"] = args.bins
    return out
