"""Feature cache: an in-memory LRU plus an optional on-disk store of ``.npy`` files.

Keys are tuples of strings/numbers (the encoders use ``("raw", encoder_id, clip_sha256)`` and
``("feat", encoder_id, weights_hash, clip_sha256, n_frames, fps)``); values are float32 arrays,
returned read-only so no caller can change a cached array in place.

On disk (only for entries stored with ``disk=True``: the expensive frozen-network features) each
entry is ``<sha256 of the key>.npy`` written atomically (temporary file + ``os.replace``, so several
processes, e.g. the ranks of a distributed training job, can fill one folder at once) and read
with ``allow_pickle=False``; the folder is pruned oldest-first beyond ``max_disk_bytes``. A damaged
file is deleted and recomputed.

The process-wide :func:`default_cache` keeps up to 512 MiB in memory and stores on disk under
``platformdirs.user_cache_dir("diface")/audio-features``; the environment variable
``DIFACE_CACHE_DIR`` replaces that base folder, and ``DIFACE_CACHE_DIR=off`` turns the disk part off.
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)


def _key_str(key: tuple) -> str:
    return "|".join(map(str, key))


class FeatureCache:
    """LRU of arrays in memory (bounded by bytes), optionally backed by a folder of ``.npy`` files.

    Args:
        max_bytes: memory budget; least recently used entries are dropped beyond it.
        disk_dir: folder for ``disk=True`` entries, or ``None`` for memory only.
        max_disk_bytes: disk budget; oldest files are deleted beyond it.

    Attributes:
        hits, misses: lookups answered from memory or disk / computed.
    """

    def __init__(self, max_bytes: int = 512 << 20, disk_dir: str | os.PathLike | None = None,
                 max_disk_bytes: int = 2 << 30) -> None:
        self.max_bytes = int(max_bytes)
        self.disk_dir = Path(disk_dir) if disk_dir is not None else None
        self.max_disk_bytes = int(max_disk_bytes)
        self._mem: OrderedDict[Hashable, np.ndarray] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    # ------------------------------------------------------------------ memory
    def get(self, key: tuple, *, disk: bool = False) -> np.ndarray | None:
        """The cached array for ``key`` (memory first, then disk when ``disk``), or ``None``."""
        with self._lock:
            arr = self._mem.get(key)
            if arr is not None:
                self._mem.move_to_end(key)
                return arr
        if disk and self.disk_dir is not None:
            arr = self._disk_read(key)
            if arr is not None:
                self._mem_put(key, arr)
                return arr
        return None

    def _mem_put(self, key: tuple, arr: np.ndarray) -> None:
        with self._lock:
            old = self._mem.pop(key, None)
            if old is not None:
                self._bytes -= old.nbytes
            if arr.nbytes > self.max_bytes:
                return
            self._mem[key] = arr
            self._bytes += arr.nbytes
            while self._bytes > self.max_bytes and self._mem:
                _, dropped = self._mem.popitem(last=False)
                self._bytes -= dropped.nbytes

    def put(self, key: tuple, arr: np.ndarray, *, disk: bool = False) -> np.ndarray:
        """Store a copy of ``arr`` as float32 (read-only) and return it."""
        a = np.array(arr, dtype=np.float32, copy=True)
        a.setflags(write=False)
        self._mem_put(key, a)
        if disk and self.disk_dir is not None:
            self._disk_write(key, a)
        return a

    def get_or_compute(self, key: tuple, compute: Callable[[], np.ndarray], *, disk: bool = False) -> np.ndarray:
        """The cached array for ``key``, or ``compute()`` stored under it."""
        arr = self.get(key, disk=disk)
        if arr is not None:
            self.hits += 1
            return arr
        self.misses += 1
        return self.put(key, compute(), disk=disk)

    def clear(self, *, disk: bool = False) -> None:
        """Forget everything in memory (and delete the disk files when ``disk``)."""
        with self._lock:
            self._mem.clear()
            self._bytes = 0
        if disk and self.disk_dir is not None and self.disk_dir.is_dir():
            for p in self.disk_dir.glob("*.npy"):
                p.unlink(missing_ok=True)

    def __len__(self) -> int:
        return len(self._mem)

    @property
    def nbytes(self) -> int:
        """Bytes held in memory."""
        return self._bytes

    # ------------------------------------------------------------------ disk
    def _disk_path(self, key: tuple) -> Path:
        assert self.disk_dir is not None
        return self.disk_dir / (hashlib.sha256(_key_str(key).encode()).hexdigest()[:40] + ".npy")

    def _disk_read(self, key: tuple) -> np.ndarray | None:
        p = self._disk_path(key)
        try:
            a = np.load(p, allow_pickle=False)
            if a.dtype != np.float32:
                raise ValueError(f"dtype {a.dtype}")
        except FileNotFoundError:  # not cached, or pruned by another process since: a miss
            return None
        except (OSError, ValueError) as e:
            log.warning("dropping damaged feature cache file %s (%s)", p, e)
            p.unlink(missing_ok=True)
            return None
        try:
            os.utime(p)  # recently used: pruned last
        except OSError:
            pass
        a.setflags(write=False)
        return a

    def _disk_write(self, key: tuple, a: np.ndarray) -> None:
        p = self._disk_path(key)
        tmp = p.with_name(f".{p.stem}.{secrets.token_hex(4)}.tmp.npy")
        try:
            p.parent.mkdir(parents=True, exist_ok=True)
            np.save(tmp, a, allow_pickle=False)
            os.replace(tmp, p)
        except OSError as e:  # a cache that cannot write is only slower
            log.warning("cannot write the feature cache file %s (%s)", p, e)
            tmp.unlink(missing_ok=True)
            return
        self._prune()

    def _prune(self) -> None:
        """Delete the oldest entries beyond ``max_disk_bytes``. Safe beside other processes using the
        same folder (the ranks of a training job): their temporary files (``.<name>.tmp.npy``) are
        never touched, and a file another process replaced or deleted meanwhile is skipped."""
        assert self.disk_dir is not None
        files = []
        try:
            entries = list(self.disk_dir.glob("*.npy"))
        except OSError:
            return
        for p in entries:
            if p.name.startswith("."):
                continue
            try:
                st = p.stat()
            except OSError:
                continue
            files.append((st.st_mtime, st.st_size, p))
        total = sum(s for _, s, _ in files)
        for _, size, p in sorted(files):
            if total <= self.max_disk_bytes:
                break
            p.unlink(missing_ok=True)
            total -= size


_DEFAULT: FeatureCache | None = None
_DEFAULT_LOCK = threading.Lock()


def default_disk_dir() -> Path | None:
    """Folder of the default on-disk feature cache (``None`` when ``DIFACE_CACHE_DIR=off``)."""
    env = os.environ.get("DIFACE_CACHE_DIR", "").strip()
    if env.lower() in ("off", "0", "none", "false"):
        return None
    if env:
        return Path(env).expanduser() / "audio-features"
    import platformdirs

    return Path(platformdirs.user_cache_dir("diface")) / "audio-features"


def default_cache() -> FeatureCache:
    """The process-wide cache used by encoders built without an explicit ``cache``."""
    global _DEFAULT
    with _DEFAULT_LOCK:
        if _DEFAULT is None:
            _DEFAULT = FeatureCache(disk_dir=default_disk_dir())
        return _DEFAULT
