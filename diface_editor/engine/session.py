"""One home for edit behaviour: what an edit asks the engine, and what happens with its answer.

An :class:`EditSession` works on one :class:`~diface_editor.core.document.Document` and one
:class:`~diface_editor.engine.api.JobEngine`, without Qt. It owns

* the request builders (generate, resample the selection, variants, re-solve around changed
  keyframes, swap a pose, the CLI's keyframe edit), each reading the document as it is right
  before submission (:class:`EditJob` holds the builder, its :class:`JobKind` and undo label);
* the influence-window rule (:func:`influence_pins`): a keyframe edit regenerates
  ``doc.sampler.influence_frames`` frames around each changed frame; keyframes within that radius
  stay pinned but get no window of their own;
* seeds (:meth:`EditSession.edit_seed`) and the per-edit :class:`EditOptions`;
* the keyframe-change policy (:meth:`EditSession.change_keyframes`): push the keyframe command,
  then re-solve, unless a long job runs (its result is stale then and gets dropped);
* which job is the latest and what it is (:attr:`EditSession.running`), and what a finished job
  does (:meth:`EditSession.finish`): applied as one undoable command, kept as typed
  :class:`PendingVariants`, or dropped when stale.

The GUI's bridge (:mod:`diface_editor.gui.engine_bridge`) only moves engine events onto the GUI
thread and calls this; the CLI and benchmarks build their requests here too.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from diface_editor.core.animation import Animation
from diface_editor.core.commands import (
    Command,
    PerformanceEdit,
    UndoStack,
    apply_result,
)
from diface_editor.core.document import Document
from diface_editor.core.errors import DifaceError
from diface_editor.core.keyframes import Keyframe
from diface_editor.core.transcript import Transcript
from diface_editor.engine.events import JobResult
from diface_editor.engine.requests import (
    EditRequest,
    GenerateRequest,
    VariantsRequest,
)

if TYPE_CHECKING:
    from diface_editor.engine.api import JobEngine

from diface_editor.engine.edit_policy import (
    add_keyframes,
    align_transcript,
    blink_seed,
    changes_nothing,
    influence_pins,
    lipsync,
    replace_keyframe,
    sampling_options,
    transcribe_speech,
    transcript_phones,
)
from diface_editor.engine.edit_types import (
    PARTS,
    Applied,
    Discarded,
    EditJob,
    EditOptions,
    Failed,
    JobKind,
    KeyframeChange,
    Outcome,
    PendingVariants,
    TranscriptChange,
    VariantsReady,
)

#: re-exported: the session's types and policy functions are imported from here by the GUI, CLI and tests
__all__ = [
    "Applied", "Discarded", "EditJob", "EditOptions", "EditSession", "Failed", "JobKind", "KeyframeChange",
    "Outcome", "PARTS", "PendingVariants", "TranscriptChange", "VariantsReady", "add_keyframes", "align_transcript", "blink_seed",
    "changes_nothing", "influence_pins", "lipsync", "replace_keyframe", "sampling_options",
    "transcribe_speech", "transcript_phones",
]

log = logging.getLogger(__name__)


class EditSession:
    """Edits of one document on one engine (see the module docstring).

    Args:
        document: the document edited (``None``: none yet, see :meth:`set_document`).
        engine: a started :class:`~diface_editor.engine.api.JobEngine` whose model is loaded, or
            ``None`` until it is (requests only wait in :attr:`queued` then).
        options: the per-edit :class:`EditOptions`.
        push: ``push(command)`` applies a command and records it for undo (default: a
            :class:`~diface_editor.core.commands.UndoStack` of the document, :attr:`history`).
        style, temperature: passed to every request (``None``: the model's defaults).
        model_check: ``() -> (available, sentence)``: whether a model can be used now (a keyframe
            change is only re-solved then); default: always.
    """

    def __init__(self, document: Document | None = None, engine: JobEngine | None = None, *,
                 options: EditOptions | None = None, push: Callable[[Command], None] | None = None,
                 style: str | int | None = None, temperature: float | None = None,
                 model_check: Callable[[], tuple[bool, str]] | None = None) -> None:
        self.engine = engine
        self.options = options or EditOptions()
        self.style = style
        self.temperature = temperature
        self.model_check = model_check or (lambda: (True, "model"))
        self.document: Document | None = None
        self.history: UndoStack | None = None
        self._push: Callable[[Command], None] | None = None
        #: candidates of the last Variants job until one is picked or they go stale
        self.pending_variants: PendingVariants | None = None
        #: a job waiting for the engine's model
        self.queued: EditJob | None = None
        #: the id of the latest submitted job (only its result is ever applied)
        self.latest_job: int | None = None
        self._jobs: dict[int, tuple[EditJob, float]] = {}  # job id -> (job, perf_counter at submit)
        self._running: int | None = None  # the latest job while it runs
        self._external: JobKind | None = None  # a job run outside the engine (the lip sync)
        self._unsolved: set[int] = set()  # frames of transcript changes whose re-solve has not been applied
        self.set_document(document, push)

    # ------------------------------------------------------------------ binding
    def set_document(self, document: Document | None, push: Callable[[Command], None] | None = None) -> None:
        """Work on ``document``; results of earlier jobs are never applied to it."""
        self.cancel()
        self.latest_job = None
        self.pending_variants = None
        self._unsolved = set()
        self.document = document
        self.history = UndoStack(document) if document is not None and push is None else None
        self._push = push if push is not None else (self.history.push if self.history is not None else None)

    def _doc(self) -> Document:
        if self.document is None:
            raise DifaceError("there is no document to edit")
        return self.document

    def _need_audio(self, what: str) -> Document:
        doc = self.document
        if doc is None or doc.audio is None:
            raise DifaceError(f"There is no audio to {what}: open an audio file first.")
        return doc

    def push(self, command: Command) -> None:
        """Apply ``command`` to the document as one undo step (raises what the command raises)."""
        if self._push is None:
            raise DifaceError("there is no document to edit")
        self._push(command)

    # ------------------------------------------------------------------ seeds
    def edit_seed(self) -> int:
        """The seed of the next edit: the document's when :attr:`EditOptions.seed_locked`; otherwise a
        new random one, which is written to the document's sampler settings (so the edit can be
        reproduced by locking it)."""
        doc = self._doc()
        if self.options.seed_locked:
            return int(doc.sampler.seed)
        seed = random.randrange(0, 2**31 - 1)
        log.debug("edit seed %d (unlocked: stored in the document's settings)", seed)
        doc.set_sampler(seed=seed)
        return seed

    def sample_seed(self) -> int:
        """The seed of a Resample or Variants: always a new draw, as the point is another sample (a
        locked seed makes generation and keyframe solves reproducible, it does not freeze
        resampling). Unlocked, the draw is written to the document's settings as :meth:`edit_seed`
        does; locked, the shown seed stays."""
        if not self.options.seed_locked:
            return self.edit_seed()
        return random.randrange(0, 2**31 - 1)

    def _extras(self) -> dict:
        """Style (the session's, else the document's), temperature and the transcript's phones."""
        doc = self.document
        style = self.style if self.style is not None else (doc.sampler.style if doc is not None else None)
        if isinstance(style, str) and style.strip().lstrip("-").isdigit():
            style = int(style)
        return {"style": style, "temperature": self.temperature,
                "phones": transcript_phones(doc) if doc is not None else None}

    def _interactive_sampling(self, s) -> dict:
        """Request keywords of a keyframe / swap solve: the interactive steps, and the one-step student
        when :attr:`EditOptions.drag_student` (the engine falls back to the sampler with those steps
        for a model without a student)."""
        kw = sampling_options(s, self.options.interactive_steps or s.steps)
        if self.options.drag_student and not s.reference_mode:
            kw["sampler"] = "student"
        return kw

    # ------------------------------------------------------------------ request builders
    def generate_request(self, *, parts: tuple[str, ...] = PARTS, n_samples: int = 1,
                         recognise_words: bool = False) -> GenerateRequest:
        """A new animation for the whole clip, from the document's seed and sampler settings.
        ``recognise_words``: a document without a transcript gets the words the engine recognises
        in the audio (:meth:`finish` keeps them as its transcript)."""
        doc = self._need_audio("generate from")
        s = doc.sampler
        return GenerateRequest(audio=doc.audio, seed=int(s.seed), parts=parts, n_samples=n_samples,
                               recognise_words=bool(recognise_words) and doc.transcript is None,
                               **sampling_options(s, s.steps), **self._extras())

    def range_request(self, frames: tuple[int, int] | None = None, seed: int | None = None,
                      parts: tuple[str, ...] | None = None) -> EditRequest:
        """Regenerate ``frames`` (default: the selection) of ``parts`` (default: the option's); keyframes
        inside stay pinned. ``seed``: default :meth:`edit_seed` (the editor's Resample passes :meth:`sample_seed`)."""
        doc = self._doc()
        frames = doc.selection if frames is None else frames
        s = doc.sampler
        seed = self.edit_seed() if seed is None else int(seed)
        return EditRequest(base=doc.animation.copy(), audio=doc.audio, mode="range", range=frames,
                           keyframes=tuple(doc.keyframes), parts=tuple(parts or self.options.parts), seed=seed,
                           **sampling_options(s, s.steps), **self._extras())

    def variants_request(self, frames: tuple[int, int] | None = None, n: int | None = None,
                         seed: int | None = None) -> VariantsRequest:
        """``n`` (default ``doc.sampler.n_variants``) candidates of :meth:`range_request`."""
        edit = self.range_request(frames, seed=seed)
        return VariantsRequest(edit=edit, n=int(self._doc().sampler.n_variants if n is None else n))

    def solve_request(self, keys: Sequence[Keyframe] = (), *, vacated: Sequence[int] = (),
                      parts: Iterable[str] | None = None) -> EditRequest:
        """Re-solve the influence window around the frames that changed: those of ``keys`` (keyframes
        just added, changed or moved there) and ``vacated`` (frames a keyframe left).

        EditRequest mode ``"keyframes"`` with those frames as ``centres`` and
        ``radius = doc.sampler.influence_frames``; the pins follow :func:`influence_pins`. Of the
        option's parts only ``parts`` (default: the parts of ``keys``) are regenerated.

        Raises:
            DifaceError: a key to solve is no longer in the document (undone or deleted).
        """
        doc = self._doc()
        keys = list(keys)
        frames = sorted({int(k.frame) for k in keys} | {int(f) for f in vacated})
        s = doc.sampler
        # reference mode: 3DiFACE's keyframe edit keeps the keyframes and generates every other frame
        r = None if s.reference_mode else int(s.influence_frames)
        present = {(k.frame, k.part) for k in doc.keyframes}
        if keys and not vacated and not any((k.frame, k.part) in present for k in keys):
            raise DifaceError("the keyframe to solve is gone (undone or deleted)")
        changed_parts = set(parts) if parts is not None else {k.part for k in keys}
        # only the parts of the changed keyframes are re-solved (a head drag leaves the lip sync alone)
        solve_parts = tuple(p for p in self.options.parts if p in changed_parts) or self.options.parts
        return EditRequest(base=doc.animation.copy(), audio=doc.audio, mode="keyframes",
                           keyframes=influence_pins(doc.keyframes, frames, r), centres=tuple(frames), radius=r,
                           parts=solve_parts, seed=self.edit_seed(),
                           **self._interactive_sampling(s), **self._extras())

    def keyframes_request(self, radius: int | None = None) -> EditRequest:
        """3DiFACE's ``keyframe`` edit (the CLI's ``--keyframe``): pin every keyframe of the document
        and regenerate ``radius`` frames around each (``None``: every frame that is not pinned)."""
        doc = self._doc()
        s = doc.sampler
        return EditRequest(base=doc.animation.copy(), audio=doc.audio, mode="keyframes",
                           keyframes=tuple(doc.keyframes), radius=radius, parts=self.options.parts,
                           seed=self.edit_seed(), **sampling_options(s, s.steps), **self._extras())

    def swap_request(self, source: int, target: int, swap_parts: tuple[str, ...] = PARTS, *,
                     interactive: bool = True, radius: int | None = None,
                     parts: tuple[str, ...] | None = None) -> EditRequest:
        """Copy the pose of ``swap_parts`` at frame ``source`` to ``target`` and re-solve around
        ``target`` (mode ``"swap"``, 3DiFACE's keyframe_swap). Only ``parts`` (default:
        ``swap_parts``) are regenerated.

        ``interactive`` (the editor's paste / swap): the influence radius
        ``doc.sampler.influence_frames``, the keyframes pinned per :func:`influence_pins` and the
        interactive steps; otherwise (the CLI) ``radius`` (``None``: everything not pinned), every
        keyframe pinned and the document's steps."""
        doc = self._doc()
        s = doc.sampler
        r = int(s.influence_frames) if interactive and not s.reference_mode else radius
        steps = (self.options.interactive_steps or s.steps) if interactive else s.steps
        pins = influence_pins(doc.keyframes, (int(target),), r) if interactive else tuple(doc.keyframes)
        return EditRequest(base=doc.animation.copy(), audio=doc.audio, mode="swap", swap=(int(source), int(target)),
                           swap_parts=tuple(swap_parts), keyframes=pins,
                           radius=r, parts=tuple(parts or swap_parts), seed=self.edit_seed(),
                           **(self._interactive_sampling(s) if interactive else sampling_options(s, steps)),
                           **self._extras())

    # ------------------------------------------------------------------ jobs (checked now, built at submission)
    def generate_job(self, recognise_words: bool = False) -> EditJob:
        """Generate the clip; ``recognise_words``: first recognise the words said, when the document has
        no transcript (the first take of audio opened without one)."""
        self._need_audio("generate from")
        return EditJob(JobKind.GENERATE, JobKind.GENERATE.value,
                       lambda: self.generate_request(recognise_words=recognise_words))

    def resample_job(self) -> EditJob:
        doc = self._need_audio("resample against")
        if doc.selection is None:
            raise DifaceError("Select a range in the timeline first (drag across it), then resample.")
        return EditJob(JobKind.RESAMPLE, JobKind.RESAMPLE.value, lambda: self.range_request(seed=self.sample_seed()))

    def variants_job(self) -> EditJob:
        doc = self._need_audio("draw variants against")
        if doc.selection is None:
            raise DifaceError("Select a range in the timeline first (drag across it), then ask for variants.")
        return EditJob(JobKind.VARIANTS, JobKind.VARIANTS.value, lambda: self.variants_request(seed=self.sample_seed()))

    def performance_job(self, control: str, attach_to: Command | None = None) -> EditJob:
        """Re-solve after a performance control or the viseme strength changed: the selection or, with
        none, the whole clip (keyframes stay pinned), with the document's seed so the take keeps its
        character. ``control``: ``"head_motion"`` re-solves the head only, ``"style"`` both parts, the
        others (``lip_sync``, ``upper_face``, ``viseme_strength``) the face only. ``attach_to``: the
        control's command, whose undo step the result joins (:meth:`change_performance`)."""
        doc = self._need_audio("re-solve against")
        parts = {"head_motion": ("head",), "style": PARTS}.get(control, ("face",))
        frames = doc.selection or (0, doc.n_frames)
        where = "selection" if doc.selection else "clip"
        label = f"re-solve {where} for {control.replace('_', ' ')}"
        return EditJob(JobKind.RESAMPLE, label,
                       lambda: self.range_request(frames, seed=int(self._doc().sampler.seed), parts=parts),
                       attach_to=attach_to)

    def change_performance(self, control: str, value) -> KeyframeChange:
        """Set a performance control (``lip_sync``, ``upper_face``, ``head_motion``,
        ``viseme_strength``: a number; ``style``: a name or None) as one undo step; with audio and a
        model, its re-solve (:meth:`performance_job`) joins that step, so one Undo restores the
        control and the motion together (and a job computed with the old value is stale)."""
        doc = self._doc()
        if getattr(doc.sampler, control) == value:
            return KeyframeChange(True)
        shown = control.replace("_", " ")
        text = f"set {shown} to {value:.2f}" if isinstance(value, float) else f"set {shown} to {value or 'default'}"
        try:
            command = PerformanceEdit(replace(doc.sampler, **{control: value}), text=text)
            self.push(command)
        except (DifaceError, ValueError, TypeError) as e:
            return KeyframeChange(False, error=str(e))
        if doc.audio is None or not self.model_check()[0]:
            return KeyframeChange(True)
        return KeyframeChange(True, solve=self.performance_job(control, attach_to=command))

    def solve_job(self, keys: Sequence[Keyframe], label: str = "solve keyframe", *, vacated: Sequence[int] = (),
                  parts: Iterable[str] | None = None) -> EditJob | None:
        """The re-solve of :meth:`solve_request` (None: no frame changed)."""
        keys, vacated = tuple(keys), tuple(vacated)
        parts = None if parts is None else tuple(parts)
        if not ({k.frame for k in keys} | set(vacated)):
            return None
        self._need_audio("solve the keyframe against")
        return EditJob(JobKind.SOLVE, label, lambda: self.solve_request(keys, vacated=vacated, parts=parts))

    def swap_job(self, source: int, target: int, swap_parts: tuple[str, ...] = PARTS,
                 label: str | None = None) -> EditJob:
        self._need_audio("solve the pose against")
        if not swap_parts:
            raise DifaceError("Choose what to copy: the face, the head or both.")
        swap_parts = tuple(swap_parts)
        return EditJob(JobKind.SWAP, label or f"paste pose from frame {source} to {target}",
                       lambda: self.swap_request(int(source), int(target), swap_parts))

    # ------------------------------------------------------------------ policy
    def change_keyframes(self, command: Command, solve: Sequence[Keyframe] = (), *, vacated: Sequence[int] = (),
                         parts: Iterable[str] | None = None, label: str | None = None) -> KeyframeChange:
        """Push a keyframe command (one undo step); then, with re-solving on, audio and a model, the
        re-solve of the influence window around the frames of ``solve`` (keyframes added, changed or
        moved there) and ``vacated`` (frames keyframes left), a second undo step once it is done.

        A long job in flight (generate, resample, variants, lip sync) is not cancelled for a
        re-solve: its result is stale now and is dropped; the returned ``note`` says so."""
        if self.document is not None and changes_nothing(self.document, command):
            return KeyframeChange(True)  # nothing changed: no history entry, nothing to solve
        try:
            self.push(command)
        except DifaceError as e:
            return KeyframeChange(False, error=str(e))
        running = self.running
        if running is not None and running.long:
            return KeyframeChange(True, note=f"Keyframe changed while '{running.value}' runs: that result will "
                                             "be dropped; run it again afterwards.")
        doc = self.document
        if ((solve or vacated) and self.options.auto_solve and doc is not None and doc.audio is not None
                and self.model_check()[0]):
            frames = sorted({k.frame for k in solve})
            label = label or f"solve keyframe at frame {', '.join(map(str, frames))}"
            return KeyframeChange(True, solve=self.solve_job(solve, label, vacated=vacated, parts=parts))
        return KeyframeChange(True)

    def transcript_request(self, frames: Sequence[int]) -> EditRequest:
        """Re-solve the mouth around ``frames`` (those whose phones changed) with the document's
        transcript (``face_channels="mouth"``: brows, eyes and the head stay as they are, the phones
        only constrain the mouth): mode ``"keyframes"`` with ``frames`` as centres and the influence radius, the
        keyframes near them pinned (:func:`influence_pins`), the interactive steps, as
        :meth:`solve_request` does for a keyframe (frames farther away are kept bit for bit)."""
        doc = self._doc()
        s = doc.sampler
        r = int(s.influence_frames)
        centres = tuple(sorted({int(f) for f in frames}))
        return EditRequest(base=doc.animation.copy(), audio=doc.audio, mode="keyframes",
                           keyframes=influence_pins(doc.keyframes, centres, r), centres=centres, radius=r,
                           parts=("face",), seed=self.edit_seed(), face_channels="mouth",
                           **self._interactive_sampling(s), **self._extras())

    def change_transcript(self, new: Transcript, label: str) -> TranscriptChange:
        """Make ``new`` the document's transcript as one undo step (a retimed boundary, an edited,
        deleted or inserted word); then, with re-solving on, audio, a model and a viseme strength
        above 0, re-solve the face around the frames whose phones changed (and those of earlier
        transcript changes whose re-solve was superseded). The result joins the same undo step.

        A long job in flight is not cancelled: its result is stale now; the ``note`` says so."""
        from diface_editor.core.transcript_edit import TranscriptEdit
        from diface_editor.engine.transcript_edits import changed_frames

        doc = self._doc()
        old = doc.transcript
        if new == old:
            return TranscriptChange(True)
        frames = changed_frames(old, new, doc.fps, doc.n_frames)
        command = TranscriptEdit(new, label)
        try:
            self.push(command)
        except DifaceError as e:
            return TranscriptChange(False, error=str(e))
        running = self.running
        if running is not None and running.long:
            return TranscriptChange(True, frames=frames, note=f"Transcript changed while '{running.value}' runs: "
                                                              "that result will be dropped; run it again afterwards.")
        self._unsolved |= set(frames)
        if (not self._unsolved or not self.options.auto_solve or doc.audio is None or not self.model_check()[0]
                or float(doc.sampler.viseme_strength) <= 0.0):
            return TranscriptChange(True, frames=frames)
        centres = tuple(sorted(self._unsolved))
        job = EditJob(JobKind.TRANSCRIPT, f"{label}: solve frames {centres[0]}-{centres[-1]}",
                      lambda: self.transcript_request(centres), attach_to=command)
        return TranscriptChange(True, solve=job, frames=frames)

    # ------------------------------------------------------------------ submission and results
    @property
    def running(self) -> JobKind | None:
        """What runs or waits for the model: the queued job, the lip sync, or the latest job in flight."""
        if self.queued is not None:
            return self.queued.kind
        if self._external is not None:
            return self._external
        if self._running is not None and self._running in self._jobs:
            return self._jobs[self._running][0].kind
        return None

    def queue(self, job: EditJob) -> None:
        """Let ``job`` wait for the engine (a newer one replaces it)."""
        self.queued = job

    def submit_queued(self) -> int | None:
        """Build the queued job's request now (from the document as it is) and submit it to
        :attr:`engine`; its job id, or None when nothing waits or there is no engine yet.

        Raises:
            DifaceError: the request cannot be built (the job is dropped).
        """
        job, doc = self.queued, self.document
        if job is None or self.engine is None or doc is None:
            return None
        self.queued = None
        request = job.build()
        job_id = self.engine.submit(request, doc.version)
        self._jobs[job_id] = (job, time.perf_counter())
        self.latest_job = self._running = job_id
        return job_id

    def submit(self, job: EditJob) -> int | None:
        """:meth:`queue` then :meth:`submit_queued`."""
        self.queue(job)
        return self.submit_queued()

    def is_latest(self, job_id: int) -> bool:
        return job_id == self.latest_job

    def label(self, job_id: int, default: str = "") -> str:
        """The label of job ``job_id`` (``default`` for an unknown one)."""
        entry = self._jobs.get(job_id)
        return entry[0].label if entry is not None else default

    def is_long(self, job_id: int) -> bool:
        """Whether job ``job_id`` is a long one (generate, resample, variants, lip sync; unknown jobs
        count as long), not an interactive solve that takes tens of milliseconds."""
        entry = self._jobs.get(job_id)
        return entry is None or entry[0].kind.long

    def job_ended(self, job_id: int) -> None:
        """Job ``job_id`` failed or was cancelled (its event arrived)."""
        self._jobs.pop(job_id, None)
        if job_id == self._running:
            self._running = None

    def cancel(self) -> None:
        """Forget the queued job and cancel the one in flight."""
        self.queued = None
        self._running = None
        if self.engine is not None:
            self.engine.cancel()

    def forget(self) -> None:
        """Forget the queued job and the latest job: events of jobs submitted so far are ignored."""
        self.queued = None
        self.latest_job = self._running = None

    def begin_external(self, kind: JobKind) -> int:
        """A job run outside the engine (the lip sync) starts; returns the document version it uses."""
        self._external = kind
        return self._doc().version

    def finish(self, result: JobResult) -> Outcome:
        """What the result of a job does: applied to the document as one undoable command (only the
        latest job's, only while the document still has the version it was computed from), kept as
        :attr:`pending_variants` (several animations), or dropped."""
        job, t_submit = self._jobs.pop(result.job_id, (None, time.perf_counter()))
        if result.job_id == self._running:
            self._running = None
        label = job.label if job is not None else JobKind.GENERATE.value
        doc = self.document
        if doc is None or result.job_id != self.latest_job:
            return Discarded(result.job_id, "a newer job replaced it", tell=False)
        if result.doc_version != doc.version:
            return Discarded(result.job_id, "the document changed while it was computed", tell=True)
        anims = result.animations
        info = result.info if isinstance(result.info, dict) else {}
        if len(anims) > 1 or info.get("kind") == "variants":
            self.pending_variants = PendingVariants(doc.version, tuple(anims), tuple(result.changed), label)
            return VariantsReady(result.job_id, self.pending_variants)
        try:
            command = apply_result(doc, anims[0], result.changed, text=label)
            changed = not changes_nothing(doc, command)
            if job is not None and job.attach_to is not None:  # a transcript or control edit: the same undo step
                if job.kind is JobKind.TRANSCRIPT:
                    self._unsolved.clear()
                if changed:
                    job.attach_to.attach(doc, command)
            elif changed:
                self.push(command)
        except DifaceError as e:
            return Failed(result.job_id, str(e))
        took = info.get("total_s")
        return Applied(result.job_id, label, float(took) if took is not None else time.perf_counter() - t_submit,
                       changed, _reference_note(info) or self._keep_recognised(doc, info.get("transcript")))

    @staticmethod
    def _keep_recognised(doc: Document, heard) -> str:
        """A generate job recognised the words (``info["transcript"]``): an aligned transcript becomes the
        document's when it has none (part of the take, as a ``voice.txt`` aligned on opening: no undo
        step of its own). Returns the status sentence ("" when nothing was recognised)."""
        if not isinstance(heard, Transcript):
            return ""
        if not heard.aligned:
            return f"No words from the audio ({heard.error}); the take follows the audio alone"
        if doc.transcript is None:
            doc.set_transcript(heard)
        return f"Recognised {len(heard.words)} words in the audio; correct them in the word lane or the Generate panel"

    def finish_external(self, doc_version: int, animation: Animation | None, error: str | None,
                        label: str = "lip sync from transcript") -> Outcome:
        """The lip sync (run outside the engine) ended with ``animation`` or ``error``."""
        self._external = None
        if error is not None:
            return Failed(0, error)
        doc = self.document
        if doc is None or doc.version != doc_version or animation is None:
            return Discarded(0, "the document changed while it was computed", tell=False)
        try:
            self.push(apply_result(doc, animation, None, text=label))
        except DifaceError as e:
            return Failed(0, str(e))
        return Applied(0, label, 0.0)

    # ------------------------------------------------------------------ variants
    def variants_stale(self) -> bool:
        """Pending variants drawn for an animation that no longer exists."""
        pv, doc = self.pending_variants, self.document
        return pv is not None and (doc is None or pv.doc_version != doc.version)

    def pick_variant(self, i: int) -> bool:
        """Apply candidate ``i`` of :attr:`pending_variants` as one undo step and forget them.

        Returns False when there is no such candidate. Raises :class:`DifaceError` when they are
        stale (they are forgotten then too)."""
        pv, doc = self.pending_variants, self.document
        if doc is None or pv is None or pv.get(i) is None:
            return False
        self.pending_variants = None
        if pv.doc_version != doc.version:
            raise DifaceError("the animation changed after the variants were drawn; draw them again.")
        self.push(apply_result(doc, pv.animations[i], pv.changed, text=f"pick variant {i + 1}"))
        return True


def _reference_note(info: dict) -> str:
    """What a reference-mode job covered, for the status bar ("" for diface's own pipeline)."""
    if not info.get("reference_mode"):
        return ""
    nf, n = int(info.get("reference_frames", 0)), int(info.get("n_frames", 0))
    note = f"3DiFACE reference mode: frames 0-{nf - 1} in one pass, {info.get('steps', 1000)} DDPM steps"
    if nf < n:
        note += (f"; frames {nf}-{n - 1} hold the last pose" if info.get("kind") == "generate"
                 else f"; frames {nf}-{n - 1} kept")
    return note
