"""The studio's storyboards on disk, one folder per owner: `<data dir>/studio/<owner>/<board id>/`
holds `board.json` (written atomically), `images/`, `shots/` and `export/`."""

from __future__ import annotations

import json
import re
import secrets
import time
from pathlib import Path
from typing import Any

from cinegen.private import private_dir, write_private
from cinegen.service.errors import ApiError
from cinegen.studio.storyboard import Storyboard

_BOARD_ID = re.compile(r"^sb_[A-Za-z0-9]{8,32}$")


class BoardStore:
    """Storyboards of one owner on disk: `<root>/<id>/board.json`, `images/`, `shots/`, `export/`."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def dir(self, board_id: str) -> Path:
        if not _BOARD_ID.match(board_id):
            raise ApiError(404, "storyboard_not_found", f"no storyboard {board_id!r}")
        return self.root / board_id

    def load(self, board_id: str) -> dict[str, Any]:
        p = self.dir(board_id) / "board.json"
        if not p.is_file():
            raise ApiError(404, "storyboard_not_found",
                           f"no storyboard {board_id!r}; it may have been deleted")
        record: dict[str, Any] = json.loads(p.read_text())
        return record

    def board(self, record: dict[str, Any]) -> Storyboard:
        return Storyboard.from_dict(record["board"])

    def save(self, record: dict[str, Any], board: Storyboard) -> dict[str, Any]:
        record = {**record, "board": board.to_dict(), "updated_at": int(time.time())}
        d = self.dir(record["id"])
        write_private(private_dir(d) / "board.json", json.dumps(record, indent=1).encode())
        return record

    def create(self, board: Storyboard) -> dict[str, Any]:
        now = int(time.time())
        record = {"id": "sb_" + secrets.token_hex(8), "created_at": now, "updated_at": now}
        return self.save(record, board)

    def list(self) -> list[dict[str, Any]]:
        if not self.root.is_dir():
            return []
        out = []
        for p in self.root.glob("sb_*/board.json"):
            try:
                out.append(json.loads(p.read_text()))
            except (OSError, ValueError):
                continue
        return sorted(out, key=lambda r: r.get("updated_at", 0), reverse=True)
