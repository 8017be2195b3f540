"""/v1/drivers/{id} in detail (daily series, newest calls) and the admin's merge and split,
over an analysed store (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest


@pytest.fixture
def ids(client, analyst) -> dict[str, int]:
    """Driver ids by their theme: pin, charged, exchange."""
    drivers = client.get("/v1/drivers", headers=analyst).json()
    themes = ("pin", "charged", "exchange")
    return {t: next(d["id"] for d in drivers if t in d["name"]) for t in themes}


def test_detail_has_the_daily_series_and_newest_calls(client, analyst, ids):
    r = client.get(f"/v1/drivers/{ids['exchange']}", headers=analyst)
    assert r.status_code == 200, r.text
    detail = r.json()
    assert detail["name"] and detail["keywords"] and detail["exemplars"]
    # default: the 30 days up to the newest call's day
    assert (detail["first"], detail["last"]) == ("2026-10-23", "2026-11-21")
    volumes = {d["day"]: d["volume"] for d in detail["daily"]}
    assert volumes == {f"2026-11-{d}": 2 for d in range(16, 21)} | {"2026-11-21": 8}
    starts = [c["started_at"] for c in detail["calls"]]
    assert len(starts) == 18 and starts == sorted(starts, reverse=True)
    assert {c["driver_id"] for c in detail["calls"]} == {ids["exchange"]}
    assert detail["calls_next"] is None
    window = client.get(
        f"/v1/drivers/{ids['exchange']}",
        params={"from": "2026-11-20", "to": "2026-11-21"},
        headers=analyst,
    ).json()
    assert [(d["day"], d["volume"]) for d in window["daily"]] == [
        ("2026-11-20", 2),
        ("2026-11-21", 8),
    ]
    assert window["daily"][-1]["share"] == pytest.approx(0.8)  # 8 of the day's 10 calls


def test_detail_links_to_the_next_page_of_calls(client, analyst, ids, monkeypatch):
    monkeypatch.setattr("api.routers.drivers.DETAIL_CALLS", 5)
    detail = client.get(f"/v1/drivers/{ids['pin']}", headers=analyst).json()
    assert len(detail["calls"]) == 5 and detail["calls_next"].startswith("/v1/calls?driver=")
    rest = client.get(detail["calls_next"], headers=analyst).json()["items"]
    shown = [c["started_at"] for c in detail["calls"] + rest]
    assert shown == sorted(shown, reverse=True) and len(shown) == 13


def test_detail_problems(client, analyst, ids):
    assert client.get("/v1/drivers/999", headers=analyst).status_code == 404
    backwards = client.get(
        f"/v1/drivers/{ids['pin']}",
        params={"from": "2026-11-21", "to": "2026-11-01"},
        headers=analyst,
    )
    assert backwards.status_code == 422 and "after" in backwards.json()["detail"]
    assert client.get(f"/v1/drivers/{ids['pin']}").status_code == 401


def test_admin_merges_drivers(client, analyst, admin, ids):
    body = {"target": ids["pin"], "sources": [ids["charged"]]}
    assert client.post("/v1/drivers/merge", json=body).status_code == 401
    assert client.post("/v1/drivers/merge", json=body, headers=analyst).status_code == 403
    r = client.post("/v1/drivers/merge", json=body, headers=admin)
    assert r.status_code == 200, r.text
    target, merged = r.json()
    assert target["id"] == ids["pin"] and target["status"] == "active"
    assert (merged["status"], merged["merged_into"]) == ("merged", ids["pin"])
    detail = client.get(f"/v1/drivers/{ids['pin']}", headers=analyst).json()
    assert sum(d["volume"] for d in detail["daily"]) == 13 + 10  # charged calls count for pin
    again = client.post("/v1/drivers/merge", json=body, headers=admin)
    assert again.status_code == 409 and "merged, not active" in again.json()["detail"]


@pytest.mark.parametrize(
    ("body", "status", "detail"),
    [
        ({"target": 1, "sources": [1]}, 422, "into itself"),
        ({"target": 999, "sources": [1]}, 404, "no driver 999"),
        ({"target": 1, "sources": []}, 422, "not valid"),
        ({"target": 1}, 422, "not valid"),
    ],
)
def test_merge_problems(client, admin, ids, body, status, detail):
    body = {k: v if k != "target" or v == 999 else ids["pin"] for k, v in body.items()}
    if body.get("sources") == [1]:
        body["sources"] = [ids["pin"]] if status == 422 else [ids["charged"]]
    r = client.post("/v1/drivers/merge", json=body, headers=admin)
    assert r.status_code == status and detail in r.json()["detail"]


def test_admin_splits_a_driver(client, analyst, admin, ids):
    path = f"/v1/drivers/{ids['exchange']}/split"
    assert client.post(path, json={"parts": 2}, headers=analyst).status_code == 403
    r = client.post(path, json={"parts": 2}, headers=admin)
    assert r.status_code == 200, r.text
    parent, *children = r.json()
    assert parent["status"] == "split" and len(children) == 2
    assert all(c["parent_id"] == ids["exchange"] and c["status"] == "active" for c in children)
    assert sum(c["size"] for c in children) == 18
    again = client.post(path, json={"parts": 2}, headers=admin)
    assert again.status_code == 409


def test_split_problems(client, admin, ids):
    path = f"/v1/drivers/{ids['exchange']}/split"
    too_many = client.post(path, json={"parts": 19}, headers=admin)
    assert too_many.status_code == 422 and "18 members" in too_many.json()["detail"]
    assert client.post(path, json={"parts": 1}, headers=admin).status_code == 422
    assert client.post(path, json={}, headers=admin).status_code == 422
    missing = client.post("/v1/drivers/999/split", json={"parts": 2}, headers=admin)
    assert missing.status_code == 404
