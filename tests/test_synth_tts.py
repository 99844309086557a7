"""Speech synthesis with phone timings (espeak-ng C API, Festival, Flite), the common phone set,
the sentence grammar, augmentation and the prosody features."""

from __future__ import annotations

import numpy as np
import pytest

from diface_editor.synth import phonemes
from diface_editor.synth.augment import augment
from diface_editor.synth.phonemes import PHONES, SIL, VOWELS, to_common
from diface_editor.synth.prosody import analyse, pitch_track
from diface_editor.synth.text import SentenceSource, make_sentence, sentence_split
from diface_editor.synth.tts import VoiceSpec, espeak, festival, flite, synthesize

RICH = ("Measure the vision of the beige garage. The boy with the oily coin took a book, "
        "then thought about the judge's cheap shoe!")

_HAVE = {"espeak": espeak.available(), "festival": festival.available(), "flite": flite.available()}
VOICES = [("espeak", "en-us"), ("espeak", "en-gb+f3"), ("festival", "kal"), ("festival", "slt"),
          ("flite", "slt"), ("flite", "awb")]


def _need(engine: str) -> None:
    if not _HAVE[engine]:
        pytest.skip(f"{engine} is not installed (tools/setup.sh installs it)")


def _check_timing(phones, duration):
    assert phones[0][1] == 0.0
    assert abs(phones[-1][2] - duration) < 1e-6
    for (_, _s0, e0), (_, s1, e1) in zip(phones, phones[1:]):
        assert e0 == pytest.approx(s1, abs=1e-9), "phones must be contiguous"
        assert e1 > s1
    assert all(p in PHONES for p, _, _ in phones)


@pytest.mark.parametrize("engine,voice", VOICES)
def test_engine_returns_audio_with_timings_that_cover_it(engine, voice):
    _need(engine)
    samples, rate, phones = synthesize(RICH, VoiceSpec(engine, voice, lead=0.3, trail=0.2))
    assert samples.dtype == np.float32 and samples.ndim == 1
    assert rate in (16000, 22050, 32000)
    dur = samples.size / rate
    assert 4.0 < dur < 15.0
    _check_timing(phones, dur)
    assert phones[0][0] == SIL and phones[0][2] >= 0.3 - 1e-6  # leading silence kept
    assert phones[-1][0] == SIL
    speech = [p for p, _, _ in phones if p != SIL]
    assert len(speech) > 40
    assert {"ZH", "OY", "B", "TH", "UH"} <= set(speech)
    # the timings match the audio: vowels are much louder than silences
    rms = lambda s, e: float(np.sqrt(np.mean(samples[int(s * rate):int(e * rate)] ** 2) + 1e-12))
    v = np.mean([rms(s, e) for p, s, e in phones if p in VOWELS])
    q = np.mean([rms(s, e) for p, s, e in phones if p == SIL and e - s > 0.1])
    assert v > 5 * q


@pytest.mark.parametrize("engine", ["espeak", "festival", "flite"])
def test_engine_phones_are_all_in_the_explicit_mapping(engine):
    _need(engine)
    mod = {"espeak": espeak, "festival": festival, "flite": flite}[engine]
    voice = {"espeak": "en-gb-scotland", "festival": "kal", "flite": "slt"}[engine]
    rng = np.random.default_rng(3)
    text = RICH + " " + " ".join(make_sentence(rng) for _ in range(6))
    _, _, raw = mod.synthesize_raw(text, VoiceSpec(engine, voice))
    names = {n for n, _, _ in raw}
    for n in names:
        to_common(n, engine, strict=True)  # raises KeyError for an unmapped phone


def test_common_mapping_details():
    assert to_common("aI@", "espeak") == ("AY", "ER")
    assert to_common("tS", "espeak") == ("CH",)
    assert to_common("ax", "flite") == ("AH",)
    assert to_common("pau", "festival") == (SIL,)
    assert to_common("AH0", "arpabet") == ("AH",)
    assert to_common("+NSN+", "arpabet") == (SIL,)
    with pytest.raises(KeyError):
        to_common("Q#7", "espeak", strict=True)
    timed = phonemes.map_phones([("h", 0.0, 0.1), ("aI@", 0.1, 0.3), ("_", 0.3, 0.4), ("_:", 0.4, 0.5)], "espeak")
    assert [p for p, _, _ in timed] == ["HH", "AY", "ER", SIL]
    assert timed[-1] == (SIL, 0.3, 0.5)


