"""Fuzzing the issuing service's application parsers: JSON objects and CSV manifests (Hypothesis).

Whatever arrives, the parsers raise nothing but their own refusals
(``ApplicationError`` with field errors, ``ServiceError`` for a malformed CSV),
and an application that parses can be checked for eligibility without an
exception.
"""

from __future__ import annotations

import csv
import io

from hypothesis import given
from hypothesis import strategies as st

from app.routes.certificates import _CSV_COLUMNS, _rows_from_csv
from app.service import ServiceError
from issuer import ApplicationError, check_eligibility, parse_application
from tests.conftest import DRIVER, NOW, WORKER
from tests.fuzzing import edited, fuzz, json_values

FIELDS = sorted(set(WORKER) | set(DRIVER) | {"valid_days", "employer", "vehicle_plate", "destination_province"})


def _parse(data) -> None:
    try:
        application = parse_application(data)
    except ApplicationError as e:
        assert e.errors and all(err.code and isinstance(err.field, str) for err in e.errors)
        return
    for error in check_eligibility(application, authority="510321", now=NOW):
        assert error.code and error.message


field_values = st.one_of(
    json_values,
    st.text(max_size=80),
    st.sampled_from(["", " ", "2020-02-30", "9999-12-31", "0001-01-01", "2020-03-10T09:00:00", "true", "X" * 65]),
)


@fuzz
@given(
    base=st.sampled_from([WORKER, DRIVER]),
    changes=st.dictionaries(st.one_of(st.sampled_from(FIELDS), st.text(max_size=8)), field_values, max_size=4),
    removed=st.sets(st.sampled_from(FIELDS), max_size=3),
)
def test_json_application_changed(base, changes, removed):
    data = {k: v for k, v in base.items() if k not in removed}
    data.update(changes)
    _parse(data)


@fuzz
@given(data=json_values)
def test_json_anything(data):
    _parse(data)


@fuzz
@given(base=st.sampled_from([WORKER, DRIVER]), field=st.sampled_from(FIELDS), data=st.data())
def test_json_application_text_edited(base, field, data):
    value = base.get(field)
    text = value if isinstance(value, str) else str(value)
    _parse({**base, field: data.draw(edited(text))})


def _manifest(rows: list[dict]) -> str:
    columns = sorted({k for r in rows for k in r})
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ";".join(v) if isinstance(v, list) else v for k, v in row.items()})
    return out.getvalue()


SEED_CSV = _manifest([WORKER, DRIVER])


def _csv(raw: bytes) -> None:
    try:
        rows = _rows_from_csv(raw)
    except ServiceError as e:
        assert e.code == "invalid_csv" and 400 <= e.status < 500
        return
    for row in rows:
        assert set(row) <= _CSV_COLUMNS
        _parse(row)


def test_seed_csv_parses():
    rows = _rows_from_csv(SEED_CSV.encode())
    assert len(rows) == 2
    for row in rows:
        parse_application(row)


@fuzz
@given(data=st.data())
def test_csv_edited(data):
    _csv(data.draw(edited(SEED_CSV, st.one_of(st.sampled_from(',;"\n\r\x00\ufeff'), st.characters()))).encode())


@fuzz
@given(raw=st.binary(max_size=400), prefix=st.booleans())
def test_csv_bytes(raw, prefix):
    _csv((SEED_CSV.encode() if prefix else b"") + raw)


def test_csv_with_a_bare_carriage_return_is_a_clean_refusal(app_client):
    # Found by test_csv_edited: the header line raised csv.Error outside the
    # handler, a 500 from POST /v1/certificates/batch.
    raw = ("\r" + SEED_CSV[1:]).encode()
    _csv(raw)
    response = app_client.post("/v1/certificates/batch", content=raw, headers={"Content-Type": "text/csv"})
    assert response.status_code in (400, 422) and response.json()["code"] == "invalid_csv"


def test_resident_id_whose_address_code_names_no_county_is_refused_not_raised():
    # Found by bench/fuzz.py (app-json): python-stdnum raised KeyError('county')
    # out of check_eligibility for an address code such as 420010.
    from tests.conftest import resident_id

    for prefix in ("42001019850611567", "51003219900307123"):
        application = parse_application({**WORKER, "resident_id": resident_id(prefix)})
        codes = {e.code for e in check_eligibility(application, authority="510321", now=NOW)}
        assert "address_code" in codes
