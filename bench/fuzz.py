"""Long fuzz run: a plain mutation loop of at least 1,000,000 inputs per target.

Each target starts from real, signed seeds (the conformance vectors, a status
list, a small bundle made by the server code, the example applications) and
feeds the code under test mutants of them. For every target it prints
inputs, inputs/s, exceptions (anything but the project's own error types;
must be 0) and accepted mutants (a mutant of a signed object that was taken
as genuine; must be 0). Parser targets (rules payloads, applications) have no
signature, so a well-formed mutant is fine there; they report how many parsed.

Targets:

- ``verify-qr``: ``Verifier.verify`` on QR texts: digits flipped, cut,
  inserted, random digit strings, non-ASCII characters, QR text of broken tokens.
- ``verify-token``: ``Verifier.verify`` on compact tokens: characters flipped,
  cut, inserted, header members changed, payloads re-deflated with flipped bytes,
  non-ASCII characters.
- ``status-list``: ``StatusList.from_token`` on edited status list tokens.
- ``bundle``: ``Bundle.load`` on edited bundles.
- ``rules``: ``RuleSet.from_payload`` (then compile and evaluate) on changed rules.
- ``app-json``: ``parse_application`` and ``check_eligibility`` on changed applications.
- ``app-csv``: the service's CSV manifest reader, then ``parse_application``.

Run (one core; the figures in docs/PERFORMANCE.md come from this)::

    .venv/bin/python bench/fuzz.py                      # 1,000,000 inputs per target
    .venv/bin/python bench/fuzz.py --inputs 20000 --only verify-qr,bundle

Exit status 1 if any target had an exception or an accepted mutant. The last
line is one JSON object.
"""

from __future__ import annotations

import argparse
import copy
import csv
import datetime as dt
import io
import json
import random
import re
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _common import NOW, ROOT, pin_one_core

VECTORS = ROOT / "tests" / "vectors"
TOKEN_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
ODD_CHARS = ".=+/ \n\t\r\x00é中\u3000\U0001f600\ufeff"


# -- mutation primitives ------------------------------------------------------------
def random_char(rng: random.Random) -> str:
    """Return a character: mostly from the token alphabet, sometimes digits, odd or any code point."""
    r = rng.random()
    if r < 0.45:
        return rng.choice(TOKEN_ALPHABET)
    if r < 0.7:
        return rng.choice("0123456789")
    if r < 0.85:
        return rng.choice(ODD_CHARS)
    c = rng.randrange(0x80, 0x110000)
    return chr(c) if not 0xD800 <= c < 0xE000 else "\ufffd"


def digit_or_any(rng: random.Random) -> str:
    """Return a digit (QR text's alphabet) four times in five, else any character."""
    return rng.choice("0123456789") if rng.random() < 0.8 else random_char(rng)


def edit_text(rng: random.Random, text: str, char: Callable[[random.Random], str] = random_char) -> str:
    """Replace, cut, insert or slice 1-4 characters of ``text``."""
    out = list(text)
    for _ in range(rng.randint(1, 4)):
        op = rng.random()
        i = rng.randrange(len(out)) if out else 0
        if op < 0.45 and out:
            out[i] = char(rng)
        elif op < 0.65 and out:
            del out[i]
        elif op < 0.85:
            out.insert(i, char(rng))
        elif op < 0.95 and out:
            del out[i : i + rng.randint(1, 64)]
        else:
            del out[i:]
    return "".join(out)


def flip_bytes(rng: random.Random, data: bytes) -> bytes:
    """XOR 1-3 random bytes of ``data`` with a random non-zero mask."""
    if not data:
        return bytes([rng.randrange(256)])
    out = bytearray(data)
    for _ in range(rng.randint(1, 3)):
        out[rng.randrange(len(out))] ^= rng.randrange(1, 256)
    return bytes(out)


def json_value(rng: random.Random, depth: int = 0) -> Any:
    """Return a small random JSON value, awkward ones included."""
    r = rng.random()
    if r < 0.15:
        return None
    if r < 0.25:
        return rng.random() < 0.5
    if r < 0.4:
        return rng.choice([0, -1, 1, 2**31, 2**63, 10**40, rng.randrange(-(10**6), 10**6)])
    if r < 0.45:
        return rng.choice([0.5, -1e308, 1e-300])
    if r < 0.75 or depth > 2:
        return "".join(random_char(rng) for _ in range(rng.randrange(0, 12)))
    if r < 0.88:
        return [json_value(rng, depth + 1) for _ in range(rng.randrange(0, 4))]
    return {json_value_key(rng): json_value(rng, depth + 1) for _ in range(rng.randrange(0, 4))}


