"""pyqtgraph pieces of the timeline: time axes, the track view box, the waveform and the keyframe lane."""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore

# ---------------------------------------------------------------------------------------- marker styles
_MARKER_PENS: dict[tuple, object] = {}
_MARKER_BRUSHES: dict[int, object] = {}


def marker_pen(color: str = "#1e1f22", width: float = 1.0):
    """One shared ``QPen`` per (colour, width) for scatter markers: pyqtgraph's symbol atlas keys its
    cached pictures by the pen and brush *objects*, so a new ``mkPen`` per update re-rendered every
    marker (and grew the atlas) each time the keyframes were redrawn."""
    key = (color, float(width))
    pen = _MARKER_PENS.get(key)
    if pen is None:
        pen = _MARKER_PENS[key] = pg.mkPen(color, width=width)
    return pen


def marker_brushes(brushes) -> list:
    """The shared ``QBrush`` of each brush's colour (see :func:`marker_pen`)."""
    out = []
    for b in brushes:
        b = pg.mkBrush(b)
        key = b.color().rgba()
        shared = _MARKER_BRUSHES.get(key)
        if shared is None:
            shared = _MARKER_BRUSHES[key] = b
        out.append(shared)
    return out


# ---------------------------------------------------------------------------------------- axes


#: how far a time label may reach past the ends of the track (into the left axis column and the right
#: margin): after a fit "0 s" sits 1 % of the view from the left edge, half a label too close to it
LABEL_OVERHANG_PX = 14


class _OverhangAxis(pg.AxisItem):
    """An axis whose tick labels may overhang its ends by ``LABEL_OVERHANG_PX``. pyqtgraph hides a
    horizontal axis' label that does not fit its bounding rectangle, and with the grid on (the
    tracks' time grid) it ignores the ``hideOverlappingLabels`` tolerance, so it is widened here."""

    def boundingRect(self):
        return super().boundingRect().adjusted(-LABEL_OVERHANG_PX, 0, LABEL_OVERHANG_PX, 0)


class SecondsAxis(_OverhangAxis):
    """Time axis whose values are seconds, labelled ``1.5 s`` or ``1:02.5`` past a minute."""

    def tickStrings(self, values, scale, spacing):
        out = []
        for v in values:
            if abs(v) < 1e-9:
                v = 0.0
            if spacing >= 1 and abs(v - round(v)) < 1e-6:
                s = f"{int(round(v))}"
            else:
                decimals = max(0, min(3, -int(math.floor(math.log10(spacing))))) if spacing > 0 else 1
                s = f"{v:.{decimals}f}"
            if abs(v) >= 60:
                m, sec = divmod(abs(v), 60)
                s = ("-" if v < 0 else "") + f"{int(m)}:{sec:0{4 if spacing < 1 else 2}.{1 if spacing < 1 else 0}f}"
            out.append(s + (" s" if abs(v) < 60 else ""))
        return out


class FramesAxis(_OverhangAxis):
    """Axis over the same seconds coordinate, ticked and labelled in whole frames at ``fps``."""

    def __init__(self, *a, fps: float = 30.0, **kw) -> None:
        super().__init__(*a, **kw)
        self.fps = float(fps)

    def set_fps(self, fps: float) -> None:
        self.fps = float(fps)
        self.picture = None
        self.update()

    def tickValues(self, minVal, maxVal, size):
        f = self.fps
        levels = super().tickValues(minVal * f, maxVal * f, size)
        out = []
        for spacing, vals in levels:
            if spacing < 1:  # no fractional frames
                continue
            vals = [v for v in vals if abs(v - round(v)) < 1e-6]
            out.append((spacing / f, [v / f for v in vals]))
        return out or [(1.0 / f, [])]

    def tickStrings(self, values, scale, spacing):
        return [f"{int(round(v * self.fps))}" for v in values]


# ---------------------------------------------------------------------------------------- view box


