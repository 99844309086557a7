"""``diface train --config FILE``: train a motion model on a folder of (audio, motion) pairs.

The TOML config is documented in ``configs/train_default.toml``; paths in it are relative to the
config file. The run folder gets resumable checkpoints; at the end a model bundle is written
(``[output] bundle``, default ``<run_dir>/bundle``) that ``diface generate --model`` and the
editor load.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a motion model from (audio, motion) pairs",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", required=True, type=Path, metavar="FILE", help="training config (TOML)")
    p.add_argument("--resume", action="store_true", help="continue from the newest checkpoint of the run folder")
    p.add_argument("--steps", type=int, default=None, help="override [train] steps (total, including resumed ones)")
    p.add_argument("--device", default=None, help="override [train] device: auto, cpu, cuda, mps")
    p.add_argument("--threads", type=int, default=None, help="override [train] num_threads (torch CPU threads)")
    p.add_argument("--run-dir", type=Path, default=None, help="override [output] run_dir")
    p.add_argument("--bundle", type=Path, default=None, help="override [output] bundle (the model folder written)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from diface_editor.ml.train import load_train_config, run_training

    cfg = load_train_config(args.config)
    if args.device:
        cfg.optim.device = args.device
    if args.threads is not None:
        cfg.optim.num_threads = args.threads
    if args.run_dir is not None:
        cfg.run_dir = args.run_dir.expanduser().resolve()
    if args.bundle is not None:
        cfg.bundle_dir = args.bundle.expanduser().resolve()
    result = run_training(cfg, resume=args.resume, steps=args.steps, progress=not args.no_progress)
    val = f", validation loss {result.val_loss:.4f}" if result.val_loss is not None else ""
    print(f"trained {result.steps} steps (train loss {result.train_loss:.4f}{val}) in "
          f"{result.seconds:.0f} s; model bundle: {result.bundle}")
    return 0
