"""Personalisation: teach a trained model a new actor's style from about a minute of their data.

3DiFACE's method: freeze the whole network and fine-tune only the style (identity) map and the
output layer (``decoder.style_map``, ``decoder.out_embed``) on the new actor's clips. The new
style becomes a new identity class: the style map of every adapted part gets one more column
(initialised from the mean of the existing styles, or a chosen one; zero for a model that had no
styles), and its name is appended to the bundle's ``style_names`` (``config.json``), where the
CLI (``--style NAME|INDEX``), the engine and the editor find it.

Everything else (encoder, decoder convolutions, audio projection, audio encoder, normalisation,
diffusion schedule) is copied bit for bit. The output layer is shared by all styles, so, as in
3DiFACE, the adapted bundle is a new model: the other styles move slightly with it.

Training uses the model's own recipe: x0-prediction loss with the velocity term and condition
dropout of its diffusion config, random known-masks (:mod:`diface_editor.ml.masks`), AdamW
without weight decay, deterministic seeds. Data: a folder of ``<name>.wav`` + ``<name>.npz`` pairs
in the model's motion space (native ``.npz``; convert Live Link Face CSVs or research data first).
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from diface_editor.core.errors import DifaceError
from diface_editor.ml.bundle import MotionModel
from diface_editor.ml.denoiser import Denoiser, DenoiserConfig
from diface_editor.ml.device import resolve_device
from diface_editor.ml.masks import MaskConfig, arkit_groups, random_masks
from diface_editor.ml.part import ModelPart

log = logging.getLogger(__name__)

#: The only tensors personalisation changes (per adapted part).
TRAINABLE = ("decoder.style_map.weight", "decoder.out_embed.weight", "decoder.out_embed.bias")

FeatureFn = Callable[[Any, int, float], np.ndarray]


class AdaptError(DifaceError):
    """Personalisation cannot run (bad data folder, style name, parts, ...)."""


@dataclass
class AdaptConfig:
    """Settings of :func:`adapt_model`.

    Attributes:
        style_name: name of the new style (must not exist in the model yet).
        init_style: existing style (name or index) whose column initialises the new one;
            ``None`` = the mean of all styles (zero when the model has none).
        parts: parts to adapt (``None`` = every part of the model; the head is skipped when the
            data has no head motion).
        steps, batch_size, lr: optimisation (AdamW, no weight decay, constant ``lr`` after a
            ``warmup_steps`` linear warm-up).
        window_seconds: training window (``None`` = the model's sampling window, at most 8 s).
        seed: seed of every random choice.
        device: ``"auto"`` (cuda > mps > cpu), ``"cpu"``, ...
    """

    style_name: str = "new_actor"
    init_style: str | int | None = None
    parts: tuple[str, ...] | None = None
    steps: int = 1000
    batch_size: int = 8
    lr: float = 1e-4
    warmup_steps: int = 50
    window_seconds: float | None = None
    seed: int = 0
    device: str = "auto"


@dataclass
class AdaptResult:
    """What :func:`adapt_model` did."""

    model: MotionModel
    style_name: str
    style_index: int
    parts: tuple[str, ...]
    steps: int
    first_loss: float
    last_loss: float
    seconds: float
    clips: int
    minutes: float
    history: list[dict[str, float]] = field(default_factory=list)


# ====================================================================== style map surgery
def extend_style(denoiser: Denoiser, init: int | None) -> Denoiser:
    """A copy of ``denoiser`` with one more style class (weights bit-identical, new column =
    column ``init``, or the mean of the existing columns when ``init`` is None, or zero when it had
    no style map)."""
    cfg = denoiser.config
    new = Denoiser(DenoiserConfig.from_dict({**cfg.to_dict(), "style_classes": cfg.style_classes + 1}))
    state = {k: v.detach().clone() for k, v in denoiser.state_dict().items()}
    K = cfg.style_classes
    ch = cfg.widths()[0]
    if K:
        w = state["decoder.style_map.weight"]
        col = w[:, init:init + 1] if init is not None else w.mean(1, keepdim=True)
        state["decoder.style_map.weight"] = torch.cat([w, col], 1)
    else:
        state["decoder.style_map.weight"] = torch.zeros(ch, 1, dtype=next(denoiser.parameters()).dtype)
    new.load_state_dict(state, strict=True)
    return new.to(denoiser.device)


def _style_index(model: MotionModel, style: str | int | None) -> int | None:
    if style is None:
        return None
    names = tuple(model.style_names)
    if isinstance(style, str) and style in names:
        return names.index(style)
    if isinstance(style, int) or (isinstance(style, str) and style.isdigit()):
        i = int(style)
        n = max((p.denoiser.config.style_classes for p in model.parts.values()), default=0)
        if 0 <= i < n:
            return i
    raise AdaptError(f"unknown style {style!r} to start from; this model has: {', '.join(names) or 'no styles'}")


# ====================================================================== data
@dataclass(eq=False)
class _Clip:
    name: str
    face: np.ndarray
    head: np.ndarray
    feats: np.ndarray


def _load_data(model: MotionModel, data_dir: Path, feature_fn: FeatureFn | None, device) -> list[_Clip]:
    from diface_editor.ml.train import TrainError, find_pairs, load_clips

    try:
        pairs = find_pairs(data_dir)
        names = model.face_channels if model.motion_space == "arkit" and model.has_part("face") else None
        clips, _, space = load_clips(pairs, model.fps, names or None, None)
    except TrainError as e:
        raise AdaptError(str(e)) from None
    if not clips:
        raise AdaptError(f"no <name>.npz + <name>.wav pairs found in {data_dir}")
    if space != model.motion_space:
        raise AdaptError(f"the data in {data_dir} is in the {space} motion space but the model works in "
                         f"{model.motion_space}")
    if model.has_part("face") and clips[0].face.shape[1] != model.part("face").n_channels:
        raise AdaptError(f"the data has {clips[0].face.shape[1]} face channels, the model {model.part('face').n_channels}")
    if feature_fn is None:
        enc = model.build_audio_encoder(device=device)
        feature_fn = enc.features
    out = []
    for c in clips:
        f = np.asarray(feature_fn(c.audio, c.n_frames, model.fps), np.float32)
        out.append(_Clip(c.name, c.face, c.head, f))
    return out


def _batch(rng: np.random.Generator, clips: list[_Clip], parts: dict[str, ModelPart], B: int, W: int,
           masks: MaskConfig, groups, device) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], torch.Tensor]:
    lengths = np.array([len(c.face) for c in clips], np.float64)
    idx = rng.choice(len(clips), size=B, p=lengths / lengths.sum())
    x0, known = {}, {}
    feats = []
    pad = np.zeros((B, W), bool)
    frames = []
    for b, i in enumerate(idx):
        c = clips[i]
        s = int(rng.integers(0, max(len(c.face) - W, 0) + 1))
        fr = np.minimum(np.arange(s, s + W), len(c.face) - 1)
        pad[b] = np.arange(s, s + W) >= len(c.face)
        frames.append((c, fr))
        feats.append(c.feats[fr])
    for name, part in parts.items():
        a = np.stack([part.normalise(getattr(c, name)[fr]) for c, fr in frames])  # (B, W, C)
        m = random_masks(rng, B, W, part.n_channels, masks, groups if name == "face" else None) | pad[:, :, None]
        x0[name] = torch.from_numpy(np.ascontiguousarray(a.transpose(0, 2, 1))).to(device)
        known[name] = torch.from_numpy(np.ascontiguousarray(m.transpose(0, 2, 1))).to(device)
    return x0, known, torch.from_numpy(np.stack(feats)).to(device)


# ====================================================================== adaptation
def adapt_model(model: MotionModel, data_dir: str | os.PathLike, cfg: AdaptConfig | None = None, *,
                feature_fn: FeatureFn | None = None, progress: bool = True) -> AdaptResult:
    """Fine-tune the style map and output layer of ``model``'s parts on ``data_dir`` for a new style.

    ``model`` is not modified: the result holds a new :class:`MotionModel` (save it with
    ``result.model.save(path)``; :func:`run_adaptation` also copies the audio encoder files).

    Raises:
        AdaptError: bad data, style name, parts or settings.
    """
    cfg = cfg or AdaptConfig()
    t0 = time.perf_counter()
    data_dir = Path(data_dir).expanduser()
    name = str(cfg.style_name).strip()
    if not name:
        raise AdaptError("the new style needs a name (--style-name)")
    if name in model.style_names:
        raise AdaptError(f"the model already has a style named {name!r}; choose another --style-name")
    if cfg.steps < 1 or cfg.batch_size < 1 or not cfg.lr > 0:
        raise AdaptError("adaptation needs steps >= 1, batch size >= 1 and a positive learning rate")
    wanted = tuple(cfg.parts) if cfg.parts else tuple(model.parts)
    bad = [p for p in wanted if not model.has_part(p)]
    if bad:
        raise AdaptError(f"the model has no {', '.join(bad)} part to adapt (it has {', '.join(model.parts)})")
    n_styles = {p.denoiser.config.style_classes for p in model.parts.values() if p.denoiser.config.style_classes}
    if len(n_styles) > 1:
        raise AdaptError("the model's parts have different numbers of styles; adapt them separately is not supported")
    init = _style_index(model, cfg.init_style)
    device = resolve_device(cfg.device)
    clips = _load_data(model, data_dir, feature_fn, device)
    if cfg.parts is None and "head" in wanted and all(np.allclose(c.head, 0) for c in clips):
        wanted = tuple(p for p in wanted if p != "head")
        log.info("the data has no head motion: adapting %s only", ", ".join(wanted) or "nothing")
    if not wanted:
        raise AdaptError("nothing to adapt: the data has no head motion and no face part was chosen")

    # every part gets the new style class so the bundle keeps one style list; only `wanted` train
    K = max((p.denoiser.config.style_classes for p in model.parts.values()), default=0)
    new_index = K
    parts: dict[str, ModelPart] = {}
    for pname, part in model.parts.items():
        den = part.denoiser
        if den.config.style_classes == K and (K > 0 or pname in wanted):
            den = extend_style(den, init if K else None)
        else:
            den = _copy_denoiser(den)
        parts[pname] = ModelPart(pname, den, part.normaliser, part.diffusion, part.channel_names,
                                 tuple(model.style_names) + (name,) if den.config.style_classes else ())
    train_parts = {p: parts[p] for p in wanted}
    trainable: list[torch.nn.Parameter] = []
    for pname, part in parts.items():
        for k, prm in part.denoiser.named_parameters():
            prm.requires_grad_(pname in train_parts and k in TRAINABLE)
            if prm.requires_grad:
                trainable.append(prm)
    opt = torch.optim.AdamW(trainable, lr=cfg.lr, weight_decay=0.0)

    fps = float(model.fps)
    win_s = cfg.window_seconds or min(model.window_frames / fps, 8.0)
    W = max(2, int(round(win_s * fps)))
    factor = max(p.denoiser.config.factor for p in parts.values())
    W = -(-W // factor) * factor
    masks = MaskConfig.from_dict(dict(model.training.get("masks") or {})) if model.training.get("masks") else MaskConfig()
    groups = None
    if model.motion_space == "arkit" and model.has_part("face") and parts["face"].denoiser.config.flag_mode == "channel":
        groups = arkit_groups(parts["face"].channel_names)
    onehot = torch.zeros(cfg.batch_size, K + 1, device=device)
    onehot[:, new_index] = 1.0
    for part in train_parts.values():
        part.denoiser.to(device).train()

    history: list[dict[str, float]] = []
    first = last = float("nan")
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=cfg.steps, desc=f"adapt {name}", unit="step", dynamic_ncols=True)
    try:
        for step in range(1, cfg.steps + 1):
            rng = np.random.default_rng([cfg.seed, step])
            gen = torch.Generator().manual_seed(int(rng.integers(0, 2 ** 62)))
            torch.manual_seed(int(rng.integers(0, 2 ** 62)))
            x0, known, audio = _batch(rng, clips, train_parts, cfg.batch_size, W, masks, groups, device)
            for g in opt.param_groups:
                g["lr"] = cfg.lr * min(1.0, step / cfg.warmup_steps) if cfg.warmup_steps > 0 else cfg.lr
            total = None
            for pname, part in train_parts.items():
                den = part.denoiser
                a = audio if den.config.audio_dim > 0 else None
                loss, _ = part.diffusion.training_loss(den, x0[pname], known[pname], audio=a,
                                                       style=onehot, generator=gen)
                total = loss if total is None else total + loss
            opt.zero_grad(set_to_none=True)
            total.backward()
            opt.step()
            val = float(total.detach())
            first = val if step == 1 else first
            last = val
            if step % 10 == 0 or step == cfg.steps:
                history.append({"step": step, "loss": val})
            if bar is not None:
                bar.set_postfix(loss=f"{val:.4f}")
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    for part in parts.values():
        part.denoiser.requires_grad_(True)
        part.denoiser.to("cpu").eval()
    frames = sum(len(c.face) for c in clips)
    recipe = dict(model.training)
    adapt_log = list(recipe.get("adaptations", []))
    adapt_log.append({"style_name": name, "style_index": new_index, "parts": list(wanted),
                      "trainable": list(TRAINABLE), "data": str(data_dir), "clips": len(clips),
                      "minutes": round(frames / fps / 60, 3), "config": {k: v for k, v in asdict(cfg).items()
                                                                        if k not in ("style_name",)},
                      "window_frames": W, "first_loss": first, "last_loss": last})
    recipe["adaptations"] = adapt_log
    new_model = MotionModel(parts=parts, fps=model.fps, motion_space=model.motion_space,
                            audio_encoder=dict(model.audio_encoder), name=f"{model.name} + {name}".strip(" +"),
                            description=model.description, style_names=tuple(model.style_names) + (name,),
                            sampling=dict(model.sampling), training=recipe, metrics=dict(model.metrics))
    return AdaptResult(new_model, name, new_index, wanted, cfg.steps, first, last, time.perf_counter() - t0,
                       len(clips), frames / fps / 60, history)


def _copy_denoiser(den: Denoiser) -> Denoiser:
    new = Denoiser(DenoiserConfig.from_dict(den.config.to_dict()))
    new.load_state_dict({k: v.detach().clone() for k, v in den.state_dict().items()}, strict=True)
    return new


def run_adaptation(model_path: str | os.PathLike, data_dir: str | os.PathLike, out: str | os.PathLike,
                   cfg: AdaptConfig | None = None, *, feature_fn: FeatureFn | None = None,
                   progress: bool = True) -> AdaptResult:
    """Load the bundle at ``model_path``, adapt it (:func:`adapt_model`) and save the new bundle to
    ``out``, copying the audio-encoder files the source bundle keeps in its folder."""
    src = Path(model_path).expanduser()
    out = Path(out).expanduser()
    if out.resolve() == src.resolve():
        raise AdaptError("write the personalised model to a new folder (-o), not over the original")
    model = MotionModel.load(src, device="cpu")
    res = adapt_model(model, data_dir, cfg, feature_fn=feature_fn, progress=progress)
    out.mkdir(parents=True, exist_ok=True)
    for key in ("path", "weights"):
        rel = model.audio_encoder.get(key)
        if isinstance(rel, str) and rel and not Path(rel).is_absolute() and (src / rel).exists():
            dst = out / rel
            if (src / rel).is_dir():
                shutil.copytree(src / rel, dst, dirs_exist_ok=True)
            else:
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(src / rel, dst)
    res.model.save(out)
    return res

