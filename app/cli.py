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
from typing import TYPE_CHECKING

from .settings import Settings, SettingsError

if TYPE_CHECKING:
    from .audit import ChainReport

EXIT_OK = 0
EXIT_FAIL = 1
EXIT_USAGE = 2


#: In the data directory: the public address ``hcert serve`` last served under (HCERT_BASE_URL).
BASE_URL_FILE = "base_url"


def _settings(args: argparse.Namespace) -> Settings:
    settings = Settings().with_overrides(
        data_dir=Path(args.data_dir) if args.data_dir else None, store=args.store, redis_url=args.redis_url
    )
    if "HCERT_BASE_URL" not in os.environ:
        # An admin command in another shell signs with the address the server announced, not a default
        # (a trust list naming another address would fail every device's sync).
        try:
            recorded = (settings.data_dir / BASE_URL_FILE).read_text("utf-8").strip()
        except OSError:
            recorded = ""
        if recorded:
            settings = settings.with_overrides(base_url=recorded)
    return settings


def _service(args: argparse.Namespace, *, create: bool = False):  # type: ignore[no-untyped-def]
    """Open the store of ``--data-dir``; only ``serve``, ``authority create`` and ``bundle --signers`` make a new one.

    Every other command refuses a data directory that does not exist: a mistyped
    ``--data-dir`` must not silently stand up an empty store.
    """
    from .service import IssuingService, data_path
    from .store import open_store

    settings = _settings(args)
    if not settings.data_dir.is_dir():
        if not create:
            raise _Usage(
                f"no data directory {settings.data_dir}: check --data-dir or $HCERT_DATA_DIR "
                "(`hcert serve`, `hcert authority create` or `hcert bundle --signers` makes a new one)"
            )
        print(f"hcert: new data directory {settings.data_dir}", file=sys.stderr)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = open_store(
        settings.store,
        path=str(data_path(settings)),
        url=settings.redis_url,
        wait_replicas=settings.redis_wait_replicas,
        wait_ms=settings.redis_wait_ms,
    )
    return IssuingService(settings, store)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _program(name: str = "hcert") -> str:
    """``name`` when that is this environment's program on PATH, else the path of this environment's one."""
    import shutil

    here = Path(sys.executable).parent / name
    found = shutil.which(name)
    if not here.exists() or (found is not None and Path(found).resolve() == here.resolve()):
        return name
    try:
        return str(here.relative_to(Path.cwd()))
    except ValueError:
        return str(here)


def _record_base_url(data_dir: Path, base_url: str) -> None:
    path = data_dir / BASE_URL_FILE
    try:
        if path.read_text("utf-8").strip() == base_url:
            return
    except OSError:
        pass
    tmp = path.with_name(f".{BASE_URL_FILE}.tmp")
    tmp.write_text(base_url + "\n", "utf-8")
    tmp.replace(path)


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    settings = _settings(args)
    os.environ["HCERT_DATA_DIR"] = str(settings.data_dir)
    os.environ["HCERT_STORE"] = settings.store
    os.environ["HCERT_REDIS_URL"] = settings.redis_url
    os.environ.setdefault("HCERT_BASE_URL", f"http://{args.host}:{args.port}")
    if args.dev:
        os.environ["HCERT_DEV"] = "1"
    _check_listen(args.host, args.port)
    service = _service(args, create=True)
    _record_base_url(service.settings.data_dir, service.settings.base_url)
    dev = service.settings.dev
    created = service.ensure_development_setup(now=_now()) if dev else None
    roots = None
    if created:
        from .trust import TrustNetwork

        roots = TrustNetwork(service).ensure_development_network(now=_now())
    empty = (
        not service.store.list_authorities() and not (service.settings.data_dir / "trust" / "trustlist.jwt").exists()
    )
    service.store.close()
    # The flags this server was started with, so that a command copied from here reaches the same store,
    # and the program by a path that works when the virtual environment is not on PATH.
    # A data folder chosen by HCERT_DATA_DIR is named too: the shell the command is pasted into may not have it.
    here = f"--data-dir {settings.data_dir} " if args.data_dir or os.environ.get("HCERT_DATA_DIR") else ""
    if args.store:
        here += f"--store {args.store} "
    if args.redis_url:  # never a password on the screen
        secret = "@" in args.redis_url or "password" in args.redis_url.lower()
        here += "--redis-url '<the Redis URL>' " if secret else f"--redis-url {args.redis_url} "
    prog = _program()
    mode = ", development mode" if dev else ""
    print(
        f"hcert: serving on http://{args.host}:{args.port} (store: {settings.store}, data: {settings.data_dir}{mode})"
    )
    if created:
        print(f"hcert: created development authority {created.code} ({created.name_zh}) with a new signing key")
    if dev:
        print(f"hcert: get an operator credential with:  {prog} {here}operator create --authority 510321 --name clerk")
    if roots:
        print(f"hcert: development national root made (production keeps it offline); devices pin {roots}:")
        print(f"hcert:   {_program('hcert-verify')} sync http://{args.host}:{args.port} --roots {roots}")
    if empty and not dev:
        print(
            f"hcert: the store is empty: register authorities with `{prog} {here}authority create` and publish a "
            f"signed trust list (docs/OPERATIONS.md, section 1, 'A production start'), or run `{prog} {here}serve "
            "--dev` for development material",
            file=sys.stderr,
        )
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


