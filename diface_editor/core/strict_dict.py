"""Building a dataclass from a dict that must not carry keys the dataclass does not know.

Model and training configs are read from JSON/TOML files; a misspelt key must fail loudly, naming
itself, instead of being ignored.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any, TypeVar

T = TypeVar("T")


def field_names(cls: type) -> set[str]:
    """The names of a dataclass's fields."""
    return {f.name for f in fields(cls)}


def unknown_keys(cls: type, d: dict[str, Any]) -> list[str]:
    """Keys of ``d`` that are not fields of the dataclass ``cls``, sorted."""
    return sorted(set(d) - field_names(cls))


def from_dict_strict(cls: type[T], d: dict[str, Any], what: str) -> T:
    """``cls(**d)``; keys ``cls`` lacks raise ``ValueError("unknown {what} keys: a, b")``."""
    unknown = unknown_keys(cls, d)
    if unknown:
        raise ValueError(f"unknown {what} keys: {', '.join(unknown)}")
    return cls(**d)
