"""Subject templates (neutral meshes) for vertex-offset motion, and the head pivot on FLAME topology.

Vertex-space motion (3DiFACE, FaceFormer, VOCA) is per-frame offsets from a subject's neutral
mesh. Templates come from:

* VOCASET's ``templates.pkl``: a pickled dict ``subject -> (5023, 3)`` array (Python 2 pickle),
  read with the restricted unpickler of :mod:`diface_editor.core.safe_pickle` (nothing but plain
  numpy arrays is rebuilt; a file naming anything else is refused before it runs);
* a mesh file: ``.ply`` (ascii or binary little-endian; polygons are fan-triangulated) or
  ``.obj`` (``v``/``f`` lines); ``.npy`` with a plain (V, 3) array;
* a FLAME model (``generic_model.pkl`` or a ``.npz`` with the same arrays): ``v_template``,
  ``f``, ``J_regressor``, ``weights``, ``kintree_table`` (see :class:`FlameModel`).

Head rotation (3DiFACE's ``pose``, axis-angle radians) turns the head about FLAME's neck joint.
With the user's own FLAME model file the pivot is that joint, ``J_regressor[1] @ v_template``, and
the neck falloff is the skinning weight of the neck joint and its descendants (jaw, eyes); 3DiFACE
applies the rotation with FLAME's linear blend skinning about the joint regressed from each frame's
vertices, diface rotates about the fixed joint of the template (a sub-millimetre difference for
speech). Without a FLAME model, :func:`default_neck_pivot` places the pivot from the template's
bounding box (documented fractions that put it at the top of the neck, behind the jaw on FLAME
topology) and :func:`default_neck_weights` fades the rotation out over the neck below it.

**FLAME ``.pkl`` files** were pickled with chumpy objects (``chumpy.ch.Ch``) and a
``scipy.sparse`` matrix. They are read without chumpy, scipy objects or any other code: the
restricted unpickler maps exactly those class names to inert stand-ins that only store the
pickled state (their array data), every other global is refused, and the stand-ins are then turned
into plain arrays. A file whose chumpy objects are expressions rather than stored arrays is
refused with a request to convert it to ``.npz`` (``np.savez(out, v_template=..., f=...,
J_regressor=dense, weights=..., kintree_table=...)``).

Units: metres. Axes as FLAME and the diface rigs: y up, the face looks along +z, x is the
character's left.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from diface_editor.core.errors import DifaceError
from diface_editor.core.safe_pickle import (
    PickleDataError,
    RestrictedUnpickler,
    UnsafePickleError,
    check_plain_data,
    safe_load_file,
    safe_load_npy,
)

#: Vertices of the FLAME / VOCA topology.
FLAME_N_VERTICES = 5023
#: Index of FLAME's neck joint (0 global, 1 neck, 2 jaw, 3/4 eyes).
FLAME_NECK_JOINT = 1
#: Default pivot as fractions of the template's bounding box (x, y, z from the minimum corner):
#: centred left-right, a fifth of the height up from the lowest vertex (top of the neck on FLAME
#: topology), at 40 % of the depth (behind the jaw, in front of the back of the neck).
DEFAULT_PIVOT_FRACTIONS = (0.5, 0.2, 0.4)


class TemplateError(DifaceError, ValueError):
    """A template or FLAME model file cannot be read or does not fit."""


@dataclass(eq=False)
class Template:
    """A neutral mesh.

    Attributes:
        vertices: (V, 3) float32, metres.
        faces: (F, 3) int32 triangle indices (empty when the source has none, e.g. templates.pkl).
        name: subject or file name.
        source: where it came from (path, and subject for templates.pkl).
    """

    vertices: np.ndarray
    faces: np.ndarray = field(default_factory=lambda: np.zeros((0, 3), np.int32))
    name: str = "template"
    source: str = ""

    def __post_init__(self) -> None:
        self.vertices = np.ascontiguousarray(self.vertices, np.float32).reshape(-1, 3)
        self.faces = np.ascontiguousarray(self.faces, np.int32).reshape(-1, 3)
        if not np.all(np.isfinite(self.vertices)):
            raise TemplateError(f"the template {self.source or self.name} contains NaN or infinite coordinates")
        if self.faces.size and (self.faces.min() < 0 or self.faces.max() >= len(self.vertices)):
            raise TemplateError(f"the template {self.source or self.name} has faces that name missing vertices")

    @property
    def n_vertices(self) -> int:
        return int(self.vertices.shape[0])


# ====================================================================== templates.pkl
def load_templates_pkl(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """VOCASET's ``templates.pkl``: ``{subject: (V, 3) float32}`` (restricted unpickler, no code runs).

    Raises:
        UnsafePickleError: the file names anything but plain numpy data.
        TemplateError: it is not a dict of (V, 3) arrays.
    """
    path = Path(path)
    obj = safe_load_file(path)
    check_plain_data(obj, source=str(path))
    if not isinstance(obj, dict) or not obj:
        raise TemplateError(f"{path} does not hold a dict of subject templates")
    out = {}
    for k, v in obj.items():
        name = k.decode("latin1") if isinstance(k, bytes) else str(k)
        a = np.asarray(v)
        if a.dtype.kind not in "fiu" or a.size == 0 or a.size % 3:
            raise TemplateError(f"{path}: the template of {name} is not an array of 3-D points (shape {a.shape})")
        out[name] = a.astype(np.float32).reshape(-1, 3)
    return out


# ====================================================================== meshes
_PLY_TYPES = {"char": "i1", "int8": "i1", "uchar": "u1", "uint8": "u1", "short": "i2", "int16": "i2",
              "ushort": "u2", "uint16": "u2", "int": "i4", "int32": "i4", "uint": "u4", "uint32": "u4",
              "float": "f4", "float32": "f4", "double": "f8", "float64": "f8"}


def _triangulate(polys: list[list[int]]) -> np.ndarray:
    tris = [(p[0], p[i], p[i + 1]) for p in polys if len(p) >= 3 for i in range(1, len(p) - 1)]
    return np.asarray(tris, np.int64).reshape(-1, 3)


def read_ply(path: str | os.PathLike) -> Template:
    """A ``.ply`` mesh (ascii or binary little-endian): vertex x/y/z and face index lists."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise TemplateError(f"cannot read {path}: {e.strerror or e}") from None
    if not data.startswith(b"ply"):
        raise TemplateError(f"{path} is not a PLY file")
    end = data.find(b"end_header")
    if end < 0:
        raise TemplateError(f"{path} has no end_header line")
    nl = data.find(b"\n", end)
    header = data[:end].decode("latin1").splitlines()
    body = data[nl + 1:] if nl >= 0 else b""
    fmt = None
    elements: list[tuple[str, int, list[tuple]]] = []
    for line in header:
        tok = line.split()
        if not tok:
            continue
        if tok[0] == "format":
            fmt = tok[1]
        elif tok[0] == "element":
            elements.append((tok[1], int(tok[2]), []))
        elif tok[0] == "property" and elements:
            if tok[1] == "list":
                elements[-1][2].append(("list", tok[-1], _ptype(tok[2], path), _ptype(tok[3], path)))
            else:
                elements[-1][2].append(("scalar", tok[-1], _ptype(tok[1], path)))
    if fmt not in ("ascii", "binary_little_endian"):
        raise TemplateError(f"{path} is PLY format {fmt!r}; ascii and binary_little_endian are supported")
    verts = None
    polys: list[list[int]] = []
    try:
        if fmt == "ascii":
            lines = iter(body.decode("latin1").split("\n"))
            for name, count, props in elements:
                rows = []
                for _ in range(count):
                    line = next(lines).split()
                    while not line:
                        line = next(lines).split()
                    rows.append(line)
                if name == "vertex":
                    verts = _ply_vertex_ascii(rows, props, path)
                elif name == "face":
                    polys = [[int(x) for x in r[1:1 + int(r[0])]] for r in rows] if props and props[0][0] == "list" \
                        else []
        else:
            buf = memoryview(body)
            pos = 0
            for name, count, props in elements:
                if all(p[0] == "scalar" for p in props):
                    dt = np.dtype([(p[1], "<" + p[2]) for p in props])
                    arr = np.frombuffer(buf, dt, count, pos)
                    pos += count * dt.itemsize
                    if name == "vertex":
                        verts = np.stack([arr[c].astype(np.float32) for c in ("x", "y", "z")], 1)
                    continue
                rows = []
                for _ in range(count):
                    row = []
                    for p in props:
                        if p[0] == "scalar":
                            dt = np.dtype("<" + p[2])
                            row.append(np.frombuffer(buf, dt, 1, pos)[0])
                            pos += dt.itemsize
                        else:
                            ct, it = np.dtype("<" + p[2]), np.dtype("<" + p[3])
                            n = int(np.frombuffer(buf, ct, 1, pos)[0])
                            pos += ct.itemsize
                            row.append(np.frombuffer(buf, it, n, pos).astype(np.int64))
                            pos += n * it.itemsize
                    rows.append(row)
                if name == "face":
                    li = next(i for i, p in enumerate(props) if p[0] == "list")
                    polys = [list(r[li]) for r in rows]
                elif name == "vertex":
                    raise TemplateError(f"{path}: vertex elements with list properties are not supported")
    except (StopIteration, ValueError, IndexError, KeyError) as e:
        raise TemplateError(f"{path} is a truncated or damaged PLY file ({e or type(e).__name__})") from None
    if verts is None:
        raise TemplateError(f"{path} has no vertex element with x, y, z")
    return Template(verts, _triangulate(polys), name=path.stem, source=str(path))


