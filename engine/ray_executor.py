"""Scale-out on Ray: a batch's calls analysed by a pool of Ray actors (optional extra ``ray``).

Each actor builds the pipeline once (its models loaded once) and reserves ``cpus_per_worker``
CPUs and ``gpus_per_worker`` GPUs of the cluster (one GPU each: one actor per GPU). The driver
(the process running the batch) sends every call by its path, and the actor decodes the file
itself: the archive must be on storage that every node reads at the same path (NFS, a mounted
bucket). At most ``in_flight`` calls wait on each actor, so memory stays flat whatever the size
of the archive. Results come back to the driver as they complete; the batch there saves each
call in its own transaction, the store's only writer, so the ledger's exactly-once guarantee
is the local executor's.

A worker that dies (process killed, out of memory, node lost): the call it was running is
charged one attempt and sent again, to whichever worker is free first, with the calls that
were waiting behind it (those are not charged); a new actor takes the dead one's place. A call
charged ``max_attempts`` times is quarantined ("worker: worker_died") and the batch goes on.
A call is sent again only after its earlier attempt failed, and each call's result is yielded
once, so nothing is lost or stored twice.
"""

from __future__ import annotations

import logging
import os
import time
from collections import deque
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from functools import partial
from types import ModuleType
from typing import Any

from engine.errors import CallscopeError, ConfigError, OutOfMemory
from engine.executor import (
    CallFailed,
    CallJob,
    CallResult,
    PipelineBuilder,
    analyse_call,
)
from engine.pipeline import ALL_STAGES
from engine.progress import NullProgress, ProgressHook

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RayOptions:
    """address: the cluster: None starts a local one for the run (or joins ``$RAY_ADDRESS``),
    "auto" joins the cluster this machine is part of (``ray start``), "ray://head:10001" one
    reached through Ray Client. A Ray already initialised in this process is used as it is.
    workers: actors, each with the models loaded once.
    cpus_per_worker / gpus_per_worker: the Ray resources each actor reserves.
    in_flight: calls sent ahead to each actor (at most workers × in_flight calls out).
    max_attempts: how many times a call may be running on a worker that dies before the call
    is quarantined.
    start_timeout_s: how long to wait, with no call in progress, for a worker to load its
    models (a cluster without the resources asked for never starts it).
    """

    address: str | None = None
    workers: int = 2
    cpus_per_worker: float = 1.0
    gpus_per_worker: float = 0.0
    in_flight: int = 2
    max_attempts: int = 3
    start_timeout_s: float = 600.0


def import_ray() -> ModuleType:
    """Ray, or a clear error saying how to install it."""
    try:
        import ray
    except ImportError as exc:
        raise ConfigError(
            "the Ray executor needs Ray: pip install 'callscope[ray]' (on every node)"
        ) from exc
    return ray


class CallWorker:
    """One actor's work: the pipeline built once, then calls one at a time (made a Ray actor
    by ``RayExecutor``; usable as a plain object too)."""

    def __init__(self, build: PipelineBuilder):
        self.pipeline = build(ALL_STAGES)

    def pid(self) -> int:
        return os.getpid()

    def analyse(self, job: CallJob, redact: bool) -> CallResult:
        decode = partial(self.pipeline.decoder, job.meta.path)
        return analyse_call(self.pipeline, job, decode, redact, NullProgress())


@dataclass
class _Slot:
    """A worker's place in the pool: its current actor and the calls sent to it, oldest first."""

    actor: Any
    ready: bool = False
    pid: int | None = None
    sent: deque[Any] = field(default_factory=deque)


class RayExecutor:
    """Analyse calls on Ray actors (see module docstring)."""

    def __init__(self, options: RayOptions = RayOptions()):
        if options.workers < 1 or options.in_flight < 1 or options.max_attempts < 1:
            raise ConfigError("Ray executor: workers, in_flight and max_attempts must be >= 1")
        self.options = options
        self._slots: list[_Slot] = []

    @property
    def pids(self) -> dict[int, int]:
        """Worker index -> process id of its actor, for the workers started (tests, benchmarks)."""
        return {i: s.pid for i, s in enumerate(self._slots) if s.pid is not None}

    def run(
        self,
        build: PipelineBuilder,
        jobs: Sequence[CallJob],
        redact: bool,
        progress: ProgressHook,
    ) -> Generator[CallResult, None, None]:
        ray = import_ray()
        if not jobs:
            return
        started = not ray.is_initialized()
        if started:
            ray.init(address=self.options.address)
        try:
            yield from _Pool(ray, self, build, redact, progress).run(jobs)
        finally:
            for slot in self._slots:
                ray.kill(slot.actor, no_restart=True)
            self._slots = []
            if started:
                ray.shutdown()


