"""Training a motion model (face and/or head denoisers) on a folder of (audio, motion) pairs.

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

Checkpoints (``<run_dir>/checkpoints/step_XXXXXXXX/``, no pickles): ``model.safetensors`` and
``ema.safetensors`` (keys ``face.*``, ``head.*``, ``audio.*``), ``optimizer.safetensors`` +
``optimizer.json`` (AdamW moments and hyper-parameters), ``state.json`` (step, losses,
normalisation, architecture).
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import time
import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from diface_editor.core.arkit import HEAD_NAMES
from diface_editor.core.errors import DifaceError
from diface_editor.core.strict_dict import field_names, unknown_keys
from diface_editor.ml.bundle import MotionModel
from diface_editor.ml.denoiser import Denoiser, DenoiserConfig
from diface_editor.ml.device import resolve_device
from diface_editor.ml.diffusion import DiffusionConfig, GaussianDiffusion
from diface_editor.ml.masks import MaskConfig, arkit_groups, random_masks
from diface_editor.ml.normalisation import Normaliser
from diface_editor.ml.part import ModelPart

log = logging.getLogger(__name__)

#: ``feature_fn(clip: AudioClip, n_frames: int, fps: float) -> (n_frames, D) float32``
FeatureFn = Callable[[Any, int, float], np.ndarray]

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3")


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
    """

    dir: Path = Path("data")
    val_dir: Path | None = None
    val_fraction: float = 0.1
    window_seconds: float = 6.0
    fps: float = 30.0


