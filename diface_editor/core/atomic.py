"""Atomic file writes: a save either fully replaces the file or leaves the old one untouched.

Every writer of user files (animations, audio, projects, settings, exports) goes through
:func:`atomic_path` (for writers that want a path, e.g. ``np.savez`` or ``soundfile.write``) or
:func:`atomic_write_bytes` / :func:`atomic_write_text`.

How: the data is written to a temporary file in the **same folder** (so the final rename stays on
one file system), flushed and ``fsync``-ed, then moved over the target with ``os.replace`` (atomic
on POSIX and Windows), and the folder is ``fsync``-ed (best effort). On any failure (disk full,
permission denied, the writer raising) the temporary file is removed and the target is unchanged.
An ``OSError`` becomes :class:`WriteError`, whose message says the file was not written and why.

A symbolic link is followed: the file it points to is replaced and the link stays a link.

The temporary file is named ``.<name>.<random>.tmp<suffix>``: it keeps the target's suffix because
some writers pick the format from it (``np.savez`` appends ``.npz`` otherwise, ``soundfile``
chooses WAV/FLAC/OGG by suffix). It is created with the usual permissions (``0o666`` minus the
umask); when the target exists its permission bits are kept.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path

from diface_editor.core.errors import DifaceError

log = logging.getLogger(__name__)


class WriteError(DifaceError, OSError):
    """A file could not be written; the previous version (if any) is unchanged.

    ``str(e)`` is the sentence; ``e.errno`` is the underlying error number (or ``None``).
    """

    def __init__(self, message: str, errno_: int | None = None) -> None:
        super().__init__(message)
        self.errno = errno_


def _reason(e: BaseException) -> str:
    if isinstance(e, OSError):
        if e.errno == errno.ENOSPC:
            return "the disk is full"
        if e.errno in (errno.EACCES, errno.EPERM):
            return "permission denied"
        if e.errno == errno.EROFS:
            return "the file system is read-only"
        if e.errno == errno.ENOENT:
            return "the folder does not exist"
        return e.strerror or str(e) or e.__class__.__name__
    return str(e) or e.__class__.__name__


def _fsync_dir(folder: Path) -> None:
    """Make the rename durable (POSIX); silently skipped where folders cannot be opened (Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _create_temp(target: Path) -> Path:
    for _ in range(100):
        tmp = target.with_name(f".{target.stem}.{secrets.token_hex(4)}.tmp{target.suffix}")
        try:
            fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
        except FileExistsError:
            continue
        os.close(fd)
        return tmp
    raise FileExistsError(errno.EEXIST, "could not create a temporary file", str(target.parent))


def _remove_quietly(p: Path) -> None:
    try:
        p.unlink()
    except FileNotFoundError:
        pass
    except OSError as e:  # pragma: no cover - nothing better to do
        log.warning("could not remove temporary file %s: %s", p, e)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on normal exit it atomically replaces ``path``.

    Usage::

        with atomic_path(out) as tmp:
            np.savez(tmp, **arrays)

    Raises:
        WriteError: the file could not be written (disk full, permissions, missing folder, ...);
            ``path`` is unchanged and the temporary file removed.
        Any non-``OSError`` exception of the body propagates unchanged (after the same clean-up).
    """
    target = Path(path)
    if target.is_symlink():  # write the link's target and keep the link (a rename would replace it)
        target = Path(os.path.realpath(target))
    if target.is_dir():
        raise WriteError(f"could not write {target}: it is a folder", errno.EISDIR)
    try:
        tmp = _create_temp(target)
    except OSError as e:
        raise WriteError(f"could not write {target}: {_reason(e)}; the file was not written", e.errno) from e
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            f.flush()
            os.fsync(f.fileno())
        try:
            mode = stat.S_IMODE(os.stat(target).st_mode)
        except FileNotFoundError:
            mode = None
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, target)
    except OSError as e:
        _remove_quietly(tmp)
        if isinstance(e, WriteError):
            raise
        raise WriteError(f"could not write {target}: {_reason(e)}; "
                         "the file was not written (any previous version is unchanged)", e.errno) from e
    except BaseException:
        _remove_quietly(tmp)
        raise
    _fsync_dir(target.parent)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_path`)."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)


def atomic_write_text(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> None:
    """Write ``text`` to ``path`` atomically (see :func:`atomic_path`); newlines are written as given."""
    atomic_write_bytes(path, text.encode(encoding))
