"""Issue, list, get, render and change the status of certificates (an operator's own authority only)."""

from __future__ import annotations

import csv
import io
import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Header, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, Field

from issuer import EXAMPLE_WORKER

from .. import pages
from ..deps import Clock, MetricsDep, Service, Staff
from ..pages import SheetHeader
from ..service import IssuingService, ServiceError
from ..store import CertificateRecord

router = APIRouter(prefix="/v1", tags=["certificates"])

_APPLICATION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["kind", "name", "resident_id"],
    "description": "A return-to-work or freight-test application; docs/API.md lists every field.",
    "properties": {
        "kind": {"enum": ["return-to-work", "freight-test"]},
        "name": {"type": "string"},
        "resident_id": {
            "type": "string",
            "description": "18-character GB 11643 number; only its masked form is signed",
        },
        "origin_region": {"type": "string"},
        "resident_since": {"type": "string", "format": "date"},
        "symptoms": {"type": "array", "items": {"type": "string"}},
        "quarantine": {"enum": ["never", "released", "under"]},
        "quarantine_released_on": {"type": "string", "format": "date"},
        "health_code": {"enum": ["green", "yellow", "red"]},
        "destination_province": {"type": "string"},
        "employer": {"type": "string"},
        "vehicle_plate": {"type": "string"},
        "valid_days": {"type": "integer"},
        "role": {"enum": ["driver", "passenger"]},
        "test_kind": {"enum": ["nucleic_acid", "antigen"]},
        "test_result": {"enum": ["negative", "positive"]},
        "sampled_at": {"type": "string", "format": "date-time"},
        "testing_institution": {"type": "string"},
        "route_origin": {"type": "string"},
        "route_destination": {"type": "string"},
        "no_key_area_passage": {"type": "boolean"},
    },
}
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=128,
        description="A new random value per request, the same on every retry: a retry never issues twice. "
        "Clients must send one (required when the server sets HCERT_REQUIRE_IDEMPOTENCY_KEY=1).",
    ),
]


def _require_key(service: IssuingService, key: str | None) -> None:
    """Refuse an issuing request without ``Idempotency-Key`` when the server requires one."""
    if key is None and service.settings.require_idempotency_key:
        raise ServiceError(
            "idempotency_key_required",
            "send an Idempotency-Key header (a new random value per request, the same on each retry)",
            400,
        )


class StatusChange(BaseModel):
    """Why the status changes; kept in the audit log."""

    reason: str = Field(min_length=1, max_length=200)


def _reply(status: int, body: str, replayed: bool) -> JSONResponse:
    headers = {"Idempotent-Replayed": "true"} if replayed else None
    data = json.loads(body)
    if status == 422:  # every row refused: an error like any other (problem+json), the batch report kept
        data = {
            "type": "urn:hcert:problem:ineligible",
            "title": "Unprocessable request",
            "status": 422,
            "code": "ineligible",
            "detail": "every row was refused",
            **data,
        }
        return JSONResponse(data, status_code=status, headers=headers, media_type="application/problem+json")
    return JSONResponse(data, status_code=status, headers=headers)


