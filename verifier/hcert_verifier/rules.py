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
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from ._claims import Certificate
from ._errors import TrustError

__all__ = ["FAIL", "OPEN", "PASS", "RULE_TYPES", "CompiledRule", "RuleOutcome", "RuleSet", "evaluate"]

PASS = "PASS"  # noqa: S105 - an outcome, not a password
FAIL = "FAIL"
OPEN = "OPEN"
RULE_TYPES = frozenset(
    {"accept_kinds", "max_age_hours", "test_within_hours", "not_from_key_area", "health_code_in", "destination_is_here"}
)
MAX_RULES = 200


class RuleOutcome(NamedTuple):
    """One rule's result and why (the reason is formatted when read)."""

    id: str
    outcome: str
    template: str
    args: tuple[Any, ...] = ()
    description: Mapping[str, str] | None = None

    @property
    def reason(self) -> str:
        """Return the reason in words."""
        return self.template.format(*self.args)

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form."""
        return {"id": self.id, "outcome": self.outcome, "reason": self.reason}


class CompiledRule(NamedTuple):
    """A validated rule with its parameters parsed once, at load time."""

    id: str
    type: str
    hours: int
    values: frozenset[str]
    areas: tuple[tuple[str, int, int], ...]  # (prefix, first day ordinal, last day ordinal)
    when_kinds: frozenset[str]
    when_prefixes: tuple[str, ...]
    open_accepts: bool
    description: Mapping[str, str] | None


def _compile(rule: Mapping[str, Any]) -> CompiledRule:
    # Only the members of the rule's own type are read: a rule of a type this
    # verifier does not know may carry anything else (it evaluates OPEN).
    kind = rule["type"]
    when = rule.get("when", {})
    return CompiledRule(
        id=rule["id"],
        type=kind,
        hours=rule["hours"] if kind in ("max_age_hours", "test_within_hours") else 0,
        values=frozenset(rule["kinds"] if kind == "accept_kinds" else rule["values"])
        if kind in ("accept_kinds", "health_code_in")
        else frozenset(),
        areas=tuple(
            (a["prefix"], dt.date.fromisoformat(a["from"]).toordinal(), dt.date.fromisoformat(a["to"]).toordinal())
            for a in rule["areas"]
        )
        if kind == "not_from_key_area"
        else (),
        when_kinds=frozenset(when.get("kinds") or ()),
        when_prefixes=tuple(when.get("origin_prefixes") or ()),
        open_accepts=rule.get("open", "reject") == "accept",
        description=rule.get("description") if isinstance(rule.get("description"), Mapping) else None,
    )


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
    # The members every rule may have are checked whatever its type.
    when = rule.get("when", {})
    if not isinstance(when, dict) or not all(_strings(when.get(k, [])) for k in ("kinds", "origin_prefixes")):
        raise TrustError(f"{where} {rule['id']}: when has lists of strings kinds and origin_prefixes")
    if rule.get("open", "reject") not in ("reject", "accept"):
        raise TrustError(f"{where} {rule['id']}: open is reject or accept")
    description = rule.get("description", {})
    if not isinstance(description, dict) or not all(isinstance(v, str) for v in description.values()):
        raise TrustError(f"{where} {rule['id']}: description maps a language to a string")


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


@dataclass(frozen=True)
class RuleSet:
    """A province's verified rules: ``checkpoints`` maps a checkpoint kind to its rule list."""

    province: str
    version: int
    issued_at: int
    checkpoints: Mapping[str, Sequence[Mapping[str, Any]]]
    _compiled: dict[str, tuple[CompiledRule, ...]] = field(default_factory=dict, repr=False, compare=False)

    def compiled(self, checkpoint: str) -> tuple[CompiledRule, ...] | None:
        """Return the checkpoint's rules ready to evaluate, or ``None`` if it has none."""
        rules = self._compiled.get(checkpoint)
        if rules is None and checkpoint in self.checkpoints:
            rules = self._compiled[checkpoint] = tuple(_compile(r) for r in self.checkpoints[checkpoint])
        return rules

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


_EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()
_CST_SECONDS = 8 * 3600


