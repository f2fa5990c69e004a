"""Service subcommands: `cinegen serve` and `cinegen keys create|revoke|list`."""

from __future__ import annotations

import argparse
import json
import logging
import os
from typing import Any

from cinegen.service.settings import Settings


def register(sub: argparse._SubParsersAction[Any]) -> None:
    p = sub.add_parser("serve", help="run the video job service (OpenAI-compatible Videos API)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--data-dir", help="all service state lives here (default: $CINEGEN_HOME or a per-user dir)")
    p.add_argument("--executor", choices=("local", "ray"), help="where workers run (default local processes)")
    p.add_argument("--workers", type=int, help="worker processes / Ray actors, one per device (default 1)")
    p.add_argument("--backend", help="generation backend: pipeline (the model; default) or fake (a fast stand-in)")
    p.add_argument("--backend-option", action="append", default=None, metavar="KEY=VALUE",
                   help="passed to the backend's constructor (JSON values, else strings); repeatable")
    p.add_argument("--ray-address", help="join this Ray cluster (default: start a local one)")
    p.add_argument("--gpus-per-worker", type=float, help="GPUs each Ray actor requests")
    p.add_argument("--publish", choices=("trust", "plain"),
                   help="trust: watermark + C2PA-sign every video (the default); plain: unsigned H.264, an opt-out")
    p.add_argument("--moderation-policy", metavar="YAML",
                   help="the content policy every request is checked against (default: the packaged policy.yaml)")
    p.add_argument("--no-moderation", action="store_true",
                   help="turn moderation off (explicit opt-out; prompts are then not checked at all)")
    p.add_argument("--no-auth", action="store_true", help="single-user mode: no API keys needed")
    p.add_argument("--webhook-allow-host", action="append", default=None,
                   help="a host (or host:port) webhooks may be delivered to; repeatable")
    p.set_defaults(func=_serve)

    k = sub.add_parser("keys", help="create, revoke and list API keys")
    ks = k.add_subparsers(dest="keys_command", metavar="ACTION")
    ks.required = True
    c = ks.add_parser("create", help="create a key; the key itself is printed alone on the last line")
    c.add_argument("name")
    c.add_argument("--data-dir")
    c.add_argument("--max-concurrent-jobs", type=int)
    c.add_argument("--seconds-per-day", type=int)
    c.add_argument("--requests-per-minute", type=int)
    c.add_argument("--webhook-url", help="deliver video.completed / video.failed events here")
    c.set_defaults(func=_keys_create)
    r = ks.add_parser("revoke", help="revoke a key by name or id")
    r.add_argument("name")
    r.add_argument("--data-dir")
    r.set_defaults(func=_keys_revoke)
    li = ks.add_parser("list", help="list keys (never the keys themselves)")
    li.add_argument("--data-dir")
    li.set_defaults(func=_keys_list)


def _settings(args: argparse.Namespace, **extra: Any) -> Settings:
    return Settings.from_env(getattr(args, "data_dir", None), **extra)


def _store(args: argparse.Namespace) -> Any:
    from cinegen.service.jobs import JobStore

    s = _settings(args)
    return JobStore(s.db_path)


def _serve(args: argparse.Namespace) -> int:
    from cinegen.service.app import serve

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    allow = tuple(args.webhook_allow_host) if args.webhook_allow_host else None
    options = None
    if args.backend_option:
        options = dict(_settings(args).backend_options)
        for item in args.backend_option:
            k, sep, v = item.partition("=")
            if not sep or not k:
                raise ValueError(f"--backend-option must be KEY=VALUE, got {item!r}")
            try:
                options[k] = json.loads(v)
            except json.JSONDecodeError:
                options[k] = v
    # `cinegen serve` serves the shipped model unless told otherwise (flag or CINEGEN_BACKEND)
    backend = args.backend or (None if os.environ.get("CINEGEN_BACKEND") else "pipeline")
    s = _settings(args, host=args.host, port=args.port, executor=args.executor, workers=args.workers,
                  backend=backend, ray_address=args.ray_address, gpus_per_worker=args.gpus_per_worker,
                  auth=False if args.no_auth else None, webhook_allow_hosts=allow, publish=args.publish,
                  backend_options=options, moderation=False if args.no_moderation else None,
                  moderation_policy=args.moderation_policy)
    moderation = f"policy={s.moderation_policy or 'packaged'}" if s.moderation else "OFF"
    print(f"cinegen serve: http://{s.host}:{s.port}/v1  data={s.data_dir}  executor={s.executor}  "
          f"workers={s.workers}  backend={s.backend}  publish={s.publish}  moderation: {moderation}", flush=True)
    print(f"studio: http://{s.host}:{s.port}/studio/", flush=True)
    serve(s)
    return 0


def _keys_create(args: argparse.Namespace) -> int:
    from cinegen.service.auth import create_key

    store = _store(args)
    kid, key, secret = create_key(
        store, args.name, max_concurrent_jobs=args.max_concurrent_jobs, seconds_per_day=args.seconds_per_day,
        requests_per_minute=args.requests_per_minute, webhook_url=args.webhook_url,
    )
    print(f"created key {args.name!r} ({kid}); store it now, it is not shown again")
    if secret:
        print(f"webhook secret: {secret}")
    print(key)
    return 0


def _keys_revoke(args: argparse.Namespace) -> int:
    from cinegen.cli import CliError

    if not _store(args).revoke_key(args.name):
        raise CliError(f"no active key named {args.name!r}")
    print(f"revoked {args.name}")
    return 0


def _keys_list(args: argparse.Namespace) -> int:
    for row in _store(args).list_keys():
        state = "revoked" if row["revoked_at"] else "active"
        print(f"{row['id']}  {row['name']:<20} {row['prefix']}…  {state}"
              + (f"  webhook={row['webhook_url']}" if row["webhook_url"] else ""))
    return 0
