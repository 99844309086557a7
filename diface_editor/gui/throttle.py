"""A latest-value throttle for the GUI thread: previews arrive as fast as the sampler makes them,
the views redraw at most every ``interval_ms``."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from PySide6 import QtCore

log = logging.getLogger(__name__)


class LatestThrottle(QtCore.QObject):
    """Calls ``deliver(value)`` with the latest :meth:`offer`-ed value, at most every ``interval_ms``.

    Leading edge: a value offered while idle is delivered at once. Trailing edge: values offered
    within the interval replace each other; the last one is delivered when it ends.
    """

    def __init__(self, interval_ms: int, deliver: Callable[[Any], None], parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self._deliver = deliver
        self._pending: Any = None
        self._timer = QtCore.QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(int(interval_ms))
        self._timer.timeout.connect(self._flush)

    def offer(self, value: Any) -> None:
        """Deliver ``value`` now, or when the current interval ends if a newer one does not replace it."""
        self._pending = value
        if not self._timer.isActive():
            self._flush()

    def clear(self) -> None:
        """Drop a waiting value and end the interval."""
        self._timer.stop()
        self._pending = None

    def _flush(self) -> None:
        value, self._pending = self._pending, None
        if value is not None:
            self._deliver(value)
            self._timer.start()  # the next one no sooner than the interval
