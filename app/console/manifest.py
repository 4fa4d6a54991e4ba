"""Bus manifest upload: a CSV (UTF-8 or GBK, detected and said), issued in parts with a progress bar.

The page sends the file as it is; the server decodes and parses it and names
the file by its SHA-256. The browser then sends the rows in parts of
:data:`PART_ROWS`; each part is issued with an Idempotency-Key made of the
person, the file's hash and the part's rows, so a double click, a reload and a
second upload of the same file replay the first answer and issue nothing twice.
Refused rows are fixed in place (sent again as a new part) or downloaded as CSV.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from ..accounts import SignedIn
from ..problems import problem
from ..service import ServiceError
from .printing import MAX_SHEET
from .routes import _service
from .web import now_of, render, require

__all__ = ["COLUMNS", "PART_ROWS", "decode_csv", "router"]

router = APIRouter(prefix="/console", include_in_schema=False)
PART_ROWS = 10
MAX_FILE = 1024 * 1024
#: The columns a manifest may have (the API's application fields).
COLUMNS = (
    "kind", "name", "resident_id", "origin_region", "resident_since", "symptoms", "quarantine",
    "quarantine_released_on", "health_code", "destination_province", "employer", "vehicle_plate", "valid_days",
    "role", "test_kind", "test_result", "sampled_at", "testing_institution", "route_origin", "route_destination",
    "no_key_area_passage",
)  # fmt: skip
TEMPLATE_COLUMNS = (
    "kind", "name", "resident_id", "origin_region", "resident_since", "symptoms", "quarantine",
    "quarantine_released_on", "health_code", "destination_province", "employer",
)  # fmt: skip
TEMPLATE_ROW = (
    "return-to-work",
    "张伟明",
    "510321199003071234",
    "510321",
    "2020-01-20",
    "",
    "never",
    "",
    "green",
    "44",
    "",
)


def decode_csv(raw: bytes) -> tuple[str, str]:
    """Return ``(text, encoding said to the clerk)``: UTF-8 (with or without BOM), else GBK (GB 18030)."""
    try:
        return raw.decode("utf-8-sig"), "UTF-8"
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("gb18030"), "GBK"
    except UnicodeDecodeError as e:
        raise ServiceError("invalid_csv", "the file is neither UTF-8 nor GBK text", 422) from e


def parse_manifest(raw: bytes) -> tuple[str, list[dict[str, str]]]:
    """Return the encoding and the rows (blank cells left out) of a manifest CSV."""
    if not raw.strip():
        raise ServiceError("invalid_csv", "the file is empty", 422)
    text, encoding = decode_csv(raw)
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        header = [h.strip() for h in (reader.fieldnames or [])]
        unknown = [h for h in header if h not in COLUMNS]
        if not header or unknown:
            raise ServiceError(
                "invalid_csv",
                "the first line must name application fields (download the template)",
                422,
                [
                    {"row": 0, "field": h, "code": "unknown_column", "message": "not an application field"}
                    for h in unknown
                ],
            )
        reader.fieldnames = header
        rows = []
        for row in reader:
            if None in row:
                raise ServiceError("invalid_csv", f"line {reader.line_num} has more cells than the header", 422)
            cells = {k: v.strip() for k, v in row.items() if v is not None and v.strip()}
            if cells:
                rows.append(cells)
    except csv.Error as e:
        raise ServiceError("invalid_csv", f"the CSV is malformed: {e}", 422) from e
    if not rows:
        raise ServiceError("invalid_csv", "the file has no rows", 422)
    return encoding, rows


def _api_session(request: Request) -> SignedIn:
    """The session of a script request; its CSRF token comes in the ``X-CSRF-Token`` header."""
    signed_in = require(request)
    sent = request.headers.get("x-csrf-token", "")
    if not hmac.compare_digest(sent.encode(), signed_in.session.csrf.encode()):
        raise ServiceError("csrf_failed", "the CSRF token is missing or wrong; reload the page", 403)
    return signed_in


@router.get("/manifest")
def manifest_page(request: Request) -> Response:
    """Upload a bus manifest, follow its progress, fix refused rows, then print the bus sheet."""
    signed_in = require(request)
    return render(
        request,
        "console/manifest.html",
        {"part_rows": PART_ROWS, "max_rows": _service(request).settings.max_batch_rows, "max_sheet": MAX_SHEET},
        signed_in=signed_in,
    )


@router.get("/manifest/template.csv")
def template_csv(request: Request) -> Response:
    """A manifest template with one example row (UTF-8 with a BOM, so that Excel opens it right)."""
    require(request)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(TEMPLATE_COLUMNS)
    writer.writerow(TEMPLATE_ROW)
    return Response(
        "\ufeff" + out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="manifest-template.csv"'},
    )


@router.post("/manifest/parse")
async def parse(request: Request) -> JSONResponse:
    """Read an uploaded CSV: its encoding, its rows and the hash that names it."""
    raw = await request.body()
    try:
        _api_session(request)
        if len(raw) > MAX_FILE:
            raise ServiceError("body_too_large", f"a manifest is at most {MAX_FILE} bytes", 413)
        encoding, rows = parse_manifest(raw)
        if len(rows) > _service(request).settings.max_batch_rows:
            raise ServiceError("too_many_rows", f"at most {_service(request).settings.max_batch_rows} rows", 422)
    except ServiceError as e:
        return problem(e.status, e.code, e.message, errors=e.errors, headers=e.headers or None)
    return JSONResponse({"encoding": encoding, "file": hashlib.sha256(raw).hexdigest(), "rows": rows})


@router.post("/manifest/issue")
async def issue_part(request: Request) -> JSONResponse:
    """Issue one part of a manifest: ``{"file": sha256, "rows": [{"line": n, "data": {...}}]}``."""
    try:
        body = json.loads(await request.body())
        signed_in = _api_session(request)
        if (
            not isinstance(body, dict)
            or not isinstance(body.get("rows"), list)
            or not isinstance(body.get("file"), str)
        ):
            raise ServiceError("invalid_request", "send {file, rows: [{line, data}]}", 422)
        parts = body["rows"]
        if not 1 <= len(parts) <= PART_ROWS or not all(
            isinstance(p, dict) and isinstance(p.get("line"), int) and isinstance(p.get("data"), dict) for p in parts
        ):
            raise ServiceError("invalid_request", f"a part has 1 to {PART_ROWS} rows of {{line, data}}", 422)
        rows = [{k: v for k, v in p["data"].items() if k in COLUMNS and isinstance(v, str) and v} for p in parts]
        service = _service(request)
        authority = signed_in.operator.authority
        assert authority is not None
        fingerprint = service.request_fingerprint("manifest", rows)
        key = f"console-manifest:{signed_in.operator.id}:{body['file'][:64]}:{fingerprint[:32]}"
        _status, answer, replayed = service.issue(
            authority,
            rows,
            operator=signed_in.operator,
            now=now_of(request),
            idempotency_key=key,
            request_hash=fingerprint,
        )
    except ValueError:
        return problem(400, "invalid_json", "the body is not JSON")
    except ServiceError as e:
        return problem(e.status, e.code, e.message, errors=e.errors, headers=e.headers or None)
    result = json.loads(answer)
    # Row numbers of the part (1-based) back to the manifest's lines.
    lines = [p["line"] for p in parts]
    issued = [
        {"line": lines[i["row"] - 1], "id": i["id"], "name": i["name"], "masked_id": i["masked_id"]}
        for i in result["issued"]
    ]
    errors = [{**e, "line": lines[e["row"] - 1]} for e in result["errors"]]
    return JSONResponse({"batch": result["batch"], "issued": issued, "errors": errors, "replayed": replayed})
