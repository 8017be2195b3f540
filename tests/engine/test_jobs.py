"""The job worker and runner: archive folders kept inside their roots, jobs run in order,
failures recorded, a stop or a crash mid-job resumed exactly once, models loaded once."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from engine.archive import discover
from engine.batch import BatchOptions
from engine.jobs import (
    JobInterrupted,
    JobRefused,
    JobWorker,
    PipelineBatchRunner,
    WorkerOptions,
    archive_folder,
)
from engine.progress import ProgressHook
from engine.store.jobs import Job, new_job_id
from engine.store.repo import Store
from engine.types import RunSummary
from engine.uploads import UploadArea
from tests.audio_fixtures import write_tone_wav
from tests.engine.test_batch import fake_pipeline, make_night

# --------------------------------------------------------------------------- archive paths


@pytest.fixture
def roots(tmp_path: Path) -> tuple[Path, ...]:
    root = tmp_path / "archive"
    (root / "2026-11-16").mkdir(parents=True)
    (root / "file.txt").write_text("x")
    (tmp_path / "elsewhere").mkdir()
    os.symlink(tmp_path / "elsewhere", root / "link-out")
    os.symlink(root / "2026-11-16", root / "link-in")
    return (root,)


def test_archive_folders_inside_the_roots_are_resolved(roots):
    root = roots[0]
    assert archive_folder(str(root), roots) == root.resolve()
    assert archive_folder(f"{root}/2026-11-16", roots) == (root / "2026-11-16").resolve()
    assert archive_folder(f"{root}/x/../2026-11-16", roots) == (root / "2026-11-16").resolve()
    assert archive_folder(f"{root}/link-in", roots) == (root / "2026-11-16").resolve()


@pytest.mark.parametrize(
    ("path", "forbidden", "why"),
    [
        ("/etc", True, "outside the archive roots"),
        ("{root}/../..", True, "outside the archive roots"),
        ("{root}/link-out", True, "outside the archive roots"),
        ("{root}/../elsewhere", True, "outside the archive roots"),
        ("{root}x", True, "outside the archive roots"),  # a sibling sharing the prefix
        ("2026-11-16", False, "must be absolute"),
        ("{root}/missing", False, "not a folder"),
        ("{root}/file.txt", False, "not a folder"),
        ("{root}/\x00", False, "control characters"),
        ("", False, "empty"),
    ],
)
def test_archive_paths_that_leave_the_roots_are_refused(roots, path, forbidden, why):
    with pytest.raises(JobRefused, match=why) as caught:
        archive_folder(path.format(root=roots[0]), roots)
    assert caught.value.forbidden is forbidden


def test_archive_jobs_are_off_without_roots(roots):
    with pytest.raises(JobRefused, match="disabled") as caught:
        archive_folder(str(roots[0]), ())
    assert caught.value.forbidden


# --------------------------------------------------------------------------- the worker


class FakeRunner:
    """A batch without models: counts what discovery finds; may fail, or block until told."""

    def __init__(self, fail_on: str | None = None) -> None:
        self.fail_on = fail_on
        self.ran: list[str] = []
        self.release = threading.Event()
        self.release.set()
        self.started = threading.Event()

    def __call__(self, store: Store, job: Job, progress: ProgressHook) -> RunSummary:
        self.started.set()
        if job.source == self.fail_on:
            raise RuntimeError("the disk went away")
        found = discover(Path(job.source))
        progress.start(len(found.calls))
        while not self.release.wait(0.02):
            progress.stage("waiting", "fake")  # a stopping worker interrupts here
        run = store.start_run(job.source, {})
        summary = RunSummary(run, len(found.calls), len(found.calls), 0, (), 1.0, 0.1)
        store.finish_run(summary)
        self.ran.append(job.id)
        return summary


@pytest.fixture
def store(tmp_path: Path):
    with Store.open(f"sqlite:///{tmp_path}/store/callscope.db") as s:
        yield s


def wait_for(predicate, timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.02)


def test_jobs_run_in_order_and_failures_are_recorded(store, tmp_path):
    night = tmp_path / "archive"
    make_night(night, "2026-11-16", 2)
    runner = FakeRunner(fail_on="/gone")
    first = store.jobs.create("archive", str(night))
    bad = store.jobs.create("archive", "/gone")
    last = store.jobs.create("archive", str(night))
    worker = JobWorker(store, runner, WorkerOptions(poll_s=0.05))
    worker.start()
    try:
        wait_for(lambda: store.jobs.get(last.id).status == "finished")
    finally:
        worker.stop()
    assert runner.ran == [first.id, last.id]
    done = store.jobs.get(first.id)
    assert (done.status, done.processed, done.run_id) == ("finished", 2, 1)
    failed = store.jobs.get(bad.id)
    assert failed.status == "failed" and failed.error == "RuntimeError: the disk went away"


def test_a_stopped_job_is_queued_again_and_resumed_at_the_next_start(store, tmp_path):
    make_night(tmp_path / "archive", "2026-11-16", 1)
    runner = FakeRunner()
    runner.release.clear()
    job = store.jobs.create("archive", str(tmp_path / "archive"))
    worker = JobWorker(store, runner, WorkerOptions(poll_s=0.05))
    worker.start()
    assert runner.started.wait(10)
    worker.stop()  # the runner's next progress call raises JobInterrupted
    assert store.jobs.get(job.id).status == "queued" and runner.ran == []
    runner.release.set()
    worker = JobWorker(store, runner, WorkerOptions(poll_s=0.05))
    worker.start()
    try:
        wait_for(lambda: store.jobs.get(job.id).status == "finished")
    finally:
        worker.stop()
    assert runner.ran == [job.id]


def test_a_job_left_running_by_a_crash_is_run_at_the_next_start(store, tmp_path):
    make_night(tmp_path / "archive", "2026-11-16", 1)
    job = store.jobs.create("archive", str(tmp_path / "archive"))
    assert store.jobs.claim_next().status == "running"  # the process died here
    worker = JobWorker(store, FakeRunner(), WorkerOptions(poll_s=0.05))
    worker.start()
    try:
        wait_for(lambda: store.jobs.get(job.id).status == "finished")
    finally:
        worker.stop()


def test_interruption_is_not_an_analysis_error():
    from engine.batch import ANALYSIS_ERRORS

    assert not issubclass(JobInterrupted, ANALYSIS_ERRORS)


# --------------------------------------------------------------------------- the real runner


def upload(tmp_path: Path, names: list[str]) -> Path:
    folder = UploadArea(tmp_path / "uploads").open(new_job_id())
    for name in names:
        data = write_tone_wav(tmp_path / "src.wav", rate=8000, channels=2, seconds=1.0).read_bytes()
        folder.begin_file(name)
        folder.write(data)
        folder.end_part()
    folder.begin_metadata()
    folder.write(b"audio_file,call_id,agent_id\na.wav,call-a,AG1\n")
    folder.end_part()
    folder.finish()
    return folder.path


def test_the_pipeline_runner_runs_the_batch_once_per_call_with_models_kept(store, tmp_path):
    builds: list[frozenset[str]] = []

    def build(stages: frozenset[str]):
        builds.append(stages)
        return fake_pipeline()

    runner = PipelineBatchRunner(
        options=BatchOptions(one_model_at_a_time=True), analyse=False, build=build
    )
    worker = JobWorker(store, runner)
    first = store.jobs.create("upload", str(upload(tmp_path, ["a.wav", "b.wav"])))
    again = store.jobs.create("upload", first.source)
    assert worker.run_next().status == "finished"
    assert worker.run_next().status == "finished"
    done, rerun = store.jobs.get(first.id), store.jobs.get(again.id)
    assert (done.processed, done.skipped, done.quarantined) == (2, 0, 0)
    assert (rerun.processed, rerun.skipped) == (0, 2)  # the ledger: exactly once
    assert len(builds) == 1  # models loaded at the first job, kept for the next
    assert sorted(store.call_ids()) == ["b", "call-a"]
    assert store.call_metadata("call-a").agent_id == "AG1"
    assert store.runs()[0].settings["job"] == first.id
    worker.stop()  # closes the runner's pipeline
    assert runner._pipeline is None
