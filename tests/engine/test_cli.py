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
