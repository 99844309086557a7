"""Training a motion model (face and/or head denoisers) on a folder of (audio, motion) pairs.

Why ~780 lines: this is the run loop (start or resume, steps, EMA, validation, checkpoints, the
bundle) for one process and for DistributedDataParallel ranks alike, kept in one place so the two paths
cannot drift; config, data, loaders, checkpoints and the launcher live in their own modules
(``train_config``, ``train_data``, ``train_loader``, ``train_checkpoints``, ``train_dist``).

Data: a folder of pairs ``<name>.wav`` (or another audio format) + ``<name>.npz`` in diface's
native animation format (``fps``, ``channel_names``, ``face`` (T, C), ``head`` (T, 3); read with
:func:`diface_editor.core.formats.load_animation`, resampled to the configured fps if needed).

Recipe (3DiFACE-style): random fixed-length crops, random known-masks
(:mod:`diface_editor.ml.masks`), x0-prediction loss with a velocity term and per-sample
condition dropout (:mod:`diface_editor.ml.diffusion`), AdamW with warm-up and cosine decay,
optional EMA of the weights, validation loss on a held-out split, resumable checkpoints, and at
the end a model bundle (:mod:`diface_editor.ml.bundle`).

Determinism: all randomness of step ``k`` is derived from ``(seed, k)``, so a resumed run
continues exactly like an uninterrupted one (bit-identical on the CPU).

Audio features come from the audio encoder the config names (:mod:`diface_editor.ml.audio`);
trainable encoders (the learned log-mel front end) are trained with the denoisers and saved in
the bundle. Tests and tools may pass ``feature_fn(clip, n_frames, fps) -> (n_frames, D)``
instead.

The config lives in :mod:`diface_editor.ml.train_config`, the data in :mod:`diface_editor.ml.train_data`,
checkpoints (``<run_dir>/checkpoints/step_XXXXXXXX/``, no pickles) in
:mod:`diface_editor.ml.train_checkpoints`; their public names are re-exported here.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from diface_editor.core.arkit import HEAD_NAMES
from diface_editor.ml import train_dist
from diface_editor.ml.bundle import MotionModel
from diface_editor.ml.denoiser import Denoiser, DenoiserConfig
from diface_editor.ml.diffusion import GaussianDiffusion
from diface_editor.ml.masks import arkit_groups, random_masks
from diface_editor.ml.normalisation import Normaliser
from diface_editor.ml.part import ModelPart
from diface_editor.ml.train_checkpoints import (
    _architecture,
    _full_state,
    _init_from,
    _list_checkpoints,
    _restore_checkpoint,
    _with_weights,
    save_checkpoint,
)
from diface_editor.ml.train_config import (
    PRECISIONS,
    DataConfig,
    LossConfig,
    OptimConfig,
    TrainConfig,
    TrainError,
    load_train_config,
    train_config_from_dict,
)
from diface_editor.ml.train_data import (
    AUDIO_SUFFIXES,
    Clip,
    FeatureFn,
    FeatureSource,
    find_pairs,
    load_clips,
    split_train_val,
)

log = logging.getLogger(__name__)

__all__ = ["AUDIO_SUFFIXES", "Batch", "Clip", "DataConfig", "FeatureFn", "FeatureSource", "LossConfig", "OptimConfig",
           "TrainConfig", "TrainError", "TrainResult", "Trainer", "build_feature_source", "export_bundle", "find_pairs",
           "load_clips", "load_train_config", "run_training", "save_checkpoint", "split_train_val",
           "train_config_from_dict", "validate"]

# ====================================================================== batches
@dataclass
class Batch:
    """One training batch (normalised, channels first). Audio features are computed when the loss
    is (so trainable encoders see their current weights)."""

    face: torch.Tensor | None        # (B, C, W)
    head: torch.Tensor | None        # (B, 3, W)
    face_known: torch.Tensor | None  # (B, C, W) bool
    head_known: torch.Tensor | None  # (B, 3, W) bool
    clips: list[Clip]                # the B source clips
    starts: list[int]                # first frame of each window
    audio_in: Any = None             # loader-made audio input: (B, W, D) features or (seg, times) crops

    def rows(self, lo: int, hi: int) -> Batch:
        """Samples ``lo .. hi-1`` (one rank's or micro-step's share of a global batch)."""
        def cut(x):
            return None if x is None else x[lo:hi]
        audio = None if self.audio_in is None else (tuple(cut(a) for a in self.audio_in)
                                                    if isinstance(self.audio_in, tuple) else cut(self.audio_in))
        return Batch(cut(self.face), cut(self.head), cut(self.face_known), cut(self.head_known),
                     self.clips[lo:hi], self.starts[lo:hi], audio)


class Trainer:
    """Holds data, models, optimiser and EMA of one run. Use :func:`run_training`."""

    def __init__(self, cfg: TrainConfig, features: FeatureSource, device: torch.device):
        self.cfg = cfg
        self.features = features
        self.device = device
        self.W = cfg.window_frames
        self.fps = cfg.data.fps
        self.train_clips: list[Clip] = []
        self.val_clips: list[Clip] = []
        self.channel_names: tuple[str, ...] = ()
        self.space = "arkit"
        self.parts: dict[str, ModelPart] = {}
        self.groups: list[list[int]] | None = None
        self.aux: dict[str, Callable] = {}

    # ------------------------------------------------------------------ setup
    def load_data(self, ctx: train_dist.DistContext | None = None, progress: bool = False) -> None:
        """Read the pairs and prepare their audio features. In a multi-process run with an encoder
        whose features are kept on disk, each rank first computes its share of the clips into the
        shared cache (atomic writes), then all read them."""
        ctx = ctx or train_dist.DistContext()
        d = self.cfg.data
        pairs = find_pairs(d.dir)
        if d.val_dir is not None:
            train_pairs, val_pairs = pairs, find_pairs(d.val_dir)
        else:
            train_pairs, val_pairs = split_train_val(pairs, d.val_fraction, self.cfg.optim.seed)
        if not train_pairs:
            raise TrainError(f"no training pairs (<name>.npz + <name>.wav) found in {d.dir}")
        self.train_clips, self.channel_names, self.space = load_clips(train_pairs, self.fps, None, None)
        self.val_clips, _, _ = load_clips(val_pairs, self.fps, self.channel_names or None, self.space)
        prepare_features(self.features, self.train_clips + self.val_clips, self.fps, ctx, progress)
        n = sum(c.n_frames for c in self.train_clips)
        log.info("training data: %d clips (%.1f min), %d validation clips", len(self.train_clips),
                 n / self.fps / 60, len(self.val_clips))

    def build_models(self, stats: dict[str, Normaliser] | None = None) -> None:
        """Denoisers (seeded init), normalisers (from the training data unless ``stats`` given)."""
        cfg = self.cfg
        torch.manual_seed(cfg.optim.seed)
        n_face = self.train_clips[0].face.shape[1]
        D = int(self.features.dim or 0)
        diffusion = GaussianDiffusion(cfg.diffusion)
        for pname, sec, C in (("face", cfg.face, n_face), ("head", cfg.head, 3)):
            if sec is None:
                continue
            kw = dict(sec)
            if pname == "face" and "flag_mode" not in kw:
                kw["flag_mode"] = "channel" if self.space == "arkit" else "frame"
            try:
                dcfg = DenoiserConfig(in_channels=C, audio_dim=D, **kw)
            except (TypeError, ValueError) as e:
                raise TrainError(f"invalid [{pname}] settings: {e}") from None
            if stats is not None:
                norm = stats[pname]
            elif pname == "head" and (cfg.head_stats == "3diface" or
                                      (cfg.head_stats == "auto" and self.space == "vertex")):
                norm = Normaliser.head_3diface()
            else:
                frames = np.concatenate([getattr(c, pname) for c in self.train_clips])
                floor = cfg.std_floor if cfg.std_floor is not None else (1e-5 if self.space == "vertex" else 1e-2)
                norm = Normaliser.from_data(frames, floor)
            names = self.channel_names if pname == "face" else HEAD_NAMES
            self.parts[pname] = ModelPart(pname, Denoiser(dcfg).to(self.device), norm, diffusion, names)
        face = self.parts.get("face")
        if face is not None and face.denoiser.config.flag_mode == "channel" and self.space == "arkit":
            self.groups = arkit_groups(self.channel_names)
        if face is not None and cfg.loss.lip_vertex_weight > 0:
            if self.space != "arkit":
                raise TrainError("[loss] lip_vertex_weight needs ARKit training data (the default rig's blendshapes)")
            from diface_editor.core.rig import load_default_rig
            from diface_editor.ml.lip_loss import LipVertexLoss

            frames = np.concatenate([c.face for c in self.train_clips])
            self.aux["face"] = LipVertexLoss(self.channel_names, np.asarray(face.normaliser.std).reshape(-1),
                                             load_default_rig(), frames, cfg.loss.lip_vertex_weight)

    def modules(self) -> dict[str, nn.Module]:
        out: dict[str, nn.Module] = {n: p.denoiser for n, p in self.parts.items()}
        m = self.features.module()
        if m is not None:
            out["audio"] = m
        return out

    def named_parameters(self) -> list[tuple[str, nn.Parameter]]:
        return [(f"{n}.{k}", p) for n, m in sorted(self.modules().items()) for k, p in m.named_parameters()]

    # ------------------------------------------------------------------ batches
    def make_batch(self, rng: np.random.Generator, clips: list[Clip], B: int) -> Batch:
        W = self.W
        lengths = np.array([c.n_frames for c in clips], np.float64)
        idx = rng.choice(len(clips), size=B, p=lengths / lengths.sum())
        chosen = [clips[i] for i in idx]
        starts = [int(rng.integers(0, max(c.n_frames - W, 0) + 1)) for c in chosen]
        pad = np.zeros((B, W), bool)
        arrays: dict[str, np.ndarray] = {}
        for pname, part in self.parts.items():
            a = np.empty((B, W, part.n_channels), np.float32)
            for b, (c, s) in enumerate(zip(chosen, starts)):
                src = getattr(c, pname)
                fr = np.minimum(np.arange(s, s + W), c.n_frames - 1)
                a[b] = part.normaliser.normalise(src[fr])
                pad[b] = np.arange(s, s + W) >= c.n_frames
            arrays[pname] = a
        masks = {}
        for pname, part in self.parts.items():
            groups = self.groups if pname == "face" else None
            m = random_masks(rng, B, W, part.n_channels, self.cfg.masks, groups)
            m |= pad[:, :, None]
            masks[pname] = m
        dev = self.device

        def t(x, dtype=torch.float32):
            return None if x is None else torch.from_numpy(np.ascontiguousarray(x.transpose(0, 2, 1))).to(dev, dtype)
        return Batch(t(arrays.get("face")), t(arrays.get("head")), t(masks.get("face"), torch.bool),
                     t(masks.get("head"), torch.bool), chosen, starts)

    def loss(self, batch: Batch, gen: torch.Generator, deterministic_cond: bool = False
             ) -> tuple[torch.Tensor, dict[str, float]]:
        total = None
        logs: dict[str, float] = {}
        if batch.audio_in is None:
            audio = self.features.window(batch.clips, batch.starts, self.W, self.fps, self.device)
        elif isinstance(batch.audio_in, tuple):
            audio = self.features.encoder.forward(*batch.audio_in)
        else:
            audio = batch.audio_in
        for pname, part in self.parts.items():
            x0 = getattr(batch, pname)
            known = getattr(batch, f"{pname}_known")
            cm = torch.zeros(x0.shape[0], dtype=torch.bool) if deterministic_cond else None
            loss, parts = part.diffusion.training_loss(part.denoiser, x0, known, audio=audio,
                                                       generator=gen, cond_mask=cm, aux=self.aux.get(pname))
            total = loss if total is None else total + loss
            logs[pname] = float(loss.detach())
            logs.update({f"{pname}_{k}": v for k, v in parts.items()})
        logs["loss"] = float(total.detach())
        return total, logs

    def batch_from_loaded(self, d: dict[str, Any]) -> Batch:
        """A :class:`Batch` on the device from one :func:`~diface_editor.ml.train_loader.collate` batch."""
        dev = self.device

        def t(k):
            return d[k].to(dev, non_blocking=True) if k in d else None
        audio = (t("seg"), t("times")) if "seg" in d else t("feats")
        return Batch(t("face"), t("head"), t("face_known"), t("head_known"),
                     [self.train_clips[i] for i in d["clip"]], list(d["start"]), audio)


def prepare_features(features: FeatureSource, clips: list[Clip], fps: float, ctx: train_dist.DistContext,
                     progress: bool = False) -> None:
    """``features.prepare`` every clip (a tqdm bar on rank 0 with ``progress``). Encoders with an
    on-disk cache: rank ``r`` of ``R`` first computes clips ``r, r+R, ...`` into it, then all ranks
    read every clip from it."""
    enc = features.encoder
    cache = getattr(enc, "cache", None) if enc is not None and getattr(enc, "disk_cache", False) else None
    shared = ctx.active and cache is not None and getattr(cache, "disk_dir", None) is not None
    todo = clips[ctx.rank::ctx.world_size] if shared else clips
    it = todo
    if progress and ctx.is_main and len(todo) > 1:
        from tqdm import tqdm

        it = tqdm(todo, desc="audio features", unit="clip", dynamic_ncols=True)
    for c in it:
        if shared:
            enc.raw_features(c.audio)  # into the shared disk cache
        else:
            features.prepare(c, fps)
    if shared:
        train_dist.barrier(ctx)
        for c in clips:
            features.prepare(c, fps)


# ====================================================================== checkpoints
def _seed_for(seed: int, step: int, salt: int = 0) -> int:
    return int(np.random.default_rng([seed, step, salt]).integers(0, 2 ** 62))

# ====================================================================== the loop
@dataclass
class TrainResult:
    """What :func:`run_training` did."""

    bundle: Path
    steps: int
    train_loss: float
    val_loss: float | None
    seconds: float
    resumed_from: int = 0
    history: list[dict[str, float]] = field(default_factory=list)
    world_size: int = 1
    effective_batch: int = 0
    samples_per_second: float | None = None


def _lr_at(o: OptimConfig, step: int) -> float:
    f = min(1.0, step / o.warmup_steps) if o.warmup_steps > 0 else 1.0
    if o.lr_schedule == "cosine" and o.steps > o.warmup_steps:
        p = min(1.0, max(0.0, (step - o.warmup_steps) / (o.steps - o.warmup_steps)))
        f *= 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * p))
    return o.lr * f

def build_feature_source(cfg: TrainConfig, device: torch.device, feature_fn: FeatureFn | None) -> FeatureSource:
    """The configured audio encoder (``diface_editor.ml.audio.get_encoder``) or ``feature_fn``."""
    if feature_fn is not None:
        return FeatureSource(feature_fn=feature_fn)
    try:
        from diface_editor.ml.audio import get_encoder
    except ImportError as e:  # pragma: no cover - the audio package is part of diface
        raise TrainError(f"the audio encoders are not available ({e})") from None
    spec = cfg.audio_encoder
    enc = get_encoder(spec, device=device, bundle_dir=cfg.source.parent if cfg.source else None)
    return FeatureSource(encoder=enc)


def validate(trainer: Trainer, batches: list[tuple[Batch, int]]) -> float | None:
    """Mean loss over fixed validation batches (no condition dropout)."""
    if not batches:
        return None
    mods = trainer.modules()
    was = {n: m.training for n, m in mods.items()}
    for m in mods.values():
        m.eval()
    tot = 0.0
    try:
        with torch.no_grad():
            for b, seed in batches:
                g = torch.Generator().manual_seed(seed)
                _, logs = trainer.loss(b, g, deterministic_cond=True)
                tot += logs["loss"]
    finally:
        for n, m in mods.items():
            m.train(was[n])
    return tot / len(batches)


def run_training(cfg: TrainConfig, *, resume: bool = False, feature_fn: FeatureFn | None = None,
                 progress: bool = True, steps: int | None = None) -> TrainResult:
    """Train, checkpoint, validate and write the bundle.

    Started by torch's elastic launcher (``torchrun``, ``diface train --nproc-per-node N``) every
    process calls this: they join one process group (:mod:`diface_editor.ml.train_dist`), train one
    model with ``DistributedDataParallel``, and rank 0 alone validates, writes checkpoints and the
    bundle. Without the launcher this is the single-process run.

    Args:
        cfg: the run configuration (not modified).
        resume: continue from the newest checkpoint in ``cfg.run_dir`` (a run folder with
            checkpoints and ``resume=False`` is refused so nothing is overwritten by accident).
        feature_fn: use this instead of the configured audio encoder (tests, tools).
        progress: show a tqdm progress bar (rank 0).
        steps: override ``cfg.optim.steps`` (for this run only).
    Returns:
        :class:`TrainResult`; the bundle is at ``result.bundle`` (written by rank 0).
    """
    if steps is not None:
        cfg = replace(cfg, optim=replace(cfg.optim, steps=int(steps)))
    o = cfg.optim
    if o.num_threads > 0:
        torch.set_num_threads(o.num_threads)
    ctx, device = train_dist.setup(o.device, o.dist_timeout_s)
    try:
        return _run_training(cfg, ctx, device, resume, feature_fn, progress)
    except Exception as e:
        if ctx.active and _is_comm_error(e):
            raise train_dist.collective_failed(ctx, e) from e
        raise
    finally:
        train_dist.shutdown(ctx)


def precompute_features(cfg: TrainConfig, *, progress: bool = True) -> tuple[int, Path | None]:
    """Compute the audio features of every clip of the corpus (``diface train --precompute-features``)
    into the encoder's on-disk cache, shared out across the ranks of a torchrun job.

    Returns:
        ``(clips, cache folder)``; the folder is None when the configured encoder keeps no features
        on disk (they are cheap and computed at the start of every run).
    """
    ctx, device = train_dist.setup(cfg.optim.device, cfg.optim.dist_timeout_s)
    try:
        trainer = Trainer(cfg, build_feature_source(cfg, device, None), device)
        trainer.load_data(ctx, progress)
        enc = trainer.features.encoder
        where = enc.cache.disk_dir if getattr(enc, "disk_cache", False) else None
        if where is None and ctx.is_main:
            log.warning("the %s encoder keeps no features on disk; they are computed at the start of every run",
                        cfg.audio_encoder.get("type"))
        train_dist.barrier(ctx)
        return len(trainer.train_clips) + len(trainer.val_clips), (where if ctx.is_main else None)
    finally:
        train_dist.shutdown(ctx)


def _is_comm_error(e: BaseException) -> bool:
    dist_error = getattr(torch.distributed, "DistError", None)
    if dist_error is not None and isinstance(e, dist_error):
        return True
    msg = str(e).lower()
    return isinstance(e, RuntimeError) and any(w in msg for w in ("gloo", "nccl", "connection", "timed out",
                                                                  "timeout", "socket", "peer"))


def _run_training(cfg: TrainConfig, ctx: train_dist.DistContext, device: torch.device, resume: bool,
                  feature_fn: FeatureFn | None, progress: bool) -> TrainResult:
    o = cfg.optim
    _check_precision(o.precision, device)
    existing = _list_checkpoints(cfg.run_dir)
    if existing and not resume:
        raise TrainError(f"the run folder {cfg.run_dir} already has checkpoints (up to step {existing[-1][0]}); "
                         "pass --resume to continue it or choose another [output] run_dir")
    t_start = time.perf_counter()
    trainer = Trainer(cfg, build_feature_source(cfg, device, feature_fn), device)
    trainer.load_data(ctx, progress)
    ckpt = existing[-1][1] if resume and existing else None
    run = _start_run(cfg, trainer, ckpt, resume, device, ctx)
    train_dist.barrier(ctx)
    bar = None
    if progress and ctx.is_main:
        from tqdm import tqdm

        bar = tqdm(total=o.steps, initial=run.start_step, desc="train", unit="step", dynamic_ncols=True)
    t_loop = time.perf_counter()
    try:
        step = _train_loop(run, bar)
    finally:
        if bar is not None:
            bar.close()
    loop_s = time.perf_counter() - t_loop
    run.samples_per_s = (step - run.start_step) * run.effective_batch / loop_s if loop_s > 0 else None
    seconds = time.perf_counter() - t_start
    bundle = cfg.bundle_path
    if ctx.is_main:
        bundle = export_bundle(trainer, run.ema, cfg, step, run.train_loss, run.val_loss, seconds,
                               run=run_summary(run), samples_per_second=run.samples_per_s)
    train_dist.barrier(ctx)
    return TrainResult(bundle, step, run.train_loss, run.val_loss, seconds, run.start_step, run.history,
                       world_size=ctx.world_size, effective_batch=run.effective_batch,
                       samples_per_second=run.samples_per_s)


def _check_precision(precision: str, device: torch.device) -> None:
    if precision not in PRECISIONS:
        raise TrainError(f"[train] precision must be one of {', '.join(PRECISIONS)}")
    if precision == "fp16" and device.type != "cuda":
        raise TrainError("[train] precision = \"fp16\" needs CUDA (it uses the CUDA loss scaler); use \"bf16\" "
                         "or \"fp32\" on this device")
    if precision == "bf16" and device.type not in ("cuda", "cpu"):
        raise TrainError(f"[train] precision = \"bf16\" runs on CUDA or the CPU, not on {device.type}")
    if precision == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise TrainError("this GPU does not support bf16; use precision = \"fp16\" (with the loss scaler)")


class _LossModule(nn.Module):
    """All trained modules behind one ``forward(batch, gen) -> loss`` for ``DistributedDataParallel``
    (the trainer's logs of the last call are in ``last_logs``)."""

    def __init__(self, trainer: Trainer):
        super().__init__()
        self.mods = nn.ModuleDict(trainer.modules())
        self._trainer = [trainer]  # not a submodule
        self.last_logs: dict[str, float] = {}

    def forward(self, batch: Batch, gen: torch.Generator) -> torch.Tensor:
        loss, self.last_logs = self._trainer[0].loss(batch, gen)
        return loss


@dataclass(eq=False)
class _Run:
    """The state of one training run between steps.

    Attributes:
        params: the optimised parameters (the order AdamW holds them in).
        ema: EMA weights keyed like :func:`_full_state` (None when ``ema_decay`` is 0).
        history: ``{"step", "train_loss" | "val_loss" | "init_from"...}`` rows, saved in checkpoints.
        start_step: the step the run starts after (0, or the resumed checkpoint's).
        val_batches: fixed validation batches with their noise seeds.
        train_loss, val_loss: the latest logged losses (train: the mean over all ranks).
        ctx: this process in the process group; ``ddp``: the ``DistributedDataParallel`` wrapper
            (None in a single process); ``scaler``: the fp16 loss scaler (or None);
        batches: the ``"epoch"`` sampler's batches of this rank (None for ``"random"``).
    """

    cfg: TrainConfig
    trainer: Trainer
    opt: torch.optim.Optimizer
    params: list[nn.Parameter]
    ema: dict[str, torch.Tensor] | None
    history: list[dict[str, Any]]
    start_step: int
    val_batches: list[tuple[Batch, int]]
    train_loss: float = float("nan")
    val_loss: float | None = None
    ctx: train_dist.DistContext = field(default_factory=train_dist.DistContext)
    ddp: nn.Module | None = None
    scaler: Any = None
    batches: Any = None
    samples_per_s: float | None = None

    @property
    def micro_per_step(self) -> int:
        """Micro-batches per optimiser step over all ranks."""
        return self.ctx.world_size * self.cfg.optim.grad_accum

    @property
    def effective_batch(self) -> int:
        return self.cfg.optim.batch_size * self.micro_per_step

    def state(self, step: int) -> dict[str, Any]:
        """``state.json`` of a checkpoint at ``step``."""
        t = self.trainer
        out = {"step": step, "architecture": _architecture(t), "train_loss": self.train_loss,
               "val_loss": self.val_loss, "history": self.history, "channel_names": list(t.channel_names),
               "motion_space": t.space, "feature_dim": t.features.dim,
               "normalisation": {n: p.normaliser.to_dict() for n, p in t.parts.items()},
               "recipe": self.cfg.recipe()}
        if self.ctx.active or self.cfg.optim.grad_accum > 1 or self.cfg.optim.precision != "fp32":
            out["distributed"] = {"world_size": self.ctx.world_size, "grad_accum": self.cfg.optim.grad_accum,
                                  "precision": self.cfg.optim.precision}
        if self.scaler is not None:
            out["grad_scaler"] = self.scaler.state_dict()
        return out

    def save(self, step: int) -> None:
        if not self.ctx.is_main:
            return
        o = self.cfg.optim
        save_checkpoint(self.cfg.run_dir, step, self.trainer, self.opt, self.ema, self.state(step), o.keep_checkpoints)


def run_summary(run: _Run) -> dict[str, Any]:
    """The run's scale-out settings and data summary (``training`` in the bundle's config.json)."""
    t, o, d = run.trainer, run.cfg.optim, run.cfg.data
    frames = sum(c.n_frames for c in t.train_clips)
    return {"world_size": run.ctx.world_size, "backend": run.ctx.backend or "none", "precision": o.precision,
            "grad_accum": o.grad_accum, "batch_size_per_process": o.batch_size,
            "effective_batch_size": run.effective_batch,
            "data_summary": {"train_clips": len(t.train_clips), "val_clips": len(t.val_clips),
                             "train_minutes": round(frames / d.fps / 60, 3), "sampler": d.sampler,
                             "num_workers": d.num_workers, "window_frames": t.W}}


def _start_run(cfg: TrainConfig, trainer: Trainer, ckpt: Path | None, resume: bool, device: torch.device,
               ctx: train_dist.DistContext | None = None) -> _Run:
    """Build the models (from checkpoint ``ckpt``, from ``[train] init_from`` or fresh), the optimiser
    and the EMA weights; restore the checkpoint's optimiser state and history when resuming; wrap
    the models in ``DistributedDataParallel`` in a multi-process run."""
    ctx = ctx or train_dist.DistContext()
    o = cfg.optim
    ckpt_state = json.loads((ckpt / "state.json").read_text(encoding="utf-8")) if ckpt is not None else None
    init_state: dict[str, Any] = {}
    if ckpt_state is not None:
        trainer.build_models({n: Normaliser.from_dict(v) for n, v in ckpt_state["normalisation"].items()})
        if ckpt_state.get("architecture") != _architecture(trainer):
            raise TrainError(f"the checkpoint in {ckpt} was trained with a different architecture than "
                             "the config now describes; restore the config or start a new run_dir")
    elif resume and o.init_from is None:
        log.warning("nothing to resume in %s; starting a new run", cfg.run_dir)
        trainer.build_models()
    elif o.init_from is not None:
        init_state = _init_from(trainer, Path(o.init_from), device)
    else:
        trainer.build_models()

    params = [p for _, p in trainer.named_parameters()]
    opt = torch.optim.AdamW(params, lr=o.lr, betas=o.betas, weight_decay=o.weight_decay)
    ema: dict[str, torch.Tensor] | None = None
    history: list[dict[str, Any]] = []
    start_step = 0
    if ckpt_state is not None:
        ema = _restore_checkpoint(ckpt, trainer, opt, device, load_ema=o.ema_decay > 0)
        start_step = int(ckpt_state["step"])
        history = list(ckpt_state.get("history", []))
        was = (ckpt_state.get("distributed") or {}).get("world_size", 1)
        if was != ctx.world_size and ctx.is_main:
            log.warning("the checkpoint was written by a run of %d process(es), this one has %d: it continues, "
                        "but not exactly like an uninterrupted run", was, ctx.world_size)
        log.info("resumed %s at step %d", cfg.run_dir, start_step)
    if o.ema_decay > 0 and ema is None:
        ema = {k: v.detach().clone() for k, v in _full_state(trainer).items()}
    if ckpt_state is None and o.init_from is not None:
        history = [{"step": 0, "init_from": str(o.init_from), "init_step": init_state.get("step")}]
    run = _Run(cfg, trainer, opt, params, ema, history, start_step, _validation_batches(trainer, o) if ctx.is_main
               else [], ctx=ctx)
    run.val_loss = ckpt_state.get("val_loss") if ckpt_state else None
    if o.precision == "fp16":
        run.scaler = torch.amp.GradScaler(device.type)
        if ckpt_state is not None and ckpt_state.get("grad_scaler"):
            run.scaler.load_state_dict(ckpt_state["grad_scaler"])
    if ctx.active:
        from torch.nn.parallel import DistributedDataParallel

        run.ddp = DistributedDataParallel(_LossModule(trainer), device_ids=None)
    if cfg.data.sampler == "epoch":
        from diface_editor.ml.train_loader import epoch_batches

        run.batches = epoch_batches(trainer, ctx.rank, ctx.world_size, start_step * o.grad_accum)
    return run


def _validation_batches(trainer: Trainer, o: OptimConfig) -> list[tuple[Batch, int]]:
    """``o.val_batches`` fixed validation batches (windows, masks) with their noise seeds."""
    if not trainer.val_clips:
        return []
    val_rng = np.random.default_rng([o.seed, 7919])
    return [(trainer.make_batch(val_rng, trainer.val_clips, o.batch_size), _seed_for(o.seed, i, 3))
            for i in range(o.val_batches)]


def _train_loop(run: _Run, bar) -> int:
    """Steps ``start_step + 1 .. optim.steps`` with logging, validation and checkpoints; returns the
    last step. On Ctrl+C the steps done since the last checkpoint are saved first."""
    o, trainer, ctx = run.cfg.optim, run.trainer, run.ctx
    for m in trainer.modules().values():
        m.train()
    run_logs: list[dict[str, float]] = []
    step = done = saved = run.start_step
    try:
        for step in range(run.start_step + 1, o.steps + 1):
            if ctx.active:
                train_dist.maybe_fault(ctx, step)
            run_logs.append(_train_step(run, step))
            if step % o.log_every == 0 or step == o.steps:
                run.train_loss = _logged_loss(run, run_logs)
                run.history.append({"step": step, "train_loss": run.train_loss})
                run_logs = []
                if bar is not None:
                    bar.set_postfix(loss=f"{run.train_loss:.4f}", lr=f"{_lr_at(o, step):.1e}")
            if run.val_batches and (step % o.val_every == 0 or step == o.steps):
                run.val_loss = _with_weights(trainer, run.ema, lambda: validate(trainer, run.val_batches))
                run.history.append({"step": step, "val_loss": run.val_loss})
                log.info("step %d: val loss %.5f", step, run.val_loss)
            done = step
            if step % o.ckpt_every == 0 or step == o.steps:
                run.save(step)
                saved = step
            if bar is not None:
                bar.update(1)
    except KeyboardInterrupt:
        if done > saved:  # keep the work: `--resume` continues from here
            run.save(done)
            log.warning("interrupted: checkpoint saved at step %d; continue with --resume", done)
        raise
    if run_logs:
        run.train_loss = _logged_loss(run, run_logs)
    return step


def _logged_loss(run: _Run, logs: list[dict[str, float]]) -> float:
    """Mean training loss of ``logs`` (over all ranks in a multi-process run)."""
    local = float(np.mean([r["loss"] for r in logs]))
    return train_dist.mean(run.ctx, [local], run.trainer.device)[0] if run.ctx.active else local


def _micro_seed(seed: int, step: int, salt: int, micro: int) -> int:
    return int(np.random.default_rng([seed, step, salt, micro]).integers(0, 2 ** 62))


def _train_step(run: _Run, step: int) -> dict[str, float]:
    """One optimisation step (all randomness from ``(seed, step)``) and the EMA update; its logs.

    With ``R`` processes and ``A`` accumulation steps the step has ``R * A`` micro-batches; micro-batch
    ``g = a * R + rank`` is rank ``rank``'s ``a``-th. ``"random"`` sampler: the step's global batch is
    drawn once (as one process with batch ``B * R * A`` would) and micro-batch ``g`` is its rows
    ``g*B .. (g+1)*B``; noise and dropout seeds come from ``(seed, step, g)``. One micro-batch (the
    single-process, no-accumulation run) keeps the original per-step seeds exactly.
    """
    o, trainer, ctx = run.cfg.optim, run.trainer, run.ctx
    B, A, n_micro = o.batch_size, o.grad_accum, run.micro_per_step
    for g in run.opt.param_groups:
        g["lr"] = _lr_at(o, step)
    glob = None
    if run.batches is None:
        rng = np.random.default_rng([o.seed, step])
        glob = trainer.make_batch(rng, trainer.train_clips, B * n_micro)
    dev = trainer.device
    autocast = (torch.autocast(dev.type, dtype=torch.bfloat16 if o.precision == "bf16" else torch.float16)
                if o.precision != "fp32" else contextlib.nullcontext())
    logs_acc: list[dict[str, float]] = []
    run.opt.zero_grad(set_to_none=True)
    for a in range(A):
        g = a * ctx.world_size + ctx.rank
        if n_micro == 1:
            gen = torch.Generator().manual_seed(_seed_for(o.seed, step, 1))
            torch.manual_seed(_seed_for(o.seed, step, 2))  # dropout
        else:
            gen = torch.Generator().manual_seed(_micro_seed(o.seed, step, 1, g))
            torch.manual_seed(_micro_seed(o.seed, step, 2, g))
        batch = (glob if n_micro == 1 else glob.rows(g * B, (g + 1) * B)) if glob is not None \
            else trainer.batch_from_loaded(next(run.batches))
        sync = run.ddp is None or a == A - 1
        with (contextlib.nullcontext() if sync else run.ddp.no_sync()):
            with autocast:
                if run.ddp is not None:
                    loss = run.ddp(batch, gen)
                    logs = run.ddp.module.last_logs
                else:
                    loss, logs = trainer.loss(batch, gen)
            if A > 1:
                loss = loss / A
            if run.scaler is not None:
                run.scaler.scale(loss).backward()
            else:
                loss.backward()
        logs_acc.append(logs)
    if run.scaler is not None:
        run.scaler.unscale_(run.opt)
    if o.grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(run.params, o.grad_clip)
    if run.scaler is not None:
        run.scaler.step(run.opt)
        run.scaler.update()
    else:
        run.opt.step()
    if run.ema is not None:
        _update_ema(run.ema, trainer, min(o.ema_decay, (1 + step) / (10 + step)))
    if A == 1:
        return logs_acc[0]
    return {k: float(np.mean([lg[k] for lg in logs_acc])) for k in logs_acc[0]}


def _update_ema(ema: dict[str, torch.Tensor], trainer: Trainer, decay: float) -> None:
    """``ema = decay * ema + (1 - decay) * weights`` for float tensors; others are copied."""
    with torch.no_grad():
        for k, v in _full_state(trainer).items():
            if v.dtype.is_floating_point:
                ema[k].mul_(decay).add_(v.detach(), alpha=1 - decay)
            else:
                ema[k].copy_(v)


def export_bundle(trainer: Trainer, ema: dict[str, torch.Tensor] | None, cfg: TrainConfig, step: int,
                  train_loss: float, val_loss: float | None, seconds: float, run: dict[str, Any] | None = None,
                  samples_per_second: float | None = None) -> Path:
    """Write the model bundle (EMA weights when EMA is on) to ``cfg.bundle_path``; ``run`` (see
    :func:`run_summary`: world size, precision, effective batch, data summary) is added to its
    ``training`` section."""
    weights = ema if ema is not None else {k: v.detach() for k, v in _full_state(trainer).items()}
    parts = {}
    for n, p in trainer.parts.items():
        den = Denoiser(p.denoiser.config)
        den.load_state_dict({k[len(n) + 1:]: v.to("cpu") for k, v in weights.items() if k.startswith(n + ".")})
        parts[n] = ModelPart(n, den.eval(), p.normaliser, p.diffusion, p.channel_names)
    audio_w = {k[6:]: v.to("cpu") for k, v in weights.items() if k.startswith("audio.")}
    enc = trainer.features.encoder
    spec = enc.spec() if enc is not None else dict(cfg.audio_encoder)
    frames = sum(c.n_frames for c in trainer.train_clips)
    metrics: dict[str, Any] = {"train_steps": step, "train_loss": train_loss}
    if val_loss is not None:
        metrics["val_loss"] = val_loss
    metrics.update({"train_clips": len(trainer.train_clips), "val_clips": len(trainer.val_clips),
                    "train_minutes": round(frames / cfg.data.fps / 60, 3),
                    "train_wall_seconds": round(seconds, 1), "device": str(trainer.device)})
    if samples_per_second is not None:
        metrics["train_samples_per_second"] = round(samples_per_second, 2)
    if trainer.features.encoder is None:
        metrics["note"] = "trained with a custom feature function; the audio_encoder spec may not reproduce it"
    model = MotionModel(parts=parts, fps=cfg.data.fps, motion_space=trainer.space, audio_encoder=spec,
                        audio_weights=audio_w, name=cfg.name, description=cfg.description,
                        sampling={"window_s": cfg.data.window_seconds, **cfg.sampling},
                        training={**cfg.recipe(), **(run or {})},
                        metrics=metrics)
    path = model.save(cfg.bundle_path)
    log.info("wrote model bundle %s", path)
    return path
