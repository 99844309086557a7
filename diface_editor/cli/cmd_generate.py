"""``diface generate AUDIO -o OUT``: lip sync, expression and head motion for a speech clip.

Any length of audio works: long clips are generated in overlapping windows with the overlap given
to the model as known context, so there are no seams. The output format follows OUT's extension
(``.npz`` native, ``.npy`` 3DiFACE, ``.csv`` Live Link Face, ...). With ``--samples N`` the files
are ``OUT_1.ext .. OUT_N.ext``.

Examples::

    diface generate speech.wav -o take.npz
    diface generate speech.wav -o take.csv --sampler ddim --steps 10 --seed 3
    diface generate speech.wav -o take.npz --samples 4 --guidance 2
    diface generate lines/ -o out/ --formats npz,glb,csv,mp4     # every audio file of a folder
    diface generate speech.wav -o take.npz --text "the words said"  # visemes pinned from the transcript
    diface generate speech.wav -o take.npz --text-file speech.txt --viseme-strength 0.5 --head-motion 0.5

With ``--text`` / ``--text-file`` the transcript is force-aligned with the audio (pocketsphinx) and the
mouth is pinned to its visemes (:mod:`diface_editor.engine.visemes`); if the alignment fails, a
warning says why and the take is generated from the audio alone.

With a folder as AUDIO, OUT is the output folder and every format of ``--formats`` is written per
audio file (``out/<stem>.<ext>``); a file that fails is reported and skipped (see
:mod:`diface_editor.engine.batch`); the exit code is 1 when any file failed.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from diface_editor.cli.sampling_args import (
    ProgressBar,
    add_sampling_arguments,
    edit_session,
    load_model,
    sampling_values,
    save_results,
)

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("generate", help="generate facial animation for an audio file",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("audio", metavar="AUDIO", help="speech audio file (wav, flac, mp3, ...), or a folder of them")
    p.add_argument("-o", "--output", required=True, metavar="OUT",
                   help="output animation file; its extension picks the format (a folder when AUDIO is one)")
    p.add_argument("--formats", default=None, metavar="LIST",
                   help="folder mode: formats to write per file, e.g. npz,glb,csv,pc2,npy,mp4 (default: npz)")
    p.add_argument("--recursive", action="store_true", help="folder mode: also audio files in sub-folders")
    add_sampling_arguments(p, samples_help="number of different takes to write (OUT_1, OUT_2, ...)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from diface_editor.core.audio import AudioClip
    from diface_editor.engine.worker import Engine

    if Path(args.audio).is_dir():
        return _run_folder(args)
    if args.formats is not None:
        from diface_editor.cli.sampling_args import CliArgumentError

        raise CliArgumentError("--formats is for a folder of audio files; for one file, OUT's extension picks the format")
    from diface_editor.cli.sampling_args import check_output, check_sampling_args

    out = Path(args.output)
    check_sampling_args(args)
    check_output(out)
    clip = AudioClip.load(args.audio)
    model = load_model(args)
    from diface_editor.cli.sampling_args import use_reference_mode

    if use_reference_mode(args, model):
        return _run_reference(args, model, clip, out)
    v = sampling_values(args, model)
    from diface_editor.cli.sampling_args import transcript_for_audio

    transcript = transcript_for_audio(args, clip)
    request = edit_session(v, clip, transcript=transcript).generate_request(parts=v["parts"], n_samples=args.samples)
    engine = Engine(model, previews=False, preview_interval=0.1)
    bar = ProgressBar(f"generate ({v['sampler']})")
    try:
        result = engine.run_sync(request, on_event=bar)
    finally:
        bar.close()
    from diface_editor.core.formats.transcript_files import transcript_metadata, write_transcript_sidecars

    anims = result.animations
    for a in anims:  # the words/phones travel in the take (glTF extras, .npz metadata) and beside it
        a.metadata.update(transcript_metadata(transcript, a.duration, a.fps))
    written = save_results(anims, out, clip)
    for w in written:
        for side in write_transcript_sidecars(w, transcript, anims[0].duration, anims[0].fps):
            print(f"wrote {side} (words and phones)")
    info = result.info
    n = result.animations[0].n_frames
    log.info("timings: %s", {k: round(info[k], 3) for k in ("features_s", "sampling_s", "total_s")})
    for w in written:
        print(f"wrote {w} ({n} frames, {n / model.fps:.2f} s; {info['windows']} windows, "
              f"{info['steps']} {info['sampler']} steps, {info['total_s']:.1f} s)")
    return 0


def _run_reference(args: argparse.Namespace, model, clip, out: Path) -> int:
    """Reference mode (imported 3DiFACE models): :func:`diface_editor.ml.compat.reference.reference_generate`."""
    from diface_editor.engine.motion_adapter import resolve_style
    from diface_editor.ml.compat.reference import reference_generate

    v = sampling_values(args, model)
    samples = clip.resampled(16000)
    style = resolve_style(model, v["style"])
    anims = [reference_generate(model, samples, seed=v["seed"] + 2 * i, style=style, parts=v["parts"],
                                guidance=args.guidance) for i in range(args.samples)]
    for w in save_results(anims, out, clip):
        n = anims[0].n_frames
        print(f"wrote {w} ({n} frames, {n / 30:.2f} s; 3DiFACE reference mode: one pass, 1000 ddpm steps)")
    return 0


def _run_folder(args: argparse.Namespace) -> int:
    """AUDIO is a folder: one generation per audio file, written in every format of ``--formats``."""
    from diface_editor.cli.sampling_args import check_sampling_args
    from diface_editor.engine.batch import engine_generator, find_audio_files, parse_formats, run_batch
    from diface_editor.engine.worker import Engine

    check_sampling_args(args)
    if args.text is not None or args.text_file is not None:
        from diface_editor.cli.sampling_args import CliArgumentError

        raise CliArgumentError("--text / --text-file are for one audio file, not a folder")
    files = find_audio_files(args.audio, recursive=args.recursive)
    formats = parse_formats(args.formats or "npz")
    model = load_model(args)
    v = sampling_values(args, model)
    engine = Engine(model, previews=False)
    generate = engine_generator(engine, transcribe=not args.no_transcribe, viseme_strength=v["viseme_strength"],
                                seed=v["seed"], sampler=v["sampler"], steps=v["steps"],
                                guidance=v["guidance"], parts=v["parts"], style=v["style"], n_samples=args.samples,
                                temperature=v["temperature"], blink_seed=v["blink_seed"],
                                **{k: v[k] for k in ("lip_sync", "upper_face", "head_motion")})
    report = run_batch(files, Path(args.output), generate, formats, root=Path(args.audio))
    print(report.summary())
    return 0 if report.ok else 1
