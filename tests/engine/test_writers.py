from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from engine import files
from engine.types import (
    AudioInfo,
    CallAnalysis,
    Role,
    Speaker,
    SpeakerTurn,
    Utterance,
    Word,
)
from engine.writers import (
    SCHEMA_VERSION,
    OutputFormatError,
    from_json,
    safe_file_stem,
    to_json,
    to_rttm,
    to_srt,
    to_vtt,
    write_outputs,
)


def make_call(call_id: str = "call 42") -> CallAnalysis:
    w_agent = (
        Word(" Thank", 0.1, 0.4, 0.91),
        Word(" you", 0.4, 0.6, 0.99),
        Word(" &", 0.6, 0.7, 0.5),
        Word(" <welcome>", 0.7, 2.4, 0.875),
    )
    w_cust = (
        Word(" Grüße,", 2.1, 2.9, 0.8, channel=1),
        Word(" 我的卡", 3.0, 5.2, 0.7, channel=1),
    )
    w_late = (Word(" bye", 3661.5, 3662.25, 0.66),)
    return CallAnalysis(
        call_id=call_id,
        audio=AudioInfo(
            path="/data/in/call 42.wav",
            container="wav",
            codec="pcm_s16le",
            sample_rate=8000,
            channels=2,
            duration=3663.125,
            size_bytes=123_456_789,
        ),
        language="en",
        language_probability=0.987654,
        diarisation_method="channel",
        speakers=(
            Speaker("agent", Role.AGENT, 1.0, "channel_map", 4.75),
            Speaker("customer", Role.CUSTOMER, 1.0, "channel_map", 3.25),
        ),
        turns=(
            SpeakerTurn("customer", 2.0, 5.25),
            SpeakerTurn("agent", 0.0, 2.5),
            SpeakerTurn("agent", 3661.0, 3663.0),
        ),
        utterances=(
            Utterance("agent", Role.AGENT, 0.1, 2.4, "Thank you & <welcome>", w_agent),
            Utterance("agent", Role.AGENT, 3661.5, 3662.25, "bye", w_late),
            Utterance("customer", Role.CUSTOMER, 2.1, 5.2, "Grüße, 我的卡", w_cust),
        ),
        words=w_agent + w_cust + w_late,
    )


# ------------------------------------------------------------------ JSON


def test_json_round_trip_is_exact() -> None:
    call = make_call()
    text = to_json(call)
    assert from_json(text) == call
    assert from_json(to_json(call, indent=2)) == call
    assert "Grüße" in text and "我的卡" in text  # not ASCII-escaped
    doc = json.loads(text)
    assert doc["schema_version"] == SCHEMA_VERSION == 1
    assert doc["speakers"][0]["role"] == "agent"


def test_json_round_trip_of_empty_call() -> None:
    call = replace(make_call(), speakers=(), turns=(), utterances=(), words=())
    assert from_json(to_json(call)) == call


def test_json_round_trip_detects_differences() -> None:
    call = make_call()
    other = replace(call, language_probability=0.5)
    assert from_json(to_json(other)) != call


def test_json_rejects_unknown_version() -> None:
    doc = json.loads(to_json(make_call()))
    doc["schema_version"] = 2
    with pytest.raises(OutputFormatError, match="unsupported schema_version 2"):
        from_json(json.dumps(doc))
    del doc["schema_version"]
    with pytest.raises(OutputFormatError, match="schema_version"):
        from_json(json.dumps(doc))


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.pop("call_id"), "call_id: missing"),
        (lambda d: d["speakers"][0].update(role="boss"), r"speakers\[0\].role: unknown role"),
        (lambda d: d["turns"][1].update(start="0"), r"turns\[1\].start: expected a number"),
        (lambda d: d["turns"][0].update(end=1.0), r"turns\[0\]: turn ends before it starts"),
        (lambda d: d["audio"].update(channels=True), r"audio.channels: expected an integer"),
        (lambda d: d.update(words={}), "words: expected a list"),
    ],
)
def test_json_rejects_malformed_documents(
    mutate: Callable[[dict[str, Any]], object], message: str
) -> None:
    doc = json.loads(to_json(make_call()))
    mutate(doc)
    with pytest.raises(OutputFormatError, match=message):
        from_json(json.dumps(doc))


def test_json_rejects_non_json_and_nan() -> None:
    with pytest.raises(OutputFormatError, match="not JSON"):
        from_json("{nope")
    with pytest.raises(OutputFormatError, match="document: expected an object"):
        from_json("[1]")
    with pytest.raises(OutputFormatError):
        to_json(replace(make_call(), language_probability=float("nan")))


# ------------------------------------------------------------------ RTTM / SRT / VTT


def test_rttm_exact() -> None:
    assert to_rttm(make_call()) == (
        "SPEAKER call_42 1 0.000 2.500 <NA> <NA> agent <NA> <NA>\n"
        "SPEAKER call_42 1 2.000 3.250 <NA> <NA> customer <NA> <NA>\n"
        "SPEAKER call_42 1 3661.000 2.000 <NA> <NA> agent <NA> <NA>\n"
    )


