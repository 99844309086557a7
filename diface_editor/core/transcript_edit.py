"""The undo step of a transcript edit in the editor: the new transcript and, once the engine has
re-solved the changed window, that motion too (one undo step for both).

A retimed boundary, an edited, deleted or inserted word is pushed at once (the lane shows it, the
document version moves on); the re-solve of the window around it runs on the engine and its result
is *attached* to the same command (:meth:`~diface_editor.core.commands.AttachesMotion.attach`) rather
than pushed as a second step, so one Undo restores the transcript and the motion together.
"""

from __future__ import annotations

import logging

from diface_editor.core.commands import AttachesMotion, SetTranscript

log = logging.getLogger(__name__)


class TranscriptEdit(AttachesMotion, SetTranscript):
    """Set the transcript; later also the motion of its re-solve (see the module docstring).

    Args:
        new: the edited transcript.
        text: the undo label ("retime phone AA", "edit word 'cat'").
    """
