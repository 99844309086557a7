"""The undo step of a transcript edit in the editor: the new transcript and, once the engine has
re-solved the changed window, that motion too (one undo step for both).

A retimed boundary, an edited, deleted or inserted word is pushed at once (the lane shows it, the
document version moves on); the re-solve of the window around it runs on the engine and its result
is *attached* to the same command (:meth:`TranscriptEdit.attach`) rather than pushed as a second
step, so one Undo restores the transcript and the motion together.
"""

from __future__ import annotations

import logging

from diface_editor.core.commands import Command, SetTranscript
from diface_editor.core.document import Document
from diface_editor.core.transcript import Transcript

log = logging.getLogger(__name__)


class TranscriptEdit(SetTranscript):
    """Set the transcript; later also the motion of its re-solve (see the module docstring).

    Args:
        new: the edited transcript.
        text: the undo label ("retime phone AA", "edit word 'cat'").
    """

    def __init__(self, new: Transcript | None, text: str = "change transcript") -> None:
        super().__init__(new, text)
        self.motion: Command | None = None

    def attach(self, doc: Document, motion: Command) -> None:
        """Apply ``motion`` (the re-solve's frames) to ``doc`` as part of this step. Only valid while
        this command is the last one applied (the caller checks the document version)."""
        if self.motion is not None:
            raise ValueError("this transcript edit already has its motion")
        motion.do(doc)
        self.motion = motion

    def do(self, doc: Document) -> None:
        super().do(doc)
        if self.motion is not None:
            self.motion.do(doc)

    def undo(self, doc: Document) -> None:
        if self.motion is not None:
            self.motion.undo(doc)
        super().undo(doc)
