import json

import pytest

from engine.cli import main
from engine.sample import make_call
from engine.writers import FORMATS, safe_file_stem


def test_models_list(capsys):
    assert main(["models", "list"]) == 0
    out = capsys.readouterr().out
    assert "whisper-base" in out and "pyannote-segmentation-3.0" in out


def test_unknown_format_is_a_clear_error(tmp_path, caplog):
    assert main(["transcribe", str(tmp_path / "x.wav"), "--formats", "docx", "--quiet"]) == 2
    assert "unknown output formats ['docx']" in caplog.text


def test_bad_channel_map_is_a_clear_error(tmp_path, caplog):
    code = main(["transcribe", "x.wav", "--channel-map", "agent=up,customer=down", "--quiet"])
    assert code == 2
    assert "channel map side 'up'" in caplog.text


@pytest.mark.models
def test_transcribe_reports_bad_files_and_finishes_good_ones(tmp_path, caplog, espeak):
    good = make_call(tmp_path / "in" / "good call.wav").path
    bad = tmp_path / "in" / "notes.wav"
    bad.write_text("this is not audio")
    out = tmp_path / "out"
    code = main(
        ["transcribe", str(bad), str(good), "--out", str(out), "--model", "tiny.en", "--quiet"]
    )
    assert code == 1
    assert f"{bad}: not_audio" in caplog.text
    stem = safe_file_stem("good call")
    assert sorted(p.name for p in out.iterdir()) == [f"{stem}.{x}" for x in FORMATS]
    doc = json.loads((out / f"{stem}.json").read_text())
    assert {s["role"] for s in doc["speakers"]} == {"agent", "customer"}


@pytest.mark.models
def test_run_then_export_with_real_models(tmp_path, capsys, espeak):
    import pyarrow.parquet as pq

    from engine.sample import make_archive

    archive = tmp_path / "archive"
    make_archive(archive, nights=1, calls_per_night=2)
    store = f"sqlite:///{tmp_path / 'store.db'}"
    common = ["--store", store, "--model", "tiny.en", "--quiet"]
    assert main(["run", str(archive), *common, "--one-model-at-a-time"]) == 0
    assert "2 processed, 0 skipped" in capsys.readouterr().out
    assert main(["run", str(archive), *common]) == 0
    assert "0 processed, 2 skipped" in capsys.readouterr().out
    out = tmp_path / "export"
    assert main(["export", "--store", store, "--format", "parquet", "--out", str(out)]) == 0
    utterances = pq.read_table(out / "utterances.parquet").to_pylist()
    assert {u["role"] for u in utterances} == {"agent", "customer"}
    assert all(u["end"] >= u["start"] for u in utterances)


