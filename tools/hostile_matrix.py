"""Peak memory and time of the worst rows of the bad-input matrix (issue #16), for before/after notes.

Each row runs ``python -m diface_editor.cli.main ...`` in a child under ``ulimit -v`` (8 GiB) and a
wall-clock timeout (60 s); the peak resident memory comes from ``getrusage(RUSAGE_CHILDREN)``
read by a wrapper process, so rows never share a measurement::

    .venv/bin/python tools/hostile_matrix.py [--timeout 60] [--mem-gb 8] [ROW ...]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

_WRAP = r"""
import resource, subprocess, sys, time, json
lim = int(sys.argv[1]); tmo = float(sys.argv[2]); cmd = sys.argv[3:]
def pre():
    resource.setrlimit(resource.RLIMIT_AS, (lim, lim))
t = time.monotonic()
try:
    p = subprocess.run(cmd, preexec_fn=pre, capture_output=True, text=True, timeout=tmo)
    rc, err = p.returncode, (p.stderr.strip().splitlines() or [""])[-1]
except subprocess.TimeoutExpired:
    rc, err = "timeout", ""
dt = time.monotonic() - t
print(json.dumps({"rc": rc, "s": round(dt, 1), "peak_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024,
                  "last": err[:160]}))
"""


def rows(d: Path) -> dict[str, list[str]]:
    import _hostile as h

    h.billion_laughs_npy(d / "laughs.npy")
    h.npz_bomb(d / "bomb.npz")
    h.huge_ndarray_pickle_npy(d / "ndarray.npy")
    h.livelink_csv(d / "timecodes.csv", ["0", "1000000000000"])
    h.good_take(d / "take.npz")
    h.fifo(d / "fifo.npz")
    return {
        "npy-billion-laughs": ["info", str(d / "laughs.npy")],
        "npz-bomb-2GB": ["info", str(d / "bomb.npz")],
        "npy-pickled-ndarray-6e9": ["info", str(d / "ndarray.npy")],
        "csv-timecode-1e12": ["info", str(d / "timecodes.csv")],
        "export-fps-1e12": ["export", str(d / "take.npz"), str(d / "out.csv"), "--fps", "1e12"],
        "info-fifo": ["info", str(d / "fifo.npz")],
        "render-size-16000": ["render", str(d / "take.npz"), "-o", str(d / "out.mp4"), "--size", "16000x16000",
                              "--no-progress", "--no-audio"],
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("rows", nargs="*")
    ap.add_argument("--timeout", type=float, default=60.0)
    ap.add_argument("--mem-gb", type=float, default=8.0)
    ap.add_argument("--root", type=Path, default=ROOT,
                    help="folder holding the diface_editor package to measure (e.g. an old commit's `git archive`)")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        table = rows(Path(tmp))
        for name, argv in table.items():
            if a.rows and name not in a.rows:
                continue
            cmd = [sys.executable, "-c", _WRAP, str(int(a.mem_gb * 2**30)), str(a.timeout),
                   sys.executable, "-m", "diface_editor.cli.main", *argv]
            t = time.monotonic()
            out = subprocess.run(cmd, capture_output=True, text=True, cwd=a.root,
                                 env=dict(os.environ, PYTHONPATH=str(a.root)), timeout=a.timeout + 30).stdout
            res = json.loads(out.strip().splitlines()[-1]) if out.strip() else {"rc": "?", "s": time.monotonic() - t}
            print(f"{name:<26} rc={res['rc']!s:<8} {res['s']:>6} s  peak {res.get('peak_mb', '?'):>6} MB  "
                  f"{res.get('last', '')}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
