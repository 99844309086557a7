"""The registry of animation file formats (see :mod:`diface_editor.core.formats` for the overview)."""

from __future__ import annotations

import inspect
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from diface_editor.core.animation import Animation
from diface_editor.core.errors import DifaceError

log = logging.getLogger(__name__)

Loader = Callable[..., Animation]
Saver = Callable[..., None]
Describer = Callable[[Path], str]


class FormatError(DifaceError, ValueError):
    """A file's format is unknown, unsupported for the operation, or its content is invalid."""


@dataclass(frozen=True)
class FileFormat:
    """One animation file format.

    Attributes:
        name: short id used by ``diface export --format NAME`` (lower case, e.g. ``"native"``).
        extensions: file suffixes with the dot, lower case; the first is the default for saving.
        description: one line for lists and the GUI export dialog.
        loader: ``load(path: Path, **options) -> Animation`` or ``None`` (export only).
        saver: ``save(anim: Animation, path: Path, **options) -> None`` or ``None`` (import only);
            it must write through :func:`diface_editor.core.atomic.atomic_path`.
        describer: ``describe(path: Path) -> str`` or ``None`` (then the file is loaded and
            summarised with :func:`diface_editor.core.formats.common.describe_animation`).
    """

    name: str
    extensions: tuple[str, ...]
    description: str
    loader: Loader | None = None
    saver: Saver | None = None
    describer: Describer | None = None

    @property
    def extension(self) -> str:
        """The default suffix (with the dot)."""
        return self.extensions[0]

    @property
    def can_load(self) -> bool:
        return self.loader is not None

    @property
    def can_save(self) -> bool:
        return self.saver is not None

    def load_options(self) -> tuple[str, ...]:
        """Keyword options the loader accepts (for help texts and option checks)."""
        return _keyword_names(self.loader)

    def save_options(self) -> tuple[str, ...]:
        return _keyword_names(self.saver)


#: All registered formats by name, in registration order.
FORMATS: dict[str, FileFormat] = {}
_BY_EXT: dict[str, str] = {}


def _keyword_names(fn) -> tuple[str, ...]:
    if fn is None:
        return ()
    params = inspect.signature(fn).parameters.values()
    return tuple(p.name for p in params if p.kind == p.KEYWORD_ONLY)


def _norm_ext(ext: str) -> str:
    ext = ext.lower().strip()
    return ext if ext.startswith(".") else "." + ext


def register_format(name: str, extensions: tuple[str, ...] | list[str] | str, description: str, *,
                    load: Loader | None = None, save: Saver | None = None, describe: Describer | None = None,
                    default_for_extensions: bool = True, replace: bool = False) -> FileFormat:
    """Add a format to :data:`FORMATS`.

    Args:
        name: unique short id (``"gltf"``, ``"pc2"``, ...).
        extensions: suffixes such as ``".glb"`` (a leading dot is added if missing).
        description: one line shown in format lists.
        load, save, describe: see :class:`FileFormat`; at least one of ``load``/``save``.
        default_for_extensions: make this format the one chosen by these suffixes (when False, a
            suffix already claimed keeps its format and this one is reachable only by name).
        replace: allow re-registering an existing name.

    Returns:
        The registered :class:`FileFormat`.
    """
    if isinstance(extensions, str):
        extensions = (extensions,)
    exts = tuple(_norm_ext(e) for e in extensions)
    if not exts:
        raise ValueError("a format needs at least one file extension")
    if load is None and save is None:
        raise ValueError(f"format {name!r} can neither load nor save")
    if name in FORMATS and not replace:
        raise ValueError(f"a file format named {name!r} is already registered")
    fmt = FileFormat(name=name, extensions=exts, description=description, loader=load, saver=save,
                     describer=describe)
    FORMATS[name] = fmt
    for e in exts:
        if default_for_extensions or e not in _BY_EXT:
            _BY_EXT[e] = name
    return fmt


def get_format(name: str) -> FileFormat:
    """The format called ``name`` (case-insensitive); :class:`FormatError` lists the known names."""
    key = name.lower().strip()
    if key in FORMATS:
        return FORMATS[key]
    for fmt in FORMATS.values():  # also accept an extension such as "csv" or ".npz"
        if _norm_ext(key) in fmt.extensions:
            return FORMATS[_BY_EXT.get(_norm_ext(key), fmt.name)]
    raise FormatError(f"unknown file format {name!r}; known formats: {', '.join(FORMATS)}")


def list_formats(*, can_load: bool | None = None, can_save: bool | None = None) -> list[FileFormat]:
    """Registered formats, optionally only those that can load and/or save."""
    out = []
    for fmt in FORMATS.values():
        if can_load is not None and fmt.can_load != can_load:
            continue
        if can_save is not None and fmt.can_save != can_save:
            continue
        out.append(fmt)
    return out


