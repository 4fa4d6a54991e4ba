"""Destination acceptance rules: a small declarative language, evaluated offline.

A destination province publishes, per checkpoint kind (``gate``: factory gates
and destination offices; ``highway``: freight checkpoints), a list of rules.
Each rule is data of one of a fixed set of types; nothing in a rule file is
ever executed. A rule gives PASS, FAIL or OPEN (it could not be evaluated:
the certificate lacks what it needs, or the device does not know the rule's
type), as EU DCC's CertLogic rules do, and the results roll up to accept or
reject with the reasons.

Rule object::

    {"id": "GD-01", "type": "max_age_hours", "hours": 72,
     "when": {"kinds": ["w"], "origin_prefixes": ["42"]},   # optional: where it applies
     "open": "reject",                                        # optional: OPEN rejects (default) or accepts
     "description": {"zh": "...", "en": "..."}}

Types: ``accept_kinds`` (``kinds``), ``max_age_hours`` (``hours``, since
issue), ``test_within_hours`` (``hours``, freight sampling time before the
check), ``not_from_key_area`` (``areas``: ``prefix``, ``from``, ``to``
dates; origin is ``o`` or the freight route origin ``ro``), ``health_code_in``
(``values``), ``destination_is_here`` (the certificate's destination province,
if any, is this one).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ._claims import CST, Certificate
from ._errors import TrustError

__all__ = ["FAIL", "OPEN", "PASS", "RULE_TYPES", "RuleOutcome", "RuleSet", "evaluate"]

PASS = "PASS"  # noqa: S105 - an outcome, not a password
FAIL = "FAIL"
OPEN = "OPEN"
RULE_TYPES = frozenset(
    {"accept_kinds", "max_age_hours", "test_within_hours", "not_from_key_area", "health_code_in", "destination_is_here"}
)
MAX_RULES = 200


@dataclass(frozen=True)
class RuleOutcome:
    """One rule's result and why."""

    id: str
    outcome: str
    reason: str
    description: Mapping[str, str] | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form."""
        return {"id": self.id, "outcome": self.outcome, "reason": self.reason}


def _date(value: Any, where: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except (TypeError, ValueError) as e:
        raise TrustError(f"{where}: dates are YYYY-MM-DD") from e


def _check_rule(rule: Any, where: str) -> None:
    """Refuse a malformed rule of a known type; an unknown type is kept and evaluates OPEN."""
    if not isinstance(rule, dict) or not isinstance(rule.get("id"), str) or not isinstance(rule.get("type"), str):
        raise TrustError(f"{where}: a rule is an object with string id and type")
    kind = rule["type"]
    if kind in ("max_age_hours", "test_within_hours"):
        hours = rule.get("hours")
        if type(hours) is not int or not 0 < hours <= 24 * 365:
            raise TrustError(f"{where} {rule['id']}: hours must be a positive integer")
    elif kind in ("accept_kinds", "health_code_in"):
        key = "kinds" if kind == "accept_kinds" else "values"
        values = rule.get(key)
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise TrustError(f"{where} {rule['id']}: {key} must be a list of strings")
    elif kind == "not_from_key_area":
        areas = rule.get("areas")
        if not isinstance(areas, list):
            raise TrustError(f"{where} {rule['id']}: areas must be a list")
        for area in areas:
            if not isinstance(area, dict) or not isinstance(area.get("prefix"), str) or not area["prefix"].isdigit():
                raise TrustError(f"{where} {rule['id']}: an area has a digit prefix")
            if _date(area.get("from"), where) > _date(area.get("to"), where):
                raise TrustError(f"{where} {rule['id']}: an area's from is after its to")
    when = rule.get("when", {})
    if not isinstance(when, dict) or not all(isinstance(when.get(k, []), list) for k in ("kinds", "origin_prefixes")):
        raise TrustError(f"{where} {rule['id']}: when has lists kinds and origin_prefixes")
    if rule.get("open", "reject") not in ("reject", "accept"):
        raise TrustError(f"{where} {rule['id']}: open is reject or accept")


@dataclass(frozen=True)
class RuleSet:
    """A province's verified rules: ``checkpoints`` maps a checkpoint kind to its rule list."""

    province: str
    version: int
    issued_at: int
    checkpoints: Mapping[str, Sequence[Mapping[str, Any]]]

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> RuleSet:
        """Validate a rules payload; raise :class:`TrustError` naming the defect."""
        province = payload.get("province")
        if not isinstance(province, str) or len(province) != 2 or not province.isdigit():
            raise TrustError("rules: province is a 2-digit code")
        version, issued_at = payload.get("version"), payload.get("issued_at")
        if type(version) is not int or type(issued_at) is not int:
            raise TrustError("rules: version and issued_at are integers")
        checkpoints = payload.get("checkpoints")
        if not isinstance(checkpoints, dict) or not checkpoints:
            raise TrustError("rules: checkpoints maps a checkpoint kind to its rules")
        for name, rules in checkpoints.items():
            if not isinstance(rules, list) or len(rules) > MAX_RULES:
                raise TrustError(f"rules {province}/{name}: a list of at most {MAX_RULES} rules")
            for rule in rules:
                _check_rule(rule, f"rules {province}/{name}")
        return cls(province, version, issued_at, checkpoints)


