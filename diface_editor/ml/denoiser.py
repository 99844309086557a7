"""The motion denoiser: a 3DiFACE-style fully convolutional 1-D U-Net over time.

One network family serves the face model and the head model; a :class:`DenoiserConfig` sizes it.
Everything is convolutional over time, so a network runs on windows of any length ``T`` (inputs
are padded up to a multiple of the down-sampling factor and the output is cropped back).

Data flow (``L = len(ch_mult) - 1`` down-sampling levels, widths ``w_k = ch * ch_mult[k]``)::

    x_t (B, C, T) ++ flags (B, F, T)  --in_embed (1x1 conv, SiLU)-->  (B, w_0, T)
      + timestep embedding (sinusoidal + MLP, broadcast over time)
    audio (B, T, D) --audio_feature_map (linear)--> (B, P, T), zeroed where cond_mask is True
    encoder level 0:  cat[x, audio_0] --in_infuse (3-tap conv)--> skip_0
    encoder level k:  down (stride-2 conv + 3-tap convs), cat[x, audio_k] --infuse--> skip_k
    decoder level k (k = L-1 .. 0): up (stride-2 transposed conv + 3-tap convs),
                      cat[x, audio_k (, skip_k for skip_mode="concat")] --infuse--> (+ skip_k for "add")
    + style_map(one-hot)  (bias-free linear, broadcast over time)
    out_embed (linear w_0 -> C_out, zero-initialised)  -->  x0 prediction (B, C_out, T)

``audio_k`` is the projected audio at level k's frame rate: average-pooled by 2 per level
(``audio_fold="pool"``, the sane choice and the 3DiFACE head model) or folded with a raw reshape
``(B, P, T) -> (B, P * 2**k, T / 2**k)`` (``audio_fold="reshape"``, a quirk of the published 3DiFACE
face model, kept behind the switch so its checkpoints can be imported).

Module names follow 3DiFACE where reasonable (``encoder.in_embed``, ``encoder.in_infuse``,
``encoder.mle_layers.k``, ``encoder.infusion_layers.k``, ``encoder.embed_timestep.time_embed``,
``decoder.mle_layers.k``, ``decoder.infusion_layers.k``, ``decoder.style_map``,
``decoder.out_embed``, ``audio_feature_map``) so an importer can map published state dicts
(3DiFACE's ``encoder.PPE.pe`` buffer is not stored here: the sinusoid is computed on the fly with
the same formula).

The network predicts the clean motion ``x0`` in normalised units (see
:mod:`diface_editor.ml.normalisation`).
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from diface_editor.core.strict_dict import from_dict_strict

log = logging.getLogger(__name__)

FlagMode = Literal["frame", "channel", "none"]
SkipMode = Literal["add", "concat", "none"]
AudioFold = Literal["pool", "reshape"]
FirstSkip = Literal["infused", "embedded"]


#: Largest denoiser a config may describe (about 4 GB of float32 weights).
MAX_PARAMETERS = 1_000_000_000


@dataclass
class DenoiserConfig:
    """Architecture of one denoiser (face or head). Saved verbatim in a bundle's ``config.json``.

    Attributes:
        in_channels: motion channels C (52 ARKit weights, 3 head axis-angle components, 15069 for
            FLAME vertex offsets).
        out_channels: predicted channels; ``None`` = ``in_channels``.
        ch: base width (must be even: the timestep sinusoid has ``ch`` entries).
        ch_mult: width multipliers per level; ``len(ch_mult) - 1`` stride-2 down-samplings,
            so windows are padded to a multiple of ``2 ** (len(ch_mult) - 1)`` frames.
        blocks_per_level: 3-tap convolutions after each stride-2 (transposed) convolution
            (3DiFACE: 1).
        audio_dim: width D of the audio features given to :meth:`Denoiser.forward`
            (0 = no audio conditioning).
        audio_proj_dim: width P of the projected audio concatenated at every level
            (``None`` = ``ch``, as in 3DiFACE).
        flag_mode: known-frame flag channels appended to ``x_t``: ``"frame"`` one channel per frame
            (3DiFACE head model), ``"channel"`` one per motion channel (needed for channel-group
            masks), ``"none"`` no flags (3DiFACE face model).
        style_classes: size of the style/identity one-hot (0 = no style input).
        dropout: dropout probability after each fusion convolution (training only).
        skip_mode: encoder-to-decoder skips: ``"add"`` (3DiFACE head model), ``"concat"``
            (concatenated before the decoder fusion conv), ``"none"`` (3DiFACE face model).
        audio_fold: ``"pool"`` or ``"reshape"`` (see the module docstring).
        padding_mode: padding of the 3-tap convolutions (``"reflect"`` as in 3DiFACE, ``"zeros"``,
            ``"replicate"``).
        first_skip: what level 0 sends to the decoder: ``"infused"`` (the output of the level-0
            fusion conv) or ``"embedded"`` (the input projection before the timestep embedding is
            added, as the published 3DiFACE head model does; used by its importer).
    """

    in_channels: int
    out_channels: int | None = None
    ch: int = 128
    ch_mult: tuple[int, ...] = (1, 2, 2)
    blocks_per_level: int = 1
    audio_dim: int = 0
    audio_proj_dim: int | None = None
    flag_mode: FlagMode = "frame"
    style_classes: int = 0
    dropout: float = 0.0
    skip_mode: SkipMode = "add"
    audio_fold: AudioFold = "pool"
    padding_mode: str = "reflect"
    first_skip: FirstSkip = "infused"

    def __post_init__(self) -> None:
        self.ch_mult = tuple(int(m) for m in self.ch_mult)
        problems = []
        if self.in_channels < 1:
            problems.append(f"in_channels must be >= 1 (got {self.in_channels})")
        if self.ch < 2 or self.ch % 2:
            problems.append(f"ch must be an even number >= 2 (got {self.ch})")
        if not self.ch_mult or any(m < 1 for m in self.ch_mult):
            problems.append(f"ch_mult must be a non-empty list of positive integers (got {list(self.ch_mult)})")
        if self.blocks_per_level < 0:
            problems.append("blocks_per_level must be >= 0")
        if self.flag_mode not in ("frame", "channel", "none"):
            problems.append(f"flag_mode must be 'frame', 'channel' or 'none' (got {self.flag_mode!r})")
        if self.skip_mode not in ("add", "concat", "none"):
            problems.append(f"skip_mode must be 'add', 'concat' or 'none' (got {self.skip_mode!r})")
        if self.audio_fold not in ("pool", "reshape"):
            problems.append(f"audio_fold must be 'pool' or 'reshape' (got {self.audio_fold!r})")
        if self.first_skip not in ("infused", "embedded"):
            problems.append(f"first_skip must be 'infused' or 'embedded' (got {self.first_skip!r})")
        if self.padding_mode not in ("reflect", "zeros", "replicate", "circular"):
            problems.append(f"padding_mode {self.padding_mode!r} is not a torch padding mode")
        if not 0.0 <= self.dropout < 1.0:
            problems.append("dropout must be in [0, 1)")
        for name, top in (("in_channels", 200_000), ("ch", 4096), ("blocks_per_level", 16), ("audio_dim", 100_000),
                          ("audio_proj_dim", 8192), ("style_classes", 100_000), ("out_channels", 200_000)):
            v = getattr(self, name)
            if v is not None and v > top:
                problems.append(f"{name} must be at most {top:,} (got {v:,})")
        if len(self.ch_mult) > 8 or any(m > 64 for m in self.ch_mult):
            problems.append(f"ch_mult must have at most 8 levels of at most 64 (got {list(self.ch_mult)})")
        if not problems and self.parameter_estimate() > MAX_PARAMETERS:
            problems.append(f"it would have about {self.parameter_estimate():,.0f} weights, more than the limit of "
                            f"{MAX_PARAMETERS:,}")
        if problems:
            raise ValueError("invalid denoiser config: " + "; ".join(problems))

    def parameter_estimate(self) -> float:
        """A rough upper bound of the weight count (checked before any weight is allocated)."""
        c_in = self.in_channels + self.in_channels + self.n_out + self.style_classes
        total = 3.0 * c_in * self.ch + float(self.audio_dim) * self.proj_dim
        for level, w in enumerate(self.widths()):
            a = self.audio_width(level)
            total += 3.0 * (w + a + w) ** 2 * (self.blocks_per_level + 4)
        return total

    # ------------------------------------------------------------------ derived sizes
    @property
    def n_out(self) -> int:
        return self.out_channels or self.in_channels

    @property
    def n_flags(self) -> int:
        """Number of flag channels appended to ``x_t``."""
        return {"frame": 1, "channel": self.in_channels, "none": 0}[self.flag_mode]

    @property
    def proj_dim(self) -> int:
        """Projected audio width P at full rate (0 without audio)."""
        if self.audio_dim <= 0:
            return 0
        return int(self.audio_proj_dim or self.ch)

    @property
    def factor(self) -> int:
        """Temporal down-sampling factor: windows are padded to a multiple of it."""
        return 2 ** (len(self.ch_mult) - 1)

    def widths(self) -> list[int]:
        return [self.ch * m for m in self.ch_mult]

    def audio_width(self, level: int) -> int:
        """Audio channels concatenated at ``level``."""
        p = self.proj_dim
        return p * (2 ** level) if self.audio_fold == "reshape" else p

    # ------------------------------------------------------------------ (de)serialisation
    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["ch_mult"] = list(self.ch_mult)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DenoiserConfig:
        """Build from a dict (e.g. ``config.json``); unknown keys raise ``ValueError`` naming them."""
        return from_dict_strict(cls, d, "denoiser config")


# ====================================================================== building blocks
def timestep_sinusoid(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal embedding of integer timesteps, 3DiFACE/MDM layout (sin at even, cos at odd entries).

    Args:
        t: (B,) timesteps (integers 0..999, any dtype).
        dim: embedding width (even).
    Returns:
        (B, dim) float32.
    """
    half = torch.arange(0, dim, 2, device=t.device, dtype=torch.float32)
    div = torch.exp(half * (-math.log(max_period) / dim))
    arg = t.to(torch.float32)[:, None] * div[None, :]
    out = torch.empty(t.shape[0], dim, device=t.device, dtype=torch.float32)
    out[:, 0::2] = torch.sin(arg)
    out[:, 1::2] = torch.cos(arg)
    return out


