"""The viewport's fast drawing shows the same head: normals equal the reference ones, back faces are
culled only where they cannot be seen (a head looked at from below still shows the inside of its
neck, the teeth keep both sides), and the part of the picture that is read back holds all of the
head."""

from __future__ import annotations

import os

import numpy as np
import pytest

from diface_editor.core.geometry import SmoothNormals, vertex_normals
from diface_editor.core.mesh_sides import mesh_sides


def _cube(inward: bool = False, open_bottom: bool = False):
    """A unit cube's 8 vertices and 12 triangles wound outwards (or inwards); ``open_bottom`` leaves
    out the two triangles of the y = 0 side."""
    v = np.array([[x, y, z] for x in (0, 1) for y in (0, 1) for z in (0, 1)], np.float64)
    quads = [(0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3)]
    faces = []
    for a, b, c, d in quads:
        faces += [(a, b, c), (a, c, d)]
    f = np.array(faces)
    # orient every triangle outwards: its normal points away from the cube's centre
    n = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])
    flip = np.einsum("ij,ij->i", n, v[f].mean(1) - 0.5) < 0
    f[flip] = f[flip][:, ::-1]
    if inward:
        f = f[:, ::-1]
    if open_bottom:
        f = f[~np.all(v[f][:, :, 1] == 0, axis=1)]
    return v, f


def test_smooth_normals_equal_the_reference_normals():
    rng = np.random.default_rng(0)
    v, f = _cube()
    v = v + 0.05 * rng.standard_normal(v.shape)
    v = np.concatenate([v, [[5.0, 5.0, 5.0]]])  # a vertex no triangle uses
    got = SmoothNormals(f, len(v))(v.astype(np.float32))
    np.testing.assert_allclose(got, vertex_normals(v, f), atol=1e-5)
    np.testing.assert_array_equal(got[-1], [0.0, 0.0, 1.0])


def test_closed_outward_surfaces_are_one_sided_and_others_two_sided():
    v, f = _cube()
    assert mesh_sides(v, f).closed.all()
    vi, fi = _cube(inward=True)
    s = mesh_sides(vi, fi)
    assert not s.closed.any() and not s.capped  # wound inwards: its outside shows back faces
    strip_v = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 1, 0.3]], float)
    strip = mesh_sides(strip_v, np.array([[0, 1, 2], [1, 3, 2]]))
    assert not strip.closed.any() and not strip.capped


def test_a_box_open_at_the_bottom_is_culled_only_while_the_camera_cannot_see_in():
    v, f = _cube(open_bottom=True)
    s = mesh_sides(v, f)
    assert not s.closed.any() and len(s.capped) == 1
    above = np.array([0.5, 3.0, 2.0, 1.0])  # a perspective camera above the hole's plane
    below = np.array([0.5, -0.5, 3.0, 1.0])  # ... and one below it, looking up into the box
    assert s.one_sided(v, above).all()
    assert not s.one_sided(v, below).any()
    # orthographic cameras: the point at infinity they look from
    assert s.one_sided(v, np.array([0.0, 1.0, 0.0, 0.0])).all()  # from straight above
    assert not s.one_sided(v, np.array([0.0, -1.0, 0.2, 0.0])).any()  # from below


def test_default_head_keeps_its_open_parts_two_sided():
    from diface_editor.core.rig import load_default_rig

    rig = load_default_rig()
    s = mesh_sides(rig.template, rig.faces)
    names = list(rig.extra["part_names"])
    part = np.asarray(rig.extra["part_labels"])[rig.faces[:, 0]]
    front = rig.template.mean(0) + np.array([0.0, 0.0, 1.0])  # in front of the face
    one = s.one_sided(rig.template, np.append(front, 1.0))
    for name in ("teeth", "gums"):  # open strips: both sides can show through the mouth
        assert not one[part == names.index(name)].any()
    for name in ("skin", "eye_white", "tongue"):
        assert one[part == names.index(name)].all()
    under = rig.template.mean(0) + np.array([0.0, -1.0, 0.1])  # below the neck's cut
    assert not s.one_sided(rig.template, np.append(under, 1.0))[part == names.index("skin")].any()


