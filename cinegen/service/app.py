"""The HTTP API: OpenAI's Videos API shape, plus cancel, modes, idempotency and live progress.

`create_app(settings)` builds the FastAPI app; its lifespan opens the job store, recovers jobs a
previous run left behind, and starts the dispatcher (workers), the webhook deliverer and the
janitor (lease expiry, retention, orphan files). Routes stay thin: parse and validate at the edge
(a 4xx with a specific `error.code` for every bad input), then one store call.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import json
import logging
import os
import secrets
import threading
import time
import warnings
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse, Response, StreamingResponse
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.formparsers import MultiPartParser

from cinegen.service import schemas
from cinegen.service.auth import AuthError, Principal, authenticate
from cinegen.service.backends import backend_class, backend_sizes
from cinegen.service.jobs import Conflict, JobStore, NotFound, new_id
from cinegen.service.metrics import Metrics
from cinegen.service.moderation import ModerationGate, ModerationUnavailable, Refused
from cinegen.service.quotas import QuotaExceeded, RateLimiter
from cinegen.service.settings import LARGE_SIZES, Settings, parse_size
from cinegen.service.webhooks import WebhookDeliverer
from cinegen.service.workers import Dispatcher

log = logging.getLogger(__name__)

SOURCE_MODES = ("extend", "connect", "loop", "edit", "keyframes", "remix")
INT_FIELDS = ("seed", "fps", "steps")
FLOAT_FIELDS = ("guidance", "strength")
IMAGE_FORMATS = {"PNG", "JPEG", "WEBP"}
JSON_BODY_LIMIT = 256 * 1024


class ApiError(Exception):
    """Any 4xx: rendered as OpenAI's `{"error": {message, type, param, code}}`."""

    def __init__(self, status: int, code: str, message: str, param: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.param = status, code, message, param
        self.headers = headers or {}


@dataclass
class Service:
    """What the routes share: the one settings object, the store and the background parts."""

    settings: Settings
    store: JobStore
    metrics: Metrics
    limiter: RateLimiter
    sizes: tuple[str, ...]
    gate: ModerationGate
    dispatcher: Dispatcher | None = None
    deliverer: WebhookDeliverer | None = None


# ----------------------------------------------------------------------------- app factory
def create_app(settings: Settings, *, start_workers: bool = True) -> FastAPI:
    """The service's FastAPI app. `start_workers=False` serves the API only (another node works)."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    for d in (settings.videos_dir, settings.inputs_dir):
        d.mkdir(parents=True, exist_ok=True)
    if start_workers:
        try:
            backend_class(settings.backend)  # fail at start, not in every worker, if it cannot load
        except ImportError as e:
            raise ValueError(f"backend {settings.backend!r} is not available: {e}") from e
    sizes = offered_sizes(settings.sizes, backend_sizes(settings.backend))
    if not sizes:
        raise ValueError(f"backend {settings.backend!r} serves none of the configured sizes {settings.sizes}")
    if settings.default_size not in sizes:
        settings = settings.replace(sizes=sizes, default_size=sizes[0])
    metrics = Metrics()
    store = JobStore(settings.db_path, max_attempts=settings.max_attempts, lease_seconds=settings.lease_seconds)
    if start_workers and settings.publish == "trust":
        check_signer(settings)  # a bad certificate (or a missing c2pa) fails the start, not every job
    gate = ModerationGate(settings)  # loads the policy now: a bad policy file fails the start, naming the key
    svc = Service(settings, store, metrics, RateLimiter(), sizes, gate)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        stop = threading.Event()
        gate.start_warming()  # the sentence encoder loads in the background; creates wait for it
        if start_workers:
            from cinegen.service.executors import make_runner_factory

            svc.dispatcher = Dispatcher(settings, store, make_runner_factory(settings), metrics)
            svc.dispatcher.start()
        svc.deliverer = WebhookDeliverer(settings, store, metrics)
        svc.deliverer.start()
        janitor = threading.Thread(target=_janitor, args=(svc, stop), name="cinegen-janitor", daemon=True)
        janitor.start()
        try:
            yield
        finally:
            stop.set()
            if svc.dispatcher is not None:
                svc.dispatcher.stop()
            svc.deliverer.stop()
            janitor.join(5.0)

    app = FastAPI(
        title="cinegen video service",
        version="1.0",
        description="OpenAI-compatible Videos API for cinegen, with cancel, modes, idempotency and SSE progress.",
        lifespan=lifespan,
    )
    app.state.service = svc
    _install_handlers(app, metrics)
    _add_routes(app, svc)
    try:
        import cinegen.studio as studio
    except ImportError:
        studio = None  # type: ignore[assignment]
    mount = getattr(studio, "mount", None)
    if callable(mount):
        mount(app)
    return app


def check_signer(settings: Settings) -> None:
    """Resolve the signing identity the workers will use (creating the development CA under
    `<data dir>/trust` on first start, before any worker could race to make it)."""
    from cinegen.service.backends import trust_settings

    try:
        ts = trust_settings(settings.trust_dir)
    except ImportError as e:
        raise ValueError(f"publish 'trust' needs the trust layer (c2pa): {e}; --publish plain opts out") from e
    ts.identity()


def offered_sizes(configured: tuple[str, ...], declared: tuple[str, ...]) -> tuple[str, ...]:
    """The sizes the API accepts: the configured ones the backend serves.

    A backend that declares `SIZES` gets exactly the configured sizes it declares, plus OpenAI's
    large sizes when it declares those; one that declares nothing gets the configured sizes
    without the large ones.
    """
    if not declared:
        return tuple(s for s in configured if s not in LARGE_SIZES)
    out = tuple(s for s in configured if s in declared)
    return out + tuple(s for s in LARGE_SIZES if s in declared and s not in out)


def _janitor(svc: Service, stop: threading.Event) -> None:
    """Lease expiry (other nodes' dead workers), retention, deleted and orphaned files."""
    s = svc.settings
    while not stop.wait(s.janitor_interval_seconds):
        try:
            run_janitor_once(svc)
        except Exception:
            log.exception("janitor pass failed")


def run_janitor_once(svc: Service, orphan_age: float = 3600.0) -> dict[str, int]:
    store = svc.store
    counts = store.recover()
    removed = 0
    for p in store.expire_due() + store.deleted_files():
        if p.exists():
            p.unlink(missing_ok=True)
            removed += 1
    refs = store.referenced_files()
    now = time.time()
    for d in (svc.settings.videos_dir, svc.settings.inputs_dir):
        for p in d.iterdir():
            if str(p) not in refs and now - p.stat().st_mtime > orphan_age:
                p.unlink(missing_ok=True)
                removed += 1
    return {**counts, "removed": removed}


# ----------------------------------------------------------------------------- errors
def _install_handlers(app: FastAPI, metrics: Metrics) -> None:
    @app.middleware("http")
    async def timing(request: Request, call_next: Callable[[Request], Any]) -> Response:
        t0 = time.perf_counter()
        if any(ord(ch) < 32 or ord(ch) == 127 for ch in request.scope.get("path", "")):
            # control characters (NUL included) in a decoded path are never a valid id or route
            bad = JSONResponse(schemas.error_json(400, "invalid_path", "the path contains control characters"), 400)
            metrics.request(400, time.perf_counter() - t0)
            return bad
        try:
            response: Response = await call_next(request)
        except Exception:
            log.exception("unhandled error on %s %s", request.method, request.url.path)
            response = JSONResponse(schemas.error_json(500, "internal_error", "internal server error"), 500)
        metrics.request(response.status_code, time.perf_counter() - t0)
        return response

    @app.exception_handler(ApiError)
    async def api_error(request: Request, e: ApiError) -> JSONResponse:
        return JSONResponse(schemas.error_json(e.status, e.code, e.message, e.param), e.status, headers=e.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, e: RequestValidationError) -> JSONResponse:
        err = e.errors()[0] if e.errors() else {"loc": (), "msg": "invalid request"}
        field = str(err["loc"][-1]) if err.get("loc") else None
        code = f"invalid_{field}" if field and field.isidentifier() else "invalid_request"
        return JSONResponse(schemas.error_json(400, code, f"{field}: {err['msg']}", field), 400)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, e: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(e.status_code, "http_error")
        return JSONResponse(schemas.error_json(e.status_code, code, str(e.detail)), e.status_code)


def _from_validation(e: ValidationError) -> ApiError:
    err = e.errors()[0]
    loc = [str(x) for x in err.get("loc", ())]
    field = loc[0] if loc else None
    if err.get("type") == "extra_forbidden":
        return ApiError(400, "unknown_parameter", f"unknown parameter {'.'.join(loc)!r}", field)
    if err.get("type") == "missing":
        return ApiError(400, f"missing_{field}", f"{field} is required", field)
    return ApiError(400, f"invalid_{field}" if field else "invalid_request", f"{'.'.join(loc)}: {err['msg']}", field)


# ----------------------------------------------------------------------------- request parsing
@dataclass
class Upload:
    data: bytes
    filename: str
    content_type: str


class _InMemoryMultiPartParser(MultiPartParser):
    """Starlette's parser, keeping parts in memory (bodies are capped before parsing), so uploads
    never spill to the system temp directory: the service writes only under its data directory."""

    spool_max_size = 64 * 1024 * 1024


async def _read_capped(request: Request, limit: int, code: str, message: str, declared: int) -> bytes:
    """The whole body, refusing (413) as soon as it exceeds `limit`, declared or streamed."""
    if declared > limit:
        raise ApiError(413, code, message)
    buf = bytearray()
    async for chunk in request.stream():
        buf += chunk
        if len(buf) > limit:
            raise ApiError(413, code, message)
    return bytes(buf)


async def _read_body(request: Request, svc: Service) -> tuple[dict[str, Any], dict[str, Upload]]:
    """The request body as fields (+ uploaded files), for JSON and multipart/form-data alike."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    try:
        length = int(request.headers.get("content-length", "0") or 0)
    except ValueError:
        raise ApiError(400, "invalid_content_length", "Content-Length is not a number") from None
    if ctype == "application/json" or (ctype == "" and length == 0):
        raw = await _read_capped(request, JSON_BODY_LIMIT, "request_too_large",
                                 f"JSON bodies are limited to {JSON_BODY_LIMIT} bytes", length)
        try:
            body = json.loads(raw or b"{}")
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ApiError(400, "invalid_json", f"the body is not valid JSON: {e}") from None
        if not isinstance(body, dict):
            raise ApiError(400, "invalid_json", "the JSON body must be an object")
        return body, {}
    if ctype == "multipart/form-data":
        limit = svc.settings.max_upload_bytes
        raw = await _read_capped(request, limit + JSON_BODY_LIMIT, "file_too_large",
                                 f"uploads are limited to {limit} bytes", length)

        async def body() -> AsyncGenerator[bytes, None]:
            yield raw
            yield b""

        try:
            parser = _InMemoryMultiPartParser(request.headers, body(), max_files=2, max_fields=64,
                                              max_part_size=JSON_BODY_LIMIT)
            form = await parser.parse()
        except Exception as e:  # starlette raises several kinds for malformed multipart
            raise ApiError(400, "invalid_multipart", f"cannot parse multipart body: {e}") from None
        fields: dict[str, Any] = {}
        files: dict[str, Upload] = {}
        try:
            for name, value in form.multi_items():
                if isinstance(value, str):
                    if name in ("video_ids", "video_ids[]"):
                        fields.setdefault("video_ids", []).extend(v for v in value.split(",") if v)
                    elif name == "video[id]":
                        fields["video"] = {"id": value}
                    else:
                        fields[name] = value
                else:
                    data = await value.read(limit + 1)
                    if len(data) > limit:
                        raise ApiError(413, "file_too_large", f"uploads are limited to {limit} bytes", name)
                    files[name] = Upload(data, value.filename or "", value.content_type or "")
        finally:
            await form.close()
        for f in INT_FIELDS:
            if f in fields:
                try:
                    fields[f] = int(fields[f])
                except ValueError:
                    raise ApiError(400, f"invalid_{f}", f"{f} must be an integer", f) from None
        for f in FLOAT_FIELDS:
            if f in fields:
                try:
                    fields[f] = float(fields[f])
                except ValueError:
                    raise ApiError(400, f"invalid_{f}", f"{f} must be a number", f) from None
        return fields, files
    raise ApiError(415, "unsupported_media_type", "send application/json or multipart/form-data")


def _validate(model: type[BaseModel], fields: dict[str, Any]) -> Any:
    try:
        return model.model_validate(fields)
    except ValidationError as e:
        raise _from_validation(e) from None


def _seconds(value: str | int | None, s: Settings) -> int:
    if value is None:
        return s.default_seconds
    if isinstance(value, bool):
        raise ApiError(400, "invalid_seconds", "seconds must be a whole number", "seconds")
    if isinstance(value, str):
        if not value.strip().isdigit() or len(value.strip()) > 3:
            raise ApiError(400, "invalid_seconds", f"seconds must be a whole number, got {value!r}", "seconds")
        value = int(value)
    if not s.min_seconds <= value <= s.max_seconds:
        raise ApiError(400, "invalid_seconds", f"seconds must be in {s.min_seconds}..{s.max_seconds}, got {value}",
                       "seconds")
    return value


def _size(value: str | None, svc: Service) -> str:
    if value is None:
        return svc.settings.default_size
    if value not in svc.sizes:
        raise ApiError(400, "invalid_size", f"size {value!r} is not offered; use one of {', '.join(svc.sizes)}", "size")
    return value


def _prompt(value: str, s: Settings, field: str = "prompt") -> str:
    p = value.strip()
    if not p:
        raise ApiError(400, f"invalid_{field}", f"{field} is empty", field)
    if len(p) > s.max_prompt_chars:
        raise ApiError(400, f"invalid_{field}", f"{field} exceeds {s.max_prompt_chars} characters", field)
    if "\x00" in p:
        raise ApiError(400, f"invalid_{field}", f"{field} contains a NUL character", field)
    return p


def inspect_image(data: bytes, settings: Settings) -> Any:
    """Decode an uploaded image fully, refusing bombs, truncation and non-images. Returns RGB PIL."""
    from PIL import Image, UnidentifiedImageError

    if not data:
        raise ApiError(400, "invalid_image", "input_reference is empty", "input_reference")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data))
            if im.format not in IMAGE_FORMATS:
                raise ApiError(400, "invalid_image", f"input_reference must be PNG, JPEG or WebP, got {im.format}",
                               "input_reference")
            w, h = im.size
            if w * h > settings.max_upload_pixels or w > 16384 or h > 16384:
                raise ApiError(400, "image_too_large", f"input_reference is {w}x{h}; the limit is "
                               f"{settings.max_upload_pixels} pixels", "input_reference")
            im.load()
            return im.convert("RGB")
    except ApiError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ApiError(400, "image_too_large", "input_reference is a decompression bomb", "input_reference") from None
    except UnidentifiedImageError:
        raise ApiError(400, "invalid_image", "input_reference is not an image", "input_reference") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise ApiError(400, "invalid_image", f"input_reference is truncated or corrupt: {e}", "input_reference") from None


# ----------------------------------------------------------------------------- presenting videos
def present(row: Any) -> dict[str, Any]:
    spec = json.loads(row["spec"])
    err = None
    if row["status"] == "failed":
        err = {"code": row["error_code"] or "failed", "message": row["error_message"] or ""}
    return schemas.Video(
        id=row["id"], model=row["model"], status=row["status"], progress=row["progress"],
        created_at=int(row["created_at"]),
        completed_at=int(row["completed_at"]) if row["completed_at"] else None,
        expires_at=int(row["expires_at"]) if row["expires_at"] else None,
        prompt=row["prompt"], seconds=str(row["seconds"]), size=row["size"],
        remixed_from_video_id=row["remixed_from"], error=schemas.VideoError(**err) if err else None,
        mode=spec.get("mode"), seed=spec.get("seed"), fps=spec.get("fps"),
        negative_prompt=spec.get("negative_prompt") or None, cancel_requested=bool(row["cancel_requested"]),
    ).model_dump()


def _video_response(svc: Service, row: Any, status: int = 200) -> JSONResponse:
    headers = {}
    if row["status"] in ("queued", "in_progress"):
        headers["openai-poll-after-ms"] = str(svc.settings.poll_after_ms)
    return JSONResponse(present(row), status, headers=headers)


# ----------------------------------------------------------------------------- routes
_ERR = {"model": schemas.ErrorResponse}
ERRORS: dict[int | str, dict[str, Any]] = {400: _ERR, 401: _ERR, 404: _ERR, 409: _ERR, 413: _ERR, 415: _ERR,
                                           429: _ERR}


def _body_doc(model: type[BaseModel], files: tuple[str, ...] = ()) -> dict[str, Any]:
    content: dict[str, Any] = {"application/json": {"schema": model.model_json_schema(ref_template="#/components/schemas/{model}")}}
    if files or model is not schemas.VideoRemix:
        content["multipart/form-data"] = {"schema": schemas.multipart_schema(model, files)}
    return {"requestBody": {"required": True, "content": content}}


def _add_routes(app: FastAPI, svc: Service) -> None:
    s = svc.settings
    store = svc.store

    def principal(request: Request, *, allow_query_key: bool = False) -> Principal:
        auth = request.headers.get("authorization")
        if auth is None and allow_query_key and request.query_params.get("key"):
            auth = "Bearer " + request.query_params["key"]
        try:
            p = authenticate(store, s, auth)
        except AuthError as e:
            raise ApiError(401, "invalid_api_key", str(e)) from None
        try:
            svc.limiter.hit(p.key_id, p.limits.requests_per_minute)
        except QuotaExceeded as e:
            raise ApiError(429, e.code, e.message, headers={"Retry-After": str(e.retry_after)}) from None
        return p

    def get_row(p: Principal, video_id: str) -> Any:
        try:
            return store.get(p.key_id, video_id)
        except NotFound:
            raise ApiError(404, "video_not_found", f"no video {video_id!r}", "video_id") from None

    def completed_source(p: Principal, video_id: str) -> Any:
        row = get_row(p, video_id)
        if row["status"] != "completed":
            raise ApiError(409, "source_not_completed", f"video {video_id} is {row['status']}, not completed",
                           "video_id")
        if row["expired"]:
            raise ApiError(404, "video_expired", f"video {video_id} has expired", "video_id")
        return row

    def moderated(p: Principal, route: str, prompt: str, mode: str, v: Any, image: Any = None) -> dict[str, Any]:
        """Run the moderation policy (CPU work: call from the threadpool). A refusal is logged and
        answered 400 with the decision's `safety.*` code; nothing is queued, no quota is spent."""
        try:
            return svc.gate.check(prompt, mode=mode, image=None if image is None else np.asarray(image),
                                  consent_grant_id=getattr(v, "consent_grant_id", None),
                                  project=getattr(v, "project", None))
        except ModerationUnavailable as e:
            raise ApiError(503, "moderation_unavailable", f"moderation is not available: {e}") from None
        except Refused as e:
            store.record_refusal(owner=p.key_id, route=route, mode=mode, prompt=prompt, decision=e.record)
            svc.metrics.refused(e.code)
            param = "input_reference" if "reference image" in e.message else "prompt"
            raise ApiError(400, e.code, f"the request was refused by this deployment's content policy "
                           f"({e.record['category']}): {e.message}", param) from None

    def submit(p: Principal, request: Request, *, prompt: str, seconds: int, size: str, spec: dict[str, Any],
               moderation: dict[str, Any], upload: Any = None, remixed_from: str | None = None) -> JSONResponse:
        """Accept one job: write its input, then one transaction (quota + insert)."""
        idem = request.headers.get("idempotency-key")
        if idem is not None and not 1 <= len(idem) <= 200:
            raise ApiError(400, "invalid_idempotency_key", "Idempotency-Key must be 1..200 characters")
        video_id = new_id("video")
        ref_path: Path | None = None
        h = hashlib.sha256(json.dumps({**spec, "seed": spec.get("seed_requested")}, sort_keys=True).encode())
        if upload is not None:
            ref_path = s.inputs_dir / f"{video_id}.png"
            buf = io.BytesIO()
            upload.save(buf, format="PNG")
            h.update(buf.getvalue())
            tmp = ref_path.with_name(f".{ref_path.name}.part")
            tmp.write_bytes(buf.getvalue())
            os.replace(tmp, ref_path)
            spec["input_reference"] = str(ref_path)
        spec.pop("seed_requested", None)
        try:
            row, created = store.create_video(
                video_id=video_id, owner=p.key_id, model=s.model_name, prompt=prompt, seconds=seconds, size=size,
                spec=spec, limits=p.limits, remixed_from=remixed_from, idempotency_key=idem,
                request_hash=h.hexdigest() if idem else None, moderation=moderation,
            )
        except QuotaExceeded as e:
            raise ApiError(429, e.code, e.message, headers={"Retry-After": str(e.retry_after)}) from None
        except Conflict as e:
            raise ApiError(409, e.code, e.message) from None
        finally:
            if ref_path is not None and not store_has(video_id):
                ref_path.unlink(missing_ok=True)
        if created and svc.dispatcher is not None:
            svc.dispatcher.notify()
        return _video_response(svc, row)

    def store_has(video_id: str) -> bool:
        try:
            store.get(None, video_id)
            return True
        except NotFound:
            return False

    def base_spec(v: Any, prompt: str, seconds: int, size: str, mode: str) -> dict[str, Any]:
        fps = v.fps if getattr(v, "fps", None) is not None else s.default_fps
        if fps > s.max_fps:
            raise ApiError(400, "invalid_fps", f"fps must be at most {s.max_fps}, got {fps}", "fps")
        neg = getattr(v, "negative_prompt", None)
        seed = getattr(v, "seed", None)
        return {
            "prompt": prompt, "negative_prompt": _prompt(neg, s, "negative_prompt") if neg else "",
            "seconds": seconds, "size": size, "fps": fps,
            "seed": seed if seed is not None else secrets.randbelow(2**31), "seed_requested": seed,
            "steps": getattr(v, "steps", None), "guidance": getattr(v, "guidance", None), "mode": mode,
            "strength": getattr(v, "strength", None), "source_video_ids": [], "input_reference": None,
            "extend_prompt": getattr(v, "extend_prompt", None) is not False,
        }

    # ---------------------------------------------------------------- create
    @app.post("/v1/videos", response_model=schemas.Video, responses=ERRORS, tags=["videos"],
              openapi_extra=_body_doc(schemas.VideoCreate, ("input_reference",)))
    async def create_video(request: Request) -> JSONResponse:
        """Create a video job (OpenAI `videos.create`); multipart carries an `input_reference` image."""
        p = await run_in_threadpool(principal, request)
        fields, files = await _read_body(request, svc)
        if isinstance(fields.get("input_reference"), (str, dict)):
            raise ApiError(400, "unsupported_input_reference",
                           "input_reference must be an uploaded image file (URLs and file ids are not fetched)",
                           "input_reference")
        unknown_files = set(files) - {"input_reference"}
        if unknown_files:
            raise ApiError(400, "unknown_parameter", f"unexpected file field {sorted(unknown_files)[0]!r}")
        v: schemas.VideoCreate = _validate(schemas.VideoCreate, fields)
        prompt, seconds, size = _prompt(v.prompt, s), _seconds(v.seconds, s), _size(v.size, svc)
        upload = None
        if "input_reference" in files:
            upload = inspect_image(files["input_reference"].data, s)
            if upload.size != parse_size(size):
                raise ApiError(400, "input_reference_size_mismatch",
                               f"input_reference is {upload.size[0]}x{upload.size[1]}, the video is {size}",
                               "input_reference")
        sources = list(v.video_ids or [])
        mode = v.mode or ("image" if upload is not None else ("extend" if sources else "text"))
        if mode in SOURCE_MODES and not sources:
            raise ApiError(400, "missing_source_video", f"mode {mode!r} needs video_ids", "video_ids")
        if mode not in SOURCE_MODES and sources:
            raise ApiError(400, "invalid_mode", f"mode {mode!r} takes no video_ids", "mode")
        if mode == "image" and upload is None:
            raise ApiError(400, "missing_input_reference", "mode 'image' needs an input_reference upload",
                           "input_reference")
        spec = base_spec(v, prompt, seconds, size, mode)

        def go() -> JSONResponse:
            for vid in sources:
                completed_source(p, vid)
            spec["source_video_ids"] = sources
            verdict = moderated(p, "create", prompt, mode, v, upload)
            return submit(p, request, prompt=prompt, seconds=seconds, size=size, spec=spec, upload=upload,
                          moderation=verdict)

        return await run_in_threadpool(go)

    @app.post("/v1/videos/extensions", response_model=schemas.Video, responses=ERRORS, tags=["videos"],
              openapi_extra=_body_doc(schemas.VideoExtend))
    async def extend_video(request: Request) -> JSONResponse:
        """Continue a completed video (OpenAI `videos.extend`, by reference)."""
        p = await run_in_threadpool(principal, request)
        fields, files = await _read_body(request, svc)
        if files:
            raise ApiError(400, "unsupported_video_upload", "reference a completed video by id", "video")
        v: schemas.VideoExtend = _validate(schemas.VideoExtend, fields)
        prompt, seconds = _prompt(v.prompt, s), _seconds(v.seconds, s)

        def go() -> JSONResponse:
            src = completed_source(p, v.video.id)
            total = int(src["seconds"]) + seconds
            if total > s.max_seconds:
                raise ApiError(400, "invalid_seconds", f"the extended video would be {total}s; the limit is "
                               f"{s.max_seconds}s", "seconds")
            spec = base_spec(v, prompt, seconds, src["size"], "extend")
            spec["fps"] = json.loads(src["spec"])["fps"]
            spec["source_video_ids"] = [v.video.id]
            verdict = moderated(p, "extend", prompt, "extend", v)
            return submit(p, request, prompt=prompt, seconds=total, size=src["size"], spec=spec, moderation=verdict)

        return await run_in_threadpool(go)

    @app.post("/v1/videos/edits", response_model=schemas.Video, responses=ERRORS, tags=["videos"],
              openapi_extra=_body_doc(schemas.VideoEdit))
    async def edit_video(request: Request) -> JSONResponse:
        """Re-render a completed video under a new prompt (OpenAI `videos.edit`, by reference)."""
        p = await run_in_threadpool(principal, request)
        fields, files = await _read_body(request, svc)
        if files:
            raise ApiError(400, "unsupported_video_upload", "reference a completed video by id", "video")
        v: schemas.VideoEdit = _validate(schemas.VideoEdit, fields)
        prompt = _prompt(v.prompt, s)

        def go() -> JSONResponse:
            src = completed_source(p, v.video.id)
            spec = base_spec(v, prompt, int(src["seconds"]), src["size"], "edit")
            spec["fps"] = json.loads(src["spec"])["fps"]
            spec["source_video_ids"] = [v.video.id]
            verdict = moderated(p, "edit", prompt, "edit", v)
            return submit(p, request, prompt=prompt, seconds=int(src["seconds"]), size=src["size"], spec=spec,
                          moderation=verdict)

        return await run_in_threadpool(go)

    @app.post("/v1/videos/{video_id}/remix", response_model=schemas.Video, responses=ERRORS, tags=["videos"],
              openapi_extra=_body_doc(schemas.VideoRemix))
    async def remix_video(video_id: str, request: Request) -> JSONResponse:
        """A new video from a completed one and a new prompt (OpenAI `videos.remix`)."""
        p = await run_in_threadpool(principal, request)
        fields, _ = await _read_body(request, svc)
        v: schemas.VideoRemix = _validate(schemas.VideoRemix, fields)
        prompt = _prompt(v.prompt, s)

        def go() -> JSONResponse:
            src = completed_source(p, video_id)
            src_spec = json.loads(src["spec"])
            spec = base_spec(v, prompt, int(src["seconds"]), src["size"], "remix")
            spec["fps"] = src_spec["fps"]
            if v.seed is None:
                spec["seed"] = src_spec["seed"]
            spec["source_video_ids"] = [video_id]
            spec["remix_of"] = video_id
            verdict = moderated(p, "remix", prompt, "remix", v)
            return submit(p, request, prompt=prompt, seconds=int(src["seconds"]), size=src["size"], spec=spec,
                          moderation=verdict, remixed_from=video_id)

        return await run_in_threadpool(go)

    # ---------------------------------------------------------------- read
    @app.get("/v1/videos/{video_id}", response_model=schemas.Video, responses=ERRORS, tags=["videos"])
    def retrieve_video(video_id: str, request: Request) -> JSONResponse:
        """The video object (OpenAI `videos.retrieve`); `openai-poll-after-ms` while it runs."""
        p = principal(request)
        return _video_response(svc, get_row(p, video_id))

    @app.get("/v1/videos", response_model=schemas.VideoList, responses=ERRORS, tags=["videos"])
    def list_videos(
        request: Request,
        after: str | None = Query(default=None, max_length=64),
        limit: int = Query(default=20, ge=1, le=100),
        order: str = Query(default="desc", pattern="^(asc|desc)$"),
    ) -> JSONResponse:
        """This key's videos, newest first by default; page with `after=<last_id>`."""
        p = principal(request)
        try:
            rows, more = store.list_videos(p.key_id, after=after, limit=limit, order=order)
        except NotFound:
            raise ApiError(404, "video_not_found", f"cursor {after!r} is not one of your videos", "after") from None
        data = [present(r) for r in rows]
        body = schemas.VideoList(data=[schemas.Video(**d) for d in data], first_id=data[0]["id"] if data else None,
                                 last_id=data[-1]["id"] if data else None, has_more=more)
        return JSONResponse(body.model_dump())

    @app.get("/v1/videos/{video_id}/content", responses={**ERRORS, 200: {"content": {
        "video/mp4": {}, "image/webp": {}, "image/jpeg": {}}}}, tags=["videos"], response_class=Response)
    def download_content(
        video_id: str, request: Request, variant: str = Query(default="video", pattern="^(video|thumbnail|spritesheet)$")
    ) -> Response:
        """The MP4 (or `thumbnail` WebP / `spritesheet` JPEG) of a completed video.

        Authenticate with the Authorization header, or `?key=` where a `<video src>` cannot set headers.
        """
        p = principal(request, allow_query_key=True)
        row = get_row(p, video_id)
        if row["status"] != "completed":
            raise ApiError(409, "video_not_ready", f"video {video_id} is {row['status']}", "video_id")
        if row["expired"]:
            raise ApiError(404, "video_expired", f"video {video_id} expired and its files were removed", "video_id")
        col, media = {"video": ("output_path", "video/mp4"), "thumbnail": ("thumbnail_path", "image/webp"),
                      "spritesheet": ("spritesheet_path", "image/jpeg")}[variant]
        path = Path(row[col]) if row[col] else None
        if path is None or not path.exists():
            raise ApiError(404, "content_not_found", f"no {variant} for video {video_id}", "variant")
        headers = {}
        if variant == "video":
            if path.stat().st_size != row["bytes"]:
                log.error("video %s: stored file size differs from its record", video_id)
                return JSONResponse(schemas.error_json(500, "video_corrupt", "the stored video is damaged"), 500)
            headers["x-cinegen-sha256"] = row["sha256"]
        return FileResponse(path, media_type=media, headers=headers,
                            filename=f"{video_id}.{path.suffix.lstrip('.')}")

    # ---------------------------------------------------------------- delete / cancel
    @app.delete("/v1/videos/{video_id}", response_model=schemas.VideoDeleted, responses=ERRORS, tags=["videos"])
    def delete_video(video_id: str, request: Request) -> JSONResponse:
        """Delete a video and its files (a running job is cancelled first)."""
        p = principal(request)
        try:
            files = store.delete(p.key_id, video_id)
        except NotFound:
            raise ApiError(404, "video_not_found", f"no video {video_id!r}", "video_id") from None
        for f in files:
            f.unlink(missing_ok=True)
        return JSONResponse(schemas.VideoDeleted(id=video_id).model_dump())

    @app.post("/v1/videos/{video_id}/cancel", response_model=schemas.Video, responses=ERRORS, tags=["videos"])
    def cancel_video(video_id: str, request: Request) -> JSONResponse:
        """Cancel a queued or running job: it ends `failed` with `error.code = "cancelled"`."""
        p = principal(request)
        try:
            row = store.cancel(p.key_id, video_id)
        except NotFound:
            raise ApiError(404, "video_not_found", f"no video {video_id!r}", "video_id") from None
        except Conflict as e:
            raise ApiError(409, e.code, e.message, "video_id") from None
        return _video_response(svc, row)

    # ---------------------------------------------------------------- live progress
    @app.get("/v1/videos/{video_id}/events", tags=["videos"], responses={**ERRORS, 200: {"content": {
        "text/event-stream": {}}}}, response_class=Response)
    async def video_events(video_id: str, request: Request) -> StreamingResponse:
        """Server-sent events: `video.progress` on each change, then `video.completed` or `video.failed`.

        Authenticate with the Authorization header, or `?key=` where a browser EventSource cannot
        set headers.
        """
        p = await run_in_threadpool(lambda: principal(request, allow_query_key=True))
        first = await run_in_threadpool(get_row, p, video_id)

        async def stream() -> AsyncIterator[bytes]:
            row, last, beat = first, None, time.monotonic()
            deadline = time.monotonic() + 6 * 3600
            while time.monotonic() < deadline:
                state = (row["status"], row["progress"])
                if state != last:
                    last = state
                    kind = f"video.{row['status']}" if row["status"] in ("completed", "failed") else "video.progress"
                    yield f"event: {kind}\ndata: {json.dumps(present(row))}\n\n".encode()
                    if row["status"] in ("completed", "failed"):
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

    # ---------------------------------------------------------------- operations
    @app.get("/healthz", tags=["ops"])
    def healthz() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["ops"], responses={503: _ERR})
    def readyz() -> JSONResponse:
        """The store answers and (when this node runs workers) a worker has loaded its backend."""
        try:
            store.counts()
        except Exception as e:
            return JSONResponse(schemas.error_json(503, "store_unavailable", str(e)), 503)
        if not svc.gate.ready():
            return JSONResponse(schemas.error_json(503, "moderation_not_ready", "the moderation policy is loading"),
                                503)
        if svc.dispatcher is not None and not svc.dispatcher.ready():
            return JSONResponse(schemas.error_json(503, "workers_not_ready", "no worker has loaded its backend"), 503)
        return JSONResponse({"status": "ready"})

    @app.get("/metrics", tags=["ops"], response_class=PlainTextResponse)
    def metrics() -> PlainTextResponse:
        """Prometheus text format."""
        ready = svc.dispatcher.ready() if svc.dispatcher is not None else True
        text = svc.metrics.render(store.counts(), ready)
        return PlainTextResponse(text, media_type="text/plain; version=0.0.4")


def serve(settings: Settings) -> None:
    """Run the service with uvicorn until interrupted."""
    import uvicorn

    app = create_app(settings)
    config = uvicorn.Config(app, host=settings.host, port=settings.port, log_level="info", access_log=False)
    with contextlib.suppress(KeyboardInterrupt):
        uvicorn.Server(config).run()
