"""Property-based fuzzing of the whole API from its own OpenAPI document (schemathesis):
whatever the body, path or query, the server never answers 5xx, and every error is problem+json."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.conftest import ROOT, free_port, operator_credential


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    data = tmp_path_factory.mktemp("fuzz") / "data"
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "app", "--data-dir", str(data), "serve", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=ROOT,
        env={**os.environ, "HCERT_BASE_URL": f"http://127.0.0.1:{port}"},
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.05)
    cred = operator_credential(data, "fuzzer")
    yield url, cred
    proc.terminate()
    proc.communicate(timeout=10)


def test_no_input_makes_a_server_error(live):
    url, cred = live
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
    tested = 0
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
        def check(case):
            response = case.call(headers={"Authorization": f"Bearer {cred}"})
            assert response.status_code < 500, f"{case.method} {case.path}: {response.text}"
            if response.status_code >= 400 and response.status_code != 405:
                content_type = response.headers.get("content-type", [""])[0]
                assert content_type.startswith("application/problem+json"), response.text

        check()
        tested += 1
    assert tested >= 20
