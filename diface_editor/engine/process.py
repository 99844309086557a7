"""The engine in a child process, so that the editor's process never runs torch.

Why one module of ~650 lines: the parent-side proxy and the child's loop are two halves of one
protocol (start, load, submit, cancel, the watchdog, crash and shutdown) that change together; the
wire format is already apart (:mod:`diface_editor.engine.wire`).

:class:`ProcessEngine` has the surface the GUI uses from :class:`~diface_editor.engine.worker.Engine`
(``submit(request, doc_version) -> job id``, ``cancel()``, ``busy``, ``wait_idle``, ``shutdown``,
``alive``, ``events`` and ``on_event`` with the same :mod:`~diface_editor.engine.events` objects), but
the real :class:`~diface_editor.engine.worker.Engine` (model, audio features, sampling) runs in a
child process started with multiprocessing's ``"spawn"`` context (never ``fork``: the parent has Qt
threads). Loading the model, importing torch and sampling hold the child's GIL, not the GUI's.

Parent side: a sender thread (``diface-engine-send``) pickles and writes requests (a small one, once
the child has its model and nothing is queued, is written by the thread that submits it); a reader thread
(``diface-engine-read``) receives events and calls ``on_event`` (the GUI bridge turns that into a
queued signal). The child starts loading the model, then its audio encoder, as soon as it starts
(:meth:`ProcessEngine.start`; :meth:`~ProcessEngine.submit` starts it too) and queues jobs until the
model is there; ``on_load(error_or_None)`` reports the outcome. Jobs superseded while the model loads
are cancelled, as in the worker.

Wire format (two one-way pipes, :mod:`diface_editor.engine.wire`): each message is a pickle
(protocol 5) whose numpy buffers travel out of band, straight from the array to the pipe. Large data
is not re-sent:

* an :class:`~diface_editor.core.audio.AudioClip` is sent once and referenced by its ``sha256``
  afterwards (the child keeps the last ``audio_cache`` clips);
* an :class:`~diface_editor.core.animation.Animation` travels as the rows that differ from a
  reference both sides hold: a request's base against the previous base sent; a preview or result
  against the job's base or its previous preview. An edit of a 10-minute clip (18 000 frames, 4 MB)
  sends a few kB each way.

A child that dies (killed, crashed) ends its jobs with a :class:`~diface_editor.engine.events.JobFailed`
saying so; the next :meth:`~ProcessEngine.submit` starts a new child. The child uses
``max(1, cpu_count - 1)`` torch threads (``DIFACE_ENGINE_THREADS`` or ``torch_threads`` override), so
one core stays free for the GUI, runs at a lower CPU priority (nice +5, ``DIFACE_ENGINE_NICE``), so
the editor's threads win the CPU on a busy machine, and exits when the parent's pipe closes (the
parent died).

A program that starts a ProcessEngine must guard its main module (``if __name__ == "__main__":``):
spawn imports it again in the child.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import multiprocessing
import os
import queue
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from diface_editor.core.errors import DifaceError
from diface_editor.engine.backend import EngineError
from diface_editor.engine.events import (
    JobCancelled,
    JobEvent,
    JobFailed,
    JobProgress,
    JobResult,
)
from diface_editor.engine.loading import load_model
from diface_editor.engine.wire import (
    Codec,
    decode_animation,
    dump_parts,
    encode_animation,
    read_message,
    request_base,
    write_parts,
)
from diface_editor.engine.worker import EventQueue

log = logging.getLogger(__name__)

#: messages up to this size (pickled) are written by the thread that posts them (see :meth:`_Child.post`)
INLINE_MAX_BYTES = 16384

_TERMINAL = (JobResult, JobFailed, JobCancelled)
#: what tests and tools import from here (the codec lives in :mod:`diface_editor.engine.wire`)
__all__ = [
    "IpcStats",
    "ProcessEngine",
    "decode_animation",
    "default_nice",
    "default_threads",
    "encode_animation",
    "request_base",
]


# ====================================================================== helpers shared by both sides
#: Seconds a child with open jobs may stay silent after a cancel before the watchdog ends it.
CANCEL_TIMEOUT = 15.0


def default_nice() -> int:
    """How much lower the child's CPU priority is than the editor's: ``DIFACE_ENGINE_NICE`` if set, else 5."""
    env = os.environ.get("DIFACE_ENGINE_NICE", "").strip()
    return int(env) if env.isdigit() else 5


def default_threads() -> int:
    """Torch threads for the child: ``DIFACE_ENGINE_THREADS`` if set, else ``max(1, cpu_count - 1)``."""
    env = os.environ.get("DIFACE_ENGINE_THREADS", "").strip()
    if env.isdigit() and int(env) > 0:
        return int(env)
    return max(1, (os.cpu_count() or 2) - 1)


# ====================================================================== child process
class _ChildServer:
    """The child's side: receives requests (main thread), runs them on a real Engine (its worker
    thread) and sends the events back with the parent's job ids."""

    def __init__(self, conn_out, engine_kwargs: dict, audio_cache: int) -> None:
        self.conn_out = conn_out
        self.engine_kwargs = engine_kwargs
        self.lock = threading.Lock()  # engine, pending, maps, and the order of sends
        self.engine = None
        self.error: str | None = None
        self.pending: tuple[int, int, Any] | None = None  # a job that arrived before the model
        self.ids: dict[int, int] = {}  # child engine's job id -> parent's job id
        self.rx = Codec(audio_cache)  # requests from the parent
        self.tx = Codec(audio_cache)  # events to the parent; refs: parent job id -> base / last preview

    def send(self, msg, ref_key=None) -> None:  # with self.lock held
        self.tx.ref_key = ref_key
        try:
            parts = dump_parts(msg, self.tx)
        finally:
            self.tx.ref_key = None
        write_parts(self.conn_out, parts)

    def load(self, path: str, loader: Callable[[str], Any], threads: int) -> None:
        t0 = time.perf_counter()
        info: dict[str, Any] = {"pid": os.getpid(), "nice": os.nice(0) if hasattr(os, "nice") else None}
        try:
            model = loader(path)
            if "torch" in sys.modules:  # only a torch model needs it (test doubles do not import torch)
                import torch

                torch.set_num_threads(int(threads))
                info["torch_threads"] = torch.get_num_threads()
            from diface_editor.engine.worker import Engine

            engine = Engine(model, on_event=self.on_event, **self.engine_kwargs)
            err = None
        except DifaceError as e:
            err = str(e)
        except Exception as e:  # noqa: BLE001 - the same sentence the in-thread loader showed
            log.exception("loading model %s failed", path)
            err = f"the model could not be loaded ({type(e).__name__}: {e})"
        info["load_s"] = round(time.perf_counter() - t0, 3)
        with self.lock:
            self.send(("loaded", err, info))
            if err is None:
                self.engine = engine
            else:
                self.error = err
            busy = self.pending is not None
            if busy:
                job, version, request = self.pending
                self.pending = None
                self._start(job, version, request)
        if err is None:  # the audio encoder (e.g. Whisper: seconds) loads now, not in the first job
            try:
                enc = engine.encoder  # the property loads it
                if not busy and hasattr(enc, "warm_up"):
                    enc.warm_up()  # torch's first-call set-up on a silent window, while the user reads the window
            except Exception:  # noqa: BLE001 - the first job tries again and reports it as the worker would
                log.debug("warming up the audio encoder failed", exc_info=True)

    def _start(self, job: int, version: int, request) -> None:  # with self.lock held
        if self.error is not None:
            self.tx.refs.pop(job, None)
            self.send(("event", JobFailed(job, version, self.error)))
            return
        self.ids[self.engine.submit(request, version)] = job

    def submit(self, job: int, version: int, request) -> None:
        with self.lock:
            base = request_base(request)
            if base is not None:
                self.tx.refs[job] = base
            if self.engine is None and self.error is None:  # the model is still loading: keep the latest
                if self.pending is not None:
                    old = self.pending[0]
                    self.tx.refs.pop(old, None)
                    self.send(("event", JobCancelled(old, self.pending[1])))
                self.pending = (job, version, request)
                return
            self._start(job, version, request)

    def cancel(self) -> None:
        with self.lock:
            if self.pending is not None:
                job, version, _ = self.pending
                self.pending = None
                self.tx.refs.pop(job, None)
                self.send(("event", JobCancelled(job, version)))
            if self.engine is not None:
                self.engine.cancel()

    def on_event(self, ev: JobEvent) -> None:  # the engine's worker thread
        with self.lock:
            job = self.ids.get(ev.job_id)
            if job is None:
                log.warning("event for an unknown job %s", ev.job_id)
                return
            ev = dataclasses.replace(ev, job_id=job)
            self.send(("event", ev), ref_key=job)
            if isinstance(ev, JobProgress) and ev.preview is not None:
                self.tx.refs[job] = ev.preview  # the parent now holds it too
            elif isinstance(ev, _TERMINAL):
                self.tx.refs.pop(job, None)
                self.ids = {c: p for c, p in self.ids.items() if p != job}
        engine = self.engine
        while engine is not None:  # nobody reads the child engine's queue: keep it empty
            try:
                engine.events.get_nowait()
            except queue.Empty:
                break


