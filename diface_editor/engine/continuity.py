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
Where the neighbour is known *motion* (two or more known frames, e.g. a window's context), the
velocity is matched too: the difference between the known motion's velocity and the generated
motion's (each over up to 3 frames) is added as a displacement that grows linearly from the border
and fades out over ``VELOCITY_RAMP`` frames, so the join has no velocity or acceleration jump
beyond the motion's own (``diface bench sampling``'s ``seam_velocity_jump`` against its baseline).
The engine leaves the mouth channels out of the velocity matching: the mouth follows the audio at
syllable rate, and continuing the context's velocity into a window delays its openings (openness
correlation on the real-speech set: noisy 0.56 -> 0.52, telephone 0.63 -> 0.62 with the mouth
matched; unchanged without).
Known entries never change; generated motion keeps its shape away from the borders, and a keyframe
pulls its neighbourhood smoothly to the pinned value.
Pure numpy.
"""

from __future__ import annotations

import numpy as np

from diface_editor.core.ranges import concat_ranges

#: frames over which a velocity correction fades out (0.4 s at 30 fps)
VELOCITY_RAMP = 12
#: frames each side over which the velocities of known and generated motion are measured
VELOCITY_SPAN = 5


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
    d = np.abs(np.diff(v[a:b], 2))  # np.median without its per-call overhead (same value)
    m = len(d)
    if m % 2:
        return 1.4826 * float(np.partition(d, m // 2)[m // 2])
    lo, hi = np.partition(d, (m // 2 - 1, m // 2))[m // 2 - 1:m // 2 + 1]
    return 1.4826 * float((lo + hi) / 2.0)


def _shrink(offset: float, tol: float) -> float:
    """Soft threshold: offsets within the motion's own roughness are left alone."""
    return float(np.sign(offset) * max(0.0, abs(offset) - tol))


def _span_back(kc: np.ndarray, last: int) -> int:
    """Consecutive known frames ending at known frame ``last`` (1..VELOCITY_SPAN)."""
    k = 1
    while k < VELOCITY_SPAN and last - k >= 0 and kc[last - k]:
        k += 1
    return k


def _span_fwd(kc: np.ndarray, first: int) -> int:
    """Consecutive known frames starting at known frame ``first`` (1..VELOCITY_SPAN)."""
    k = 1
    while k < VELOCITY_SPAN and first + k < len(kc) and kc[first + k]:
        k += 1
    return k


_FIT_WEIGHTS: dict[tuple[int, bool], np.ndarray] = {}


def _fit_weights(n: int, before: bool) -> np.ndarray:
    """(2, n) weights: row 0 @ y is the value, row 1 @ y the slope, at a border, of the least-squares
    polynomial (degree 2; 1 for two frames) through ``n`` consecutive frames ``y`` on one side of it
    (``before``: the frames end half a frame before the border; else they start half a frame after)."""
    key = (n, before)
    w = _FIT_WEIGHTS.get(key)
    if w is None:
        x = (np.arange(n) - n + 0.5) if before else (np.arange(n) + 0.5)
        deg = min(2, n - 1)
        V = np.vander(x, deg + 1, increasing=True)  # columns 1, x, x^2: value, slope, curvature / 2 at 0
        w = np.zeros((3, n))
        w[:deg + 1] = np.linalg.pinv(V)
        w[2] *= 2.0  # the second derivative
        _FIT_WEIGHTS[key] = w
    return w


def _border_fit(col: np.ndarray, a: int, n: int, before: bool) -> tuple[float, float, float]:
    """(value, slope, second derivative) at a border of the least-squares polynomial through frames
    ``a .. a+n-1`` of ``col`` (see :func:`_fit_weights`; the second derivative is 0 for two frames)."""
    w = _fit_weights(n, before)
    y = col[a:a + n]
    return float(w[0] @ y), float(w[1] @ y), float(w[2] @ y)


