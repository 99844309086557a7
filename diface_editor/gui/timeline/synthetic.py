"""A synthetic pyqtgraph mouse-drag event, for driving the timeline's drag handlers from tests and
the ``edit-gui`` benchmark exactly as a user's drag would (start, moves, finish)."""

from __future__ import annotations

from PySide6 import QtCore


class SyntheticDrag:
    """A left-button drag event in the item's (= the view's data) coordinates (seconds, degrees).

    ``accepted`` is None until the handler calls ``accept()`` (True) or ``ignore()`` (False).
    """

    def __init__(self, down: tuple[float, float], pos: tuple[float, float], start: bool = False,
                 finish: bool = False) -> None:
        self._down, self._pos = QtCore.QPointF(*down), QtCore.QPointF(*pos)
        self._start, self._finish = start, finish
        self.accepted: bool | None = None

    def button(self):
        return QtCore.Qt.LeftButton

    def isStart(self) -> bool:
        return self._start

    def isFinish(self) -> bool:
        return self._finish

    def buttonDownPos(self):
        return self._down

    def pos(self):
        return self._pos

    def accept(self) -> None:
        self.accepted = True

    def ignore(self) -> None:
        self.accepted = False