def _child_main(conn_in, conn_out, path: str, loader, engine_kwargs: dict, threads: int, audio_cache: int,
                nice: int) -> None:
    """Entry point of the child process."""
    logging.basicConfig(level=logging.WARNING, format="diface engine process: %(levelname)s %(name)s: %(message)s")
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C in a terminal goes to the editor, which stops us
    if nice > 0 and hasattr(os, "nice"):  # the editor's threads win the CPU when both want it
        try:
            os.nice(int(nice))
        except OSError:
            pass
    server = _ChildServer(conn_out, engine_kwargs, audio_cache)
    threading.Thread(target=server.load, args=(path, loader, threads), name="diface-engine-load",
                     daemon=True).start()
    code = 0
    try:
        while True:
            try:
                msg, _ = read_message(conn_in, server.rx)
            except EOFError:  # the parent went away
                break
            kind = msg[0]
            if kind == "submit":
                _, job, version, request = msg
                base = request_base(request)
                if base is not None:
                    server.rx.refs["base"] = base
                server.submit(job, version, request)
            elif kind == "cancel":
                server.cancel()
            elif kind == "stop":
                break
    except BaseException as e:  # noqa: BLE001 - tell the parent why, then end
        code = 1
        log.exception("the engine process failed")
        try:
            with server.lock:
                server.send(("fatal", f"{type(e).__name__}: {e}"))
        except Exception:  # noqa: BLE001
            pass
    finally:
        try:
            if server.engine is not None:
                server.engine.cancel()
        finally:
            for stream in (sys.stdout, sys.stderr):
                try:
                    stream.flush()
                except Exception:  # noqa: BLE001
                    pass
            os._exit(code)  # no waiting for a sampling step or an import in another thread


