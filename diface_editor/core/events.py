"""A tiny observer mechanism for the document model (no Qt).

Views subscribe to a model's events; the model emits them after it changed. Bound methods are held
weakly (as napari's EventEmitter does), so a closed view that forgot to disconnect is not kept alive
by the model and is silently skipped.

Example::

    class Model:
        def __init__(self):
            self.events = EmitterGroup(source=self, names=("changed",))

    m = Model()
    m.events.changed.connect(lambda ev: print(ev.type, ev.start))
    m.events.changed.emit(start=3)
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

log = logging.getLogger(__name__)


class Event:
    """One notification: ``type`` (the emitter's name), ``source`` (the model) and keyword fields."""

    def __init__(self, type: str, source: Any, **fields: Any) -> None:
        self.type = type
        self.source = source
        self.__dict__.update(fields)

    def __repr__(self) -> str:
        fields = {k: v for k, v in self.__dict__.items() if k not in ("type", "source")}
        return f"Event({self.type!r}, {fields})"


class EventEmitter:
    """Calls its subscribers, in connection order, with an :class:`Event`.

    A subscriber that raises is logged and does not stop the others (a broken view must not
    corrupt the model's state or block other views).
    """

    def __init__(self, name: str, source: Any = None) -> None:
        self.name = name
        self._source = weakref.ref(source) if source is not None else (lambda: None)
        self._callbacks: list[Callable[[], Callable | None]] = []
        self._blocked = 0
        #: while its group defers events: the group's queue of (emitter, event) to deliver later
        self._queue: list[tuple[EventEmitter, Event]] | None = None

    def connect(self, callback: Callable[[Event], Any]) -> Callable[[Event], Any]:
        """Subscribe ``callback(event)``; bound methods are referenced weakly. Returns ``callback``."""
        if hasattr(callback, "__self__") and hasattr(callback, "__func__"):
            ref: Callable[[], Callable | None] = weakref.WeakMethod(callback)
        else:
            ref = (lambda cb=callback: cb)
        self._callbacks.append(ref)
        return callback

    def disconnect(self, callback: Callable | None = None) -> None:
        """Unsubscribe ``callback`` (or everything when ``None``); unknown callbacks are ignored."""
        if callback is None:
            self._callbacks.clear()
            return
        self._callbacks = [r for r in self._callbacks if r() is not None and r() != callback]

    @property
    def n_connections(self) -> int:
        return sum(1 for r in self._callbacks if r() is not None)

    def emit(self, **fields: Any) -> Event:
        """Build an :class:`Event` with ``fields`` and deliver it (unless blocked; later when its group
        defers events: :meth:`EmitterGroup.deferred`)."""
        ev = Event(self.name, self._source(), **fields)
        if self._blocked:
            return ev
        if self._queue is not None:
            self._queue.append((self, ev))
            return ev
        self._deliver(ev)
        return ev

    def _deliver(self, ev: Event) -> None:
        dead = False
        for ref in list(self._callbacks):
            cb = ref()
            if cb is None:
                dead = True
                continue
            try:
                cb(ev)
            except Exception:  # a view's bug must not break the model
                log.exception("error in a subscriber of %r", self.name)
        if dead:
            self._callbacks = [r for r in self._callbacks if r() is not None]

    @contextmanager
    def blocked(self) -> Iterator[None]:
        """Suppress this emitter's events inside the ``with`` block."""
        self._blocked += 1
        try:
            yield
        finally:
            self._blocked -= 1


class EmitterGroup:
    """Named emitters as attributes (``group.changed.connect(...)``) plus ``disconnect_all``."""

    def __init__(self, source: Any, names: tuple[str, ...]) -> None:
        self._names = tuple(names)
        for n in names:
            setattr(self, n, EventEmitter(n, source))

    @property
    def names(self) -> tuple[str, ...]:
        return self._names

    def __iter__(self) -> Iterator[EventEmitter]:
        return (getattr(self, n) for n in self._names)

    def disconnect(self, callback: Callable | None = None) -> None:
        """Remove ``callback`` from every emitter (or every subscriber when ``None``)."""
        for em in self:
            em.disconnect(callback)

    @contextmanager
    def deferred(self) -> Iterator[None]:
        """Hold the events of every emitter of the group inside the ``with`` block and deliver them
        afterwards, in the order they were emitted (the model changes at once; its views hear of it
        after the block: an editor submits a re-solve first and redraws while it runs). Nested
        blocks deliver when the outermost ends; events are delivered even if the block raised."""
        emitters = list(self)
        if emitters and emitters[0]._queue is not None:  # nested: the outer block delivers
            yield
            return
        queue: list[tuple[EventEmitter, Event]] = []
        for em in emitters:
            em._queue = queue
        try:
            yield
        finally:
            for em in emitters:
                em._queue = None
            for em, ev in queue:
                if not em._blocked:
                    em._deliver(ev)

    def disconnect_object(self, obj: Any) -> None:
        """Remove every bound method of ``obj`` from every emitter (call this when a view closes)."""
        for em in self:
            em._callbacks = [r for r in em._callbacks
                             if r() is not None and getattr(r(), "__self__", None) is not obj]
