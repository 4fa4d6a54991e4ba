"""Shared test helpers: fixed times, test keys, a known-good application."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
VECTORS = ROOT / "tests" / "vectors"
SHARED = ROOT.parent / "shared"
CST = dt.timezone(dt.timedelta(hours=8))
NOW = dt.datetime(2020, 3, 10, 9, 0, tzinfo=CST)


def resident_id(prefix17: str) -> str:
    """Return an 18-character resident ID with a correct GB 11643 check digit."""
    from stdnum.cn import ric

    return prefix17 + ric.calc_check_digit(prefix17 + "0")


WORKER = {
    "kind": "return-to-work",
    "name": "张伟明",
    "resident_id": resident_id("51032119900307123"),
    "origin_region": "510321",
    "resident_since": "2020-01-20",
    "symptoms": [],
    "quarantine": "never",
    "health_code": "green",
    "destination_province": "44",
}

DRIVER = {
    "kind": "freight-test",
    "name": "李强",
    "resident_id": resident_id("42010219850611567"),
    "role": "driver",
    "vehicle_plate": "鄂A12345",
    "test_kind": "nucleic_acid",
    "test_result": "negative",
    "sampled_at": "2020-03-10T03:00:00+08:00",
    "testing_institution": "武汉市第一医院检验科",
    "route_origin": "420102",
    "route_destination": "440305",
    "no_key_area_passage": True,
}


@pytest.fixture
def signing_key():
    from keys import generate_signing_key

    return generate_signing_key()


@pytest.fixture
def trust(signing_key):
    from hcert_verifier import JwksTrust, TrustedKey

    return JwksTrust([TrustedKey(signing_key.kid, signing_key.public_key, issuer="510321")])


def run_module(*args: str, input: str | None = None):
    """Run ``python -m`` in a subprocess and return the completed process."""
    import subprocess

    return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, input=input, timeout=120)
