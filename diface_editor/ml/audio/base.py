"""The audio-encoder interface shared by every encoder, with the crop/interpolate logic.

Time conventions (all times in seconds from the start of the clip):

* motion frame ``i`` of a clip sampled at ``fps`` is at ``t = i / fps`` (frame 0 at 0 s);
* raw frame ``j`` of :meth:`AudioEncoder.raw_features` is at ``t = raw_offset + j / raw_rate``;
* the encoder's *native* output (50 Hz for every encoder here) is sampled at the motion frame
  times by linear interpolation, clamped at both ends (frames past the end of the audio repeat
  the last feature). This is 3DiFACE's "interpolate the 50 Hz features to the motion frame
  count", anchored in time instead of stretched to the count, so the feature of frame ``i``
  never depends on how many frames follow it: a slice of the features of a whole clip equals the
  features of a crop of that clip's raw features (local edits and training crops see exactly what
  whole-clip inference sees).

The work is split in two so training can backpropagate through trainable encoders and cache the
rest:

* ``raw_features(clip) -> (T_raw, raw_dim)``: the fixed, non-trainable part, cached per clip
  (log-mel for ``logmel``; the whole frozen network output for ``whisper``/``hf``).
* ``forward(seg, times) -> (B, T, dim)``: the torch part (the trainable conv stack for
  ``logmel``, only the interpolation for frozen encoders), run on fixed-size crops made by
  :meth:`AudioEncoder.crop` so a batch of random training windows stacks into one tensor.

``features(clip, n_frames, fps)`` is exactly ``forward(crop(raw_features(clip), 0, n_frames,
fps))`` without gradients, cached.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from diface_editor.core.errors import DifaceError

log = logging.getLogger(__name__)

#: Held while transformers is imported or a transformers model is built: its lazy module imports are
#: not safe when two threads do them at once (the engine warms the encoder up on one thread while a
#: job may load another transformers model on its own), which fails as "partially initialized module".
TRANSFORMERS_LOCK = threading.RLock()

#: ``progress(done, total)`` callback type (analysis windows done / total).
Progress = Callable[[int, int], None]

#: Every encoder here consumes 16 kHz mono audio.
SAMPLE_RATE = 16000


class AudioEncoderError(DifaceError, ValueError):
    """An audio encoder cannot be built or used (bad spec, missing checkpoint, bad arguments)."""


def spec_hash(d: dict[str, Any], n: int = 10) -> str:
    """Short stable hash of a JSON-able dict (sorted keys)."""
    return hashlib.sha256(json.dumps(d, sort_keys=True, default=str).encode()).hexdigest()[:n]


def as_clip(clip):
    """An AudioClip from an AudioClip or a ``(samples, rate)`` pair."""
    if isinstance(clip, tuple) and len(clip) == 2:
        from diface_editor.core.audio import AudioClip

        return AudioClip.from_array(np.asarray(clip[0]), int(clip[1]))
    if not (hasattr(clip, "resampled") and hasattr(clip, "sha256")):
        raise AudioEncoderError(f"expected an AudioClip or a (samples, rate) pair, got {type(clip).__name__}")
    return clip


def clip_samples(clip) -> np.ndarray:
    """(N,) float32 samples of an AudioClip at 16 kHz (resampled once per clip object)."""
    return np.asarray(clip.resampled(SAMPLE_RATE), dtype=np.float32)


def interpolate_at(x: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
    """Linear interpolation of ``x`` (B, L, D) at fractional frame positions ``pos`` (B, T).

    Positions outside ``[0, L-1]`` are clamped (edge values repeat). Differentiable in ``x``.
    Returns (B, T, D).
    """
    L = x.shape[1]
    p = pos.to(x.dtype).clamp(0, L - 1)
    i0 = p.floor().long().clamp(0, L - 1)
    i1 = (i0 + 1).clamp(max=L - 1)
    w = (p - i0.to(p.dtype)).unsqueeze(-1)
    D = x.shape[2]
    g0 = torch.gather(x, 1, i0.unsqueeze(-1).expand(-1, -1, D))
    g1 = torch.gather(x, 1, i1.unsqueeze(-1).expand(-1, -1, D))
    return g0 * (1 - w) + g1 * w


class AudioEncoder(ABC):
    """A pluggable audio encoder: 16 kHz audio -> motion-rate features.

    Attributes:
        kind: ``"logmel"``, ``"whisper"`` or ``"hf"``.
        id: stable identifier of everything that determines the features (type, version,
            config hash, weights hash; for trainable encoders :meth:`features` adds the current
            weights hash). Used as cache key.
        dim: feature size D of :meth:`features` / :meth:`forward`.
        raw_dim: size of one raw frame; raw_rate: raw frames per second; raw_offset: time (s)
            of raw frame 0.
        native_rate: frames per second of the encoder output before interpolation (50).
        trainable: whether :meth:`module` has parameters to train with the motion model.
        margin: raw frames of context kept on each side of a crop (covers the receptive field).
        stride: crops start on multiples of this many raw frames (keeps strided convs aligned).
        disk_cache: whether raw features are worth keeping in the on-disk cache.
    """

    kind: str = ""
    raw_rate: float = 50.0
    raw_offset: float = 0.0
    native_rate: float = 50.0
    trainable: bool = False
    margin: int = 2
    stride: int = 1
    disk_cache: bool = False

    def __init__(self, *, id: str, dim: int, raw_dim: int, device: torch.device, cache=None) -> None:
        self.id = id
        self.dim = int(dim)
        self.raw_dim = int(raw_dim)
        self.device = device
        self._cache = cache

    # ------------------------------------------------------------------ to implement
    @abstractmethod
    def _compute_raw(self, samples: np.ndarray, progress: Progress | None = None) -> np.ndarray:
        """(N,) float32 16 kHz samples -> (T_raw, raw_dim) float32; calls ``progress(done, total)``."""

    def _native(self, seg: torch.Tensor) -> torch.Tensor:
        """(B, L, raw_dim) raw crop -> (B, L_native, dim) native-rate features, native frame k at
        ``k / native_rate`` seconds after the crop's raw frame 0. Frozen encoders: identity."""
        return seg

    @abstractmethod
    def spec(self) -> dict[str, Any]:
        """The spec dict that rebuilds this encoder with :func:`~diface_editor.ml.audio.get_encoder`."""

    def warm_up(self) -> None:
        """Pay the first-call costs (torch kernels, weights paged in) before the first real clip.
        Caches nothing. Default: nothing to do."""
        return None

    # ------------------------------------------------------------------ trainable part
    def module(self) -> nn.Module | None:
        """The trainable ``nn.Module`` (``None`` for frozen encoders)."""
        return None

    def state_dict(self) -> dict[str, torch.Tensor]:
        """Trainable weights (empty for frozen encoders); save them in the model bundle."""
        m = self.module()
        return {} if m is None else m.state_dict()

    def load_state_dict(self, sd: dict[str, torch.Tensor]) -> None:
        """Load trainable weights saved with :meth:`state_dict` (strict)."""
        m = self.module()
        if m is None:
            if sd:
                raise AudioEncoderError(f"the {self.kind} audio encoder is frozen and has no weights to load")
            return
        m.load_state_dict(sd, strict=True)

    def weights_hash(self) -> str:
        """Hash of the current trainable weights ("" for frozen encoders)."""
        m = self.module()
        if m is None:
            return ""
        sd = m.state_dict()
        # tensors count their in-place changes (optimiser steps, load_state_dict): rehash only then
        stamp = tuple((k, id(t), t._version) for k, t in sd.items())
        if getattr(self, "_wh_stamp", None) == stamp:
            return self._wh
        h = hashlib.sha256()
        for k, t in sorted(sd.items()):
            h.update(k.encode())
            h.update(t.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
        self._wh_stamp, self._wh = stamp, h.hexdigest()[:16]
        return self._wh

    def to(self, device: str | torch.device) -> AudioEncoder:
        from diface_editor.ml.device import resolve_device

        self.device = resolve_device(device)
        m = self.module()
        if m is not None:
            m.to(self.device)
        return self

    # ------------------------------------------------------------------ cache
    @property
    def cache(self):
        if self._cache is None:
            from diface_editor.ml.audio.cache import default_cache

            self._cache = default_cache()
        return self._cache

    # ------------------------------------------------------------------ public API
    def raw_features(self, clip, *, progress: Progress | None = None) -> np.ndarray:
        """Fixed (non-trainable) features of a whole clip, (T_raw, raw_dim) float32, read-only, cached.

        ``clip``: an :class:`~diface_editor.core.audio.AudioClip` (or a ``(samples, rate)`` pair).
        ``progress(done, total)`` is called after each batch of analysis windows when the features
        are computed (not on a cache hit); an exception it raises (e.g. to cancel) propagates and
        nothing is cached.
        """
        clip = as_clip(clip)  # resampled only when the cache misses
        return self.cache.get_or_compute(("raw", self.id, clip.sha256),
                                         lambda: self._compute_raw(clip_samples(clip), progress),
                                         disk=self.disk_cache)

    def crop_length(self, n_frames: int, fps: float) -> int:
        """Raw frames in a crop for ``n_frames`` motion frames at ``fps`` (independent of the start)."""
        span = math.ceil(max(n_frames - 1, 0) / fps * self.raw_rate)
        L = span + 2 * self.margin + 2 * self.stride + 2
        return -(-L // self.stride) * self.stride

    def crop(self, raw: np.ndarray, start_frame: int, n_frames: int, fps: float) -> tuple[np.ndarray, np.ndarray]:
        """Raw frames for motion frames ``start_frame .. start_frame + n_frames - 1``.

        Returns ``(seg (L, raw_dim) float32, times (n_frames,) float32)``: ``L`` depends only on
        ``n_frames`` and ``fps`` (so crops of many clips stack into a batch), ``times`` are the
        motion frame times in seconds after the time of ``seg[0]``. Raw frames before the clip or
        past its end repeat the first/last frame.
        """
        if n_frames <= 0 or fps <= 0:
            raise AudioEncoderError(f"need n_frames > 0 and fps > 0, got n_frames={n_frames}, fps={fps}")
        raw = np.asarray(raw, dtype=np.float32)
        t0 = start_frame / fps
        j0 = math.floor((t0 - self.raw_offset) * self.raw_rate + 1e-6) - self.margin
        j0 = (j0 // self.stride) * self.stride
        L = self.crop_length(n_frames, fps)
        idx = np.clip(np.arange(j0, j0 + L), 0, raw.shape[0] - 1)
        seg = raw[idx]
        seg_t0 = self.raw_offset + j0 / self.raw_rate
        times = (np.arange(start_frame, start_frame + n_frames, dtype=np.float64) / fps - seg_t0).astype(np.float32)
        return seg, times

    def forward(self, seg: torch.Tensor, times: torch.Tensor) -> torch.Tensor:
        """Torch path: crops ``seg`` (B, L, raw_dim) and ``times`` (B, T) from :meth:`crop` ->
        (B, T, dim). Differentiable through :meth:`module` for trainable encoders."""
        native = self._native(seg)
        return interpolate_at(native, times * self.native_rate)

    def _weights_tag(self) -> str:
        return self.weights_hash() if self.trainable else ""

    def features(self, clip, n_frames: int, fps: float, *, progress: Progress | None = None) -> np.ndarray:
        """Motion-rate features of a clip: (n_frames, dim) float32, read-only, cached.

        Frame ``i`` is at ``i / fps`` seconds; frames past the end of the audio repeat the last
        feature. Computed without gradients (encoder in eval mode). ``progress``: see
        :meth:`raw_features`.
        """
        n_frames, fps = int(n_frames), float(fps)
        clip = as_clip(clip)
        key = ("feat", self.id, self._weights_tag(), clip.sha256, n_frames, repr(fps))

        def compute() -> np.ndarray:
            raw = self.raw_features(clip, progress=progress)
            seg, times = self.crop(raw, 0, n_frames, fps)
            m = self.module()
            was_training = m.training if m is not None else False
            if m is not None:
                m.eval()
            try:
                with torch.no_grad():
                    out = self.forward(torch.from_numpy(seg)[None].to(self.device),
                                       torch.from_numpy(times)[None].to(self.device))
            finally:
                if m is not None and was_training:
                    m.train()
            return out[0].to("cpu", torch.float32).numpy()

        return self.cache.get_or_compute(key, compute, disk=False)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(id={self.id!r}, dim={self.dim})"
