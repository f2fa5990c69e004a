"""The `/v1/videos` routes: OpenAI's Videos API shape, plus cancel, modes, idempotency and live progress.

Thin routes over one accept-job path. A generating route (create, extend, edit, remix) parses its
body, builds the typed `JobSpec`, and hands it to `accept`: sources must be completed videos of
the caller, moderation runs (a refusal is logged and answered 400, nothing queued), then the
input upload is written and one store transaction checks the quota and inserts the row.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import logging
import secrets
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from cinegen.mode import SERVICE_MODES, Mode
from cinegen.private import write_private
from cinegen.service import schemas
from cinegen.service.auth import AuthError, Principal, authenticate
from cinegen.service.body import check_prompt, check_seconds, check_size, inspect_image, read_body, validate
from cinegen.service.character_refs import checked_characters, copy_references
from cinegen.service.errors import ApiError, error_json
from cinegen.service.jobs import ACTIVE, TERMINAL, Conflict, NotFound, new_id
from cinegen.service.jobspec import JobSpec
from cinegen.service.plans import checked_path, checked_plan, plan_file
from cinegen.service.quotas import QuotaExceeded
from cinegen.service.refusals import gate_check
from cinegen.service.served_models import check_mode, check_request, pick
from cinegen.service.settings import parse_size
from cinegen.service.video_upload import Clip, inspect_clip, save_clip

log = logging.getLogger(__name__)
router = APIRouter(tags=["videos"])

_ERR = {"model": schemas.ErrorResponse}
ERRORS: dict[int | str, dict[str, Any]] = {code: _ERR for code in (400, 401, 404, 409, 413, 415, 429)}


def _body_doc(model: type[BaseModel], files: tuple[str, ...] = ()) -> dict[str, Any]:
    schema = schemas.inline_schema(model)
    content: dict[str, Any] = {"application/json": {"schema": schema}}
    if files or model is not schemas.VideoRemix:
        content["multipart/form-data"] = {"schema": schemas.multipart_schema(model, files)}
    return {"requestBody": {"required": True, "content": content}}


# ----------------------------------------------------------------------------- shared steps
def service(request: Request) -> Any:
    return request.app.state.service


def principal(request: Request, *, allow_query_key: bool = False) -> Principal:
    """The caller's key (401 without a valid one), counted against its requests per minute (429)."""
    svc = service(request)
    auth = request.headers.get("authorization")
    if auth is None and allow_query_key and request.query_params.get("key"):
        auth = "Bearer " + request.query_params["key"]
    try:
        p = authenticate(svc.store, svc.settings, auth)
    except AuthError as e:
        raise ApiError(401, "invalid_api_key", str(e)) from None
    try:
        svc.limiter.hit(p.key_id, p.limits.requests_per_minute)
    except QuotaExceeded as e:
        raise ApiError(429, e.code, e.message, headers={"Retry-After": str(e.retry_after)}) from None
    return p


def get_row(request: Request, p: Principal, video_id: str) -> Any:
    return _owned(service(request).store.get, p, video_id)


def completed_source(request: Request, p: Principal, video_id: str) -> Any:
    row = get_row(request, p, video_id)
    if row["status"] != "completed":
        raise ApiError(409, "source_not_completed", f"video {video_id} is {row['status']}, not completed",
                       "video_id")
    if row["expired"]:
        raise ApiError(404, "video_expired", f"video {video_id} has expired", "video_id")
    return row


def present(row: Any) -> dict[str, Any]:
    spec = JobSpec.from_dict(json.loads(row["spec"]))
    err = None
    if row["status"] == "failed":
        err = schemas.VideoError(code=row["error_code"] or "failed", message=row["error_message"] or "")
    return schemas.Video(
        id=row["id"], model=row["model"], status=row["status"], progress=row["progress"],
        created_at=int(row["created_at"]),
        completed_at=int(row["completed_at"]) if row["completed_at"] else None,
        expires_at=int(row["expires_at"]) if row["expires_at"] else None,
        prompt=row["prompt"], seconds=str(row["seconds"]), size=row["size"],
        remixed_from_video_id=row["remixed_from"], error=err,
        mode=str(spec.mode), seed=spec.seed, fps=spec.fps, negative_prompt=spec.negative_prompt or None,
        cancel_requested=bool(row["cancel_requested"]), has_plan=_has_plan(row, spec),
        timings=json.loads(row["timings"]) if row["timings"] else None,
    ).model_dump()


