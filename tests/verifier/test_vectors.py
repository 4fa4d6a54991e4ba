"""Conformance vectors: every file under tests/vectors/{valid,invalid} gives its expected verdict."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from hcert_verifier import JwksTrust, StatusList, StatusLists, Verifier, qr_decode
from tests.conftest import VECTORS, run_module

FILES = sorted(p for p in [*VECTORS.glob("valid/*.json"), *VECTORS.glob("invalid/*.json")])


def load(path):
    return json.loads(path.read_text("utf-8"))


def verifier_for(case) -> tuple[Verifier, dt.datetime]:
    trust = JwksTrust.from_file(VECTORS / case["jwks"])
    at = dt.datetime.fromisoformat(case["at"])
    lists = StatusLists(StatusList.from_token(t, trust, at=int(at.timestamp())) for t in case.get("status_lists", []))
    return Verifier(trust, status=lists), at


def test_there_are_enough_vectors():
    valid = [p for p in FILES if p.parent.name == "valid"]
    invalid = [p for p in FILES if p.parent.name == "invalid"]
    assert len(valid) >= 10 and len(invalid) >= 30


@pytest.mark.parametrize("path", FILES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_vector(path):
    case = load(path)
    verifier, at = verifier_for(case)
    result = verifier.verify(case["qr_text"], at=at)
    assert (result.valid, result.code) == (case["expected"]["valid"], case["expected"]["code"]), result.reason
    assert path.parent.name == ("valid" if result.valid else "invalid")
    if result.valid:
        assert result.certificate is not None
        assert dict(result.certificate.claims) == case["claims"]


@pytest.mark.parametrize("path", [p for p in FILES if "token" in load(p)], ids=lambda p: p.stem)
def test_qr_text_carries_the_token(path):
    case = load(path)
    if case["qr_text"].startswith("CNHC:/"):
        assert qr_decode(case["qr_text"]) == case["token"]


def test_vectors_are_not_stale():
    proc = run_module("tests.vectors.generate", "--check")
    assert proc.returncode == 0, proc.stderr
