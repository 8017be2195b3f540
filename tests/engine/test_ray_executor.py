"""The Ray executor on a local Ray cluster (``ray.init(num_cpus=2)``, one per module).

The pipeline is the batch tests' fake (no model weights); decoding, the actors and the store are
real. A worker process dies mid-batch (``os._exit`` inside the actor, or SIGKILL from the
driver) and every call must still be stored exactly once, with the same results as the local
executor's. Skipped without Ray, unless ``CALLSCOPE_REQUIRE_RAY=1`` (as in CI:
tests/install-and-run.sh installs the ``ray`` extra), which makes them fail instead.
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass
from pathlib import Path

import pytest

from engine.batch import BatchOptions, NightlyBatch
from engine.errors import CallscopeError, ConfigError
from engine.executor import PipelineBuilder
from engine.pipeline import CallPipeline
from engine.progress import NullProgress
from engine.ray_executor import RayExecutor, RayOptions
from engine.store.repo import Store
from engine.types import RunSummary
from tests.engine.test_batch import fake_pipeline, make_night

pytestmark = pytest.mark.ray

REQUIRE_ENV = "CALLSCOPE_REQUIRE_RAY"


@pytest.fixture(scope="module")
def ray_cluster():
    try:
        import ray
    except ImportError:
        reason = "the Ray executor's tests need Ray (pip install -e '.[ray]')"
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(f"{reason}; ${REQUIRE_ENV}=1 requires them")
        pytest.skip(reason)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


@dataclass(frozen=True)
class DyingBuild:
    """Builds the fake pipeline; its worker process dies when it analyses one of ``die_once``
    (the first time only: a marker file in ``markers`` remembers) or ``die_always``. Never
    in the process that made it (the test's)."""

    driver_pid: int
    markers: str = ""
    die_once: tuple[str, ...] = ()
    die_always: tuple[str, ...] = ()
    fail_to_build: bool = False

    def __call__(self, stages: frozenset[str]) -> CallPipeline:
        if self.fail_to_build:
            raise ConfigError("no such model")
        pipeline = fake_pipeline()
        analyse = pipeline.analyse

        def analyse_or_die(audio, call_id, *args, **kwargs):
            self.maybe_die(call_id)
            return analyse(audio, call_id, *args, **kwargs)

        pipeline.analyse = analyse_or_die  # type: ignore[method-assign]
        return pipeline

    def maybe_die(self, call_id: str) -> None:
        if os.getpid() == self.driver_pid:
            return
        if call_id in self.die_always:
            os._exit(1)
        marker = Path(self.markers) / call_id
        if call_id in self.die_once and not marker.exists():
            marker.touch()
            os._exit(1)


class KillAfter(NullProgress):
    """SIGKILLs a Ray worker's process once ``after`` calls are done (the driver's view)."""

    def __init__(self, executor: RayExecutor, after: int):
        self.executor = executor
        self.after = after
        self.killed: int | None = None
        self.count = 0

    def done(self, call_id: str, audio_seconds: float) -> None:
        self.count += 1
        if self.count == self.after and self.killed is None:
            self.killed = next(iter(self.executor.pids.values()))
            os.kill(self.killed, signal.SIGKILL)


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    root = tmp_path_factory.mktemp("ray") / "archive"
    ids = make_night(root, "2026-11-16", 5) + make_night(root, "2026-11-17", 4)
    return root, ids


@pytest.fixture(scope="module")
def local(archive, tmp_path_factory):
    """The archive through the local executor: the reference."""
    root, ids = archive
    url = f"sqlite:///{tmp_path_factory.mktemp('local') / 'local.db'}"
    with Store.open(url) as store:
        summary = NightlyBatch(DyingBuild(os.getpid()), store).run(root)
        assert (summary.processed, summary.quarantined) == (len(ids), ())
    return url


def run(
    url: str, root: Path, executor: RayExecutor, build: PipelineBuilder, progress=None, **options
) -> RunSummary:
    with Store.open(url) as store:
        return NightlyBatch(build, store, BatchOptions(**options), progress, executor).run(root)


def assert_same_calls(url: str, reference: str, ids: list[str]) -> None:
    """Each call stored once, with the reference's results and metadata."""
    with Store.open(url) as got, Store.open(reference) as want:
        assert got.call_ids() == sorted(ids)
        assert got.count_calls() == len(ids)
        with got.export_view() as a, want.export_view() as b:
            assert a.count("utterances") == b.count("utterances")
        for call_id in ids:
            assert got.load_call(call_id) == want.load_call(call_id), call_id
            assert got.call_metadata(call_id) == want.call_metadata(call_id), call_id


def test_results_identical_to_the_local_executor(ray_cluster, archive, local, tmp_path):
    root, ids = archive
    url = f"sqlite:///{tmp_path / 'ray.db'}"
    executor = RayExecutor(RayOptions(workers=2))
    summary = run(url, root, executor, DyingBuild(os.getpid()))
    assert (summary.processed, summary.quarantined) == (len(ids), ())
    assert_same_calls(url, local, ids)
    assert executor.pids == {}  # the actors are gone after the run
    again = run(url, root, executor, DyingBuild(os.getpid()))
    assert (again.processed, again.skipped) == (0, len(ids))  # the ledger, as locally


def test_a_worker_dying_mid_batch_loses_and_duplicates_nothing(
    ray_cluster, archive, local, tmp_path
):
    root, ids = archive
    url = f"sqlite:///{tmp_path / 'ray.db'}"
    build = DyingBuild(os.getpid(), str(tmp_path), die_once=(ids[4],))
    executor = RayExecutor(RayOptions(workers=2))
    killer = KillAfter(executor, after=2)  # and another worker killed from outside
    summary = run(url, root, executor, build, killer)
    assert (tmp_path / ids[4]).exists() and killer.killed is not None  # both deaths happened
    assert (summary.processed, summary.quarantined) == (len(ids), ())
    assert_same_calls(url, local, ids)


def test_a_call_that_always_kills_its_worker_is_quarantined(ray_cluster, archive, tmp_path):
    root, ids = archive
    url = f"sqlite:///{tmp_path / 'ray.db'}"
    poison = ids[2]
    build = DyingBuild(os.getpid(), die_always=(poison,))
    executor = RayExecutor(RayOptions(workers=2, max_attempts=2))
    summary = run(url, root, executor, build)
    assert summary.processed == len(ids) - 1
    [record] = summary.quarantined
    assert (record.call_id, record.stage, record.problem) == (poison, "worker", "worker_died")
    assert "died 2 times" in record.detail
    with Store.open(url) as store:
        assert store.call_ids() == sorted(set(ids) - {poison})
        assert [q.call_id for q in store.quarantined()] == [poison]
    again = run(url, root, executor, build)
    assert (again.processed, again.skipped, again.quarantined) == (0, len(ids), ())


def test_a_pipeline_that_cannot_be_built_stops_the_run(ray_cluster, archive, tmp_path):
    root, _ = archive
    url = f"sqlite:///{tmp_path / 'ray.db'}"
    build = DyingBuild(os.getpid(), fail_to_build=True)
    with pytest.raises(CallscopeError, match="could not load the pipeline"):
        run(url, root, RayExecutor(RayOptions(workers=1)), build)
    with Store.open(url) as store:
        assert store.count_calls() == 0
