"""A few toolbar icons drawn with QPainter (light strokes that read well on the dark theme; no icon
theme or image files needed)."""

from __future__ import annotations

import math

from PySide6 import QtCore, QtGui

_CACHE: dict[tuple[str, str], QtGui.QIcon] = {}


def _pixmap(draw, color: str, size: int = 32) -> QtGui.QPixmap:
    pm = QtGui.QPixmap(size, size)
    pm.fill(QtCore.Qt.transparent)
    p = QtGui.QPainter(pm)
    p.setRenderHint(QtGui.QPainter.Antialiasing)
    pen = QtGui.QPen(QtGui.QColor(color), size / 11.0, QtCore.Qt.SolidLine, QtCore.Qt.RoundCap, QtCore.Qt.RoundJoin)
    p.setPen(pen)
    p.scale(size / 32.0, size / 32.0)
    draw(p, QtGui.QColor(color))
    p.end()
    return pm


def _undo(p: QtGui.QPainter, c, mirror: bool = False) -> None:
    if mirror:
        p.translate(32, 0)
        p.scale(-1, 1)
    path = QtGui.QPainterPath()
    path.moveTo(9, 12)
    path.lineTo(20, 12)
    path.cubicTo(27, 12, 27, 25, 20, 25)
    path.lineTo(13, 25)
    p.drawPath(path)
    head = QtGui.QPolygonF([QtCore.QPointF(4, 12), QtCore.QPointF(11, 6.5), QtCore.QPointF(11, 17.5)])
    p.setBrush(c)
    p.drawPolygon(head)


def _export(p: QtGui.QPainter, c) -> None:
    p.drawPolyline(QtGui.QPolygonF([QtCore.QPointF(11, 13), QtCore.QPointF(6, 13), QtCore.QPointF(6, 27),
                                    QtCore.QPointF(26, 27), QtCore.QPointF(26, 13), QtCore.QPointF(21, 13)]))
    p.drawLine(QtCore.QPointF(16, 20), QtCore.QPointF(16, 4))
    p.drawPolyline(QtGui.QPolygonF([QtCore.QPointF(11, 9), QtCore.QPointF(16, 4), QtCore.QPointF(21, 9)]))


def _star(p: QtGui.QPainter, c, cx=14.0, cy=17.0, r=10.0) -> None:
    pts = []
    for i in range(8):
        a = math.pi / 4 * i - math.pi / 2
        rr = r if i % 2 == 0 else r * 0.32
        pts.append(QtCore.QPointF(cx + rr * math.cos(a), cy + rr * math.sin(a)))
    p.setBrush(c)
    p.drawPolygon(QtGui.QPolygonF(pts))


def _generate(p: QtGui.QPainter, c) -> None:
    _star(p, c, 13, 18, 10)
    _star(p, c, 25, 7, 4.5)


DRAW = {"undo": _undo, "redo": lambda p, c: _undo(p, c, mirror=True), "export": _export, "generate": _generate}


def icon(name: str, color: str = "#d7d9dc") -> QtGui.QIcon:
    """A QIcon named ``undo``, ``redo``, ``export`` or ``generate`` (normal and a dim disabled state)."""
    key = (name, color)
    if key not in _CACHE:
        ic = QtGui.QIcon()
        for size in (16, 24, 32, 48):
            ic.addPixmap(_pixmap(DRAW[name], color, size), QtGui.QIcon.Normal)
            ic.addPixmap(_pixmap(DRAW[name], "#5d6169", size), QtGui.QIcon.Disabled)
        _CACHE[key] = ic
    return _CACHE[key]
