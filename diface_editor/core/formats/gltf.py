"""glTF 2.0 binary (``.glb``) export and import of ARKit animations (numpy only, no glTF library).

What the file holds (units metres, y up, the face looks along +z: glTF's own axes, so no conversion):

* one mesh ``"head"`` with one triangle primitive: ``POSITION`` (the rig's template), ``NORMAL``
  (smooth, unit length), optional ``COLOR_0`` (per-part colours: skin, eyes, teeth, tongue when the
  rig has part labels; linear RGB converted from the renderer's sRGB palette), ``JOINTS_0`` /
  ``WEIGHTS_0`` (see skinning below) and one morph target per blendshape: ``POSITION`` deltas
  (exactly the rig's deltas, float32) and ``NORMAL`` deltas
  (normal of the full shape minus the rest normal, for shading). Morph targets that move only part
  of the mesh are stored as sparse accessors. Target names are in ``mesh.extras.targetNames`` (the
  convention Blender, three.js, Babylon.js and Unreal read) in the rig's blendshape order
  (the 52 ARKit names for the default head);
* a **skin with two joints** that reproduces the rig's neck falloff exactly. Node ``"neck"`` is a
  static joint at the bottom of the mesh below the pivot; its child ``"head"`` sits at the rig's
  neck pivot and carries the head rotation. Each vertex is bound to ``neck`` with weight ``1 - w``
  and to ``head`` with weight ``w`` (``w`` = the rig's ``neck_weights``, 1 everywhere for a rig
  without them). Linear blend skinning then gives ``(1 - w) v + w (R (v - pivot) + pivot)``, which is
  what :meth:`~diface_editor.core.rig.Rig.rotate` computes; glTF applies morph targets before
  skinning, as the rig does. Unreal imports morph targets only on skeletal meshes, another reason
  for a skin rather than a rigid head node;
* one animation ``"diface"`` with two channels sampled once per frame (input = ``frame / fps``
  seconds): the mesh node's morph ``weights`` (``T * K`` floats) and the ``head`` joint's
  ``rotation`` (unit quaternions ``x, y, z, w`` from the axis-angle head rotation, signs made
  continuous so interpolation takes the short way). Interpolation ``LINEAR`` (default) or ``STEP``;
* ``scenes[0].extras.diface``: fps, frame count, channel names, pivot and the animation's metadata,
  so :func:`load_glb` gets the clip back exactly.

Scene nodes: ``[neck (joint root) -> head (joint), face (mesh + skin)]``; the skinned mesh node is a
scene root as the spec recommends (its own transform would be ignored).

:func:`load_glb` reads the morph-weight and head-rotation animation of a ``.glb`` back into an
ARKit :class:`Animation` (ours exactly; other files with named morph targets too, resampled to
``fps``).
"""

from __future__ import annotations

import json
import logging
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from diface_editor import __version__
from diface_editor.core.animation import Animation, AnimationError
from diface_editor.core.arkit import ARKIT_NAMES
from diface_editor.core.atomic import atomic_write_bytes
from diface_editor.core.formats.common import resolve_rig
from diface_editor.core.formats.registry import FormatError, register_format
from diface_editor.core.geometry import vertex_normals
from diface_editor.core.rotations import (
    axis_angle_to_matrix,
    axis_angle_to_quaternion,
    matrix_to_axis_angle,
    quaternion_to_axis_angle,
)

log = logging.getLogger(__name__)

GLB_MAGIC = 0x46546C67  # b"glTF"
CHUNK_JSON = 0x4E4F534A
CHUNK_BIN = 0x004E4942

# componentType codes
BYTE, UNSIGNED_BYTE, SHORT, UNSIGNED_SHORT, UNSIGNED_INT, FLOAT = 5120, 5121, 5122, 5123, 5125, 5126
ARRAY_BUFFER, ELEMENT_ARRAY_BUFFER = 34962, 34963
_NP_OF = {BYTE: np.int8, UNSIGNED_BYTE: np.uint8, SHORT: np.int16, UNSIGNED_SHORT: np.uint16,
          UNSIGNED_INT: np.uint32, FLOAT: np.float32}
