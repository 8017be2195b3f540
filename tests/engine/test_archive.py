"""engine.archive: discovering recordings and their metadata in a nightly archive."""

from __future__ import annotations

import csv
import hashlib
import os
import unicodedata
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import soundfile as sf

from engine.archive import (
    AUDIO_EXTENSIONS,
    METADATA_FIELDS,
    Discovery,
    MetadataSchema,
    content_hash,
    discover,
)
from engine.errors import ConfigError
from engine.types import CallMetadata
from tests.audio_fixtures import tones

HEADER = list(METADATA_FIELDS)
STEREO = "stereo: agent=left, customer=right"


def wav(path: Path, seconds: float = 0.05) -> Path:
    """A short mu-law WAV at `path`, whatever its extension (discovery never decodes)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, tones(8000, 1, seconds).T, 8000, format="WAV", subtype="ULAW")
    return path


def write_csv(path: Path, rows: Sequence[Sequence[str]], header: Sequence[str] = HEADER) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(header)
        out.writerows(rows)
    return path


def row(call_id: str, started_at: str, audio_file: str, layout: str = "mono") -> list[str]:
    return [call_id, started_at, "+44 20 7946 0001", "AG1", "CARDS_EN", layout, audio_file]


def make_night(
    root: Path, night: str, count: int = 2, hour: int = 9, prefix: str = ""
) -> list[str]:
    """A night folder with `count` WAVs and a full calls.csv; returns the call ids."""
    folder = root / night
    ids, rows = [], []
    for i in range(count):
        call_id = f"{prefix}{night.replace('-', '')}-{i:02d}"
        wav(folder / f"{call_id}.wav")
        layout = STEREO if i % 2 == 0 else "mono"
        rows.append(row(call_id, f"{night}T{hour:02d}:{i:02d}:00+00:00", f"{call_id}.wav", layout))
        ids.append(call_id)
    write_csv(folder / "calls.csv", rows)
    return ids


def set_mtime(path: Path, when: datetime) -> None:
    os.utime(path, (when.timestamp(), when.timestamp()))


def by_id(found: Discovery) -> dict[str, CallMetadata]:
    return {c.call_id: c for c in found.calls}


def problems_with(found: Discovery, *needles: str) -> list[str]:
    return [p for p in found.problems if all(n in p for n in needles)]


@pytest.fixture()
def archive(tmp_path: Path) -> tuple[Path, list[str]]:
    root = tmp_path / "archive"
    ids = make_night(root, "2026-11-16", 3) + make_night(root, "2026-11-17", 2)
    return root, ids


# ------------------------------------------------------------------------- standard layout


def test_standard_layout_two_nights(archive: tuple[Path, list[str]]) -> None:
    root, ids = archive
    found = discover(root)
    assert found.problems == ()
    assert found.duplicates == ()
    assert [c.call_id for c in found.calls] == ids  # sorted by started_at
    first = found.calls[0]
    assert first == CallMetadata(
        call_id="20261116-00",
        path=str(root / "2026-11-16" / "20261116-00.wav"),
        night="2026-11-16",
        started_at=datetime(2026, 11, 16, 9, 0, tzinfo=UTC),
        customer_id="+44 20 7946 0001",
        agent_id="AG1",
        queue="CARDS_EN",
        channel_layout=STEREO,
        derived=(),
    )
    assert found.calls[1].channel_layout == "mono"
    assert {c.night for c in found.calls} == {"2026-11-16", "2026-11-17"}
    for call in found.calls:
        assert Path(call.path).is_absolute() and Path(call.path).is_file()
        assert call.started_at is not None and call.started_at.tzinfo is not None


def test_relative_archive_path_gives_absolute_paths(
    archive: tuple[Path, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    root, ids = archive
    monkeypatch.chdir(root.parent)
    found = discover(Path("archive"))
    assert [c.call_id for c in found.calls] == ids
    assert all(Path(c.path).is_absolute() for c in found.calls)


def test_not_a_folder(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not a folder"):
        discover(tmp_path / "nope")
    with pytest.raises(ConfigError, match="not a folder"):
        discover(wav(tmp_path / "a.wav"))


def test_hidden_and_non_audio_files_are_ignored(archive: tuple[Path, list[str]]) -> None:
    root, ids = archive
    night = root / "2026-11-16"
    wav(night / ".partial.wav")  # an upload in progress
    wav(root / ".trash" / "old.wav")  # a hidden folder
    (night / "notes.txt").write_text("not a recording")
    (night / "report.pdf").write_bytes(b"%PDF-1.4")
    wav(night / "LOUD.WAV")  # audio extensions match in any case
    found = discover(root)
    assert sorted(c.call_id for c in found.calls) == sorted([*ids, "LOUD"])
    assert len(found.problems) == 1 and "LOUD.WAV" in found.problems[0]


def test_default_extensions_cover_recorder_formats() -> None:
    assert {"wav", "mp3", "flac", "ogg", "opus", "m4a", "gsm", "au", "aiff"} <= AUDIO_EXTENSIONS
    schema = MetadataSchema()
    assert schema.is_audio_name("x.Opus") and not schema.is_audio_name("x.csv")
    assert not schema.is_audio_name("wav")


# ------------------------------------------------------------------------------------ since


def test_since_keeps_later_nights(archive: tuple[Path, list[str]]) -> None:
    root, ids = archive
    found = discover(root, since=date(2026, 11, 17))
    assert [c.call_id for c in found.calls] == ids[3:]
    assert discover(root, since=date(2026, 11, 16)).calls == discover(root).calls
    assert discover(root, since=date(2026, 11, 18)).calls == ()


def test_since_uses_started_at_then_night_date(tmp_path: Path) -> None:
    root = tmp_path / "archive"
    night = root / "2026-11-16"
    wav(night / "late.wav")  # the CSV says it started the next day
    wav(night / "norow.wav")  # no row: the night folder's date counts, not the file time
    set_mtime(night / "norow.wav", datetime(2026, 11, 20, tzinfo=UTC))
    write_csv(
        night / "calls.csv",
        [
            row("late", "2026-11-17T00:30:00+00:00", "late.wav"),
            row("gone", "2026-11-16T10:00:00+00:00", "gone.wav"),  # a problem before since
        ],
    )
    loose = root / "misc"  # not a date: the file time's date counts
    wav(loose / "recent.wav")
    set_mtime(loose / "recent.wav", datetime(2026, 11, 18, 12, tzinfo=UTC))
    wav(loose / "old.wav")
    set_mtime(loose / "old.wav", datetime(2026, 11, 1, 12, tzinfo=UTC))
    found = discover(root, since=date(2026, 11, 17))
    assert [c.call_id for c in found.calls] == ["late", "recent"]
    assert not problems_with(found, "gone.wav")  # problems of earlier nights are left out
    assert problems_with(discover(root), "gone.wav")


# --------------------------------------------------------------------- missing metadata


def test_missing_csv_derives_metadata(tmp_path: Path) -> None:
    root = tmp_path / "archive"
    night = root / "2026-11-18"
    when = datetime(2026, 11, 18, 14, 5, 6, tzinfo=UTC)
    for name in ("b-call.wav", "a-call.mp3"):
        wav(night / name)
        set_mtime(night / name, when)
    found = discover(root)
    assert [c.call_id for c in found.calls] == ["a-call", "b-call"]  # same time: by path
    call = by_id(found)["b-call"]
    assert call.started_at == when
    assert call.derived == ("call_id", "started_at")
    assert call.night == "2026-11-18"
    assert (call.channel_layout, call.customer_id, call.agent_id, call.queue) == (None,) * 4
    assert problems_with(found, "2026-11-18", "calls.csv missing", "2 recording(s)")
    assert len(found.problems) == 1


def test_csv_row_for_missing_file(archive: tuple[Path, list[str]]) -> None:
    root, ids = archive
    night = root / "2026-11-16"
    (night / f"{ids[1]}.wav").unlink()
    found = discover(root)
    assert ids[1] not in by_id(found)
    assert len(found.calls) == len(ids) - 1
    (problem,) = found.problems
    assert "calls.csv line 3" in problem and ids[1] in problem and "missing" in problem


def test_file_without_row(archive: tuple[Path, list[str]]) -> None:
    root, _ = archive
    extra = wav(root / "2026-11-17" / "walk-in.flac")
    when = datetime(2026, 11, 17, 23, 0, tzinfo=UTC)
    set_mtime(extra, when)
    found = discover(root)
    call = by_id(found)["walk-in"]
    assert call.path == str(extra) and call.night == "2026-11-17"
    assert call.started_at == when and call.derived == ("call_id", "started_at")
    assert problems_with(found, "walk-in.flac", "no row")
    assert found.calls[-1] is call  # sorted by its derived time


def test_empty_cells(tmp_path: Path) -> None:
    root = tmp_path / "archive"
    night = root / "2026-11-16"
    for name in ("a.wav", "b.wav", "c-123.wav"):
        wav(night / name)
    set_mtime(night / "b.wav", datetime(2026, 11, 16, 20, tzinfo=UTC))
    write_csv(
        night / "calls.csv",
        [
            ["", "2026-11-16T09:00:00+00:00", "", "", "", "", "a.wav"],  # no call_id
            ["B-1", "", "+44 161 496 0001", "AG2", "Q", "mono", "b.wav"],  # no started_at
            ["c-123", "2026-11-16T10:00:00+00:00", " ", "AG3", "", STEREO, ""],  # no audio_file
            ["ghost", "2026-11-16T11:00:00+00:00", "", "", "", "", ""],  # nothing to find
        ],
    )
    found = discover(root)
    calls = by_id(found)
    assert calls["a"].derived == ("call_id",)
    assert calls["a"].started_at == datetime(2026, 11, 16, 9, tzinfo=UTC)
    assert calls["a"].customer_id is None and calls["a"].channel_layout is None
    assert calls["B-1"].derived == ("started_at",)
    assert calls["B-1"].started_at == datetime(2026, 11, 16, 20, tzinfo=UTC)
    assert calls["B-1"].customer_id == "+44 161 496 0001"
    assert calls["c-123"].path == str(night / "c-123.wav")  # found by its call_id
    assert calls["c-123"].derived == () and calls["c-123"].customer_id is None
    assert set(calls) == {"a", "B-1", "c-123"}
    assert found.problems == (
        "2026-11-16/calls.csv line 5 (call ghost): no audio_file and no single file named "
        "after the call",
    )


def test_malformed_started_at(archive: tuple[Path, list[str]]) -> None:
    root, _ = archive
    night = root / "2026-11-17"
    wav(night / "x.wav")
    set_mtime(night / "x.wav", datetime(2026, 11, 17, 22, tzinfo=UTC))
    with (night / "calls.csv").open("a", newline="") as fh:
        csv.writer(fh).writerow(row("X1", "17/11/2026 10:00", "x.wav"))
    found = discover(root)
    call = by_id(found)["X1"]
    assert call.derived == ("started_at",)
    assert call.started_at == datetime(2026, 11, 17, 22, tzinfo=UTC)
    assert problems_with(found, "X1", "'17/11/2026 10:00'", "not an ISO 8601 time")


def test_time_formats(tmp_path: Path) -> None:
    root = tmp_path / "archive"
    night = root / "2026-11-16"
    rows = []
    for i, text in enumerate(
        ["2026-11-16T09:00:00Z", "2026-11-16 10:00:00+01:00", "2026-11-16T11:00:00"]
    ):
        wav(night / f"{i}.wav")
        rows.append(row(f"c{i}", text, f"{i}.wav"))
    write_csv(night / "calls.csv", rows)
    calls = by_id(discover(root))
    assert calls["c0"].started_at == datetime(2026, 11, 16, 9, tzinfo=UTC)
    assert calls["c1"].started_at == datetime(2026, 11, 16, 10, tzinfo=timezone(timedelta(hours=1)))
    assert calls["c2"].started_at == datetime(2026, 11, 16, 11, tzinfo=UTC)  # naive: UTC
    london = by_id(discover(root, MetadataSchema(timezone="Europe/London")))
    c2 = london["c2"].started_at
    assert c2 is not None and c2.utcoffset() == timedelta(0) and str(c2.tzinfo) == "Europe/London"


def test_bad_channel_layout_is_reported_and_dropped(tmp_path: Path) -> None:
    root = tmp_path / "archive"
    wav(root / "2026-11-16" / "a.wav")
    write_csv(
        root / "2026-11-16" / "calls.csv",
        [row("a", "2026-11-16T09:00:00+00:00", "a.wav", "stereo: agent=middle")],
    )
    found = discover(root)
    assert found.calls[0].channel_layout is None
    assert problems_with(found, "channel_layout ignored", "middle")


def test_unusable_csvs(tmp_path: Path) -> None:
    root = tmp_path / "archive"
    nights = ("2026-11-16", "2026-11-17", "2026-11-18", "2026-11-19")
    for i, night in enumerate(nights):
        wav(root / night / f"a{i}.wav", 0.01)
    (root / "2026-11-16" / "calls.csv").write_bytes(b"call_id,audio_file\n\xff\xfe\x00bad\n")
    (root / "2026-11-17" / "calls.csv").write_bytes(b"")
    (root / "2026-11-18" / "calls.csv").write_text("id;file\nx;a.wav\n")  # wrong delimiter
    junk = "x" * 200_000  # more than the csv module's field size limit
    (root / "2026-11-19" / "calls.csv").write_text(f"call_id,audio_file\n{junk},a3.wav\n")
    found = discover(root)
    assert [c.call_id for c in found.calls] == ["a0", "a1", "a2", "a3"]  # derived
    assert all(c.derived == ("call_id", "started_at") for c in found.calls)
    assert problems_with(found, "2026-11-16/calls.csv", "not UTF-8")
    assert problems_with(found, "2026-11-17/calls.csv", "empty file")
    assert problems_with(found, "2026-11-18/calls.csv", "neither the call_id column")
    assert problems_with(found, "2026-11-19/calls.csv", "unreadable CSV")
    assert len(problems_with(found, "calls.csv unusable", "derived")) == 4


def test_missing_columns_are_reported_once(tmp_path: Path) -> None:
    root = tmp_path / "archive"
    wav(root / "2026-11-16" / "a.wav")
    wav(root / "2026-11-16" / "b.wav")
    write_csv(
        root / "2026-11-16" / "calls.csv",
        [["a", "a.wav"], ["b", "b.wav"]],
        header=["Call_ID ", "AUDIO_FILE"],  # case and spaces in a header do not matter
    )
    found = discover(root)
    assert [c.derived for c in found.calls] == [("started_at",), ("started_at",)]
    (problem,) = found.problems
    assert "missing column(s) started_at, customer_id, agent_id, queue, channel_layout" in problem


# --------------------------------------------------------------------------- duplicates


def test_duplicate_call_id_keeps_the_first(archive: tuple[Path, list[str]]) -> None:
    root, ids = archive
    later = root / "2026-11-17"
    wav(later / "again.wav")
    with (later / "calls.csv").open("a", newline="") as fh:
        csv.writer(fh).writerow(row(ids[0], "2026-11-17T12:00:00+00:00", "again.wav"))
    found = discover(root)
    assert [c.call_id for c in found.calls] == ids
    assert by_id(found)[ids[0]].path == str(root / "2026-11-16" / f"{ids[0]}.wav")
    (dup,) = found.duplicates
    assert dup.call_id == ids[0] and dup.path == str(later / "again.wav")
    (problem,) = found.problems
    assert "2026-11-17/again.wav" in problem and f"2026-11-16/{ids[0]}.wav" in problem
    assert "duplicate call_id" in problem


def test_derived_call_ids_can_collide(tmp_path: Path) -> None:
    root = tmp_path / "archive"
    first = wav(root / "2026-11-16" / "call.wav")
    second = wav(root / "2026-11-17" / "call.wav")
    set_mtime(first, datetime(2026, 11, 16, 9, tzinfo=UTC))
    set_mtime(second, datetime(2026, 11, 17, 9, tzinfo=UTC))
    found = discover(root)
    assert [c.path for c in found.calls] == [str(first)]
    assert [c.path for c in found.duplicates] == [str(second)]


def test_file_listed_twice(tmp_path: Path) -> None:
    root = tmp_path / "archive"
    wav(root / "2026-11-16" / "a.wav")
    write_csv(
        root / "2026-11-16" / "calls.csv",
        [
            row("A1", "2026-11-16T09:00:00+00:00", "a.wav"),
            row("A2", "2026-11-16T09:05:00+00:00", "a.wav"),
        ],
    )
    found = discover(root)
    assert [c.call_id for c in found.calls] == ["A1"] and found.duplicates == ()
    assert problems_with(found, "line 3", "A2", "listed again")


# ---------------------------------------------------------------------------------- safety


def test_path_traversal_in_audio_file_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "archive"
    wav(tmp_path / "secret.wav")  # outside the archive
    wav(root / "2026-11-16" / "ok.wav")
    (root / "2026-11-16" / "sub").mkdir()
    write_csv(
        root / "2026-11-16" / "calls.csv",
        [
            row("ok", "2026-11-16T09:00:00+00:00", "ok.wav"),
            row("up", "2026-11-16T09:01:00+00:00", "../../secret.wav"),
            row("abs", "2026-11-16T09:02:00+00:00", str(tmp_path / "secret.wav")),
            row("mid", "2026-11-16T09:03:00+00:00", "sub/../../../secret.wav"),
            row("win", "2026-11-16T09:04:00+00:00", "\\\\server\\share\\secret.wav"),
        ],
    )
    found = discover(root)
    assert [c.call_id for c in found.calls] == ["ok"]
    for call_id in ("up", "abs", "mid", "win"):
        assert problems_with(found, f"(call {call_id})", "leaves the folder; refused")
    assert not any(str(tmp_path / "secret.wav") == c.path for c in found.calls)


def test_audio_file_in_a_subfolder_is_allowed(tmp_path: Path) -> None:
    root = tmp_path / "archive"
    inner = wav(root / "2026-11-16" / "audio" / "a.wav")
    write_csv(
        root / "2026-11-16" / "calls.csv",
        [row("A", "2026-11-16T09:00:00+00:00", "./audio/a.wav")],
    )
    found = discover(root)
    assert [(c.call_id, c.path, c.night) for c in found.calls] == [("A", str(inner), "2026-11-16")]
    assert found.problems == ()  # the subfolder's file is claimed: no "no row", no CSV needed


def test_symlinks_out_of_the_archive_are_not_followed(tmp_path: Path) -> None:
    root = tmp_path / "archive"
    outside = tmp_path / "elsewhere"
    secret = wav(outside / "secret.wav")
    wav(outside / "night" / "other.wav")
    night = root / "2026-11-16"
    wav(night / "real.wav")
    (night / "link-out.wav").symlink_to(secret)
    (night / "link-in.wav").symlink_to(night / "real.wav")  # inside: the same file, once
    (night / "dangling.wav").symlink_to(tmp_path / "missing.wav")
    (night / "named-out.wav").symlink_to(secret)
    (root / "2026-11-17").symlink_to(outside / "night", target_is_directory=True)
    (root / "loop").symlink_to(root, target_is_directory=True)
    (night / "out-dir").symlink_to(outside, target_is_directory=True)
    write_csv(
        night / "calls.csv",
        [
            row("real", "2026-11-16T09:00:00+00:00", "real.wav"),
            row("named", "2026-11-16T09:01:00+00:00", "named-out.wav"),
            row("via-dir", "2026-11-16T09:02:00+00:00", "out-dir/secret.wav"),
        ],
    )
    found = discover(root)
    assert [c.path for c in found.calls] == [str(night / "real.wav")]
    assert all("secret" not in c.path and "other" not in c.path for c in found.calls)
    assert problems_with(found, "2026-11-16/link-out.wav", "outside the archive")
    assert problems_with(found, "2026-11-17", "outside the archive")
    assert problems_with(found, "dangling.wav", "broken symlink")
    assert problems_with(
        found, "(call named)", "leads outside the archive through a symlink; refused"
    )
    assert problems_with(found, "link-in.wav", "same file as 2026-11-16/real.wav")
    assert problems_with(found, "(call via-dir)", "leads outside the archive")
    assert problems_with(found, "2026-11-16/out-dir", "outside the archive; ignored")
    assert not problems_with(found, "loop")


def test_archive_root_reached_through_a_symlink(tmp_path: Path) -> None:
    real = tmp_path / "real"
    ids = make_night(real, "2026-11-16")
    (tmp_path / "via").symlink_to(real, target_is_directory=True)
    found = discover(tmp_path / "via")
    assert [c.call_id for c in found.calls] == ids and found.problems == ()
    assert found.calls[0].path.startswith(str(tmp_path / "via"))


def test_unicode_file_names(tmp_path: Path) -> None:
    root = tmp_path / "archive"
    night = root / "2026-11-16"
    odd = "ünïcødé call ☎ 日本 🎧.wav"
    wav(night / odd)
    decomposed = unicodedata.normalize("NFD", "café-crème.wav")  # as a Mac might write it
    wav(night / decomposed)
    wav(night / "no row – émoji 😀.wav")
    write_csv(
        night / "calls.csv",
        [
            row("odd", "2026-11-16T09:00:00+00:00", odd),
            row(
                "cafe", "2026-11-16T09:01:00+00:00", unicodedata.normalize("NFC", "café-crème.wav")
            ),
        ],
    )
    bad = os.fsencode(night) + b"/latin1-\xe9.wav"  # not UTF-8: cannot be stored as text
    with open(bad, "wb") as fh:
        fh.write((night / odd).read_bytes())
    found = discover(root)
    calls = by_id(found)
    assert calls["odd"].path == str(night / odd)
    assert calls["cafe"].path == str(night / decomposed)
    assert "no row – émoji 😀" in calls
    assert len(found.calls) == 3
    assert problems_with(found, "latin1-", "not valid UTF-8")
    assert problems_with(found, "no row – émoji 😀.wav", "no row")


# ---------------------------------------------------------------------------------- schema


def test_custom_schema(tmp_path: Path) -> None:
    root = tmp_path / "archive"
    night = root / "2026-11-16"
    wav(night / "r1.ogg")
    wav(night / "skipped.wav")  # not an extension of this schema
    write_csv(
        night / "export.csv",
        [["2026-11-16T09:00:00Z", "C-1", "r1.ogg", "+44 7700 900001", "A7", "Q9", "mono"]],
        header=["StartTime", "CallID", "File", "ANI", "Agent", "IVR", "Layout"],
    )
    text = (
        "call_id=CallID, started_at=StartTime,customer_id=ANI,agent_id=Agent,queue=IVR,"
        "channel_layout=Layout,audio_file=File,metadata_file=export.csv,audio_extensions=ogg|OPUS"
    )
    schema = MetadataSchema.parse(text)
    assert schema.column("call_id") == "CallID"
    assert schema.audio_extensions == frozenset({"ogg", "opus"})
    assert schema == MetadataSchema.from_mapping(
        {
            "call_id": "CallID",
            "started_at": "StartTime",
            "customer_id": "ANI",
            "agent_id": "Agent",
            "queue": "IVR",
            "channel_layout": "Layout",
            "audio_file": "File",
            "metadata_file": "export.csv",
            "audio_extensions": [".OGG", "opus"],
        }
    )
    found = discover(root, schema)
    assert found.calls == (
        CallMetadata(
            call_id="C-1",
            path=str(night / "r1.ogg"),
            night="2026-11-16",
            started_at=datetime(2026, 11, 16, 9, tzinfo=UTC),
            customer_id="+44 7700 900001",
            agent_id="A7",
            queue="Q9",
            channel_layout="mono",
        ),
    )
    assert found.problems == ()
    # the default schema finds no calls.csv and no such columns: everything is derived
    default = discover(root)
    assert {c.call_id for c in default.calls} == {"r1", "skipped"}


def test_partial_schema_keeps_other_defaults() -> None:
    schema = MetadataSchema.parse("call_id=id,,audio_file=file")
    assert (schema.call_id, schema.audio_file, schema.started_at) == ("id", "file", "started_at")
    assert schema.metadata_file == "calls.csv" and schema.audio_extensions == AUDIO_EXTENSIONS
    assert MetadataSchema.parse("") == MetadataSchema()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("caller=ANI", "unknown metadata field 'caller'"),
        ("call_id", "is not field=column"),
        ("call_id=", "non-empty"),
        ("call_id=a,call_id=b", "given twice"),
        ("call_id=x,audio_file=X", "distinct"),
        ("metadata_file=../calls.csv", "plain file name"),
        ("audio_extensions=", "non-empty extensions"),
        ("timezone=Mars/Olympus", "unknown timezone"),
    ],
)
def test_schema_errors(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        MetadataSchema.parse(text)


def test_schema_extensions_as_text() -> None:
    text: Any = "WAV|.mp3, gsm"  # a string where a collection is declared
    assert MetadataSchema(audio_extensions=text).audio_extensions == {"wav", "mp3", "gsm"}
    with pytest.raises(ConfigError, match="non-empty extensions"):
        MetadataSchema(audio_extensions=frozenset({"a/b"}))


def test_schema_column_of_unknown_field() -> None:
    with pytest.raises(ConfigError, match="unknown metadata field"):
        MetadataSchema().column("duration_s")


# --------------------------------------------------------------------------- nesting, order


def test_nested_nights(tmp_path: Path) -> None:
    root = tmp_path / "archive"
    a = make_night(root / "site-a" / "2026", "2026-11-16", 1, prefix="a")
    b = make_night(root / "site-b", "2026-11-16", 1, hour=8, prefix="b")
    loose = wav(root / "site-b" / "misc" / "stray.wav")
    set_mtime(loose, datetime(2026, 11, 16, 7, tzinfo=UTC))
    top = wav(root / "top.wav")
    set_mtime(top, datetime(2026, 11, 16, 6, tzinfo=UTC))
    found = discover(root)
    assert [c.call_id for c in found.calls] == ["top", "stray", *b, *a]
    assert [c.night for c in found.calls] == [None, "site-b/misc", "2026-11-16", "2026-11-16"]
    assert problems_with(found, "archive root", "calls.csv missing")
    assert problems_with(found, "site-b/misc", "calls.csv missing")
    assert len(found.problems) == 2


def test_order_is_deterministic(tmp_path: Path) -> None:
    root = tmp_path / "archive"
    night = root / "2026-11-16"
    names = ["c.wav", "a.wav", "b.wav", "d.wav"]
    for name in names:
        wav(night / name)
    same = "2026-11-16T09:00:00+00:00"
    write_csv(
        night / "calls.csv",
        [
            row("D", "2026-11-16T08:00:00+00:00", "d.wav"),
            row("C", same, "c.wav"),
            row("A", same, "a.wav"),
            row("B", "2026-11-16T10:00:00+01:00", "b.wav"),  # 09:00 UTC as well
        ],
    )
    found = discover(root)
    assert [c.call_id for c in found.calls] == ["D", "A", "B", "C"]  # time, then path
    assert discover(root) == found


# ----------------------------------------------------------------------------- content hash


def test_content_hash(tmp_path: Path) -> None:
    path = tmp_path / "big.bin"
    data = os.urandom(3 * (1 << 20) + 17)  # more than one chunk
    path.write_bytes(data)
    digest = content_hash(path)
    assert digest == hashlib.sha256(data).hexdigest()
    assert content_hash(path) == digest  # stable
    copy = tmp_path / "copy.bin"
    copy.write_bytes(data)
    assert content_hash(copy) == digest  # content, not name or time
    path.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))  # one bit changed
    assert content_hash(path) != digest
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    assert content_hash(empty) == hashlib.sha256(b"").hexdigest()
    with pytest.raises(OSError):
        content_hash(tmp_path / "missing.wav")
