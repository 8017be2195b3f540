"""The result store on SQLite and PostgreSQL: migrations, round trips, the ledger, quarantine,
one transaction per call, and readers that never see half a call."""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event, inspect

from engine.store.connect import (
    DEFAULT_STORE_URL,
    STORE_URL_ENV,
    alembic_config,
    default_store_url,
    resolve_store_url,
)
from engine.store.repo import LedgerEntry, Store, StoreError
from engine.store.schema import Base
from engine.types import QuarantineRecord, RunSummary
from tests.store_fixtures import make_call, make_meta, pg_database, pg_url, store, store_url

__all__ = ["pg_database", "pg_url", "store", "store_url"]  # fixtures, imported for pytest


def utterance_rows(store: Store) -> int:
    with store.export_view() as view:
        return view.count("utterances")


def save(store: Store, call_id: str = "call-1", variant: int = 0, digest: str = "h1", **meta):
    run = store.start_run("/archive", {})
    call = make_call(call_id, variant)
    store.save_call(run, make_meta(call_id, **meta), digest, call)
    return call


# --------------------------------------------------------------------------- migrations


def test_migrations_create_every_table_at_head(store):
    tables = set(inspect(store._engine).get_table_names())
    assert set(Base.metadata.tables) | {"alembic_version"} <= tables
    with store._engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_heads()
    assert set(current) == set(ScriptDirectory.from_config(alembic_config()).get_heads())


def test_migration_matches_the_models(store):
    with store._engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def test_reopening_keeps_data_and_migrates_nothing(store_url):
    with Store.open(store_url) as first:
        save(first)
    with Store.open(store_url) as again:
        assert again.call_ids() == ["call-1"]
        with again._engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT count(*) FROM alembic_version").scalar() == 1


def test_store_urls(monkeypatch, tmp_path):
    monkeypatch.delenv(STORE_URL_ENV, raising=False)
    assert default_store_url() == DEFAULT_STORE_URL == "sqlite:///callscope-data/callscope.db"
    assert resolve_store_url(None) == DEFAULT_STORE_URL
    assert resolve_store_url(str(tmp_path / "x.db")) == f"sqlite:///{tmp_path / 'x.db'}"
    monkeypatch.setenv(STORE_URL_ENV, "postgresql+psycopg://u:p@h/db")
    assert resolve_store_url(None) == "postgresql+psycopg://u:p@h/db"
    with Store.open(str(tmp_path / "deep" / "er" / "x.db")) as s:  # a bare path: SQLite
        assert s.dialect == "sqlite" and s.count_calls() == 0
    assert (tmp_path / "deep" / "er" / "x.db").exists()


# --------------------------------------------------------------------------- round trips


def test_saved_call_loads_back_equal(store):
    call = save(store)
    assert store.load_call("call-1") == call
    assert store.load_call("call-1").utterances[1].words == call.utterances[1].words
    assert store.call_metadata("call-1") == make_meta("call-1")
    assert store.call_ids() == ["call-1"] and store.count_calls() == 1
    assert store.load_call("nope") is None and store.call_metadata("nope") is None


def test_times_are_utc_and_naive_means_utc(store):
    cet = timezone(timedelta(hours=1))
    save(store, "aware", started_at=datetime(2026, 11, 16, 10, 0, tzinfo=cet))
    save(store, "naive", started_at=datetime(2026, 11, 16, 9, 0))
    save(store, "none", started_at=None)
    expected = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)
    assert store.call_metadata("aware").started_at == expected
    assert store.call_metadata("aware").started_at.tzinfo == UTC
    assert store.call_metadata("naive").started_at == expected
    assert store.call_metadata("none").started_at is None


def test_empty_call_round_trips(store):
    run = store.start_run("/a", {})
    call = replace(make_call("silent"), speakers=(), turns=(), utterances=(), words=())
    store.save_call(run, make_meta("silent"), "h", call)
    assert store.load_call("silent") == call


def test_runs_record_their_outcome(store):
    run = store.start_run("/archive", {"pipeline": "p", "a": "1"})
    (record,) = store.runs()
    assert (record.id, record.status, record.finished_at) == (run, "running", None)
    assert record.settings == {"a": "1", "pipeline": "p"}
    q = QuarantineRecord("bad", "/archive/bad.wav", "decode", "empty", "0 bytes", "h")
    summary = RunSummary(run, 5, 3, 1, (q,), 123.456, 7.5)
    store.finish_run(summary)
    (done,) = store.runs()
    assert done.status == "finished" and done.finished_at >= done.started_at
    assert (done.discovered, done.processed, done.skipped, done.quarantined) == (5, 3, 1, 1)
    assert (done.audio_seconds, done.wall_seconds) == (123.456, 7.5)
    with pytest.raises(StoreError):
        store.finish_run(replace(summary, run_id=run + 100))


