"""Point caches: Blender's Mesh Cache / 3ds Max ``.pc2`` (absolute vertex positions per frame).

File layout (little-endian)::

    char[12]  "POINTCACHE2\\0"
    int32     file version (1)
    int32     numPoints   (V)
    float32   startFrame  (the first sample's frame number)
    float32   sampleRate  (frames between samples; 1.0 = one sample per frame)
    int32     numSamples  (T)
    float32   T * V * 3   x, y, z per point per sample

The frame rate is not stored: it is the scene's. Blender reads the file with the *Mesh Cache*
modifier (format "PC2") on an object with the same vertex count and order: import the head from the
``.glb`` export (or ``.npy``), add the modifier and pick the file.

Saving writes **posed** vertices by default (``posed=True``: blendshapes, then the head rotation
about the rig's pivot with the neck falloff, i.e. :meth:`Rig.vertices`), since a point cache
replaces every vertex position and has no separate head transform. ``posed=False`` writes the
unposed face only (the head rotation is dropped).

Loading gives a vertex-space :class:`Animation`: ``face`` = offsets from ``template`` (a (V, 3) array,
a :class:`~diface_editor.core.rig.Rig` or a rig ``.npz`` path), by default from the first sample;
``head`` is zero (the rotation is baked into the positions). The template is recorded in the
metadata (:func:`~diface_editor.core.formats.common.get_template`) so a save gives the same points.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from diface_editor.core.animation import Animation, AnimationError
from diface_editor.core.atomic import atomic_path
from diface_editor.core.formats.common import resolve_rig, set_template
from diface_editor.core.formats.registry import FormatError, register_format

PC2_MAGIC = b"POINTCACHE2\0"
PC2_VERSION = 1
_HEADER = struct.Struct("<12siiffi")  # 32 bytes
DEFAULT_FPS = 30.0


@dataclass(frozen=True)
class Pc2Header:
    """The header of a ``.pc2`` file: point and sample counts, start frame and frame step."""

    n_points: int
    start_frame: float
    sample_rate: float
    n_samples: int
    version: int = PC2_VERSION


def write_pc2(path: Path, points: np.ndarray, *, start_frame: float = 0.0, sample_rate: float = 1.0) -> None:
    """Write (T, V, 3) positions (metres) as a ``.pc2`` file, atomically."""
    p = np.asarray(points, np.float32)
    if p.ndim != 3 or p.shape[2] != 3:
        raise FormatError(f"a point cache needs (frames, points, 3) positions, got shape {p.shape}")
    if not np.all(np.isfinite(p)):
        raise FormatError("the point positions contain NaN or infinite values")
    header = _HEADER.pack(PC2_MAGIC, PC2_VERSION, p.shape[1], float(start_frame), float(sample_rate), p.shape[0])
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(header)
            f.write(np.ascontiguousarray(p, "<f4").tobytes())


def read_pc2_header(path: Path) -> Pc2Header:
    """The header of ``path``; :class:`FormatError` if it is not a PC2 file or is truncated."""
    path = Path(path)
    with open(path, "rb") as f:
        raw = f.read(_HEADER.size)
    if len(raw) < _HEADER.size or raw[:12] != PC2_MAGIC:
        raise FormatError(f"{path.name} is not a PC2 point cache (it does not start with 'POINTCACHE2')")
    _, version, n_points, start, rate, n_samples = _HEADER.unpack(raw)
    if n_points < 0 or n_samples < 0:
        raise FormatError(f"{path.name} has a damaged header ({n_points} points, {n_samples} samples)")
    need = _HEADER.size + 12 * n_points * n_samples
    size = path.stat().st_size
    if size < need:
        raise FormatError(f"{path.name} is truncated: its header promises {n_samples} samples of {n_points} points "
                          f"({need} bytes) but the file has {size} bytes")
    return Pc2Header(n_points, float(start), float(rate), n_samples, version)


def read_pc2(path: Path) -> tuple[np.ndarray, Pc2Header]:
    """``(points (T, V, 3) float32 metres, header)`` of a ``.pc2`` file."""
    h = read_pc2_header(path)
    data = np.fromfile(path, dtype="<f4", count=h.n_samples * h.n_points * 3, offset=_HEADER.size)
    pts = data.reshape(h.n_samples, h.n_points, 3).astype(np.float32)
    if not np.all(np.isfinite(pts)):
        raise FormatError(f"{Path(path).name} contains NaN or infinite positions")
    return pts, h


def _template_arg(template) -> np.ndarray | None:
    if template is None:
        return None
    if isinstance(template, (str, Path)):
        from diface_editor.core.rig import BlendshapeRig

        return BlendshapeRig.load(template).template
    if hasattr(template, "template"):  # a Rig
        return np.asarray(template.template, np.float32)
    return np.asarray(template, np.float32)



def load_pc2(path: Path, *, fps: float = DEFAULT_FPS, template=None) -> Animation:
    """Read a ``.pc2`` as a vertex-space animation at ``fps`` (the file stores none).

    Args:
        fps: frames per second of the samples (divided by the file's frame step when it is not 1).
        template: (V, 3) array, a rig or a rig ``.npz`` path; offsets are taken from it. Default:
            the first sample.
    """
    pts, h = read_pc2(path)
    if h.n_samples == 0 or h.n_points == 0:
        raise FormatError(f"{Path(path).name} holds no samples or no points")
    tmpl = _template_arg(template)
    if tmpl is None:
        tmpl, source = pts[0].copy(), "first_frame"
    else:
        if tmpl.size != h.n_points * 3:
            raise FormatError(f"the template has {tmpl.size // 3} vertices but {Path(path).name} has {h.n_points} points")
        tmpl, source = tmpl.reshape(h.n_points, 3), "given"
    rate = float(fps) / h.sample_rate if h.sample_rate > 0 else float(fps)
    offsets = (pts - tmpl[None]).reshape(h.n_samples, -1)
    meta = {"source_format": "pc2", "template_source": source, "pc2_start_frame": f"{h.start_frame:g}",
            "head": "baked into the positions (zeros)"}
    try:
        anim = Animation(fps=rate, face=offsets, head=np.zeros((h.n_samples, 3), np.float32), channel_names=(),
                         space="vertex", metadata=meta)
    except AnimationError as e:
        raise FormatError(f"{Path(path).name}: {e}") from None
    set_template(anim, tmpl)
    return anim


def animation_points(anim: Animation, *, rig=None, template=None, posed: bool = True) -> np.ndarray:
    """(T, V, 3) float32 positions of ``anim`` as written to a point cache (see the module docstring)."""
    from diface_editor.core.formats.npy3d import animation_vertices

    verts = animation_vertices(anim, rig=rig, template=_template_arg(template))
    if not posed or not np.any(anim.head):
        return verts
    if rig is None and anim.space == "vertex":
        raise FormatError("this vertex-offset animation has a head rotation but no rig to give its pivot; pass "
                          "rig= (a vertex rig), or posed=False to write the unposed face")
    r = resolve_rig(rig)
    if r.n_vertices != verts.shape[1]:
        raise FormatError(f"the rig has {r.n_vertices} vertices but the animation has {verts.shape[1]}")
    return r.rotate(verts, anim.head)


def save_pc2(anim: Animation, path: Path, *, rig=None, template=None, posed: bool = True,
             start_frame: float = 0.0) -> None:
    """Write ``anim`` as a ``.pc2`` point cache (one sample per frame).

    Args:
        rig: rig for ARKit motion (default: the shipped head) and the pivot of the head rotation.
        template: (V, 3) template for vertex-offset motion (default: the rig's, or the recorded one).
        posed: apply the head rotation (True) or write the unposed face (False).
        start_frame: frame number of the first sample in the header.
    """
    write_pc2(path, animation_points(anim, rig=rig, template=template, posed=posed), start_frame=start_frame)


def describe_pc2(path: Path) -> str:
    pts, h = read_pc2(path)
    lines = [f"{Path(path).name}: PC2 point cache (version {h.version})",
             f"  {h.n_points} points, {h.n_samples} samples, start frame {h.start_frame:g}, "
             f"{h.sample_rate:g} frame(s) per sample (no frame rate stored: {h.n_samples / DEFAULT_FPS:.3f} s at 30 fps)"]
    if h.n_samples and h.n_points:
        lo, hi = pts.reshape(-1, 3).min(0), pts.reshape(-1, 3).max(0)
        lines.append(f"  bounds x {lo[0]:.4f}..{hi[0]:.4f}, y {lo[1]:.4f}..{hi[1]:.4f}, z {lo[2]:.4f}..{hi[2]:.4f} m")
        move = float(np.linalg.norm(pts - pts[:1], axis=-1).max()) * 1000.0
        lines.append(f"  motion: max point displacement from the first sample {move:.2f} mm")
    return "\n".join(lines)


register_format("pc2", (".pc2",), "Point cache (.pc2) for Blender's Mesh Cache modifier and 3ds Max: posed vertex "
                "positions per frame", load=load_pc2, save=save_pc2, describe=describe_pc2)