@dataclass
class OptimConfig:
    """``[train]``: optimisation and bookkeeping.

    Attributes:
        steps: total optimisation steps.
        batch_size: windows per step.
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
                     "train": asdict(self.optim), "loss": asdict(self.loss), "head_stats": self.head_stats, "std_floor": self.std_floor,
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


# ====================================================================== data
@dataclass(eq=False)
class Clip:
    """One training pair: motion in its own units plus the audio (and prepared features)."""

    name: str
    face: np.ndarray          # (T, C)
    head: np.ndarray          # (T, 3)
    audio: Any                # AudioClip
    feats: Any = None         # per-clip features (see FeatureSource)

    @property
    def n_frames(self) -> int:
        return int(self.face.shape[0])


def find_pairs(folder: Path) -> list[tuple[str, Path, Path]]:
    """``(name, npz, audio)`` for every ``<name>.npz`` with a same-named audio file, sorted by name."""
    if not folder.is_dir():
        raise TrainError(f"training data folder {folder} does not exist")
    out = []
    for npz in sorted(folder.glob("*.npz")):
        audio = next((npz.with_suffix(s) for s in AUDIO_SUFFIXES if npz.with_suffix(s).is_file()), None)
        if audio is None:
            log.warning("skipping %s: no audio file %s.wav next to it", npz, npz.stem)
            continue
        out.append((npz.stem, npz, audio))
    return out


def load_clips(pairs: list[tuple[str, Path, Path]], fps: float, channel_names: tuple[str, ...] | None,
               space: str | None) -> tuple[list[Clip], tuple[str, ...], str]:
    """Load pairs, resample to ``fps`` and order face channels like ``channel_names`` (from the
    first file when None). Returns ``(clips, channel_names, motion_space)``."""
    from diface_editor.core.audio import AudioClip
    from diface_editor.core.formats import load_animation, resample_animation

    clips = []
    for name, npz, wav in pairs:
        anim = load_animation(npz)
        if abs(anim.fps - fps) > 1e-6:
            anim = resample_animation(anim, fps)
        if space is None:
            space = anim.space
        elif anim.space != space:
            raise TrainError(f"{npz} is in the {anim.space} motion space but the other files are {space}")
        if space == "arkit":
            if channel_names is None:
                channel_names = anim.channel_names
            missing = [n for n in channel_names if n not in anim.channel_names]
            if missing:
                raise TrainError(f"{npz} lacks face channels {', '.join(missing[:5])}")
            anim = anim.reorder_channels(channel_names)
        else:
            channel_names = ()
        if anim.n_frames < 2:
            log.warning("skipping %s: fewer than 2 frames", npz)
            continue
        clips.append(Clip(name, anim.face, anim.head, AudioClip.load(wav)))
    faces = {c.face.shape[1] for c in clips}
    if len(faces) > 1:
        raise TrainError(f"training files have different numbers of face channels: {sorted(faces)}")
    return clips, tuple(channel_names or ()), space or "arkit"


class FeatureSource:
    """Audio features of training windows, from an audio encoder or a plain feature function.

    Frozen encoders and feature functions: whole-clip features are computed once per clip and
    windows are slices of them. Trainable encoders: raw features are cached per clip and every
    batch runs the encoder's torch part on fixed-size crops (gradients flow into it).
    """

    def __init__(self, encoder=None, feature_fn: FeatureFn | None = None):
        if (encoder is None) == (feature_fn is None):
            raise ValueError("give exactly one of encoder or feature_fn")
        self.encoder = encoder
        self.feature_fn = feature_fn
        self.trainable = bool(encoder is not None and getattr(encoder, "trainable", False))
        self.dim: int | None = int(encoder.dim) if encoder is not None else None

    def module(self) -> nn.Module | None:
        return self.encoder.module() if self.trainable else None

    def prepare(self, clip: Clip, fps: float) -> None:
        if self.trainable:
            clip.feats = self.encoder.raw_features(clip.audio)
            return
        fn = self.feature_fn or self.encoder.features
        f = np.asarray(fn(clip.audio, clip.n_frames, fps), np.float32)
        if f.ndim != 2 or f.shape[0] != clip.n_frames:
            raise TrainError(f"audio features of {clip.name} have shape {f.shape}, expected ({clip.n_frames}, D)")
        if self.dim is None:
            self.dim = int(f.shape[1])
        elif f.shape[1] != self.dim:
            raise TrainError(f"audio features of {clip.name} have {f.shape[1]} dims, expected {self.dim}")
        clip.feats = f

    def window(self, clips: list[Clip], starts: list[int], W: int, fps: float, device: torch.device) -> torch.Tensor:
        """(B, W, D) features of frames ``start .. start+W-1`` of each clip (past the end: last frame)."""
        if self.trainable:
            segs, times = zip(*(self.encoder.crop(c.feats, s, W, fps) for c, s in zip(clips, starts)))
            seg = torch.from_numpy(np.stack(segs)).to(device)
            tt = torch.from_numpy(np.stack(times)).to(device)
            return self.encoder.forward(seg, tt)
        out = np.stack([c.feats[np.minimum(np.arange(s, s + W), c.n_frames - 1)] for c, s in zip(clips, starts)])
        return torch.from_numpy(out).to(device)


def split_train_val(pairs: list, fraction: float, seed: int) -> tuple[list, list]:
    """Hold out ``round(fraction * N)`` pairs (at least 1 when ``fraction > 0`` and N >= 2), seeded."""
    n = len(pairs)
    k = int(round(fraction * n))
    if fraction > 0 and n >= 2:
        k = min(max(k, 1), n - 1)
    else:
        k = 0
    order = np.random.default_rng(seed).permutation(n)
    val = sorted(order[:k].tolist())
    return [p for i, p in enumerate(pairs) if i not in set(val)], [pairs[i] for i in val]


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
    def load_data(self) -> None:
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
        for c in self.train_clips + self.val_clips:
            self.features.prepare(c, self.fps)
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
        audio = self.features.window(batch.clips, batch.starts, self.W, self.fps, self.device)
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


# ====================================================================== checkpoints
def _seed_for(seed: int, step: int, salt: int = 0) -> int:
    return int(np.random.default_rng([seed, step, salt]).integers(0, 2 ** 62))


def _list_checkpoints(run_dir: Path) -> list[tuple[int, Path]]:
    d = run_dir / "checkpoints"
    out = []
    if d.is_dir():
        for p in d.iterdir():
            if p.is_dir() and p.name.startswith("step_") and (p / "state.json").is_file():
                try:
                    out.append((int(p.name[5:]), p))
                except ValueError:
                    pass
    return sorted(out)


def _optimizer_tensors(opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    sd = opt.state_dict()
    tensors, scalars = {}, {}
    for idx, st in sd["state"].items():
        for k, v in st.items():
            if isinstance(v, torch.Tensor):
                tensors[f"{idx}.{k}"] = v.detach().to("cpu").contiguous()
            else:
                scalars[f"{idx}.{k}"] = v
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def _optimizer_from(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {}
    for key, v in list(tensors.items()) + list(meta.get("scalars", {}).items()):
        idx, name = key.split(".", 1)
        state.setdefault(int(idx), {})[name] = v
    return {"state": state, "param_groups": meta["param_groups"]}


def save_checkpoint(run_dir: Path, step: int, trainer: Trainer, opt: torch.optim.Optimizer,
                    ema: dict[str, torch.Tensor] | None, state: dict[str, Any], keep: int) -> Path:
    """Write ``<run_dir>/checkpoints/step_<step>/`` atomically (temp folder + rename)."""
    root = run_dir / "checkpoints"
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"step_{step:08d}"
    tmp = root / f".tmp_step_{step:08d}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    model = {k: p.detach().to("cpu").contiguous() for k, p in _full_state(trainer).items()}
    save_file(model, str(tmp / "model.safetensors"))
    if ema is not None:
        save_file({k: v.to("cpu").contiguous() for k, v in ema.items()}, str(tmp / "ema.safetensors"))
    tens, meta = _optimizer_tensors(opt)
    save_file(tens, str(tmp / "optimizer.safetensors"))
    (tmp / "optimizer.json").write_text(json.dumps(meta), encoding="utf-8")
    (tmp / "state.json").write_text(json.dumps(state, indent=2), encoding="utf-8")
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    for _, old in _list_checkpoints(run_dir)[:-max(1, keep)]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def _full_state(trainer: Trainer) -> dict[str, torch.Tensor]:
    out = {}
    for n, m in trainer.modules().items():
        for k, v in m.state_dict().items():
            out[f"{n}.{k}"] = v
    return out


def _load_full_state(trainer: Trainer, state: dict[str, torch.Tensor]) -> None:
    for n, m in trainer.modules().items():
        sub = {k[len(n) + 1:]: v for k, v in state.items() if k.startswith(n + ".")}
        try:
            m.load_state_dict(sub, strict=True)
        except RuntimeError as e:
            raise TrainError(f"the checkpoint's {n} weights do not fit the configured model: {e}") from None


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


def _lr_at(o: OptimConfig, step: int) -> float:
    f = min(1.0, step / o.warmup_steps) if o.warmup_steps > 0 else 1.0
    if o.lr_schedule == "cosine" and o.steps > o.warmup_steps:
        p = min(1.0, max(0.0, (step - o.warmup_steps) / (o.steps - o.warmup_steps)))
        f *= 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * p))
    return o.lr * f


def _architecture(trainer: Trainer) -> dict[str, Any]:
    return {n: p.denoiser.config.to_dict() for n, p in trainer.parts.items()}


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

    Args:
        cfg: the run configuration.
        resume: continue from the newest checkpoint in ``cfg.run_dir`` (a run folder with
            checkpoints and ``resume=False`` is refused so nothing is overwritten by accident).
        feature_fn: use this instead of the configured audio encoder (tests, tools).
        progress: show a tqdm progress bar.
        steps: override ``cfg.optim.steps``.
    Returns:
        :class:`TrainResult`; the bundle is at ``result.bundle``.
    """
    o = cfg.optim
    if steps is not None:
        o.steps = int(steps)
    if o.num_threads > 0:
        torch.set_num_threads(o.num_threads)
    device = resolve_device(o.device)
    existing = _list_checkpoints(cfg.run_dir)
    if existing and not resume:
        raise TrainError(f"the run folder {cfg.run_dir} already has checkpoints (up to step {existing[-1][0]}); "
                         "pass --resume to continue it or choose another [output] run_dir")
    t_start = time.perf_counter()
    features = build_feature_source(cfg, device, feature_fn)
    trainer = Trainer(cfg, features, device)
    trainer.load_data()

    start_step = 0
    ckpt_state: dict[str, Any] | None = None
    if resume and existing:
        ckpt_dir = existing[-1][1]
        ckpt_state = json.loads((ckpt_dir / "state.json").read_text(encoding="utf-8"))
        stats = {n: Normaliser.from_dict(v) for n, v in ckpt_state["normalisation"].items()}
        trainer.build_models(stats)
        if ckpt_state.get("architecture") != _architecture(trainer):
            raise TrainError(f"the checkpoint in {ckpt_dir} was trained with a different architecture than "
                             "the config now describes; restore the config or start a new run_dir")
    elif resume and o.init_from is None:
        log.warning("nothing to resume in %s; starting a new run", cfg.run_dir)
        trainer.build_models()
    elif o.init_from is not None:
        init_state = _init_from(trainer, Path(o.init_from), device)
    else:
        trainer.build_models()

    named = trainer.named_parameters()
    params = [p for _, p in named]
    opt = torch.optim.AdamW(params, lr=o.lr, betas=o.betas, weight_decay=o.weight_decay)
    ema: dict[str, torch.Tensor] | None = None
    history: list[dict[str, float]] = []
    if ckpt_state is not None:
        ckpt_dir = existing[-1][1]
        _load_full_state(trainer, load_file(str(ckpt_dir / "model.safetensors"), device=str(device)))
        if o.ema_decay > 0 and (ckpt_dir / "ema.safetensors").is_file():
            ema = load_file(str(ckpt_dir / "ema.safetensors"), device=str(device))
        meta = json.loads((ckpt_dir / "optimizer.json").read_text(encoding="utf-8"))
        opt.load_state_dict(_optimizer_from(load_file(str(ckpt_dir / "optimizer.safetensors")), meta))
        start_step = int(ckpt_state["step"])
        history = list(ckpt_state.get("history", []))
        log.info("resumed %s at step %d", cfg.run_dir, start_step)
    if o.ema_decay > 0 and ema is None:
        ema = {k: v.detach().clone() for k, v in _full_state(trainer).items()}
    if ckpt_state is None and o.init_from is not None:
        history = [{"step": 0, "init_from": str(o.init_from), "init_step": init_state.get("step")}]

    # fixed validation batches
    val_rng = np.random.default_rng([o.seed, 7919])
    val_batches = [(trainer.make_batch(val_rng, trainer.val_clips, o.batch_size), _seed_for(o.seed, i, 3))
                   for i in range(o.val_batches)] if trainer.val_clips else []

    for m in trainer.modules().values():
        m.train()
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=o.steps, initial=start_step, desc="train", unit="step", dynamic_ncols=True)
    run_logs: list[dict[str, float]] = []
    val_loss: float | None = ckpt_state.get("val_loss") if ckpt_state else None
    train_loss = float("nan")

    def state_dict(step: int) -> dict[str, Any]:
        return {"step": step, "architecture": _architecture(trainer), "train_loss": train_loss,
                "val_loss": val_loss, "history": history, "channel_names": list(trainer.channel_names),
                "motion_space": trainer.space, "feature_dim": trainer.features.dim,
                "normalisation": {n: p.normaliser.to_dict() for n, p in trainer.parts.items()},
                "recipe": cfg.recipe()}

    step = done = saved = start_step
    try:
        for step in range(start_step + 1, o.steps + 1):
            rng = np.random.default_rng([o.seed, step])
            gen = torch.Generator().manual_seed(_seed_for(o.seed, step, 1))
            torch.manual_seed(_seed_for(o.seed, step, 2))  # dropout
            batch = trainer.make_batch(rng, trainer.train_clips, o.batch_size)
            for g in opt.param_groups:
                g["lr"] = _lr_at(o, step)
            loss, logs = trainer.loss(batch, gen)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if o.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(params, o.grad_clip)
            opt.step()
            if ema is not None:
                d = min(o.ema_decay, (1 + step) / (10 + step))
                with torch.no_grad():
                    for k, v in _full_state(trainer).items():
                        if v.dtype.is_floating_point:
                            ema[k].mul_(d).add_(v.detach(), alpha=1 - d)
                        else:
                            ema[k].copy_(v)
            run_logs.append(logs)
            if step % o.log_every == 0 or step == o.steps:
                train_loss = float(np.mean([r["loss"] for r in run_logs]))
                history.append({"step": step, "train_loss": train_loss})
                run_logs = []
                if bar is not None:
                    bar.set_postfix(loss=f"{train_loss:.4f}", lr=f"{_lr_at(o, step):.1e}")
            if val_batches and (step % o.val_every == 0 or step == o.steps):
                val_loss = _with_weights(trainer, ema, lambda: validate(trainer, val_batches))
                history.append({"step": step, "val_loss": val_loss})
                log.info("step %d: val loss %.5f", step, val_loss)
            done = step
            if step % o.ckpt_every == 0 or step == o.steps:
                save_checkpoint(cfg.run_dir, step, trainer, opt, ema, state_dict(step), o.keep_checkpoints)
                saved = step
            if bar is not None:
                bar.update(1)
    except KeyboardInterrupt:
        if done > saved:  # keep the work: `--resume` continues from here
            save_checkpoint(cfg.run_dir, done, trainer, opt, ema, state_dict(done), o.keep_checkpoints)
            log.warning("interrupted: checkpoint saved at step %d; continue with --resume", done)
        raise
    finally:
        if bar is not None:
            bar.close()
    if run_logs:
        train_loss = float(np.mean([r["loss"] for r in run_logs]))
    seconds = time.perf_counter() - t_start
    bundle = export_bundle(trainer, ema, cfg, step, train_loss, val_loss, seconds)
    return TrainResult(bundle, step, train_loss, val_loss, seconds, start_step, history)


