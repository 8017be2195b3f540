"""The store's jobs on SQLite and PostgreSQL: queue order, claims, outcomes, requeueing,
and the jobs migration down and up."""

from __future__ import annotations

import threading
from datetime import date

import pytest

from engine.errors import ConfigError
from engine.store.jobs import JobFile, new_job_id
from engine.store.repo import Store
from engine.types import QuarantineRecord, RunSummary
from tests.store_fixtures import pg_database, pg_url, store, store_url

__all__ = ["pg_database", "pg_url", "store", "store_url"]  # fixtures, imported for pytest


def summary(run_id: int, processed: int = 2, skipped: int = 1, quarantined: int = 1):
    q = QuarantineRecord("c9", "/x/c9.wav", "decode", "corrupt", "bad", None)
    return RunSummary(
        run_id, processed + skipped + quarantined, processed, skipped, (q,) * quarantined, 3.0, 1.0
    )


def test_a_job_is_queued_then_claimed_then_finished(store: Store):
    files = (JobFile("a b.wav", "001-a_b.wav", "a b", 16044, 1.0, "WAV"),)
    job = store.jobs.create("upload", "/up/x", files=files, since=date(2026, 11, 1), submitted_by=7)
    assert job.status == "queued" and job.started_at is None and job.files == files
    assert store.jobs.get(job.id) == job
    claimed = store.jobs.claim_next()
    assert claimed is not None and claimed.id == job.id and claimed.status == "running"
    assert claimed.started_at is not None and store.jobs.claim_next() is None
    run = store.start_run("/up/x", {})
    store.jobs.finish(job.id, summary(run))
    done = store.jobs.get(job.id)
    assert done is not None and done.status == "finished" and done.finished_at is not None
    assert (done.processed, done.skipped, done.quarantined, done.run_id) == (2, 1, 1, run)
    assert done.since == date(2026, 11, 1) and done.submitted_by == 7 and done.files == files


def test_claims_go_in_submission_order_and_list_is_newest_first(store: Store):
    ids = [store.jobs.create("archive", f"/a/{i}").id for i in range(4)]
    assert [j.id for j in store.jobs.list()] == ids[::-1]
    assert [j.id for j in store.jobs.list(limit=2)] == ids[:1:-1]
    assert [store.jobs.claim_next().id for _ in range(2)] == ids[:2]  # type: ignore[union-attr]
    assert [j.id for j in store.jobs.list(status="queued")] == ids[:1:-1]


def test_failures_and_requeueing(store: Store):
    a, b = store.jobs.create("archive", "/a"), store.jobs.create("archive", "/b")
    store.jobs.claim_next()
    store.jobs.fail(a.id, "ConfigError: /a: not a folder")
    failed = store.jobs.get(a.id)
    assert (
        failed is not None and failed.status == "failed" and "not a folder" in (failed.error or "")
    )
    assert not store.jobs.requeue(a.id)  # only running jobs go back to the queue
    store.jobs.claim_next()
    assert store.jobs.requeue_running() == 1
    again = store.jobs.get(b.id)
    assert again is not None and again.status == "queued" and again.started_at is None


def test_two_workers_never_claim_the_same_job(store_url: str):
    with Store.open(store_url) as one, Store.open(store_url) as two:
        for i in range(6):
            one.jobs.create("archive", f"/a/{i}")
        taken: list[str] = []

        def claim(store: Store) -> None:
            while (job := store.jobs.claim_next()) is not None:
                taken.append(job.id)

        threads = [threading.Thread(target=claim, args=(s,)) for s in (one, two)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(taken) == sorted(j.id for j in one.jobs.list())


def test_bad_ids_and_kinds(store: Store):
    assert store.jobs.get("../../etc") is None and store.jobs.get(new_job_id()) is None
    with pytest.raises(ConfigError):
        store.jobs.create("shell", "/x")  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        store.jobs.create("archive", "/x", job_id="x/../y")


def test_the_jobs_migration_downgrades_and_upgrades(store_url: str):
    from alembic import command
    from sqlalchemy import inspect

    from engine.store.connect import alembic_config

    with Store.open(store_url) as store:
        store.jobs.create("archive", "/a")
    command.downgrade(alembic_config(store_url), "0004")
    with Store.open(store_url, migrate_schema=False) as store:
        assert "jobs" not in inspect(store._engine).get_table_names()
    command.upgrade(alembic_config(store_url), "head")
    with Store.open(store_url) as store:
        assert store.jobs.list() == []
        assert store.jobs.create("upload", "/u").status == "queued"
