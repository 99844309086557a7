"""The GUI's side of the engine: owns the engine, turns its callbacks (from its threads) into Qt
signals (queued onto the GUI thread) and applies results as undoable commands, only when the
document still has the version the job was computed from.

By default the engine is a :class:`~diface_editor.engine.process.ProcessEngine`: model loading,
audio features and sampling run in a child process, so torch never holds this process's GIL and
the event loop never stalls. The child is started (and loads the model) as soon as the document's
model id is known, before the first Generate. ``DIFACE_ENGINE=thread`` selects the in-process
:class:`~diface_editor.engine.worker.Engine` instead (the model loads on a helper thread, sampling
runs on the engine's worker thread). :meth:`EngineBridge.shutdown` ends the child (or joins the
threads); the main window calls it on close.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
from PySide6 import QtCore

from diface_editor.core.commands import apply_result
from diface_editor.core.document import Document
from diface_editor.core.errors import DifaceError
from diface_editor.core.paths import model_dir

log = logging.getLogger(__name__)


def resolve_model_path(model_id: str) -> Path:
    """A model id is a bundle folder path or the name of a shipped bundle under ``models/``."""
    p = Path(model_id).expanduser()
    if p.is_absolute() or p.is_dir():
        return p
    return model_dir(model_id)


def model_status(model_id: str) -> tuple[bool, str]:
    """``(available, sentence)``: whether a bundle exists for ``model_id`` (cheap, no torch)."""
    p = resolve_model_path(model_id)
    if (p / "config.json").is_file():
        return True, f"model {p.name} ({p})"
    return False, (f"No motion model is installed at {p}: train one with 'diface train' or copy a model "
                   f"bundle folder there, then try again.")


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


def blink_seed(settings) -> int | None:
    """The blink seed a request gets from the document's sampler settings (``None``: no blinks)."""
    return int(settings.blink_seed) if settings.blinks else None


def sampling_options(settings, steps: int | None) -> dict:
    """Request keywords from the document's sampler settings (``steps``: the steps this edit uses)."""
    return {"sampler": settings.sampler, "steps": steps, "guidance": float(settings.guidance),
            "blink_seed": blink_seed(settings)}


@dataclass
class EditOptions:
    """Per-edit choices of the Generate panel (not saved with the project).

    Attributes:
        parts: what an edit regenerates: ``("face",)``, ``("head",)`` or both.
        seed_locked: True: every edit uses the document's seed; False: a new random seed per edit
            (written back to the document's settings so it can be locked and reproduced).
        auto_solve: re-solve a window around every keyframe change.
        interactive_steps: sampler steps for keyframe and swap edits (``None``: the panel's steps);
            few steps keep dragging interactive.
    """

    parts: tuple[str, ...] = ("face", "head")
    seed_locked: bool = True
    auto_solve: bool = True
    interactive_steps: int | None = None


class _ModelLoadFailed:
    def __init__(self, message: str) -> None:
        self.message = message


def engine_mode() -> str:
    """``"process"`` (default: the engine runs in a child process) or ``"thread"`` (``DIFACE_ENGINE=thread``:
    in this process, on a worker thread)."""
    return "thread" if os.environ.get("DIFACE_ENGINE", "").strip().lower() == "thread" else "process"


