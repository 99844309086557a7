"""Headless rendering of the default head (vispy + EGL, no display). Skipped where no OpenGL
context can be made (e.g. missing Mesa EGL packages)."""

from __future__ import annotations

import numpy as np
import pytest

from diface_editor.core.rig import VertexOffsetRig, load_default_rig

offscreen = pytest.importorskip("diface_editor.render.offscreen", reason="vispy is not installed")

_OK, _WHY = offscreen.gl_available()
pytestmark = pytest.mark.skipif(not _OK, reason=f"no headless OpenGL context: {_WHY}")


@pytest.fixture(scope="module")
def rig():
    return load_default_rig()


@pytest.fixture(scope="module")
def renderer(rig):
    r = offscreen.OffscreenRenderer(rig, size=(160, 160), camera=offscreen.CameraSpec(yaw_deg=0.0, pitch_deg=0.0))
    yield r
    r.close()


def test_render_is_not_blank_and_frames_the_head(renderer, rig):
    img = renderer.render(rig.template)
    assert img.shape == (160, 160, 3) and img.dtype == np.uint8
    bg = np.round(np.asarray(renderer.background) * 255).astype(int)
    fg = np.abs(img.astype(int) - bg).sum(-1) > 30
    assert 0.15 < fg.mean() < 0.8, "the head fills a good part of the picture"
    rows, cols = np.nonzero(fg)
    assert rows.min() > 0 and cols.min() > 0 and cols.max() < 159, "not cut off at the sides or top"
    # skin is warm (red > blue) where the face is
    assert (img[fg][:, 0].astype(int) - img[fg][:, 2]).mean() > 20
    # the face is symmetric in a front view: left and right halves have similar coverage
    assert abs(fg[:, :80].mean() - fg[:, 80:].mean()) < 0.05


def test_jaw_open_changes_the_mouth_only(renderer, rig):
    w = np.zeros((2, 52), np.float32)
    w[1, rig.shape_index("jawOpen")] = 1.0
    imgs = renderer.render(rig.vertices(face=w))
    assert imgs.shape == (2, 160, 160, 3)
    diff = np.abs(imgs[0].astype(int) - imgs[1].astype(int)).sum(-1) > 40
    mouth = renderer.project(rig.template[rig.lip_idx])
    c0, r0 = mouth.min(0).astype(int)
    c1, r1 = mouth.max(0).astype(int)
    box = diff[max(r0 - 2, 0):r1 + 12, max(c0 - 2, 0):c1 + 3]
    assert box.mean() > 0.2, "the pixels around the mouth change"
    upper = renderer.project(rig.template[rig.upper_face_idx])
    r0, r1 = int(upper[:, 1].min()), int(upper[:, 1].mean())  # forehead down to the eyes
    assert diff[r0:r1].mean() < 0.002, "the forehead and brows do not change"


def test_batch_equals_single_frames_and_camera_matters(rig):
    with offscreen.OffscreenRenderer(rig, size=(64, 48), supersample=1) as r:
        v = rig.vertices(face=np.zeros((2, 52), np.float32), head=np.array([[0, 0, 0], [0, 0.6, 0]], np.float32))
        batch = r.render(v)
        assert batch.shape == (2, 48, 64, 3)
        np.testing.assert_array_equal(batch[1], r.render(v[1]))
        assert (batch[0] != batch[1]).any(), "a head turn changes the picture"
        side = offscreen.CameraSpec(yaw_deg=90.0, pitch_deg=0.0)
        r.set_camera(side)
        assert (r.render(v[0]) != batch[0]).any()
        with pytest.raises(offscreen.RenderError, match="vertices must be"):
            r.render(np.zeros((10, 3), np.float32))


def test_rig_without_part_labels_renders():
    V = np.array([[-0.1, -0.1, 0], [0.1, -0.1, 0], [0, 0.1, 0]], np.float32)
    rig = VertexOffsetRig(template=V, faces=[[0, 1, 2]], pivot=[0, 0, 0])
    with offscreen.OffscreenRenderer(rig, size=(32, 32), camera=offscreen.CameraSpec(yaw_deg=0, pitch_deg=0)) as r:
        img = r.render(V)
    assert (np.abs(img.astype(int) - img[0, 0].astype(int)).sum(-1) > 30).mean() > 0.1