def json_value_key(rng: random.Random) -> str:
    return "".join(random_char(rng) for _ in range(rng.randrange(0, 6)))


# -- targets -------------------------------------------------------------------------
class Target:
    """One fuzz target: make a mutant, run it, say whether it was accepted."""

    name = ""
    signed = True  # accepted mutants count as failures
    allowed: tuple[type[BaseException], ...] = ()

    def seeds(self) -> list[Any]:
        raise NotImplementedError

    def mutate(self, rng: random.Random) -> Any:
        raise NotImplementedError

    def run(self, value: Any) -> tuple[bool, str]:
        """Return (accepted, outcome code)."""
        raise NotImplementedError

    def is_seed(self, value: Any) -> bool:
        return False


class VerifyTarget(Target):
    """Verifier.verify on mutants of the conformance vectors."""

    def __init__(self, form: str) -> None:
        from hcert_verifier import JwksTrust, StatusList, StatusLists, Verifier, qr_encode

        self.name = f"verify-{form}"
        self.form = form
        cases = [json.loads(p.read_text("utf-8")) for p in sorted(VECTORS.glob("*/*.json"))]
        trust = JwksTrust.from_file(VECTORS / "jwks.json")
        tokens = sorted({t for c in cases for t in c.get("status_lists", [])})
        lists = StatusLists(StatusList.from_token(t, trust) for t in tokens)
        self.verifier = Verifier(trust, status=lists)
        self.cases = [(c, dt.datetime.fromisoformat(c["at"])) for c in cases if form != "token" or "token" in c]
        # A valid vector's token, its QR text, and the QR text of its token (the
        # vector of a bare token input carries the token as its qr_text).
        valid = [c for c in cases if c["expected"]["valid"]]
        self.accepted = {c[k] for c in valid for k in ("token", "qr_text") if k in c}
        self.accepted |= {qr_encode(c["token"]) for c in valid if "token" in c}

    def is_seed(self, value: Any) -> bool:
        return value[0] in self.accepted

    def mutate(self, rng: random.Random) -> tuple[str, dt.datetime]:
        from hcert_verifier import qr_encode

        case, at = rng.choice(self.cases)
        r = rng.random()
        if self.form == "qr":
            text = case["qr_text"]
            if r < 0.55:
                return edit_text(rng, text, digit_or_any), at
            if r < 0.7:
                return edit_text(rng, text), at
            if r < 0.8:
                n = rng.randrange(0, 1800)
                digits = "".join(rng.choices("0123456789", k=n))
                return ("CNHC:/" if rng.random() < 0.8 else "") + digits, at
            if "token" in case:
                token = self._token_mutant(rng, case["token"])
                if all("-" <= c <= "z" for c in token):
                    return qr_encode(token), at
            return edit_text(rng, text), at
        return self._token_mutant(rng, case["token"]), at

    def _token_mutant(self, rng: random.Random, token: str) -> str:
        from hcert_verifier import b64url_decode, b64url_encode, deflate, inflate, json_compact, json_object

        r = rng.random()
        parts = token.split(".")
        if r < 0.5 or len(parts) != 3:
            return edit_text(rng, token)
        if r < 0.6:
            i = rng.randrange(len(token) + 1)
            return token[:i] + random_char(rng) + token[i + rng.randrange(2) :]
        if r < 0.8:
            try:
                header = json_object(b64url_decode(parts[0], "h"), "h")
            except Exception:
                header = {}
            for _ in range(rng.randint(1, 2)):
                name = rng.choice(["alg", "kid", "typ", "zip", "crit", "jku", "jwk", "x5c", "cty", json_value_key(rng)])
                if rng.random() < 0.3:
                    header.pop(name, None)
                else:
                    header[name] = json_value(rng)
            return ".".join([b64url_encode(json_compact(header)), parts[1], parts[2]])
        try:
            payload = b64url_decode(parts[1], "p")
        except Exception:
            return edit_text(rng, token)
        try:
            payload = deflate(flip_bytes(rng, inflate(payload))) if rng.random() < 0.7 else flip_bytes(rng, payload)
        except Exception:
            payload = flip_bytes(rng, payload)
        return ".".join([parts[0], b64url_encode(payload), parts[2]])

    def run(self, value: tuple[str, dt.datetime]) -> tuple[bool, str]:
        result = self.verifier.verify(value[0], at=value[1])
        if result.valid != (result.code == "ok"):
            raise AssertionError(f"valid={result.valid} with code {result.code}")
        return result.valid, result.code


