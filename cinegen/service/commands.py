"""Service subcommands: `cinegen keys create|update|revoke|list` (`cinegen serve` is `cinegen.server`)."""

from __future__ import annotations

import argparse
from typing import Any

from cinegen.service.settings import Settings


def register(sub: argparse._SubParsersAction[Any]) -> None:
    k = sub.add_parser("keys", help="create, revoke and list API keys")
    ks = k.add_subparsers(dest="keys_command", metavar="ACTION")
    ks.required = True
    c = ks.add_parser("create", help="create a key; the key itself is printed alone on the last line")
    c.add_argument("name")
    c.add_argument("--data-dir")
    c.add_argument("--max-concurrent-jobs", type=int)
    c.add_argument("--seconds-per-day", type=int)
    c.add_argument("--requests-per-minute", type=int)
    c.add_argument("--webhook-url", help="deliver video.completed / video.failed events here (checked now, "
                   "with the delivery rules: http(s), a host on the allowlist, not an internal address)")
    c.add_argument("--webhook-allow-host", action="append", default=[],
                   help="add to the allowlist (CINEGEN_WEBHOOK_ALLOW_HOSTS) for this check; repeatable")
    c.set_defaults(func=_keys_create)
    u = ks.add_parser("update", help="change a key's webhook URL (checked as on create) or rotate its secret")
    u.add_argument("name")
    u.add_argument("--data-dir")
    target = u.add_mutually_exclusive_group(required=True)
    target.add_argument("--webhook-url", help="the new URL")
    target.add_argument("--no-webhook", action="store_true", help="remove the webhook (and its secret)")
    u.add_argument("--rotate-webhook-secret", action="store_true", help="issue a new secret (printed once)")
    u.add_argument("--webhook-allow-host", action="append", default=[])
    u.set_defaults(func=_keys_update)
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


def _keys_create(args: argparse.Namespace) -> int:
    from cinegen.service.auth import create_key

    store = _store(args)
    kid, key, secret = create_key(
        store, args.name, max_concurrent_jobs=args.max_concurrent_jobs, seconds_per_day=args.seconds_per_day,
        requests_per_minute=args.requests_per_minute, webhook_url=args.webhook_url,
        allow_hosts=_allow_hosts(args),
    )
    print(f"created key {args.name!r} ({kid}); store it now, it is not shown again")
    if secret:
        print(f"webhook secret: {secret}")
    print(key)
    return 0


def _allow_hosts(args: argparse.Namespace) -> tuple[str, ...]:
    return _settings(args).webhook_allow_hosts + tuple(args.webhook_allow_host)


def _keys_update(args: argparse.Namespace) -> int:
    from cinegen.service.auth import update_webhook

    secret = update_webhook(_store(args), args.name, None if args.no_webhook else args.webhook_url,
                            rotate_secret=args.rotate_webhook_secret, allow_hosts=_allow_hosts(args))
    print(f"updated key {args.name!r}: webhook " + (args.webhook_url if not args.no_webhook else "removed"))
    if secret:
        print(f"webhook secret: {secret}")
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
