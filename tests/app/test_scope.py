"""An authority's scope (kinds, regions): set by command, stored, exported, enforced at issue time."""

from __future__ import annotations

import csv
import io
import json
import time

import pytest

from app.service import ServiceError
from app.trust import export_submission
from tests.app.test_api import is_problem
from tests.app.test_cli_and_e2e import hcert
from tests.conftest import DRIVER, NOW, WORKER, resident_id


def test_scope_is_stored_by_both_backends(store):
    from app.store import AuditEvent, Authority, NotFound

    store.add_authority(Authority("510321", "荣县", "Rong", 1, kinds=("f",), regions=("510321",)), _ev())
    assert store.get_authority("510321").kinds == ("f",)
    changed = store.set_authority_scope("510321", kinds=("w", "f"), regions=("51032", "510321"), audit=_ev())
    assert changed.kinds == ("w", "f") and changed.regions == ("51032", "510321")
    assert store.get_authority("510321") == changed and store.list_authorities() == [changed]
    assert store.set_authority_scope("510321", kinds=("w",), regions=None, audit=_ev()).regions is None
    with pytest.raises(NotFound):
        store.set_authority_scope("999999", kinds=("w",), regions=None, audit=AuditEvent(1, "t", None, "x", "y", {}))
    assert [e["action"] for e, _ in store.audit_entries()][-2:] == ["authority.scope", "authority.scope"]


def _ev():
    from app.store import AuditEvent

    return AuditEvent(1, "t", "510321", "authority.scope", "510321", {})


def _freight_only(client):
    client.service.set_scope("510321", kinds=["f"], actor="t", now=NOW)


def test_api_refuses_a_kind_outside_the_scope(app_client):
    _freight_only(app_client)
    body = is_problem(app_client.post("/v1/certificates", json=WORKER), 403, "out_of_scope")
    assert body["errors"] == [
        {"field": "kind", "code": "out_of_scope", "message": "this authority may issue only freight-test certificates"}
    ]
    assert app_client.post("/v1/certificates", json=DRIVER).status_code == 201
    assert app_client.get("/v1/certificates").json()["total"] == 1


def test_api_refuses_a_region_outside_the_scope(app_client):
    service = app_client.service
    # Zigong city (5103) may certify residents of Rong County (510321) only.
    service.create_authority("510300", "自贡市卫生健康委员会", "Zigong", actor="t", now=NOW, regions=["510321"])
    _, token = service.create_operator("510300", "zg", "operator", actor="t", now=NOW)
    zigong = {"Authorization": f"Bearer {token}"}
    ziliujing = {**WORKER, "origin_region": "510302", "resident_id": resident_id("51030219900101001")}
    body = is_problem(app_client.post("/v1/certificates", json=ziliujing, headers=zigong), 403, "out_of_scope")
    assert body["errors"][0]["field"] == "origin_region"
    assert app_client.post("/v1/certificates", json=WORKER, headers=zigong).status_code == 201


def test_batch_refuses_out_of_scope_rows_and_issues_the_rest(app_client):
    _freight_only(app_client)
    rows = [WORKER, DRIVER, {**WORKER, "symptoms": ["cough"]}]
    r = app_client.post("/v1/certificates/batch", json={"applications": rows})
    assert r.status_code == 207, r.text
    assert [(e["row"], e["code"]) for e in r.json()["errors"]] == [(1, "out_of_scope"), (3, "symptomatic")]
    assert [c["row"] for c in r.json()["issued"]] == [2]
    # CSV manifests are checked the same way, and a batch with nothing in scope stores nothing.
    out = io.StringIO()
    writer = csv.DictWriter(
        out, fieldnames=["kind", "name", "resident_id", "origin_region", "resident_since", "quarantine", "health_code"]
    )
    writer.writeheader()
    writer.writerow({k: WORKER[k] for k in writer.fieldnames})
    r = app_client.post("/v1/certificates/batch", content=out.getvalue().encode(), headers={"Content-Type": "text/csv"})
    assert r.status_code == 422 and r.json()["errors"][0]["code"] == "out_of_scope", r.text
    assert app_client.get("/v1/certificates").json()["total"] == 1


def test_scope_is_validated(app_client):
    service = app_client.service
    for kinds, regions in [
        (["x"], None),
        ([], None),
        (None, ["44"]),
        (None, ["5103"]),
        (None, ["5a"]),
        (None, ["5103211"]),
    ]:
        with pytest.raises(ServiceError) as e:
            service.set_scope("510321", kinds=kinds, regions=regions, actor="t", now=NOW)
        assert e.value.code == "invalid_scope" and e.value.status == 422
    with pytest.raises(ServiceError) as e:
        service.create_authority("420100", "武汉", "Wuhan", actor="t", now=NOW, kinds=["w", "z"])
    assert e.value.code == "invalid_scope"
    assert service.store.get_authority("420100") is None
    with pytest.raises(ServiceError) as e:
        service.set_scope("999999", kinds=["w"], actor="t", now=NOW)
    assert e.value.code == "authority_not_found"


