"""Executors without Ray: the local executor behind NightlyBatch, results that travel (pickle),
and a clear error when the Ray executor is asked for without Ray installed."""

from __future__ import annotations

import pickle
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from engine.batch import BatchOptions, NightlyBatch
from engine.errors import ConfigError
from engine.executor import CallDone, CallFailed, CallJob, LocalExecutor
from engine.progress import NullProgress, RecordingProgress
from engine.ray_executor import CallWorker, RayExecutor, RayOptions
from engine.types import UtteranceEmbeddings
from tests.engine.test_batch import fake_pipeline, make_night
from tests.store_fixtures import make_call, make_meta


@pytest.fixture()
def archive(tmp_path):
    root = tmp_path / "archive"
    ids = make_night(root, "2026-11-16", 3) + make_night(root, "2026-11-17", 2)
    (root / "2026-11-17" / "broken.wav").write_text("not audio")
    return root, ids


def test_the_local_executor_is_the_default_and_an_explicit_one_is_the_same(store, archive):
    root, ids = archive
    default = NightlyBatch(lambda stages: fake_pipeline(), store).run(root)
    assert isinstance(NightlyBatch(fake_pipeline, store).executor, LocalExecutor)
    assert (default.processed, [q.call_id for q in default.quarantined]) == (5, ["broken"])
    first = {c: store.load_call(c) for c in ids}
    for c in ids:
        store.save_call(default.run_id, make_meta(c), "stale", make_call(c))  # force a redo
    again = NightlyBatch(
        lambda stages: fake_pipeline(),
        store,
        BatchOptions(retry_quarantined=True),
        executor=LocalExecutor(prefetch=1),
    ).run(root)
    assert again.processed == 5
    assert {c: store.load_call(c) for c in ids} == first


def test_local_executor_yields_one_result_per_call(archive):
    from engine.archive import content_hash, discover

    root, _ = archive
    found = discover(root)
    jobs = [CallJob(m, content_hash(Path(m.path))) for m in found.calls]
    progress = RecordingProgress()
    results = list(LocalExecutor().run(lambda stages: fake_pipeline(), jobs, False, progress))
    assert sorted(r.job.meta.call_id for r in results) == sorted(j.meta.call_id for j in jobs)
    failed = [r for r in results if isinstance(r, CallFailed)]
    assert [(f.job.meta.call_id, f.stage) for f in failed] == [("broken", "decode")]
    done = [r for r in results if isinstance(r, CallDone)]
    assert all(d.meta.channel_layout for d in done)  # completed from the audio when unstated
    assert ("stage", "broken", "decode") in progress.events


def test_results_survive_pickling_with_their_arrays():
    vectors = np.random.default_rng(1).normal(size=(2, 8)).astype(np.float32)
    call = replace(make_call("c1"), embeddings=UtteranceEmbeddings("minilm", vectors))
    job = CallJob(make_meta("c1"), "ab" * 32)
    for result in (CallDone(job, job.meta, call), CallFailed(job, "decode", "empty", "no audio")):
        assert pickle.loads(pickle.dumps(result)) == result


def test_a_call_worker_is_the_local_analysis(archive):
    from engine.archive import content_hash, discover

    root, _ = archive
    job = next(CallJob(m, content_hash(Path(m.path))) for m in discover(root).calls)
    worker = CallWorker(lambda stages: fake_pipeline())
    here = next(LocalExecutor().run(lambda stages: fake_pipeline(), [job], False, NullProgress()))
    assert worker.analyse(job, False) == here


def test_ray_executor_without_ray_is_a_clear_error(monkeypatch, archive):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray fails
    with pytest.raises(ConfigError, match=r"pip install 'callscope\[ray\]'"):
        next(RayExecutor().run(fake_pipeline, [], False, NullProgress()))


def test_ray_options_are_checked():
    with pytest.raises(ConfigError, match="workers"):
        RayExecutor(RayOptions(workers=0))
