"""Words and phones beside an exported take: ``NAME.words.json`` and a Praat ``NAME.TextGrid``.

Formats without a place for a transcript (``.npy``, Live Link ``.csv``, ``.pc2``, ...) get two sidecar
files next to them; formats with free-form metadata (glTF ``scenes[0].extras.diface.metadata``, the
native ``.npz``) also carry the same JSON under the metadata key :data:`METADATA_KEY`.

* ``NAME.words.json``: ``{"format": "diface-words", "version": 1, "text", "duration_s", "fps",
  "words": [{"label", "start", "end"}], "phones": [...]}``, times in seconds.
* ``NAME.TextGrid``: Praat's long text format, two interval tiers ``words`` and ``phones`` covering
  ``0 .. duration`` without gaps (the gaps between items are empty intervals, as Praat requires).

Both are written atomically (:mod:`diface_editor.core.atomic`); the readers give back a
:class:`~diface_editor.core.transcript.Transcript` and raise :class:`TranscriptFileError` (one
sentence) on anything malformed.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from diface_editor.core.errors import DifaceError
from diface_editor.core.transcript import Transcript

FORMAT_TAG = "diface-words"
FORMAT_VERSION = 1
METADATA_KEY = "transcript"
JSON_SUFFIX = ".words.json"
TEXTGRID_SUFFIX = ".TextGrid"


class TranscriptFileError(DifaceError, ValueError):
    """A words/phones file is malformed."""


def _items(timed) -> list[dict[str, Any]]:
    return [{"label": str(t[0]), "start": float(t[1]), "end": float(t[2])} for t in timed]


def transcript_payload(tr: Transcript, duration: float, fps: float | None = None) -> dict[str, Any]:
    """The JSON-able words/phones of ``tr`` over a take of ``duration`` seconds."""
    return {"format": FORMAT_TAG, "version": FORMAT_VERSION, "text": tr.text, "duration_s": float(duration),
            "fps": None if fps is None else float(fps), "words": _items(tr.words), "phones": _items(tr.phones)}


def transcript_from_payload(d: Any, where: str = "the transcript") -> Transcript:
    """Inverse of :func:`transcript_payload`."""
    if not isinstance(d, dict) or d.get("format") != FORMAT_TAG:
        raise TranscriptFileError(f"{where} is not a diface words file (no \"format\": \"{FORMAT_TAG}\")")
    if d.get("version") != FORMAT_VERSION:
        raise TranscriptFileError(f"{where} has version {d.get('version')!r}; this diface reads version {FORMAT_VERSION}")
    try:
        words = tuple((str(w["label"]), float(w["start"]), float(w["end"])) for w in d.get("words") or ())
        phones = tuple((str(p["label"]), float(p["start"]), float(p["end"])) for p in d.get("phones") or ())
        return Transcript(text=str(d.get("text", "")), words=words, phones=phones)
    except (KeyError, TypeError, ValueError) as e:
        raise TranscriptFileError(f"{where} has a malformed word or phone ({e})") from None


def _tier(name: str, items, duration: float) -> list[str]:
    """One interval tier, gaps filled with empty intervals, ``0 .. duration``."""
    cells: list[tuple[float, float, str]] = []
    t = 0.0
    for label, a, b in sorted(((str(x[0]), float(x[1]), float(x[2])) for x in items), key=lambda x: x[1]):
        a, b = max(a, t), min(b, duration)
        if b <= a:
            continue
        if a > t:
            cells.append((t, a, ""))
        cells.append((a, b, label))
        t = b
    if t < duration or not cells:
        cells.append((t, max(duration, t), ""))
    out = ['        class = "IntervalTier"', f'        name = "{name}"', "        xmin = 0",
           f"        xmax = {duration!r}", f"        intervals: size = {len(cells)}"]
    for i, (a, b, label) in enumerate(cells, 1):
        text = label.replace('"', '""')
        out += [f"        intervals [{i}]:", f"            xmin = {a!r}", f"            xmax = {b!r}",
                f'            text = "{text}"']
    return out


def textgrid_text(tr: Transcript, duration: float) -> str:
    """Praat long-format TextGrid text with tiers ``words`` and ``phones``."""
    duration = float(duration)
    lines = ['File type = "ooTextFile"', 'Object class = "TextGrid"', "", "xmin = 0", f"xmax = {duration!r}",
             "tiers? <exists>", "size = 2", "item []:"]
    for i, (name, items) in enumerate((("words", tr.words), ("phones", tr.phones)), 1):
        lines.append(f"    item [{i}]:")
        lines += _tier(name, items, duration)
    return "\n".join(lines) + "\n"


_INTERVAL = re.compile(r'xmin\s*=\s*([-+0-9.eE]+)\s*xmax\s*=\s*([-+0-9.eE]+)\s*text\s*=\s*"((?:[^"]|"")*)"')


def read_textgrid(path: str | os.PathLike) -> Transcript:
    """Words and phones of a long-format TextGrid with ``words`` and ``phones`` interval tiers."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise TranscriptFileError(f"cannot read {path.name}: {e}") from None
    if 'Object class = "TextGrid"' not in text:
        raise TranscriptFileError(f"{path.name} is not a Praat TextGrid (no 'Object class = \"TextGrid\"' header)")
    tiers: dict[str, tuple] = {}
    for block in re.split(r"\n\s*item \[\d+\]:", text)[1:]:
        m = re.search(r'name\s*=\s*"([^"]*)"', block)
        if m is None:
            raise TranscriptFileError(f"{path.name} has a tier without a name")
        cells = [(lab.replace('""', '"'), float(a), float(b)) for a, b, lab in _INTERVAL.findall(block)]
        for (_, _, e0), (_, s1, _) in zip(cells, cells[1:]):
            if s1 < e0 - 1e-9:
                raise TranscriptFileError(f"{path.name}: tier {m.group(1)!r} has overlapping intervals at {s1:g} s")
        tiers[m.group(1)] = tuple(c for c in cells if c[0].strip())
    if "words" not in tiers:
        raise TranscriptFileError(f"{path.name} has no 'words' tier")
    words = tiers["words"]
    return Transcript(text=" ".join(w[0] for w in words), words=words, phones=tiers.get("phones", ()))