def _scope_text(service, authority) -> str:  # type: ignore[no-untyped-def]
    kinds, regions = service.scope_of(authority)
    return f"kinds {','.join(kinds)}; regions {','.join(regions)}"


def _csv_arg(value: str | None) -> list[str] | None:
    return [v.strip() for v in value.split(",") if v.strip()] if value is not None else None


def _check_listen(host: str, port: int) -> None:
    """Fail (``cannot_listen``) before announcing anything when the address cannot be bound."""
    import socket

    from .service import ServiceError

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family, kind, proto, _, address = infos[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
            probe.bind(address)
    except OSError as e:
        raise ServiceError("cannot_listen", f"cannot listen on {host}:{port}: {e.strerror or e}") from e


def cmd_authority_create(args: argparse.Namespace) -> int:
    service = _service(args, create=True)
    a = service.create_authority(
        args.code,
        args.name_zh,
        args.name_en,
        actor="cli",
        now=_now(),
        kinds=_csv_arg(args.kinds),
        regions=_csv_arg(args.regions),
    )
    print(f"created authority {a.code} {a.name_zh} / {a.name_en} ({_scope_text(service, a)})")
    return EXIT_OK


def cmd_authority_scope(args: argparse.Namespace) -> int:
    service = _service(args)
    if args.kinds is None and args.regions is None:
        a = service._require_authority(args.code)
    else:
        a = service.set_scope(
            args.code, kinds=_csv_arg(args.kinds), regions=_csv_arg(args.regions), actor="cli", now=_now()
        )
    print(f"authority {a.code}: {_scope_text(service, a)}")
    return EXIT_OK


def cmd_authority_list(args: argparse.Namespace) -> int:
    service = _service(args)
    for a in service.store.list_authorities():
        print(f"{a.code}\t{a.name_zh}\t{a.name_en}\t{_scope_text(service, a)}")
    return EXIT_OK


def cmd_operator_create(args: argparse.Namespace) -> int:
    role = "national_admin" if args.national else args.role
    authority = None if args.national else args.authority
    if authority is None and not args.national:
        raise _Usage("give --authority CODE, or --national for a national admin")
    operator, token = _service(args).create_operator(
        authority, args.name, role, actor="cli", now=_now(), expires_days=args.expires_days
    )
    print(token)
    print(
        f"operator {operator.id} ({role}) of {authority or 'the nation'}; the credential above is shown once",
        file=sys.stderr,
    )
    return EXIT_OK


def cmd_operator_list(args: argparse.Namespace) -> int:
    service = _service(args)
    if args.national == bool(args.authority):
        raise _Usage("give --authority CODE, or --national for the national admins")
    now = _now()
    for o in service.operators(None if args.national else args.authority):
        v = service.describe_operator(o, now=now)
        print(
            f"{v['id']}\t{v['role']}\t{v['state']}\t{v['name']}\tcreated {v['created']}"
            f"\texpires {v['expires'] or 'never'}\tlast used {v['last_used'] or 'never'}"
        )
    return EXIT_OK


def _set_disabled(args: argparse.Namespace, disabled: bool) -> int:
    _service(args).set_operator_disabled(args.id, disabled, actor="cli", now=_now())
    print(f"operator {args.id} {'disabled' if disabled else 're-enabled'}")
    return EXIT_OK


def cmd_operator_disable(args: argparse.Namespace) -> int:
    return _set_disabled(args, True)


def cmd_operator_enable(args: argparse.Namespace) -> int:
    return _set_disabled(args, False)


def cmd_operator_rotate(args: argparse.Namespace) -> int:
    operator, token = _service(args).rotate_credential(args.id, actor="cli", now=_now(), expires_days=args.expires_days)
    print(token)
    expires = dt.datetime.fromtimestamp(operator.expires or 0, dt.UTC).isoformat()
    print(
        f"operator {operator.id}: the credential above is shown once, valid until {expires}; the old one is void",
        file=sys.stderr,
    )
    return EXIT_OK


def _password_arg(args: argparse.Namespace) -> str | None:
    """The password from standard input (one line) with ``--password-stdin``; else ``None``: generated."""
    if not args.password_stdin:
        return None
    return sys.stdin.readline().rstrip("\r\n")


def cmd_account_create(args: argparse.Namespace) -> int:
    from .accounts import Accounts

    operator, password = Accounts(_service(args)).create(
        args.authority, args.username, args.role, password=_password_arg(args), actor="cli", now=_now()
    )
    if not args.password_stdin:
        print(password)
    print(
        f"account {operator.name} ({operator.id}, {args.role}) of {args.authority}: "
        "the password must be changed at first sign-in at /console",
        file=sys.stderr,
    )
    return EXIT_OK


def cmd_account_reset(args: argparse.Namespace) -> int:
    from .accounts import Accounts

    password = Accounts(_service(args)).reset_password(
        args.id, authority=None, password=_password_arg(args), actor="cli", now=_now()
    )
    if not args.password_stdin:
        print(password)
    print(f"operator {args.id}: password reset, to be changed at next sign-in; sessions ended", file=sys.stderr)
    return EXIT_OK


def cmd_operator_expire(args: argparse.Namespace) -> int:
    now = _now()
    if args.at:
        try:
            at = dt.datetime.fromisoformat(args.at)
        except ValueError as e:
            raise _Usage(f"--at {args.at!r} is not an ISO 8601 time") from e
        if at.tzinfo is None:
            raise _Usage("--at needs a time zone, e.g. 2026-12-31T18:00:00+08:00")
    else:
        at = now
    operator = _service(args).expire_credential(args.id, at=at, actor="cli", now=now)
    expires = dt.datetime.fromtimestamp(operator.expires or 0, dt.UTC).isoformat()
    print(f"operator {operator.id}: credential expires {expires}")
    return EXIT_OK


def cmd_key_list(args: argparse.Namespace) -> int:
    service = _service(args)
    service._require_authority(args.authority)

    def iso(ts: int) -> str:
        return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat()

    for r in service.ring(args.authority).records:
        line = f"{r.kid}\t{r.state}\tcreated {iso(r.created)}"
        if r.retired is not None:
            line += f"\tretired {iso(r.retired)}"
        if r.withdrawn is not None:
            line += f"\twithdrawn {iso(r.withdrawn)}"
        print(line)
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


def _chain_label(chain: str) -> str:
    from .store._base import SINGLE_CHAIN

    return "" if chain == SINGLE_CHAIN else f" of chain {chain}"


def _audit_broken(reports: list[ChainReport], *, suffix: str = "") -> str | None:
    """Return the one-line complaint about the first broken or unanchored chain, or ``None``."""
    for r in reports:
        if not r.report.ok:
            return f"audit chain BROKEN at entry {r.report.broken_at}{_chain_label(r.chain)}: {r.report.reason}{suffix}"
    return None


def cmd_audit_verify(args: argparse.Namespace) -> int:
    from .audit import AuditError, verify_store

    service = _service(args)
    try:
        reports = verify_store(service.store, service.audit_anchors)
    except AuditError as e:
        print(f"audit chain BROKEN: {e}", file=sys.stderr)
        return EXIT_FAIL
    broken = _audit_broken(reports)
    if broken is not None:
        print(broken, file=sys.stderr)
        return EXIT_FAIL
    for r in reports:
        if r.checkpoint is None and r.report.entries:
            print(
                f"audit chain BROKEN: no signed checkpoint ({service.audit_anchors.path(r.chain)}) for "
                f"{r.report.entries} entries{_chain_label(r.chain)}; a deleted tail would go unnoticed "
                "(`hcert audit checkpoint` anchors the present head)",
                file=sys.stderr,
            )
            return EXIT_FAIL
    total = sum(r.report.entries for r in reports)
    newer = sum(r.report.entries - r.report.anchored for r in reports)
    note = f"; the {newer} newest not yet anchored" if newer else ""
    if len(reports) <= 1:
        anchored = reports[0].report.anchored if reports else 0
        print(f"audit chain intact: {total} entries, anchored up to entry {anchored}{note}")
    else:
        print(f"audit chain intact: {total} entries in {len(reports)} chains, {total - newer} anchored{note}")
    return EXIT_OK


def cmd_audit_checkpoint(args: argparse.Namespace) -> int:
    from .audit import AuditError, verify_store

    service = _service(args)
    try:
        # Against the present checkpoints too: anchoring a cut or rewritten log would hide the damage.
        reports = verify_store(service.store, service.audit_anchors)
    except AuditError as e:
        print(f"audit chain BROKEN: {e}; no checkpoint written", file=sys.stderr)
        return EXIT_FAIL
    broken = _audit_broken(reports, suffix="; no checkpoint written")
    if broken is not None:
        print(broken, file=sys.stderr)
        return EXIT_FAIL
    if not any(r.report.entries for r in reports):
        print("the audit log is empty: nothing to anchor")
        return EXIT_OK
    for r in reports:
        seq, head = service.store.audit_head(r.chain)
        if seq == 0:
            continue
        anchor = service.audit_anchors.for_chain(r.chain)
        try:
            written = anchor.write(seq, head, at=int(_now().timestamp()))
        except AuditError as e:  # the log changed under us since the check
            print(f"audit chain BROKEN: {e}", file=sys.stderr)
            return EXIT_FAIL
        print(
            f"audit checkpoint {'written' if written else 'already'} at entry {seq}{_chain_label(r.chain)}"
            f" ({anchor.path})"
        )
    return EXIT_OK


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


def _root(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from keys import KeyRing

    root_dir = Path(args.root_dir) if args.root_dir else _settings(args).data_dir / "root"
    passphrase = os.environ.get("HCERT_ROOT_PASSPHRASE")
    # The root keeps its retired key during the overlap: it signs the hand-over trust list.
    return KeyRing(root_dir, passphrase=passphrase.encode() if passphrase else None, keep_retired=True)


def _write_roots(ring, now: dt.datetime) -> Path:  # type: ignore[no-untyped-def]
    from .trust import _jwk

    path = Path(ring.directory) / "roots.json"
    roots = [_jwk(r) for r in ring.published(now=int(now.timestamp())) if r.state != "withdrawn"]
    path.write_text(json.dumps({"roots": roots}, indent=2))
    return path


def cmd_root_init(args: argparse.Namespace) -> int:
    ring = _root(args)
    if ring.records:
        raise _Usage(f"{ring.directory} already holds a root; use `hcert root rotate`")
    key = ring.ensure(now=int(_now().timestamp()))
    print(f"national root {key.kid} created; devices pin {_write_roots(ring, _now())}")
    return EXIT_OK


def cmd_root_rotate(args: argparse.Namespace) -> int:
    ring = _root(args)
    old = ring.active().kid
    key = ring.rotate(now=int(_now().timestamp()), max_validity=args.overlap_days * 86400)
    path = _write_roots(ring, _now())
    print(f"new national root {key.kid}; old root {old} stays listed for {args.overlap_days} days ({path}).")
    print(f"next: hcert trust sign --sign-with {old}  (devices pinning the old root learn the new one)")
    return EXIT_OK


def cmd_province_export(args: argparse.Namespace) -> int:
    from .trust import export_submission

    sub = export_submission(_service(args), args.province, now=_now())
    text = json.dumps(sub, ensure_ascii=False, indent=2)
    Path(args.output).write_text(text, encoding="utf-8") if args.output else print(text)
    return EXIT_OK


def cmd_trust_sign(args: argparse.Namespace) -> int:
    from .trust import TrustNetwork, export_submission, sign_trust_list

    service = _service(args)
    network = TrustNetwork(service)
    subs = []
    for path in args.submission or []:
        try:
            subs.append(json.loads(Path(path).read_text("utf-8")))
        except (OSError, ValueError) as e:
            raise _Usage(f"cannot read submission {path}: {e}") from e
    if not args.no_local:
        local = {a.code[:2] for a in service.store.list_authorities()}
        local |= {p.name for p in (service.settings.key_root / "_rules").glob("*") if p.is_dir()}
        covered = {s["province"] for s in subs}
        subs += [export_submission(service, p, now=_now()) for p in sorted(local - covered)]
    if args.bundle_signers:
        try:
            signers = json.loads(Path(args.bundle_signers).read_text("utf-8"))["keys"]
        except (OSError, ValueError, KeyError) as e:
            raise _Usage(f"cannot read bundle signers {args.bundle_signers}: {e}") from e
    else:
        signers = network.bundle_signers(now=_now())
    token = sign_trust_list(
        _root(args), subs, signers, now=_now(), sign_with=args.sign_with, valid_days=args.valid_days
    )
    if args.output:
        Path(args.output).write_text(token + "\n", encoding="ascii")
    if args.publish:
        network.publish_trust_list(token)
    count = sum(len(s["authorities"]) for s in subs)
    print(
        f"trust list signed: {count} authorities from {len(subs)} provinces" + (" (published)" if args.publish else "")
    )
    return EXIT_OK


def cmd_trust_publish(args: argparse.Namespace) -> int:
    from hcert_verifier import BundleError, load_roots

    from .trust import TrustNetwork

    try:
        token = Path(args.file).read_text("ascii")
    except (OSError, UnicodeDecodeError) as e:
        raise _Usage(f"cannot read trust list {args.file}: {getattr(e, 'strerror', None) or e}") from e
    roots = None
    if args.roots:
        try:
            roots = load_roots(args.roots)
        except BundleError as e:
            raise _Usage(f"{e.reason} ({args.roots})") from e
    network = TrustNetwork(_service(args))
    version = network.publish_verified(token, roots=roots, now=_now())
    print(f"trust list version {version} verified as a device would and published; the next bundle carries it")
    return EXIT_OK


def cmd_network_pull(args: argparse.Namespace) -> int:
    from .network import pull
    from .trust import TrustNetwork

    report = pull(TrustNetwork(_service(args)), now=_now())
    for line in report.failed:
        print(f"hcert: {line}", file=sys.stderr)
    print(f"network pull: {report.summary()}")
    return EXIT_FAIL if report.failed else EXIT_OK


def cmd_rules_sign(args: argparse.Namespace) -> int:
    from .trust import TrustNetwork

    try:
        rules = json.loads(Path(args.file).read_text("utf-8"))
    except (OSError, ValueError) as e:
        raise _Usage(f"cannot read rules {args.file}: {e}") from e
    TrustNetwork(_service(args)).sign_rules(args.province, rules, now=_now())
    print(f"rules of province {args.province} signed and published")
    return EXIT_OK


def cmd_bundle(args: argparse.Namespace) -> int:
    from .trust import TrustNetwork

    # `bundle --signers` is a distribution server's first command: it may start the store.
    network = TrustNetwork(_service(args, create=args.signers))
    if args.signers:
        print(json.dumps({"keys": network.bundle_signers(now=_now())}, indent=2))
        return EXIT_OK
    if not args.output:
        raise _Usage("give --output FILE, or --signers")
    token, _ = network.bundle(now=_now())
    Path(args.output).write_text(token, encoding="ascii")
    print(f"bundle written to {args.output} ({len(token):,} bytes)")
    return EXIT_OK


class _Usage(Exception):
    pass


def cmd_example(args: argparse.Namespace) -> int:
    """Print an example application; the driver's test is stamped 6 hours before ``--at`` (default now)."""
    from hcert_verifier import CST
    from issuer import EXAMPLE_DRIVER, EXAMPLE_WORKER

    at = _parse_at(args.at) if args.at else _now()  # checked for either kind
    if args.kind == "worker":
        example = dict(EXAMPLE_WORKER)
    else:
        sampled = (at - dt.timedelta(hours=6)).astimezone(CST).replace(microsecond=0)
        example = {**EXAMPLE_DRIVER, "sampled_at": sampled.isoformat()}
    print(json.dumps(example, ensure_ascii=False, indent=2))
    return EXIT_OK


def _parse_at(text: str) -> dt.datetime:
    try:
        at = dt.datetime.fromisoformat(text)
    except ValueError as e:
        raise _Usage(f"--at {text!r} is not an ISO-8601 time") from e
    if at.tzinfo is None:
        raise _Usage(f"--at {text!r} needs a time zone, e.g. 2020-03-10T09:00:00+08:00")
    return at


def build_parser() -> argparse.ArgumentParser:
    """Return the ``hcert`` argument parser."""
    p = argparse.ArgumentParser(prog="hcert", description="hcert issuing service: run it and administer it.")
    p.add_argument("--data-dir", help="data directory (default $HCERT_DATA_DIR or ./data)")
    p.add_argument("--store", choices=["sqlite", "redis"], help="store backend (default $HCERT_STORE or sqlite)")
    p.add_argument("--redis-url", help="Redis URL for --store redis (default $HCERT_REDIS_URL)")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("serve", help="run the HTTP service with uvicorn")
    s.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1; 0.0.0.0 for all)")
    s.add_argument("--port", type=int, default=8000, help="TCP port (default 8000)")
    s.add_argument("--workers", type=int, default=1, help="uvicorn worker processes (default 1)")
    s.add_argument(
        "--dev",
        action="store_true",
        help="on an empty store make development material: an authority, a national root WITH its private key, "
        "sample rules (same as HCERT_DEV=1; never in production)",
    )
    s.set_defaults(func=cmd_serve)

    a = sub.add_parser("authority", help="issuing authorities").add_subparsers(dest="sub", required=True)
    c = a.add_parser("create", help="register an authority and make its first key")
    c.add_argument("code", help="GB/T 2260 code, e.g. 510321")
    c.add_argument("--name-zh", required=True)
    c.add_argument("--name-en", required=True)
    c.add_argument("--kinds", help="certificate kinds it may issue, comma-separated: w (return-to-work), f (freight)")
    c.add_argument("--regions", help="region-code prefixes of the residents it may certify (default: its own)")
    c.set_defaults(func=cmd_authority_create)
    a.add_parser("list", help="list authorities and their scope").set_defaults(func=cmd_authority_list)
    c = a.add_parser("scope", help="show or change what an authority may issue (export the province afterwards)")
    c.add_argument("code")
    c.add_argument("--kinds", help="comma-separated: w, f")
    c.add_argument("--regions", help="comma-separated region-code prefixes inside its province")
    c.set_defaults(func=cmd_authority_scope)

    o = sub.add_parser("operator", help="operators and credentials").add_subparsers(dest="sub", required=True)
    c = o.add_parser("create", help="create an operator and print its credential (once)")
    c.add_argument("--authority", help="authority code")
    c.add_argument("--name", required=True)
    c.add_argument("--role", choices=["operator", "authority_admin"], default="operator")
    c.add_argument("--national", action="store_true", help="a national admin (no authority)")
    c.add_argument("--expires-days", type=int, help="days the credential is valid (default $HCERT_CREDENTIAL_DAYS, 90)")
    c.set_defaults(func=cmd_operator_create)
    c = o.add_parser("list", help="list operators: id, role, state, name, created, expires, last used")
    c.add_argument("--authority", help="authority code")
    c.add_argument("--national", action="store_true", help="the national admins")
    c.set_defaults(func=cmd_operator_list)
    for name, func, text in (
        ("disable", cmd_operator_disable, "disable an operator's credential (refused at once everywhere)"),
        ("enable", cmd_operator_enable, "re-enable a disabled credential"),
    ):
        c = o.add_parser(name, help=text)
        c.add_argument("id", help="operator id (op_...)")
        c.set_defaults(func=func)
    c = o.add_parser("rotate", help="print a new credential (once); the old one stops working")
    c.add_argument("id", help="operator id (op_...)")
    c.add_argument("--expires-days", type=int, help="days the new credential is valid (default 90)")
    c.set_defaults(func=cmd_operator_rotate)
    c = o.add_parser("expire", help="set when a credential expires (default: now)")
    c.add_argument("id", help="operator id (op_...)")
    c.add_argument("--at", help="ISO 8601 time with a time zone (default: now)")
    c.set_defaults(func=cmd_operator_expire)

    ac = sub.add_parser("account", help="people's console sign-ins").add_subparsers(dest="sub", required=True)
    c = ac.add_parser("create", help="create a person's account and print its first password (once)")
    c.add_argument("--authority", required=True, help="authority code")
    c.add_argument("--username", required=True, help="3-32 of a-z 0-9 . _ -")
    c.add_argument("--role", choices=["operator", "authority_admin"], default="operator")
    c.add_argument("--password-stdin", action="store_true", help="read the first password from standard input")
    c.set_defaults(func=cmd_account_create)
    c = ac.add_parser("reset-password", help="set a new password (printed once; changed at next sign-in)")
    c.add_argument("id", help="operator id (op_...)")
    c.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    c.set_defaults(func=cmd_account_reset)

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
    au.add_parser("verify", help="check the hash chain against the signed checkpoint").set_defaults(
        func=cmd_audit_verify
    )
    au.add_parser("checkpoint", help="sign a checkpoint of the present head (after a check)").set_defaults(
        func=cmd_audit_checkpoint
    )

    r = sub.add_parser("root", help="the national root (keep it offline)").add_subparsers(dest="sub", required=True)
    c = r.add_parser("init", help="create the national root key and roots.json for devices")
    c.add_argument("--root-dir", help="default <data-dir>/root; $HCERT_ROOT_PASSPHRASE encrypts it")
    c.set_defaults(func=cmd_root_init)
    c = r.add_parser("rotate", help="make a new root; the old one stays listed during the overlap")
    c.add_argument("--root-dir")
    c.add_argument("--overlap-days", type=int, default=30)
    c.set_defaults(func=cmd_root_rotate)

    pv = sub.add_parser("province", help="a province's submission").add_subparsers(dest="sub", required=True)
    c = pv.add_parser("export", help="export this server's authorities of a province for national approval")
    c.add_argument("--province", required=True)
    c.add_argument("--output", "-o")
    c.set_defaults(func=cmd_province_export)

    t = sub.add_parser("trust", help="the national trust list").add_subparsers(dest="sub", required=True)
    c = t.add_parser("sign", help="approve submissions and sign the trust list with the root")
    c.add_argument("--root-dir")
    c.add_argument("--submission", action="append", help="a province's export (repeatable)")
    c.add_argument("--no-local", action="store_true", help="only the given submissions, not this server's")
    c.add_argument("--sign-with", help="root kid to sign with (root rotation)")
    c.add_argument("--bundle-signers", help="the distribution server's `hcert bundle --signers` output")
    c.add_argument(
        "--valid-days",
        type=int,
        default=30,
        help="days until devices refuse the trust list (default 30, at most 92): re-sign before then",
    )
    c.add_argument("--output", "-o")
    c.add_argument("--publish", action="store_true", help="install it on this server")
    c.set_defaults(func=cmd_trust_sign)
    c = t.add_parser("publish", help="check a signed trust list as a device would, then install it on this server")
    c.add_argument("file")
    c.add_argument("--roots", help="the roots.json devices pin (default: the roots this server already pins)")
    c.set_defaults(func=cmd_trust_publish)

    nw = sub.add_parser("network", help="other hcert servers").add_subparsers(dest="sub", required=True)
    c = nw.add_parser(
        "pull",
        help="fetch, verify and store the status lists and rules other servers publish (for the bundle); "
        "exit 1 if any source failed (its last good copy is kept)",
    )
    c.set_defaults(func=cmd_network_pull)

    ru = sub.add_parser("rules", help="destination rules").add_subparsers(dest="sub", required=True)
    c = ru.add_parser("sign", help="validate, sign with the province's rule key, and publish")
    c.add_argument("--province", required=True)
    c.add_argument("file")
    c.set_defaults(func=cmd_rules_sign)

    c = sub.add_parser("bundle", help="write the current offline bundle to a file, or print its signer keys")
    c.add_argument("--output", "-o")
    c.add_argument("--signers", action="store_true", help="print the bundle signer public keys (for trust sign)")
    c.set_defaults(func=cmd_bundle)

    c = sub.add_parser("openapi", help="print or write the OpenAPI document")
    c.add_argument("--output", "-o")
    c.set_defaults(func=cmd_openapi)
    sub.add_parser("jwks", help="print the JWKS of every authority").set_defaults(func=cmd_jwks)
    c = sub.add_parser("example", help="print an example application (README); the driver's test is fresh")
    c.add_argument("kind", choices=["worker", "driver"])
    c.add_argument("--at", help="stamp the driver's test 6 hours before this ISO-8601 time (default: now)")
    c.set_defaults(func=cmd_example)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``hcert`` and return its exit code."""
    from hcert_verifier import HcertError

    from .service import ServiceError

    args = build_parser().parse_args(argv)
    # Everything hcert writes (database, keys, trust files) is for its own user only.
    umask = os.umask(0o077)
    try:
        code = int(args.func(args))
        sys.stdout.flush()  # inside the try: a reader that went away is handled below
        return code
    except BrokenPipeError:
        # `hcert ... | head`: the reader stopped reading. Stop quietly, as Unix tools do;
        # stdout goes to /dev/null so that the interpreter's final flush cannot fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAIL
    except _Usage as e:
        print(f"hcert: {e}", file=sys.stderr)
        return EXIT_USAGE
    except HcertError as e:
        # Every error hcert raises on purpose (service, store, keys, settings, audit, verifier) has a
        # stable code: one line, `hcert: CODE: reason`; a bad setting is a usage error. The service's
        # reasons by field, where it gives them (as the API's `errors`), go on the same line.
        errors = e.errors if isinstance(e, ServiceError) else []
        reasons = "; ".join(str(err["message"]) for err in errors if err.get("message"))
        print(f"hcert: {e.code}: {e.reason}" + (f": {reasons}" if reasons else ""), file=sys.stderr)
        return EXIT_USAGE if isinstance(e, SettingsError) else EXIT_FAIL
    except OSError as e:
        print(f"hcert: {type(e).__name__}: {e}", file=sys.stderr)
        return EXIT_FAIL
    except Exception as e:  # redis.ConnectionError and the like: one line, no traceback
        import redis.exceptions

        if isinstance(e, redis.exceptions.ConnectionError | redis.exceptions.TimeoutError):
            # As the API answers it: a write may have been sent before the error.
            print(f"hcert: outcome_unknown: Redis: {type(e).__name__}: {e}", file=sys.stderr)
            return EXIT_FAIL
        print(f"hcert: {type(e).__name__}: {e}", file=sys.stderr)
        return EXIT_FAIL
    finally:
        os.umask(umask)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