class EngineBridge(QtCore.QObject):
    """Runs requests for the current document on the engine and applies the results.

    Args:
        model_factory: ``factory(model_id) -> model`` (an ``ml.bundle.MotionModel`` or anything the
            engine accepts); default loads the bundle with ``MotionModel.load``. Called in the engine
            process (so it must be a picklable module-level function) or, with
            ``DIFACE_ENGINE=thread``, on a helper thread.
        engine_kwargs: extra keyword arguments for ``Engine`` (e.g. ``preview_interval``).
        preview_interval_ms: the ``preview`` signal fires at most this often (the latest preview wins),
            so drawing previews never piles up behind a fast sampler.

    Signals:
        job_started(int job_id, str kind)
        progress(int job_id, int step, int total)
        preview(object animation_or_None): live preview; ``None`` when it ends.
        result_applied(int job_id)
        result_discarded(int job_id, str why)
        failed(int job_id, str message)
        cancelled(int job_id)
        busy_changed(bool)
        variants_ready(list): several animations from one job (the caller picks one).
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
    _event = QtCore.Signal(object)  # worker / loader thread -> GUI thread

    def __init__(self, parent: QtCore.QObject | None = None,
                 model_factory: Callable[[str], Any] | None = None, engine_kwargs: dict | None = None,
                 preview_interval_ms: int = 120) -> None:
        super().__init__(parent)
        # The worker runs Python between torch calls and holds the GIL most of the time; every Qt
        # call on the GUI thread releases and re-takes it, waiting up to the switch interval each
        # time (5 ms by default: a handler making 20 Qt calls then takes 100 ms). 1 ms keeps the
        # GUI responsive at a small cost in throughput.
        if sys.getswitchinterval() > 0.001:
            sys.setswitchinterval(0.001)
        self._event.connect(self._on_event, QtCore.Qt.QueuedConnection)
        self.model_factory = model_factory or self._load_bundle
        self.engine_kwargs = dict(engine_kwargs or {})
        self.doc: Document | None = None
        self.undo_stack = None
        self.engine = None
        self._engine_model_id: str | None = None
        self._engine_ready = False  # the engine has its model (jobs go straight to it)
        self._engine_mode = engine_mode()
        self._loader: threading.Thread | None = None
        # the engine process starts loading the model once the document's model id is known (a
        # zero-delay timer, so that opening a file and then choosing a model starts one process)
        self._preload_timer = QtCore.QTimer(self)
        self._preload_timer.setSingleShot(True)
        self._preload_timer.setInterval(0)
        self._preload_timer.timeout.connect(self._preload)
        self._queued: tuple | None = None  # (request factory, label) waiting for the model
        self._latest_job: int | None = None
        self._labels: dict[int, str] = {}
        self._busy = False
        self._t_submit = 0.0
        self._teacher: threading.Thread | None = None
        # previews arrive as fast as the sampler makes them; the views redraw at most this often
        self._pending_preview = None
        self._preview_timer = QtCore.QTimer(self)
        self._preview_timer.setSingleShot(True)
        self._preview_timer.setInterval(int(preview_interval_ms))
        self._preview_timer.timeout.connect(self._flush_preview)
        #: per-edit options set by the Generate panel (see :class:`EditOptions`)
        self.options = EditOptions()
        #: the last variants job: (doc version, animations, changed (start, stop), label) or None
        self.last_variants: tuple[int, list, tuple[int, int], str] | None = None
        #: perf_counter() when the latest job's first preview / result reached the views (benchmarks)
        self.t_first_preview: float | None = None
        self.last_info: dict | None = None

    # ------------------------------------------------------------------ binding
    def set_document(self, doc: Document | None, undo_stack) -> None:
        """Work for ``doc``; results are pushed on ``undo_stack`` (``push_command(cmd)``). Cancels jobs."""
        self.cancel()
        self._latest_job = None  # results of jobs for the previous document are never applied
        if self.doc is not None:
            self.doc.events.disconnect_object(self)
        self.doc = doc
        self.undo_stack = undo_stack
        if doc is not None:
            doc.events.settings.connect(self._on_doc_settings)
            self._preload_timer.start()

    def _on_doc_settings(self, _ev) -> None:
        if self.doc is not None and self.doc.model_id != self._engine_model_id:
            self._preload_timer.start()

    def _preload(self) -> None:
        """Start the engine process for the model of a document with audio (process mode only; the
        in-process engine loads on demand, as importing torch here would hold up the GUI)."""
        if self._engine_mode != "process" or self.doc is None or self.doc.audio is None or self._busy:
            return
        if self.engine is not None and (self._engine_model_id == self.doc.model_id or self.engine.busy):
            return
        if self.model_available()[0]:
            self._start_engine(self.doc.model_id)

    @property
    def busy(self) -> bool:
        return self._busy

    @property
    def running_label(self) -> str | None:
        """Label of the job in flight or waiting for the model (``"generate"``, ``"variants"``, ...), or None."""
        if not self._busy:
            return None
        if self._queued is not None:
            return self._queued[1]
        return self._labels.get(self._latest_job) if self._latest_job is not None else None

    def _set_busy(self, b: bool) -> None:
        if b != self._busy:
            self._busy = b
            self.busy_changed.emit(b)

    # ------------------------------------------------------------------ model
    @staticmethod
    def _load_bundle(model_id: str):
        from diface_editor.ml.bundle import MotionModel  # torch: only on the loader thread

        return MotionModel.load(resolve_model_path(model_id))

    def model_available(self) -> tuple[bool, str]:
        """Whether a model can be used for the document's model id (``True`` with a custom factory)."""
        if self.model_factory is not self._load_bundle and self.model_factory is not None:
            return True, "custom model"
        if self.doc is None:
            return False, "no document"
        return model_status(self.doc.model_id)

    def _ensure_engine(self, model_id: str) -> bool:
        """True if the engine is ready; otherwise starts loading it (the queued job runs afterwards)."""
        if self.engine is not None and self._engine_model_id == model_id and self._engine_ready:
            return True
        if self._engine_mode == "process":
            if self.engine is None or self._engine_model_id != model_id:
                self._start_engine(model_id)
            self.status.emit("Loading the motion model…")
            self._set_busy(True)
            return False
        if self._loader is not None and self._loader.is_alive():
            return False
        if self.engine is not None:
            self.engine.shutdown()
            self.engine = None

        def load():
            try:
                model = self.model_factory(model_id)
                from diface_editor.engine.worker import Engine

                eng = Engine(model, on_event=self._event.emit, **self.engine_kwargs)
                self._event.emit(("engine", model_id, eng))
            except DifaceError as e:
                self._event.emit(_ModelLoadFailed(str(e)))
            except Exception as e:  # noqa: BLE001 - shown to the user, logged with the traceback
                log.exception("loading model %s failed", model_id)
                self._event.emit(_ModelLoadFailed(f"the model could not be loaded ({type(e).__name__}: {e})"))

        self.status.emit("Loading the motion model…")
        self._set_busy(True)
        self._loader = threading.Thread(target=load, name="diface-model-loader", daemon=True)
        self._loader.start()
        return False

    def _start_engine(self, model_id: str) -> None:
        """Replace the engine by a :class:`ProcessEngine` for ``model_id``; its child starts loading now."""
        from diface_editor.engine.process import ProcessEngine

        self._stop_engine()
        custom = self.model_factory is not self._load_bundle and self.model_factory is not None
        eng = ProcessEngine(model_id if custom else resolve_model_path(model_id), on_event=self._event.emit,
                            loader=self.model_factory if custom else None, engine_kwargs=self.engine_kwargs,
                            queue_events=False)
        eng.on_load = lambda error, eng=eng: self._event.emit(("loaded", model_id, eng, error))
        self.engine, self._engine_model_id, self._engine_ready = eng, model_id, False
        eng.start()

    def _stop_engine(self, timeout: float = 1.0) -> None:
        eng, self.engine, self._engine_model_id, self._engine_ready = self.engine, None, None, False
        if eng is not None and not eng.shutdown(timeout):
            log.warning("the engine did not stop within %.0f s", timeout)

    # ------------------------------------------------------------------ requests
    def generate(self) -> bool:
        """Generate motion for the whole clip. Returns False (with a ``failed`` signal) if impossible."""
        doc = self.doc
        if doc is None or doc.audio is None:
            self.failed.emit(0, "There is no audio to generate from: open an audio file first.")
            return False

        def make(doc=doc):
            from diface_editor.engine.requests import GenerateRequest

            s = doc.sampler
            return GenerateRequest(audio=doc.audio, seed=int(s.seed), **sampling_options(s, s.steps))

        return self.submit(make, "generate")

    def resample_selection(self) -> bool:
        """Regenerate the selected frame range (keyframes inside stay pinned)."""
        doc = self.doc
        if doc is None or doc.audio is None:
            self.failed.emit(0, "There is no audio to resample against: open an audio file first.")
            return False
        if doc.selection is None:
            self.failed.emit(0, "Select a range in the timeline first (drag across it), then resample.")
            return False

        def make(doc=doc):
            from diface_editor.engine.requests import EditRequest

            s = doc.sampler
            return EditRequest(base=doc.animation.copy(), audio=doc.audio, mode="range", range=doc.selection,
                               keyframes=tuple(doc.keyframes), parts=self.options.parts, seed=self.edit_seed(),
                               **sampling_options(s, s.steps))

        return self.submit(make, "resample selection")

    def edit_seed(self) -> int:
        """The seed for the next edit: the document's when locked, else a new one (stored in the document)."""
        doc = self.doc
        if self.options.seed_locked:
            return int(doc.sampler.seed)
        import random

        seed = random.randrange(0, 2**31 - 1)
        doc.set_sampler(seed=seed)
        return seed

    def _need_audio(self, what: str) -> bool:
        if self.doc is None or self.doc.audio is None:
            self.failed.emit(0, f"There is no audio to {what} against: open an audio file first.")
            return False
        return True

    def solve_keyframes(self, keys, label: str = "solve keyframe", *, vacated=(), parts=None) -> bool:
        """Re-solve the influence window (``doc.sampler.influence_frames`` frames on each side) around
        the frames that changed: those of ``keys`` (keyframes just added, changed or moved there) and
        ``vacated`` (frames a keyframe left: a moved keyframe's old frame, a deleted one's frame).

        EditRequest mode ``"keyframes"`` with those frames as ``centres``: the document's keyframes
        within the radius of a centre stay pinned but get no window of their own, so every frame
        farther than the radius from a changed frame is kept bit for bit. Of the panel's parts, only
        ``parts`` (default: the parts of ``keys``) are regenerated (a head key: the head)."""
        frames = sorted({int(k.frame) for k in keys} | {int(f) for f in vacated})
        if not frames or not self._need_audio("solve the keyframe"):
            return False
        doc = self.doc
        keys = list(keys)
        changed_parts = set(parts) if parts is not None else {k.part for k in keys}

        def make(doc=doc, frames=frames):
            from diface_editor.engine.requests import EditRequest

            s = doc.sampler
            r = int(s.influence_frames)
            present = {(k.frame, k.part) for k in doc.keyframes}
            if keys and not vacated and not any((k.frame, k.part) in present for k in keys):
                raise DifaceError("the keyframe to solve is gone (undone or deleted)")
            # keyframes near the changed frames stay pinned (they do not widen the window)
            pins = [k for k in doc.keyframes if any(abs(k.frame - f) <= r for f in frames)]
            # only the parts of the changed keyframes are re-solved (a head drag leaves the lip sync alone)
            solve_parts = tuple(p for p in self.options.parts if p in changed_parts) or self.options.parts
            return EditRequest(base=doc.animation.copy(), audio=doc.audio, mode="keyframes", keyframes=tuple(pins),
                               centres=tuple(frames), radius=r, parts=solve_parts, seed=self.edit_seed(),
                               **sampling_options(s, self.options.interactive_steps or s.steps))

        return self.submit(make, label)

    def variants_selection(self) -> bool:
        """Draw ``doc.sampler.n_variants`` candidates for the selected range (``variants_ready`` when done)."""
        if not self._need_audio("draw variants"):
            return False
        doc = self.doc
        if doc.selection is None:
            self.failed.emit(0, "Select a range in the timeline first (drag across it), then ask for variants.")
            return False

        def make(doc=doc):
            from diface_editor.engine.requests import EditRequest, VariantsRequest

            s = doc.sampler
            edit = EditRequest(base=doc.animation.copy(), audio=doc.audio, mode="range", range=doc.selection,
                               keyframes=tuple(doc.keyframes), parts=self.options.parts, seed=self.edit_seed(),
                               **sampling_options(s, s.steps))
            return VariantsRequest(edit=edit, n=int(s.n_variants))

        return self.submit(make, "variants")

    def swap_pose(self, source: int, target: int, swap_parts: tuple[str, ...] = ("face", "head"),
                  label: str | None = None) -> bool:
        """Copy the pose of ``swap_parts`` at frame ``source`` to frame ``target`` and re-solve the
        influence window around ``target`` (EditRequest mode ``"swap"``, 3DiFACE's keyframe_swap).
        Only ``swap_parts`` are regenerated: a head swap leaves the face bit for bit as it was."""
        if not self._need_audio("solve the pose"):
            return False
        if not swap_parts:
            self.failed.emit(0, "Choose what to copy: the face, the head or both.")
            return False
        doc = self.doc

        def make(doc=doc):
            from diface_editor.engine.requests import EditRequest

            s = doc.sampler
            r = int(s.influence_frames)
            near = tuple(k for k in doc.keyframes if abs(k.frame - int(target)) <= r)  # pinned in the window
            return EditRequest(base=doc.animation.copy(), audio=doc.audio, mode="swap", swap=(int(source), int(target)),
                               swap_parts=tuple(swap_parts), keyframes=near, radius=r, parts=tuple(swap_parts),
                               seed=self.edit_seed(), **sampling_options(s, self.options.interactive_steps or s.steps))

        return self.submit(make, label or f"paste pose from frame {source} to {target}")

    def teacher_lipsync(self, transcript: str) -> bool:
        """Baseline without a model: align ``transcript`` with the audio (pocketsphinx) and animate the
        phones with the procedural teacher (:mod:`diface_editor.synth.teacher`), on a helper thread."""
        doc = self.doc
        if doc is None or doc.audio is None:
            self.failed.emit(0, "There is no audio to lip-sync: open an audio file first.")
            return False
        if not transcript.strip():
            self.failed.emit(0, "The transcript is empty.")
            return False
        if self._teacher is not None and self._teacher.is_alive():
            return False
        audio, version, seed = doc.audio, doc.version, int(doc.sampler.seed)

        def work():
            try:
                from diface_editor.synth.align import align
                from diface_editor.synth.teacher import animate

                samples = np.asarray(audio.samples, np.float32)
                al = align(samples, int(audio.sample_rate), transcript)
                anim = animate(al.phones, duration=float(audio.duration), samples=samples,
                               sample_rate=int(audio.sample_rate), seed=seed)
                self._event.emit(("teacher", version, anim, None))
            except DifaceError as e:
                self._event.emit(("teacher", version, None, str(e)))
            except Exception as e:  # noqa: BLE001 - shown to the user, logged with the traceback
                log.exception("teacher lip sync failed")
                self._event.emit(("teacher", version, None, f"the lip sync failed ({type(e).__name__}: {e})"))

        self.status.emit("Aligning the transcript and animating…")
        self._set_busy(True)
        self._teacher = threading.Thread(target=work, name="diface-teacher", daemon=True)
        self._teacher.start()
        return True

    def submit(self, make_request: Callable[[], Any], label: str) -> bool:
        """Submit ``make_request()`` for the current document version (after loading the model if needed).

        ``make_request`` is called on the GUI thread right before submission, so it sees the
        document as it is then. A newer submission supersedes an older one.
        """
        if self.doc is None:
            return False
        ok, why = self.model_available()
        if not ok:
            self.failed.emit(0, why)
            return False
        self._queued = (make_request, label)
        if self._ensure_engine(self.doc.model_id):
            self._submit_queued()
        return True

    def _submit_queued(self) -> None:
        if self._queued is None or self.engine is None or self.doc is None:
            return
        make, label = self._queued
        self._queued = None
        try:
            req = make()
        except DifaceError as e:
            self.failed.emit(0, str(e))
            self._set_busy(False)
            return
        self._t_submit = time.perf_counter()
        self.t_first_preview = None
        job = self.engine.submit(req, self.doc.version)
        self._latest_job = job
        self._labels[job] = label
        self._set_busy(True)

    def cancel(self) -> None:
        """Cancel the job in flight (and a job waiting for the model)."""
        self._queued = None
        if self.engine is not None:
            self.engine.cancel()
        self._end_preview()
        if not any(t is not None and t.is_alive() for t in (self._loader, self._teacher)):
            self._set_busy(False)

    def shutdown(self, timeout: float = 10.0) -> None:
        """Cancel everything, end the engine process (or join the model loader and the engine's
        worker thread) and join the teacher thread."""
        self._queued = None
        self._preload_timer.stop()
        if self.doc is not None:
            self.doc.events.disconnect_object(self)
        for t in (self._loader, self._teacher):
            if t is not None:
                t.join(timeout)
        self._stop_engine(timeout)
        self._set_busy(False)

    # ------------------------------------------------------------------ events (GUI thread)
    def _on_event(self, ev: Any) -> None:
        from diface_editor.engine.events import JobCancelled, JobFailed, JobProgress, JobResult, JobStarted

        if isinstance(ev, tuple) and ev and ev[0] == "engine":
            _, model_id, eng = ev
            self.engine, self._engine_model_id, self._engine_ready = eng, model_id, True
            self.status.emit("Model loaded.")
            if self._queued is not None:
                self._submit_queued()
            else:
                self._set_busy(False)
            return
        if isinstance(ev, tuple) and ev and ev[0] == "loaded":  # the engine process loaded its model (or not)
            _, model_id, eng, error = ev
            if eng is not self.engine:
                return  # an engine replaced meanwhile
            if error is None:
                self._engine_ready = True
                if self._queued is not None:
                    self.status.emit("Model loaded.")
                    self._submit_queued()
                return
            self._stop_engine(0.2)  # the next request tries again with a new process
            if self._queued is not None or self._busy:  # someone is waiting for this model
                self._queued = None
                self._latest_job = None  # its JobFailed (the same sentence) is not shown twice
                self._set_busy(False)
                self.failed.emit(0, error)
            else:
                log.warning("the motion model %s could not be loaded: %s", model_id, error)
            return
        if isinstance(ev, tuple) and ev and ev[0] == "teacher":
            _, version, anim, message = ev
            self._set_busy(False)
            if message is not None:
                self.failed.emit(0, message)
            elif self.doc is None or self.doc.version != version:
                self.result_discarded.emit(0, "the document changed while it was computed")
            else:
                try:
                    self.undo_stack.push_command(apply_result(self.doc, anim, None, text="lip sync from transcript"))
                except DifaceError as e:
                    self.failed.emit(0, str(e))
                    return
                self.status.emit("Lip sync from the transcript: done.")
                self.result_applied.emit(0)
            return
        if isinstance(ev, _ModelLoadFailed):
            self._queued = None
            self._set_busy(False)
            self.failed.emit(0, ev.message)
            return
        latest = ev.job_id == self._latest_job
        if isinstance(ev, JobStarted):
            if latest:
                self.job_started.emit(ev.job_id, self._labels.get(ev.job_id, ev.kind))
        elif isinstance(ev, JobProgress):
            if latest:
                self.progress.emit(ev.job_id, ev.step, ev.total)
                if ev.preview is not None and self.doc is not None and ev.doc_version == self.doc.version:
                    self._pending_preview = ev.preview
                    if not self._preview_timer.isActive():  # leading edge: the first preview at once
                        self._flush_preview()
                        self._preview_timer.start()
        elif isinstance(ev, JobResult):
            self._finish(ev.job_id)
            self._apply(ev)
        elif isinstance(ev, JobFailed):
            self._finish(ev.job_id)
            if latest:
                self.failed.emit(ev.job_id, ev.message)
        elif isinstance(ev, JobCancelled):
            self._finish(ev.job_id)
            if latest:
                self.cancelled.emit(ev.job_id)
                self.status.emit("Cancelled.")

    def _flush_preview(self) -> None:
        anim, self._pending_preview = self._pending_preview, None
        if anim is not None and self._busy:
            if self.t_first_preview is None:
                self.t_first_preview = time.perf_counter()
            self.preview.emit(anim)
            if not self._preview_timer.isActive():
                self._preview_timer.start()  # trailing edge: the next one no sooner than the interval

    def _end_preview(self) -> None:
        self._preview_timer.stop()
        self._pending_preview = None
        self.preview.emit(None)

    def _finish(self, job_id: int) -> None:
        if job_id == self._latest_job:
            self._end_preview()
            self._set_busy(False)

    def _apply(self, ev) -> None:
        label = self._labels.pop(ev.job_id, "generate")
        self.last_info = ev.info  # timings of the last finished job (benchmarks, status)
        doc = self.doc
        if doc is None or ev.job_id != self._latest_job:
            self.result_discarded.emit(ev.job_id, "a newer job replaced it")
            return
        if ev.doc_version != doc.version:
            self.result_discarded.emit(ev.job_id, "the document changed while it was computed")
            self.status.emit("Result discarded: the document changed while it was computed.")
            return
        anims = ev.animations
        if len(anims) > 1 or (isinstance(ev.info, dict) and ev.info.get("kind") == "variants"):
            self.last_variants = (doc.version, list(anims), tuple(ev.changed), label)
            self.status.emit(f"{len(anims)} variants are ready: pick one in the Variants panel.")
            self.variants_ready.emit(list(anims))
            return
        try:
            cmd = apply_result(doc, anims[0], ev.changed, text=label)
            self.undo_stack.push_command(cmd)
        except DifaceError as e:
            self.failed.emit(ev.job_id, str(e))
            return
        took = ev.info.get("total_s") if isinstance(ev.info, dict) else None
        took = took if took is not None else time.perf_counter() - self._t_submit
        self.status.emit(f"{label.capitalize()}: done in {took:.1f} s.")
        self.result_applied.emit(ev.job_id)
