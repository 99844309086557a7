"""Edits of the transcript's words and phones, Qt-free: the new :class:`Transcript` of a retimed
boundary, an edited, deleted or inserted word (with the phones of a new word found again), and the
frames a change re-solves.

The editor's lane turns gestures into these calls; :meth:`EditSession.change_transcript
<diface_editor.engine.session.EditSession.change_transcript>` pushes the result as one undo step and
re-solves the face around the changed span, as a keyframe change does around its frame.

New phones of a word (:func:`word_phones`): pocketsphinx force-aligns the new text on the word's own
stretch of audio (:func:`diface_editor.synth.align.align`); when that fails (a very short span, the
new word does not match the sound), the pronouncing dictionary's phones (espeak-ng's guess for a
word it lacks) are spread evenly over the span. The words fill the span: the aligner cuts no phone at its
edges as noise (``align(..., fill=True)``).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np

from diface_editor.core.errors import DifaceError
from diface_editor.core.transcript import SIL, Timed, Transcript, TranscriptError, changed_span

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TranscriptEditResult:
    """A proposed transcript change: the new transcript and its undo label."""

    transcript: Transcript
    label: str


def _aligned(tr: Transcript | None) -> Transcript:
    if tr is None or not tr.aligned:
        raise TranscriptError("there is no aligned transcript to edit: type it in the Generate panel and Align")
    return tr


def retime(tr: Transcript | None, kind: str, index: int, edge: str, seconds: float) -> TranscriptEditResult:
    """Move the ``edge`` (``"start"``/``"end"``) of word or phone ``index`` (``kind`` ``"words"``/``"phones"``)
    to ``seconds`` (clamped between the neighbours, :meth:`Transcript.retimed`)."""
    tr = _aligned(tr)
    new = tr.retimed(kind, int(index), edge, float(seconds))
    items = tr.words if kind == "words" else tr.phones
    return TranscriptEditResult(new, f"retime {kind[:-1]} '{items[int(index)][0]}'")


def word_phones(audio, start: float, end: float, text: str) -> tuple[tuple[Timed, ...], tuple[Timed, ...]]:
    """Words and phones of ``text`` said over ``start..end`` seconds of ``audio`` (an AudioClip), in
    clip seconds (see the module docstring for how).

    Raises:
        DifaceError: the text has no words, or a word has no pronunciation (one sentence).
    """
    from diface_editor.synth.align import AlignmentError, align, transcript_words

    words = transcript_words(text)
    if not words:
        raise TranscriptError("the new text has no words")
    sr = int(audio.sample_rate)
    x = np.asarray(audio.samples, np.float32).reshape(-1)
    seg = x[int(round(start * sr)): int(round(end * sr))]
    try:
        al = align(seg, sr, " ".join(words), fill=True)  # the user's span: no edge cut as noise
        ws = tuple((w, start + a, min(end, start + b)) for w, a, b in al.words)
        ps = tuple((p, start + a, min(end, start + b)) for p, a, b in al.phones if start + a < end)
        return _filled_edges(ws, ps, start, end)
    except AlignmentError as e:
        if "pronouncing dictionary" in str(e):
            raise
        log.info("pocketsphinx could not align %r on %.2f..%.2f s (%s): spreading dictionary phones", text, start,
                 end, e)
    return _spread(words, start, end)


#: a silence the aligner leaves at an edge of a word's span shorter than this is absorbed by the word
#: (connected speech: a word's span has no pause in it; a sliver of silence there is a closure or noise)
EDGE_PAUSE_S = 0.06


def _filled_edges(ws: tuple[Timed, ...], ps: tuple[Timed, ...], start: float,
                  end: float) -> tuple[tuple[Timed, ...], tuple[Timed, ...]]:
    """``ws`` / ``ps`` with a silence under :data:`EDGE_PAUSE_S` at either edge of ``start..end`` taken
    into the first / last word and phone (a longer one is a pause and stays)."""
    ws, ps = list(ws), [p for p in ps if p[0] != SIL]
    if not ws or not ps:
        return tuple(ws), tuple(ps)
    if 0 < ws[0][1] - start < EDGE_PAUSE_S:
        ws[0] = (ws[0][0], start, ws[0][2])
        ps[0] = (ps[0][0], start, ps[0][2])
    if 0 < end - ws[-1][2] < EDGE_PAUSE_S:
        ws[-1] = (ws[-1][0], ws[-1][1], end)
        ps[-1] = (ps[-1][0], ps[-1][1], end)
    return tuple(ws), tuple(ps)


def _pronunciation(word: str) -> list[str]:
    """Common-set phones of ``word`` from pocketsphinx's dictionary, else espeak-ng's guess."""
    from diface_editor.synth import align as al
    from diface_editor.synth.phonemes import to_common

    with al._lock:  # the aligner's shared decoder (its dictionary)
        dec = al._get_decoder()
        pron = dec.lookup_word(word)
    if pron is None:
        pron = al._g2p(word)
    if not pron:
        raise DifaceError(f"the word {word!r} is not in the pronouncing dictionary and espeak-ng (used to guess "
                          "pronunciations) is not available")
    return [c for p in pron.split() for c in to_common(p, "arpabet") if c != SIL]


def _spread(words: list[str], start: float, end: float) -> tuple[tuple[Timed, ...], tuple[Timed, ...]]:
    prons = [_pronunciation(w) for w in words]
    n = sum(max(1, len(p)) for p in prons)
    step = (end - start) / n
    ws, ps, k = [], [], 0
    for w, pron in zip(words, prons):
        a = start + k * step
        for p in pron:
            ps.append((p, start + k * step, start + (k + 1) * step))
            k += 1
        k += 0 if pron else 1
        ws.append((w, a, start + k * step))
    return tuple(ws), tuple(ps)


def edit_word(tr: Transcript | None, audio, index: int, text: str) -> TranscriptEditResult:
    """Word ``index`` said as ``text`` instead (several words allowed; empty: deleted), its phones
    found again on its span (:func:`word_phones`)."""
    tr = _aligned(tr)
    if not 0 <= int(index) < len(tr.words):
        raise TranscriptError(f"there is no word {index}")
    old, a, b = tr.words[int(index)]
    if not text.strip():
        return delete_word(tr, index)
    ws, ps = word_phones(audio, a, b, text)
    label = " ".join(w for w, _x, _y in ws)
    return TranscriptEditResult(tr.replaced_span(a, b, ws, ps, said=text), f"edit word '{old}' to '{label}'")


def delete_word(tr: Transcript | None, index: int) -> TranscriptEditResult:
    """Word ``index`` removed (its span becomes silence: no visemes there)."""
    tr = _aligned(tr)
    if not 0 <= int(index) < len(tr.words):
        raise TranscriptError(f"there is no word {index}")
    w, a, b = tr.words[int(index)]
    return TranscriptEditResult(tr.replaced_span(a, b), f"delete word '{w}'")


def insert_word(tr: Transcript | None, audio, seconds: float, text: str) -> TranscriptEditResult:
    """``text`` inserted in the pause at ``seconds`` (:meth:`Transcript.gap_at`), its phones aligned there."""
    tr = _aligned(tr)
    gap = tr.gap_at(seconds)
    if gap is None:
        raise TranscriptError("there is a word here already: right-click in a pause between words to insert one")
    ws, ps = word_phones(audio, gap[0], gap[1], text)
    label = " ".join(w for w, _x, _y in ws)
    return TranscriptEditResult(tr.replaced_span(gap[0], gap[1], ws, ps, said=text), f"insert word '{label}'")


def changed_frames(old: Transcript | None, new: Transcript | None, fps: float, n_frames: int) -> tuple[int, ...]:
    """Frames (at ``fps``, within ``0..n_frames-1``) over which the phones of ``old`` and ``new`` differ:
    the centres of the re-solve (its window reaches the influence radius farther on each side)."""
    span = changed_span(old, new)
    if span is None or n_frames < 1:
        return ()
    a = max(0, int(math.floor(span[0] * fps)))
    b = min(n_frames - 1, int(math.ceil(span[1] * fps)))
    return tuple(range(a, b + 1)) if b >= a else ()
