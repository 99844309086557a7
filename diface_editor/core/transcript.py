"""The words spoken in a document's audio and where they are: a transcript and its alignment.

A :class:`Transcript` holds the text and, once aligned (``diface_editor.synth.align.align``, a
pocketsphinx forced alignment), the timed words and phones (``(label, start_s, end_s)``, phones in
the common ARPAbet-like set of :mod:`diface_editor.synth.phonemes`, covering the clip with ``SIL``
in the gaps). Alignment can fail (the text does not match the speech, a word has no
pronunciation): then ``error`` says why in one sentence and ``words``/``phones`` are empty, and
generation goes on from the audio alone. A partial alignment (a long or noisy take, a line said
differently from the script) keeps every word, but those it could not place have estimated times and
the one phone :data:`UNALIGNED` (:attr:`Transcript.unaligned_words`); the lane shows them, and
retyping such a word aligns it on its span.

Numpy-free plain data, so the document, the project file and the engine's requests share it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace
from typing import Any

from diface_editor.core.errors import DifaceError

SIL = "SIL"  # the silence phone of diface_editor.synth.phonemes (core does not import synth)
#: the one phone of a word a partial alignment could not place (diface_editor.synth.align.UNALIGNED):
#: its times are estimates and it pins nothing
UNALIGNED = "SPN"
#: the shortest a boundary drag makes a phone (a word: this per phone of it): pocketsphinx's shortest
#: phone (3 frames of 10 ms), about one frame of animation at 30 fps
MIN_PHONE_S = 0.03

Timed = tuple[str, float, float]


def _token_spans(text: str) -> list[tuple[int, int, str]]:
    """(start, end, token) of each word token of ``text`` (:func:`transcript_words`), with character
    offsets into ``text.lower()``, which are ``text``'s own unless lower-casing changed its length."""
    out = []
    for m in re.finditer(r"[a-z0-9']+", text.lower().replace("\u2019", "'")):
        tok = m.group()
        lead = len(tok) - len(tok.lstrip("'"))
        tok = tok.strip("'")
        if tok:
            out.append((m.start() + lead, m.start() + lead + len(tok), tok))
    return out


def transcript_words(text: str) -> list[str]:
    """Lower-case tokens of a transcript: letters, digits and inner apostrophes (what is aligned)."""
    return [tok for _a, _b, tok in _token_spans(text)]


def _spliced_text(text: str, words: tuple[Timed, ...], i0: int, i1: int, said: str,
                  after_previous: bool = False) -> str | None:
    """``text`` with the tokens of words ``i0..i1-1`` replaced by ``said`` (``i0 == i1``: ``said``
    inserted before word ``i0``, or right after word ``i0 - 1``, before its punctuation, with
    ``after_previous``), keeping the rest of the text as typed (case, punctuation, line breaks);
    None when the text's tokens are not the words one to one (then the caller joins words)."""
    spans = _token_spans(text)
    if (len(text.lower()) != len(text) or len(spans) != len(words)
            or any(tok != w.lower() for (_a, _b, tok), (w, _x, _y) in zip(spans, words))):
        return None
    said = said.strip()
    if i1 > i0:
        a, b = spans[i0][0], spans[i1 - 1][1]
        if not said:  # a deleted word takes one neighbouring space with it
            if not text[:a].strip():  # first in the text: its punctuation too ("MARY: Hello" -> "Hello")
                while b < len(text) and not text[b].isspace() and not text[b].isalnum():
                    b += 1
            if a > 0 and text[a - 1] == " ":
                a -= 1
            elif b < len(text) and text[b] == " ":
                b += 1
        out = text[:a] + said + text[b:]
    elif not said:
        return text
    elif i0 < len(spans) and not (after_previous and i0 > 0):
        a = spans[i0][0]
        out = text[:a] + said + " " + text[a:]
    else:
        b = spans[i0 - 1][1] if spans else len(text.rstrip())
        out = text[:b] + (" " if b else "") + said + text[b:]
    return out.strip(" ")


class TranscriptError(DifaceError, ValueError):
    """A transcript or its alignment does not make sense (bad times, wrong types)."""


def _timed(items: Any, what: str) -> tuple[Timed, ...]:
    out: list[Timed] = []
    for i, it in enumerate(items or ()):
        try:
            label, a, b = it
            a, b = float(a), float(b)
        except (TypeError, ValueError):
            raise TranscriptError(f"{what}[{i}] must be [label, start, end], got {it!r}") from None
        if not (math.isfinite(a) and math.isfinite(b)) or b < a or a < 0:
            raise TranscriptError(f"{what}[{i}] ({label}) has bad times {a}..{b}")
        out.append((str(label), a, b))
    return tuple(out)


