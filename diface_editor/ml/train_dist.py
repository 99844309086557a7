"""Multi-process training with torch's own distributed engine (``torch.distributed``).

A run is distributed when it is started by torch's elastic launcher (``torchrun`` or ``diface
train --nproc-per-node N``, which calls the same launcher): the launcher sets ``WORLD_SIZE``,
``RANK``, ``LOCAL_RANK``, ``MASTER_ADDR``/``MASTER_PORT`` and every worker joins one process
group: NCCL with one GPU per process (``cuda:LOCAL_RANK``) when CUDA is used, gloo on the CPU.
Without those variables (or with ``WORLD_SIZE=1``) nothing here touches ``torch.distributed`` and
the run is the single-process one.

Collectives have a timeout (``[train] dist_timeout_s``): a rank whose peer died or hangs gets an
error instead of waiting forever, and :func:`collective_failed` turns it into one sentence.
"""

from __future__ import annotations

import datetime
import logging
import os
from dataclasses import dataclass

import torch

from diface_editor.ml.device import resolve_device
from diface_editor.ml.train_config import TrainError

log = logging.getLogger(__name__)

#: Test hook: ``"RANK:STEP"`` makes that rank exit abruptly (``os._exit(3)``) before that step, to
#: test that a lost worker ends the job with a clear message instead of a hang.
FAULT_ENV = "DIFACE_TRAIN_FAULT"


@dataclass(frozen=True)
class DistContext:
    """Where this process stands in the run: ``rank`` of ``world_size`` (``local_rank`` on its node)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None

    @property
    def active(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def env_world() -> tuple[int, int, int]:
    """``(rank, world_size, local_rank)`` from the launcher's environment (0, 1, 0 when absent)."""
    def num(name: str, default: int) -> int:
        try:
            return int(os.environ.get(name, default))
        except ValueError:
            raise TrainError(f"the environment variable {name} must be a whole number") from None
    return num("RANK", 0), num("WORLD_SIZE", 1), num("LOCAL_RANK", 0)


def setup(device_name: str, timeout_s: float) -> tuple[DistContext, torch.device]:
    """Join the process group when launched by torchrun (once per process); pick the device.

    CUDA (``device_name`` ``auto`` with a GPU, or ``cuda``): NCCL, ``cuda:LOCAL_RANK``. Otherwise gloo
    on the CPU (an explicit ``mps`` is refused in a multi-process run).
    """
    rank, world, local = env_world()
    if world <= 1:
        return DistContext(), resolve_device(device_name)
    import torch.distributed as dist

    dev = resolve_device(device_name)
    if dev.type == "cuda":
        n = torch.cuda.device_count()
        if local >= n:
            raise TrainError(f"local rank {local} has no GPU (this node has {n}); start at most {n} processes "
                             "per node (--nproc-per-node)")
        dev = torch.device("cuda", local)
        torch.cuda.set_device(dev)
        backend = "nccl"
    elif dev.type == "cpu":
        backend = "gloo"
    else:
        raise TrainError(f"multi-process training runs on CUDA (NCCL) or the CPU (gloo), not on {dev.type}")
    if not dist.is_initialized():
        dist.init_process_group(backend, timeout=datetime.timedelta(seconds=float(timeout_s)))
    ctx = DistContext(dist.get_rank(), dist.get_world_size(), local, backend)
    log.info("rank %d of %d (%s, %s)", ctx.rank, ctx.world_size, backend, dev)
    return ctx, dev


def shutdown(ctx: DistContext) -> None:
    if ctx.active:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()


def barrier(ctx: DistContext) -> None:
    if ctx.active:
        import torch.distributed as dist

        dist.barrier()


def mean(ctx: DistContext, values: list[float], device: torch.device) -> list[float]:
    """The mean of ``values`` over all ranks (element-wise); ``values`` itself in a single process."""
    if not ctx.active:
        return list(values)
    import torch.distributed as dist

    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return (t / ctx.world_size).tolist()


def broadcast_object(ctx: DistContext, obj):
    """Rank 0's ``obj`` on every rank."""
    if not ctx.active:
        return obj
    import torch.distributed as dist

    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def collective_failed(ctx: DistContext, err: BaseException) -> TrainError:
    """The error a rank raises when a collective fails (a peer died, hung or timed out)."""
    return TrainError(f"rank {ctx.rank} of {ctx.world_size}: communication with the other workers failed "
                      f"({str(err).strip().splitlines()[0][:160] if str(err).strip() else type(err).__name__}); "
                      "a worker probably died or hung, so the job stops; continue it with --resume")


def maybe_fault(ctx: DistContext, step: int) -> None:
    """The :data:`FAULT_ENV` test hook."""
    spec = os.environ.get(FAULT_ENV)
    if not spec:
        return
    r, _, s = spec.partition(":")
    if int(r) == ctx.rank and int(s) == step:
        log.error("%s: rank %d exits before step %d", FAULT_ENV, ctx.rank, step)
        os._exit(3)


# ====================================================================== the launcher
def launch(worker_args: list[str], nproc: int, *, nnodes: str = "1", node_rank: int = 0,
           rdzv_endpoint: str | None = None, rdzv_id: str = "diface", master_port: int | None = None) -> None:
    """Run ``python -m diface_editor <worker_args>`` in ``nproc`` processes through torch's elastic
    launcher (``torch.distributed.run``, i.e. ``torchrun``); returns when all have ended.

    Single node: a private rendezvous on localhost (``master_port``, default a free port).
    Several nodes: ``nnodes`` and ``rdzv_endpoint`` (``host:port`` of the c10d rendezvous,
    the same on every node), as with torchrun.

    Raises:
        TrainError: a worker failed (its rank, exit code and the resume hint).
    """
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import get_args_parser
    from torch.distributed.run import run as torchrun

    argv = [f"--nproc-per-node={int(nproc)}", f"--nnodes={nnodes}", "--max-restarts=0"]
    if rdzv_endpoint:
        argv += ["--rdzv-backend=c10d", f"--rdzv-endpoint={rdzv_endpoint}", f"--rdzv-id={rdzv_id}"]
    else:
        argv += ["--standalone"] if master_port is None else [f"--master-port={int(master_port)}",
                                                               f"--node-rank={int(node_rank)}"]
    argv += ["-m", "diface_editor", *worker_args]
    args = get_args_parser().parse_args(argv)
    log.info("torchrun %s", " ".join(argv))
    try:
        torchrun(args)
    except ChildFailedError as e:
        try:
            rank, first = e.get_first_failure()
            what = f"rank {rank} exited with code {first.exitcode}"
        except (AttributeError, ValueError, IndexError):
            what = "a worker failed"
        raise TrainError(f"distributed training stopped: {what} first and the other workers were stopped "
                         "(their messages are above); fix the cause and continue with --resume") from None
