"""Mesh helpers for drawing a rig (numpy only): smooth normals and per-vertex colours from part labels."""

from __future__ import annotations

import numpy as np

#: Linear-ish RGB colours (0..1) per rig part name; unknown parts are drawn as skin.
PART_COLOURS: dict[str, tuple[float, float, float]] = {
    "skin": (0.86, 0.66, 0.55),
    "eye_white": (0.93, 0.92, 0.90),
    "iris": (0.30, 0.20, 0.12),
    "pupil": (0.03, 0.03, 0.03),
    "teeth": (0.92, 0.90, 0.82),
    "tongue": (0.74, 0.38, 0.40),
    "eyelashes": (0.12, 0.09, 0.08),
    "mouth": (0.55, 0.27, 0.27),
    "gums": (0.72, 0.40, 0.40),
}


def vertex_normals(verts: np.ndarray, faces: np.ndarray, *, precise: bool = False) -> np.ndarray:
    """Area-weighted unit vertex normals.

    verts: (V, 3) or (T, V, 3) float; faces: (F, 3) int. Returns float32 of the same shape as ``verts``.
    Vertices used by no triangle get the normal (0, 0, 1). ``precise``: compute in float64 and
    renormalise after the cast to float32, so each normal's length is 1 within float32 rounding
    (file exports, where small differences of normals are stored); else float32 throughout (drawing).
    """
    v = np.asarray(verts, np.float64 if precise else np.float32)
    single = v.ndim == 2
    if single:
        v = v[None]
    T, V, _ = v.shape
    f = np.asarray(faces, np.int64)
    a, b, c = v[:, f[:, 0]], v[:, f[:, 1]], v[:, f[:, 2]]
    fn = np.cross(b - a, c - a)  # (T, F, 3), length = 2 * area
    out = np.empty_like(v)
    idx = f.reshape(-1)
    for t in range(T):
        rep = np.repeat(fn[t], 3, axis=0)  # one row per (face, corner), matching idx
        for k in range(3):
            out[t, :, k] = np.bincount(idx, weights=rep[:, k], minlength=V)
    n = np.linalg.norm(out, axis=-1, keepdims=True)
    bad = n[..., 0] < 1e-20
    out = out / np.where(n < 1e-20, 1.0, n)
    out[bad] = (0.0, 0.0, 1.0)
    if precise:
        out = out.astype(np.float32)
        out /= np.linalg.norm(out, axis=-1, keepdims=True)
    return out[0] if single else out


class SmoothNormals:
    """Area-weighted unit vertex normals of one mesh topology, for drawing a frame at a time.

    Same result as :func:`vertex_normals` (float32, within rounding) at about a third of its time
    (6.9k vertices: ~1 ms instead of ~3.3 ms): the faces' corner indices are laid out once and the
    face normals are summed onto their vertices with one sparse (V, F) product.

    faces: (F, 3) int; n_vertices: V. Call with (V, 3) vertices; returns (V, 3) float32.
    """

    def __init__(self, faces: np.ndarray, n_vertices: int) -> None:
        import scipy.sparse as sp

        f = np.asarray(faces, np.intp).reshape(-1, 3)
        self.n_vertices = int(n_vertices)
        self._corners = [np.ascontiguousarray(f[:, k]) for k in range(3)]
        n_faces = len(f)
        self._scatter = sp.csr_matrix(
            (np.ones(3 * n_faces, np.float32), (f.reshape(-1), np.repeat(np.arange(n_faces), 3))),
            shape=(self.n_vertices, n_faces))
        self._face_normals = np.empty((n_faces, 3), np.float32)

    def __call__(self, verts: np.ndarray) -> np.ndarray:
        v = np.asarray(verts, np.float32)
        a, b, c = (v.take(i, axis=0) for i in self._corners)
        u, w = b - a, c - a
        fn = self._face_normals  # cross(u, w): twice the area along the face normal
        np.subtract(u[:, 1] * w[:, 2], u[:, 2] * w[:, 1], out=fn[:, 0])
        np.subtract(u[:, 2] * w[:, 0], u[:, 0] * w[:, 2], out=fn[:, 1])
        np.subtract(u[:, 0] * w[:, 1], u[:, 1] * w[:, 0], out=fn[:, 2])
        out = np.asarray(self._scatter @ fn, np.float32)
        n = np.sqrt(np.einsum("ij,ij->i", out, out))
        bad = n < 1e-20
        out /= np.where(bad, 1.0, n)[:, None]
        out[bad] = (0.0, 0.0, 1.0)
        return out


def vertex_colours(n_vertices: int, part_labels: np.ndarray | None = None,
                   part_names: tuple[str, ...] | list[str] | np.ndarray | None = None) -> np.ndarray:
    """(V, 3) float32 colours: :data:`PART_COLOURS` by part name, skin where there are no labels."""
    skin = np.asarray(PART_COLOURS["skin"], np.float32)
    col = np.tile(skin, (n_vertices, 1))
    if part_labels is None or part_names is None:
        return col
    labels = np.asarray(part_labels).reshape(-1)
    if len(labels) != n_vertices:
        return col
    for i, name in enumerate(part_names):
        col[labels == i] = PART_COLOURS.get(str(name), PART_COLOURS["skin"])
    return col