class TimestepEmbedder(nn.Module):
    """Sinusoid followed by ``Linear - SiLU - Linear`` (``time_embed.0`` / ``time_embed.2``)."""

    def __init__(self, dim: int):
        super().__init__()
        self.dim = dim
        self.time_embed = nn.Sequential(nn.Linear(dim, dim), nn.SiLU(), nn.Linear(dim, dim))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        """(B,) timesteps -> (B, dim)."""
        return self.time_embed(timestep_sinusoid(t, self.dim))


class InfusionBlock(nn.Module):
    """Fuses motion features with concatenated conditions: 3-tap conv + SiLU (+ dropout).

    ``(B, c_in, T) -> (B, c_out, T)``; weights under ``mle_layer.0``.
    """

    def __init__(self, c_in: int, c_out: int, padding_mode: str, dropout: float):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv1d(c_in, c_out, 3, padding=1, padding_mode=padding_mode), nn.SiLU()]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        self.mle_layer = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mle_layer(x)


class Resample(nn.Module):
    """Stride-2 down-sampling (``Conv1d k=2 s=2``) or up-sampling (``ConvTranspose1d k=2 s=2``),
    each followed by SiLU and ``blocks`` 3-tap conv + SiLU layers. ``(B, c_in, T) -> (B, c_out, T/2 or 2T)``.
    """

    def __init__(self, c_in: int, c_out: int, up: bool, blocks: int, padding_mode: str):
        super().__init__()
        conv = nn.ConvTranspose1d if up else nn.Conv1d
        layers: list[nn.Module] = [conv(c_in, c_out, kernel_size=2, stride=2), nn.SiLU()]
        for _ in range(blocks):
            layers += [nn.Conv1d(c_out, c_out, 3, padding=1, padding_mode=padding_mode), nn.SiLU()]
        self.mle_layer = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mle_layer(x)


