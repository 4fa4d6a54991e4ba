"""hcert-verify: exit 0 valid, 1 invalid with the code, 2 usage or I/O; --json; photos."""

from __future__ import annotations

import json

from tests.conftest import VECTORS, run_module

JWKS = str(VECTORS / "jwks.json")


def case(name):
    return json.loads((VECTORS / name).read_text())


def verify(*args, input=None):
    return run_module("hcert_verifier", "verify", "--jwks", JWKS, *args, input=input)


def test_valid_qr_text_exits_0_and_shows_masked_id():
    c = case("valid/return-to-work.json")
    proc = verify("--at", c["at"], c["qr_text"])
    assert proc.returncode == 0, proc.stderr
    assert "VALID" in proc.stdout and "510321********1234" in proc.stdout and "张伟明" in proc.stdout


def test_json_output_for_an_invalid_certificate():
    c = case("invalid/expired.json")
    proc = verify("--json", "--at", c["at"], c["qr_text"])
    assert proc.returncode == 1
    out = json.loads(proc.stdout)
    assert out["valid"] is False and out["code"] == "expired"
    assert out["certificate"]["name"] == "张伟明"


def test_invalid_prints_code_on_one_line():
    c = case("invalid/alg-none.json")
    proc = verify("--at", c["at"], c["qr_text"])
    assert proc.returncode == 1
    assert proc.stdout.strip().splitlines() == [proc.stdout.strip()]
    assert "alg_not_allowed" in proc.stdout
    assert "Traceback" not in proc.stderr


def test_stdin_input():
    c = case("valid/freight-driver.json")
    proc = verify("--at", c["at"], "-", input=c["qr_text"])
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_photo_of_a_printed_qr(tmp_path):
    from issuer import render_png

    c = case("valid/return-to-work.json")
    png = tmp_path / "qr.png"
    png.write_bytes(render_png(c["qr_text"]))
    proc = verify("--at", c["at"], str(png))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_jpeg_photo_scaled_and_blurred(tmp_path):
    from PIL import Image, ImageFilter

    from issuer import render_png

    c = case("valid/return-to-work.json")
    png = tmp_path / "qr.png"
    png.write_bytes(render_png(c["qr_text"], scale=4))
    jpg = tmp_path / "photo.jpg"
    with Image.open(png) as img:
        img.convert("L").resize((700, 700)).rotate(7, expand=True, fillcolor=255).filter(
            ImageFilter.GaussianBlur(1)
        ).save(jpg, quality=60)
    proc = verify("--at", c["at"], str(jpg))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_unreadable_image_is_an_io_error(tmp_path):
    bad = tmp_path / "x.png"
    bad.write_bytes(b"not a png")
    proc = verify(str(bad))
    assert proc.returncode == 2
    assert proc.stderr.startswith("hcert-verify: qr_unreadable") and "Traceback" not in proc.stderr


def test_missing_jwks_and_bad_time_are_usage_errors():
    proc = run_module("hcert_verifier", "verify", "--jwks", "/nonexistent/jwks.json", "x")
    assert proc.returncode == 2 and "trust_error" in proc.stderr
    proc = verify("--at", "yesterday", "x")
    assert proc.returncode == 2 and "--at" in proc.stderr
    proc = verify("--at", "2020-03-10T09:00:00", "x")
    assert proc.returncode == 2 and "timezone" in proc.stderr


def test_inspect_marks_unverified():
    c = case("invalid/unknown-kid.json")
    proc = run_module("hcert_verifier", "inspect", c["qr_text"])
    assert proc.returncode == 0
    out = json.loads(proc.stdout)
    assert out["UNVERIFIED"] is True and out["claims"]["n"] == "张伟明"


def test_inspect_of_garbage_exits_1_with_one_line():
    proc = run_module("hcert_verifier", "inspect", "CNHC:/123")
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1 and "bad_qr_digits" in proc.stderr


def test_status_list_file_revokes(tmp_path):
    c = case("invalid/revoked.json")
    path = tmp_path / "status.jwt"
    path.write_text(c["status_lists"][0])
    proc = verify("--status", str(path), "--at", c["at"], c["qr_text"])
    assert proc.returncode == 1 and "revoked" in proc.stdout


