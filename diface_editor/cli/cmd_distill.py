"""``diface distill --model M --data DIR --out RUN``: distil a model's sampler into a one-step student.

The teacher is the bundle's recommended sampler (DPM-Solver++, 10 steps, guidance 1.5 for the
shipped model); the student, the same network started from the teacher's weights, learns to give
the teacher's result from the same starting noise in one call (see ``diface_editor.ml.distill``).
Checkpoints go to RUN every --ckpt-every steps; ``--resume`` continues after a stop. The result is
RUN/bundle: the teacher bundle with ``<part>.student.safetensors`` beside its weights; its
``student`` sampler (``--sampler student``) is what the editor's drags use.

Example::

    diface distill --model models/default --data data/rv/train --out runs/student --steps 1500
    diface generate speech.wav -o take.npz --model runs/student/bundle --sampler student
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("distill", help="distil a model's sampler into a one-step student for instant edits",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, metavar="DIR", help="teacher model bundle")
    p.add_argument("--data", required=True, metavar="DIR", help="corpus split: <name>.npz + same-named audio")
    p.add_argument("--out", required=True, metavar="RUN", help="run folder (checkpoints, log.jsonl, bundle/)")
    p.add_argument("--parts", default="face,head", help="face, head or face,head (default)")
    p.add_argument("--steps", type=int, default=1500, help="optimiser steps (default 1500)")
    p.add_argument("--batch-size", type=int, default=8, help="windows per step (default 8)")
    p.add_argument("--lr", type=float, default=5e-5, help="learning rate (default 5e-5)")
    p.add_argument("--teacher-steps", type=int, default=None, help="teacher sampler steps (default: the model's)")
    p.add_argument("--ckpt-every", type=int, default=100, help="steps between checkpoints (default 100)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument("--resume", action="store_true", help="continue the run in RUN from its last checkpoint")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from diface_editor.cli.sampling_args import parse_parts
    from diface_editor.ml.distill import DistillConfig, run_distillation

    cfg = DistillConfig(model=Path(args.model), data=Path(args.data), out=Path(args.out),
                        parts=parse_parts(args.parts), steps=args.steps, batch_size=args.batch_size, lr=args.lr,
                        teacher_steps=args.teacher_steps, ckpt_every=args.ckpt_every, seed=args.seed,
                        num_threads=args.threads)
    bar = tqdm(total=cfg.steps, desc="distill", unit="step")

    def progress(step: int, total: int, logs: dict) -> None:
        bar.n = step
        bar.set_postfix({k: f"{v:.4f}" for k, v in logs.items() if k.endswith("_mse")}, refresh=True)

    logging.getLogger(__name__).info("distilling %s on %s", cfg.model, cfg.data)
    out = run_distillation(cfg, resume=args.resume, progress=progress)
    bar.close()
    print(f"wrote {out} (use: --model {out} --sampler student)")
    return 0
