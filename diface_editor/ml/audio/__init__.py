"""Pluggable audio encoders: 16 kHz speech -> motion-rate features, cached per clip.

Quick use::

    from diface_editor.ml.audio import get_encoder
    enc = get_encoder({"type": "whisper"})            # shipped Whisper tiny.en encoder, dim 384
    feats = enc.features(clip, n_frames, fps=30.0)     # (n_frames, 384) float32, cached

Training (see :mod:`.base`): ``raw = enc.raw_features(clip)`` (cached), ``seg, times =
enc.crop(raw, start, T, fps)`` per sample, stack, ``enc.forward(seg, times) -> (B, T, dim)``;
for a trainable encoder add ``enc.module().parameters()`` to the optimiser and save
``enc.state_dict()`` in the bundle.

Modules: :mod:`.base` (interface), :mod:`.registry` (specs, :func:`get_encoder`), :mod:`.logmel`,
:mod:`.hf` (Whisper / wav2vec2 / HuBERT), :mod:`.windows`, :mod:`.cache`, :mod:`.ct2_convert`.
"""

from diface_editor.ml.audio.base import SAMPLE_RATE, AudioEncoder, AudioEncoderError, interpolate_at
from diface_editor.ml.audio.cache import FeatureCache, default_cache
from diface_editor.ml.audio.hf import MissingCheckpointError
from diface_editor.ml.audio.registry import DEFAULT_SPECS, WHISPER_TINY_EN, get_encoder, normalise_spec, resolve_path

__all__ = ["AudioEncoder", "AudioEncoderError", "MissingCheckpointError", "FeatureCache", "default_cache",
           "get_encoder", "normalise_spec", "resolve_path", "DEFAULT_SPECS", "WHISPER_TINY_EN", "SAMPLE_RATE",
           "interpolate_at"]
