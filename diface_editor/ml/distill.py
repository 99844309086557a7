"""Distilling a bundle's sampler into a one-step student (``diface distill``).

Method: knowledge distillation of the deterministic sampler (Luhman & Luhman 2021, "Knowledge
Distillation in Iterative Generative Models for Improved Sampling Speed"), with the guided teacher
(classifier-free guidance folded in, as in Meng et al. 2023, "On Distillation of Guided Diffusion
Models"). The teacher is the bundle's own recommended sampler (DPM-Solver++(2M), 10 steps, guidance
1.5, per-part temperature): deterministic after its first noise draw, so each starting noise ``x_T``
has one teacher result ``x0*``. The student has the teacher's architecture, starts from its weights
and learns ``f(x_T, t = T-1, audio, known) = x0*`` in a single call. Why this method:

* diface's denoisers already predict x0, so a one-step student is the same network evaluated once;
  no change of parameterisation (consistency models) or halving rounds (progressive distillation).
* In-painting carries over: training windows get the training masks (gaps, keyframes, channel
  groups) with known values from the corpus, the teacher in-paints them, and the student sees the
  same known entries and flags. Known entries are still written back exactly by the sampler.
* Guidance costs one forward pass instead of two: the student is conditional only.

Targets are computed on the fly (no dataset to store): every step draws windows from a corpus split
(``<name>.npz`` + audio pairs, as ``diface train``), runs the teacher on them and regresses the
student (MSE plus the velocity loss of training). Checkpoints (safetensors + JSON) are written
every ``ckpt_every`` steps to the run folder; ``resume=True`` continues from the last (the Adam
moments restart). The result is the teacher bundle copied to ``<run>/bundle`` with
``parts.<part>.student`` entries and ``<part>.student.safetensors`` files.
"""

from __future__ import annotations

import json
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

log = logging.getLogger(__name__)


class DistillError(DifaceError, ValueError):
    """The distillation cannot run (bad model, data or settings)."""


@dataclass
class DistillConfig:
    """Settings of a distillation run (frames at the model's fps; seconds where named ``_s``).

    Attributes:
        model: the teacher bundle folder.
        data: a corpus split folder (``<name>.npz`` + same-named audio).
        out: the run folder (checkpoints, ``log.jsonl``, ``bundle/``).
        parts: parts to distil.
        steps: optimiser steps; batch_size: windows per step; window_s: window length.
        lr: Adam learning rate (the student starts at the teacher's weights).
        velocity_weight: weight of the frame-to-frame velocity loss.
        ema_decay: exponential moving average of the student's weights (exported).
        teacher_sampler, teacher_steps, guidance: the teacher (default: the bundle's recommendation).
        ckpt_every: steps between checkpoints; seed: data and noise seed; num_threads: torch threads.
    """

    model: Path
    data: Path
    out: Path
    parts: tuple[str, ...] = ("face", "head")
    steps: int = 1500
    batch_size: int = 8
    window_s: float | None = None
    lr: float = 5e-5
    velocity_weight: float = 1.0
    ema_decay: float = 0.995
    teacher_sampler: str | None = None
    teacher_steps: int | None = None
    guidance: float | None = None
    ckpt_every: int = 100
    seed: int = 0
    num_threads: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _teacher_settings(cfg: DistillConfig, model) -> tuple[str, int, float, dict[str, float]]:
    rec = dict(model.sampling or {})
    sampler = cfg.teacher_sampler or rec.get("sampler", "dpmpp")
    if sampler not in ("dpmpp", "ddim"):
        raise DistillError(f"the teacher must be a deterministic few-step sampler (dpmpp or ddim), not {sampler}")
    steps = int(cfg.teacher_steps or (rec.get("steps") if rec.get("sampler") == sampler else 0) or 10)
    guidance = float(cfg.guidance if cfg.guidance is not None else rec.get("guidance", 1.0))
    temp = rec.get("temperature", 1.0)
    tau = {p: float(temp.get(p, 1.0) if isinstance(temp, dict) else temp) for p in model.parts}
    return sampler, steps, guidance, tau


