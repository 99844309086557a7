"""A take that starts or ends in noise (issue #13): the forced aligner runs the first or last word to the
clip's edge and a phone over the noise; a word it cannot phone-align is spread over all the noise it took.
The lips would then be pinned (or left to the model) through noise where nobody speaks."""

from __future__ import annotations

import pytest

from diface_editor.synth.align import (
    EDGE_CONSONANT_MAX_S,
    EDGE_VOWEL_MAX_S,
    SPREAD_STRETCH,
    TYPICAL_CONSONANT_S,
    TYPICAL_VOWEL_S,
    _spread_phones,
    cap_edge_phones,
)

STOP = [("SIL", 0.0, 4.54), ("S", 4.54, 4.63), ("T", 4.63, 4.68), ("AA", 4.68, 4.78)]


def test_a_last_phone_run_over_trailing_noise_ends_where_such_a_phone_can_and_silence_follows():
    phones = STOP + [("P", 4.78, 5.57)]
    words = [("stop", 4.54, 5.57)]
    got, w = cap_edge_phones(phones, words, 5.57)
    assert got[-2] == ("P", 4.78, pytest.approx(4.78 + EDGE_CONSONANT_MAX_S))
    assert got[-1][0] == "SIL" and got[-1][2] == 5.57
    assert w == [("stop", 4.54, pytest.approx(4.78 + EDGE_CONSONANT_MAX_S))]
    assert got[:4] == STOP  # nothing before it moves


def test_a_first_vowel_run_over_leading_noise_keeps_its_end():
    phones = [("AH", 0.0, 0.9), ("N", 0.9, 1.0), ("D", 1.0, 1.1), ("SIL", 1.1, 2.0)]
    got, w = cap_edge_phones(phones, [("and", 0.0, 1.1)], 2.0)
    assert got[0] == ("SIL", 0.0, pytest.approx(0.9 - EDGE_VOWEL_MAX_S))
    assert got[1] == ("AH", pytest.approx(0.9 - EDGE_VOWEL_MAX_S), 0.9)
    assert w[0][1] == pytest.approx(0.9 - EDGE_VOWEL_MAX_S)


def test_plausible_edge_phones_and_long_phones_inside_the_take_are_left_alone():
    phones = [("AH", 0.0, 0.3), ("N", 0.3, 1.2), ("D", 1.2, 1.5)]  # a long N inside, short edge phones
    words = [("and", 0.0, 1.5)]
    assert cap_edge_phones(phones, words, 1.5) == (phones, words)
    quiet_end = STOP + [("P", 4.78, 5.3), ("SIL", 5.3, 5.57)]  # the aligner found the silence itself
    assert cap_edge_phones(quiet_end, [("stop", 4.54, 5.3)], 5.57)[0] == quiet_end


class _Dictionary:
    def lookup_word(self, word):
        return {"stop": "S T AA P", "and": "AH N D", "a": "AH"}.get(word)


def test_a_spread_word_takes_time_by_its_phones_and_no_more_than_its_share():
    typical = 3 * TYPICAL_CONSONANT_S + TYPICAL_VOWEL_S
    # the last word of the take, stretched over 1.02 s of babble: said from its start, then silence
    words, phones = _spread_phones(_Dictionary(), [("stop", 4.54, 5.56)], trailing=True)
    said = SPREAD_STRETCH * typical
    assert words == [("stop", 4.54, pytest.approx(4.54 + said))]
    assert [p for p, _s, _e in phones] == ["S", "T", "AA", "P", "SIL"]
    assert phones[-1][1:] == (pytest.approx(4.54 + said), 5.56)
    s_len, aa_len = (phones[i][2] - phones[i][1] for i in (0, 2))
    assert aa_len / s_len == pytest.approx(TYPICAL_VOWEL_S / TYPICAL_CONSONANT_S)  # a vowel lasts longer
    # a word inside the take that took the pause before it: silence, then the word
    words, phones = _spread_phones(_Dictionary(), [("and", 3.0, 4.0)])
    assert phones[0][0] == "SIL" and phones[0][1] == 3.0
    assert words[0][2] == 4.0 and phones[-1][2] == 4.0
    # a word of about its typical length fills its interval
    words, phones = _spread_phones(_Dictionary(), [("and", 3.0, 3.3)], trailing=True)
    assert words == [("and", 3.0, 3.3)] and phones[0] == ("AH", 3.0, pytest.approx(3.0 + 0.3 * 0.1 / 0.24))
    assert phones[-1][2] == pytest.approx(3.3)


def test_a_word_given_its_own_span_in_the_lane_fills_it(monkeypatch):
    """Retyping or inserting a word aligns it on the span the user gave it: nothing there is noise, so a
    word the aligner can only spread fills the span instead of leaving a pause in it."""
    pytest.importorskip("pocketsphinx")
    from diface_editor.core.audio import AudioClip
    from diface_editor.core.paths import resource
    from diface_editor.engine.transcript_edits import word_phones
    from diface_editor.synth import align as A

    clip = AudioClip.load(resource("demo", "demo.wav"))
    start, end = 0.6, 1.8  # speech throughout
    monkeypatch.setattr(A, "_word_pass", lambda dec, pcm, words: [(words[0], 0.0, len(pcm) / 2 / A.ALIGN_RATE)])
    monkeypatch.setattr(A, "_phone_pass", lambda dec, pcm: (_ for _ in ()).throw(RuntimeError("Failed")))
    monkeypatch.setattr(A, "_word_phones", lambda *a: None)  # so the word's phones are spread
    words, phones = word_phones(clip, start, end, "stop")
    assert words == (("stop", start, pytest.approx(end)),)
    assert phones[0][1] == start and phones[-1][2] == pytest.approx(end)
    assert "SIL" not in [p for p, _s, _e in phones]
    # the same word aligned as a whole take is said in about its typical length, then silence
    seg = clip.samples[int(start * clip.sample_rate):int(end * clip.sample_rate)]
    take = A.align(seg, clip.sample_rate, "stop")
    assert take.words[0][2] == pytest.approx(SPREAD_STRETCH * (3 * TYPICAL_CONSONANT_S + TYPICAL_VOWEL_S))
    assert take.phones[-1][0] == "SIL"


def test_a_spread_word_and_the_silence_beside_it_meet_exactly():
    """No sliver between them (a TextGrid export showed an empty interval of 1e-15 s there)."""
    for trailing in (True, False):
        _words, phones = _spread_phones(_Dictionary(), [("stop", 4.54, 5.56)], trailing=trailing)
        assert all(a[2] == b[1] for a, b in zip(phones, phones[1:]))
