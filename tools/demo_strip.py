"""Render a strip of mouth close-ups at open vowels and p/b/m closures of a clip (a visual check).

Rows: each given animation (e.g. the model's take and the teacher's ``diface lipsync`` take);
columns: moments picked from a pocketsphinx alignment of the transcript (the middle of open-vowel
phones and of p/b/m phones, alternating). Each panel is labelled with the phone and time, and the
mid-lip gap in mm (:class:`diface_editor.bench.evaluate.RigGeometry`).

Usage::

    .venv/bin/python tools/demo_strip.py resources/demo/demo.wav --text-file resources/demo/demo.txt \
        --take model=/tmp/demo_model.npz --take teacher=/tmp/demo_teacher.npz -o docs/images/demo_strip.png

Needs Pillow (tool-time only) and a working EGL (see diface_editor.render).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

OPEN_VOWELS = ("AA", "AE", "AH", "AO", "AW", "AY", "EH")
BILABIAL = ("P", "B", "M")


def pick_moments(phones, n: int) -> list[tuple[str, float]]:
    """Up to ``n`` (phone, centre time s), alternating open vowels and bilabials, in time order."""
    vow = [(p, (a + b) / 2) for p, a, b in phones if p.rstrip("012") in OPEN_VOWELS and b - a >= 0.05]
    bil = [(p, (a + b) / 2) for p, a, b in phones if p.rstrip("012") in BILABIAL]
    out = []
    for i in range(n):
        src = bil if i % 2 else vow
        if not src:
            src = vow or bil
        if not src:
            break
        out.append(src[(i // 2 * len(src)) // max(1, (n + 1) // 2) % len(src)])
    return sorted(set(out), key=lambda x: x[1])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("audio")
    p.add_argument("--text-file", required=True)
    p.add_argument("--take", action="append", required=True, metavar="LABEL=FILE")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--moments", type=int, default=8)
    p.add_argument("--size", type=int, default=200)
    a = p.parse_args(argv)

    from PIL import Image, ImageDraw

    from diface_editor.bench.evaluate import RigGeometry
    from diface_editor.core.audio import AudioClip
    from diface_editor.core.formats import load_animation
    from diface_editor.render.camera import CameraSpec
    from diface_editor.render.offscreen import OffscreenRenderer
    from diface_editor.synth.align import align

    clip = AudioClip.load(a.audio)
    al = align(clip.samples, clip.sample_rate, Path(a.text_file).read_text(encoding="utf-8"))
    moments = pick_moments(al.phones, a.moments)
    geo = RigGeometry.default()
    rig = geo.rig
    lips = rig.template[rig.lip_idx]
    centre = (lips.min(0) + lips.max(0)) / 2
    cam = CameraSpec(yaw_deg=0.0, pitch_deg=0.0, fov_deg=20.0, distance=0.22, target=tuple(centre.tolist()))
    S = a.size
    takes = [t.split("=", 1) for t in a.take]
    sheet = Image.new("RGB", (80 + S * len(moments), 24 + S * len(takes)), (30, 30, 34))
    draw = ImageDraw.Draw(sheet)
    with OffscreenRenderer(rig, size=(S, S), camera=cam, supersample=2) as r:
        for row, (label, path) in enumerate(takes):
            anim = load_animation(path)
            w = rig.weights_for(anim)
            frames = [min(len(w) - 1, int(round(t * anim.fps))) for _, t in moments]
            verts = rig.vertices(face=w[frames])  # no head rotation: a steady close-up of the mouth
            imgs = r.render(verts)
            gaps = geo.lip_gap_mm(w[frames])
            draw.text((6, 24 + row * S + S // 2), label, fill=(230, 230, 230))
            for col, img in enumerate(imgs):
                x, y = 80 + col * S, 24 + row * S
                sheet.paste(Image.fromarray(img), (x, y))
                draw.text((x + 4, y + S - 14), f"gap {gaps[col]:.1f} mm", fill=(255, 230, 120))
    for col, (ph, t) in enumerate(moments):
        draw.text((80 + col * S + 4, 6), f"{ph} @ {t:.2f}s", fill=(230, 230, 230))
    Path(a.output).parent.mkdir(parents=True, exist_ok=True)
    sheet.save(a.output)
    print(f"wrote {a.output}: {len(moments)} moments x {len(takes)} takes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
