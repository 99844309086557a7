"""Reading ``.npy`` members of zip archives (native ``.npz`` animations, ``.diface`` projects) within
the limits of :mod:`diface_editor.core.limits`: the archive must be a regular file, every member's
declared size and inflation ratio are checked from the zip directory and its ``.npy`` header's
shape and dtype before anything is inflated or allocated; object arrays (pickles) are refused, and
damaged data (bad CRC, truncated member) becomes one sentence naming the file and the member.
"""

from __future__ import annotations

import struct
import zipfile
from pathlib import Path

import numpy as np

from diface_editor.core.errors import DifaceError
from diface_editor.core.limits import (
    INFLATE_CHECK_BYTES,
    MAX_ARRAY_BYTES,
    MAX_INFLATE_RATIO,
    LimitError,
    check_array_bytes,
    check_regular_file,
    format_bytes,
)
from diface_editor.core.npy_header import read_npy_header

ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
NPY_MAGIC = b"\x93NUMPY"


class ArchiveError(DifaceError, ValueError):
    """A zip archive or one of its members cannot be read safely."""


def open_zip(path: Path, what: str, error: type[DifaceError] = ArchiveError) -> zipfile.ZipFile:
    """The archive at ``path`` (a regular, non-empty zip file); ``error`` with a sentence otherwise.

    ``what`` names the kind of file in messages (``"a diface animation (.npz)"``)."""
    try:
        check_regular_file(path, "file")
    except DifaceError as e:
        raise error(str(e)) from None
    with open(path, "rb") as f:
        head = f.read(8)
    if not head:
        raise error(f"{path} is empty (0 bytes)")
    if head.startswith(NPY_MAGIC):
        raise error(f"{path} is a single .npy array, not {what}")
    if not head.startswith(ZIP_MAGIC):
        raise error(f"{path} is not {what}: it is not a zip archive (wrong file type or damaged)")
    try:
        return zipfile.ZipFile(path, "r")
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError, NotImplementedError,
            struct.error, UnicodeDecodeError) as e:
        raise error(f"{path} is not {what} or it is damaged (not a valid zip archive: {e})") from None


def check_member(info: zipfile.ZipInfo, path: Path, error: type[DifaceError] = ArchiveError) -> None:
    """Declared size and inflation ratio of one member, from the zip directory."""
    if info.file_size > MAX_ARRAY_BYTES + 4096:
        raise error(f"{path}: the member {info.filename} inflates to {format_bytes(info.file_size)}, more than the "
                    f"limit of {format_bytes(MAX_ARRAY_BYTES)}; it was not loaded")
    if info.file_size > INFLATE_CHECK_BYTES and info.file_size > MAX_INFLATE_RATIO * max(1, info.compress_size):
        raise error(f"{path}: the member {info.filename} inflates {info.file_size // max(1, info.compress_size):,}-fold "
                    f"({format_bytes(info.compress_size)} to {format_bytes(info.file_size)}), more than the "
                    f"{MAX_INFLATE_RATIO}-fold a real file needs; it was not loaded")


def npy_member_header(z: zipfile.ZipFile, name: str, path: Path,
                      error: type[DifaceError] = ArchiveError) -> tuple[tuple[int, ...], np.dtype]:
    """``(shape, dtype)`` from a member's ``.npy`` header (only the header is inflated)."""
    try:
        info = z.getinfo(name)
    except KeyError:
        raise error(f"{path} is damaged: it lacks {name}") from None
    check_member(info, path, error)
    try:
        with z.open(info) as fh:
            shape, _fortran, dtype = read_npy_header(fh)
    except DifaceError:
        raise
    except zipfile.BadZipFile as e:
        raise error(f"{path} is damaged: its member {name} cannot be read ({_zip_detail(e)})") from None
    except Exception as e:  # noqa: BLE001 - numpy raises many types for a bad header
        raise error(f"{path} is damaged: its member {name} is not a valid .npy array ({e})") from None
    if dtype.hasobject:
        raise error(f"{path}: the member {name} holds pickled Python objects, which diface does not load")
    try:
        check_array_bytes(shape, dtype.itemsize, f"{path}: the member {name}")
    except LimitError as e:
        raise error(str(e)) from None
    return tuple(int(s) for s in shape), dtype


def read_npy_member(z: zipfile.ZipFile, name: str, path: Path,
                    error: type[DifaceError] = ArchiveError) -> np.ndarray:
    """The array in member ``name`` after :func:`npy_member_header` accepted its size."""
    npy_member_header(z, name, path, error)
    try:
        with z.open(name) as fh:
            return np.lib.format.read_array(fh, allow_pickle=False)
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, NotImplementedError, struct.error) as e:
        raise error(f"{path} is damaged: its member {name} cannot be read ({_zip_detail(e)})") from None


def _zip_detail(e: BaseException) -> str:
    return "its checksum does not match (bad CRC)" if "CRC" in str(e) else f"{e or e.__class__.__name__}"
