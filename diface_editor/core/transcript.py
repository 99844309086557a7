"""The words spoken in a document's audio and where they are: a transcript and its alignment.

A :class:`Transcript` holds the text and, once aligned (``diface_editor.synth.align.align``, a
pocketsphinx forced alignment), the timed words and phones (``(label, start_s, end_s)``, phones in
the common ARPAbet-like set of :mod:`diface_editor.synth.phonemes`, covering the clip with ``SIL``
in the gaps). Alignment can fail (the text does not match the speech, a word has no
pronunciation): then ``error`` says why in one sentence and ``words``/``phones`` are empty, and
generation goes on from the audio alone.

Numpy-free plain data, so the document, the project file and the engine's requests share it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

from diface_editor.core.errors import DifaceError

Timed = tuple[str, float, float]


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
    """

    text: str
    words: tuple[Timed, ...] = ()
    phones: tuple[Timed, ...] = ()
    error: str | None = None
    g2p_words: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        object.__setattr__(self, "text", str(self.text))
        object.__setattr__(self, "words", _timed(self.words, "words"))
        object.__setattr__(self, "phones", _timed(self.phones, "phones"))
        object.__setattr__(self, "g2p_words", tuple(str(w) for w in self.g2p_words))

    @property
    def aligned(self) -> bool:
        """Whether timed phones are known."""
        return bool(self.phones)

    @classmethod
    def from_alignment(cls, text: str, alignment: Any) -> Transcript:
        """From a ``synth.align.Alignment`` (``words``, ``phones``, ``g2p_words``)."""
        return cls(text, tuple(alignment.words), tuple(alignment.phones), None, tuple(alignment.g2p_words))

    def failed(self, error: str) -> Transcript:
        """The same text, not aligned, with ``error``."""
        return Transcript(self.text, (), (), str(error), ())

    def retimed(self, kind: str, index: int, edge: str, seconds: float) -> Transcript:
        """Move the start (``edge="start"``) or end of word / phone ``index`` (``kind`` ``"words"`` or
        ``"phones"``) to ``seconds``; the neighbour sharing that boundary moves with it and every
        item keeps a positive length (the time is clamped between the neighbours' other edges).
        Phones inside a moved word boundary follow by the phone boundary nearest to it."""
        items = list(self.words if kind == "words" else self.phones)
        if kind not in ("words", "phones") or not 0 <= index < len(items) or edge not in ("start", "end"):
            raise TranscriptError(f"no {kind} boundary {index}/{edge}")
        eps = 0.01
        lab, a, b = items[index]
        old = a if edge == "start" else b
        if edge == "start":
            lo = items[index - 1][1] + eps if index > 0 and abs(items[index - 1][2] - a) < 1e-6 else 0.0
            t = min(max(float(seconds), lo), b - eps)
            items[index] = (lab, t, b)
            if index > 0 and abs(items[index - 1][2] - a) < 1e-6:
                p = items[index - 1]
                items[index - 1] = (p[0], p[1], t)
        else:
            nxt = index + 1 < len(items) and abs(items[index + 1][1] - b) < 1e-6
            hi = items[index + 1][2] - eps if nxt else math.inf
            t = max(min(float(seconds), hi), a + eps)
            items[index] = (lab, a, t)
            if nxt:
                p = items[index + 1]
                items[index + 1] = (p[0], t, p[2])
        if kind == "phones":
            return replace(self, phones=tuple(items))
        phones = list(self.phones)
        if phones:  # the phone boundary at the moved word edge moves along
            j = min(range(len(phones) + 1), key=lambda k: abs((phones[k][1] if k < len(phones) else phones[-1][2]) - old))
            if 0 < j < len(phones) and abs(phones[j][1] - old) < 0.02:
                t_new = items[index][1] if edge == "start" else items[index][2]
                t_new = min(max(t_new, phones[j - 1][1] + eps), phones[j][2] - eps)
                phones[j - 1] = (phones[j - 1][0], phones[j - 1][1], t_new)
                phones[j] = (phones[j][0], t_new, phones[j][2])
        return replace(self, words=tuple(items), phones=tuple(phones))

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "words": [list(w) for w in self.words], "phones": [list(p) for p in self.phones],
                "error": self.error, "g2p_words": list(self.g2p_words)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Transcript:
        if not isinstance(d, dict) or not isinstance(d.get("text", ""), str):
            raise TranscriptError("a transcript must be an object with a text")
        err = d.get("error")
        return cls(d.get("text", ""), d.get("words") or (), d.get("phones") or (),
                   None if err is None else str(err), tuple(d.get("g2p_words") or ()))


def changed_span(old: Transcript | None, new: Transcript | None) -> tuple[float, float] | None:
    """Seconds ``(start, end)`` over which the phone timing of ``old`` and ``new`` differs (``None``:
    the same phones; the whole known span when the phone lists differ in length or labels)."""
    po = old.phones if old is not None else ()
    pn = new.phones if new is not None else ()
    if po == pn:
        return None
    if len(po) != len(pn) or any(x[0] != y[0] for x, y in zip(po, pn)):
        ends = [p[2] for p in po + pn]
        return (0.0, max(ends)) if ends else None
    lo, hi = math.inf, -math.inf
    for x, y in zip(po, pn):
        if x != y:
            lo = min(lo, x[1], y[1])
            hi = max(hi, x[2], y[2])
    return lo, hi