def _init_from(trainer: Trainer, ckpt_dir: Path, device: torch.device) -> dict[str, Any]:
    """Build the models with the normalisation of checkpoint ``ckpt_dir`` and load its weights
    (the EMA weights when it has them). Returns the checkpoint's ``state.json``.

    ``ckpt_dir`` may also be a model bundle (a folder with ``config.json``, e.g. ``models/default``):
    its weights and normalisation start the run (see :func:`_init_from_bundle`)."""
    state_file = ckpt_dir / "state.json"
    if not state_file.is_file() and (ckpt_dir / "config.json").is_file():
        return _init_from_bundle(trainer, ckpt_dir, device)
    if not state_file.is_file() or not (ckpt_dir / "model.safetensors").is_file():
        raise TrainError(f"[train] init_from: {ckpt_dir} is not a training checkpoint folder "
                         "(it needs state.json and model.safetensors)")
    state = json.loads(state_file.read_text(encoding="utf-8"))
    stats = {n: Normaliser.from_dict(v) for n, v in state["normalisation"].items()}
    missing = [n for n in ("face", "head") if getattr(trainer.cfg, n) is not None and n not in stats]
    if missing:
        raise TrainError(f"[train] init_from: the checkpoint in {ckpt_dir} has no {' or '.join(missing)} part")
    trainer.build_models(stats)
    if state.get("architecture") != _architecture(trainer):
        raise TrainError(f"[train] init_from: the checkpoint in {ckpt_dir} has a different architecture than "
                         "the config describes")
    weights = ckpt_dir / ("ema.safetensors" if (ckpt_dir / "ema.safetensors").is_file() else "model.safetensors")
    _load_full_state(trainer, load_file(str(weights), device=str(device)))
    log.info("initialised from %s (step %s, %s)", ckpt_dir, state.get("step"), weights.name)
    return state


