"""``diface edit IN -o OUT``: regenerate part of an animation, keeping the rest exactly.

The three 3DiFACE edit modes (frames are 0-based at the animation's fps; write seconds as ``1.5s``):

* ``--range A:B``: regenerate frames A..B-1 (``in_between``); everything else stays bit-identical.
  ``--keyframe`` frames inside the range stay pinned.
* ``--keyframe F[,F...]`` (pin the current pose at those frames) and/or ``--keyframe-head
  F=YAW,PITCH,ROLL`` (pin a head pose, degrees) with ``--radius R``: regenerate R frames around
  each keyframe (without ``--radius``: every frame that is not pinned, 3DiFACE's ``keyframe``).
* ``--swap A:B``: copy the pose at frame A to frame B, pin both and regenerate ``--radius`` frames
  around B (without ``--radius``: everything not pinned; ``keyframe_swap``). ``--swap-parts``
  says which pose is copied (default: the ``--parts``).

``--parts`` chooses what is regenerated (face, head or both). ``--samples N`` writes N variants
``OUT_1.ext .. OUT_N.ext``. The audio defaults to the one a ``.npz`` input records.

Examples::

    diface edit take.npz -o take2.npz --range 2s:4s --seed 7
    diface edit take.npz -o take2.npz --keyframe-head 90=15,0,0 --radius 20 --parts head
    diface edit take.npz -o take2.npz --swap 30:150 --radius 1s --parts head --audio speech.wav
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from diface_editor.cli.sampling_args import (
    CliArgumentError,
    ProgressBar,
    add_sampling_arguments,
    edit_session,
    load_model,
    parse_frame,
    parse_frame_pair,
    parse_parts,
    sampling_values,
    save_results,
)

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("edit", help="regenerate a range, around keyframes, or swap a pose",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("input", metavar="IN", help="animation file to edit (.npz, .npy, .csv, ...)")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="output file; its extension picks the format")
    p.add_argument("--audio", metavar="AUDIO", default=None,
                   help="the animation's speech audio (default: the audio a .npz input records)")
    m = p.add_argument_group("edit (choose --range, --keyframe/--keyframe-head or --swap)")
    m.add_argument("--range", metavar="A:B", default=None, help="regenerate frames A..B-1 (or 1.5s:3s)")
    m.add_argument("--keyframe", metavar="F[,F...]", default=None,
                   help="pin the current pose (of --parts) at these frames")
    m.add_argument("--keyframe-head", metavar="F=YAW,PITCH,ROLL", action="append", default=[],
                   help="pin this head pose (degrees) at frame F (repeatable)")
    m.add_argument("--radius", metavar="R", default=None,
                   help="frames (or seconds, 0.5s) regenerated around each keyframe / the swap target")
    m.add_argument("--swap", metavar="A:B", default=None, help="copy the pose at frame A to frame B")
    m.add_argument("--swap-parts", default=None, help="poses the swap copies: face, head or face,head")
    add_sampling_arguments(p, samples_help="number of variants to write (OUT_1, OUT_2, ...)")
    p.set_defaults(func=run)


def _keyframes(args, fps: float, parts) -> list:
    import numpy as np

    from diface_editor.core.keyframes import Keyframe
    from diface_editor.core.rotations import ypr_to_axis_angle

    keys = []
    if args.keyframe:
        for f in args.keyframe.split(","):
            if f.strip():
                frame = parse_frame(f, fps, what="--keyframe")
                keys += [Keyframe(frame, part) for part in parts]
    for spec in args.keyframe_head:
        if "=" not in spec:
            raise CliArgumentError(f"--keyframe-head must look like F=YAW,PITCH,ROLL (degrees), not {spec!r}")
        f, vals = spec.split("=", 1)
        try:
            ypr = [float(v) for v in vals.split(",")]
        except ValueError:
            ypr = []
        if len(ypr) != 3 or not all(np.isfinite(ypr)):
            raise CliArgumentError(f"--keyframe-head needs three angles in degrees (yaw,pitch,roll), not {vals!r}")
        aa = ypr_to_axis_angle(np.radians(np.asarray(ypr, np.float64)))
        frame = parse_frame(f, fps, what="--keyframe-head")
        keys = [k for k in keys if not (k.frame == frame and k.part == "head")]
        keys.append(Keyframe(frame, "head", values=tuple(float(x) for x in aa)))
    return keys


def run(args: argparse.Namespace) -> int:
    from diface_editor.cli.sampling_args import check_output, check_sampling_args
    from diface_editor.core.audio import AudioClip
    from diface_editor.core.formats import load_animation
    from diface_editor.engine.requests import VariantsRequest
    from diface_editor.engine.worker import Engine

    modes = [name for name, on in (("--range", args.range), ("--swap", args.swap),
                                   ("--keyframe", args.keyframe or args.keyframe_head)) if on]
    if not modes:
        raise CliArgumentError("say what to edit with --range A:B, --keyframe F (or --keyframe-head) or --swap A:B")
    if args.range and args.swap:
        raise CliArgumentError("choose either --range or --swap, not both")
    check_sampling_args(args)
    check_output(args.output)
    if Path(args.output).exists() and Path(args.output).resolve() == Path(args.input).resolve():
        raise CliArgumentError(f"-o is the same file as IN ({args.input}); write the edit to another file")
    base = load_animation(args.input)
    audio_path = args.audio or base.metadata.get("audio_path") or None
    if not audio_path:
        raise CliArgumentError(f"{args.input} records no audio; pass the speech with --audio")
    fps, n = base.fps, base.n_frames
    radius = None if args.radius is None else parse_frame(args.radius, fps, what="--radius")
    keys = _keyframes(args, fps, parse_parts(args.parts))
    for k in keys:
        if not 0 <= k.frame < n:
            raise CliArgumentError(f"keyframe frame {k.frame} is outside the take (frames 0 to {n - 1})")
    clip = AudioClip.load(audio_path)
    short = base.duration - clip.duration
    if short > max(0.5, 0.05 * base.duration):
        raise CliArgumentError(f"the audio {audio_path} lasts {clip.duration:.2f} s but the take lasts "
                               f"{base.duration:.2f} s; pass the take's own speech with --audio")
    model = load_model(args)
    from diface_editor.cli.sampling_args import use_reference_mode

    if use_reference_mode(args, model):
        return _run_reference(args, model, base, clip)
    v = sampling_values(args, model)
    from diface_editor.cli.sampling_args import transcript_for_audio

    session = edit_session(v, clip, base=base, keyframes=keys, transcript=transcript_for_audio(args, clip))
    if args.range:
        request = session.range_request(parse_frame_pair(args.range, fps, n, what="--range"))
    elif args.swap:
        swap_parts = parse_parts(args.swap_parts) if args.swap_parts else v["parts"]
        a, b = parse_frame_pair(args.swap, fps, n, what="--swap")
        request = session.swap_request(a, b, swap_parts, interactive=False, radius=radius, parts=v["parts"])
    else:
        request = session.keyframes_request(radius)
    if args.samples > 1:
        request = VariantsRequest(request, n=args.samples)
    engine = Engine(model, previews=False, preview_interval=0.1)
    bar = ProgressBar(f"edit ({v['sampler']})")
    try:
        result = engine.run_sync(request, on_event=bar)
    finally:
        bar.close()
    written = save_results(result.animations, Path(args.output), clip)
    a, b = result.changed
    for w in written:
        print(f"wrote {w} (frames {a}..{b - 1} regenerated, {result.info['frames_sampled']} frames sampled, "
              f"{result.info['total_s']:.2f} s)")
    return 0


def _run_reference(args: argparse.Namespace, model, base, clip) -> int:
    """Reference mode (imported 3DiFACE models): the original's edit of the whole take in one pass
    (:func:`diface_editor.ml.compat.reference.reference_edit`). ``--swap`` takes several pairs
    (``A:B,C:D``); ``--keyframe`` frames are kept, every other frame is generated."""
    from diface_editor.engine.motion_adapter import resolve_style
    from diface_editor.ml.compat.reference import EditSpec, reference_edit

    fps, n = base.fps, base.n_frames
    if args.keyframe_head or args.radius is not None:
        raise CliArgumentError("reference mode takes --range, --keyframe F[,F...] or --swap A:B[,C:D...] "
                               "(no --keyframe-head or --radius)")
    if args.range:
        spec = EditSpec("in_between", span=parse_frame_pair(args.range, fps, n, what="--range"))
    elif args.swap:
        spec = EditSpec("keyframe_swap", pairs=tuple(parse_frame_pair(t, fps, n, what="--swap")
                                                     for t in args.swap.split(",")))
    else:
        spec = EditSpec("keyframe", frames=tuple(parse_frame(t, fps, what="--keyframe")
                                                 for t in args.keyframe.split(",")))
    v = sampling_values(args, model)
    parts = parse_parts(args.swap_parts) if args.swap and args.swap_parts else v["parts"]
    out = reference_edit(model, base, clip.resampled(16000), spec, seed=v["seed"],
                         style=resolve_style(model, v["style"]), parts=parts, guidance=args.guidance)
    for w in save_results([out], Path(args.output), clip):
        print(f"wrote {w} (3DiFACE reference mode: {spec.mode}, frames 0..{n // 32 * 32 - 1} in one pass, "
              "1000 ddpm steps)")
    return 0
