"""Trust subcommands: `cinegen verify`, `cinegen consent ...`, `cinegen data report`, `cinegen moderate`.

Exit codes of `cinegen verify`: 0 credentials present and valid; 1 credentials present but
invalid (tampered file, broken signature); 3 no credentials; 2 not a readable video or a bad
argument (trust anchor file, ...).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cinegen import paths
from cinegen.trust.consent import USES, ConsentRegistry
from cinegen.trust.licences import LicenceError, load_ledger

if TYPE_CHECKING:  # verification imports c2pa, PyAV and numpy: only `cinegen verify` pays for them
    from cinegen.trust.publish import VerifyReport


def register(sub: argparse._SubParsersAction[Any]) -> None:
    # verify
    p = sub.add_parser("verify", help="check a video's content credentials (C2PA) and watermark")
    p.add_argument("file", type=Path)
    p.add_argument("--trust-anchor", type=Path, action="append", default=[],
                   help="PEM CA certificate(s) whose signers count as trusted (repeatable; "
                        "default: $CINEGEN_TRUST_ANCHORS, separated by os.pathsep)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_verify)

    # consent
    c = sub.add_parser("consent", help="the likeness consent registry")
    c.add_argument("--data-dir", type=paths.data_dir, default=None,
                   help="default: $CINEGEN_HOME or a per-user dir")
    cs = c.add_subparsers(dest="consent_command", metavar="ACTION")
    cs.required = True
    r = cs.add_parser("register", help="register a performer")
    r.add_argument("name")
    r.add_argument("--alias", action="append", default=[])
    r.set_defaults(func=cmd_consent_register)
    g = cs.add_parser("grant", help="record a performer's consent for specific uses and projects")
    g.add_argument("name")
    g.add_argument("--use", action="append", required=True, choices=USES)
    g.add_argument("--project", action="append", required=True)
    g.add_argument("--expires", required=True, help="YYYY-MM-DD (UTC)")
    g.add_argument("--note", default="")
    g.set_defaults(func=cmd_consent_grant)
    v = cs.add_parser("revoke", help="revoke a consent grant (stops new jobs at once)")
    v.add_argument("grant_id")
    v.set_defaults(func=cmd_consent_revoke)
    ls = cs.add_parser("list", help="performers and their grants")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=cmd_consent_list)

    # data report
    d = sub.add_parser("data", help="training-data licences and usage")
    ds = d.add_subparsers(dest="data_command", metavar="ACTION")
    ds.required = True
    rep = ds.add_parser("report", help="samples learned from, per licensor, for a checkpoint or ledger")
    rep.add_argument("path", type=Path,
                     help="a checkpoint (.pt/.safetensors), model directory or ledger .json")
    rep.add_argument("--json", action="store_true")
    rep.set_defaults(func=cmd_data_report)

    # moderate (a dry run of the policy step)
    m = sub.add_parser("moderate", help="check a prompt against the moderation policy (dry run)")
    m.add_argument("prompt")
    m.add_argument("--policy", type=Path, default=None)
    m.add_argument("--data-dir", type=paths.data_dir, default=None,
                   help="default: $CINEGEN_HOME or a per-user dir")
    m.add_argument("--consent", default=None, help="a consent grant id the request carries")
    m.add_argument("--project", default=None)
    m.add_argument("--use", default="text-to-video", choices=USES)
    m.add_argument("--terms-only", action="store_true", help="skip the text encoder (faster, lower recall)")
    m.set_defaults(func=cmd_moderate)


# ----------------------------------------------------------------------------- verify
def cmd_verify(args: argparse.Namespace) -> int:
    from cinegen.media import MediaError
    from cinegen.trust.credentials import CredentialError
    from cinegen.trust.publish import EXIT_ERROR, verify_video

    try:
        anchors = tuple(args.trust_anchor) or tuple(
            Path(p) for p in os.environ.get("CINEGEN_TRUST_ANCHORS", "").split(os.pathsep) if p
        )
        report = verify_video(args.file, trust_anchors=anchors)
    except (CredentialError, MediaError) as e:
        if args.json:
            print(json.dumps({"file": str(args.file), "error": str(e), "exit_code": EXIT_ERROR}))
        else:
            print(f"cinegen verify: error: {e}", file=sys.stderr)
        return EXIT_ERROR
    if args.json:
        print(json.dumps(report.to_dict(), default=str))
    else:
        print(_verify_text(report))
    return report.exit_code


def _verify_text(r: VerifyReport) -> str:
    c = r.c2pa
    lines = [f"{r.path}"]
    if not c.present:
        lines.append("content credentials: none (no C2PA manifest; stripped or never signed)")
    elif not c.valid:
        lines.append("content credentials: INVALID (the file was changed after signing, or the signature is "
                     "broken)")
        lines += [f"  - {e}" for e in c.errors]
    else:
        lines.append("content credentials: valid")
    if c.present:
        lines.append(f"  signed by: {c.signer} (issuer {c.issuer})")
        lines.append("  trusted:   "
                     f"{'yes' if c.trusted else 'no (no trust anchor given, '}"
                     f"{'' if c.trusted else 'or the signer does not chain to one)'}")
        cl = c.claims
        for a in cl.get("actions", []) or []:
            lines.append(f"  action:    {a.get('action')} "
                         f"({(a.get('digitalSourceType') or '').rsplit('/', 1)[-1]})")
        if cl.get("model"):
            lines.append(f"  model:     {cl['model'].get('name')} {cl['model'].get('version')}, mode "
                         f"{cl.get('mode')}")
        if cl.get("ingredients"):
            lines.append(f"  inputs:    {', '.join(map(str, cl['ingredients']))}")
        td = cl.get("training_data") or {}
        if td:
            lines.append(f"  training data: {td.get('total_samples', '?')} samples from "
                         f"{', '.join(td.get('sources', {}))}")
    w = r.watermark
    if w is None:
        lines.append(f"watermark: not checked ({r.watermark_error})")
    else:
        acc = "" if w.bit_accuracy is None else f", bit accuracy vs manifest {w.bit_accuracy:.3f}"
        pay = "" if w.payload is None else f", payload {w.payload:08x} (CRC {'ok' if w.crc_ok else 'fails'})"
        lines.append(f"watermark: {'detected' if w.detected else 'not detected'} (score {w.score:.1f}, "
                     f"threshold {w.threshold}){pay}{acc}")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- consent
def _registry(args: argparse.Namespace) -> ConsentRegistry:
    return ConsentRegistry.in_data_dir(paths.data_dir(args.data_dir))


def cmd_consent_register(args: argparse.Namespace) -> int:
    p = _registry(args).register(args.name, tuple(args.alias))
    print(f"registered {p.name}" + (f" (aliases: {', '.join(p.aliases)})" if p.aliases else ""))
    return 0


def cmd_consent_grant(args: argparse.Namespace) -> int:
    try:
        day = dt.datetime.strptime(args.expires, "%Y-%m-%d").replace(tzinfo=dt.UTC)
    except ValueError as e:
        raise ValueError(f"--expires must be YYYY-MM-DD, got {args.expires!r}") from e
    g = _registry(args).grant(args.name, uses=tuple(args.use), projects=tuple(args.project),
                              expires_at=(day + dt.timedelta(days=1)).timestamp(), note=args.note)
    print(g.grant_id)
    print(f"consent from {g.performer} for {', '.join(g.uses)} on {', '.join(g.projects)} until "
          f"{args.expires}",
          file=sys.stderr)
    return 0


def cmd_consent_revoke(args: argparse.Namespace) -> int:
    g = _registry(args).revoke(args.grant_id)
    print(f"revoked {g.grant_id} ({g.performer}); new jobs that rely on it are refused from now on")
    return 0


def cmd_consent_list(args: argparse.Namespace) -> int:
    reg = _registry(args)
    out: list[dict[str, Any]] = []
    for p in reg.performers():
        grants = [
            {"grant_id": g.grant_id, "uses": list(g.uses), "projects": list(g.projects),
             "expires": dt.datetime.fromtimestamp(g.expires_at, dt.UTC).strftime("%Y-%m-%d"),
             "revoked": g.revoked_at is not None}
            for g in reg.grants(p.name)
        ]
        out.append({"name": p.name, "aliases": list(p.aliases), "grants": grants})
    if args.json:
        print(json.dumps(out))
        return 0
    if not out:
        print("no performers registered")
    for p_ in out:
        print(p_["name"] + (f" (aliases: {', '.join(p_['aliases'])})" if p_["aliases"] else ""))
        for g_ in p_["grants"]:
            state = "REVOKED" if g_["revoked"] else f"until {g_['expires']}"
            print(f"  {g_['grant_id']}  {','.join(g_['uses'])}  projects {','.join(g_['projects'])}  {state}")
    return 0


# ----------------------------------------------------------------------------- data report
def cmd_data_report(args: argparse.Namespace) -> int:
    try:
        ledger = load_ledger(args.path)
    except LicenceError as e:
        print(f"cinegen data report: error: {e}", file=sys.stderr)
        return 2
    rows = ledger.by_licensor()
    if args.json:
        print(json.dumps({"total_samples": ledger.total_samples, "licensors": rows}))
        return 0
    print(f"{args.path}: {ledger.total_samples} training samples from {len(ledger.counts)} source(s)")
    print(f"{'licensor':32s} {'samples':>10s} {'share':>7s}  licences / compensation / amount due")
    for name, r in sorted(rows.items(), key=lambda kv: -kv[1]["samples"]):
        due = ", ".join(f"{v:g} {k}" for k, v in r["amount_due"].items()) or "-"
        print(f"{name[:32]:32s} {r['samples']:10d} {r['share']:7.1%}  {', '.join(r['licences'])} / "
              f"{', '.join(r['compensation'])} / {due}")
        print(f"{'':32s} sources: {', '.join(r['sources'])}")
    return 0


# ----------------------------------------------------------------------------- moderate
def cmd_moderate(args: argparse.Namespace) -> int:
    import dataclasses

    from cinegen.trust.moderation import load_policy, moderate

    policy = load_policy(args.policy)
    if args.terms_only:
        policy = dataclasses.replace(policy, embedding=False, _cache={})
    reg = ConsentRegistry.in_data_dir(paths.data_dir(args.data_dir))
    grant = reg.get_grant(args.consent) if args.consent else None
    if args.consent and grant is None:
        raise ValueError(f"no consent grant {args.consent!r} in {args.data_dir}")
    d = moderate(args.prompt, policy, consent=grant, registry=reg, use=args.use, project=args.project)
    print(json.dumps(d.to_dict()))
    return 0 if d.allowed else 1
