"""``diface train --config FILE``: train a motion model on a folder of (audio, motion) pairs.

The TOML config is documented in ``configs/train_default.toml``; paths in it are relative to the
config file. The run folder gets resumable checkpoints; at the end a model bundle is written
(``[output] bundle``, default ``<run_dir>/bundle``) that ``diface generate --model`` and the
editor load.

Several processes (torch.distributed, DistributedDataParallel; gloo on the CPU, NCCL with one GPU
per process): ``--nproc-per-node N`` starts N workers through torch's elastic launcher, the same
as ``torchrun --nproc-per-node N -m diface_editor train --config FILE``. Several machines: run the
same command on each with ``--nnodes M --rdzv-endpoint HOST:PORT`` (torchrun's c10d rendezvous).
``--batch-size`` is per process; the effective batch is batch x processes x ``--grad-accum``.
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import replace
from pathlib import Path

log = logging.getLogger(__name__)

#: Overrides passed on to every worker of a ``--nproc-per-node`` run: (flag, attribute).
_PASS_ON = [("--steps", "steps"), ("--device", "device"), ("--threads", "threads"), ("--run-dir", "run_dir"),
            ("--bundle", "bundle"), ("--data", "data"), ("--batch-size", "batch_size"),
            ("--grad-accum", "grad_accum"), ("--precision", "precision"), ("--sampler", "sampler"),
            ("--num-workers", "num_workers")]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a motion model from (audio, motion) pairs",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", required=True, type=Path, metavar="FILE", help="training config (TOML)")
    p.add_argument("--resume", action="store_true", help="continue from the newest checkpoint of the run folder")
    p.add_argument("--steps", type=int, default=None, help="override [train] steps (total, including resumed ones)")
    p.add_argument("--device", default=None, help="override [train] device: auto, cpu, cuda, mps")
    p.add_argument("--threads", type=int, default=None, help="override [train] num_threads (torch CPU threads)")
    p.add_argument("--run-dir", type=Path, default=None,
                   help="override [output] run_dir (a [output] bundle inside the run folder moves with it)")
    p.add_argument("--bundle", type=Path, default=None, help="override [output] bundle (the model folder written)")
    p.add_argument("--data", type=Path, default=None, metavar="DIR",
                   help="override [data] dir (a corpus folder of .wav + .npz pairs; validation is then "
                        "[data] val_fraction of it)")
    p.add_argument("--batch-size", type=int, default=None, help="override [train] batch_size (per process)")
    p.add_argument("--grad-accum", type=int, default=None, help="override [train] grad_accum")
    p.add_argument("--precision", choices=["fp32", "bf16", "fp16"], default=None,
                   help="override [train] precision (bf16/fp16 autocast; fp16 with the loss scaler, CUDA only)")
    p.add_argument("--sampler", choices=["random", "epoch"], default=None, help="override [data] sampler")
    p.add_argument("--num-workers", type=int, default=None, help="override [data] num_workers (loader processes)")
    p.add_argument("--precompute-features", action="store_true",
                   help="only compute the audio features of the corpus into the on-disk feature cache "
                        "(a progress bar; with --nproc-per-node the clips are shared out), then exit")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    g = p.add_argument_group("several processes (torch.distributed)")
    g.add_argument("--nproc-per-node", type=int, default=None, metavar="N",
                   help="start N worker processes on this machine through torch's elastic launcher "
                        "(torchrun); one per GPU on CUDA")
    g.add_argument("--nnodes", default="1", metavar="M", help="machines taking part (torchrun --nnodes)")
    g.add_argument("--rdzv-endpoint", default=None, metavar="HOST:PORT",
                   help="rendezvous of a multi-machine run, the same on every machine (torchrun --rdzv-endpoint)")
    g.add_argument("--master-port", type=int, default=None, help="port of a single-machine run (default: a free one)")
    p.set_defaults(func=run)


def _worker_args(args: argparse.Namespace) -> list[str]:
    out = (["-v"] if getattr(args, "verbose", False) else []) + ["train", "--config", str(args.config.resolve())]
    for flag, attr in _PASS_ON:
        v = getattr(args, attr)
        if v is not None:
            out += [flag, str(v.expanduser().resolve()) if isinstance(v, Path) else str(v)]
    for flag, attr in (("--resume", "resume"), ("--no-progress", "no_progress"),
                       ("--precompute-features", "precompute_features")):
        if getattr(args, attr):
            out.append(flag)
    return out


def run(args: argparse.Namespace) -> int:
    from diface_editor.ml.train import load_train_config, run_training
    from diface_editor.ml.train_config import TrainError
    from diface_editor.ml.train_dist import env_world, launch

    cfg = load_train_config(args.config)
    if args.nproc_per_node is not None:
        if args.nproc_per_node < 1:
            raise TrainError("--nproc-per-node must be at least 1")
        if env_world()[1] > 1:
            raise TrainError("--nproc-per-node inside a torchrun worker: give it to torchrun only")
        launch(_worker_args(args), args.nproc_per_node, nnodes=args.nnodes, rdzv_endpoint=args.rdzv_endpoint,
               master_port=args.master_port)
        return 0
    if args.device:
        cfg.optim.device = args.device
    if args.threads is not None:
        cfg.optim.num_threads = args.threads
    if args.run_dir is not None:
        new = args.run_dir.expanduser().resolve()
        if args.bundle is None and cfg.bundle_dir is not None and cfg.bundle_dir.is_relative_to(cfg.run_dir):
            cfg.bundle_dir = new / cfg.bundle_dir.relative_to(cfg.run_dir)  # a bundle inside the run folder follows it
        cfg.run_dir = new
    if args.bundle is not None:
        cfg.bundle_dir = args.bundle.expanduser().resolve()
    if args.data is not None:
        cfg.data = replace(cfg.data, dir=args.data.expanduser().resolve(), val_dir=None)
    if args.batch_size is not None:
        cfg.optim.batch_size = args.batch_size
    if args.grad_accum is not None:
        cfg.optim.grad_accum = args.grad_accum
    if args.precision is not None:
        cfg.optim.precision = args.precision
    if args.sampler is not None:
        cfg.data.sampler = args.sampler
    if args.num_workers is not None:
        cfg.data.num_workers = args.num_workers
    if min(cfg.optim.batch_size, cfg.optim.grad_accum) < 1 or cfg.data.num_workers < 0:
        raise TrainError("--batch-size and --grad-accum must be at least 1, --num-workers at least 0")
    if args.precompute_features:
        from diface_editor.ml.train import precompute_features

        n, where = precompute_features(cfg, progress=not args.no_progress)
        if where is not None:
            print(f"audio features of {n} clips are in {where}")
        return 0
    result = run_training(cfg, resume=args.resume, steps=args.steps, progress=not args.no_progress)
    if env_world()[0] != 0:
        return 0
    val = f", validation loss {result.val_loss:.4f}" if result.val_loss is not None else ""
    speed = (f"; {result.samples_per_second:.1f} samples/s" if result.samples_per_second else "")
    procs = f" on {result.world_size} processes" if result.world_size > 1 else ""
    print(f"trained {result.steps} steps (train loss {result.train_loss:.4f}{val}) in "
          f"{result.seconds:.0f} s{procs}, effective batch {result.effective_batch}{speed}; "
          f"model bundle: {result.bundle}")
    return 0
