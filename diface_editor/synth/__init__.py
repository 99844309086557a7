"""Synthetic talking data: TTS with phone timings, the procedural teacher animator, forced
alignment and the corpus builder (numpy/scipy + subprocess + ctypes; uses :mod:`diface_editor.core`,
never torch or Qt).

Modules:
    phonemes   the common phone set (CMU 39 + SIL) and the engine mappings
    text       seeded sentence grammar and the sentence -> split hash
    tts        espeak-ng (C API), Festival and Flite with per-phone timings
    augment    level, EQ, filters, noise, reverb, band limiting (timing-preserving)
    prosody    RMS and autocorrelation pitch at the animation frame rate
    teacher    timed phones (+ audio) -> ARKit curves and head motion
    align      pocketsphinx forced alignment of real speech with its transcript
    corpus     ``diface corpus build``: train/val/test corpus with a manifest
"""
