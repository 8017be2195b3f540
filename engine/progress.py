"""Progress hooks: stages report through these, never by printing."""

from __future__ import annotations

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
