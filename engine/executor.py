"""Executors: where the calls of a batch are analysed; the batch keeps the ledger and the store.

An `Executor` is given the pipeline builder and the calls a batch planned, and yields one
`CallResult` per call as it completes: `CallDone` (the analysis, with the metadata completed
from the audio) or `CallFailed` (the stage and the reason, for the quarantine). It never writes
to the store: the batch's process is the store's only writer and saves each call in its own
transaction, so the ledger's exactly-once guarantee does not depend on the executor.

- `LocalExecutor` (the default): in this process, decoding ahead of inference in a background
  thread, optionally with one model in memory at a time.
- ``engine.ray_executor.RayExecutor``: a pool of Ray actors (the optional extra ``ray``).

``analyse_call`` is one call's work (decode, complete the metadata, analyse), the same in both.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Generator, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Protocol

from engine.config import ChannelMap
from engine.errors import AudioError, CallscopeError, OutOfMemory
from engine.pipeline import ALL_STAGES, CallPipeline
from engine.progress import ProgressHook
from engine.types import CallAnalysis, CallMetadata, DecodedAudio, Transcript
from models.device import release_memory

log = logging.getLogger(__name__)

# Errors of one call's analysis that should quarantine it rather than stop the batch.
ANALYSIS_ERRORS = (CallscopeError, RuntimeError, ValueError)

# Makes a pipeline with the models of the given stages loaded (see ``CallPipeline.build``).
PipelineBuilder = Callable[[frozenset[str]], CallPipeline]


@dataclass(frozen=True, slots=True)
class CallJob:
    """A call the batch planned: its metadata (``meta.path``: the recording) and content hash."""

    meta: CallMetadata
    content_hash: str


@dataclass(frozen=True, slots=True)
class CallDone:
    """A call analysed; ``meta`` is ``job.meta`` completed from the audio (channel layout)."""

    job: CallJob
    meta: CallMetadata
    call: CallAnalysis


@dataclass(frozen=True, slots=True)
class CallFailed:
    """A call that could not be analysed: the stage, the problem and its detail."""

    job: CallJob
    stage: str
    problem: str
    detail: str


CallResult = CallDone | CallFailed


class Executor(Protocol):
    """Analyses a batch's calls and yields one result per call, in any order, as they complete.

    redact: replace PII before the signals are computed (the store's ``redact_pii`` setting).
    Errors other than a call's analysis errors (``ANALYSIS_ERRORS``) stop the run: they
    propagate out of the generator. Closing the generator early lets the models go.
    """

    def run(
        self,
        build: PipelineBuilder,
        jobs: Sequence[CallJob],
        redact: bool,
        progress: ProgressHook,
    ) -> Generator[CallResult, None, None]: ...


def channel_map_for(meta: CallMetadata, default: ChannelMap) -> ChannelMap:
    """The channel map the metadata states ("stereo: agent=left, customer=right"), else default."""
    layout = (meta.channel_layout or "").strip().lower()
    if layout.startswith("stereo") and "=" in layout:
        return ChannelMap.parse(layout)
    return default


def failed(job: CallJob, stage: str, exc: Exception) -> CallFailed:
    log.exception("%s of %s failed", stage, job.meta.path)
    return CallFailed(job, stage, type(exc).__name__, str(exc))


def decode_call(
    job: CallJob, decode: Callable[[], DecodedAudio], progress: ProgressHook
) -> tuple[CallMetadata, DecodedAudio] | CallFailed:
    """The decoded audio and the metadata completed from it, or why it could not be decoded."""
    meta = job.meta
    progress.stage(meta.call_id, "decode")
    try:
        audio = decode()
    except AudioError as exc:
        return CallFailed(job, "decode", exc.problem.value, exc.detail)
    if meta.channel_layout is None:
        layout = "mono" if audio.num_channels == 1 else "stereo"
        meta = replace(meta, channel_layout=layout, derived=(*meta.derived, "channel_layout"))
    return meta, audio


def analyse_call(
    pipeline: CallPipeline,
    job: CallJob,
    decode: Callable[[], DecodedAudio],
    redact: bool,
    progress: ProgressHook,
    transcripts: tuple[Transcript, ...] | None = None,
) -> CallResult:
    """One call: decode (``decode`` gives the audio), complete the metadata, analyse."""
    decoded = decode_call(job, decode, progress)
    if isinstance(decoded, CallFailed):
        return decoded
    meta, audio = decoded
    try:
        call = pipeline.analyse(
            audio,
            meta.call_id,
            channel_map_for(meta, pipeline.channel_map),
            progress,
            transcripts,
            redact=redact,
        )
    except OutOfMemory:
        raise  # the batch size, not the call: stop the run (a rerun resumes)
    except ANALYSIS_ERRORS as exc:
        return failed(job, "analyse", exc)
    return CallDone(job, meta, call)


class LocalExecutor:
    """The calls analysed in this process, one at a time, with decoding ``prefetch`` calls ahead.

    one_model_at_a_time: transcribe every call, free Whisper, then build the rest of the
    pipeline and finish the calls (memory for one model only; transcripts kept in memory).
    """

    def __init__(self, prefetch: int = 2, one_model_at_a_time: bool = False):
        self.prefetch = prefetch
        self.one_model_at_a_time = one_model_at_a_time

    def _decoded(
        self, jobs: Sequence[CallJob], decoder: Callable[[str], DecodedAudio]
    ) -> Iterator[tuple[CallJob, Future[DecodedAudio]]]:
        """Jobs with their decoding started up to ``prefetch`` calls ahead."""
        ahead = max(1, self.prefetch)
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="callscope-decode") as pool:
            queue: list[tuple[CallJob, Future[DecodedAudio]]] = []
            for job in jobs:
                queue.append((job, pool.submit(decoder, job.meta.path)))
                if len(queue) > ahead:
                    yield queue.pop(0)
            yield from queue

    def _analyse(
        self,
        pipeline: CallPipeline,
        jobs: Sequence[CallJob],
        redact: bool,
        progress: ProgressHook,
        transcripts: dict[str, tuple[Transcript, ...]] | None = None,
    ) -> Iterator[CallResult]:
        for job, pending in self._decoded(jobs, pipeline.decoder):
            earlier = transcripts.pop(job.meta.call_id) if transcripts is not None else None
            yield analyse_call(pipeline, job, pending.result, redact, progress, earlier)

    def _transcribe_all(
        self, pipeline: CallPipeline, jobs: Sequence[CallJob], progress: ProgressHook
    ) -> Iterator[CallFailed | tuple[str, tuple[Transcript, ...]]]:
        """First pass of one-model-at-a-time: each call's transcripts, or why it failed."""
        for job, pending in self._decoded(jobs, pipeline.decoder):
            decoded = decode_call(job, pending.result, progress)
            if isinstance(decoded, CallFailed):
                yield decoded
                continue
            progress.stage(job.meta.call_id, "transcribe")
            try:
                transcripts = pipeline.transcribe(decoded[1])
            except OutOfMemory:
                raise
            except ANALYSIS_ERRORS as exc:
                yield failed(job, "transcribe", exc)
            else:
                yield job.meta.call_id, transcripts

    def run(
        self,
        build: PipelineBuilder,
        jobs: Sequence[CallJob],
        redact: bool,
        progress: ProgressHook,
    ) -> Generator[CallResult, None, None]:
        if not self.one_model_at_a_time:
            with build(ALL_STAGES) as pipeline:
                yield from self._analyse(pipeline, jobs, redact, progress)
            return
        transcripts: dict[str, tuple[Transcript, ...]] = {}
        with build(frozenset({"transcribe"})) as asr:
            for item in self._transcribe_all(asr, jobs, progress):
                if isinstance(item, CallFailed):
                    yield item
                else:
                    transcripts[item[0]] = item[1]
        del asr
        release_memory()  # Whisper's memory back before the diarisation models load
        rest = [j for j in jobs if j.meta.call_id in transcripts]
        with build(frozenset({"diarise", "signals"})) as pipeline:
            yield from self._analyse(pipeline, rest, redact, progress, transcripts)