def blend_into_context(values: np.ndarray, known: np.ndarray, max_ramp: int = 45, tolerance: float = 0.5,
                       *, short: np.ndarray | None = None, short_ramp: int = 4,
                       match_velocity: bool | np.ndarray = True) -> np.ndarray:
    """Warp the generated entries of ``values`` so they continue smoothly from their known neighbours.

    Args:
        values: (T, C) motion of one window in the animation's units; known entries hold the known
            values, the others the generated motion.
        known: (T, C) bool, True = known (never changed).
        max_ramp: the longest fade of a border offset, in frames (default 45 = 1.5 s at 30 fps).
        tolerance: at borders with known motion (two or more known frames), offsets up to
            ``tolerance`` times the run's own frame-to-frame roughness (robust std of its second
            differences) count as motion, not as a step, and only the excess is removed; the same
            for the velocity difference. Default 0.5: the value and slope estimates (local fits over
            up to 5 frames) carry about that much of the motion's jitter, so motion that already
            continues its context is left (nearly) as sampled, while larger tolerances leave velocity
            jumps at window joins (2.0 gave 1.8x the motion's own). An isolated keyframe is always
            met in full.
        short: (T, C) bool or ``None``: known entries whose offset fades over ``short_ramp`` frames
            (pins meant to hold locally, such as the transcript's visemes).
        match_velocity: also match the known motion's velocity and curvature at borders with known
            motion (see the module docstring); ``True``/``False`` for every channel or a (C,) bool
            per channel; never at ``short`` pins.
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
    mv = np.broadcast_to(np.asarray(match_velocity, bool), (v.shape[1],))
    partly = known.any(0) & ~known.all(0)  # columns with both known and generated entries
    _warp_values_only(out, v, known, short, np.flatnonzero(partly & ~mv), tolerance, ramp_cap, short_ramp)
    for c in np.flatnonzero(partly & mv):
        kc = known[:, c]
        col = v[:, c]
        for a, b in _runs(~kc):
            n = b - a
            t = np.arange(a, b, dtype=np.float64)
            disp = np.zeros(n)
            ramp = min(n + 1, ramp_cap)
            tol = tolerance * _noise(col, a, b)
            vr = min(VELOCITY_RAMP, n)
            if a > 0:  # known frame a-1 before the run: frame a should continue it
                ctx = a >= 2 and kc[a - 2]  # known motion (with a velocity), or an isolated key (a hold)
                r = min(ramp, max(1, int(short_ramp))) if short[a - 1, c] else ramp
                fade = 1.0 - _smoothstep((t - (a - 1)) / r)
                if mv[c] and ctx and not short[a - 1, c] and n >= 3:
                    # value and slope of both sides at the border (a - 1/2), each from a local fit
                    k = _span_back(kc, a - 1)
                    pk, vk, ak = _border_fit(col, a - k, k, True)
                    pg, vg, ag = _border_fit(col, a, min(VELOCITY_SPAN, n), False)
                    x = t - a + 0.5
                    disp += _shrink(pk - pg, tol) * fade + (_shrink(vk - vg, tol) * x + _shrink(
                        ak - ag, tol) * 0.5 * x * x * (k >= 3)) * (1.0 - _smoothstep(x / vr))
                else:
                    v_in = col[a - 1] - col[a - 2] if ctx else 0.0
                    disp += _shrink(col[a - 1] + v_in - col[a], tol if ctx else 0.0) * fade
            if b < T:  # known frame b after the run: frame b-1 should lead into it
                ctx = b + 1 < T and kc[b + 1]
                r = min(ramp, max(1, int(short_ramp))) if short[b, c] else ramp
                fade = 1.0 - _smoothstep((b - t) / r)
                if mv[c] and ctx and not short[b, c] and n >= 3:
                    k = _span_fwd(kc, b)
                    pk, vk, ak = _border_fit(col, b, k, False)
                    kg = min(VELOCITY_SPAN, n)
                    pg, vg, ag = _border_fit(col, b - kg, kg, True)
                    x = t - b + 0.5
                    disp += _shrink(pk - pg, tol) * fade + (_shrink(vk - vg, tol) * x + _shrink(
                        ak - ag, tol) * 0.5 * x * x * (k >= 3)) * (1.0 - _smoothstep(-x / vr))
                else:
                    v_out = col[b + 1] - col[b] if ctx else 0.0
                    disp += _shrink(col[b] - v_out - col[b - 1], tol if ctx else 0.0) * fade
            out[a:b, c] = col[a:b] + disp
    return out.astype(np.float32)


def _warp_values_only(out: np.ndarray, v: np.ndarray, known: np.ndarray, short: np.ndarray, cols: np.ndarray,
                      tolerance: float, ramp_cap: int, short_ramp: int) -> None:
    """:func:`blend_into_context` for the columns ``cols`` without velocity matching, all their runs of
    generated frames at once (the same arithmetic as a loop over runs): writes ``out[run, c]``.

    A transcript's re-solve pins the mouth at many frames, so its window has hundreds of short runs;
    a Python loop over them cost ~5 ms per phone drag."""
    if cols.size == 0:
        return
    T = v.shape[0]
    gen = ~known[:, cols]  # (T, K)
    pad = np.zeros((1, cols.size), bool)
    edges = np.diff(np.concatenate([pad, gen, pad]).astype(np.int8), axis=0)  # +1 run start, -1 run end
    k_a, a = np.nonzero(edges.T == 1)  # (column, first frame), by column then frame
    _k_b, b = np.nonzero(edges.T == -1)  # the frame after each run, in the same order
    c = cols[k_a]
    n = b - a
    ramp = np.minimum(n + 1, ramp_cap)
    # the run's roughness: 1.4826 x the median |second difference| over the run (0 below 3 frames)
    m = np.maximum(n - 2, 0)
    run, rows = concat_ranges(a, m)
    cc = c[run]
    d2 = np.abs((v[rows + 2, cc] - v[rows + 1, cc]) - (v[rows + 1, cc] - v[rows, cc]))  # as np.diff(., 2)
    d2 = np.append(d2[np.lexsort((d2, run))], 0.0)  # sorted within each run (+ a pad for empty ones)
    mid = np.cumsum(m) - m + m // 2  # the upper middle of each run's sorted values
    hi, lo = d2[mid], d2[np.maximum(mid - 1, 0)]
    med = np.where(m % 2 == 1, hi, (lo + hi) / 2.0)
    tol = tolerance * np.where(m >= 1, 1.4826 * med, 0.0)
    col_at = lambda t: v[np.clip(t, 0, T - 1), c]  # noqa: E731 - values of each run's column at frames t
    sr = max(1, int(short_ramp))
    # before the run (known frame a-1): frame a should continue it
    has_b = a > 0
    ctx_b = has_b & (a >= 2) & known[np.clip(a - 2, 0, T - 1), c]
    r_b = np.where(short[np.clip(a - 1, 0, T - 1), c], np.minimum(ramp, sr), ramp)
    v_in = np.where(ctx_b, col_at(a - 1) - col_at(a - 2), 0.0)
    off_b = col_at(a - 1) + v_in - col_at(a)
    off_b = np.sign(off_b) * np.maximum(0.0, np.abs(off_b) - np.where(ctx_b, tol, 0.0))
    # after the run (known frame b): frame b-1 should lead into it
    has_a = b < T
    ctx_a = has_a & (b + 1 < T) & known[np.clip(b + 1, 0, T - 1), c]
    r_a = np.where(short[np.clip(b, 0, T - 1), c], np.minimum(ramp, sr), ramp)
    v_out = np.where(ctx_a, col_at(b + 1) - col_at(b), 0.0)
    off_a = col_at(b) - v_out - col_at(b - 1)
    off_a = np.sign(off_a) * np.maximum(0.0, np.abs(off_a) - np.where(ctx_a, tol, 0.0))
    # every generated frame of every run
    run, ti = concat_ranges(a, n)
    t = ti.astype(np.float64)
    before = np.where(has_b[run], off_b[run] * (1.0 - _smoothstep((t - (a[run] - 1)) / r_b[run])), 0.0)
    after = np.where(has_a[run], off_a[run] * (1.0 - _smoothstep((b[run] - t) / r_a[run])), 0.0)
    ci = c[run]
    out[ti, ci] = v[ti, ci] + ((0.0 + before) + after)


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
