"""Speech from engines that report no phone times: the phones come from a forced alignment."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from diface_editor.synth.align import align
from diface_editor.synth.tts.base import Speech, TTSError, VoiceSpec, finish


def finish_aligned(samples: np.ndarray, sample_rate: int, text: str, spec: VoiceSpec) -> Speech:
    """:func:`~diface_editor.synth.tts.base.finish` for engines that report no phone times (Piper,
    Hibari): the phones come from a pocketsphinx forced alignment of ``text`` with the audio, as for
    a real recording."""
    al = align(samples, sample_rate, text)
    return finish(samples, sample_rate, al.phones, "arpabet", spec)


class VoiceCache:
    """The voices of one such engine, each loaded once on first use.

    ``load(voice)`` returns the engine's voice object and raises :class:`TTSError` (naming the
    package to install) when it cannot."""

    def __init__(self, engine: str, voices: Sequence[str], load: Callable[[str], object]) -> None:
        self.engine, self.voices, self._load = engine, tuple(voices), load
        self._loaded: dict[str, object] = {}

    def get(self, voice: str):
        if voice not in self.voices:
            raise TTSError(f"unknown {self.engine} voice {voice!r}; the offline ones: {', '.join(self.voices)}")
        if voice not in self._loaded:
            self._loaded[voice] = self._load(voice)
        return self._loaded[voice]
