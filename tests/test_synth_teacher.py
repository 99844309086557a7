"""The teacher animator: visemes, closures, coarticulation, blinks, brows and head motion."""

from __future__ import annotations

import numpy as np
import pytest

from diface_editor.core.animation import Animation
from diface_editor.core.arkit import ARKIT_NAMES
from diface_editor.synth.phonemes import PHONES, SIL
from diface_editor.synth.teacher import TeacherConfig, animate


def _seq(names, dur=0.12, start=0.3):
    out, t = [(SIL, 0.0, start)], start
    for n in names:
        d = dur if isinstance(n, str) else n[1]
        n = n if isinstance(n, str) else n[0]
        out.append((n, t, t + d))
        t += d
    out.append((SIL, t, t + 0.4))
    return out


def _at(anim: Animation, name: str, t: float) -> float:
    return float(anim.channel(name)[anim.frame_of(t)])


def _centre(ph, i):
    return 0.5 * (ph[i][1] + ph[i][2])


def test_lips_close_on_p_b_m_and_jaw_opens_on_aa():
    ph = _seq(["AA", "B", "AA", "M", "AA", "P", "AA", ("B", 0.045), "AA", ("M", 0.05), "IY"])
    a = animate(ph, seed=0)
    for i, (p, _s, _e) in enumerate(ph):
        t = _centre(ph, i)
        if p in ("P", "B", "M"):
            assert _at(a, "mouthClose", t) > 0.45, (p, t)
            assert min(_at(a, "mouthPressLeft", t), _at(a, "mouthPressRight", t)) > 0.3
            assert _at(a, "jawOpen", t) < 0.05
        elif p == "AA":
            assert _at(a, "jawOpen", t) > 0.3
            assert _at(a, "mouthClose", t) < 0.15


def test_open_vowels_open_the_jaw_past_half_at_a_real_speaking_rate():
    """Real read speech has short vowels (stressed AA/AE/AO of 110-130 ms between consonants); the
    jaw must still open past 0.5 there (#12: the TTS calibration peaked at about 0.46 on real speech,
    0.43 here) and stay shut at the closures around it."""
    names = ["K", ("AA", 0.12), "T", "B", ("AE", 0.12), "D", "F", ("AO", 0.13), "L", "M", ("AA", 0.11), "N"]
    ph = _seq(names, dur=0.06)
    a = animate(ph, config=TeacherConfig(style_jitter=0.0))
    jaw = a.channel("jawOpen")
    peaks = [float(jaw[a.frame_of(s):a.frame_of(e) + 2].max()) for p, s, e in ph if p in ("AA", "AE", "AO")]
    assert np.median(peaks) > 0.52 and min(peaks) > 0.45, peaks
    for i, (p, _s, _e) in enumerate(ph):
        if p in ("B", "M"):
            assert _at(a, "jawOpen", _centre(ph, i)) < 0.05, p


def test_visemes_differ_by_vowel_and_consonant():
    ph = _seq(["HH", "AA", "T", "UW", "T", "IY", "TH", "IH", "F", "AE"], dur=0.16)
    a = animate(ph, seed=3, config=TeacherConfig(style_jitter=0.0))
    c = {p: _centre(ph, i) for i, (p, _, _) in enumerate(ph)}
    assert _at(a, "jawOpen", c["AA"]) > _at(a, "jawOpen", c["IY"]) + 0.2
    assert _at(a, "mouthPucker", c["UW"]) > 0.4 > _at(a, "mouthPucker", c["AA"])
    assert _at(a, "mouthStretchLeft", c["IY"]) > _at(a, "mouthStretchLeft", c["UW"]) + 0.15
    assert _at(a, "tongueOut", c["TH"]) > 0.15 > _at(a, "tongueOut", c["AA"])
    assert _at(a, "mouthRollLower", c["F"]) > 0.25


