#!/usr/bin/env python3
"""Render the pictures of the default head rig in docs/images/ (headless, no display needed).

Usage (from the repository root)::

    .venv/bin/python tools/render_rig_pictures.py [--out docs/images] [--size 384]

Writes rig_neutral.png (front three-quarter view), rig_jawopen.png (jawOpen = 1) and
rig_rotation.png (side views: rest, nod of 0.35 rad, turn of 0.5 rad about the neck pivot, with the
pivot marked in red).
"""

from __future__ import annotations

import argparse
import sys
import zlib
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from diface_editor.core.rig import load_default_rig  # noqa: E402
from diface_editor.render.offscreen import CameraSpec, OffscreenRenderer  # noqa: E402


def write_png(path: Path, img: np.ndarray) -> None:
    """Minimal RGB PNG writer with maximum zlib compression."""
    import struct
    h, w, _ = img.shape
    raw = b"".join(b"\x00" + img[r].tobytes() for r in range(h))

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))
    path.write_bytes(png)


def mark(img: np.ndarray, rc: np.ndarray, colour=(230, 40, 40), r: int = 3) -> None:
    c, row = int(round(rc[0])), int(round(rc[1]))
    img[max(row - r, 0):row + r + 1, max(c - r, 0):c + r + 1] = colour


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "images")
    ap.add_argument("--size", type=int, default=384)
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    rig = load_default_rig()
    K = len(rig.blendshape_names)
    jaw = np.zeros((1, K), np.float32)
    jaw[0, rig.shape_index("jawOpen")] = 1.0
    s = args.size
    with OffscreenRenderer(rig, size=(s, s)) as r:
        write_png(args.out / "rig_neutral.png", r.render(rig.template))
        write_png(args.out / "rig_jawopen.png", r.render(rig.vertices(face=jaw)[0]))
        # side view (from the character's left), three poses, the pivot marked
        heads = np.array([[0, 0, 0], [0.35, 0, 0], [0, 0.5, 0]], np.float32)
        verts = rig.vertices(face=np.zeros((3, K), np.float32), head=heads)
        r.set_camera(CameraSpec(yaw_deg=90.0, pitch_deg=0.0, margin=1.25), frame_points=verts.reshape(-1, 3))
        imgs = r.render(verts)
        pivot = r.project(rig.pivot[None])[0]
        for im in imgs:
            mark(im, pivot)
        write_png(args.out / "rig_rotation.png", np.concatenate(list(imgs), axis=1))
    for n in ("rig_neutral.png", "rig_jawopen.png", "rig_rotation.png"):
        print(args.out / n, f"{(args.out / n).stat().st_size / 1e3:.0f} kB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
