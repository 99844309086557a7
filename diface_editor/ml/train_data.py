"""Training data: (audio, motion) pairs from a folder, their audio features, the train/val split.

A data folder holds pairs ``<name>.npz`` (diface's native animation format) + ``<name>.wav`` (or
another of :data:`AUDIO_SUFFIXES`). Motion is resampled to the model's fps; audio features come
from the configured encoder or a ``feature_fn`` (:data:`FeatureFn`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from diface_editor.ml.train_config import TrainError

log = logging.getLogger(__name__)

#: ``feature_fn(clip: AudioClip, n_frames: int, fps: float) -> (n_frames, D) float32``
FeatureFn = Callable[[Any, int, float], np.ndarray]

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3")

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
