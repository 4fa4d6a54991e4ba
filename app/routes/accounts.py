"""People's console accounts (authority admins): a user name and a first password, reset when forgotten."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body
from pydantic import BaseModel, Field

from ..accounts import Accounts
from ..deps import Admin, Clock, Service
from .admin import Code, OperatorId, _own

router = APIRouter(prefix="/v1/authorities", tags=["administration"])


class AccountIn(BaseModel):
    """A person who signs in to the console."""

    username: str = Field(min_length=3, max_length=32, description="3-32 of a-z 0-9 . _ - (lower-cased)")
    role: Literal["operator", "authority_admin"] = "operator"
    password: str | None = Field(
        default=None, min_length=10, max_length=128, description="the first password (omitted: one is generated)"
    )


class ResetIn(BaseModel):
    """The new password (omitted: one is generated)."""

    password: str | None = Field(default=None, min_length=10, max_length=128)


@router.post(
    "/{code}/accounts", status_code=201, summary="Create a person's console account; the first password is shown once"
)
def create_account(
    code: Code, body: Annotated[AccountIn, Body()], service: Service, operator: Admin, now: Clock
) -> dict[str, Any]:
    """An operator of the authority with a user name and a password it must change at first sign-in."""
    _own(operator, code)
    created, password = Accounts(service).create(
        code, body.username, body.role, password=body.password, actor=operator.id, now=now
    )
    return {
        **service.describe_operator(created, now=now),
        "username": created.name,
        "password": password,
        "must_change": True,
    }


@router.post("/{code}/accounts/{op_id}/password", summary="Reset a person's password (shown once); their sessions end")
def reset_password(
    code: Code,
    op_id: OperatorId,
    service: Service,
    operator: Admin,
    now: Clock,
    body: Annotated[ResetIn | None, Body()] = None,
) -> dict[str, Any]:
    """The person must change it at next sign-in."""
    _own(operator, code)
    password = Accounts(service).reset_password(
        op_id, authority=code, password=body.password if body else None, actor=operator.id, now=now
    )
    return {"id": op_id, "password": password, "must_change": True}
