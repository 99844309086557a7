"""Many integer ranges at once, laid end to end (numpy only).

Used where a Python loop would visit hundreds of short spans: the teacher's dominance bands, the
runs of generated frames between pins.
"""

from __future__ import annotations

import numpy as np


def concat_ranges(starts: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(owner, index)`` for the ranges ``starts[i] .. starts[i] + lengths[i] - 1`` laid end to end,
    in order: ``owner[e]`` is the range element ``e`` belongs to, ``index[e]`` its value. Both
    (sum(lengths),) int64; ranges of length 0 contribute nothing."""
    lengths = np.maximum(np.asarray(lengths, np.int64), 0)
    owner = np.repeat(np.arange(lengths.size), lengths)
    first = np.cumsum(lengths) - lengths  # where each range begins in the output
    index = np.asarray(starts, np.int64)[owner] + (np.arange(owner.size) - first[owner])
    return owner, index
