"""Hostile and careless input files for the bad-input matrix (tests/test_hostile_input.py and
tools/hostile_matrix.py). Every builder writes a small file; none allocates what the file claims."""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path

import numpy as np

from diface_editor.core.animation import Animation
from diface_editor.core.arkit import ARKIT_NAMES


def good_take(path: Path, n: int = 30, fps: float = 30.0) -> Path:
    from diface_editor.core.formats import save_animation

    face = np.zeros((n, 52), np.float32)
    face[:, ARKIT_NAMES.index("jawOpen")] = np.linspace(0, 1, n)
    save_animation(Animation(fps=fps, face=face, head=np.zeros((n, 3), np.float32)), path)
    return path


def _object_npy(path: Path, pickled: bytes) -> Path:
    """An object ``.npy`` whose payload is ``pickled`` (what ``np.save`` writes for a dict)."""
    h = io.BytesIO()
    np.lib.format.write_array_header_1_0(h, {"descr": "|O", "fortran_order": False, "shape": ()})
    path.write_bytes(h.getvalue() + pickled)
    return path


def billion_laughs_npy(path: Path, depth: int = 18, width: int = 10) -> Path:
    """A ~1 kB object ``.npy``: a list of ``width`` references to one list of ``width`` references ...
    (``width ** depth`` leaves, under the nesting limit)."""
    a: list = [0.0]
    for _ in range(depth):
        a = [a] * width
    obj = np.empty((), dtype=object)
    obj[()] = {"vertice": a}
    with open(path, "wb") as f:
        np.save(f, obj, allow_pickle=True)
    return path


def huge_ndarray_pickle_npy(path: Path, n: int = 6_000_000_000) -> Path:
    """An object ``.npy`` whose pickle calls ``numpy.ndarray((n,))`` (tens of gigabytes) on load."""
    p = b"\x80\x02cnumpy\nndarray\n" + b"\x8a\x05" + n.to_bytes(5, "little", signed=True) + b"\x85\x85R."
    return _object_npy(path, p)


def huge_reconstruct_npy(path: Path, n: int = 6_000_000_000) -> Path:
    """An object ``.npy`` whose pickle asks ``_reconstruct`` for an (n,) float64 array."""
    p = (b"\x80\x02cnumpy._core.multiarray\n_reconstruct\ncnumpy\nndarray\n"
         + b"\x8a\x05" + n.to_bytes(5, "little", signed=True) + b"\x85C\x01b\x87R.")
    return _object_npy(path, p)


def npz_bomb(path: Path, frames: int = 10_000_000, channels: int = 52, declared: tuple | None = None) -> Path:
    """A native ``.npz`` whose ``face`` member inflates to ``frames * channels * 4`` bytes of zeros
    (2 GB by default) from about 2 MB on disk. Written in chunks: nothing big is allocated here."""
    shape = declared if declared is not None else (frames, channels)
    hdr = io.BytesIO()
    np.lib.format.write_array_header_1_0(hdr, {"descr": "<f4", "fortran_order": False, "shape": shape})
    total = frames * channels * 4
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name, arr in (("format_version", np.array(1, np.int64)), ("fps", np.array(30.0)),
                          ("head", np.zeros((2, 3), np.float32))):
            b = io.BytesIO()
            np.lib.format.write_array(b, arr, allow_pickle=False)
            z.writestr(name + ".npy", b.getvalue())
        with z.open("face.npy", "w", force_zip64=True) as f:
            f.write(hdr.getvalue())
            chunk = bytes(1 << 22)
            left = total
            while left > 0:
                f.write(chunk[:min(left, len(chunk))])
                left -= len(chunk)
    return path


def npz_with(path: Path, **overrides) -> Path:
    """A native ``.npz`` of a short take with some arrays replaced (``None`` drops one)."""
    arrays = {"format_version": np.array(1, np.int64), "fps": np.array(30.0), "space": np.array("arkit"),
              "channel_names": np.array(ARKIT_NAMES), "face": np.zeros((10, 52), np.float32),
              "head": np.zeros((10, 3), np.float32), "audio_path": np.array(""), "audio_sha256": np.array(""),
              "metadata": np.array("{}")}
    for k, v in overrides.items():
        if v is None:
            arrays.pop(k, None)
        else:
            arrays[k] = v
    with open(path, "wb") as f:
        np.savez(f, **arrays)
    return path


def fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


def livelink_csv(path: Path, timecodes: list[str], *, extra_header: tuple[str, ...] = ()) -> Path:
    from diface_editor.core.formats.livelink import HEADER

    header = list(HEADER) + list(extra_header)
    lines = [",".join(header)]
    for tc in timecodes:
        lines.append(",".join([tc, "61"] + ["0.1"] * (len(header) - 2)))
    path.write_text("\n".join(lines) + "\n")
    return path


def project_zip(path: Path, meta_patch: dict | None = None, *, face=None, head=None, members: dict | None = None,
                bad_crc: bool = False) -> Path:
    """A ``.diface`` project with ``project.json`` patched (keys set; ``None`` values delete)."""
    face = np.zeros((10, 52), np.float32) if face is None else face
    head = np.zeros((len(face), 3), np.float32) if head is None else head
    meta = {"format": "diface-project", "format_version": 1, "app_version": "test",
            "animation": {"fps": 30.0, "space": "arkit", "n_frames": len(face), "n_face": face.shape[1],
                          "channel_names": list(ARKIT_NAMES), "metadata": {}},
            "audio": None, "keyframes": [], "selection": None, "model_id": "default", "sampler": {},
            "metadata": {}}
    for k, v in (meta_patch or {}).items():
        if v is None:
            meta.pop(k, None)
        else:
            meta[k] = v

    def npy(a):
        b = io.BytesIO()
        np.lib.format.write_array(b, a, allow_pickle=False)
        return b.getvalue()

    files = {"project.json": json.dumps(meta).encode(), "face.npy": npy(face), "head.npy": npy(head)}
    files.update(members or {})
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as z:
        for name, data in files.items():
            z.writestr(name, data)
    if bad_crc:
        raw = bytearray(path.read_bytes())
        i = raw.find(b"\x93NUMPY")  # flip a byte inside face.npy's stored data
        raw[i + 200] ^= 0xFF
        path.write_bytes(bytes(raw))
    return path


def wav(path: Path, samples: np.ndarray, rate: int = 16000, subtype: str | None = None) -> Path:
    import soundfile as sf

    sf.write(path, samples, rate, subtype=subtype)
    return path

