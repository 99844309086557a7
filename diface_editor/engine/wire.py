"""The wire format between the editor and its engine process (see :mod:`diface_editor.engine.process`).

Each message is a pickle (protocol 5) whose numpy buffers travel out of band, straight from the
array to the pipe: ``[header, buffer, ...]`` written with :func:`write_parts`, read back with
:func:`read_message`. Large data is not re-sent (:class:`Codec`):

* an :class:`~diface_editor.core.audio.AudioClip` is sent once and referenced by its ``sha256``
  afterwards (both sides keep the last ``audio_cache`` clips);
* an :class:`~diface_editor.core.animation.Animation` travels as the rows that differ from a
  reference both sides hold (:func:`encode_animation` / :func:`decode_animation`).
"""

from __future__ import annotations

import io
import logging
import pickle
import struct
from collections import OrderedDict
from typing import Any

import numpy as np

from diface_editor.core.animation import Animation
from diface_editor.core.audio import AudioClip
from diface_editor.engine.backend import EngineError

log = logging.getLogger(__name__)

_COUNT = struct.Struct("<I")


def request_base(request) -> Animation | None:
    """The animation a request edits (``base`` of an edit, of a variants request's edit), or None."""
    base = getattr(request, "base", None)
    if base is None:
        base = getattr(getattr(request, "edit", None), "base", None)
    return base if isinstance(base, Animation) else None


