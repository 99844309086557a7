"""What keeps the editor fast, as behaviour: the timeline draws only what is in view (and no more
points than pixels, spikes kept), the head track still fits its visible values, and the viewport's
indexed head draws the same frame the rig computes. A shown TimelineWidget / Viewport (pytest-xvfb)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("PySide6")

from PySide6 import QtGui  # noqa: E402

from diface_editor.core.animation import Animation  # noqa: E402
from diface_editor.core.document import Document  # noqa: E402

pytestmark = pytest.mark.gui


def _long_document(minutes=10.0, fps=30.0):
    T = int(round(minutes * 60 * fps))
    t = np.arange(T)[:, None] / fps
    face = np.clip(0.3 + 0.2 * np.sin(t * np.linspace(0.5, 3, 52)), 0, 1).astype(np.float32)
    face[T // 2, :] = 1.0  # a one-frame spike in the middle of the clip
    head = (0.1 * np.sin(t * np.array([0.3, 0.5, 0.7]))).astype(np.float32)
    return Document(Animation(fps, face, head))


@pytest.fixture()
def timeline(qtbot):
    from diface_editor.gui.theme import apply_dark_theme
    from diface_editor.gui.timeline import TimelineWidget

    apply_dark_theme(QtGui.QGuiApplication.instance())
    tl = TimelineWidget()
    qtbot.addWidget(tl)
    tl.resize(1100, 420)
    tl.show()
    qtbot.waitExposed(tl)
    yield tl
    tl.set_document(None)


def test_curves_draw_only_the_visible_range(timeline, qtbot):
    doc = _long_document()
    timeline.set_document(doc)
    timeline.set_visible_curves(["jawOpen", "browInnerUp"])
    timeline.set_visible_range(100.0, 120.0)
    timeline.glw.viewport().repaint()
    curves = timeline.head_curves + list(timeline.face_curves.values())
    assert len(curves) == 5
    for c in curves:  # 20 s at 30 fps: about 600 samples of 18000, not the whole clip
        assert 600 <= c.drawn_points <= 604
        i0, i1 = c.visible_slice(100.0, 120.0)
        x, _ = c.getData()
        assert x[i0] <= 100.0 and x[i1 - 1] >= 120.0


def test_whole_clip_is_downsampled_to_the_pixels_and_keeps_spikes(timeline):
    doc = _long_document()
    timeline.set_document(doc)
    timeline.set_visible_curves(["jawOpen"])
    timeline.set_visible_range(0.0, doc.duration)
    timeline.glw.viewport().repaint()
    c = timeline.face_curves["jawOpen"]
    width = int(c.getViewBox().width())
    assert c.drawn_points <= 2 * width + 4  # min and max per pixel column
    key, poly = c._poly
    ys = np.array([poly[i].y() for i in range(len(poly))])
    assert ys.max() == pytest.approx(1.0)  # the one-frame spike still reaches the top


def test_head_track_fits_the_visible_values(timeline, qtbot):
    doc = _long_document()
    timeline.set_document(doc)
    timeline.set_visible_range(0.0, 5.0)
    timeline.glw.viewport().repaint()
    qtbot.wait(50)
    lo, hi = timeline.head_vb.viewRange()[1]
    ypr = timeline._ypr[:151]  # degrees
    assert lo <= ypr.min() and hi >= ypr.max()


def test_indexed_viewport_matches_the_rig_and_moves_the_mouth(qtbot):
    pytest.importorskip("vispy")
    from diface_editor.core.arkit import ARKIT_NAMES
    from diface_editor.gui.viewport import Viewport

    T = 3
    face = np.zeros((T, 52), np.float32)
    face[2, ARKIT_NAMES.index("jawOpen")] = 1.0
    v = Viewport()
    qtbot.addWidget(v)
    v.resize(500, 400)
    v.show()
    qtbot.waitExposed(v)
    v.set_document(Document(Animation(30.0, face, np.zeros((T, 3), np.float32))))
    shut = v.render_image().astype(int)
    v.set_time(2 / 30)
    np.testing.assert_allclose(v.last_vertices, v.rig.frame_vertices(v._anim(), 2), atol=1e-6)
    open_ = v.render_image().astype(int)
    v.close_canvas()
    h, w = shut.shape[:2]
    centre = shut[h // 3: 2 * h // 3, w // 3: 2 * w // 3, :3]
    assert centre.std() > 5  # a shaded head, not a flat fill
    changed = np.abs(open_[..., :3] - shut[..., :3]).sum(-1) > 30
    rows = np.nonzero(changed.any(1))[0]
    assert len(rows) and rows.mean() > h * 0.45  # the jaw moved: the lower face changed
