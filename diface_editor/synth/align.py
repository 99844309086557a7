"""Forced alignment of speech with its transcript (word and phone timings), offline.

Uses the PyPI package ``pocketsphinx`` (5.x), which ships a US-English acoustic model and the
CMU pronouncing dictionary. Two passes, as pocketsphinx recommends: word alignment, then phone
alignment; when the phone pass fails on the whole clip (a sixth of the real recordings of the
evaluation set), each word is phone-aligned on its own stretch of audio. Words missing from the
dictionary get a pronunciation from espeak-ng's grapheme-to-phoneme rules (mapped to ARPAbet) when
espeak-ng is installed; otherwise they are reported in one clear error.

Audio is resampled to 16 kHz mono. Phones are returned in the common phone set
(:mod:`diface_editor.synth.phonemes`) and cover ``[0, duration]`` (silence fills gaps).
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass

import numpy as np

from diface_editor.core.errors import DifaceError
from diface_editor.core.transcript import transcript_words  # the aligner's tokens (imported from here too)
from diface_editor.synth.dsp import resample
from diface_editor.synth.phonemes import SIL, Phone, tidy_timing, to_common

log = logging.getLogger(__name__)

ALIGN_RATE = 16000
FRAME_S = 0.01  # pocketsphinx frames are 10 ms
NOISE_FLOORS = (3e-4, 3e-3, 1e-2)  # white-noise levels (re full scale) tried in turn

_lock = threading.Lock()
_decoder: dict = {}


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
    """

    words: list[tuple[str, float, float]]
    phones: list[Phone]
    duration: float
    g2p_words: list[str]


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


def carve_pauses(phones: list[Phone], samples: np.ndarray, sample_rate: int, min_pause: float = 0.1,
                 keep: float = 0.06, threshold_db: float = -35.0) -> list[Phone]:
    """Turn silent stretches that the aligner gave to speech phones into ``SIL``.

    pocketsphinx's alignment puts no optional silence between words, so a pause (a comma) is
    absorbed by the neighbouring phones, typically stops ("map, but": P and B of 150-250 ms).
    Every run of 10 ms frames below ``threshold_db`` (relative to the clip's 95th-percentile
    frame level) lasting at least ``min_pause`` seconds that is not already mostly ``SIL``
    becomes silence: the phone speaking into the run ends where it starts, the phone after it
    keeps ``keep`` seconds before the run's end (the closure before a release), and phones lying
    wholly inside the run are dropped.
    """
    x = np.asarray(samples, np.float64)
    hop = max(1, int(round(0.01 * sample_rate)))
    n = x.size // hop
    if n < 3 or not phones:
        return list(phones)
    rms = np.sqrt(np.mean(x[: n * hop].reshape(n, hop) ** 2, axis=1)) + 1e-9
    silent = 20 * np.log10(rms / np.percentile(rms, 95)) < threshold_db
    edges = np.flatnonzero(np.diff(np.r_[0, silent.astype(np.int8), 0]))
    runs = [(float(a) * 0.01, float(b) * 0.01) for a, b in zip(edges[::2], edges[1::2]) if (b - a) * 0.01 >= min_pause]
    out = list(phones)
    for rs, re_ in runs:
        covered = sum(max(0.0, min(e, re_) - max(s, rs)) for p, s, e in out if p == SIL)
        if covered >= 0.5 * (re_ - rs):
            continue
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


def _spread_phones(dec, segs: list[tuple[str, float, float]]) -> tuple[list[tuple[str, float, float]], list[Phone]]:
    """Fallback: each word's dictionary phones spread evenly over the word's interval."""
    word_list: list[tuple[str, float, float]] = []
    phones: list[Phone] = []
    for w, s, e in segs:
        if w.startswith(("<", "[", "+")):
            phones.append((SIL, s, e))
            continue
        word_list.append((w, s, e))
        pron = (dec.lookup_word(w) or "").split() or [SIL]
        step = (e - s) / len(pron)
        for i, p in enumerate(pron):
            for c in to_common(p, "arpabet"):
                phones.append((c, s + i * step, s + (i + 1) * step))
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


def _per_word_phones(dec, pcm: bytes, segs: list[tuple[str, float, float]]) -> tuple[list[tuple[str, float, float]], list[Phone]]:
    """Fallback when the whole-utterance phone pass fails (pocketsphinx: "Failed to stop utterance
    processing", seen on a sixth of the real recordings): each word of the word pass gets its phones
    from an alignment on its own stretch of audio (:func:`_word_phones`; measured on those recordings:
    84 % of their words), else its dictionary phones spread evenly over it."""
    word_list: list[tuple[str, float, float]] = []
    phones: list[Phone] = []
    spread = 0
    for w, s, e in segs:
        if w.startswith(("<", "[", "+")):
            phones.append((SIL, s, e))
            continue
        word_list.append((w, s, e))
        got = _word_phones(dec, pcm, w, s, e)
        if got is None:
            spread += 1
            got = _spread_phones(dec, [(w, s, e)])[1]
        phones.extend(got)
    if spread:
        log.info("%d of %d words got evenly spread dictionary phones", spread, len(word_list))
    return word_list, phones


def align(samples: np.ndarray, sample_rate: int, transcript: str) -> Alignment:
    """Force-align ``transcript`` to (N,) mono ``samples``.

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

    def pcm_with(floor: float) -> bytes:
        return (np.clip(x16 / peak * 0.9 + noise * floor, -1.0, 1.0) * 32767).astype("<i2").tobytes()
    segs: list[tuple[str, float, float]] = []
    with _lock:
        dec = _get_decoder()
        g2p_words = _ensure_words(dec, words)
        for floor in NOISE_FLOORS:
            pcm = pcm_with(floor)
            try:
                segs = _word_pass(dec, pcm, words)
                break
            except AlignmentError:
                if floor == NOISE_FLOORS[-1]:
                    raise
                log.info("word alignment failed with noise floor %g; retrying", floor)
        try:
            word_list, phones = _phone_pass(dec, pcm)
        except RuntimeError as e:  # pocketsphinx raises RuntimeError("Failed to ...") on search failures
            log.info("pocketsphinx phone alignment of the whole clip failed (%s); aligning word by word", e)
            _decoder.clear()  # start from a fresh decoder next time
            dec = _get_decoder()
            _ensure_words(dec, words)
            if not segs:
                raise AlignmentError("pocketsphinx could not align the transcript with the audio") from None
            word_list, phones = _per_word_phones(dec, pcm, segs)
    if not word_list:
        raise AlignmentError("pocketsphinx aligned no words")
    phones = tidy_timing(carve_pauses(phones, x, int(sample_rate)), duration)
    return Alignment(words=word_list, phones=phones, duration=duration, g2p_words=g2p_words)
