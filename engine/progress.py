"""Progress hooks: stages report through these, never by printing."""

from __future__ import annotations

import threading
import time
from typing import Protocol


class ProgressHook(Protocol):
    """Told about a batch of calls as it goes (like pyannote's ProgressHook)."""

    def start(self, total: int) -> None: ...

    def stage(self, call_id: str, stage: str) -> None: ...

    def done(self, call_id: str, audio_seconds: float) -> None: ...

    def failed(self, call_id: str, reason: str) -> None: ...

    def close(self) -> None: ...


class NullProgress:
    """Reports nothing (tests, library use)."""

    def start(self, total: int) -> None:
        pass

    def stage(self, call_id: str, stage: str) -> None:
        pass

    def done(self, call_id: str, audio_seconds: float) -> None:
        pass

    def failed(self, call_id: str, reason: str) -> None:
        pass

    def close(self) -> None:
        pass


class RecordingProgress(NullProgress):
    """Keeps every event, in order (tests and summaries)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, ...]] = []

    def start(self, total: int) -> None:
        self.events.append(("start", str(total)))

    def stage(self, call_id: str, stage: str) -> None:
        self.events.append(("stage", call_id, stage))

    def done(self, call_id: str, audio_seconds: float) -> None:
        self.events.append(("done", call_id))

    def failed(self, call_id: str, reason: str) -> None:
        self.events.append(("failed", call_id, reason))


class StageTimer(NullProgress):
    """Wall time per stage, summed over calls: a stage runs from its ``stage`` event to the
    call's next event (the next stage, ``done`` or ``failed``). Calls may interleave (events
    are keyed by call id); thread-safe. Benchmarks read ``seconds``."""

    def __init__(self, inner: ProgressHook | None = None) -> None:
        self.inner = inner or NullProgress()
        self._open: dict[str, tuple[str, float]] = {}
        self._seconds: dict[str, float] = {}
        self._lock = threading.Lock()

    def _close(self, call_id: str, now: float) -> None:
        opened = self._open.pop(call_id, None)
        if opened is not None:
            stage, began = opened
            self._seconds[stage] = self._seconds.get(stage, 0.0) + now - began

    def start(self, total: int) -> None:
        self.inner.start(total)

    def stage(self, call_id: str, stage: str) -> None:
        with self._lock:
            now = time.perf_counter()
            self._close(call_id, now)
            self._open[call_id] = (stage, now)
        self.inner.stage(call_id, stage)

    def done(self, call_id: str, audio_seconds: float) -> None:
        with self._lock:
            self._close(call_id, time.perf_counter())
        self.inner.done(call_id, audio_seconds)

    def failed(self, call_id: str, reason: str) -> None:
        with self._lock:
            self._close(call_id, time.perf_counter())
        self.inner.failed(call_id, reason)

    def close(self) -> None:
        self.inner.close()

    @property
    def seconds(self) -> dict[str, float]:
        """Each stage's total, rounded to ms, in the order first seen."""
        with self._lock:
            return {stage: round(s, 3) for stage, s in self._seconds.items()}