def test_srt_exact() -> None:
    assert to_srt(make_call()) == (
        "1\n"
        "00:00:00,100 --> 00:00:02,400\n"
        "[agent] Thank you & <welcome>\n"
        "\n"
        "2\n"
        "00:00:02,100 --> 00:00:05,200\n"
        "[customer] Grüße, 我的卡\n"
        "\n"
        "3\n"
        "01:01:01,500 --> 01:01:02,250\n"
        "[agent] bye\n"
    )


def test_vtt_exact() -> None:
    assert to_vtt(make_call()) == (
        "WEBVTT\n"
        "\n"
        "00:00:00.100 --> 00:00:02.400\n"
        "[agent] Thank you &amp; &lt;welcome&gt;\n"
        "\n"
        "00:00:02.100 --> 00:00:05.200\n"
        "[customer] Grüße, 我的卡\n"
        "\n"
        "01:01:01.500 --> 01:01:02.250\n"
        "[agent] bye\n"
    )


def test_subtitles_skip_empty_text_and_label_unknown_by_speaker() -> None:
    call = replace(
        make_call(),
        utterances=(
            Utterance("SPEAKER_07", Role.UNKNOWN, 1.0, 2.0, "hm\nokay"),
            Utterance("agent", Role.AGENT, 0.5, 0.6, "   "),
        ),
    )
    assert to_srt(call) == "1\n00:00:01,000 --> 00:00:02,000\n[SPEAKER_07] hm okay\n"
    assert to_vtt(call) == "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\n[SPEAKER_07] hm okay\n"
    empty = replace(call, utterances=())
    assert to_srt(empty) == ""
    assert to_vtt(empty) == "WEBVTT\n\n"


# ------------------------------------------------------------------ files


def test_write_outputs_writes_all_formats(tmp_path: Path) -> None:
    call = make_call("call-42")
    out = tmp_path / "new" / "dir"
    paths = write_outputs(call, out)
    assert [p.name for p in paths] == [
        "call-42.json",
        "call-42.rttm",
        "call-42.srt",
        "call-42.vtt",
    ]
    assert sorted(os.listdir(out)) == sorted(p.name for p in paths)  # no temp files left
    assert from_json(paths[0].read_text(encoding="utf-8")) == call
    assert paths[1].read_text(encoding="utf-8") == to_rttm(call)
    assert paths[2].read_bytes() == to_srt(call).encode("utf-8")
    assert paths[3].read_text(encoding="utf-8") == to_vtt(call)


def test_write_outputs_replaces_existing_and_subset(tmp_path: Path) -> None:
    (tmp_path / "c.srt").write_text("old", encoding="utf-8")
    paths = write_outputs(make_call("c"), tmp_path, formats=("srt",))
    assert paths == [tmp_path / "c.srt"]
    assert paths[0].read_text(encoding="utf-8").startswith("1\n00:00:00,100")
    assert os.listdir(tmp_path) == ["c.srt"]


def test_failed_write_leaves_old_file_and_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "c.json").write_text("old", encoding="utf-8")

    def boom(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(files.os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        write_outputs(make_call("c"), tmp_path, formats=("json",))
    assert os.listdir(tmp_path) == ["c.json"]
    assert (tmp_path / "c.json").read_text(encoding="utf-8") == "old"


def test_unknown_format_writes_nothing(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="docx"):
        write_outputs(make_call(), tmp_path / "x", formats=("json", "docx"))
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize(
    "call_id",
    ["../../etc/x", "/etc/passwd", "..", ".", "", "a/../../b", "..\\..\\win", "x\x00y", ".hidden"],
)
def test_malicious_call_ids_stay_inside_out_dir(tmp_path: Path, call_id: str) -> None:
    out = tmp_path / "out"
    paths = write_outputs(make_call(call_id), out)
    for p in paths:
        assert p.parent == out
        assert p.resolve().parent == out.resolve()
        assert not p.name.startswith(".")
        assert "/" not in p.stem and "\\" not in p.stem and ".." not in p.name
    assert sorted(os.listdir(out)) == sorted(p.name for p in paths)
    assert sorted(os.listdir(tmp_path)) == ["out"]


def test_safe_file_stem() -> None:
    assert safe_file_stem("call-42_2024.01") == "call-42_2024.01"  # safe ids unchanged
    assert safe_file_stem("Grüße") == "Grüße"
    stem = safe_file_stem("../../etc/x")
    assert stem.startswith("etc_x-") and len(stem) == len("etc_x-") + 8
    # different ids that sanitise alike do not collide
    assert safe_file_stem("a/b") != safe_file_stem("a_b") == "a_b"
    assert safe_file_stem("").startswith("call-")
    assert len(safe_file_stem("x" * 1000).encode()) <= 160
