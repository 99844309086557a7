"""Building a dataclass from a dict that must not carry keys the dataclass does not know.

Model and training configs are read from JSON/TOML files; a misspelt key must fail loudly, naming
itself, instead of being ignored, and a value of the wrong type (``"thirty"`` where a number belongs,
``1e7`` where a whole number belongs) fails naming the key and what it must be.
"""

from __future__ import annotations

import math
import types
import typing
from dataclasses import fields
from typing import Any, Literal, TypeVar, Union, get_args, get_origin

T = TypeVar("T")


def field_names(cls: type) -> set[str]:
    """The names of a dataclass's fields."""
    return {f.name for f in fields(cls)}


def unknown_keys(cls: type, d: dict[str, Any]) -> list[str]:
    """Keys of ``d`` that are not fields of the dataclass ``cls``, sorted."""
    return sorted(set(d) - field_names(cls))


def from_dict_strict(cls: type[T], d: dict[str, Any], what: str) -> T:
    """``cls(**d)``; keys ``cls`` lacks raise ``ValueError("unknown {what} keys: a, b")``; values
    whose type does not fit the field's annotation raise ``ValueError("{what} key k must be ...")``."""
    if not isinstance(d, dict):
        raise ValueError(f"the {what} must be an object of keys and values, not {type(d).__name__}")
    unknown = unknown_keys(cls, d)
    if unknown:
        raise ValueError(f"unknown {what} keys: {', '.join(unknown)}")
    check_types(cls, d, what)
    return cls(**d)


def check_types(cls: type, d: dict[str, Any], what: str) -> None:
    """``ValueError`` naming the first key of ``d`` whose value does not fit ``cls``'s annotation."""
    try:
        hints = typing.get_type_hints(cls)
    except Exception:  # noqa: BLE001 - unresolvable annotations: nothing to check against
        return
    for k, v in d.items():
        hint = hints.get(k)
        if hint is None:
            continue
        must = _must(hint, v)
        if must:
            shown = repr(v) if len(repr(v)) <= 40 else repr(v)[:37] + "..."
            raise ValueError(f"{what} key {k} must be {must}, got {shown}")


def _must(hint: Any, v: Any) -> str | None:
    """``None`` when ``v`` fits ``hint``, else what it must be (words); unknown hints accept anything."""
    origin = get_origin(hint)
    if hint is Any:
        return None
    if origin in (Union, types.UnionType):
        options = get_args(hint)
        if v is None and type(None) in options:
            return None
        musts = [_must(h, v) for h in options if h is not type(None)]
        if any(m is None for m in musts):
            return None
        words = " or ".join(m for m in musts if m)
        return words + (" or null" if type(None) in options else "")
    if origin is Literal:
        opts = get_args(hint)
        return None if v in opts else "one of " + ", ".join(repr(o) for o in opts)
    if hint is bool:
        return None if isinstance(v, bool) else "true or false"
    if hint is int:
        return None if isinstance(v, int) and not isinstance(v, bool) else "a whole number"
    if hint is float:
        ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
        return None if ok else "a finite number"
    if hint is str:
        return None if isinstance(v, str) else "a string"
    if origin in (tuple, list):
        if not isinstance(v, (list, tuple)):
            return "a list"
        args = [a for a in get_args(hint) if a is not Ellipsis]
        if len(args) == 1 or (origin is tuple and len(get_args(hint)) == 2 and get_args(hint)[1] is Ellipsis):
            for x in v:
                m = _must(args[0], x)
                if m:
                    return f"a list of which each item is {m}"
        return None
    if origin is dict or hint is dict:
        return None if isinstance(v, dict) else "an object"
    return None
