"""glTF 2.0 binary export: re-import with pygltflib (an independent reader), evaluate the morph
targets and the skin as the glTF spec defines them and compare with the rig; Khronos validator."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from _export_helpers import random_take, sphere_head
from diface_editor.core.animation import Animation
from diface_editor.core.formats import FORMATS, describe, load_animation, save_animation
from diface_editor.core.formats.gltf import GltfError, axis_angle_to_quaternion, quaternion_to_axis_angle
from diface_editor.core.paths import ROOT

pygltflib = pytest.importorskip("pygltflib", reason="pygltflib (test extra) is needed to re-import .glb files")

VALIDATOR = ROOT / "tools" / "gltf-validator"

_NP = {5120: np.int8, 5121: np.uint8, 5122: np.int16, 5123: np.uint16, 5125: np.uint32, 5126: np.float32}
_NC = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4, "MAT4": 16}


class Glb:
    """Accessor decoding on top of pygltflib (dense + sparse), written from the glTF spec."""

    def __init__(self, path: Path):
        self.g = pygltflib.GLTF2().load_binary(str(path))
        self.blob = self.g.binary_blob()

    def _view(self, bv_i, offset, dtype, count, n):
        bv = self.g.bufferViews[bv_i]
        start = (bv.byteOffset or 0) + (offset or 0)
        assert not bv.byteStride or bv.byteStride == np.dtype(dtype).itemsize * n
        return np.frombuffer(self.blob, dtype, count * n, start).reshape(count, n)

    def acc(self, i: int) -> np.ndarray:
        a = self.g.accessors[i]
        n, dt = _NC[a.type], _NP[a.componentType]
        out = (self._view(a.bufferView, a.byteOffset, dt, a.count, n).copy() if a.bufferView is not None
               else np.zeros((a.count, n), dt))
        if a.sparse is not None:
            ind = self._view(a.sparse.indices.bufferView, a.sparse.indices.byteOffset,
                             _NP[a.sparse.indices.componentType], a.sparse.count, 1)[:, 0]
            out[ind] = self._view(a.sparse.values.bufferView, a.sparse.values.byteOffset, dt, a.sparse.count, n)
        return out


def _quat_matrix(q):
    x, y, z, w = q / np.linalg.norm(q)
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                     [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                     [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


def _trs(node, rotation=None):
    m = np.eye(4)
    q = rotation if rotation is not None else (node.rotation or [0, 0, 0, 1])
    m[:3, :3] = _quat_matrix(np.asarray(q, float)) * np.asarray(node.scale or [1, 1, 1])
    m[:3, 3] = node.translation or [0, 0, 0]
    return m


def glb_vertices(path: Path, frame: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Skinned, morphed vertex positions of the animated mesh at key ``frame`` (spec semantics),
    plus the weights and the rotation quaternion found for that key."""
    f = Glb(path)
    g = f.g
    mesh_node = next(i for i, n in enumerate(g.nodes) if n.mesh is not None)
    prim = g.meshes[g.nodes[mesh_node].mesh].primitives[0]
    pos = f.acc(prim.attributes.POSITION).astype(np.float64)
    anim = g.animations[0]
    w_ch = next(c for c in anim.channels if c.target.path == "weights")
    r_ch = next(c for c in anim.channels if c.target.path == "rotation")
    weights = f.acc(g.animations[0].samplers[w_ch.sampler].output)[:, 0].reshape(-1, len(prim.targets))[frame]
    quat = f.acc(anim.samplers[r_ch.sampler].output)[frame]
    for k, t in enumerate(prim.targets):
        pos += weights[k] * f.acc(t["POSITION"])
    # node world matrices with the animated rotation on the channel's node
    parent = {c: i for i, n in enumerate(g.nodes) for c in (n.children or [])}

    def world(i):
        local = _trs(g.nodes[i], quat if i == r_ch.target.node else None)
        return world(parent[i]) @ local if i in parent else local

    skin = g.skins[g.nodes[mesh_node].skin]
    ibm = f.acc(skin.inverseBindMatrices).reshape(-1, 4, 4).transpose(0, 2, 1)  # column-major storage
    jm = np.stack([world(j) @ ibm[k] for k, j in enumerate(skin.joints)])
    joints = f.acc(prim.attributes.JOINTS_0).astype(int)
    jw = f.acc(prim.attributes.WEIGHTS_0).astype(np.float64)
    skin_m = np.einsum("vk,vkij->vij", jw, jm[joints])
    out = np.einsum("vij,vj->vi", skin_m, np.c_[pos, np.ones(len(pos))])[:, :3]
    return out, weights, quat


@pytest.fixture(scope="module")
def rig():
    return sphere_head()


@pytest.fixture(scope="module")
def take():
    return random_take(24)


def test_glb_is_registered_for_export_and_import():
    fmt = FORMATS["gltf"]
    assert fmt.extensions == (".glb",) and fmt.can_save and fmt.can_load
    assert "rig" in fmt.save_options() and "interpolation" in fmt.save_options()