def test_every_export_carries_the_scope(app_client):
    service = app_client.service
    assert export_submission(service, "51", now=NOW)["authorities"][0]["scope"] == {
        "regions": ["510321"],
        "kinds": ["w", "f"],
    }
    service.set_scope("510321", kinds=["f"], actor="t", now=NOW)
    for _ in range(2):  # survives re-export
        entry = export_submission(service, "51", now=NOW)["authorities"][0]
        assert entry["scope"] == {"regions": ["510321"], "kinds": ["f"]}
        assert entry["base_url"] == "https://hcert.test"


def test_scope_by_command_reaches_the_trust_list(tmp_path):
    from hcert_verifier import Bundle, load_roots

    data = tmp_path / "data"
    made = hcert(data, "authority", "create", "420100", "--name-zh", "武汉", "--name-en", "Wuhan", "--kinds", "f")
    assert made.returncode == 0 and "kinds f; regions 42" in made.stdout, made.stderr
    bad = hcert(data, "authority", "create", "420200", "--name-zh", "黄石", "--name-en", "Huangshi", "--kinds", "q")
    assert bad.returncode == 1 and bad.stderr.startswith("hcert: invalid_scope:") and len(bad.stderr.splitlines()) == 1
    assert hcert(data, "authority", "scope", "420100", "--regions", "420102,420103").returncode == 0
    shown = hcert(data, "authority", "scope", "420100")
    assert shown.stdout.strip() == "authority 420100: kinds f; regions 420102,420103"
    outside = hcert(data, "authority", "scope", "420100", "--regions", "51")
    assert outside.returncode == 1 and "invalid_scope" in outside.stderr
    # The one line says why, as the API's `errors` do.
    assert outside.stderr.splitlines() == [
        "hcert: invalid_scope: the scope is not valid for this authority: "
        "'51' is not a region-code prefix (2 to 6 digits) inside the area 4201"
    ]
    assert hcert(data, "authority", "create", "420102", "--name-zh", "江岸", "--name-en", "Jiang'an").returncode == 0
    county = hcert(data, "authority", "scope", "420102", "--regions", "42010201")
    assert county.returncode == 1 and county.stderr.rstrip().endswith(
        "(a county's area is its own code: it has no narrower region)"
    )
    assert "kinds f; regions 420102,420103" in hcert(data, "authority", "list").stdout
    exported = hcert(data, "province", "export", "--province", "42", "-o", str(tmp_path / "hb.json"))
    assert exported.returncode == 0, exported.stderr
    sub = json.loads((tmp_path / "hb.json").read_text())
    assert sub["authorities"][0]["scope"] == {"regions": ["420102", "420103"], "kinds": ["f"]}
    # The root signs it; the bundle devices load carries the scope.
    assert hcert(data, "root", "init", "--root-dir", str(tmp_path / "root")).returncode == 0
    signed = hcert(
        data, "trust", "sign", "--root-dir", str(tmp_path / "root"), "--submission", str(tmp_path / "hb.json")
    )
    assert signed.returncode == 0, signed.stderr
    signed = hcert(data, "trust", "sign", "--root-dir", str(tmp_path / "root"), "--publish")
    assert signed.returncode == 0, signed.stderr
    assert hcert(data, "bundle", "-o", str(tmp_path / "b.jwt")).returncode == 0
    bundle = Bundle.from_file(tmp_path / "b.jwt", load_roots(tmp_path / "root" / "roots.json"))
    wuhan = bundle.authorities["420100"]
    assert wuhan.kinds == frozenset({"f"}) and wuhan.regions == ("420102", "420103")


def test_province_export_of_an_unknown_province_writes_nothing(tmp_path):
    data = tmp_path / "data"
    assert hcert(data, "authority", "create", "420100", "--name-zh", "武汉", "--name-en", "Wuhan").returncode == 0
    out = tmp_path / "nothing.json"
    r = hcert(data, "province", "export", "--province", "45", "-o", str(out))
    assert r.returncode == 1 and r.stderr.startswith("hcert: province_not_found:"), r.stderr
    assert len(r.stderr.splitlines()) == 1 and not out.exists()
    r = hcert(data, "province", "export", "--province", "4x")
    assert r.returncode == 1 and "invalid_province" in r.stderr


