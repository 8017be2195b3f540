"""Running the HTTP API's jobs: one background worker, one job at a time, in submission order.

A job (``engine.store.jobs``) names a folder: an archive folder inside the server's archive
roots (`archive_folder` checks it), or the folder an upload was received into
(``engine.uploads``). `JobWorker` claims the oldest queued job, hands it to a `BatchRunner`
and records the outcome (finished with the run's counts, or failed with the error).

Stopping: ``JobWorker.stop`` asks a running batch to stop at the next call boundary (the
progress hook raises `JobInterrupted` there) and puts the job back in the queue; a job still
running when the process dies is queued again by the next ``start``. Either way the batch's
ledger makes the rerun skip the calls already stored, so nothing is analysed twice.

`PipelineBatchRunner` is the real runner: the same `NightlyBatch` ``callscope run`` builds,
with the models loaded at the first job and kept for the next ones, then the VoC analysis.
Tests pass any callable of the `BatchRunner` shape instead (no models).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, cast

from engine.errors import CallscopeError
from engine.progress import NullProgress, ProgressHook
from engine.store.jobs import Job

if TYPE_CHECKING:
    from engine.batch import BatchOptions, PipelineBuilder
    from engine.pipeline import CallPipeline, PipelineSettings
    from engine.store.repo import Store
    from engine.types import RunSummary
    from models.sentence import SentenceEncoder

__all__ = [
    "BatchRunner",
    "JobInterrupted",
    "JobRefused",
    "JobWorker",
    "PipelineBatchRunner",
    "WorkerOptions",
    "archive_folder",
]

log = logging.getLogger(__name__)


class JobRefused(CallscopeError):
    """A job that may not be submitted; ``forbidden``: by the server's policy (not the input)."""

    def __init__(self, detail: str, forbidden: bool = False) -> None:
        self.detail = detail
        self.forbidden = forbidden
        super().__init__(detail)


class JobInterrupted(Exception):
    """Raised at a call boundary when the worker is stopping (never a CallscopeError, so the
    batch does not quarantine a call for it)."""


def archive_folder(text: str, roots: Sequence[Path]) -> Path:
    """The folder an archive job may run over: ``text`` with every link and ``..`` resolved,
    inside one of ``roots``, and an existing folder. Raises JobRefused otherwise.

    A path outside the roots is refused before anything about it is looked at, so the
    answer tells nothing of what exists elsewhere on the server.
    """
    if not roots:
        raise JobRefused(
            "archive jobs are disabled: the server has no archive roots (archive_roots)",
            forbidden=True,
        )
    if not text or any(ord(c) < 32 for c in text):
        raise JobRefused("the archive path is empty or holds control characters")
    if not os.path.isabs(text):
        raise JobRefused(f"the archive path must be absolute, got {text!r}")
    real = Path(os.path.realpath(text))
    for root in roots:
        top = Path(os.path.realpath(root))
        if real == top or top in real.parents:
            break
    else:
        raise JobRefused(
            f"{text!r} resolves to {str(real)!r}, outside the archive roots "
            f"({', '.join(str(r) for r in roots)})",
            forbidden=True,
        )
    if not real.is_dir():
        raise JobRefused(f"{text!r} is not a folder (or does not exist)")
    return real


class BatchRunner(Protocol):
    """Runs one job's batch into the store and returns its summary. ``progress`` must be
    told of every call (a stopping worker raises JobInterrupted from it)."""

    def __call__(self, store: Store, job: Job, progress: ProgressHook) -> RunSummary: ...


class _StopWatch(NullProgress):
    """A progress hook that logs the job's calls and stops it at a call boundary."""

    def __init__(self, job: Job, stopping: threading.Event) -> None:
        self.job = job
        self.stopping = stopping

    def _check(self) -> None:
        if self.stopping.is_set():
            raise JobInterrupted(f"job {self.job.id} stopped")

    def start(self, total: int) -> None:
        log.info("job %s: %d calls to analyse", self.job.id, total)
        self._check()

    def stage(self, call_id: str, stage: str) -> None:
        self._check()

    def failed(self, call_id: str, reason: str) -> None:
        log.info("job %s: call %s quarantined: %s", self.job.id, call_id, reason)


@dataclass(frozen=True)
class WorkerOptions:
    """poll_s: how often an idle worker looks for jobs queued elsewhere (a new job of this
    process wakes it at once); stop_timeout_s: how long ``stop`` waits for the running call
    to finish before leaving the job to the next start."""

    poll_s: float = 2.0
    stop_timeout_s: float = 60.0