def test_rate_and_pitch_change_the_speech():
    _need("espeak")
    slow = synthesize(RICH, VoiceSpec("espeak", "en-us", rate=0.8))
    fast = synthesize(RICH, VoiceSpec("espeak", "en-us", rate=1.3))
    assert fast.duration < 0.8 * slow.duration
    f0 = {}
    for st in (-5, 5):
        s = synthesize(RICH, VoiceSpec("espeak", "en-us", pitch=st))
        n = int(s.duration * 30)
        track, voiced = pitch_track(s.samples, s.sample_rate, n, 30.0)
        f0[st] = np.median(track[voiced])
    assert f0[5] > f0[-5] * 1.3


def test_flite_rate_changes_duration():
    _need("flite")
    a = synthesize("The birch canoe slid on the smooth planks.", VoiceSpec("flite", "slt", rate=0.8))
    b = synthesize("The birch canoe slid on the smooth planks.", VoiceSpec("flite", "slt", rate=1.25))
    assert b.duration < 0.85 * a.duration


def test_unknown_voice_is_a_clear_error():
    _need("espeak")
    from diface_editor.core.errors import DifaceError
    with pytest.raises(DifaceError, match="no voice"):
        synthesize("hello", VoiceSpec("espeak", "xx-nonexistent"))
    with pytest.raises(DifaceError, match="empty"):
        synthesize("   ", VoiceSpec("espeak", "en-us"))


def test_sentence_grammar_is_seeded_and_splits_are_disjoint():
    a = [make_sentence(np.random.default_rng(7)) for _ in range(1)]
    b = [make_sentence(np.random.default_rng(7)) for _ in range(1)]
    assert a == b
    src = SentenceSource(seed=1)
    got = {s: set(src.utterance(s, 15)) for s in ("train", "val", "test")}
    assert not (got["train"] & got["val"]) and not (got["train"] & got["test"]) and not (got["val"] & got["test"])
    for split, sents in got.items():
        assert all(sentence_split(x) == split for x in sents)
    words = {w for s in got["train"] for w in s.split()}
    assert len(words) > 80  # a varied vocabulary
    assert any("," in s for s in got["train"])  # clauses with pauses


def test_augmentation_keeps_timing_and_is_seeded():
    sr = 22050
    t = np.arange(int(1.5 * sr)) / sr
    x = (0.5 * np.sin(2 * np.pi * 180 * t) * (np.sin(2 * np.pi * 3 * t) > 0)).astype(np.float32)
    outs = []
    for seed in (0, 0, 1, 2, 3):
        y, desc = augment(x, sr, np.random.default_rng(seed), out_rate=16000)
        assert y.dtype == np.float32 and y.size == round(x.size * 16000 / sr)
        assert np.max(np.abs(y)) <= 1.0 and "peak_dbfs" in desc
        outs.append(y)
    assert np.array_equal(outs[0], outs[1])
    assert not np.array_equal(outs[0], outs[2])
    # the speech envelope (timing) survives: correlation of 20 ms energy envelopes
    ref = np.abs(x[::int(sr * 0.02)])
    for y in outs[2:]:
        env = np.array([np.sqrt(np.mean(y[i:i + 320] ** 2)) for i in range(0, y.size - 320, 320)])
        r = np.array([np.sqrt(np.mean(x[i:i + 441] ** 2)) for i in range(0, x.size - 441, 441)])
        n = min(env.size, r.size)
        assert np.corrcoef(env[:n], r[:n])[0, 1] > 0.7
    del ref


def test_pitch_and_loudness_tracks():
    sr = 16000
    t = np.arange(2 * sr) / sr
    x = sum(np.sin(2 * np.pi * 150 * k * t) / k for k in range(1, 6)).astype(np.float32) * 0.2
    x[: sr // 2] = 0  # half a second of silence
    p = analyse(x, sr, 60, 30.0)
    assert not p.voiced[:12].any()
    assert np.median(p.f0[p.voiced]) == pytest.approx(150, rel=0.03)
    assert p.loudness[40] > -3 and p.loudness[5] <= -59
