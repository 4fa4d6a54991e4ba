"""``hcert-verify``: verify or inspect a certificate from the command line.

Exit codes: 0 valid, 1 invalid (the failure code is printed), 2 usage or I/O error.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ._errors import BundleError, HcertError, VerificationError
from ._files import write_atomic
from ._jwk import kid_for, public_key_from_jwk
from ._verify import Verifier, decode_token
from .bundle import Bundle, load_roots
from .image import IMAGE_SUFFIXES, read_qr_image, sniff_image
from .status import StatusList, StatusLists
from .trust import JwksTrust, TrustSource

EXIT_VALID = 0
EXIT_INVALID = 1
EXIT_USAGE = 2

# Names read as image files (SVG and PDF only to be refused by name: unsupported_image).
_FILE_SUFFIXES = (*IMAGE_SUFFIXES, ".svg", ".svgz", ".pdf")
_MAX_TEXT_FILE = 64 * 1024


class _UsageError(Exception):
    pass


_DATA_DIR_HELP = "data folder (default: $HCERT_HOME, else $XDG_DATA_HOME/hcert, else ~/.local/share/hcert)"


def _read_input(value: str) -> str:
    """Return the text to verify; text from a file, stdin or the command line loses surrounding whitespace."""
    return _read_raw_input(value).strip(" \t\r\n")


def _read_raw_input(value: str) -> str:
    if value == "-":
        return sys.stdin.read(_MAX_TEXT_FILE)
    # QR text and tokens never end in a file suffix; anything else names a file only if it exists.
    if not (value.lower().endswith(_FILE_SUFFIXES) or os.path.isfile(value)):
        return value
    if not os.path.isfile(value):
        raise _UsageError(f"no such file: {value}")
    try:
        with open(value, "rb") as f:
            data = f.read(_MAX_TEXT_FILE + 1)
    except OSError as e:
        raise _UsageError(f"cannot read {value}: {e.strerror}") from e
    if value.lower().endswith(_FILE_SUFFIXES) or sniff_image(data[:1024]) is not None:
        return read_qr_image(value)
    if len(data) > _MAX_TEXT_FILE:
        raise _UsageError(f"{value} is larger than a certificate's text can be ({_MAX_TEXT_FILE // 1024} KB)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise _UsageError(f"{value} is neither UTF-8 text nor a supported image (PNG, JPEG, ...)") from e


def _parse_at(value: str | None) -> dt.datetime | None:
    if value is None:
        return None
    try:
        at = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as e:
        raise _UsageError(f"--at must be an ISO-8601 time, not {value!r}") from e
    if at.tzinfo is None:
        raise _UsageError("--at needs a timezone, e.g. 2020-03-10T09:00:00+08:00")
    return at


def _default_jwks() -> str | None:
    return os.environ.get("HCERT_JWKS")


def _data_dir(args: argparse.Namespace) -> Path:
    from .sync import default_data_dir

    return Path(args.data_dir) if args.data_dir else default_data_dir()


def _roots(args: argparse.Namespace) -> list[dict[str, Any]]:
    path = Path(args.roots) if args.roots else _data_dir(args) / "roots.json"
    if not path.exists():
        raise _UsageError(f"no pinned roots at {path}: give --roots FILE (the national root public keys)")
    return load_roots(path)


def _bundle(args: argparse.Namespace) -> Bundle | None:
    if args.bundle:
        return Bundle.from_file(args.bundle, _roots(args))
    if args.jwks or _default_jwks():
        return None
    from .sync import load_synced

    synced = load_synced(_data_dir(args), _roots(args))
    if synced is None:
        raise _UsageError("no trust source: run `hcert-verify sync URL --roots FILE`, or give --bundle or --jwks")
    return synced


def _trust(args: argparse.Namespace) -> tuple[TrustSource, StatusLists | None]:
    jwks = args.jwks or _default_jwks()
    if not jwks:
        raise _UsageError("no trust source: give --jwks FILE (or set HCERT_JWKS)")
    trust = JwksTrust.from_file(jwks)
    lists = None
    if args.status:
        lists = StatusLists()
        for path in args.status:
            try:
                with open(path, encoding="ascii") as f:
                    lists.add(StatusList.from_token(f.read(8 * 1024 * 1024).strip(), trust))
            except (OSError, UnicodeDecodeError) as e:
                raise _UsageError(f"cannot read status list {path}: {e}") from e
    return trust, lists


def _cmd_verify(args: argparse.Namespace) -> int:
    at = _parse_at(args.at)
    bundle = _bundle(args)
    if bundle is not None:
        verifier = Verifier.from_bundle(bundle)
    else:
        if args.destination:
            raise _UsageError("--destination needs a bundle (the rules travel in it)")
        trust, lists = _trust(args)
        verifier = Verifier(trust, status=lists, require_status=args.require_status)
    text = _read_input(args.input)
    result = verifier.verify(text, at=at, destination=args.destination, checkpoint=args.checkpoint)
    if args.json:
        print(json.dumps(result.to_dict(), ensure_ascii=False))
    elif result.valid:
        cert = result.certificate
        assert cert is not None
        print(f"VALID  {cert.kind_name}  {cert.name}  {cert.masked_id_display}")
        print(f"issuer {cert.issuer}  valid {cert.valid_from.isoformat()} .. {cert.expires.isoformat()}")
        for rule in result.rules:
            print(f"rule {rule.id}: {rule.outcome} {rule.reason}")
        for warning in result.warnings:
            print(f"warning: {warning}")
    else:
        print(f"INVALID  {result.code}: {result.reason}")
        for warning in result.warnings:
            print(f"warning: {warning}")
    return EXIT_VALID if result.valid else EXIT_INVALID


def _cmd_sync(args: argparse.Namespace) -> int:
    from .sync import check_url, sync, sync_parts

    data_dir = _data_dir(args)
    pinned = data_dir / "roots.json"
    _pin_roots(args, pinned)
    try:
        check_url(args.url, allow_http=args.allow_http)
        if not (data_dir / "roots.json").exists():
            raise _UsageError(f"no pinned roots in {data_dir}: give --roots FILE (the national root public keys)")
        fetch = sync_parts if args.parts else sync
        outcome = fetch(args.url, data_dir=data_dir, allow_http=args.allow_http, timeout=args.deadline)
    except HcertError as e:
        # A refused bundle (its own code) or an unreachable server: the device keeps what it has.
        print(f"hcert-verify: {e.diagnostics()}; the last good bundle is kept", file=sys.stderr)
        return EXIT_INVALID
    except BundleError:
        if not pinned.exists():
            raise _UsageError(
                f"no pinned roots at {pinned}: on a new device give --roots FILE, the national root public keys "
                "(roots.json from your trust network's operator), e.g. hcert-verify sync URL --roots roots.json"
            ) from None
        raise
    b = outcome.bundle
    state = "updated" if outcome.changed else "unchanged"
    print(
        f"{'index' if args.parts else 'bundle'} {b.version} {state}: {len(b.authorities)} authorities, "
        f"{b.status_list_count} status lists, rules for {len(b.provinces)} provinces; "
        f"expires {dt.datetime.fromtimestamp(b.expires, dt.UTC).isoformat()}; "
        f"fetched {outcome.bytes_fetched} bytes in {outcome.responses} responses"
    )
    return EXIT_VALID


def _root_kids(roots: list[dict[str, Any]]) -> set[str]:
    return {kid_for(public_key_from_jwk(jwk)) for jwk in roots}


def _pin_roots(args: argparse.Namespace, target: Path) -> None:
    """Pin ``--roots`` on a new device; refuse to change pinned roots silently (``--repin`` does it)."""
    if not args.roots:
        if args.repin:
            raise _UsageError("--repin needs --roots FILE (the national root public keys to pin instead)")
        return
    roots = load_roots(args.roots)
    if target.exists() and not args.repin:
        try:
            pinned = _root_kids(load_roots(target))
        except HcertError:
            pinned = set()
        if pinned != _root_kids(roots):
            raise _UsageError(
                f"other roots are already pinned at {target}; --roots is not applied. To replace them "
                "(only for a root change your trust network's operator announced) add --repin"
            )
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(target, json.dumps({"roots": roots}, indent=2).encode())


def _cmd_inspect(args: argparse.Namespace) -> int:
    header, claims = decode_token(_read_input(args.input))
    out: dict[str, Any] = {"UNVERIFIED": True, "header": header, "claims": claims}
    print(json.dumps(out, ensure_ascii=False, indent=2))
    return EXIT_VALID


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of ``hcert-verify``."""
    parser = argparse.ArgumentParser(
        prog="hcert-verify",
        description="Verify hcert health certificates offline. Exit 0 valid, 1 invalid, 2 usage or I/O error.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    verify = sub.add_parser("verify", help="verify QR text, a compact token or a photo of a QR code")
    verify.add_argument("input", help="QR text, compact token, image path (.png/.jpg), text file, or - for stdin")
    verify.add_argument("--bundle", help="offline trust bundle file (default: the synced bundle)")
    verify.add_argument("--roots", help="pinned national root keys (default: roots.json in the data folder)")
    verify.add_argument("--destination", help="destination province code (2 digits): apply its rules")
    verify.add_argument("--checkpoint", default="gate", help="checkpoint name in the rules, e.g. gate or highway")
    verify.add_argument("--data-dir", help=_DATA_DIR_HELP)
    verify.add_argument("--jwks", help="JWKS file of trusted issuer keys instead of a bundle ($HCERT_JWKS)")
    verify.add_argument("--status", action="append", help="status list token file (repeatable)")
    verify.add_argument("--require-status", action="store_true", help="refuse when no status list is at hand")
    verify.add_argument(
        "--at",
        help="verification time, ISO-8601 with timezone (default: the device clock, which must not be before the "
        "bundle's issue time)",
    )
    verify.add_argument("--json", action="store_true", help="print one JSON object")
    verify.set_defaults(func=_cmd_verify)
    sync_p = sub.add_parser("sync", help="fetch and verify the trust bundle from an hcert server")
    sync_p.add_argument("url", help="server base URL, e.g. https://hcert.example.gov.cn")
    sync_p.add_argument("--roots", help="national root public keys to pin (first sync; later only with --repin)")
    sync_p.add_argument(
        "--repin", action="store_true", help="replace the pinned roots with --roots (an announced root change)"
    )
    sync_p.add_argument("--data-dir", help=_DATA_DIR_HELP)
    sync_p.add_argument(
        "--allow-http", action="store_true", help="allow plain http to a non-loopback server (default: https only)"
    )
    sync_p.add_argument(
        "--parts",
        action="store_true",
        help="fetch the index of parts (/v1/index) and only the parts this device lacks, not the whole bundle",
    )
    sync_p.add_argument("--deadline", type=float, default=60.0, help="total seconds the sync may take (default: 60)")
    sync_p.set_defaults(func=_cmd_sync)
    inspect = sub.add_parser("inspect", help="decode and show header and claims WITHOUT verifying")
    inspect.add_argument("input", help="QR text, compact token, image path, or - for stdin")
    inspect.set_defaults(func=_cmd_inspect)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``hcert-verify`` and return its exit code."""
    try:
        try:
            code = _run(argv)
        except SystemExit:  # argparse: --help, usage errors
            sys.stdout.flush()
            raise
        sys.stdout.flush()
        return code
    except BrokenPipeError:
        # The reader went away (`hcert-verify ... | head`): no traceback, and
        # nothing more to write; the rest of stdout goes nowhere.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_USAGE


def _run(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except _UsageError as e:
        print(f"hcert-verify: {e}", file=sys.stderr)
        return EXIT_USAGE
    except HcertError as e:
        # inspect's structural errors are a verdict on the input; trust, bundle
        # and image errors are usage or I/O. Either way one line, never a traceback.
        print(f"hcert-verify: {e.diagnostics()}", file=sys.stderr)
        return EXIT_INVALID if args.command == "inspect" and isinstance(e, VerificationError) else EXIT_USAGE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
