"""Property-based fuzzing of the whole API from its own OpenAPI document (schemathesis):
whatever the body, path or query, the server never answers 5xx, and every error is problem+json."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.conftest import operator_credential, start_hcert, stop


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    data = tmp_path_factory.mktemp("fuzz") / "data"
    proc, url = start_hcert(data)
    yield url, operator_credential(data, "fuzzer")
    stop(proc)


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
            # A batch whose every row is refused answers 422 with the batch result (documented), not a problem.
            batch_result = (
                case.path == "/v1/certificates/batch"
                and response.status_code == 422
                and "counts"
                in (response.json() if response.headers.get("content-type", [""])[0] == "application/json" else {})
            )
            if response.status_code >= 400 and response.status_code != 405 and not batch_result:
                content_type = response.headers.get("content-type", [""])[0]
                assert content_type.startswith("application/problem+json"), response.text

        check()
        tested += 1
    assert tested >= 20