@pytest.fixture()
def egl_scene():
    """A vispy canvas on headless EGL with the default head's scene (skipped where there is no EGL)."""
    pytest.importorskip("vispy")
    os.environ.setdefault("EGL_PLATFORM", "surfaceless")
    from vispy import gloo, scene

    from diface_editor.core.rig import load_default_rig
    from diface_editor.gui.viewport_scene import GL_LOCK, Scene

    W, H = 480, 360
    with GL_LOCK:
        try:
            canvas = scene.SceneCanvas(app="egl", keys=None, bgcolor="#202020", show=False, size=(W, H))
        except Exception as e:  # no EGL here
            pytest.skip(f"no headless EGL: {e}")
        canvas.set_current()
        sc = Scene(canvas, load_default_rig())
        fbo = gloo.FrameBuffer(color=gloo.RenderBuffer((H, W)), depth=gloo.RenderBuffer((H, W)))
        yield canvas, sc, fbo, (W, H)
        canvas.close()


def _render(canvas, sc, fbo, size, prepared: bool):
    """(H, W, 3) picture; ``prepared``: culled and sorted as the viewport draws, else every triangle
    two-sided in the rig's order (the reference)."""
    canvas.push_fbo(fbo, (0, 0), size)
    try:
        if prepared:
            sc._sorted_along = sc._one_sided = None  # sort and choose again for this camera
            sc.prepare_draw()
        else:
            sc.mesh.set_faces(np.zeros((0, 3), np.uint32), sc.rig.faces)
        canvas.context.clear(color=canvas.bgcolor, depth=True)
        canvas.draw_visual(canvas.scene)
        rect = sc.pixel_rect(size)
        return fbo.read()[..., :3].astype(int), rect
    finally:
        canvas.pop_fbo()


@pytest.mark.parametrize("azimuth,elevation", [(24, 6), (150, -20), (30, -60), (0, -89), (90, 0)])
def test_culled_and_sorted_head_looks_the_same_from_every_side(egl_scene, azimuth, elevation):
    from diface_editor.core.animation import Animation
    from diface_editor.core.arkit import ARKIT_NAMES

    canvas, sc, fbo, size = egl_scene
    face = np.zeros((1, 52), np.float32)
    face[0, ARKIT_NAMES.index("jawOpen")] = 0.8  # teeth and tongue in view
    sc.upload(sc.rig.frame_vertices(Animation(30.0, face, np.array([[0.1, 0.2, 0.05]], np.float32)), 0))
    sc.view.camera.azimuth, sc.view.camera.elevation = azimuth, elevation
    ref, _ = _render(canvas, sc, fbo, size, prepared=False)
    got, (x, y, w, h) = _render(canvas, sc, fbo, size, prepared=True)
    differ = np.abs(got - ref).max(-1) > 8
    assert differ.mean() < 0.002, f"{differ.sum()} pixels differ"
    # everything that is not background lies in the rectangle that is read back (GL rows: bottom up)
    H = ref.shape[0]
    head = np.nonzero((ref != ref[0, 0]).any(-1))
    rows_from_bottom = H - 1 - head[0]
    assert head[1].min() >= x and head[1].max() < x + w
    assert rows_from_bottom.min() >= y and rows_from_bottom.max() < y + h


@pytest.mark.parametrize("fov", [45.0, 0.0])
def test_the_shader_sees_each_vertex_from_the_camera(fov):
    """The head's shading takes the viewing ray to a vertex as (vertex - camera), or the one viewing
    direction of an orthographic view; the camera found from the visual-to-clip matrix must be the
    point the view looks from: every point on the ray through it lands on one pixel."""
    pytest.importorskip("vispy")
    from vispy.util.transforms import ortho, perspective, rotate, translate

    from diface_editor.gui.head_visual import camera_in

    view = rotate(30, (0, 1, 0)) @ rotate(-15, (1, 0, 0)) @ translate((0.1, -0.05, -0.8))
    proj = perspective(fov, 1.3, 0.1, 10.0) if fov else ortho(-0.3, 0.3, -0.2, 0.2, 0.1, 10.0)
    mvp = view @ proj  # vispy's row-vector layout: clip = p @ mvp
    eye = camera_in(np.linalg.inv(mvp))
    rng = np.random.default_rng(0)
    for p in rng.uniform(-0.2, 0.2, (5, 3)):
        ray = p * eye[3] - eye[:3]  # what the vertex shader computes
        ndc = []
        for s in (0.0, 0.05, 0.1):
            c = np.append(p + s * ray / np.linalg.norm(ray), 1.0) @ mvp
            ndc.append(c[:2] / c[3])
        assert np.allclose(ndc[0], ndc[1], atol=1e-6) and np.allclose(ndc[0], ndc[2], atol=1e-6)
        near, far = np.append(p, 1.0) @ mvp, np.append(p + 0.1 * ray / np.linalg.norm(ray), 1.0) @ mvp
        assert far[2] / far[3] > near[2] / near[3]  # the ray points away from the camera (deeper)
