"""Whisper's audio encoder and log-mel front end in plain torch (no ``transformers`` import).

Importing ``transformers.models.whisper`` costs about 3 s of CPU on a fresh process (it pulls in
``torch.distributed`` and the whole model registry) and was most of the "first Whisper call"
warm-up. The encoder itself is small: two convolutions and a few pre-LayerNorm transformer layers,
written out here against the same state-dict keys as ``transformers``' ``WhisperEncoder`` so the
shipped ``model.safetensors`` loads unchanged and the features match it to float rounding
(``tests/test_audio_speed.py`` compares both).

* :func:`slaney_mel_filters`: the Slaney-normalised mel filterbank, (1 + n_fft // 2, n_mels).
* :func:`whisper_log_mel`: (B, N) 16 kHz windows -> (B, n_mels, N // 160) log-mel at 100 frames/s,
  Whisper's scaling (log10, floored 8 below each window's maximum, ``(x + 4) / 4``).
* :class:`WhisperEncoderNet`: (B, n_mels, 2 * P) log-mel -> (B, P, d_model) hidden states at 50 Hz
  after the first ``n_layers`` layers (and the final LayerNorm only when all layers run).
* :func:`quantize_int8`: dynamic int8 quantisation of the Linear layers (weights int8, activations
  quantised per call); the convolutions stay float32.
"""

from __future__ import annotations

import logging
import math

import numpy as np
import torch
from torch import nn

log = logging.getLogger(__name__)

N_FFT = 400
HOP = 160


def _hz_to_mel(f: np.ndarray) -> np.ndarray:
    f = np.asarray(f, np.float64)
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    logstep = math.log(6.4) / 27.0
    mel = f / f_sp
    return np.where(f >= min_log_hz, min_log_hz / f_sp + np.log(np.maximum(f, 1e-10) / min_log_hz) / logstep, mel)


def _mel_to_hz(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, np.float64)
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = math.log(6.4) / 27.0
    return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m)


