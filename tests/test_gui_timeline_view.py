"""The timeline's view as an animator sees it (issue 15, item 9): the "0 s" label after the first
fit, the view following the playhead through a loop, legends on a backing that sets them off the
curves. A standalone TimelineWidget, shown (pytest-xvfb)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("PySide6")

from PySide6 import QtCore, QtGui  # noqa: E402

from diface_editor.core.animation import Animation  # noqa: E402
from diface_editor.core.document import Document  # noqa: E402

pytestmark = pytest.mark.gui


def _document(seconds=10.0, fps=30.0, face=None):
    T = int(round(seconds * fps))
    f = np.zeros((T, 52), np.float32) if face is None else face
    return Document(Animation(fps, f, np.zeros((T, 3), np.float32)))


@pytest.fixture()
def timeline(qtbot):
    from diface_editor.gui.theme import apply_dark_theme
    from diface_editor.gui.timeline import TimelineWidget

    apply_dark_theme(QtGui.QGuiApplication.instance())
    tl = TimelineWidget()
    qtbot.addWidget(tl)
    tl.resize(1100, 420)
    yield tl
    tl.set_document(None)


def _labels(axis) -> list[str]:
    img = QtGui.QImage(10, 10, QtGui.QImage.Format_ARGB32)
    p = QtGui.QPainter(img)
    try:
        specs = axis.generateDrawSpecs(p)
    finally:
        p.end()
    return [text for _rect, _flags, text in specs[2]] if specs else []


@pytest.mark.parametrize("width", [700, 1100, 1600])
def test_zero_label_shows_after_the_first_fit(timeline, qtbot, width):
    timeline.resize(width, 420)
    timeline.show()
    timeline.set_document(_document(9.34))
    qtbot.waitExposed(timeline)
    qtbot.wait(50)
    labels = _labels(timeline.seconds_axis)
    assert "0 s" in labels and "1 s" in labels, labels
    assert "0" in _labels(timeline.frames_axis)


def test_the_view_follows_the_playhead_through_a_loop(timeline, qtbot):
    timeline.show()
    timeline.set_document(_document(10.0))
    qtbot.waitExposed(timeline)
    fit = timeline.wave_vb.viewRange()[0]
    for t in np.arange(0.0, 10.0, 1 / 60):  # the whole clip is in view: playing does not scroll it
        timeline.set_time(float(t), playing=True)
    for t in (0.0, 1 / 60, 2 / 60):  # the loop wraps
        timeline.set_time(t, playing=True)
    assert timeline.wave_vb.viewRange()[0] == pytest.approx(fit, abs=1e-6)
    timeline.set_visible_range(7.0, 9.0)  # zoomed in: pages with the playhead, then back to the start
    for t in np.arange(7.0, 10.0, 1 / 60):
        timeline.set_time(float(t), playing=True)
    x0, x1 = timeline.wave_vb.viewRange()[0]
    assert x0 > 8.0 and x1 >= 10.0
    timeline.set_time(0.0, playing=True)
    x0, x1 = timeline.wave_vb.viewRange()[0]
    assert -0.1 < x0 < 0.0 and x1 - x0 == pytest.approx(2.0, abs=0.05)


def test_legends_have_a_backing_that_stands_off_the_track(timeline, qtbot):
    """The legend boxes are drawn on a semi-opaque backing that differs from the track's background
    (it used to be the background's own colour: the legend looked like text over the curves) and a
    curve running under a legend is dimmed, not hidden."""
    T = 300
    face = np.zeros((T, 52), np.float32)
    face[:, :] = 0.96  # every shown face curve runs along the top, under the legend
    timeline.show()
    timeline.set_document(_document(10.0, face=face))
    timeline.set_visible_curves(["jawOpen"])
    qtbot.waitExposed(timeline)
    qtbot.wait(100)
    img = timeline.glw.grab().toImage()
    for legend, vb in ((timeline.head_legend, timeline.head_vb), (timeline.face_legend, timeline.face_vb)):
        r = timeline.glw.mapFromScene(legend.sceneBoundingRect()).boundingRect()
        inside = QtGui.QColor(img.pixel(r.left() + 3, r.bottom() - 2))  # a corner: no text, no sample line
        v = timeline.glw.mapFromScene(vb.sceneBoundingRect()).boundingRect()
        outside = QtGui.QColor(img.pixel(v.left() + 4, v.center().y() + 15))
        diff = sum(abs(a - b) for a, b in zip(inside.getRgb()[:3], outside.getRgb()[:3]))
        assert diff >= 20, (inside.getRgb(), outside.getRgb())
        brush = legend.opts["brush"].color()
        assert 150 <= brush.alpha() < 255  # semi-opaque
    # the jawOpen curve (y = 0.96) passes under the face legend: still visible there, but dimmed
    r = timeline.glw.mapFromScene(timeline.face_legend.sceneBoundingRect()).boundingRect()
    y = int(round(timeline.glw.mapFromScene(timeline.face_vb.mapViewToScene(QtCore.QPointF(5.0, 0.96))).y()))
    curve = QtGui.QColor(timeline.curve_colors(["jawOpen"])["jawOpen"])
    assert r.top() < y < r.bottom(), (r, y)
    row_under = [QtGui.QColor(img.pixel(x, yy)) for x in range(r.left() + 2, r.left() + 30) for yy in (y - 1, y, y + 1)]
    row_free = [QtGui.QColor(img.pixel(x, yy)) for x in range(r.left() - 60, r.left() - 30) for yy in (y - 1, y, y + 1)]

    def closeness(cs):  # how near the brightest pixel comes to the curve's colour
        return min(sum(abs(a - b) for a, b in zip(c.getRgb()[:3], curve.getRgb()[:3])) for c in cs)

    assert closeness(row_free) < 60  # the curve is drawn there
    assert closeness(row_under) > closeness(row_free) + 40  # under the legend it is dimmed


def test_redrawing_keyframe_pins_reuses_their_pictures(qtbot):
    """Pins are redrawn on every drag step and every result: the marker pictures are made once (a new
    pen per redraw had re-rendered every marker and grown pyqtgraph's symbol atlas without bound)."""
    import pyqtgraph as pg

    from diface_editor.core.keyframes import Keyframe
    from diface_editor.gui.timeline.items import KeyLaneItem, ValuePinItem

    keys = [Keyframe(10 * i, "head", values=(0.0, 0.0, 0.0)) for i in range(5)]
    pins, lane = ValuePinItem(limits=(-70.0, 70.0)), KeyLaneItem()
    plot = pg.PlotWidget()
    qtbot.addWidget(plot)
    plot.addItem(pins)
    plot.addItem(lane)
    sizes = []
    for step in range(40):
        brushes = [pg.mkBrush("#ffcc00") for _ in keys]  # fresh objects, as the timeline makes them
        pins.set_pins(keys, [k.frame / 30 for k in keys], [float(step + i) for i in range(5)], [0] * 5, brushes)
        lane.set_keys(keys, [0.0] * 5, brushes, 30.0)
        sizes.append((len(pins.fragmentAtlas._coords), len(lane.fragmentAtlas._coords)))
    assert sizes[-1] == sizes[0] == (1, 1)
    assert pins.pin_pos(keys[2], 0) == (keys[2].frame / 30, 41.0)
