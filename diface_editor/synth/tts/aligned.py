"""Speech from engines that report no phone times: the phones come from a forced alignment."""

from __future__ import annotations

import numpy as np

from diface_editor.synth.align import align
from diface_editor.synth.tts.base import Speech, VoiceSpec, finish


def finish_aligned(samples: np.ndarray, sample_rate: int, text: str, spec: VoiceSpec) -> Speech:
    """:func:`~diface_editor.synth.tts.base.finish` for engines that report no phone times (Piper,
    Hibari): the phones come from a pocketsphinx forced alignment of ``text`` with the audio, as for
    a real recording."""
    al = align(samples, sample_rate, text)
    return finish(samples, sample_rate, al.phones, "arpabet", spec)
