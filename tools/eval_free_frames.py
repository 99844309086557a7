"""Where does the model with a transcript's viseme pins differ from the teacher whose values it pins?

With a typed transcript most frames' mouth openness is pinned to the jitter-free teacher's
(:mod:`diface_editor.engine.visemes`); the frames left free are the model's. This script finds which
of them cost openness correlation (``diface eval --real``'s measure: pooled Pearson correlation of
``jawOpen - mouthClose`` with the phone-timed reference) and what a change of the pause pins does.

``run``: for each recording (``<name>.wav`` + ``<name>.txt``), align it strictly (skipped when that
fails), sample the shipped model with the pins (seed 0, its recommended sampler) and the teacher, and
cache per clip under ``--cache``: the openness of the model (``model``, or ``model.<TAG>`` with
``--tag``: the pins with another shortest pinned pause, ``--pause-min-s``; another sampling temperature,
``--temperature``; no pins at all, ``--audio-only``; or the default settings' pins, from the words
recognised in the audio, ``--recognised``), the teacher, the
reference, which frames' ``jawOpen`` is pinned and the phones.

``report``: per condition (the recording's folder), the pooled correlation of the model and the
teacher and, for each kind of free frame (inside p/b/m, f/v, other consonants, vowels, pauses under
0.2 s, the margins of longer pauses), its share of the frames and how much the correlation would
change with the teacher's values there; with ``--tags``, each variant minus the model and minus the
teacher with a 95 % interval from a paired bootstrap over clips; with ``--blend A ...``, the free
frames' openness moved the share ``A`` of the way from the model's to the teacher's, minus the model and
minus the teacher, with ``--blend-kinds`` in those kinds of free frame only (tried on 2026-12-05 and not
kept: ``docs/bench/2026-12-05-free-pull``); with ``--per-clip``, each clip's own correlations and the
pooled difference from the teacher with the clip left out.

Usage (2 CPU cores: about 3 s per clip)::

    .venv/bin/python tools/eval_free_frames.py run --cache /tmp/ff data/real_eval/noisy/*.wav
    .venv/bin/python tools/eval_free_frames.py run --cache /tmp/ff --tag p20 --pause-min-s 0.2 data/real_eval/noisy/*.wav
    .venv/bin/python tools/eval_free_frames.py run --cache /tmp/ff --tag audio --audio-only data/real_eval/noisy/*.wav
    .venv/bin/python tools/eval_free_frames.py report --cache /tmp/ff --tags p20
    .venv/bin/python tools/eval_free_frames.py report --cache /tmp/ff --blend 0.25 0.5 0.75 1
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

KINDS = ("pbm", "fv", "consonant", "vowel", "short pause", "pause margin")
VOWELS = {"AA", "AE", "AO", "AY", "AW", "AH", "EH", "ER", "EY", "IH", "IY", "OW", "OY", "UH", "UW"}


def run(args: argparse.Namespace) -> None:
    import torch

    from diface_editor.bench.real_speech import MouthGeometry, mouth_openness, reference_openness
    from diface_editor.core.arkit import ARKIT_NAMES
    from diface_editor.core.audio import AudioClip
    from diface_editor.engine import visemes
    from diface_editor.engine.loading import load_model
    from diface_editor.engine.requests import GenerateRequest
    from diface_editor.engine.worker import Engine
    from diface_editor.synth.align import AlignmentError, align
    from diface_editor.synth.teacher import TeacherConfig, animate

    torch.set_num_threads(2)
    if args.pause_min_s is not None:
        visemes.PAUSE_MIN_S = float(args.pause_min_s)
    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    model = load_model(None)
    engine = Engine(model, previews=False)
    geo = MouthGeometry.default()
    fps = float(model.fps)
    rec = dict(model.sampling or {})
    kw = dict(seed=0, sampler=str(rec.get("sampler", "dpmpp")), steps=rec.get("steps"),
              guidance=float(rec.get("guidance", 1.0)), parts=tuple(p for p in ("face", "head") if model.has_part(p)))
    for wav in map(Path, args.wavs):
        key = f"{wav.parent.name}__{wav.stem}"
        base = cache / f"{key}.npz"
        out = base if not args.tag else cache / f"{key}.{args.tag}.npy"
        if out.exists():
            continue
        if args.tag and not base.exists():
            print(f"skipped {key}: run it without --tag first", file=sys.stderr)
            continue
        clip = AudioClip.load(wav)
        if base.exists():
            d = np.load(base)
            phones = [tuple(p) for p in json.loads(str(d["phones"]))]
        else:
            try:
                phones = align(clip.samples, clip.sample_rate, wav.with_suffix(".txt").read_text(encoding="utf-8")).phones
            except AlignmentError as e:
                print(f"skipped {key}: {e}", file=sys.stderr)
                continue
        req_kw = dict(kw, temperature=args.temperature) if args.temperature is not None else kw
        if args.recognised:  # default settings: the words recognised in the audio, aligned (audio only when that fails)
            from diface_editor.engine.edit_policy import transcribe_speech
            heard = transcribe_speech(clip)
            pins = dict(phones=tuple(heard.phones), viseme_strength=1.0) if heard.aligned else dict(phones=None, viseme_strength=0.0)
        elif args.audio_only:
            pins = dict(phones=None, viseme_strength=0.0)
        else:
            pins = dict(phones=tuple(phones), viseme_strength=1.0)
        res = engine.run_sync(GenerateRequest(clip, **pins, **req_kw))
        wm = geo.weights(res.animations[0])
        if args.tag:
            np.save(out, mouth_openness(geo, wm[:len(np.load(base)["ref"])]))
        else:
            teach = animate(phones, config=TeacherConfig(fps=fps, style_jitter=0.0), duration=clip.duration,
                            samples=clip.samples, sample_rate=clip.sample_rate, seed=0)
            wt = geo.weights(teach)
            n = min(len(wm), len(wt))
            mask, _ = visemes.viseme_pins(phones, n, fps, ARKIT_NAMES, clip.samples, clip.sample_rate)
            np.savez(out, model=mouth_openness(geo, wm[:n]), teacher=mouth_openness(geo, wt[:n]),
                     ref=reference_openness(phones, n, fps), pinned=mask[:, ARKIT_NAMES.index("jawOpen")],
                     phones=json.dumps([list(p) for p in phones]), fps=fps)
        print(f"done {key}", file=sys.stderr, flush=True)


def _kinds(phones, n: int, fps: float, pinned: np.ndarray) -> np.ndarray:
    """(n,) the kind of each free frame (``"pinned"`` for the others)."""
    out = np.full(n, "other", object)
    for p, s, e in phones:
        p = str(p).upper().rstrip("012")
        kind = ("pbm" if p in ("P", "B", "M") else "fv" if p in ("F", "V") else "vowel" if p in VOWELS
                else ("short pause" if e - s < 0.2 else "pause margin") if p in ("SIL", "SP", "") else "consonant")
        out[max(0, int(np.ceil(s * fps))):min(n, int(np.ceil(e * fps)))] = kind
    out[pinned] = "pinned"
    return out


def report(args: argparse.Namespace) -> None:
    from diface_editor.bench.real_speech import paired_corr_difference

    groups: dict[str, list[Path]] = {}
    for f in sorted(Path(args.cache).glob("*.npz")):
        groups.setdefault(f.stem.split("__")[0], []).append(f)
    result = {}
    for cond, files in groups.items():
        files = [f for f in files if all(f.with_name(f"{f.stem}.{t}.npy").exists() for t in args.tags)]
        data = [np.load(f) for f in files]
        m, t, r = (np.concatenate([d[k] for d in data]) for k in ("model", "teacher", "ref"))
        kinds = np.concatenate([_kinds(json.loads(str(d["phones"])), len(d["ref"]), float(d["fps"]), d["pinned"])
                                for d in data])
        base = float(np.corrcoef(m, r)[0, 1])
        row = {"clips": len(files), "model": base, "teacher": float(np.corrcoef(t, r)[0, 1]),
               "free_share": float(np.mean(kinds != "pinned")), "teacher_there": {}, "variants": {}}
        if args.per_clip:  # each clip's own correlations, and the pooled model minus teacher without it
            row["per_clip"] = {}
            for i, (f, d) in enumerate(zip(files, data)):
                rest = [x for j, x in enumerate(data) if j != i]
                m_, t_, r_ = (np.concatenate([x[k] for x in rest]) for k in ("model", "teacher", "ref")) if rest else (m, t, r)
                row["per_clip"][f.stem.split("__", 1)[1]] = {
                    "frames": len(d["ref"]), "model": float(np.corrcoef(d["model"], d["ref"])[0, 1]),
                    "teacher": float(np.corrcoef(d["teacher"], d["ref"])[0, 1]),
                    "pooled_minus_teacher_without": float(np.corrcoef(m_, r_)[0, 1] - np.corrcoef(t_, r_)[0, 1])}
        for k in KINDS:
            sel = kinds == k
            if sel.any():
                x = m.copy()
                x[sel] = t[sel]
                row["teacher_there"][k] = {"share": float(sel.mean()), "corr_change": float(np.corrcoef(x, r)[0, 1]) - base,
                                           "mean_model_minus_teacher": float(np.mean(m[sel] - t[sel]))}
        for tag in args.tags:  # the variant's pooled correlation minus the model's, paired bootstrap over clips
            var = [np.load(f.with_name(f"{f.stem}.{tag}.npy")) for f in files]
            cmp = paired_corr_difference(var, [d["model"] for d in data], [d["ref"] for d in data]) or {}
            cmt = paired_corr_difference(var, [d["teacher"] for d in data], [d["ref"] for d in data]) or {}
            row["variants"][tag] = {"corr": float(np.corrcoef(np.concatenate(var), r)[0, 1]),
                                    "minus_model": cmp.get("difference"), "ci95": cmp.get("ci95"),
                                    "minus_teacher": cmt.get("difference"), "ci95_teacher": cmt.get("ci95")}
        for a in args.blend:  # the free frames moved the share a of the way from the model to the teacher
            var = []
            for d in data:
                n = len(d["ref"])
                k = _kinds(json.loads(str(d["phones"])), n, float(d["fps"]), d["pinned"][:n])
                sel = np.isin(k, args.blend_kinds) if args.blend_kinds else k != "pinned"
                var.append(np.where(sel, d["model"] + a * (d["teacher"] - d["model"]), d["model"]))
            cmp = paired_corr_difference(var, [d["model"] for d in data], [d["ref"] for d in data]) or {}
            cmt = paired_corr_difference(var, [d["teacher"] for d in data], [d["ref"] for d in data]) or {}
            row["variants"][f"blend {a:g}"] = {"corr": float(np.corrcoef(np.concatenate(var), r)[0, 1]),
                                               "minus_model": cmp.get("difference"), "ci95": cmp.get("ci95"),
                                               "minus_teacher": cmt.get("difference"), "ci95_teacher": cmt.get("ci95")}
        result[cond] = row
    print(json.dumps(result, indent=1))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--cache", required=True)
    r.add_argument("--tag", default="", help="cache a variant's model openness under this name")
    r.add_argument("--pause-min-s", type=float, default=None, help="the variant's shortest pinned pause (s)")
    r.add_argument("--temperature", type=float, default=None, help="the variant's sampling temperature")
    r.add_argument("--audio-only", action="store_true", help="the variant: no transcript (no viseme pins)")
    r.add_argument("--recognised", action="store_true",
                   help="the variant: the words recognised in the audio instead of the transcript (default settings)")
    r.add_argument("wavs", nargs="+")
    p = sub.add_parser("report")
    p.add_argument("--cache", required=True)
    p.add_argument("--tags", nargs="*", default=[])
    p.add_argument("--per-clip", action="store_true", help="also each clip's correlations and the pooled difference without it")
    p.add_argument("--blend", nargs="*", type=float, default=[],
                   help="variants with the teacher's values pulled into the free frames by these shares (0-1)")
    p.add_argument("--blend-kinds", nargs="*", default=[], choices=KINDS,
                   help="pull only these kinds of free frame (default: every free frame)")
    args = ap.parse_args(argv)
    (run if args.cmd == "run" else report)(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
