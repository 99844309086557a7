"""How well does the typed-versus-heard check (:mod:`diface_editor.core.heard_match`) tell a take's own
transcript from another take's, and from scripts that hold more or less than the take?

For every recording (``<set>/<condition>/<name>.wav`` + ``.txt``) these transcripts are tried:

* ``own``: its own transcript (must be kept);
* ``part``: the first half of its transcript's words (must be kept);
* ``scene``: its transcript inside 20 words of other transcripts before and 20 after (must be kept);
* ``wrong``: ``--wrong`` other recordings' transcripts of the same set, with a different text, drawn
  at random (seed 0) (should be refused).

Two modes:

* default: the texts are compared directly with what the recogniser hears in the first window
  (:func:`diface_editor.core.heard_match.compare` with the likelihood score), as if the aligner placed
  every typed word (for ``scene`` only the line's words: the aligner gives the unsaid ends up);
* ``--end-to-end``: each transcript goes through
  :func:`diface_editor.engine.edit_policy.align_transcript` as in the editor (partial alignment, then
  the check on the words it placed); refused means its error is the check's.

Prints JSON: per kind the count, how many were refused, the judged ones' shares and likelihood gaps at
quantiles, and the refused correct transcripts (and the kept wrong ones, up to 40).

Usage: ``.venv/bin/python tools/eval_wrong_transcripts.py data/real_eval data/real_eval_noise
[--end-to-end] [--wrong 12] -o docs/bench/<note>/wrong_transcripts.json``
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from diface_editor.core import heard_match  # noqa: E402
from diface_editor.core.transcript import transcript_words  # noqa: E402


def _recordings(sets: list[Path]) -> list[tuple[str, Path, str]]:
    out = []
    for s in sets:
        for wav in sorted(s.glob("*/*.wav")):
            txt = wav.with_suffix(".txt")
            if txt.exists():
                out.append((s.name, wav, txt.read_text(encoding="utf-8").strip()))
    return out


def _q(a) -> dict:
    a = np.asarray([x for x in a if x is not None], float)
    return {q: round(float(np.quantile(a, q)), 3) for q in (0.0, 0.01, 0.05, 0.5, 0.95, 0.99, 1.0)} if a.size else {}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("sets", nargs="+", type=Path)
    p.add_argument("--wrong", type=int, default=12, help="wrong transcripts tried per recording")
    p.add_argument("--end-to-end", action="store_true", help="align each transcript as the editor does")
    p.add_argument("-o", "--out", type=Path)
    args = p.parse_args()

    from diface_editor.core.audio import AudioClip
    from diface_editor.engine.edit_policy import align_transcript
    from diface_editor.ml.audio.whisper_asr import get_recognizer

    rec = get_recognizer()
    recs = _recordings(args.sets)
    rng = np.random.default_rng(0)
    rows: dict[str, list[dict]] = {"own": [], "part": [], "scene": [], "wrong": []}
    seconds: list[float] = []
    t_start = time.perf_counter()
    for i, (s, wav, text) in enumerate(recs):
        clip = AudioClip.load(wav)
        t0 = time.perf_counter()
        window = rec.first_window(clip)
        seconds.append(time.perf_counter() - t0)
        name = f"{s}/{wav.parent.name}/{wav.stem}"
        others = [(w2, t) for (s2, w2, t) in recs if s2 == s and t != text]
        pick = [others[j] for j in rng.permutation(len(others))[: args.wrong]]
        pool = transcript_words(" ".join(t for _w, t in pick[:6]))
        words = transcript_words(text)
        cases = [("own", text, text, None), ("part", " ".join(words[: max(1, len(words) // 2)]), None, None),
                 ("scene", " ".join(pool[:20] + words + pool[20:40]), text, len(pool[:20] + words + pool[20:40]))]
        cases += [("wrong", t, None, f"{w2.parent.name}/{w2.stem}") for w2, t in pick]
        for kind, typed, placed, extra in cases:
            row = {"name": name}
            if kind == "wrong":
                row["typed_from"] = extra
            if args.end_to_end:
                t0 = time.perf_counter()
                tr = align_transcript(clip, typed)
                row.update(refused=tr.mismatched, aligned=tr.aligned,
                           error=tr.error, align_s=round(time.perf_counter() - t0, 3),
                           typed=len(heard_match.counted_words(typed)))
            else:
                total = extra if kind == "scene" else None
                m = heard_match.compare(placed or typed, window.heard, score=window.log_prob, typed_total=total)
                row.update(refused=not m.matches, judged=m.judged, heard=len(m.heard), typed=len(m.typed),
                           shared=m.shared, share=round(max(m.heard_share, m.typed_share), 3),
                           gap=None if m.gap is None else round(m.gap, 3))
            rows[kind].append(row)
        print(f"[{i + 1}/{len(recs)}] {name} {time.perf_counter() - t_start:.0f} s: "
              + " ".join(f"{k}={sum(r['refused'] for r in v)}/{len(v)}" for k, v in rows.items()), file=sys.stderr)
    report: dict = {"mode": "end-to-end" if args.end_to_end else "texts", "min_words": heard_match.MIN_WORDS,
                    "min_shared": heard_match.MIN_SHARED, "min_gap": heard_match.MIN_GAP,
                    "recordings": len(recs), "first_window_s_median": round(float(np.median(seconds)), 3)}
    for kind, rs in rows.items():
        d = {"n": len(rs), "refused": sum(r["refused"] for r in rs)}
        if args.end_to_end:
            d["not_aligned_otherwise"] = sum((not r["aligned"]) and not r["refused"] for r in rs)
            kept = [r for r in rs if r["aligned"]]
            d["aligned"] = len(kept)
            d["aligned_by_typed_words"] = {k: sum(lo <= r["typed"] < hi for r in kept)
                                           for k, lo, hi in (("under 4", 0, 4), ("4-7", 4, 8), ("8+", 8, 10 ** 9))}
            d["align_s_median"] = round(float(np.median([r["align_s"] for r in rs])), 3)
        else:
            judged = [r for r in rs if r["judged"]]
            d.update(judged=len(judged), share=_q(r["share"] for r in judged), gap=_q(r["gap"] for r in judged))
            long_ = [r for r in rs if r["heard"] >= 12 and (r["typed"] >= 12 or kind == "scene")]
            d["refused_12_words_or_more"] = [sum(r["refused"] for r in long_), len(long_)]
        bad = [r for r in rs if r["refused"] != (kind == "wrong")]
        d["wrongly_judged"] = bad[:40]
        d["wrongly_judged_n"] = len(bad)
        report[kind] = d
    out = json.dumps(report, indent=1)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(out)
    print(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