def _changed_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(T,) bool: rows of two (T, C) float32 arrays whose bits differ."""
    return (a.view(np.uint32) != b.view(np.uint32)).any(axis=1)


def encode_animation(anim: Animation, ref: Animation | None, ref_key: Any) -> tuple:
    """A compact, picklable form of ``anim``: the rows that differ from ``ref`` (which the receiver
    knows under ``ref_key``), or everything when there is no usable reference."""
    meta = (float(anim.fps), anim.space, dict(anim.metadata))
    if (ref is not None and ref.face.shape == anim.face.shape and ref.head.shape == anim.head.shape
            and ref.face.dtype == anim.face.dtype == np.float32):
        rows = _changed_rows(anim.face, ref.face) | _changed_rows(anim.head, ref.head)
        idx = np.flatnonzero(rows)
        lo, hi = (int(idx[0]), int(idx[-1]) + 1) if idx.size else (0, 0)
        names = None if tuple(anim.channel_names) == tuple(ref.channel_names) else tuple(anim.channel_names)
        return ("anim", ref_key, meta, names, lo, hi, anim.face[lo:hi], anim.head[lo:hi])
    return ("anim", None, meta, tuple(anim.channel_names), 0, anim.n_frames, anim.face, anim.head)


def decode_animation(pid: tuple, ref: Animation | None) -> Animation:
    """Inverse of :func:`encode_animation` (``ref``: what the sender's ``ref_key`` names here)."""
    _, ref_key, (fps, space, metadata), names, lo, hi, face, head = pid
    if ref_key is not None:
        if ref is None:
            raise EngineError("the engine process referred to an animation this side does not have")
        new_face, new_head = ref.face.copy(), ref.head.copy()
        new_face[lo:hi] = face
        new_head[lo:hi] = head
        face, head = new_face, new_head
        names = ref.channel_names if names is None else names
    return Animation(fps, face, head, channel_names=names, space=space, metadata=dict(metadata))


class Codec:
    """Replaces animations and audio clips in a pickle by compact references (see the module docstring).

    Animations are encoded against ``refs[ref_key]`` (the sender sets ``ref_key`` for a message;
    both sides keep the same ``refs``). Audio clips are sent whole the first time and by ``sha256``
    afterwards; both sides keep the same last ``audio_cache`` clips (the same LRU steps in the same
    order: a clip is added or moved to the end where it occurs in the message, and the oldest are
    dropped after each message, see :meth:`trim`)."""

    def __init__(self, audio_cache: int = 4) -> None:
        self.audio_cache = int(audio_cache)
        self.audio: OrderedDict[str, Any] = OrderedDict()  # sha256 -> AudioClip (receiver) / None (sender)
        self.refs: dict[Any, Animation] = {}
        self.ref_key: Any = None
        self.audio_payloads = 0  # sender: clips sent whole (statistics)

    # ---------------------------------------------------------------- sender
    def persistent_id(self, obj):
        if isinstance(obj, Animation):
            return encode_animation(obj, self.refs.get(self.ref_key), self.ref_key)
        if isinstance(obj, AudioClip):
            sha = obj.sha256
            if sha in self.audio:
                self.audio.move_to_end(sha)
                return ("audio", sha, None)
            self.audio[sha] = None
            self.audio_payloads += 1
            path = str(obj.path) if obj.path is not None else None
            return ("audio", sha, (obj.samples, obj.sample_rate, obj.channels, path))
        return None

    # ---------------------------------------------------------------- receiver
    def persistent_load(self, pid):
        kind = pid[0]
        if kind == "anim":
            return decode_animation(pid, self.refs.get(pid[1]) if pid[1] is not None else None)
        if kind == "audio":
            _, sha, payload = pid
            if payload is not None:
                samples, rate, channels, path = payload
                self.audio[sha] = AudioClip(samples, rate, path=path, channels=channels)
            clip = self.audio.get(sha)
            if clip is None:
                raise EngineError(f"the engine process has no audio clip {sha[:12]}")
            self.audio.move_to_end(sha)
            return clip
        raise pickle.UnpicklingError(f"unknown reference {kind!r}")

    def trim(self) -> None:
        """Drop the oldest clips beyond ``audio_cache`` (both sides, after every message)."""
        while len(self.audio) > self.audio_cache:
            self.audio.popitem(last=False)


class _Pickler(pickle.Pickler):
    def __init__(self, file, codec: Codec, buffers: list) -> None:
        super().__init__(file, protocol=5, buffer_callback=buffers.append)
        self._codec = codec

    def persistent_id(self, obj):
        return self._codec.persistent_id(obj)


class _Unpickler(pickle.Unpickler):
    def __init__(self, file, codec: Codec, buffers: list) -> None:
        super().__init__(file, buffers=buffers)
        self._codec = codec

    def persistent_load(self, pid):
        return self._codec.persistent_load(pid)


def dump_parts(obj, codec: Codec) -> list:
    """``[header, buffer, ...]`` ready for :func:`write_parts` (buffers are views, not copies). If
    pickling fails, the codec's clip cache is left as it was."""
    bufs: list[pickle.PickleBuffer] = []
    f = io.BytesIO()
    saved, n_saved = OrderedDict(codec.audio), codec.audio_payloads
    try:
        _Pickler(f, codec, bufs).dump(obj)
    except BaseException:
        codec.audio, codec.audio_payloads = saved, n_saved
        raise
    codec.trim()
    views = [b.raw() for b in bufs]
    head = _COUNT.pack(len(views)) + struct.pack(f"<{len(views)}Q", *(v.nbytes for v in views)) + f.getvalue()
    return [head] + views


def write_parts(conn, parts: list) -> int:
    for p in parts:
        conn.send_bytes(p)
    return sum(memoryview(p).nbytes for p in parts)


def read_message(conn, codec: Codec) -> tuple[Any, int]:
    """One message from ``conn`` (raises EOFError when the other side is gone) and its size in bytes."""
    head = conn.recv_bytes()
    (n,) = _COUNT.unpack_from(head)
    sizes = struct.unpack_from(f"<{n}Q", head, _COUNT.size)
    bufs = []
    for size in sizes:
        b = bytearray(size)  # writable: arrays unpickled from it are writable, like the worker's
        got = conn.recv_bytes_into(b)
        if got != size:
            raise EOFError("truncated message from the engine process")
        bufs.append(b)
    body = io.BytesIO(memoryview(head)[_COUNT.size + 8 * n:])
    msg = _Unpickler(body, codec, bufs).load()
    codec.trim()
    return msg, len(head) + sum(sizes)
