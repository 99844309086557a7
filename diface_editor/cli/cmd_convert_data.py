"""``diface convert-data {vocaset,hdtf} SRC -o OUT``: research datasets -> training pairs.

Writes ``<name>.wav`` + ``<name>.npz`` (vertex offsets from the subject template at 30 fps, head
rotation, template stored in the file) for ``diface train`` / ``diface adapt``.

* ``vocaset``: the FaceFormer layout (``wav/``, ``vertices_npy/`` at 60 fps, ``templates.pkl``);
  motion is subsampled by 2. ``--subjects train|val|test|all|NAME,...`` and ``--sentences 1-40``
  pick the standard splits.
* ``hdtf``: 3DiFACE's tracked HDTF (``wav/``, ``metrical_tracker_dict/<name>.pkl`` with
  ``vertice`` and ``global_pose``, optional ``templates.pkl``).

Examples::

    diface convert-data vocaset ~/data/vocaset -o data/voca_train --subjects train --sentences 1-40
    diface convert-data hdtf ~/data/HDTF -o data/hdtf
    diface train --config vertex_model.toml     # [data] dir = "data/voca_train"
"""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("convert-data", help="convert VOCASET / HDTF into wav + npz training pairs",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("kind", choices=("vocaset", "hdtf"), help="dataset layout")
    p.add_argument("src", metavar="SRC", help="dataset folder")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="folder for the pairs")
    p.add_argument("--subjects", default=None,
                   help="vocaset: train, val, test (combinable: train,val), all, or subject names; "
                        "hdtf: clip names (comma separated). Default: all")
    p.add_argument("--sentences", default=None, help="vocaset sentence numbers, e.g. 1-40 or 21-40 (default: all)")
    p.add_argument("--fps", type=float, default=30.0, help="hdtf: frame rate of the tracking (default 30)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from diface_editor.ml.data import convert_dataset, parse_sentences, parse_subjects

    if args.kind == "vocaset":
        subjects = parse_subjects(args.subjects)
    else:
        subjects = tuple(s.strip() for s in args.subjects.split(",") if s.strip()) if args.subjects else None
    rep = convert_dataset(args.kind, args.src, args.output, subjects=subjects,
                          sentences=parse_sentences(args.sentences), hdtf_fps=args.fps, progress=True)
    print(f"wrote {len(rep.pairs)} pairs ({rep.minutes:.1f} min of motion, {len(rep.subjects)} subjects) to {rep.out}")
    return 0
