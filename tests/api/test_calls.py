"""/v1/calls and /v1/drivers over an analysed store (SQLite and PostgreSQL)."""

from __future__ import annotations

from dataclasses import replace


def test_pages_cover_every_call_once_in_start_order(client, analyst, filled):
    seen, cursor = [], None
    while True:
        params = {"limit": 7} | ({"cursor": cursor} if cursor else {})
        page = client.get("/v1/calls", params=params, headers=analyst).json()
        seen += [c["call_id"] for c in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(filled.call_ids()) and len(seen) == len(set(seen))
    starts = [c["started_at"] for c in client.get("/v1/calls", headers=analyst).json()["items"]]
    assert starts == sorted(starts) and len(starts) == 20  # the page limit of the settings


def test_filters(client, analyst):
    def ids(**params):
        r = client.get("/v1/calls", params=params | {"limit": 100}, headers=analyst)
        assert r.status_code == 200, r.text
        return [c["call_id"] for c in r.json()["items"]]

    repeats = client.get("/v1/calls", params={"repeat": True}, headers=analyst).json()["items"]
    assert [(c["call_id"], c["repeat_of"]) for c in repeats] == [("r001", "c000")]
    exchange = next(
        d["id"]
        for d in client.get("/v1/drivers", headers=analyst).json()
        if "exchange" in d["name"]
    )
    burst = ids(driver=exchange, started_from="2026-11-21T00:00:00Z")
    assert burst == [f"s{k:03d}" for k in range(8)]
    assert ids(text="EXCHANGE RATE", started_from="2026-11-21T00:00:00Z") == burst
    assert ids(text="100%_") == []  # LIKE wildcards are literal
    assert ids(agent="nobody") == [] and ids(spike=True) == []


def test_call_detail_and_clear_errors(client, analyst):
    detail = client.get("/v1/calls/r001", headers=analyst).json()
    assert detail["repeat_of"] == "c000" and detail["drivers"][0]["rank"] == 1
    assert [u["is_reason"] for u in detail["utterances"]] == [False, True]
    missing = client.get("/v1/calls/nope", headers=analyst)
    assert missing.status_code == 404 and missing.json()["detail"] == "no call 'nope'"
    bad = client.get("/v1/calls", params={"cursor": "!!!"}, headers=analyst)
    assert bad.status_code == 400 and "invalid cursor" in bad.json()["detail"]
    invalid = client.get("/v1/calls", params={"limit": 0}, headers=analyst)
    assert invalid.status_code == 422 and invalid.json()["errors"]


def test_drivers_and_admin_rename(client, analyst, admin):
    drivers = client.get("/v1/drivers", headers=analyst).json()
    assert len(drivers) == 3 and all(d["status"] == "active" for d in drivers)
    first = drivers[0]["id"]
    assert client.get(f"/v1/drivers/{first}", headers=analyst).json()["id"] == first
    assert client.get("/v1/drivers/999", headers=analyst).status_code == 404
    r = client.patch(f"/v1/drivers/{first}", json={"name": "PIN changes"}, headers=admin)
    assert r.status_code == 200 and r.json()["name_source"] == "analyst"
    assert client.patch(f"/v1/drivers/{first}", json={"name": ""}, headers=admin).status_code == 422
    clash = client.patch(
        f"/v1/drivers/{drivers[1]['id']}", json={"name": "PIN changes"}, headers=admin
    )
    assert clash.status_code == 400 and "already called" in clash.json()["detail"]
    assert client.get("/openapi.json").json()["info"]["title"] == "callscope"


def test_newest_first_pages(client, analyst, filled):
    seen, cursor = [], None
    while True:
        params = {"limit": 9, "order": "desc"} | ({"cursor": cursor} if cursor else {})
        page = client.get("/v1/calls", params=params, headers=analyst).json()
        seen += [(c["started_at"], c["call_id"]) for c in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(seen, reverse=True) and len(seen) == len(filled.call_ids())
    bad = client.get("/v1/calls", params={"order": "up"}, headers=analyst)
    assert bad.status_code == 422


def test_detail_has_speaker_turns_with_roles(client, analyst, filled):
    detail = client.get("/v1/calls/r001", headers=analyst).json()
    stored = filled.load_call("r001")
    roles = {s.label: s.role.value for s in stored.speakers}
    assert detail["turns"] == [
        {"speaker": t.speaker, "role": roles[t.speaker], "start": t.start, "end": t.end}
        for t in stored.turns
    ]
    assert {t["role"] for t in detail["turns"]} == {"agent", "customer"}


def test_transcripts_and_rttm(client, analyst, filled):
    from engine.writers import from_json, to_rttm, to_srt, to_vtt

    stored = filled.load_call("r001")
    js = client.get("/v1/calls/r001/transcript", headers=analyst)
    assert js.status_code == 200 and js.headers["content-type"] == "application/json"
    assert from_json(js.text) == replace(stored, signals=(), spikes=(), embeddings=None)
    srt = client.get("/v1/calls/r001/transcript", params={"format": "srt"}, headers=analyst)
    assert srt.headers["content-type"].startswith("application/x-subrip")
    assert srt.text == to_srt(stored) and srt.text.startswith("1\n00:00:00,000 --> ")
    vtt = client.get("/v1/calls/r001/transcript", params={"format": "vtt"}, headers=analyst)
    assert vtt.headers["content-type"].startswith("text/vtt")
    assert vtt.text == to_vtt(stored) and vtt.text.startswith("WEBVTT\n")
    assert 'filename="r001.vtt"' in vtt.headers["content-disposition"]
    rttm = client.get("/v1/calls/r001/rttm", headers=analyst)
    assert rttm.headers["content-type"].startswith("text/plain")
    assert rttm.text == to_rttm(stored) and rttm.text.startswith("SPEAKER r001 1 ")
    for path in ("/v1/calls/nope/transcript", "/v1/calls/nope/rttm"):
        missing = client.get(path, headers=analyst)
        assert missing.status_code == 404 and missing.json()["detail"] == "no call 'nope'"
    bad = client.get("/v1/calls/r001/transcript", params={"format": "doc"}, headers=analyst)
    assert bad.status_code == 422
    assert client.get("/v1/calls/r001/rttm").status_code == 401
