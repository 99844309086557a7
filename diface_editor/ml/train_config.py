"""The training run's configuration: the TOML file (``diface train --config FILE``) as dataclasses.

See ``configs/train_default.toml``; :func:`load_train_config` reads a file (paths in it relative to
its folder), :func:`train_config_from_dict` checks a parsed one (unknown sections or keys and
invalid values raise :class:`TrainError` naming them).
"""

from __future__ import annotations

import logging
import os
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from diface_editor.core.errors import DifaceError
from diface_editor.core.strict_dict import field_names, unknown_keys
from diface_editor.ml.denoiser import DenoiserConfig
from diface_editor.ml.diffusion import DiffusionConfig
from diface_editor.ml.masks import MaskConfig

log = logging.getLogger(__name__)


#: ``[train] precision`` values.
PRECISIONS = ("fp32", "bf16", "fp16")


class TrainError(DifaceError):
    """A training config, data folder or run folder problem the user can fix."""


# ====================================================================== config
@dataclass
class DataConfig:
    """``[data]``: where the pairs are and how windows are cut.

    Attributes:
        dir: folder of ``<name>.npz`` + ``<name>.wav`` pairs (relative to the config file).
        val_dir: optional folder of validation pairs; without it ``val_fraction`` of ``dir`` is held out.
        val_fraction: fraction of the pairs held out for validation (by name, seeded).
        window_seconds: training window length in seconds (shorter clips are padded and the
            padding is marked known, so it never enters the loss).
        fps: frame rate of the model (data at other rates is resampled).
        sampler: ``"random"`` (each step draws its windows from ``(seed, step)``, clips weighted by
            length, with replacement; with several processes the step's global batch is drawn once
            and each rank takes its rows) or ``"epoch"`` (every clip cut into ``round(T / W)`` slots,
            reshuffled per epoch by the seed and sharded across ranks by torch's
            ``DistributedSampler``; windows assembled by ``num_workers`` loader processes).
        num_workers: ``torch.utils.data.DataLoader`` worker processes per rank for the ``"epoch"``
            sampler (0 = in the training process).
    """

    dir: Path = Path("data")
    val_dir: Path | None = None
    val_fraction: float = 0.1
    window_seconds: float = 6.0
    fps: float = 30.0
    sampler: str = "random"
    num_workers: int = 0


@dataclass
class OptimConfig:
    """``[train]``: optimisation and bookkeeping.

    Attributes:
        steps: total optimisation steps.
        batch_size: windows per step and process (per micro-step with ``grad_accum``); the effective
            batch is ``batch_size * world_size * grad_accum``.
        grad_accum: micro-batches whose gradients are summed before each optimiser step.
        precision: ``"fp32"``, ``"bf16"`` (autocast; CUDA, or CPU where supported) or ``"fp16"``
            (autocast with a dynamic loss scaler; CUDA only).
        dist_timeout_s: timeout of the collectives of a multi-process run: a rank that waits longer
            on a dead or hung peer ends the job with an error instead of hanging.
        lr, weight_decay, betas: AdamW.
        warmup_steps: linear warm-up; then ``lr_schedule`` ``"cosine"`` (to 10 %) or ``"constant"``.
        grad_clip: max global gradient norm (0 = off).
        ema_decay: EMA of the weights (0 = off); the bundle gets the EMA weights when on.
        seed: seed of every random choice (windows, masks, noise, dropout, init).
        val_every, val_batches: validation cadence and size (fixed windows, masks and noise).
        ckpt_every, keep_checkpoints: checkpoint cadence and how many to keep.
        log_every: steps between progress-bar / log updates.
        device: ``"auto"`` (cuda > mps > cpu), ``"cpu"``, ``"cuda"``, ``"mps"``.
        num_threads: torch CPU threads (0 = leave torch's default).
        init_from: fine-tune: a checkpoint folder (``<run_dir>/checkpoints/step_XXXXXXXX``) of the
            same architecture whose weights (its EMA weights when present) and normalisation start
            this run; the optimiser, step count and schedule start afresh. Relative to the config file.
    """

    steps: int = 20000
    batch_size: int = 16
    lr: float = 2e-4
    weight_decay: float = 0.01
    betas: tuple[float, float] = (0.9, 0.999)
    warmup_steps: int = 500
    lr_schedule: str = "cosine"
    grad_clip: float = 1.0
    ema_decay: float = 0.999
    seed: int = 0
    val_every: int = 1000
    val_batches: int = 4
    ckpt_every: int = 1000
    keep_checkpoints: int = 2
    log_every: int = 25
    device: str = "auto"
    num_threads: int = 0
    init_from: Path | None = None
    grad_accum: int = 1
    precision: str = "fp32"
    dist_timeout_s: float = 300.0


@dataclass
class LossConfig:
    """``[loss]``: extra loss terms.

    Attributes:
        lip_vertex_weight: weight of the face part's lip-vertex loss through the default head rig
            (:mod:`diface_editor.ml.lip_loss`; ARKit models only; 0 = off).
    """

    lip_vertex_weight: float = 0.0

    def __post_init__(self) -> None:
        if not self.lip_vertex_weight >= 0:
            raise ValueError("lip_vertex_weight must be >= 0")


