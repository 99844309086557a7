"""The shipped head rig and the rig maths: blendshapes, head rotation about the pivot, neck falloff."""

from __future__ import annotations

import numpy as np
import pytest

from diface_editor.core.animation import Animation
from diface_editor.core.arkit import ARKIT_NAMES
from diface_editor.core.paths import resource
from diface_editor.core.rig import BlendshapeRig, RigError, VertexOffsetRig, load_default_rig


@pytest.fixture(scope="module")
def rig() -> BlendshapeRig:
    return load_default_rig()


def weights(rig: BlendshapeRig, **named: float) -> np.ndarray:
    w = np.zeros((1, len(rig.blendshape_names)), np.float32)
    for k, v in named.items():
        w[0, rig.shape_index(k)] = v
    return w


def cranium(rig: BlendshapeRig) -> np.ndarray:
    """Skin vertices of the top/back of the skull: no blendshape may move them."""
    V = rig.template
    return np.nonzero((V[:, 1] > V[:, 1].max() - 0.05) | ((V[:, 2] < V[:, 2].min() + 0.04) & (V[:, 1] > 0.0)))[0]


def test_shipped_rig_loads_with_every_arkit_name(rig):
    assert resource("head_rig.npz").stat().st_size < 3_000_000
    assert rig.blendshape_names == ARKIT_NAMES
    assert 2000 < rig.n_vertices < 20000 and len(rig.faces) > rig.n_vertices
    assert np.isfinite(rig.template).all()
    assert np.unique(rig.faces).size == rig.n_vertices, "every vertex is used by a triangle"
    for k, name in enumerate(ARKIT_NAMES):
        assert np.abs(rig.deltas[k]).max() > 1e-4, f"{name} moves nothing"
    names = [str(n) for n in rig.extra["part_names"]]
    assert {"skin", "eye_white", "teeth", "tongue"} <= set(names)
    assert len(rig.extra["part_labels"]) == rig.n_vertices


def test_rig_axes_and_size(rig):
    V = rig.template
    height = V[:, 1].max() - V[:, 1].min()
    assert 0.18 < height < 0.35, "a head and neck in metres"
    assert abs(V[:, 0].min() + V[:, 0].max()) < 1e-3, "left-right symmetric about x = 0"
    # the face (lips, eyes) looks along +z and lies in front of the pivot
    assert V[rig.lip_idx, 2].mean() > 0.06
    assert np.linalg.norm(rig.pivot) < 0.05
    # the upper face is above the lips; the top of the head is above both
    assert V[rig.upper_face_idx, 1].mean() > V[rig.lip_idx, 1].mean() + 0.03
    assert V[:, 1].max() > V[rig.upper_face_idx, 1].mean()


def test_outward_normals(rig):
    V, F = rig.template, rig.faces
    labels, names = rig.extra["part_labels"], [str(n) for n in rig.extra["part_names"]]
    skin_faces = F[(labels[F] == names.index("skin")).all(1)]
    a, b, c = V[skin_faces[:, 0]], V[skin_faces[:, 1]], V[skin_faces[:, 2]]
    assert np.einsum("ij,ij->i", a, np.cross(b, c)).sum() / 6 > 0.001, "positive enclosed volume"
    eye = np.isin(labels, [names.index(n) for n in ("eye_white", "iris", "pupil")])
    for side in (1, -1):
        ids = eye & (np.sign(V[:, 0]) == side)
        f = F[ids[F].all(1)]
        n = np.cross(V[f[:, 1]] - V[f[:, 0]], V[f[:, 2]] - V[f[:, 0]])
        out = np.einsum("ij,ij->i", n, V[f].mean(1) - V[ids].mean(0)) > 0
        assert out.mean() > 0.99


def test_zero_weights_give_the_template(rig):
    v = rig.vertices(face=np.zeros((3, 52), np.float32))
    assert v.shape == (3, rig.n_vertices, 3) and v.dtype == np.float32
    np.testing.assert_array_equal(v[1], rig.template)
    v = rig.vertices(face=np.zeros((2, 52), np.float32), head=np.zeros((2, 3), np.float32))
    np.testing.assert_allclose(v[0], rig.template, atol=1e-7)


def test_jaw_open_moves_the_lips_not_the_skull(rig):
    v = rig.vertices(face=weights(rig, jawOpen=1.0))[0]
    d = np.linalg.norm(v - rig.template, axis=1)
    assert d[rig.lip_idx].max() > 0.01, "lower lip drops by centimetres"
    assert np.median(d[rig.lip_idx]) > 0.003
    top = cranium(rig)
    assert len(top) > 50
    np.testing.assert_array_equal(v[top], rig.template[top])
    # the lower lip goes down, not up
    lower = rig.lip_idx[rig.template[rig.lip_idx, 1] < np.median(rig.template[rig.lip_idx, 1])]
    assert (v[lower, 1] - rig.template[lower, 1]).mean() < -0.005


