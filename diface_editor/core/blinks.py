"""Eye blinks: when they happen and what the eyeBlink curves look like.

Blinks are not predictable from speech, and the shipped model does not produce them (its model card
says so), so the engine can lay seeded procedural blinks over the eyes of the frames it generates.
The same functions make the teacher's blinks in the synthetic corpus.

A blink closes in 40 % of its duration (smoothstep) and opens in the remaining 60 %; the two eyes
get slightly different lags (0-12 ms) and one amplitude per blink (0.85-1.0). One blink in ten is
followed by a second one.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: seconds between the starts of two blinks (uniform in this range; ~15 blinks a minute)
BLINK_INTERVAL_S = (2.0, 6.0)
#: seconds one blink takes, from the first lid movement to fully open again
BLINK_DURATION_S = 0.15
#: share of blinks followed by a second one
DOUBLE_BLINK_P = 0.1
#: the face channels a blink closes, and the ones it relaxes (widened eyes cannot blink)
BLINK_CHANNELS = ("eyeBlinkLeft", "eyeBlinkRight")
WIDE_CHANNELS = ("eyeWideLeft", "eyeWideRight")


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def blink_times(duration_s: float, rng: np.random.Generator, *, interval_s: tuple[float, float] = BLINK_INTERVAL_S,
                blink_s: float = BLINK_DURATION_S, pauses: Sequence[tuple[float, float]] = ()) -> list[float]:
    """Start times (seconds) of the blinks in a clip of ``duration_s`` seconds.

    ``pauses``: ``(start, end)`` seconds of silences; half of those longer than 0.35 s get a blink
    at their start unless another blink is within 1 s (people blink as they stop talking).
    """
    times: list[float] = []
    tb = float(rng.uniform(0.3, interval_s[1] * 0.6))
    while tb < duration_s:
        times.append(tb)
        if rng.random() < DOUBLE_BLINK_P:
            times.append(tb + blink_s * 1.6)
        tb += float(rng.uniform(*interval_s))
    for s, e in pauses:
        if e - s > 0.35 and s > 0.2 and rng.random() < 0.5:
            if all(abs(s + 0.05 - x) > 1.0 for x in times):
                times.append(s + 0.05)
    return times


def blink_curves(t: np.ndarray, times: Sequence[float], rng: np.random.Generator,
                 blink_s: float = BLINK_DURATION_S) -> np.ndarray:
    """(T, 2) left/right eyeBlink weights in 0..1 at the times ``t`` (T,) seconds."""
    t = np.asarray(t, np.float64)
    out = np.zeros((t.size, 2))
    for tb in times:
        amp = float(rng.uniform(0.85, 1.0))
        for side in range(2):
            lag = float(rng.uniform(0.0, 0.012))
            # only the blink's own frames (t sorted): zero elsewhere, so long clips stay cheap
            a, b = np.searchsorted(t, [tb + lag - 1e-9, tb + lag + blink_s + 1e-9]) if t.size > 1 else (0, t.size)
            x = (t[a:b] - tb - lag) / blink_s
            close = _smoothstep(x / 0.4)
            opening = 1.0 - _smoothstep((x - 0.4) / 0.6)
            curve = np.where(x < 0.4, close, opening) * ((x >= 0) & (x <= 1.0))
            out[a:b, side] = np.maximum(out[a:b, side], amp * curve)
    return out


def auto_blinks(n_frames: int, fps: float, seed: int) -> np.ndarray:
    """(n_frames, 2) float32 left/right eyeBlink weights for a whole clip, from ``seed`` alone.

    The schedule depends only on the clip's length and the seed, so regenerating part of a clip
    puts the same blinks at the same frames.
    """
    rng = np.random.default_rng(np.random.SeedSequence([int(seed) & 0xFFFFFFFF, 0xB1_1C]))
    t = np.arange(int(n_frames)) / float(fps)
    return blink_curves(t, blink_times(n_frames / float(fps), rng), rng).astype(np.float32)


def lay_blinks(face: np.ndarray, channel_names: Sequence[str], curves: np.ndarray,
               editable: np.ndarray | None = None) -> np.ndarray:
    """``face`` (T, C) ARKit weights with ``curves`` (T, 2) blinks laid over the eyes.

    eyeBlink becomes ``max(eyeBlink, blink)``; eyeWide is scaled by ``1 - blink``. Only entries
    where ``editable`` (T, C) bool is true change (pinned keyframe values and kept frames stay);
    ``None`` = all. Returns a new array; a face without the eyeBlink channels comes back unchanged.
    """
    names = list(channel_names)
    out = np.array(face, dtype=np.float32, copy=True)
    if not all(c in names for c in BLINK_CHANNELS):
        return out
    ed = np.ones(out.shape, bool) if editable is None else np.asarray(editable, bool)
    for side in range(2):
        c = curves[:, side].astype(np.float32)
        i = names.index(BLINK_CHANNELS[side])
        out[:, i] = np.where(ed[:, i], np.maximum(out[:, i], c), out[:, i])
        if WIDE_CHANNELS[side] in names:
            j = names.index(WIDE_CHANNELS[side])
            out[:, j] = np.where(ed[:, j], out[:, j] * (1.0 - c), out[:, j])
    return out


def hide_blinks(face: np.ndarray, channel_names: Sequence[str], curves: np.ndarray,
                keep_rows: Sequence[int] = ()) -> np.ndarray:
    """``face`` (T, C) with the eyelid channels bridged across the blinks of ``curves`` (T, 2).

    On every frame where a blink of ``curves`` is under way, eyeBlink and eyeWide are replaced by a
    straight line between the frames just before and after it, so motion sampled next to these
    frames continues the eyes as they are between blinks (a blink is laid on top again afterwards).
    Frames in ``keep_rows`` (keyframes) keep their values. Returns a new float32 array.
    """
    names = list(channel_names)
    out = np.array(face, dtype=np.float32, copy=True)
    active = np.asarray(curves).max(axis=1) > 1e-4
    if not active.any() or active.all():
        return out
    rows = active.copy()
    rows[list(keep_rows)] = False
    frames = np.arange(len(out))
    for name in BLINK_CHANNELS + WIDE_CHANNELS:
        if name in names:
            i = names.index(name)
            out[rows, i] = np.interp(frames[rows], frames[~active], out[~active, i])
    return out


def shows_blinks(face: np.ndarray, channel_names: Sequence[str], curves: np.ndarray,
                 rows: np.ndarray | None = None) -> bool:
    """Whether ``face`` (T, C) already carries the blinks of ``curves`` (T, 2) on ``rows`` (T,) bool.

    True when, on at least half of the considered frames where a blink of ``curves`` is more than
    half closed, both eyeBlink weights reach it (a take generated with this schedule), or when no
    such frame is considered. A take made without these blinks (another seed, blinks off, the
    teacher's lip sync, an import) gives False.
    """
    names = list(channel_names)
    if not all(c in names for c in BLINK_CHANNELS):
        return False
    peak = np.asarray(curves).min(axis=1) > 0.5
    if rows is not None:
        peak &= np.asarray(rows, bool)
    if not peak.any():
        return True
    i, j = (names.index(c) for c in BLINK_CHANNELS)
    f = np.asarray(face)
    hit = (f[peak, i] >= curves[peak, 0] - 1e-4) & (f[peak, j] >= curves[peak, 1] - 1e-4)
    return bool(hit.mean() >= 0.5)
