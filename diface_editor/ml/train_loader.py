"""The ``[data] sampler = "epoch"`` input pipeline: windows sharded across ranks by torch's
``DistributedSampler``, reshuffled every epoch by the seed, assembled by ``DataLoader`` workers.

Every clip of ``T`` frames is cut into ``max(1, round(T / W))`` slots (so longer clips are seen
more often, as with the ``"random"`` sampler). Epoch ``e``'s order is ``DistributedSampler(seed,
epoch=e)``'s; rank ``r`` of ``R`` gets every ``R``-th slot of it, so at every micro-step the ranks
together hold exactly the slots one process with an ``R``-times larger batch would hold. A slot's
crop start and known-masks come from ``(seed, epoch, slot)`` alone, never from the rank, the worker
or the order, so a resumed run (its position is a function of the step) sees the same windows as
an uninterrupted one.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler

from diface_editor.ml.masks import random_masks
from diface_editor.ml.train_config import TrainError

if TYPE_CHECKING:
    from diface_editor.ml.train import Trainer

_SALT = 104729


class WindowDataset(Dataset):
    """Map-style dataset keyed by ``(epoch, slot)``: one normalised training window with its masks
    and audio input (feature window, or the raw crop of a trainable encoder) as numpy arrays."""

    def __init__(self, trainer: Trainer) -> None:
        self.clips = trainer.train_clips
        self.W = trainer.W
        self.fps = trainer.fps
        self.seed = trainer.cfg.optim.seed
        self.masks = trainer.cfg.masks
        self.groups = trainer.groups
        self.parts = [(n, p.normaliser, p.n_channels) for n, p in trainer.parts.items()]
        self.features = trainer.features
        self.slot_clip = np.concatenate([np.full(max(1, int(round(c.n_frames / self.W))), i, np.int64)
                                         for i, c in enumerate(self.clips)])

    def __len__(self) -> int:
        return int(self.slot_clip.size)

    def __getitem__(self, key: tuple[int, int]) -> dict[str, Any]:
        epoch, slot = key
        ci = int(self.slot_clip[slot])
        c = self.clips[ci]
        W = self.W
        rng = np.random.default_rng([self.seed, _SALT, int(epoch), int(slot)])
        start = int(rng.integers(0, max(c.n_frames - W, 0) + 1))
        frames = np.arange(start, start + W)
        fr = np.minimum(frames, c.n_frames - 1)
        pad = frames >= c.n_frames
        out: dict[str, Any] = {"clip": ci, "start": start}
        for name, norm, _ in self.parts:
            out[name] = norm.normalise(getattr(c, name)[fr])
        for name, _, C in self.parts:
            m = random_masks(rng, 1, W, C, self.masks, self.groups if name == "face" else None)[0]
            out[f"{name}_known"] = m | pad[:, None]
        f = self.features
        if f.trainable:
            seg, times = f.encoder.crop(c.feats, start, W, self.fps)
            out["seg"], out["times"] = np.ascontiguousarray(seg, np.float32), times
        else:
            out["feats"] = np.ascontiguousarray(c.feats[fr], np.float32)
        return out


class EpochBatchSampler(Sampler):
    """Endless batches of ``(epoch, slot)`` keys for one rank, starting at its micro-batch ``start``.

    Each epoch is ``torch.utils.data.DistributedSampler(shuffle=True, seed=seed, drop_last=False)``
    with ``set_epoch(epoch)``; the last incomplete batch of a rank's shard is dropped.
    """

    def __init__(self, n_slots: int, batch_size: int, rank: int, world_size: int, seed: int, start: int = 0):
        self.sampler = DistributedSampler(range(n_slots), num_replicas=world_size, rank=rank, shuffle=True,
                                          seed=seed, drop_last=False)
        self.B = int(batch_size)
        self.per_epoch = self.sampler.num_samples // self.B
        if self.per_epoch < 1:
            raise TrainError(f"the epoch sampler needs at least batch_size x world size = {self.B * world_size} "
                             f"window slots, the data has {n_slots}; lower batch_size, add data or use "
                             "[data] sampler = \"random\"")
        self.start = int(start)

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        epoch, pos = divmod(self.start, self.per_epoch)
        while True:
            self.sampler.set_epoch(epoch)
            idx = list(self.sampler)
            for b in range(pos, self.per_epoch):
                yield [(epoch, int(i)) for i in idx[b * self.B:(b + 1) * self.B]]
            epoch, pos = epoch + 1, 0


def collate(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Stack a batch's numpy arrays into tensors (channels first for motion and masks)."""
    out: dict[str, Any] = {"clip": [it["clip"] for it in items], "start": [it["start"] for it in items]}
    for k in items[0]:
        if k in ("clip", "start"):
            continue
        a = np.stack([it[k] for it in items])
        if k in ("face", "head", "face_known", "head_known"):
            a = a.transpose(0, 2, 1)
        out[k] = torch.from_numpy(np.ascontiguousarray(a))
    return out


def epoch_batches(trainer: Trainer, rank: int, world_size: int, start_micro: int) -> Iterator[dict[str, Any]]:
    """This rank's collated batches from micro-batch ``start_micro`` on (a ``DataLoader`` with
    ``[data] num_workers`` workers)."""
    ds = WindowDataset(trainer)
    o = trainer.cfg.optim
    sampler = EpochBatchSampler(len(ds), o.batch_size, rank, world_size, o.seed, start_micro)
    nw = trainer.cfg.data.num_workers
    loader = DataLoader(ds, batch_sampler=sampler, collate_fn=collate, num_workers=nw,
                        persistent_workers=nw > 0, prefetch_factor=4 if nw > 0 else None,
                        pin_memory=trainer.device.type == "cuda")
    return iter(loader)
