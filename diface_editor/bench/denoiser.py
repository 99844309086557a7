"""``diface bench denoiser``: speed of the motion denoisers and of sampling one window.

Times, per part (face, head), one forward pass on a window (conditional only, and batched
cond + uncond as classifier-free guidance runs it) and whole :func:`sample_window` calls for the
few-step samplers (optionally DDPM over all 1000 steps). Without ``--model`` the architecture of
``configs/train_default.toml`` is built with random weights (speed does not depend on the weights).
Reports medians (and best) of wall-clock milliseconds after a warm-up; ``threads`` is the torch
CPU thread count used.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default=None, help="a model bundle folder (default: the default training "
                        "config's architecture with random weights)")
    parser.add_argument("--frames", type=int, default=300, help="window length in frames (default 300)")
    parser.add_argument("--repeats", type=int, default=9, help="timed forward passes (default 9)")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch default)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, mps or auto (default cpu)")
    parser.add_argument("--feature-dim", type=int, default=384,
                        help="audio feature size without --model (default 384, Whisper tiny)")
    parser.add_argument("--ddpm", action="store_true", help="also time DDPM over all 1000 steps (slow)")


def _times(fn, repeats: int) -> tuple[float, float]:
    fn()
    ts = []
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return float(np.median(ts)) * 1e3, float(np.min(ts)) * 1e3


def _default_model(feature_dim: int):
    import torch

    from diface_editor.core.arkit import ARKIT_NAMES, HEAD_NAMES
    from diface_editor.core.paths import ROOT
    from diface_editor.ml.bundle import MotionModel
    from diface_editor.ml.denoiser import Denoiser, DenoiserConfig
    from diface_editor.ml.part import ModelPart
    from diface_editor.ml.train import load_train_config

    cfg = load_train_config(ROOT / "configs" / "train_default.toml")
    torch.manual_seed(0)
    parts = {}
    for name, sec, C, names in (("face", cfg.face, 52, ARKIT_NAMES), ("head", cfg.head, 3, HEAD_NAMES)):
        if sec is None:
            continue
        den = Denoiser(DenoiserConfig(in_channels=C, audio_dim=feature_dim, **sec))
        torch.nn.init.normal_(den.decoder.out_embed.weight, std=0.02)
        parts[name] = ModelPart.create(name, den.eval(), diffusion=cfg.diffusion, channel_names=names)
    return MotionModel(parts, name="default architecture (random weights)")


def run(args: argparse.Namespace) -> dict:
    import torch

    from diface_editor.ml.bundle import MotionModel
    from diface_editor.ml.sampling import DEFAULT_STEPS, sample_window

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    model = MotionModel.load(args.model, device=args.device) if args.model else \
        _default_model(args.feature_dim).to(args.device)
    T = int(args.frames)
    rng = np.random.default_rng(0)
    out: dict = {"model": str(args.model or model.name), "frames": T, "threads": torch.get_num_threads(),
                 "device": str(model.device), "parts": {}}
    for name, part in model.parts.items():
        cfg = part.denoiser.config
        C, D = cfg.in_channels, cfg.audio_dim
        dev = part.device
        x = torch.randn(1, C, T, device=dev)
        a = torch.randn(1, T, D, device=dev) if D else None
        flags = torch.zeros(1, cfg.n_flags, T, device=dev) if cfg.n_flags else None
        t = torch.tensor([500], device=dev)
        with torch.inference_mode():
            fwd = _times(lambda: part.denoiser(x, t, flags, a), args.repeats)
            x2, t2 = torch.cat([x, x]), torch.cat([t, t])
            f2 = None if flags is None else torch.cat([flags, flags])
            a2 = None if a is None else torch.cat([a, a])
            drop = torch.tensor([False, True], device=dev)
            fwd_cfg = _times(lambda: part.denoiser(x2, t2, f2, a2, drop), args.repeats)
        feats = rng.normal(size=(T, D)).astype(np.float32) if D else None
        known = np.zeros((T, C), np.float32)
        mask = np.zeros((T, C), bool)
        mask[:30] = True  # context, as in windowed generation
        res = {"parameters": part.denoiser.n_parameters(), "factor": cfg.factor,
               "forward_ms": round(fwd[0], 2), "forward_ms_best": round(fwd[1], 2),
               "forward_cfg_batch2_ms": round(fwd_cfg[0], 2), "forward_cfg_batch2_ms_best": round(fwd_cfg[1], 2)}
        runs = [("dpmpp", DEFAULT_STEPS["dpmpp"], 1.0), ("dpmpp", DEFAULT_STEPS["dpmpp"], 2.0),
                ("ddim", DEFAULT_STEPS["ddim"], 1.0)]
        if args.ddpm:
            runs.append(("ddpm", None, 1.0))
        for sampler, steps, g in runs:
            t0 = time.perf_counter()
            sample_window(part, feats, known, mask, sampler=sampler, steps=steps, guidance=g, seed=0)
            key = f"sample_{sampler}{steps or 1000}_guidance{g:g}_ms"
            res[key] = round((time.perf_counter() - t0) * 1e3, 1)
        out["parts"][name] = res
    try:
        out["load_average"] = [round(v, 2) for v in __import__("os").getloadavg()]
    except OSError:
        pass
    return out
