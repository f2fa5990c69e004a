"""Studio routes: storyboards CRUD, generation through the video API, exports, and the page's config.

Thin by design. A storyboard is the library's `Storyboard`, stored as JSON under
`<data_dir>/studio/<owner>/<board id>/`; generating a shot is an ordinary `POST /v1/videos` made
through the service's own public API (in process, with the caller's key), so quotas, moderation,
provenance and ownership apply exactly as for any client. Errors use the API's error shape
`{"error": {"message", "type", "code", "param"}}` and say what to do next.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import secrets
import urllib.parse
from pathlib import Path
from typing import Any

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, JSONResponse, Response

from cinegen.limits import MAX_PROMPT_CHARS
from cinegen.mode import SERVICE_MODES
from cinegen.paths import keys_dir
from cinegen.private import private_dir, secure_tree, write_private
from cinegen.service.body import read_body, read_json
from cinegen.service.errors import ApiError, error_response
from cinegen.service.jobs import ACTIVE, TERMINAL
from cinegen.service.schemas import ErrorResponse
from cinegen.studio.boards import BoardStore
from cinegen.studio.export import ExportError, export_all
from cinegen.studio.schemas import GenerateBody, StoryboardBody, doc
from cinegen.studio.storyboard import Storyboard, StoryboardError

# Every studio route answers its errors in the service's envelope (documented for clients and fuzzers):
# 400 bad body, 401 key, 404 unknown storyboard/shot/file, 409 not finished / export failed,
# 413 too large, 415 not an image, 422 a storyboard the library refuses, 502 the video service failed.
_ERROR = {"model": ErrorResponse}
router = APIRouter(tags=["studio"], responses={c: _ERROR for c in (400, 401, 404, 409, 413, 415, 422, 502)})

IMAGE_TYPES = {"image/png": ".png", "image/jpeg": ".jpg", "image/webp": ".webp"}
DEFAULT_MAX_UPLOAD = 8 * 1024 * 1024
STORYBOARD_BODY_LIMIT = 2 * 1024 * 1024  # 200 shots with long prompts fit
EXPORT_FILES = {
    "reel.mp4": ("reel", "video/mp4"),
    "storyboard.otio": ("otio", "application/json"),
    "storyboard.xml": ("fcp7", "application/xml"),
    "storyboard.edl": ("edl", "text/plain"),
    "sheet.pdf": ("sheet_pdf", "application/pdf"),
    "sheet.png": ("sheet_png", "image/png"),
    "storyboard-bundle.zip": ("bundle", "application/zip"),
}


StudioError = ApiError  # the service's error envelope, rendered by its handlers
IMAGE_UPLOAD_DOC = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["file"],
    "properties": {"file": {"type": "string", "format": "binary", "description": "PNG, JPEG or WebP"}}}}}}}


async def storyboard_error(request: Request, e: Exception) -> Response:
    """The one handler for the studio's library errors (`studio.mount` installs it for
    StoryboardError and ExportError; ApiError is the service's own handler)."""
    if isinstance(e, ExportError):
        return error_response(409, "export_failed", f"Not exported: {e}. Nothing was changed.")
    return error_response(409 if "not finished" in str(e) else 422, "invalid_storyboard", str(e))


# ----------------------------------------------------------------------------- settings and callers
def _settings(request: Request) -> Any:
    svc = getattr(request.app.state, "service", None)
    return getattr(svc, "settings", None) or getattr(request.app.state, "settings", None)


def _data_dir(request: Request) -> Path:
    s = _settings(request)
    if s is not None and getattr(s, "data_dir", None):
        return Path(s.data_dir)
    from cinegen.paths import data_dir

    return data_dir()


def _api(request: Request) -> httpx.AsyncClient:
    """A client for the service's own public API, in process, acting as the caller."""
    auth = request.headers.get("authorization")
    headers = {"authorization": auth} if auth is not None else {}
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=request.app),
                             base_url="http://studio.internal",
                             headers=headers, timeout=60.0)