_CT_OF = {np.dtype(v).newbyteorder("<").str: k for k, v in _NP_OF.items()}
_N_COMP = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4, "MAT2": 4, "MAT3": 9, "MAT4": 16}
_TYPE_OF = {1: "SCALAR", 2: "VEC2", 3: "VEC3", 4: "VEC4", 16: "MAT4"}

#: Interpolation modes the writer offers (for both channels).
INTERPOLATIONS = ("LINEAR", "STEP")


class GltfError(FormatError):
    """A ``.glb`` cannot be written for this animation, or a file is not a usable glTF binary."""


# ----------------------------------------------------------------------------- mesh helpers
def _part_colours(rig) -> np.ndarray | None:
    extra = getattr(rig, "extra", None) or {}
    if "part_labels" not in extra or "part_names" not in extra:
        return None
    # the palette lives with the renderer's geometry helpers (numpy only), so exports and videos match
    from diface_editor.core.geometry import vertex_colours

    srgb = vertex_colours(rig.n_vertices, extra["part_labels"], tuple(str(n) for n in extra["part_names"]))
    # the palette holds display (sRGB) colours; glTF's COLOR_0 is linear
    srgb = np.clip(srgb.astype(np.float64), 0.0, 1.0)
    return np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4).astype(np.float32)


# ----------------------------------------------------------------------------- writer
@dataclass
class _Builder:
    """Accumulates the JSON document and the binary buffer of a GLB."""

    doc: dict = field(default_factory=lambda: {"bufferViews": [], "accessors": []})
    blob: bytearray = field(default_factory=bytearray)

    def view(self, data: bytes, target: int | None = None, stride: int | None = None) -> int:
        while len(self.blob) % 4:
            self.blob.append(0)
        bv = {"buffer": 0, "byteOffset": len(self.blob), "byteLength": len(data)}
        if stride is not None:
            bv["byteStride"] = stride
        if target is not None:
            bv["target"] = target
        self.blob.extend(data)
        self.doc["bufferViews"].append(bv)
        return len(self.doc["bufferViews"]) - 1

    def accessor(self, a: np.ndarray, *, target: int | None = None, minmax: bool = False,
                 normalized: bool = False, type_: str | None = None) -> int:
        a = np.ascontiguousarray(a)
        flat = a.reshape(len(a), -1)
        le = a.dtype.newbyteorder("<")
        ct = _CT_OF[le.str]
        acc = {"bufferView": self.view(a.astype(le, copy=False).tobytes(), target),
               "componentType": ct, "count": int(len(a)), "type": type_ or _TYPE_OF[flat.shape[1]]}
        if normalized:
            acc["normalized"] = True
        if minmax:
            acc["min"] = [_num(x) for x in flat.min(axis=0)]
            acc["max"] = [_num(x) for x in flat.max(axis=0)]
        self.doc["accessors"].append(acc)
        return len(self.doc["accessors"]) - 1

    def sparse_vec3(self, values: np.ndarray, tol: float = 0.0) -> int:
        """Float VEC3 accessor for (V, 3) ``values`` with min/max; sparse when mostly zero."""
        values = np.ascontiguousarray(values, np.float32)
        if tol > 0:
            values = np.where(np.abs(values) <= tol, np.float32(0), values)
        nz = np.flatnonzero(np.any(values != 0, axis=1))
        n = len(values)
        acc: dict = {"componentType": FLOAT, "count": n, "type": "VEC3",
                     "min": [_num(x) for x in values.min(axis=0)], "max": [_num(x) for x in values.max(axis=0)]}
        if len(nz) == 0:
            pass  # no bufferView, no sparse: all zeros by definition
        elif len(nz) * (4 + 12) < n * 12:
            small = n <= 0xFFFF
            acc["sparse"] = {
                "count": int(len(nz)),
                "indices": {"bufferView": self.view(nz.astype("<u2" if small else "<u4").tobytes()),
                            "componentType": UNSIGNED_SHORT if small else UNSIGNED_INT},
                "values": {"bufferView": self.view(values[nz].astype("<f4").tobytes())},
            }
        else:
            acc["bufferView"] = self.view(values.astype("<f4").tobytes(), ARRAY_BUFFER)
        self.doc["accessors"].append(acc)
        return len(self.doc["accessors"]) - 1


