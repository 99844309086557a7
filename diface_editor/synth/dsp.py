"""Small signal helpers shared by the corpus modules (no other diface imports)."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
from scipy import signal


def resample(x: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """Anti-aliased polyphase resampling of (N,) float audio."""
    if rate_in == rate_out:
        return np.asarray(x, np.float32).copy()
    frac = Fraction(int(rate_out), int(rate_in)).limit_denominator(2000)
    y = signal.resample_poly(np.asarray(x, np.float64), frac.numerator, frac.denominator)
    n_out = int(round(len(x) * rate_out / rate_in))
    if y.size < n_out:
        y = np.pad(y, (0, n_out - y.size))
    return y[:n_out].astype(np.float32)
