"""A :class:`~diface_editor.engine.api.JobEngine` in this process: the model loads on a helper
thread (``diface-model-loader``), then jobs run on an :class:`~diface_editor.engine.worker.Engine`
worker thread. The editor uses it with ``DIFACE_ENGINE=thread``; its surface is that of
:class:`~diface_editor.engine.process.ProcessEngine`, so the editor has one loading path.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from typing import Any

from diface_editor.core.errors import DifaceError
from diface_editor.engine.backend import EngineError
from diface_editor.engine.events import JobEvent
from diface_editor.engine.loading import load_model
from diface_editor.engine.requests import Request
from diface_editor.engine.worker import Engine, EventQueue

log = logging.getLogger(__name__)


class ThreadEngine:
    """Loads a model on a helper thread, then runs jobs on an in-process :class:`Engine`.

    Args:
        model_path: what ``loader`` loads (default: a model bundle folder).
        on_event: ``on_event(event)`` for every job event (from the worker thread).
        on_load: ``on_load(error_or_None)`` when loading ends (from the loader thread).
        loader: ``loader(model_path) -> model``; default :func:`~diface_editor.engine.loading.load_model`.
        engine_kwargs: keyword arguments for the :class:`Engine` (``preview_interval``, ``previews``...).
    """

    def __init__(self, model_path: str | os.PathLike, on_event: Callable[[JobEvent], None] | None = None, *,
                 on_load: Callable[[str | None], None] | None = None, loader: Callable[[str], Any] | None = None,
                 engine_kwargs: dict | None = None) -> None:
        self.model_path = str(model_path)
        self.on_event = on_event
        self.on_load = on_load
        self.loader = loader or load_model
        self.engine_kwargs = dict(engine_kwargs or {})
        self.events: EventQueue = EventQueue()
        self._engine: Engine | None = None
        self._loader_thread: threading.Thread | None = None
        self._stopping = False
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ loading
    def start(self) -> None:
        """Start loading the model on the ``diface-model-loader`` thread (once)."""
        with self._lock:
            if self._stopping:
                raise EngineError("the engine has been shut down; start a new one")
            if self._loader_thread is None:
                self._loader_thread = threading.Thread(target=self._load, name="diface-model-loader", daemon=True)
                self._loader_thread.start()

    def _load(self) -> None:
        try:
            model = self.loader(self.model_path)
            engine = Engine(model, on_event=self._emit, **self.engine_kwargs)
            error = None
        except DifaceError as e:
            engine, error = None, str(e)
        except Exception as e:
            log.exception("loading model %s failed", self.model_path)
            engine, error = None, f"the model could not be loaded ({type(e).__name__}: {e})"
        with self._lock:
            if self._stopping and engine is not None:
                engine.shutdown(0)
                return
            self._engine = engine
        if self.on_load is not None:
            try:
                self.on_load(error)
            except Exception:
                log.exception("engine load listener raised")

    def _emit(self, ev: JobEvent) -> None:  # the worker thread
        self.events.put(ev)
        if self.on_event is not None:
            self.on_event(ev)

    # ------------------------------------------------------------------ state
    @property
    def engine(self) -> Engine | None:
        """The in-process engine once the model is loaded (benchmarks read its model)."""
        return self._engine

    @property
    def loaded(self) -> bool:
        return self._engine is not None

    @property
    def alive(self) -> bool:
        e = self._engine
        t = self._loader_thread
        return (e is not None and e.alive) or (t is not None and t.is_alive())

    @property
    def busy(self) -> bool:
        e = self._engine
        return e is not None and e.busy

    # ------------------------------------------------------------------ jobs
    def submit(self, request: Request, doc_version: int = 0) -> int:
        """See :class:`~diface_editor.engine.api.JobEngine`; raises :class:`EngineError` before the
        model is loaded (wait for ``on_load``)."""
        e = self._engine
        if e is None:
            raise EngineError("the motion model is still loading")
        return e.submit(request, doc_version)

    def cancel(self) -> None:
        e = self._engine
        if e is not None:
            e.cancel()

    def wait_idle(self, timeout: float | None = None) -> bool:
        e = self._engine
        return True if e is None else e.wait_idle(timeout)

    def shutdown(self, timeout: float | None = 5.0) -> bool:
        """Stop the worker and join it and the loader thread."""
        with self._lock:
            self._stopping = True
            t = self._loader_thread
        if t is not None and t is not threading.current_thread():
            t.join(timeout)
        e = self._engine
        ok = e.shutdown(timeout) if e is not None else True
        return ok and not (t is not None and t.is_alive())
