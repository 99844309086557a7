"""Qt's undo stack over the document's commands (:mod:`diface_editor.core.commands`).

``QUndoStack`` gives the Edit menu's Undo/Redo actions (with the command's text), the clean state
for the "modified" mark and the History panel (``QUndoView``). The commands themselves are plain
core objects; this module only adapts them.
"""

from __future__ import annotations

from PySide6 import QtGui

from diface_editor.core.commands import Command
from diface_editor.core.document import Document


class _QtCommand(QtGui.QUndoCommand):
    def __init__(self, doc: Document, cmd: Command) -> None:
        super().__init__(cmd.text)
        self.doc = doc
        self.cmd = cmd
        self._already_done = True  # push_command runs do() itself so errors reach the caller

    def redo(self) -> None:
        if self._already_done:
            self._already_done = False
            return
        self.cmd.do(self.doc)

    def undo(self) -> None:
        self.cmd.undo(self.doc)


class DocumentUndoStack(QtGui.QUndoStack):
    """A ``QUndoStack`` bound to one :class:`Document`."""

    def __init__(self, doc: Document, parent=None) -> None:
        super().__init__(parent)
        self.doc = doc

    def push_command(self, cmd: Command) -> None:
        """Apply ``cmd`` to the document and record it. Raises what ``cmd.do`` raises (nothing is recorded)."""
        cmd.do(self.doc)
        self.push(_QtCommand(self.doc, cmd))