class StatusListTarget(Target):
    """StatusList.from_token on edited status list tokens."""

    name = "status-list"

    def __init__(self) -> None:
        from hcert_verifier import JwksTrust, StatusList, TrustError

        self.allowed = (TrustError,)
        self.load = StatusList.from_token
        self.trust = JwksTrust.from_file(VECTORS / "jwks.json")
        cases = [json.loads(p.read_text("utf-8")) for p in sorted(VECTORS.glob("*/*.json"))]
        self.tokens = sorted({t for c in cases for t in c.get("status_lists", [])})

    def is_seed(self, value: Any) -> bool:
        return value in self.tokens

    def mutate(self, rng: random.Random) -> str:
        return edit_text(rng, rng.choice(self.tokens))

    def run(self, value: str) -> tuple[bool, str]:
        lst = self.load(value, self.trust)
        lst.status(0)
        return True, "ok"


class BundleTarget(Target):
    """Bundle.load on edited bundles made by the server code."""

    name = "bundle"

    def __init__(self) -> None:
        from hcert_verifier import Bundle, BundleError, b64url_decode, b64url_encode

        self.allowed = (BundleError,)
        self.load, self.decode, self.encode = Bundle.load, b64url_decode, b64url_encode
        self.token, self.roots = make_bundle(Path(tempfile.mkdtemp(prefix="hcert-fuzz-")))
        self.objects = list(re.finditer(r"([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)", self.token))

    def is_seed(self, value: Any) -> bool:
        # Bundle.load ignores whitespace around the token (a file's line end):
        # the signed bytes are the same.
        return isinstance(value, str) and value.strip() == self.token

    def mutate(self, rng: random.Random) -> str:
        if rng.random() < 0.6:
            return edit_text(rng, self.token)
        # Flip bytes of the payload of one signed object in the envelope, keeping its signature.
        m = rng.choice(self.objects)
        payload = flip_bytes(rng, self.decode(m.group(2), "p"))
        return f"{self.token[: m.start()]}{m.group(1)}.{self.encode(payload)}.{m.group(3)}{self.token[m.end() :]}"

    def run(self, value: str) -> tuple[bool, str]:
        self.load(value, self.roots)
        return True, "ok"


class RulesTarget(Target):
    """RuleSet.from_payload, then compile and evaluate, on changed rules payloads."""

    name = "rules"
    signed = False

    def __init__(self) -> None:
        from app.trust import SAMPLE_RULES
        from hcert_verifier import JwksTrust, RuleSet, TrustError, Verifier
        from hcert_verifier.rules import evaluate

        self.allowed = (TrustError,)
        self.load, self.evaluate = RuleSet.from_payload, evaluate
        self.base = {**copy.deepcopy(SAMPLE_RULES), "province": "44", "version": 1, "issued_at": 1}
        trust = JwksTrust.from_file(VECTORS / "jwks.json")
        self.certs = []
        for p in sorted((VECTORS / "valid").glob("*.json")):
            case = json.loads(p.read_text("utf-8"))
            result = Verifier(trust).verify(case["qr_text"], at=dt.datetime.fromisoformat(case["at"]))
            self.certs.append(result.certificate)
        self.at = int(NOW.timestamp())

    def mutate(self, rng: random.Random) -> dict[str, Any]:
        payload = copy.deepcopy(self.base)
        r = rng.random()
        if r < 0.1:
            payload[rng.choice(["province", "version", "issued_at", "checkpoints"])] = json_value(rng)
            return payload
        rules = payload["checkpoints"][rng.choice(list(payload["checkpoints"]))]
        if r < 0.2:
            rules.append({"id": json_value(rng), "type": json_value(rng)})
        rule = rng.choice(rules)
        for _ in range(rng.randint(1, 3)):
            member = rng.choice(["id", "type", "hours", "kinds", "values", "areas", "when", "open", "description"])
            if rng.random() < 0.2:
                rule.pop(member, None)
            elif member == "when":
                rule["when"] = {rng.choice(["kinds", "origin_prefixes", "x"]): json_value(rng)}
            elif member == "areas":
                rule["areas"] = [
                    {
                        "prefix": rng.choice(["42", "4201", json_value(rng)]),
                        "from": rng.choice(["2020-01-01", "2020-02-30", json_value(rng)]),
                        "to": rng.choice(["2020-12-31", json_value(rng)]),
                    }
                ]
            elif member == "type":
                rule["type"] = rng.choice(
                    [
                        "accept_kinds",
                        "max_age_hours",
                        "test_within_hours",
                        "not_from_key_area",
                        "health_code_in",
                        "destination_is_here",
                        "future_type",
                        json_value(rng),
                    ]
                )
            else:
                rule[member] = json_value(rng)
        return payload

    def run(self, value: dict[str, Any]) -> tuple[bool, str]:
        ruleset = self.load(value)
        for checkpoint in ruleset.checkpoints:
            compiled = ruleset.compiled(checkpoint)
            assert compiled is not None
            for cert in self.certs:
                _, outcomes = self.evaluate(compiled, cert, at=self.at, province="44")
                for o in outcomes:
                    o.to_dict()
        return True, "ok"