@router.post(
    "/certificates",
    status_code=201,
    summary="Issue one certificate",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": _APPLICATION_SCHEMA, "example": EXAMPLE_WORKER}},
        }
    },
)
async def issue_one(
    request: Request,
    service: Service,
    operator: Staff,
    now: Clock,
    metrics: MetricsDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Check eligibility and sign. 201 with id, token, QR text and image links; 422 naming every bad field."""
    _require_key(service, idempotency_key)
    raw = await request.body()
    data = await run_in_threadpool(_parse_json, raw)
    if not isinstance(data, dict):
        raise ServiceError("invalid_request", "the body must be one application object", 422)
    assert operator.authority is not None
    _status, body, replayed = await run_in_threadpool(
        service.issue,
        operator.authority,
        [data],
        operator=operator,
        now=now,
        idempotency_key=idempotency_key,
        request_hash=service.request_fingerprint("one", [data]),
        authority_read=getattr(request.state, "authority_read", None),
    )
    result = json.loads(body)
    if result["errors"] and all(e["code"] == "out_of_scope" for e in result["errors"]):
        raise ServiceError(
            "out_of_scope",
            "this authority's scope does not allow this certificate (devices would refuse it)",
            403,
            [{k: v for k, v in e.items() if k != "row"} for e in result["errors"]],
        )
    if result["errors"]:
        raise ServiceError(
            "ineligible",
            "the application was refused",
            422,
            [{k: v for k, v in e.items() if k != "row"} for e in result["errors"]],
        )
    if not replayed:
        metrics.count_issued(operator.authority, result["issued"][0]["kind"])
    return _reply(
        201, json.dumps({k: v for k, v in result["issued"][0].items() if k != "row"}, ensure_ascii=False), replayed
    )


_CSV_COLUMNS = set(_APPLICATION_SCHEMA["properties"])


#: Deepest JSON nesting an application can have ({"applications": [{"symptoms": [...]}]}), with room.
MAX_JSON_DEPTH = 16


#: Most JSON values (counted by their separating commas) one application may hold; far
#: above a real one (about 20 fields, a few symptoms), and it bounds the parse of a batch.
MAX_JSON_VALUES_PER_ROW = 64


def _parse_json(raw: bytes, *, rows: int = 1) -> Any:
    """Return the parsed body of at most ``rows`` applications.

    400 ``invalid_json``; 422 ``too_deep`` past :data:`MAX_JSON_DEPTH`; 422
    ``too_many_rows`` (a batch) or ``too_many_values`` (one application) when the body
    holds more values than that many applications can: counted before parsing, at C
    speed, because the parser holds the interpreter lock for as long as it runs.
    """
    if raw.count(b",") > rows * MAX_JSON_VALUES_PER_ROW:
        if rows > 1:
            raise _too_many(rows)
        raise ServiceError("too_many_values", "the application holds far more values than an application has", 422)
    try:
        data = json.loads(raw)
    except RecursionError as e:
        raise _too_deep() from e
    except (ValueError, UnicodeDecodeError) as e:
        raise ServiceError("invalid_json", "the body is not JSON", 400) from e
    # Iterative walk: no recursion however deep, and cheap next to the parse.
    level: list[Any] = [data]
    for _ in range(MAX_JSON_DEPTH):
        level = [
            child
            for node in level
            if isinstance(node, dict | list)
            for child in (node.values() if isinstance(node, dict) else node)
            if isinstance(child, dict | list)
        ]
        if not level:
            return data
    raise _too_deep()


def _too_deep() -> ServiceError:
    return ServiceError("too_deep", f"JSON nested deeper than {MAX_JSON_DEPTH} levels", 422)


def _too_many(limit: int) -> ServiceError:
    return ServiceError("too_many_rows", f"a batch has at most {limit} rows", 422)


def _batch_rows(raw: bytes, content_type: str, limit: int) -> list[Any]:
    """Return the rows of a batch body, refusing past ``limit`` rows without reading the rest."""
    if content_type == "text/csv":
        rows: Any = _rows_from_csv(raw, limit=limit)
    else:
        data = _parse_json(raw, rows=limit)
        rows = data.get("applications") if isinstance(data, dict) else None
        if not isinstance(rows, list):
            raise ServiceError(
                "invalid_request",
                'the body must be {"applications": [...]}',
                422,
                [{"field": "applications", "code": "required", "message": "a list of applications"}],
            )
    if not rows:
        raise ServiceError("empty_batch", "the batch has no rows", 422)
    if len(rows) > limit:
        raise _too_many(limit)
    return list(rows)


def _rows_from_csv(raw: bytes, *, limit: int | None = None) -> list[dict[str, Any]]:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ServiceError("invalid_csv", "the CSV is not UTF-8", 400) from e
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        header = reader.fieldnames or []
    except csv.Error as e:
        # A malformed first line (a bare carriage return in a cell, a NUL) fails here.
        raise ServiceError("invalid_csv", f"the CSV header is malformed: {e}", 400) from e
    unknown = [c for c in header if c not in _CSV_COLUMNS]
    if not header or unknown:
        raise ServiceError(
            "invalid_csv",
            "the CSV header must name application fields",
            422,
            [{"row": 0, "field": c, "code": "unknown_column", "message": "not an application field"} for c in unknown],
        )
    try:
        rows: list[dict[str, Any]] = []
        for row in reader:
            if limit is not None and len(rows) == limit:
                raise _too_many(limit)
            if None in row:
                raise ServiceError(
                    "invalid_csv",
                    f"row {reader.line_num - 1} has more cells than the header",
                    422,
                    [
                        {
                            "row": reader.line_num - 1,
                            "field": "",
                            "code": "extra_cells",
                            "message": "more cells than columns",
                        }
                    ],
                )
            rows.append({k: v for k, v in row.items() if v not in (None, "")})
        return rows
    except csv.Error as e:
        raise ServiceError("invalid_csv", f"the CSV is malformed: {e}", 400) from e


@router.post(
    "/certificates/batch",
    summary="Issue a batch (a bus manifest) from JSON or CSV",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "properties": {
                            "applications": {"type": "array", "items": _APPLICATION_SCHEMA, "maxItems": 500}
                        },
                    }
                },
                "text/csv": {
                    "schema": {"type": "string"},
                    "example": "kind,name,resident_id,origin_region,resident_since,quarantine,health_code\n"
                    "return-to-work,张伟明,510321199003071234,510321,2020-01-20,never,green\n",
                },
            },
        }
    },
    responses={
        201: {"description": "all rows issued"},
        207: {"description": "some rows refused"},
        422: {"description": "every row refused"},
    },
)
async def issue_batch(
    request: Request,
    service: Service,
    operator: Staff,
    now: Clock,
    metrics: MetricsDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Check every row, issue the good ones, report each bad row by number and field. Up to 500 rows."""
    _require_key(service, idempotency_key)
    raw = await request.body()
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in ("text/csv", "application/json"):
        raise ServiceError("unsupported_media_type", "send application/json or text/csv", 415)
    # Parsing and counting run off the event loop, and stop at the row cap: a
    # million-row body costs no more than a full batch.
    rows = await run_in_threadpool(_batch_rows, raw, content_type, service.settings.max_batch_rows)
    assert operator.authority is not None
    status, body, replayed = await run_in_threadpool(
        service.issue,
        operator.authority,
        rows,
        operator=operator,
        now=now,
        idempotency_key=idempotency_key,
        request_hash=service.request_fingerprint(content_type, rows),
        authority_read=getattr(request.state, "authority_read", None),
    )
    if not replayed:
        for item in json.loads(body)["issued"]:
            metrics.count_issued(operator.authority, item["kind"])
    return _reply(status, body, replayed)


@router.get("/certificates", summary="List the authority's certificates")
def list_certificates(
    service: Service,
    operator: Staff,
    kind: Annotated[Literal["return-to-work", "freight-test"] | None, Query()] = None,
    issued_from: Annotated[int | None, Query(ge=0, le=2**40, description="Unix seconds, inclusive")] = None,
    issued_to: Annotated[int | None, Query(ge=0, le=2**40, description="Unix seconds, exclusive")] = None,
    kid: Annotated[str | None, Query(max_length=11, description="signing key (for a key compromise)")] = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict[str, Any]:
    """Newest first, paged, filterable by kind, issue time and signing key."""
    assert operator.authority is not None
    records, total = service.store.list_certificates(
        operator.authority,
        kind={"return-to-work": "w", "freight-test": "f"}.get(kind or ""),
        issued_from=issued_from,
        issued_to=issued_to,
        kid=kid,
        offset=(page - 1) * page_size,
        limit=page_size,
    )
    return {"page": page, "page_size": page_size, "total": total, "items": [service.describe(r) for r in records]}


@router.get("/certificates/{jti}", summary="Get one certificate")
def get_certificate(jti: str, service: Service, operator: Staff) -> dict[str, Any]:
    """404 for an unknown id or another authority's certificate."""
    assert operator.authority is not None
    return service.describe(service.certificate(operator.authority, jti))


_IMAGE_TYPES = {"png": "image/png", "svg": "image/svg+xml"}


@router.get(
    "/certificates/{jti}/qr.{fmt}",
    summary="QR code as PNG or SVG",
    response_class=Response,
    responses={200: {"content": {"image/png": {}, "image/svg+xml": {}}}},
)
def qr_image(jti: str, fmt: Literal["png", "svg"], service: Service, operator: Staff) -> Response:
    """Rendered on first request, then cached in the service (never by browsers: it carries the token)."""
    assert operator.authority is not None
    record = service.certificate(operator.authority, jti)
    service.require_printable(record)
    return Response(service.render(record, fmt), media_type=_IMAGE_TYPES[fmt], headers={"Cache-Control": "no-store"})


@router.get("/certificates/{jti}/print", summary="Printable certificate page", response_class=HTMLResponse)
def print_page(jti: str, request: Request, service: Service, operator: Staff) -> HTMLResponse:
    """The certificate's card as the console prints it: attested facts, validity (UTC+8), how to verify, seal.

    A revoked, suspended or withdrawn-key certificate prints as VOID / 作废 with the reason and no QR code.
    """
    assert operator.authority is not None
    record = service.certificate(operator.authority, jti)
    return _printed(request, service, operator.authority, [record], None)


@router.get("/batches/{batch}/print", summary="Print sheet of a whole batch", response_class=HTMLResponse)
def batch_print(
    batch: Annotated[str, Path(max_length=64)],
    request: Request,
    service: Service,
    operator: Staff,
    plate: Annotated[str, Query(max_length=64, description="the bus's plate, shown in the sheet's header")] = "",
    route: Annotated[str, Query(max_length=64, description="the route, shown in the sheet's header")] = "",
    date: Annotated[str, Query(max_length=64, description="the departure date, shown in the sheet's header")] = "",
) -> HTMLResponse:
    """The bus sheet of one issue request (A4: header, manifest table in row order, four cards a page)."""
    assert operator.authority is not None
    # The batch index: the batch's ids in manifest order, however many certificates the authority has.
    found = (
        service.store.get_certificate(operator.authority, jti)
        for jti in service.store.batch_certificates(operator.authority, batch)
    )
    chosen = [r for r in found if r is not None]
    if not chosen:
        raise ServiceError("batch_not_found", f"no batch {batch}", 404)
    header = SheetHeader(count=len(chosen), plate=plate.strip(), route=route.strip(), date=date.strip(), batch=batch)
    return _printed(request, service, operator.authority, chosen, header)


def _printed(
    request: Request, service: IssuingService, code: str, records: list[CertificateRecord], header: SheetHeader | None
) -> HTMLResponse:
    assert all(r.authority == code for r in records)
    return pages.print_response(service, records, header, accept_encoding=request.headers.get("accept-encoding", ""))


def _status_route(status: str, summary: str):  # type: ignore[no-untyped-def]
    def change(
        jti: str,
        change: Annotated[StatusChange, Body()],
        service: Service,
        operator: Staff,
        now: Clock,
        metrics: MetricsDep,
    ) -> dict[str, Any]:
        assert operator.authority is not None
        record = service.change_status(operator.authority, jti, status, change.reason, operator=operator, now=now)
        metrics.count_status_change(status)
        return service.describe(record)

    change.__doc__ = summary
    return change


router.post("/certificates/{jti}/revoke", summary="Revoke (final)")(_status_route("revoked", "Revoke for good."))
router.post("/certificates/{jti}/suspend", summary="Suspend")(_status_route("suspended", "Suspend until unsuspended."))
router.post("/certificates/{jti}/unsuspend", summary="Unsuspend")(_status_route("valid", "Lift a suspension."))