class _Pool:
    """One run's actors and the calls queued, sent and done (the driver's bookkeeping)."""

    def __init__(
        self,
        ray: ModuleType,
        executor: RayExecutor,
        build: PipelineBuilder,
        redact: bool,
        progress: ProgressHook,
    ):
        o = executor.options
        self.ray = ray
        self.options = o
        self.slots = executor._slots
        self.redact = redact
        self.progress = progress
        self.lost = (ray.exceptions.RayActorError, ray.exceptions.ObjectLostError)
        self.actor_class = ray.remote(
            num_cpus=o.cpus_per_worker, num_gpus=o.gpus_per_worker, max_restarts=0
        )(CallWorker)
        self.build = ray.put(build)  # pickled once for every actor
        self.queue: deque[tuple[CallJob, int]] = deque()  # (job, attempts charged)
        self.sent: dict[Any, tuple[int, CallJob, int]] = {}  # call ref -> (slot, job, attempts)
        self.starting: dict[Any, int] = {}  # pid ref -> slot
        self.finished: set[str] = set()
        self.start_deaths = 0

    def _start(self, index: int | None = None) -> None:
        actor = self.actor_class.remote(self.build)
        slot = _Slot(actor)
        if index is None:
            self.slots.append(slot)
            index = len(self.slots) - 1
        else:
            self.slots[index] = slot
        self.starting[actor.pid.remote()] = index

    def _send(self) -> None:
        for index, slot in enumerate(self.slots):
            while slot.ready and self.queue and len(slot.sent) < self.options.in_flight:
                job, attempts = self.queue.popleft()
                self.progress.stage(job.meta.call_id, "analyse")
                ref = slot.actor.analyse.remote(job, self.redact)
                slot.sent.append(ref)
                self.sent[ref] = (index, job, attempts)

    def run(self, jobs: Sequence[CallJob]) -> Generator[CallResult, None, None]:
        self.queue.extend((job, 0) for job in jobs)
        for _ in range(self.options.workers):
            self._start()
        log.info(
            "Ray: %d workers (%s CPU, %s GPU each) for %d calls",
            self.options.workers,
            self.options.cpus_per_worker,
            self.options.gpus_per_worker,
            len(jobs),
        )
        idle_since = time.monotonic()
        while self.queue or self.sent:
            self._send()
            timeout = None if self.sent else self.options.start_timeout_s
            done, _ = self.ray.wait([*self.sent, *self.starting], num_returns=1, timeout=timeout)
            if not done:
                raise CallscopeError(
                    f"no Ray worker started in {time.monotonic() - idle_since:.0f} s: does the "
                    f"cluster have {self.options.cpus_per_worker} CPU and "
                    f"{self.options.gpus_per_worker} GPU free for one?"
                )
            ref = done[0]
            if ref in self.starting:
                self._started(ref)
                idle_since = time.monotonic()
                continue
            try:
                result = self.ray.get(ref)
            except self.lost as exc:
                yield from self._worker_died(self.sent[ref][0], exc)
                continue
            except self.ray.exceptions.RayTaskError as exc:
                if isinstance(exc.cause, OutOfMemory):  # stops the run, as in the local executor
                    raise exc.cause from exc
                raise
            yield from self._finish(ref, result)

    def _started(self, ref: Any) -> None:
        index = self.starting.pop(ref)
        slot = self.slots[index]
        try:
            slot.pid = self.ray.get(ref)
        except self.ray.exceptions.RayActorError as exc:
            if exc.actor_init_failed:  # the pipeline itself could not be built: no retry helps
                raise CallscopeError(f"a Ray worker could not load the pipeline: {exc}") from exc
            self.start_deaths += 1
            if self.start_deaths > self.options.workers * self.options.max_attempts:
                raise CallscopeError(f"Ray workers keep dying while starting: {exc}") from exc
            log.warning("Ray worker %d died while starting; starting another: %s", index, exc)
            self._start(index)
            return
        slot.ready = True
        log.info("Ray worker %d ready (pid %d)", index, slot.pid)

    def _finish(self, ref: Any, result: CallResult) -> Generator[CallResult, None, None]:
        index, job, _ = self.sent.pop(ref)
        sent = self.slots[index].sent
        sent.remove(ref)
        call_id = job.meta.call_id
        if call_id in self.finished:  # cannot happen: a call is sent again only after a failure
            log.error("Ray: a second result for %s ignored", call_id)
            return
        self.finished.add(call_id)
        yield result

    def _worker_died(self, index: int, exc: Exception) -> Generator[CallResult, None, None]:
        """The actor of ``index`` is gone: keep what it finished, send the rest again."""
        slot = self.slots[index]
        log.warning("Ray worker %d (pid %s) died: %s", index, slot.pid, _why(exc))
        self.ray.kill(slot.actor, no_restart=True)  # gone for good, even if only unreachable
        charged = False
        again: list[tuple[CallJob, int]] = []
        for ref in list(slot.sent):  # oldest first: the first that failed was running
            _, job, attempts = self.sent[ref]
            try:
                result = self.ray.get(ref)
            except self.lost:
                del self.sent[ref]
                if charged:
                    again.append((job, attempts))
                    continue
                charged = True
                if attempts + 1 < self.options.max_attempts:
                    again.append((job, attempts + 1))
                    continue
                self.finished.add(job.meta.call_id)
                yield CallFailed(
                    job,
                    "worker",
                    "worker_died",
                    f"the Ray worker analysing it died {attempts + 1} times (last: {_why(exc)})",
                )
                continue
            yield from self._finish(ref, result)
        self.queue.extendleft(reversed(again))
        self._start(index)


def _why(exc: Exception, limit: int = 300) -> str:
    """Ray's death message in short: its first line and the cause (its last line)."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    if not lines:
        return type(exc).__name__
    text = lines[0] if len(lines) == 1 else f"{lines[0]} {lines[-1]}"
    return text if len(text) <= limit else text[: limit - 1] + "…"
