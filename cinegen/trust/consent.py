"""Likeness consent: a registry of performers and the specific, per-use, revocable grants they give.

Modelled on the informed-consent terms actors' unions negotiated in 2023 (SAG-AFTRA's TV/theatrical
agreement on digital replicas): consent is *specific* (it names the uses and the projects it
covers), *per use* (a grant for one project does not cover another), time-limited (an expiry),
and *revocable* (a revoked grant stops new jobs at once: moderation re-reads the grant from the
registry for every job, it never trusts a cached copy).

The registry is one SQLite file, `<data_dir>/consent.sqlite`.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import secrets
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cinegen.private import touch_private

USES = ("text-to-video", "image-to-video", "video-to-video", "extend", "remix")


class ConsentError(ValueError):
    """A registry operation that cannot be done (unknown performer or grant, bad scope)."""


def normalise_name(name: str) -> str:
    """Case- and space-insensitive key for a person's name."""
    return re.sub(r"\s+", " ", name.strip()).casefold()


@dataclass(frozen=True)
class Performer:
    name: str
    aliases: tuple[str, ...] = ()
    registered_at: float = 0.0


@dataclass(frozen=True)
class ConsentGrant:
    grant_id: str
    performer: str
    uses: tuple[str, ...]
    projects: tuple[str, ...]  # "*" is not accepted: consent names its projects
    expires_at: float  # unix time
    created_at: float = 0.0
    revoked_at: float | None = None
    note: str = ""

    def covers(self, performer: str, use: str, project: str | None, now: float | None = None) -> str | None:
        """None when this grant covers the request, else the reason it does not."""
        now = time.time() if now is None else now
        if self.revoked_at is not None:
            return f"consent grant {self.grant_id} was revoked"
        if now >= self.expires_at:
            return f"consent grant {self.grant_id} expired on {_day(self.expires_at)}"
        if normalise_name(performer) != normalise_name(self.performer):
            return f"consent grant {self.grant_id} is for {self.performer}, not {performer}"
        if use not in self.uses:
            return (f"consent grant {self.grant_id} does not cover the use {use!r} "
                    f"(covers: {', '.join(self.uses)})")
        if project is None or project not in self.projects:
            return (f"consent grant {self.grant_id} does not cover project {project!r} "
                    f"(covers: {', '.join(self.projects)})")
        return None


def _day(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.UTC).strftime("%Y-%m-%d")


_SCHEMA = """
CREATE TABLE IF NOT EXISTS performers (
    key TEXT PRIMARY KEY, name TEXT NOT NULL, aliases TEXT NOT NULL, registered_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS grants (
    grant_id TEXT PRIMARY KEY, performer_key TEXT NOT NULL REFERENCES performers(key),
    uses TEXT NOT NULL, projects TEXT NOT NULL, expires_at REAL NOT NULL, created_at REAL NOT NULL,
    revoked_at REAL, note TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS aliases (alias TEXT PRIMARY KEY, performer_key TEXT NOT NULL);
"""


