"""VOCASET in the FaceFormer layout (as 3DiFACE and FaceFormer use it).

::

    <root>/wav/<subject>_sentenceNN.wav         speech, any sample rate
    <root>/vertices_npy/<subject>_sentenceNN.npy (T60, 15069) absolute vertices, metres, 60 fps
    <root>/templates.pkl                        {subject: (5023, 3)} neutral meshes (Python 2 pickle)

The subject is the file name without its last ``_`` part (``FaceTalk_170728_03272_TA``), the
sentence number its last two digits. Motion is subsampled by 2 to 30 fps (FaceFormer's
``[::2]``) and stored as offsets from the subject's template. Standard splits: 8 training, 2
validation and 2 test subjects (:data:`VOCA_TRAIN`, :data:`VOCA_VAL`, :data:`VOCA_TEST`);
FaceFormer trains on sentences 1-40 of the training subjects and tests on 21-40.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from diface_editor.core.animation import Animation
from diface_editor.core.errors import DifaceError
from diface_editor.core.formats.common import set_template
from diface_editor.core.safe_pickle import safe_load_npy
from diface_editor.core.templates import load_templates_pkl

log = logging.getLogger(__name__)

VOCA_TRAIN: tuple[str, ...] = ("FaceTalk_170728_03272_TA", "FaceTalk_170904_00128_TA", "FaceTalk_170725_00137_TA",
                               "FaceTalk_170915_00223_TA", "FaceTalk_170811_03274_TA", "FaceTalk_170913_03279_TA",
                               "FaceTalk_170904_03276_TA", "FaceTalk_170912_03278_TA")
VOCA_VAL: tuple[str, ...] = ("FaceTalk_170811_03275_TA", "FaceTalk_170908_03277_TA")
VOCA_TEST: tuple[str, ...] = ("FaceTalk_170809_00138_TA", "FaceTalk_170731_00024_TA")
#: Frame rate of VOCASET's ``vertices_npy`` and the subsampling to 30 fps.
VOCA_FPS = 60.0
SUBSAMPLE = 2


class DatasetError(DifaceError, ValueError):
    """A dataset folder does not have the expected layout or content."""


@dataclass(frozen=True)
class VocasetSequence:
    """One sentence: ``name`` (``<subject>_sentenceNN``), its subject and sentence number, files."""

    name: str
    subject: str
    sentence: int
    wav: Path
    vertices: Path

    def load(self, templates: dict[str, np.ndarray], subsample: int = SUBSAMPLE) -> Animation:
        """Vertex-space animation at ``60 / subsample`` fps: offsets from the subject's template
        (recorded in the metadata), head at rest (VOCASET has no head motion)."""
        if self.subject not in templates:
            raise DatasetError(f"templates.pkl has no template for subject {self.subject} ({self.vertices.name})")
        tmpl = np.asarray(templates[self.subject], np.float32).reshape(-1, 3)
        v = safe_load_npy(self.vertices)
        if not isinstance(v, np.ndarray) or v.dtype.kind not in "fiu":
            raise DatasetError(f"{self.vertices} does not hold a numeric array")
        v = np.asarray(v, np.float32)
        v = v.reshape(v.shape[0], -1)
        if v.shape[1] != tmpl.size:
            raise DatasetError(f"{self.vertices} has {v.shape[1] // 3} vertices per frame but the template of "
                               f"{self.subject} has {len(tmpl)}")
        v = v[::subsample]
        offsets = v - tmpl.reshape(1, -1)
        anim = Animation(fps=VOCA_FPS / subsample, face=offsets, head=np.zeros((len(v), 3), np.float32),
                         channel_names=(), space="vertex",
                         metadata={"dataset": "vocaset", "subject": self.subject, "sentence": str(self.sentence),
                                   "head": "absent in VOCASET (zeros)"})
        set_template(anim, tmpl)
        return anim


def parse_subjects(text: str | None) -> tuple[str, ...] | None:
    """``train``, ``val``, ``test`` (the standard splits, combinable with commas), ``all`` or a comma
    list of subject names -> subject names (``None`` for all)."""
    if text is None or text.strip() in ("", "all"):
        return None
    out: list[str] = []
    for tok in (t.strip() for t in text.split(",") if t.strip()):
        out += list({"train": VOCA_TRAIN, "val": VOCA_VAL, "test": VOCA_TEST}.get(tok, (tok,)))
    return tuple(dict.fromkeys(out))


def parse_sentences(text: str | None) -> set[int] | None:
    """``"1-40"``, ``"21-40,3"`` -> a set of sentence numbers (``None`` for all)."""
    if text is None or not text.strip():
        return None
    out: set[int] = set()
    for tok in (t.strip() for t in text.split(",") if t.strip()):
        m = re.fullmatch(r"(\d+)(?:-(\d+))?", tok)
        if not m:
            raise DatasetError(f"sentences must look like 1-40 or 21-40,3, not {text!r}")
        a, b = int(m.group(1)), int(m.group(2) or m.group(1))
        out |= set(range(min(a, b), max(a, b) + 1))
    return out


def find_vocaset(root: str | os.PathLike, *, subjects: tuple[str, ...] | None = None,
                 sentences: set[int] | None = None, wav_dir: str = "wav",
                 vertices_dir: str = "vertices_npy") -> list[VocasetSequence]:
    """Sequences with both a wav and a vertices file, sorted by name, filtered by subject and sentence."""
    root = Path(root).expanduser()
    wdir, vdir = root / wav_dir, root / vertices_dir
    for d in (wdir, vdir):
        if not d.is_dir():
            raise DatasetError(f"{root} is not VOCASET in the FaceFormer layout: {d.name}/ is missing")
    out = []
    for wav in sorted(wdir.glob("*.wav")):
        name = wav.stem
        vert = vdir / f"{name}.npy"
        if not vert.is_file():
            log.info("skipping %s: no %s", wav.name, vert.name)
            continue
        subject = "_".join(name.split("_")[:-1])
        m = re.search(r"(\d+)$", name)
        sentence = int(m.group(1)[-2:]) if m else 0
        if subjects is not None and subject not in subjects:
            continue
        if sentences is not None and sentence not in sentences:
            continue
        out.append(VocasetSequence(name, subject, sentence, wav, vert))
    return out


def load_vocaset_templates(root: str | os.PathLike, template_file: str = "templates.pkl") -> dict[str, np.ndarray]:
    """``<root>/templates.pkl`` (restricted unpickler)."""
    path = Path(root).expanduser() / template_file
    if not path.is_file():
        raise DatasetError(f"{path} is missing; VOCASET's subject templates are needed to compute offsets")
    return load_templates_pkl(path)
