"""``diface export IN OUT``: convert an animation between file formats.

The output format comes from OUT's suffix unless ``--format`` names one (``--list-formats``
shows them). ARKit motion exported as 3DiFACE ``.npy`` is turned into vertices with the shipped
head rig, or with ``--rig``; vertex-offset motion (imported 3DiFACE models) needs its subject's
template mesh, recorded in the take or given with ``--template FILE[:SUBJECT]``.
``--fps`` changes the frame rate of the output (interpolating);
``--in-fps`` tells the frame rate of an input that stores none (3DiFACE ``.npy``: 30 by default;
Live Link CSV: inferred from the timecodes).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="convert an animation to another file format", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("input", metavar="IN", help="animation file to read")
    p.add_argument("output", metavar="OUT", help="file to write (format from its suffix)")
    p.add_argument("--format", metavar="NAME", default=None, help="output format name (see --list-formats)")
    p.add_argument("--input-format", metavar="NAME", default=None, help="input format name (default: from IN's suffix)")
    p.add_argument("--fps", type=float, default=None, help="resample the output to this frame rate")
    p.add_argument("--in-fps", type=float, default=None,
                   help="frame rate of an input that stores none (3DiFACE .npy, Live Link CSV)")
    p.add_argument("--rig", type=Path, default=None,
                   help="rig .npz for turning ARKit weights into vertices (default: the shipped head)")
    p.add_argument("--template", metavar="FILE[:SUBJECT]", default=None,
                   help="template mesh for vertex-offset takes (templates.pkl:SUBJECT, .ply, .obj, .npy, FLAME)")
    p.add_argument("--head-units", choices=("radians", "degrees", "normalized"), default=None,
                   help="Live Link CSV head angle units, for reading and writing (default: radians)")
    p.add_argument("--no-transcript", action="store_true",
                   help="do not write the words/phones beside OUT (NAME.words.json and NAME.TextGrid, written "
                        "when IN carries an aligned transcript or has a NAME.words.json beside it)")
    p.add_argument("--list-formats", action=_ListFormats, help="list the formats and exit")
    p.set_defaults(func=run)


class _ListFormats(argparse.Action):
    """``--list-formats``: print the registered formats and exit (like ``--version``, needs no IN/OUT)."""

    def __init__(self, option_strings, dest, **kw):
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kw)

    def __call__(self, parser, namespace, values, option_string=None):
        from diface_editor.core.formats import list_formats

        for f in list_formats():
            rw = "/".join(x for x, ok in (("read", f.can_load), ("write", f.can_save)) if ok)
            print(f"{f.name:<10} {', '.join(f.extensions):<12} {rw:<11} {f.description}")
        parser.exit(0)


def run(args: argparse.Namespace) -> int:
    from diface_editor.core.formats import format_for_path, load_animation, resample_animation, save_animation
    from diface_editor.core.formats.registry import FormatError, check_input_file, check_output_path
    from diface_editor.core.limits import check_fps

    src, dst = Path(args.input), Path(args.output)
    in_fmt = format_for_path(src, args.input_format)
    out_fmt = format_for_path(dst, args.format)
    # everything a user can get wrong is checked before the input is read
    if args.fps is not None:
        check_fps(args.fps, "--fps")
    if args.in_fps is not None:
        check_fps(args.in_fps, "--in-fps")
    check_input_file(src)
    check_output_path(dst)
    if dst.exists() and src.resolve() == dst.resolve():
        raise FormatError(f"OUT is the same file as IN ({src}); choose another output name")
    load_kw, save_kw = {}, {}
    if args.in_fps is not None:
        load_kw["fps"] = args.in_fps
    if args.head_units is not None:
        if "head_units" in in_fmt.load_options():
            load_kw["head_units"] = args.head_units
        if "head_units" in out_fmt.save_options():
            save_kw["head_units"] = args.head_units
    if args.rig is not None:
        save_kw["rig"] = args.rig
    if args.template is not None:
        from diface_editor.core.errors import DifaceError
        from diface_editor.core.templates import load_template_spec

        if "template" not in out_fmt.save_options():
            raise DifaceError(f"--template does not apply to {out_fmt.name} files")
        save_kw["template"] = load_template_spec(args.template).vertices
    anim = load_animation(src, format=in_fmt.name, **load_kw)
    if args.fps is not None:
        anim = resample_animation(anim, args.fps)
    from diface_editor.core.formats.transcript_files import (
        METADATA_KEY,
        read_words_json,
        sidecar_paths,
        transcript_metadata,
        transcript_of,
        write_transcript_sidecars,
    )

    tr = transcript_of(anim.metadata)
    if tr is None and sidecar_paths(src)[0].is_file():
        tr = read_words_json(sidecar_paths(src)[0])
    anim.metadata.pop(METADATA_KEY, None)
    if not args.no_transcript:
        anim.metadata.update(transcript_metadata(tr, anim.duration, anim.fps))
    written = save_animation(anim, dst, format=out_fmt.name, **save_kw)
    print(f"wrote {written} ({out_fmt.name}, {anim.n_frames} frames at {anim.fps:g} fps)")
    if not args.no_transcript:
        for side in write_transcript_sidecars(written, tr, anim.duration, anim.fps):
            print(f"wrote {side} (words and phones)")
    return 0