def test_mismatched_ids_are_refused(store):
    run = store.start_run("/a", {})
    with pytest.raises(StoreError):
        store.save_call(run, make_meta("other"), "h", make_call("call-1"))
    q = QuarantineRecord("x", "/x.wav", "decode", "empty", "")
    with pytest.raises(StoreError):
        store.quarantine(run, make_meta("y"), q)


# --------------------------------------------------------------------------- the ledger


def test_saving_twice_keeps_one_copy(store):
    call = save(store)
    save(store)
    assert store.count_calls() == 1
    assert utterance_rows(store) == len(call.utterances)
    assert store.load_call("call-1") == call


def test_changed_content_replaces_the_results(store):
    save(store, variant=0, digest="h1")
    save(store, "call-2", variant=0, digest="x")
    newer = save(store, variant=3, digest="h2")
    assert store.load_call("call-1") == newer
    assert store.ledger("call-1") == LedgerEntry("call-1", "h2", "done")
    assert store.count_calls() == 2
    assert utterance_rows(store) == len(newer.utterances) + 2  # no orphans of the old version


def test_ledger_states(store):
    assert store.ledger("call-1") is None
    save(store, digest="h1")
    assert store.ledger("call-1") == LedgerEntry("call-1", "h1", "done")
    run = store.start_run("/a", {})
    q = QuarantineRecord("bad", "/a/bad.wav", "decode", "not_audio", "text file", "hb")
    store.quarantine(run, make_meta("bad", "/a/bad.wav"), q)
    assert store.ledger("bad") == LedgerEntry("bad", "hb", "quarantined")
    assert store.ledger("bad", path="/a/bad.wav") == LedgerEntry("bad", "hb", "quarantined")
    assert store.ledger("bad", path="/elsewhere.wav") is None
    assert store.call_ids() == ["call-1"]


def test_quarantine_then_successful_reprocess_clears_it(store):
    run = store.start_run("/a", {})
    meta = make_meta("late")
    q = QuarantineRecord("late", meta.path, "decode", "not_audio", "still uploading", "h0")
    store.quarantine(run, meta, q)
    assert store.quarantined() == [q] and store.quarantined(run) == [q]
    assert store.quarantined(run + 1) == []
    call = make_call("late")
    store.save_call(run, meta, "h1", call)
    assert store.quarantined() == []
    assert store.ledger("late") == LedgerEntry("late", "h1", "done")
    assert store.load_call("late") == call


def test_quarantine_replaces_the_older_row(store):
    first = store.start_run("/a", {})
    meta = make_meta("bad")
    store.quarantine(first, meta, QuarantineRecord("bad", meta.path, "decode", "empty", "", "h1"))
    second = store.start_run("/a", {})
    newer = QuarantineRecord("bad", meta.path, "analyse", "RuntimeError", "boom", "h2")
    store.quarantine(second, meta, newer)
    assert store.quarantined() == [newer]
    assert store.quarantined(first) == [] and store.quarantined(second) == [newer]
    assert store.ledger("bad") == LedgerEntry("bad", "h2", "quarantined")


def test_failed_new_version_deletes_the_stale_results(store):
    save(store, digest="h1")
    run = store.start_run("/a", {})
    meta = make_meta("call-1")
    store.quarantine(
        run, meta, QuarantineRecord("call-1", meta.path, "decode", "corrupt", "", "h2")
    )
    assert store.load_call("call-1") is None and store.count_calls() == 0
    assert utterance_rows(store) == 0
    assert store.ledger("call-1") == LedgerEntry("call-1", "h2", "quarantined")


def test_results_are_kept_when_the_failure_is_not_a_new_version(store):
    call = save(store, digest="h1")
    run = store.start_run("/a", {})
    meta = make_meta("call-1")
    unreadable = QuarantineRecord("call-1", meta.path, "read", "unreadable", "EACCES", None)
    store.quarantine(run, meta, unreadable)
    duplicate = QuarantineRecord("call-1", "/other/call-1.wav", "discover", "duplicate", "", "h9")
    store.quarantine(run, replace(meta, path=duplicate.path), duplicate)
    assert store.load_call("call-1") == call
    assert store.ledger("call-1") == LedgerEntry("call-1", "h1", "done")
    assert store.quarantined() == [unreadable, duplicate]
    save(store, digest="h1")  # reprocessing the file clears its own row, not the duplicate's
    assert store.quarantined() == [duplicate]