class TrackViewBox(pg.ViewBox):
    """A timeline track: wheel zooms time around the cursor, middle (or Alt+left) drag pans,
    left click seeks, left drag selects a time range, double click asks for a keyframe.

    Signals (x in seconds):
        clicked(float), double_clicked(float), range_dragged(float x0, float x1, bool finished)
    """

    clicked = QtCore.Signal(float)
    double_clicked = QtCore.Signal(float)
    range_dragged = QtCore.Signal(float, float, bool)

    def __init__(self, y_zoom: bool = False, **kw) -> None:
        super().__init__(enableMenu=False, **kw)
        self.setMouseEnabled(x=True, y=False)
        self.y_zoom = y_zoom

    def _x(self, scene_pos) -> float:
        return float(self.mapSceneToView(scene_pos).x())

    def mouseClickEvent(self, ev):
        if ev.button() == QtCore.Qt.LeftButton:
            ev.accept()
            x = self._x(ev.scenePos())
            (self.double_clicked if ev.double() else self.clicked).emit(x)
        else:
            super().mouseClickEvent(ev)

    def mouseDragEvent(self, ev, axis=None):
        alt = bool(ev.modifiers() & QtCore.Qt.AltModifier)
        if ev.button() == QtCore.Qt.MiddleButton or (ev.button() == QtCore.Qt.LeftButton and alt):
            ev.accept()
            p0 = self.mapSceneToView(ev.lastScenePos())
            p1 = self.mapSceneToView(ev.scenePos())
            self.translateBy(x=float(p0.x() - p1.x()))
        elif ev.button() == QtCore.Qt.LeftButton:
            ev.accept()
            self.range_dragged.emit(self._x(ev.buttonDownScenePos()), self._x(ev.scenePos()), bool(ev.isFinish()))
        else:
            super().mouseDragEvent(ev, axis)

    def wheelEvent(self, ev, axis=None):
        mods = ev.modifiers()
        if mods & QtCore.Qt.ShiftModifier:  # pan in time
            ev.accept()
            (x0, x1), _ = self.viewRange()
            delta = ev.delta() if hasattr(ev, "delta") else ev.angleDelta().y()
            self.translateBy(x=-(x1 - x0) * 0.1 * np.sign(delta))
        elif mods & QtCore.Qt.ControlModifier and self.y_zoom:
            self.setMouseEnabled(x=False, y=True)
            try:
                super().wheelEvent(ev, axis=1)
            finally:
                self.setMouseEnabled(x=True, y=False)
        else:
            super().wheelEvent(ev, axis=0)


# ---------------------------------------------------------------------------------------- waveform


class WaveformItem(pg.PlotDataItem):
    """Min/max peaks of an audio clip at the view's resolution (one vertical segment per pixel).

    Only the visible range is drawn (clip-to-view): on every range change it asks the clip's peak
    pyramid for ``width_px`` bins between the visible start and end, so drawing costs the same on a
    10-second and a 10-minute clip.
    """

    def __init__(self, color) -> None:
        super().__init__(pen=pg.mkPen(color, width=1), connect="pairs", antialias=False)
        self._clip = None
        self._last: tuple | None = None
        self.setZValue(-5)

    def set_clip(self, clip) -> None:
        self._clip = clip
        self._last = None
        if clip is None:
            self.setData([], [])
        else:
            self.refresh()

    def refresh(self) -> None:
        """Re-read peaks for the current view (cheap; called on every range change)."""
        vb = self.getViewBox()
        if self._clip is None or vb is None:
            return
        (x0, x1), _ = vb.viewRange()
        dur = float(self._clip.duration)
        a, b = max(0.0, x0), min(dur, x1)
        width = max(16, int(vb.width()) or 800)
        key = (round(a, 6), round(b, 6), width)
        if key == self._last:
            return
        self._last = key
        if b <= a:
            self.setData([], [])
            return
        n_bins = max(1, int(round(width * (b - a) / max(x1 - x0, 1e-9))))
        mins, maxs = self._clip.peaks(a, b, n_bins)
        n = len(mins)
        xs = a + (np.arange(n) + 0.5) * ((b - a) / n)
        x = np.repeat(xs, 2)
        y = np.empty(2 * n, np.float32)
        y[0::2] = mins
        y[1::2] = maxs
        # a silent stretch still shows a hairline
        flat = (y[1::2] - y[0::2]) < 1e-3
        y[0::2][flat] -= 5e-3
        y[1::2][flat] += 5e-3
        self.setData(x, y)


