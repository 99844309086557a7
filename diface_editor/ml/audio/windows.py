"""Overlapping analysis windows over long audio and their crossfaded stitching.

Frozen transformer encoders cannot see a 10-minute clip at once (Whisper takes a fixed window;
attention memory grows with the square of the length), so they run on windows of ``win``
samples every ``hop`` samples, anchored at sample 0 (the grid depends only on the clip, never on
which part of it is being edited), and the per-window outputs are blended with linear crossfades
over the overlaps.
"""

from __future__ import annotations

import numpy as np


def window_starts(n_samples: int, win: int, hop: int) -> list[int]:
    """Start samples ``0, hop, 2*hop, ...`` until a window reaches the end of ``n_samples``."""
    if win <= 0 or hop <= 0 or hop > win:
        raise ValueError(f"need 0 < hop <= win, got win={win}, hop={hop}")
    starts = [0]
    while starts[-1] + win < n_samples:
        starts.append(starts[-1] + hop)
    return starts


def stitch(chunks: list[np.ndarray], starts: list[int], total: int) -> np.ndarray:
    """Blend per-window frames into one sequence.

    Args:
        chunks: per window (n_k, D) frames; chunk ``k`` covers output frames
            ``starts[k] .. starts[k] + n_k - 1`` (frames past ``total`` are dropped).
        starts: first output frame of each chunk, increasing.
        total: number of output frames.

    Returns:
        (total, D) float32: in an overlap the earlier window fades out linearly while the later
        one fades in (weights sum to 1); elsewhere the single covering window is copied.
    """
    D = chunks[0].shape[1]
    acc = np.zeros((total, D), np.float64)
    wsum = np.zeros(total, np.float64)
    K = len(chunks)
    for k, (c, s) in enumerate(zip(chunks, starts)):
        n = min(c.shape[0], total - s)
        if n <= 0:
            continue
        j = np.arange(n, dtype=np.float64)
        w = np.ones(n)
        if k > 0:
            ov_prev = starts[k - 1] + chunks[k - 1].shape[0] - s
            if ov_prev > 0:
                w = np.minimum(w, (j + 0.5) / ov_prev)
        if k < K - 1:
            ov_next = s + c.shape[0] - starts[k + 1]
            if ov_next > 0:
                w = np.minimum(w, (c.shape[0] - j - 0.5) / ov_next)
        acc[s:s + n] += w[:, None] * c[:n]
        wsum[s:s + n] += w
    if np.any(wsum <= 0):
        raise ValueError("the windows leave gaps in the output")
    return (acc / wsum[:, None]).astype(np.float32)
