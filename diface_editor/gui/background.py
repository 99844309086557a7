"""One call off the GUI thread with typed results: :class:`BackgroundCall` runs ``fn()`` on a
``QThread`` and reports on the GUI thread through ``succeeded(result)`` or ``failed(message)``.
The editor runs the teacher lip sync (alignment + animation, seconds of CPU) this way."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from PySide6 import QtCore

from diface_editor.core.errors import DifaceError

log = logging.getLogger(__name__)


class BackgroundCall(QtCore.QThread):
    """Runs ``fn()`` once on its own thread.

    Signals (queued to the receivers' thread):
        succeeded(object): what ``fn`` returned.
        failed(str): one sentence: a :class:`DifaceError`'s message, or ``"{what} failed (...)"``
            for an unexpected exception (logged with its traceback).
    """

    succeeded = QtCore.Signal(object)
    failed = QtCore.Signal(str)

    def __init__(self, fn: Callable[[], Any], what: str, parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self._fn = fn
        self._what = what
        self.setObjectName(f"diface-{what.replace(' ', '-')}")

    def run(self) -> None:
        try:
            result = self._fn()
        except DifaceError as e:
            self.failed.emit(str(e))
        except Exception as e:  # noqa: BLE001 - shown to the user, logged with the traceback
            log.exception("%s failed", self._what)
            self.failed.emit(f"{self._what} failed ({type(e).__name__}: {e})")
        else:
            self.succeeded.emit(result)