@dataclass(frozen=True)
class Transcript:
    """A transcript and its alignment (see the module docstring).

    Attributes:
        text: what is said.
        words: ``(word, start_s, end_s)`` per transcript word (empty: not aligned).
        phones: ``(phone, start_s, end_s)`` covering the clip (empty: not aligned).
        error: why the alignment failed (``None``: aligned, or not tried).
        g2p_words: words whose pronunciation was guessed (not in the dictionary).
        mismatched: not aligned because the words do not match what the recogniser hears in the
            audio (``error`` quotes it), not because the aligner failed: the user may use it anyway
            (``engine.edit_policy.align_transcript(..., check=False)``).
    """

    text: str
    words: tuple[Timed, ...] = ()
    phones: tuple[Timed, ...] = ()
    error: str | None = None
    g2p_words: tuple[str, ...] = field(default=())
    mismatched: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "text", str(self.text))
        object.__setattr__(self, "words", _timed(self.words, "words"))
        object.__setattr__(self, "phones", _timed(self.phones, "phones"))
        object.__setattr__(self, "g2p_words", tuple(str(w) for w in self.g2p_words))
        object.__setattr__(self, "mismatched", bool(self.mismatched) and not self.phones)

    @property
    def aligned(self) -> bool:
        """Whether timed phones are known."""
        return bool(self.phones)

    @property
    def unaligned_words(self) -> tuple[int, ...]:
        """Indices of the words that a partial alignment could not place: at least half of a word's span
        is :data:`UNALIGNED` phones."""
        spans = [(a, b) for p, a, b in self.phones if p == UNALIGNED]
        if not spans:
            return ()
        out, k = [], 0
        for i, (_w, a, b) in enumerate(self.words):
            while k < len(spans) and spans[k][1] <= a:
                k += 1
            cover, j = 0.0, k
            while j < len(spans) and spans[j][0] < b:
                cover += min(b, spans[j][1]) - max(a, spans[j][0])
                j += 1
            if cover >= 0.5 * (b - a) and b > a:
                out.append(i)
        return tuple(out)

    def status(self) -> str:
        """One sentence on the alignment for the Generate panel, the status bar and the CLI."""
        if not self.aligned:
            return f"Not aligned ({self.error or 'not tried'}): the motion follows the audio alone."
        lost = self.unaligned_words
        if not lost:
            return f"Aligned: {len(self.words)} words, {len(self.phones)} phones."
        runs: list[list[float]] = []  # stretches of consecutive unaligned words
        for i in lost:
            _w, a, b = self.words[i]
            if runs and runs[-1][2] == i - 1:
                runs[-1][1], runs[-1][2] = b, i
            else:
                runs.append([a, b, i])
        where = ", ".join(f"{a:.1f}-{b:.1f} s" for a, b, _i in runs[:3]) + (", ..." if len(runs) > 3 else "")
        return (f"Aligned {len(self.words) - len(lost)} of {len(self.words)} words; {len(lost)} could not be "
                f"placed ({where}): their times are estimates and the motion follows the audio there.")

    @classmethod
    def from_alignment(cls, text: str, alignment: Any) -> Transcript:
        """From a ``synth.align.Alignment`` (``words``, ``phones``, ``g2p_words``)."""
        return cls(text, tuple(alignment.words), tuple(alignment.phones), None, tuple(alignment.g2p_words))

    def failed(self, error: str, mismatched: bool = False) -> Transcript:
        """The same text, not aligned, with ``error`` (``mismatched``: see the class docstring)."""
        return Transcript(self.text, (), (), str(error), (), mismatched)

    def retimed(self, kind: str, index: int, edge: str, seconds: float) -> Transcript:
        """Move the start (``edge="start"``) or end of word / phone ``index`` (``kind`` ``"words"`` or
        ``"phones"``) to ``seconds``; the neighbour sharing that boundary moves with it and neither
        gets shorter than :data:`MIN_PHONE_S` per phone (a word: per phone of it, so a drag that
        overshoots leaves the squeezed word long enough to see, grab and animate; an item already
        shorter is not shortened further); a boundary not shared stops at the neighbour's edge (items
        never overlap) and at 0 s.
        A retimed word's phones are stretched or squeezed with it (linearly, within its old and new
        span; so are those of a neighbour sharing the boundary), and a pause phone beside a moved
        edge that is not shared with another word grows or shrinks to meet it."""
        items = list(self.words if kind == "words" else self.phones)
        if kind not in ("words", "phones") or not 0 <= index < len(items) or edge not in ("start", "end"):
            raise TranscriptError(f"no {kind} boundary {index}/{edge}")
        def shortest(item: Timed) -> float:  # the least length a drag leaves ``item``
            if kind == "phones":
                return MIN_PHONE_S
            n = sum(1 for ph, x, y in self.phones if ph != SIL and x < item[2] - 1e-6 and y > item[1] + 1e-6)
            return MIN_PHONE_S * max(1, n)

        lab, a, b = items[index]
        own = shortest(items[index])
        if edge == "start":
            shared = index > 0 and abs(items[index - 1][2] - a) < 1e-6
            # a shared boundary moves the neighbour's end along; otherwise the neighbour's end is a wall
            if index == 0:
                lo = 0.0
            elif shared:
                lo = min(a, items[index - 1][1] + shortest(items[index - 1]))
            else:
                lo = items[index - 1][2]
            t = min(max(float(seconds), lo), max(a, b - own))
            items[index] = (lab, t, b)
            if shared:
                p = items[index - 1]
                items[index - 1] = (p[0], p[1], t)
        else:
            nxt = index + 1 < len(items)
            shared = nxt and abs(items[index + 1][1] - b) < 1e-6
            if not nxt:
                hi = math.inf
            elif shared:
                hi = max(b, items[index + 1][2] - shortest(items[index + 1]))
            else:
                hi = items[index + 1][1]
            t = max(min(float(seconds), hi), min(b, a + own))
            items[index] = (lab, a, t)
            if shared:
                p = items[index + 1]
                items[index + 1] = (p[0], t, p[2])
        if kind == "phones":
            return replace(self, phones=tuple(items))
        old_words = self.words
        spans = [(o[1], o[2], n[1], n[2]) for o, n in zip(old_words, items) if o != n]
        return replace(self, words=tuple(items), phones=_remap(self.phones, spans))

    # ------------------------------------------------------------------ words: lookup and edits
    def word_at(self, seconds: float) -> int | None:
        """Index of the word whose span holds ``seconds`` (``None``: between words)."""
        t = float(seconds)
        for i, (_w, a, b) in enumerate(self.words):
            if a <= t < b:
                return i
        return None

    def gap_at(self, seconds: float, longest: float = 0.6) -> tuple[float, float] | None:
        """Where a word could be inserted at ``seconds``: the pause between the words around it,
        at most ``longest`` seconds centred on ``seconds`` (``None``: a word is there already).

        Raises:
            TranscriptError: the transcript is not aligned.
        """
        if not self.aligned:
            raise TranscriptError("the transcript is not aligned: align it first")
        t = float(seconds)
        if self.word_at(t) is not None:
            return None
        lo = max((b for _w, _a, b in self.words if b <= t), default=0.0)
        hi = min((a for _w, a, _b in self.words if a > t), default=self.phones[-1][2])
        if hi - lo > longest:
            a = min(max(t - longest / 2, lo), hi - longest)
            lo, hi = a, a + longest
        return (lo, hi) if hi - lo >= 0.02 else None

    def replaced_span(self, start: float, end: float, words: tuple[Timed, ...] | list[Timed] = (),
                      phones: tuple[Timed, ...] | list[Timed] = (), said: str | None = None) -> Transcript:
        """The words inside ``start..end`` seconds replaced by ``words`` and the phones there by
        ``phones`` (``SIL`` over what they leave uncovered; phones reaching over an edge are cut
        there). Word edits are all this: a new text of a word (its span, the new word(s) and their
        phones), a deleted word (no words, no phones: silence) and an inserted word (a pause's span).
        The text keeps what the user typed around the change (case, punctuation): the replaced words'
        tokens become ``said`` (default: the new words joined by spaces) when the text's tokens are
        the words one to one; otherwise the text becomes the words joined by spaces.

        Raises:
            TranscriptError: bad span, or a new word / phone outside it.
        """
        a, b = float(start), float(end)
        if not (math.isfinite(a) and math.isfinite(b)) or b <= a or a < 0:
            raise TranscriptError(f"bad span {a}..{b}")
        new_w, new_p = _timed(words, "words"), _timed(phones, "phones")
        for what, items in (("word", new_w), ("phone", new_p)):
            for lab, x, y in items:
                if x < a - 1e-6 or y > b + 1e-6:
                    raise TranscriptError(f"the {what} {lab!r} ({x:.2f}..{y:.2f} s) is outside {a:.2f}..{b:.2f} s")
        tol = 1e-6
        kept = [w for w in self.words if w[2] <= a + tol or w[1] >= b - tol]
        out_w = sorted(kept + list(new_w), key=lambda w: w[1])
        before = [(lab, x, min(y, a)) for lab, x, y in self.phones if x < a - tol]
        after = [(lab, max(x, b), y) for lab, x, y in self.phones if y > b + tol]
        mid: list[Timed] = []
        t = a
        for lab, x, y in sorted(new_p, key=lambda p: p[1]):
            if x > t + tol:
                mid.append((SIL, t, x))
            mid.append((lab, max(x, t), y))
            t = y
        if t < b - tol:
            mid.append((SIL, t, b))
        out_p: list[Timed] = []
        for p in before + mid + after:
            if p[2] - p[1] <= tol:
                continue
            if out_p and p[0] == SIL and out_p[-1][0] == SIL:
                out_p[-1] = (SIL, out_p[-1][1], p[2])
            else:
                out_p.append(p)
        i0 = sum(1 for w in self.words if w[2] <= a + tol)
        i1 = len(self.words) - sum(1 for w in self.words if w[1] >= b - tol and not w[2] <= a + tol)
        joined = " ".join(w for w, _x, _y in new_w)
        # an inserted word in the first half of its pause belongs to the words before it ("there" in
        # "Hello! This"), in the second half to those after it
        early = bool(new_w) and new_w[0][1] + new_w[-1][2] < a + b
        text = _spliced_text(self.text, self.words, i0, max(i0, i1), joined if said is None else said, early)
        if text is None:
            text = " ".join(w for w, _x, _y in out_w)
        return replace(self, text=text, words=tuple(out_w), phones=tuple(out_p), error=None)

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "words": [list(w) for w in self.words], "phones": [list(p) for p in self.phones],
                "error": self.error, "g2p_words": list(self.g2p_words), "mismatched": self.mismatched}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Transcript:
        if not isinstance(d, dict) or not isinstance(d.get("text", ""), str):
            raise TranscriptError("a transcript must be an object with a text")
        err = d.get("error")
        return cls(d.get("text", ""), d.get("words") or (), d.get("phones") or (),
                   None if err is None else str(err), tuple(d.get("g2p_words") or ()),
                   d.get("mismatched") is True)


