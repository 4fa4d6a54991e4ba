"""Eligibility: every refusal names its field and a stable code."""

from __future__ import annotations

import datetime as dt

import pytest

from issuer import ApplicationError, Issuer, parse_application, region_name, region_prefix
from tests.conftest import DRIVER, NOW, WORKER, resident_id


def errors_of(data, *, authority="510321", now=NOW):
    from keys import generate_signing_key

    issuer = Issuer(authority=authority, signing_key=generate_signing_key())
    try:
        issuer.issue(parse_application(data), now=now)
    except ApplicationError as e:
        return {(err.field, err.code) for err in e.errors}
    return set()


def test_good_applications_pass():
    assert errors_of(WORKER) == set()
    assert errors_of(DRIVER, authority="420100") == set()


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (
            {"resident_id": WORKER["resident_id"][:-1] + ("0" if WORKER["resident_id"][-1] != "0" else "1")},
            ("resident_id", "checksum"),
        ),
        ({"resident_id": "12345"}, ("resident_id", "format")),
        ({"origin_region": "999999"}, ("origin_region", "region")),
        ({"origin_region": "440305"}, ("origin_region", "scope")),
        ({"origin_region": "110103"}, ("origin_region", "region")),  # abolished in 2010
        ({"resident_since": "2020-02-26"}, ("resident_since", "residency")),
        ({"symptoms": ["fever"]}, ("symptoms", "symptomatic")),
        ({"symptoms": ["sneezing"]}, ("symptoms", "choice")),
        ({"quarantine": "under"}, ("quarantine", "under_quarantine")),
        ({"quarantine": "released"}, ("quarantine_released_on", "required")),
        ({"quarantine": "released", "quarantine_released_on": "2020-03-11"}, ("quarantine_released_on", "future")),
        ({"quarantine_released_on": "2020-03-01"}, ("quarantine_released_on", "unexpected")),
        ({"health_code": "red"}, ("health_code", "red")),
        ({"health_code": "blue"}, ("health_code", "choice")),
        ({"destination_province": "99"}, ("destination_province", "region")),
        ({"vehicle_plate": "ABC123"}, ("vehicle_plate", "plate")),
        ({"resident_since": "2020/01/20"}, ("resident_since", "format")),
        ({"name": ""}, ("name", "required")),
        ({"name": "x" * 65}, ("name", "format")),
        ({"passport": "E1234"}, ("passport", "unknown_field")),
        ({"valid_days": 90}, ("valid_days", "range")),
    ],
)
def test_worker_refusals(changes, expected):
    assert expected in errors_of({**WORKER, **changes})


def test_residency_boundary_is_14_days():
    assert errors_of({**WORKER, "resident_since": "2020-02-25"}) == set()
    assert ("resident_since", "residency") in errors_of({**WORKER, "resident_since": "2020-02-26"})


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"test_result": "positive"}, ("test_result", "positive")),
        ({"sampled_at": "2020-03-07T09:00:00+08:00"}, ("sampled_at", "too_old")),
        ({"sampled_at": "2020-03-10T10:00:00+08:00"}, ("sampled_at", "future")),
        ({"sampled_at": "2020-03-10T03:00:00"}, ("sampled_at", "format")),
        ({"vehicle_plate": "鄂I12345"}, ("vehicle_plate", "plate")),
        ({"no_key_area_passage": False}, ("no_key_area_passage", "key_area")),
        ({"no_key_area_passage": "maybe"}, ("no_key_area_passage", "type")),
        ({"role": "pilot"}, ("role", "choice")),
        ({"route_destination": "000000"}, ("route_destination", "region")),
    ],
)
def test_freight_refusals(changes, expected):
    assert expected in errors_of({**DRIVER, **changes}, authority="420100")


def test_all_errors_of_a_row_are_reported_at_once():
    errs = errors_of({**WORKER, "symptoms": ["cough"], "health_code": "red", "resident_since": "2020-03-09"})
    assert {f for f, _ in errs} >= {"symptoms", "health_code", "resident_since"}


def test_unknown_kind_and_non_object():
    with pytest.raises(ApplicationError) as e:
        parse_application({"kind": "vaccination"})
    assert e.value.errors[0].field == "kind"
    with pytest.raises(ApplicationError):
        parse_application(["not", "an", "object"])  # type: ignore[arg-type]


def test_new_energy_plate_and_csv_style_values():
    data = {**DRIVER, "vehicle_plate": "粤BD12345", "no_key_area_passage": "yes"}
    assert errors_of(data, authority="420100") == set()


def test_region_helpers():
    assert region_name("510321") == "四川省 荣县"
    assert region_name("110103") is None
    assert region_prefix("510300") == "5103" and region_prefix("510000") == "51"
    assert region_prefix("510321101") == "510321"


def test_resident_id_helper_makes_valid_numbers():
    from stdnum.cn import ric

    assert ric.is_valid(resident_id("11010119800101001"))
    assert dt.date(2020, 3, 10) == NOW.date()
