"""The one interface of a job engine, whichever way it runs.

:class:`JobEngine` is what the editor (through :class:`~diface_editor.engine.session.EditSession`
and the GUI's bridge) and the benchmarks use. Two implementations:

* :class:`diface_editor.engine.threaded.ThreadEngine`: the model loads on a helper thread and jobs
  run on an :class:`~diface_editor.engine.worker.Engine` worker thread in this process
  (``DIFACE_ENGINE=thread``);
* :class:`diface_editor.engine.process.ProcessEngine`: the same :class:`~diface_editor.engine.worker.Engine`
  in a child process (the editor's default, so torch never holds the GUI's GIL).

Both take ``(model_path, on_event=None, *, on_load=None, loader=None, engine_kwargs=None)``;
:func:`make_engine` picks one by name. ``on_event`` and ``on_load`` are called from the engine's
own threads, never from the caller's.
"""

from __future__ import annotations

import logging
import os
import queue
from collections.abc import Callable
from typing import Any, Literal, Protocol, runtime_checkable

from diface_editor.engine.events import JobEvent
from diface_editor.engine.requests import Request

log = logging.getLogger(__name__)

EngineMode = Literal["process", "thread"]
#: ``loader(model_path) -> model``: run where the engine runs; picklable (module level) for a process
ModelLoader = Callable[[str], Any]


@runtime_checkable
class JobEngine(Protocol):
    """A job engine (see the module docstring).

    Attributes:
        on_event: ``on_event(event)`` for every :mod:`~diface_editor.engine.events` event of a job.
        on_load: ``on_load(error)`` once the model is loaded (``error`` None) or could not be
            (``error``: one sentence for the user).
        events: every event, also queued (bounded: old progress events are dropped first).
    """

    on_event: Callable[[JobEvent], None] | None
    on_load: Callable[[str | None], None] | None
    events: queue.Queue

    def start(self) -> None:
        """Begin loading the model now (``submit`` waits for it otherwise)."""

    @property
    def loaded(self) -> bool:
        """True once the model is loaded and jobs run at once."""

    @property
    def alive(self) -> bool:
        """True while the engine's worker (thread or child process) runs."""

    @property
    def busy(self) -> bool:
        """True while a job runs or waits."""

    def submit(self, request: Request, doc_version: int = 0) -> int:
        """Queue ``request`` computed against document version ``doc_version``; the job id, at once.
        A newer job cancels the one in flight and drops a waiting one."""

    def cancel(self) -> None:
        """Cancel the job in flight and any waiting job."""

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until no job runs or waits; False on timeout."""

    def shutdown(self, timeout: float | None = 5.0) -> bool:
        """Cancel everything and stop; True when every thread (and process) has ended."""


def engine_mode() -> EngineMode:
    """``"process"`` (default: the engine runs in a child process) or ``"thread"``
    (``DIFACE_ENGINE=thread``: in this process, on a worker thread)."""
    return "thread" if os.environ.get("DIFACE_ENGINE", "").strip().lower() == "thread" else "process"


def make_engine(mode: EngineMode, model_path: str, on_event: Callable[[JobEvent], None] | None = None, *,
                on_load: Callable[[str | None], None] | None = None, loader: ModelLoader | None = None,
                engine_kwargs: dict | None = None) -> JobEngine:
    """A :class:`JobEngine` of ``mode`` for the model at ``model_path`` (not started yet)."""
    if mode == "process":
        from diface_editor.engine.process import ProcessEngine

        return ProcessEngine(model_path, on_event, on_load=on_load, loader=loader, engine_kwargs=engine_kwargs,
                             queue_events=False)
    from diface_editor.engine.threaded import ThreadEngine

    return ThreadEngine(model_path, on_event, on_load=on_load, loader=loader, engine_kwargs=engine_kwargs)