class Encoder(nn.Module):
    """Input projection, timestep embedding and the down-sampling path."""

    def __init__(self, cfg: DenoiserConfig):
        super().__init__()
        w = cfg.widths()
        pm = cfg.padding_mode
        self.first_skip = cfg.first_skip
        self.in_embed = nn.Sequential(nn.Conv1d(cfg.in_channels + cfg.n_flags, w[0], kernel_size=1), nn.SiLU())
        self.embed_timestep = TimestepEmbedder(w[0])
        self.in_infuse = InfusionBlock(w[0] + cfg.audio_width(0), w[0], pm, cfg.dropout)
        self.mle_layers = nn.ModuleList()
        self.infusion_layers = nn.ModuleList()
        for k in range(1, len(w)):
            self.mle_layers.append(Resample(w[k - 1], w[k], False, cfg.blocks_per_level, pm))
            self.infusion_layers.append(InfusionBlock(w[k] + cfg.audio_width(k), w[k], pm, cfg.dropout))

    def forward(self, x: torch.Tensor, t: torch.Tensor, audio: list[torch.Tensor | None]) -> list[torch.Tensor]:
        """x (B, C+F, T), t (B,), audio[k] (B, P_k, T/2**k) or None -> features per level (skips)."""
        e = self.in_embed(x)
        h = self.in_infuse(_cat(e + self.embed_timestep(t)[:, :, None], audio[0]))
        skips = [e if self.first_skip == "embedded" else h]
        for k, (down, infuse) in enumerate(zip(self.mle_layers, self.infusion_layers), start=1):
            h = infuse(_cat(down(h), audio[k]))
            skips.append(h)
        return skips