def test_coarticulation_rounds_a_consonant_before_a_rounded_vowel():
    a_round = animate(_seq(["S", "UW"], dur=0.15), seed=0, config=TeacherConfig(style_jitter=0.0))
    a_spread = animate(_seq(["S", "IY"], dur=0.15), seed=0, config=TeacherConfig(style_jitter=0.0))
    t_s = 0.3 + 0.075
    assert _at(a_round, "mouthPucker", t_s) > _at(a_spread, "mouthPucker", t_s) + 0.15


def test_output_shape_range_and_determinism():
    rng = np.random.default_rng(0)
    names = [PHONES[i] for i in rng.integers(0, len(PHONES), 120)]
    ph = _seq([(n, float(d)) for n, d in zip(names, rng.uniform(0.04, 0.2, 120))])
    dur = ph[-1][2]
    a = animate(ph, seed=5)
    b = animate(ph, seed=5)
    c = animate(ph, seed=6)
    assert a.channel_names == ARKIT_NAMES and a.fps == 30.0 and a.space == "arkit"
    assert a.n_frames == round(dur * 30)
    assert a.face.min() >= 0.0 and a.face.max() <= 1.0
    assert a.equals(b)
    assert not np.array_equal(a.head, c.head)
    assert not np.array_equal(a.channel("eyeBlinkLeft"), c.channel("eyeBlinkLeft"))
    # the mouth follows the phones, not the seed: jaw curves of two seeds agree closely
    assert np.corrcoef(a.channel("jawOpen"), c.channel("jawOpen"))[0, 1] > 0.9


def test_head_motion_is_small_smooth_and_alive():
    rng = np.random.default_rng(1)
    names = [PHONES[i] for i in rng.integers(0, len(PHONES), 200)]
    ph = _seq([(n, float(d)) for n, d in zip(names, rng.uniform(0.05, 0.15, 200))])
    for seed in range(4):
        a = animate(ph, seed=seed)
        deg = np.degrees(a.head)
        assert np.abs(deg).max() < 8.0
        assert deg.std(axis=0).min() > 0.2
        assert np.abs(np.diff(deg, axis=0)).max() < 1.0  # < 30 deg/s: no jumps


def test_blinks_have_plausible_rate_and_length():
    ph = [(SIL, 0.0, 1.0)] + [("AA" if i % 2 else "T", 1.0 + 0.1 * i, 1.1 + 0.1 * i) for i in range(290)]
    ph.append((SIL, 30.0, 30.5))
    a = animate(ph, seed=2)
    blink = a.channel("eyeBlinkLeft") > 0.5
    onsets = np.flatnonzero(blink[1:] & ~blink[:-1])
    assert 4 <= onsets.size <= 16  # every 2-6 s over 30 s
    lengths = np.diff(np.flatnonzero(np.diff(np.r_[0, blink.astype(int), 0])))[::2]
    assert lengths.max() <= 6  # ~150 ms (double blinks merge at most)


def test_accepts_aligner_phone_names_and_audio():
    ph = [("sil", 0.0, 0.3), ("HH", 0.3, 0.35), ("AH0", 0.35, 0.45), ("L", 0.45, 0.5), ("OW1", 0.5, 0.7),
          ("+NSN+", 0.7, 0.9), ("<sil>", 0.9, 1.2)]
    a = animate(ph, seed=0)
    assert a.n_frames == 36
    sr = 16000
    t = np.arange(int(1.2 * sr)) / sr
    audio = (0.3 * np.sin(2 * np.pi * 140 * t) * ((t > 0.3) & (t < 0.7))).astype(np.float32)
    b = animate(ph, samples=audio, sample_rate=sr, seed=0)
    assert b.n_frames == 36 and b.face.max() <= 1.0


def test_brows_rise_on_accents_of_real_speech():
    from diface_editor.synth.tts import VoiceSpec, espeak, synthesize
    if not espeak.available():
        pytest.skip("espeak-ng is not installed")
    s = synthesize("I never said she stole my money. Honestly, the whole town knows it!", VoiceSpec("espeak", "en-us"))
    a = animate(s.phones, samples=s.samples, sample_rate=s.sample_rate, seed=0)
    brow = a.channel("browInnerUp")
    assert brow.max() > 0.1
    assert (brow > 0.05).mean() < 0.8  # raises, not a constant offset
