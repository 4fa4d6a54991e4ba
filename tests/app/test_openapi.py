"""openapi/openapi.json is generated from the app and must not drift."""

from __future__ import annotations

import json

from app.main import create_app
from app.settings import Settings
from tests.conftest import ROOT


def test_committed_openapi_matches_the_app():
    committed = json.loads((ROOT / "openapi" / "openapi.json").read_text("utf-8"))
    generated = json.loads(json.dumps(create_app(Settings()).openapi()))
    assert committed == generated, "openapi/openapi.json is stale: run `hcert openapi -o openapi/openapi.json`"


def test_every_operation_documents_its_errors_as_problems():
    spec = create_app(Settings()).openapi()
    paths = spec["paths"]
    assert "/v1/certificates/batch" in paths and "/v1/status/{authority}/{lst}" in paths
    assert "/.well-known/jwks.json" in paths and "/metrics" in paths
    assert "text/csv" in paths["/v1/certificates/batch"]["post"]["requestBody"]["content"]