def _num(x) -> float | int:
    """A JSON number that reads back as exactly the same float32/int."""
    if isinstance(x, (np.integer, int)):
        return int(x)
    return float(np.float32(x))



def glb_bytes(anim: Animation, rig=None, *, interpolation: str = "LINEAR", vertex_colours: bool = True,
              morph_normals: bool = True, name: str = "diface") -> bytes:
    """The ``.glb`` file content for ``anim`` on ``rig`` (see the module docstring).

    Args:
        anim: ARKit-space animation (T >= 1 frames); channels the rig lacks are dropped, rig shapes
            the animation lacks stay at 0.
        rig: a :class:`~diface_editor.core.rig.BlendshapeRig` or a rig ``.npz`` path; default the
            shipped head.
        interpolation: ``"LINEAR"`` or ``"STEP"`` for both channels.
        vertex_colours: write ``COLOR_0`` per part when the rig has part labels.
        morph_normals: write ``NORMAL`` deltas per morph target (better shading in viewers).
        name: name of the scene, the root joint's armature and the animation.
    """
    from diface_editor.core.rig import BlendshapeRig

    rig = resolve_rig(rig)
    if not isinstance(rig, BlendshapeRig):
        raise GltfError("glTF export needs a blendshape rig (ARKit morph targets); this rig moves vertices directly")
    if anim.space != "arkit":
        raise GltfError("glTF export needs an ARKit (blendshape) animation; export vertex-offset motion as "
                        ".pc2 or .npy instead")
    if anim.n_frames < 1:
        raise GltfError("the animation has no frames; there is nothing to export")
    interpolation = interpolation.upper()
    if interpolation not in INTERPOLATIONS:
        raise GltfError(f"interpolation must be LINEAR or STEP, got {interpolation!r}")
    unknown = [n for n in anim.channel_names if n not in rig.blendshape_names]
    if unknown:
        log.warning("glTF export: the rig has no shapes for %d channels (%s...); they are left out",
                    len(unknown), ", ".join(unknown[:3]))
    weights = rig.weights_for(anim).astype(np.float32)  # (T, K) in the rig's order
    names = list(rig.blendshape_names)
    K, V = len(names), rig.n_vertices
    T = anim.n_frames

    b = _Builder()
    doc = b.doc
    template = rig.template.astype(np.float32)
    normals = vertex_normals(template, rig.faces, precise=True)
    attrs = {"POSITION": b.accessor(template, target=ARRAY_BUFFER, minmax=True),
             "NORMAL": b.accessor(normals, target=ARRAY_BUFFER)}
    if vertex_colours:
        col = _part_colours(rig)
        if col is not None:
            attrs["COLOR_0"] = b.accessor(np.clip(col, 0.0, 1.0).astype(np.float32), target=ARRAY_BUFFER)

    # skin: joint 0 = neck (static), joint 1 = head (rotates about the pivot)
    w_head = np.ones(V, np.float32) if rig.neck_weights is None else np.clip(rig.neck_weights, 0.0, 1.0)
    joints = np.zeros((V, 4), np.uint8)
    wts = np.zeros((V, 4), np.float32)
    only_head = w_head >= 1.0
    only_neck = w_head <= 0.0
    both = ~(only_head | only_neck)
    joints[only_head, 0] = 1
    wts[only_head, 0] = 1.0
    wts[only_neck, 0] = 1.0  # joint 0
    joints[both, 0], joints[both, 1] = 0, 1
    wts[both, 0], wts[both, 1] = 1.0 - w_head[both], w_head[both]
    attrs["JOINTS_0"] = b.accessor(joints, target=ARRAY_BUFFER)
    attrs["WEIGHTS_0"] = b.accessor(wts, target=ARRAY_BUFFER)

    targets = []
    for k in range(K):
        t = {"POSITION": b.sparse_vec3(rig.deltas[k])}
        if morph_normals:
            if np.any(rig.deltas[k]):
                dn = vertex_normals(template + rig.deltas[k], rig.faces, precise=True) - normals
            else:
                dn = np.zeros_like(normals)
            t["NORMAL"] = b.sparse_vec3(dn, tol=1e-5)
        targets.append(t)
    faces = rig.faces.reshape(-1)
    idx = faces.astype("<u2") if V <= 0xFFFF else faces.astype("<u4")
    prim = {"attributes": attrs, "indices": b.accessor(idx.reshape(-1, 1), target=ELEMENT_ARRAY_BUFFER, type_="SCALAR"),
            "mode": 4, "material": 0}
    if K:
        prim["targets"] = targets
    mesh = {"name": "head", "primitives": [prim]}
    if K:
        mesh["weights"] = [0.0] * K
        mesh["extras"] = {"targetNames": names}
    doc["meshes"] = [mesh]
    doc["materials"] = [{"name": "head", "doubleSided": True,
                         "pbrMetallicRoughness": {"baseColorFactor": [1.0, 1.0, 1.0, 1.0], "metallicFactor": 0.0,
                                                  "roughnessFactor": 0.6}}]

    pivot = rig.pivot.astype(np.float64)
    base_y = float(template[:, 1].min()) if V else float(pivot[1]) - 0.1
    neck_len = pivot[1] - base_y if pivot[1] - base_y > 1e-3 else 0.1
    neck_pos = pivot - np.array([0.0, neck_len, 0.0])
    ibm = np.tile(np.eye(4, dtype=np.float32), (2, 1, 1))
    ibm[0, :3, 3] = -neck_pos
    ibm[1, :3, 3] = -pivot
    # glTF matrices are column-major: write the transpose of each row-major matrix
    ibm_acc = b.accessor(np.ascontiguousarray(ibm.transpose(0, 2, 1)).reshape(2, 16), type_="MAT4")
    doc["nodes"] = [
        {"name": "face", "mesh": 0, "skin": 0},
        {"name": "neck", "translation": [_num(x) for x in neck_pos], "children": [2]},
        {"name": "head", "translation": [0.0, _num(neck_len), 0.0]},
    ]
    doc["skins"] = [{"name": name, "joints": [1, 2], "skeleton": 1, "inverseBindMatrices": ibm_acc}]

    times = (np.arange(T, dtype=np.float64) / float(anim.fps)).astype(np.float32)
    t_acc = b.accessor(times.reshape(-1, 1), minmax=True, type_="SCALAR")
    channels, samplers = [], []
    if K:
        w_acc = b.accessor(np.ascontiguousarray(weights).reshape(-1, 1), type_="SCALAR")
        samplers.append({"input": t_acc, "output": w_acc, "interpolation": interpolation})
        channels.append({"sampler": len(samplers) - 1, "target": {"node": 0, "path": "weights"}})
    quat = axis_angle_to_quaternion(anim.head).astype(np.float32)
    quat /= np.linalg.norm(quat, axis=1, keepdims=True)
    r_acc = b.accessor(quat, type_="VEC4")
    samplers.append({"input": t_acc, "output": r_acc, "interpolation": interpolation})
    channels.append({"sampler": len(samplers) - 1, "target": {"node": 2, "path": "rotation"}})
    doc["animations"] = [{"name": name, "channels": channels, "samplers": samplers}]

    info = {"fps": float(anim.fps), "frames": T, "channel_names": list(anim.channel_names),
            "pivot": [_num(x) for x in pivot], "head_rotation": "axis-angle about the pivot, on node 'head'",
            "metadata": {str(k): str(v) for k, v in anim.metadata.items() if k != "vertex_template"}}
    doc["scenes"] = [{"name": name, "nodes": [1, 0], "extras": {"diface": info}}]
    doc["scene"] = 0
    doc["asset"] = {"version": "2.0", "generator": f"diface {__version__}"}

    while len(b.blob) % 4:
        b.blob.append(0)
    doc["buffers"] = [{"byteLength": len(b.blob)}]
    js = json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    js += b" " * (-len(js) % 4)
    total = 12 + 8 + len(js) + 8 + len(b.blob)
    out = bytearray(struct.pack("<III", GLB_MAGIC, 2, total))
    out += struct.pack("<II", len(js), CHUNK_JSON) + js
    out += struct.pack("<II", len(b.blob), CHUNK_BIN) + b.blob
    return bytes(out)