class Decoder(nn.Module):
    """Up-sampling path, style embedding and the zero-initialised output layer."""

    def __init__(self, cfg: DenoiserConfig):
        super().__init__()
        w = cfg.widths()
        pm = cfg.padding_mode
        self.skip_mode = cfg.skip_mode
        self.mle_layers = nn.ModuleList()
        self.infusion_layers = nn.ModuleList()
        for k in range(len(w) - 1, 0, -1):  # from the bottleneck (level L) up to level 0
            self.mle_layers.append(Resample(w[k], w[k - 1], True, cfg.blocks_per_level, pm))
            c_in = w[k - 1] + cfg.audio_width(k - 1) + (w[k - 1] if cfg.skip_mode == "concat" else 0)
            self.infusion_layers.append(InfusionBlock(c_in, w[k - 1], pm, cfg.dropout))
        self.style_map = nn.Linear(cfg.style_classes, w[0], bias=False) if cfg.style_classes > 0 else None
        self.out_embed = nn.Linear(w[0], cfg.n_out)
        nn.init.zeros_(self.out_embed.weight)
        nn.init.zeros_(self.out_embed.bias)

    def forward(self, skips: list[torch.Tensor], audio: list[torch.Tensor | None],
                style: torch.Tensor | None) -> torch.Tensor:
        """skips from :class:`Encoder`, style (B, K) or None -> (B, C_out, T)."""
        h = skips[-1]
        level = len(skips) - 1
        for up, infuse in zip(self.mle_layers, self.infusion_layers):
            level -= 1
            h = up(h)
            if self.skip_mode == "concat":
                h = infuse(_cat(_cat(h, audio[level]), skips[level]))
            else:
                h = infuse(_cat(h, audio[level]))
                if self.skip_mode == "add":
                    h = h + skips[level]
        if self.style_map is not None and style is not None:
            h = h + self.style_map(style.to(h.dtype))[:, :, None]
        return self.out_embed(h.transpose(1, 2)).transpose(1, 2)


def _cat(h: torch.Tensor, a: torch.Tensor | None) -> torch.Tensor:
    return h if a is None else torch.cat([h, a], dim=1)


