"""The project file (``.diface``): a document on disk.

Layout: a zip archive (no pickles anywhere) holding

* ``project.json``: ``format_version``, app version, fps, motion space, channel names, animation
  metadata, audio reference (absolute path, path relative to the project, sha256, sample rate,
  whether it is embedded), keyframes, selection, model id, sampler settings (with the performance
  controls and the viseme strength), document metadata, the transcript and its word/phone alignment;
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
from diface_editor.core.transcript import Transcript, TranscriptError

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
        "transcript": doc.transcript.to_dict() if doc.transcript is not None else None,
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
    from diface_editor.core.safe_zip import ArchiveError, read_npy_member

    try:
        return read_npy_member(z, name, path, ProjectError)
    except ArchiveError as e:  # pragma: no cover - read_npy_member raises ProjectError
        raise ProjectError(str(e)) from None


def _open_zip(path: Path) -> zipfile.ZipFile:
    from diface_editor.core.safe_zip import open_zip

    if not path.exists():
        raise ProjectError(f"project file not found: {path}")
    return open_zip(path, "a diface project", ProjectError)


def _read_meta(z: zipfile.ZipFile, path: Path) -> dict[str, Any]:
    try:
        info = z.getinfo(_META)
        if info.file_size > 64 * 1024**2:
            raise ProjectError(f"the project {path.name} is damaged: its {_META} is larger than 64 MiB")
        raw = z.read(_META)
    except KeyError:
        raise ProjectError(f"{path.name} is not a diface project (it has no {_META})") from None
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        raise ProjectError(f"the project {path.name} is damaged ({e})") from None
    try:
        meta = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise ProjectError(f"the project {path.name} is damaged: its {_META} is not valid JSON") from None
    if not isinstance(meta, dict) or meta.get("format") != "diface-project":
        raise ProjectError(f"{path.name} is not a diface project")
    ver = meta.get("format_version")
    if not isinstance(ver, int):
        raise ProjectError(f"the project {path.name} is damaged: it has no format version")
    if ver > PROJECT_FORMAT_VERSION:
        raise ProjectError(f"{path.name} was saved by a newer diface (project format {ver}; this version reads "
                           f"up to {PROJECT_FORMAT_VERSION}); please update diface to open it")
    _check_schema(meta, path)
    return meta


# ---------------------------------------------------------------------------------------- schema
class _Bad(Exception):
    def __init__(self, field: str, must: str, value: Any) -> None:
        self.field, self.must, self.value = field, must, value


def _show(v: Any) -> str:
    r = json.dumps(v) if isinstance(v, (str, int, float, bool, type(None))) else type(v).__name__
    return r if len(r) <= 40 else r[:37] + "..."


def _num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v)


def _int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _need(ok: bool, field: str, must: str, value: Any) -> None:
    if not ok:
        raise _Bad(field.lstrip("."), must, value)


def _opt(d: dict, key: str, test, field: str, must: str) -> None:
    if key in d and d[key] is not None:
        _need(test(d[key]), f"{field}.{key}" if field else key, must, d[key])


def _check_schema(meta: dict[str, Any], path: Path) -> None:
    """Every field of ``project.json`` checked for type and range (one sentence naming the field)."""
    try:
        _schema(meta)
    except _Bad as b:
        raise ProjectError(f"the project {path.name} is damaged: the field '{b.field}' must be {b.must}, "
                           f"not {_show(b.value)}") from None


def _schema(meta: dict[str, Any]) -> None:
    from diface_editor.core.limits import MAX_FPS, MAX_FRAMES
    from diface_editor.core.samplers import SAMPLERS

    strs = lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v)  # noqa: E731
    am = meta.get("animation")
    _need(isinstance(am, dict), "animation", "an object", am)
    _need(_num(am.get("fps")) and 0 < am["fps"] <= MAX_FPS, "animation.fps",
          f"a number of frames per second in (0, {MAX_FPS:g}]", am.get("fps"))
    _need(am.get("space", "arkit") in ("arkit", "vertex"), "animation.space", "'arkit' or 'vertex'", am.get("space"))
    _opt(am, "channel_names", strs, "animation", "a list of strings")
    _opt(am, "metadata", lambda v: isinstance(v, dict), "animation", "an object")
    _opt(am, "n_frames", lambda v: _int(v) and 0 <= v <= MAX_FRAMES, "animation",
         f"a frame count up to {MAX_FRAMES:,}")
    audio = meta.get("audio")
    _need(audio is None or isinstance(audio, dict), "audio", "an object or null", audio)
    if audio:
        for k in ("path", "relpath", "sha256"):
            _opt(audio, k, lambda v: isinstance(v, str), "audio", "a string")
        _opt(audio, "sample_rate", lambda v: _int(v) and 0 < v <= 1_000_000, "audio",
             "a sample rate in Hz (a whole number up to 1000000)")
        _opt(audio, "duration", _num, "audio", "a number of seconds")
        _opt(audio, "embedded", lambda v: isinstance(v, bool), "audio", "true or false")
        if audio.get("embedded"):
            _need(_int(audio.get("sample_rate")), "audio.sample_rate", "a sample rate in Hz for embedded audio",
                  audio.get("sample_rate"))
    keys = meta.get("keyframes")
    _need(keys is None or isinstance(keys, list), "keyframes", "a list of keyframes", keys)
    for i, k in enumerate(keys or []):
        f = f"keyframes[{i}]"
        _need(isinstance(k, dict), f, "an object", k)
        _need(_int(k.get("frame")) and k["frame"] >= 0, f"{f}.frame", "a frame number (a whole number >= 0)",
              k.get("frame"))
        _need(k.get("part", "head") in ("head", "face"), f"{f}.part", "'head' or 'face'", k.get("part"))
        _opt(k, "group", lambda v: isinstance(v, str), f, "a string")
        _opt(k, "values", lambda v: isinstance(v, list) and all(_num(x) for x in v) and len(v) <= 100_000, f,
             "a list of finite numbers")
    sel = meta.get("selection")
    _need(sel is None or (isinstance(sel, list) and len(sel) == 2 and all(_int(x) and x >= 0 for x in sel)
                          and sel[0] <= sel[1]), "selection", "null or two frame numbers [start, stop]", sel)
    _opt(meta, "model_id", lambda v: isinstance(v, str), "", "a string")
    sampler = meta.get("sampler")
    _need(sampler is None or isinstance(sampler, dict), "sampler", "an object", sampler)
    if sampler:
        _opt(sampler, "sampler", lambda v: v in SAMPLERS, "sampler", f"one of {', '.join(SAMPLERS)}")
        _opt(sampler, "steps", lambda v: _int(v) and 1 <= v <= 10_000, "sampler", "a step count from 1 to 10000")
        _opt(sampler, "guidance", lambda v: _num(v) and 0 <= v <= 100, "sampler", "a number from 0 to 100")
        for k in ("seed", "blink_seed"):
            _opt(sampler, k, _int, "sampler", "a whole number")
        _opt(sampler, "n_variants", lambda v: _int(v) and 1 <= v <= 64, "sampler", "a count from 1 to 64")
        _opt(sampler, "influence_frames", lambda v: _int(v) and 0 <= v <= MAX_FRAMES, "sampler",
             "a frame count >= 0")
        _opt(sampler, "blinks", lambda v: isinstance(v, bool), "sampler", "true or false")
        _opt(sampler, "reference_mode", lambda v: isinstance(v, bool), "sampler", "true or false")
        for k, hi in (("viseme_strength", 1), ("lip_sync", 2), ("upper_face", 2), ("head_motion", 2)):
            _opt(sampler, k, lambda v, hi=hi: _num(v) and 0 <= v <= hi, "sampler", f"a number from 0 to {hi}")
        _opt(sampler, "style", lambda v: v is None or isinstance(v, str), "sampler", "null or a string")
    tr = meta.get("transcript")
    _need(tr is None or isinstance(tr, dict), "transcript", "null or an object", tr)
    if tr:
        try:
            Transcript.from_dict(tr)
        except TranscriptError as e:
            _need(False, "transcript", f"a valid transcript ({e})", "...")
    _opt(meta, "metadata", lambda v: isinstance(v, dict), "", "an object")


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
            sel = meta.get("selection")
            keys = keyframes_from_json(meta.get("keyframes") or [])
            for i, k in enumerate(keys):
                if k.frame >= anim.n_frames:
                    raise ProjectError(f"the project {path.name} is damaged: the keyframe at frame {k.frame} "
                                       f"(field 'keyframes[{i}].frame') is past the last frame ({anim.n_frames - 1})")
            if sel is not None and sel[1] > anim.n_frames:
                raise ProjectError(f"the project {path.name} is damaged: the field 'selection' ends at frame "
                                   f"{sel[1]}, past the end of the clip ({anim.n_frames} frames)")
            sampler = SamplerSettings.from_dict(meta.get("sampler") or {})
            transcript = Transcript.from_dict(meta["transcript"]) if meta.get("transcript") else None
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
            unreadable = False
            if audio_path is not None:
                try:
                    audio = AudioClip.load(audio_path)
                except DifaceError as e:
                    unreadable = True
                    warnings.append(f"the audio file {audio_path} could not be read ({e})")
                if audio is not None and sha and audio.sha256 != sha:
                    warnings.append(f"the audio file {audio_path.name} has changed since the project was saved")
            if audio is None and embedded is not None:
                audio = AudioClip.from_array(np.asarray(embedded, np.float32), int(audio_meta["sample_rate"]))
                if audio_path is None:
                    audio_path = Path(audio_meta["path"]) if audio_meta.get("path") else None
            if audio is None and unreadable:
                warnings.append("the project opens without sound")
            elif audio is None:
                warnings.append(f"the audio file {audio_meta.get('path') or ''} was not found; the project opens "
                                f"without sound")
        elif audio_path is None and audio_meta.get("path"):
            audio_path = Path(audio_meta["path"])
    doc = Document(anim, audio=audio, audio_path=audio_path, audio_sha256=sha,
                   embed_audio=bool(audio_meta and audio_meta.get("embedded")), keyframes=keys,
                   selection=tuple(sel) if sel else None, model_id=str(meta.get("model_id", "default")),
                   sampler=sampler, metadata={str(k): str(v) for k, v in (meta.get("metadata") or {}).items()},
                   transcript=transcript)
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


def describe_project(path: str | Path) -> str:
    """A few human lines about a ``.diface`` project (for ``diface info``); :class:`ProjectError` for a
    damaged one. The audio is not decoded."""
    path = Path(path)
    doc = load_project(path, load_audio=False)
    meta_audio = None
    with _open_zip(path) as z:
        meta_audio = _read_meta(z, path).get("audio") or None
    anim = doc.animation
    lines = [f"{path.name}: diface project (.diface, format version {PROJECT_FORMAT_VERSION})",
             f"  frames: {anim.n_frames} at {anim.fps:g} fps ({anim.duration:.3f} s), {anim.space} space, "
             f"{anim.n_face} face channels",
             f"  keyframes: {len(doc.keyframes)}; model: {doc.model_id}"]
    if meta_audio:
        where = meta_audio.get("path") or "(no path)"
        found = "found" if doc.audio_path is not None and Path(doc.audio_path).is_file() else "not found"
        emb = ", embedded" if meta_audio.get("embedded") else ""
        lines.append(f"  audio: {where} ({found}{emb})")
    else:
        lines.append("  audio: none")
    return "\n".join(lines)
