"""Training checkpoints (``<run_dir>/checkpoints/step_XXXXXXXX/``, no pickles) and starting weights.

A checkpoint folder holds ``model.safetensors`` and ``ema.safetensors`` (keys ``face.*``, ``head.*``,
``audio.*``: :func:`_full_state` of the trainer), ``optimizer.safetensors`` + ``optimizer.json``
(AdamW moments and hyper-parameters) and ``state.json`` (step, losses, normalisation, architecture,
history, recipe). It is written to a temporary folder and renamed, so a crash never leaves half a
checkpoint. ``[train] init_from`` starts a run from a checkpoint's or a bundle's weights.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from safetensors.torch import load_file, save_file

from diface_editor.core.errors import DifaceError
from diface_editor.ml.bundle import MotionModel
from diface_editor.ml.normalisation import Normaliser
from diface_editor.ml.train_config import TrainError

if TYPE_CHECKING:  # the trainer lives in ml.train, which imports this module
    from diface_editor.ml.train import Trainer

log = logging.getLogger(__name__)


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


def _architecture(trainer: Trainer) -> dict[str, Any]:
    return {n: p.denoiser.config.to_dict() for n, p in trainer.parts.items()}


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


def _restore_checkpoint(ckpt_dir: Path, trainer: Trainer, opt: torch.optim.Optimizer, device: torch.device,
                        load_ema: bool) -> dict[str, torch.Tensor] | None:
    """Load a checkpoint's weights into ``trainer`` and its AdamW state into ``opt``; returns its EMA
    weights (None when ``load_ema`` is False or the checkpoint has none)."""
    _load_full_state(trainer, load_file(str(ckpt_dir / "model.safetensors"), device=str(device)))
    ema = None
    if load_ema and (ckpt_dir / "ema.safetensors").is_file():
        ema = load_file(str(ckpt_dir / "ema.safetensors"), device=str(device))
    meta = json.loads((ckpt_dir / "optimizer.json").read_text(encoding="utf-8"))
    opt.load_state_dict(_optimizer_from(load_file(str(ckpt_dir / "optimizer.safetensors")), meta))
    return ema
