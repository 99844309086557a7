"""Evaluation metrics of speech-driven facial animation on rig vertices (numpy only).

All vertex metrics take vertices in **metres** (as :meth:`diface_editor.core.rig.Rig.deform`
returns them, i.e. face motion only, no head rotation) and report **millimetres** (mm, or mm² for
squared quantities). Shapes: ``(T, V, 3)`` per clip; prediction and ground truth must have the same
number of frames (callers trim to the shorter one).

Definitions (the literature's, with the units stated):

* **LVE** (lip vertex error, FaceFormer / CodeTalker): per frame the maximal error over the lip
  vertices, averaged over frames. FaceFormer's code uses the *squared* L2 distance
  (:func:`lip_vertex_error` returns both: ``l2`` in mm and ``sq`` in mm²; 1 mm² = 1e-6 m², so the
  usual ``x 1e-5 m²`` tables read ``sq / 10``).
* **MVE** (mean vertex error): L2 distance averaged over frames and the given vertices (mm).
* **FDD** (upper-face dynamics deviation, CodeTalker): for each upper-face vertex, the standard
  deviation over time of the *squared* norm of its displacement from the template; averaged over
  the vertices this is the clip's "motion std"; FDD = ``std_gt - std_pred`` (signed, mm²),
  averaged over clips by the caller. :func:`upper_face_dynamics` also returns the variant on the
  plain displacement norm (mm).
* **Diversity**: mean pairwise distance between samples generated for the same audio: face as mean
  per-vertex L2 (mm), head as mean rotation angle between the two head poses (degrees).
* **BA** (beat alignment, Bailando, used by DiffPoseTalk for head motion): for every audio beat
  (onset) the distance to the nearest head-motion beat (a local minimum of the head's angular
  speed), scored ``exp(-d² / (2 sigma²))`` and averaged over the audio beats.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import find_peaks

from diface_editor.core.rotations import axis_angle_to_matrix

MM = 1000.0


def _pair(pred: np.ndarray, gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pred = np.asarray(pred, np.float64)
    gt = np.asarray(gt, np.float64)
    if pred.shape != gt.shape or pred.ndim != 3 or pred.shape[-1] != 3:
        raise ValueError(f"prediction {pred.shape} and ground truth {gt.shape} must both be (T, V, 3)")
    return pred, gt


def lip_vertex_error(pred: np.ndarray, gt: np.ndarray, lip_idx: np.ndarray) -> dict[str, float]:
    """LVE of one clip: ``{"l2": mm, "sq": mm²}`` (max over ``lip_idx`` per frame, mean over frames)."""
    pred, gt = _pair(pred, gt)
    d2 = np.sum((pred[:, lip_idx] - gt[:, lip_idx]) ** 2, axis=-1) * MM * MM  # (T, L) mm²
    mx = d2.max(axis=1)
    return {"l2": float(np.mean(np.sqrt(mx))), "sq": float(np.mean(mx))}


def mean_vertex_error(pred: np.ndarray, gt: np.ndarray, idx: np.ndarray | None = None) -> float:
    """MVE of one clip in mm: mean L2 distance over frames and vertices ``idx`` (all when None)."""
    pred, gt = _pair(pred, gt)
    if idx is not None:
        pred, gt = pred[:, idx], gt[:, idx]
    return float(np.mean(np.linalg.norm(pred - gt, axis=-1)) * MM)


def upper_face_dynamics(verts: np.ndarray, template: np.ndarray, upper_idx: np.ndarray) -> dict[str, float]:
    """Motion statistics of the upper face of one clip (T, V, 3) m.

    Returns ``{"std_sq": mm², "std_norm": mm}``: per upper-face vertex the std over time of the
    squared displacement norm (CodeTalker) / of the displacement norm, averaged over the vertices.
    """
    v = np.asarray(verts, np.float64)[:, upper_idx] - np.asarray(template, np.float64)[upper_idx]
    n2 = np.sum(v * v, axis=-1) * MM * MM  # (T, U) mm²
    return {"std_sq": float(np.mean(np.std(n2, axis=0))), "std_norm": float(np.mean(np.std(np.sqrt(n2), axis=0)))}


def face_dynamics_deviation(pred: np.ndarray, gt: np.ndarray, template: np.ndarray,
                            upper_idx: np.ndarray) -> dict[str, float]:
    """FDD of one clip: ``{"sq": std_gt - std_pred (mm², CodeTalker), "norm": same on the norm (mm)}``."""
    pred, gt = _pair(pred, gt)
    a = upper_face_dynamics(gt, template, upper_idx)
    b = upper_face_dynamics(pred, template, upper_idx)
    return {"sq": a["std_sq"] - b["std_sq"], "norm": a["std_norm"] - b["std_norm"]}


def face_diversity(samples: np.ndarray, idx: np.ndarray | None = None) -> float:
    """Mean pairwise per-vertex L2 distance (mm) between ``samples`` (S, T, V, 3) m; 0 for S < 2."""
    s = np.asarray(samples, np.float64)
    if idx is not None:
        s = s[:, :, idx]
    S = s.shape[0]
    if S < 2:
        return 0.0
    d = [np.mean(np.linalg.norm(s[i] - s[j], axis=-1)) for i in range(S) for j in range(i + 1, S)]
    return float(np.mean(d) * MM)


def rotation_angle_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(T,) angle in radians between two axis-angle head tracks (T, 3)."""
    Ra = axis_angle_to_matrix(np.asarray(a, np.float64))
    Rb = axis_angle_to_matrix(np.asarray(b, np.float64))
    tr = np.einsum("tij,tij->t", Ra, Rb)  # trace(Ra^T Rb)
    return np.arccos(np.clip((tr - 1.0) / 2.0, -1.0, 1.0))


