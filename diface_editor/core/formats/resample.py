"""Changing an animation's frame rate (used by ``diface export --fps``).

Face channels are interpolated linearly in time; head rotations are interpolated on the rotation
group (normalised linear interpolation of unit quaternions, which follows the shortest arc and
agrees with the input exactly at the original frames). The clip keeps its duration:
``round(T * fps / anim.fps)`` frames (at least 1), frame ``j`` at ``j / fps`` seconds; times past
the last input frame hold its value.
"""

from __future__ import annotations

import numpy as np

from diface_editor.core.animation import Animation, AnimationError


def _aa_to_quat(aa: np.ndarray) -> np.ndarray:
    theta = np.linalg.norm(aa, axis=-1, keepdims=True)
    safe = np.where(theta > 1e-12, theta, 1.0)
    axis = np.where(theta > 1e-12, aa / safe, 0.0)
    return np.concatenate([np.cos(theta / 2), np.sin(theta / 2) * axis], axis=-1)


def _quat_to_aa(q: np.ndarray) -> np.ndarray:
    q = q * np.where(q[..., :1] < 0, -1.0, 1.0)
    v = q[..., 1:]
    s = np.linalg.norm(v, axis=-1, keepdims=True)
    theta = 2.0 * np.arctan2(s, q[..., :1])
    return np.where(s > 1e-12, v / np.where(s > 1e-12, s, 1.0) * theta, 2.0 * v)


def resample_animation(anim: Animation, fps: float) -> Animation:
    """``anim`` at ``fps`` frames per second (same duration; see the module docstring)."""
    fps = float(fps)
    if not np.isfinite(fps) or fps <= 0:
        raise AnimationError(f"fps must be a positive number, got {fps!r}")
    if fps == anim.fps:
        return anim.copy()
    n_new = max(1, int(round(anim.n_frames * fps / anim.fps)))
    src = np.arange(anim.n_frames) / anim.fps
    dst = np.arange(n_new) / fps
    face = np.empty((n_new, anim.n_face), np.float32)
    for c in range(anim.n_face):
        face[:, c] = np.interp(dst, src, anim.face[:, c])
    q = _aa_to_quat(anim.head.astype(np.float64))
    for i in range(1, len(q)):  # keep neighbours on the same hemisphere
        if np.dot(q[i], q[i - 1]) < 0:
            q[i] = -q[i]
    pos = np.clip(dst * anim.fps, 0, anim.n_frames - 1)
    i0 = np.floor(pos).astype(np.int64)
    i1 = np.minimum(i0 + 1, anim.n_frames - 1)
    w = (pos - i0)[:, None]
    qi = (1 - w) * q[i0] + w * q[i1]
    qi /= np.linalg.norm(qi, axis=-1, keepdims=True)
    out = anim.copy()
    out.fps = fps
    return out.with_arrays(face=face, head=_quat_to_aa(qi).astype(np.float32))
