"""Which triangles of a mesh can be drawn one-sided (back faces culled) without changing the picture.

A renderer that culls back faces sets up half as many triangles; on software GL that is a third of a
viewport frame. It is only invisible where no back face can ever be seen:

* a **closed** surface wound outwards (a positive enclosed volume): from outside, its front faces
  hide all of its back faces (eyeballs, the tongue);
* a surface open only through **planar holes** with all of it on one side of each hole (a head cut
  off at the neck): its inside shows only to a camera on the open side of a hole's plane, so it is
  culled while the camera is on the inner side of every hole (:meth:`MeshSides.one_sided`);
* anything else (open strips such as a row of teeth, inward-wound surfaces) stays two-sided.

Connected pieces are found by shared vertices. Positions in any unit (the rig's are metres);
directions are unit-free.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: a hole counts as planar if no loop vertex is further than this share of its extent from the plane
PLANAR_TOLERANCE = 0.02


@dataclass(frozen=True)
class Hole:
    """One planar boundary loop of an open piece: its rim's vertex indices and the unit normal of its
    plane pointing away from the piece, in the classified pose (:func:`mesh_sides`)."""

    loop: np.ndarray  # (L,) vertex indices on the hole's rim
    outward: np.ndarray  # (3,) unit normal, away from the piece


@dataclass(frozen=True)
class MeshSides:
    """The one-sided triangles of a mesh. ``closed``: (F,) bool, always one-sided; ``capped``: for each
    piece open through planar holes, its (F,) face mask and its holes."""

    closed: np.ndarray
    capped: list[tuple[np.ndarray, list[Hole]]] = field(default_factory=list)

    def one_sided(self, vertices: np.ndarray, eye: np.ndarray) -> np.ndarray:
        """(F,) bool: the triangles whose back faces the camera cannot see now.

        vertices: (V, 3) current positions. eye: the camera in the same frame, homogeneous (4,):
        a point (x, y, z, 1) for a perspective camera; for an orthographic one the point at infinity
        it looks from, (-dx, -dy, -dz, 0) for the viewing direction d.
        """
        out = self.closed.copy()
        e = np.asarray(eye, np.float64)
        for mask, holes in self.capped:
            if not any(_sees_inside(np.asarray(vertices[h.loop], np.float64), h, e) for h in holes):
                out |= mask
        return out


def _plane(points: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Least-squares plane of (N, 3) points: (centre, unit normal, largest distance of a point)."""
    c = points.mean(0)
    _, _, vt = np.linalg.svd(points - c, full_matrices=False)
    n = vt[-1]
    return c, n, float(np.abs((points - c) @ n).max())


def _sees_inside(rim: np.ndarray, hole: Hole, eye: np.ndarray) -> bool:
    """True if a camera at ``eye`` could look through ``hole``, its rim now at (L, 3) ``rim``: the
    camera is on the open side of the rim's plane (its normal oriented like the classified one)."""
    _, n, _ = _plane(rim)
    if n @ hole.outward < 0:
        n = -n
    if abs(eye[3]) > 1e-12:
        p = eye[:3] / eye[3]
        return bool(((p - rim) @ n).max() > 0.0)
    return bool(eye[:3] @ n > 0.0)  # a camera at infinity on the open side


def mesh_sides(vertices: np.ndarray, faces: np.ndarray) -> MeshSides:
    """Classify the triangles of a mesh (see the module doc). vertices: (V, 3); faces: (F, 3) int."""
    import scipy.sparse as sp
    from scipy.sparse.csgraph import connected_components

    v = np.asarray(vertices, np.float64)
    f = np.asarray(faces, np.int64).reshape(-1, 3)
    V, F = len(v), len(f)
    closed = np.zeros(F, bool)
    if F == 0:
        return MeshSides(closed)
    # pieces: vertices joined by the triangles' edges
    edges = np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]])
    adj = sp.coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(V, V))
    _, vpiece = connected_components(adj, directed=False)
    fpiece = vpiece[f[:, 0]]
    # boundary edges (used by one triangle) and their loops
    und = np.sort(edges, 1)
    keys, counts = np.unique(und[:, 0] * V + und[:, 1], return_counts=True)
    rim = np.stack(np.divmod(keys[counts == 1], V), 1)
    loops_of: dict[int, list[np.ndarray]] = {}
    if len(rim):
        radj = sp.coo_matrix((np.ones(len(rim)), (rim[:, 0], rim[:, 1])), shape=(V, V))
        _, vloop = connected_components(radj, directed=False)
        rim_vertices = np.unique(rim)
        for lid in np.unique(vloop[rim_vertices]):
            loop = rim_vertices[vloop[rim_vertices] == lid]
            loops_of.setdefault(int(vpiece[loop[0]]), []).append(loop)
    capped = []
    for pid in np.unique(fpiece):
        mask = fpiece == pid
        pf = f[mask]
        piece = np.unique(pf)
        loops = loops_of.get(int(pid), [])
        # enclosed volume, closing each hole with a fan from its centre (planar holes add nothing)
        apex = v[np.concatenate(loops)].mean(0) if loops else v[piece].mean(0)
        a, b, c = v[pf[:, 0]] - apex, v[pf[:, 1]] - apex, v[pf[:, 2]] - apex
        if np.einsum("ij,ij->i", a, np.cross(b, c)).sum() <= 0:
            continue  # wound inwards (or flat): two-sided
        if not loops:
            closed |= mask
            continue
        holes = [_planar_hole(v, loop, piece) for loop in loops]
        if all(h is not None for h in holes):
            capped.append((mask, holes))
    return MeshSides(closed, capped)


def _planar_hole(v: np.ndarray, loop: np.ndarray, piece: np.ndarray) -> Hole | None:
    """The hole of ``loop`` if it is planar and all of its ``piece`` lies on the inner side of its
    plane; else None."""
    pts = v[loop]
    if len(pts) < 3:
        return None
    c, n, dist = _plane(pts)
    extent = float(np.linalg.norm(pts.max(0) - pts.min(0)))
    if extent == 0 or dist > PLANAR_TOLERANCE * extent:
        return None
    if (v[piece].mean(0) - c) @ n > 0:
        n = -n
    if ((v[piece] - c) @ n).max() > PLANAR_TOLERANCE * extent:
        return None
    return Hole(loop, n)
