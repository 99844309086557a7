"""Reading pickled numpy data from other tools without running arbitrary code.

Research data often comes as pickles: 3DiFACE writes ``np.save(path, {"vertice": ..., "pose": ...})``
(an object ``.npy`` holding a pickled dict), VOCASET ships ``templates.pkl`` (a dict of arrays
pickled by Python 2). ``pickle.load`` on such a file can execute any code the file names, so we
never call it. :class:`RestrictedUnpickler` resolves only the globals numpy needs to rebuild plain
arrays, dtypes and scalars:

* ``numpy._core.multiarray._reconstruct`` (numpy 2) / ``numpy.core.multiarray._reconstruct``
  (files written by numpy 1.x), ``numpy.ndarray``, ``numpy.dtype``;
* ``numpy._core.multiarray.scalar`` / ``numpy.core.multiarray.scalar`` (numpy scalars such as
  ``np.float32(30.0)`` inside a dict);
* ``numpy._core.numeric._frombuffer`` (arrays pickled with protocol 5), object dtypes refused;
* ``_codecs.encode`` with the ``latin1`` codec only (protocol-2 pickles from Python 3 store bytes
  that way).

Everything else (``os.system``, ``builtins.eval``, user classes, ``__reduce__`` tricks) raises
:class:`UnsafePickleError` *before* anything is called. Containers (dict, list, tuple), numbers,
strings and ``None`` come from pickle opcodes and need no globals. Object-dtype arrays inside the
data are rejected by :func:`check_plain_data`.

Functions:

* :func:`safe_loads` / :func:`safe_load_file`: unpickle bytes / a ``.pkl`` file;
* :func:`safe_load_npy`: read any ``.npy`` (plain arrays without pickle, object arrays through the
  restricted unpickler) and return a plain array or the Python object it holds (e.g. the dict);
* :func:`check_plain_data`: verify a result is only dicts/lists/tuples of numeric/bool/str arrays
  and numbers.
"""

from __future__ import annotations

import io
import os
import pickle
import struct
from pathlib import Path
from typing import Any

import numpy as np

from diface_editor.core.errors import DifaceError
from diface_editor.core.npy_header import UnsupportedNpyVersion, read_npy_header


class UnsafePickleError(DifaceError, ValueError):
    """A pickle names something other than plain numpy data; it was not loaded."""


class PickleDataError(DifaceError, ValueError):
    """A pickle or .npy file is damaged or does not hold plain numeric data."""


def _multiarray():
    try:
        from numpy._core import multiarray  # numpy >= 2
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core import multiarray
    return multiarray


def _frombuffer(buf, dtype, shape, order):
    """numpy's protocol-5 array constructor (``np.frombuffer(...).reshape(...)``), without object dtypes."""
    dtype = np.dtype(dtype)
    if dtype.hasobject:
        raise UnsafePickleError("the pickle holds an object array in a raw buffer; it was not loaded")
    return np.frombuffer(buf, dtype=dtype).reshape(_shape(shape), order=order)


def _ndarray(shape=(), dtype=float, *args, **kwargs):
    """``numpy.ndarray(shape, dtype, ...)`` called by a pickle: allocates ``shape``, so its size is
    checked first (a 100-byte pickle could otherwise ask for terabytes)."""
    shape = _shape(shape)
    dt = np.dtype(dtype)
    if dt.hasobject:
        raise UnsafePickleError("the pickle builds an array of Python objects; it was not loaded")
    _check_size(shape, dt.itemsize)
    if args or kwargs:
        raise UnsafePickleError("the pickle calls numpy.ndarray with a buffer; it was not loaded")
    return np.ndarray(shape, dt)


def _shape(shape) -> tuple[int, ...]:
    if isinstance(shape, (int, np.integer)):
        shape = (shape,)
    if not isinstance(shape, (tuple, list)) or not all(isinstance(s, (int, np.integer)) for s in shape):
        raise PickleDataError(f"the pickle gives an array the shape {shape!r}, which is not a list of sizes")
    return tuple(int(s) for s in shape)


def _check_size(shape: tuple[int, ...], itemsize: int) -> None:
    from diface_editor.core.limits import LimitError, check_array_bytes

    try:
        check_array_bytes(shape, itemsize, "the pickle")
    except LimitError as e:
        raise PickleDataError(str(e)) from None


def _make_reconstruct(real):
    def _reconstruct(subtype, shape, dtype):
        """numpy's ``_reconstruct(ndarray, (0,), b'b')`` (the pickle then fills the array through
        ``__setstate__``, whose data comes from the file); the shape is checked before allocating."""
        if subtype is _ndarray:
            subtype = np.ndarray
        if subtype is not np.ndarray:
            raise UnsafePickleError("the pickle rebuilds an array subclass; it was not loaded")
        shape = _shape(shape)
        try:
            itemsize = np.dtype(dtype).itemsize
        except TypeError:
            itemsize = 8
        _check_size(shape, max(1, itemsize))
        return real(subtype, shape, dtype)

    return _reconstruct


