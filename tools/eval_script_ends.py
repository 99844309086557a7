"""How well does a partial alignment place a line whose script has unsaid words before or after it?

The script of a whole scene typed for the take of one line: stage directions or other characters'
lines before and after the words said. For each recording given (default: the shipped demo line),
whose own transcript aligns strictly, this prepends and appends runs of unsaid words of several
lengths, aligns the longer script with ``align(..., partial=True)`` and counts the words of the line
placed within 30 ms (start and end) of where the line's own strict alignment has them, and the unsaid
words placed anyway (words of the script that were never said but were given times as if heard).

Usage: ``.venv/bin/python tools/eval_script_ends.py [WAV ...] [--lengths 0 3 6 12 20] [--editor] [-o out.json]``
(each WAV needs its ``.txt`` beside it; the demo line's 24 scripts take about a minute on 2 CPU cores).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# unsaid text: a stage direction for before the line, another character's reply for after it
BEFORE = ("Scene two. Interior, night. Mary enters from the left, crosses to the window, looks down at "
          "the street for a long moment and then turns to the audience and says:")
AFTER = ("John looks up from his newspaper, folds it slowly, puts it on the table next to the cold coffee "
         "and answers her without a smile: not today, Mary.")
NEAR_S = 0.03


def _script_words(text: str, k: int, last: bool) -> str:
    """The first (``last``: the last) ``k`` words of ``text``."""
    words = text.split()
    return " ".join(words[len(words) - k:] if last else words[:k]) if k else ""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("wavs", nargs="*", type=Path, default=[ROOT / "resources/demo/demo.wav"])
    ap.add_argument("--lengths", nargs="+", type=int, default=[0, 3, 6, 12, 20],
                    help="numbers of unsaid words tried before and after the line")
    ap.add_argument("--editor", action="store_true",
                    help="align as the editor does (engine.edit_policy.align_transcript: the check against the "
                         "recogniser, and the stretch it hears when the aligner refuses the script)")
    ap.add_argument("-o", "--output", type=Path, default=None)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")

    from diface_editor.core.audio import AudioClip
    from diface_editor.synth.align import AlignmentError, align, transcript_words

    rows = []
    for wav in args.wavs:
        clip = AudioClip.load(wav)
        line = wav.with_suffix(".txt").read_text(encoding="utf-8").strip()
        try:
            truth = align(clip.samples, clip.sample_rate, line).words
        except AlignmentError as e:
            print(f"{wav.name}: its own transcript does not align strictly ({e}); skipped", flush=True)
            continue
        for nb in args.lengths:
            for na in args.lengths:
                if nb == 0 and na == 0:
                    continue
                before, after = _script_words(BEFORE, nb, last=True), _script_words(AFTER, na, last=False)
                script = " ".join(s for s in (before, line, after) if s)
                n0, n1 = len(transcript_words(before)), len(transcript_words(after))
                t0 = time.perf_counter()
                if args.editor:
                    from types import SimpleNamespace

                    from diface_editor.engine.edit_policy import align_transcript

                    tr = align_transcript(clip, script)
                    al = SimpleNamespace(words=list(tr.words), unaligned=list(tr.unaligned_words)) \
                        if tr.aligned else None
                else:
                    try:
                        al = align(clip.samples, clip.sample_rate, script, partial=True)
                    except AlignmentError:
                        al = None
                seconds = time.perf_counter() - t0
                near = unsaid_placed = 0
                if al is not None:
                    given_up = set(al.unaligned)
                    said = [al.words[i] for i in range(n0, len(al.words) - n1) if i not in given_up]
                    near = sum(any(w == t[0] and abs(s - t[1]) <= NEAR_S and abs(e - t[2]) <= NEAR_S
                                   for w, s, e in said) for t in truth)
                    unsaid = list(range(n0)) + list(range(len(al.words) - n1, len(al.words)))
                    unsaid_placed = sum(i not in given_up for i in unsaid)
                row = {"clip": wav.name, "before": n0, "after": n1, "words": len(truth), "refused": al is None,
                       "placed_near": near, "unsaid_placed": unsaid_placed, "align_s": round(seconds, 2)}
                rows.append(row)
                print(json.dumps(row), flush=True)
    out = {"rows": rows,
           "summary": {"scripts": len(rows), "refused": sum(r["refused"] for r in rows),
                       "line_words": sum(r["words"] for r in rows),
                       "placed_near": sum(r["placed_near"] for r in rows),
                       "all_placed": sum(r["placed_near"] == r["words"] for r in rows),
                       "unsaid_placed": sum(r["unsaid_placed"] for r in rows),
                       "align_s_median": float(np.median([r["align_s"] for r in rows])) if rows else None,
                       "align_s_max": max((r["align_s"] for r in rows), default=None)}}
    if args.output:
        args.output.write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps(out["summary"], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