def _remap(phones: tuple[Timed, ...], spans: list[tuple[float, float, float, float]]) -> tuple[Timed, ...]:
    """``phones`` with those inside each old word span ``(a, b)`` mapped linearly onto its new span
    ``(a2, b2)`` and the others' edges at an old word edge moved to the new one (zero-length
    phones left out)."""
    tol = 1e-6
    out: list[Timed] = []
    for lab, s, e in phones:
        for a, b, a2, b2 in spans:
            if s >= a - tol and e <= b + tol and b > a:
                k = (b2 - a2) / (b - a)
                s, e = a2 + (s - a) * k, a2 + (e - a) * k
                break
        else:
            for a, b, a2, b2 in spans:
                if abs(e - a) < tol:
                    e = a2
                if abs(s - b) < tol:
                    s = b2
        if e - s > tol:
            out.append((lab, s, e))
    return tuple(out)


def changed_span(old: Transcript | None, new: Transcript | None) -> tuple[float, float] | None:
    """Seconds ``(start, end)`` over which the phones of ``old`` and ``new`` differ (``None``: the same
    phones): the span of the phones between their common first and last ones, in either list (so
    a retimed boundary, an edited, deleted or inserted word each give only their own stretch; one of
    them not aligned: the whole known span)."""
    po = old.phones if old is not None else ()
    pn = new.phones if new is not None else ()
    if po == pn:
        return None
    if not po or not pn:
        ends = [p[2] for p in po + pn]
        return (0.0, max(ends)) if ends else None
    i = 0
    while i < min(len(po), len(pn)) and po[i] == pn[i]:
        i += 1
    j = 0
    while j < min(len(po), len(pn)) - i and po[-1 - j] == pn[-1 - j]:
        j += 1
    diff = po[i:len(po) - j] + pn[i:len(pn) - j]
    if not diff:  # only possible with repeated identical phones: the boundary between them
        t = po[i][1] if i < len(po) else po[-1][2]
        return t, t
    return min(p[1] for p in diff), max(p[2] for p in diff)
