"""The artifacts users get: both wheels, built and installed as the image's build stage does.

``scripts/install-wheels`` (which the Dockerfile runs) builds the wheels from a clean copy
of the tree and installs them with the locked dependencies into a fresh venv. From there,
with no source tree on the path, the installed ``hcert`` serves (health, issue, JWKS) and
the installed ``hcert-verify`` verifies what it issued.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import httpx
import pytest

from tests.conftest import ROOT, WORKER, free_port, stop, wait_ready


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """Return ``(venv, wheel dir)`` after running the image's install script."""
    base = tmp_path_factory.mktemp("wheel")
    venv, wheels = base / "venv", base / "wheels"
    done = subprocess.run(
        ["bash", str(ROOT / "scripts" / "install-wheels"), str(venv), str(wheels)],
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "PYTHON": sys.executable},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return venv, wheels


def _isolated_env(home: Path) -> dict[str, str]:
    """The environment of a user who has only the venv: no source tree, no PYTHONPATH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "HCERT_", "VIRTUAL_ENV"))}
    env["HOME"] = str(home)
    env["HCERT_HOME"] = str(home / "device")
    return env


def _wheel_names(wheels: Path, prefix: str) -> set[str]:
    (wheel,) = wheels.glob(f"{prefix}-*.whl")
    return set(zipfile.ZipFile(wheel).namelist())


def test_wheels_hold_every_package_and_data_file(installed):
    _, wheels = installed
    names = _wheel_names(wheels, "hcert") | _wheel_names(wheels, "hcert_verifier")
    expected = []
    for top in ("app", "issuer", "keys", "verifier/hcert_verifier"):
        for path in (ROOT / top).rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                rel = path.relative_to(ROOT).as_posix()
                expected.append(rel.removeprefix("verifier/"))
    assert "app/routes/certificates.py" in expected and "app/store/sqlite.py" in expected
    missing = sorted(set(expected) - names)
    assert not missing, f"not in the wheels: {missing}"


def test_wheel_metadata_pins_the_local_verifier_and_true_floors(installed):
    _, wheels = installed
    (wheel,) = wheels.glob("hcert-*.whl")
    meta = next(n for n in zipfile.ZipFile(wheel).namelist() if n.endswith(".dist-info/METADATA"))
    text = zipfile.ZipFile(wheel).read(meta).decode()
    version = re.search(r"^Version: (.+)$", text, re.M).group(1)
    from hcert_verifier import __version__

    assert version == __version__
    requires = re.findall(r"^Requires-Dist: (.+)$", text, re.M)
    assert f"hcert-verifier[image]=={__version__}" in requires
    assert "cryptography>=43" in requires
    # httpx2 serves only the tests (FastAPI's TestClient imports it): never a runtime requirement.
    assert not any(r.startswith("httpx2") and "extra ==" not in r for r in requires)
    # The lock pins every third-party package the image installs, with hashes.
    lock = (ROOT / "requirements" / "runtime.lock").read_text()
    for name in ("cryptography", "fastapi", "uvicorn", "redis", "zxing-cpp", "python-stdnum", "pillow"):
        assert re.search(rf"^{re.escape(name)}==\S+ \\\n\s+--hash=sha256:", lock, re.M), name
    assert not re.search(r"^hcert", lock, re.M)


def test_installed_service_issues_and_installed_verifier_accepts(installed, tmp_path):
    venv, _ = installed
    bin_ = venv / "bin"
    env = _isolated_env(tmp_path)
    data = tmp_path / "data"

    where = subprocess.run(
        [str(bin_ / "python"), "-c", "import app, hcert_verifier; print(app.__file__); print(hcert_verifier.__file__)"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=60,
    )
    assert where.returncode == 0, where.stderr
    assert all(Path(p).is_relative_to(venv) for p in where.stdout.split()), where.stdout

    def hcert(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(bin_ / "hcert"), "--data-dir", str(data), *args],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env=env,
            timeout=120,
        )

    made = hcert("authority", "create", "510321", "--name-zh", "荣县卫生健康局", "--name-en", "Rong County")
    assert made.returncode == 0, made.stderr
    op = hcert("operator", "create", "--authority", "510321", "--name", "clerk")
    assert op.returncode == 0, op.stderr
    token = op.stdout.strip()

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [str(bin_ / "hcert"), "--data-dir", str(data), "serve", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        env={**env, "HCERT_BASE_URL": url},
    )
    try:
        wait_ready(url, proc)
        assert httpx.get(f"{url}/healthz", timeout=10).json() == {"status": "ok"}
        issued = httpx.post(
            f"{url}/v1/certificates", json=WORKER, headers={"Authorization": f"Bearer {token}"}, timeout=30
        )
        assert issued.status_code == 201, issued.text
        jwks = httpx.get(f"{url}/.well-known/jwks.json", timeout=10)
        assert jwks.status_code == 200 and jwks.json()["keys"]
    finally:
        stop(proc)

    (tmp_path / "jwks.json").write_text(jwks.text)
    verdict = subprocess.run(
        [str(bin_ / "hcert-verify"), "verify", "--jwks", "jwks.json", "--json", issued.json()["qr_text"]],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=60,
    )
    assert verdict.returncode == 0, verdict.stdout + verdict.stderr
    assert json.loads(verdict.stdout)["valid"] is True