def _has_plan(row: Any, spec: JobSpec) -> bool:
    """Whether GET /v1/videos/{id}/plan has a plan to return (completed videos only)."""
    if row["status"] != "completed" or not row["output_path"]:
        return False
    return spec.plan is not None or plan_file(Path(row["output_path"])).exists()


def video_response(request: Request, row: Any, status: int = 200) -> JSONResponse:
    headers = {}
    if row["status"] in ACTIVE:
        headers["openai-poll-after-ms"] = str(service(request).settings.poll_after_ms)
    return JSONResponse(present(row), status, headers=headers)


def new_spec(request: Request, v: Any, prompt: str, seconds: int, size: str, mode: Mode,
             source: Any = None) -> tuple[JobSpec, int | None]:
    """The job spec for a validated body (and the requested seed, None when the server drew it).
    With a `source` row, its fps is kept and the source is the job's first source video."""
    s = service(request).settings
    fps = v.fps if getattr(v, "fps", None) is not None else s.default_fps
    if fps > s.max_fps:
        raise ApiError(400, "invalid_fps", f"fps must be at most {s.max_fps}, got {fps}", "fps")
    neg = getattr(v, "negative_prompt", None)
    seed = getattr(v, "seed", None)
    model = pick(service(request).models, s, getattr(v, "model", None))
    upscale = getattr(v, "upscale", None) is True
    check_request(model, mode.value, getattr(v, "quality", None), size, seconds * fps, fps,
                  getattr(v, "fit", None) is True, upscale)
    spec = JobSpec(
        id="", prompt=prompt, negative_prompt=check_prompt(neg, s, "negative_prompt") if neg else "",
        seconds=seconds, size=parse_size(size), fps=fps,
        seed=seed if seed is not None else secrets.randbelow(2**31), steps=getattr(v, "steps", None),
        model=model.name, quality=getattr(v, "quality", None), fit=getattr(v, "fit", None) is True,
        upscale=upscale, guidance=getattr(v, "guidance", None), mode=mode,
        strength=getattr(v, "strength", None),
        extend_prompt=getattr(v, "extend_prompt", None) is not False,
        plan=checked_plan(v, seconds), use_plan=getattr(v, "use_plan", None) is not False,
        path=checked_path(v), characters=tuple(getattr(v, "characters", None) or ()),
    )
    if source is not None:
        spec = spec.replace(fps=JobSpec.from_dict(json.loads(source["spec"])).fps,
                            source_video_ids=(source["id"],))
    return spec, seed