def save_glb(anim: Animation, path: Path, *, rig=None, interpolation: str = "LINEAR", vertex_colours: bool = True,
             morph_normals: bool = True) -> None:
    """Write ``anim`` as a glTF binary (see :func:`glb_bytes` for the options), atomically."""
    data = glb_bytes(anim, rig, interpolation=interpolation, vertex_colours=vertex_colours,
                     morph_normals=morph_normals, name=Path(path).stem or "diface")
    atomic_write_bytes(path, data)


# ----------------------------------------------------------------------------- reader
@dataclass
class GlbFile:
    """A parsed ``.glb``: the JSON document and the binary chunk."""

    doc: dict
    blob: bytes

    def accessor(self, i: int) -> np.ndarray:
        """Accessor ``i`` as a float/int array (count, n_components), sparse and normalised ints resolved."""
        acc = self.doc["accessors"][i]
        n = _N_COMP[acc["type"]]
        ct = acc["componentType"]
        count = acc["count"]
        dt = np.dtype(_NP_OF[ct]).newbyteorder("<")
        if "bufferView" in acc:
            out = self._view(acc["bufferView"], acc.get("byteOffset", 0), dt, count, n).copy()
        else:
            out = np.zeros((count, n), dt)
        sp = acc.get("sparse")
        if sp:
            idt = np.dtype(_NP_OF[sp["indices"]["componentType"]]).newbyteorder("<")
            ind = self._view(sp["indices"]["bufferView"], sp["indices"].get("byteOffset", 0), idt, sp["count"], 1)[:, 0]
            val = self._view(sp["values"]["bufferView"], sp["values"].get("byteOffset", 0), dt, sp["count"], n)
            out[ind.astype(np.int64)] = val
        if acc.get("normalized"):
            out = _denormalise(out, ct)
        return out

    def _view(self, bv_i: int, offset: int, dt: np.dtype, count: int, n: int) -> np.ndarray:
        bv = self.doc["bufferViews"][bv_i]
        if bv.get("buffer", 0) != 0:
            raise GltfError("this .glb refers to external buffers, which are not supported")
        start = bv.get("byteOffset", 0) + offset
        elem = dt.itemsize * n
        stride = bv.get("byteStride") or elem
        if count and start + stride * (count - 1) + elem > len(self.blob):
            raise GltfError("an accessor reaches past the end of the binary chunk; the file is damaged")
        if stride == elem:
            return np.frombuffer(self.blob, dt, count * n, start).reshape(count, n)
        rows = np.lib.stride_tricks.as_strided(np.frombuffer(self.blob, np.uint8, len(self.blob) - start, start),
                                               (count, elem), (stride, 1))
        return np.ascontiguousarray(rows).view(dt).reshape(count, n)