def _ptype(t: str, path: Path) -> str:
    try:
        return _PLY_TYPES[t]
    except KeyError:
        raise TemplateError(f"{path}: unknown PLY property type {t!r}") from None


def _ply_vertex_ascii(rows: list[list[str]], props: list[tuple], path: Path) -> np.ndarray:
    names = [p[1] for p in props]
    try:
        idx = [names.index(c) for c in ("x", "y", "z")]
    except ValueError:
        raise TemplateError(f"{path}: the vertex element lacks x, y or z") from None
    return np.asarray([[float(r[i]) for i in idx] for r in rows], np.float32).reshape(-1, 3)


def read_obj(path: str | os.PathLike) -> Template:
    """A Wavefront ``.obj``: ``v x y z`` and ``f a b c ...`` (``a/t/n`` and negative indices accepted)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as e:
        raise TemplateError(f"cannot read {path}: {e.strerror or e}") from None
    verts: list[list[float]] = []
    polys: list[list[int]] = []
    try:
        for line in text.splitlines():
            tok = line.split()
            if not tok:
                continue
            if tok[0] == "v":
                verts.append([float(t) for t in tok[1:4]])
            elif tok[0] == "f":
                idx = []
                for t in tok[1:]:
                    i = int(t.split("/")[0])
                    idx.append(i - 1 if i > 0 else len(verts) + i)
                polys.append(idx)
    except ValueError as e:
        raise TemplateError(f"{path} has a malformed line ({e})") from None
    if not verts:
        raise TemplateError(f"{path} has no vertices")
    return Template(np.asarray(verts, np.float32), _triangulate(polys), name=path.stem, source=str(path))


# ====================================================================== FLAME model files
@dataclass(eq=False)
class FlameModel:
    """The parts of a FLAME model diface uses (no shape or expression bases).

    Attributes:
        v_template: (V, 3) float32 mean head, metres.
        faces: (F, 3) int32.
        J_regressor: (J, V) float32 dense joint regressor.
        weights: (V, J) float32 skinning weights, or None.
        parents: (J,) int parent joint of each joint (-1 for the root), or None.
    """

    v_template: np.ndarray
    faces: np.ndarray
    J_regressor: np.ndarray
    weights: np.ndarray | None = None
    parents: np.ndarray | None = None
    source: str = ""

    def joints(self, vertices: np.ndarray | None = None) -> np.ndarray:
        """(J, 3) joint positions regressed from ``vertices`` (default: the template)."""
        v = self.v_template if vertices is None else np.asarray(vertices, np.float32).reshape(-1, 3)
        return (self.J_regressor @ v).astype(np.float32)

    def neck_pivot(self, vertices: np.ndarray | None = None) -> np.ndarray:
        """(3,) position of the neck joint ``J_regressor[1] @ vertices``."""
        return self.joints(vertices)[FLAME_NECK_JOINT]

    def neck_weights(self) -> np.ndarray | None:
        """(V,) weight of the neck joint and all its descendants (the part that turns with the head)."""
        if self.weights is None:
            return None
        J = self.weights.shape[1]
        moving = {FLAME_NECK_JOINT}
        if self.parents is not None:
            changed = True
            while changed:
                changed = False
                for j in range(J):
                    if j not in moving and int(self.parents[j]) in moving:
                        moving.add(j)
                        changed = True
        else:
            moving = set(range(FLAME_NECK_JOINT, J))
        return np.clip(self.weights[:, sorted(moving)].sum(1), 0.0, 1.0).astype(np.float32)


class _Inert:
    """Stand-in for chumpy / scipy.sparse objects: keeps the pickled state, runs nothing."""

    _kind = "object"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._args = args

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, tuple) and len(state) == 2 and isinstance(state[1], dict):
            state = {**(state[0] or {}), **state[1]}  # (dict, slots)
        self._state = state


class _ChumpyStub(_Inert):
    _kind = "chumpy"


class _SparseStub(_Inert):
    _kind = "sparse"


def _reconstructor(cls, base, state):
    """Safe ``copyreg._reconstructor``: only builds the inert stand-ins above."""
    if not (isinstance(cls, type) and issubclass(cls, _Inert)) or base is not object or state is not None:
        raise UnsafePickleError("a FLAME pickle asked to rebuild an object diface does not allow; it was not loaded")
    return object.__new__(cls)


class _FlameUnpickler(RestrictedUnpickler):
    """RestrictedUnpickler plus inert stand-ins for chumpy arrays and scipy sparse matrices."""

    _SPARSE = re.compile(r"^scipy\.sparse(\.[_a-z]+)*$")

    def find_class(self, module: str, name: str) -> Any:
        if module == "chumpy" or module.startswith("chumpy."):
            return _ChumpyStub
        if self._SPARSE.match(module) and name in ("csc_matrix", "csr_matrix", "coo_matrix"):
            return type(name, (_SparseStub,), {"_format": name[:3]})
        if (module, name) in (("copy_reg", "_reconstructor"), ("copyreg", "_reconstructor")):
            return _reconstructor
        if (module, name) in (("__builtin__", "object"), ("builtins", "object")):
            return object  # the base class argument of _reconstructor (protocol 0/1); inert on its own
        return super().find_class(module, name)


def _materialise(obj: Any, what: str, source: str) -> np.ndarray:
    """A plain array from an array, a chumpy stand-in (its stored ``x``) or a sparse stand-in."""
    if isinstance(obj, np.ndarray):
        return obj
    if isinstance(obj, _ChumpyStub):
        st = getattr(obj, "_state", None)
        x = st.get("x") if isinstance(st, dict) else None
        if isinstance(x, np.ndarray):
            return x
        raise TemplateError(f"{source}: {what} is a chumpy expression, not a stored array; convert the FLAME model "
                            "to .npz with numpy arrays (see diface_editor.core.templates)")
    if isinstance(obj, _SparseStub):
        st = getattr(obj, "_state", None)
        if not isinstance(st, dict):
            raise TemplateError(f"{source}: {what} is a damaged sparse matrix")
        shape = st.get("_shape", st.get("shape"))
        data, idx, ptr = st.get("data"), st.get("indices"), st.get("indptr")
        if shape is None or data is None or idx is None or ptr is None:
            raise TemplateError(f"{source}: {what} is a sparse matrix in an unknown layout")
        n_rows, n_cols = int(shape[0]), int(shape[1])
        dense = np.zeros((n_rows, n_cols), np.float64)
        fmt = getattr(type(obj), "_format", "csc")
        ptr = np.asarray(ptr, np.int64)
        for j in range(len(ptr) - 1):
            sl = slice(ptr[j], ptr[j + 1])
            if fmt == "csc":
                dense[np.asarray(idx)[sl], j] = np.asarray(data)[sl]
            else:
                dense[j, np.asarray(idx)[sl]] = np.asarray(data)[sl]
        return dense
    raise TemplateError(f"{source}: {what} is a {type(obj).__name__}, not an array")


def load_flame_model(path: str | os.PathLike) -> FlameModel:
    """A FLAME model from ``generic_model.pkl`` (chumpy pickle, read safely) or an ``.npz`` with
    ``v_template``, ``f``, ``J_regressor`` (dense), optionally ``weights`` and ``kintree_table``.

    Raises:
        UnsafePickleError: the pickle names anything but numpy, chumpy and scipy.sparse data.
        TemplateError: missing arrays or wrong shapes.
    """
    path = Path(path)
    if not path.is_file():
        raise TemplateError(f"FLAME model file not found: {path}")
    if path.suffix.lower() == ".npz":
        try:
            with np.load(path, allow_pickle=False) as z:
                d = {k: z[k] for k in z.files}
        except ValueError as e:
            raise TemplateError(f"{path} holds pickled objects; diface reads FLAME .npz files with plain arrays only "
                                f"({e})") from None
        except Exception as e:
            raise TemplateError(f"cannot read {path}: {e}") from None
    else:
        try:
            with open(path, "rb") as f:
                d = _FlameUnpickler(f, source=str(path)).load()
        except DifaceError:
            raise
        except Exception as e:
            raise PickleDataError(f"{path} is not a readable FLAME pickle ({e or type(e).__name__})") from None
        if not isinstance(d, dict):
            raise TemplateError(f"{path} does not hold a FLAME model dict")
        d = {(k.decode("latin1") if isinstance(k, bytes) else str(k)): v for k, v in d.items()}
    try:
        v = _materialise(d["v_template"], "v_template", str(path)).astype(np.float32).reshape(-1, 3)
        faces = _materialise(d["f"], "f", str(path)).astype(np.int32).reshape(-1, 3)
        J = _materialise(d["J_regressor"], "J_regressor", str(path)).astype(np.float32)
    except KeyError as e:
        raise TemplateError(f"{path} lacks the FLAME array {e}") from None
    if J.ndim != 2 or J.shape[1] != len(v) or J.shape[0] <= FLAME_NECK_JOINT:
        raise TemplateError(f"{path}: J_regressor has shape {J.shape}, expected (joints, {len(v)})")
    weights = parents = None
    if "weights" in d:
        weights = _materialise(d["weights"], "weights", str(path)).astype(np.float32)
        if weights.shape != (len(v), J.shape[0]):
            raise TemplateError(f"{path}: weights have shape {weights.shape}, expected ({len(v)}, {J.shape[0]})")
    if "kintree_table" in d:
        kt = np.asarray(_materialise(d["kintree_table"], "kintree_table", str(path))).astype(np.int64)
        parents = kt[0].copy()
        parents[0] = -1
    return FlameModel(v, faces, J, weights, parents, source=str(path))


# ====================================================================== loading a template
def load_template(path: str | os.PathLike, subject: str | None = None) -> Template:
    """A template from ``templates.pkl`` (``subject`` required when it holds several), a FLAME model
    (``.pkl``/``.npz`` with ``v_template``), ``.ply``, ``.obj`` or ``.npy`` ((V, 3) array)."""
    path = Path(path)
    suf = path.suffix.lower()
    if not path.is_file():
        raise TemplateError(f"template file not found: {path}")
    if suf == ".ply":
        return read_ply(path)
    if suf == ".obj":
        return read_obj(path)
    if suf == ".npy":
        a = safe_load_npy(path)
        if not isinstance(a, np.ndarray) or a.dtype.kind not in "fiu" or a.size % 3 or a.size == 0:
            raise TemplateError(f"{path} does not hold a (V, 3) array of vertices")
        return Template(a.reshape(-1, 3), name=path.stem, source=str(path))
    if suf == ".npz":
        flame = load_flame_model(path)
        return Template(flame.v_template, flame.faces, name=path.stem, source=str(path))
    if suf == ".pkl":
        if _looks_like_flame(path):
            flame = load_flame_model(path)
            return Template(flame.v_template, flame.faces, name=path.stem, source=str(path))
        temps = load_templates_pkl(path)
        if subject is None:
            if len(temps) != 1:
                raise TemplateError(f"{path} holds {len(temps)} subjects; choose one of: {', '.join(sorted(temps))}")
            subject = next(iter(temps))
        if subject not in temps:
            raise TemplateError(f"{path} has no subject {subject!r}; it has: {', '.join(sorted(temps))}")
        return Template(temps[subject], name=subject, source=f"{path}:{subject}")
    raise TemplateError(f"{path}: unknown template format {suf or '(no extension)'}; use templates.pkl, a FLAME "
                        "model, .ply, .obj or .npy")


def load_template_spec(text: str | os.PathLike) -> Template:
    """A template named on a command line: ``FILE`` or ``FILE:SUBJECT`` (for ``templates.pkl``).

    The text is split at its last ``:`` only when the part before it is an existing file, so
    paths with colons (``C:\\...``) keep working.
    """
    t = str(text)
    if ":" in t and not Path(t).expanduser().is_file():
        head, subject = t.rsplit(":", 1)
        if Path(head).expanduser().is_file() and subject:
            return load_template(Path(head).expanduser(), subject)
    return load_template(Path(t).expanduser())


def _looks_like_flame(path: Path) -> bool:
    """Cheap check: a FLAME pickle mentions ``v_template`` and ``J_regressor`` among its strings."""
    head = path.read_bytes()[:1 << 20]
    return b"v_template" in head and b"J_regressor" in head


# ====================================================================== pivot and rig
def default_neck_pivot(vertices: np.ndarray) -> np.ndarray:
    """(3,) pivot from the template's bounding box and :data:`DEFAULT_PIVOT_FRACTIONS`."""
    v = np.asarray(vertices, np.float32).reshape(-1, 3)
    lo, hi = v.min(0), v.max(0)
    return (lo + np.asarray(DEFAULT_PIVOT_FRACTIONS, np.float32) * (hi - lo)).astype(np.float32)


