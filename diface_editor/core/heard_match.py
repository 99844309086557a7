"""Does a typed transcript say what the audio says? A comparison of the typed words with what a
speech recogniser hears (:meth:`diface_editor.ml.audio.whisper_asr.WhisperRecognizer.first_window`).

Forced alignment cannot tell: pocketsphinx fits any text of about the right length onto any speech, so
a transcript of another take aligns "successfully" and pins the wrong mouth shapes. The recogniser is
not exact either (misheard names and made-up words, fillers, noise), so two loose tests must both fail:

* **Shared words.** The words both lists share in order (their longest common subsequence, with
  near-spellings matching), counted against each list: a script may hold more than the take (a
  speaker's name, the scene around the line) and a take more than the script (a line typed in part),
  so either share reaching :data:`MIN_SHARED` is enough.
* **Likelihood.** How probable the recogniser finds the typed words as what is said, against its own
  words (mean log-probability per token, both lower case without punctuation): a correct transcript
  the recogniser misheard scores near its own words, another line far below (:data:`MIN_GAP`).

Only with enough words on both sides (:data:`MIN_WORDS`) is anything judged. Measured on the 257 real
recordings of ``data/real_eval`` and ``data/real_eval_noise`` (``tools/eval_wrong_transcripts.py``):
no recording's own transcript is refused, 3 first halves of one (a conversational take in three
noises), and 61 % of the other recordings' transcripts that are judged (98 % of those of 12 words or
more); on 52 held-out recordings (other speakers, clean and in noise) no own transcript, half or scene
and 89 % of the judged wrong ones are refused (``docs/bench/2026-12-04h-wrong-transcripts``,
``docs/bench/2026-12-05-align-process``).

Plain Python (no numpy), like the rest of :mod:`diface_editor.core`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher
from functools import lru_cache

from diface_editor.core.transcript import transcript_words

#: hesitations a recogniser writes and a script leaves out (not counted on either side)
FILLERS = frozenset({"um", "umm", "uh", "uhm", "uhh", "hmm", "hm", "mm", "mhm", "mmm", "er", "erm", "ah", "eh"})
#: the fewest words heard (and typed) for a judgement: on shorter lines the recogniser misses too much
#: (a 3-word line in babble heard as 59 words, "montreal forced aligner" as "what the hell?")
MIN_WORDS = 4
#: the fewest script words paired with heard words for :func:`said_stretch` to place a line in a script
MIN_STRETCH_WORDS = 8
#: a transcript matches when at least this share of the words heard, or of the words typed, is shared
MIN_SHARED = 0.5
#: ... or when its mean log-probability per token is at most this far below the recogniser's own words'
MIN_GAP = -3.0
#: two words of at least 4 letters this alike (difflib ratio) are the same word misheard or misspelt
NEAR = 0.75


@dataclass(frozen=True)
class HeardMatch:
    """How a typed transcript compares with the words heard in its audio.

    Attributes:
        typed: the typed words counted (lower case, fillers left out).
        heard: the words heard, likewise.
        shared: how many of them the two share, in order.
        gap: the typed words' mean log-probability per token minus the heard words' (nats; ``None``:
            not scored).
        typed_total: how many words the whole transcript has (``typed`` may be the part of it that was
            placed in the audio); it, not ``len(typed)``, must reach :data:`MIN_WORDS`.
    """

    typed: tuple[str, ...]
    heard: tuple[str, ...]
    shared: int
    gap: float | None = None
    typed_total: int | None = None

    @property
    def heard_share(self) -> float:
        """The share of the words heard that the transcript has (1.0 with none heard)."""
        return self.shared / len(self.heard) if self.heard else 1.0

    @property
    def typed_share(self) -> float:
        """The share of the typed words that were heard (1.0 with none typed)."""
        return self.shared / len(self.typed) if self.typed else 1.0

    @property
    def judged(self) -> bool:
        """Whether enough words were heard and typed to judge the match."""
        total = len(self.typed) if self.typed_total is None else self.typed_total
        return len(self.heard) >= MIN_WORDS and total >= MIN_WORDS

    @property
    def matches(self) -> bool:
        """False only when the transcript plainly says something else than the audio."""
        if not self.judged or max(self.heard_share, self.typed_share) >= MIN_SHARED:
            return True
        return self.gap is not None and self.gap >= MIN_GAP

    def describe(self, heard_text: str, limit: int = 50) -> str:
        """One clause for a refused transcript, quoting (the start of) ``heard_text``."""
        quote = heard_text.strip()
        if len(quote) > limit:
            quote = quote[:limit - 3].rstrip() + "..."
        return f"it does not match what is said, which sounds like {quote!r}"


def counted_words(text: str) -> tuple[str, ...]:
    """The words of ``text`` that are compared: lower case, without punctuation and fillers."""
    return tuple(w for w in transcript_words(text) if w not in FILLERS)


@lru_cache(maxsize=1 << 16)
def _same(a: str, b: str) -> bool:
    if a == b:
        return True
    if min(len(a), len(b)) < 4:
        return False
    return SequenceMatcher(None, a, b, autojunk=False).ratio() >= NEAR


def _paired(xs: Sequence[str | None], ys: Sequence[str]) -> list[int]:
    """Indices into ``xs`` of one longest common subsequence of ``xs`` and ``ys`` under :func:`_same`
    (``None`` in ``xs`` pairs with nothing); O(n m) time and memory."""
    n, m = len(xs), len(ys)
    if not n or not m:
        return []
    same = [[x is not None and _same(x, y) for y in ys] for x in xs]
    table = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(n - 1, -1, -1):
        for j in range(m - 1, -1, -1):
            table[i][j] = table[i + 1][j + 1] + 1 if same[i][j] else max(table[i + 1][j], table[i][j + 1])
    paired, i, j = [], 0, 0
    while i < n and j < m:
        if same[i][j] and table[i][j] == table[i + 1][j + 1] + 1:
            paired.append(i)
            i, j = i + 1, j + 1
        elif table[i + 1][j] >= table[i][j + 1]:
            i += 1
        else:
            j += 1
    return paired


def said_stretch(typed_words: list[str], heard_text: str) -> tuple[int, int] | None:
    """Where in a script the words heard are: ``(i0, i1)``, the first and one past the last index into
    ``typed_words`` (the script's words, :func:`~diface_editor.core.transcript.transcript_words`) that
    the longest common subsequence pairs with a heard word; ``None`` unless at least
    :data:`MIN_STRETCH_WORDS` are paired and they are at least :data:`MIN_SHARED` of the words heard (the script holds the take)."""
    heard = counted_words(heard_text)
    paired = _paired([w if w not in FILLERS else None for w in typed_words], heard)
    if len(paired) < MIN_STRETCH_WORDS or len(paired) < MIN_SHARED * len(heard):
        return None
    return paired[0], paired[-1] + 1


def compare(typed_text: str, heard_text: str, score=None, typed_total: int | None = None) -> HeardMatch:
    """Compare the typed transcript ``typed_text`` with the recogniser's ``heard_text``. ``score``: a
    function giving the recogniser's mean log-probability per token of a list of words (lower case) as
    what is said (:meth:`~diface_editor.ml.audio.whisper_asr.FirstWindow.log_prob`), called only when
    the shared words do not decide; ``None``: the shared words alone decide. ``typed_total``: the word
    count of the whole transcript when ``typed_text`` is the part of it placed in the audio."""
    typed, heard = counted_words(typed_text), counted_words(heard_text)
    m = HeardMatch(typed, heard, len(_paired(typed, heard)), typed_total=typed_total)
    if score is None or m.matches:
        return m
    gap = float(score(list(typed))) - float(score(list(heard))) if typed else None
    return HeardMatch(typed, heard, m.shared, gap=gap, typed_total=typed_total)
