"""Events a job emits, in order: :class:`JobStarted`, any number of :class:`JobProgress`, then exactly
one of :class:`JobResult`, :class:`JobFailed` or :class:`JobCancelled` (a job superseded before it
started emits only :class:`JobCancelled`).

Every event carries the ``doc_version`` the job was submitted with: the GUI applies a result only if
the document still has that version.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from diface_editor.core.animation import Animation


@dataclass(frozen=True)
class JobEvent:
    job_id: int
    doc_version: int


@dataclass(frozen=True)
class JobStarted(JobEvent):
    """The worker began the job. ``kind``: ``"generate"``, ``"edit"`` or ``"variants"``."""

    kind: str = ""


@dataclass(frozen=True)
class JobProgress(JobEvent):
    """``step`` of ``total`` sampler steps are done (over all windows and parts of the job).

    ``preview``: the document animation with the current clean-motion prediction pasted into the
    edited frames (first sample), or ``None`` when this event carries no preview (previews are
    throttled).
    """

    step: int = 0
    total: int = 0
    preview: Animation | None = None


@dataclass(frozen=True)
class JobResult(JobEvent):
    """The finished job.

    Attributes:
        animation: the new animation (generate with one sample, edit), or a list of animations
            (variants, generate with ``n_samples > 1``).
        changed: ``(start, stop)`` frames that may differ from the request's base (the whole clip
            for generate); every frame outside is bit-identical.
        info: timings in seconds (``features_s``, ``sampling_s``, ``total_s``) and plan facts
            (``windows``, ``calls``, ``frames_sampled``, ``borders``, ``steps``, ``sampler``).
    """

    animation: Animation | list[Animation] | None = None
    changed: tuple[int, int] = (0, 0)
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def animations(self) -> list[Animation]:
        """The result as a list (one element for a single animation)."""
        return list(self.animation) if isinstance(self.animation, list) else [self.animation]


@dataclass(frozen=True)
class JobFailed(JobEvent):
    """The job raised; ``message`` is one sentence for the user."""

    message: str = ""


@dataclass(frozen=True)
class JobCancelled(JobEvent):
    """The job was cancelled (by a newer job, :meth:`Engine.cancel` or shutdown)."""
