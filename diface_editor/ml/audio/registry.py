"""Build an audio encoder from the spec stored in a model bundle's config.

Specs (every key but ``type`` optional; defaults shown):

* ``{"type": "whisper", "path": "models/encoders/whisper-tiny-en", "layer": -2, "window_s": 10.0,
  "overlap_s": 2.0, "quantize": null}``: the shipped, frozen Whisper tiny.en encoder (dim 384;
  ``quantize: "int8"`` runs its Linear layers in dynamic int8 on the CPU). ``layer`` -2 is the
  output of the layer before the last (tiny.en: the third of four): the last layer's output depends
  strongly on where in the window a sound is (see :mod:`.hf`), the one before hardly.
* ``{"type": "hf", "path": DIR, "layer": -1, "window_s": 10.0, "overlap_s": 2.0}``: any local
  transformers checkpoint: Whisper (full or encoder-only), wav2vec2, HuBERT, WavLM,
  data2vec-audio; frozen, loaded with ``local_files_only=True`` (dim = its hidden size).
* ``{"type": "logmel", "n_mels": 80, "channels": 64, "dim": 128, "dilations": [1, 2, 4, 8],
  "dropout": 0.0, "seed": 0, "weights": null, "prefix": ""}``: the learned log-mel encoder
  (trainable; ``weights`` names a safetensors file holding its state dict, keys optionally
  under ``prefix``, e.g. ``"audio_encoder."`` in the bundle's main weights file).

A string spec is shorthand: ``"logmel"``, ``"whisper"``, or a checkpoint folder (``type`` hf).

Relative paths resolve against ``bundle_dir`` (when given and the path exists there), else
against :data:`diface_editor.core.paths.ROOT`; never against the working directory.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import torch

from diface_editor.core import paths
from diface_editor.ml.audio.base import AudioEncoder, AudioEncoderError
from diface_editor.ml.audio.hf import HF_HINT, WHISPER_HINT, MissingCheckpointError, load_hf_encoder

log = logging.getLogger(__name__)

#: Folder of the shipped Whisper tiny.en encoder, relative to the repository root.
WHISPER_TINY_EN = "models/encoders/whisper-tiny-en"

DEFAULT_SPECS: dict[str, dict[str, Any]] = {
    "whisper": {"type": "whisper", "path": WHISPER_TINY_EN, "layer": -2, "window_s": 10.0, "overlap_s": 2.0,
                "quantize": None},
    "hf": {"type": "hf", "path": None, "layer": -1, "window_s": 10.0, "overlap_s": 2.0},
    "logmel": {"type": "logmel", "n_mels": 80, "channels": 64, "dim": 128, "dilations": [1, 2, 4, 8],
               "dropout": 0.0, "seed": 0, "weights": None, "prefix": ""},
}

_FROZEN: dict[tuple, AudioEncoder] = {}
_LOCK = threading.Lock()


def normalise_spec(spec: dict | str) -> dict[str, Any]:
    """The spec with every default filled in (unknown keys or types raise AudioEncoderError)."""
    if isinstance(spec, str):
        s = spec.strip()
        spec = {"type": s} if s in ("logmel", "whisper") else {"type": "hf", "path": s}
    if not isinstance(spec, dict) or "type" not in spec:
        raise AudioEncoderError(f"an audio encoder spec must be a dict with a 'type' (logmel, whisper or hf), got {spec!r}")
    kind = spec["type"]
    if kind not in DEFAULT_SPECS:
        raise AudioEncoderError(f"unknown audio encoder type {kind!r}; use logmel, whisper or hf")
    unknown = set(spec) - set(DEFAULT_SPECS[kind])
    if unknown:
        raise AudioEncoderError(f"unknown keys {sorted(unknown)} in the {kind} audio encoder spec; "
                                f"allowed: {sorted(DEFAULT_SPECS[kind])}")
    out = {**DEFAULT_SPECS[kind], **spec}
    if kind == "whisper" and out["quantize"] not in (None, "int8"):
        raise AudioEncoderError(f"quantize must be \"int8\" or null in the whisper audio encoder spec, "
                                f"got {out['quantize']!r}")
    if kind == "hf" and not out["path"]:
        raise AudioEncoderError("an hf audio encoder spec needs a 'path' to a local transformers checkpoint folder")
    return out


def resolve_path(p: str | Path, bundle_dir: str | Path | None = None) -> Path:
    """Absolute path for a spec path: as is when absolute, else under ``bundle_dir`` if it exists
    there, else under the repository root (``diface_editor.core.paths.ROOT``)."""
    q = Path(p).expanduser()
    if q.is_absolute():
        return q
    if bundle_dir is not None:
        cand = Path(bundle_dir).expanduser().resolve() / q
        if cand.exists():
            return cand
    return paths.ROOT / q


def get_encoder(spec: dict | str, *, device: str | torch.device = "cpu", bundle_dir: str | Path | None = None,
                cache=None) -> AudioEncoder:
    """Build (or reuse) the audio encoder described by ``spec``.

    Args:
        spec: a spec dict or shorthand string (see the module docstring).
        device: ``"cpu"``, ``"cuda"``, ``"mps"`` or ``"auto"`` (cuda > mps > cpu).
        bundle_dir: the model bundle folder, for relative paths in the spec.
        cache: a :class:`~diface_editor.ml.audio.cache.FeatureCache`; default: the process-wide one.

    Frozen encoders (whisper, hf) are shared between calls with the same spec, device and cache;
    a logmel encoder is always a new object (its weights are trained).

    Raises:
        AudioEncoderError / MissingCheckpointError: bad spec, missing or unusable checkpoint.
    """
    from diface_editor.ml.device import resolve_device

    s = normalise_spec(spec)
    dev = resolve_device(device)
    kind = s["type"]
    if kind == "logmel":
        from diface_editor.ml.audio.logmel import LogMelEncoder

        enc = LogMelEncoder(n_mels=s["n_mels"], channels=s["channels"], dim=s["dim"], dilations=s["dilations"],
                            dropout=s["dropout"], seed=s["seed"], device=dev, cache=cache,
                            weights=s["weights"], prefix=s["prefix"])
        if s["weights"]:
            load_logmel_weights(enc, resolve_path(s["weights"], bundle_dir), s["prefix"])
        return enc
    path = resolve_path(s["path"], bundle_dir)
    quantize = s.get("quantize")
    key = (kind, str(path), int(s["layer"]), float(s["window_s"]), float(s["overlap_s"]), str(dev), id(cache),
           quantize)
    with _LOCK:
        enc = _FROZEN.get(key)
        if enc is None:
            enc = load_hf_encoder(path, spec_path=str(s["path"]), kind=kind, layer=int(s["layer"]),
                                  window_s=float(s["window_s"]), overlap_s=float(s["overlap_s"]), device=dev,
                                  cache=cache, quantize=quantize)
            _FROZEN[key] = enc
            while len(_FROZEN) > 4:  # keep a few loaded models, not every one ever built
                _FROZEN.pop(next(iter(_FROZEN)))
    return enc


def load_logmel_weights(enc: AudioEncoder, file: Path, prefix: str = "") -> None:
    """Load a logmel encoder's state dict from a safetensors file (keys under ``prefix``)."""
    from safetensors.torch import load_file

    if not file.is_file():
        raise MissingCheckpointError(f"audio encoder weights not found: {file}; train the model again or fix "
                                     "'weights' in the bundle config")
    sd = {k[len(prefix):]: v for k, v in load_file(str(file)).items() if k.startswith(prefix)}
    try:
        enc.load_state_dict(sd)
    except RuntimeError as e:
        raise AudioEncoderError(f"the audio encoder weights in {file} do not fit the logmel spec "
                                f"({str(e).splitlines()[0]})") from None


__all__ = ["get_encoder", "normalise_spec", "resolve_path", "load_logmel_weights", "DEFAULT_SPECS",
           "WHISPER_TINY_EN", "WHISPER_HINT", "HF_HINT"]
