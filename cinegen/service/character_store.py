"""Characters: a key's named sets of reference images (`POST /v1/videos/characters`), kept as a row
in the job store's `characters` table and up to `MAX_IMAGES` private PNGs under
`<data dir>/characters/<id>/` (0.png, 1.png, ...).

A character is the caller's own: every read takes the owner, and another key's character is
`NotFound` like a missing one. The files are written before the row commits and removed after it
is deleted, so a row always names complete files. Jobs never read these files directly: accepting
a job copies them into its inputs (`references_for`), so deleting a character never breaks a
queued job.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cinegen.private import private_dir, write_private
from cinegen.service.jobs import JobStore, NotFound, new_id

MAX_IMAGES = 4
MAX_NAME_CHARS = 80


@dataclass(frozen=True)
class Character:
    id: str
    owner: str
    name: str
    created_at: float
    images: int
    consent_grant_id: str | None  # the grant the name was allowed under (re-checked on every job)
    project: str | None

    def to_openai(self) -> dict[str, Any]:
        """The SDK's character object (`videos.create_character` / `get_character`), plus the image count."""
        return {"id": self.id, "object": "video.character", "name": self.name,
                "created_at": int(self.created_at), "images": self.images}


def character_dir(data_dir: Path, character_id: str) -> Path:
    return Path(data_dir) / "characters" / character_id


def image_paths(data_dir: Path, c: Character) -> tuple[Path, ...]:
    """The character's reference PNGs, in the order they were given."""
    return tuple(character_dir(data_dir, c.id) / f"{i}.png" for i in range(c.images))


class CharacterStore:
    """The characters table of a `JobStore` (its connection and write lock) plus the files."""

    def __init__(self, store: JobStore, data_dir: Path) -> None:
        self.store = store
        self.data_dir = Path(data_dir)

    def create(self, owner: str, name: str, pngs: list[bytes], *, consent_grant_id: str | None = None,
               project: str | None = None) -> Character:
        """Write the PNGs (already validated and moderated), then the row."""
        if not 1 <= len(pngs) <= MAX_IMAGES:
            raise ValueError(f"a character has 1..{MAX_IMAGES} images, got {len(pngs)}")
        c = Character(new_id("char"), owner, name, time.time(), len(pngs), consent_grant_id, project)
        folder = private_dir(character_dir(self.data_dir, c.id))
        try:
            for path, data in zip(image_paths(self.data_dir, c), pngs, strict=True):
                write_private(path, data)
            with self.store._tx() as tx:
                tx.execute("INSERT INTO characters (id, owner, name, created_at, images, consent_grant_id, "
                           "project) VALUES (?, ?, ?, ?, ?, ?, ?)",
                           (c.id, owner, name, c.created_at, c.images, consent_grant_id, project))
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        return c

    def get(self, owner: str, character_id: str) -> Character:
        rows = self.store._read("SELECT * FROM characters WHERE id=? AND owner=?", (character_id, owner))
        if not rows:
            raise NotFound(character_id)
        return _character(rows[0])

    def owned(self, owner: str) -> list[Character]:
        """The owner's characters, oldest first."""
        rows = self.store._read("SELECT * FROM characters WHERE owner=? ORDER BY created_at, rowid", (owner,))
        return [_character(r) for r in rows]

    def delete(self, owner: str, character_id: str) -> Character:
        """Remove the row, then the files (queued jobs hold their own copies)."""
        with self.store._tx() as tx:
            row = tx.execute("SELECT * FROM characters WHERE id=? AND owner=?",
                             (character_id, owner)).fetchone()
            if row is None:
                raise NotFound(character_id)
            tx.execute("DELETE FROM characters WHERE id=?", (character_id,))
        shutil.rmtree(character_dir(self.data_dir, character_id), ignore_errors=True)
        return _character(row)


def _character(row: Any) -> Character:
    return Character(row["id"], row["owner"], row["name"], float(row["created_at"]), int(row["images"]),
                     row["consent_grant_id"], row["project"])
