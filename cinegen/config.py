"""Building frozen config dataclasses from JSON dicts: unknown keys raise, lists become tuples."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def field_names(cls: type[Any]) -> list[str]:
    return sorted(f.name for f in dataclasses.fields(cls))


def unknown_keys(cls: type[Any], d: dict[str, Any], exclude: tuple[str, ...] = ()) -> list[str]:
    """The keys of `d` that name no field of the dataclass `cls` (less `exclude`), sorted: the one
    unknown-key check every `from_dict` uses (each raises its own error type)."""
    return sorted(set(d) - (set(field_names(cls)) - set(exclude)))


def require_known(cls: type[Any], d: dict[str, Any], error: Callable[[list[str]], Exception]) -> None:
    """Raise `error(unknown keys)` when `d` has keys the dataclass `cls` does not."""
    unknown = unknown_keys(cls, d)
    if unknown:
        raise error(unknown)


def config_from_dict(cls: type[T], d: dict[str, Any], what: str) -> T:
    """`cls(**d)` for a frozen dataclass, refusing keys it does not know (named in the error)."""
    unknown = unknown_keys(cls, d)
    if unknown:
        raise ValueError(f"unknown {what} config keys: {sorted(unknown)}")
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})
