"""The device verifier stands alone: no server packages, no network modules."""

from __future__ import annotations

import subprocess
import sys


def test_importing_the_verifier_loads_no_server_package():
    code = (
        "import sys, hcert_verifier, hcert_verifier.cli, hcert_verifier.status, hcert_verifier.image\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'fastapi','starlette','redis','pydantic','uvicorn','app','issuer','keys','httpx','urllib3','requests'})\n"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""


def test_verifier_distribution_declares_only_cryptography():
    import tomllib

    from tests.conftest import ROOT

    meta = tomllib.loads((ROOT / "verifier" / "pyproject.toml").read_text())
    names = sorted(d.split(">")[0].split("=")[0].split("[")[0].strip() for d in meta["project"]["dependencies"])
    assert names == ["cryptography"]


def test_only_the_sync_module_touches_the_network():
    """Offline by construction: no hcert module but sync.py names a network library, and importing
    the verifier loads none."""
    from tests.conftest import ROOT

    package = ROOT / "verifier" / "hcert_verifier"
    talkers = sorted(
        p.name
        for p in package.glob("*.py")
        if any(word in p.read_text() for word in ("urllib", "socket", "http.client", "requests", "httpx"))
    )
    assert talkers == ["sync.py"]
    code = (
        "import sys, hcert_verifier, hcert_verifier.cli, hcert_verifier.bundle, hcert_verifier.rules, "
        "hcert_verifier.status\n"
        "print(sorted(m for m in sys.modules if m in ('urllib.request', 'http.client', 'socket', 'ssl')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"
