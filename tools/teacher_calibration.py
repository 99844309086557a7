"""Measure the procedural teacher's mouth on the real-speech evaluation set, per condition.

    .venv/bin/python tools/teacher_calibration.py [data/real_eval] [--jaw-gain G] [--jaw-omega W] [--seeds 0 1 2]

For each condition (clean, conversational, telephone, noisy) it prints what ``diface eval --real``
reports for the teacher driven by a forced alignment of the transcript: the openness correlation
with the phone-timed reference, p/b/m closure, f/v contact and the median peak ``jawOpen`` of
AA/AE/AO. ``--jaw-gain`` / ``--jaw-omega`` try another vowel jaw gain (relative to the shipped
:data:`~diface_editor.synth.teacher.VOWEL_JAW_GAIN`) or jaw frequency; rows are printed for the
jitter-free teacher (what the viseme pins use) and for each ``--seeds`` style draw (what the corpus
and ``diface lipsync`` use). Used to choose the real-speech jaw calibration (2026-12-04).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CONDITIONS = ("clean", "conversational", "telephone", "noisy")


def main() -> int:
    from diface_editor.bench.real_speech import MouthGeometry, _Tally, load_real_set, reference_openness
    from diface_editor.synth import teacher as T
    from diface_editor.synth.align import AlignmentError, align

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("folder", nargs="?", default=str(ROOT / "data" / "real_eval"))
    ap.add_argument("--jaw-gain", type=float, default=1.0, help="extra vowel jaw gain (1 = as shipped)")
    ap.add_argument("--jaw-omega", type=float, default=None, help="jaw frequency, rad/s (default: as shipped)")
    ap.add_argument("--seeds", type=int, nargs="*", default=[0], help="style-jitter seeds to report too")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)

    if args.jaw_gain != 1.0:
        j = T._IDX["jawOpen"]

        def gain(p):
            p = p.copy()
            p[j] *= args.jaw_gain
            return p

        T.VISEMES.update({k: gain(v) for k, v in T.VISEMES.items() if k in T.VOWELS})
        T.DIPHTHONGS.update({k: (gain(a), gain(b), f) for k, (a, b, f) in T.DIPHTHONGS.items()})
    omega = {} if args.jaw_omega is None else {"jaw_omega": args.jaw_omega}
    fps = 30.0
    clips = []
    for rc in load_real_set(args.folder):
        try:
            clips.append((rc, align(rc.clip.samples, rc.clip.sample_rate, rc.text).phones))
        except AlignmentError as e:
            print(f"skipped {rc.condition}/{rc.name}: {e}", file=sys.stderr)
    geo = MouthGeometry.default()
    print(f"vowel jaw gain {T.VOWEL_JAW_GAIN * args.jaw_gain:.3f}, jaw_omega "
          f"{omega.get('jaw_omega', T.TeacherConfig().jaw_omega):g} rad/s; per condition: corr / p/b/m / f/v / jaw")
    for label, jitter, seed in [("no jitter", 0.0, 0)] + [(f"seed {s}", 1.0, s) for s in args.seeds]:
        cfg = T.TeacherConfig(fps=fps, style_jitter=jitter, **omega)
        tallies: dict[str, _Tally] = {}
        for rc, phones in clips:
            anim = T.animate(phones, duration=rc.clip.duration, samples=rc.clip.samples,
                             sample_rate=rc.clip.sample_rate, seed=seed, config=cfg)
            w = geo.weights(anim)
            tallies.setdefault(rc.condition, _Tally()).add(geo, w, phones, fps, reference_openness(phones, len(w), fps))
        cells = []
        for cond in [c for c in CONDITIONS if c in tallies] + sorted(set(tallies) - set(CONDITIONS)):
            s = tallies[cond].summary()
            pct = lambda v: "  - " if v is None else f"{100 * v:3.0f}%"  # noqa: E731
            jaw = "-" if s["open_vowel_jaw"] is None else f"{s['open_vowel_jaw']:.2f}"
            cells.append(f"{cond} {s['openness_corr']:.3f} {pct(s['closure'])} {pct(s['fv_contact'])} {jaw}")
        print(f"{label:10s} " + " | ".join(cells), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
