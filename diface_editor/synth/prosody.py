"""Frame-rate prosody features of speech audio: loudness (RMS) and a simple pitch track.

Both are sampled at the animation frame rate: frame ``t`` is centred at ``t / fps`` seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


@dataclass
class Prosody:
    """Per-frame prosody.

    Attributes:
        rms: (T,) float32 RMS level (linear, of samples in [-1, 1]).
        loudness: (T,) float32 level in dB relative to the clip's 95th-percentile frame, clipped to
            [-60, 0].
        f0: (T,) float32 fundamental frequency in Hz, 0 where unvoiced.
        voiced: (T,) bool.
    """

    rms: np.ndarray
    loudness: np.ndarray
    f0: np.ndarray
    voiced: np.ndarray


def _frames(x: np.ndarray, centres: np.ndarray, win: int) -> np.ndarray:
    """(T, win) windows of ``x`` centred at sample indices ``centres`` (zero padded)."""
    half = win // 2
    padded = np.pad(x, (half, half + win))
    idx = np.clip(centres.astype(np.int64), 0, x.size)
    view = sliding_window_view(padded, win)
    return view[idx]


def rms_track(samples: np.ndarray, sample_rate: int, n_frames: int, fps: float) -> np.ndarray:
    """(n_frames,) RMS over windows of 2 frames centred at each frame time."""
    x = np.asarray(samples, np.float32)
    win = max(16, int(round(2.0 * sample_rate / fps)))
    centres = np.round(np.arange(n_frames) * sample_rate / fps)
    fr = _frames(x, centres, win)
    return np.sqrt(np.mean(fr.astype(np.float64) ** 2, axis=1)).astype(np.float32)


def pitch_track(samples: np.ndarray, sample_rate: int, n_frames: int, fps: float,
                fmin: float = 60.0, fmax: float = 400.0, threshold: float = 0.45) -> tuple[np.ndarray, np.ndarray]:
    """Autocorrelation pitch per frame: ((n_frames,) f0 Hz with 0 = unvoiced, (n_frames,) voiced).

    A 40 ms Hann window at each frame centre; normalised autocorrelation via FFT; the lag of the
    highest peak in [1/fmax, 1/fmin] with parabolic refinement; voiced where that peak exceeds
    ``threshold`` and the frame is not near-silent; a 3-frame median removes isolated octave jumps.
    """
    x = np.asarray(samples, np.float32)
    win = int(round(0.04 * sample_rate))
    centres = np.round(np.arange(n_frames) * sample_rate / fps)
    fr = _frames(x, centres, win).astype(np.float64)
    fr = fr - fr.mean(axis=1, keepdims=True)
    energy = np.sqrt(np.mean(fr ** 2, axis=1))
    fr = fr * np.hanning(win)[None]
    nfft = 1 << int(np.ceil(np.log2(2 * win)))
    spec = np.fft.rfft(fr, nfft, axis=1)
    ac = np.fft.irfft(np.abs(spec) ** 2, nfft, axis=1)[:, :win]
    # normalise by the window's own autocorrelation so long lags are not penalised
    w = np.hanning(win)
    wac = np.fft.irfft(np.abs(np.fft.rfft(w, nfft)) ** 2, nfft)[:win]
    ac = ac / np.maximum(wac[None], 1e-9 * wac[0])
    ac = ac / np.maximum(ac[:, :1], 1e-12)
    lo, hi = int(sample_rate / fmax), min(win - 2, int(sample_rate / fmin))
    seg = ac[:, lo:hi]
    # the shortest lag whose local peak is within 10% of the best one (avoids octave-down errors:
    # a periodic signal correlates as well at 2 or 3 periods as at one)
    best = seg.max(axis=1, keepdims=True)
    local = np.zeros_like(seg, dtype=bool)
    local[:, 1:-1] = (seg[:, 1:-1] >= seg[:, :-2]) & (seg[:, 1:-1] >= seg[:, 2:])
    cand = local & (seg >= 0.9 * best)
    k = np.where(cand.any(axis=1), np.argmax(cand, axis=1), np.argmax(seg, axis=1)) + lo
    peak = ac[np.arange(n_frames), k]
    a, b, c = ac[np.arange(n_frames), k - 1], peak, ac[np.arange(n_frames), np.minimum(k + 1, win - 1)]
    denom = a - 2 * b + c
    shift = np.where(np.abs(denom) > 1e-12, 0.5 * (a - c) / np.where(np.abs(denom) > 1e-12, denom, 1.0), 0.0)
    lag = k + np.clip(shift, -0.5, 0.5)
    silent = energy < max(1e-4, 0.05 * float(np.percentile(energy, 95)) if energy.size else 0.0)
    voiced = (peak > threshold) & ~silent
    f0 = np.where(voiced, sample_rate / lag, 0.0)
    if n_frames >= 3:
        padded = np.pad(f0, 1, mode="edge")
        med = np.median(sliding_window_view(padded, 3), axis=1)
        f0 = np.where(voiced, med, 0.0)
        voiced = f0 > 0
    return f0.astype(np.float32), voiced


def analyse(samples: np.ndarray, sample_rate: int, n_frames: int, fps: float) -> Prosody:
    """RMS, loudness and pitch at ``fps`` for ``n_frames`` frames."""
    rms = rms_track(samples, sample_rate, n_frames, fps)
    ref = float(np.percentile(rms, 95)) if rms.size else 1.0
    loud = 20.0 * np.log10(np.maximum(rms, 1e-6) / max(ref, 1e-6))
    f0, voiced = pitch_track(samples, sample_rate, n_frames, fps)
    return Prosody(rms, np.clip(loud, -60.0, 0.0).astype(np.float32), f0, voiced)