def _origin(cert: Certificate) -> str | None:
    value = cert.claims.get("o") or cert.claims.get("ro")
    return value if isinstance(value, str) else None


def _applies(rule: Mapping[str, Any], cert: Certificate) -> bool:
    when = rule.get("when", {})
    kinds = when.get("kinds")
    if kinds and cert.kind not in kinds:
        return False
    prefixes = when.get("origin_prefixes")
    origin = _origin(cert)
    return not (prefixes and not (origin and any(origin.startswith(p) for p in prefixes)))


def _one(rule: Mapping[str, Any], cert: Certificate, at: int, province: str) -> tuple[str, str]:
    kind = rule["type"]
    claims = cert.claims
    if kind == "accept_kinds":
        ok = cert.kind in rule["kinds"]
        return (PASS, "kind accepted") if ok else (FAIL, f"{cert.kind_name} certificates are not accepted here")
    if kind == "max_age_hours":
        age = (at - cert.iat) / 3600
        if age <= rule["hours"]:
            return PASS, f"issued {age:.0f} h ago"
        return FAIL, f"issued {age:.0f} h ago; at most {rule['hours']} h accepted"
    if kind == "test_within_hours":
        ts = claims.get("ts")
        if not isinstance(ts, int):
            return OPEN, "the certificate carries no test sampling time"
        age = (at - ts) / 3600
        if age <= rule["hours"]:
            return PASS, f"sampled {age:.0f} h ago"
        return FAIL, f"sampled {age:.0f} h ago; a test within {rule['hours']} h is required"
    if kind == "not_from_key_area":
        origin = _origin(cert)
        if origin is None:
            return OPEN, "the certificate names no origin"
        today = dt.datetime.fromtimestamp(at, CST).date()
        for area in rule["areas"]:
            if origin.startswith(area["prefix"]) and dt.date.fromisoformat(
                area["from"]
            ) <= today <= dt.date.fromisoformat(area["to"]):
                return FAIL, f"origin {origin} is in key epidemic area {area['prefix']} ({area['from']}..{area['to']})"
        return PASS, f"origin {origin} is not a designated key epidemic area"
    if kind == "health_code_in":
        code = claims.get("hc")
        if code is None:
            return OPEN, "the certificate carries no health code"
        if code in rule["values"]:
            return PASS, f"health code {code}"
        return FAIL, f"health code {code} is not accepted"
    if kind == "destination_is_here":
        dest = claims.get("dp")
        if dest is None:
            return OPEN, "the certificate names no destination province"
        if dest == province:
            return PASS, "destination matches"
        return FAIL, f"the certificate is for province {dest}, not {province}"
    return OPEN, f"rule type {kind!r} is not known to this verifier (update it)"


def evaluate(
    rules: Sequence[Mapping[str, Any]], cert: Certificate, *, at: int, province: str
) -> tuple[bool, tuple[RuleOutcome, ...]]:
    """Evaluate every applicable rule; return ``(accepted, outcomes)``.

    Accepted when no rule FAILs and every OPEN rule says ``"open": "accept"``.
    """
    outcomes = []
    accepted = True
    for rule in rules:
        if not _applies(rule, cert):
            continue
        outcome, reason = _one(rule, cert, at, province)
        if outcome == FAIL or (outcome == OPEN and rule.get("open", "reject") != "accept"):
            accepted = False
        outcomes.append(RuleOutcome(rule["id"], outcome, reason, rule.get("description")))
    return accepted, tuple(outcomes)
