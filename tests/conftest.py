"""Suite-wide: every test's state (signing keys, consent registry, job store) defaults to a
temporary data directory, never the user's own; tests that need their own set CINEGEN_HOME."""

from __future__ import annotations

import os
import tempfile

import pytest


def pytest_configure(config: pytest.Config) -> None:
    del config
    if "CINEGEN_HOME" not in os.environ:
        os.environ["CINEGEN_HOME"] = tempfile.mkdtemp(prefix="cinegen-test-home-")
