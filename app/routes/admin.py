"""Authorities, operators and keys (admins); each change is audited."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Path
from pydantic import BaseModel, Field

from ..deps import Admin, Clock, National, Service
from ..service import ServiceError
from ..store import Operator

router = APIRouter(prefix="/v1/authorities", tags=["administration"])
Code = Annotated[str, Path(pattern=r"^[0-9]{6,12}$")]


class AuthorityIn(BaseModel):
    """A new issuing authority."""

    code: str = Field(pattern=r"^[0-9]{6,12}$", description="GB/T 2260 code (township authorities: 9 or 12 digits)")
    name_zh: str = Field(min_length=1, max_length=64)
    name_en: str = Field(min_length=1, max_length=128)
    kinds: list[Literal["w", "f"]] | None = Field(default=None, description="kinds it may issue (default both)")
    regions: list[str] | None = Field(
        default=None, description="region-code prefixes of the residents it may certify (default: its own area)"
    )


class ScopeIn(BaseModel):
    """What an authority may issue; an omitted member stays as it is."""

    kinds: list[Literal["w", "f"]] | None = Field(default=None, description="w (return-to-work), f (freight test)")
    regions: list[str] | None = Field(default=None, description="region-code prefixes inside the authority's area")


def _authority_out(service: Any, a: Any) -> dict[str, Any]:
    kinds, regions = service.scope_of(a)
    return {"code": a.code, "name_zh": a.name_zh, "name_en": a.name_en, "kinds": list(kinds), "regions": list(regions)}


class OperatorIn(BaseModel):
    """A new operator of the authority."""

    name: str = Field(min_length=1, max_length=64)
    role: Literal["operator", "authority_admin"] = "operator"
    expires_days: int | None = Field(
        default=None, ge=1, le=3660, description="days the credential is valid (default HCERT_CREDENTIAL_DAYS, 90)"
    )


class WithdrawIn(BaseModel):
    """Why a key is withdrawn."""

    reason: str = Field(min_length=1, max_length=200)


def _own(operator: Operator, code: str) -> None:
    if operator.role != "national_admin" and operator.authority != code:
        raise ServiceError("forbidden", "an authority admin manages only their own authority", 403)


@router.post("", status_code=201, summary="Register an authority (national admin)")
def create_authority(
    body: Annotated[AuthorityIn, Body()], service: Service, operator: National, now: Clock
) -> dict[str, Any]:
    """Creates the authority, with its scope, and its first signing key."""
    a = service.create_authority(
        body.code, body.name_zh, body.name_en, actor=operator.id, now=now, kinds=body.kinds, regions=body.regions
    )
    return _authority_out(service, a)


@router.get("", summary="List authorities")
def list_authorities(service: Service, operator: Admin) -> list[dict[str, Any]]:
    """Every registered authority, with its scope."""
    return [_authority_out(service, a) for a in service.store.list_authorities()]


@router.put("/{code}/scope", summary="Change what an authority may issue (national admin)")
def set_scope(
    code: Code, body: Annotated[ScopeIn, Body()], service: Service, operator: National, now: Clock
) -> dict[str, Any]:
    """Issuing checks the new scope at once; export the province to carry it to the trust list. 422 `invalid_scope`."""
    a = service.set_scope(code, kinds=body.kinds, regions=body.regions, actor=operator.id, now=now)
    return _authority_out(service, a)


@router.post("/{code}/operators", status_code=201, summary="Create an operator; the credential is shown once")
def create_operator(
    code: Code, body: Annotated[OperatorIn, Body()], service: Service, operator: Admin, now: Clock
) -> dict[str, Any]:
    """The response holds the only copy of the credential; the server keeps its hash."""
    _own(operator, code)
    created, token = service.create_operator(
        code, body.name, body.role, actor=operator.id, now=now, expires_days=body.expires_days
    )
    return {**service.describe_operator(created, now=now), "credential": token}


# -- operator credential lifecycle ---------------------------------------------------------
OperatorId = Annotated[str, Path(pattern=r"^op_[0-9a-f]{16}$")]


class RotateIn(BaseModel):
    """How long the new credential is valid."""

    expires_days: int | None = Field(default=None, ge=1, le=3660, description="default HCERT_CREDENTIAL_DAYS (90)")


class ExpireIn(BaseModel):
    """When the credential expires (omitted: now)."""

    at: dt.datetime | None = Field(default=None, description="ISO 8601 with a time zone; at most 3660 days ahead")


@router.get("/{code}/operators", summary="List the authority's operators with creation, expiry and last use")
def list_operators(code: Code, service: Service, operator: Admin, now: Clock) -> dict[str, Any]:
    """Never a credential or its hash. ``state`` is active, disabled or expired."""
    _own(operator, code)
    return {"items": [service.describe_operator(o, now=now) for o in service.operators(code)]}


@router.post("/{code}/operators/{op_id}/disable", summary="Disable an operator's credential")
def disable_operator(code: Code, op_id: OperatorId, service: Service, operator: Admin, now: Clock) -> dict[str, Any]:
    """Every instance refuses the credential from the next request on (401 ``credential_disabled``)."""
    _own(operator, code)
    changed = service.set_operator_disabled(op_id, True, actor=operator.id, now=now, authority=code)
    return service.describe_operator(changed, now=now)


@router.post("/{code}/operators/{op_id}/enable", summary="Re-enable an operator's credential")
def enable_operator(code: Code, op_id: OperatorId, service: Service, operator: Admin, now: Clock) -> dict[str, Any]:
    """The same credential works again (unless it has expired)."""
    _own(operator, code)
    changed = service.set_operator_disabled(op_id, False, actor=operator.id, now=now, authority=code)
    return service.describe_operator(changed, now=now)


@router.post("/{code}/operators/{op_id}/rotate", summary="Give an operator a new credential; shown once")
def rotate_operator(
    code: Code,
    op_id: OperatorId,
    service: Service,
    operator: Admin,
    now: Clock,
    body: Annotated[RotateIn | None, Body()] = None,
) -> dict[str, Any]:
    """The old credential stops working at once; the response holds the only copy of the new one."""
    _own(operator, code)
    changed, token = service.rotate_credential(
        op_id, actor=operator.id, now=now, authority=code, expires_days=body.expires_days if body else None
    )
    return {**service.describe_operator(changed, now=now), "credential": token}


@router.post("/{code}/operators/{op_id}/expire", summary="Set when an operator's credential expires")
def expire_operator(
    code: Code,
    op_id: OperatorId,
    service: Service,
    operator: Admin,
    now: Clock,
    body: Annotated[ExpireIn | None, Body()] = None,
) -> dict[str, Any]:
    """Without ``at`` the credential expires now (401 ``credential_expired`` from then on)."""
    _own(operator, code)
    at = body.at if body and body.at else now
    if at.tzinfo is None:
        raise ServiceError("invalid_expiry", "give the time with a time zone", 422)
    changed = service.expire_credential(op_id, at=at, actor=operator.id, now=now, authority=code)
    return service.describe_operator(changed, now=now)


@router.get("/{code}/keys", summary="The authority's keys (public metadata)")
def list_keys(code: Code, service: Service, operator: Admin, now: Clock) -> dict[str, Any]:
    """Active, retired and withdrawn keys."""
    _own(operator, code)
    return service.ring(code).jwks(now=int(now.timestamp()), issuer=code)


@router.post("/{code}/keys/rotate", summary="Rotate the signing key")
def rotate_key(code: Code, service: Service, operator: Admin, now: Clock) -> dict[str, Any]:
    """A new active key; the old one stays published until its certificates expire."""
    _own(operator, code)
    record = service.rotate_key(code, actor=operator.id, now=now)
    return {"kid": record.kid, "state": record.state}


@router.post("/{code}/keys/{kid}/withdraw", summary="Withdraw a key (compromise)")
def withdraw_key(
    code: Code,
    kid: Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{11}$")],
    body: Annotated[WithdrawIn, Body()],
    service: Service,
    operator: Admin,
    now: Clock,
) -> dict[str, Any]:
    """Verifiers reject everything the key signed from their next sync; lists the holders to re-issue."""
    _own(operator, code)
    record = service.withdraw_key(code, kid, reason=body.reason, actor=operator.id, now=now)
    affected, total = service.store.list_certificates(code, kid=kid, limit=100_000)
    return {
        "kid": record.kid,
        "state": record.state,
        "affected": total,
        "reissue": [{"id": r.jti, "name": r.name, "masked_id": r.masked_id, "kind": r.kind} for r in affected],
    }