def _denormalise(a: np.ndarray, ct: int) -> np.ndarray:
    if ct == UNSIGNED_BYTE:
        return a.astype(np.float32) / 255.0
    if ct == UNSIGNED_SHORT:
        return a.astype(np.float32) / 65535.0
    if ct == BYTE:
        return np.maximum(a.astype(np.float32) / 127.0, -1.0)
    if ct == SHORT:
        return np.maximum(a.astype(np.float32) / 32767.0, -1.0)
    return a.astype(np.float32)


def read_glb(path: Path) -> GlbFile:
    """Parse a glTF binary's header and chunks; raises :class:`GltfError` for anything else."""
    path = Path(path)
    data = path.read_bytes()
    if len(data) < 20 or struct.unpack_from("<I", data, 0)[0] != GLB_MAGIC:
        raise GltfError(f"{path.name} is not a glTF binary (.glb) file")
    version, total = struct.unpack_from("<II", data, 4)
    if version != 2:
        raise GltfError(f"{path.name} is glTF version {version}; only glTF 2.0 is supported")
    if total > len(data):
        raise GltfError(f"{path.name} is truncated ({len(data)} of {total} bytes)")
    pos, doc, blob = 12, None, b""
    while pos + 8 <= total:
        length, kind = struct.unpack_from("<II", data, pos)
        chunk = data[pos + 8: pos + 8 + length]
        if len(chunk) != length:
            raise GltfError(f"{path.name} is truncated inside a chunk")
        if kind == CHUNK_JSON and doc is None:
            try:
                doc = json.loads(chunk.decode("utf-8"))
            except (UnicodeDecodeError, ValueError) as e:
                raise GltfError(f"{path.name} has a damaged JSON chunk ({e})") from None
        elif kind == CHUNK_BIN and not blob:
            blob = chunk
        pos += 8 + length
    if doc is None:
        raise GltfError(f"{path.name} has no JSON chunk")
    return GlbFile(doc, blob)


