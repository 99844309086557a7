"""Forced alignment of speech with its transcript (word and phone timings), offline.

Uses the PyPI package ``pocketsphinx`` (5.x), which ships a US-English acoustic model and the
CMU pronouncing dictionary. Two passes, as pocketsphinx recommends: word alignment, then phone
alignment; when the phone pass fails on the whole clip (a sixth of the real recordings of the
evaluation set), each word is phone-aligned on its own stretch of audio.

With ``partial=True`` (a typed transcript in the editor and ``diface generate --text``) a clip whose
word pass fails as a whole (about one real recording in seven: long conversational takes, takes in
noise, a line said differently from the script; or a script that runs on before or after the take) is
aligned in parts (:func:`_align_parts`): the stretches that align strictly keep their words and phones,
and the words of a stretch that does not are spread over its speech with the phone :data:`UNALIGNED`
(``SPN``, MFA's label for speech it could not analyse), which pins nothing: the model follows the audio
there. A script that does align strictly is checked for words at its start or end that were never said
(a speaker's name, the end of a stage direction: :func:`_unsaid_ends`), which the strict pass squeezes
onto the first or last words said; they are given up the same way. Words missing from the dictionary
get a pronunciation from espeak-ng's grapheme-to-phoneme rules (mapped to ARPAbet) when espeak-ng is
installed; otherwise they are reported in one clear error.

A take that starts or ends in noise (babble above all) gets its first (last) word run to the clip's edge
by the word pass; a phone reaching the edge is cut to the longest such a phone is said
(:func:`cap_edge_phones`), and a word whose phones could not be aligned is spread by typical phone
durations over no more than twice its typical length (:func:`_spread_phones`), silence in the rest.

Audio is resampled to 16 kHz mono. Phones are returned in the common phone set
(:mod:`diface_editor.synth.phonemes`) and cover ``[0, duration]`` (silence fills gaps).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from dataclasses import dataclass, field

import numpy as np

from diface_editor.core.errors import DifaceError
from diface_editor.core.transcript import UNALIGNED, transcript_words  # also imported from here
from diface_editor.synth.dsp import resample
from diface_editor.synth.phonemes import SIL, VOWELS, Phone, tidy_timing, to_common

log = logging.getLogger(__name__)

ALIGN_RATE = 16000
FRAME_S = 0.01  # pocketsphinx frames are 10 ms
NOISE_FLOORS = (3e-4, 3e-3, 1e-2)  # white-noise levels (re full scale) tried in turn
SPEECH_DB = -35.0  # a 10 ms frame this loud or louder (dB re the clip's 95th-percentile frame) is not silence
SKIP_P = 0.05      # the anchor grammar's probability of skipping a word
#: the most words the anchor grammar skips at once, tried in turn: skipping one word at a time finds
#: nothing when the last four words of a script were not said, two at a time does; three cost up to
#: 50 times as much on a noisy take
MAX_SKIP = (1, 2)
MIN_PART_S = 0.3   # partial alignment: the shortest stretch of audio a part is cut to
MAX_SPLITS = 8     # partial alignment: how often a part is halved at most
UNHEARD_S = 0.1    # partial alignment: words before the first word found with less speech than this were not said
EDGE_PAD_S = 0.1   # partial alignment: audio kept before the first (after the last) word found
#: partial alignment: fewer of the words placed than this share is a failure (60 random words on the demo
#: line: 6 placed)
MIN_PLACED = 1 / 3
# partial alignment: or at least this share of the words not given up for silence (a whole scene typed
# for one line; at 1 / 3, half of the scripts it let through misplaced most of their line)
MIN_HEARD = 2 / 3
#: partial alignment: no part is tried after (seconds, seconds per second of audio) from its start, both
#: passes together; the rest is given up (measured on 21 real takes of 3-26 s: median 1.1 s, at most
#: 10.9 s on 2 CPU cores). One decode already running is not stopped: the anchor grammar that may skip the
#: ends took up to 2.5 minutes on a 25 s take in noise, in pocketsphinx's lattice search (``hyp()``, which
#: holds the GIL; the editor aligns in a process of its own, :mod:`diface_editor.engine.align_process`)
PARTIAL_BUDGET_S = (10.0, 0.5)

_lock = threading.Lock()
_decoder: dict = {}
#: results of the decodes made within one :func:`align` call (held under ``_lock``; cleared by each):
#: a partial alignment's second pass asks many of its first pass's questions again, each a decode of
#: seconds (minutes for the anchor grammar that may skip the ends of a 25 s take of 61 words in noise)
_memo: dict = {}


class AlignmentError(DifaceError):
    """The transcript could not be aligned with the audio."""


@dataclass
class Alignment:
    """Result of :func:`align`.

    Attributes:
        words: ``(word, start_s, end_s)`` of each transcript word (silences left out).
        phones: ``(phone, start_s, end_s)`` in the common phone set covering ``[0, duration]``.
        duration: audio length in seconds.
        g2p_words: transcript words whose pronunciation came from espeak-ng, not the dictionary.
        unaligned: indices into ``words`` of the words that could not be aligned (``partial=True``
            only): their times are estimates and their one phone is :data:`UNALIGNED`.
    """

    words: list[tuple[str, float, float]]
    phones: list[Phone]
    duration: float
    g2p_words: list[str]
    unaligned: list[int] = field(default_factory=list)


def _get_decoder():
    try:
        from pocketsphinx import Decoder
    except ImportError:
        raise AlignmentError("forced alignment needs the Python package pocketsphinx "
                             "(pip install pocketsphinx)") from None
    if "d" not in _decoder:
        _decoder["d"] = Decoder(samprate=ALIGN_RATE, loglevel="FATAL")
        _decoder["added"] = set()
    return _decoder["d"]


def prepare() -> None:
    """Load pocketsphinx's decoder (its acoustic model and dictionary) ahead of the first alignment.
    Raises :class:`AlignmentError` without pocketsphinx."""
    with _lock:
        _get_decoder()


def _g2p(word: str) -> str | None:
    """ARPAbet pronunciation from espeak-ng, or None without espeak-ng."""
    try:
        from diface_editor.synth.tts.espeak import text_to_phonemes
        mnemonics = text_to_phonemes(word, "en-us")
    except DifaceError:
        return None
    phones = [p for m in mnemonics for p in to_common(m, "espeak") if p != SIL]
    return " ".join(phones) if phones else None


def _ensure_words(decoder, words: list[str]) -> list[str]:
    missing = sorted({w for w in words if decoder.lookup_word(w) is None})
    added, failed = [], []
    for w in missing:
        pron = _g2p(w)
        if pron:
            decoder.add_word(w, pron, update=True)
            added.append(w)
            log.info("pronunciation of %r from espeak-ng: %s", w, pron)
        else:
            failed.append(w)
    if failed:
        raise AlignmentError(f"these transcript words are not in the pronouncing dictionary and espeak-ng "
                             f"(used to guess pronunciations) is not available: {', '.join(failed)}")
    return added


def _frame_level_db(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    """(frames,) the level of each whole 10 ms frame of ``samples`` in dB re the 95th-percentile frame
    (empty for under 10 ms of audio)."""
    x = np.asarray(samples, np.float64)
    hop = max(1, int(round(0.01 * sample_rate)))
    n = x.size // hop
    if n == 0:
        return np.zeros(0)
    rms = np.sqrt(np.mean(x[: n * hop].reshape(n, hop) ** 2, axis=1)) + 1e-9
    return 20 * np.log10(rms / np.percentile(rms, 95))


def carve_pauses(phones: list[Phone], samples: np.ndarray, sample_rate: int, min_pause: float = 0.1,
                 keep: float = 0.06, threshold_db: float = SPEECH_DB) -> list[Phone]:
    """Turn silent stretches that the aligner gave to speech phones into ``SIL``.

    pocketsphinx's alignment puts no optional silence between words, so a pause (a comma) is
    absorbed by the neighbouring phones, typically stops ("map, but": P and B of 150-250 ms).
    Every run of 10 ms frames below ``threshold_db`` (relative to the clip's 95th-percentile
    frame level) lasting at least ``min_pause`` seconds that is not already mostly ``SIL``
    becomes silence: the phone speaking into the run ends where it starts, the phone after it
    keeps ``keep`` seconds before the run's end (the closure before a release), and phones lying
    wholly inside the run are dropped. Runs that touch an :data:`UNALIGNED` phone are left alone.
    """
    level = _frame_level_db(samples, sample_rate)
    if len(level) < 3 or not phones:
        return list(phones)
    silent = level < threshold_db
    edges = np.flatnonzero(np.diff(np.r_[0, silent.astype(np.int8), 0]))
    runs = [(float(a) * 0.01, float(b) * 0.01) for a, b in zip(edges[::2], edges[1::2]) if (b - a) * 0.01 >= min_pause]
    out = list(phones)
    for rs, re_ in runs:
        covered = sum(max(0.0, min(e, re_) - max(s, rs)) for p, s, e in out if p == SIL)
        if covered >= 0.5 * (re_ - rs) or any(p == UNALIGNED and s < re_ and e > rs for p, s, e in out):
            continue  # already a pause; or words that could not be placed (their times are estimates)
        cut = max(rs, re_ - keep)
        if cut - rs < min_pause * 0.5:
            continue
        new: list[Phone] = []
        for p, s, e in out:
            if e <= rs or s >= cut:
                new.append((p, s, e))
            elif s < rs:  # speaks into the run
                new.append((p, s, rs))
                if e > cut:  # and across it
                    new.append((SIL, rs, cut))
                    new.append((p, cut, e))
            elif e > cut:  # starts inside, ends after: keep its tail
                new.append((p, cut, e))
            elif p == SIL:
                new.append((p, s, e))
            # else: wholly inside the silent run -> dropped
        # fill the run with silence where nothing is left
        new.sort(key=lambda q: q[1])
        filled: list[Phone] = []
        for q in new:
            if filled and q[1] > filled[-1][2] + 1e-9:
                filled.append((SIL, filled[-1][2], q[1]))
            filled.append(q)
        out = filled
    return out


#: the longest a phone reaching the very start or end of a take is taken to be said (s; in the clean
#: alignments of the 13 training takes the longest vowel lasts 0.62 s, the longest consonant 0.46 s, 95 %
#: of vowels under 0.31 s and of consonants under 0.21 s): in a take that starts or ends in noise, babble
#: above all, the word pass runs the first (last) word to the clip's edge and its phone over the noise
#: (a P of 0.79 s, an ER of 1.45 s, an IY of 1.41 s) (:func:`cap_edge_phones`)
EDGE_VOWEL_MAX_S, EDGE_CONSONANT_MAX_S = 0.5, 0.35
EDGE_GAP_S = 0.02  # a phone ending (starting) this close to the clip's end (start) reaches it


def cap_edge_phones(phones: list[Phone], words: list[tuple[str, float, float]], duration: float,
                    ) -> tuple[list[Phone], list[tuple[str, float, float]]]:
    """``phones`` (contiguous, covering ``[0, duration]`` s) and ``words`` with a phone that reaches the
    clip's start or end and lasts longer than :data:`EDGE_VOWEL_MAX_S` (a vowel) or
    :data:`EDGE_CONSONANT_MAX_S` cut to that length, silence in the rest (the word shrinks with it)."""
    out, wl = list(phones), list(words)

    def cap(p: str) -> float:
        return EDGE_VOWEL_MAX_S if p in VOWELS else EDGE_CONSONANT_MAX_S

    speech = [i for i, (p, _s, _e) in enumerate(out) if p not in (SIL, UNALIGNED)]
    if not speech or not wl:
        return out, wl
    i = speech[-1]
    p, s, e = out[i]
    if e >= duration - EDGE_GAP_S and e - s > cap(p):
        out[i:] = [(p, s, s + cap(p)), (SIL, s + cap(p), duration)]
        w, ws, we = wl[-1]
        wl[-1] = (w, ws, min(we, s + cap(p)))
    i = speech[0]
    p, s, e = out[i]
    if s <= EDGE_GAP_S and e - s > cap(p):
        out[:i + 1] = [(SIL, 0.0, e - cap(p)), (p, e - cap(p), e)]
        w, ws, we = wl[0]
        wl[0] = (w, max(ws, e - cap(p)), we)
    return out, wl


def _word_pass(dec, pcm: bytes, words: list[str]) -> list[tuple[str, float, float]]:
    """First pass: word alignment. Returns (word, start_s, end_s) including ``<sil>`` segments."""
    dec.set_align_text(" ".join(words))
    dec.start_utt()
    dec.process_raw(pcm, full_utt=True)
    dec.end_utt()
    if dec.hyp() is None:
        raise AlignmentError("pocketsphinx could not align the transcript with the audio "
                             "(does the text match what is said?)")
    segs = [(re.sub(r"\(\d+\)$", "", sg.word), sg.start_frame * FRAME_S, (sg.end_frame + 1) * FRAME_S)
            for sg in dec.seg()]
    if [w for w, _, _ in segs if not w.startswith(("<", "[", "+"))] != words:
        raise AlignmentError("pocketsphinx could not align the transcript with the audio "
                             "(does the text match what is said?)")
    return segs


def _phone_pass(dec, pcm: bytes) -> tuple[list[tuple[str, float, float]], list[Phone]]:
    """Second pass: phone alignment within the word alignment of the first pass."""
    dec.set_alignment()
    dec.start_utt()
    dec.process_raw(pcm, full_utt=True)
    dec.end_utt()
    al = dec.get_alignment()
    if al is None:
        raise RuntimeError("no phone alignment")
    word_list: list[tuple[str, float, float]] = []
    phones: list[Phone] = []
    for w in al:
        ws, we = w.start * FRAME_S, (w.start + w.duration) * FRAME_S
        name = re.sub(r"\(\d+\)$", "", w.name)
        if name not in ("<s>", "</s>", "<sil>") and not name.startswith(("+", "[")):
            word_list.append((name, ws, we))
        for p in w:
            ps, pe = p.start * FRAME_S, (p.start + p.duration) * FRAME_S
            for c in to_common(p.name, "arpabet"):
                phones.append((c, ps, pe))
    return word_list, phones


#: typical phone durations (s) of a spread word (:func:`_spread_phones`); the clean alignments of the 13
#: training takes (``data/real_train``) have medians of 0.08 s for vowels and consonants alike and means of
#: 0.11 s and 0.09 s (the phrase-final phones drawn out)
TYPICAL_VOWEL_S, TYPICAL_CONSONANT_S = 0.10, 0.07
#: a word spread over more than this many times its typical length (the sum of its phones') keeps this
#: many times it and gives the rest to silence (:func:`_spread_phones`)
SPREAD_STRETCH = 2.0


def _typical_s(phone: str) -> float:
    return TYPICAL_VOWEL_S if phone in VOWELS else TYPICAL_CONSONANT_S


def _spread_phones(dec, segs: list[tuple[str, float, float]], trailing: bool = False,
                   stretch: float = SPREAD_STRETCH) -> tuple[list[tuple[str, float, float]], list[Phone]]:
    """Fallback: each word's dictionary phones spread over the word's interval in proportion to their
    typical durations (:data:`TYPICAL_VOWEL_S`, :data:`TYPICAL_CONSONANT_S`).

    A word the word pass stretched over more than ``stretch`` (:data:`SPREAD_STRETCH`) times its typical
    length (the last word of a take in babble noise ran on over 0.6 s of crowd after it, a word after a
    pause took the pause) is said in that long and the rest is silence: before it, or after it when
    ``trailing`` (the last word of the stretch aligned). The word's interval shrinks to its phones'."""
    word_list: list[tuple[str, float, float]] = []
    phones: list[Phone] = []
    for i, (w, s, e) in enumerate(segs):
        if w.startswith(("<", "[", "+")):
            phones.append((SIL, s, e))
            continue
        pron = [c for p in (dec.lookup_word(w) or "").split() for c in to_common(p, "arpabet")] or [SIL]
        typical = [_typical_s(p) for p in pron]
        said = min(e - s, stretch * sum(typical))
        if said < e - s - 1e-9:
            if trailing and not any(not x.startswith(("<", "[", "+")) for x, _, _ in segs[i + 1:]):
                phones.append((SIL, s + said, e))
                e = s + said
            else:
                phones.append((SIL, s, e - said))
                s = e - said
        word_list.append((w, s, e))
        edges = s + (e - s) * np.cumsum([0.0, *typical]) / sum(typical)
        edges[-1] = e  # exactly: the silence beside it starts there
        phones += [(p, float(a), float(b)) for p, a, b in zip(pron, edges[:-1], edges[1:])]
    phones.sort(key=lambda q: q[1])
    return word_list, phones


WORD_PAD_S = 0.03  # audio on each side of a word given to its own phone alignment


def _word_phones(dec, pcm: bytes, word: str, s: float, e: float) -> list[Phone] | None:
    """Phones of one word aligned on its own stretch of audio ``[s, e]`` (seconds, from the word pass)
    with :data:`WORD_PAD_S` around it; clipped to ``[s, e]`` and stretched to fill it. ``None`` when
    pocketsphinx finds no alignment there."""
    a = max(0, int(round((s - WORD_PAD_S) * ALIGN_RATE)))
    b = min(len(pcm) // 2, int(round((e + WORD_PAD_S) * ALIGN_RATE)))
    chunk = pcm[2 * a:2 * b]
    if b - a < int(0.03 * ALIGN_RATE):
        return None
    try:
        dec.set_align_text(word)
        dec.start_utt()
        dec.process_raw(chunk, full_utt=True)
        dec.end_utt()
        if dec.hyp() is None:
            return None
        _, phones = _phone_pass(dec, chunk)
    except RuntimeError:
        return None
    t0 = a / ALIGN_RATE
    phones = [(p, max(s, t0 + ps), min(e, t0 + pe)) for p, ps, pe in phones if p != SIL]
    phones = [q for q in phones if q[2] > q[1] + 1e-6]
    if not phones:
        return None
    phones[0] = (phones[0][0], s, phones[0][2])  # the word's phones fill the word's span
    phones[-1] = (phones[-1][0], phones[-1][1], e)
    return phones


def _per_word_phones(dec, pcm: bytes, segs: list[tuple[str, float, float]], fill: bool = False,
                     ) -> tuple[list[tuple[str, float, float]], list[Phone]]:
    """Fallback when the whole-utterance phone pass fails (pocketsphinx: "Failed to stop utterance
    processing", seen on a sixth of the real recordings): each word of the word pass gets its phones
    from an alignment on its own stretch of audio (:func:`_word_phones`; measured on those recordings:
    84 % of their words), else its dictionary phones spread evenly over it."""
    word_list: list[tuple[str, float, float]] = []
    phones: list[Phone] = []
    spread = 0
    last = max((i for i, (w, _s, _e) in enumerate(segs) if not w.startswith(("<", "[", "+"))), default=-1)
    for i, (w, s, e) in enumerate(segs):
        if w.startswith(("<", "[", "+")):
            phones.append((SIL, s, e))
            continue
        got = _word_phones(dec, pcm, w, s, e)
        if got is None:
            spread += 1
            (word,), got = _spread_phones(dec, [(w, s, e)], trailing=i == last,
                                          stretch=np.inf if fill else SPREAD_STRETCH)
        else:
            word = (w, s, e)
        word_list.append(word)
        phones.extend(got)
    if spread:
        log.info("%d of %d words got their dictionary phones spread over them", spread, len(word_list))
    return word_list, phones


def _fresh_decoder(words: list[str]):
    """A new decoder with ``words`` in its dictionary (after a search failure the old one may be stuck)."""
    _decoder.clear()
    dec = _get_decoder()
    _ensure_words(dec, words)
    return dec


def _shifted(items, t0: float) -> list:
    return [(n, s + t0, e + t0) for n, s, e in items]


def _align_span(pcms: list[bytes], words: list[str], a: float, b: float, fill: bool = False):
    """Strict word and phone alignment of ``words`` on ``[a, b]`` seconds of the clip, tried with each
    noise floor's PCM in turn: ``(words, phones, floor index)`` in clip seconds (phones cover
    ``[a, b]``), or ``None`` when no floor gives a word alignment."""
    key = ("span", a, b, tuple(words), fill)
    if key in _memo:
        got = _memo[key]
        return None if got is None else (list(got[0]), list(got[1]), got[2])
    got = _memo[key] = _align_span_once(pcms, words, a, b, fill)
    return None if got is None else (list(got[0]), list(got[1]), got[2])


def _align_span_once(pcms: list[bytes], words: list[str], a: float, b: float, fill: bool = False):
    i0, i1 = 2 * int(round(a * ALIGN_RATE)), 2 * int(round(b * ALIGN_RATE))
    for k, pcm in enumerate(pcms):
        chunk = pcm[i0:i1]
        dec = _get_decoder()
        try:
            segs = _word_pass(dec, chunk, words)
        except AlignmentError:
            continue
        except RuntimeError:  # a search failure inside pocketsphinx
            _fresh_decoder(words)
            continue
        try:
            word_list, phones = _phone_pass(dec, chunk)
        except RuntimeError as e:  # pocketsphinx raises RuntimeError("Failed to ...") on search failures
            log.info("pocketsphinx phone alignment of %.2f..%.2f s failed (%s); aligning word by word", a, b, e)
            dec = _fresh_decoder(words)
            word_list, phones = _per_word_phones(dec, chunk, segs, fill)
        return _shifted(word_list, a), _shifted(phones, a), k
    return None


#: one stretch of a partial alignment: its words and phones (clip seconds) and whether they aligned
#: (``None``: given up where nothing is said, words of the script never said)
Part = tuple[list, list[Phone], "bool | None"]

# the anchor grammars, tried in turn until one finds a path: (most words skipped in a row anywhere,
# the probability of skipping any run at the start or the end, 0: never); pocketsphinx follows one empty
# transition at a time, so a skip of k words is one transition. The last is tried last because on
# noisy takes that way out places fewer words
ANCHOR_GRAMMARS = tuple((k, 0.0) for k in MAX_SKIP) + ((MAX_SKIP[-1], SKIP_P ** 2),)
# the probability of a run of unsaid words at the start or the end of a script that aligned strictly: at
# 1e-6 the said first word of "M F A ..." (spelled) was skipped on 5 of 231 recordings, at 1e-20 on 1
UNSAID_P = 1e-20
ENDS_GRAMMAR = ((0, UNSAID_P),)  # skips only a run at the start or the end: words of the script never said


def _anchors(pcm: bytes, words: list[str], t0: float,
             grammars: tuple[tuple[int, float], ...] = ANCHOR_GRAMMARS) -> list[tuple[int, float, float]]:
    """``(index into words, start_s, end_s)`` of the words a grammar that may skip any word (up to
    :data:`MAX_SKIP` in a row; when that finds nothing, also any run of words at the start or the end)
    finds in ``pcm`` (times + ``t0``), in order; empty when it finds none. Where the strict word pass
    fails as a whole, this still places most words (measured against the strict pass on clips where
    both work: median 0 ms, 93 % within 30 ms). ``grammars``: see :data:`ANCHOR_GRAMMARS`."""
    dec = _get_decoder()
    n = len(words)
    segs: list[tuple[str, float, float]] = []
    for skip, ends in grammars:
        key = ("anchors", t0, len(pcm), tuple(words), skip, ends)
        if key in _memo:
            found, segs = _memo[key]
            if found:
                break
            continue
        trans = [(i, i + 1, 1.0 - SKIP_P, w) for i, w in enumerate(words)]
        empty = {(i, j): SKIP_P ** (j - i) for i in range(n) for j in range(i + 1, min(n, i + skip) + 1)}
        for i in range(1, n) if ends else ():
            empty.setdefault((0, i), ends)
            empty.setdefault((i, n), ends)
        trans += [(i, j, p) for (i, j), p in empty.items()]
        try:
            dec.add_fsg("diface_anchors", dec.create_fsg("diface_anchors", 0, n, trans))
            dec.activate_search("diface_anchors")
            dec.start_utt()
            dec.process_raw(pcm, full_utt=True)
            dec.end_utt()
            found = dec.hyp() is not None
            if found:
                segs = [(re.sub(r"\(\d+\)$", "", sg.word), sg.start_frame * FRAME_S, (sg.end_frame + 1) * FRAME_S)
                        for sg in dec.seg() if not sg.word.startswith(("<", "[", "+"))]
            _memo[key] = (found, segs)
            if found:
                break
        except RuntimeError:
            dec = _fresh_decoder(words)
    out, j = [], 0
    for w, s, e in segs:
        while j < n and words[j] != w:
            j += 1
        if j == n:
            break
        out.append((j, s + t0, e + t0))
        j += 1
    return out


def _spread_unaligned(words: list[str], a: float, b: float, level: np.ndarray) -> tuple[list, list[Phone]]:
    """``words`` that could not be aligned, spread over the speech in ``[a, b]`` seconds (trimmed to the
    first and last 10 ms frame of ``level`` (dB re the clip's loud frames) above :data:`SPEECH_DB`) in proportion
    to their dictionary phone counts; each gets one :data:`UNALIGNED` phone."""
    f0, f1 = int(np.floor(a / FRAME_S)), min(len(level), int(np.ceil(b / FRAME_S)))
    loud = np.flatnonzero(level[f0:f1] > SPEECH_DB) if f1 > f0 else np.zeros(0, int)
    if loud.size:
        a, b = max(a, (f0 + loud[0]) * FRAME_S), min(b, (f0 + loud[-1] + 1) * FRAME_S)
    dec = _get_decoder()
    counts = [max(1, len((dec.lookup_word(w) or "x").split())) for w in words]
    step = (b - a) / sum(counts)
    ws, ps, t = [], [], a
    for w, c in zip(words, counts):
        ws.append((w, t, t + c * step))
        ps.append((UNALIGNED, t, t + c * step))
        t += c * step
    return ws, ps


def _speech_s(level: np.ndarray, a: float, b: float) -> float:
    """Seconds of 10 ms frames of ``level`` (dB re the clip's loud frames) above :data:`SPEECH_DB` in
    ``[a, b]`` s."""
    f0, f1 = max(0, int(np.floor(a / FRAME_S))), min(len(level), int(np.ceil(b / FRAME_S)))
    return float(np.count_nonzero(level[f0:f1] > SPEECH_DB)) * FRAME_S if f1 > f0 else 0.0


def _unheard_ends(pcms, words, a, b, anchors, level, deadline, depth) -> list[Part] | None:
    """The words before the first anchor (after the last) when nothing is said there (under
    :data:`UNHEARD_S` of speech from ``a`` to :data:`EDGE_PAD_S` before it): given up there, and the
    words between aligned on the rest (a script that begins before or runs on after the take; else its
    first part would hold the unsaid words and never align). ``None`` when neither end is unheard."""
    if not anchors:
        return None
    n = len(words)
    (k0, s0, _e0), (kl, _sl, el) = anchors[0], anchors[-1]
    head = k0 > 0 and s0 - a >= 2 * EDGE_PAD_S and _speech_s(level, a, s0 - EDGE_PAD_S) < UNHEARD_S
    tail = kl < n - 1 and b - el >= 2 * EDGE_PAD_S and _speech_s(level, el + EDGE_PAD_S, b) < UNHEARD_S
    if not (head or tail):
        return None
    lo, hi = (s0 - EDGE_PAD_S if head else a), (el + EDGE_PAD_S if tail else b)
    j0, j1 = (k0 if head else 0), (kl + 1 if tail else n)
    out = [(*_spread_unaligned(words[:j0], a, lo, level), None)] if head else []
    out += _align_parts(pcms, words[j0:j1], lo, hi, level, deadline, depth + 1)
    if tail:
        out.append((*_spread_unaligned(words[j1:], hi, b, level), None))
    return out


def _align_parts(pcms: list[bytes], words: list[str], a: float, b: float, level: np.ndarray, deadline: float,
                 depth: int = 0, tried: bool = False, grammars: tuple[tuple[int, float], ...] = ANCHOR_GRAMMARS,
                 ) -> list[Part]:
    """Partial alignment of ``words`` on ``[a, b]`` s: ``(words, phones, aligned)`` parts in order;
    ``aligned`` is ``None`` for words given up where nothing is said (:func:`_unheard_ends`).

    A stretch that aligns strictly (:func:`_align_span`) is one part. Otherwise it is cut in two
    between two neighbouring words that the anchor grammar (:func:`_anchors`) places, preferring the
    longest pause between them and then the middle, and each half is aligned the same way; a stretch
    that cannot be cut (one word, under 2 x :data:`MIN_PART_S`, no neighbouring anchors,
    :data:`MAX_SPLITS` deep, or ``deadline`` (``time.monotonic()``) passed) is given up
    (:func:`_spread_unaligned`). ``tried``: the strict pass on the whole stretch already failed.
    ``grammars``: this stretch's anchor grammars (:func:`_anchors`; the stretches it is cut into use
    :data:`ANCHOR_GRAMMARS`)."""
    late = time.monotonic() > deadline
    got = None if tried or late else _align_span(pcms, words, a, b)
    if got is not None:
        return [(got[0], got[1], True)]
    n = len(words)
    if n >= 2 and b - a >= 2 * MIN_PART_S and depth < MAX_SPLITS and not late:
        i0, i1 = 2 * int(round(a * ALIGN_RATE)), 2 * int(round(b * ALIGN_RATE))
        anchors = _anchors(pcms[0][i0:i1], words, a, grammars)
        ends = _unheard_ends(pcms, words, a, b, anchors, level, deadline, depth)
        if ends is not None:
            return ends
        best = None
        for (i, _s1, e1), (k, s2, _e2) in zip(anchors, anchors[1:]):
            cut = 0.5 * (e1 + s2)
            if k != i + 1 or cut - a < MIN_PART_S or b - cut < MIN_PART_S:
                continue
            score = (s2 - e1) + 0.5 * min(k, n - k) / n  # a pause first, then the middle
            if best is None or score > best[0]:
                best = (score, k, cut)
        if best is not None:
            _score, k, cut = best
            return (_align_parts(pcms, words[:k], a, cut, level, deadline, depth + 1)
                    + _align_parts(pcms, words[k:], cut, b, level, deadline, depth + 1))
    ws, ps = _spread_unaligned(words, a, b, level)
    return [(ws, ps, False)]


def _unsaid_ends(pcms: list[bytes], words: list[str], b: float, level: np.ndarray) -> list[Part] | None:
    """A script whose strict alignment succeeded on ``[0, b]`` s may still hold words at its start (end)
    that were never said (a speaker's name, the end of a stage direction): the strict pass then squeezes
    them onto the first (last) words said and misplaces those. When the grammar that may skip a run only
    at the ends (:data:`ENDS_GRAMMAR`) skips one, nothing is said before its first word (after its
    last; under :data:`UNHEARD_S` of speech outside :data:`EDGE_PAD_S`) and the words between align
    strictly there: ``(words, phones, aligned)`` parts as :func:`_align_parts` gives, the unsaid words
    given up. ``None`` otherwise (the strict alignment stands)."""
    n = len(words)
    anchors = _anchors(pcms[0], words, 0.0, ENDS_GRAMMAR)
    if not anchors or (anchors[0][0] == 0 and anchors[-1][0] == n - 1):
        return None
    (k0, s0, _e0), (kl, _sl, el) = anchors[0], anchors[-1]
    lo = s0 - min(EDGE_PAD_S, 0.5 * s0) if k0 else 0.0
    hi = el + min(EDGE_PAD_S, 0.5 * (b - el)) if kl < n - 1 else b
    # the unsaid words need a 10 ms frame each outside the words said, and nothing said there
    if (k0 and (lo < FRAME_S * k0 or _speech_s(level, 0.0, lo) >= UNHEARD_S)) or \
            (kl < n - 1 and (b - hi < FRAME_S * (n - 1 - kl) or _speech_s(level, hi, b) >= UNHEARD_S)):
        return None
    got = _align_span(pcms, words[k0:kl + 1], lo, hi)
    if got is None:
        return None
    parts = [(*_spread_unaligned(words[:k0], 0.0, lo, level), None)] if k0 else []
    parts.append((got[0], got[1], True))
    if kl < n - 1:
        parts.append((*_spread_unaligned(words[kl + 1:], hi, b, level), None))
    return parts


def _joined(parts: list[Part]) -> tuple[list, list[Phone], list[int]]:
    """The parts of :func:`_align_parts` as one ``(words, phones, unaligned)``: ``unaligned`` indexes
    the words of the parts that did not align."""
    word_list, phones, unaligned = [], [], []
    for ws, ps, ok in parts:
        if not ok:
            unaligned += range(len(word_list), len(word_list) + len(ws))
        word_list += ws
        phones += ps
    return word_list, phones, unaligned


def _placed(parts: list[Part]) -> int:
    """How many words the aligned parts of :func:`_align_parts` place."""
    return sum(len(ws) for ws, _p, ok in parts if ok)


def _given_up_at_ends(parts: list[Part]) -> tuple[int, int]:
    """How many words the parts of :func:`_align_parts` give up before the first word placed and after
    the last."""
    counts = []
    for seq in (parts, parts[::-1]):
        n = 0
        for ws, _p, ok in seq:
            if ok:
                break
            n += len(ws)
        counts.append(n)
    return counts[0], counts[1]


def align(samples: np.ndarray, sample_rate: int, transcript: str, partial: bool = False,
          fill: bool = False) -> Alignment:
    """Force-align ``transcript`` to (N,) mono ``samples``.

    ``partial``: when the whole clip does not align, align what does and give up only the stretches
    that do not (:func:`_align_parts`; ``Alignment.unaligned`` lists their words); an error then only
    when fewer than :data:`MIN_PLACED` of the words align (a transcript of another line).

    ``fill``: the words are said over all of the audio (a word's own span, set in the editor's lane): no
    phone at its edges is cut (:func:`cap_edge_phones`) and a spread word fills its interval. Not with
    ``partial``.

    Raises :class:`AlignmentError` if the transcript is empty, a word has no pronunciation, or
    the decoder finds no alignment (transcript does not match the audio, or the audio is silent).
    """
    words = transcript_words(transcript)
    if not words:
        raise AlignmentError("the transcript has no words to align")
    x = np.asarray(samples, np.float32).reshape(-1)
    if x.size == 0:
        raise AlignmentError("the audio is empty")
    duration = x.size / float(sample_rate)
    x16 = resample(x, int(sample_rate), ALIGN_RATE)
    peak = float(np.max(np.abs(x16))) or 1.0
    # a faint fixed noise floor: stretches of exact digital silence (TTS output, padding) break
    # pocketsphinx's features and the alignment then fails (seen with espeak-ng speech); when the
    # word pass still fails, it is retried with a stronger floor (helps synthetic accents)
    noise = np.random.default_rng(0).standard_normal(x16.size).astype(np.float32)
    pcms = [(np.clip(x16 / peak * 0.9 + noise * floor, -1.0, 1.0) * 32767).astype("<i2").tobytes()
            for floor in NOISE_FLOORS]
    end16 = x16.size / ALIGN_RATE
    with _lock:
        dec = _get_decoder()
        # the shared decoder's feature state (its running cepstral mean) starts afresh: otherwise what was
        # aligned before changes the result (a babble-noise take that aligned on its own failed after
        # another one had been aligned)
        if hasattr(dec, "reinit_feat"):
            dec.reinit_feat()
        else:  # a pocketsphinx without it: a new decoder (0.3 s)
            _decoder.clear()
            dec = _get_decoder()
        g2p_words = _ensure_words(dec, words)
        _memo.clear()  # this clip's decodes only
        got = _align_span(pcms, words, 0.0, end16, fill)
        parts = None
        if got is not None and partial:
            parts = _unsaid_ends(pcms, words, end16, _frame_level_db(x16, ALIGN_RATE))
            if parts is not None:
                log.info("the script's first %d and last %d words were not said; aligned without them",
                         len(parts[0][0]) if not parts[0][2] else 0, len(parts[-1][0]) if not parts[-1][2] else 0)
        if parts is not None:
            word_list, phones, unaligned = _joined(parts)
        elif got is not None:
            (word_list, phones, k), unaligned = got, []
            if k:
                log.info("word alignment needed noise floor %g", NOISE_FLOORS[k])
        elif not partial:
            raise AlignmentError("pocketsphinx could not align the transcript with the audio "
                                 "(does the text match what is said?)")
        else:
            log.info("the transcript does not align as a whole; aligning it in parts")
            budget = PARTIAL_BUDGET_S[0] + PARTIAL_BUDGET_S[1] * end16
            level = _frame_level_db(x16, ALIGN_RATE)
            deadline = time.monotonic() + budget  # both passes together
            parts = _align_parts(pcms, words, 0.0, end16, level, deadline, tried=True)
            placed = _placed(parts)
            if max(_given_up_at_ends(parts)) > MAX_SKIP[-1]:
                # more words given up at the start (end) than the anchors may skip there: unsaid words at
                # that end (a long stage direction before the line) may have taken the place of said
                # ones; anchors that may skip any run at the ends are tried as well (a second partial
                # alignment, in what is left of the time: the decodes it repeats are remembered) and the
                # alignment placing more words is kept
                again = _align_parts(pcms, words, 0.0, end16, level, deadline, tried=True,
                                     grammars=ANCHOR_GRAMMARS[-1:])
                if _placed(again) > placed:
                    parts, placed = again, _placed(again)
            # a wrong transcript places a few words by chance; a script running on before and after the
            # take (words given up where nothing is said) may instead place most of the words heard
            heard = len(words) - sum(len(ws) for ws, _p, ok in parts if ok is None)
            if placed < MIN_PLACED * len(words) and not (heard < len(words) and placed >= MIN_HEARD * heard):
                raise AlignmentError(f"pocketsphinx could not align the transcript with the audio: only {placed} "
                                     f"of its {len(words)} words (does the text match what is said?)")
            word_list, phones, unaligned = _joined(parts)
            log.info("%d of %d words could not be aligned", len(unaligned), len(word_list))
    if not word_list:
        raise AlignmentError("pocketsphinx aligned no words")
    phones = tidy_timing(carve_pauses(phones, x, int(sample_rate)), duration)
    if not fill:
        phones, word_list = cap_edge_phones(phones, word_list, duration)
    return Alignment(words=word_list, phones=phones, duration=duration, g2p_words=g2p_words, unaligned=unaligned)


def align_stretch(samples: np.ndarray, sample_rate: int, transcript: str, i0: int, i1: int) -> Alignment:
    """Align only the words ``i0..i1-1`` of ``transcript`` (:func:`align` with ``partial=True``: the stretch
    of a script that is said, found elsewhere, e.g. by a speech recogniser) and give the script's other
    words up (:data:`UNALIGNED`), spread evenly over the audio before the first word placed and after the
    last. Raises :class:`AlignmentError` when the stretch does not align or no 10 ms frame is left
    before (after) it for the words given up there."""
    words = transcript_words(transcript)
    al = align(samples, sample_rate, " ".join(words[i0:i1]), partial=True)
    n, duration = len(words), al.duration
    s0, e1 = al.words[0][1], al.words[-1][2]
    if (i0 and s0 < FRAME_S) or (i1 < n and duration - e1 < FRAME_S):
        raise AlignmentError("no time is left before or after the words said for the script's other words")

    def given_up(ws: list[str], a: float, b: float) -> tuple[list, list[Phone]]:
        step = (b - a) / max(1, len(ws))
        spans = [(a + k * step, a + (k + 1) * step) for k in range(len(ws))]
        return [(w, x, y) for w, (x, y) in zip(ws, spans)], [(UNALIGNED, x, y) for x, y in spans]

    w0, p0 = given_up(words[:i0], 0.0, s0)
    w1, p1 = given_up(words[i1:], e1, duration)
    said = [p for p in al.phones if p[1] >= s0 - 1e-6 and p[2] <= e1 + 1e-6]
    log.info("aligned the %d words heard of the script's %d; %d before and %d after given up", i1 - i0, n, i0,
             n - i1)
    return Alignment(words=w0 + list(al.words) + w1, phones=p0 + said + p1, duration=duration,
                     g2p_words=al.g2p_words,
                     unaligned=list(range(i0)) + [i0 + k for k in al.unaligned] + list(range(i1, n)))
