"""``diface lipsync AUDIO --text "..." -o OUT``: transcript-driven lip sync with the teacher animator.

Forced-aligns the transcript to the audio with pocketsphinx (offline; words missing from its
dictionary get pronunciations from espeak-ng), then animates the phone timings with the
procedural teacher (visemes with coarticulation, closures for p/b/m, blinks, brows, head motion
following the audio's prosody). The output format follows the file suffix (.npz native, .csv
Live Link Face, ...). A baseline that needs no trained model.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("lipsync", help="lip sync from audio + transcript (forced alignment + procedural teacher)",
                       description=__doc__)
    p.add_argument("audio", metavar="AUDIO", help="speech audio file (.wav, .flac, .ogg, ...)")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--text", metavar="TEXT", help="what is said in the audio")
    src.add_argument("--text-file", metavar="FILE", help="a UTF-8 text file holding the transcript")
    p.add_argument("-o", "--output", required=True, metavar="OUT",
                   help="animation file to write; its suffix picks the format (.npz, .csv, ...)")
    p.add_argument("--seed", type=int, default=0, help="random seed of blinks and head motion (default 0)")
    p.add_argument("--fps", type=float, default=30.0, help="frame rate of the animation (default 30)")
    p.add_argument("--keep-text", action="store_true",
                   help="use the transcript even where it does not match what the speech recogniser hears")
    p.add_argument("--phones", metavar="JSON", default=None,
                   help="also write the aligned words and phones to this JSON file")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json

    from diface_editor.core.audio import AudioClip
    from diface_editor.core.errors import DifaceError
    from diface_editor.core.formats import save_animation
    from diface_editor.core.formats.common import AUDIO_PATH_KEY, AUDIO_SHA_KEY
    from diface_editor.core.transcript import Transcript
    from diface_editor.engine.edit_policy import transcript_mismatch
    from diface_editor.synth.align import align
    from diface_editor.synth.teacher import TeacherConfig, animate

    if args.text_file:
        try:
            text = Path(args.text_file).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise DifaceError(f"transcript file not found: {args.text_file}") from None
    else:
        text = args.text
    if args.fps <= 0:
        raise DifaceError(f"--fps must be positive, got {args.fps}")
    clip = AudioClip.load(args.audio)
    al = align(clip.samples, clip.sample_rate, text, partial=True)
    why = None if args.keep_text else transcript_mismatch(clip, Transcript.from_alignment(text, al))
    if why:
        raise DifaceError(f"the transcript was not used: {why} (--keep-text uses it anyway)")
    anim = animate(al.phones, duration=clip.duration, samples=clip.samples, sample_rate=clip.sample_rate,
                   seed=args.seed, config=TeacherConfig(fps=args.fps))
    anim.metadata.update({"source": "diface lipsync (pocketsphinx alignment + teacher)",
                          AUDIO_PATH_KEY: str(Path(args.audio).resolve()), AUDIO_SHA_KEY: clip.sha256})
    out = save_animation(anim, args.output)
    if args.phones:
        from diface_editor.core.atomic import atomic_write_text
        atomic_write_text(args.phones, json.dumps({"words": al.words, "phones": al.phones,
                                                   "g2p_words": al.g2p_words, "unaligned": al.unaligned},
                                                  indent=1))
    print(f"aligned {len(al.words)} words ({len(al.phones)} phones) in {clip.duration:.2f} s of audio")
    if al.unaligned:
        print(f"{len(al.unaligned)} of them could not be placed (their times are estimates, phone SPN): "
              f"{' '.join(al.words[i][0] for i in al.unaligned[:12])}{' ...' if len(al.unaligned) > 12 else ''}")
    if al.g2p_words:
        print(f"pronunciations guessed by espeak-ng for: {', '.join(al.g2p_words)}")
    print(f"wrote {anim.n_frames} frames at {anim.fps:g} fps to {out}")
    return 0