def _latin1_encode(obj, encoding="latin1", errors="strict"):
    if str(encoding).lower().replace("-", "").replace("_", "") not in ("latin1", "iso88591"):
        raise UnsafePickleError(f"the pickle asks for the codec {encoding!r}; only latin1 is allowed")
    return str(obj).encode("latin1", errors)


def _allowed() -> dict[tuple[str, str], Any]:
    ma = _multiarray()
    table: dict[tuple[str, str], Any] = {
        ("numpy", "ndarray"): _ndarray,
        ("numpy", "dtype"): np.dtype,
        ("_codecs", "encode"): _latin1_encode,
    }
    for mod in ("numpy._core.multiarray", "numpy.core.multiarray"):
        table[(mod, "_reconstruct")] = _make_reconstruct(ma._reconstruct)
        table[(mod, "scalar")] = ma.scalar
    for mod in ("numpy._core.numeric", "numpy.core.numeric"):  # pickle protocol 5 arrays
        table[(mod, "_frombuffer")] = _frombuffer
    # numpy dtype classes that numpy 2 may pickle as e.g. numpy.dtypes.Float32DType
    for name in ("Float16DType", "Float32DType", "Float64DType", "Int8DType", "Int16DType", "Int32DType",
                 "Int64DType", "UInt8DType", "UInt16DType", "UInt32DType", "UInt64DType", "BoolDType"):
        cls = getattr(getattr(np, "dtypes", None), name, None)
        if cls is not None:
            table[("numpy.dtypes", name)] = cls
    return table


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that only rebuilds plain numpy arrays, dtypes, scalars and builtin containers.

    ``encoding`` defaults to ``"latin1"`` so Python 2 pickles of numpy arrays load.
    """

    def __init__(self, file, *, encoding: str = "latin1", source: str = "the file") -> None:
        super().__init__(file, encoding=encoding)
        self._table = _allowed()
        self._source = source

    def find_class(self, module: str, name: str) -> Any:  # noqa: D401 - pickle API
        try:
            return self._table[(module, name)]
        except KeyError:
            raise UnsafePickleError(
                f"{self._source} contains a pickled object of type {module}.{name}; only plain numpy "
                "arrays are accepted, so it was not loaded (loading it could run arbitrary code)") from None

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafePickleError(f"{self._source} uses pickle persistent ids; it was not loaded")


def safe_loads(data: bytes, *, source: str = "the data") -> Any:
    """Unpickle ``data`` with :class:`RestrictedUnpickler`.

    Raises:
        UnsafePickleError: the pickle references anything but plain numpy data.
        PickleDataError: the pickle is damaged.
    """
    return _load(io.BytesIO(data), source)


def _prescan(data: bytes, source: str) -> None:
    """Walk the pickle's opcodes (nothing is built) and refuse what would make the C unpickler allocate
    far more than the file holds: memo indices beyond the opcodes seen (a damaged ``LONG_BINPUT`` can
    grow the memo table to gigabytes), or more opcodes than :data:`~diface_editor.core.limits.MAX_PICKLE_NODES`."""
    import pickletools

    from diface_editor.core.limits import MAX_PICKLE_NODES

    n = 0
    try:
        for op, arg, _pos in pickletools.genops(data):
            n += 1
            if n > MAX_PICKLE_NODES:
                raise PickleDataError(f"{source} holds more than {MAX_PICKLE_NODES:,} pickle instructions; "
                                      "it was not loaded")
            if op.name in ("PUT", "BINPUT", "LONG_BINPUT", "GET", "BINGET", "LONG_BINGET") and \
                    isinstance(arg, int) and not 0 <= arg <= n:
                raise PickleDataError(f"{source} is damaged: its pickle refers to memo slot {arg:,} after only "
                                      f"{n:,} instructions")
            if op.name == "STOP":
                break
    except DifaceError:
        raise
    except Exception as e:  # noqa: BLE001 - pickletools raises ValueError and friends on damage
        raise PickleDataError(f"{source} is not a readable pickle ({e or e.__class__.__name__})") from None


def _load(f, source: str) -> Any:
    data = f.read()
    _prescan(data, source)
    f = io.BytesIO(data)
    try:
        return RestrictedUnpickler(f, source=source).load()
    except DifaceError as e:
        if str(e).startswith("the pickle"):  # raised by a constructor that does not know the file
            raise type(e)(f"{source}: {e}") from None
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError,
            KeyError, struct.error, OverflowError, RecursionError, SystemError) as e:
        raise PickleDataError(f"{source} is not a readable pickle ({e or e.__class__.__name__})") from None
    except MemoryError:  # a damaged length field asking for an impossible buffer (nothing was allocated)
        raise PickleDataError(f"{source} is damaged: its pickle declares a size larger than memory") from None


def safe_load_file(path: str | os.PathLike) -> Any:
    """Unpickle a ``.pkl`` file safely (see :func:`safe_loads`)."""
    path = Path(path)
    if not path.exists():
        raise PickleDataError(f"file not found: {path}")
    with open(path, "rb") as f:
        return _load(f, str(path))


def safe_load_npy(path: str | os.PathLike) -> Any:
    """Read a ``.npy`` file without executing code.

    Returns a plain ``np.ndarray`` for numeric files; for object arrays (``np.save`` of a dict or
    list) the restricted unpickler rebuilds the array and a 0-d result is unwrapped, so
    ``np.save(p, {"a": x})`` gives back ``{"a": x}``.

    Raises:
        PickleDataError: missing, damaged or non-.npy file; UnsafePickleError: disallowed objects.
    """
    from diface_editor.core.limits import LimitError, check_array_bytes, check_regular_file

    path = Path(path)
    try:
        check_regular_file(path, "file")
    except DifaceError as e:
        raise PickleDataError(str(e)) from None
    size = path.stat().st_size
    if size == 0:
        raise PickleDataError(f"{path} is empty (0 bytes)")
    with open(path, "rb") as f:
        try:
            shape, fortran, dtype = read_npy_header(f)
        except UnsupportedNpyVersion as e:
            raise PickleDataError(f"{path} uses .npy format version {e.version}, which is not supported") from None
        except Exception as e:
            raise PickleDataError(f"{path} is not a valid .npy file ({e})") from None
        if not dtype.hasobject:
            try:
                check_array_bytes(shape, dtype.itemsize, str(path))
            except LimitError as e:
                raise PickleDataError(str(e)) from None
            need = f.tell() + int(np.prod(shape, dtype=object)) * dtype.itemsize
            if need > size:
                raise PickleDataError(f"{path} is damaged or truncated: its header promises {need:,} bytes "
                                      f"but the file has {size:,}")
            f.seek(0)
            try:
                return np.load(f, allow_pickle=False)
            except Exception as e:
                raise PickleDataError(f"{path} is damaged or truncated ({e})") from None
        obj = _load(f, str(path))
    if not isinstance(obj, np.ndarray):
        raise PickleDataError(f"{path} does not hold a numpy array")
    if obj.shape != tuple(shape):
        raise PickleDataError(f"{path} is damaged: header says shape {tuple(shape)}, data has {obj.shape}")
    if obj.dtype == object and obj.ndim == 0:
        return obj.item()
    return obj


def check_plain_data(obj: Any, *, source: str = "the data", budget: int | None = None) -> None:
    """Raise :class:`PickleDataError` unless ``obj`` is dicts/lists/tuples of plain arrays and scalars.

    Plain arrays have a boolean, integer, float, complex, string or bytes dtype (no objects). At
    most ``budget`` items are visited (default :data:`~diface_editor.core.limits.MAX_PICKLE_NODES`),
    counting an object each time it is reached: a pickle can reference one list from many places
    (a "billion laughs"), which would otherwise cost exponential time here and in later code.
    """
    from diface_editor.core.limits import MAX_PICKLE_NODES

    n = MAX_PICKLE_NODES if budget is None else int(budget)
    left = [n, n]
    _check_plain(obj, source, 0, left)


def _check_plain(obj: Any, source: str, depth: int, left: list[int]) -> None:
    left[0] -= 1
    if left[0] < 0:
        raise PickleDataError(f"{source} holds a structure of more than {left[1]:,} items (lists that "
                              "reference each other many times); it was not loaded")
    if depth > 20:
        raise PickleDataError(f"{source} is nested too deeply")
    if isinstance(obj, dict):
        for k, v in obj.items():
            if not isinstance(k, (str, int, bytes)):
                raise PickleDataError(f"{source} has a dictionary key of type {type(k).__name__}")
            _check_plain(v, source, depth + 1, left)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            _check_plain(v, source, depth + 1, left)
    elif isinstance(obj, np.ndarray):
        if obj.dtype.hasobject:
            raise PickleDataError(f"{source} holds an array of Python objects, not numbers")
    elif obj is None or isinstance(obj, (bool, int, float, complex, str, bytes, np.generic)):
        return
    else:
        raise PickleDataError(f"{source} holds a {type(obj).__name__}, not plain numeric data")
