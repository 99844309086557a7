"""The project file (``.diface``): a document on disk.

Layout: a zip archive (no pickles anywhere) holding

* ``project.json``: ``format_version``, app version, fps, motion space, channel names, animation
  metadata, audio reference (absolute path, path relative to the project, sha256, sample rate,
  whether it is embedded), keyframes, selection, model id, sampler settings, document metadata;
* ``face.npy`` (T, C) float32 and ``head.npy`` (T, 3) float32 (exact bits of the animation);
* ``audio.npy`` (N,) float32 mono samples, only when the audio is embedded.

Writes are atomic (:func:`diface_editor.core.atomic.atomic_path`): the archive is written to a
temporary file beside the target, flushed to disk and moved over the target with ``os.replace``,
so a crash never leaves a half-written project.
A damaged file or one written by a newer format raises :class:`ProjectError` with one sentence.
"""

from __future__ import annotations

import io
import json
import logging
import os
import time
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from diface_editor import __version__
from diface_editor.core.animation import Animation
from diface_editor.core.atomic import atomic_path
from diface_editor.core.document import Document, SamplerSettings, keyframes_from_json, keyframes_to_json
from diface_editor.core.errors import DifaceError

log = logging.getLogger(__name__)

PROJECT_FORMAT_VERSION = 1
PROJECT_SUFFIX = ".diface"
_META = "project.json"


class ProjectError(DifaceError):
    """A project file cannot be read or written."""


# ---------------------------------------------------------------------------------------- writing
def _npy_bytes(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.ascontiguousarray(a), allow_pickle=False)
    return buf.getvalue()


def project_metadata(doc: Document, path: Path, embed_audio: bool) -> dict[str, Any]:
    """The JSON part of a project (see the module docstring)."""
    anim = doc.animation
    audio: dict[str, Any] | None = None
    if doc.audio_path is not None or doc.audio is not None:
        ap = Path(doc.audio_path).resolve() if doc.audio_path is not None else None
        rel = None
        if ap is not None:
            try:
                rel = os.path.relpath(ap, path.resolve().parent)
            except ValueError:  # another drive on Windows
                rel = None
        audio = {"path": str(ap) if ap else None, "relpath": rel, "sha256": doc.audio_sha256,
                 "sample_rate": int(doc.audio.sample_rate) if doc.audio is not None else None,
                 "duration": float(doc.audio.duration) if doc.audio is not None else None,
                 "embedded": bool(embed_audio and doc.audio is not None)}
    return {
        "format": "diface-project",
        "format_version": PROJECT_FORMAT_VERSION,
        "app_version": __version__,
        "saved": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "animation": {"fps": float(anim.fps), "space": anim.space, "n_frames": anim.n_frames,
                      "n_face": anim.n_face, "channel_names": list(anim.channel_names),
                      "metadata": dict(anim.metadata)},
        "audio": audio,
        "keyframes": keyframes_to_json(doc.keyframes),
        "selection": list(doc.selection) if doc.selection is not None else None,
        "model_id": doc.model_id,
        "sampler": doc.sampler.to_dict(),
        "metadata": dict(doc.metadata),
    }


def save_project(doc: Document, path: str | Path, *, embed_audio: bool | None = None,
                 set_path: bool = True) -> Path:
    """Write ``doc`` to ``path`` (``.diface`` is appended when missing) atomically.

    Args:
        doc: the document.
        path: target file.
        embed_audio: store the audio samples in the file (default: ``doc.embed_audio``).
        set_path: remember ``path`` as ``doc.project_path`` (False for autosaves).

    Returns:
        The path written.
    """
    path = Path(path)
    if path.suffix.lower() != PROJECT_SUFFIX:
        path = path.with_name(path.name + PROJECT_SUFFIX)
    embed = doc.embed_audio if embed_audio is None else bool(embed_audio)
    meta = project_metadata(doc, path, embed)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ProjectError(f"cannot create the folder {path.parent}: {e.strerror or e}") from e
    with atomic_path(path) as tmp:  # WriteError (a DifaceError) on failure; the old file stays
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=4) as z:
            z.writestr(_META, json.dumps(meta, indent=1))
            z.writestr("face.npy", _npy_bytes(doc.animation.face))
            z.writestr("head.npy", _npy_bytes(doc.animation.head))
            if meta["audio"] is not None and meta["audio"]["embedded"]:
                z.writestr("audio.npy", _npy_bytes(np.asarray(doc.audio.samples, np.float32)))
    if set_path:
        doc.project_path = path
    log.info("saved project %s (%d frames, %d keyframes)", path, doc.n_frames, len(doc.keyframes))
    return path


# ---------------------------------------------------------------------------------------- reading
def _read_npy(z: zipfile.ZipFile, name: str, path: Path) -> np.ndarray:
    try:
        with z.open(name) as fh:
            return np.lib.format.read_array(io.BytesIO(fh.read()), allow_pickle=False)
    except KeyError:
        raise ProjectError(f"the project {path.name} is damaged: it lacks {name}") from None
    except ValueError as e:
        raise ProjectError(f"the project {path.name} is damaged: {name} cannot be read ({e})") from None


