"""/v1/drivers/metrics, /v1/repeats, /v1/spikes over an analysed store."""

from __future__ import annotations

from datetime import UTC, datetime


def test_driver_metrics_over_a_period_with_alerts(client, analyst):
    r = client.get("/v1/drivers/metrics", headers=analyst)
    assert r.status_code == 200, r.text
    metrics = r.json()
    assert [m["volume"] for m in metrics] == sorted((m["volume"] for m in metrics), reverse=True)
    total = sum(m["volume"] for m in metrics)
    assert abs(sum(m["share"] for m in metrics) - 1.0) < 0.01 and total == 41
    exchange = next(m for m in metrics if "exchange" in (m["name"] or ""))
    assert exchange["alert"] and exchange["alerts"][0]["day"] == "2026-11-21"
    assert sum(d["volume"] for d in exchange["daily"]) == exchange["volume"]
    pin = next(m for m in metrics if m["repeat_rate"] > 0)
    assert pin["cost"] == round(sum(d["cost"] for d in pin["daily"]), 2)
    early = client.get(
        "/v1/drivers/metrics", params={"to": "2026-11-20", "cost_per_minute": 2}, headers=analyst
    ).json()
    assert all(not m["alert"] for m in early)  # the spike day is outside the period
    assert sum(m["volume"] for m in early) == 31
    bad = client.get("/v1/drivers/metrics", params={"from": "yesterday"}, headers=analyst)
    assert bad.status_code == 422


def test_repeats_and_spikes_lists(client, analyst, filled):
    repeats = client.get("/v1/repeats", headers=analyst).json()
    primary = client.get("/v1/calls/r001", headers=analyst).json()["drivers"][0]["driver_id"]
    assert [(x["call_id"], x["earlier_call_id"], x["driver_id"]) for x in repeats] == [
        ("r001", "c000", primary)
    ]
    assert repeats[0]["gap_days"] == 1.208 and repeats[0]["similarity"] > 0.99
    from tests.engine.store.test_voc import with_signals

    call, meta = with_signals("angry", datetime(2026, 11, 18, 10, tzinfo=UTC), [0.0, 1.0, 0.0])
    filled.save_call(filled.start_run("a", {}), meta, "h", call)
    spikes = client.get("/v1/spikes", headers=analyst).json()
    assert [(s["call_id"], s["role"], s["words"]) for s in spikes] == [
        ("angry", "customer", ["wasted"])
    ]
    params = {"from": "2026-11-18", "to": "2026-11-18", "role": "customer"}
    assert len(client.get("/v1/spikes", params=params, headers=analyst).json()) == 1
    params = {"from": "2026-11-19"}
    assert client.get("/v1/spikes", params=params, headers=analyst).json() == []
    assert client.get("/v1/spikes", params={"role": "boss"}, headers=analyst).status_code == 422