def test_analyse_and_driver_edits_from_the_command_line(tmp_path, capsys):
    from engine.store.repo import Store
    from tests.engine.analytics.test_analyse import MODEL, fill

    url = f"sqlite:///{tmp_path / 'store.db'}"
    with Store.open(url) as store:
        fill(store)
    store_args = ["--store", url, "--sentence-model", MODEL]
    assert main(["analyse", *store_args]) == 0
    out = capsys.readouterr().out
    assert "3 drivers" in out and "1 repeat contacts" in out and "ALERT" in out
    assert main(["drivers", "list", *store_args]) == 0
    ids = [int(line.split()[0]) for line in capsys.readouterr().out.splitlines()]
    assert len(ids) == 3
    assert main(["drivers", "rename", str(ids[0]), "Card", "PIN", *store_args]) == 0
    assert "Card PIN" in capsys.readouterr().out
    assert main(["drivers", "merge", str(ids[1]), str(ids[2]), *store_args]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 2
    assert main(["analyse", "--recluster", *store_args]) == 0
    capsys.readouterr()
    assert main(["drivers", "list", "--all", *store_args]) == 0
    listed = capsys.readouterr().out
    assert "Card PIN" in listed and "merged" in listed
    assert main(["drivers", "rename", "999", "x", *store_args]) == 2


def test_bad_analysis_arguments_are_clear_errors(tmp_path, caplog):
    from engine.store.repo import Store
    from tests.engine.analytics.test_analyse import MODEL, fill

    url = f"sqlite:///{tmp_path / 'store.db'}"
    with Store.open(url) as store:
        fill(store)
    store_args = ["--store", url, "--sentence-model", MODEL]
    assert main(["analyse", "--until", "next tuesday", *store_args]) == 2
    assert "--until 'next tuesday': not an ISO date" in caplog.text
    assert main(["analyse", "--cost-per-minute", "-1", *store_args]) == 2
    assert "cost_per_minute must be >= 0" in caplog.text
    assert main(["analyse", *store_args]) == 0
    with Store.open(url) as store:
        first = str(min(d.id for d in store.voc.drivers(["active"])))
    assert main(["drivers", "rename", first, " ", *store_args]) == 2
    assert "1 to 120 characters" in caplog.text
    assert main(["drivers", "split", first, "--parts", "1", *store_args]) == 2
    assert main(["drivers", "merge", first, first, *store_args]) == 2
    assert "merged into itself" in caplog.text
    assert main(["analyse", "--store", url, "--sentence-model", "no-such-model"]) == 2


def test_keys_and_serve(tmp_path, capsys):
    import socket
    import subprocess
    import sys
    import time

    import httpx

    url = f"sqlite:///{tmp_path / 'store.db'}"
    assert main(["keys", "create", "qa", "team", "--store", url]) == 0
    key = capsys.readouterr().out.splitlines()[1]
    assert key.startswith("cs_")
    assert main(["keys", "create", "ops", "--role", "admin", "--store", url]) == 0
    capsys.readouterr()
    assert main(["keys", "revoke", "2", "--store", url]) == 0
    listed = capsys.readouterr().out
    assert "qa team" in listed and "revoked" in listed and key not in listed
    assert main(["keys", "revoke", "2", "--store", url]) == 2

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "engine.cli", "serve", "--store", url, "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/v1/drivers", headers={"X-API-Key": key})
                break
            except httpx.TransportError:
                time.sleep(0.1)
        assert r.status_code == 200 and r.json() == []
        r = httpx.get(f"http://127.0.0.1:{port}/v1/calls")
        assert r.status_code == 401
    finally:
        server.terminate()
        server.wait(10)


def test_store_settings_show_and_set(tmp_path, capsys, caplog):
    url = f"sqlite:///{tmp_path / 'store.db'}"
    assert main(["store", "show", "--store", url]) == 0
    assert capsys.readouterr().out.split()[:2] == ["redact_pii", "on"]
    assert main(["store", "set", "redact_pii", "off", "--store", url]) == 0
    assert capsys.readouterr().out.split()[:2] == ["redact_pii", "off"]
    assert main(["store", "show", "--store", url]) == 0
    assert capsys.readouterr().out.split()[:2] == ["redact_pii", "off"]
    assert main(["store", "set", "redact_pii", "maybe", "--store", url]) == 2
    assert "store setting redact_pii takes on, off, not 'maybe'" in caplog.text
    assert main(["store", "set", "colour", "blue", "--store", url]) == 2
    assert "unknown store setting 'colour'" in caplog.text


def test_bad_phone_region_is_a_clear_error(tmp_path, caplog):
    code = main(["transcribe", "x.wav", "--redact", "--phone-region", "XX", "--quiet"])
    assert code == 2
    assert "unknown phone region 'XX'" in caplog.text


def test_run_executor_options(tmp_path, caplog, monkeypatch):
    from engine.batch import BatchOptions
    from engine.cli import _executor, parser
    from engine.ray_executor import RayExecutor, RayOptions

    args = parser().parse_args(["run", str(tmp_path)])
    assert _executor(args, BatchOptions()) == (None, {})  # local: the batch's default
    monkeypatch.setattr("engine.ray_executor.import_ray", lambda: None)  # Ray not needed here
    argv = ["run", str(tmp_path), "--executor", "ray", "--ray-address", "auto", "--workers", "3"]
    args = parser().parse_args([*argv, "--gpus-per-worker", "1"])
    executor, recorded = _executor(args, BatchOptions())
    assert isinstance(executor, RayExecutor)
    assert executor.options == RayOptions(address="auto", workers=3, gpus_per_worker=1.0)
    assert recorded == {"executor": repr(executor.options)}
    (tmp_path / "archive").mkdir()
    run = ["run", str(tmp_path / "archive"), "--executor", "ray", "--one-model-at-a-time"]
    assert main([*run, "--store", f"sqlite:///{tmp_path / 's.db'}", "--quiet"]) == 2
    assert "--one-model-at-a-time is for the local executor only" in caplog.text
