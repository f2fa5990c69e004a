"""Backlot subcommands (placeholder until the captions/parser land): nothing registered yet."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: argparse._SubParsersAction[Any]) -> None:
    del sub