def test_left_shapes_move_the_characters_left_side(rig):
    """x is the character's left: eyeBlinkLeft / mouthSmileLeft move mostly vertices with x > 0."""
    x = rig.template[:, 0]
    for left, right in (("eyeBlinkLeft", "eyeBlinkRight"), ("mouthSmileLeft", "mouthSmileRight")):
        d = np.linalg.norm(rig.deltas[rig.shape_index(left)], axis=1)
        assert d[x > 0].sum() > 5 * d[x < 0].sum(), left
        d = np.linalg.norm(rig.deltas[rig.shape_index(right)], axis=1)
        assert d[x < 0].sum() > 5 * d[x > 0].sum(), right
    # the upper eyelid comes down when blinking
    d = rig.deltas[rig.shape_index("eyeBlinkLeft")]
    assert d[:, 1].min() < -0.008


def test_head_rotation_about_the_pivot(rig):
    yaw = np.array([[0.0, 0.5, 0.0]], np.float32)  # turn to the character's left
    v = rig.vertices(face=np.zeros((1, 52), np.float32), head=yaw)[0]
    w = rig.neck_weights
    head = w >= 1
    # a rotation about the pivot: each vertex moves by at most 2 sin(angle / 2) times its distance
    # to the pivot, so vertices near the pivot stay (almost) where they are
    dist = np.linalg.norm(rig.template - rig.pivot, axis=1)
    moved = np.linalg.norm(v - rig.template, axis=1)
    assert (moved <= 2 * np.sin(0.25) * dist + 1e-6).all()
    # for the head (weight 1) exactly: |R x - x| = 2 sin(angle / 2) * (distance to the y axis)
    perp = np.hypot(*(rig.template[head] - rig.pivot)[:, [0, 2]].T)
    np.testing.assert_allclose(moved[head], 2 * np.sin(0.25) * perp, atol=2e-6)
    # distances to the pivot are kept for the head, and the face turns towards +x
    r0 = np.linalg.norm(rig.template[head] - rig.pivot, axis=1)
    r1 = np.linalg.norm(v[head] - rig.pivot, axis=1)
    np.testing.assert_allclose(r1, r0, atol=1e-6)
    assert v[rig.lip_idx, 0].mean() > rig.template[rig.lip_idx, 0].mean() + 0.03
    nose = rig.lip_idx[np.argmax(rig.template[rig.lip_idx, 2])]
    expected = np.array([[np.cos(0.5), 0, np.sin(0.5)], [0, 1, 0], [-np.sin(0.5), 0, np.cos(0.5)]]) @ (
        rig.template[nose] - rig.pivot) + rig.pivot
    np.testing.assert_allclose(v[nose], expected, atol=1e-5)


def test_neck_weights_fade_into_the_neck(rig):
    w = rig.neck_weights
    assert w.min() == 0.0 and w.max() == 1.0
    y = rig.template[:, 1]
    bottom = y < y.min() + 0.005
    assert (w[bottom] == 0).all()
    assert (w[rig.lip_idx] == 1).all() and (w[rig.upper_face_idx] == 1).all()
    partial = (w > 0) & (w < 1)
    assert partial.sum() > 100, "a gradual fade, not a hard seam"
    # weights grow with height along the neck's back (monotone on average)
    back = rig.template[:, 2] < np.percentile(rig.template[:, 2], 30)
    lo, hi = (y < y.min() + 0.03) & back, (y > y.min() + 0.06) & (y < y.min() + 0.09) & back
    assert w[lo].mean() < w[hi].mean()
    v = rig.vertices(face=np.zeros((1, 52), np.float32), head=np.array([[0.3, 0.4, 0.2]], np.float32))[0]
    np.testing.assert_array_equal(v[bottom], rig.template[bottom])
    # no tearing: neighbouring vertices move by similar amounts
    e = rig.faces[:, [0, 1]]
    skin = rig.extra["part_labels"] == 0
    e = e[skin[e].all(1)]
    edge0 = np.linalg.norm(rig.template[e[:, 0]] - rig.template[e[:, 1]], axis=1)
    edge1 = np.linalg.norm(v[e[:, 0]] - v[e[:, 1]], axis=1)
    assert (edge1 / np.maximum(edge0, 1e-9)).max() < 2.0


