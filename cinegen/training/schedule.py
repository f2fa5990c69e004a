"""Shared training utilities: the learning-rate schedule and config-from-command-line parsing."""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
import typing
from collections.abc import Sequence
from typing import Any, TypeVar

T = TypeVar("T")


def cosine_lr(base: float, step: int, warmup: int, steps: int, elapsed_s: float = 0.0,
              max_minutes: float = 0.0) -> float:
    """Linear warmup, then cosine decay to 10% of `base`.

    Progress is the larger of step/steps and elapsed/max_minutes, so a run with a wall-time
    budget still anneals fully before it stops.
    """
    if step < warmup:
        return base * (step + 1) / warmup
    p = (step - warmup) / max(1, steps - warmup)
    if max_minutes > 0:
        p = max(p, elapsed_s / (max_minutes * 60))
    return base * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(p, 1.0))))


def add_dataclass_args(parser: argparse.ArgumentParser, cls: type) -> None:
    """One --flag per dataclass field; tuples take comma-separated values, bools take true/false.
    The class's own fields come first in --help, then those of its bases (run settings last)."""
    hints = typing.get_type_hints(cls)
    depth = {name: i for i, klass in reversed(list(enumerate(cls.__mro__)))
             for name in vars(klass).get("__annotations__", {})}
    for f in sorted(dataclasses.fields(cls), key=lambda f: depth.get(f.name, 0)):
        default = f.default
        flag = "--" + f.name.replace("_", "-")
        kind = hints[f.name]
        if kind is bool:
            parser.add_argument(flag, type=_parse_bool, default=default, metavar="true|false")
        elif isinstance(default, tuple):
            elem = type(default[0]) if default else int
            parser.add_argument(flag, type=_tuple_of(elem), default=default, metavar="A,B,...")
        else:
            parser.add_argument(flag, type=type(default), default=default)


def config_from_args(cls: type[T], args: argparse.Namespace) -> T:
    return cls(**{f.name: getattr(args, f.name) for f in dataclasses.fields(cls)})  # type: ignore[arg-type]


def config_from_argv(cls: type[T], argv: Sequence[str] | None = None) -> T:
    parser = argparse.ArgumentParser()
    add_dataclass_args(parser, cls)
    return config_from_args(cls, parser.parse_args(sys.argv[1:] if argv is None else argv))


def _parse_bool(s: str) -> bool:
    if s.lower() in ("1", "true", "yes", "on"):
        return True
    if s.lower() in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {s!r}")


def _tuple_of(elem: type) -> Any:
    def parse(s: str) -> tuple[Any, ...]:
        try:
            return tuple(elem(v) for v in s.split(",") if v.strip())
        except ValueError as e:
            raise argparse.ArgumentTypeError(
                f"expected comma-separated {elem.__name__} values, got {s!r}") from e

    return parse
