"""A simple orbit camera (numpy only): where it looks from, and the view/projection matrices.

Rig axes: metres, y up, the face looks along +z, x is the character's left. ``yaw_deg`` turns the
camera about +y towards the character's left (positive) or right; ``pitch_deg`` raises it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class CameraSpec:
    """Orbit camera around ``target``.

    yaw_deg, pitch_deg: viewing direction in degrees (0, 0 = straight at the face from +z).
    fov_deg: vertical field of view in degrees.
    distance: metres from target; None = the nearest distance at which the mesh fits in view,
        times ``margin``.
    target: (x, y, z) metres; None = centre of the mesh's bounding box.
    near, far: clip distances in metres; None = tight around the mesh (keeps a 16-bit depth buffer
        precise), with room for the mesh to move by half its size.
    """

    yaw_deg: float = 28.0
    pitch_deg: float = 6.0
    fov_deg: float = 24.0
    distance: float | None = None
    target: tuple[float, float, float] | None = None
    margin: float = 1.1
    near: float | None = None
    far: float | None = None

    def resolve(self, points: np.ndarray) -> tuple[np.ndarray, float]:
        """(target (3,), distance) for framing ``points`` (N, 3) metres."""
        target, dist, _ = self._fit(points)
        return target, dist

    def _fit(self, points: np.ndarray) -> tuple[np.ndarray, float, float]:
        p = np.asarray(points, np.float64).reshape(-1, 3)
        lo, hi = p.min(0), p.max(0)
        target = np.asarray(self.target, np.float64) if self.target is not None else (lo + hi) / 2
        radius = float(np.linalg.norm(p - target, axis=1).max())
        if self.distance is not None:
            return target, float(self.distance), radius
        # the smallest distance at which every point lies inside the view cone (square image),
        # then moved back by ``margin``
        fwd = self.eye(target, 1.0) - target  # unit vector from the target towards the camera
        view = look_at(target + fwd, target, np.array([0.0, 1.0, 0.0]))[:3, :3]
        q = (p - target) @ view.T  # camera axes: x right, y up, z towards the camera
        t = np.tan(np.radians(self.fov_deg) / 2)
        need = np.max(np.maximum(np.abs(q[:, 0]), np.abs(q[:, 1])) / t + q[:, 2])
        return target, float(need * self.margin), radius

    def eye(self, target: np.ndarray, distance: float) -> np.ndarray:
        """Camera position (3,) in metres."""
        yaw, pitch = np.radians(self.yaw_deg), np.radians(self.pitch_deg)
        d = np.array([np.sin(yaw) * np.cos(pitch), np.sin(pitch), np.cos(yaw) * np.cos(pitch)])
        return np.asarray(target, np.float64) + distance * d

    def matrices(self, points: np.ndarray, aspect: float) -> tuple[np.ndarray, np.ndarray]:
        """(view (4, 4), projection (4, 4)) float32, column-vector convention (clip = P @ V @ x)."""
        target, dist, radius = self._fit(points)
        view = look_at(self.eye(target, dist), target, np.array([0.0, 1.0, 0.0]))
        near = self.near if self.near is not None else max(dist - 1.5 * radius, 0.02 * dist)
        far = self.far if self.far is not None else dist + 1.5 * radius
        return view.astype(np.float32), perspective(self.fov_deg, aspect, near, far).astype(np.float32)


def look_at(eye: np.ndarray, target: np.ndarray, up: np.ndarray) -> np.ndarray:
    """(4, 4) world -> camera matrix; the camera looks along -z in its own frame."""
    f = np.asarray(target, float) - np.asarray(eye, float)
    f /= np.linalg.norm(f)
    s = np.cross(f, up)
    if np.linalg.norm(s) < 1e-9:  # looking straight up/down
        s = np.cross(f, [0.0, 0.0, 1.0])
    s /= np.linalg.norm(s)
    u = np.cross(s, f)
    m = np.eye(4)
    m[0, :3], m[1, :3], m[2, :3] = s, u, -f
    m[:3, 3] = -m[:3, :3] @ np.asarray(eye, float)
    return m


def perspective(fov_deg: float, aspect: float, near: float, far: float) -> np.ndarray:
    """(4, 4) OpenGL perspective projection."""
    t = 1.0 / np.tan(np.radians(fov_deg) / 2)
    m = np.zeros((4, 4))
    m[0, 0], m[1, 1] = t / aspect, t
    m[2, 2] = (far + near) / (near - far)
    m[2, 3] = 2 * far * near / (near - far)
    m[3, 2] = -1.0
    return m