def _message(resp: httpx.Response) -> str:
    try:
        body = resp.json()
    except ValueError:
        return f"the video service answered {resp.status_code}"
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])
        detail = body.get("detail")
        if isinstance(detail, str):
            return detail
        if isinstance(detail, list) and detail and isinstance(detail[0], dict):
            return "; ".join(f"{'.'.join(map(str, d.get('loc', [])[1:]))}: {d.get('msg')}" for d in detail)
    return f"the video service answered {resp.status_code}"


async def _owner(request: Request, api: httpx.AsyncClient) -> str:
    """Whose storyboards these are: 'local' in single-user mode, else a hash of the API key.

    The key is checked by the service itself (a cheap authenticated list call), so the studio
    accepts exactly the keys the video API accepts.
    """
    s = _settings(request)
    if s is not None and not getattr(s, "auth", True):
        return "local"
    svc = getattr(request.app.state, "service", None)
    if svc is not None and hasattr(svc, "store"):  # the service's own key check: owner = the key's id
        from starlette.concurrency import run_in_threadpool

        from cinegen.service.auth import AuthError, authenticate

        try:
            principal = await run_in_threadpool(authenticate, svc.store, s,
                                                request.headers.get("authorization"))
        except AuthError as e:
            raise StudioError(401, "invalid_api_key", str(e)) from None
        return str(principal.key_id)
    r = await api.get("/v1/videos", params={"limit": 1})
    if r.status_code == 401:
        raise StudioError(401, "invalid_api_key", _message(r))
    key = request.headers.get("authorization", "").partition(" ")[2].strip()
    return hashlib.sha256(key.encode()).hexdigest()[:24] if key else "local"


async def _store(request: Request, api: httpx.AsyncClient) -> BoardStore:
    return BoardStore(_data_dir(request) / "studio" / await _owner(request, api))


def _lock(request: Request, board_id: str) -> asyncio.Lock:
    """One lock per storyboard, so concurrent edits, refreshes and exports never interleave."""
    locks: dict[str, asyncio.Lock] | None = getattr(request.app.state, "studio_locks", None)
    if locks is None:
        locks = {}
        request.app.state.studio_locks = locks
    return locks.setdefault(board_id, asyncio.Lock())


def _public(record: dict[str, Any], board: Storyboard, progress: dict[str, int] | None = None) -> dict[str,
                                                                                                       Any]:
    """The storyboard object the API returns: the board, plus per-shot progress and full prompt."""
    progress = progress or record.get("progress", {})
    shots = []
    for s in board.shots:
        d = s.to_dict()
        d.pop("path")
        d["progress"] = 100 if s.status == "completed" else int(progress.get(s.id, 0))
        d["full_prompt"] = board.prompt_for(s)
        d["has_image"] = bool(s.image)
        shots.append(d)
    body = board.to_dict()
    body.update(id=record["id"], object="storyboard", created_at=record["created_at"],
                updated_at=record["updated_at"], shots=shots, running_seconds=round(board.seconds, 3),
                exports=record.get("exports", []))
    return body


async def _body(request: Request, empty: dict[str, Any] | None = None) -> dict[str, Any]:
    """A storyboard JSON body: read only after the caller is authenticated (`_store`), capped and
    parsed with the service's limits (nesting, number size)."""
    return await read_json(request, STORYBOARD_BODY_LIMIT, empty)


def _merge(old: Storyboard | None, incoming: dict[str, Any]) -> Storyboard:
    """A board from a client, keeping what only the server knows (files, video ids, statuses).

    A shot whose prompt, image, camera or seed changed, or that grew longer than what was generated,
    goes back to draft (its old video no longer matches; it stays in the gallery); a shot retimed
    shorter keeps its video, which the exports trim. Board-wide changes (style, cast) keep the
    shots: regenerate them when you want the new look.
    """
    incoming = dict(incoming)
    for k in ("id", "object", "created_at", "updated_at", "running_seconds", "exports"):
        incoming.pop(k, None)
    shots_in = incoming.get("shots") or []
    if not isinstance(shots_in, list):
        raise StoryboardError("shots must be a list")
    clean = []
    for s in shots_in:
        if not isinstance(s, dict):
            raise StoryboardError(f"a shot is a mapping of fields, got {s!r}")
        s = {k: v for k, v in s.items() if k not in ("path", "progress", "full_prompt", "has_image", "status",
                                                     "video_id", "error")}
        clean.append(s)
    incoming["shots"] = clean
    board = Storyboard.from_dict(incoming)
    prev = {s.id: s for s in old.shots} if old else {}
    shots = []
    for s in board.shots:
        p = prev.get(s.id)
        image = p.image if p is not None and s.image and p.image == s.image else None
        if s.image and image is None:
            raise StoryboardError(f"shot {s.id!r}: upload its image with POST .../shots/{s.id}/image")
        s = s.replace(image=image)
        if p is None or p.status == "draft":
            shots.append(s.replace(status="draft", video_id=None, path=None, error=None))
            continue
        changed = (s.prompt, s.image, s.camera, s.seed) != (p.prompt, p.image, p.camera, p.seed)
        stale = changed or s.seconds > p.seconds
        if stale:
            shots.append(s.replace(status="draft", video_id=None, path=None, error=None))
        else:
            shots.append(s.replace(status=p.status, video_id=p.video_id, path=p.path, error=p.error,
                                   seconds=s.seconds))
    return board.replace(shots=tuple(shots))


