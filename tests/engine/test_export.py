"""Exports of the store (Parquet, CSV, JSONL, per-call files) on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.export import ExportTooLarge, export, export_call_files, export_filtered
from engine.store.calls import CallFilter
from engine.store.repo import ExportView, Store
from engine.store.schema import Call, CallDriver, Driver, Flag
from engine.writers import from_json
from tests.store_fixtures import make_call, make_meta, pg_database, pg_url, store, store_url

__all__ = ["pg_database", "pg_url", "store", "store_url"]  # fixtures, imported for pytest

FORMATS = ("parquet", "csv", "jsonl")


def read_back(path: Path) -> list[dict[str, Any]]:
    """Rows of an exported file, values as text (CSV) or JSON/Arrow types."""
    if path.suffix == ".parquet":
        return pq.read_table(path).to_pylist()
    if path.suffix == ".csv":
        with path.open(newline="", encoding="utf-8") as fh:
            return list(csv.DictReader(fh))
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


def fill(store: Store) -> None:
    run = store.start_run("/archive", {})
    store.save_call(run, make_meta("call-1"), "h1", make_call("call-1"))
    store.save_call(run, make_meta("call-2", customer_id=None), "h2", make_call("call-2", 1))


def add_analytics(store: Store) -> None:
    """Drivers and flags as the (later) analytics will write them: straight into the tables."""
    with Session(store._engine) as s, s.begin():
        call = s.scalars(select(Call).where(Call.call_id == "call-1")).one()
        now = datetime.now(UTC)
        billing = Driver(
            id=1,
            name="billing",
            keywords='["bill","charge"]',
            model="m",
            created_at=now,
            updated_at=now,
        )
        cancel = Driver(
            id=2, name="cancel", keywords='["cancel"]', model="m", created_at=now, updated_at=now
        )
        s.add_all([billing, cancel])
        s.flush()
        s.add_all(
            [
                CallDriver(call_pk=call.id, driver_id=cancel.id, rank=2, score=0.25),
                CallDriver(call_pk=call.id, driver_id=billing.id, rank=1, score=0.8),
                Flag(
                    call_pk=call.id,
                    kind="emotion_spike",
                    start=2.1,
                    end=5.2,
                    speaker_role="customer",
                    score=0.9,
                    details='{"emotion":"anger"}',
                ),
            ]
        )


@pytest.mark.parametrize("fmt", FORMATS)
def test_export_calls_and_utterances(store, tmp_path, fmt):
    fill(store)
    written = export(store, tmp_path / "out", fmt)
    assert [p.name for p in written] == [f"calls.{fmt}", f"utterances.{fmt}"]
    calls = read_back(written[0])
    assert [c["call_id"] for c in calls] == ["call-1", "call-2"]
    started = calls[0]["started_at"]
    expected = datetime(2026, 11, 16, 9, 30, 15, 250_000, tzinfo=UTC)
    assert (started if fmt == "parquet" else datetime.fromisoformat(started)) == expected
    assert calls[1]["customer_id"] in (None, "")  # null; an empty field in CSV
    assert calls[0]["derived"] == "channel_layout"
    utterances = read_back(written[1])
    originals = [u for c in ("call-1", "call-2") for u in store.load_call(c).utterances]
    assert len(utterances) == len(originals) == 5
    for row, u in zip(utterances, originals, strict=True):
        assert row["role"] == u.role.value and row["speaker"] == u.speaker
        assert float(row["start"]) == u.start and float(row["end"]) == u.end
        assert row["text"] == u.text and int(row["word_count"]) == len(u.words)
    assert [(r["call_id"], int(r["idx"])) for r in utterances[:3]] == [
        ("call-1", 0),
        ("call-1", 1),
        ("call-2", 0),
    ]
    assert not list((tmp_path / "out").glob(".*.tmp"))


@pytest.mark.parametrize("fmt", FORMATS)
def test_empty_store_exports_empty_but_valid_files(store, tmp_path, fmt):
    written = export(store, tmp_path, fmt)
    assert [p.name for p in written] == [f"calls.{fmt}", f"utterances.{fmt}"]
    assert read_back(written[0]) == [] and read_back(written[1]) == []
    if fmt == "parquet":
        assert "role" in pq.read_schema(written[1]).names
    if fmt == "csv":
        assert written[1].read_text().splitlines()[0].startswith("call_id,idx,speaker,role")


@pytest.mark.parametrize("fmt", FORMATS)
def test_drivers_and_flags_are_exported_when_present(store, tmp_path, fmt):
    fill(store)
    add_analytics(store)
    written = export(store, tmp_path, fmt)
    assert [p.stem for p in written] == ["calls", "utterances", "drivers", "flags"]
    drivers = read_back(written[2])
    assert [(d["call_id"], d["driver"], int(d["rank"])) for d in drivers] == [
        ("call-1", "billing", 1),
        ("call-1", "cancel", 2),
    ]
    (flag,) = read_back(written[3])
    assert flag["kind"] == "emotion_spike" and flag["speaker_role"] == "customer"
    assert float(flag["start"]) == 2.1 and json.loads(flag["details"]) == {"emotion": "anger"}


def test_tables_can_be_chosen_and_are_checked(store, tmp_path):
    fill(store)
    assert [p.name for p in export(store, tmp_path, "csv", tables=("utterances",))] == [
        "utterances.csv"
    ]
    with pytest.raises(ValueError, match="format"):
        export(store, tmp_path, "xlsx")
    with pytest.raises(ValueError, match="tables"):
        export(store, tmp_path, "csv", tables=("words",))


def test_failed_export_leaves_the_previous_file(store, tmp_path, monkeypatch):
    fill(store)
    out = tmp_path / "out"
    (previous,) = export(store, out, "jsonl", tables=("utterances",))
    before = previous.read_bytes()

    def broken(self, table, batch_size=2000):
        yield from list(original(self, table))[:2]
        raise OSError("disk full")

    original = ExportView.rows
    monkeypatch.setattr(ExportView, "rows", broken)
    with pytest.raises(OSError, match="disk full"):
        export(store, out, "jsonl", tables=("utterances",))
    assert previous.read_bytes() == before
    assert sorted(p.name for p in out.iterdir()) == ["utterances.jsonl"]  # no temporary left


def test_per_call_files(store, tmp_path):
    fill(store)
    written = export_call_files(store, tmp_path / "calls")
    assert sorted(p.name for p in written) == sorted(
        f"{c}.{ext}" for c in ("call-1", "call-2") for ext in ("json", "rttm", "srt", "vtt")
    )
    doc = (tmp_path / "calls" / "call-2.json").read_text(encoding="utf-8")
    assert from_json(doc) == store.load_call("call-2")
    only = export_call_files(store, tmp_path / "one", call_ids=["call-1", "missing"])
    assert sorted(p.name for p in only) == [
        f"call-1.{ext}" for ext in ("json", "rttm", "srt", "vtt")
    ]


@pytest.mark.parametrize("fmt", FORMATS)
def test_filtered_export_holds_only_the_matching_calls(store, tmp_path, fmt):
    fill(store)
    add_analytics(store)  # call-1's primary driver is billing (1)
    path = tmp_path / f"utterances.{fmt}"
    n = export_filtered(store, "utterances", path, fmt, CallFilter(driver_id=1))
    got = read_back(path)
    assert n == len(got) == 2 and {r["call_id"] for r in got} == {"call-1"}
    assert [str(r["idx"]) for r in got] == ["0", "1"]
    calls = tmp_path / f"calls.{fmt}"
    assert export_filtered(store, "calls", calls, fmt, CallFilter(text="EXTRA")) == 1
    assert [r["call_id"] for r in read_back(calls)] == ["call-2"]
    assert export_filtered(store, "calls", calls, fmt, CallFilter(agent_id="nobody")) == 0
    assert read_back(calls) == []
    everything = export_filtered(store, "utterances", path, fmt)
    assert everything == len(read_back(path)) == 5


def test_filtered_export_refuses_more_rows_than_allowed(store, tmp_path):
    fill(store)
    path = tmp_path / "utterances.csv"
    with pytest.raises(ExportTooLarge, match="5 utterances rows; the most is 4"):
        export_filtered(store, "utterances", path, "csv", None, max_rows=4)
    assert not path.exists()
    assert export_filtered(store, "utterances", path, "csv", None, max_rows=5) == 5
    with pytest.raises(ValueError, match="unknown export format"):
        export_filtered(store, "calls", path, "xlsx")
