"""Authorities, operators and keys (admins); each change is audited."""

from __future__ import annotations

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


class OperatorIn(BaseModel):
    """A new operator of the authority."""

    name: str = Field(min_length=1, max_length=64)
    role: Literal["operator", "authority_admin"] = "operator"


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
    """Creates the authority and its first signing key."""
    a = service.create_authority(body.code, body.name_zh, body.name_en, actor=operator.id, now=now)
    return {"code": a.code, "name_zh": a.name_zh, "name_en": a.name_en}


@router.get("", summary="List authorities")
def list_authorities(service: Service, operator: Admin) -> list[dict[str, Any]]:
    """Every registered authority."""
    return [{"code": a.code, "name_zh": a.name_zh, "name_en": a.name_en} for a in service.store.list_authorities()]


@router.post("/{code}/operators", status_code=201, summary="Create an operator; the credential is shown once")
def create_operator(
    code: Code, body: Annotated[OperatorIn, Body()], service: Service, operator: Admin, now: Clock
) -> dict[str, Any]:
    """The response holds the only copy of the credential; the server keeps its hash."""
    _own(operator, code)
    created, token = service.create_operator(code, body.name, body.role, actor=operator.id, now=now)
    return {"id": created.id, "authority": code, "name": created.name, "role": created.role, "credential": token}


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