class _Data:
    """Training windows: normalised motion, masks and audio features of a corpus split."""

    def __init__(self, model, folder: Path, W: int) -> None:
        from diface_editor.ml.masks import MaskConfig, arkit_groups
        from diface_editor.ml.train_data import find_pairs, load_clips

        pairs = find_pairs(Path(folder))
        if not pairs:
            raise DistillError(f"{folder} holds no training pairs (<name>.npz with a same-named audio file)")
        names = tuple(model.face_channels) if model.motion_space == "arkit" else None
        self.clips, _, space = load_clips(pairs, float(model.fps), names, model.motion_space)
        if space != model.motion_space:
            raise DistillError(f"the data is in {space} space, the model in {model.motion_space}")
        enc = model.build_audio_encoder()  # the features the engine gives the model (trained encoders included)
        t0 = time.perf_counter()
        for c in self.clips:
            with torch.no_grad():
                c.feats = np.asarray(enc.features(c.audio, c.n_frames, float(model.fps)), np.float32)
        log.info("distill data: %d clips, %.1f min, features in %.0f s", len(self.clips),
                 sum(c.n_frames for c in self.clips) / model.fps / 60, time.perf_counter() - t0)
        self.model, self.W = model, W
        masks = dict((model.training or {}).get("masks") or {})
        self.mask_cfg = MaskConfig.from_dict(masks) if masks else MaskConfig()
        self.groups = arkit_groups(names) if names else None

    def batch(self, rng: np.random.Generator, B: int) -> dict[str, Any]:
        from diface_editor.ml.masks import random_masks

        W = self.W
        lengths = np.array([c.n_frames for c in self.clips], np.float64)
        idx = rng.choice(len(self.clips), size=B, p=lengths / lengths.sum())
        out: dict[str, Any] = {}
        starts = []
        for i in idx:
            c = self.clips[i]
            starts.append(int(rng.integers(0, max(c.n_frames - W, 0) + 1)))
        frames = [np.minimum(np.arange(s, s + W), self.clips[i].n_frames - 1) for i, s in zip(idx, starts)]
        out["audio"] = torch.from_numpy(np.stack([self.clips[i].feats[f] for i, f in zip(idx, frames)]))
        for pname, part in self.model.parts.items():
            x = np.stack([part.normaliser.normalise(getattr(self.clips[i], pname)[f]) for i, f in zip(idx, frames)])
            m = random_masks(rng, B, W, part.n_channels, self.mask_cfg, self.groups if pname == "face" else None)
            out[pname] = (torch.from_numpy(np.ascontiguousarray(x.transpose(0, 2, 1))).float(),
                          torch.from_numpy(np.ascontiguousarray(m.transpose(0, 2, 1))))
        return out


def _student_x0(part, student, x_t, known, mask, audio, t: int) -> torch.Tensor:
    from diface_editor.ml.diffusion import known_flags

    flags = known_flags(mask, part.denoiser.config.flag_mode)
    x_in = torch.where(mask, known, x_t)
    tt = torch.full((x_t.shape[0],), t, dtype=torch.long)
    x0 = student(x_in, tt, flags, audio, None, None)
    clip = part.diffusion.config.clip_x0
    if clip is not None:
        x0 = x0.clamp(-clip, clip)
    return torch.where(mask, known, x0)


def _loss(pred, target, mask, vw: float) -> tuple[torch.Tensor, float]:
    free = (~mask).float()
    n = free.sum().clamp(min=1.0)
    mse = (((pred - target) ** 2) * free).sum() / n
    if vw > 0:
        dv = (pred[..., 1:] - pred[..., :-1]) - (target[..., 1:] - target[..., :-1])
        vel = (dv ** 2).mean()
        return mse + vw * vel, float(mse.detach())
    return mse, float(mse.detach())


