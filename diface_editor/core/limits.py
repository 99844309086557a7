"""Bounds on what a file or an argument may ask diface to allocate or compute.

Every loader checks declared sizes against these limits *before* allocating (array headers, zip
directory sizes, pickle constructors, frame counts implied by timecodes or a new frame rate), so a
tiny hostile or careless file cannot hang diface or eat the machine's memory. The messages state
the limit.

==========================  ==============================================================
:data:`MAX_FPS`             1000 frames per second
:data:`MAX_FRAMES`          1,000,000 frames (9.3 hours at 30 fps)
:data:`MAX_ARRAY_BYTES`     2 GiB for any one array read from a file
:data:`MAX_INFLATE_RATIO`   a zip member above 16 MiB may inflate at most 1000-fold
:data:`MAX_PICKLE_NODES`    2,000,000 containers and values visited in a pickled structure
==========================  ==============================================================
"""

from __future__ import annotations

import math
import os
import stat
from pathlib import Path

from diface_editor.core.errors import DifaceError

MAX_FPS = 1000.0
MAX_FRAMES = 1_000_000
MAX_ARRAY_BYTES = 2 * 1024**3
MAX_INFLATE_RATIO = 1000
INFLATE_CHECK_BYTES = 16 * 1024**2
MAX_PICKLE_NODES = 2_000_000


class LimitError(DifaceError, ValueError):
    """An input asks for more than diface allows (frames, frame rate, bytes, nesting)."""


def _size(n: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} PiB"  # pragma: no cover


def format_bytes(n: float) -> str:
    """``2147483648`` -> ``"2.0 GiB"``."""
    return _size(float(n))


def check_fps(fps, what: str = "the frame rate") -> float:
    """``fps`` as a float in (0, :data:`MAX_FPS`]; :class:`LimitError` names ``what`` otherwise."""
    try:
        v = float(fps)
    except (TypeError, ValueError):
        raise LimitError(f"{what} must be a number of frames per second, got {fps!r}") from None
    if not math.isfinite(v) or v <= 0 or v > MAX_FPS:
        raise LimitError(f"{what} must be a positive number of frames per second up to {MAX_FPS:g}, got {fps!r}")
    return v


def check_frames(n: int, what: str = "the animation") -> int:
    """``n`` if 0 <= n <= :data:`MAX_FRAMES`; :class:`LimitError` otherwise."""
    if n > MAX_FRAMES:
        raise LimitError(f"{what} would have {n:,} frames, more than the limit of {MAX_FRAMES:,} "
                         f"({MAX_FRAMES / 30 / 3600:.1f} hours at 30 fps)")
    return int(n)


def array_bytes(shape, itemsize: int) -> int:
    """Bytes an array of ``shape`` would take (Python ints: no overflow)."""
    n = 1
    for s in shape:
        n *= int(s)
    return n * int(itemsize)


def check_array_bytes(shape, itemsize: int, what: str) -> None:
    """:class:`LimitError` when an array of ``shape`` would exceed :data:`MAX_ARRAY_BYTES`."""
    if any(int(s) < 0 for s in shape):
        raise LimitError(f"{what} declares a negative size {tuple(shape)}")
    n = array_bytes(shape, itemsize)
    if n > MAX_ARRAY_BYTES:
        raise LimitError(f"{what} declares an array of shape {tuple(int(s) for s in shape)} ({format_bytes(n)}), "
                         f"more than the limit of {format_bytes(MAX_ARRAY_BYTES)}; it was not loaded")


def check_regular_file(path: str | os.PathLike, what: str = "file") -> Path:
    """``path`` if it is an existing regular file (following links); a :class:`LimitError`-free
    :class:`DifaceError` sentence for missing files, folders, pipes and devices."""
    p = Path(path)
    try:
        st = os.stat(p)
    except FileNotFoundError:
        raise DifaceError(f"{what} not found: {p}") from None
    except OSError as e:
        raise DifaceError(f"cannot read {p}: {e.strerror or e}") from None
    if stat.S_ISDIR(st.st_mode):
        raise DifaceError(f"{p} is a folder, not a {what}")
    if not stat.S_ISREG(st.st_mode):
        raise DifaceError(f"{p} is not a regular file (a pipe, socket or device); diface reads only regular files")
    return p