def test_svg_is_not_a_supported_image(tmp_path):
    from issuer import render_svg

    c = case("valid/return-to-work.json")
    svg = tmp_path / "qr.svg"
    svg.write_text(render_svg(c["qr_text"]))
    unnamed = tmp_path / "qr"  # the same file without its suffix is recognised by content
    unnamed.write_bytes(svg.read_bytes())
    for path in (svg, unnamed):
        for command in ("verify", "inspect"):
            args = ("--jwks", JWKS) if command == "verify" else ()
            proc = run_module("hcert_verifier", command, *args, str(path))
            assert proc.returncode == 2, proc.stdout + proc.stderr
            assert proc.stderr.startswith("hcert-verify: unsupported_image:") and proc.stderr.count("\n") == 1
            assert "PNG" in proc.stderr


def test_image_with_two_qr_codes_is_refused(tmp_path):
    import io

    from PIL import Image

    from issuer import render_png

    a, b = case("valid/return-to-work.json"), case("invalid/expired.json")
    with Image.open(io.BytesIO(render_png(a["qr_text"]))) as qa, Image.open(io.BytesIO(render_png(b["qr_text"]))) as qb:
        both = Image.new("L", (qa.width + qb.width, max(qa.height, qb.height)), 255)
        both.paste(qa.convert("L"), (0, 0))
        both.paste(qb.convert("L"), (qa.width, 0))
    path = tmp_path / "two.png"
    both.save(path)
    proc = verify("--at", a["at"], str(path))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stdout == "" and proc.stderr.startswith("hcert-verify: multiple_qr_codes:")
    # One of them alone verifies.
    single = tmp_path / "one.png"
    single.write_bytes(render_png(a["qr_text"]))
    assert verify("--at", a["at"], str(single)).returncode == 0


def test_closed_pipe_is_not_a_traceback():
    import os
    import subprocess
    import sys

    c = case("valid/return-to-work.json")
    for args in (["inspect", c["qr_text"]], ["verify", "--jwks", JWKS, "--json", "--at", c["at"], c["qr_text"]]):
        read, write = os.pipe()
        os.close(read)  # like `| head` that has already exited
        try:
            proc = subprocess.run(
                [sys.executable, "-m", "hcert_verifier", *args], stdout=write, stderr=subprocess.PIPE, text=True
            )
        finally:
            os.close(write)
        assert proc.stderr == "" and proc.returncode == 2


def _roots_file(path):
    from hcert_verifier import jwk_from_public_key
    from keys import generate_signing_key

    key = generate_signing_key()
    path.write_text(json.dumps({"roots": [{**jwk_from_public_key(key.public_key), "kid": key.kid}]}))
    return path


def test_sync_on_a_new_device_without_roots_says_what_to_do(tmp_path):
    from tests.conftest import free_port

    proc = run_module("hcert_verifier", "sync", f"https://127.0.0.1:{free_port()}", "--data-dir", str(tmp_path / "d"))
    assert proc.returncode == 2
    assert "--roots FILE" in proc.stderr and proc.stderr.count("\n") == 1


def test_sync_refuses_to_change_pinned_roots_without_repin(tmp_path):
    from tests.conftest import free_port

    url = f"https://127.0.0.1:{free_port()}"  # nothing listens: every sync fails after pinning
    data = tmp_path / "d"
    first, second = _roots_file(tmp_path / "a.json"), _roots_file(tmp_path / "b.json")
    pinned = data / "roots.json"

    def sync(*args):
        return run_module("hcert_verifier", "sync", url, "--data-dir", str(data), *args)

    proc = sync("--roots", str(first))
    assert proc.returncode == 1 and "sync_failed" in proc.stderr  # pinned, then the fetch failed
    assert json.loads(pinned.read_text())["roots"] == json.loads(first.read_text())["roots"]
    assert sync("--roots", str(first)).returncode == 1  # the same roots again: fine
    proc = sync("--roots", str(second))
    assert proc.returncode == 2 and "--repin" in proc.stderr and proc.stderr.count("\n") == 1
    assert json.loads(pinned.read_text())["roots"] == json.loads(first.read_text())["roots"]
    assert sync("--repin").returncode == 2  # --repin needs --roots
    proc = sync("--roots", str(second), "--repin")
    assert proc.returncode == 1 and "sync_failed" in proc.stderr
    assert json.loads(pinned.read_text())["roots"] == json.loads(second.read_text())["roots"]