class ConsentRegistry:
    """Performers and their grants in SQLite. Each call opens its own short transaction."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        touch_private(self.path)  # 0600 before SQLite opens it (its journal files take its mode)
        with self._db() as db:
            db.executescript(_SCHEMA)

    @classmethod
    def in_data_dir(cls, data_dir: Path) -> ConsentRegistry:
        return cls(Path(data_dir) / "consent.sqlite")

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=10)
        try:
            with db:
                yield db
        finally:
            db.close()

    # ------------------------------------------------------------------ performers
    def register(self, name: str, aliases: tuple[str, ...] = ()) -> Performer:
        if len(name.split()) < 1 or not name.strip():
            raise ConsentError("a performer needs a name")
        key = normalise_name(name)
        now = time.time()
        with self._db() as db:
            if db.execute("SELECT 1 FROM performers WHERE key=?", (key,)).fetchone():
                raise ConsentError(f"performer {name!r} is already registered")
            db.execute("INSERT INTO performers VALUES (?,?,?,?)",
                       (key, name.strip(), json.dumps(list(aliases)), now))
            for a in aliases:
                db.execute("INSERT OR REPLACE INTO aliases VALUES (?,?)", (normalise_name(a), key))
        return Performer(name.strip(), tuple(aliases), now)

    def performer(self, name: str) -> Performer | None:
        """The registered performer called `name` (or one of their aliases), else None."""
        key = normalise_name(name)
        with self._db() as db:
            row = db.execute("SELECT performer_key FROM aliases WHERE alias=?", (key,)).fetchone()
            if row:
                key = row[0]
            r = db.execute("SELECT name, aliases, registered_at FROM performers WHERE key=?",
                           (key,)).fetchone()
        return Performer(r[0], tuple(json.loads(r[1])), r[2]) if r else None

    def performers(self) -> list[Performer]:
        with self._db() as db:
            rows = db.execute("SELECT name, aliases, registered_at FROM performers ORDER BY key").fetchall()
        return [Performer(r[0], tuple(json.loads(r[1])), r[2]) for r in rows]

    def known_names(self) -> dict[str, str]:
        """Every registered name and alias (normalised) -> the performer's name."""
        with self._db() as db:
            names = {k: n for k, n in db.execute("SELECT key, name FROM performers")}
            for alias, key in db.execute("SELECT alias, performer_key FROM aliases"):
                if key in names:
                    names[alias] = names[key]
        return names

    # ------------------------------------------------------------------ grants
    def grant(
        self, name: str, *, uses: tuple[str, ...], projects: tuple[str, ...], expires_at: float,
        note: str = ""
    ) -> ConsentGrant:
        p = self.performer(name)
        if p is None:
            raise ConsentError(f"performer {name!r} is not registered; register them first")
        bad = [u for u in uses if u not in USES]
        if not uses or bad:
            raise ConsentError(f"uses must be one or more of {', '.join(USES)}; got {list(uses)}")
        if not projects or any(not pr.strip() or pr.strip() == "*" for pr in projects):
            raise ConsentError("consent must name its projects (no empty or '*' project)")
        if expires_at <= time.time():
            raise ConsentError(f"expiry {_day(expires_at)} is in the past")
        g = ConsentGrant("cg_" + secrets.token_hex(8), p.name, tuple(uses), tuple(projects), expires_at,
                         time.time(), None, note)
        with self._db() as db:
            db.execute(
                "INSERT INTO grants VALUES (?,?,?,?,?,?,?,?)",
                (g.grant_id, normalise_name(p.name), json.dumps(g.uses), json.dumps(g.projects), g.expires_at,
                 g.created_at, None, note),
            )
        return g

    def get_grant(self, grant_id: str) -> ConsentGrant | None:
        with self._db() as db:
            r = db.execute(
                "SELECT g.grant_id, p.name, g.uses, g.projects, g.expires_at, g.created_at, g.revoked_at, "
                "g.note "
                "FROM grants g JOIN performers p ON p.key = g.performer_key WHERE g.grant_id=?",
                (grant_id,),
            ).fetchone()
        return _grant(r) if r else None

    def grants(self, name: str | None = None) -> list[ConsentGrant]:
        q = ("SELECT g.grant_id, p.name, g.uses, g.projects, g.expires_at, g.created_at, g.revoked_at, "
             "g.note "
             "FROM grants g JOIN performers p ON p.key = g.performer_key")
        args: tuple[str, ...] = ()
        if name is not None:
            q += " WHERE g.performer_key=?"
            args = (normalise_name(name),)
        with self._db() as db:
            return [_grant(r) for r in db.execute(q + " ORDER BY g.created_at", args).fetchall()]

    def revoke(self, grant_id: str) -> ConsentGrant:
        with self._db() as db:
            n = db.execute(
                "UPDATE grants SET revoked_at=? WHERE grant_id=? AND revoked_at IS NULL",
                (time.time(), grant_id)
            ).rowcount
        g = self.get_grant(grant_id)
        if g is None:
            raise ConsentError(f"no consent grant {grant_id!r}")
        if n == 0 and g.revoked_at is None:  # pragma: no cover - raced
            raise ConsentError(f"could not revoke {grant_id}")
        return g

    def check(self, grant_id: str | None, performer: str, use: str, project: str | None) -> str | None:
        """None when the *current* registry state of `grant_id` covers the request, else why not."""
        if grant_id is None:
            return f"{performer} is a registered performer and the request carries no consent grant"
        g = self.get_grant(grant_id)
        if g is None:
            return f"no consent grant {grant_id!r} in the registry"
        return g.covers(performer, use, project)


def _grant(r: tuple[object, ...]) -> ConsentGrant:
    return ConsentGrant(
        grant_id=str(r[0]), performer=str(r[1]), uses=tuple(json.loads(str(r[2]))),
        projects=tuple(json.loads(str(r[3]))), expires_at=float(r[4]),  # type: ignore[arg-type]
        created_at=float(r[5]), revoked_at=None if r[6] is None else float(r[6]),  # type: ignore[arg-type]
        note=str(r[7]),
    )
