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
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path

from engine.archive import Discovery, MetadataSchema, content_hash, discover
from engine.config import ChannelMap
from engine.errors import AudioError, CallscopeError
from engine.pipeline import ALL_STAGES, CallPipeline
from engine.progress import NullProgress, ProgressHook
from engine.store.repo import Store
from engine.types import CallMetadata, DecodedAudio, QuarantineRecord, RunSummary, Transcript
from models.device import release_memory

log = logging.getLogger(__name__)

# Errors of one call's analysis that should quarantine it rather than stop the batch.
ANALYSIS_ERRORS = (CallscopeError, RuntimeError, ValueError)


@dataclass(frozen=True)
class BatchOptions:
    """since: only nights/calls on or after this date.
    retry_quarantined: try again the files quarantined by an earlier run (same content).
    prefetch: recordings decoded ahead of the one being analysed.
    schema: how the archive's metadata columns map to callscope's fields.
    """

    since: date | None = None
    retry_quarantined: bool = False
    one_model_at_a_time: bool = False
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


PipelineBuilder = Callable[[frozenset[str]], CallPipeline]


@dataclass
class _Tally:
    run_id: int
    quarantined: list[QuarantineRecord] = field(default_factory=list)
    processed: int = 0
    audio_seconds: float = 0.0


class NightlyBatch:
    """Run an archive through CallPipelines into a Store (see module docstring).

    build: makes a pipeline with the models of the given stages loaded (see
    ``CallPipeline.build``); called once with every stage, or once per stage when
    ``options.one_model_at_a_time``.
    """

    def __init__(
        self,
        build: PipelineBuilder,
        store: Store,
        options: BatchOptions = BatchOptions(),
        progress: ProgressHook | None = None,
    ):
        self.build = build
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

    def _decoded(
        self, jobs: list[_Job], decoder: Callable[[str], DecodedAudio]
    ) -> Iterator[tuple[_Job, Future[DecodedAudio]]]:
        """Jobs with their decoding started up to ``prefetch`` calls ahead."""
        ahead = max(1, self.options.prefetch)
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="callscope-decode") as pool:
            queue: list[tuple[_Job, Future[DecodedAudio]]] = []
            for job in jobs:
                queue.append((job, pool.submit(decoder, job.meta.path)))
                if len(queue) > ahead:
                    yield queue.pop(0)
            yield from queue

    def _audio(
        self, job: _Job, pending: Future[DecodedAudio], tally: _Tally
    ) -> tuple[CallMetadata, DecodedAudio] | None:
        """The decoded audio and the metadata completed from it, or None (quarantined)."""
        meta = job.meta
        self.progress.stage(meta.call_id, "decode")
        try:
            audio = pending.result()
        except AudioError as exc:
            tally.quarantined.append(
                self._quarantine(
                    tally.run_id, meta, job.content_hash, "decode", exc.problem.value, exc.detail
                )
            )
            return None
        if meta.channel_layout is None:
            layout = "mono" if audio.num_channels == 1 else "stereo"
            meta = replace(meta, channel_layout=layout, derived=(*meta.derived, "channel_layout"))
        return meta, audio

    def _failed(self, job: _Job, stage: str, exc: Exception, tally: _Tally) -> None:
        log.exception("%s of %s failed", stage, job.meta.path)
        tally.quarantined.append(
            self._quarantine(
                tally.run_id, job.meta, job.content_hash, stage, type(exc).__name__, str(exc)
            )
        )

    def _analyse_and_store(
        self,
        pipeline: CallPipeline,
        jobs: list[_Job],
        tally: _Tally,
        transcripts: dict[str, tuple[Transcript, ...]] | None = None,
    ) -> None:
        for job, pending in self._decoded(jobs, pipeline.decoder):
            decoded = self._audio(job, pending, tally)
            if decoded is None:
                continue
            meta, audio = decoded
            try:
                call = pipeline.analyse(
                    audio,
                    meta.call_id,
                    channel_map_for(meta, pipeline.channel_map),
                    self.progress,
                    transcripts.pop(meta.call_id) if transcripts is not None else None,
                )
            except ANALYSIS_ERRORS as exc:
                self._failed(job, "analyse", exc, tally)
                continue
            self.progress.stage(meta.call_id, "store")
            self.store.save_call(tally.run_id, meta, job.content_hash, call)
            tally.processed += 1
            tally.audio_seconds += call.duration
            self.progress.done(meta.call_id, call.duration)

    def _transcribe_all(
        self, pipeline: CallPipeline, jobs: list[_Job], tally: _Tally
    ) -> dict[str, tuple[Transcript, ...]]:
        """First pass of one-model-at-a-time: transcripts of every call, kept in memory."""
        transcripts: dict[str, tuple[Transcript, ...]] = {}
        for job, pending in self._decoded(jobs, pipeline.decoder):
            decoded = self._audio(job, pending, tally)
            if decoded is None:
                continue
            self.progress.stage(job.meta.call_id, "transcribe")
            try:
                transcripts[job.meta.call_id] = pipeline.transcribe(decoded[1])
            except ANALYSIS_ERRORS as exc:
                self._failed(job, "transcribe", exc, tally)
        return transcripts

    def _process(self, jobs: list[_Job], tally: _Tally) -> None:
        if not self.options.one_model_at_a_time:
            with self.build(ALL_STAGES) as pipeline:
                self._analyse_and_store(pipeline, jobs, tally)
            return
        with self.build(frozenset({"transcribe"})) as asr:
            transcripts = self._transcribe_all(asr, jobs, tally)
        del asr
        release_memory()  # Whisper's memory back before the diarisation models load
        rest = [j for j in jobs if j.meta.call_id in transcripts]
        with self.build(frozenset({"diarise", "signals"})) as pipeline:
            self._analyse_and_store(pipeline, rest, tally, transcripts)

    def run(self, archive: Path, settings: Mapping[str, str] | None = None) -> RunSummary:
        started = time.monotonic()
        found = discover(archive, self.options.schema, self.options.since)
        for problem in found.problems:
            log.warning("metadata: %s", problem)
        tally = _Tally(self.store.start_run(str(archive), dict(settings or {})))
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
