"""``diface generate AUDIO -o OUT``: lip sync, expression and head motion for a speech clip.

Any length of audio works: long clips are generated in overlapping windows with the overlap given
to the model as known context, so there are no seams. The output format follows OUT's extension
(``.npz`` native, ``.npy`` 3DiFACE, ``.csv`` Live Link Face, ...). With ``--samples N`` the files
are ``OUT_1.ext .. OUT_N.ext``.

Examples::

    diface generate speech.wav -o take.npz
    diface generate speech.wav -o take.csv --sampler ddim --steps 10 --seed 3
    diface generate speech.wav -o take.npz --samples 4 --guidance 2
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from diface_editor.cli.sampling_args import (ProgressBar, add_sampling_arguments, load_model, sampling_values,
                                             save_results)

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("generate", help="generate facial animation for an audio file",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("audio", metavar="AUDIO", help="speech audio file (wav, flac, mp3, ...)")
    p.add_argument("-o", "--output", required=True, metavar="OUT",
                   help="output animation file; its extension picks the format")
    add_sampling_arguments(p, samples_help="number of different takes to write (OUT_1, OUT_2, ...)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from diface_editor.core.audio import AudioClip
    from diface_editor.engine.requests import GenerateRequest
    from diface_editor.engine.worker import Engine

    out = Path(args.output)
    clip = AudioClip.load(args.audio)
    model = load_model(args)
    v = sampling_values(args, model)
    request = GenerateRequest(clip, seed=v["seed"], sampler=v["sampler"], steps=v["steps"], guidance=v["guidance"],
                              parts=v["parts"], style=v["style"], n_samples=args.samples)
    engine = Engine(model, previews=False, preview_interval=0.1)
    bar = ProgressBar(f"generate ({v['sampler']})")
    try:
        result = engine.run_sync(request, on_event=bar)
    finally:
        bar.close()
    written = save_results(result.animations, out, clip)
    info = result.info
    n = result.animations[0].n_frames
    log.info("timings: %s", {k: round(info[k], 3) for k in ("features_s", "sampling_s", "total_s")})
    for w in written:
        print(f"wrote {w} ({n} frames, {n / model.fps:.2f} s; {info['windows']} windows, "
              f"{info['steps']} {info['sampler']} steps, {info['total_s']:.1f} s)")
    return 0