def _keys(g: GlbFile, sampler: dict) -> tuple[np.ndarray, np.ndarray, str]:
    times = g.accessor(sampler["input"])[:, 0].astype(np.float64)
    vals = g.accessor(sampler["output"]).astype(np.float64)
    interp = sampler.get("interpolation", "LINEAR")
    if interp == "CUBICSPLINE":  # (in-tangent, value, out-tangent) per key: keep the values
        vals = vals.reshape(len(times), 3, -1)[:, 1]
    else:
        vals = vals.reshape(len(times), -1)
    return times, vals, interp


def _resample(times: np.ndarray, vals: np.ndarray, frame_times: np.ndarray, step: bool) -> np.ndarray:
    if len(times) == len(frame_times) and np.allclose(times, frame_times, rtol=0, atol=1e-4):
        return vals.copy()  # one key per frame (our own files): no interpolation, exact values
    if len(times) == 1:
        return np.repeat(vals[:1], len(frame_times), axis=0)
    if step:
        i = np.clip(np.searchsorted(times, frame_times + 1e-6, side="right") - 1, 0, len(times) - 1)
        return vals[i]
    return np.stack([np.interp(frame_times, times, vals[:, c]) for c in range(vals.shape[1])], axis=1)


def load_glb(path: Path, *, fps: float | None = None, animation: int = 0) -> Animation:
    """Read the morph-weight and head-rotation animation of a ``.glb`` as an ARKit animation.

    Files written by :func:`save_glb` come back exactly (fps, names, weights, head rotation within
    float32). For other files: the first mesh with ``extras.targetNames`` gives the channel names,
    the ``weights`` channel of the ``animation``-th animation the curves, and the rotation of the node
    named ``head`` (else the first animated rotation), relative to that node's rest rotation, the
    head motion; keys are resampled to ``fps`` (default: the file's recorded fps, else 30).
    """
    g = read_glb(path)
    doc = g.doc
    info = {}
    for sc in doc.get("scenes", []):
        if isinstance(sc.get("extras"), dict) and isinstance(sc["extras"].get("diface"), dict):
            info = sc["extras"]["diface"]
            break
    anims = doc.get("animations", [])
    if not anims:
        raise GltfError(f"{Path(path).name} has no animation")
    if not 0 <= animation < len(anims):
        raise GltfError(f"{Path(path).name} has {len(anims)} animations; animation {animation} does not exist")
    an = anims[animation]
    nodes = doc.get("nodes", [])
    w_ch = next((c for c in an["channels"] if c["target"].get("path") == "weights"), None)
    rot_chs = [c for c in an["channels"] if c["target"].get("path") == "rotation"]
    r_ch = next((c for c in rot_chs if nodes[c["target"]["node"]].get("name") == "head"), rot_chs[0] if rot_chs else None)
    if w_ch is None and r_ch is None:
        raise GltfError(f"{Path(path).name} animates neither morph weights nor a rotation")
    rate = float(fps or info.get("fps") or 30.0)
    end, names, series = 0.0, None, {}
    if w_ch is not None:
        node = nodes[w_ch["target"]["node"]]
        mesh = doc["meshes"][node["mesh"]]
        n_targets = len(mesh["primitives"][0].get("targets", []))
        names = (mesh.get("extras") or {}).get("targetNames") or mesh.get("targetNames")
        if not names or len(names) != n_targets:
            names = list(ARKIT_NAMES) if n_targets == len(ARKIT_NAMES) else [f"target_{i}" for i in range(n_targets)]
        t, v, interp = _keys(g, an["samplers"][w_ch["sampler"]])
        series["w"] = (t, v.reshape(len(t), n_targets), interp)
        end = max(end, float(t[-1]))
    if r_ch is not None:
        t, v, interp = _keys(g, an["samplers"][r_ch["sampler"]])
        rest = nodes[r_ch["target"]["node"]].get("rotation", [0.0, 0.0, 0.0, 1.0])
        series["r"] = (t, v.reshape(len(t), 4), interp, np.asarray(rest, np.float64))
        end = max(end, float(t[-1]))
    from diface_editor.core.limits import LimitError, check_fps, check_frames

    try:
        rate = check_fps(rate, "the frame rate")
        n_frames = int(info["frames"]) if info.get("frames") and fps is None else int(round(end * rate)) + 1
        check_frames(n_frames, f"{Path(path).name}")
    except (LimitError, TypeError, ValueError, OverflowError) as e:
        raise GltfError(f"{Path(path).name}: {e}") from None
    frame_times = np.arange(n_frames) / rate
    if "w" in series:
        t, v, interp = series["w"]
        face = _resample(t, v, frame_times, interp == "STEP")
    else:
        names = list(ARKIT_NAMES)
        face = np.zeros((n_frames, len(names)))
    if "r" in series:
        t, v, interp, rest = series["r"]
        q = _resample(t, v, frame_times, interp == "STEP")
        R = axis_angle_to_matrix(quaternion_to_axis_angle(q))
        R0 = axis_angle_to_matrix(quaternion_to_axis_angle(rest[None]))[0]
        head = matrix_to_axis_angle(R0.T @ R) if not np.allclose(R0, np.eye(3)) else quaternion_to_axis_angle(q)
    else:
        head = np.zeros((n_frames, 3))
    meta = {str(k): str(v) for k, v in (info.get("metadata") or {}).items()}
    meta.setdefault("source_format", "gltf")
    try:
        anim = Animation(fps=rate, face=face, head=head, channel_names=tuple(names), space="arkit", metadata=meta)
    except AnimationError as e:
        raise GltfError(f"{Path(path).name}: {e}") from None
    order = info.get("channel_names")
    if order and set(order) <= set(anim.channel_names) and tuple(order) != anim.channel_names:
        anim = anim.reorder_channels(tuple(order))
    elif not order and set(anim.channel_names) == set(ARKIT_NAMES):
        anim = anim.reorder_channels(ARKIT_NAMES)
    return anim


