"""No Docker engine runs here, so the image is kept honest by reading it and running what it runs."""

from __future__ import annotations

import json
import re
import subprocess
import sys

from tests.conftest import ROOT

DOCKERFILE = (ROOT / "Dockerfile").read_text()


def test_runs_as_non_root_with_volumes_and_no_key_material():
    assert re.search(r"^USER hcert$", DOCKERFILE, re.M)
    assert "VOLUME" in DOCKERFILE and "/var/lib/hcert/keys" in DOCKERFILE
    assert ".pem" not in DOCKERFILE
    ignore = (ROOT / ".dockerignore").read_text().split()
    assert "**/*.pem" in ignore and "data" in ignore
    assert DOCKERFILE.count("FROM ") == 2  # multi-stage


def test_entrypoint_is_the_hcert_cli():
    entry = json.loads(re.search(r"^ENTRYPOINT (\[.*\])$", DOCKERFILE, re.M).group(1))
    cmd = json.loads(re.search(r"^CMD (\[.*\])$", DOCKERFILE, re.M).group(1))
    assert entry == ["hcert"] and cmd[0] == "serve"
    from app.cli import build_parser

    args = build_parser().parse_args(cmd)
    assert (args.host, args.port) == ("0.0.0.0", 8000)


def test_healthcheck_command_passes_against_a_running_server(server):
    url, _, _ = server
    line = re.search(r'CMD \["python", "-c", "(.*)"\]\s*$', DOCKERFILE, re.M).group(1)
    code = line.replace("http://127.0.0.1:8000", url)
    assert subprocess.run([sys.executable, "-c", code], timeout=30).returncode == 0
    dead = code.replace(url, "http://127.0.0.1:9")
    assert subprocess.run([sys.executable, "-c", dead], timeout=30, capture_output=True).returncode != 0


def test_build_stage_runs_the_tested_install_script_on_everything_it_reads():
    """The image installs with scripts/install-wheels, which tests/app/test_wheel.py runs too."""
    build = DOCKERFILE.split("\nFROM ")[1]
    assert re.search(r"^RUN scripts/install-wheels /opt/hcert$", build, re.M)
    assert "pip install" not in DOCKERFILE  # no second, untested install path
    copied = set()
    for line in re.findall(r"^COPY (?!--from)(.+)$", build, re.M):
        copied.update(p.rstrip("/") for p in line.split()[:-1])
    script = (ROOT / "scripts" / "install-wheels").read_text()
    read = set(re.findall(r'"\$root/([\w./-]+)"', script))
    read = {"requirements" if p.startswith("requirements/") else p for p in read}
    assert {"app", "verifier", "setup.py", "requirements"} <= read
    assert read <= copied, read - copied
    assert {"requirements", "scripts/install-wheels"} <= copied
