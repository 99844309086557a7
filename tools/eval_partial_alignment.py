"""Does a partial alignment help the takes whose typed transcript does not align as a whole?

About one real recording in seven does not align strictly (``data/real_eval`` and the stress set
``data/real_eval_noise``: long conversational takes, takes in noise). Before 2026-12-04 such a take
fell back to the audio alone; now the editor aligns it in parts (``align(..., partial=True)``). This
script scores that on every recording whose strict alignment fails but whose clean source (the same
speech without the channel or noise, sample for sample: ``SETS.json``'s ``from``) aligns. The
reference is built from the clean source's strict alignment, so it does not depend on the partial
alignment being scored:

* ``audio_only``: the shipped model without pins (what such a take got before);
* ``partial``: the model with the partial alignment's viseme pins (what it gets now);
* ``oracle``: the model with the clean source's alignment pinned (the ceiling).

Reported per method (pooled over the clips, as ``diface eval --real``): openness correlation with
the phone-timed reference, p/b/m closure and f/v contact at the clean source's phones, and
``partial`` minus ``audio_only`` with a paired-bootstrap 95 % interval over the clips.

Usage: ``.venv/bin/python tools/eval_partial_alignment.py [data/real_eval data/real_eval_noise] [-o out.json]``
(about 10 minutes on 2 CPU cores).
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

log = logging.getLogger("eval_partial_alignment")


def _clips(folders: list[Path]) -> list[tuple[Path, Path]]:
    """(recording, its clean source) for every recording of ``folders`` with a ``.txt`` (the source of
    a clean recording is itself)."""
    data = folders[0].parent
    as_collected = {}
    for folder in folders:
        for e in json.loads((folder / "SETS.json").read_text()):
            if e.get("how") == "as collected":
                as_collected[e["from"]] = data / e["set"] / f"{e['name']}.wav"
    out = []
    for folder in folders:
        for e in json.loads((folder / "SETS.json").read_text()):
            if e["set"].split("/")[0] != folder.name:  # data/real_eval's list names data/real_train's too
                continue
            wav = data / e["set"] / f"{e['name']}.wav"
            src = as_collected.get(e["from"]) or (data / e["from"])
            if wav.is_file() and wav.with_suffix(".txt").is_file() and src.is_file():
                out.append((wav, src))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("folders", nargs="*", type=Path, default=[ROOT / "data/real_eval", ROOT / "data/real_eval_noise"])
    ap.add_argument("-o", "--output", type=Path, default=None)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")

    import torch

    from diface_editor.bench.real_speech import MouthGeometry, _Tally, paired_corr_difference, reference_openness
    from diface_editor.core.audio import AudioClip
    from diface_editor.engine.loading import load_model
    from diface_editor.engine.requests import GenerateRequest
    from diface_editor.engine.worker import Engine
    from diface_editor.synth.align import AlignmentError, align

    torch.set_num_threads(2)
    model = load_model(None)
    fps = float(model.fps)
    engine = Engine(model, previews=False)
    rec = dict(model.sampling or {})
    kw = dict(seed=0, sampler=str(rec.get("sampler", "dpmpp")), steps=rec.get("steps"),
              guidance=float(rec.get("guidance", 1.0)), parts=tuple(p for p in ("face", "head") if model.has_part(p)))
    geo = MouthGeometry.default()
    tallies = {k: _Tally() for k in ("audio_only", "partial", "oracle")}
    rows, counts = [], {"recordings": 0, "strict_fails": 0, "no_clean_source": 0, "partial_fails": 0}
    sources: dict[Path, object] = {}
    for wav, src in _clips([Path(f) for f in args.folders]):
        counts["recordings"] += 1
        clip, text = AudioClip.load(wav), wav.with_suffix(".txt").read_text(encoding="utf-8")
        try:
            align(clip.samples, clip.sample_rate, text)
            continue  # aligns strictly: the partial alignment never runs
        except AlignmentError:
            counts["strict_fails"] += 1
        if src not in sources:
            s = AudioClip.load(src)
            try:
                sources[src] = align(s.samples, s.sample_rate, src.with_suffix(".txt").read_text(encoding="utf-8"))
            except AlignmentError:
                sources[src] = None
        ref_al = sources[src]
        if ref_al is None:
            counts["no_clean_source"] += 1
            continue
        t0 = time.perf_counter()
        try:
            part = align(clip.samples, clip.sample_rate, text, partial=True)
        except AlignmentError:
            counts["partial_fails"] += 1
            continue
        seconds = time.perf_counter() - t0
        runs = {"audio_only": GenerateRequest(clip, **kw),
                "partial": GenerateRequest(clip, phones=tuple(part.phones), viseme_strength=1.0, **kw),
                "oracle": GenerateRequest(clip, phones=tuple(ref_al.phones), viseme_strength=1.0, **kw)}
        ws = {k: geo.weights(engine.run_sync(r).animations[0]) for k, r in runs.items()}
        n = min(len(w) for w in ws.values())
        ref = reference_openness(ref_al.phones, n, fps)
        row = {"clip": str(wav.relative_to(wav.parents[2])), "words": len(part.words),
               "unaligned": len(part.unaligned), "align_s": round(seconds, 2)}
        for k, w in ws.items():
            row[k] = tallies[k].add(geo, w[:n], ref_al.phones, fps, ref)
        rows.append(row)
        print(row["clip"], f"{row['words'] - row['unaligned']}/{row['words']} words placed",
              {k: round(row[k]["openness_corr"] or 0.0, 3) for k in tallies}, flush=True)
    summary = {k: t.summary() for k, t in tallies.items()} if rows else {}
    diff = paired_corr_difference(tallies["partial"].pred, tallies["audio_only"].pred, tallies["partial"].ref,
                                  seed=0) if rows else None
    words = sum(r["words"] for r in rows)
    placed = words - sum(r["unaligned"] for r in rows)
    out = {"counts": {**counts, "scored": len(rows), "words": words, "words_placed": placed,
                      "align_s_median": float(np.median([r["align_s"] for r in rows])) if rows else None,
                      "align_s_max": max((r["align_s"] for r in rows), default=None)},
           "summary": summary, "partial_minus_audio_only": diff, "rows": rows}
    text = json.dumps(out, indent=1)
    if args.output:
        args.output.write_text(text + "\n")
    keys = ("openness_corr", "closure", "fv_contact")
    print(json.dumps({"counts": out["counts"], "partial_minus_audio_only": diff,
                      **{k: {m: summary[k][m] for m in keys} for k in summary}}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
