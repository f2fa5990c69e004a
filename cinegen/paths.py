"""Where things live, in one place: the data directory, the signing keys, the consent registry and
the model. Every door (CLI, service, studio, backlot renders) asks here.

- data directory: an explicit `--data-dir`, else `$CINEGEN_HOME`, else `$XDG_DATA_HOME/cinegen`,
  else `~/.local/share/cinegen`. The service keeps its job store, inputs and videos there.
- signing keys (the development CA): `$CINEGEN_DATA_DIR` when set (the trust layer's own variable,
  so a studio's key directory wins everywhere), else `<data directory>/trust`.
- consent registry: `<data directory>/consent.sqlite`.
- model: an explicit path (a relative one is also tried against the repository, where the
  shipped weights live), else `$CINEGEN_MODEL`, else the shipped `weights/backlot-v1`.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SHIPPED_MODEL = REPO / "weights" / "backlot-v1"


def data_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The data directory (see the module docstring for the order of the rules)."""
    if explicit is not None:
        return Path(explicit).expanduser()
    env = os.environ.get("CINEGEN_HOME")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".local" / "share"
    return base / "cinegen"


def keys_dir(data: Path | None = None) -> Path:
    """Where the development signing keys live: `$CINEGEN_DATA_DIR`, else `<data>/trust`."""
    env = os.environ.get("CINEGEN_DATA_DIR")
    if env:
        return Path(env).expanduser()
    return (data if data is not None else data_dir()) / "trust"


def consent_db(data: Path) -> Path:
    return data / "consent.sqlite"


def model_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The model directory to load (see the module docstring)."""
    if explicit is None:
        env = os.environ.get("CINEGEN_MODEL")
        return Path(env).expanduser() if env else SHIPPED_MODEL
    p = Path(explicit).expanduser()
    if p.is_absolute() or p.exists():
        return p
    return REPO / p if (REPO / p).exists() else p
