"""Transcript alignment in a child process, so that the editor's process stays live while it runs.

pocketsphinx holds Python's GIL inside a decode: on a long take in noise one decode of the anchor
grammar took 69-143 s (2 CPU cores), and every thread of the process, the GUI's included, stood still
for that long. The speech recogniser that checks a transcript (Whisper, torch) would also load into
the editor's process, which otherwise never imports torch (:mod:`diface_editor.engine.process`).

:class:`AlignProcess` runs the engine's alignment calls (:func:`~diface_editor.engine.edit_policy.
align_transcript`, :func:`~diface_editor.engine.edit_policy.lipsync`) in one long-lived child
(multiprocessing's ``"spawn"`` context, started at the first call, kept for the next: its decoder and
recogniser stay loaded). A caller's thread waits on the pipe without the GIL. One call runs at a
time; :meth:`AlignProcess.cancel` stops the one running by ending the child (a decode cannot be
interrupted otherwise) and the call raises :class:`AlignCancelled`; the next call starts a new child.
:func:`align_in_child` is the editor's alignment: the shared child, stopped after
:func:`align_time_limit` (the transcript is then not used, and says why). :meth:`AlignProcess.prepare`
starts the child and loads its decoder and recogniser ahead of a first call (the editor does it while a
transcript is typed).
Arguments and results are plain data (:class:`~diface_editor.core.audio.AudioClip`,
:class:`~diface_editor.core.transcript.Transcript`, :class:`~diface_editor.core.animation.Animation`)
sent through a multiprocessing pipe.
"""

from __future__ import annotations

import logging
import multiprocessing
import threading
import time
from typing import Any

from diface_editor.core.errors import DifaceError

log = logging.getLogger(__name__)

#: the calls the child runs, by name (functions of :mod:`diface_editor.engine.edit_policy`)
CALLS = ("align_transcript", "lipsync", "prepare_alignment")


class AlignCancelled(DifaceError):
    """The call was cancelled (:meth:`AlignProcess.cancel`)."""


class AlignTimeout(AlignCancelled):
    """The call ran past its time limit and was stopped."""


def _child_main(conn) -> None:
    """The child's loop: ``(name, args, kwargs)`` in, ``("ok", result)`` / ``("error", message)`` out;
    ``None`` or a closed pipe ends it."""
    import signal

    # Ctrl+C in a terminal reaches the whole process group: the caller decides when this child ends
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    from diface_editor.engine import edit_policy

    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg is None:
            return
        name, args, kwargs = msg
        try:
            if name not in CALLS:
                raise DifaceError(f"the alignment process has no call {name!r}")
            reply = ("ok", getattr(edit_policy, name)(*args, **kwargs))
        except DifaceError as e:
            reply = ("error", str(e))
        except Exception as e:  # noqa: BLE001 - reported to the caller in one sentence, with the traceback logged
            log.exception("%s failed in the alignment process", name)
            reply = ("error", f"{name.replace('_', ' ')} failed ({type(e).__name__}: {e})")
        try:
            conn.send(reply)
        except (BrokenPipeError, OSError):
            return