def describe_glb(path: Path) -> str:
    g = read_glb(path)
    doc = g.doc
    lines = [f"{Path(path).name}: glTF 2.0 binary ({doc.get('asset', {}).get('generator', 'unknown generator')})"]
    for m in doc.get("meshes", []):
        prim = m["primitives"][0]
        nv = doc["accessors"][prim["attributes"]["POSITION"]]["count"]
        ntri = doc["accessors"][prim["indices"]]["count"] // 3 if "indices" in prim else nv // 3
        names = (m.get("extras") or {}).get("targetNames") or []
        lines.append(f"  mesh {m.get('name', '?')}: {nv} vertices, {ntri} triangles, "
                     f"{len(prim.get('targets', []))} morph targets" + (f" ({names[0]}...{names[-1]})" if names else ""))
    for s in doc.get("skins", []):
        lines.append(f"  skin {s.get('name', '?')}: joints " + ", ".join(doc["nodes"][j].get("name", str(j)) for j in s["joints"]))
    for a in doc.get("animations", []):
        t = g.accessor(a["samplers"][0]["input"])[:, 0]
        paths = ", ".join(sorted({c["target"]["path"] for c in a["channels"]}))
        lines.append(f"  animation {a.get('name', '?')}: {len(t)} keys over {float(t[-1]) if len(t) else 0:.3f} s "
                     f"({a['samplers'][0].get('interpolation', 'LINEAR')}), animates {paths}")
    return "\n".join(lines)


register_format("gltf", (".glb",), "glTF 2.0 binary (.glb): head mesh with the 52 ARKit morph targets, a neck/head "
                "skin and the animation (Blender, Unreal, Unity, three.js)", load=load_glb, save=save_glb,
                describe=describe_glb)