def _init_from_bundle(trainer: Trainer, bundle_dir: Path, device: torch.device) -> dict[str, Any]:
    """Build the models with the normalisation of the model bundle ``bundle_dir`` and load its
    weights (a bundle holds the EMA weights of its run). Returns ``{"step": the bundle's training
    steps, "bundle": path}``."""
    try:
        model = MotionModel.load(bundle_dir, device="cpu")
    except DifaceError as e:
        raise TrainError(f"[train] init_from: {bundle_dir} is not a usable model bundle: {e}") from None
    missing = [n for n in ("face", "head") if getattr(trainer.cfg, n) is not None and n not in model.parts]
    if missing:
        raise TrainError(f"[train] init_from: the bundle {bundle_dir} has no {' or '.join(missing)} part")
    trainer.build_models({n: p.normaliser for n, p in model.parts.items()})
    state = {f"{n}.{k}": v.to(device) for n, p in model.parts.items() if n in trainer.parts
             for k, v in p.denoiser.state_dict().items()}
    state.update({f"audio.{k}": v.to(device) for k, v in (model.audio_weights or {}).items()})
    _load_full_state(trainer, state)
    step = (model.metrics or {}).get("train_steps")
    log.info("initialised from the bundle %s (trained %s steps)", bundle_dir, step)
    return {"step": step, "bundle": str(bundle_dir)}


