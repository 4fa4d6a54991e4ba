"""Production starts clean: development material only with `--dev` or HCERT_DEV=1."""

from __future__ import annotations

import json

import httpx

from tests.conftest import ROOT, start_hcert, stop


def _private_keys(data):
    return sorted(p.relative_to(data).as_posix() for p in data.rglob("*.pem"))


def test_a_production_start_on_an_empty_store_creates_no_key(tmp_path):
    data = tmp_path / "data"
    proc, url = start_hcert(data, dev=False, env={"HCERT_DEV": ""})
    try:
        assert httpx.get(f"{url}/healthz").status_code == 200
        r = httpx.get(f"{url}/v1/bundle")
        assert r.status_code == 503 and r.json()["code"] == "no_trust_list"
        assert httpx.get(f"{url}/.well-known/jwks.json").json() == {"keys": []}
    finally:
        stop(proc)
    out, err = proc.communicate()
    hints = [line for line in (out + err).splitlines() if "OPERATIONS.md" in line]
    assert len(hints) == 1 and "store is empty" in hints[0] and "--dev" in hints[0], out + err
    assert "development" not in out
    assert not (data / "root").exists()
    assert _private_keys(data) == []


def test_dev_material_only_when_asked(tmp_path):
    # By environment setting ...
    data = tmp_path / "env"
    proc, url = start_hcert(data, dev=False, env={"HCERT_DEV": "1"})
    try:
        keys = httpx.get(f"{url}/.well-known/jwks.json").json()["keys"]
        assert [k["iss"] for k in keys] == ["510321"]
        assert httpx.get(f"{url}/v1/bundle").status_code == 200
    finally:
        stop(proc)
    assert json.loads((data / "root" / "roots.json").read_text())["roots"]
    # ... and by flag.
    data = tmp_path / "flag"
    proc, url = start_hcert(data, dev=True, env={"HCERT_DEV": ""})
    stop(proc)
    out, _ = proc.communicate()
    assert "development authority 510321" in out and "development national root" in out
    assert (data / "root" / "roots.json").exists()


def test_scripts_serve_asks_for_development_material():
    lines = [line for line in (ROOT / "scripts" / "serve").read_text().splitlines() if "exec " in line]
    assert lines == ['PATH="$caller_path" exec "$VENV/bin/hcert" serve --dev "$@"']