# ----------------------------------------------------------------------------- job plumbing
async def _refresh(api: httpx.AsyncClient, board: Storyboard) -> tuple[Storyboard, dict[str, int]]:
    """Bring each running shot's status up to date from its video."""
    progress: dict[str, int] = {}
    running = [s for s in board.shots if s.status in ACTIVE and s.video_id is not None]
    recent: dict[str, Any] = {}
    if len(running) > 1:  # one list call instead of one call per shot (the key's request rate is limited)
        r = await api.get("/v1/videos", params={"limit": 100})
        if r.status_code == 200:
            recent = {v["id"]: v for v in r.json().get("data", [])}
    for s in running:
        v = recent.get(s.video_id or "")
        if v is None:
            r = await api.get(f"/v1/videos/{s.video_id}")
            if r.status_code == 404:
                board = board.with_shot(s.replace(status="failed",
                                                  error="its video was deleted or expired; regenerate it"))
                continue
            if r.status_code != 200:
                continue  # a transient answer (e.g. 429): keep the last known state
            v = r.json()
        progress[s.id] = int(v.get("progress") or 0)
        status = v.get("status", s.status)
        err = (v.get("error") or {}).get("message") if status == "failed" else None
        board = board.with_shot(s.replace(status=status if status in ACTIVE + TERMINAL else s.status,
                                          error=err))
    return board, progress


async def _submit(api: httpx.AsyncClient, store: BoardStore, board_id: str, board: Storyboard) -> Storyboard:
    """Create a video job for every shot waiting to be submitted (queued with no video yet).

    Stops at the first 429 (the key's concurrent-job limit): those shots stay queued and are
    submitted by a later refresh, so a long storyboard runs through a small quota.
    """
    for s in board.shots:
        if s.status != "queued" or s.video_id is not None:
            continue
        fields = {
            "prompt": board.prompt_for(s) or "a shot",
            "seconds": str(max(1, math.ceil(s.seconds - 1e-9))),
            "size": f"{board.width}x{board.height}",
            "seed": board.seed_for(s),
            "fps": board.fps,
        }
        for k in ("negative_prompt", "model", "quality"):
            if getattr(board, k):
                fields[k] = getattr(board, k)
        if board.character_ids_for(s):  # linked API characters: their images as references
            fields["characters"] = board.character_ids_for(s)
        if s.image:
            img = store.dir(board_id) / "images" / s.image
            form = {k: ",".join(v) if isinstance(v, list) else str(v) for k, v in fields.items()} | {
                "mode": "image"}
            data = await asyncio.to_thread(_fit_image, img, board.width, board.height)
            r = await api.post("/v1/videos", data=form,
                               files={"input_reference": (img.stem + ".png", data, "image/png")})
        else:
            r = await api.post("/v1/videos", json=fields)
        if r.status_code == 429:
            break
        if r.status_code >= 400:
            board = board.with_shot(s.replace(status="failed", error=_message(r)))
            continue
        v = r.json()
        board = board.with_shot(s.replace(status=v.get("status", "queued"), video_id=v["id"], path=None,
                                          error=None))
    return board