def slaney_mel_filters(n_mels: int, *, n_fft: int = N_FFT, sample_rate: int = 16000,
                       f_min: float = 0.0, f_max: float = 8000.0) -> np.ndarray:
    """Triangular mel filters on the Slaney mel scale with Slaney (area) normalisation.

    Returns (1 + n_fft // 2, n_mels) float64: power spectrum bins (0 .. sample_rate / 2 Hz) to mel bands.
    The same matrix as ``transformers.audio_utils.mel_filter_bank(..., norm="slaney", mel_scale="slaney")``.
    """
    n_freq = 1 + n_fft // 2
    mels = np.linspace(_hz_to_mel(f_min), _hz_to_mel(f_max), n_mels + 2)
    edges = _mel_to_hz(mels)                                   # (n_mels + 2,) Hz
    fft_freqs = np.linspace(0, sample_rate // 2, n_freq)
    diff = np.diff(edges)
    slopes = edges[None, :] - fft_freqs[:, None]
    down = -slopes[:, :-2] / diff[:-1]
    up = slopes[:, 2:] / diff[1:]
    fb = np.maximum(0.0, np.minimum(down, up))
    fb *= (2.0 / (edges[2:n_mels + 2] - edges[:n_mels]))[None, :]
    return fb


_FILTERS: dict[int, torch.Tensor] = {}


def whisper_log_mel(wavs: np.ndarray, n_mels: int = 80) -> torch.Tensor:
    """Whisper's log-mel of equal-length windows.

    ``wavs``: (B, N) float32 16 kHz samples. Returns (B, n_mels, N // 160) float32: STFT with a
    400-sample periodic Hann window and a 160-sample hop (reflect-padded, the last frame dropped as
    Whisper does), power, mel filters, ``log10(max(mel, 1e-10))``, floored at 8 below each window's
    maximum, then ``(x + 4) / 4``. Computed in float64 like the reference (numpy) implementation.
    """
    x = torch.from_numpy(np.ascontiguousarray(wavs, dtype=np.float64))
    if x.ndim != 2 or x.shape[1] <= N_FFT // 2:
        raise ValueError(f"need (B, N) windows longer than {N_FFT // 2} samples, got shape {tuple(x.shape)}")
    fb = _FILTERS.get(n_mels)
    if fb is None:
        fb = _FILTERS[n_mels] = torch.from_numpy(slaney_mel_filters(n_mels))
    spec = torch.stft(x, N_FFT, HOP, window=torch.hann_window(N_FFT, dtype=torch.float64), center=True,
                      pad_mode="reflect", return_complex=True)
    power = spec.real ** 2 + spec.imag ** 2                    # (B, n_freq, T + 1)
    mel = torch.einsum("fm,bft->bmt", fb, power[:, :, :-1])
    logm = torch.clamp(mel, min=1e-10).log10()
    top = logm.amax(dim=(1, 2), keepdim=True)
    logm = torch.maximum(logm, top - 8.0)
    return ((logm + 4.0) / 4.0).to(torch.float32)


class _Layer(nn.Module):
    """One pre-LayerNorm Whisper encoder layer (self-attention + GELU MLP), keys as in transformers."""

    def __init__(self, d: int, heads: int, ffn: int) -> None:
        super().__init__()
        self.heads = heads
        self.self_attn = nn.Module()
        self.self_attn.q_proj = nn.Linear(d, d)
        self.self_attn.k_proj = nn.Linear(d, d, bias=False)
        self.self_attn.v_proj = nn.Linear(d, d)
        self.self_attn.out_proj = nn.Linear(d, d)
        self.self_attn_layer_norm = nn.LayerNorm(d)
        self.fc1 = nn.Linear(d, ffn)
        self.fc2 = nn.Linear(ffn, d)
        self.final_layer_norm = nn.LayerNorm(d)

    def forward(self, h: torch.Tensor) -> torch.Tensor:  # (B, P, d)
        B, P, d = h.shape
        a = self.self_attn
        x = self.self_attn_layer_norm(h)

        def split(t: torch.Tensor) -> torch.Tensor:
            return t.view(B, P, self.heads, d // self.heads).transpose(1, 2)

        y = nn.functional.scaled_dot_product_attention(split(a.q_proj(x)), split(a.k_proj(x)), split(a.v_proj(x)))
        h = h + a.out_proj(y.transpose(1, 2).reshape(B, P, d))
        x = self.final_layer_norm(h)
        return h + self.fc2(nn.functional.gelu(self.fc1(x)))


class WhisperEncoderNet(nn.Module):
    """Whisper's encoder cut after ``n_layers`` layers.

    Args:
        n_mels, d_model, heads, ffn: sizes from the checkpoint's config.json (``num_mel_bins``,
            ``d_model``, ``encoder_attention_heads``, ``encoder_ffn_dim``).
        positions: positions (50 Hz frames) of one window; the input has ``2 * positions`` mel frames.
        n_layers: layers run; ``final_norm`` applies the final LayerNorm (only after the last layer).
    """

    def __init__(self, *, n_mels: int, d_model: int, heads: int, ffn: int, positions: int, n_layers: int,
                 final_norm: bool) -> None:
        super().__init__()
        self.conv1 = nn.Conv1d(n_mels, d_model, 3, padding=1)
        self.conv2 = nn.Conv1d(d_model, d_model, 3, stride=2, padding=1)
        self.embed_positions = nn.Embedding(positions, d_model)
        self.layers = nn.ModuleList([_Layer(d_model, heads, ffn) for _ in range(n_layers)])
        self.layer_norm = nn.LayerNorm(d_model) if final_norm else nn.Identity()

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        """(B, n_mels, 2 * positions) -> (B, positions, d_model)."""
        h = nn.functional.gelu(self.conv1(mel))
        h = nn.functional.gelu(self.conv2(h)).transpose(1, 2)
        h = h + self.embed_positions.weight[: h.shape[1]]
        for layer in self.layers:
            h = layer(h)
        return self.layer_norm(h)


def load_encoder_net(config: dict, state: dict[str, torch.Tensor], *, positions: int, keep: int) -> WhisperEncoderNet:
    """A :class:`WhisperEncoderNet` with the first ``keep`` layers of a Whisper checkpoint.

    ``config``: the checkpoint's config.json; ``state``: encoder weights keyed like
    ``WhisperEncoder.state_dict()``. Raises ``ValueError`` naming the missing/unexpected keys.
    """
    n = int(config["encoder_layers"])
    net = WhisperEncoderNet(n_mels=int(config["num_mel_bins"]), d_model=int(config["d_model"]),
                            heads=int(config["encoder_attention_heads"]), ffn=int(config["encoder_ffn_dim"]),
                            positions=positions, n_layers=keep, final_norm=keep >= n)
    full = {f"layers.{i}.{k}" for i in range(n) for k in _Layer(8, 1, 8).state_dict()}
    full |= {"conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias", "embed_positions.weight",
             "layer_norm.weight", "layer_norm.bias"}
    if set(state) != full:
        raise ValueError(f"missing {sorted(full - set(state))[:5]}, unexpected {sorted(set(state) - full)[:5]}")
    want = net.state_dict()
    sd = {k: v.float() for k, v in state.items() if k in want}
    sd["embed_positions.weight"] = sd["embed_positions.weight"][:positions]
    net.load_state_dict(sd, strict=True)
    return net.eval().requires_grad_(False)


def quantize_int8(net: nn.Module) -> nn.Module:
    """Dynamic int8 quantisation of every ``nn.Linear`` (CPU only); convolutions stay float32."""
    import warnings

    with warnings.catch_warnings():  # torch 2.13 marks torch.ao's eager quantisation deprecated; it still works
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        from torch.ao.quantization import quantize_dynamic

        return quantize_dynamic(net, {nn.Linear}, dtype=torch.qint8)
