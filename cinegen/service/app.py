"""The service's FastAPI app: the job store, the background parts, and the routers.

`create_app(settings)` builds the app; its lifespan opens the job store, recovers jobs a previous
run left behind, and starts the dispatcher (workers), the webhook deliverer and the janitor (lease
expiry, retention, orphan files). The routes live in routers: `/v1/videos` (`videos.py`) and the
operations endpoints below. The studio is not part of the service: `cinegen serve`
(`cinegen.server`) mounts it beside the API.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from cinegen.private import private_dir, secure_tree
from cinegen.service import characters, model_routes, videos
from cinegen.service.backends import backend_class, backend_sizes
from cinegen.service.errors import error_response, install_handlers
from cinegen.service.jobs import JobStore
from cinegen.service.metrics import Metrics
from cinegen.service.moderation import ModerationGate
from cinegen.service.quotas import RateLimiter
from cinegen.service.served_models import ServedModel, catalogue, check_model_settings
from cinegen.service.settings import LARGE_SIZES, Settings
from cinegen.service.webhooks import WebhookDeliverer
from cinegen.service.workers import Dispatcher

log = logging.getLogger(__name__)


@dataclass
class Service:
    """What the routes share: the one settings object, the store and the background parts."""

    settings: Settings
    store: JobStore
    metrics: Metrics
    limiter: RateLimiter
    sizes: tuple[str, ...]  # every size some served model renders
    gate: ModerationGate
    models: dict[str, ServedModel]  # the default first
    dispatcher: Dispatcher | None = None
    deliverer: WebhookDeliverer | None = None


# ----------------------------------------------------------------------------- app factory
def create_app(settings: Settings, *, start_workers: bool = True) -> FastAPI:
    """The service's FastAPI app. `start_workers=False` serves the API only (another node works)."""
    for d in (settings.data_dir, settings.videos_dir, settings.inputs_dir):
        private_dir(d)
    secure_tree(settings.data_dir, skip=("ray",))  # a store an older version made readable is closed too
    if start_workers:
        try:
            backend_class(settings.backend)  # fail at start, not in every worker, if it cannot load
        except ImportError as e:
            raise ValueError(f"backend {settings.backend!r} is not available: {e}") from e
    sizes = offered_sizes(settings.sizes, backend_sizes(settings.backend))
    if not sizes:
        raise ValueError(f"backend {settings.backend!r} serves none of the configured sizes {settings.sizes}")
    models = catalogue(settings, sizes)
    check_model_settings(settings, models, libraries=start_workers)
    sizes = tuple(dict.fromkeys(s for m in models.values() for s in m.sizes))
    if settings.default_size not in sizes:
        settings = settings.replace(sizes=sizes, default_size=sizes[0])
    metrics = Metrics()
    store = JobStore(settings.db_path, max_attempts=settings.max_attempts,
                     lease_seconds=settings.lease_seconds)
    if start_workers and settings.publish == "trust":
        check_signer(settings)  # a bad certificate (or a missing c2pa) fails the start, not every job
    gate = ModerationGate(settings)  # loads the policy now: a bad policy file fails the start, naming the key
    svc = Service(settings, store, metrics, RateLimiter(), sizes, gate, models)

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
        description="OpenAI-compatible Videos API for cinegen, with cancel, modes, idempotency and SSE "
        "progress.",
        lifespan=lifespan,
    )
    app.state.service = svc
    install_handlers(app, metrics)
    app.include_router(characters.router)  # before videos: /v1/videos/characters is not a video id
    app.include_router(videos.router)
    app.include_router(model_routes.router)
    app.include_router(ops)
    return app


def check_signer(settings: Settings) -> None:
    """Resolve the signing identity the workers will use (creating the development CA under
    `<data dir>/trust` on first start, before any worker could race to make it)."""
    try:
        from cinegen.trust.publish import TrustSettings

        ts = TrustSettings.for_data_dir(settings.data_dir)
    except ImportError as e:
        raise ValueError(f"publish 'trust' needs the trust layer (c2pa): {e}; "
                         "--publish plain opts out") from e
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


# ----------------------------------------------------------------------------- operations
ops = APIRouter(tags=["ops"])


@ops.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@ops.get("/readyz", responses={503: {"model": videos.schemas.ErrorResponse}})
def readyz(request: Request) -> JSONResponse:
    """The store answers and (when this node runs workers) a worker has loaded its backend."""
    svc: Service = request.app.state.service
    try:
        svc.store.counts()
    except Exception as e:
        return error_response(503, "store_unavailable", str(e))
    if not svc.gate.ready():
        return error_response(503, "moderation_not_ready", "the moderation policy is loading")
    if svc.dispatcher is not None and not svc.dispatcher.ready():
        return error_response(503, "workers_not_ready", "no worker has loaded its backend")
    return JSONResponse({"status": "ready"})


@ops.get("/metrics", response_class=PlainTextResponse)
def metrics(request: Request) -> PlainTextResponse:
    """Prometheus text format."""
    svc: Service = request.app.state.service
    ready = svc.dispatcher.ready() if svc.dispatcher is not None else True
    text = svc.metrics.render(svc.store.counts(), ready)
    return PlainTextResponse(text, media_type="text/plain; version=0.0.4")


def serve(app: FastAPI, settings: Settings) -> None:
    """Run `app` with uvicorn until interrupted."""
    import uvicorn

    config = uvicorn.Config(app, host=settings.host, port=settings.port, log_level="info", access_log=False)
    with contextlib.suppress(KeyboardInterrupt):
        uvicorn.Server(config).run()
