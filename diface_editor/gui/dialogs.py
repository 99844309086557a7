"""Small dialog helpers: error and information boxes that do not block the event loop."""

from __future__ import annotations

import logging

from PySide6 import QtCore, QtWidgets

log = logging.getLogger(__name__)


def show_message(parent: QtWidgets.QWidget | None, title: str, text: str, *, icon=QtWidgets.QMessageBox.Warning,
                 details: str | None = None) -> QtWidgets.QMessageBox:
    """Show a window-modal message box without blocking (``open()``, not ``exec()``); returns it.

    The text is the user-facing sentence; ``details`` (e.g. a traceback) goes behind "Show Details".
    """
    box = QtWidgets.QMessageBox(icon, title, text, QtWidgets.QMessageBox.Ok, parent)
    box.setAttribute(QtCore.Qt.WA_DeleteOnClose)
    box.setObjectName("diface-message")
    if details:
        box.setDetailedText(details)
    box.open()
    log.info("%s: %s", title, text)
    return box


def show_error(parent: QtWidgets.QWidget | None, title: str, text: str, details: str | None = None) -> QtWidgets.QMessageBox:
    return show_message(parent, title, text, icon=QtWidgets.QMessageBox.Critical, details=details)
