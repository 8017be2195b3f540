"""/v1/report: the VoC report page for analysts; periods checked."""

from __future__ import annotations

import re


def test_the_report_needs_a_key(client):
    r = client.get("/v1/report", params={"from": "2026-11-16", "to": "2026-11-21"})
    assert r.status_code == 401
    assert r.headers["content-type"] == "application/problem+json"


def test_the_report_page(client, analyst):
    r = client.get("/v1/report", params={"from": "2026-11-16", "to": "2026-11-21"}, headers=analyst)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    assert r.headers["content-security-policy"].startswith("default-src 'none'")
    ids = re.findall(r'<img id="([^"]+)" class="chart"', r.text)
    assert ids == ["chart-volume", "chart-cost", "chart-trend", "chart-repeat", "chart-negative"]
    assert "No emotion spikes in this period." in r.text
    cheap = client.get(
        "/v1/report",
        params={"from": "2026-11-16", "to": "2026-11-21", "cost_per_minute": 0},
        headers=analyst,
    )
    assert "handle cost (0 a minute)" in cheap.text
    empty = client.get(
        "/v1/report", params={"from": "2020-01-01", "to": "2020-01-01"}, headers=analyst
    )
    assert empty.status_code == 200 and 'id="no-calls"' in empty.text


def test_bad_periods_are_problems(client, analyst):
    for params, detail in (
        ({"from": "2026-11-21", "to": "2026-11-16"}, "starts after it ends"),
        ({"from": "2025-01-01", "to": "2026-11-16"}, "at most 366"),
        ({"from": "yesterday", "to": "2026-11-16"}, "not valid"),
        ({"to": "2026-11-16"}, "not valid"),
    ):
        r = client.get("/v1/report", params=params, headers=analyst)
        assert r.status_code == 422, params
        assert r.headers["content-type"] == "application/problem+json"
        assert detail in r.json()["detail"]
    last = {"from": "9999-12-31", "to": "9999-12-31"}
    assert client.get("/v1/report", params=last, headers=analyst).status_code == 200


def test_the_schema_documents_html(client):
    operation = client.get("/openapi.json").json()["paths"]["/v1/report"]["get"]
    assert list(operation["responses"]["200"]["content"]) == ["text/html"]
    names = {p["name"] for p in operation["parameters"]}
    assert {"from", "to", "cost_per_minute"} <= names
