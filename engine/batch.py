"""The nightly batch: every recording of an archive analysed once, nothing lost.

- Discovery reads the archive's night folders and their metadata (engine.archive).
- A ledger in the store (call_id + content hash) makes reruns skip finished calls,
  redo unfinished ones and reprocess changed files; each call's results are written in
  one transaction, so a process killed at any moment loses or duplicates nothing.
- A recording that cannot be processed is quarantined in the store with the stage
  and the reason; the file itself is never touched, and the batch goes on.
- Decoding runs ahead of inference in a background thread (``prefetch`` calls).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path

from engine.archive import Discovery, MetadataSchema, content_hash, discover
from engine.config import ChannelMap
from engine.errors import AudioError, CallscopeError
from engine.pipeline import CallPipeline
from engine.progress import NullProgress, ProgressHook
from engine.store.repo import Store
from engine.types import CallMetadata, DecodedAudio, QuarantineRecord, RunSummary

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BatchOptions:
    """since: only nights/calls on or after this date.
    retry_quarantined: try again the files quarantined by an earlier run (same content).
    prefetch: recordings decoded ahead of the one being analysed.
    schema: how the archive's metadata columns map to callscope's fields.
    """

    since: date | None = None
    retry_quarantined: bool = False
    prefetch: int = 2
    schema: MetadataSchema = field(default_factory=MetadataSchema)


@dataclass(frozen=True)
class _Job:
    meta: CallMetadata
    content_hash: str


def channel_map_for(meta: CallMetadata, default: ChannelMap) -> ChannelMap:
    """The channel map the metadata states ("stereo: agent=left, customer=right"), else default."""
    layout = (meta.channel_layout or "").strip().lower()
    if layout.startswith("stereo") and "=" in layout:
        return ChannelMap.parse(layout)
    return default


class NightlyBatch:
    """Run an archive through a CallPipeline into a Store (see module docstring)."""

    def __init__(
        self,
        pipeline: CallPipeline,
        store: Store,
        options: BatchOptions = BatchOptions(),
        progress: ProgressHook | None = None,
    ):
        self.pipeline = pipeline
        self.store = store
        self.options = options
        self.progress = progress or NullProgress()

    def _plan(
        self, found: Discovery, run_id: int, quarantined: list[QuarantineRecord]
    ) -> tuple[list[_Job], int]:
        jobs: list[_Job] = []
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
            jobs.append(_Job(meta, digest))
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

    def _decoded(self, jobs: list[_Job]) -> Iterator[tuple[_Job, Future[DecodedAudio]]]:
        """Jobs with their decoding started up to ``prefetch`` calls ahead."""
        ahead = max(1, self.options.prefetch)
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="callscope-decode") as pool:
            queue: list[tuple[_Job, Future[DecodedAudio]]] = []
            for job in jobs:
                queue.append((job, pool.submit(self.pipeline.decoder, job.meta.path)))
                if len(queue) > ahead:
                    yield queue.pop(0)
            yield from queue

    def run(self, archive: Path, settings: Mapping[str, str] | None = None) -> RunSummary:
        started = time.monotonic()
        found = discover(archive, self.options.schema, self.options.since)
        for problem in found.problems:
            log.warning("metadata: %s", problem)
        run_id = self.store.start_run(str(archive), dict(settings or {}))
        quarantined: list[QuarantineRecord] = []
        jobs, skipped = self._plan(found, run_id, quarantined)
        self.progress.start(len(jobs))
        processed = 0
        audio_seconds = 0.0
        try:
            for job, pending in self._decoded(jobs):
                meta = job.meta
                self.progress.stage(meta.call_id, "decode")
                try:
                    audio = pending.result()
                except AudioError as exc:
                    quarantined.append(
                        self._quarantine(
                            run_id, meta, job.content_hash, "decode", exc.problem.value, exc.detail
                        )
                    )
                    continue
                if meta.channel_layout is None:
                    layout = "mono" if audio.num_channels == 1 else "stereo"
                    meta = replace(
                        meta, channel_layout=layout, derived=(*meta.derived, "channel_layout")
                    )
                try:
                    default_map = self.pipeline.channel_map
                    call = self.pipeline.analyse(
                        audio, meta.call_id, channel_map_for(meta, default_map), self.progress
                    )
                except (CallscopeError, RuntimeError, ValueError) as exc:
                    log.exception("analysis of %s failed", meta.path)
                    quarantined.append(
                        self._quarantine(
                            run_id, meta, job.content_hash, "analyse", type(exc).__name__, str(exc)
                        )
                    )
                    continue
                self.progress.stage(meta.call_id, "store")
                self.store.save_call(run_id, meta, job.content_hash, call)
                processed += 1
                audio_seconds += call.duration
                self.progress.done(meta.call_id, call.duration)
        finally:
            self.progress.close()
        summary = RunSummary(
            run_id=run_id,
            discovered=len(found.calls) + len(found.duplicates),
            processed=processed,
            skipped=skipped,
            quarantined=tuple(quarantined),
            audio_seconds=round(audio_seconds, 3),
            wall_seconds=round(time.monotonic() - started, 3),
        )
        self.store.finish_run(summary)
        return summary