def format_for_path(path: str | os.PathLike, format: str | None = None) -> FileFormat:
    """The format named ``format``, or the one registered for ``path``'s suffix."""
    if format:
        return get_format(format)
    ext = Path(path).suffix.lower()
    name = _BY_EXT.get(ext)
    if name is None:
        known = ", ".join(sorted(_BY_EXT))
        what = f"'{ext}'" if ext else "a file without a suffix"
        raise FormatError(f"cannot tell the animation format of {Path(path).name} ({what}); "
                          f"use one of {known} or choose a format by name")
    return FORMATS[name]


def _check_options(fmt: FileFormat, fn, options: dict, verb: str) -> None:
    allowed = _keyword_names(fn)
    params = inspect.signature(fn).parameters.values()
    if any(p.kind == p.VAR_KEYWORD for p in params):
        return
    bad = [k for k in options if k not in allowed]
    if bad:
        hint = f" (it takes: {', '.join(allowed)})" if allowed else " (it takes no options)"
        raise FormatError(f"the {fmt.name} format cannot {verb} with the option{'s' if len(bad) > 1 else ''} "
                          f"{', '.join(bad)}{hint}")


def load_animation(path: str | os.PathLike, format: str | None = None, **options) -> Animation:
    """Read an animation; the format comes from ``format`` (a name) or the file's suffix.

    ``options`` go to the format's loader (e.g. ``fps=``, ``template=`` for 3DiFACE ``.npy``).

    Raises:
        FormatError: unknown format, a format that cannot load, missing file, unknown option, or
            invalid content (the loaders raise subclasses of :class:`DifaceError`).
    """
    path = Path(path)
    fmt = format_for_path(path, format)
    if not fmt.can_load:
        raise FormatError(f"{fmt.name} files ({', '.join(fmt.extensions)}) can be exported but not imported")
    check_input_file(path)
    _check_options(fmt, fmt.loader, options, "load")
    anim = fmt.loader(path, **options)
    if anim.n_frames == 0:
        raise FormatError(f"{path} holds no frames; there is no motion to load")
    return anim


def check_input_file(path: Path, what: str = "animation file") -> None:
    """:class:`FormatError` unless ``path`` is an existing, non-empty regular file (no folders, pipes
    or devices: reading a pipe could wait forever)."""
    from diface_editor.core.limits import check_regular_file

    try:
        check_regular_file(path, what)
    except FormatError:
        raise
    except DifaceError as e:
        raise FormatError(str(e)) from None
    if path.stat().st_size == 0:
        raise FormatError(f"{path} is empty (0 bytes)")


def check_output_path(path: Path) -> None:
    """:class:`FormatError` unless ``path`` can be a file diface writes: not a folder, pipe or device,
    and its folder exists (checked before long work starts)."""
    import stat

    try:
        st = os.stat(path)
    except FileNotFoundError:
        st = None
    except OSError as e:
        raise FormatError(f"cannot write {path}: {e.strerror or e}") from None
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise FormatError(f"cannot write {path}: it is a folder")
    if st is not None and not stat.S_ISREG(st.st_mode):
        raise FormatError(f"cannot write {path}: it is not a regular file (a pipe or device); "
                          "diface writes files only")
    parent = Path(os.path.realpath(path)).parent if st is not None else path.parent
    if not parent.is_dir():
        import errno

        from diface_editor.core.atomic import WriteError

        raise WriteError(f"could not write {path}: the folder does not exist ({parent}); the file was not written",
                         errno.ENOENT)


def save_animation(anim: Animation, path: str | os.PathLike, format: str | None = None, **options) -> Path:
    """Write ``anim`` atomically; the format comes from ``format`` (a name) or the suffix.

    With ``format`` given and ``path`` lacking a suffix, the format's default suffix is appended.
    ``options`` go to the format's saver (e.g. ``rig=`` for 3DiFACE ``.npy``, ``audio=`` for
    ``.npz``). Returns the path written.

    Raises:
        FormatError: unknown format or option, or a format that cannot save;
        :class:`~diface_editor.core.atomic.WriteError` when the disk write fails (the old file is kept).
    """
    path = Path(path)
    fmt = format_for_path(path, format)
    if not fmt.can_save:
        raise FormatError(f"{fmt.name} files ({', '.join(fmt.extensions)}) can be imported but not exported")
    check_output_path(path)  # before a suffix is added: /dev/stdout must not become /dev/stdout.csv
    if format and not path.suffix:
        path = path.with_suffix(fmt.extension)
        check_output_path(path)
    if anim.n_frames == 0:
        raise FormatError(f"the animation has no frames; {path.name} was not written")
    _check_options(fmt, fmt.saver, options, "save")
    fmt.saver(anim, path, **options)
    return path