# ====================================================================== parent side
@dataclasses.dataclass
class IpcStats:
    """Traffic between the parent and the current and earlier children (bytes, messages)."""

    bytes_sent: int = 0
    bytes_received: int = 0
    messages_sent: int = 0
    messages_received: int = 0
    audio_clips_sent: int = 0
    last_request_bytes: int = 0
    children_started: int = 0


class _Child:
    """One child process with its pipes, sender and reader threads and the parent's codec state."""

    def __init__(self, owner: ProcessEngine) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.owner = owner
        r_in, self.conn_in = ctx.Pipe(duplex=False)  # parent -> child
        self.conn_out, w_out = ctx.Pipe(duplex=False)  # child -> parent
        self.process = ctx.Process(target=_child_main, name="diface-engine-process", daemon=True,
                                   args=(r_in, w_out, owner.model_path, owner.loader, owner.engine_kwargs,
                                         owner.torch_threads, owner.audio_cache, owner.nice))
        self.tx = Codec(owner.audio_cache)  # requests (with _write_lock held)
        self.rx = Codec(owner.audio_cache)  # events (reader thread; refs also set by submit)
        self.queue: queue.Queue = queue.Queue()
        self._post_lock = threading.Lock()  # _inflight
        self._write_lock = threading.Lock()  # the pipe and the codec, one message at a time, in order
        self._inflight = 0  # messages posted and not yet written
        self.loaded = False
        self.load_info: dict = {}
        self.fatal: str | None = None
        self.ended = False
        self.last_message = time.monotonic()  # when the reader last got anything (the watchdog's clock)
        self.process.start()
        r_in.close()  # the child holds its ends now; EOF on conn_out means the child is gone
        w_out.close()
        self.sender = threading.Thread(target=self._send_loop, name="diface-engine-send", daemon=True)
        self.reader = threading.Thread(target=owner._read_loop, args=(self,), name="diface-engine-read", daemon=True)
        self.sender.start()
        self.reader.start()

    @property
    def pid(self) -> int | None:
        return self.process.pid

    def running(self) -> bool:
        return not self.ended and self.process.is_alive()

    def post(self, msg) -> None:
        """Send ``msg`` to the child. A small message with nothing queued ahead of it, to a child that
        has loaded its model, is written right here (a drag's request reaches the child at once,
        instead of waiting for the sender thread to get the GIL from a busy GUI thread: 10-30 ms on
        the 2-core machine); anything else goes through the sender thread, in order."""
        with self._post_lock:
            inline = msg is not None and self._inflight == 0 and self.loaded and not self.ended
            self._inflight += 1
        if not inline:
            self.queue.put(msg)
            return
        handed_over = False
        try:
            with self._write_lock:
                encoded = self._encode(msg)
                if encoded is not None:
                    if sum(memoryview(p).nbytes for p in encoded[0]) <= INLINE_MAX_BYTES:
                        self._write(msg, *encoded)
                    else:  # a large write may block until the child reads: the sender does it
                        self.queue.put(("_encoded", msg, encoded))
                        handed_over = True
        except (OSError, EOFError, ValueError):  # the child is gone: its reader reports it
            pass
        finally:
            if not handed_over:
                self._sent_one()

    def _sent_one(self) -> None:
        with self._post_lock:
            self._inflight -= 1

    def _encode(self, msg) -> tuple[list, int] | None:
        """``(parts, new audio payloads)`` of ``msg``; None if a request could not be pickled (its job
        then ends with a :class:`JobFailed`). Call with ``_write_lock`` held (the codec's state)."""
        if msg[0] != "submit":
            return dump_parts(msg, self.tx), 0
        _, job, version, request = msg
        n_audio = self.tx.audio_payloads
        self.tx.ref_key = "base"
        try:
            parts = dump_parts(msg, self.tx)
        except Exception as e:  # noqa: BLE001 - e.g. something unpicklable in the request
            log.exception("could not send job %d to the engine process", job)
            self.owner._deliver(self, JobFailed(job, version, f"the request could not be sent to "
                                                              f"the engine ({type(e).__name__}: {e})"))
            return None
        finally:
            self.tx.ref_key = None
        base = request_base(request)
        if base is not None:
            self.tx.refs["base"] = base
        return parts, self.tx.audio_payloads - n_audio

    def _write(self, msg, parts: list, new_audio: int) -> None:
        stats = self.owner.stats
        n = write_parts(self.conn_in, parts)
        if msg[0] == "submit":
            stats.audio_clips_sent += new_audio
            stats.last_request_bytes = n
        stats.bytes_sent += n
        stats.messages_sent += 1

    def _send_loop(self) -> None:
        while True:
            item = self.queue.get()
            if item is None:
                return
            try:
                with self._write_lock:
                    if item[0] == "_encoded":
                        _, msg, encoded = item
                    else:
                        msg, encoded = item, self._encode(item)
                    if encoded is not None:
                        self._write(msg, *encoded)
            except (OSError, EOFError, ValueError):  # the child is gone: its reader reports it
                return
            finally:
                self._sent_one()