def test_glb_morph_targets_and_weights_reimport_exactly(tmp_path, rig, take):
    path = save_animation(take, tmp_path / "take.glb", rig=rig)
    f = Glb(path)
    mesh = f.g.meshes[0]
    assert mesh.extras["targetNames"] == list(rig.blendshape_names)
    prim = mesh.primitives[0]
    assert len(prim.targets) == 52
    for k in (0, 1, 17, 51):  # a dense one, a sparse one, ..., the all-zero one
        np.testing.assert_array_equal(f.acc(prim.targets[k]["POSITION"]), rig.deltas[k])
    np.testing.assert_array_equal(f.acc(prim.attributes.POSITION), rig.template)
    np.testing.assert_array_equal(f.acc(prim.indices).reshape(-1, 3), rig.faces)
    an = f.g.animations[0]
    w_s = an.samplers[next(c.sampler for c in an.channels if c.target.path == "weights")]
    times = f.acc(w_s.input)[:, 0]
    np.testing.assert_allclose(times, np.arange(24) / 30.0, atol=1e-6)
    assert w_s.interpolation == "LINEAR"
    np.testing.assert_array_equal(f.acc(w_s.output).reshape(24, 52), take.face)
    normals = f.acc(prim.attributes.NORMAL)
    np.testing.assert_allclose(np.linalg.norm(normals, axis=1), 1.0, atol=1e-6)
    colours = f.acc(prim.attributes.COLOR_0)  # per part: the first ten vertices are eye_white
    assert colours.shape == (rig.n_vertices, 3) and colours.min() >= 0 and colours.max() <= 1
    assert colours[:10].mean() > colours[10:].mean() + 0.2


@pytest.mark.parametrize("frame", [0, 7, 23])
def test_glb_vertices_equal_rig_vertices(tmp_path, rig, take, frame):
    """Morph + two-joint skin evaluated per the glTF spec = the rig's vertices (neck falloff included)."""
    path = save_animation(take, tmp_path / "take.glb", rig=rig)
    verts, weights, quat = glb_vertices(path, frame)
    expected = rig.vertices(take)[frame]
    assert np.abs(verts - expected).max() < 1e-4
    # and the rotation really is there: without it the vertices would be far off
    assert np.abs(rig.vertices(face=take.face[frame:frame + 1])[0] - expected).max() > 5e-3
    np.testing.assert_allclose(quaternion_to_axis_angle(quat[None])[0], take.head[frame], atol=1e-6)


def test_glb_round_trip_through_load_animation(tmp_path, rig, take):
    take.metadata["note"] = "hello"
    path = save_animation(take, tmp_path / "take.glb", rig=rig, interpolation="STEP")
    back = load_animation(path)
    assert back.fps == take.fps and back.channel_names == take.channel_names and back.n_frames == take.n_frames
    np.testing.assert_array_equal(back.face, take.face)
    np.testing.assert_allclose(back.head, take.head, atol=1e-6)
    assert back.metadata["note"] == "hello"
    text = describe(path)
    assert "52 morph targets" in text and "STEP" in text


def test_glb_import_resamples_to_another_fps(tmp_path, rig):
    t = np.arange(31) / 30.0
    face = np.zeros((31, 52), np.float32)
    face[:, 17] = t  # jawOpen ramps 0..1 over one second
    anim = Animation(fps=30.0, face=face, head=np.zeros((31, 3), np.float32))
    path = save_animation(anim, tmp_path / "ramp.glb", rig=rig)
    back = load_animation(path, fps=60.0)
    assert back.n_frames == 61 and back.fps == 60.0
    np.testing.assert_allclose(back.channel("jawOpen"), np.arange(61) / 60.0, atol=1e-6)


def test_quaternions_are_unit_and_sign_continuous():
    aa = np.array([[0, 0, 0], [0, 3.0, 0], [0, 3.2, 0], [0.1, -0.2, 0.3]])
    q = axis_angle_to_quaternion(aa)
    np.testing.assert_allclose(np.linalg.norm(q, axis=1), 1.0)
    assert np.all(np.sum(q[1:] * q[:-1], axis=1) > 0)
    back = quaternion_to_axis_angle(q)
    np.testing.assert_allclose(back[[0, 1, 3]], aa[[0, 1, 3]], atol=1e-12)
    # 3.2 rad about +y is the same rotation as 2pi - 3.2 about -y
    np.testing.assert_allclose(back[2], [0, 3.2 - 2 * np.pi, 0], atol=1e-12)


def test_glb_refuses_vertex_motion_with_one_sentence(tmp_path, rig):
    anim = Animation(fps=30, face=np.zeros((3, 3 * rig.n_vertices)), head=np.zeros((3, 3)), channel_names=(),
                     space="vertex")
    with pytest.raises(GltfError, match="pc2 or .npy"):
        save_animation(anim, tmp_path / "x.glb", rig=rig)
    assert not (tmp_path / "x.glb").exists()


def test_glb_import_rejects_a_non_glb_file(tmp_path):
    bad = tmp_path / "bad.glb"
    bad.write_bytes(b"not a gltf file at all")
    with pytest.raises(GltfError, match="not a glTF binary"):
        load_animation(bad)


def _validator_missing() -> str | None:
    if shutil.which("node") is None:
        return "node is not installed"
    if not (VALIDATOR / "node_modules" / "gltf-validator").is_dir():
        return "the npm package gltf-validator is not installed (tools/setup.sh installs it when npm works)"
    return None


@pytest.mark.skipif(_validator_missing() is not None, reason=str(_validator_missing()))
@pytest.mark.parametrize("which", ["shipped head", "sphere rig, STEP"])
def test_khronos_validator_reports_no_errors(tmp_path, rig, take, which):
    if which == "shipped head":
        path = save_animation(random_take(12), tmp_path / "head.glb")  # the default rig, as users export it
    else:
        path = save_animation(take, tmp_path / "sphere.glb", rig=rig, interpolation="STEP")
    r = subprocess.run(["node", str(VALIDATOR / "validate.js"), str(path)], capture_output=True, text=True,
                       timeout=120)
    report = json.loads(r.stdout)
    issues = report["issues"]
    assert issues["numErrors"] == 0, json.dumps(issues["messages"][:10], indent=1)
    assert issues["numWarnings"] == 0, json.dumps(issues["messages"][:10], indent=1)
    assert report["info"]["hasMorphTargets"] and report["info"]["hasSkins"] and report["info"]["animationCount"] == 1
    assert r.returncode == 0
