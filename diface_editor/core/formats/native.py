"""The native animation file: ``.npz`` (numpy zip, no pickles; read with ``allow_pickle=False``).

Arrays (format version 1):

==================  ===============  ===================================================
``format_version``  () int64         :data:`NATIVE_FORMAT_VERSION`; newer files are refused
``fps``             () float64       frames per second
``space``           () str           ``"arkit"`` or ``"vertex"``
``channel_names``   (C,) str         face channel names (empty for vertex space)
``face``            (T, C) float32   weights, or vertex offsets in metres
``head``            (T, 3) float32   axis-angle head rotation, radians
``audio_path``      () str           absolute path of the audio it belongs to, or ``""``
``audio_sha256``    () str           :attr:`AudioClip.sha256` of that audio, or ``""``
``metadata``        () str           JSON object of the remaining string metadata
``template``        (V, 3) float32   optional: vertex template (vertex space)
==================  ===============  ===================================================

On load the audio reference and the template are put back into ``Animation.metadata`` under
``audio_path`` / ``audio_sha256`` / :data:`~diface_editor.core.formats.common.TEMPLATE_KEY`, so a
load/save round trip keeps them. When the recorded audio path no longer exists but a file of that
name lies next to the ``.npz``, that one is used (projects moved as a folder keep working).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from diface_editor.core.animation import Animation, AnimationError
from diface_editor.core.atomic import atomic_path
from diface_editor.core.formats.common import (
    AUDIO_PATH_KEY,
    AUDIO_SHA_KEY,
    TEMPLATE_KEY,
    decode_template,
    describe_animation,
    encode_template,
)
from diface_editor.core.formats.registry import FormatError, register_format
from diface_editor.core.limits import MAX_FRAMES, LimitError, check_fps
from diface_editor.core.safe_zip import npy_member_header, open_zip, read_npy_member

NATIVE_FORMAT_VERSION = 1
_REQUIRED = ("format_version", "fps", "face", "head")


def save_native(anim: Animation, path: Path, *, audio=None) -> None:
    """Write ``anim`` as a native ``.npz``.

    Args:
        audio: the :class:`~diface_editor.core.audio.AudioClip` (or an audio file path) the motion
            belongs to; default: the ``audio_path``/``audio_sha256`` already in ``anim.metadata``.
    """
    meta = dict(anim.metadata)
    audio_path = meta.pop(AUDIO_PATH_KEY, "")
    audio_sha = meta.pop(AUDIO_SHA_KEY, "")
    template = decode_template(meta.pop(TEMPLATE_KEY, ""))
    if audio is not None:
        from diface_editor.core.audio import AudioClip

        clip = audio if isinstance(audio, AudioClip) else AudioClip.load(audio)
        audio_path = os.path.abspath(clip.path) if clip.path is not None else ""
        audio_sha = clip.sha256
    arrays = {
        "format_version": np.array(NATIVE_FORMAT_VERSION, np.int64),
        "fps": np.array(float(anim.fps), np.float64),
        "space": np.array(anim.space),
        "channel_names": np.array(list(anim.channel_names), dtype=str) if anim.channel_names
        else np.zeros(0, dtype="<U1"),
        "face": anim.face.astype(np.float32, copy=False),
        "head": anim.head.astype(np.float32, copy=False),
        "audio_path": np.array(str(audio_path)),
        "audio_sha256": np.array(str(audio_sha)),
        "metadata": np.array(json.dumps(meta, ensure_ascii=False, sort_keys=True)),
    }
    if template is not None:
        arrays["template"] = template
    with atomic_path(path) as tmp:
        np.savez_compressed(tmp, **arrays)


#: The schema of the arrays: name -> (number of dimensions, dtype kinds, what it must be).
_SCHEMA: dict[str, tuple[int, str, str]] = {
    "format_version": (0, "iu", "a single integer"),
    "fps": (0, "iuf", "a single number (frames per second)"),
    "space": (0, "U", "a single string ('arkit' or 'vertex')"),
    "channel_names": (1, "U", "a list of strings"),
    "face": (2, "iuf", "a (frames, channels) array of numbers"),
    "head": (2, "iuf", "a (frames, 3) array of numbers"),
    "audio_path": (0, "U", "a single string"),
    "audio_sha256": (0, "U", "a single string"),
    "metadata": (0, "U", "a single string holding a JSON object"),
    "template": (2, "iuf", "a (vertices, 3) array of numbers"),
}


def _describe_kind(shape: tuple[int, ...], dtype: np.dtype) -> str:
    kind = {"U": "strings", "S": "bytes", "b": "booleans", "f": "floats", "i": "integers", "u": "integers",
            "c": "complex numbers"}.get(dtype.kind, str(dtype))
    return f"an array of {kind} of shape {shape}" if shape else f"a single value of {kind[:-1] if kind.endswith('s') else kind}"


def _read(path: Path) -> dict[str, np.ndarray]:
    """The arrays of a native file, each checked against :data:`_SCHEMA` (headers before data)."""
    what = "a diface animation (.npz)"
    with open_zip(path, what, FormatError) as z:
        members = {n[:-4]: n for n in z.namelist() if n.endswith(".npy")}
        missing = [k for k in _REQUIRED if k not in members]
        if missing:
            raise FormatError(f"{path} is not a diface animation file (it lacks {', '.join(missing)})")
        headers = {}
        for key, member in members.items():
            shape, dtype = npy_member_header(z, member, path, FormatError)
            if key in _SCHEMA:
                ndim, kinds, must = _SCHEMA[key]
                if len(shape) != ndim or dtype.kind not in kinds:
                    raise FormatError(f"{path}: the field '{key}' must be {must}, but it is "
                                      f"{_describe_kind(shape, dtype)}")
            headers[key] = shape
        frames = headers["face"][0]
        check = (f"{path}: the field 'face' has {frames:,} frames, more than the limit of {MAX_FRAMES:,}"
                 if frames > MAX_FRAMES else None)
        if check:
            raise FormatError(check)
        version_arr = read_npy_member(z, members["format_version"], path, FormatError)
        version = int(version_arr)
        if version > NATIVE_FORMAT_VERSION:
            raise FormatError(f"{path} was written by a newer diface (animation format version {version}; "
                              f"this version reads up to {NATIVE_FORMAT_VERSION}): update diface to open it")
        return {k: read_npy_member(z, m, path, FormatError) for k, m in members.items()}


def load_native(path: Path) -> Animation:
    """Read a native ``.npz`` written by :func:`save_native`."""
    z = _read(path)
    try:
        meta = json.loads(str(z["metadata"])) if "metadata" in z else {}
        if not isinstance(meta, dict):
            raise ValueError("it is not a JSON object")
    except ValueError as e:
        raise FormatError(f"{path}: the field 'metadata' is damaged ({e})") from None
    meta = {str(k): str(v) for k, v in meta.items()}
    audio_path = str(z["audio_path"]) if "audio_path" in z else ""
    if audio_path:
        if not Path(audio_path).exists() and (path.parent / Path(audio_path).name).exists():
            audio_path = str(path.parent / Path(audio_path).name)
        meta[AUDIO_PATH_KEY] = audio_path
        sha = str(z["audio_sha256"]) if "audio_sha256" in z else ""
        if sha:
            meta[AUDIO_SHA_KEY] = sha
    if "template" in z:
        meta[TEMPLATE_KEY] = encode_template(z["template"])
    space = str(z["space"]) if "space" in z else "arkit"
    if space not in ("arkit", "vertex"):
        raise FormatError(f"{path}: the field 'space' must be 'arkit' or 'vertex', got {space!r}")
    names = tuple(str(n) for n in z["channel_names"]) if "channel_names" in z else ()
    try:
        fps = check_fps(float(z["fps"]), "the frame rate")
    except LimitError as e:
        raise FormatError(f"{path}: the field 'fps': {e}") from None
    if z["face"].shape[0] == 0:
        raise FormatError(f"{path} holds no frames; there is no motion to load")
    try:
        return Animation(fps=fps, face=z["face"], head=z["head"], channel_names=names,
                         space=space, metadata=meta)
    except AnimationError as e:
        raise FormatError(f"{path} holds an invalid animation: {e}") from None


def describe_native(path: Path) -> str:
    version = int(_read(path)["format_version"])
    anim = load_native(path)
    return describe_animation(anim, path, f"diface animation (.npz, format version {version}, {anim.space} space)")


register_format("native", (".npz",), "diface animation (.npz): ARKit weights or vertex offsets, head "
                "rotation, fps, channel names, audio reference", load=load_native, save=save_native,
                describe=describe_native)
