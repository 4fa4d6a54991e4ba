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


def test_verifier_distribution_declares_only_cryptography_and_pyjwt():
    import tomllib

    from tests.conftest import ROOT

    meta = tomllib.loads((ROOT / "verifier" / "pyproject.toml").read_text())
    names = sorted(d.split(">")[0].split("=")[0].split("[")[0].strip() for d in meta["project"]["dependencies"])
    assert names == ["cryptography", "pyjwt"]
