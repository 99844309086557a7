"""``diface import-3diface DIR [DIR] -o BUNDLE``: convert published 3DiFACE checkpoints into a model bundle.

Each DIR is a 3DiFACE model folder (``args.yml`` plus ``checkpoints/model*.pt`` or ``model*.pt``
beside it); it is recognised as the face model (vertex offsets, identities, wav2vec2) or the head
model (neck rotation with keyframe flags). Import one of each to get a bundle with both parts; the
head model has no audio encoder of its own and uses the face model's audio features, as 3DiFACE
does. Nothing is downloaded: the wav2vec2 weights come from the face checkpoint.

Examples::

    diface import-3diface pretrained_models/sa_03_024_fo_ns18 \\
        pretrained_models/head_reg_16_ip_mp0_02_rd02_3D_stdnorm_waud_skip_vel_loss0010 -o models/3diface_024
    diface generate speech.wav -o take.npz --model models/3diface_024 --style FaceTalk_170725_00137_TA
    diface generate speech.wav -o take.npz --model models/3diface_024 --sampler ddpm   # 3DiFACE's sampling

See docs/3diface_compat.md for what is supported and the accepted parameter names.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("import-3diface", help="convert published 3DiFACE checkpoints into a model bundle",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("folders", nargs="+", metavar="DIR", help="3DiFACE model folder(s): one face and/or one head model")
    p.add_argument("-o", "--output", required=True, metavar="BUNDLE", help="model bundle folder to write")
    p.add_argument("--face-checkpoint", metavar="NAME", default=None,
                   help="face checkpoint, e.g. model000050000 (default: the highest step)")
    p.add_argument("--head-checkpoint", metavar="NAME", default=None,
                   help="head checkpoint, e.g. model000100035 (default: the highest step)")
    p.add_argument("--head-audio-from", metavar="FACE_DIR", default=None,
                   help="face model folder whose audio features feed the head model (default: the imported face "
                        "model; 3DiFACE uses its generalised face model cond_012_17_00_concat_prob10_vel10)")
    p.add_argument("--name", default=None, help="name of the bundle (shown in the editor)")
    p.add_argument("--guidance", type=float, default=1.0,
                   help="recommended classifier-free guidance scale stored in the bundle (default 1.0)")
    p.add_argument("--ignore-option", action="append", default=[], metavar="NAME",
                   help="do not report this args.yml option as unsupported (repeatable; use only for options "
                        "you know do not change the network or the sampling)")
    p.add_argument("--force", action="store_true", help="replace an existing bundle folder")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from diface_editor.ml.compat.threediface import import_3diface

    res = import_3diface([Path(f) for f in args.folders], Path(args.output), face_checkpoint=args.face_checkpoint,
                         head_checkpoint=args.head_checkpoint, head_audio_from=args.head_audio_from, name=args.name,
                         guidance=args.guidance, ignore_options=args.ignore_option, overwrite=args.force)
    for part, ckpt in res.parts.items():
        print(f"{part}: {ckpt} ({res.n_parameters[part]:,} parameters)")
    if res.style_names:
        print(f"styles (--style NAME or INDEX): {', '.join(f'{i}={n}' for i, n in enumerate(res.style_names))}")
    for note in res.notes:
        print(f"note: {note}")
    print(f"wrote model bundle {res.bundle}")
    return 0
