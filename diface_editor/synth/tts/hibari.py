"""Hibari neural text-to-speech (onnxruntime, a distilled Kokoro-82M), with phone times from a
forced alignment.

* ``heart``: the one voice whose weights ship in the PyPI package ``hibari-tts`` (24 kHz, US-English
  female, distilled from Kokoro-82M's af_heart; licence Apache-2.0, with Kokoro-82M Apache-2.0 per
  the package's NOTICE). Its other voices download on first use and are not offered here.

Phones come from a pocketsphinx alignment of the text (see :func:`~diface_editor.synth.tts.aligned.finish_aligned`).
Rate is Hibari's ``speed``; there is no pitch control. Variation between takes: the sampling seed,
derived from the spec's pitch field so that a corpus plan stays reproducible.

Install: ``pip install --no-deps hibari-tts==0.2.1`` (16 MB; needs numpy and onnxruntime).
"""

from __future__ import annotations

import importlib.util

import numpy as np

from diface_editor.synth.tts.aligned import VoiceCache, finish_aligned
from diface_editor.synth.tts.base import Speech, TTSError, VoiceSpec

VOICES = ("heart",)


def available_voices() -> list[str]:
    return list(VOICES) if importlib.util.find_spec("hibari") is not None else []


def available() -> bool:
    return bool(available_voices())


def supports_pitch(voice: str) -> bool:
    return False


def _load(voice: str):
    try:
        from hibari import Hibari
    except ImportError:
        raise TTSError("Hibari is not installed; install it with: pip install --no-deps hibari-tts==0.2.1") from None
    return Hibari(voice=voice, threads=1)


_voices = VoiceCache("Hibari", VOICES, _load)


def synthesize(text: str, spec: VoiceSpec) -> Speech:
    """Speak ``text``; phone times from a pocketsphinx alignment of ``text`` with the audio."""
    v = _voices.get(spec.voice)
    seed = int(round((spec.pitch + 10.0) * 100)) & 0x7FFFFFFF
    x = np.asarray(v(text, max(0.5, min(2.0, spec.rate)), seed), np.float32).reshape(-1)
    if x.dtype.kind == "i" or np.abs(x).max() > 1.5:
        x = x / 32768.0
    return finish_aligned(x, int(v.sample_rate), text, spec)