def test_scope_over_the_api(app_client):
    service = app_client.service
    _, national = service.create_operator(None, "ndc", "national_admin", actor="t", now=NOW)
    h = {"Authorization": f"Bearer {national}"}
    made = app_client.post(
        "/v1/authorities",
        json={"code": "420100", "name_zh": "武汉", "name_en": "Wuhan", "kinds": ["f"]},
        headers=h,
    )
    assert made.status_code == 201 and made.json()["kinds"] == ["f"] and made.json()["regions"] == ["4201"]
    r = app_client.put("/v1/authorities/510321/scope", json={"kinds": ["f"]}, headers=h)
    assert r.status_code == 200 and r.json()["kinds"] == ["f"] and r.json()["regions"] == ["510321"]
    is_problem(app_client.post("/v1/certificates", json=WORKER), 403, "out_of_scope")
    is_problem(
        app_client.put("/v1/authorities/510321/scope", json={"regions": ["44"]}, headers=h), 422, "invalid_scope"
    )
    is_problem(app_client.put("/v1/authorities/510321/scope", json={"kinds": ["w"]}), 403, "forbidden")
    listed = app_client.get("/v1/authorities", headers=h).json()
    assert {a["code"]: a["kinds"] for a in listed} == {"420100": ["f"], "510321": ["f"]}


def test_a_scope_narrowed_on_another_instance_binds_the_next_request(app_client, tmp_path, clock):
    from tests.app.test_credentials import _second_instance

    client_b, store_b = _second_instance(app_client, tmp_path, clock)
    with client_b:
        assert app_client.post("/v1/certificates", json=WORKER).status_code == 201
        client_b.app.state.service.set_scope("510321", kinds=["f"], actor="t", now=NOW)
        is_problem(app_client.post("/v1/certificates", json=WORKER), 403, "out_of_scope")
    store_b.close()


def test_an_issue_reads_the_authority_once_with_the_credential(app_client, monkeypatch):
    # The credential's read brings the operator's authority (Redis: in the same script); the
    # issue uses that very read instead of reading the directory again.
    store = app_client.service.store
    reads = []
    real = store.get_authority
    monkeypatch.setattr(store, "get_authority", lambda code: reads.append(code) or real(code))
    assert app_client.post("/v1/certificates", json=WORKER).status_code == 201
    assert len(reads) == (1 if type(store).__name__ == "SqliteStore" else 0)


def test_an_authority_read_serves_only_the_request_that_made_it_and_only_while_fresh(app_client):
    from app.service import AUTHORITY_READ_FRESH, AuthorityRead

    service = app_client.service
    token = app_client.headers["Authorization"].removeprefix("Bearer ")
    operator, read = service.sign_in_read(token, client="test", now=NOW)
    assert read is not None and read.authority.kinds == ("w", "f")
    service.set_scope("510321", kinds=["f"], actor="t", now=NOW)
    refused = {"status": 422, "code": "out_of_scope"}

    def issue(**kw):
        status, body, _ = service.issue("510321", [WORKER], operator=operator, now=NOW, **kw)
        errors = json.loads(body)["errors"]
        return {"status": status, "code": errors[0]["code"]} if errors else {"status": status}

    assert issue() == refused  # no read handed over (the console, a script): the authority is read now
    stale = AuthorityRead(read.authority, read.at - AUTHORITY_READ_FRESH)
    assert issue(authority_read=stale) == refused  # a read older than a second (a slow upload): read again
    fresh = AuthorityRead(read.authority, time.monotonic())  # as the request's own read, made before the change
    assert issue(authority_read=fresh) == {"status": 201}


def test_an_answer_signed_again_after_redis_lost_the_reservation_names_only_what_was_stored(app_client, monkeypatch):
    store = app_client.service.store
    if not hasattr(store, "_commit_issue"):
        pytest.skip("only Redis reserves status entries before the write")
    real = store._commit_issue
    losses = []

    def lose_first(records, audit, idempotency, *, reserved):
        if not losses:  # Redis loses the reservations just before the first write (a restart)
            losses.append([r.jti for r in records])
            store._r.delete(*{f"hcert:{{510321}}:slots:{r.status_list}" for r in records})
        return real(records, audit, idempotency, reserved=reserved)

    monkeypatch.setattr(store, "_commit_issue", lose_first)
    rows = [{**WORKER, "resident_id": resident_id(f"51032119900307{n:03d}")} for n in (101, 102, 103)]
    answer = app_client.post("/v1/certificates/batch", json={"applications": rows})
    assert answer.status_code == 201, answer.text
    issued = answer.json()["issued"]
    assert [i["row"] for i in issued] == [1, 2, 3]  # once each, not once per signing
    stored = {c["id"] for c in app_client.get("/v1/certificates").json()["items"]}
    assert stored == {i["id"] for i in issued} and not stored & set(losses[0])
