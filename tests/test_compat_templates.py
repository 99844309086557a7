"""Subject templates: templates.pkl (safely), .ply, .obj, FLAME model files, pivots and vertex rigs."""

from __future__ import annotations

import os
import pickle
import struct
import sys
import types

import numpy as np
import pytest

from diface_editor.core.safe_pickle import UnsafePickleError
from diface_editor.core.templates import (
    FlameModel,
    Template,
    TemplateError,
    default_neck_pivot,
    load_flame_model,
    load_template,
    load_template_spec,
    load_templates_pkl,
    read_obj,
    read_ply,
    vertex_rig_from_template,
)


def _head(n: int = 100, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    v = rng.normal(size=(n, 3)) * np.array([0.08, 0.12, 0.09])
    v[0] = (0.0, -0.5, 0.0)  # the lowest point: base of the neck
    return v.astype(np.float32)


def test_templates_pkl_python2_style(tmp_path):
    temps = {"FaceTalk_A": _head(seed=1).astype(np.float64), "FaceTalk_B": _head(seed=2).astype(np.float64)}
    p = tmp_path / "templates.pkl"
    p.write_bytes(pickle.dumps(temps, protocol=2))
    got = load_templates_pkl(p)
    assert set(got) == set(temps)
    assert got["FaceTalk_B"].dtype == np.float32 and np.allclose(got["FaceTalk_B"], temps["FaceTalk_B"])
    t = load_template(p, "FaceTalk_A")
    assert t.name == "FaceTalk_A" and t.vertices.shape == (100, 3) and t.faces.shape == (0, 3)
    with pytest.raises(TemplateError, match="FaceTalk_A, FaceTalk_B"):
        load_template(p)  # two subjects: the user must choose
    with pytest.raises(TemplateError, match="no subject"):
        load_template(p, "nobody")
    assert load_template_spec(f"{p}:FaceTalk_B").name == "FaceTalk_B"  # command-line form FILE:SUBJECT


class _Evil:
    marker = ""

    def __reduce__(self):
        return (os.system, (f"touch {_Evil.marker}",))


def test_malicious_templates_pkl_is_refused_without_running(tmp_path):
    _Evil.marker = str(tmp_path / "pwned")
    p = tmp_path / "templates.pkl"
    p.write_bytes(pickle.dumps({"subject": _Evil()}, protocol=2))
    with pytest.raises(UnsafePickleError, match="posix.system|os.system|nt.system"):
        load_templates_pkl(p)
    with pytest.raises(UnsafePickleError):
        load_template(p, "subject")
    assert not (tmp_path / "pwned").exists()


def _quad_mesh():
    v = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0], [0.5, 0.5, 1]], np.float32) * 0.1
    polys = [[0, 1, 2, 3], [0, 1, 4], [1, 2, 4]]
    return v, polys


def _write_ply(path, v, polys, binary):
    head = ["ply", f"format {'binary_little_endian' if binary else 'ascii'} 1.0", "comment test",
            f"element vertex {len(v)}", "property float x", "property float y", "property float z",
            "property uchar red", f"element face {len(polys)}", "property list uchar int vertex_indices",
            "end_header"]
    if binary:
        body = b"".join(struct.pack("<fffB", *p, 200) for p in v)
        body += b"".join(struct.pack("<B", len(f)) + struct.pack(f"<{len(f)}i", *f) for f in polys)
        path.write_bytes(("\n".join(head) + "\n").encode() + body)
    else:
        lines = [f"{a} {b} {c} 200" for a, b, c in v] + [" ".join(map(str, [len(f)] + f)) for f in polys]
        path.write_text("\n".join(head + lines) + "\n")


@pytest.mark.parametrize("binary", [False, True])
def test_ply_ascii_and_binary(tmp_path, binary):
    v, polys = _quad_mesh()
    p = tmp_path / "mesh.ply"
    _write_ply(p, v, polys, binary)
    t = read_ply(p)
    assert np.allclose(t.vertices, v)
    assert t.faces.tolist() == [[0, 1, 2], [0, 2, 3], [0, 1, 4], [1, 2, 4]]
    assert load_template(p).n_vertices == 5


def test_obj_with_texture_indices_and_negative_indices(tmp_path):
    v, _ = _quad_mesh()
    lines = [f"v {a} {b} {c}" for a, b, c in v] + ["vt 0 0", "f 1/1/1 2/1/1 3/1/1 4/1/1", "f -5 -4 -1"]
    p = tmp_path / "mesh.obj"
    p.write_text("\n".join(lines) + "\n")
    t = read_obj(p)
    assert np.allclose(t.vertices, v)
    assert t.faces.tolist() == [[0, 1, 2], [0, 2, 3], [0, 1, 4]]


def _fake_flame(n=100):
    v = _head(n)
    rng = np.random.default_rng(5)
    J = np.abs(rng.normal(size=(5, n)))
    J /= J.sum(1, keepdims=True)
    w = np.zeros((n, 5), np.float32)
    w[:, 1] = np.clip((v[:, 1] + 0.2) / 0.15, 0, 1)  # neck weight grows with height (0 at the base)
    w[:, 0] = 1 - w[:, 1]
    w[v[:, 1] > 0.05, 1] -= 0.3  # some weight on the jaw, a descendant of the neck
    w[v[:, 1] > 0.05, 2] += 0.3
    faces = np.array([[0, 1, 2], [2, 3, 4]], np.int32)
    kintree = np.array([[4294967295, 0, 1, 1, 1], [0, 1, 2, 3, 4]], np.uint32)
    return v, J, w, faces, kintree


