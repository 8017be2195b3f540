"""The nightly batch: ledger, reruns, changed files, quarantine, crash recovery.

The pipeline's models are fakes (the batch logic is under test); decoding and the
store are real.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np
import pytest

from engine.archive import METADATA_FIELDS
from engine.audio import AudioDecoder
from engine.batch import BatchOptions, NightlyBatch, channel_map_for
from engine.config import AudioOptions, ChannelMap
from engine.errors import OutOfMemory
from engine.pipeline import CallPipeline, NotLoaded
from engine.stages.attribute import Attributor
from engine.stages.channel_diarise import ChannelDiariser
from engine.stages.roles import PhraseRoleAssigner
from engine.store.repo import Store
from engine.types import CallMetadata, Diarisation, Role, SpeakerTurn, Transcript, Word
from tests.audio_fixtures import write_tone_wav
from tests.bad_files import MAX_DURATION_S, expected_by_name, write_bad_files


class FakeTranscriber:
    def __init__(self, explode_on: str | None = None, error: BaseException | None = None):
        self.explode_on = explode_on
        self.error = error or KeyboardInterrupt()  # the process dying mid-call
        self.calls = 0

    def __call__(self, samples, channel=0, vad=None):
        self.calls += 1
        duration = len(samples) / 16000
        if self.explode_on is not None and self.calls == int(self.explode_on):
            raise self.error
        words = (
            Word(" Thank you for calling, how can I help?", 0.1, duration / 2),
            Word(f" Channel {channel} words", duration / 2 + 0.1, duration - 0.1, 0.9, channel),
        )
        return Transcript(words, "en", 0.99, round(duration, 3), channel)

    def channels(self, channels):
        return tuple(self(c, channel=i, vad=True) for i, c in enumerate(channels))


class FakeDiariser:
    def __call__(self, samples, uri="call"):
        duration = len(samples) / 16000
        turns = (SpeakerTurn("S0", 0, duration / 2), SpeakerTurn("S1", duration / 2, duration))
        return Diarisation(turns, "fake", ("S0", "S1"))


def fake_pipeline(transcriber=None, max_duration_s: float = 3600) -> CallPipeline:
    return CallPipeline(
        AudioDecoder(AudioOptions(max_duration_s=max_duration_s)),
        transcriber or FakeTranscriber(),
        FakeDiariser(),
        ChannelDiariser(),
        Attributor(),
        PhraseRoleAssigner(),
        overlap_diarisation=False,
    )


def make_night(root: Path, night: str, count: int, stereo_every: int = 2) -> list[str]:
    folder = root / night
    folder.mkdir(parents=True)
    ids = []
    with (folder / "calls.csv").open("w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(METADATA_FIELDS)
        for i in range(count):
            call_id = f"{night.replace('-', '')}-{i:02d}"
            stereo = i % stereo_every == 0
            write_tone_wav(
                folder / f"{call_id}.wav",
                rate=8000,
                channels=2 if stereo else 1,
                seconds=1.0 + i * 0.1,
                encoding="mulaw",
            )
            layout = "stereo: agent=left, customer=right" if stereo else "mono"
            out.writerow(
                [
                    call_id,
                    f"{night}T09:{i:02d}:00+00:00",
                    f"+44 20 7946 0{i:03d}",
                    "AG1",
                    "Q",
                    layout,
                    f"{call_id}.wav",
                ]
            )
            ids.append(call_id)
    return ids


@pytest.fixture()
def archive(tmp_path):
    root = tmp_path / "archive"
    ids = make_night(root, "2026-11-16", 4) + make_night(root, "2026-11-17", 3)
    return root, ids


def run(store, root, pipeline=None, **options):
    built = pipeline or fake_pipeline()
    return NightlyBatch(lambda stages: built, store, BatchOptions(**options)).run(root)


def test_every_call_once_then_nothing(store, archive):
    root, ids = archive
    first = run(store, root)
    assert (first.discovered, first.processed, first.skipped) == (7, 7, 0)
    assert first.quarantined == ()
    assert sorted(store.call_ids()) == sorted(ids)
    second = run(store, root)
    assert (second.processed, second.skipped) == (0, 7)
    assert store.count_calls() == 7


def test_metadata_reaches_the_store_and_layout_sets_roles(store, archive):
    root, ids = archive
    run(store, root)
    stereo = store.load_call(ids[0])
    assert stereo is not None and stereo.diarisation_method == "channel"
    mono = store.load_call(ids[1])
    assert mono is not None and mono.diarisation_method == "fake"
    assert {u.role for u in mono.utterances} <= {Role.AGENT, Role.CUSTOMER}


def test_changed_file_is_reprocessed_alone(store, archive):
    root, ids = archive
    run(store, root)
    changed = root / "2026-11-17" / f"{ids[-1]}.wav"
    write_tone_wav(changed, rate=8000, channels=1, seconds=2.5, encoding="mulaw")
    again = run(store, root)
    assert (again.processed, again.skipped) == (1, 6)
    call = store.load_call(ids[-1])
    assert call is not None and abs(call.duration - 2.5) < 0.05
    assert store.count_calls() == 7


def test_since_limits_the_nights(store, archive):
    from datetime import date

    root, _ = archive
    summary = run(store, root, since=date(2026, 11, 17))
    assert summary.processed == 3


def test_crash_mid_batch_then_rerun_loses_and_duplicates_nothing(store, archive):
    root, ids = archive
    with pytest.raises(KeyboardInterrupt):
        run(store, root, pipeline=fake_pipeline(FakeTranscriber(explode_on="5")))
    done_before = set(store.call_ids())
    assert 0 < len(done_before) < 7
    rerun = run(store, root)
    assert rerun.processed == 7 - len(done_before)
    assert sorted(store.call_ids()) == sorted(ids)
    assert store.count_calls() == 7


def test_bad_file_matrix_is_quarantined_and_good_calls_complete(store, archive):
    root, ids = archive
    night = root / "2026-11-16"
    files = write_bad_files(night)
    before = {p: p.read_bytes() for p in night.iterdir() if os.access(p, os.R_OK)}
    pipeline = fake_pipeline(max_duration_s=MAX_DURATION_S)
    summary = run(store, root, pipeline=pipeline)
    got = {Path(q.path).name: q.problem for q in summary.quarantined}
    expected = expected_by_name(files)
    bad = {name for name, problems in expected.items() if problems}
    assert set(got) == bad
    for name in bad:
        assert got[name] in expected[name], name
    good = [f for f in files.values() if f.good]
    assert summary.processed == len(ids) + len(good)
    assert {p: p.read_bytes() for p in before} == before  # nothing modified or deleted
    stored = {q.call_id for q in store.quarantined()}
    assert stored == {Path(name).stem for name in bad}
    again = run(store, root, pipeline=pipeline)
    assert (again.processed, again.quarantined) == (0, ())  # same bad files: not retried


def test_fixed_file_leaves_quarantine(store, archive):
    root, _ = archive
    bad = root / "2026-11-16" / "late.wav"
    bad.write_text("still uploading")
    assert len(run(store, root).quarantined) == 1
    write_tone_wav(bad, rate=8000, seconds=1.0, encoding="mulaw")
    summary = run(store, root)
    assert summary.processed == 1
    assert store.quarantined() == []
    assert "late" in store.call_ids()


def test_channel_map_from_metadata():
    default = ChannelMap()
    meta = CallMetadata("x", "x.wav", channel_layout="stereo: customer=left, agent=right")
    assert channel_map_for(meta, default) == ChannelMap(Role.CUSTOMER, Role.AGENT)
    assert channel_map_for(CallMetadata("y", "y.wav", channel_layout="mono"), default) == default
    assert channel_map_for(CallMetadata("z", "z.wav"), default) == default


def staged_builder(built: list[frozenset[str]]):
    def build(stages: frozenset[str]) -> CallPipeline:
        built.append(stages)
        return CallPipeline(
            AudioDecoder(),
            FakeTranscriber() if "transcribe" in stages else NotLoaded("transcribe"),
            FakeDiariser() if "diarise" in stages else NotLoaded("diarise"),
            ChannelDiariser(),
            Attributor(),
            PhraseRoleAssigner(),
            overlap_diarisation=False,
        )

    return build


@pytest.mark.parametrize("one_model_at_a_time", [False, True])
def test_out_of_memory_stops_the_run_without_quarantining_then_a_rerun_resumes(
    store, archive, one_model_at_a_time
):
    root, ids = archive
    oom = OutOfMemory("transcription", 16, "--batch-size", "CUDA failed with error out of memory")
    pipeline = fake_pipeline(FakeTranscriber(explode_on="5", error=oom))
    with pytest.raises(OutOfMemory, match="batch size 16: lower --batch-size"):
        run(store, root, pipeline=pipeline, one_model_at_a_time=one_model_at_a_time)
    assert store.quarantined() == []
    done_before = set(store.call_ids())
    assert len(done_before) < 7
    rerun = run(store, root)
    assert rerun.processed == 7 - len(done_before) and rerun.quarantined == ()
    assert sorted(store.call_ids()) == sorted(ids)


def test_one_model_at_a_time_gives_the_same_results(store, archive, tmp_path):
    root, ids = archive
    (root / "2026-11-17" / "broken.wav").write_text("not audio")
    built: list[frozenset[str]] = []
    options = BatchOptions(one_model_at_a_time=True)
    staged = NightlyBatch(staged_builder(built), store, options).run(root)
    assert built == [frozenset({"transcribe"}), frozenset({"diarise", "signals"})]
    assert (staged.processed, [q.call_id for q in staged.quarantined]) == (7, ["broken"])
    with Store.open(f"sqlite:///{tmp_path / 'together.db'}") as together:
        run(together, root)
        for call_id in ids:
            assert store.load_call(call_id) == together.load_call(call_id)


def test_a_stage_without_its_model_refuses_to_run():
    from engine.errors import ConfigError

    with pytest.raises(ConfigError, match="'diarise' stage's model is not loaded"):
        NotLoaded("diarise")(np.zeros(10, np.float32))
