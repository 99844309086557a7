"""Text-to-speech with per-phone timings from espeak-ng (C API), Festival, Flite, Piper and
Hibari (neural, phones from a forced alignment).

>>> from diface_editor.synth.tts import VoiceSpec, synthesize
>>> samples, sample_rate, phones = synthesize("Hello there.", VoiceSpec("espeak", "en-us"))

``phones`` is a list of ``(phone, start_s, end_s)`` in the common phone set of
:mod:`diface_editor.synth.phonemes`, contiguous and covering the whole audio (including the
leading and trailing silence that :class:`VoiceSpec` adds).
"""

from __future__ import annotations

from types import ModuleType

from diface_editor.synth.tts import espeak, festival, flite, hibari, piper
from diface_editor.synth.tts.base import Speech, TTSError, VoiceSpec

ENGINES: dict[str, ModuleType] = {"espeak": espeak, "festival": festival, "flite": flite, "piper": piper, "hibari": hibari}

__all__ = ["ENGINES", "Speech", "TTSError", "VoiceSpec", "available_engines", "supports_pitch", "synthesize"]


def _engine(name: str) -> ModuleType:
    try:
        return ENGINES[name]
    except KeyError:
        raise TTSError(f"unknown TTS engine {name!r}; choose one of {', '.join(ENGINES)}") from None


def synthesize(text: str, spec: VoiceSpec) -> Speech:
    """Speak ``text`` with ``spec``; returns ``Speech(samples, sample_rate, phones)``."""
    if not text.strip():
        raise TTSError("nothing to say: the text is empty")
    return _engine(spec.engine).synthesize(text, spec)


def available_engines() -> list[str]:
    """Engines installed on this machine."""
    return [name for name, mod in ENGINES.items() if mod.available()]


def supports_pitch(spec: VoiceSpec) -> bool:
    """Whether ``spec.pitch`` has an effect for this engine and voice."""
    if spec.engine == "espeak":
        return True
    return _engine(spec.engine).supports_pitch(spec.voice)
