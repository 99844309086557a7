"""``diface bench rig``: how many frames per second the rig turns into vertices.

Times ``Rig.vertices`` on a batch of random ARKit weights (seeded), with and without a head rotation,
and reports the median over several runs (wall clock, after one warm-up run) as ``frames_per_second``;
``*_best`` is the fastest run (less sensitive to other load on the machine).
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--frames", type=int, default=300, help="frames per batch (default 300)")
    parser.add_argument("--repeats", type=int, default=7, help="timed runs; the median is reported (default 7)")
    parser.add_argument("--rig", default=None, help="a rig .npz (default: the shipped head)")
    parser.add_argument("--seed", type=int, default=0)


def _times(fn, repeats: int) -> tuple[float, float]:
    """(median, best) wall-clock seconds of ``fn()`` over ``repeats`` runs after one warm-up."""
    fn()
    times = []
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times)), float(np.min(times))


def run(args: argparse.Namespace) -> dict:
    from diface_editor.core.rig import BlendshapeRig, load_default_rig

    t0 = time.perf_counter()
    rig = BlendshapeRig.load(args.rig) if args.rig else load_default_rig()
    load_s = time.perf_counter() - t0
    rng = np.random.default_rng(args.seed)
    T = int(args.frames)
    face = rng.uniform(0.0, 1.0, (T, len(rig.blendshape_names))).astype(np.float32)
    head = rng.normal(0.0, 0.15, (T, 3)).astype(np.float32)

    no_head, no_head_best = _times(lambda: rig.vertices(face=face), args.repeats)
    with_head, with_head_best = _times(lambda: rig.vertices(face=face, head=head), args.repeats)
    return {
        "benchmark": "rig",
        "rig": rig.name,
        "n_vertices": rig.n_vertices,
        "n_triangles": int(len(rig.faces)),
        "n_blendshapes": len(rig.blendshape_names),
        "frames_per_batch": T,
        "repeats": int(args.repeats),
        "frames_per_second": round(T / with_head, 1),
        "frames_per_second_no_head": round(T / no_head, 1),
        "frames_per_second_best": round(T / with_head_best, 1),
        "frames_per_second_no_head_best": round(T / no_head_best, 1),
        "ms_per_batch": round(with_head * 1e3, 2),
        "ms_per_batch_no_head": round(no_head * 1e3, 2),
        "load_seconds": round(load_s, 3),
    }
