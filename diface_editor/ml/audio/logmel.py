"""The learned log-mel audio encoder: fixed log-mel front end + a small trainable conv stack.

Works fully offline and is trained together with the motion model.

* Front end (fixed, :meth:`LogMelEncoder.raw_features`): 16 kHz audio, ``torch.stft`` with a
  400-sample Hann window and a 160-sample hop (100 frames/s, frame ``m`` centred at ``m / 100`` s,
  reflect-padded), power spectrum, Whisper's Slaney mel filterbank (0-8 kHz, ``n_mels`` bands),
  ``log10(max(mel, 1e-8))``, scaled ``(x + 4) / 4`` (Whisper's scale, without its per-clip
  maximum so a frame never depends on distant audio). Shape (T_raw, n_mels), ``T_raw = N // 160 + 1``.
* Trainable stack (:meth:`LogMelEncoder.module`, :class:`LogMelNet`): conv k3 (n_mels ->
  channels), GELU, conv k3 stride 2 (-> 50 Hz), GELU, residual blocks (per-frame LayerNorm,
  dilated conv k3, GELU, dropout, 1x1 conv) with dilations ``(1, 2, 4, 8)``, 1x1 conv to ``dim``.
  Receptive field +-0.32 s with the default dilations. Everything is per-frame or convolutional
  (no normalisation over time), so crops and whole clips give the same features.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch
from torch import nn

from diface_editor.ml.audio.base import SAMPLE_RATE, AudioEncoder, AudioEncoderError, Progress, spec_hash

log = logging.getLogger(__name__)

LOGMEL_VERSION = 1
N_FFT = 400
HOP = 160


class _Block(nn.Module):
    def __init__(self, channels: int, dilation: int, dropout: float) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(channels)
        self.conv = nn.Conv1d(channels, channels, 3, padding=dilation, dilation=dilation)
        self.drop = nn.Dropout(dropout)
        self.proj = nn.Conv1d(channels, channels, 1)

    def forward(self, h: torch.Tensor) -> torch.Tensor:  # (B, C, T)
        y = self.norm(h.transpose(1, 2)).transpose(1, 2)
        y = self.proj(self.drop(nn.functional.gelu(self.conv(y))))
        return h + y


class LogMelNet(nn.Module):
    """(B, L, n_mels) log-mel at 100 Hz -> (B, ceil(L / 2), dim) features at 50 Hz."""

    def __init__(self, n_mels: int = 80, channels: int = 64, dim: int = 128,
                 dilations: tuple[int, ...] = (1, 2, 4, 8), dropout: float = 0.0) -> None:
        super().__init__()
        self.inp = nn.Conv1d(n_mels, channels, 3, padding=1)
        self.down = nn.Conv1d(channels, channels, 3, stride=2, padding=1)
        self.blocks = nn.ModuleList([_Block(channels, d, dropout) for d in dilations])
        self.out = nn.Conv1d(channels, dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = nn.functional.gelu(self.inp(x.transpose(1, 2)))
        h = nn.functional.gelu(self.down(h))
        for b in self.blocks:
            h = b(h)
        return self.out(h).transpose(1, 2)


class LogMelEncoder(AudioEncoder):
    """``{"type": "logmel", ...}``: see the module docstring. ``dim`` = spec ``dim`` (default 128)."""

    kind = "logmel"
    raw_rate = SAMPLE_RATE / HOP      # 100 Hz
    raw_offset = 0.0
    native_rate = SAMPLE_RATE / HOP / 2  # 50 Hz
    trainable = True
    stride = 2
    disk_cache = False

    def __init__(self, *, n_mels: int = 80, channels: int = 64, dim: int = 128,
                 dilations: tuple[int, ...] | list[int] = (1, 2, 4, 8), dropout: float = 0.0, seed: int = 0,
                 device: torch.device, cache=None, weights: str | None = None, prefix: str = "") -> None:
        dilations = tuple(int(d) for d in dilations)
        if n_mels < 8 or channels < 1 or dim < 1 or any(d < 1 for d in dilations):
            raise AudioEncoderError(f"bad logmel encoder sizes: n_mels={n_mels}, channels={channels}, dim={dim}, "
                                    f"dilations={dilations}")
        self._cfg = {"n_mels": int(n_mels), "channels": int(channels), "dim": int(dim),
                     "dilations": list(dilations), "dropout": float(dropout), "seed": int(seed)}
        self._weights = (weights, prefix)
        arch = {k: v for k, v in self._cfg.items() if k not in ("dropout", "seed")}
        super().__init__(id=f"logmel-v{LOGMEL_VERSION}:{spec_hash(arch)}", dim=dim, raw_dim=n_mels,
                         device=device, cache=cache)
        self.margin = 2 + 2 * sum(dilations) + 4
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.net = LogMelNet(n_mels, channels, dim, dilations, dropout)
        self.net.to(device)
        from diface_editor.ml.audio.whisper_net import slaney_mel_filters  # transformers' filters, no import of it

        fb = slaney_mel_filters(n_mels, n_fft=N_FFT, sample_rate=SAMPLE_RATE, f_max=SAMPLE_RATE / 2)
        self._fb = torch.from_numpy(np.asarray(fb, np.float32))  # (n_freq, n_mels)

    def spec(self) -> dict[str, Any]:
        out = {"type": "logmel", **self._cfg}
        if self._weights[0]:
            out["weights"] = self._weights[0]
            if self._weights[1]:
                out["prefix"] = self._weights[1]
        return out

    def module(self) -> nn.Module:
        return self.net

    def _compute_raw(self, samples: np.ndarray, progress: Progress | None = None) -> np.ndarray:
        x = torch.from_numpy(np.array(samples, dtype=np.float32))  # a writable copy
        if len(x) <= N_FFT // 2:  # reflect padding needs more samples than half a window
            x = nn.functional.pad(x, (0, N_FFT // 2 + 1 - len(x)))
        spec = torch.stft(x, N_FFT, HOP, window=torch.hann_window(N_FFT), center=True, return_complex=True)
        power = spec.abs() ** 2                        # (n_freq, T)
        mel = self._fb.T @ power                       # (n_mels, T)
        logmel = (torch.clamp(mel, min=1e-8).log10() + 4.0) / 4.0
        n = len(samples) // HOP + 1
        if progress is not None:
            progress(1, 1)
        return logmel.T[:n].contiguous().numpy()

    def _native(self, seg: torch.Tensor) -> torch.Tensor:
        return self.net(seg)
