"""`cinegen serve`: the job service's API with the studio beside it, on one port.

The composition root of the web side: `build_app` takes the service's app (`create_app`: the
`/v1/videos` API, workers, webhooks) and mounts the studio (its page at `/studio/`, its
`/v1/storyboards` routes); `/` redirects a newcomer's browser to the studio. The service itself
knows nothing of the studio.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from typing import TYPE_CHECKING, Any

from cinegen.families.switch_flags import add_switch_flags
from cinegen.service.settings import DTYPES, Settings, parse_models

if TYPE_CHECKING:  # FastAPI is imported when an app is built, not for `cinegen --help`
    from fastapi import FastAPI


def build_app(settings: Settings, *, start_workers: bool = True) -> FastAPI:
    """The service's app with the studio mounted and `/` redirecting to it."""
    from fastapi.responses import RedirectResponse

    from cinegen import studio
    from cinegen.service.app import create_app

    app = create_app(settings, start_workers=start_workers)
    studio.mount(app)

    app.add_api_route("/", lambda: RedirectResponse("/studio/", status_code=307), include_in_schema=False)

    return app


def register(sub: argparse._SubParsersAction[Any]) -> None:
    p = sub.add_parser("serve", help="run the video job service (OpenAI-compatible Videos API)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--data-dir",
                   help="all service state lives here (default: $CINEGEN_HOME or a per-user dir)")
    p.add_argument("--executor", choices=("local", "ray"), help="where workers run (default local processes)")
    p.add_argument("--workers", type=int, help="worker processes / Ray actors, one per device (default 1)")
    p.add_argument("--backend",
                   help="generation backend: pipeline (the model; default) or fake (a fast stand-in)")
    p.add_argument("--backend-option", action="append", default=None, metavar="KEY=VALUE",
                   help="passed to the backend's constructor (JSON values, else strings); repeatable")
    p.add_argument("--model", action="append", default=None, metavar="NAME=PATH",
                   help="serve this model directory under NAME (repeatable: several models side by side; the "
                   "API's `model` field picks one, GET /v1/models lists them; the first is the default)")
    g = p.add_argument_group("the pipeline backend's device, dtype and open-family switches (as "
                             "`generate`'s; also CINEGEN_DEVICE, CINEGEN_DTYPE, CINEGEN_OFFLOAD, "
                             "CINEGEN_VAE_TILING, CINEGEN_VAE_SLICING, CINEGEN_CACHE, CINEGEN_COMPILE, "
                             "CINEGEN_LORAS, CINEGEN_QUANTIZE, CINEGEN_FP8_STORAGE)")
    g.add_argument("--device", help="where workers load models (default: cpu)")
    g.add_argument("--dtype", choices=DTYPES, help="auto: bfloat16 on a GPU that has it, else float32")
    add_switch_flags(g)
    p.add_argument("--ray-address", help="join this Ray cluster (default: start a local one)")
    p.add_argument("--gpus-per-worker", type=float, help="GPUs each Ray actor requests")
    p.add_argument("--publish", choices=("trust", "plain"),
                   help="trust: watermark + C2PA-sign every video (the default); plain: unsigned H.264, an "
                   "opt-out")
    p.add_argument("--moderation-policy", metavar="YAML",
                   help="the content policy every request is checked against (default: the packaged "
                   "policy.yaml)")
    p.add_argument("--no-moderation", action="store_true",
                   help="turn moderation off (explicit opt-out; prompts are then not checked at all)")
    p.add_argument("--no-auth", action="store_true", help="single-user mode: no API keys needed")
    p.add_argument("--webhook-allow-host", action="append", default=None,
                   help="a host (or host:port) webhooks may be delivered to; repeatable")
    p.set_defaults(func=run)


def _model_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The device, dtype and switch flags as settings overrides (None: not given, the environment's)."""
    return {"device": args.device, "dtype": args.dtype, "offload": args.offload, "cache": args.cache,
            "quantize": args.quantize, "vae_tiling": args.vae_tiling or None,
            "vae_slicing": args.vae_slicing or None, "compile": args.compile or None,
            "loras": tuple(args.lora) or None, "fp8_storage": args.fp8_storage or None}


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    allow = tuple(args.webhook_allow_host) if args.webhook_allow_host else None
    options = None
    if args.backend_option:
        options = dict(Settings.from_env(args.data_dir).backend_options)
        for item in args.backend_option:
            k, sep, v = item.partition("=")
            if not sep or not k:
                raise ValueError(f"--backend-option must be KEY=VALUE, got {item!r}")
            try:
                options[k] = json.loads(v)
            except json.JSONDecodeError:
                options[k] = v
    # `cinegen serve` serves the shipped model unless told otherwise (flag or CINEGEN_BACKEND)
    backend = args.backend or (None if os.environ.get("CINEGEN_BACKEND") and not args.model else "pipeline")
    models = parse_models(args.model) if args.model else None
    s = Settings.from_env(args.data_dir, host=args.host, port=args.port, executor=args.executor,
                          workers=args.workers,
                  backend=backend, ray_address=args.ray_address, gpus_per_worker=args.gpus_per_worker,
                  auth=False if args.no_auth else None, webhook_allow_hosts=allow, publish=args.publish,
                  backend_options=options, models=models, moderation=False if args.no_moderation else None,
                  moderation_policy=args.moderation_policy, **_model_settings(args))
    moderation = f"policy={s.moderation_policy or 'packaged'}" if s.moderation else "OFF"
    print(f"cinegen serve: http://{s.host}:{s.port}/v1  data={s.data_dir}  executor={s.executor}  "
          f"workers={s.workers}  backend={s.backend}  publish={s.publish}  moderation: {moderation}",
          flush=True)
    switches = s.switches()
    on = {"device": s.device, "dtype": s.dtype, **(switches.describe() if switches else {})}
    if any(v is not None for v in on.values()):
        print("model settings: " + "  ".join(f"{k}={v}" for k, v in on.items() if v is not None), flush=True)
    if s.models:
        print("models: " + ", ".join(f"{k}={v}" for k, v in s.models.items()), flush=True)
    print(f"studio: http://{s.host}:{s.port}/studio/", flush=True)
    from cinegen.service.app import serve

    serve(build_app(s), s)
    return 0