def head_diversity(samples: np.ndarray) -> float:
    """Mean pairwise rotation angle (degrees) between head samples (S, T, 3) axis-angle radians."""
    s = np.asarray(samples, np.float64)
    S = s.shape[0]
    if S < 2:
        return 0.0
    d = [np.mean(rotation_angle_between(s[i], s[j])) for i in range(S) for j in range(i + 1, S)]
    return float(np.degrees(np.mean(d)))


# ---------------------------------------------------------------------- beats
def audio_onsets(samples: np.ndarray, sample_rate: int, *, hop_s: float = 0.01, win_s: float = 0.04,
                 min_gap_s: float = 0.1) -> np.ndarray:
    """Onset times (s) of speech audio: peaks of the positive spectral flux of the log spectrum.

    A peak counts when it is a local maximum at least ``min_gap_s`` from a higher one and above the
    flux's mean + 0.5 std (librosa-style adaptive threshold, simplified).
    """
    x = np.asarray(samples, np.float64).reshape(-1)
    hop = max(1, int(round(hop_s * sample_rate)))
    win = max(hop, int(round(win_s * sample_rate)))
    if x.size < win + hop:
        return np.zeros(0)
    n = 1 + (x.size - win) // hop
    frames = np.lib.stride_tricks.sliding_window_view(x, win)[::hop][:n] * np.hanning(win)
    spec = np.log1p(100.0 * np.abs(np.fft.rfft(frames, axis=1)))
    flux = np.maximum(np.diff(spec, axis=0), 0.0).sum(axis=1)
    if flux.size < 3 or not np.any(flux > 0):
        return np.zeros(0)
    thr = flux.mean() + 0.5 * flux.std()
    peaks, _ = find_peaks(flux, height=thr, distance=max(1, int(round(min_gap_s / hop_s))))
    return (peaks + 1) * hop_s + win_s / 2


def head_beats(head: np.ndarray, fps: float, *, smooth_frames: float = 1.0) -> np.ndarray:
    """Head-motion beats (s): local minima of the head's angular speed (T, 3) axis-angle radians.

    The speed is Gaussian-smoothed (``smooth_frames``); minima where the head is essentially still
    (speed below 2 % of its 95th percentile everywhere) are dropped, so a static head has no beats.
    """
    h = np.asarray(head, np.float64).reshape(-1, 3)
    if len(h) < 3:
        return np.zeros(0)
    speed = rotation_angle_between(h[:-1], h[1:]) * fps  # rad/s, (T-1,)
    if smooth_frames > 0:
        from scipy.ndimage import gaussian_filter1d
        speed = gaussian_filter1d(speed, smooth_frames, mode="nearest")
    top = np.percentile(speed, 95)
    if top < 1e-6:
        return np.zeros(0)
    minima, _ = find_peaks(-speed)
    minima = minima[speed[minima] < 0.5 * top]  # real stops / turns, not ripples on a fast sweep
    return (minima + 0.5) / fps


def beat_alignment(audio_beats: np.ndarray, motion_beats: np.ndarray, sigma_s: float = 0.1) -> float | None:
    """Bailando's BA: mean over audio beats of ``exp(-d²/(2 sigma²))``, d = distance to the nearest
    motion beat (s). ``None`` when there are no audio beats; 0 when there are no motion beats."""
    a = np.asarray(audio_beats, np.float64).reshape(-1)
    m = np.asarray(motion_beats, np.float64).reshape(-1)
    if a.size == 0:
        return None
    if m.size == 0:
        return 0.0
    d = np.min(np.abs(a[:, None] - m[None, :]), axis=1)
    return float(np.mean(np.exp(-(d ** 2) / (2.0 * sigma_s ** 2))))