def read_words_json(path: str | os.PathLike) -> Transcript:
    """The transcript of a ``NAME.words.json`` file."""
    path = Path(path)
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise TranscriptFileError(f"cannot read {path.name}: {e}") from None
    return transcript_from_payload(d, path.name)


def sidecar_paths(out: str | os.PathLike) -> tuple[Path, Path]:
    """``(NAME.words.json, NAME.TextGrid)`` beside the exported file ``out``."""
    out = Path(out)
    stem = out.name[: -len(out.suffix)] if out.suffix else out.name
    return out.with_name(stem + JSON_SUFFIX), out.with_name(stem + TEXTGRID_SUFFIX)


def write_transcript_sidecars(out: str | os.PathLike, tr: Transcript | None, duration: float,
                              fps: float | None = None) -> list[Path]:
    """Write both sidecars beside ``out`` (atomically); nothing without an aligned transcript."""
    from diface_editor.core.atomic import atomic_write_text

    if tr is None or not tr.aligned:
        return []
    js, tg = sidecar_paths(out)
    atomic_write_text(js, json.dumps(transcript_payload(tr, duration, fps), indent=1) + "\n")
    atomic_write_text(tg, textgrid_text(tr, duration))
    return [js, tg]


def transcript_metadata(tr: Transcript | None, duration: float, fps: float | None = None) -> dict[str, str]:
    """``{METADATA_KEY: json}`` for an animation's metadata (glTF extras, native .npz), or ``{}``."""
    if tr is None or not tr.aligned:
        return {}
    return {METADATA_KEY: json.dumps(transcript_payload(tr, duration, fps), separators=(",", ":"))}


def transcript_of(metadata: dict[str, str]) -> Transcript | None:
    """The transcript an animation's metadata carries (see :func:`transcript_metadata`), or ``None``."""
    raw = metadata.get(METADATA_KEY)
    if not raw:
        return None
    try:
        return transcript_from_payload(json.loads(raw), "the take's transcript metadata")
    except ValueError as e:
        raise TranscriptFileError(str(e)) from None