def default_neck_weights(vertices: np.ndarray, pivot: np.ndarray) -> np.ndarray:
    """(V,) rotation weights: 1 at and above the pivot height, fading smoothly (smoothstep) to 0 at
    the lowest vertex, so the base of the neck stays still."""
    v = np.asarray(vertices, np.float32).reshape(-1, 3)
    y0 = float(v[:, 1].min())
    span = max(float(pivot[1]) - y0, 1e-6)
    u = np.clip((v[:, 1] - y0) / span, 0.0, 1.0)
    return (u * u * (3 - 2 * u)).astype(np.float32)


def vertex_rig_from_template(template: Template | np.ndarray, *, flame: FlameModel | str | os.PathLike | None = None,
                             pivot: np.ndarray | None = None, neck_weights: np.ndarray | None = None,
                             faces: np.ndarray | None = None, name: str | None = None):
    """A :class:`~diface_editor.core.rig.VertexOffsetRig` for ``template``.

    Pivot and neck falloff: given values, else from ``flame`` (a :class:`FlameModel` or its file:
    the neck joint regressed from this template, and FLAME's skinning weights), else
    :func:`default_neck_pivot` / :func:`default_neck_weights`. Faces: ``faces``, else the
    template's, else FLAME's (same topology).
    """
    from diface_editor.core.rig import VertexOffsetRig

    if not isinstance(template, Template):
        template = Template(np.asarray(template, np.float32))
    if flame is not None and not isinstance(flame, FlameModel):
        flame = load_flame_model(flame)
    V = template.n_vertices
    if flame is not None and len(flame.v_template) != V:
        raise TemplateError(f"the FLAME model has {len(flame.v_template)} vertices but the template has {V}")
    if faces is None:
        faces = template.faces if template.faces.size else (flame.faces if flame is not None else np.zeros((0, 3)))
    if pivot is None:
        pivot = flame.neck_pivot(template.vertices) if flame is not None else default_neck_pivot(template.vertices)
    if neck_weights is None:
        neck_weights = flame.neck_weights() if flame is not None else None
        if neck_weights is None:
            neck_weights = default_neck_weights(template.vertices, pivot)
    return VertexOffsetRig(template=template.vertices, faces=faces, pivot=pivot, neck_weights=neck_weights,
                           name=name or template.name)

