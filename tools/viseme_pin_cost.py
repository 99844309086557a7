"""Time the viseme pins an edit asks for on a long take with a transcript.

    .venv/bin/python tools/viseme_pin_cost.py [--copies 60]

The demo line and its alignment are laid end to end ``--copies`` times (60: about 9 minutes, 5640
phones); after the teacher's pass (once per take, cached), the pins of a 2 s edit window in the middle
are computed as an edit asks for them (``rows``: the regenerated frames) and for the whole clip (what
every edit computed until 2026-12-04). Prints JSON: milliseconds, median of 5.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> int:
    from diface_editor.core.arkit import ARKIT_NAMES
    from diface_editor.core.audio import AudioClip
    from diface_editor.engine.visemes import viseme_pins
    from diface_editor.synth.align import align

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--copies", type=int, default=60)
    args = ap.parse_args()
    demo = ROOT / "resources" / "demo"
    clip = AudioClip.load(demo / "demo.wav")
    phones = align(clip.samples, clip.sample_rate, (demo / "demo.txt").read_text(encoding="utf-8")).phones
    dur, fps = clip.duration, 30.0
    long = [(p, s + k * dur, e + k * dur) for k in range(args.copies) for p, s, e in phones]
    samples = np.tile(clip.samples, args.copies)
    n = int(round(dur * args.copies * fps))
    t0 = time.perf_counter()
    viseme_pins(long, n, fps, ARKIT_NAMES, samples, clip.sample_rate)
    first = (time.perf_counter() - t0) * 1e3
    rows = np.zeros(n, bool)
    rows[n // 2 - 30:n // 2 + 31] = True

    def timed(**kw) -> float:
        ts = []
        for _ in range(5):
            t = time.perf_counter()
            viseme_pins(long, n, fps, ARKIT_NAMES, samples, clip.sample_rate, **kw)
            ts.append((time.perf_counter() - t) * 1e3)
        return round(float(np.median(ts)), 2)

    print(json.dumps({"phones": len(long), "frames": n, "teacher_pass_ms": round(first, 1),
                      "edit_window_pins_ms": timed(rows=rows), "whole_clip_pins_ms": timed()}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