def _application_examples() -> list[dict[str, Any]]:
    from issuer import EXAMPLE_DRIVER, EXAMPLE_WORKER

    return [dict(EXAMPLE_WORKER), dict(EXAMPLE_DRIVER)]


class ApplicationJsonTarget(Target):
    """parse_application and check_eligibility on changed JSON applications."""

    name = "app-json"
    signed = False

    def __init__(self) -> None:
        from issuer import ApplicationError, check_eligibility, parse_application

        self.allowed = (ApplicationError,)
        self.parse, self.check = parse_application, check_eligibility
        self.examples = _application_examples()
        self.fields = sorted({k for e in self.examples for k in e} | {"valid_days", "employer", "vehicle_plate"})

    def mutate(self, rng: random.Random) -> Any:
        data = dict(rng.choice(self.examples))
        for _ in range(rng.randint(1, 3)):
            name = rng.choice(self.fields) if rng.random() < 0.9 else json_value_key(rng)
            r = rng.random()
            if r < 0.2:
                data.pop(name, None)
            elif r < 0.6 and isinstance(data.get(name), str):
                data[name] = edit_text(rng, data[name])
            else:
                data[name] = json_value(rng)
        return data if rng.random() < 0.98 else json_value(rng)

    def run(self, value: Any) -> tuple[bool, str]:
        errors = self.check(self.parse(value), authority="510321", now=NOW)
        return not errors, "ok" if not errors else errors[0].code


class ApplicationCsvTarget(Target):
    """The service's CSV manifest reader, then parse_application on every row."""

    name = "app-csv"
    signed = False

    def __init__(self) -> None:
        from app.routes.certificates import _rows_from_csv
        from app.service import ServiceError
        from issuer import ApplicationError, parse_application

        self.allowed = (ServiceError, ApplicationError)
        self.rows_from_csv, self.parse = _rows_from_csv, parse_application
        rows = _application_examples()
        columns = sorted({k for r in rows for k in r})
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: ";".join(v) if isinstance(v, list) else v for k, v in row.items()})
        self.seed = out.getvalue()

    def mutate(self, rng: random.Random) -> bytes:
        if rng.random() < 0.1:
            return flip_bytes(rng, self.seed.encode())
        return edit_text(rng, self.seed, lambda g: g.choice(',;"\n\r') if g.random() < 0.3 else random_char(g)).encode(
            "utf-8", "surrogatepass"
        )

    def run(self, value: bytes) -> tuple[bool, str]:
        for row in self.rows_from_csv(value):
            self.parse(row)
        return True, "ok"


def make_bundle(tmp: Path) -> tuple[str, list[dict[str, Any]]]:
    """Make a small bundle as the server does: 3 authorities, rules, a status list with certificates."""
    from app.service import IssuingService
    from app.settings import Settings
    from app.store import open_store
    from app.trust import SAMPLE_RULES, TrustNetwork, export_submission, sign_trust_list
    from issuer import EXAMPLE_WORKER
    from keys import KeyRing

    settings = Settings(data_dir=tmp / "data", base_url="https://hcert.test")
    service = IssuingService(settings, open_store("sqlite", path=str(tmp / "hcert.sqlite3")))
    net = TrustNetwork(service)
    root = KeyRing(tmp / "root")
    ts = int(NOW.timestamp())
    root.ensure(now=ts)
    for code in ("510321", "420100", "440300"):
        service.create_authority(code, "卫生健康局", "Health Bureau", actor="national", now=NOW)
    operator = service.create_operator("510321", "clerk", "operator", actor="t", now=NOW)[0]
    status, body, _ = service.issue("510321", [dict(EXAMPLE_WORKER)], operator=operator, now=NOW)
    assert status == 201, body
    net.sign_rules("44", SAMPLE_RULES, now=NOW)
    subs = [export_submission(service, p, now=NOW) for p in ("42", "44", "51")]
    net.publish_trust_list(sign_trust_list(root, subs, net.bundle_signers(now=NOW), version=ts, now=NOW))
    token, _ = net.bundle(now=NOW)
    roots = [{"kty": "EC", "crv": "P-256", "x": r.x, "y": r.y, "kid": r.kid} for r in root.published(now=ts)]
    return token, roots


