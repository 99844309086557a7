"""Convert VOCASET / HDTF into the ``<name>.wav`` + ``<name>.npz`` pairs that training reads.

``diface train`` and ``diface adapt`` read a folder of pairs in diface's native animation format
(:mod:`diface_editor.core.formats.native`); converting once keeps dataset-specific code out of the
trainer. Each ``.npz`` is a vertex-space animation at 30 fps (offsets in metres from the subject's
template, which is stored in the file, and the head rotation), with the dataset, subject and
sentence in its metadata; the ``.wav`` is a copy of the source audio.
"""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from diface_editor.core.formats import save_animation
from diface_editor.ml.data.hdtf import find_hdtf, load_hdtf_templates
from diface_editor.ml.data.vocaset import DatasetError, find_vocaset, load_vocaset_templates

log = logging.getLogger(__name__)


@dataclass
class ConvertReport:
    """What :func:`convert_dataset` wrote: ``pairs`` names, total ``frames`` (30 fps), ``subjects``."""

    out: Path
    pairs: list[str] = field(default_factory=list)
    frames: int = 0
    subjects: list[str] = field(default_factory=list)

    @property
    def minutes(self) -> float:
        return self.frames / 30.0 / 60.0


def convert_dataset(kind: str, src: str | os.PathLike, out: str | os.PathLike, *,
                    subjects: tuple[str, ...] | None = None, sentences: set[int] | None = None,
                    hdtf_fps: float = 30.0, progress: bool = False) -> ConvertReport:
    """Write wav + native npz pairs for ``kind`` ``"vocaset"`` or ``"hdtf"`` from ``src`` into ``out``.

    Args:
        subjects: VOCASET subjects (or HDTF clip names) to keep; ``None`` = all.
        sentences: VOCASET sentence numbers to keep; ``None`` = all.
        hdtf_fps: frame rate of the HDTF tracking (3DiFACE: 30).
    Raises:
        DatasetError: wrong layout, missing templates, nothing to convert.
    """
    src, out = Path(src).expanduser(), Path(out).expanduser()
    if kind == "vocaset":
        seqs = find_vocaset(src, subjects=subjects, sentences=sentences)
        templates = load_vocaset_templates(src)
        loaders = [(s.name, s.wav, (lambda s=s: s.load(templates))) for s in seqs]
    elif kind == "hdtf":
        seqs = find_hdtf(src, names=subjects)
        templates = load_hdtf_templates(src)
        loaders = [(s.name, s.wav, (lambda s=s: s.load(templates, hdtf_fps))) for s in seqs]
    else:
        raise DatasetError(f"unknown dataset kind {kind!r}; use vocaset or hdtf")
    if not loaders:
        raise DatasetError(f"no {kind} sequences (audio + motion pairs) found in {src} for the chosen subjects")
    out.mkdir(parents=True, exist_ok=True)
    report = ConvertReport(out)
    items = loaders
    if progress:
        from tqdm import tqdm

        items = tqdm(loaders, desc=f"convert {kind}", unit="clip")
    for name, wav, load in items:
        anim = load()
        dst_wav = out / f"{name}.wav"
        shutil.copyfile(wav, dst_wav)
        save_animation(anim, out / f"{name}.npz", audio=dst_wav)
        report.pairs.append(name)
        report.frames += anim.n_frames
        subj = anim.metadata.get("subject", name)
        if subj not in report.subjects:
            report.subjects.append(subj)
    log.info("converted %d %s clips (%.1f min) into %s", len(report.pairs), kind, report.minutes, out)
    return report
