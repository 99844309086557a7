"""Animation file formats: one registry, chosen by file suffix or by name.

Public API::

    load_animation(path, format=None, **options) -> Animation
    save_animation(anim, path, format=None, **options) -> Path      # atomic write
    describe(path) -> str              # a few human lines about any supported file (also audio)
    FORMATS: dict[name, FileFormat]    # .name .extensions .extension .description .can_load .can_save
    list_formats(can_load=None, can_save=None) -> list[FileFormat]
    get_format(name) / format_for_path(path, format=None) -> FileFormat
    register_format(name, extensions, description, load=, save=, describe=) -> FileFormat
    resample_animation(anim, fps) -> Animation

Built-in formats:

=============  ========  ==========================================================
``native``     ``.npz``  diface's own file (:mod:`.native`)
``3diface``    ``.npy``  3DiFACE / FaceFormer vertices + pose (:mod:`.npy3d`)
``livelink``   ``.csv``  Live Link Face CSV, ARKit weights + head angles (:mod:`.livelink`)
=============  ========  ==========================================================

Adding a format (glTF, pc2, ...): write a module that calls :func:`register_format` at import
time and add its module name to :data:`FORMAT_MODULES` (a one-line edit; core modules only).
Formats living in higher layers (e.g. video through ``render``) call :func:`register_format`
from their own module, which the CLI/GUI import. Loaders take ``(path: Path, **keyword_options)``;
savers ``(anim, path: Path, **keyword_options)`` and must write through
:func:`diface_editor.core.atomic.atomic_path`; unknown options are refused with a
:class:`FormatError` naming the options the format takes.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path

from diface_editor.core.errors import DifaceError
from diface_editor.core.formats.registry import (
    FORMATS,
    FileFormat,
    FormatError,
    format_for_path,
    get_format,
    list_formats,
    load_animation,
    register_format,
    save_animation,
)
from diface_editor.core.formats.resample import resample_animation

#: Core modules that register formats when this package is imported (one per line).
FORMAT_MODULES: list[str] = [
    "diface_editor.core.formats.native",
    "diface_editor.core.formats.npy3d",
    "diface_editor.core.formats.livelink",
    "diface_editor.core.formats.gltf",
    "diface_editor.core.formats.pc2",
]

for _m in FORMAT_MODULES:
    importlib.import_module(_m)


def describe(path: str | os.PathLike, format: str | None = None) -> str:
    """A short human description of an animation, audio or project (``.diface``) file.

    Animation files: format, frames, fps, duration, channels, value ranges. Audio files
    (:data:`~diface_editor.core.audio.AUDIO_EXTENSIONS`): format, channels, rate, duration.

    Raises:
        FormatError / AudioError: unknown type, missing or invalid file.
    """
    from diface_editor.core.audio import AUDIO_EXTENSIONS, describe_audio
    from diface_editor.core.formats.common import describe_animation

    path = Path(path)
    if format is None and path.suffix.lower() in AUDIO_EXTENSIONS:
        return describe_audio(path)
    if format is None and path.suffix.lower() == ".diface":
        from diface_editor.core.project import describe_project

        return describe_project(path)
    try:
        fmt = format_for_path(path, format)
    except FormatError:
        if format is not None:
            raise
        exts = sorted({e for f in FORMATS.values() if f.can_load for e in f.extensions})
        raise FormatError(f"cannot tell what kind of file {path.name} is; animation files end in "
                          f"{', '.join(exts)} and audio files in {', '.join(AUDIO_EXTENSIONS[:4])}, ...") from None
    from diface_editor.core.formats.registry import check_input_file

    check_input_file(path)
    if fmt.describer is not None:
        text = fmt.describer(path)
        try:  # the metadata's transcript, if the file also loads as an animation
            anim = fmt.loader(path) if fmt.can_load else None
        except DifaceError:
            anim = None
        return text + _transcript_line(anim, path)
    if not fmt.can_load:
        raise FormatError(f"{fmt.name} files cannot be read back, so they cannot be described")
    anim = fmt.loader(path)
    return describe_animation(anim, path, fmt.description.split(":")[0]) + _transcript_line(anim, path)


def _transcript_line(anim, path: Path) -> str:
    """``"\n  transcript: ..."`` when the take carries words and phones (metadata, or a
    ``NAME.words.json`` / ``NAME.TextGrid`` sidecar beside it), else ``""``."""
    from diface_editor.core.formats.transcript_files import (
        TranscriptFileError,
        read_textgrid,
        read_words_json,
        sidecar_paths,
        transcript_of,
    )

    js, tg = sidecar_paths(path)
    try:
        tr, where = (transcript_of(anim.metadata) if anim is not None else None), "in the file"
        if tr is None and js.is_file():
            tr, where = read_words_json(js), js.name
        if tr is None and tg.is_file():
            tr, where = read_textgrid(tg), tg.name
    except TranscriptFileError as e:
        return f"\n  transcript: unreadable ({e})"
    if tr is None:
        return ""
    words = " ".join(w for w, _, _ in tr.words[:8]) + (" ..." if len(tr.words) > 8 else "")
    return f"\n  transcript ({where}): {len(tr.words)} words, {len(tr.phones)} phones: {words}"


__all__ = ["FORMATS", "FORMAT_MODULES", "FileFormat", "FormatError", "describe", "format_for_path", "get_format",
           "list_formats", "load_animation", "register_format", "resample_animation", "save_animation"]
