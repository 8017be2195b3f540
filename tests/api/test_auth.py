"""Every route needs a key; analyst keys cannot write; errors are problem documents."""

from __future__ import annotations

import pytest

from api.main import create_app


def routes() -> list[tuple[str, str]]:
    """Every operation of the OpenAPI schema (the app is built, never started)."""
    paths = create_app().openapi()["paths"]
    return sorted((method.upper(), path) for path, ops in paths.items() for method in ops)


def needs_admin(method: str, path: str) -> bool:
    """The rule: analyst keys read; writing anything and every job route need admin."""
    return method != "GET" or path.startswith("/v1/jobs")


ADMIN_ONLY = [(m, p) for m, p in routes() if needs_admin(m, p)]
READABLE = [(m, p) for m, p in routes() if not needs_admin(m, p)]


def concrete(path: str) -> str:
    return (
        path.replace("{call_id}", "c000")
        .replace("{driver_id}", "1")
        .replace("{job_id}", "0123456789abcdef")
    )


def test_the_app_has_routes_and_all_are_under_v1():
    assert routes() and all(path.startswith("/v1/") for _, path in routes())


@pytest.mark.parametrize(("method", "path"), routes())
def test_every_route_refuses_a_missing_or_wrong_key(client, method, path):
    for headers in ({}, {"X-API-Key": "cs_00000000_nope"}, {"Authorization": "Bearer x"}):
        r = client.request(method, concrete(path), headers=headers, json={"name": "x"})
        assert r.status_code == 401, (method, path, headers)
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["status"] == 401 and r.json()["title"] == "Unauthorized"


def test_the_rule_covers_writes_and_jobs():
    assert ("PATCH", "/v1/drivers/{driver_id}") in ADMIN_ONLY
    assert ("POST", "/v1/jobs/uploads") in ADMIN_ONLY and ("GET", "/v1/jobs") in ADMIN_ONLY
    assert ("GET", "/v1/calls") in READABLE and ("GET", "/v1/search") in READABLE


@pytest.mark.parametrize(("method", "path"), ADMIN_ONLY)
def test_admin_routes_refuse_analyst_keys(client, analyst, method, path):
    r = client.request(method, concrete(path), headers=analyst, json={"name": "x"})
    assert r.status_code == 403 and "admin role" in r.json()["detail"]
    assert r.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize(("method", "path"), READABLE)
def test_analyst_keys_pass_the_door_of_every_read_route(client, analyst, method, path):
    r = client.request(method, concrete(path), headers=analyst)
    assert r.status_code not in (401, 403), (method, path, r.status_code)


def test_revoked_keys_stop_working(client, filled, analyst):
    assert client.get("/v1/drivers", headers=analyst).status_code == 200
    key = next(k for k in filled.keys.list() if k.name == "qa team")
    assert filled.keys.revoke(key.id) and not filled.keys.revoke(key.id)
    assert client.get("/v1/drivers", headers=analyst).status_code == 401


def test_keys_are_stored_hashed(filled):
    key, text = filled.keys.create("someone", "admin")
    assert text.startswith(f"cs_{key.prefix}_") and filled.keys.verify(text) == key
    assert filled.keys.verify(text[:-1] + ("A" if text[-1] != "A" else "B")) is None
    from sqlalchemy import select

    from engine.store.schema import ApiKeyRow

    with filled._read() as s:
        stored = s.scalars(select(ApiKeyRow.secret_hash)).all()
    assert all(text.split("_", 2)[2] not in h for h in stored)
    with pytest.raises(Exception, match="role must be"):
        filled.keys.create("x", "root")
