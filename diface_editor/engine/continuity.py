"""Continuity at the borders between generated and known motion (a displacement-map warp).

A window sampler receives known frames (context, keyframes) and generates the rest; a model that
continues known motion imperfectly leaves a step where generated frames meet known ones: a seam at
an edit's border, or a one-frame spike where a keyframe pins a value the generated neighbours do not
approach. :func:`blend_into_context` removes those steps the way animators warp motion (Witkin and
Popovic's motion warping): for every run of generated frames of a channel, the offset between each
known neighbour and the generated motion's own continuation at that neighbour is added back as a
smooth displacement that is the full offset next to the neighbour and fades to zero over at most
``max_ramp`` frames. The offset is what the first generated frame needs to continue the known
motion at its velocity (an isolated keyframe has none: the motion eases into and out of it).
Known entries never change; generated motion keeps its shape away from the borders, and a keyframe
pulls its neighbourhood smoothly to the pinned value.
Pure numpy.
"""

from __future__ import annotations

import numpy as np


def _smoothstep(u: np.ndarray) -> np.ndarray:
    u = np.clip(u, 0.0, 1.0)
    return u * u * (3.0 - 2.0 * u)


def _runs(gen: np.ndarray) -> list[tuple[int, int]]:
    padded = np.concatenate([[False], gen, [False]])
    edges = np.flatnonzero(padded[1:] != padded[:-1])
    return list(zip(edges[0::2].tolist(), edges[1::2].tolist()))


def _noise(v: np.ndarray, a: int, b: int) -> float:
    """Robust scale of the frame-to-frame acceleration of run ``a..b-1`` (its natural roughness)."""
    if b - a < 3:
        return 0.0
    return 1.4826 * float(np.median(np.abs(np.diff(v[a:b], 2))))


def _shrink(offset: float, tol: float) -> float:
    """Soft threshold: offsets within the motion's own roughness are left alone."""
    return float(np.sign(offset) * max(0.0, abs(offset) - tol))


def blend_into_context(values: np.ndarray, known: np.ndarray, max_ramp: int = 45, tolerance: float = 2.0,
                       *, short: np.ndarray | None = None, short_ramp: int = 4) -> np.ndarray:
    """Warp the generated entries of ``values`` so they continue smoothly from their known neighbours.

    Args:
        values: (T, C) motion of one window in the animation's units; known entries hold the known
            values, the others the generated motion.
        known: (T, C) bool, True = known (never changed).
        max_ramp: the longest fade of a border offset, in frames (default 45 = 1.5 s at 30 fps).
        tolerance: at borders with known motion (two or more known frames), offsets up to
            ``tolerance`` times the run's own frame-to-frame roughness (robust std of its second
            differences) count as motion, not as a step, and only the excess is removed: motion that
            already continues its context is left (nearly) as sampled. An isolated keyframe is
            always met in full.
        short: (T, C) bool or ``None``: known entries whose offset fades over ``short_ramp`` frames
            (pins meant to hold locally, such as the transcript's visemes).
    Returns:
        (T, C) float32: a copy with only generated entries changed.
    """
    v = np.asarray(values, np.float64)
    known = np.asarray(known, bool)
    if v.shape != known.shape or v.ndim != 2:
        raise ValueError(f"values {v.shape} and known {known.shape} must be the same (T, C) shape")
    out = v.copy()
    T = v.shape[0]
    ramp_cap = max(1, int(max_ramp))
    short = np.zeros_like(known) if short is None else np.asarray(short, bool) & known
    for c in range(v.shape[1]):
        kc = known[:, c]
        if kc.all() or not kc.any():
            continue
        col = v[:, c]
        for a, b in _runs(~kc):
            n = b - a
            t = np.arange(a, b, dtype=np.float64)
            disp = np.zeros(n)
            ramp = min(n + 1, ramp_cap)
            tol = tolerance * _noise(col, a, b)
            if a > 0:  # known frame a-1 before the run: frame a should continue it
                ctx = a >= 2 and kc[a - 2]  # known motion (with a velocity), or an isolated key (a hold)
                v_in = col[a - 1] - col[a - 2] if ctx else 0.0
                r = min(ramp, max(1, int(short_ramp))) if short[a - 1, c] else ramp
                disp += _shrink(col[a - 1] + v_in - col[a], tol if ctx else 0.0) * \
                    (1.0 - _smoothstep((t - (a - 1)) / r))
            if b < T:  # known frame b after the run: frame b-1 should lead into it
                ctx = b + 1 < T and kc[b + 1]
                v_out = col[b + 1] - col[b] if ctx else 0.0
                r = min(ramp, max(1, int(short_ramp))) if short[b, c] else ramp
                disp += _shrink(col[b] - v_out - col[b - 1], tol if ctx else 0.0) * \
                    (1.0 - _smoothstep((b - t) / r))
            out[a:b, c] = col[a:b] + disp
    return out.astype(np.float32)


def gaussian_kernel(sigma: float) -> np.ndarray:
    """Normalised Gaussian taps (2 * ceil(3 sigma) + 1,) for ``sigma`` in frames."""
    r = max(1, int(np.ceil(3.0 * sigma)))
    x = np.arange(-r, r + 1, dtype=np.float64)
    k = np.exp(-0.5 * (x / sigma) ** 2)
    return k / k.sum()


def smooth_generated(values: np.ndarray, known: np.ndarray, sigma: float) -> np.ndarray:
    """Low-pass the generated entries of ``values`` with a Gaussian of ``sigma`` frames.

    The filter runs over the whole window (known frames included, edges extended), and only the
    generated entries take the filtered values, so known entries and keyframes are kept exactly and
    the generated motion next to them is averaged with them (no new step appears). Used for a
    model's recommended smoothing of a part whose samples carry frame-to-frame jitter (a model
    bundle's ``sampling["smooth_s"]``).

    Args:
        values: (T, C) window in the animation's units; known: (T, C) bool; sigma: frames (<= 0: off).
    Returns:
        (T, C) float32 copy.
    """
    v = np.asarray(values, np.float64)
    known = np.asarray(known, bool)
    if v.shape != known.shape or v.ndim != 2:
        raise ValueError(f"values {v.shape} and known {known.shape} must be the same (T, C) shape")
    if sigma <= 0 or known.all() or len(v) < 2:
        return v.astype(np.float32)
    k = gaussian_kernel(float(sigma))
    r = len(k) // 2
    padded = np.concatenate([np.repeat(v[:1], r, 0), v, np.repeat(v[-1:], r, 0)])
    filt = np.stack([np.convolve(padded[:, c], k, mode="valid") for c in range(v.shape[1])], 1)
    return np.where(known, v, filt).astype(np.float32)
