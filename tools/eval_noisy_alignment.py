"""How far does noise move a transcript's alignment, and what does that do to the lip sync?

The real-speech evaluation (``diface eval --real``) builds its phone-timed openness reference from the
alignment of the audio it scores. For a noisy copy of a clean recording that alignment is the noisy one,
so a misalignment moves the reference, the teacher and the model's viseme pins together and goes unseen.
The noisy copies of ``data/real_eval`` (its ``noisy`` folder), ``data/real_eval_noise`` and the held-out
noise sets have their clean source, whose alignment is the better estimate of when each phone is said.

``align``: for each noisy copy listed in the given ``SETS.json`` files (``"how"`` naming a noise, ``"from"``
its source: in the same file with ``"how": "as collected"``, or a path relative to the file's parent
folder's parent), align the copy and its source strictly (:func:`diface_editor.synth.align.align`, as the
evaluation does) and cache both under ``--cache``.

``report``: per set and noise (the copy's folders), against the source's alignment: the share of 10 ms frames
whose phone agrees, the share whose speech/silence agrees, and the median and 90th percentile of the
word start error (clips whose word lists differ are left out of the last). With ``--openness DIR`` (a
``tools/eval_free_frames.py`` cache with the ``audio`` tag: ``run --tag audio --audio-only``), the pooled
openness correlation of the model with the typed transcript, the jitter-free teacher and the audio-only
model against the reference from the *source's* alignment, and the transcript minus audio only with a
95 % interval from a paired bootstrap over clips (and likewise minus the teacher); ``--tags T ...`` adds
``eval_free_frames.py`` variants (``heard``: ``run --tag heard --recognised``, the default settings' pins).

``report --rest-check TAU FRAMES`` (tried on 2026-12-05 and not kept, ``docs/bench/2026-12-05c-noisy-alignment``):
where the alignment says speech (not a pause or p/b/m) and the audio-only model's openness stays under
``TAU`` for at least ``FRAMES`` frames, take the audio-only openness instead of the transcript's; the
change in correlation against the clip's own reference and against the source's (paired bootstrap), for
every condition of the ``--openness`` caches (clean ones included, which have no source).

``report --switch CACHE QSTD FLOOR`` (tried on 2026-12-05 and not kept, ``docs/bench/2026-12-05d-edge-phones``):
the alignment from ``CACHE`` (e.g. ``align --silprob 0.5``) for the takes whose quiet frames are not
stationary noise (:func:`floor_features`: ``qstd >= QSTD`` and ``floor >= FLOOR`` dB); ``report
--floor-stats WAV ...``: those features per folder instead.

Usage (2 CPU cores: about 1 s per alignment)::

    .venv/bin/python tools/eval_noisy_alignment.py align --cache /tmp/na data/real_eval/SETS.json data/real_eval_noise/SETS.json
    .venv/bin/python tools/eval_noisy_alignment.py report --cache /tmp/na --openness /tmp/ff/stress --openness /tmp/ff/eval
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

NOISES = ("babble", "pink", "white")


def _pairs(sets_files: list[str]) -> list[tuple[Path, Path]]:
    """(noisy copy, clean source) wav paths from ``SETS.json`` files."""
    pairs = []
    for sf in map(Path, sets_files):
        rows = json.loads(sf.read_text(encoding="utf-8"))
        root = sf.parent.parent
        collected = {r["from"]: r for r in rows if r.get("how") == "as collected"}
        for r in rows:
            if not any(n in r.get("how", "") for n in NOISES):
                continue
            if r["from"] in collected:
                c = collected[r["from"]]
                src = root / c["set"] / f"{c['name']}.wav"
            else:
                src = root / r["from"]
            pairs.append((root / r["set"] / f"{r['name']}.wav", src))
    return pairs


def _key(wav: Path) -> str:
    return f"{wav.parent.parent.name}__{wav.parent.name}__{wav.stem}"


def run_align(args: argparse.Namespace) -> None:
    import diface_editor.synth.align as al_mod
    from diface_editor.core.audio import AudioClip
    from diface_editor.synth.align import AlignmentError, align

    if args.raw:  # the aligner's result before carve_pauses (for report --carve)
        al_mod.carve_pauses = lambda phones, *a, **k: list(phones)
    settings = {k: v for k, v in (("silprob", args.silprob), ("fillprob", args.fillprob)) if v is not None}
    if settings:  # a decoder with another silence (filler) probability; pocketsphinx's defaults: 0.005 (1e-8)
        def decoder():
            from pocketsphinx import Decoder
            if "d" not in al_mod._decoder:
                al_mod._decoder["d"] = Decoder(samprate=al_mod.ALIGN_RATE, loglevel="FATAL", **settings)
                al_mod._decoder["added"] = set()
            return al_mod._decoder["d"]
        al_mod._get_decoder = decoder
    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    pairs = [(n, c) for n, c in _pairs(args.sets) if n.exists() and c.exists()]
    wavs = [n for n, _ in pairs] if args.noisy_only else [w for p in pairs for w in p]
    for wav in dict.fromkeys(wavs):
        out = cache / f"{_key(wav)}.json"
        if out.exists():
            continue
        clip = AudioClip.load(wav)
        try:
            al = align(clip.samples, clip.sample_rate, wav.with_suffix(".txt").read_text(encoding="utf-8"))
            res = {"phones": al.phones, "words": al.words, "duration": al.duration}
        except AlignmentError as e:
            res = {"error": str(e)}
        out.write_text(json.dumps(res), encoding="utf-8")
        print(f"done {_key(wav)}", file=sys.stderr, flush=True)
    (cache / "pairs.json").write_text(json.dumps([[str(n), str(c)] for n, c in pairs]), encoding="utf-8")


def _frames(phones, n: int) -> np.ndarray:
    """(n,) the phone of each 10 ms frame."""
    lab = np.full(n, "SIL", object)
    for p, s, e in phones:
        lab[int(round(s * 100)):int(round(e * 100))] = p
    return lab


def _runs(mask: np.ndarray, min_len: int) -> np.ndarray:
    """(n,) bool: the runs of ``mask`` at least ``min_len`` long."""
    out = np.zeros_like(mask)
    edges = np.flatnonzero(np.diff(np.r_[0, mask.astype(np.int8), 0]))
    for a, b in zip(edges[::2], edges[1::2]):
        if b - a >= min_len:
            out[a:b] = True
    return out


def _rest_checked(d, audio: np.ndarray, tau: float, min_len: int) -> np.ndarray:
    """The transcript's openness with the audio-only model's where that rests through aligned speech."""
    n, fps = len(d["ref"]), float(d["fps"])
    speech = np.zeros(n, bool)
    for p, s, e in json.loads(str(d["phones"])):
        if p not in ("SIL", "SP", "SPN", "P", "B", "M"):
            speech[int(np.ceil(s * fps)):min(n, int(np.ceil(e * fps)))] = True
    return np.where(_runs(speech & (audio < tau), min_len), audio, d["model"])


def rest_check(args: argparse.Namespace, sources: dict) -> dict:
    from diface_editor.bench.real_speech import paired_corr_difference, reference_openness

    tau, min_len = float(args.rest_check[0]), int(args.rest_check[1])
    result = {}
    for cache in args.openness:
        groups: dict[str, list] = {}
        for f in sorted(Path(cache).glob("*.npz")):
            a = f.with_name(f"{f.stem}.audio.npy")
            if not a.exists():
                continue
            d = np.load(f)
            n = len(d["ref"])
            src = sources.get(f.stem)
            ref_src = (reference_openness([tuple(p) for p in src["phones"]], n, float(d["fps"]))
                       if src is not None else None)
            groups.setdefault(f.stem.split("__")[0], []).append((d, np.load(a)[:n], ref_src))
        for cond, g in groups.items():
            var = [_rest_checked(d, a, tau, min_len) for d, a, _ in g]
            own = paired_corr_difference(var, [d["model"] for d, _, _ in g], [d["ref"] for d, _, _ in g]) or {}
            row = {"clips": len(g), "own_reference": own.get("difference"), "ci95": own.get("ci95")}
            with_src = [(v, d, r) for v, (d, _, r) in zip(var, g) if r is not None]
            if with_src:
                cmp = paired_corr_difference([v for v, _, _ in with_src], [d["model"] for _, d, _ in with_src],
                                             [r for _, _, r in with_src]) or {}
                row.update(source_reference=cmp.get("difference"), ci95_source=cmp.get("ci95"))
            result[f"{Path(cache).name}/{cond}"] = row
    return result


def _carved(raw, wav: Path, duration: float, carve: list[str], ends_only: bool) -> list:
    """``raw`` (phones before :func:`~diface_editor.synth.align.carve_pauses`) carved as the aligner does,
    then with the silence threshold raised to the ``q``-th percentile frame level + ``m`` dB (the noise
    floor): everywhere, or (``ends_only``) only in the quiet stretch the clip starts or ends with.
    Tried on 2026-12-05 and not kept."""
    from diface_editor.core.audio import AudioClip
    from diface_editor.synth.align import SPEECH_DB, _frame_level_db, carve_pauses
    from diface_editor.synth.phonemes import SIL, tidy_timing

    clip = AudioClip.load(wav)
    x, sr = clip.samples, clip.sample_rate
    raw = [tuple(p) for p in raw]
    level = _frame_level_db(x, sr)
    thr = max(SPEECH_DB, float(np.percentile(level, float(carve[0]))) + float(carve[1]))
    if not ends_only:
        return tidy_timing(carve_pauses(raw, x, sr, threshold_db=thr), duration)
    out = carve_pauses(raw, x, sr)
    quiet = level < thr
    k = len(quiet)
    while k > 0 and quiet[k - 1]:
        k -= 1
    if duration - k * 0.01 >= 0.1:
        t = k * 0.01
        out = [(p, s, min(e, t)) for p, s, e in out if s < t] + [(SIL, t, duration)]
    k = 0
    while k < len(quiet) and quiet[k]:
        k += 1
    if k * 0.01 >= 0.1:
        t = k * 0.01
        out = [(SIL, 0.0, t)] + [(p, max(s, t), e) for p, s, e in out if e > t]
    return tidy_timing(out, duration)


def floor_features(wav: Path) -> dict:
    """What the quiet frames of a take say about its noise (tried on 2026-12-05 to tell babble from other
    noise): over the 16 kHz audio's 10 ms frames, in dB re the 95th-percentile frame, ``floor`` the 10th
    percentile and ``qstd`` the standard deviation of the quietest 30 % (stationary noise: low)."""
    from diface_editor.core.audio import AudioClip
    from diface_editor.synth.align import ALIGN_RATE, _frame_level_db
    from diface_editor.synth.dsp import resample

    clip = AudioClip.load(wav)
    level = _frame_level_db(resample(np.asarray(clip.samples, np.float32).reshape(-1), clip.sample_rate,
                                     ALIGN_RATE), ALIGN_RATE)
    quiet = np.sort(level)[:max(10, int(0.3 * len(level)))]
    return {"floor": float(np.percentile(level, 10)), "qstd": float(np.std(quiet))}


def report(args: argparse.Namespace) -> None:
    from diface_editor.bench.real_speech import paired_corr_difference, reference_openness

    if args.floor_stats:
        groups: dict[str, list] = {}
        for w in map(Path, args.floor_stats):
            groups.setdefault(f"{w.parent.parent.name}/{w.parent.name}", []).append(floor_features(w))
        print(json.dumps({g: {k: [round(float(np.percentile([f[k] for f in fs], q)), 2) for q in (0, 10, 50, 90, 100)]
                              for k in fs[0]} | {"takes": len(fs)} for g, fs in groups.items()}, indent=1))
        return
    cache = Path(args.cache)
    pairs = [(Path(n), Path(c)) for n, c in json.loads((cache / "pairs.json").read_text(encoding="utf-8"))]
    sources = Path(args.sources or args.cache)
    if args.rest_check:  # a report of its own, from the openness caches and the sources' alignments only
        src_alignments = {}
        for noisy, clean in pairs:
            got = json.loads((sources / f"{_key(clean)}.json").read_text(encoding="utf-8"))
            if "error" not in got:
                src_alignments[f"{noisy.parent.name}__{noisy.stem}"] = got
        print(json.dumps(rest_check(args, src_alignments), indent=1))
        return
    opened = {}
    for d in args.openness:  # eval_free_frames caches: <folder>__<stem>.npz (+ .audio.npy)
        for f in Path(d).glob("*.npz"):
            opened[f.stem] = f
    rows: dict[str, dict] = {}
    for noisy, clean in pairs:
        got = [json.loads((d / f"{_key(w)}.json").read_text(encoding="utf-8")) for d, w in ((cache, noisy), (sources, clean))]
        if any("error" in g for g in got):
            continue
        al, src = got
        base = None
        if args.baseline:  # the same clips only, and their agreement with the baseline's alignment as well
            base = json.loads((Path(args.baseline) / f"{_key(noisy)}.json").read_text(encoding="utf-8"))
            if "error" in base:
                continue
        if args.carve:
            al = dict(al, phones=_carved(al["phones"], noisy, al["duration"], args.carve, args.ends_only))
        if args.switch:  # another cache's alignment for the takes whose quiet frames are not stationary noise
            f = floor_features(noisy)
            if f["qstd"] >= float(args.switch[1]) and f["floor"] >= float(args.switch[2]):
                alt = json.loads((Path(args.switch[0]) / f"{_key(noisy)}.json").read_text(encoding="utf-8"))
                if "error" not in alt:
                    al = alt
        n = int(al["duration"] * 100)
        a, b = _frames(al["phones"], n), _frames(src["phones"], n)
        row = rows.setdefault(f"{noisy.parent.parent.name}/{noisy.parent.name}",
                              {"agree": [], "speech_agree": [], "word_start_err": [], "open": [], "base_agree": []})
        row["agree"].append(float(np.mean(a == b)))
        if base is not None:
            row["base_agree"].append(float(np.mean(_frames(base["phones"], n) == b)))
        row["speech_agree"].append(float(np.mean((a == "SIL") == (b == "SIL"))))
        if [w for w, _, _ in al["words"]] == [w for w, _, _ in src["words"]]:
            row["word_start_err"] += [abs(x[1] - y[1]) for x, y in zip(al["words"], src["words"])]
        f = opened.get(f"{noisy.parent.name}__{noisy.stem}")
        if f is not None and all(f.with_name(f"{f.stem}.{tag}.npy").exists() for tag in ("audio", *args.tags)):
            d = np.load(f)
            t = len(d["ref"])
            ref = reference_openness([tuple(p) for p in src["phones"]], t, float(d["fps"]))
            row["open"].append((d["model"], d["teacher"], np.load(f.with_name(f"{f.stem}.audio.npy"))[:t], ref,
                                [np.load(f.with_name(f"{f.stem}.{tag}.npy"))[:t] for tag in args.tags]))
    result = {}
    for cond, row in rows.items():
        err = np.array(row["word_start_err"]) if row["word_start_err"] else np.zeros(1)
        out = {"clips": len(row["agree"]), "phone_frames_agree": float(np.mean(row["agree"])),
               "speech_frames_agree": float(np.mean(row["speech_agree"])),
               "clips_under_half_agree": int(np.sum(np.array(row["agree"]) < 0.5)),
               **({"baseline_phone_frames_agree": float(np.mean(row["base_agree"]))} if row["base_agree"] else {}),
               "word_start_err_s": {"median": float(np.median(err)), "p90": float(np.percentile(err, 90)),
                                    "words": len(row["word_start_err"])}}
        if row["open"]:
            m, t, au, ref, extra = (list(x) for x in zip(*row["open"]))
            r = np.concatenate(ref)
            cmp = paired_corr_difference(m, au, ref) or {}
            cmt = paired_corr_difference(m, t, ref) or {}
            out["openness_vs_source_timing"] = {
                "clips": len(m), **{k: float(np.corrcoef(np.concatenate(v), r)[0, 1])
                                    for k, v in (("transcript", m), ("teacher_no_jitter", t), ("audio_only", au))},
                "transcript_minus_audio_only": cmp.get("difference"), "ci95": cmp.get("ci95"),
                "transcript_minus_teacher": cmt.get("difference"), "ci95_teacher": cmt.get("ci95")}
            for i, tag in enumerate(args.tags):  # other variants cached by eval_free_frames.py (run --tag)
                v = [e[i] for e in extra]
                cmv = paired_corr_difference(v, au, ref) or {}
                out["openness_vs_source_timing"][tag] = {
                    "corr": float(np.corrcoef(np.concatenate(v), r)[0, 1]),
                    "minus_audio_only": cmv.get("difference"), "ci95": cmv.get("ci95")}
        result[cond] = out
    print(json.dumps(result, indent=1))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("align")
    a.add_argument("--cache", required=True)
    a.add_argument("--raw", action="store_true", help="cache the alignments before pauses are carved")
    a.add_argument("--silprob", type=float, default=None, help="pocketsphinx's silence probability (a variant)")
    a.add_argument("--fillprob", type=float, default=None, help="pocketsphinx's filler probability (a variant)")
    a.add_argument("--noisy-only", action="store_true", help="align the noisy copies only (a variant's cache)")
    a.add_argument("sets", nargs="+", help="SETS.json files listing the noisy copies and their sources")
    p = sub.add_parser("report")
    p.add_argument("--cache", required=True)
    p.add_argument("--openness", action="append", default=[], help="a tools/eval_free_frames.py cache (repeatable)")
    p.add_argument("--tags", nargs="*", default=[],
                   help="eval_free_frames.py variants (run --tag) to score against the sources' timing as well")
    p.add_argument("--sources", default=None, help="the folder of the sources' alignments (default: --cache)")
    p.add_argument("--baseline", default=None,
                   help="another cache of the noisy copies' alignments: report the clips both align, and its agreement")
    p.add_argument("--carve", nargs=2, metavar=("Q", "M"), default=None,
                   help="carve pauses below the Q-th percentile frame level + M dB (needs an align --raw cache)")
    p.add_argument("--ends-only", action="store_true", help="--carve only at the clip's ends")
    p.add_argument("--switch", nargs=3, metavar=("CACHE", "QSTD", "FLOOR"), default=None,
                   help="use CACHE's alignment where floor_features gives qstd >= QSTD and floor >= FLOOR dB")
    p.add_argument("--floor-stats", nargs="+", metavar="WAV", default=None,
                   help="instead: floor_features of these takes, per folder (min, 10th, 50th, 90th pct, max)")
    p.add_argument("--rest-check", nargs=2, metavar=("TAU", "FRAMES"), default=None,
                   help="report the rest check tried on 2026-12-05 instead")
    args = ap.parse_args(argv)
    {"align": run_align, "report": report}[args.cmd](args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