def _origin(claims: Mapping[str, Any]) -> str | None:
    value = claims.get("o") or claims.get("ro")
    return value if isinstance(value, str) else None


def _one(rule: CompiledRule, cert: Certificate, at: int, today: int, province: str) -> RuleOutcome:
    kind = rule.type
    claims = cert.claims
    rid, desc = rule.id, rule.description
    if kind == "accept_kinds":
        if cert.kind in rule.values:
            return RuleOutcome(rid, PASS, "kind accepted", (), desc)
        return RuleOutcome(rid, FAIL, "{} certificates are not accepted here", (cert.kind_name,), desc)
    if kind == "max_age_hours":
        age = (at - cert.iat) / 3600
        if age <= rule.hours:
            return RuleOutcome(rid, PASS, "issued {:.0f} h ago", (age,), desc)
        return RuleOutcome(rid, FAIL, "issued {:.0f} h ago; at most {} h accepted", (age, rule.hours), desc)
    if kind == "test_within_hours":
        ts = claims.get("ts")
        if not isinstance(ts, int):
            return RuleOutcome(rid, OPEN, "the certificate carries no test sampling time", (), desc)
        age = (at - ts) / 3600
        if age <= rule.hours:
            return RuleOutcome(rid, PASS, "sampled {:.0f} h ago", (age,), desc)
        return RuleOutcome(rid, FAIL, "sampled {:.0f} h ago; a test within {} h is required", (age, rule.hours), desc)
    if kind == "not_from_key_area":
        origin = _origin(claims)
        if origin is None:
            return RuleOutcome(rid, OPEN, "the certificate names no origin", (), desc)
        for prefix, first, last in rule.areas:
            if first <= today <= last and origin.startswith(prefix):
                return RuleOutcome(rid, FAIL, "origin {} is in key epidemic area {}", (origin, prefix), desc)
        return RuleOutcome(rid, PASS, "origin {} is not a designated key epidemic area", (origin,), desc)
    if kind == "health_code_in":
        code = claims.get("hc")
        if code is None:
            return RuleOutcome(rid, OPEN, "the certificate carries no health code", (), desc)
        if code in rule.values:
            return RuleOutcome(rid, PASS, "health code {}", (code,), desc)
        return RuleOutcome(rid, FAIL, "health code {} is not accepted", (code,), desc)
    if kind == "destination_is_here":
        dest = claims.get("dp")
        if dest is None:
            return RuleOutcome(rid, OPEN, "the certificate names no destination province", (), desc)
        if dest == province:
            return RuleOutcome(rid, PASS, "destination matches", (), desc)
        return RuleOutcome(rid, FAIL, "the certificate is for province {}, not {}", (dest, province), desc)
    return RuleOutcome(rid, OPEN, "rule type {!r} is not known to this verifier (update it)", (kind,), desc)


def evaluate(
    rules: Sequence[CompiledRule], cert: Certificate, *, at: int, province: str
) -> tuple[bool, tuple[RuleOutcome, ...]]:
    """Evaluate every applicable rule; return ``(accepted, outcomes)``.

    Accepted when no rule FAILs and every OPEN rule says ``"open": "accept"``.
    """
    outcomes = []
    accepted = True
    today = (at + _CST_SECONDS) // 86400 + _EPOCH_ORDINAL
    origin = None
    for rule in rules:
        if rule.when_kinds and cert.kind not in rule.when_kinds:
            continue
        if rule.when_prefixes:
            origin = origin or _origin(cert.claims)
            if not (origin and origin.startswith(rule.when_prefixes)):
                continue
        try:
            outcome = _one(rule, cert, at, today, province)
        except (TypeError, ValueError, KeyError, AttributeError, OverflowError):  # pragma: no cover - defence
            # A rule this verifier cannot evaluate is OPEN, never an exception.
            outcome = RuleOutcome(rule.id, OPEN, "rule {} could not be evaluated", (rule.id,), rule.description)
        if outcome.outcome == FAIL or (outcome.outcome == OPEN and not rule.open_accepts):
            accepted = False
        outcomes.append(outcome)
    return accepted, tuple(outcomes)
