"""The nightly batch: every recording of an archive analysed once, nothing lost.

- Discovery reads the archive's night folders and their metadata (engine.archive).
- A ledger in the store (call_id + content hash) makes reruns skip finished calls,
  redo unfinished ones and reprocess changed files; each call's results are written in
  one transaction, so a process killed at any moment loses or duplicates nothing.
- A recording that cannot be processed is quarantined in the store with the stage
  and the reason; the file itself is never touched, and the batch goes on.
- Where the calls are analysed is the executor's business (engine.executor): in this
  process by default, decoding running ahead of inference in a background thread
  (``prefetch`` calls), or on a Ray cluster (engine.ray_executor). Either way results come
  back here and this process alone writes them, so the ledger's guarantees are the same.
- When the store's ``redact_pii`` setting is on (read once per run, and recorded in the run's
  settings), PII is redacted from every call before its signals are computed and it is stored.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from contextlib import closing
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from engine.archive import Discovery, MetadataSchema, content_hash, discover
from engine.executor import ANALYSIS_ERRORS as ANALYSIS_ERRORS  # "X as X": re-exported
from engine.executor import CallFailed, CallJob, Executor, LocalExecutor
from engine.executor import PipelineBuilder as PipelineBuilder
from engine.executor import channel_map_for as channel_map_for
from engine.progress import NullProgress, ProgressHook
from engine.store.repo import Store
from engine.types import CallMetadata, QuarantineRecord, RunSummary

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BatchOptions:
    """since: only nights/calls on or after this date.
    retry_quarantined: try again the files quarantined by an earlier run (same content).
    one_model_at_a_time / prefetch: how the default (local) executor runs: one model in
    memory at a time; recordings decoded ahead of the one being analysed.
    schema: how the archive's metadata columns map to callscope's fields.
    """

    since: date | None = None
    retry_quarantined: bool = False
    one_model_at_a_time: bool = False
    prefetch: int = 2
    schema: MetadataSchema = field(default_factory=MetadataSchema)


@dataclass
class _Tally:
    run_id: int
    redact: bool = False
    quarantined: list[QuarantineRecord] = field(default_factory=list)
    processed: int = 0
    audio_seconds: float = 0.0


class NightlyBatch:
    """Run an archive through CallPipelines into a Store (see module docstring).

    build: makes a pipeline with the models of the given stages loaded (see
    ``CallPipeline.build``); called once with every stage, or once per stage when
    ``options.one_model_at_a_time``.
    executor: where the calls are analysed (default: a ``LocalExecutor`` following
    ``options.prefetch`` and ``options.one_model_at_a_time``; ``RayExecutor``: a Ray cluster).
    """

    def __init__(
        self,
        build: PipelineBuilder,
        store: Store,
        options: BatchOptions = BatchOptions(),
        progress: ProgressHook | None = None,
        executor: Executor | None = None,
    ):
        self.build = build
        self.store = store
        self.options = options
        self.progress = progress or NullProgress()
        self.executor = executor or LocalExecutor(options.prefetch, options.one_model_at_a_time)

    def _plan(
        self, found: Discovery, run_id: int, quarantined: list[QuarantineRecord]
    ) -> tuple[list[CallJob], int]:
        jobs: list[CallJob] = []
        skipped = 0
        for meta in found.duplicates:
            quarantined.append(
                self._quarantine(
                    run_id, meta, None, "discover", "duplicate_call_id", "call_id seen earlier"
                )
            )
        for meta in found.calls:
            try:
                digest = content_hash(Path(meta.path))
            except OSError as exc:
                quarantined.append(
                    self._quarantine(run_id, meta, None, "read", "unreadable", str(exc))
                )
                continue
            entry = self.store.ledger(meta.call_id, path=meta.path)
            if (
                entry is not None
                and entry.content_hash == digest
                and (entry.state == "done" or not self.options.retry_quarantined)
            ):
                skipped += 1
                continue
            jobs.append(CallJob(meta, digest))
        return jobs, skipped

    def _quarantine(
        self,
        run_id: int,
        meta: CallMetadata,
        digest: str | None,
        stage: str,
        problem: str,
        detail: str,
    ) -> QuarantineRecord:
        record = QuarantineRecord(meta.call_id, meta.path, stage, problem, detail, digest)
        self.store.quarantine(run_id, meta, record)
        log.warning("quarantined %s (%s, %s): %s", meta.path, stage, problem, detail)
        self.progress.failed(meta.call_id, f"{stage}: {problem}: {detail}")
        return record

    def _process(self, jobs: list[CallJob], tally: _Tally) -> None:
        # closed at once if this loop stops (the executor's models and workers let go)
        with closing(self.executor.run(self.build, jobs, tally.redact, self.progress)) as results:
            for result in results:
                job = result.job
                if isinstance(result, CallFailed):
                    tally.quarantined.append(
                        self._quarantine(
                            tally.run_id,
                            job.meta,
                            job.content_hash,
                            result.stage,
                            result.problem,
                            result.detail,
                        )
                    )
                    continue
                call_id = result.meta.call_id
                self.progress.stage(call_id, "store")
                self.store.save_call(tally.run_id, result.meta, job.content_hash, result.call)
                tally.processed += 1
                tally.audio_seconds += result.call.duration
                self.progress.done(call_id, result.call.duration)

    def run(self, archive: Path, settings: Mapping[str, str] | None = None) -> RunSummary:
        started = time.monotonic()
        found = discover(archive, self.options.schema, self.options.since)
        for problem in found.problems:
            log.warning("metadata: %s", problem)
        redact = self.store.setting("redact_pii", "on") == "on"
        recorded = {**(settings or {}), "redact_pii": "on" if redact else "off"}
        tally = _Tally(self.store.start_run(str(archive), recorded), redact)
        jobs, skipped = self._plan(found, tally.run_id, tally.quarantined)
        self.progress.start(len(jobs))
        try:
            self._process(jobs, tally)
        finally:
            self.progress.close()
        summary = RunSummary(
            run_id=tally.run_id,
            discovered=len(found.calls) + len(found.duplicates),
            processed=tally.processed,
            skipped=skipped,
            quarantined=tuple(tally.quarantined),
            audio_seconds=round(tally.audio_seconds, 3),
            wall_seconds=round(time.monotonic() - started, 3),
        )
        self.store.finish_run(summary)
        return summary