TARGETS: dict[str, Callable[[], Target]] = {
    "verify-qr": lambda: VerifyTarget("qr"),
    "verify-token": lambda: VerifyTarget("token"),
    "status-list": StatusListTarget,
    "bundle": BundleTarget,
    "rules": RulesTarget,
    "app-json": ApplicationJsonTarget,
    "app-csv": ApplicationCsvTarget,
}


def fuzz(target: Target, inputs: int, seed: int) -> dict[str, Any]:
    """Run ``inputs`` mutants through ``target``; return its figures."""
    rng = random.Random(f"{seed}:{target.name}")
    exceptions: Counter[str] = Counter()
    codes: Counter[str] = Counter()
    accepted = 0
    seeds_hit = 0
    examples: list[str] = []
    mutate_s = 0.0
    t0 = time.perf_counter()
    for _ in range(inputs):
        m0 = time.perf_counter()
        value = target.mutate(rng)
        mutate_s += time.perf_counter() - m0
        try:
            ok, code = target.run(value)
        except target.allowed as e:
            ok, code = False, getattr(e, "code", type(e).__name__)
        except Exception as e:  # the property under test: nothing else escapes
            key = f"{type(e).__name__}: {str(e)[:120]}"
            exceptions[key] += 1
            if len(examples) < 5:
                examples.append(f"{key}\n  input: {value!r:.300}\n{traceback.format_exc(limit=4)}")
            continue
        codes[code] += 1
        if ok:
            if target.is_seed(value):
                seeds_hit += 1
            elif target.signed:
                accepted += 1
                if len(examples) < 5:
                    examples.append(f"ACCEPTED MUTANT: {value!r}")
    elapsed = time.perf_counter() - t0
    for e in examples:
        print(e, file=sys.stderr)
    return {
        "target": target.name,
        "inputs": inputs,
        "seconds": round(elapsed, 1),
        "inputs_per_s": round(inputs / elapsed),
        "mutation_share": round(mutate_s / elapsed, 2),
        "exceptions": sum(exceptions.values()),
        "exception_kinds": dict(exceptions),
        "accepted_mutants": accepted if target.signed else None,
        "parsed": None if target.signed else sum(codes[c] for c in ("ok",)),
        "unchanged_seeds": seeds_hit,
        "distinct_codes": len(codes),
        "top_codes": dict(codes.most_common(6)),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=int, default=1_000_000, help="inputs per target (default 1,000,000)")
    parser.add_argument("--seed", type=int, default=1, help="random seed; the same seed gives the same inputs")
    parser.add_argument("--only", help=f"comma-separated targets of: {', '.join(TARGETS)}")
    args = parser.parse_args()
    names = args.only.split(",") if args.only else list(TARGETS)
    unknown = [n for n in names if n not in TARGETS]
    if unknown:
        parser.error(f"unknown target {unknown[0]!r}")
    pin_one_core()
    results = []
    print(f"{'target':<13} {'inputs':>9} {'s':>7} {'inputs/s':>9} {'exceptions':>10} {'accepted':>8}  top codes")
    for name in names:
        r = fuzz(TARGETS[name](), args.inputs, args.seed)
        results.append(r)
        accepted = "n/a" if r["accepted_mutants"] is None else r["accepted_mutants"]
        top = ", ".join(f"{k} {v}" for k, v in list(r["top_codes"].items())[:4])
        print(
            f"{name:<13} {r['inputs']:>9,} {r['seconds']:>7.1f} {r['inputs_per_s']:>9,} {r['exceptions']:>10} "
            f"{accepted!s:>8}  {top}",
            flush=True,
        )
    failed = any(r["exceptions"] or r["accepted_mutants"] for r in results)
    print(json.dumps({"seed": args.seed, "results": results, "ok": not failed}, ensure_ascii=False))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
