"""Read the header of a ``.npy`` stream without reading its data (shape and dtype are checked
against the limits before anything is allocated)."""

from __future__ import annotations

from typing import BinaryIO

import numpy as np


class UnsupportedNpyVersion(ValueError):
    """The stream is a ``.npy`` of a format version numpy's reader here does not know."""

    def __init__(self, version: tuple[int, int]) -> None:
        super().__init__(f".npy version {version} is not supported")
        self.version = version


def read_npy_header(fh: BinaryIO) -> tuple[tuple[int, ...], bool, np.dtype]:
    """``(shape, fortran_order, dtype)`` of the ``.npy`` stream ``fh`` (positioned at its start;
    left at the start of the data). Raises :class:`UnsupportedNpyVersion`, or numpy's errors for a
    damaged header."""
    fmt = np.lib.format
    version = fmt.read_magic(fh)
    if version == (1, 0):
        return fmt.read_array_header_1_0(fh)
    if version == (2, 0):
        return fmt.read_array_header_2_0(fh)
    raise UnsupportedNpyVersion(version)
