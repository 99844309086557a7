"""Axis-angle / matrix / quaternion / Euler conversions (numpy, vectorised over leading axes). Angles in radians."""

from __future__ import annotations

import numpy as np


def axis_angle_to_matrix(aa: np.ndarray) -> np.ndarray:
    """(..., 3) axis-angle (radians) -> (..., 3, 3) rotation matrices (Rodrigues)."""
    aa = np.asarray(aa, dtype=np.float64)
    theta = np.linalg.norm(aa, axis=-1, keepdims=True)
    small = theta < 1e-12
    k = np.where(small, 0.0, aa / np.where(small, 1.0, theta))
    kx, ky, kz = k[..., 0], k[..., 1], k[..., 2]
    zero = np.zeros_like(kx)
    K = np.stack([np.stack([zero, -kz, ky], -1), np.stack([kz, zero, -kx], -1),
                  np.stack([-ky, kx, zero], -1)], -2)
    th = theta[..., None]
    eye = np.broadcast_to(np.eye(3), K.shape)
    return eye + np.sin(th) * K + (1.0 - np.cos(th)) * (K @ K)


def matrix_to_axis_angle(R: np.ndarray) -> np.ndarray:
    """(..., 3, 3) rotation matrices -> (..., 3) axis-angle in radians (angle in [0, pi])."""
    R = np.asarray(R, dtype=np.float64)
    cos = np.clip((np.trace(R, axis1=-2, axis2=-1) - 1.0) / 2.0, -1.0, 1.0)
    theta = np.arccos(cos)
    v = np.stack([R[..., 2, 1] - R[..., 1, 2], R[..., 0, 2] - R[..., 2, 0], R[..., 1, 0] - R[..., 0, 1]], -1)
    sin = np.sin(theta)
    out = np.where((sin > 1e-7)[..., None], v * (theta / (2.0 * np.where(sin > 1e-7, sin, 1.0)))[..., None], 0.5 * v)
    # near pi: recover the axis from the symmetric part
    near_pi = theta > np.pi - 1e-4
    if np.any(near_pi):
        Rp = R[near_pi]
        B = (Rp + np.eye(3)) / 2.0
        idx = np.argmax(np.diagonal(B, axis1=-2, axis2=-1), axis=-1)
        axes = B[np.arange(len(idx)), :, idx]
        axes /= np.linalg.norm(axes, axis=-1, keepdims=True)
        out[near_pi] = axes * theta[near_pi][..., None]
    return out


# Euler convention for head yaw/pitch/roll in the rig's axes (x = the head's left, y up, z forward,
# i.e. towards the viewer): R = R_y(yaw) @ R_x(pitch) @ R_z(roll). Yaw turns about +y, pitch nods
# about +x (positive = chin down), roll tilts about +z. Angles in radians.

def _rx(a):
    c, s = np.cos(a), np.sin(a)
    o, z = np.ones_like(a), np.zeros_like(a)
    return np.stack([np.stack([o, z, z], -1), np.stack([z, c, -s], -1), np.stack([z, s, c], -1)], -2)


def _ry(a):
    c, s = np.cos(a), np.sin(a)
    o, z = np.ones_like(a), np.zeros_like(a)
    return np.stack([np.stack([c, z, s], -1), np.stack([z, o, z], -1), np.stack([-s, z, c], -1)], -2)


def _rz(a):
    c, s = np.cos(a), np.sin(a)
    o, z = np.ones_like(a), np.zeros_like(a)
    return np.stack([np.stack([c, -s, z], -1), np.stack([s, c, z], -1), np.stack([z, z, o], -1)], -2)


def euler_ypr_to_matrix(ypr: np.ndarray) -> np.ndarray:
    """(..., 3) yaw, pitch, roll in radians -> (..., 3, 3); R = R_y(yaw) R_x(pitch) R_z(roll)."""
    ypr = np.asarray(ypr, dtype=np.float64)
    return _ry(ypr[..., 0]) @ _rx(ypr[..., 1]) @ _rz(ypr[..., 2])


def matrix_to_euler_ypr(R: np.ndarray) -> np.ndarray:
    """Inverse of :func:`euler_ypr_to_matrix` (pitch in [-pi/2, pi/2])."""
    R = np.asarray(R, dtype=np.float64)
    pitch = np.arcsin(np.clip(-R[..., 1, 2], -1.0, 1.0))
    yaw = np.arctan2(R[..., 0, 2], R[..., 2, 2])
    roll = np.arctan2(R[..., 1, 0], R[..., 1, 1])
    return np.stack([yaw, pitch, roll], -1)


def axis_angle_to_ypr(aa: np.ndarray) -> np.ndarray:
    """(..., 3) axis-angle -> (..., 3) yaw, pitch, roll (radians)."""
    return matrix_to_euler_ypr(axis_angle_to_matrix(aa))


def ypr_to_axis_angle(ypr: np.ndarray) -> np.ndarray:
    """(..., 3) yaw, pitch, roll (radians) -> (..., 3) axis-angle."""
    return matrix_to_axis_angle(euler_ypr_to_matrix(ypr))


def axis_angle_to_quaternion(aa: np.ndarray) -> np.ndarray:
    """(T, 3) axis-angle (radians) -> (T, 4) float64 unit quaternions ``x, y, z, w`` (glTF order).

    Signs are continuous (each quaternion on the same hemisphere as the one before), so that
    interpolating neighbouring rows follows the shortest arc.
    """
    aa = np.asarray(aa, np.float64).reshape(-1, 3)
    theta = np.linalg.norm(aa, axis=1, keepdims=True)
    half = theta / 2.0
    # sin(theta/2)/theta, with its limit 1/2 for small angles
    scale = np.where(theta > 1e-8, np.sin(half) / np.where(theta > 1e-8, theta, 1.0), 0.5 - theta ** 2 / 48.0)
    q = np.concatenate([aa * scale, np.cos(half)], axis=1)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    for t in range(1, len(q)):  # shortest-path interpolation between neighbouring keys
        if np.dot(q[t], q[t - 1]) < 0.0:
            q[t] = -q[t]
    return q


def quaternion_to_axis_angle(q: np.ndarray) -> np.ndarray:
    """(T, 4) quaternions ``x, y, z, w`` (any length) -> (T, 3) float64 axis-angle in radians (angle in [0, pi])."""
    q = np.asarray(q, np.float64).reshape(-1, 4)
    q = q / np.linalg.norm(q, axis=1, keepdims=True)
    q = np.where(q[:, 3:4] < 0, -q, q)
    s = np.linalg.norm(q[:, :3], axis=1, keepdims=True)
    angle = 2.0 * np.arctan2(s, q[:, 3:4])
    scale = np.where(s > 1e-12, angle / np.where(s > 1e-12, s, 1.0), 2.0)
    return q[:, :3] * scale
