"""HDTF sequences tracked as 3DiFACE uses them (FLAME topology with head pose).

::

    <root>/wav/<name>.wav
    <root>/metrical_tracker_dict/<name>.pkl   {"vertice": (T, 15069) or (T, 5023, 3), "global_pose": (T, 3)}
    <root>/templates.pkl                      {name: (5023, 3)}  (optional: else the first frame)

``vertice`` are absolute vertices in metres without the head rotation, ``global_pose`` the neck's
axis-angle rotation in radians, both at 30 fps (3DiFACE's data config). ``.npz`` and ``.npy``
(a pickled dict, read safely) work as well as ``.pkl``. Pickles are read with the restricted
unpickler: plain numpy arrays only.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from diface_editor.core.animation import Animation
from diface_editor.core.formats.common import set_template
from diface_editor.core.safe_pickle import check_plain_data, safe_load_file, safe_load_npy
from diface_editor.core.templates import load_templates_pkl
from diface_editor.ml.data.vocaset import DatasetError

HDTF_FPS = 30.0
_SUFFIXES = (".pkl", ".npz", ".npy")


@dataclass(frozen=True)
class HdtfSequence:
    """One tracked clip: ``name``, its audio and its tracking file."""

    name: str
    wav: Path
    track: Path

    def read(self) -> dict[str, np.ndarray]:
        """The tracking dict (plain arrays) of ``self.track``."""
        suf = self.track.suffix.lower()
        if suf == ".npz":
            try:
                with np.load(self.track, allow_pickle=False) as z:
                    d = {k: z[k] for k in z.files}
            except ValueError as e:
                raise DatasetError(f"{self.track} holds pickled objects ({e})") from None
        else:
            d = safe_load_file(self.track) if suf == ".pkl" else safe_load_npy(self.track)
            check_plain_data(d, source=str(self.track))
        if not isinstance(d, dict):
            raise DatasetError(f"{self.track} does not hold a dict with 'vertice' and 'global_pose'")
        return {(k.decode("latin1") if isinstance(k, bytes) else str(k)): v for k, v in d.items()}

    def load(self, templates: dict[str, np.ndarray] | None = None, fps: float = HDTF_FPS) -> Animation:
        """Vertex-space animation: offsets from the template of ``name`` (else the first frame) and
        ``global_pose`` as the head rotation."""
        d = self.read()
        if "vertice" not in d:
            raise DatasetError(f"{self.track} has no 'vertice' array (keys: {', '.join(d)})")
        v = np.asarray(d["vertice"], np.float32)
        v = v.reshape(v.shape[0], -1)
        pose = d.get("global_pose", d.get("pose"))
        pose = np.zeros((len(v), 3), np.float32) if pose is None else np.asarray(pose, np.float32).reshape(-1, 3)
        if len(pose) != len(v):
            raise DatasetError(f"{self.track}: vertice has {len(v)} frames but global_pose has {len(pose)}")
        meta = {"dataset": "hdtf", "subject": self.name}
        if templates is not None and self.name in templates:
            tmpl = np.asarray(templates[self.name], np.float32).reshape(-1)
        else:
            tmpl = v[0].copy()
            meta["template_source"] = "first_frame"
        if tmpl.size != v.shape[1]:
            raise DatasetError(f"the template of {self.name} has {tmpl.size // 3} vertices, {self.track.name} "
                               f"{v.shape[1] // 3}")
        anim = Animation(fps=float(fps), face=v - tmpl[None], head=pose, channel_names=(), space="vertex",
                         metadata=meta)
        set_template(anim, tmpl.reshape(-1, 3))
        return anim


def find_hdtf(root: str | os.PathLike, *, track_dir: str = "metrical_tracker_dict", wav_dir: str = "wav",
              names: tuple[str, ...] | None = None) -> list[HdtfSequence]:
    """Sequences with both a wav and a tracking file (``.pkl``/``.npz``/``.npy``), sorted by name."""
    root = Path(root).expanduser()
    tdir, wdir = root / track_dir, root / wav_dir
    for d in (tdir, wdir):
        if not d.is_dir():
            raise DatasetError(f"{root} is not an HDTF folder in 3DiFACE's layout: {d.name}/ is missing")
    out = []
    for track in sorted(p for p in tdir.iterdir() if p.suffix.lower() in _SUFFIXES):
        wav = wdir / f"{track.stem}.wav"
        if wav.is_file() and (names is None or track.stem in names):
            out.append(HdtfSequence(track.stem, wav, track))
    return out


def load_hdtf_templates(root: str | os.PathLike, template_file: str = "templates.pkl") -> dict[str, np.ndarray] | None:
    """``<root>/templates.pkl`` when present (restricted unpickler), else ``None``."""
    path = Path(root).expanduser() / template_file
    return load_templates_pkl(path) if path.is_file() else None
