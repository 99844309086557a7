"""Shared types of the TTS engines: a voice specification and the synthesised speech."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from diface_editor.core.errors import DifaceError
from diface_editor.synth.phonemes import Phone, map_phones, tidy_timing

log = logging.getLogger(__name__)


class TTSError(DifaceError):
    """A TTS engine is missing or failed."""


@dataclass(frozen=True)
class VoiceSpec:
    """Which engine and voice speaks, and how.

    Attributes:
        engine: "espeak", "festival" or "flite".
        voice: the engine's voice name (espeak-ng voice with optional ``+variant`` such as
            ``en-us+f3``; festival ``kal`` or ``slt``; flite ``slt``, ``kal16``, ``awb``, ``rms``).
        rate: speaking-rate factor (1.0 = the voice's default; 1.2 = 20% faster).
        pitch: base-pitch shift in semitones (0 = the voice's default). Engines and voices
            without pitch control ignore it (see :meth:`TTSEngine.supports_pitch`).
        lead: seconds of silence added before the speech.
        trail: seconds of silence added after the speech.
    """

    engine: str
    voice: str
    rate: float = 1.0
    pitch: float = 0.0
    lead: float = 0.25
    trail: float = 0.3

    @property
    def voice_id(self) -> str:
        """``engine:voice``: the identity used for held-out voices."""
        return f"{self.engine}:{self.voice}"


class Speech(NamedTuple):
    """Synthesised speech with its phone timings.

    Attributes:
        samples: (N,) float32 mono in [-1, 1].
        sample_rate: Hz.
        phones: list of ``(phone, start_s, end_s)`` in the common phone set
            (:data:`~diface_editor.synth.phonemes.PHONES`), contiguous, covering
            ``[0, N / sample_rate]`` exactly.
    """

    samples: np.ndarray
    sample_rate: int
    phones: list[Phone]

    @property
    def duration(self) -> float:
        return len(self.samples) / float(self.sample_rate)


def fit_phones(phones: list[Phone], duration: float, tolerance: float) -> list[Phone]:
    """Stretch an engine's phone times so the last phone ends at ``duration`` seconds (the wave's
    end) when it is off by more than ``tolerance`` seconds (engines round their reported times)."""
    if phones and abs(phones[-1][2] - duration) > tolerance:
        log.debug("engine phones end at %.3f s, wave is %.3f s; rescaling", phones[-1][2], duration)
        k = duration / phones[-1][2]
        return [(p, s * k, e * k) for p, s, e in phones]
    return phones


def finish(samples: np.ndarray, sample_rate: int, engine_phones: list[Phone], engine: str,
           spec: VoiceSpec) -> Speech:
    """Common post-processing: float32 in [-1, 1], leading/trailing silence, common phones."""
    x = np.asarray(samples, dtype=np.float32).reshape(-1)
    if x.size == 0:
        raise TTSError(f"{engine} produced no audio for voice {spec.voice!r}")
    peak = float(np.max(np.abs(x)))
    if peak > 1.0:
        x = x / peak
    n_lead = int(round(max(spec.lead, 0.0) * sample_rate))
    n_trail = int(round(max(spec.trail, 0.0) * sample_rate))
    dur = x.size / sample_rate
    x = np.concatenate([np.zeros(n_lead, np.float32), x, np.zeros(n_trail, np.float32)])
    phones = map_phones(engine_phones, engine)
    phones = tidy_timing(phones, dur, lead=n_lead / sample_rate, trail=n_trail / sample_rate)
    return Speech(x, int(sample_rate), phones)


def semitones(st: float) -> float:
    """Frequency ratio of a shift of ``st`` semitones."""
    return math.pow(2.0, st / 12.0)
