"""Privacy at rest: no full resident ID number and no birth date anywhere the service writes or answers."""

from __future__ import annotations

import logging
import os
import re
import stat
import threading

import pytest

from tests.conftest import NOW, WORKER, resident_id

# Three residents, one per issue path, each with a birth date used nowhere else in the applications.
SINGLE = resident_id("51032119851123123")
BATCH = resident_id("51032119790214345")
CSV_ROW = resident_id("51032119920617567")
BIRTH_DATES = [(1985, 11, 23), (1979, 2, 14), (1992, 6, 17)]


def _date_forms(y: int, m: int, d: int) -> list[str]:
    forms = [
        f"{y}{m:02}{d:02}",
        f"{y}-{m:02}-{d:02}",
        f"{y}/{m:02}/{d:02}",
        f"{y}.{m:02}.{d:02}",
        f"{y}/{m}/{d}",
        f"{y}-{m}-{d}",
        f"{d:02}/{m:02}/{y}",
        f"{m:02}/{d:02}/{y}",
        f"{y}年{m:02}月{d:02}日",
        f"{y}年{m}月{d}日",
    ]
    return list(dict.fromkeys(forms))


_ID_LIKE = re.compile(r"(?<![0-9])[0-9]{17}[0-9Xx](?![0-9])")


def _leaks(text: str) -> list[str]:
    """Return every valid 18-character ID number and every birth date form found in ``text``."""
    from stdnum.cn import ric

    found = [m for m in _ID_LIKE.findall(text) if ric.is_valid(m)]
    found += [form for date in BIRTH_DATES for form in _date_forms(*date) if form in text]
    return found


def test_the_date_forms_and_id_search_find_what_they_look_for():
    assert _leaks(f"x{SINGLE}y") == [SINGLE, "19851123"]
    assert _leaks("born 1985年11月23日") == ["1985年11月23日"]
    assert _leaks("1979-02-14") == ["1979-02-14"]
    assert _leaks(SINGLE[:6] + "********" + SINGLE[14:]) == []


def _redis_dump(url: str) -> str:
    import redis

    r = redis.Redis.from_url(url)
    parts = []
    for key in r.scan_iter("*"):
        kind = r.type(key).decode()
        value: object
        if kind == "string":
            value = r.get(key)
        elif kind == "hash":
            value = r.hgetall(key)
        elif kind == "list":
            value = r.lrange(key, 0, -1)
        elif kind == "set":
            value = r.smembers(key)
        elif kind == "zset":
            value = r.zrange(key, 0, -1, withscores=True)
        else:
            value = kind
        parts.append(f"{key!r}={value!r}")
    r.close()
    return "\n".join(parts)


@pytest.mark.parametrize("backend", ["sqlite", "redis"])
def test_no_id_number_or_birth_date_at_rest_in_logs_or_responses(request, tmp_path, caplog, backend):
    from fastapi.testclient import TestClient

    from app.main import create_app
    from app.settings import Settings
    from app.store import open_store

    caplog.set_level(logging.DEBUG)
    data = tmp_path / "data"
    settings = Settings(data_dir=data, base_url="https://hcert.test", store=backend, dev=True)
    store = None
    if backend == "redis":
        import redis

        url = request.getfixturevalue("redis_url")
        redis.Redis.from_url(url).flushdb()
        store = open_store("redis", url=url)
    app = create_app(settings, store=store, clock=lambda: NOW)
    texts: list[str] = []
    with TestClient(app, raise_server_exceptions=False) as client:
        _, token = app.state.service.create_operator("510321", "clerk", "operator", actor="t", now=NOW)
        client.headers["Authorization"] = f"Bearer {token}"

        def call(method: str, path: str, **kw):
            r = client.request(method, path, **kw)
            texts.append("\n".join(f"{k}: {v}" for k, v in r.headers.items()) + "\n" + r.text)
            return r

        for attempt in range(2):  # the second time is an idempotent retry
            one = call(
                "POST", "/v1/certificates", json={**WORKER, "resident_id": SINGLE}, headers={"Idempotency-Key": "k1"}
            )
            assert one.status_code == 201, one.text
            assert (one.headers.get("idempotent-replayed") == "true") == (attempt == 1)
            rows = [{**WORKER, "resident_id": BATCH}, {**WORKER, "resident_id": "123"}]
            batch = call(
                "POST", "/v1/certificates/batch", json={"applications": rows}, headers={"Idempotency-Key": "k2"}
            )
            assert batch.status_code == 207, batch.text
            csv_text = "kind,name,resident_id,origin_region,resident_since,quarantine,health_code\n"
            csv_text += f"return-to-work,李四,{CSV_ROW},510321,2020-01-20,never,green\n"
            csv = call(
                "POST",
                "/v1/certificates/batch",
                content=csv_text.encode(),
                headers={"Content-Type": "text/csv", "Idempotency-Key": "k3"},
            )
            assert csv.status_code == 201, csv.text
        # The same key with another resident is a different request: refused, and it says nothing of either.
        other = call(
            "POST", "/v1/certificates", json={**WORKER, "resident_id": BATCH}, headers={"Idempotency-Key": "k1"}
        )
        assert other.status_code == 422 and other.json()["code"] == "idempotency_key_reused"
        listing = call("GET", "/v1/certificates").json()
        assert listing["total"] == 3
        for item in listing["items"]:
            for suffix in ("", "/qr.svg", "/print"):
                assert call("GET", f"/v1/certificates/{item['id']}{suffix}").status_code == 200
        for b in (batch, csv):
            assert call("GET", f"/v1/batches/{b.json()['batch']}/print").status_code == 200
        call("GET", "/.well-known/jwks.json")
        call("GET", "/metrics")

    # Every response.
    for text in texts:
        assert _leaks(text) == [], text[:300]
    # The logs.
    assert _leaks(caplog.text) == []
    # Every file the service wrote, binary too (the SQLite database, its -wal and -shm, keys, secrets).
    written = [p for p in data.rglob("*") if p.is_file()]
    assert written
    for path in written:
        assert _leaks(path.read_bytes().decode("latin-1")) == [], path
        assert _leaks(path.read_bytes().decode("utf-8", "ignore")) == [], path
    if backend == "redis":
        assert _leaks(_redis_dump(request.getfixturevalue("redis_url"))) == []
    else:
        assert (data / "hcert.sqlite3").exists()


