"""``diface adapt --model M --data DIR -o BUNDLE``: personalise a model to a new actor.

Fine-tunes only the style map and the output layer (3DiFACE's personalisation) on about a minute
of the actor's data: a folder of ``<name>.wav`` + ``<name>.npz`` pairs in the model's motion space
(ARKit weights for the default models, vertex offsets for FLAME/3DiFACE models; see ``diface
convert-data`` for VOCASET/HDTF). The new style is added as a new identity named ``--style-name``;
generate with it using ``--style NAME`` (or its index).

Examples::

    diface adapt --model models/default --data data/alice -o models/alice --style-name alice
    diface generate speech.wav -o take.npz --model models/alice --style alice
    diface adapt --model models/3diface_024 --data data/voca_subject -o models/voca_new \\
        --style-name subject_new --init-style FaceTalk_170725_00137_TA --steps 2000
"""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("adapt", help="personalise a model to a new actor (style map + output layer)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, metavar="DIR", help="model bundle to start from")
    p.add_argument("--data", required=True, metavar="DIR", help="folder of <name>.wav + <name>.npz pairs")
    p.add_argument("-o", "--output", required=True, metavar="BUNDLE", help="folder of the personalised bundle")
    p.add_argument("--style-name", default="new_actor", help="name of the new style (default: new_actor)")
    p.add_argument("--init-style", default=None, metavar="NAME|INDEX",
                   help="existing style the new one starts from (default: the mean of all styles)")
    p.add_argument("--parts", default=None, help="face, head or face,head (default: every part the data moves)")
    p.add_argument("--steps", type=int, default=1000, help="optimisation steps (default 1000)")
    p.add_argument("--batch-size", type=int, default=8, help="windows per step (default 8)")
    p.add_argument("--lr", type=float, default=1e-4, help="learning rate (default 1e-4)")
    p.add_argument("--window", type=float, default=None, metavar="SECONDS",
                   help="training window in seconds (default: the model's, at most 8 s)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--device", default="auto", help="auto (cuda > mps > cpu), cpu, cuda, mps")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from diface_editor.cli.sampling_args import parse_parts
    from diface_editor.ml.adapt import AdaptConfig, run_adaptation

    init = args.init_style
    if init is not None and init.isdigit():
        init = int(init)
    cfg = AdaptConfig(style_name=args.style_name, init_style=init,
                      parts=parse_parts(args.parts) if args.parts else None, steps=args.steps,
                      batch_size=args.batch_size, lr=args.lr, window_seconds=args.window, seed=args.seed,
                      device=args.device)
    res = run_adaptation(args.model, args.data, args.output, cfg)
    print(f"adapted {', '.join(res.parts)} on {res.clips} clips ({res.minutes:.2f} min) in {res.steps} steps "
          f"({res.seconds:.0f} s): loss {res.first_loss:.4f} -> {res.last_loss:.4f}")
    print(f"new style {res.style_index}={res.style_name!r}; wrote {args.output} "
          f"(use: diface generate AUDIO -o OUT --model {args.output} --style {res.style_name})")
    return 0
