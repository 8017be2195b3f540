"""Jobs of the HTTP API: batch runs over an archive folder or an upload, queued in the store.

A job is ``queued`` when submitted, ``running`` once a worker claims it (``claim_next``, oldest
first; a claim is one conditional update, so two workers never take the same job), then
``finished`` with the run's counts or ``failed`` with the error. A job still ``running`` when
its server stopped goes back to ``queued`` (``requeue_running``); the batch's ledger makes the
rerun exactly-once.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import asdict, dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Literal

from sqlalchemy import select, update

from engine.errors import ConfigError
from engine.store import rows
from engine.store.schema import JobRow

if TYPE_CHECKING:
    from engine.store.repo import Store
    from engine.types import RunSummary

__all__ = ["JOB_KINDS", "JOB_STATUSES", "Job", "JobFile", "JobStore", "new_job_id"]

JobKind = Literal["archive", "upload"]
JobStatus = Literal["queued", "running", "finished", "failed"]
JOB_KINDS: tuple[str, ...] = ("archive", "upload")
JOB_STATUSES: tuple[str, ...] = ("queued", "running", "finished", "failed")
JOB_ID_HEX = 16
"""A job id is this many lower-case hex digits (random: ids cannot be guessed or counted)."""


def new_job_id() -> str:
    return secrets.token_hex(JOB_ID_HEX // 2)


def is_job_id(text: str) -> bool:
    return len(text) == JOB_ID_HEX and all(c in "0123456789abcdef" for c in text)


@dataclass(frozen=True)
class JobFile:
    """One uploaded recording: the client's name, the name it is stored under, its call_id."""

    name: str
    stored: str
    call_id: str
    size_bytes: int
    duration: float
    container: str


@dataclass(frozen=True)
class Job:
    """A job as stored. ``source``: the archive folder, or the upload's folder (server side)."""

    id: str
    kind: str
    status: str
    source: str
    created_at: datetime
    since: date | None = None
    files: tuple[JobFile, ...] = ()
    submitted_by: int | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    processed: int = 0
    skipped: int = 0
    quarantined: int = 0
    error: str | None = None
    run_id: int | None = None


def _job(r: JobRow) -> Job:
    return Job(
        id=r.id,
        kind=r.kind,
        status=r.status,
        source=r.source,
        created_at=r.created_at,
        since=date.fromisoformat(r.since) if r.since else None,
        files=tuple(JobFile(**f) for f in json.loads(r.files)),
        submitted_by=r.submitted_by,
        started_at=r.started_at,
        finished_at=r.finished_at,
        processed=r.processed,
        skipped=r.skipped,
        quarantined=r.quarantined,
        error=r.error,
        run_id=r.run_id,
    )


class JobStore:
    """The store's jobs (reached as ``Store.jobs``)."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def create(
        self,
        kind: JobKind,
        source: str,
        *,
        since: date | None = None,
        files: tuple[JobFile, ...] = (),
        submitted_by: int | None = None,
        job_id: str | None = None,
    ) -> Job:
        """A new ``queued`` job (``job_id``: one made with ``new_job_id`` beforehand)."""
        if kind not in JOB_KINDS:
            raise ConfigError(f"job kind must be one of {', '.join(JOB_KINDS)}, not {kind!r}")
        job_id = job_id or new_job_id()
        if not is_job_id(job_id):
            raise ConfigError(f"{job_id!r} is not a job id")
        with self._store._write() as s:
            row = JobRow(
                id=job_id,
                kind=kind,
                status="queued",
                source=source,
                since=since.isoformat() if since else None,
                files=rows.dumps([asdict(f) for f in files]),
                submitted_by=submitted_by,
                created_at=rows.now(),
                processed=0,
                skipped=0,
                quarantined=0,
            )
            s.add(row)
            s.flush()
            return _job(row)

    def get(self, job_id: str) -> Job | None:
        if not is_job_id(job_id):
            return None
        with self._store._read() as s:
            row = s.get(JobRow, job_id)
            return _job(row) if row is not None else None

    def list(self, limit: int = 50, status: str | None = None) -> list[Job]:
        """The newest ``limit`` jobs (of one status, when given), newest first."""
        query = select(JobRow).order_by(JobRow.created_at.desc(), JobRow.id.desc()).limit(limit)
        if status is not None:
            query = query.where(JobRow.status == status)
        with self._store._read() as s:
            return [_job(r) for r in s.scalars(query)]

    def claim_next(self) -> Job | None:
        """The oldest queued job, now ``running``; None when none is queued."""
        while True:
            with self._store._write() as s:
                job_id = s.scalar(
                    select(JobRow.id)
                    .where(JobRow.status == "queued")
                    .order_by(JobRow.created_at, JobRow.id)
                    .limit(1)
                )
                if job_id is None:
                    return None
                taken = s.execute(
                    update(JobRow)
                    .where(JobRow.id == job_id, JobRow.status == "queued")
                    .values(status="running", started_at=rows.now())
                )
                if getattr(taken, "rowcount", 0):
                    row = s.get(JobRow, job_id, populate_existing=True)
                    assert row is not None
                    return _job(row)
            # another worker took it between the select and the update: try the next one

    def finish(self, job_id: str, summary: RunSummary) -> None:
        """A job done: ``finished`` with its run's counts."""
        self._end(
            job_id,
            status="finished",
            run_id=summary.run_id,
            processed=summary.processed,
            skipped=summary.skipped,
            quarantined=len(summary.quarantined),
        )

    def fail(self, job_id: str, error: str) -> None:
        """A job that could not run to the end: ``failed`` with the reason."""
        self._end(job_id, status="failed", error=error[:4000])

    def _end(self, job_id: str, **values: object) -> None:
        with self._store._write() as s:
            s.execute(
                update(JobRow).where(JobRow.id == job_id).values(finished_at=rows.now(), **values)
            )

    def requeue(self, job_id: str) -> bool:
        """A running job back to ``queued`` (its worker stopped before it ended)."""
        with self._store._write() as s:
            done = s.execute(
                update(JobRow)
                .where(JobRow.id == job_id, JobRow.status == "running")
                .values(status="queued", started_at=None)
            )
            return bool(getattr(done, "rowcount", 0))

    def requeue_running(self) -> int:
        """Every ``running`` job back to ``queued`` (at start, after a server stop)."""
        with self._store._write() as s:
            done = s.execute(
                update(JobRow)
                .where(JobRow.status == "running")
                .values(status="queued", started_at=None)
            )
            return int(getattr(done, "rowcount", 0))