def test_data_directory_is_0700_and_its_private_files_0600(tmp_path):
    from fastapi.testclient import TestClient

    from app.main import create_app
    from app.settings import Settings

    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    os.chmod(data, 0o755)
    app = create_app(
        Settings(data_dir=data, base_url="https://hcert.test", store="sqlite", dev=True), clock=lambda: NOW
    )
    with TestClient(app) as client:
        _, token = app.state.service.create_operator("510321", "clerk", "operator", actor="t", now=NOW)
        r = client.post("/v1/certificates", json=WORKER, headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 201
        assert stat.S_IMODE(data.stat().st_mode) == 0o700
        private = [data / "hcert.sqlite3", data / "hcert.sqlite3-wal", data / "hcert.sqlite3-shm", data / "subject.key"]
        private += list((data / "keys").rglob("*.pem")) + list((data / "keys").rglob("keyring.json"))
        assert len(private) > 5
        for path in private:
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        for folder in [data / "keys", *(p for p in (data / "keys").rglob("*") if p.is_dir())]:
            assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder


def test_subject_key_is_never_seen_empty_or_partial(tmp_path):
    """Many instances start at once: each reads the one complete key, never an empty file."""
    from app.service import IssuingService
    from app.settings import Settings
    from app.store import open_store

    data = tmp_path / "data"
    seen: list[bytes] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def start() -> None:
        try:
            barrier.wait()
            service = IssuingService(Settings(data_dir=data), open_store("sqlite", path=str(tmp_path / "db")))
            seen.append(service._subject_key)
            service.store.close()
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=start) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(set(seen)) == 1 and len(seen[0]) == 64
    assert stat.S_IMODE((data / "subject.key").stat().st_mode) == 0o600
    assert [p.name for p in data.iterdir() if p.name.startswith(".tmp")] == []


def test_idempotency_records_keep_a_keyed_hash_and_older_unkeyed_ones_are_dropped(tmp_path):
    from app.service import IssuingService
    from app.settings import Settings
    from app.store import IdempotencyRecord, open_store

    rows = [{**WORKER, "resident_id": SINGLE}]
    a = IssuingService(Settings(data_dir=tmp_path / "a"), open_store("sqlite", path=str(tmp_path / "a.db")))
    b = IssuingService(Settings(data_dir=tmp_path / "b"), open_store("sqlite", path=str(tmp_path / "b.db")))
    fa, fb = a.request_fingerprint("one", rows), b.request_fingerprint("one", rows)
    assert fa.startswith("k1:") and fa != fb, "without the server secret the hash cannot be recomputed"
    assert fa == a.request_fingerprint("one", [dict(reversed(list(rows[0].items())))])  # canonical
    assert fa != a.request_fingerprint("one", [{**rows[0], "resident_id": BATCH}])
    assert fa != a.request_fingerprint("application/json", rows)
    # A record written by an older version (unkeyed SHA-256 of the raw body) is gone at the next start.
    legacy = IdempotencyRecord("510321", "old", "ab" * 32, 201, "{}", 0)
    a.store.commit_issue([], [], legacy)
    a.store.close()
    again = IssuingService(Settings(data_dir=tmp_path / "a"), open_store("sqlite", path=str(tmp_path / "a.db")))
    assert again.store.get_idempotency("510321", "old") is None
    again.store.close()
    b.store.close()
