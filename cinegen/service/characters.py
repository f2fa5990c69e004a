"""The `/v1/videos/characters` routes: named sets of reference images (the openai SDK's
`videos.create_character` and `videos.get_character`, plus list and delete).

A character is made from a clip (`video`, checked as an extension's uploaded source is; three
evenly spaced frames are kept) or from one to four `images` (PNG/JPEG/WebP, checked as an
`input_reference` is, at any size within the upload limits). Its name passes the moderation gate
as a prompt does, with the consent grant the form carries, and each image passes the reference-image
check; a refusal is logged and answered 400, and nothing is stored. A create (or extension, edit,
remix) then names characters by id (`characters: [...]`, `character_refs.py`).

These routes are registered before `/v1/videos/{video_id}` so `characters` is never read as a video id.
"""

from __future__ import annotations

import io
import re
from typing import Any

import numpy as np
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from cinegen.mode import Mode
from cinegen.service import schemas
from cinegen.service.body import Upload, check_prompt, inspect_image, read_body, validate
from cinegen.service.character_store import MAX_IMAGES, CharacterStore
from cinegen.service.errors import ApiError
from cinegen.service.jobs import NotFound
from cinegen.service.refusals import gate_check
from cinegen.service.video_upload import inspect_clip
from cinegen.service.videos import ERRORS, principal, service

router = APIRouter(tags=["characters"])
CLIP_FRAMES = 3  # frames kept from a clip, evenly spaced from first to last


def _store(request: Request) -> CharacterStore:
    svc = service(request)
    return CharacterStore(svc.store, svc.settings.data_dir)


def _body_doc() -> dict[str, Any]:
    schema = schemas.multipart_schema(schemas.CharacterCreate, ("video",))
    schema["properties"]["images"] = {
        "type": "array", "maxItems": MAX_IMAGES, "items": {"type": "string", "format": "binary"},
        "description": f"1..{MAX_IMAGES} image files (PNG, JPEG or WebP); instead of `video`."}
    return {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": schema}}}}


def _uploads(files: dict[str, Upload], max_image_bytes: int) -> tuple[Upload | None, list[Upload]]:
    """The clip, or the images in the order sent; exactly one kind, 1..MAX_IMAGES images."""
    numbered = {k: int(m.group(1)) for k in files if (m := re.fullmatch(r"images\[([0-9]{1,3})\]", k))}
    images = [files[k] for k in sorted(numbered, key=numbered.__getitem__)]
    unknown = sorted(set(files) - {"video"} - set(numbered))
    if unknown:
        raise ApiError(400, "unknown_parameter", f"unexpected file field {unknown[0]!r}; send `video` or "
                       "`images`")
    clip = files.get("video")
    if clip is None and not images:
        raise ApiError(400, "missing_character_images", "send a `video` clip or one to four `images` files",
                       "images")
    if clip is not None and images:
        raise ApiError(400, "invalid_character_images", "send a `video` clip or `images`, not both", "images")
    if len(images) > MAX_IMAGES:
        raise ApiError(400, "too_many_images", f"a character takes at most {MAX_IMAGES} images, got "
                       f"{len(images)}", "images")
    for im in images:
        if len(im.data) > max_image_bytes:
            raise ApiError(413, "file_too_large", f"images are limited to {max_image_bytes} bytes each",
                           "images")
    return clip, images


def _clip_frames(data: bytes, request: Request) -> list[np.ndarray]:
    """Up to CLIP_FRAMES evenly spaced frames of a validated clip, (H, W, 3) uint8 each."""
    svc = service(request)
    frames = inspect_clip(data, svc.settings, svc.sizes).frames  # (T, H, W, 3)
    picks = np.unique(np.linspace(0, len(frames) - 1, CLIP_FRAMES).round().astype(int))
    return [frames[i] for i in picks]


def _png(image: Any) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    (Image.fromarray(image) if isinstance(image, np.ndarray) else image).save(buf, format="PNG")
    return buf.getvalue()


@router.post("/v1/videos/characters", response_model=schemas.VideoCharacter, responses=ERRORS,
             openapi_extra=_body_doc())
async def create_character(request: Request) -> JSONResponse:
    """Create a named character from a clip or from one to four images (SDK `videos.create_character`)."""
    p = await run_in_threadpool(principal, request)
    svc = service(request)
    s = svc.settings
    fields, files = await read_body(request, s.max_video_upload_bytes, repeatable="images",
                                    max_files=2 * MAX_IMAGES)
    v: schemas.CharacterCreate = validate(schemas.CharacterCreate, fields)
    name = check_prompt(v.name, s, "name")
    clip, images = _uploads(files, s.max_upload_bytes)

    def go() -> JSONResponse:
        if clip is not None:
            looked: list[Any] = _clip_frames(clip.data, request)
        else:
            looked = [inspect_image(im.data, s, "images") for im in images]
        for image in looked:  # the name (as a prompt) with each image, under the form's consent grant
            gate_check(svc, p.key_id, "character", name, mode=str(Mode.IMAGE), image=image,
                       consent_grant_id=v.consent_grant_id, project=v.project, param="name",
                       image_param="video" if clip is not None else "images")
        c = _store(request).create(p.key_id, name, [_png(im) for im in looked],
                                   consent_grant_id=v.consent_grant_id, project=v.project)
        return JSONResponse(c.to_openai())

    return await run_in_threadpool(go)


@router.get("/v1/videos/characters", response_model=schemas.VideoCharacterList, responses=ERRORS)
def list_characters(request: Request) -> JSONResponse:
    """This key's characters, oldest first."""
    p = principal(request)
    return JSONResponse({"object": "list", "data": [c.to_openai() for c in _store(request).owned(p.key_id)]})


@router.get("/v1/videos/characters/{character_id}", response_model=schemas.VideoCharacter, responses=ERRORS)
def get_character(character_id: str, request: Request) -> JSONResponse:
    """One of this key's characters (SDK `videos.get_character`); another key's is 404."""
    p = principal(request)
    try:
        return JSONResponse(_store(request).get(p.key_id, character_id).to_openai())
    except NotFound:
        raise ApiError(404, "character_not_found", f"no character {character_id!r}", "character_id") from None


@router.delete("/v1/videos/characters/{character_id}", response_model=schemas.VideoCharacterDeleted,
               responses=ERRORS)
def delete_character(character_id: str, request: Request) -> JSONResponse:
    """Delete a character and its images (jobs already queued keep their own copies)."""
    p = principal(request)
    try:
        _store(request).delete(p.key_id, character_id)
    except NotFound:
        raise ApiError(404, "character_not_found", f"no character {character_id!r}", "character_id") from None
    return JSONResponse(schemas.VideoCharacterDeleted(id=character_id).model_dump())