def test_flame_npz_gives_the_neck_pivot_and_weights(tmp_path):
    v, J, w, faces, kintree = _fake_flame()
    p = tmp_path / "generic_model.npz"
    np.savez(p, v_template=v, f=faces, J_regressor=J, weights=w, kintree_table=kintree)
    flame = load_flame_model(p)
    assert np.allclose(flame.neck_pivot(), J[1] @ v, atol=1e-6)
    assert np.allclose(flame.neck_weights(), np.clip(w[:, 1:].sum(1), 0, 1))
    rig = vertex_rig_from_template(Template(v), flame=p)
    assert np.allclose(rig.pivot, J[1] @ v, atol=1e-6) and rig.faces.tolist() == faces.tolist()
    head = np.array([[0.0, 0.3, 0.0]], np.float32)
    moved = rig.vertices(face=np.zeros((1, 300), np.float32), head=head)[0]
    still = w[:, 1:].sum(1) == 0
    assert still.any() and np.allclose(moved[still], v[still])
    assert np.abs(moved[~still] - v[~still]).max() > 1e-3


def test_flame_pickle_with_chumpy_and_sparse_is_read_without_chumpy(tmp_path):
    """A FLAME pickle as Python 2 wrote it: chumpy objects and a scipy sparse J_regressor."""
    import scipy.sparse

    v, J, w, faces, kintree = _fake_flame()
    mod = types.ModuleType("chumpy.ch")

    class Ch:  # stands in for chumpy.ch.Ch while pickling (chumpy is not installed)
        def __init__(self, x):
            self.x = x

    Ch.__module__, Ch.__qualname__ = "chumpy.ch", "Ch"
    mod.Ch = Ch
    sys.modules["chumpy"], sys.modules["chumpy.ch"] = types.ModuleType("chumpy"), mod
    try:
        d = {"v_template": Ch(v.astype(np.float64)), "f": faces.astype(np.uint32), "weights": Ch(w.astype(np.float64)),
             "J_regressor": scipy.sparse.csc_matrix(J), "kintree_table": kintree, "shapedirs": Ch(np.zeros((100, 3, 4))),
             "bs_style": "lbs"}
        for proto in (0, 2):
            p = tmp_path / f"generic_model_p{proto}.pkl"
            p.write_bytes(pickle.dumps(d, protocol=proto))
            del sys.modules["chumpy.ch"]  # loading must not need it
            try:
                flame = load_flame_model(p)
            finally:
                sys.modules["chumpy.ch"] = mod
            assert np.allclose(flame.v_template, v) and np.allclose(flame.J_regressor, J, atol=1e-7)
            assert flame.faces.tolist() == faces.tolist() and np.allclose(flame.weights, w)
            assert load_template(p).n_vertices == 100
    finally:
        sys.modules.pop("chumpy.ch", None)
        sys.modules.pop("chumpy", None)


def test_malicious_flame_pickle_is_refused(tmp_path):
    _Evil.marker = str(tmp_path / "pwned")
    p = tmp_path / "generic_model.pkl"
    p.write_bytes(pickle.dumps({"v_template": np.zeros((3, 3)), "J_regressor": _Evil()}, protocol=2))
    with pytest.raises(UnsafePickleError):
        load_flame_model(p)
    assert not (tmp_path / "pwned").exists()


def test_default_pivot_and_rig_without_flame():
    v = _head()
    piv = default_neck_pivot(v)
    lo, hi = v.min(0), v.max(0)
    assert np.all(piv >= lo) and np.all(piv <= hi)
    assert piv[1] == pytest.approx(lo[1] + 0.2 * (hi[1] - lo[1]), rel=1e-5)
    rig = vertex_rig_from_template(Template(v, name="subj"))
    assert rig.name == "subj" and rig.neck_weights[0] == 0.0 and rig.neck_weights.max() == 1.0
    off = np.zeros((2, 300), np.float32)
    off[1, 3:6] = 0.01
    verts = rig.vertices(face=off, head=np.array([[0, 0, 0], [0.2, 0, 0]], np.float32))
    assert np.allclose(verts[0], v)
    assert np.allclose(verts[1, 0], v[0])  # the base of the neck stays put
    assert not np.allclose(verts[1, 1], v[1] + 0.01)  # the head turned


def test_bad_files_give_clear_errors(tmp_path):
    p = tmp_path / "x.ply"
    p.write_bytes(b"ply\nformat binary_big_endian 1.0\nelement vertex 1\nproperty float x\nend_header\n")
    with pytest.raises(TemplateError, match="binary_big_endian"):
        read_ply(p)
    q = tmp_path / "x.stl"
    q.write_text("solid")
    with pytest.raises(TemplateError, match="unknown template format"):
        load_template(q)
    with pytest.raises(TemplateError, match="not found"):
        load_flame_model(tmp_path / "missing.npz")
    f = FlameModel(np.zeros((3, 3), np.float32), np.zeros((0, 3), np.int32), np.ones((2, 3), np.float32) / 3)
    assert f.neck_weights() is None and f.neck_pivot().shape == (3,)
