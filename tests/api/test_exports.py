"""/v1/exports: the filtered calls or utterances as Parquet or CSV downloads."""

from __future__ import annotations

import csv
import io
from dataclasses import replace

import pyarrow.parquet as pq

from engine.store.rows import EXPORT_COLUMNS


def exchange_id(client, analyst) -> int:
    drivers = client.get("/v1/drivers", headers=analyst).json()
    return next(d["id"] for d in drivers if "exchange" in d["name"])


def test_csv_of_the_filtered_calls(client, analyst):
    driver = exchange_id(client, analyst)
    r = client.get("/v1/exports/calls", params={"format": "csv", "driver": driver}, headers=analyst)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "text/csv; charset=utf-8"
    assert r.headers["content-disposition"] == 'attachment; filename="calls.csv"'
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert list(rows[0]) == [name for name, _ in EXPORT_COLUMNS["calls"]]
    ids = {row["call_id"] for row in rows}
    assert len(rows) == 18 and {f"s{k:03d}" for k in range(8)} <= ids
    late = client.get(
        "/v1/exports/calls",
        params={"format": "csv", "driver": driver, "started_from": "2026-11-21T00:00:00Z"},
        headers=analyst,
    )
    assert sorted(r["call_id"] for r in csv.DictReader(io.StringIO(late.text))) == [
        f"s{k:03d}" for k in range(8)
    ]


def test_parquet_of_the_utterances(client, analyst, filled):
    r = client.get("/v1/exports/utterances", params={"text": "charged twice"}, headers=analyst)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/vnd.apache.parquet"
    assert 'filename="utterances.parquet"' in r.headers["content-disposition"]
    table = pq.read_table(io.BytesIO(r.content))
    assert table.column_names == [name for name, _ in EXPORT_COLUMNS["utterances"]]
    rows = table.to_pylist()
    assert len(rows) == 20 and {r["call_id"] for r in rows} == {
        f"c{n:03d}" for n in range(3, 30, 6)
    } | {f"c{n:03d}" for n in range(2, 30, 6)}
    stored = filled.load_call(rows[1]["call_id"]).utterances[1]
    assert (rows[1]["text"], rows[1]["role"], rows[1]["start"]) == (
        stored.text,
        stored.role.value,
        stored.start,
    )
    everything = client.get("/v1/exports/utterances", params={"format": "csv"}, headers=analyst)
    assert len(list(csv.DictReader(io.StringIO(everything.text)))) == 2 * len(filled.call_ids())


def test_exports_are_bounded_and_checked(client, analyst):
    settings = client.app.state.settings
    client.app.state.settings = replace(settings, export_max_rows=10)
    big = client.get("/v1/exports/utterances", headers=analyst)
    assert big.status_code == 413 and "the most is 10" in big.json()["detail"]
    small = client.get("/v1/exports/calls", params={"text": "charged twice"}, headers=analyst)
    assert small.status_code == 200
    bad = client.get("/v1/exports/calls", params={"format": "xlsx"}, headers=analyst)
    assert bad.status_code == 422
    assert client.get("/v1/exports/calls").status_code == 401