class JobWorker:
    """One background thread that runs queued jobs in order (see module docstring)."""

    def __init__(
        self, store: Store, runner: BatchRunner, options: WorkerOptions | None = None
    ) -> None:
        self.store = store
        self.runner = runner
        self.options = options or WorkerOptions()
        self._stopping = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Queue again the jobs a stopped server left running, then start the thread."""
        requeued = self.store.jobs.requeue_running()
        if requeued:
            log.warning("%d interrupted job(s) queued again", requeued)
        self._stopping.clear()
        self._thread = threading.Thread(target=self._loop, name="callscope-jobs", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """A job was queued: look now rather than at the next poll."""
        self._wake.set()

    def stop(self) -> None:
        """Stop at the next call boundary; the running job, if any, goes back to the queue."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(self.options.stop_timeout_s)
            if self._thread.is_alive():
                log.warning("a job is still running; it will be queued again at the next start")
        close = getattr(self.runner, "close", None)
        if callable(close) and (self._thread is None or not self._thread.is_alive()):
            close()
        self._thread = None

    def run_next(self) -> Job | None:
        """Claim the oldest queued job and run it; the job as it ended, or None (no job)."""
        job = self.store.jobs.claim_next()
        if job is None:
            return None
        log.info("job %s (%s) started: %s", job.id, job.kind, job.source)
        try:
            summary = self.runner(self.store, job, _StopWatch(job, self._stopping))
        except JobInterrupted:
            self.store.jobs.requeue(job.id)
            log.warning("job %s stopped with the server; queued again", job.id)
        except Exception as exc:
            log.exception("job %s failed", job.id)
            reason = str(exc) if isinstance(exc, CallscopeError) else f"{type(exc).__name__}: {exc}"
            self.store.jobs.fail(job.id, reason)
        else:
            self.store.jobs.finish(job.id, summary)
            log.info(
                "job %s finished: run %d, %d processed, %d skipped, %d quarantined",
                job.id,
                summary.run_id,
                summary.processed,
                summary.skipped,
                len(summary.quarantined),
            )
        return self.store.jobs.get(job.id)

    def _loop(self) -> None:
        while not self._stopping.is_set():
            self._wake.clear()
            try:
                ran = self.run_next() is not None
            except Exception:
                log.exception("the job worker could not read the store; trying again")
                ran = False
            if not ran:
                self._wake.wait(self.options.poll_s)


class _Lent:
    """A loaded pipeline lent to one batch: leaving its ``with`` block does not close it."""

    def __init__(self, pipeline: CallPipeline) -> None:
        self.pipeline = pipeline

    def __enter__(self) -> CallPipeline:
        return self.pipeline

    def __exit__(self, *exc: object) -> None:
        pass


class PipelineBatchRunner:
    """The real `BatchRunner`: ``callscope run``'s batch, models loaded once and kept.

    settings: the pipeline (None: ``PipelineSettings()``, the CLI's defaults), or a callable
        that makes it at the first job (so a server starts without importing the models'
        libraries).
    options: the batch options (``since`` comes from each job; one model at a time is off,
        as every model stays loaded between jobs).
    analyse: after a batch that stored calls, run the VoC analysis (drivers, repeats,
        alerts) over the store, as ``callscope run`` does (skipped when the sentence
        model is "off").
    build: loads a pipeline (default ``CallPipeline.build``; tests pass a fake).
    """

    def __init__(
        self,
        settings: PipelineSettings | Callable[[], PipelineSettings] | None = None,
        options: BatchOptions | None = None,
        *,
        analyse: bool = True,
        build: PipelineBuilder | None = None,
    ) -> None:
        self._settings: PipelineSettings | None = None
        self._make_settings = settings
        self._options = options
        self.analyse = analyse
        self._build = build
        self._pipeline: CallPipeline | None = None
        self._encoder: SentenceEncoder | None = None

    @property
    def settings(self) -> PipelineSettings:
        if self._settings is None:
            from engine.pipeline import PipelineSettings

            made = self._make_settings
            self._settings = made() if callable(made) else made or PipelineSettings()
        return self._settings

    def _lend(self, stages: frozenset[str]) -> CallPipeline:
        if self._pipeline is None:
            from engine.pipeline import ALL_STAGES, CallPipeline

            if self._build is not None:
                self._pipeline = self._build(ALL_STAGES)
            else:
                self._pipeline = CallPipeline.build(self.settings, ALL_STAGES)
        # NightlyBatch only enters what its builder returns: lend the pipeline without closing
        return cast("CallPipeline", _Lent(self._pipeline))

    def _sentence_encoder(self) -> SentenceEncoder:
        if self._encoder is None:
            from models.device import resolve_device
            from models.sentence import load_sentence_encoder

            choice = resolve_device(self.settings.device, "auto")
            self._encoder = load_sentence_encoder(self.settings.sentence_model, choice)
        return self._encoder

    def __call__(self, store: Store, job: Job, progress: ProgressHook) -> RunSummary:
        from engine.batch import BatchOptions, NightlyBatch

        options = replace(
            self._options or BatchOptions(), since=job.since, one_model_at_a_time=False
        )
        run_settings: dict[str, str] = {"pipeline": repr(self.settings), "job": job.id}
        summary = NightlyBatch(self._lend, store, options, progress).run(
            Path(job.source), run_settings
        )
        if self.analyse and summary.processed and self.settings.sentence_model != "off":
            from engine.analytics.analyse import AnalyseOptions, VocAnalysis
            from models.sentence import encoder_name

            name = encoder_name(self.settings.sentence_model)
            VocAnalysis(store, self._sentence_encoder, AnalyseOptions(sentence_model=name)).run()
        return summary

    def close(self) -> None:
        """Let the models go."""
        if self._pipeline is not None:
            self._pipeline.close()
        self._pipeline = None
        self._encoder = None