def _with_weights(trainer: Trainer, ema: dict[str, torch.Tensor] | None, fn):
    """Run ``fn`` with the EMA weights loaded (if any), then restore the live weights."""
    if ema is None:
        return fn()
    live = {k: v.detach().clone() for k, v in _full_state(trainer).items()}
    _load_full_state(trainer, ema)
    try:
        return fn()
    finally:
        _load_full_state(trainer, live)


def export_bundle(trainer: Trainer, ema: dict[str, torch.Tensor] | None, cfg: TrainConfig, step: int,
                  train_loss: float, val_loss: float | None, seconds: float) -> Path:
    """Write the model bundle (EMA weights when EMA is on) to ``cfg.bundle_path``."""
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
    if trainer.features.encoder is None:
        metrics["note"] = "trained with a custom feature function; the audio_encoder spec may not reproduce it"
    model = MotionModel(parts=parts, fps=cfg.data.fps, motion_space=trainer.space, audio_encoder=spec,
                        audio_weights=audio_w, name=cfg.name, description=cfg.description,
                        sampling={"window_s": cfg.data.window_seconds, **cfg.sampling}, training=cfg.recipe(),
                        metrics=metrics)
    path = model.save(cfg.bundle_path)
    log.info("wrote model bundle %s", path)
    return path
