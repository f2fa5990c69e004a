"""Untrusted JSON, parsed without surprises: nesting capped before parsing, numbers bounded,
no NaN or Infinity.

Python's `json.loads` raises `RecursionError` on a few thousand nested brackets and `ValueError`
on an integer of more than 4300 digits; neither is a client error it names. `loads` measures the
nesting first (strings skipped, so brackets inside them do not count) and refuses anything deeper
than `max_depth`; an integer longer than `MAX_INT_DIGITS` digits parses to a `HugeNumber` marker,
which `huge_field` finds so the caller can refuse it naming the field that held it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

MAX_DEPTH = 32
MAX_INT_DIGITS = 40
_STRING = re.compile(rb'"(?:[^"\\]++|\\.)*+"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


class JsonRefused(ValueError):
    """The text is not JSON this service reads (malformed, too deep, NaN); the message says why."""


@dataclass(frozen=True)
class HugeNumber:
    """An integer literal too long to be any field's value (kept out of `int()`'s digit limit)."""

    digits: int

    def __repr__(self) -> str:
        return f"a {self.digits}-digit number"


def depth(raw: bytes) -> int:
    """The deepest bracket nesting of a JSON text, brackets inside strings not counted."""
    level = deepest = 0
    for ch in _STRING.sub(b"", raw).translate(None, _NOT_BRACKETS):
        if ch in b"[{":
            level += 1
            deepest = max(deepest, level)
        else:
            level -= 1
    return deepest


def _int(text: str) -> int | HugeNumber:
    digits = len(text.lstrip("-"))
    return HugeNumber(digits) if digits > MAX_INT_DIGITS else int(text)


def _constant(name: str) -> Any:
    raise JsonRefused(f"{name} is not valid JSON")


def loads(raw: bytes | str, max_depth: int = MAX_DEPTH) -> Any:
    """Parse `raw`; `JsonRefused` for malformed text, NaN/Infinity or nesting deeper than `max_depth`."""
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
    if depth(data) > max_depth:
        raise JsonRefused(f"the JSON is nested deeper than {max_depth} levels")
    try:
        return json.loads(data, parse_int=_int, parse_constant=_constant)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise JsonRefused(f"the body is not valid JSON: {e}") from None
    except RecursionError:  # cannot happen under the depth cap; kept as a last line
        raise JsonRefused(f"the JSON is nested deeper than {max_depth} levels") from None


def huge_field(body: dict[str, Any]) -> tuple[str, HugeNumber] | None:
    """The first top-level field holding (at any depth) an over-long integer, with that number."""
    for key, value in body.items():
        stack = [value]
        while stack:
            v = stack.pop()
            if isinstance(v, HugeNumber):
                return key, v
            if isinstance(v, dict):
                stack.extend(v.values())
            elif isinstance(v, list):
                stack.extend(v)
    return None