def _save_ckpt(run: Path, step: int, students: dict, ema: dict, cfg: DistillConfig) -> None:
    from safetensors.torch import save_file

    run.mkdir(parents=True, exist_ok=True)
    for p, net in students.items():
        for tag, state in (("student", net.state_dict()), ("ema", ema[p])):
            tmp = run / f".{p}.{tag}.safetensors.tmp"
            save_file({k: v.detach().cpu().contiguous() for k, v in state.items()}, str(tmp))
            os.replace(tmp, run / f"{p}.{tag}.safetensors")
    meta = {"step": step, "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(cfg).items()}}
    tmp = run / ".checkpoint.json.tmp"
    tmp.write_text(json.dumps(meta, indent=1))
    os.replace(tmp, run / "checkpoint.json")


def run_distillation(cfg: DistillConfig, *, resume: bool = False,
                     progress: Callable[[int, int, dict], None] | None = None) -> Path:
    """Distil ``cfg.model`` (see the module docstring); returns the folder of the bundle with students."""
    from safetensors.torch import load_file

    from diface_editor.ml.bundle import MotionModel
    from diface_editor.ml.denoiser import Denoiser
    from diface_editor.ml.sampling import sample

    if cfg.num_threads:
        torch.set_num_threads(int(cfg.num_threads))
    teacher = MotionModel.load(cfg.model, device="cpu").eval()
    parts = [p for p in cfg.parts if p in teacher.parts]
    if not parts:
        raise DistillError(f"the model has none of the parts {', '.join(cfg.parts)}")
    sampler, t_steps, guidance, tau = _teacher_settings(cfg, teacher)
    factor = max(teacher.part(p).denoiser.config.factor for p in parts)
    window_s = cfg.window_s or float((teacher.sampling or {}).get("window_s") or 6.4)
    W = -(-int(round(window_s * teacher.fps)) // factor) * factor
    run = Path(cfg.out)
    run.mkdir(parents=True, exist_ok=True)
    students: dict[str, torch.nn.Module] = {}
    ema: dict[str, dict[str, torch.Tensor]] = {}
    start = 0
    for p in parts:
        net = Denoiser(teacher.part(p).denoiser.config)
        net.load_state_dict(teacher.part(p).denoiser.state_dict())
        if resume and (run / f"{p}.student.safetensors").is_file():
            net.load_state_dict(load_file(str(run / f"{p}.student.safetensors")))
        students[p] = net.train()
        e = run / f"{p}.ema.safetensors"
        ema[p] = (load_file(str(e)) if resume and e.is_file()
                  else {k: v.detach().clone() for k, v in net.state_dict().items()})
    if resume and (run / "checkpoint.json").is_file():
        start = int(json.loads((run / "checkpoint.json").read_text())["step"])
        log.info("resuming at step %d", start)
    data = _Data(teacher, Path(cfg.data), W)
    params = [q for net in students.values() for q in net.parameters()]
    opt = torch.optim.Adam(params, lr=cfg.lr)
    T = {p: teacher.part(p).diffusion.num_train_steps for p in parts}
    logf = (run / "log.jsonl").open("a", encoding="utf-8")
    t_start = time.perf_counter()
    for step in range(start, cfg.steps):
        rng = np.random.default_rng([cfg.seed, step])
        b = data.batch(rng, cfg.batch_size)
        audio = b["audio"]
        logs: dict[str, float] = {}
        opt.zero_grad(set_to_none=True)
        total = None
        for i, p in enumerate(parts):
            part = teacher.part(p)
            known, mask = b[p]
            known = torch.where(mask, known, torch.zeros(()))
            seed = int(np.random.default_rng([cfg.seed, step, i]).integers(2**62))
            g = torch.Generator().manual_seed(seed)
            x_t = part.diffusion.sample_noise(tuple(known.shape), g) * tau[p]
            with torch.no_grad():
                target = sample(part, known, mask, audio, sampler=sampler, steps=t_steps, guidance=guidance,
                                generator=torch.Generator().manual_seed(seed), temperature=tau[p])
            pred = _student_x0(part, students[p], x_t, known, mask, audio, T[p] - 1)
            loss, mse = _loss(pred, target, mask, cfg.velocity_weight)
            logs[f"{p}_mse"] = mse
            total = loss if total is None else total + loss
        total.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        with torch.no_grad():
            for p, net in students.items():
                for k, v in net.state_dict().items():
                    if v.dtype.is_floating_point:
                        ema[p][k].mul_(cfg.ema_decay).add_(v.detach(), alpha=1 - cfg.ema_decay)
                    else:
                        ema[p][k].copy_(v)
        done = step + 1
        logs.update(step=done, loss=float(total.detach()), s=round(time.perf_counter() - t_start, 1))
        logf.write(json.dumps(logs) + "\n")
        logf.flush()
        if progress is not None:
            progress(done, cfg.steps, logs)
        if done % cfg.ckpt_every == 0 or done == cfg.steps:
            _save_ckpt(run, done, students, ema, cfg)
    logf.close()
    return export_students(teacher, run, parts, {"method": "knowledge distillation of the guided sampler "
                                                           "(Luhman & Luhman 2021; guidance folded in, Meng et al. 2023)",
                                                 "teacher": {"sampler": sampler, "steps": t_steps,
                                                             "guidance": guidance, "temperature": tau},
                                                 "t": None, "train_steps": cfg.steps, "data": str(cfg.data)})


def export_students(teacher, run: Path, parts: list[str], info: dict[str, Any]) -> Path:
    """Copy the teacher bundle to ``run/bundle`` with the EMA students of ``run`` attached; returns it."""
    from safetensors.torch import load_file

    from diface_editor.ml.denoiser import Denoiser

    out = run / "bundle"
    src = Path(teacher.path) if teacher.path else None
    if out.exists():
        shutil.rmtree(out)
    for p in parts:
        part = teacher.part(p)
        net = Denoiser(part.denoiser.config)
        net.load_state_dict(load_file(str(run / f"{p}.ema.safetensors")))
        part.student = net.eval()
        part.student_info = {**info, "t": int(part.diffusion.num_train_steps) - 1,
                             "temperature": info["teacher"]["temperature"].get(p, 1.0)}
    teacher.save(out)
    if src is not None:  # carry the bundle's other files (model card figures, eval JSON)
        for f in src.iterdir():
            if f.is_file() and not (out / f.name).exists():
                shutil.copy2(f, out / f.name)
    log.info("wrote %s", out)
    return out
