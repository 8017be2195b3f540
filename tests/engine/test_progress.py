"""Progress hooks: the stage timer."""

from __future__ import annotations


def test_stage_timer_sums_each_stage_until_the_calls_next_event(monkeypatch):
    import engine.progress as progress

    clock = iter([0.0, 1.0, 1.5, 4.0, 4.25, 6.0])
    monkeypatch.setattr(progress.time, "perf_counter", lambda: next(clock))
    inner = progress.RecordingProgress()
    timer = progress.StageTimer(inner)
    timer.stage("a", "decode")  # 0.0
    timer.stage("b", "decode")  # 1.0: the calls interleave
    timer.stage("a", "transcribe")  # 1.5: a decoded for 1.5 s
    timer.done("a", 10.0)  # 4.0: a transcribed for 2.5 s
    timer.stage("b", "transcribe")  # 4.25: b decoded for 3.25 s
    timer.failed("b", "boom")  # 6.0: b transcribed for 1.75 s
    assert timer.seconds == {"decode": 4.75, "transcribe": 4.25}
    assert ("done", "a") in inner.events and ("failed", "b", "boom") in inner.events
