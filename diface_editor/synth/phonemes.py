"""One common phone set for every TTS engine and aligner: the 39 CMU/ARPAbet phones plus ``SIL``.

Engines name their phones differently (espeak-ng mnemonics such as ``3:`` or ``aI@``, the
Festival/Flite CMU "radio" set such as ``ax`` or ``pau``, pocketsphinx's ARPAbet with noise
words such as ``+NSN+``). :func:`to_common` maps one engine phone to one or more common phones;
:func:`map_phones` maps a whole timed sequence (a phone that maps to two common phones has its
interval split in two).

A timed phone sequence is a list of ``(phone, start_s, end_s)`` tuples in seconds.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence

log = logging.getLogger(__name__)

SIL = "SIL"
#: The common phone set: the 39 CMU dictionary phones and silence.
PHONES: tuple[str, ...] = (
    "AA", "AE", "AH", "AO", "AW", "AY", "B", "CH", "D", "DH", "EH", "ER", "EY", "F", "G", "HH",
    "IH", "IY", "JH", "K", "L", "M", "N", "NG", "OW", "OY", "P", "R", "S", "SH", "T", "TH", "UH",
    "UW", "V", "W", "Y", "Z", "ZH", SIL,
)
VOWELS: frozenset[str] = frozenset({"AA", "AE", "AH", "AO", "AW", "AY", "EH", "ER", "EY", "IH", "IY",
                                    "OW", "OY", "UH", "UW"})
BILABIALS: frozenset[str] = frozenset({"P", "B", "M"})

Phone = tuple[str, float, float]

# ------------------------------------------------------------------ espeak-ng English mnemonics
_ESPEAK: dict[str, tuple[str, ...]] = {
    # consonants
    "p": ("P",), "b": ("B",), "t": ("T",), "d": ("D",), "k": ("K",), "g": ("G",), "f": ("F",),
    "v": ("V",), "T": ("TH",), "D": ("DH",), "s": ("S",), "z": ("Z",), "S": ("SH",), "Z": ("ZH",),
    "h": ("HH",), "m": ("M",), "n": ("N",), "N": ("NG",), "l": ("L",), "r": ("R",), "j": ("Y",),
    "w": ("W",), "tS": ("CH",), "dZ": ("JH",), "x": ("HH",), "?": ("T",), "C": ("HH",),
    "t#": ("D",), "d#": ("D",), "t2": ("T",), "d2": ("D",), "t[": ("T",), "d[": ("D",),
    "n-": ("N",), "m-": ("M",), "l-": ("L",), "r-": ("ER",), "w#": ("W",), "z#": ("Z",), "s#": ("S",),
    "l/": ("L",), "l/2": ("L",), "r/": ("R",), "W": ("W",), "hw": ("W",), "j2": ("Y",),
    # vowels
    "@": ("AH",), "@2": ("AH",), "@5": ("AH",), "@-": ("AH",), "@L": ("AH", "L"), "3": ("ER",),
    "3:": ("ER",), "a": ("AE",), "a#": ("AH",), "a2": ("AE",), "aa": ("AE",), "A:": ("AA",),
    "A@": ("AA", "R"), "A#": ("AA",), "A": ("AA",), "0": ("AA",), "02": ("AA",), "0#": ("AA",),
    "aI": ("AY",), "aI2": ("AY",), "aI@": ("AY", "ER"), "aI3": ("AY", "ER"), "aU": ("AW",),
    "aU@": ("AW", "ER"), "e": ("EH",), "e:": ("EY",), "E": ("EH",), "E2": ("EH",), "E:": ("EH",),
    "e@": ("EH", "R"), "eI": ("EY",), "i": ("IY",), "i:": ("IY",), "i@": ("IH", "ER"),
    "i@3": ("IH", "R"), "I": ("IH",), "I#": ("IH",), "I2": ("IH",), "I@": ("IH", "ER"),
    "IR": ("ER",), "VR": ("ER",), "O": ("AO",), "O:": ("AO",), "O2": ("AO",), "O@": ("AO", "R"),
    "o@": ("AO", "R"), "o": ("OW",), "o:": ("OW",), "OI": ("OY",), "oU": ("OW",), "oU#": ("OW",),
    "u": ("UW",), "u:": ("UW",), "U": ("UH",), "U@": ("UH", "R"), "u@": ("UW", "ER"), "V": ("AH",),
    "y": ("UW",), "Y": ("UH",),
    # pauses and prosodic marks
    "_": (SIL,), "_:": (SIL,), "_!": (SIL,), "_|": (SIL,), "_^_": (SIL,), "||": (SIL,), "|": (SIL,),
    ";": (SIL,), "": (SIL,), "#": (SIL,),
}

# ------------------------------------------------------------------ Festival / Flite CMU "radio" set
_CMU: dict[str, tuple[str, ...]] = {p.lower(): (p,) for p in PHONES if p != SIL}
_CMU.update({
    "ax": ("AH",), "axr": ("ER",), "ix": ("IH",), "ux": ("UW",), "dx": ("D",), "nx": ("N",),
    "el": ("AH", "L"), "em": ("AH", "M"), "en": ("AH", "N"), "hv": ("HH",), "q": ("T",),
    "pau": (SIL,), "h#": (SIL,), "brth": (SIL,), "sil": (SIL,), "#": (SIL,), "ssil": (SIL,),
})

_ENGINE_TABLES = {"espeak": _ESPEAK, "festival": _CMU, "flite": _CMU, "arpabet": _CMU}
_warned: set[tuple[str, str]] = set()


def engine_table(engine: str) -> dict[str, tuple[str, ...]]:
    """The explicit mapping table of ``engine`` ("espeak", "festival", "flite" or "arpabet")."""
    try:
        return _ENGINE_TABLES[engine]
    except KeyError:
        raise ValueError(f"unknown phone set {engine!r}; expected one of {sorted(_ENGINE_TABLES)}") from None


def to_common(name: str, engine: str = "arpabet", strict: bool = False) -> tuple[str, ...]:
    """Common phones for one engine phone name.

    ARPAbet input may carry stress digits (``AH0``) and pocketsphinx noise words
    (``+NSN+``, ``+SPN+``, ``<sil>``), which map to ``SIL``. An unknown name maps to the entry of
    its longest known prefix (espeak-ng variant marks such as ``#``, ``2``, ``[`` are dropped);
    with ``strict=True`` an unknown name raises ``KeyError`` instead.
    """
    table = engine_table(engine)
    key = name.strip()
    if engine == "espeak":
        key = key.replace("'", "").replace(",", "")  # stress marks, if a caller kept them
    else:
        key = re.sub(r"[0-9]+$", "", key).lower()
        if key.startswith(("+", "<", "[")) or key in ("", "sp", "spn", "nsn"):
            return (SIL,)
    if key in table:
        return table[key]
    if strict:
        raise KeyError(f"{engine} phone {name!r} is not in the common phone mapping")
    for n in range(len(key) - 1, 0, -1):
        if key[:n] in table:
            if (engine, name) not in _warned:
                _warned.add((engine, name))
                log.warning("%s phone %r mapped by its prefix %r", engine, name, key[:n])
            return table[key[:n]]
    if (engine, name) not in _warned:
        _warned.add((engine, name))
        log.warning("unknown %s phone %r treated as silence", engine, name)
    return (SIL,)


def map_phones(phones: Iterable[Phone], engine: str, merge_silence: bool = True) -> list[Phone]:
    """Map a timed engine phone sequence to the common set.

    A phone that maps to k common phones has its interval split into k equal parts (for
    diphthong + r sequences the first part gets 60%). Adjacent silences are merged when
    ``merge_silence``.
    """
    out: list[Phone] = []
    for name, start, end in phones:
        common = to_common(name, engine)
        if len(common) == 1:
            parts = [(common[0], start, end)]
        else:
            cut = start + (end - start) * 0.6
            parts = [(common[0], start, cut), (common[1], cut, end)]
        for p in parts:
            if merge_silence and out and p[0] == SIL and out[-1][0] == SIL:
                out[-1] = (SIL, out[-1][1], p[2])
            else:
                out.append(p)
    return out


def tidy_timing(phones: Sequence[Phone], duration: float, lead: float = 0.0, trail: float = 0.0) -> list[Phone]:
    """Make a timed sequence contiguous and cover ``[0, duration + lead + trail]`` exactly.

    Times are shifted by ``lead`` seconds of added leading silence; gaps become ``SIL``;
    overlaps are cut at the later start; zero-length phones are dropped; the first phone
    starts at 0 and the last ends at the new total duration (silence is added as needed).
    """
    total = duration + lead + trail
    out: list[Phone] = []
    t = 0.0
    for name, s, e in phones:
        s, e = max(s + lead, t), min(e + lead, total)
        if e <= s + 1e-6:
            continue
        if s > t + 1e-6:
            out.append((SIL, t, s))
        out.append((name, s, e))
        t = e
    if t < total - 1e-6:
        out.append((SIL, t, total))
    merged: list[Phone] = []
    for p in out:
        if merged and p[0] == SIL and merged[-1][0] == SIL:
            merged[-1] = (SIL, merged[-1][1], p[2])
        else:
            merged.append(p)
    if merged:
        merged[0] = (merged[0][0], 0.0, merged[0][2])
        merged[-1] = (merged[-1][0], merged[-1][1], total)
    return merged
