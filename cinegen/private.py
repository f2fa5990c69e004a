"""The data directory is private to the user who runs cinegen: directories 0700, files 0600,
whatever the umask.

The job store holds every key's webhook secret, prompts and moderation logs; `videos/` and
`inputs/` hold every tenant's media. So everything the service, `cinegen keys`, `cinegen consent`
and the studio create there gets an explicit mode: directories through `private_dir`, files
through `write_private` / `touch_private` (before SQLite opens a database, so its `-wal` and
`-shm` files, which SQLite creates with the database's mode, are private too). The umask is
process-global and is never changed in the API process; worker processes, which own their whole
process, set `PRIVATE_UMASK` so whatever a backend or library writes there is private as well.
`secure_tree` re-applies the modes to a whole directory (a store made by an older version, an
export written by a library).
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600
PRIVATE_UMASK = 0o077


def private_dir(path: Path) -> Path:
    """Create `path` and make it 0700; parents it has to create are 0700 too (mkdir's `mode` does
    not reach the parents it makes)."""
    path = Path(path)
    missing = []
    p = path
    while not p.exists():
        missing.append(p)
        p = p.parent
    for d in reversed(missing):
        d.mkdir(mode=DIR_MODE, exist_ok=True)
        os.chmod(d, DIR_MODE)
    os.chmod(path, DIR_MODE)
    return path


def touch_private(path: Path) -> Path:
    """Make sure `path` exists as a 0600 file (created empty if missing, never truncated)."""
    path = Path(path)
    private_dir(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
    finally:
        os.close(fd)
    return path


def write_private(path: Path, data: bytes) -> Path:
    """Write `data` to `path` atomically (a 0600 temporary file renamed into place, fsynced)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.part")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    return path


def private_files(*paths: Path) -> None:
    """chmod 0600 each of `paths` that exists as a regular file (SQLite's -wal/-shm, a library's output)."""
    for p in paths:
        with contextlib.suppress(FileNotFoundError):
            if stat.S_ISREG(os.lstat(p).st_mode):
                os.chmod(p, FILE_MODE)


def secure_tree(root: Path, skip: tuple[str, ...] = ()) -> None:
    """Directories 0700 and regular files 0600 under `root` (symlinks left alone; the top-level
    entries named in `skip`, e.g. a running Ray session's directory, are made 0700 and not entered)."""
    root = Path(root)
    if not root.is_dir():
        return
    os.chmod(root, DIR_MODE)
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        for d in list(dirnames):
            p = here / d
            if os.path.islink(p):
                dirnames.remove(d)
                continue
            with contextlib.suppress(FileNotFoundError):
                os.chmod(p, DIR_MODE)
            if here == root and d in skip:
                dirnames.remove(d)
        private_files(*(here / f for f in filenames))
