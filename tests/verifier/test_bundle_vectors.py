"""The bundle conformance vectors (tests/vectors/bundle/) through the Python verifier.

Each vector is a device offered a bundle: it loads it from the pinned roots, admits
it at ``synced_at`` against what it accepted before (``prior_state``), then verifies
the QR text at ``at``. The browser verifier runs the same files in
tests/scanner/test_parity.py.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from hcert_verifier import CLOCK_LEEWAY, Bundle, BundleError, BundleExpired, Verifier
from hcert_verifier.state import DeviceState, check_fresh
from tests.conftest import VECTORS

BUNDLE_FILES = sorted((VECTORS / "bundle").glob("*.json"))


def seconds(iso: str) -> int:
    """Return the Unix time of an ISO 8601 time with offset."""
    return int(dt.datetime.fromisoformat(iso).timestamp())


def python_bundle_verdict(case: dict[str, Any]) -> tuple[bool, str, list[str]]:
    """Return (valid, code, warnings) of the Python verifier for one bundle vector."""
    try:
        bundle = Bundle.load(case["bundle"], case["roots"])
        check_fresh(bundle, now=seconds(case["synced_at"]), leeway=CLOCK_LEEWAY)
        prior = case["prior_state"]
        if prior is not None:
            state = DeviceState(
                bundle=prior["bundle"],
                trust_list=prior["trust_list"],
                rules=prior["rules"],
                status_lists=prior["status_lists"],
                withdrawn=prior["withdrawn"],
            )
            state.check(bundle)
    except (BundleError, BundleExpired) as e:  # what sync reports, keeping the last good bundle
        return False, e.code, []
    at = seconds(case["at"])
    clock: dict[str, int] = {"now": at} if case["clock"] == "device" else {"at": at}
    result = Verifier.from_bundle(bundle).verify(
        case["qr_text"], destination=case["destination"], checkpoint=case["checkpoint"], **clock
    )
    return result.valid, result.code, list(result.warnings)


def test_the_bundle_vectors_cover_every_refusal():
    codes = {json.loads(p.read_text("utf-8"))["expected"]["code"] for p in BUNDLE_FILES}
    assert codes >= {
        "ok",
        "rejected_by_rules",
        "rules_unavailable",
        "revoked",
        "suspended",
        "status_unavailable",
        "status_list_expired",
        "bundle_expired",
        "bundle_validity_too_long",
        "bundle_issued_in_future",
        "clock_before_bundle",
        "bundle_rollback",
        "trust_list_rollback",
        "rules_rollback",
        "status_list_rollback",
        "version_reused",
        "withdrawal_dropped",
        "bundle_invalid",
    }


@pytest.mark.parametrize("path", BUNDLE_FILES, ids=lambda p: Path(p).stem)
def test_bundle_vector_in_python(path):
    case = json.loads(path.read_text("utf-8"))
    expected = case["expected"]
    assert python_bundle_verdict(case) == (expected["valid"], expected["code"], expected["warnings"])
