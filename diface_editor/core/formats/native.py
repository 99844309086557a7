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
import zipfile
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


def _read(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as z:
            if not isinstance(z, np.lib.npyio.NpzFile):
                raise FormatError(f"{path} is a single .npy array, not a diface animation (.npz)")
            missing = [k for k in _REQUIRED if k not in z.files]
            if missing:
                raise FormatError(f"{path} is not a diface animation file (it lacks {', '.join(missing)})")
            version = int(z["format_version"])
            if version > NATIVE_FORMAT_VERSION:
                raise FormatError(f"{path} was written by a newer diface (animation format version {version}; "
                                  f"this version reads up to {NATIVE_FORMAT_VERSION}): update diface to open it")
            return {k: z[k] for k in z.files}
    except FormatError:
        raise
    except ValueError as e:
        if "pickle" in str(e).lower():
            raise FormatError(f"{path} contains pickled Python objects, which diface does not load") from None
        raise FormatError(f"{path} is damaged or not a diface animation ({e})") from None
    except (OSError, zipfile.BadZipFile, EOFError, KeyError) as e:
        raise FormatError(f"{path} is damaged or not a diface animation ({e or e.__class__.__name__})") from None


def load_native(path: Path) -> Animation:
    """Read a native ``.npz`` written by :func:`save_native`."""
    z = _read(path)
    try:
        meta = json.loads(str(z["metadata"])) if "metadata" in z else {}
        if not isinstance(meta, dict):
            raise ValueError("metadata is not a JSON object")
    except ValueError as e:
        raise FormatError(f"{path} has damaged metadata ({e})") from None
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
    names = tuple(str(n) for n in z["channel_names"]) if "channel_names" in z else ()
    try:
        return Animation(fps=float(z["fps"]), face=z["face"], head=z["head"], channel_names=names,
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
