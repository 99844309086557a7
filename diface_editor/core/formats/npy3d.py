"""The 3DiFACE / FaceFormer ``.npy`` motion file.

3DiFACE writes ``np.save(path, {"vertice": (T, V, 3), "pose": (T, 3)})``: absolute vertex
positions in metres (FLAME/VOCA: V = 5023) of the *unposed* head and the neck's axis-angle rotation
in radians, at 30 fps (the file stores no frame rate). FaceFormer/VOCASET files
(``vertices_npy/*.npy``) are plain (T, 15069) float arrays, at 60 fps for VOCASET. HDTF tracking
files name the rotation ``global_pose``.

Loading never unpickles arbitrary objects: :func:`diface_editor.core.safe_pickle.safe_load_npy`
only rebuilds plain numpy arrays. Accepted content: a plain numeric array (T, V, 3) or (T, 3V), or
a dict with ``vertice`` (also ``vertices``/``verts``) of either shape and an optional ``pose``
(or ``global_pose``) of shape (T, 3); other keys are ignored.

The result is an ``Animation(space="vertex")`` whose ``face`` is (T, 3V) offsets from a template:
``template=`` when given ((V, 3) or (3V,) metres), otherwise the first frame. The template is
recorded in the metadata (:func:`~diface_editor.core.formats.common.get_template`) so saving the
animation again gives back the same absolute vertices.

Saving an ARKit animation needs a rig to make vertices: ``rig=`` (a
:class:`~diface_editor.core.rig.Rig` or a rig ``.npz`` path), by default the shipped head
(:func:`~diface_editor.core.rig.load_default_rig`). The written vertices are *unposed* (the head
rotation goes into ``pose``), as 3DiFACE's own outputs.

Written files load in numpy 1.21+ as well as 2.x: numpy 2 pickles arrays by the name
``numpy._core.multiarray._reconstruct``, which numpy 1.x cannot import (``No module named
'numpy._core'``; 3DiFACE's environment has numpy 1.21-1.23), so :func:`write_portable_npy` writes
the name ``numpy.core.multiarray._reconstruct`` that both read.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from diface_editor.core.animation import Animation, AnimationError
from diface_editor.core.atomic import atomic_path
from diface_editor.core.formats.common import get_template, resolve_rig, set_template
from diface_editor.core.formats.registry import FormatError, register_format
from diface_editor.core.limits import MAX_FRAMES, LimitError, check_fps
from diface_editor.core.safe_pickle import check_plain_data, safe_load_npy

#: Frame rate assumed for 3DiFACE files (they store none).
DIFACE_NPY_FPS = 30.0
_VERTEX_KEYS = ("vertice", "vertices", "verts")
_POSE_KEYS = ("pose", "global_pose")


def _numeric(a, path: Path, key: str) -> np.ndarray:
    a = np.asarray(a)
    if a.dtype.kind not in "fiu":
        raise FormatError(f"{path}: '{key}' holds {a.dtype} values, not numbers")
    return a


def read_npy_motion(path: Path) -> tuple[np.ndarray, np.ndarray | None, list[str]]:
    """Validated ``(vertices (T, V, 3) float32, pose (T, 3) float32 or None, other keys)``."""
    obj = safe_load_npy(path)
    check_plain_data(obj, source=str(path))
    extra: list[str] = []
    if isinstance(obj, np.ndarray):
        verts, pose, vkey = obj, None, "the array"
    elif isinstance(obj, dict):
        vkey = next((k for k in _VERTEX_KEYS if k in obj), None)
        if vkey is None:
            keys = ", ".join(map(str, obj)) or "none"
            raise FormatError(f"{path} has no 'vertice' array (keys: {keys}); expected a 3DiFACE motion file")
        verts = obj[vkey]
        pkey = next((k for k in _POSE_KEYS if k in obj), None)
        pose = obj[pkey] if pkey else None
        extra = [str(k) for k in obj if k not in (vkey, pkey)]
    else:
        raise FormatError(f"{path} holds a {type(obj).__name__}; expected a dict with 'vertice' and 'pose'")
    verts = _numeric(verts, path, vkey)
    if verts.ndim == 3 and verts.shape[2] == 3:
        pass
    elif verts.ndim == 2 and verts.shape[1] % 3 == 0 and verts.shape[1] > 0:
        verts = verts.reshape(verts.shape[0], -1, 3)
    else:
        raise FormatError(f"{path}: {vkey} must be (frames, vertices, 3) or (frames, 3*vertices), "
                          f"got shape {verts.shape}")
    if verts.shape[0] > MAX_FRAMES:
        raise FormatError(f"{path}: {vkey} has {verts.shape[0]:,} frames, more than the limit of {MAX_FRAMES:,}")
    if verts.shape[0] == 0 or verts.shape[1] == 0:
        raise FormatError(f"{path}: {vkey} has no frames or no vertices (shape {verts.shape})")
    if pose is not None:
        pose = _numeric(pose, path, "pose")
        if pose.ndim == 3 and pose.shape[1] == 1:
            pose = pose[:, 0]
        if pose.ndim != 2 or pose.shape[1] != 3:
            raise FormatError(f"{path}: pose must be (frames, 3) axis-angle in radians, got shape {pose.shape}")
        if pose.shape[0] != verts.shape[0]:
            raise FormatError(f"{path}: vertice has {verts.shape[0]} frames but pose has {pose.shape[0]}")
        pose = pose.astype(np.float32)
    verts = verts.astype(np.float32)
    if not np.all(np.isfinite(verts)) or (pose is not None and not np.all(np.isfinite(pose))):
        raise FormatError(f"{path} contains NaN or infinite values")
    return verts, pose, extra


def load_npy(path: Path, *, fps: float = DIFACE_NPY_FPS, template: np.ndarray | None = None) -> Animation:
    """Read a 3DiFACE/FaceFormer ``.npy`` (see the module docstring) as a vertex-space animation.

    Args:
        fps: frame rate of the file (3DiFACE: 30; VOCASET ``vertices_npy``: 60).
        template: (V, 3) or (3V,) template in metres; default: the first frame.
    """
    try:
        fps = check_fps(fps, "fps")
    except LimitError as e:
        raise FormatError(f"{path}: {e}") from None
    verts, pose, extra = read_npy_motion(path)
    t_frames, n_verts = verts.shape[:2]
    if template is not None:
        tmpl = np.asarray(template, np.float32)
        if tmpl.size != n_verts * 3:
            raise FormatError(f"the template has {tmpl.size // 3 if tmpl.size % 3 == 0 else tmpl.shape} vertices "
                              f"but {path.name} has {n_verts}")
        tmpl = tmpl.reshape(n_verts, 3)
        source = "given"
    else:
        tmpl = verts[0].copy()
        source = "first_frame"
    offsets = (verts - tmpl[None]).reshape(t_frames, n_verts * 3)
    head = pose if pose is not None else np.zeros((t_frames, 3), np.float32)
    meta = {"source_format": "3diface_npy", "template_source": source}
    if pose is None:
        meta["head"] = "absent in file (zeros)"
    if extra:
        meta["ignored_keys"] = ",".join(extra)
    try:
        anim = Animation(fps=float(fps), face=offsets, head=head, channel_names=(), space="vertex", metadata=meta)
    except AnimationError as e:
        raise FormatError(f"{path}: {e}") from None
    set_template(anim, tmpl)
    return anim



def animation_vertices(anim: Animation, *, rig=None, template: np.ndarray | None = None) -> np.ndarray:
    """Unposed absolute vertices (T, V, 3) float32 of ``anim`` (no head rotation applied).

    ARKit space: ``rig`` (default: the shipped head). Vertex space: ``template=``, else the
    template of a ``VertexOffsetRig`` passed as ``rig``, else the one recorded in the metadata.
    """
    if anim.space == "arkit":
        r = resolve_rig(rig)
        r.check(anim)
        weights = r.weights_for(anim) if hasattr(r, "weights_for") else anim.face
        return r.vertices(face=weights)
    nv = anim.n_face // 3
    tmpl = template
    if tmpl is None and rig is not None:
        r = resolve_rig(rig)
        r.check(anim)
        tmpl = r.template
    if tmpl is None:
        tmpl = get_template(anim)
    if tmpl is None:
        raise FormatError("this vertex-offset animation has no template mesh; pass template= (or a vertex rig) "
                          "to export absolute vertices (diface export: --template FILE[:SUBJECT])")
    tmpl = np.asarray(tmpl, np.float32)
    if tmpl.size != nv * 3:
        raise FormatError(f"the template has {tmpl.size // 3} vertices but the animation has {nv}")
    return anim.face.reshape(anim.n_frames, nv, 3) + tmpl.reshape(1, nv, 3)


def save_npy(anim: Animation, path: Path, *, rig=None, template: np.ndarray | None = None) -> None:
    """Write ``{"vertice": (T, V, 3) float32 metres, "pose": (T, 3) float32 radians}`` like 3DiFACE."""
    verts = animation_vertices(anim, rig=rig, template=template)
    data = {"vertice": verts.astype(np.float32), "pose": anim.head.astype(np.float32)}
    with atomic_path(path) as tmp:
        write_portable_npy(tmp, data)


class _Numpy1Pickler(pickle._Pickler):
    """Pickles like numpy 1.x: module names ``numpy._core.*`` are written as ``numpy.core.*``."""

    def save_global(self, obj, name=None):
        module = getattr(obj, "__module__", None)
        if module and module.startswith("numpy._core"):
            qual = name or getattr(obj, "__qualname__", None) or obj.__name__
            self.write(pickle.GLOBAL + ("numpy.core" + module[len("numpy._core"):]).encode() + b"\n"
                       + qual.encode() + b"\n")
            self.memoize(obj)
            return
        super().save_global(obj, name)


def write_portable_npy(path: str | Path, obj) -> None:
    """``np.save(path, obj, allow_pickle=True)`` for a dict (or other object), readable by numpy 1.21+ and 2.x."""
    arr = np.empty((), dtype=object)
    arr[()] = obj
    with open(path, "wb") as f:
        np.lib.format.write_array_header_1_0(f, {"descr": "|O", "fortran_order": False, "shape": ()})
        _Numpy1Pickler(f, protocol=3).dump(arr)


def describe_npy(path: Path) -> str:
    verts, pose, extra = read_npy_motion(path)
    t_frames, n_verts = verts.shape[:2]
    lines = [f"{path.name}: 3DiFACE/FaceFormer motion (.npy)",
             f"  frames: {t_frames} (no frame rate stored: {t_frames / DIFACE_NPY_FPS:.3f} s at 30 fps, "
             f"{t_frames / 60:.3f} s at 60 fps)",
             f"  vertice: {n_verts} vertices, x {verts[..., 0].min():.4f}..{verts[..., 0].max():.4f}, "
             f"y {verts[..., 1].min():.4f}..{verts[..., 1].max():.4f}, "
             f"z {verts[..., 2].min():.4f}..{verts[..., 2].max():.4f} m",
             f"  motion: max vertex displacement from frame 0 "
             f"{float(np.linalg.norm(verts - verts[:1], axis=-1).max()) * 1000:.2f} mm"]
    if pose is not None:
        ang = np.degrees(np.linalg.norm(pose, axis=-1))
        lines.append(f"  pose: (frames, 3) axis-angle, max rotation {float(ang.max()):.1f} deg")
    else:
        lines.append("  pose: none")
    if extra:
        lines.append(f"  other keys (ignored): {', '.join(extra)}")
    return "\n".join(lines)


register_format("3diface", (".npy",), "3DiFACE/FaceFormer motion (.npy): absolute vertices (T, V, 3) in metres "
                "and head pose (T, 3) axis-angle; ARKit motion is turned into vertices with a rig",
                load=load_npy, save=save_npy, describe=describe_npy)
