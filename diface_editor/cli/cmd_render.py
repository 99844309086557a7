"""``diface render IN -o OUT.mp4``: render an animation to a video (headless, no display needed).

The head is drawn offscreen (OpenGL through EGL; Mesa's llvmpipe on machines without a GPU) and the
frames are piped into ffmpeg: H.264 (yuv420p) at the animation's frame rate, with the audio muxed as
AAC. The audio is ``--audio``, else the audio recorded in a native ``.npz`` (when the file still
exists); ``--no-audio`` makes a silent video. ``--compare IN2 IN3 ...`` puts further takes of the
same clip side by side (left to right: IN, IN2, ...), all with the same audio and frame rate.

Examples::

    diface render take.npz -o take.mp4 --audio line.wav
    diface render take1.npz -o compare.mp4 --compare take2.npz take3.npz --camera three-quarter --size 384x384
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

log = logging.getLogger(__name__)

CAMERA_NAMES = ("front", "three-quarter", "side")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("render", help="render an animation to an MP4 video with its audio", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("input", metavar="IN", type=Path, help="animation file (.npz, .npy, .csv, .glb, .pc2)")
    p.add_argument("-o", "--output", metavar="OUT", type=Path, required=True, help="video file to write (.mp4)")
    p.add_argument("--audio", metavar="WAV", type=Path, default=None,
                   help="audio to mux in (default: the audio recorded in IN, if any)")
    p.add_argument("--no-audio", action="store_true", help="write a silent video")
    p.add_argument("--size", metavar="WxH", default="512x512", help="size of one panel in pixels (default 512x512)")
    p.add_argument("--camera", choices=CAMERA_NAMES, default="front", help="camera view (default front)")
    p.add_argument("--compare", metavar="IN2", type=Path, nargs="+", default=[],
                   help="more takes to show side by side with IN (same audio)")
    p.add_argument("--rig", metavar="RIG.npz", type=Path, default=None, help="rig to draw (default: the shipped head)")
    p.add_argument("--in-fps", type=float, default=None,
                   help="frame rate of inputs that store none (3DiFACE .npy, .pc2; default 30)")
    p.add_argument("--supersample", type=int, default=2, help="anti-aliasing factor (1 = off; default 2)")
    p.add_argument("--crf", type=int, default=18, help="x264 quality, lower is better (default 18)")
    p.add_argument("--preset", default="medium", help="x264 speed preset (default medium)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(func=run)


def _load(path: Path, in_fps: float | None):
    from diface_editor.core.formats import format_for_path, load_animation

    kw = {}
    if in_fps is not None and "fps" in format_for_path(path).load_options():
        kw["fps"] = in_fps
    return load_animation(path, **kw)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from diface_editor.core.errors import DifaceError
    from diface_editor.core.formats.common import AUDIO_PATH_KEY
    from diface_editor.core.formats.registry import check_output_path
    from diface_editor.render.video import VideoOptions, parse_size, render_video

    # options and the output are checked before any input is read or a frame is drawn
    if args.output.suffix.lower() not in (".mp4", ".mov", ".mkv", ".m4v"):
        raise DifaceError(f"the video file should end in .mp4 (got {args.output.name})")
    check_output_path(args.output)
    options = VideoOptions(size=parse_size(args.size), camera=args.camera, supersample=args.supersample,
                           crf=args.crf, preset=args.preset)
    if any(p.resolve() == args.output.resolve() for p in [args.input, *args.compare]):
        raise DifaceError(f"the video {args.output} would overwrite an input; choose another name")
    takes = [_load(p, args.in_fps) for p in [args.input, *args.compare]]
    audio = None
    if not args.no_audio:
        audio = args.audio
        if audio is None:
            recorded = takes[0].metadata.get(AUDIO_PATH_KEY)
            if recorded and Path(recorded).is_file():
                audio = Path(recorded)
                log.info("using the audio recorded in %s: %s", args.input, audio)
            elif recorded:
                print(f"diface: note: the recorded audio {recorded} is missing; the video is silent")
    rig = None
    if args.rig is not None:
        from diface_editor.core.rig import BlendshapeRig

        rig = BlendshapeRig.load(args.rig)
    n = max(t.n_frames for t in takes)
    with tqdm(total=n, unit="frame", desc="render", disable=args.no_progress, dynamic_ncols=True) as bar:
        def progress(done: int, total: int) -> None:
            bar.update(done - bar.n)

        res = render_video(takes, args.output, rig=rig, audio=audio, options=options, progress=progress)
    print(f"wrote {res.path} ({res.n_frames} frames at {res.fps:g} fps, {res.duration:.2f} s, "
          f"{res.size[0]}x{res.size[1]}, {'with' if res.has_audio else 'no'} audio)")
    return 0
