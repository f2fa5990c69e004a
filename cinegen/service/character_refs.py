"""A job that names characters (`characters: [id, ...]` on create, extensions, edits and remixes):
checked before it is queued, and given its own copies of the characters' images.

Checks, in order: the picked model's family takes reference images (else 400
`references_unsupported` naming the served models that do); no id twice; each id is one of the
caller's characters (else 404 `character_not_found`, another key's too); and each character's
name passes the consent gate again under the grant it was created with, as an image-to-video use
(its images are a likeness), so a revoked grant stops new jobs at once.

The accepted job's `references` are copies of the images in `inputs/` (`<video id>.<char id>.<i>.png`,
0600), so a character deleted while the job waits in the queue does not break it; the janitor
removes the copies once the job is gone (`JobStore.referenced_files` lists them until then).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cinegen.mode import Mode
from cinegen.private import write_private
from cinegen.service.character_store import Character, CharacterStore, image_paths
from cinegen.service.errors import ApiError
from cinegen.service.jobs import NotFound
from cinegen.service.jobspec import JobSpec
from cinegen.service.refusals import gate_check
from cinegen.service.served_models import check_references


def checked_characters(svc: Any, owner: str, route: str, spec: JobSpec) -> tuple[Character, ...]:
    """The spec's characters, each the caller's, for a model that takes references (see the module)."""
    if not spec.characters:
        return ()
    model = svc.models.get(spec.model) or next(iter(svc.models.values()))
    check_references(svc.models, model)
    twice = sorted({c for c in spec.characters if spec.characters.count(c) > 1})
    if twice:
        raise ApiError(400, "duplicate_character", f"character {twice[0]!r} is named twice", "characters")
    store = CharacterStore(svc.store, svc.settings.data_dir)
    found = []
    for cid in spec.characters:
        try:
            found.append(store.get(owner, cid))
        except NotFound:
            raise ApiError(404, "character_not_found", f"no character {cid!r}", "characters") from None
    for c in found:
        gate_check(svc, owner, route, c.name, mode=str(Mode.IMAGE), consent_grant_id=c.consent_grant_id,
                   project=c.project, param="characters", image_param="characters")
    return tuple(found)


def copy_references(data_dir: Path, inputs_dir: Path, video_id: str,
                    characters: tuple[Character, ...]) -> tuple[Path, ...]:
    """The job's own copies of its characters' images, in the order named."""
    out = []
    for c in characters:
        for i, src in enumerate(image_paths(data_dir, c)):
            out.append(write_private(inputs_dir / f"{video_id}.{c.id}.{i}.png", src.read_bytes()))
    return tuple(out)
