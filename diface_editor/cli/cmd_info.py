"""``diface info FILE...``: describe animation and audio files (format, frames, fps, duration,
channels, value ranges; for audio: format, channels, sample rate, duration)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("info", help="describe animation or audio files", description=__doc__)
    p.add_argument("files", nargs="+", metavar="FILE", help="animation (.npz, .npy, .csv, ...) or audio file")
    p.add_argument("--format", metavar="NAME", default=None,
                   help="read animation files as this format instead of guessing from the suffix")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from diface_editor.core.formats import describe

    for i, f in enumerate(args.files):
        if i:
            print()
        print(describe(f, format=args.format))
    return 0