# --------------------------------------------------------------------------- transactions


def fail_after_inserting_utterances(store: Store):
    def explode(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("INSERT INTO UTTERANCES"):
            raise RuntimeError("killed after inserting the utterances")

    event.listen(store._engine, "after_cursor_execute", explode)
    return lambda: event.remove(store._engine, "after_cursor_execute", explode)


def test_failed_save_leaves_nothing_of_the_call(store):
    run = store.start_run("/a", {})
    undo = fail_after_inserting_utterances(store)
    with pytest.raises(RuntimeError, match="killed"):
        store.save_call(run, make_meta("call-1"), "h1", make_call("call-1"))
    undo()
    assert store.load_call("call-1") is None and store.ledger("call-1") is None
    assert store.count_calls() == 0 and utterance_rows(store) == 0
    with store._engine.connect() as conn:
        for table in ("speakers", "turns", "utterances", "calls"):
            assert conn.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar() == 0


def test_failed_replacement_keeps_the_previous_results(store):
    old = save(store, digest="h1")
    run = store.start_run("/a", {})
    meta = make_meta("call-1")
    store.quarantine(run, meta, QuarantineRecord("call-1", "/x.wav", "decode", "empty", "", None))
    undo = fail_after_inserting_utterances(store)
    with pytest.raises(RuntimeError):
        store.save_call(run, meta, "h2", make_call("call-1", variant=2))
    undo()
    assert store.load_call("call-1") == old
    assert store.ledger("call-1") == LedgerEntry("call-1", "h1", "done")
    assert utterance_rows(store) == len(old.utterances)
    assert len(store.quarantined()) == 1


def test_concurrent_reader_sees_a_whole_call(store):
    versions = [make_call("call-1", v) for v in (0, 4)]
    run = store.start_run("/a", {})
    store.save_call(run, make_meta("call-1"), "h0", versions[0])
    done = threading.Event()
    errors: list[BaseException] = []

    def write() -> None:
        try:
            for i in range(40):
                store.save_call(run, make_meta("call-1"), f"h{i}", versions[i % 2])
        except BaseException as exc:
            errors.append(exc)
        finally:
            done.set()

    writer = threading.Thread(target=write)
    writer.start()
    seen = set()
    while not done.is_set():
        loaded = store.load_call("call-1")
        assert loaded in versions, "a reader saw a partly written call"
        seen.add(len(loaded.utterances))
        assert store.count_calls() == 1
    writer.join()
    assert not errors
    assert seen  # the reader ran while the writer wrote


# --------------------------------------------------------------------------- SQLite


@pytest.fixture()
def sqlite_store(tmp_path: Path):
    with Store.open(f"sqlite:///{tmp_path}/s/callscope.db") as s:
        yield s, tmp_path / "s" / "callscope.db"


def test_sqlite_settings(sqlite_store):
    store, path = sqlite_store
    with store._engine.connect() as conn:
        pragma = {
            name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
            for name in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")
        }
    assert pragma == {"journal_mode": "wal", "synchronous": 1, "foreign_keys": 1} | {
        "busy_timeout": 30000
    }
    with sqlite3.connect(path) as other:  # WAL is a property of the file, for every client
        assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_sqlite_reader_is_not_blocked_by_an_open_write(sqlite_store):
    store, path = sqlite_store
    call = save(store)
    writer = sqlite3.connect(path, isolation_level=None)
    try:
        writer.execute("BEGIN IMMEDIATE")
        writer.execute("DELETE FROM utterances")
        writer.execute("DELETE FROM calls")
        started = time.monotonic()
        assert store.load_call("call-1") == call  # the committed state, at once
        assert store.ledger("call-1") == LedgerEntry("call-1", "h1", "done")
        with Store.open(f"sqlite:///{path}") as api:  # a new reader (the API) opening now
            assert api.load_call("call-1") == call
        assert time.monotonic() - started < 5
        writer.execute("ROLLBACK")
    finally:
        writer.close()
    assert store.load_call("call-1") == call