# ====================================================================== the network
class Denoiser(nn.Module):
    """The U-Net. See the module docstring for the data flow and :class:`DenoiserConfig` for sizes."""

    def __init__(self, config: DenoiserConfig):
        super().__init__()
        self.config = config
        if config.proj_dim:
            self.audio_feature_map = nn.Linear(config.audio_dim, config.proj_dim)
        else:
            self.audio_feature_map = None
        self.encoder = Encoder(config)
        self.decoder = Decoder(config)

    @property
    def device(self) -> torch.device:
        return self.decoder.out_embed.weight.device

    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, flags: torch.Tensor | None = None,
                audio: torch.Tensor | None = None, cond_mask: torch.Tensor | None = None,
                style: torch.Tensor | None = None) -> torch.Tensor:
        """Predict the clean motion.

        Args:
            x_t: (B, C, T) noisy motion (normalised), with the known entries already replaced by
                their clean values by the caller (sampler or training loss).
            t: (B,) integer diffusion timesteps in ``0 .. num_train_steps-1`` (a scalar broadcasts).
            flags: (B, F, T) known flags, 1 = given and clean, 0 = to generate; F = 1 for
                ``flag_mode="frame"``, C for ``"channel"``; ignored for ``"none"``. ``None`` = all 0.
            audio: (B, T, D) audio features aligned with the frames; ``None`` = unconditional.
            cond_mask: (B,) bool, True = drop the audio condition for that sample (projected
                features zeroed, as in classifier-free guidance training/sampling).
            style: (B, K) style/identity one-hot (or weights); ``None`` = no style term.
        Returns:
            (B, C_out, T) predicted x0 (normalised).
        """
        cfg = self.config
        B, C, T = x_t.shape
        if C != cfg.in_channels:
            raise ValueError(f"denoiser expects {cfg.in_channels} motion channels, got {C}")
        if t.ndim == 0:
            t = t.expand(B)
        # ---- pad time to a multiple of the down-sampling factor (and >= 2 frames at the deepest level)
        f = cfg.factor
        T_pad = max(-(-T // f) * f, 2 * f)
        pad = T_pad - T
        # padded frames repeat the last frame and carry flag 0
        x = F.pad(x_t, (0, pad), mode="replicate") if pad else x_t
        if cfg.n_flags:
            if flags is None:
                flags = x_t.new_zeros(B, cfg.n_flags, T)
            elif flags.shape != (B, cfg.n_flags, T):
                raise ValueError(f"flags must have shape {(B, cfg.n_flags, T)}, got {tuple(flags.shape)}")
            x = torch.cat([x, F.pad(flags.to(x_t.dtype), (0, pad)) if pad else flags.to(x_t.dtype)], dim=1)
        levels = self._audio_levels(audio, cond_mask, B, T, pad, x.dtype, x.device)
        skips = self.encoder(x, t, levels)
        out = self.decoder(skips, levels, style)
        return out[:, :, :T] if pad else out

    def _audio_levels(self, audio: torch.Tensor | None, cond_mask: torch.Tensor | None, B: int, T: int,
                      pad: int, dtype: torch.dtype, device: torch.device) -> list[torch.Tensor | None]:
        """Projected audio at every level: list of (B, P_k, T_pad / 2**k), or Nones without audio."""
        cfg = self.config
        n_levels = len(cfg.ch_mult)
        if not cfg.proj_dim:
            return [None] * n_levels
        T_pad = T + pad
        if audio is None:
            a = torch.zeros(B, cfg.proj_dim, T_pad, dtype=dtype, device=device)
        else:
            if audio.shape != (B, T, cfg.audio_dim):
                raise ValueError(f"audio features must have shape {(B, T, cfg.audio_dim)}, got {tuple(audio.shape)}")
            a = self.audio_feature_map(audio.to(dtype)).transpose(1, 2)  # (B, P, T)
            if cond_mask is not None:
                a = a * (~cond_mask.to(device=device, dtype=torch.bool)).to(dtype)[:, None, None]
            if pad:
                a = F.pad(a, (0, pad), mode="replicate")
            a = a.contiguous()
        out = [a]
        for k in range(1, n_levels):
            if cfg.audio_fold == "pool":
                out.append(F.avg_pool1d(out[-1], 2))
            else:  # 3DiFACE face-model quirk: raw reshape of the full-rate tensor
                out.append(a.reshape(B, -1, T_pad // 2 ** k))
        return out
