"""Tiny models and synthetic data for the ml tests (not collected as tests)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from diface_editor.ml.denoiser import Denoiser, DenoiserConfig
from diface_editor.ml.normalisation import Normaliser
from diface_editor.ml.part import ModelPart


def tiny_denoiser(C: int = 5, D: int = 4, seed: int = 0, out_std: float = 0.5, **kw) -> Denoiser:
    """A tiny denoiser with a non-zero (random) output layer, so its predictions depend on the input."""
    torch.manual_seed(seed)
    cfg = DenoiserConfig(**{"in_channels": C, "ch": 8, "ch_mult": (1, 2), "audio_dim": D, "flag_mode": "channel",
                            **kw})
    m = Denoiser(cfg)
    torch.nn.init.normal_(m.decoder.out_embed.weight, std=out_std)
    torch.nn.init.normal_(m.decoder.out_embed.bias, std=0.1)
    return m.eval()


def tiny_part(name: str = "face", C: int = 5, D: int = 4, seed: int = 0, **kw) -> ModelPart:
    rng = np.random.default_rng(seed)
    norm = Normaliser(rng.normal(size=C).astype(np.float32), rng.uniform(0.5, 2, C).astype(np.float32))
    return ModelPart.create(name, tiny_denoiser(C, D, seed, **kw), norm)


def smooth_motion(rng: np.random.Generator, T: int, C: int, fps: float = 30.0) -> np.ndarray:
    t = np.arange(T)[:, None] / fps
    return (0.5 * np.sin(t * rng.uniform(1, 6, C) + rng.uniform(0, 6, C))).astype(np.float32)


def write_pairs(folder: Path, n: int = 4, seed: int = 0, fps: float = 30.0) -> Path:
    """``n`` pairs ``clipK.wav`` (random noise bursts, 16 kHz) + ``clipK.npz`` (smooth random ARKit
    weights and head rotation, native format) of 1.2..2 s."""
    import soundfile as sf

    from diface_editor.core.animation import Animation
    from diface_editor.core.formats import save_animation

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        T = int(fps * rng.uniform(1.2, 2.0))
        sr = 16000
        env = np.repeat(rng.uniform(0, 1, T), sr // int(fps))
        audio = (0.2 * env * rng.standard_normal(env.size)).astype(np.float32)
        sf.write(str(folder / f"clip{i}.wav"), audio, sr)
        face = np.clip(0.4 + smooth_motion(rng, T, 52, fps), 0, 1)
        head = 0.2 * smooth_motion(rng, T, 3, fps)
        save_animation(Animation(fps, face, head), folder / f"clip{i}.npz")
    return folder


def energy_features(clip, n_frames: int, fps: float) -> np.ndarray:
    """A tiny feature function: per-frame RMS energy and its first difference, (n_frames, 2)."""
    s = np.asarray(clip.resampled(16000), np.float32)
    hop = 16000 / fps
    e = np.array([np.sqrt(np.mean(s[int(i * hop):int((i + 1) * hop)] ** 2)) if int(i * hop) < s.size else 0.0
                  for i in range(n_frames)], np.float32)
    return np.stack([e, np.diff(e, prepend=e[:1])], 1).astype(np.float32)