# ---------------------------------------------------------------------------------------- curves


class CurveItem(pg.GraphicsObject):
    """A curve of samples over time (a head angle in degrees or a blendshape weight), drawn fast.

    Each paint draws only the samples in the visible time range (two binary searches), and when
    there are more of them than pixels it draws each pixel column's min and max instead (peak
    downsampling: spikes stay visible), so a frame costs the same on a 10-second and a 10-minute clip.
    The polyline is kept until the view, the width or the data change. Replaces ``PlotDataItem`` with
    ``setClipToView`` + ``setDownsampling`` in the timeline, which re-ran its data pipeline (and its
    bounds) for every item on every range change. Legends read ``opts`` like a ``PlotDataItem``'s.

    Args:
        pen: the curve's pen (cosmetic, so its width is in pixels).
        name: shown by a legend.
    """

    def __init__(self, pen=None, name: str | None = None) -> None:
        super().__init__()
        self.opts = {"pen": pg.mkPen(pen), "name": name, "antialias": False, "symbol": None,
                     "fillLevel": None, "fillBrush": None}
        self._x = np.zeros(0)
        self._y = np.zeros(0)
        self._rect = QtCore.QRectF()
        self._poly: tuple | None = None  # (key, QPolygonF)
        self.drawn_points = 0  # points in the last polyline (tests: what was drawn)

    def name(self) -> str | None:
        return self.opts["name"]

    def setData(self, x, y) -> None:
        """(T,) times in seconds (increasing) and (T,) values."""
        x = np.asarray(x, np.float64).ravel()
        y = np.asarray(y, np.float64).ravel()
        if x.shape != y.shape:
            raise ValueError(f"x and y differ in length ({len(x)} vs {len(y)})")
        self.prepareGeometryChange()
        self._x, self._y, self._poly = x, y, None
        fin = y[np.isfinite(y)]
        if len(x) and len(fin):
            self._rect = QtCore.QRectF(x[0], float(fin.min()), max(x[-1] - x[0], 1e-9),
                                       max(float(fin.max() - fin.min()), 1e-9))
        else:
            self._rect = QtCore.QRectF()
        self.informViewBoundsChanged()
        self.update()

    def getData(self) -> tuple[np.ndarray, np.ndarray]:
        return self._x, self._y

    def boundingRect(self) -> QtCore.QRectF:
        return self._rect

    def pixelPadding(self) -> float:
        return 0.0

    def dataBounds(self, ax: int, frac: float = 1.0, orthoRange=None):
        """(min, max) along ``ax`` (0 time, 1 value); for values only the samples in ``orthoRange``
        (the visible times) count, which the head track's auto-visible value range asks for."""
        if not len(self._x):
            return None, None
        if ax == 0:
            return float(self._x[0]), float(self._x[-1])
        y = self._y
        if orthoRange is not None:
            i0, i1 = np.searchsorted(self._x, [orthoRange[0], orthoRange[1]])
            y = y[max(0, i0 - 1):i1 + 1]
        y = y[np.isfinite(y)]
        if not len(y):
            return None, None
        return float(y.min()), float(y.max())

    def visible_slice(self, x0: float, x1: float) -> tuple[int, int]:
        """Indices ``[i0, i1)`` of the samples between ``x0`` and ``x1`` seconds, one more each side."""
        i0, i1 = np.searchsorted(self._x, [x0, x1])
        return max(0, int(i0) - 1), min(len(self._x), int(i1) + 1)

    def _polyline(self, x0: float, x1: float, width_px: int):
        i0, i1 = self.visible_slice(x0, x1)
        n = i1 - i0
        step = max(1, int(np.ceil(n / max(width_px, 1))))
        key = (i0, i1, step) if step == 1 else (i0 // step, i1 // step, step)
        if self._poly is not None and self._poly[0] == key:
            return self._poly[1]
        if step == 1:
            xs, ys = self._x[i0:i1], self._y[i0:i1]
        else:  # min and max per pixel column, at the column's time
            a = (i0 // step) * step
            b = min(len(self._x), -(-i1 // step) * step)
            nb = (b - a) // step
            yy = self._y[a:a + nb * step].reshape(nb, step)
            xs = np.repeat(self._x[a:a + nb * step:step] + 0.5 * step * (self._x[1] - self._x[0]), 2)
            ys = np.empty(2 * nb)
            ys[0::2] = yy.min(1)
            ys[1::2] = yy.max(1)
        poly = pg.functions.create_qpolygonf(len(xs))
        arr = pg.functions.ndarray_from_qpolygonf(poly)
        arr[:, 0] = xs
        arr[:, 1] = ys
        self._poly = (key, poly)
        self.drawn_points = len(xs)
        return poly

    def paint(self, p, *args) -> None:
        vb = self.getViewBox()
        if vb is None or len(self._x) < 2:
            return
        (x0, x1), _ = vb.viewRange()
        poly = self._polyline(x0, x1, int(vb.width()) or 800)
        p.setPen(self.opts["pen"])
        p.drawPolyline(poly)


# ---------------------------------------------------------------------------------------- keyframes


def claim_under_pointer(item, ev, clicks: bool = False) -> None:
    """Hover handler part: when a pin of ``item`` is under the pointer, claim the coming left drag
    (and click) before the playhead does. pyqtgraph gives a drag to the first item that accepted it
    while hovering (items are asked in z order), and the playhead always accepts; keys win over it."""
    if ev.isExit() or item._hit(ev.pos()) is None:
        return
    ev.acceptDrags(QtCore.Qt.LeftButton)
    if clicks:
        ev.acceptClicks(QtCore.Qt.LeftButton)


class KeyLaneItem(pg.ScatterPlotItem):
    """Keyframe pins as diamonds; a pin can be dragged in time (snapped to frames).

    The item shows the drag; when the drag finishes it calls ``on_drag_finished(key, frame)`` (the
    undoable command is made there). ``on_clicked(key)`` is called for a plain click.
    """

    def __init__(self, fps: float = 30.0, **kw) -> None:
        super().__init__(pxMode=True, hoverable=True, tip=None, **kw)
        self.fps = fps
        self._keys: list = []
        self._ys: np.ndarray = np.zeros(0)
        self._brushes: list = []
        self._drag: tuple | None = None  # (index, key, offset seconds)
        self.on_drag_finished = None
        self.on_clicked = None
        self.setZValue(35)  # above the playhead (z 30): a key under the playhead is still grabbed

    def hoverEvent(self, ev):
        super().hoverEvent(ev)
        claim_under_pointer(self, ev, clicks=True)

    def set_keys(self, keys: list, ys: list[float], brushes: list, fps: float) -> None:
        self.fps = float(fps)
        self._keys = list(keys)
        self._ys = np.asarray(ys, float)
        self._brushes = list(brushes)
        self._draw([k.frame / self.fps for k in self._keys])

    def _draw(self, xs) -> None:
        self.setData(x=np.asarray(xs, float), y=self._ys, symbol="d", size=11,
                     brush=marker_brushes(self._brushes), pen=marker_pen(), data=list(range(len(self._keys))))

    def _hit(self, pos) -> int | None:
        pts = self.pointsAt(pos)
        if pts is None or len(pts) == 0:
            return None
        return int(pts[0].data())

    def mouseClickEvent(self, ev):
        if ev.button() != QtCore.Qt.LeftButton:
            ev.ignore()
            return
        i = self._hit(ev.pos())
        if i is None:
            ev.ignore()
            return
        ev.accept()
        if self.on_clicked is not None:
            self.on_clicked(self._keys[i])

    def mouseDragEvent(self, ev):
        if ev.button() != QtCore.Qt.LeftButton:
            ev.ignore()
            return
        if ev.isStart():
            i = self._hit(ev.buttonDownPos())
            if i is None:
                ev.ignore()
                return
            key = self._keys[i]
            self._drag = (i, key, key.frame / self.fps - float(ev.buttonDownPos().x()))
        if self._drag is None:
            ev.ignore()
            return
        ev.accept()
        i, key, offset = self._drag
        frame = max(0, int(round((float(ev.pos().x()) + offset) * self.fps)))
        xs = [k.frame / self.fps for k in self._keys]
        xs[i] = frame / self.fps
        self._draw(xs)
        if ev.isFinish():
            self._drag = None
            if frame != key.frame and self.on_drag_finished is not None:
                self.on_drag_finished(key, frame)
            else:
                self._draw([k.frame / self.fps for k in self._keys])


class ValuePinItem(pg.ScatterPlotItem):
    """Keyframe pins on curves; a pin can be dragged up or down to change that channel's pinned
    value: head keys on the yaw/pitch/roll curves (degrees), face keys on the shown blendshape
    curves (weights). Every value is kept in ``limits``: one ``(low, high)`` for all channels (face:
    0..1) or a ``{channel: (low, high)}`` dict (head: a plausible range per angle).

    While a pin is dragged the track's value axis is frozen (its auto-range is off until the drag
    ends), so a pointer position always means the same value: a pin near the edge does not push
    the axis out and run away.

    The usual pyqtgraph drag idiom: at the drag start the offset between the pin and the pointer is
    kept (no jump), while dragging only this item moves (and shows the value), and when the drag
    finishes ``on_value_drag_finished(key, channel, value)`` is called once (the undoable command
    and the solve are made there). ``on_value_dragging(key, channel, value)`` follows the drag (from
    its start to the last move), and
    ``on_value_drag_ended()`` comes last, however the drag ended (also when the value did not change
    or the document changed under it), so a live view of the dragged value can be taken down.
    ``describe(channel, value) -> str`` labels the value while dragging.
    """

    def __init__(self, describe=None, limits: tuple[float, float] | dict | None = None, size: int = 10, **kw) -> None:
        super().__init__(pxMode=True, hoverable=True, tip=None, **kw)
        self.describe = describe or (lambda c, v: f"{('yaw', 'pitch', 'roll')[c]} {v:+.1f}°")
        self.limits = limits
        self._size = size
        self._keys: list = []
        self._xs = np.zeros(0)
        self._ys = np.zeros(0)
        self._chans: list[int] = []
        self._brushes: list = []
        self._drag: tuple | None = None  # (index, key, channel, offset degrees)
        self._frozen: bool | None = None  # the view's y auto-range before a drag froze it
        self.on_value_drag_finished = None
        self.on_value_dragging = None
        self.on_value_drag_ended = None
        self.label = pg.TextItem(color="#f4f4f4", anchor=(-0.15, 0.5), fill=pg.mkBrush(30, 31, 34, 210))
        self.label.setZValue(40)
        self.label.hide()
        self.setZValue(35)  # above the playhead (z 30): a pin under the playhead can still be grabbed

    def set_pins(self, keys: list, xs, ys, channels: list[int], brushes: list) -> None:
        """One pin per (keyframe, channel): ``keys[i]`` at ``xs[i]`` seconds, value ``ys[i]`` of
        channel ``channels[i]`` (head: 0 yaw, 1 pitch, 2 roll in degrees; face: the channel index)."""
        if self._drag is not None:  # the document changed under a drag: drop the drag
            self._drag = None
            self.label.hide()
            self._thaw()
            if self.on_value_drag_ended is not None:
                self.on_value_drag_ended()
        self._keys, self._chans = list(keys), list(channels)
        self._xs, self._ys = np.asarray(xs, float), np.asarray(ys, float)
        self._brushes = list(brushes)
        self._draw(self._ys)

    def _draw(self, ys) -> None:
        self.setData(x=self._xs, y=np.asarray(ys, float), symbol="d", size=self._size,
                     brush=marker_brushes(self._brushes), pen=marker_pen(), data=list(range(len(self._keys))))

    def pin_pos(self, key, channel: int) -> tuple[float, float] | None:
        """(seconds, value) of the pin of ``key`` for ``channel`` (tests, benchmarks)."""
        for i, (k, c) in enumerate(zip(self._keys, self._chans)):
            if k == key and c == channel:
                return float(self._xs[i]), float(self._ys[i])
        return None

    def _hit(self, pos) -> int | None:
        pts = self.pointsAt(pos)
        if pts is None or len(pts) == 0:
            return None
        # pins of one keyframe may overlap: take the one nearest to the pointer
        best = min(pts, key=lambda p: (abs(p.pos().y() - pos.y()), abs(p.pos().x() - pos.x())))
        return int(best.data())

    def limits_of(self, channel: int) -> tuple[float, float] | None:
        """The ``(low, high)`` a value of ``channel`` is kept in (None: unlimited)."""
        if isinstance(self.limits, dict):
            return self.limits.get(int(channel))
        return self.limits

    def _freeze(self) -> None:
        vb = self.getViewBox()
        if vb is not None and self._frozen is None:
            self._frozen = bool(vb.autoRangeEnabled()[1])
            vb.disableAutoRange(axis=pg.ViewBox.YAxis)

    def _thaw(self) -> None:
        vb, auto, self._frozen = self.getViewBox(), self._frozen, None
        if vb is not None and auto:
            vb.enableAutoRange(axis=pg.ViewBox.YAxis)

    def hoverEvent(self, ev):
        super().hoverEvent(ev)
        claim_under_pointer(self, ev)

    def mouseClickEvent(self, ev):
        ev.ignore()  # clicks go to the track (seek)

    def mouseDragEvent(self, ev):
        if ev.button() != QtCore.Qt.LeftButton:
            ev.ignore()
            return
        if ev.isStart():
            i = self._hit(ev.buttonDownPos())
            if i is None:
                ev.ignore()
                return
            self._drag = (i, self._keys[i], self._chans[i], float(self._ys[i]) - float(ev.buttonDownPos().y()))
            self._freeze()
            if self.label.parentItem() is None and self.getViewBox() is not None:
                self.getViewBox().addItem(self.label, ignoreBounds=True)
        if self._drag is None:
            ev.ignore()
            return
        ev.accept()
        i, key, chan, offset = self._drag
        deg = float(ev.pos().y()) + offset
        lim = self.limits_of(chan)
        if lim is not None:
            deg = float(np.clip(deg, *lim))
        ys = self._ys.copy()
        ys[i] = deg
        self._draw(ys)
        self.label.setText(self.describe(chan, deg))
        self.label.setPos(float(self._xs[i]), deg)
        self.label.show()
        if ev.isFinish():
            self._drag = None
            self.label.hide()
            self._thaw()
            try:
                if abs(deg - float(self._ys[i])) > 1e-6 and self.on_value_drag_finished is not None:
                    self.on_value_drag_finished(key, chan, deg)
                else:
                    self._draw(self._ys)
            finally:
                if self.on_value_drag_ended is not None:
                    self.on_value_drag_ended()
        elif self.on_value_dragging is not None:
            self.on_value_dragging(key, chan, deg)