class ProcessEngine:
    """An :class:`~diface_editor.engine.worker.Engine` running in a child process (see the module docstring).

    Args:
        model_path: what ``loader`` loads (default: a model bundle folder).
        on_event: ``on_event(event)`` for every job event, called from the reader thread.
        on_load: ``on_load(error)`` when a child has loaded the model (``error`` None) or could not
            (``error``: one sentence for the user), called from the reader thread. A child that dies
            before it has loaded the model reports that here too.
        loader: ``loader(model_path) -> model``, run in the child; it must be picklable (a
            module-level function). Default: :func:`diface_editor.engine.loading.load_model` (the
            model bundle folder ``model_path``; the one loader the CLI, benches and editor share).
        engine_kwargs: keyword arguments for the child's ``Engine`` (``preview_interval``, ``previews``...).
        torch_threads: torch threads in the child (default :func:`default_threads`).
        nice: added to the child's nice value (default :func:`default_nice`: 5), so that the GUI's
            threads (drawing previews) get the CPU first when the machine is busy.
        audio_cache: audio clips the child keeps (each sent once).
        queue_events: also put every event in :attr:`events` (a bounded queue, like the worker's);
            off for a listener that needs no queue (results are never dropped from it).
        cancel_timeout: the watchdog: a child with open jobs that sends nothing for this many seconds
            after a cancel (stopped with SIGSTOP, hung in native code) is declared dead: it is killed,
            its jobs end with :class:`JobFailed` and a new child starts loading the model (default
            :data:`CANCEL_TIMEOUT`, or ``DIFACE_ENGINE_CANCEL_TIMEOUT``).
    """

    def __init__(self, model_path: str | os.PathLike, on_event: Callable[[JobEvent], None] | None = None, *,
                 on_load: Callable[[str | None], None] | None = None, loader: Callable[[str], Any] | None = None,
                 engine_kwargs: dict | None = None, torch_threads: int | None = None, audio_cache: int = 4,
                 queue_events: bool = True, nice: int | None = None, cancel_timeout: float | None = None) -> None:
        self.model_path = str(model_path)
        self.cancel_timeout = float(cancel_timeout if cancel_timeout is not None
                                    else os.environ.get("DIFACE_ENGINE_CANCEL_TIMEOUT", CANCEL_TIMEOUT))
        self.on_event = on_event
        self.on_load = on_load
        self.loader = loader or load_model
        self.engine_kwargs = dict(engine_kwargs or {})
        self.torch_threads = int(torch_threads) if torch_threads else default_threads()
        self.audio_cache = int(audio_cache)
        self.nice = default_nice() if nice is None else max(0, int(nice))
        self.events: EventQueue = EventQueue()
        self.queue_events = queue_events
        self.stats = IpcStats()
        self._ids = itertools.count(1)
        self._cond = threading.Condition()
        self._jobs: dict[int, tuple[_Child, int]] = {}  # job id -> (child, doc_version)
        self._child: _Child | None = None
        self._children: list[_Child] = []  # every child whose threads may still run
        self._stopping = False
        self._watchdogs: list[threading.Timer] = []

    def _stop_watchdogs(self, join: bool = False) -> None:
        for t in list(self._watchdogs):
            t.cancel()
            if join and t is not threading.current_thread():
                t.join(1.0)

    # ------------------------------------------------------------------ state
    @property
    def alive(self) -> bool:
        """True while a child process runs."""
        c = self._child
        return c is not None and c.running()

    @property
    def loaded(self) -> bool:
        """True when the current child has loaded the model."""
        c = self._child
        return c is not None and c.loaded and c.running()

    @property
    def pid(self) -> int | None:
        """The current child's process id (None when there is none)."""
        c = self._child
        return c.pid if c is not None and c.running() else None

    @property
    def load_info(self) -> dict:
        """What the current child reported when it loaded the model (``load_s``, ``torch_threads``, ``pid``,
        ``nice``)."""
        c = self._child
        return dict(c.load_info) if c is not None else {}

    @property
    def busy(self) -> bool:
        """True while a job runs or waits."""
        with self._cond:
            return bool(self._jobs)

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until every job has ended (its last event delivered); False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self._jobs:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._cond.wait(left)
        return True

    # ------------------------------------------------------------------ control
    def start(self) -> None:
        """Start the child (it loads the model at once) unless one runs."""
        with self._cond:
            self._current_child()

    def _current_child(self) -> _Child:  # with self._cond held
        if self._stopping:
            raise EngineError("the engine has been shut down; start a new one")
        c = self._child
        if c is None or not c.running():
            c = _Child(self)
            self._child = c
            self._children = [x for x in self._children if x.reader.is_alive() or x.sender.is_alive()] + [c]
            self.stats.children_started += 1
        return c

    def submit(self, request, doc_version: int = 0) -> int:
        """Send ``request`` (computed against ``doc_version``) to the child; returns the job id at once.

        As with the worker, the job in flight is cancelled and a waiting job dropped."""
        with self._cond:
            child = self._current_child()
            job = next(self._ids)
            self._jobs[job] = (child, int(doc_version))
            base = request_base(request)
            if base is not None:
                child.rx.refs[job] = base
            child.post(("submit", job, int(doc_version), request))
        return job

    def cancel(self) -> None:
        """Cancel the job in flight and any waiting job (they end with :class:`JobCancelled`).

        A child that does not answer within ``cancel_timeout`` seconds is killed and replaced (see
        the class docstring)."""
        with self._cond:
            c = self._child
            if c is not None and c.running():
                c.post(("cancel",))
                if any(owner is c for owner, _ in self._jobs.values()) and self.cancel_timeout > 0:
                    sent = time.monotonic()
                    t = threading.Timer(self.cancel_timeout, self._watchdog, args=(c, sent))
                    t.daemon = True
                    t.name = "diface-engine-watchdog"
                    self._watchdogs = [w for w in self._watchdogs if w.is_alive()] + [t]
                    t.start()

    def _watchdog(self, child: _Child, sent: float) -> None:
        """``cancel_timeout`` after a cancel: kill ``child`` if it sent nothing since and still has jobs."""
        with self._cond:
            if self._stopping or child.ended or child.last_message > sent:
                return
            if not any(owner is child for owner, _ in self._jobs.values()):
                return
        child.fatal = (f"it did not answer a cancel within {self.cancel_timeout:g} s (stopped or hung), so the "
                       "watchdog ended it")
        log.warning("engine process %s did not answer a cancel within %g s; killing it", child.pid,
                    self.cancel_timeout)
        try:
            child.process.kill()  # SIGKILL also ends a stopped (SIGSTOP) process
        except (OSError, ValueError):
            pass
        child.reader.join(5.0)  # the reader sees EOF and fails the open jobs
        with self._cond:
            if not self._stopping:
                try:
                    self._current_child()  # a fresh child starts loading the model now
                except EngineError:
                    pass

    def shutdown(self, timeout: float | None = 5.0) -> bool:
        """Stop the child (a short grace period, then terminate, then kill) and join the threads.
        Jobs still open end with :class:`JobCancelled`. True when everything has ended."""
        with self._cond:
            self._stopping = True
            children = list(self._children)
        self._stop_watchdogs(join=True)
        limit = 5.0 if timeout is None else max(0.0, float(timeout))
        grace = min(limit, 1.0)
        for c in children:
            if c.process.is_alive():
                c.post(("stop",))
        for c in children:
            c.post(None)
            c.process.join(grace)
            if c.process.is_alive():
                c.process.terminate()
                c.process.join(1.0)
            if c.process.is_alive():
                c.process.kill()
                c.process.join(1.0)
        ok = True
        for c in children:
            for t in (c.sender, c.reader):
                if t is not threading.current_thread():  # shutdown() from on_event / on_load
                    t.join(limit)
                    ok = ok and not t.is_alive()
            ok = ok and not c.process.is_alive()
            for conn in (c.conn_in, c.conn_out):
                try:
                    conn.close()
                except OSError:
                    pass
        return ok

    # ------------------------------------------------------------------ reader thread
    def _read_loop(self, child: _Child) -> None:
        stats = self.stats
        try:
            while True:
                msg, n = read_message(child.conn_out, child.rx)
                child.last_message = time.monotonic()
                stats.bytes_received += n
                stats.messages_received += 1
                kind = msg[0]
                if kind == "event":
                    self._deliver(child, msg[1])
                elif kind == "loaded":
                    _, err, info = msg
                    child.loaded = err is None
                    child.load_info = dict(info)
                    self._call_on_load(err)
                elif kind == "fatal":
                    child.fatal = msg[1]
        except (EOFError, OSError):
            pass
        except Exception:  # noqa: BLE001 - a message this side cannot read: end that child
            log.exception("bad message from the engine process")
            if child.process.is_alive():
                child.process.kill()
        finally:
            self._child_ended(child)

    def _call_on_load(self, err: str | None) -> None:
        if self.on_load is not None:
            try:
                self.on_load(err)
            except Exception:  # noqa: BLE001
                log.exception("engine load listener raised")

    def _emit(self, ev: JobEvent) -> None:
        if self.queue_events:
            self.events.put(ev)
        if self.on_event is not None:
            try:
                self.on_event(ev)
            except Exception:  # a broken listener must not kill the reader
                log.exception("engine event listener raised")

    def _deliver(self, child: _Child, ev: JobEvent) -> None:
        if isinstance(ev, JobProgress) and ev.preview is not None:
            child.rx.refs[ev.job_id] = ev.preview
        self._emit(ev)
        if isinstance(ev, _TERMINAL):
            child.rx.refs.pop(ev.job_id, None)
            with self._cond:
                self._jobs.pop(ev.job_id, None)
                idle = not self._jobs
                self._cond.notify_all()
            if idle:  # nothing left to watch
                self._stop_watchdogs()

    def _child_ended(self, child: _Child) -> None:
        child.ended = True
        child.queue.put(None)  # stop its sender
        child.process.join(2.0)
        code = child.process.exitcode
        with self._cond:
            stopping = self._stopping
            open_jobs = sorted((j, v) for j, (c, v) in self._jobs.items() if c is child)
            if self._child is child:
                self._child = None
        if not stopping:
            if code is None:
                how = "it stopped answering"
            elif code < 0:
                try:
                    how = f"killed by {signal.Signals(-code).name}"
                except ValueError:
                    how = f"killed by signal {-code}"
            else:
                how = f"exit code {code}"
            if child.fatal:
                how += f": {child.fatal}"
            message = f"the engine process stopped unexpectedly ({how}); the next request starts it again"
            if not child.loaded:
                self._call_on_load(message)
        for job, version in open_jobs:
            self._deliver(child, JobCancelled(job, version) if stopping else JobFailed(job, version, message))
