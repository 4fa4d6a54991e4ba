"""``hcert``: run the service and administer it non-interactively.

Every command prints one line on failure and exits non-zero; credentials are
printed once, on stdout, and never logged.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from .settings import Settings

EXIT_OK = 0
EXIT_FAIL = 1
EXIT_USAGE = 2


def _settings(args: argparse.Namespace) -> Settings:
    return Settings().with_overrides(
        data_dir=Path(args.data_dir) if args.data_dir else None, store=args.store, redis_url=args.redis_url
    )


def _service(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from .service import IssuingService, data_path
    from .store import open_store

    settings = _settings(args)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = open_store(settings.store, path=str(data_path(settings)), url=settings.redis_url)
    return IssuingService(settings, store)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    settings = _settings(args)
    os.environ["HCERT_DATA_DIR"] = str(settings.data_dir)
    os.environ["HCERT_STORE"] = settings.store
    os.environ["HCERT_REDIS_URL"] = settings.redis_url
    os.environ.setdefault("HCERT_BASE_URL", f"http://{args.host}:{args.port}")
    service = _service(args)
    created = service.ensure_development_setup(now=_now())
    service.store.close()
    here = f"--data-dir {settings.data_dir} " if args.data_dir else ""
    print(f"hcert: serving on http://{args.host}:{args.port} (store: {settings.store}, data: {settings.data_dir})")
    if created:
        print(f"hcert: created development authority {created.code} ({created.name_zh}) with a new signing key")
    print(f"hcert: get an operator credential with:  hcert {here}operator create --authority 510321 --name clerk")
    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level="warning",
        access_log=False,
    )
    return EXIT_OK


def cmd_authority_create(args: argparse.Namespace) -> int:
    a = _service(args).create_authority(args.code, args.name_zh, args.name_en, actor="cli", now=_now())
    print(f"created authority {a.code} {a.name_zh} / {a.name_en}")
    return EXIT_OK


def cmd_authority_list(args: argparse.Namespace) -> int:
    for a in _service(args).store.list_authorities():
        print(f"{a.code}\t{a.name_zh}\t{a.name_en}")
    return EXIT_OK


def cmd_operator_create(args: argparse.Namespace) -> int:
    role = "national_admin" if args.national else args.role
    authority = None if args.national else args.authority
    if authority is None and not args.national:
        raise _Usage("give --authority CODE, or --national for a national admin")
    operator, token = _service(args).create_operator(authority, args.name, role, actor="cli", now=_now())
    print(token)
    print(
        f"operator {operator.id} ({role}) of {authority or 'the nation'}; the credential above is shown once",
        file=sys.stderr,
    )
    return EXIT_OK


def cmd_key_list(args: argparse.Namespace) -> int:
    service = _service(args)
    service._require_authority(args.authority)
    for r in service.ring(args.authority).records:
        print(f"{r.kid}\t{r.state}\tcreated {dt.datetime.fromtimestamp(r.created, dt.UTC).isoformat()}")
    return EXIT_OK


def cmd_key_rotate(args: argparse.Namespace) -> int:
    record = _service(args).rotate_key(args.authority, actor="cli", now=_now())
    print(f"new active key {record.kid} for {args.authority}")
    return EXIT_OK


def cmd_key_withdraw(args: argparse.Namespace) -> int:
    service = _service(args)
    service.withdraw_key(args.authority, args.kid, reason=args.reason, actor="cli", now=_now())
    affected, total = service.store.list_certificates(args.authority, kid=args.kid, limit=1_000_000)
    print(f"withdrew key {args.kid}; {total} certificates to re-issue:")
    for r in affected:
        print(f"{r.jti}\t{r.name}\t{r.masked_id[:6]}********{r.masked_id[6:]}\t{r.kind}")
    return EXIT_OK


def cmd_audit_verify(args: argparse.Namespace) -> int:
    from .audit import verify_chain

    report = verify_chain(_service(args).store.audit_entries())
    if report.ok:
        print(f"audit chain intact: {report.entries} entries")
        return EXIT_OK
    print(f"audit chain BROKEN at entry {report.broken_at}: {report.reason}", file=sys.stderr)
    return EXIT_FAIL


def cmd_openapi(args: argparse.Namespace) -> int:
    from .main import create_app

    text = json.dumps(create_app(Settings()).openapi(), ensure_ascii=False, indent=2, sort_keys=True) + "\n"
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return EXIT_OK


def cmd_jwks(args: argparse.Namespace) -> int:
    print(json.dumps(_service(args).jwks(now=_now()), indent=2))
    return EXIT_OK


class _Usage(Exception):
    pass


def build_parser() -> argparse.ArgumentParser:
    """Return the ``hcert`` argument parser."""
    p = argparse.ArgumentParser(prog="hcert", description="hcert issuing service: run it and administer it.")
    p.add_argument("--data-dir", help="data directory (default $HCERT_DATA_DIR or ./data)")
    p.add_argument("--store", choices=["sqlite", "redis"], help="store backend (default $HCERT_STORE or sqlite)")
    p.add_argument("--redis-url", help="Redis URL for --store redis (default $HCERT_REDIS_URL)")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("serve", help="run the HTTP service with uvicorn")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8000)
    s.add_argument("--workers", type=int, default=1)
    s.set_defaults(func=cmd_serve)

    a = sub.add_parser("authority", help="issuing authorities").add_subparsers(dest="sub", required=True)
    c = a.add_parser("create", help="register an authority and make its first key")
    c.add_argument("code", help="GB/T 2260 code, e.g. 510321")
    c.add_argument("--name-zh", required=True)
    c.add_argument("--name-en", required=True)
    c.set_defaults(func=cmd_authority_create)
    a.add_parser("list", help="list authorities").set_defaults(func=cmd_authority_list)

    o = sub.add_parser("operator", help="operators and credentials").add_subparsers(dest="sub", required=True)
    c = o.add_parser("create", help="create an operator and print its credential (once)")
    c.add_argument("--authority", help="authority code")
    c.add_argument("--name", required=True)
    c.add_argument("--role", choices=["operator", "authority_admin"], default="operator")
    c.add_argument("--national", action="store_true", help="a national admin (no authority)")
    c.set_defaults(func=cmd_operator_create)

    k = sub.add_parser("key", help="signing keys").add_subparsers(dest="sub", required=True)
    c = k.add_parser("list", help="list an authority's keys")
    c.add_argument("--authority", required=True)
    c.set_defaults(func=cmd_key_list)
    c = k.add_parser("rotate", help="make a new active key")
    c.add_argument("--authority", required=True)
    c.set_defaults(func=cmd_key_rotate)
    c = k.add_parser("withdraw", help="withdraw a compromised key and list the certificates to re-issue")
    c.add_argument("--authority", required=True)
    c.add_argument("kid")
    c.add_argument("--reason", required=True)
    c.set_defaults(func=cmd_key_withdraw)

    au = sub.add_parser("audit", help="the audit log").add_subparsers(dest="sub", required=True)
    au.add_parser("verify", help="check the hash chain").set_defaults(func=cmd_audit_verify)

    c = sub.add_parser("openapi", help="print or write the OpenAPI document")
    c.add_argument("--output", "-o")
    c.set_defaults(func=cmd_openapi)
    sub.add_parser("jwks", help="print the JWKS of every authority").set_defaults(func=cmd_jwks)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``hcert`` and return its exit code."""
    from .service import ServiceError
    from .store import StoreError

    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except _Usage as e:
        print(f"hcert: {e}", file=sys.stderr)
        return EXIT_USAGE
    except ServiceError as e:
        print(f"hcert: {e.code}: {e.message}", file=sys.stderr)
        return EXIT_FAIL
    except (StoreError, OSError) as e:
        print(f"hcert: {type(e).__name__}: {e}", file=sys.stderr)
        return EXIT_FAIL
    except Exception as e:  # redis.ConnectionError and the like: one line, no traceback
        print(f"hcert: {type(e).__name__}: {e}", file=sys.stderr)
        return EXIT_FAIL


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