def test_rotate_matches_the_formula_for_any_weights():
    rng = np.random.default_rng(1)
    V = rng.normal(0, 0.1, (50, 3)).astype(np.float32)
    faces = np.array([[0, 1, 2], [2, 3, 4]], np.int32)
    pivot = np.array([0.01, -0.05, 0.02], np.float32)
    head = rng.normal(0, 0.3, (4, 3)).astype(np.float32)
    verts = V[None] + rng.normal(0, 0.01, (4, 50, 3)).astype(np.float32)
    verts[:, 7] = pivot  # a vertex at the pivot
    from diface_editor.core.rotations import axis_angle_to_matrix
    R = axis_angle_to_matrix(head)
    ref_rot = np.einsum("tij,tvj->tvi", R, verts - pivot) + pivot
    for nw in (None, np.ones(50), np.zeros(50), rng.uniform(0, 1, 50), np.r_[np.ones(5), np.zeros(45)],
               np.r_[np.ones(40), np.linspace(1, 0, 10)]):
        rig = VertexOffsetRig(template=V, faces=faces, pivot=pivot, neck_weights=nw)
        w = np.ones(50) if nw is None else nw
        ref = w[None, :, None] * ref_rot + (1 - w[None, :, None]) * verts
        out = rig.rotate(verts, head)
        np.testing.assert_allclose(out, ref, atol=2e-6)
        np.testing.assert_allclose(out[:, 7], np.broadcast_to(pivot, (4, 3)), atol=1e-6)


def test_vertex_offset_rig_with_a_synthetic_template():
    V = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], np.float32) * 0.1
    rig = VertexOffsetRig(template=V, faces=[[0, 1, 2], [0, 2, 3]], pivot=[0, 0, 0])
    offsets = np.zeros((2, 12), np.float32)
    offsets[1, 3] = 0.01  # vertex 1 moves +x by 1 cm in frame 1
    anim = Animation(fps=30, face=offsets, head=np.zeros((2, 3), np.float32), channel_names=(), space="vertex")
    v = rig.vertices(anim)
    np.testing.assert_allclose(v[0], V)
    np.testing.assert_allclose(v[1, 1], [0.11, 0, 0], atol=1e-7)
    # a quarter turn about +z (roll) takes +x to +y
    v = rig.vertices(anim.with_arrays(head=np.array([[0, 0, 0], [0, 0, np.pi / 2]], np.float32)))
    np.testing.assert_allclose(v[1, 1], [0, 0.11, 0], atol=1e-6)
    with pytest.raises(RigError, match="vertex-offset rig"):
        rig.vertices(Animation.zeros(2))
    with pytest.raises(RigError, match="3 vertices per frame|vertices per frame"):
        rig.vertices(Animation(fps=30, face=np.zeros((2, 9), np.float32), head=np.zeros((2, 3), np.float32),
                               channel_names=(), space="vertex"))


def test_shape_errors_are_rig_errors(rig, tmp_path):
    with pytest.raises(RigError, match="52 blendshapes"):
        rig.vertices(face=np.zeros((2, 51), np.float32))
    with pytest.raises(RigError, match="frames"):
        rig.vertices(face=np.zeros((2, 52), np.float32), head=np.zeros((3, 3), np.float32))
    with pytest.raises(RigError, match="must be"):
        VertexOffsetRig(template=np.zeros((4, 2)), faces=np.zeros((0, 3)), pivot=np.zeros(3))
    with pytest.raises(RigError, match="outside"):
        VertexOffsetRig(template=np.zeros((4, 3)), faces=[[0, 1, 7]], pivot=np.zeros(3))
    with pytest.raises(RigError, match="one value per vertex"):
        VertexOffsetRig(template=np.zeros((4, 3)), faces=[[0, 1, 2]], pivot=np.zeros(3), neck_weights=np.ones(3))
    vrig = VertexOffsetRig(template=np.zeros((4, 3)), faces=[[0, 1, 2]], pivot=np.zeros(3))
    with pytest.raises(RigError, match="vertices"):
        vrig.vertices(face=np.zeros((1, 9), np.float32))
    with pytest.raises(RigError, match="not found"):
        BlendshapeRig.load(tmp_path / "missing.npz")
    bad = tmp_path / "bad.npz"
    np.savez(bad, template=np.zeros((4, 3), np.float32))
    with pytest.raises(RigError, match="lacks"):
        BlendshapeRig.load(bad)
    with pytest.raises(RigError, match="no blendshape named"):
        rig.shape_index("jawOpenWide")


def test_arkit_animation_through_the_default_rig(rig):
    T = 5
    face = np.zeros((T, 52), np.float32)
    face[:, ARKIT_NAMES.index("jawOpen")] = np.linspace(0, 1, T)
    anim = Animation(fps=30, face=face, head=np.zeros((T, 3), np.float32), channel_names=ARKIT_NAMES)
    v = rig.vertices(anim)
    drop = rig.template[rig.lip_idx, 1].min() - v[:, rig.lip_idx, 1].min(axis=1)
    assert np.all(np.diff(drop) > 0), "the mouth opens further as jawOpen grows"