def accept(request: Request, p: Principal, route: str, v: Any, spec: JobSpec, seed_requested: int | None, *,
           row_seconds: int | None = None, upload: Any = None, clip: Clip | None = None,
           remixed_from: str | None = None) -> JSONResponse:
    """Accept one job (call from the threadpool): sources completed, moderation, then the input
    files (an image `upload`, a source `clip`) and one transaction (quota + insert). Idempotent
    under an `Idempotency-Key`."""
    svc = service(request)
    for vid in spec.source_video_ids:
        completed_source(request, p, vid)
    characters = checked_characters(svc, p.key_id, route, spec)
    # an uploaded clip was never moderated (generated sources were): its middle frame is checked as an image
    looked_at = upload if upload is not None or clip is None else clip.frames[len(clip.frames) // 2]
    verdict = _moderated(request, p, route, spec, v, looked_at)
    idem = request.headers.get("idempotency-key")
    if idem is not None and not 1 <= len(idem) <= 200:
        raise ApiError(400, "invalid_idempotency_key", "Idempotency-Key must be 1..200 characters")
    video_id = new_id("video")
    h = hashlib.sha256(json.dumps({**spec.to_dict(), "seed": seed_requested}, sort_keys=True).encode())
    ref_path: Path | None = None
    clip_path: Path | None = None
    refs = copy_references(svc.settings.data_dir, svc.settings.inputs_dir, video_id, characters)
    spec = spec.replace(references=refs)
    if clip is not None:
        h.update(clip.sha256.encode())
        clip_path = save_clip(clip, svc.settings.inputs_dir / f"{video_id}.source.mp4")
        spec = spec.replace(source_upload=clip_path)
    if upload is not None:
        ref_path = svc.settings.inputs_dir / f"{video_id}.png"
        buf = io.BytesIO()
        upload.save(buf, format="PNG")
        h.update(buf.getvalue())
        write_private(ref_path, buf.getvalue())
        spec = spec.replace(input_reference=ref_path)
    try:
        row, created = svc.store.create_video(
            video_id=video_id, owner=p.key_id, model=spec.model or svc.settings.model_name,
            prompt=spec.prompt,
            seconds=spec.seconds if row_seconds is None else row_seconds,
            size=f"{spec.size[0]}x{spec.size[1]}",
            spec=spec.to_dict(), limits=p.limits, remixed_from=remixed_from, idempotency_key=idem,
            request_hash=h.hexdigest() if idem else None, moderation=verdict,
        )
    except QuotaExceeded as e:
        raise ApiError(429, e.code, e.message, headers={"Retry-After": str(e.retry_after)}) from None
    except Conflict as e:
        raise ApiError(409, e.code, e.message) from None
    finally:
        written = [f for f in (ref_path, clip_path, *refs) if f is not None]
        if written and not _stored(svc, video_id):
            for f in written:
                f.unlink(missing_ok=True)
    if created and svc.dispatcher is not None:
        svc.dispatcher.notify()
    return video_response(request, row)


def _moderated(request: Request, p: Principal, route: str, spec: JobSpec, v: Any, image: Any) -> dict[str,
                                                                                                      Any]:
    """The moderation policy's verdict; a refusal is logged and answered 400 with its `safety.*` code."""
    return gate_check(service(request), p.key_id, route, spec.prompt, mode=str(spec.mode), image=image,
                      consent_grant_id=getattr(v, "consent_grant_id", None),
                      project=getattr(v, "project", None))


def _stored(svc: Any, video_id: str) -> bool:
    try:
        svc.store.get(None, video_id)
        return True
    except NotFound:
        return False


async def _parse_source(request: Request, model: type[BaseModel]) -> tuple[Principal, Any, Clip | None]:
    """Extensions and edits: the key, the body, and the source clip when `video` is an uploaded file
    (validated and decoded in the threadpool); exactly one of `video` (file) and `video.id`."""
    p = await run_in_threadpool(principal, request)
    s = service(request).settings
    fields, files = await read_body(request, s.max_video_upload_bytes)
    unknown = set(files) - {"video"}
    if unknown:
        raise ApiError(400, "unknown_parameter", f"unexpected file field {sorted(unknown)[0]!r}")
    v = validate(model, fields)
    if ("video" in files) == (v.video is not None):
        raise ApiError(400, "missing_video" if v.video is None else "invalid_video",
                       "send `video` as a completed video's id ({\"id\": ...}) or as an uploaded file, "
                       "exactly one", "video")
    if "video" not in files:
        return p, v, None
    clip = await run_in_threadpool(inspect_clip, files["video"].data, s, service(request).sizes)
    return p, v, clip


# ----------------------------------------------------------------------------- create
@router.post("/v1/videos", response_model=schemas.Video, responses=ERRORS,
             openapi_extra=_body_doc(schemas.VideoCreate, ("input_reference",)))
async def create_video(request: Request) -> JSONResponse:
    """Create a video job (OpenAI `videos.create`); multipart carries an `input_reference` image."""
    s = service(request).settings
    p = await run_in_threadpool(principal, request)
    fields, files = await read_body(request, s.max_upload_bytes)
    if isinstance(fields.get("input_reference"), (str, dict)):
        raise ApiError(400, "unsupported_input_reference",
                       "input_reference must be an uploaded image file (URLs and file ids are not fetched)",
                       "input_reference")
    unknown_files = set(files) - {"input_reference"}
    if unknown_files:
        raise ApiError(400, "unknown_parameter", f"unexpected file field {sorted(unknown_files)[0]!r}")
    v: schemas.VideoCreate = validate(schemas.VideoCreate, fields)
    svc = service(request)
    prompt, seconds = check_prompt(v.prompt, s), check_seconds(v.seconds, s)
    served = pick(svc.models, s, v.model)
    default_size = s.default_size if s.default_size in served.sizes else served.sizes[0]
    size = check_size(v.size, served.sizes, default_size)
    upload = None
    if "input_reference" in files:
        upload = inspect_image(files["input_reference"].data, s)
        if upload.size != parse_size(size):
            raise ApiError(400, "input_reference_size_mismatch",
                           f"input_reference is {upload.size[0]}x{upload.size[1]}, the video is {size}",
                           "input_reference")
    sources = tuple(v.video_ids or ())
    inferred = Mode.IMAGE if upload is not None else (Mode.EXTEND if sources else Mode.TEXT)
    mode = Mode(v.mode) if v.mode else inferred
    if mode not in SERVICE_MODES:
        raise ApiError(400, "invalid_mode", f"mode {mode.value!r} is not served here", "mode")
    check_mode(served, mode.value)
    takes_sources = mode.source_videos != (0, 0)
    if takes_sources and not sources:
        raise ApiError(400, "missing_source_video", f"mode {mode.value!r} needs video_ids", "video_ids")
    if not takes_sources and sources:
        raise ApiError(400, "invalid_mode", f"mode {mode.value!r} takes no video_ids", "mode")
    if mode is Mode.IMAGE and upload is None:
        raise ApiError(400, "missing_input_reference", "mode 'image' needs an input_reference upload",
                       "input_reference")
    spec, seed = new_spec(request, v, prompt, seconds, size, mode)
    spec = spec.replace(source_video_ids=sources)
    return await run_in_threadpool(accept, request, p, "create", v, spec, seed, upload=upload)


@router.post("/v1/videos/extensions", response_model=schemas.Video, responses=ERRORS,
             openapi_extra=_body_doc(schemas.VideoExtend, ("video",)))
async def extend_video(request: Request) -> JSONResponse:
    """Continue a completed video by id, or an uploaded clip (OpenAI `videos.extend`)."""
    p, v, clip = await _parse_source(request, schemas.VideoExtend)
    s = service(request).settings
    prompt, seconds = check_prompt(v.prompt, s), check_seconds(v.seconds, s)

    def go() -> JSONResponse:
        src = completed_source(request, p, v.video.id) if clip is None else None
        total = (int(src["seconds"]) if src is not None else clip.seconds) + seconds  # type: ignore[union-attr]
        if total > s.max_seconds:
            raise ApiError(400, "invalid_seconds", f"the extended video would be {total}s; the limit is "
                           f"{s.max_seconds}s", "seconds")
        size = src["size"] if src is not None else clip.size  # type: ignore[union-attr]
        spec, seed = new_spec(request, v, prompt, seconds, size, Mode.EXTEND, source=src)
        if clip is not None:
            spec = spec.replace(fps=clip.fps)
        return accept(request, p, "extend", v, spec, seed, row_seconds=total, clip=clip)

    return await run_in_threadpool(go)


@router.post("/v1/videos/edits", response_model=schemas.Video, responses=ERRORS,
             openapi_extra=_body_doc(schemas.VideoEdit, ("video",)))
async def edit_video(request: Request) -> JSONResponse:
    """Re-render a completed video, or an uploaded clip, under a new prompt (OpenAI `videos.edit`)."""
    p, v, clip = await _parse_source(request, schemas.VideoEdit)
    prompt = check_prompt(v.prompt, service(request).settings)
    if clip is not None:
        spec, seed = new_spec(request, v, prompt, clip.seconds, clip.size, Mode.EDIT)
        return await run_in_threadpool(accept, request, p, "edit", v, spec.replace(fps=clip.fps), seed,
                                       clip=clip)
    return await run_in_threadpool(_from_source, request, p, v, prompt, v.video.id, Mode.EDIT)


@router.post("/v1/videos/{video_id}/remix", response_model=schemas.Video, responses=ERRORS,
             openapi_extra=_body_doc(schemas.VideoRemix))
async def remix_video(video_id: str, request: Request) -> JSONResponse:
    """A new video from a completed one and a new prompt (OpenAI `videos.remix`), at its seed by default."""
    p = await run_in_threadpool(principal, request)
    fields, _ = await read_body(request, service(request).settings.max_upload_bytes)
    v: schemas.VideoRemix = validate(schemas.VideoRemix, fields)
    prompt = check_prompt(v.prompt, service(request).settings)
    return await run_in_threadpool(_from_source, request, p, v, prompt, video_id, Mode.REMIX)


def _from_source(request: Request, p: Principal, v: Any, prompt: str, video_id: str,
                 mode: Mode) -> JSONResponse:
    """Edit or remix: the source's length, size and fps; a remix also keeps its seed unless given."""
    src = completed_source(request, p, video_id)
    spec, seed = new_spec(request, v, prompt, int(src["seconds"]), src["size"], mode, source=src)
    if mode is Mode.REMIX:
        if seed is None:
            spec = spec.replace(seed=JobSpec.from_dict(json.loads(src["spec"])).seed)
        spec = spec.replace(remix_of=video_id)
    return accept(request, p, str(mode), v, spec, seed, remixed_from=video_id if mode is Mode.REMIX else None)


# ----------------------------------------------------------------------------- read
@router.get("/v1/videos/{video_id}", response_model=schemas.Video, responses=ERRORS)
def retrieve_video(video_id: str, request: Request) -> JSONResponse:
    """The video object (OpenAI `videos.retrieve`); `openai-poll-after-ms` while it runs."""
    p = principal(request)
    return video_response(request, get_row(request, p, video_id))


@router.get("/v1/videos", response_model=schemas.VideoList, responses=ERRORS)
def list_videos(
    request: Request,
    after: str | None = Query(default=None, max_length=64),
    limit: int = Query(default=20, ge=1, le=100),
    order: str = Query(default="desc", pattern="^(asc|desc)$"),
) -> JSONResponse:
    """This key's videos, newest first by default; page with `after=<last_id>`."""
    p = principal(request)
    try:
        rows, more = service(request).store.list_videos(p.key_id, after=after, limit=limit, order=order)
    except NotFound:
        raise ApiError(404, "video_not_found", f"cursor {after!r} is not one of your videos",
                       "after") from None
    data = [present(r) for r in rows]
    body = schemas.VideoList(data=[schemas.Video(**d) for d in data],
                             first_id=data[0]["id"] if data else None,
                             last_id=data[-1]["id"] if data else None, has_more=more)
    return JSONResponse(body.model_dump())


CONTENT = {"video": ("output_path", "video/mp4"), "thumbnail": ("thumbnail_path", "image/webp"),
           "spritesheet": ("spritesheet_path", "image/jpeg")}


@router.get("/v1/videos/{video_id}/content", response_class=Response, responses={**ERRORS, 200: {"content": {
    "video/mp4": {}, "image/webp": {}, "image/jpeg": {}}}})
def download_content(
    video_id: str, request: Request,
    variant: str = Query(default="video", pattern="^(video|thumbnail|spritesheet)$")
) -> Response:
    """The MP4 (or `thumbnail` WebP / `spritesheet` JPEG) of a completed video.

    Authenticate with the Authorization header, or `?key=` where a `<video src>` cannot set headers.
    """
    p = principal(request, allow_query_key=True)
    row = get_row(request, p, video_id)
    if row["status"] != "completed":
        raise ApiError(409, "video_not_ready", f"video {video_id} is {row['status']}", "video_id")
    if row["expired"]:
        raise ApiError(404, "video_expired", f"video {video_id} expired and its files were removed",
                       "video_id")
    col, media = CONTENT[variant]
    path = Path(row[col]) if row[col] else None
    if path is None or not path.exists():
        raise ApiError(404, "content_not_found", f"no {variant} for video {video_id}", "variant")
    headers = {}
    if variant == "video":
        if path.stat().st_size != row["bytes"]:
            log.error("video %s: stored file size differs from its record", video_id)
            return JSONResponse(error_json(500, "video_corrupt", "the stored video is damaged"), 500)
        headers["x-cinegen-sha256"] = row["sha256"]
    return FileResponse(path, media_type=media, headers=headers,
                        filename=f"{video_id}.{path.suffix.lstrip('.')}")


@router.get("/v1/videos/{video_id}/plan", responses=ERRORS)
async def video_plan(video_id: str, request: Request) -> JSONResponse:
    """The shot plan a completed video was rendered from (where each object is, frame by frame)."""
    p = await run_in_threadpool(principal, request)
    row = await run_in_threadpool(get_row, request, p, video_id)
    if row["status"] != "completed":
        raise ApiError(409, "video_not_ready", f"video {video_id} is {row['status']}", "video_id")
    path = plan_file(Path(row["output_path"])) if row["output_path"] else None
    if path is not None and path.exists():  # what the worker rendered (the caller's or the planner's)
        return JSONResponse(json.loads(path.read_text()))
    spec = JobSpec.from_dict(json.loads(row["spec"]))
    if spec.plan is not None:
        return JSONResponse(spec.plan)
    raise ApiError(404, "no_plan", f"video {video_id} was rendered without a shot plan", "video_id")


# ----------------------------------------------------------------------------- delete / cancel
@router.delete("/v1/videos/{video_id}", response_model=schemas.VideoDeleted, responses=ERRORS)
def delete_video(video_id: str, request: Request) -> JSONResponse:
    """Delete a video and its files (a running job is cancelled first)."""
    p = principal(request)
    for f in _owned(service(request).store.delete, p, video_id):
        f.unlink(missing_ok=True)
        plan_file(f).unlink(missing_ok=True)
    return JSONResponse(schemas.VideoDeleted(id=video_id).model_dump())


@router.post("/v1/videos/{video_id}/cancel", response_model=schemas.Video, responses=ERRORS)
def cancel_video(video_id: str, request: Request) -> JSONResponse:
    """Cancel a queued or running job: it ends `failed` with `error.code = "cancelled"`."""
    p = principal(request)
    return video_response(request, _owned(service(request).store.cancel, p, video_id))


def _owned(action: Any, p: Principal, video_id: str) -> Any:
    """A store action on one of the caller's videos: 404 when it is not theirs, 409 on a conflict."""
    try:
        return action(p.key_id, video_id)
    except NotFound:
        raise ApiError(404, "video_not_found", f"no video {video_id!r}", "video_id") from None
    except Conflict as e:
        raise ApiError(409, e.code, e.message, "video_id") from None


# ----------------------------------------------------------------------------- live progress
@router.get("/v1/videos/{video_id}/events", response_class=Response, responses={**ERRORS, 200: {"content": {
    "text/event-stream": {}}}})
async def video_events(video_id: str, request: Request) -> StreamingResponse:
    """Server-sent events: `video.progress` on each change, then `video.completed` or `video.failed`.

    Authenticate with the Authorization header, or `?key=` where a browser EventSource cannot
    set headers.
    """
    p = await run_in_threadpool(lambda: principal(request, allow_query_key=True))
    first = await run_in_threadpool(get_row, request, p, video_id)
    store = service(request).store

    async def stream() -> AsyncIterator[bytes]:
        row, last, beat = first, None, time.monotonic()
        deadline = time.monotonic() + 6 * 3600
        while time.monotonic() < deadline:
            state = (row["status"], row["progress"])
            if state != last:
                last = state
                kind = f"video.{row['status']}" if row["status"] in TERMINAL else "video.progress"
                yield f"event: {kind}\ndata: {json.dumps(present(row))}\n\n".encode()
                if row["status"] in TERMINAL:
                    return
            elif time.monotonic() - beat > 15:
                beat = time.monotonic()
                yield b": keep-alive\n\n"
            if await request.is_disconnected():
                return
            await asyncio.sleep(0.25)
            try:
                row = await run_in_threadpool(store.get, p.key_id, video_id)
            except NotFound:
                yield b'event: video.deleted\ndata: {"id": "' + video_id.encode() + b'"}\n\n'
                return

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"cache-control": "no-cache", "x-accel-buffering": "no"})
