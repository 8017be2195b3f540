"""Uploads received into a job folder: names are labels, bytes decide the type, every cap is
counted as data arrives, and a refusal can always be cleaned away."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from engine.archive import discover
from engine.store.jobs import new_job_id
from engine.uploads import (
    UploadArea,
    UploadFolder,
    UploadLimits,
    UploadRefused,
    check_name,
    sniff,
)
from tests.audio_fixtures import write_tone_av, write_tone_sf, write_tone_wav

LIMITS = UploadLimits(max_file_bytes=100_000, max_files=3, max_audio_seconds=2.0)


def wav_bytes(tmp_path: Path, seconds: float = 0.5, name: str = "t.wav") -> bytes:
    return write_tone_wav(tmp_path / name, rate=8000, seconds=seconds).read_bytes()


def send(folder: UploadFolder, name: str, data: bytes, chunk: int = 7) -> None:
    folder.begin_file(name)
    for i in range(0, len(data), chunk):
        folder.write(data[i : i + chunk])
    folder.end_part()


def metadata(folder: UploadFolder, text: str) -> None:
    folder.begin_metadata()
    folder.write(text.encode())
    folder.end_part()


@pytest.fixture
def area(tmp_path: Path) -> UploadArea:
    return UploadArea(tmp_path / "uploads", LIMITS)


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ("../../x.wav", "path separator"),
        ("/etc/x.wav", "path separator"),
        ("..\\..\\x.wav", "path separator"),
        ("C:\\calls\\x.wav", "path separator"),
        ("x\x00.wav", "control"),
        ("x\n.wav", "control"),
        ("x\u202egnp.wav", "format"),  # right-to-left override: a name that lies on screen
        (".hidden.wav", "dot"),
        ("..", "dot"),
        (" ", "empty"),
        ("", "empty"),
        ("a" * 201 + ".wav", "longer than 200"),
    ],
)
def test_names_that_are_not_plain_names_are_refused(raw, why):
    with pytest.raises(UploadRefused, match=why) as caught:
        check_name(raw)
    assert caught.value.reason == "bad_name" and not caught.value.too_large


def test_plain_names_are_kept_as_labels():
    assert check_name("Call 17 – Müller.wav") == "Call 17 – Müller.wav"
    assert check_name("Mu\u0308ller.wav") == "Müller.wav"  # NFC


def test_sniffing_reads_bytes_not_names(tmp_path):
    assert sniff(wav_bytes(tmp_path)[:16]) == "WAV"
    flac = write_tone_sf(tmp_path / "a.flac", 8000, 1, 0.3, "FLAC").read_bytes()
    assert sniff(flac[:16]) == "FLAC"
    ogg = write_tone_sf(tmp_path / "a.ogg", 8000, 1, 0.3, "OGG").read_bytes()
    assert sniff(ogg[:16]) == "Ogg"
    assert sniff(b"\xff\xfb\x90\x64" + bytes(12)) == "MP3"  # MPEG-1 layer III frame sync
    assert sniff(b"\xff\xf1\x50\x80" + bytes(12)) == "AAC"  # ADTS
    assert sniff(b"\x89PNG\r\n\x1a\n" + bytes(8)) is None
    assert sniff(b"hello, this is not audio") is None
    assert sniff(b"") is None


def test_a_folder_receives_recordings_with_safe_names_and_metadata(area, tmp_path):
    folder = area.open(new_job_id())
    one, two = wav_bytes(tmp_path, 0.5), wav_bytes(tmp_path, 1.0, "u.wav")
    send(folder, "Call 1 – Müller.wav", one)
    send(folder, "weird name.bin", two, chunk=1)  # the extension is the content's
    metadata(
        folder,
        "Call_ID,Audio_File,agent_id,started_at\n"
        "c-1,Call 1 – Müller.wav,AG7,2026-11-16T09:00:00Z\n\n",
    )
    files = folder.finish()
    assert [(f.name, f.call_id, f.container) for f in files] == [
        ("Call 1 – Müller.wav", "c-1", "WAV"),
        ("weird name.bin", "weird name", "WAV"),
    ]
    assert [f.stored for f in files] == ["001-Call_1_Muller.wav", "002-weird_name.wav"]
    assert (folder.path / files[0].stored).read_bytes() == one
    assert (folder.path / files[1].stored).read_bytes() == two
    assert files[1].size_bytes == len(two) and files[1].duration == pytest.approx(1.0)
    assert sorted(p.name for p in folder.path.iterdir()) == sorted(
        ["calls.csv", *(f.stored for f in files)]
    )
    assert oct(folder.path.stat().st_mode & 0o777) == "0o700"
    with (folder.path / "calls.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert rows[0]["call_id"] == "c-1" and rows[0]["agent_id"] == "AG7"
    found = discover(folder.path)  # what the batch will see
    assert [(c.call_id, Path(c.path).name, c.agent_id) for c in found.calls] == [
        ("c-1", "001-Call_1_Muller.wav", "AG7"),
        ("weird name", "002-weird_name.wav", None),
    ]
    assert found.problems == ()


def test_metadata_rows_match_by_call_id_stem(area, tmp_path):
    folder = area.open(new_job_id())
    send(folder, "c7.wav", wav_bytes(tmp_path))
    metadata(folder, "call_id,queue\nc7,billing\n")
    (f,) = folder.finish()
    assert f.call_id == "c7"
    assert "billing" in (folder.path / "calls.csv").read_text()


@pytest.mark.parametrize(
    ("csv_text", "why"),
    [
        ("audio_file\nother.wav\n", "'other.wav' is not an uploaded file"),
        ("call_id\nnobody\n", "no single uploaded file"),
        ("queue\nbilling\n", "audio_file or a call_id column"),
        ("audio_file\na.wav\na.wav\n", "has a row already"),
        ("", "empty file"),
    ],
)
def test_bad_metadata_is_refused(area, tmp_path, csv_text, why):
    folder = area.open(new_job_id())
    send(folder, "a.wav", wav_bytes(tmp_path))
    metadata(folder, csv_text)
    with pytest.raises(UploadRefused, match=why) as caught:
        folder.finish()
    assert caught.value.reason == "bad_metadata" and caught.value.name == "calls.csv"


def test_metadata_that_is_not_utf8_is_refused(area, tmp_path):
    folder = area.open(new_job_id())
    send(folder, "a.wav", wav_bytes(tmp_path))
    folder.begin_metadata()
    folder.write(b"call_id\n\xff\xfe\n")
    folder.end_part()
    with pytest.raises(UploadRefused, match="not UTF-8"):
        folder.finish()


def refusal(folder: UploadFolder, name: str, data: bytes) -> UploadRefused:
    with pytest.raises(UploadRefused) as caught:
        send(folder, name, data, chunk=4096)
    folder.discard()
    assert not folder.path.exists()
    return caught.value


def test_refusals_name_the_file_and_leave_nothing(area, tmp_path):
    png = b"\x89PNG\r\n\x1a\n" + bytes(64)
    cases = {
        "big.wav": (wav_bytes(tmp_path, 7.0), "too_large"),  # 112 kB > 100 kB, refused mid-way
        "long.wav": (wav_bytes(tmp_path, 3.0), "too_long"),
        "text.wav": (b"hello, I am a text file, not a recording\n" * 3, "not_audio"),
        "image.wav": (png, "not_audio"),
        "empty.wav": (b"", "empty"),
        "riff.wav": (b"RIFF\x10\x00\x00\x00WAVEjunkjunkjunkjunk", "corrupt"),
    }
    for name, (data, reason) in cases.items():
        exc = refusal(area.open(new_job_id()), name, data)
        assert (exc.name, exc.reason) == (name, reason), exc
        assert str(area.root) not in str(exc)  # no server path in what the client reads
    assert list(area.root.iterdir()) == []


def test_a_header_stating_a_long_duration_is_refused(area, tmp_path):
    flac = bytearray(write_tone_sf(tmp_path / "a.flac", 8000, 1, 0.5, "FLAC").read_bytes())
    flac[8 + 13] |= 0x0F  # STREAMINFO total samples: 2**36 - 1
    flac[8 + 14 : 8 + 18] = b"\xff\xff\xff\xff"
    assert refusal(area.open(new_job_id()), "a.flac", bytes(flac)).reason == "too_long"
    wav = bytearray(wav_bytes(tmp_path, 0.5))
    wav[40:44] = (0x7FFFFFF0).to_bytes(4, "little")  # the data chunk claims 37 hours
    exc = refusal(area.open(new_job_id()), "lie.wav", bytes(wav))
    assert exc.reason == "too_long" and "states a duration" in exc.detail


def test_types_can_be_limited(tmp_path):
    area = UploadArea(tmp_path / "up", UploadLimits(audio_types=frozenset({"WAV"})))
    mp3 = write_tone_av(tmp_path / "a.mp3", 16000, 1, 0.5, "libmp3lame").read_bytes()
    exc = refusal(area.open(new_job_id()), "a.mp3", mp3)
    assert exc.reason == "type_not_allowed" and "MP3" in exc.detail


def test_too_many_files_are_refused_before_the_next_is_opened(area, tmp_path):
    folder = area.open(new_job_id())
    for i in range(3):
        send(folder, f"{i}.wav", wav_bytes(tmp_path))
    with pytest.raises(UploadRefused) as caught:
        folder.begin_file("3.wav")
    assert caught.value.reason == "too_many_files" and caught.value.too_large
    assert len(list(folder.path.iterdir())) == 3
    folder.discard()
    assert list(area.root.iterdir()) == []


def test_duplicates_and_missing_files(area, tmp_path):
    folder = area.open(new_job_id())
    send(folder, "a.wav", wav_bytes(tmp_path))
    with pytest.raises(UploadRefused, match="sent twice"):
        folder.begin_file("a.wav")
    folder.discard()
    with pytest.raises(UploadRefused) as caught:
        area.open(new_job_id()).finish()
    assert caught.value.reason == "no_files"
    folder = area.open(new_job_id())
    send(folder, "a.wav", wav_bytes(tmp_path))
    send(folder, "b.wav", wav_bytes(tmp_path))
    metadata(folder, "audio_file,call_id\nb.wav,a\n")
    with pytest.raises(UploadRefused, match="call_id 'a'"):
        folder.finish()


def test_an_upload_named_calls_csv_is_the_metadata(area, tmp_path):
    folder = area.open(new_job_id())
    send(folder, "a.wav", wav_bytes(tmp_path))
    send(folder, "calls.csv", b"audio_file,call_id\na.wav,X1\n")
    assert [f.call_id for f in folder.finish()] == ["X1"]


def test_sweep_removes_only_old_folders_without_a_job(area, tmp_path):
    kept, orphan, young = new_job_id(), new_job_id(), new_job_id()
    for job_id in (kept, orphan, young):
        area.open(job_id)
    import os

    for job_id in (kept, orphan):
        os.utime(area.root / job_id, (0, 0))
    (area.root / "not-a-job").mkdir()
    assert area.sweep(lambda job_id: job_id == kept) == 1
    assert sorted(p.name for p in area.root.iterdir()) == sorted([kept, young, "not-a-job"])
