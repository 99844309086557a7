"""The GUI's side of the engine: it moves events between threads and owns the engine's life.

Edit behaviour (what a request asks, the influence window, seeds, which result is applied) lives in
:class:`~diface_editor.engine.session.EditSession` (:attr:`EngineBridge.session`). The bridge

* starts the engine for the document's model (:func:`~diface_editor.engine.api.make_engine`: by
  default a :class:`~diface_editor.engine.process.ProcessEngine`, so torch never holds this
  process's GIL; ``DIFACE_ENGINE=thread`` an in-process
  :class:`~diface_editor.engine.threaded.ThreadEngine`), as soon as the document has audio and a
  model in process mode, else on the first request; jobs wait in the session until it is loaded;
* turns the engine's callbacks (from its threads) into typed signals queued onto the GUI thread,
  one per kind (``_job_event``, ``_engine_loaded``), and hands them to the session;
* throttles previews (:class:`~diface_editor.gui.throttle.LatestThrottle`) and runs the teacher lip
  sync on a :class:`~diface_editor.gui.background.BackgroundCall`;
* reports outcomes as the public signals below.

:meth:`EngineBridge.shutdown` ends the engine; the main window calls it on close.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6 import QtCore

from diface_editor.core.document import Document
from diface_editor.core.errors import DifaceError
from diface_editor.engine.align_process import align_time_limit
from diface_editor.engine.align_process import shared as shared_aligner
from diface_editor.engine.api import JobEngine, engine_mode, make_engine
from diface_editor.engine.events import JobCancelled, JobEvent, JobFailed, JobProgress, JobResult, JobStarted
from diface_editor.engine.loading import (
    has_student_at,
    model_status,
    resolve_model_path,
    supports_reference_mode_at,
)
from diface_editor.engine.session import (
    Applied,
    Discarded,
    EditJob,
    EditOptions,
    EditSession,
    Failed,
    JobKind,
    Outcome,
    VariantsReady,
    blink_seed,
    sampling_options,
)
from diface_editor.gui.background import BackgroundCall
from diface_editor.gui.throttle import LatestThrottle

log = logging.getLogger(__name__)

__all__ = ["EditOptions", "EngineBridge", "blink_seed", "engine_mode", "has_student_at", "model_status",
           "resolve_model_path",
           "sampling_options", "supports_reference_mode_at", "teacher_available", "transcript_for"]


def transcript_for(audio_path: Path | None) -> Path | None:
    """A transcript beside the audio: same name with ``.txt`` (or ``.lab``), if it exists."""
    if audio_path is None:
        return None
    for ext in (".txt", ".lab"):
        p = Path(audio_path).with_suffix(ext)
        if p.is_file():
            return p
    return None


def teacher_available() -> bool:
    """Whether the procedural teacher lip sync (``diface_editor.synth``) is installed."""
    import importlib.util

    return all(importlib.util.find_spec(m) is not None
               for m in ("diface_editor.synth.teacher", "diface_editor.synth.align"))


def duration_text(seconds: float) -> str:
    """How long a job took, for the status bar: "1.4 s", or "35 ms" under a tenth of a second (a
    drag's re-solve; "0.0 s" read as if nothing had been done)."""
    return f"{seconds:.1f} s" if seconds >= 0.1 else f"{max(seconds, 0.0) * 1000:.0f} ms"


class EngineBridge(QtCore.QObject):
    """Runs the session's jobs on the engine and reports what became of them.

    Args:
        model_factory: ``factory(model_id) -> model`` (anything the engine accepts); default: the
            bundle at :func:`~diface_editor.engine.loading.resolve_model_path` loaded by
            :func:`~diface_editor.engine.loading.load_model`. Called where the engine runs, so it must
            be a picklable module-level function in process mode.
        engine_kwargs: extra keyword arguments for the engine's ``Engine`` (e.g. ``preview_interval``).
        preview_interval_ms: the ``preview`` signal fires at most this often (the latest preview wins),
            so drawing previews never piles up behind a fast sampler.

    Signals:
        job_started(int job_id, str label)
        progress(int job_id, int step, int total)
        preview(object animation_or_None): live preview; ``None`` when it ends.
        result_applied(int job_id)
        result_discarded(int job_id, str why)
        failed(int job_id, str message)
        cancelled(int job_id)
        busy_changed(bool)
        variants_ready(list): several animations from one job (they wait in ``session.pending_variants``).
        status(str): short human status lines for the status bar.
    """

    job_started = QtCore.Signal(int, str)
    progress = QtCore.Signal(int, int, int)
    preview = QtCore.Signal(object)
    result_applied = QtCore.Signal(int)
    result_discarded = QtCore.Signal(int, str)
    failed = QtCore.Signal(int, str)
    cancelled = QtCore.Signal(int)
    busy_changed = QtCore.Signal(bool)
    variants_ready = QtCore.Signal(list)
    status = QtCore.Signal(str)
    # engine threads -> GUI thread, one signal per kind of message
    _job_event = QtCore.Signal(object)  # a JobEvent
    _engine_loaded = QtCore.Signal(object, object)  # (the engine, error sentence or None)

    def __init__(self, parent: QtCore.QObject | None = None,
                 model_factory: Callable[[str], Any] | None = None, engine_kwargs: dict | None = None,
                 preview_interval_ms: int = 120) -> None:
        super().__init__(parent)
        self._job_event.connect(self._on_job_event, QtCore.Qt.QueuedConnection)
        self._engine_loaded.connect(self._on_engine_loaded, QtCore.Qt.QueuedConnection)
        self.model_factory = model_factory
        self.engine_kwargs = dict(engine_kwargs or {})
        #: the edit behaviour: request builders, seeds, the latest job, pending variants
        self.session = EditSession(model_check=self.model_available)
        #: the engine for :attr:`_engine_model_id` (loading or loaded), or None
        self.engine: JobEngine | None = None
        self._engine_model_id: str | None = None
        self._mode = engine_mode()
        # the engine process starts loading the model once the document's model id is known (a
        # zero-delay timer, so that opening a file and then choosing a model starts one process)
        self._preload_timer = QtCore.QTimer(self)
        self._preload_timer.setSingleShot(True)
        self._preload_timer.setInterval(0)
        self._preload_timer.timeout.connect(self._preload)
        self._busy = False
        self._teacher: BackgroundCall | None = None
        self._teacher_cancelled = False  # Cancel stopped the lip sync's alignment
        self._previews = LatestThrottle(preview_interval_ms, self._show_preview, self)
        #: perf_counter() when the latest job's first preview reached the views (benchmarks)
        self.t_first_preview: float | None = None
        #: the engine's info of the last finished job (timings; benchmarks, status)
        self.last_info: dict | None = None

    # ------------------------------------------------------------------ binding
    @property
    def doc(self) -> Document | None:
        return self.session.document

    def set_document(self, doc: Document | None, undo_stack) -> None:
        """Work for ``doc``; results are pushed on ``undo_stack`` (``push_command(cmd)``). Cancels jobs."""
        self.cancel()
        if self.doc is not None:
            self.doc.events.disconnect_object(self)
        self.session.set_document(doc, push=undo_stack.push_command if undo_stack is not None else None)
        if doc is not None:
            doc.events.settings.connect(self._on_doc_settings)
            self._preload_timer.start()

    def _on_doc_settings(self, _ev) -> None:
        if self.doc is not None and self.doc.model_id != self._engine_model_id:
            self._preload_timer.start()

    @property
    def busy(self) -> bool:
        return self._busy

    def _set_busy(self, b: bool) -> None:
        if b != self._busy:
            self._busy = b
            self.busy_changed.emit(b)

    def _teacher_running(self) -> bool:
        return self._teacher is not None and self._teacher.isRunning()

    # ------------------------------------------------------------------ model and engine
    def model_available(self) -> tuple[bool, str]:
        """Whether a model can be used for the document's model id (``True`` with a custom factory)."""
        if self.model_factory is not None:
            return True, "custom model"
        if self.doc is None:
            return False, "no document"
        return model_status(self.doc.model_id)

    def _preload(self) -> None:
        """Start the engine process for the model of a document with audio (process mode only; the
        in-process engine loads on demand, as importing torch here would hold up the GUI)."""
        if self._mode != "process" or self.doc is None or self.doc.audio is None or self._busy:
            return
        if self.engine is not None and (self._engine_model_id == self.doc.model_id or self.engine.busy):
            return
        if self.model_available()[0]:
            self._start_engine(self.doc.model_id)

    def _ensure_engine(self, model_id: str) -> bool:
        """True if the engine for ``model_id`` has its model; otherwise starts it (the queued job
        runs once it has loaded)."""
        if self.engine is not None and self._engine_model_id == model_id and self.session.engine is self.engine:
            return True
        if self.engine is None or self._engine_model_id != model_id:
            self._start_engine(model_id)
        self.status.emit("Loading the motion model…")
        self._set_busy(True)
        return False

    def _start_engine(self, model_id: str) -> None:
        """Replace the engine by a new one for ``model_id``; it starts loading the model now."""
        self._stop_engine()
        path = model_id if self.model_factory is not None else str(resolve_model_path(model_id))
        eng = make_engine(self._mode, path, self._job_event.emit, loader=self.model_factory,
                          engine_kwargs=self.engine_kwargs)
        eng.on_load = lambda error, eng=eng: self._engine_loaded.emit(eng, error)
        self.engine, self._engine_model_id = eng, model_id
        eng.start()

    def _stop_engine(self, timeout: float = 1.0) -> None:
        eng, self.engine, self._engine_model_id = self.engine, None, None
        self.session.engine = None
        if eng is not None and not eng.shutdown(timeout):
            log.warning("the engine did not stop within %.0f s", timeout)

    def _on_engine_loaded(self, eng: JobEngine, error: str | None) -> None:
        if eng is not self.engine:
            return  # an engine replaced meanwhile
        if error is None:
            self.session.engine = eng
            if self.session.queued is not None:
                self.status.emit("Model loaded.")
                self._submit_queued()
            elif self.session.running is None and not self._teacher_running():
                self._set_busy(False)
            return
        self._stop_engine(0.2)  # the next request tries again with a new engine
        if self.session.queued is not None or self._busy:  # someone is waiting for this model
            self.session.forget()  # a JobFailed with the same sentence is not shown twice
            self._set_busy(False)
            self.failed.emit(0, error)
        else:
            log.warning("the motion model %s could not be loaded: %s", self._engine_model_id, error)

    # ------------------------------------------------------------------ requests
    def _run(self, make: Callable[[], EditJob | None]) -> bool:
        """Submit the job ``make()`` returns (False when it is None or raises a user error)."""
        try:
            job = make()
        except DifaceError as e:
            self.failed.emit(0, str(e))
            return False
        return job is not None and self.submit(job)

    def generate(self, recognise_words: bool = False) -> bool:
        """Generate motion for the whole clip (``recognise_words``: the engine first recognises the words
        of a clip without a transcript). Returns False (with a ``failed`` signal) if impossible."""
        return self._run(lambda: self.session.generate_job(recognise_words))

    def resample_selection(self) -> bool:
        """Regenerate the selected frame range (keyframes inside stay pinned)."""
        return self._run(self.session.resample_job)

    def variants_selection(self) -> bool:
        """Draw ``doc.sampler.n_variants`` candidates for the selected range (``variants_ready`` when done)."""
        return self._run(self.session.variants_job)

    def solve_keyframes(self, keys, label: str = "solve keyframe", *, vacated=(), parts=None) -> bool:
        """Re-solve the influence window around the frames of ``keys`` and ``vacated``
        (:meth:`EditSession.solve_request <diface_editor.engine.session.EditSession.solve_request>`)."""
        return self._run(lambda: self.session.solve_job(keys, label, vacated=vacated, parts=parts))

    def swap_pose(self, source: int, target: int, swap_parts: tuple[str, ...] = ("face", "head"),
                  label: str | None = None) -> bool:
        """Copy the pose of ``swap_parts`` at ``source`` to ``target`` and re-solve around ``target``."""
        return self._run(lambda: self.session.swap_job(source, target, swap_parts, label))

    def submit(self, job: EditJob) -> bool:
        """Submit ``job`` for the current document (after loading the model if needed); its request
        is built on the GUI thread right before submission. A newer submission supersedes an older one."""
        if self.doc is None:
            return False
        ok, why = self.model_available()
        if not ok:
            self.failed.emit(0, why)
            return False
        self.session.queue(job)
        if self._ensure_engine(self.doc.model_id):
            self._submit_queued()
        return True

    def _submit_queued(self) -> None:
        try:
            job_id = self.session.submit_queued()
        except DifaceError as e:
            self.failed.emit(0, str(e))
            self._set_busy(False)
            return
        if job_id is not None:
            self.t_first_preview = None
            self._set_busy(True)

    def teacher_lipsync(self, transcript: str) -> bool:
        """Baseline without a model: align ``transcript`` with the audio (pocketsphinx) and animate the
        phones with the procedural teacher (:func:`~diface_editor.engine.session.lipsync`), in the alignment process
        (:mod:`diface_editor.engine.align_process`)."""
        doc = self.doc
        if doc is None or doc.audio is None:
            self.failed.emit(0, "There is no audio to lip-sync: open an audio file first.")
            return False
        if not transcript.strip():
            self.failed.emit(0, "The transcript is empty.")
            return False
        if self._teacher_running():
            return False
        audio, seed = doc.audio, int(doc.sampler.seed)
        version = self.session.begin_external(JobKind.LIPSYNC)
        limit = align_time_limit(audio.duration)
        task = BackgroundCall(lambda: shared_aligner().call("lipsync", audio, transcript, seed, time_limit=limit),
                              "the lip sync", self)
        task.succeeded.connect(lambda anim, v=version: self._on_lipsync(v, anim, None))
        task.failed.connect(lambda message, v=version: self._on_lipsync(v, None, message))
        self.status.emit("Aligning the transcript and animating… (Esc cancels)")
        self._set_busy(True)
        self._teacher, self._teacher_cancelled = task, False
        task.start()
        return True

    def _on_lipsync(self, version: int, anim, message: str | None) -> None:
        self._set_busy(False)
        if message is not None and self._teacher_cancelled:
            self._teacher_cancelled = False
            self.session.finish_external(version, None, None)  # nothing is applied
            self.status.emit("Lip sync cancelled: the animation is as it was.")
            return
        outcome = self.session.finish_external(version, anim, message)
        if isinstance(outcome, Applied):
            self.status.emit("Lip sync from the transcript: done.")
            self.result_applied.emit(0)
        else:
            self._report(outcome)

    def cancel(self) -> None:
        """Cancel the job in flight (and a job waiting for the model), or the lip sync from a transcript."""
        self.session.cancel()
        self._end_preview()
        if self._teacher_running():  # the lip sync: its alignment is stopped and it ends cancelled
            self._teacher_cancelled = True
            shared_aligner().cancel()
        else:
            self._set_busy(False)

    def shutdown(self, timeout: float = 10.0) -> None:
        """Cancel everything, end the engine (its process or threads) and wait for the lip sync."""
        self.session.queued = None
        self._preload_timer.stop()
        if self.doc is not None:
            self.doc.events.disconnect_object(self)
        if self._teacher is not None:
            if self._teacher.isRunning():  # its alignment may decode for minutes: stop it
                shared_aligner().cancel()
            self._teacher.wait(int(timeout * 1000))
        self._stop_engine(timeout)
        self._set_busy(False)

    # ------------------------------------------------------------------ engine events (GUI thread)
    def _on_job_event(self, ev: JobEvent) -> None:
        latest = self.session.is_latest(ev.job_id)
        if isinstance(ev, JobStarted):
            if latest:
                self.job_started.emit(ev.job_id, self.session.label(ev.job_id, ev.kind))
        elif isinstance(ev, JobProgress):
            if latest:
                self.progress.emit(ev.job_id, ev.step, ev.total)
                if ev.preview is not None and self.doc is not None and ev.doc_version == self.doc.version:
                    self._previews.offer(ev.preview)
        elif isinstance(ev, JobResult):
            self.last_info = ev.info  # timings of the last finished job (benchmarks, status)
            # the result goes into the document before the preview ends, so that the views go from
            # the preview straight to the result (never back to the old pose for a picture)
            outcome = self.session.finish(ev)
            self._finish(ev.job_id)
            self._report(outcome)
        elif isinstance(ev, JobFailed):
            self._finish(ev.job_id)
            self.session.job_ended(ev.job_id)
            if latest:
                self.failed.emit(ev.job_id, ev.message)
        elif isinstance(ev, JobCancelled):
            self._finish(ev.job_id)
            self.session.job_ended(ev.job_id)
            if latest:
                self.cancelled.emit(ev.job_id)
                self.status.emit("Cancelled.")

    def _report(self, outcome: Outcome) -> None:
        if isinstance(outcome, Applied):
            self.status.emit(f"{outcome.label.capitalize()}: done in {duration_text(outcome.seconds)}."
                             + ("" if outcome.changed else " Same result as before: nothing changed.")
                             + (f" {outcome.note}." if outcome.note else ""))
            self.result_applied.emit(outcome.job_id)
        elif isinstance(outcome, VariantsReady):
            anims = list(outcome.variants.animations)
            self.status.emit(f"{len(anims)} variants are ready: pick one above the timeline (click to preview, Apply keeps it).")
            self.variants_ready.emit(anims)
        elif isinstance(outcome, Discarded):
            self.result_discarded.emit(outcome.job_id, outcome.why)
            if outcome.tell:
                self.status.emit(f"Result discarded: {outcome.why}.")
        elif isinstance(outcome, Failed):
            self.failed.emit(outcome.job_id, outcome.message)

    def _show_preview(self, anim) -> None:
        if self._busy:
            if self.t_first_preview is None:
                self.t_first_preview = time.perf_counter()
            self.preview.emit(anim)

    def _end_preview(self) -> None:
        self._previews.clear()
        self.preview.emit(None)

    def _finish(self, job_id: int) -> None:
        if self.session.is_latest(job_id):
            self._end_preview()
            self._set_busy(False)