def _fit_image(path: Path, width: int, height: int) -> bytes:
    """The start image cropped to the frame's aspect and scaled to its size (the API wants an exact fit)."""
    import io

    from PIL import Image, ImageOps

    with Image.open(path) as im:
        fitted = ImageOps.fit(im.convert("RGB"), (width, height), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    fitted.save(buf, format="PNG")
    return buf.getvalue()


def _mime(p: Path) -> str:
    return {".png": "image/png", ".jpg": "image/jpeg", ".webp": "image/webp"}.get(p.suffix,
                                                                                  "application/octet-stream")


async def _sync(request: Request, api: httpx.AsyncClient, store: BoardStore, board_id: str) -> dict[str, Any]:
    """Load, submit waiting shots, refresh running ones, save; returns the public object."""
    async with _lock(request, board_id):
        record = store.load(board_id)
        board = store.board(record)
        before = board
        board = await _submit(api, store, board_id, board)
        board, progress = await _refresh(api, board)
        record["progress"] = progress
        if board != before or progress != record.get("progress_saved"):
            record["progress_saved"] = progress
            record = store.save(record, board)
        return _public(record, board, progress)


# ----------------------------------------------------------------------------- routes
@router.get("/v1/studio/config")
async def studio_config(request: Request) -> dict[str, Any]:
    """What the page needs before anyone signs in: whether a key is required, and the API's limits."""
    s = _settings(request)

    def g(name: str, default: Any) -> Any:
        return getattr(s, name, default) if s is not None else default

    sizes: tuple[str, ...] = tuple(getattr(getattr(request.app.state, "service", None), "sizes", ()) or ())
    return {
        "auth": bool(g("auth", True)),
        "sizes": list(sizes or g("sizes", ("128x128",))),
        "default_size": g("default_size", "128x128"),
        "min_seconds": g("min_seconds", 1),
        "max_seconds": g("max_seconds", 60),
        "default_seconds": g("default_seconds", 4),
        "default_fps": g("default_fps", 16),
        "max_fps": g("max_fps", 30),
        "max_upload_bytes": g("max_upload_bytes", DEFAULT_MAX_UPLOAD),
        "max_prompt_chars": g("max_prompt_chars", MAX_PROMPT_CHARS),
        "modes": [str(m) for m in SERVICE_MODES],
        "image_types": list(IMAGE_TYPES),
    }


@router.get("/v1/storyboards")
async def list_storyboards(request: Request) -> Response:
    async with _api(request) as api:
        store = await _store(request, api)
        data = []
        for r in store.list():
            b = r.get("board", {})
            data.append({"id": r["id"], "object": "storyboard", "title": b.get("title"),
                         "shots": len(b.get("shots", [])), "updated_at": r.get("updated_at")})
        return JSONResponse({"object": "list", "data": data})


@router.post("/v1/storyboards", status_code=201, openapi_extra=doc(StoryboardBody))
async def create_storyboard(request: Request) -> Response:
    """Create a storyboard (shots may be empty: a draft)."""
    async with _api(request) as api:
        store = await _store(request, api)
        board = _merge(None, await _body(request))
        record = store.create(board)
        return JSONResponse(_public(record, board), 201)


@router.get("/v1/storyboards/{board_id}")
async def get_storyboard(board_id: str, request: Request) -> Response:
    """The storyboard, with each shot's status and progress brought up to date."""
    async with _api(request) as api:
        store = await _store(request, api)
        return JSONResponse(await _sync(request, api, store, board_id))


@router.put("/v1/storyboards/{board_id}", openapi_extra=doc(StoryboardBody))
async def put_storyboard(board_id: str, request: Request) -> Response:
    """Replace title, style, seed, characters and the shots (their order, timing, prompts)."""
    async with _api(request) as api:
        store = await _store(request, api)
        body = await _body(request)
        async with _lock(request, board_id):
            record = store.load(board_id)
            board = _merge(store.board(record), body)
            record = store.save(record, board)
        return JSONResponse(_public(record, board))


@router.delete("/v1/storyboards/{board_id}")
async def delete_storyboard(board_id: str, request: Request) -> Response:
    import shutil

    async with _api(request) as api:
        store = await _store(request, api)
        store.load(board_id)
        shutil.rmtree(store.dir(board_id))
        return JSONResponse({"id": board_id, "object": "storyboard.deleted", "deleted": True})


@router.post("/v1/storyboards/{board_id}/shots/{shot_id}/image", openapi_extra=IMAGE_UPLOAD_DOC)
async def upload_shot_image(board_id: str, shot_id: str, request: Request) -> Response:
    """Attach a start image (PNG, JPEG or WebP) to a shot: it becomes an image-to-video shot."""
    from PIL import Image, UnidentifiedImageError

    s = _settings(request)
    limit = int(getattr(s, "max_upload_bytes", DEFAULT_MAX_UPLOAD)) if s is not None else DEFAULT_MAX_UPLOAD
    async with _api(request) as api:  # the key first: nothing is read for a caller without one
        store = await _store(request, api)
    try:
        _, files = await read_body(request, limit)
    except ApiError as e:
        if e.status != 413:
            raise
        raise StudioError(413, "file_too_large", f"the image is over the {limit // (1024 * 1024)} MB upload "
                          "limit; use a smaller image") from None
    if "file" not in files:
        raise StudioError(400, "missing_file", "send the image as the multipart field `file`", "file")
    file = files["file"]
    data = file.data
    try:
        import io

        with Image.open(io.BytesIO(data)) as im:
            fmt = (im.format or "").lower()
            im.verify()
    except (UnidentifiedImageError, OSError, SyntaxError) as e:
        raise StudioError(415, "unsupported_file_type",
                          f"{file.filename} is not a PNG, JPEG or WebP image") from e
    ext = {"png": ".png", "jpeg": ".jpg", "webp": ".webp"}.get(fmt)
    if ext is None:
        raise StudioError(415, "unsupported_file_type",
                          f"{file.filename} is {fmt.upper()}; use PNG, JPEG or WebP")
    async with _lock(request, board_id):
        record = store.load(board_id)
        board = store.board(record)
        shot = board.shot(shot_id)
        name = f"{shot_id}-{secrets.token_hex(4)}{ext}"
        write_private(private_dir(store.dir(board_id) / "images") / name, data)
        board = board.with_shot(shot.replace(image=name, status="draft", video_id=None, path=None,
                                             error=None))
        record = store.save(record, board)
    return JSONResponse(_public(record, board))


@router.get("/v1/storyboards/{board_id}/shots/{shot_id}/image")
async def get_shot_image(board_id: str, shot_id: str, request: Request) -> Response:
    async with _api(request) as api:
        store = await _store(request, api)
        board = store.board(store.load(board_id))
        shot = board.shot(shot_id)
        if not shot.image:
            raise StudioError(404, "no_image", f"shot {shot_id!r} has no image")
        p = store.dir(board_id) / "images" / shot.image
        return FileResponse(p, media_type=_mime(p))


@router.post("/v1/storyboards/{board_id}/generate", openapi_extra=doc(GenerateBody, required=False))
async def generate_storyboard(board_id: str, request: Request) -> Response:
    """Queue every shot (or `{"shot_ids": [...]}`) as a video job; a running shot is left alone."""
    async with _api(request) as api:
        store = await _store(request, api)
        ids = (await _body(request, empty={})).get("shot_ids")
        if ids is not None and (not isinstance(ids, list) or not all(isinstance(i, str) for i in ids)):
            raise StudioError(400, "invalid_shot_ids", "shot_ids must be a list of shot ids")
        async with _lock(request, board_id):
            record = store.load(board_id)
            board = store.board(record)
            board.require_shots()
            targets = ids if ids is not None else [s.id for s in board.shots]
            for sid in targets:
                shot = board.shot(sid)
                if shot.status in ACTIVE:
                    continue
                board = board.with_shot(shot.replace(status="queued", video_id=None, path=None, error=None))
            record["progress"] = {}
            record = store.save(record, board)
        return JSONResponse(await _sync(request, api, store, board_id))


@router.post("/v1/storyboards/{board_id}/export")
async def export_storyboard(board_id: str, request: Request) -> Response:
    """Write the reel, the .otio / FCP7 / EDL timelines and the sheet; refuse while shots are running."""
    async with _api(request) as api:
        store = await _store(request, api)
        public = await _sync(request, api, store, board_id)
        async with _lock(request, board_id):
            record = store.load(board_id)
            board = store.board(record)
            board.require_shots()
            waiting = [s for s in board.shots if s.status != "completed"]
            if waiting:
                desc = ", ".join(f"shot {board.shots.index(s) + 1} ({s.status.replace('_', ' ')})"
                                 for s in waiting)
                raise StudioError(409, "shots_not_ready",
                                  f"Not exported: {desc} not finished. Generate every shot and wait for it "
                                  "to complete, then export again. Nothing was changed.")
            folder = store.dir(board_id)
            shots_dir = private_dir(folder / "shots")
            for s in board.shots:
                target = shots_dir / f"{s.id}-{s.video_id}.mp4"
                if not target.is_file():
                    r = await api.get(f"/v1/videos/{s.video_id}/content", params={"variant": "video"})
                    if r.status_code != 200:
                        raise StudioError(409, "shot_unavailable",
                                          f"shot {s.id!r}: its video could not be fetched ({_message(r)}); "
                                          "regenerate it")
                    write_private(target, r.content)
                board = board.with_shot(s.replace(path=str(target.resolve())))
            out = folder / "export"
            from cinegen.trust.publish import TrustSettings

            trust = TrustSettings.for_data_dir(_data_dir(request))
            exports = await asyncio.to_thread(export_all, board, out, trust=trust)
            await asyncio.to_thread(secure_tree, out)  # written by PyAV, c2pa, PIL: made private after
            files = []
            for path in exports.as_dict().values():
                kind, _ = EXPORT_FILES[path.name]
                files.append({"kind": kind, "name": path.name, "bytes": path.stat().st_size,
                              "url": f"/v1/storyboards/{board_id}/files/{path.name}"})
            record["exports"] = files
            record = store.save(record, board)
        public = _public(record, board)
        return JSONResponse({"object": "storyboard.export", "storyboard": public, "files": files})


@router.get("/v1/storyboards/{board_id}/files/{name}")
async def get_export_file(board_id: str, name: str, request: Request) -> Response:
    if name not in EXPORT_FILES:
        raise StudioError(404, "file_not_found", f"no export file {name!r}; known: {', '.join(EXPORT_FILES)}")
    async with _api(request) as api:
        store = await _store(request, api)
        store.load(board_id)
        p = store.dir(board_id) / "export" / name
        if not p.is_file():
            raise StudioError(404, "file_not_found",
                              f"{name} has not been exported yet; export the storyboard first")
        return FileResponse(p, media_type=EXPORT_FILES[name][1], filename=name)


@router.get("/v1/studio/videos/{video_id}/credentials")
async def video_credentials(video_id: str, request: Request) -> Response:
    """The C2PA content-credentials status of one of the caller's videos, for the video page.

    `state` is "none" (not signed), "valid" (signed, intact, signer not in the trust list),
    "trusted" (signed by a trust anchor, e.g. this server's development CA) or "invalid".
    """
    import tempfile

    async with _api(request) as api:
        r = await api.get(f"/v1/videos/{urllib.parse.quote(video_id, safe='')}/content",
                          params={"variant": "video"})
        if r.status_code != 200:
            raise StudioError(r.status_code if r.status_code in (401, 404, 409) else 502,
                              "content_unavailable",
                              _message(r))
    try:
        from cinegen.trust.credentials import CredentialError, dev_ca_path, read_credentials
    except ImportError as e:  # c2pa not installed
        return JSONResponse({"state": "unavailable",
                             "message": f"content credentials cannot be read here: {e}"})
    data_dir = _data_dir(request)
    anchors = tuple(p for p in (dev_ca_path(keys_dir(data_dir)), dev_ca_path(data_dir)) if p.is_file())
    # read under the data directory (nothing is written to the system temp directory)
    with tempfile.TemporaryDirectory(prefix="cc-", dir=private_dir(data_dir / "scratch")) as tmp:
        path = Path(tmp) / f"{video_id}.mp4"
        path.write_bytes(r.content)
        try:
            report = await asyncio.to_thread(read_credentials, path, anchors)
        except CredentialError as e:
            return JSONResponse({"state": "invalid", "present": True, "errors": [str(e)]})
    body = report.to_dict()
    body.pop("claims", None)
    return JSONResponse(body)
