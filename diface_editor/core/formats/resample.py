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
from diface_editor.core.limits import LimitError, check_fps, check_frames
from diface_editor.core.rotations import axis_angle_to_quaternion, quaternion_to_axis_angle


def resample_animation(anim: Animation, fps: float) -> Animation:
    """``anim`` at ``fps`` frames per second (same duration; see the module docstring)."""
    try:
        fps = check_fps(fps, "the new frame rate")
    except LimitError as e:
        raise AnimationError(str(e)) from None
    if fps == anim.fps:
        return anim.copy()
    n_new = max(1, int(round(anim.n_frames * fps / anim.fps)))
    try:
        check_frames(n_new, f"the animation at {fps:g} fps")
    except LimitError as e:
        raise AnimationError(str(e)) from None
    src = np.arange(anim.n_frames) / anim.fps
    dst = np.arange(n_new) / fps
    face = np.empty((n_new, anim.n_face), np.float32)
    for c in range(anim.n_face):
        face[:, c] = np.interp(dst, src, anim.face[:, c])
    q = axis_angle_to_quaternion(anim.head)  # neighbours on the same hemisphere
    pos = np.clip(dst * anim.fps, 0, anim.n_frames - 1)
    i0 = np.floor(pos).astype(np.int64)
    i1 = np.minimum(i0 + 1, anim.n_frames - 1)
    w = (pos - i0)[:, None]
    qi = (1 - w) * q[i0] + w * q[i1]
    qi /= np.linalg.norm(qi, axis=-1, keepdims=True)
    out = anim.copy()
    out.fps = fps
    return out.with_arrays(face=face, head=quaternion_to_axis_angle(qi).astype(np.float32))
