"""The typed values of an edit session: job kinds, options, jobs, pending variants and the outcome of
a finished job (see :class:`~diface_editor.engine.session.EditSession`)."""


from __future__ import annotations

import enum
import logging
from collections.abc import Callable
from dataclasses import dataclass

from diface_editor.core.animation import Animation
from diface_editor.engine.requests import (
    Request,
)

log = logging.getLogger(__name__)

PARTS = ("face", "head")


class JobKind(enum.Enum):
    """What a job is; the value is the name shown to the user."""

    GENERATE = "generate"
    RESAMPLE = "resample selection"
    VARIANTS = "variants"
    SOLVE = "solve keyframe"
    SWAP = "swap pose"
    LIPSYNC = "lip sync from transcript"
    TRANSCRIPT = "solve transcript change"

    @property
    def long(self) -> bool:
        """A long job: a keyframe edit does not cancel it for a re-solve (its result goes stale)."""
        return self in (JobKind.GENERATE, JobKind.RESAMPLE, JobKind.VARIANTS, JobKind.LIPSYNC)


@dataclass(frozen=True)
class EditOptions:
    """Per-edit choices of the Generate panel (not saved with the project).

    Attributes:
        parts: what an edit regenerates: ``("face",)``, ``("head",)`` or both.
        seed_locked: True: every edit uses the document's seed; False: a new random seed per edit
            (written back to the document's settings so it can be locked and reproduced).
        auto_solve: re-solve a window around every keyframe change.
        interactive_steps: sampler steps for keyframe and swap edits (``None``: the panel's steps);
            few steps keep dragging interactive.
        drag_student: keyframe and swap edits use the model's distilled one-step student (sampler
            ``"student"``); a model without one uses its sampler with ``interactive_steps``.
    """

    parts: tuple[str, ...] = PARTS
    seed_locked: bool = True
    auto_solve: bool = True
    interactive_steps: int | None = None
    drag_student: bool = False


@dataclass(frozen=True)
class EditJob:
    """A job to submit: ``build()`` makes its request from the document as it is when called."""

    kind: JobKind
    label: str  # undo text and status line ("solve keyframe at frame 45")
    build: Callable[[], Request]
    #: the command the result joins as part of the same undo step (a transcript edit), or None: its own step
    attach_to: object | None = None


@dataclass(frozen=True)
class PendingVariants:
    """Candidates of a Variants job waiting for the user's pick.

    Attributes:
        doc_version: the document version they were drawn for (stale once it changes).
        animations: the candidates, each a whole animation.
        changed: ``(start, stop)`` frames in which they may differ from the document.
        label: the job's label.
    """

    doc_version: int
    animations: tuple[Animation, ...]
    changed: tuple[int, int]
    label: str

    def __len__(self) -> int:
        return len(self.animations)

    def get(self, i: int) -> Animation | None:
        """Candidate ``i``, or None when there is no such one."""
        return self.animations[i] if 0 <= i < len(self.animations) else None


# ---------------------------------------------------------------------------- outcomes
@dataclass(frozen=True)
class Applied:
    """A job's result was taken (``seconds``: how long the job took): one undoable command, or none
    when it equals what the document already holds (``changed`` False: e.g. Generate again with
    the seed locked; a no-op gets no history entry)."""

    job_id: int
    label: str
    seconds: float
    changed: bool = True
    note: str = ""  # one more sentence for the status bar (e.g. what reference mode covered)


@dataclass(frozen=True)
class VariantsReady:
    """A result holds several candidates; they wait in :attr:`EditSession.pending_variants`."""

    job_id: int
    variants: PendingVariants


@dataclass(frozen=True)
class Discarded:
    """A result was dropped: a newer job replaced it, or the document changed meanwhile
    (``tell``: worth a status line)."""

    job_id: int
    why: str
    tell: bool


@dataclass(frozen=True)
class Failed:
    """A result could not be applied (``message``: one sentence)."""

    job_id: int
    message: str


Outcome = Applied | VariantsReady | Discarded | Failed


@dataclass(frozen=True)
class KeyframeChange:
    """What :meth:`EditSession.change_keyframes` (or :meth:`~EditSession.change_performance`) did.

    Attributes:
        committed: the keyframe command is on the undo stack (False: ``error`` says why not).
        solve: the re-solve to submit, or None (off, no audio or model, nothing changed, a long job runs).
        note: a status line for the user (a long job runs and its result will be dropped).
        error: why the command was refused.
    """

    committed: bool
    solve: EditJob | None = None
    note: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class TranscriptChange:
    """What :meth:`EditSession.change_transcript` did.

    Attributes:
        committed: the transcript edit is on the undo stack (False: ``error`` says why not).
        solve: the re-solve of the face around the changed span, or None (no change of the phones,
            viseme strength 0, re-solving off, no audio or model, a long job runs); its result
            joins the same undo step.
        frames: the changed frames (the solve's centres).
        note: a status line for the user (a long job runs and its result will be dropped).
        error: why the edit was refused.
    """

    committed: bool
    solve: EditJob | None = None
    frames: tuple[int, ...] = ()
    note: str | None = None
    error: str | None = None


# ---------------------------------------------------------------------------- rules
