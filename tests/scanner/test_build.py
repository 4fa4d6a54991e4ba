"""The committed scanner is exactly what its sources build to, and the wheel ships it.

A fresh copy of ``web/scanner`` is installed from its lock file (``npm ci``) and
built into a temporary folder; every file must equal the one committed under
``app/static/scan`` (so the build is reproducible and nobody edits the output
by hand), and the Python wheel must carry the same bytes (so a Python-only
install serves the scanner with no Node).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from app.routes.scan import STATIC_DIR
from tests.conftest import ROOT

SOURCES = ROOT / "web" / "scanner"


def tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def fresh_build(tmp_path_factory):
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        pytest.skip("node and npm are not installed: cannot rebuild the scanner to compare (CI has them)")
    work = tmp_path_factory.mktemp("scanner-build")
    src = work / "scanner"
    shutil.copytree(SOURCES, src, ignore=shutil.ignore_patterns("node_modules"))
    out = work / "out"
    env = {**os.environ, "HCERT_SCAN_OUT": str(out), "CI": "1"}
    for cmd in ([npm, "ci", "--no-audit", "--no-fund"], [npm, "run", "build"]):
        proc = subprocess.run(cmd, cwd=src, env=env, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, f"{' '.join(cmd[1:])} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
    return tree(out)


def test_committed_assets_are_a_fresh_build_of_the_sources(fresh_build):
    committed = tree(STATIC_DIR)
    assert sorted(committed) == sorted(fresh_build), "run `npm run build` in web/scanner and commit app/static/scan"
    changed = [name for name in committed if committed[name] != fresh_build[name]]
    assert not changed, f"stale build output {changed}: run `npm run build` in web/scanner and commit app/static/scan"


def test_the_built_page_loads_nothing_from_another_origin():
    page = (STATIC_DIR / "index.html").read_text("utf-8")
    assert "http://" not in page and "https://" not in page
    names = set(tree(STATIC_DIR))
    assert any(n.endswith(".wasm") for n in names), "the QR decoder's WebAssembly is served by the app"
    assert {"index.html", "sw.js", "manifest.webmanifest", "icon-192.png", "icon-512.png"} <= names


def test_the_wheel_ships_the_scanner(tmp_path):
    # Build from a clean copy: an in-tree build/ folder could hold files of an older build.
    src = tmp_path / "src"
    shutil.copytree(
        ROOT,
        src,
        ignore=shutil.ignore_patterns(
            ".git", ".venv", "node_modules", "build", "dist", "data", "*.egg-info", "__pycache__", ".*_cache"
        ),
    )
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(src)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    (wheel,) = tmp_path.glob("hcert-*.whl")
    with zipfile.ZipFile(wheel) as z:
        packaged = {
            n.removeprefix("app/static/scan/"): z.read(n) for n in z.namelist() if n.startswith("app/static/scan/")
        }
        assert "app/routes/scan.py" in z.namelist()
    assert packaged == tree(STATIC_DIR)