def _open_zip(path: Path) -> zipfile.ZipFile:
    if not path.exists():
        raise ProjectError(f"project file not found: {path}")
    if path.is_dir():
        raise ProjectError(f"{path} is a folder, not a diface project file")
    try:
        return zipfile.ZipFile(path, "r")
    except zipfile.BadZipFile:
        raise ProjectError(f"{path.name} is not a diface project or it is damaged (not a valid archive)") from None
    except OSError as e:
        raise ProjectError(f"cannot read the project {path}: {e.strerror or e}") from None


def _read_meta(z: zipfile.ZipFile, path: Path) -> dict[str, Any]:
    try:
        raw = z.read(_META)
    except KeyError:
        raise ProjectError(f"{path.name} is not a diface project (it has no {_META})") from None
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        raise ProjectError(f"the project {path.name} is damaged ({e})") from None
    try:
        meta = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ProjectError(f"the project {path.name} is damaged: its {_META} is not valid JSON") from None
    if not isinstance(meta, dict) or meta.get("format") != "diface-project":
        raise ProjectError(f"{path.name} is not a diface project")
    ver = meta.get("format_version")
    if not isinstance(ver, int):
        raise ProjectError(f"the project {path.name} is damaged: it has no format version")
    if ver > PROJECT_FORMAT_VERSION:
        raise ProjectError(f"{path.name} was saved by a newer diface (project format {ver}; this version reads "
                           f"up to {PROJECT_FORMAT_VERSION}); please update diface to open it")
    return meta


def load_project(path: str | Path, *, load_audio: bool = True) -> Document:
    """Read a ``.diface`` project into a new :class:`Document`.

    The audio is looked up at its absolute path, then relative to the project, then beside the
    project by file name; if none exists the embedded samples are used. A missing audio file or a
    content hash that differs from the saved one is not fatal: it is reported in ``doc.warnings``.

    Raises:
        ProjectError: the file is missing, damaged or from a newer format version.
    """
    path = Path(path)
    with _open_zip(path) as z:
        meta = _read_meta(z, path)
        try:
            am = meta["animation"]
            face = _read_npy(z, "face.npy", path)
            head = _read_npy(z, "head.npy", path)
            try:
                anim = Animation(fps=float(am["fps"]), face=face, head=head,
                                 channel_names=tuple(am.get("channel_names") or ()), space=am.get("space", "arkit"),
                                 metadata={str(k): str(v) for k, v in (am.get("metadata") or {}).items()})
            except DifaceError as e:
                raise ProjectError(f"the project {path.name} is damaged: {e}") from None
            if face.dtype != np.float32 or head.dtype != np.float32:
                raise ProjectError(f"the project {path.name} is damaged: motion arrays must be float32")
            audio_meta = meta.get("audio") or None
            embedded = None
            if audio_meta and audio_meta.get("embedded"):
                embedded = _read_npy(z, "audio.npy", path)
            keys = keyframes_from_json(meta.get("keyframes") or [])
            sel = meta.get("selection")
            sampler = SamplerSettings.from_dict(meta.get("sampler") or {})
        except (KeyError, TypeError, ValueError) as e:
            if isinstance(e, DifaceError):
                raise
            raise ProjectError(f"the project {path.name} is damaged: bad or missing field {e}") from None
    warnings: list[str] = []
    audio = None
    audio_path = None
    sha = None
    if audio_meta:
        sha = audio_meta.get("sha256")
        audio_path = _find_audio(path, audio_meta)
        if load_audio:
            from diface_editor.core.audio import AudioClip
            if audio_path is not None:
                try:
                    audio = AudioClip.load(audio_path)
                except DifaceError as e:
                    warnings.append(str(e))
                if audio is not None and sha and audio.sha256 != sha:
                    warnings.append(f"the audio file {audio_path.name} has changed since the project was saved")
            if audio is None and embedded is not None:
                audio = AudioClip.from_array(np.asarray(embedded, np.float32), int(audio_meta["sample_rate"]))
                if audio_path is None:
                    audio_path = Path(audio_meta["path"]) if audio_meta.get("path") else None
            if audio is None:
                warnings.append(f"the audio file {audio_meta.get('path') or ''} was not found; the project opens "
                                f"without sound")
        elif audio_path is None and audio_meta.get("path"):
            audio_path = Path(audio_meta["path"])
    doc = Document(anim, audio=audio, audio_path=audio_path, audio_sha256=sha,
                   embed_audio=bool(audio_meta and audio_meta.get("embedded")), keyframes=keys,
                   selection=tuple(sel) if sel else None, model_id=str(meta.get("model_id", "default")),
                   sampler=sampler, metadata={str(k): str(v) for k, v in (meta.get("metadata") or {}).items()})
    doc.project_path = path
    doc.warnings = warnings
    for w in warnings:
        log.warning("%s: %s", path.name, w)
    return doc


def _find_audio(project: Path, meta: dict[str, Any]) -> Path | None:
    cands = []
    if meta.get("path"):
        cands.append(Path(meta["path"]))
    if meta.get("relpath"):
        cands.append(project.parent / meta["relpath"])
    if meta.get("path"):
        cands.append(project.parent / Path(meta["path"]).name)
    for c in cands:
        if c.is_file():
            return c
    return None


def is_project_file(path: str | Path) -> bool:
    """True for a path ending in ``.diface`` (the file need not exist)."""
    return Path(path).suffix.lower() == PROJECT_SUFFIX