class AlignProcess:
    """The alignment child (see the module docstring). Thread-safe; :meth:`call` blocks its caller."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # one call at a time
        self._state = threading.Lock()  # _proc, _conn, _busy
        self._proc = None
        self._conn = None
        self._busy = False
        self._cancelled = False
        self._preparing = False
        self._epoch = 0  # bumped by cancel(): calls that began waiting before it are cancelled
        self.children_started = 0

    def _start(self) -> None:
        ctx = multiprocessing.get_context("spawn")
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=_child_main, args=(child,), name="diface-align-process", daemon=True)
        proc.start()
        child.close()
        self._proc, self._conn = proc, parent
        self.children_started += 1

    def call(self, name: str, *args, time_limit: float | None = None, **kwargs) -> Any:
        """Run ``edit_policy.<name>(*args, **kwargs)`` in the child and return its result; after
        ``time_limit`` seconds (``None``: none) the call is stopped as by :meth:`cancel`. A call waiting
        for another one to end is cancelled by a :meth:`cancel` made meanwhile too.

        Raises:
            DifaceError: what the call raised (its message), or that the child stopped.
            AlignCancelled: :meth:`cancel` stopped it; :class:`AlignTimeout`: the time limit did.
        """
        with self._state:
            epoch = self._epoch
        return self._call(name, args, kwargs, time_limit, epoch)

    def _call(self, name: str, args: tuple, kwargs: dict, time_limit: float | None, epoch: int) -> Any:
        """:meth:`call`, cancelled if :meth:`cancel` was called since ``epoch`` was read."""
        if name not in CALLS:
            raise ValueError(f"unknown call {name!r}")
        with self._lock:
            with self._state:
                if self._epoch != epoch:
                    raise AlignCancelled("the alignment was cancelled")
                if self._proc is None or not self._proc.is_alive():
                    self._start()
                self._busy, self._cancelled = True, False
                conn, proc = self._conn, self._proc
            started = time.monotonic()
            try:
                conn.send((name, args, kwargs))
                while not conn.poll(0.2):
                    if not proc.is_alive():
                        break
                    if time_limit is not None and time.monotonic() - started > time_limit:
                        with self._state:  # this call only (a cancel() would stop the calls waiting too)
                            self._cancelled = True
                            self._stop_locked()
                        raise AlignTimeout(f"the alignment took longer than {time_limit:.0f} s and was stopped "
                                           "(a long take in noise?)")
                if conn.poll(0):
                    status, value = conn.recv()
                else:
                    raise EOFError
            except KeyboardInterrupt:  # Ctrl+C in a command: the child ends with the caller's wait
                with self._state:
                    self._stop_locked()
                raise
            except (EOFError, OSError, TypeError, ValueError):
                # the child ended, or cancel() closed the pipe under this thread's poll (which then sees a
                # handle of None: a TypeError)
                with self._state:
                    cancelled = self._cancelled
                    self._stop_locked()
                if cancelled:
                    raise AlignCancelled("the alignment was cancelled") from None
                raise DifaceError("the alignment process stopped unexpectedly") from None
            finally:
                with self._state:
                    self._busy = False
        if status == "ok":
            return value
        raise DifaceError(value)

    @property
    def preparing(self) -> bool:
        """Whether a :meth:`prepare` is under way."""
        with self._state:
            return self._preparing

    def prepare(self) -> bool:
        """Start the child and load its decoder and recogniser in the background (a thread of this
        process waits for it), unless a child is running already: the next call then does not wait for
        that (about 3 s, more with a cold disk cache). ``True`` if it started one. A call made meanwhile
        waits for the loading, which it would have done itself; a cancel ends it quietly."""
        with self._state:
            if self._preparing or self._busy or (self._proc is not None and self._proc.is_alive()):
                return False
            self._preparing, epoch = True, self._epoch

        def run() -> None:
            try:
                self._call("prepare_alignment", (), {}, None, epoch)
            except DifaceError as e:  # a cancel, or a child that could not start: the next call reports it
                log.info("the alignment process was not prepared: %s", e)
            finally:
                with self._state:
                    self._preparing = False

        threading.Thread(target=run, name="diface-align-prepare", daemon=True).start()
        return True

    def cancel(self) -> bool:
        """Stop the call running, if any, and those waiting for it (their callers get
        :class:`AlignCancelled`; a :meth:`prepare` ends quietly); ``True`` if one was running."""
        with self._state:
            self._epoch += 1
            if not self._busy:
                return False
            self._cancelled = True
            self._stop_locked()
            return True

    def _stop_locked(self) -> None:
        proc, conn = self._proc, self._conn
        self._proc = self._conn = None
        if proc is not None and proc.is_alive():
            proc.kill()
            proc.join(5)
        if conn is not None:
            conn.close()

    def shutdown(self) -> None:
        """End the child (a call running is cancelled)."""
        self.cancel()
        with self._lock, self._state:
            proc, conn = self._proc, self._conn
            if conn is not None:
                try:
                    conn.send(None)
                except (BrokenPipeError, OSError):
                    pass
            if proc is not None:
                proc.join(5)
            self._stop_locked()


def align_time_limit(duration: float) -> float:
    """Seconds an editor alignment of a ``duration``-second take may take before it is stopped: twice
    the partial alignment's budget (:data:`~diface_editor.synth.align.PARTIAL_BUDGET_S`, which cannot
    stop a decode in progress) and 10 s more for the recogniser's check. Measured on real takes of
    3-26 s: at most 12 s; one decode on a 25 s take in white noise: 143 s, refused in the end."""
    from diface_editor.synth.align import PARTIAL_BUDGET_S

    return 2.0 * (PARTIAL_BUDGET_S[0] + PARTIAL_BUDGET_S[1] * float(duration)) + 10.0


def align_in_child(audio, text: str, check: bool = True, limited: bool = True):
    """:func:`~diface_editor.engine.edit_policy.align_transcript` of ``text`` on ``audio`` in the shared
    child, within :func:`align_time_limit` (``limited=False``: no limit): a
    :class:`~diface_editor.core.transcript.Transcript` (never raises for a failed or stopped alignment:
    its ``error`` says why). Raises :class:`AlignCancelled` only when :meth:`AlignProcess.cancel`
    stopped it."""
    from diface_editor.core.transcript import Transcript

    limit = align_time_limit(audio.duration) if limited else None
    try:
        return shared().call("align_transcript", audio, text, check=check, time_limit=limit)
    except AlignCancelled as e:
        if not isinstance(e, AlignTimeout):
            raise
        return Transcript(str(text).strip()).failed(str(e))
    except DifaceError as e:
        return Transcript(str(text).strip()).failed(str(e))


#: takes at least this long (s) are aligned in the child by :func:`align_interruptibly`; shorter ones
#: in the caller's process (their decodes take seconds, and a child cost a `diface generate --text` of the
#: 9 s demo line 1.7 s: 6.2 s against 4.6 s)
INTERRUPTIBLE_MIN_S = 20.0


def align_interruptibly(audio, text: str, check: bool = True):
    """:func:`~diface_editor.engine.edit_policy.align_transcript` of ``text`` on ``audio``, with no time
    limit, for the command line. A take of :data:`INTERRUPTIBLE_MIN_S` or more is aligned in the shared
    child, so that Ctrl+C stops it at once (a decode in the caller's own process holds the GIL, and the
    interrupt waits for it: interrupted 25 s into `diface generate --text-file` of a 25 s take in white
    noise, the command ended 123 s later in-process, 0.35 s later with the child); a shorter one in the
    caller's process.
    A failed alignment is a :class:`~diface_editor.core.transcript.Transcript` whose ``error`` says why.
    Raises :class:`KeyboardInterrupt` (the child is ended first: :meth:`AlignProcess.call`)."""
    from diface_editor.engine.edit_policy import align_transcript

    if float(audio.duration) < INTERRUPTIBLE_MIN_S:
        return align_transcript(audio, text, check=check)
    return align_in_child(audio, text, check=check, limited=False)


def cancelled_as_none(fn, *args, **kwargs):
    """``fn(*args, **kwargs)``, or ``None`` when :meth:`AlignProcess.cancel` stopped it."""
    try:
        return fn(*args, **kwargs)
    except AlignCancelled:
        return None


_shared: AlignProcess | None = None
_shared_lock = threading.Lock()


def shared() -> AlignProcess:
    """The process's one :class:`AlignProcess` (the editor's windows share it)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = AlignProcess()
        return _shared
