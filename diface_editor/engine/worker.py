"""The engine: one worker thread running generate / edit / variants jobs.

* :meth:`Engine.submit` queues a job and returns its id at once. A newer job supersedes the one in
  flight (cancelled between sampling steps) and any job still waiting, so only the latest edit's
  result arrives.
* Events (:mod:`diface_editor.engine.events`) go to :attr:`Engine.events` (a :class:`queue.Queue`)
  and to ``on_event(event)`` if given. ``on_event`` is called **from the worker thread**; a GUI
  bridges it to a queued signal. An exception in a job (or in ``on_event``) never kills the worker.
* :meth:`Engine.run_sync` runs a request on the calling thread through the same code path (CLI,
  benchmarks) and returns the :class:`~diface_editor.engine.events.JobResult`.

Audio features are computed through the model's audio encoder (or the ``encoder`` given) and kept
in a small in-memory cache per (clip, frame count), so edits of the same clip do not recompute them.
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from diface_editor.core.errors import DifaceError
from diface_editor.engine.backend import Cancelled, EngineError
from diface_editor.engine.events import JobCancelled, JobEvent, JobFailed, JobProgress, JobResult, JobStarted
from diface_editor.engine.jobs import execute
from diface_editor.engine.motion_adapter import as_window_model
from diface_editor.engine.requests import EditRequest, GenerateRequest, Request, VariantsRequest

log = logging.getLogger(__name__)


class EventQueue(queue.Queue):
    """A :class:`queue.Queue` of events that never grows without bound: beyond ``max_events``
    queued events the oldest :class:`JobProgress` events (and their previews) are dropped; results,
    failures and cancellations are always kept."""

    def __init__(self, max_events: int = 256) -> None:
        super().__init__()
        self.max_events = max_events

    def _put(self, item) -> None:  # called with the queue's lock held
        super()._put(item)
        if len(self.queue) > self.max_events:
            for i, ev in enumerate(self.queue):
                if isinstance(ev, JobProgress):
                    del self.queue[i]
                    break


def _kind(request: Request) -> str:
    return "generate" if isinstance(request, GenerateRequest) else "variants" if isinstance(
        request, VariantsRequest) else "edit"


def _interactive(request: Request) -> bool:
    """Keyframe and swap edits: short solves whose first preview is shown after the first step."""
    return isinstance(request, EditRequest) and request.mode in ("keyframes", "swap")


def _audio_key(audio) -> Any:
    key = getattr(audio, "sha256", None)
    return key if isinstance(key, (str, bytes)) else id(audio)


@dataclass
class _Job:
    job_id: int
    doc_version: int
    request: Request
    cancel: threading.Event = field(default_factory=threading.Event)


class Engine:
    """Runs generation and edit jobs for one model on a worker thread.

    Args:
        model: an ``ml.bundle.MotionModel`` (or anything implementing
            :class:`~diface_editor.engine.backend.WindowModel`).
        encoder: audio encoder with ``features(clip, n_frames, fps)``; default: the model's own.
        on_event: called with every event, from the worker thread (for :meth:`submit`) or from the
            calling thread (for :meth:`run_sync`).
        preview_interval: seconds between progress events carrying a preview (throttle). The first
            preview of a keyframe or swap edit comes after its first sampler step; that of any other
            job one interval after its start.
        previews: build preview animations at all (off saves a copy of the clip per preview).
        feature_cache: number of (clip, frame count) feature arrays kept in memory.
    """

    def __init__(self, model, encoder=None, on_event: Callable[[JobEvent], None] | None = None, *,
                 preview_interval: float = 0.05, previews: bool = True, feature_cache: int = 4) -> None:
        self.model = as_window_model(model)
        self._encoder = encoder
        self.on_event = on_event
        self.preview_interval = float(preview_interval)
        self.previews = previews
        self.events: EventQueue = EventQueue()
        self._ids = itertools.count(1)
        self._cond = threading.Condition()
        self._pending: _Job | None = None
        self._dropped: list[_Job] = []
        self._current: _Job | None = None
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._feat_lock = threading.Lock()
        self._feat_cache: OrderedDict[Any, np.ndarray] = OrderedDict()
        self._feat_cache_size = int(feature_cache)

    # ------------------------------------------------------------------ audio features
    @property
    def encoder(self):
        """The audio encoder (created from the model on first use)."""
        with self._feat_lock:
            if self._encoder is None:
                self._encoder = self.model.make_encoder()
            return self._encoder

    def features(self, audio, n_frames: int) -> np.ndarray:
        """(n_frames, D) float32 audio features of ``audio`` at the model's fps (cached)."""
        key = (_audio_key(audio), int(n_frames))
        with self._feat_lock:
            hit = self._feat_cache.get(key)
            if hit is not None:
                self._feat_cache.move_to_end(key)
                return hit
        enc = self.encoder
        feats = np.asarray(enc.features(audio, int(n_frames), self.model.fps), np.float32)
        feats.setflags(write=False)
        with self._feat_lock:
            self._feat_cache[key] = feats
            while len(self._feat_cache) > self._feat_cache_size:
                self._feat_cache.popitem(last=False)
        return feats

    # ------------------------------------------------------------------ synchronous API
    def run_sync(self, request: Request, on_event: Callable[[JobEvent], None] | None = None, *,
                 doc_version: int = 0, cancel: Callable[[], bool] | None = None) -> JobResult:
        """Run ``request`` on this thread and return its :class:`JobResult` (``job_id`` 0).

        Progress events go to ``on_event`` (throttled like the worker's). Errors propagate
        (:class:`~diface_editor.core.errors.DifaceError` for user errors,
        :class:`~diface_editor.engine.backend.Cancelled` when ``cancel()`` turns true).
        """
        job = _Job(0, int(doc_version), request)
        if on_event is not None:
            on_event(JobStarted(0, job.doc_version, _kind(request)))
        return self._execute(job, on_event, cancel)

    def _execute(self, job: _Job, emit: Callable[[JobEvent], None] | None,
                 cancel: Callable[[], bool] | None) -> JobResult:
        if emit is None:  # nobody listens: no progress events, no previews
            anim, changed, info = execute(job.request, self.model, self.features, cancel=cancel)
            return JobResult(job.job_id, job.doc_version, anim, changed, info)
        # Interactive edits (keyframe and swap solves: a few steps, tens of ms) show a preview right
        # after their first sampler step; other jobs (generate, resample, variants) one interval after
        # the start. After the first, previews come at most every preview_interval (no flooding).
        last = [-float("inf") if _interactive(job.request) else time.monotonic()]

        def progress(step: int, total: int, make_preview) -> None:
            now = time.monotonic()
            final = step >= total
            if not final and now - last[0] < self.preview_interval:
                return
            last[0] = now
            preview = make_preview() if (self.previews and not final) else None
            emit(JobProgress(job.job_id, job.doc_version, step, total, preview))

        anim, changed, info = execute(job.request, self.model, self.features, progress=progress, cancel=cancel)
        return JobResult(job.job_id, job.doc_version, anim, changed, info)

    # ------------------------------------------------------------------ asynchronous API
    def submit(self, request: Request, doc_version: int = 0) -> int:
        """Queue ``request`` (computed against document version ``doc_version``); returns the job id.

        The job in flight is cancelled and a job still waiting is dropped (both get
        :class:`JobCancelled`)."""
        with self._cond:
            if self._stopping:
                raise EngineError("the engine has been shut down; start a new one")
            job = _Job(next(self._ids), int(doc_version), request)
            if self._pending is not None:
                self._dropped.append(self._pending)
            if self._current is not None:
                self._current.cancel.set()
            self._pending = job
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="diface-engine", daemon=True)
                self._thread.start()
            self._cond.notify_all()
        return job.job_id

    def cancel(self) -> None:
        """Cancel the job in flight and any waiting job."""
        with self._cond:
            if self._pending is not None:
                self._dropped.append(self._pending)
                self._pending = None
            if self._current is not None:
                self._current.cancel.set()
            self._cond.notify_all()

    @property
    def busy(self) -> bool:
        """True while a job runs or waits."""
        with self._cond:
            return self._current is not None or self._pending is not None or bool(self._dropped)

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until no job runs or waits; False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self._current is not None or self._pending is not None or self._dropped:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def shutdown(self, timeout: float | None = 5.0) -> bool:
        """Cancel everything, stop the worker and join it; True if the thread has ended."""
        self.cancel()
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
            thread = self._thread
        if thread is None:
            return True
        thread.join(timeout)
        return not thread.is_alive()

    @property
    def alive(self) -> bool:
        """True while the worker thread runs."""
        return self._thread is not None and self._thread.is_alive()

    # ------------------------------------------------------------------ worker thread
    def _emit(self, ev: JobEvent) -> None:
        self.events.put(ev)
        if self.on_event is not None:
            try:
                self.on_event(ev)
            except Exception:  # a broken listener must not kill the worker
                log.exception("engine event listener raised")

    def _loop(self) -> None:
        while True:
            with self._cond:
                while self._pending is None and not self._dropped and not self._stopping:
                    self._cond.wait()
                dropped, self._dropped = self._dropped, []
                job = self._pending
                self._pending = None
                self._current = job
                if job is None and not dropped and self._stopping:
                    self._cond.notify_all()
                    return
            for d in dropped:
                self._emit(JobCancelled(d.job_id, d.doc_version))
            if job is not None:
                self._run(job)
            with self._cond:
                self._current = None
                self._cond.notify_all()

    def _run(self, job: _Job) -> None:
        if job.cancel.is_set():
            self._emit(JobCancelled(job.job_id, job.doc_version))
            return
        self._emit(JobStarted(job.job_id, job.doc_version, _kind(job.request)))
        try:
            result = self._execute(job, self._emit, job.cancel.is_set)
        except Cancelled:
            self._emit(JobCancelled(job.job_id, job.doc_version))
            return
        except DifaceError as e:
            self._emit(JobFailed(job.job_id, job.doc_version, str(e)))
            return
        except Exception as e:  # noqa: BLE001 - report, keep the worker alive
            log.exception("engine job %d failed", job.job_id)
            self._emit(JobFailed(job.job_id, job.doc_version, f"{type(e).__name__}: {e}"))
            return
        if job.cancel.is_set():  # superseded after the last step: the result is stale
            self._emit(JobCancelled(job.job_id, job.doc_version))
        else:
            self._emit(result)