@dataclass
class TrainConfig:
    """A whole training run (the TOML file; see ``configs/train_default.toml``).

    Attributes:
        data: :class:`DataConfig` (``[data]``).
        audio_encoder: spec for :func:`diface_editor.ml.audio.get_encoder` (``[audio_encoder]``).
        face, head: denoiser settings (``[face]``/``[head]``: any :class:`DenoiserConfig` field
            except ``in_channels`` and ``audio_dim``, which come from the data and the encoder);
            a missing table means that part is not trained.
        diffusion: :class:`DiffusionConfig` (``[diffusion]``, shared by both parts).
        masks: :class:`MaskConfig` (``[masks]``).
        optim: :class:`OptimConfig` (``[train]``).
        loss: :class:`LossConfig` (``[loss]``).
        run_dir: checkpoints and logs (``[output] run_dir``).
        bundle_dir: the model bundle written at the end (``[output] bundle``).
        name, description: bundle name and description (top level).
        head_stats: ``"data"`` (statistics of the training data), ``"3diface"`` (3DiFACE's fixed HDTF
            stats) or ``"auto"`` (``"3diface"`` for vertex-space data, ``"data"`` for ARKit data).
        std_floor: lower bound of the per-channel std, so near-constant channels stay sane in
            normalised units (``None``: 0.01 for ARKit weights, 1e-5 m for vertex offsets).
        sampling: recommended sampling defaults written into the bundle (``[sampling]``).
        source: the TOML file this came from (None when built in code).
    """

    data: DataConfig = field(default_factory=DataConfig)
    audio_encoder: dict[str, Any] = field(default_factory=lambda: {"type": "logmel"})
    face: dict[str, Any] | None = field(default_factory=dict)
    head: dict[str, Any] | None = field(default_factory=dict)
    diffusion: DiffusionConfig = field(default_factory=DiffusionConfig)
    masks: MaskConfig = field(default_factory=MaskConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    run_dir: Path = Path("runs/default")
    bundle_dir: Path | None = None
    name: str = "diface model"
    description: str = ""
    head_stats: str = "auto"
    std_floor: float | None = None
    sampling: dict[str, Any] = field(default_factory=lambda: {"sampler": "dpmpp", "steps": 20, "guidance": 1.0})
    source: Path | None = None

    @property
    def window_frames(self) -> int:
        return max(1, int(round(self.data.window_seconds * self.data.fps)))

    @property
    def bundle_path(self) -> Path:
        return self.bundle_dir if self.bundle_dir is not None else self.run_dir / "bundle"

    def recipe(self) -> dict[str, Any]:
        """JSON-able summary stored in the bundle and checkpoints."""
        def conv(v):
            if isinstance(v, Path):
                return str(v)
            if isinstance(v, dict):
                return {k: conv(x) for k, x in v.items()}
            if isinstance(v, (list, tuple)):
                return [conv(x) for x in v]
            return v
        return conv({"data": asdict(self.data), "audio_encoder": self.audio_encoder, "face": self.face,
                     "head": self.head, "diffusion": self.diffusion.to_dict(), "masks": self.masks.to_dict(),
                     "train": asdict(self.optim), "loss": asdict(self.loss), "head_stats": self.head_stats,
                     "std_floor": self.std_floor,
                     "config_file": self.source})


_DENOISER_KEYS = field_names(DenoiserConfig) - {"in_channels", "audio_dim"}
_TOP_KEYS = {"name", "description", "head_stats", "std_floor", "data", "audio_encoder", "face", "head",
             "diffusion", "masks", "train", "loss", "output", "sampling"}


def _fill(cls, d: dict[str, Any], section: str):
    names = field_names(cls)
    unknown = unknown_keys(cls, d)
    if unknown:
        raise TrainError(f"unknown key(s) in [{section}]: {', '.join(unknown)} "
                         f"(allowed: {', '.join(sorted(names))})")
    try:
        return cls(**d)
    except (TypeError, ValueError) as e:
        raise TrainError(f"invalid [{section}] settings: {e}") from None


def train_config_from_dict(d: dict[str, Any], base_dir: str | os.PathLike = ".",
                           source: Path | None = None) -> TrainConfig:
    """Build a :class:`TrainConfig` from parsed TOML; relative paths are resolved against ``base_dir``.

    Raises:
        TrainError: unknown sections/keys or invalid values (the message names them).
    """
    base = Path(base_dir).expanduser().resolve()

    def path(p) -> Path:
        q = Path(str(p)).expanduser()
        return q if q.is_absolute() else (base / q).resolve()

    unknown = sorted(set(d) - _TOP_KEYS)
    if unknown:
        raise TrainError(f"unknown top-level key(s) in the training config: {', '.join(unknown)}")
    audio_spec = d.get("audio_encoder", {"type": "logmel"})
    if isinstance(audio_spec, str):
        audio_spec = {"type": audio_spec} if audio_spec in ("logmel", "whisper") else {"type": "hf", "path": audio_spec}
    audio_spec = dict(audio_spec)
    for key in ("path", "weights"):  # encoder files named relative to the config file become absolute
        v = audio_spec.get(key)
        if isinstance(v, str) and v and not Path(v).expanduser().is_absolute() and (base / v).exists():
            audio_spec[key] = str((base / v).resolve())
    data = dict(d.get("data", {}))
    if "dir" not in data:
        raise TrainError("the training config needs [data] dir = \"<folder of .wav + .npz pairs>\"")
    data["dir"] = path(data["dir"])
    if data.get("val_dir"):
        data["val_dir"] = path(data["val_dir"])
    train = dict(d.get("train", {}))
    if "betas" in train:
        train["betas"] = tuple(float(b) for b in train["betas"])
    if train.get("init_from"):
        train["init_from"] = path(train["init_from"])
    parts = {}
    for p in ("face", "head"):
        sec = d.get(p)
        if sec is not None:
            sec = dict(sec)
            if not sec.pop("enabled", True):
                sec = None
            else:
                bad = sorted(set(sec) - _DENOISER_KEYS)
                if bad:
                    raise TrainError(f"unknown key(s) in [{p}]: {', '.join(bad)} (allowed: enabled, "
                                     f"{', '.join(sorted(_DENOISER_KEYS))})")
                if "ch_mult" in sec:
                    sec["ch_mult"] = tuple(sec["ch_mult"])
        parts[p] = sec
    if parts["face"] is None and parts["head"] is None:
        raise TrainError("the training config trains nothing: add a [face] and/or a [head] table")
    out = dict(d.get("output", {}))
    bad = sorted(set(out) - {"run_dir", "bundle"})
    if bad:
        raise TrainError(f"unknown key(s) in [output]: {', '.join(bad)} (allowed: run_dir, bundle)")
    head_stats = str(d.get("head_stats", "auto"))
    if head_stats not in ("auto", "data", "3diface"):
        raise TrainError(f"head_stats must be 'auto', 'data' or '3diface', got {head_stats!r}")
    try:
        diffusion = DiffusionConfig.from_dict(dict(d.get("diffusion", {})))
        masks = MaskConfig.from_dict(dict(d.get("masks", {})))
    except ValueError as e:
        raise TrainError(f"invalid training config: {e}") from None
    cfg = TrainConfig(
        data=_fill(DataConfig, data, "data"),
        audio_encoder=audio_spec,
        face=parts["face"], head=parts["head"], diffusion=diffusion, masks=masks,
        optim=_fill(OptimConfig, train, "train"),
        loss=_fill(LossConfig, dict(d.get("loss", {})), "loss"),
        run_dir=path(out.get("run_dir", "runs/default")),
        bundle_dir=path(out["bundle"]) if out.get("bundle") else None,
        name=str(d.get("name", "diface model")), description=str(d.get("description", "")),
        head_stats=head_stats, std_floor=None if d.get("std_floor") is None else float(d["std_floor"]),
        sampling=dict(d.get("sampling", {"sampler": "dpmpp", "steps": 20, "guidance": 1.0})), source=source)
    o = cfg.optim
    if o.steps < 1 or o.batch_size < 1 or o.lr <= 0:
        raise TrainError("[train] needs steps >= 1, batch_size >= 1 and lr > 0")
    if o.lr_schedule not in ("cosine", "constant"):
        raise TrainError(f"[train] lr_schedule must be 'cosine' or 'constant', got {o.lr_schedule!r}")
    if not 0 <= o.ema_decay < 1:
        raise TrainError("[train] ema_decay must be in [0, 1)")
    if cfg.data.window_seconds <= 0 or cfg.data.fps <= 0:
        raise TrainError("[data] window_seconds and fps must be positive")
    if cfg.data.sampler not in ("random", "epoch"):
        raise TrainError(f"[data] sampler must be 'random' or 'epoch', got {cfg.data.sampler!r}")
    if isinstance(cfg.data.num_workers, bool) or not isinstance(cfg.data.num_workers, int) \
            or not 0 <= cfg.data.num_workers <= 64:
        raise TrainError("[data] num_workers must be a whole number from 0 to 64")
    if isinstance(o.grad_accum, bool) or not isinstance(o.grad_accum, int) or not 1 <= o.grad_accum <= 4096:
        raise TrainError("[train] grad_accum must be a whole number from 1 to 4096")
    if o.precision not in PRECISIONS:
        raise TrainError(f"[train] precision must be one of {', '.join(PRECISIONS)}, got {o.precision!r}")
    if not 1 <= o.dist_timeout_s <= 86400:
        raise TrainError("[train] dist_timeout_s must be from 1 to 86400 seconds")
    return cfg


def load_train_config(path: str | os.PathLike) -> TrainConfig:
    """Read a TOML training config; paths in it are relative to the file's folder."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise TrainError(f"training config {path} does not exist")
    try:
        d = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise TrainError(f"cannot parse the training config {path}: {e}") from None
    return train_config_from_dict(d, path.parent, source=path.resolve())
