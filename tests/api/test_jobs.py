"""/v1/jobs: archive and upload jobs run by the background worker (a fake batch here), and
the upload abuse cases: each refused clearly, with no file left anywhere."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from api.settings import ApiSettings
from engine.store.repo import Store
from tests.audio_fixtures import write_tone_sf, write_tone_wav
from tests.engine.test_batch import make_night
from tests.engine.test_jobs import FakeRunner
from tests.store_fixtures import pg_database, pg_url, store, store_url

__all__ = ["pg_database", "pg_url", "store", "store_url"]

SETTINGS: dict[str, Any] = {
    "max_upload_bytes": 200_000,
    "max_request_bytes": 400_000,
    "max_files": 3,
    "max_audio_seconds": 2.0,
}

# --------------------------------------------------------------------------- fixtures


@pytest.fixture
def systemp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The process's temp folder, moved where the test can see everything written there."""
    folder = tmp_path / "systemp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    root = tmp_path / "archive"
    make_night(root, "2026-11-16", 2)
    (tmp_path / "outside").mkdir()
    (root / "link-out").symlink_to(tmp_path / "outside")
    return root


@pytest.fixture
def runner() -> FakeRunner:
    return FakeRunner()


@pytest.fixture
def make_client(
    store: Store, store_url: str, tmp_path: Path, archive: Path, runner: FakeRunner, systemp: Path
) -> Iterator[Callable[..., TestClient]]:
    clients: list[TestClient] = []

    def make(**overrides: Any) -> TestClient:
        values = {
            "store_url": store_url,
            "upload_dir": tmp_path / "uploads",
            "archive_roots": (archive,),
            **SETTINGS,
            **overrides,
        }
        client = TestClient(create_app(ApiSettings(**values), batch_runner=runner))
        clients.append(client.__enter__())
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def api(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client()


@pytest.fixture
def admin(store: Store) -> dict[str, str]:
    return {"Authorization": f"Bearer {store.keys.create('ops', 'admin')[1]}"}


@pytest.fixture
def analyst(store: Store) -> dict[str, str]:
    return {"X-API-Key": store.keys.create("qa", "analyst")[1]}


def wav(tmp_path: Path, seconds: float = 0.5, rate: int = 8000, name: str = "src.wav") -> bytes:
    return write_tone_wav(tmp_path / name, rate=rate, seconds=seconds).read_bytes()


def finished(api: TestClient, headers: dict[str, str], job_id: str) -> dict[str, Any]:
    end = time.monotonic() + 15
    while True:
        job = api.get(f"/v1/jobs/{job_id}", headers=headers).json()
        if job["status"] in ("finished", "failed"):
            return job
        assert time.monotonic() < end, job
        time.sleep(0.05)


def files_under(*roots: Path) -> set[Path]:
    return {p for root in roots for p in root.rglob("*")}


# --------------------------------------------------------------------------- auth


ROUTES = [
    ("POST", "/v1/jobs"),
    ("POST", "/v1/jobs/uploads"),
    ("GET", "/v1/jobs"),
    ("GET", "/v1/jobs/0123456789abcdef"),
]


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_jobs_need_an_admin_key(api, analyst, method, path, tmp_path):
    files = {"files": ("a.wav", wav(tmp_path), "audio/wav")} if "uploads" in path else None
    body = {"archive": "/etc"} if path == "/v1/jobs" and method == "POST" else None
    r = api.request(method, path, files=files, json=body)
    assert r.status_code == 401 and r.headers["content-type"] == "application/problem+json"
    r = api.request(method, path, headers=analyst, files=files, json=body)
    assert r.status_code == 403 and "admin role" in r.json()["detail"]
    assert not (tmp_path / "uploads").exists() or not any((tmp_path / "uploads").iterdir())


# --------------------------------------------------------------------------- happy paths


def test_an_archive_job_runs_to_finished(api, admin, archive, store, runner):
    r = api.post("/v1/jobs", headers=admin, json={"archive": f"{archive}/2026-11-16"})
    assert r.status_code == 202, r.json()
    job = r.json()
    assert r.headers["location"] == f"/v1/jobs/{job['id']}"
    assert (job["kind"], job["archive"], job["files"]) == (
        "archive",
        str((archive / "2026-11-16").resolve()),
        [],
    )
    done = finished(api, admin, job["id"])
    assert done["status"] == "finished" and done["error"] is None
    assert done["counts"] == {"processed": 2, "skipped": 0, "quarantined": 0}
    assert done["run_id"] == store.runs()[-1].id and done["finished_at"] >= done["started_at"]
    second = api.post(
        "/v1/jobs", headers=admin, json={"archive": str(archive), "since": "2026-11-17"}
    )
    assert second.json()["since"] == "2026-11-17"
    listed = api.get("/v1/jobs", headers=admin).json()
    assert [j["id"] for j in listed] == [second.json()["id"], job["id"]]
    assert [j["id"] for j in api.get("/v1/jobs?limit=1", headers=admin).json()] == [
        second.json()["id"]
    ]
    assert api.get("/v1/jobs/0123456789abcdef", headers=admin).status_code == 404
    assert api.get("/v1/jobs/..%2F..%2Fetc", headers=admin).status_code == 404


@pytest.mark.parametrize(
    ("path", "status", "why"),
    [
        ("/etc", 403, "outside the archive roots"),
        ("{root}/../..", 403, "outside the archive roots"),
        ("{root}/link-out", 403, "outside the archive roots"),
        ("2026-11-16", 422, "must be absolute"),
        ("{root}/missing", 422, "not a folder"),
        ("{root}/2026-11-16/calls.csv", 422, "not a folder"),
        ("{root}/\u0000", 422, "control characters"),
    ],
)
def test_archive_paths_outside_the_roots_are_refused(api, admin, archive, store, path, status, why):
    r = api.post("/v1/jobs", headers=admin, json={"archive": path.format(root=archive)})
    assert r.status_code == status and why in r.json()["detail"], r.json()
    assert r.headers["content-type"] == "application/problem+json"
    assert store.jobs.list() == []


def test_archive_jobs_are_refused_without_roots(make_client, admin, archive, store):
    api = make_client(archive_roots=())
    r = api.post("/v1/jobs", headers=admin, json={"archive": str(archive)})
    assert r.status_code == 403 and "disabled" in r.json()["detail"]
    r = api.post("/v1/jobs", headers=admin, json={"archive": str(archive), "rm": "-rf"})
    assert r.status_code == 422 and store.jobs.list() == []


def test_an_upload_with_metadata_runs_to_finished(api, admin, tmp_path, runner, store):
    csv = (
        "call_id,started_at,agent_id,queue,audio_file\n"
        "C-100,2026-11-16T09:00:00Z,AG1,billing,first call.wav\n"
        "C-200,2026-11-16T10:00:00Z,AG2,sales,Zweiter Anruf – Müller.wav\n"
    )
    r = api.post(
        "/v1/jobs/uploads",
        headers=admin,
        files=[
            ("files", ("first call.wav", wav(tmp_path, 0.5), "audio/wav")),
            ("files", ("Zweiter Anruf – Müller.wav", wav(tmp_path, 1.0), "text/plain")),
            ("metadata", ("calls.csv", csv.encode(), "text/csv")),
        ],
    )
    assert r.status_code == 202, r.json()
    job = r.json()
    assert r.headers["location"] == f"/v1/jobs/{job['id']}" and job["kind"] == "upload"
    assert [(f["name"], f["call_id"], f["container"]) for f in job["files"]] == [
        ("first call.wav", "C-100", "WAV"),
        ("Zweiter Anruf – Müller.wav", "C-200", "WAV"),
    ]
    assert job["files"][1]["duration"] == pytest.approx(1.0) and job["archive"] is None
    folder = tmp_path / "uploads" / job["id"]
    assert sorted(p.name for p in folder.iterdir()) == [
        "001-first_call.wav",
        "002-Zweiter_Anruf_Muller.wav",
        "calls.csv",
    ]
    done = finished(api, admin, job["id"])
    assert done["status"] == "finished" and done["counts"]["processed"] == 2
    assert runner.ran == [job["id"]]
    assert not any((tmp_path / "systemp").iterdir())


def test_an_upload_without_metadata_takes_call_ids_from_the_names(api, admin, tmp_path):
    r = api.post(
        "/v1/jobs/uploads",
        headers=admin,
        files=[("files", ("call-7.mp3", wav(tmp_path), "audio/mpeg"))],  # the bytes are WAV
    )
    assert r.status_code == 202, r.json()
    assert [(f["call_id"], f["container"]) for f in r.json()["files"]] == [("call-7", "WAV")]
    assert finished(api, admin, r.json()["id"])["counts"]["processed"] == 1


# --------------------------------------------------------------------------- abuse


def multipart(*parts: tuple[str, bytes | None, bytes], boundary: str = "b0undary") -> bytes:
    """A multipart body written by hand (field, raw filename bytes or None, data)."""
    out = bytearray()
    for name, filename, data in parts:
        out += f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"'.encode()
        if filename is not None:
            out += b'; filename="' + filename + b'"'
        out += b"\r\nContent-Type: application/octet-stream\r\n\r\n" + data + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out)


FORM = {"Content-Type": "multipart/form-data; boundary=b0undary"}

# The abuse cases are about files, not the store: SQLite only.
sqlite_only = pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)


class Abuse:
    """Send something bad; check the refusal, and that nothing was written anywhere."""

    def __init__(self, api: TestClient, admin: dict[str, str], tmp_path: Path, store: Store):
        self.api, self.admin, self.tmp_path, self.store = api, admin, tmp_path, store

    def __call__(self, status: int, reason: str, file: str | None, **request: Any) -> dict:
        headers = {**self.admin, **request.pop("headers", {})}
        roots = (self.tmp_path, Path(tempfile.gettempdir()))
        before = files_under(*roots) - {self.tmp_path / "uploads"}  # made by the first upload
        r = self.api.post("/v1/jobs/uploads", headers=headers, **request)
        problem = r.json()
        assert r.status_code == status, problem
        assert r.headers["content-type"] == "application/problem+json"
        assert problem["reason"] == reason and problem["status"] == status, problem
        if file is not None:
            assert problem["file"] == file and file in problem["detail"], problem
        assert str(self.tmp_path) not in problem["detail"]  # no server paths told
        assert files_under(*roots) - {self.tmp_path / "uploads"} == before
        uploads = self.tmp_path / "uploads"
        assert not uploads.exists() or list(uploads.iterdir()) == []
        assert self.store.jobs.list() == []
        return problem


@pytest.fixture
def abuse(api, admin, tmp_path, store) -> Abuse:
    return Abuse(api, admin, tmp_path, store)


@sqlite_only
def test_an_oversize_file_is_refused(abuse, tmp_path):
    big = wav(tmp_path, 13.0)  # 208 kB of 8 kHz PCM > 200 kB
    problem = abuse(413, "too_large", "big.wav", files={"files": ("big.wav", big, "audio/wav")})
    assert "200000 bytes per file" in problem["detail"]


@sqlite_only
def test_an_oversize_request_is_refused_whatever_it_declares(make_client, admin, tmp_path, store):
    api = make_client(max_audio_seconds=60.0)
    abuse = Abuse(api, admin, tmp_path, store)
    each = wav(tmp_path, 9.0)  # 144 kB each: under the file cap, three are over the request cap
    body = multipart(*(("files", f"{i}.wav".encode(), each) for i in range(3)))
    abuse(413, "request_too_large", None, content=body, headers=FORM)

    def chunked() -> Iterator[bytes]:  # no Content-Length at all
        for i in range(0, len(body), 16_384):
            yield body[i : i + 16_384]

    abuse(413, "request_too_large", None, content=chunked(), headers=FORM)
    lying = {**FORM, "Content-Length": "1000"}
    abuse(413, "request_too_large", None, content=chunked(), headers=lying)
    huge = {**FORM, "Content-Length": str(10**12)}  # refused before a byte is read
    abuse(413, "request_too_large", None, content=b"", headers=huge)


@sqlite_only
def test_over_long_audio_is_refused(abuse, tmp_path):
    abuse(
        413, "too_long", "long.wav", files={"files": ("long.wav", wav(tmp_path, 3.0), "audio/wav")}
    )
    flac = bytearray(write_tone_sf(tmp_path / "a.flac", 8000, 1, 0.5, "FLAC").read_bytes())
    flac[8 + 13] |= 0x0F  # STREAMINFO claims 2**36 - 1 samples
    flac[8 + 14 : 8 + 18] = b"\xff\xff\xff\xff"
    abuse(413, "too_long", "claims.flac", files={"files": ("claims.flac", bytes(flac))})
    lie = bytearray(wav(tmp_path, 0.5))
    lie[40:44] = (0x7FFFFFF0).to_bytes(4, "little")  # the WAV data chunk claims 37 hours
    abuse(413, "too_long", "lie.wav", files={"files": ("lie.wav", bytes(lie))})


@sqlite_only
@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("notes.wav", b"Dear customer, this is a text file.\n" * 20, "not_audio"),
        ("image.wav", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(200), "not_audio"),
        ("empty.wav", b"", "empty"),
        ("fake.wav", b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(40), "corrupt"),
        ("script.wav", b"#!/bin/sh\nrm -rf /\n", "not_audio"),
    ],
)
def test_wrong_content_is_refused(abuse, name, data, reason):
    problem = abuse(422, reason, name, files={"files": (name, data, "audio/wav")})
    assert "not trusted" in problem["detail"] or reason != "not_audio"


@sqlite_only
def test_a_type_not_allowed_is_refused(make_client, admin, tmp_path, store):
    abuse = Abuse(make_client(audio_types=frozenset({"FLAC"})), admin, tmp_path, store)
    abuse(422, "type_not_allowed", "a.wav", files={"files": ("a.wav", wav(tmp_path))})


@sqlite_only
@pytest.mark.parametrize(
    "name",
    [
        "../../x.wav",
        "/tmp/x.wav",
        "..\\..\\x.wav",
        "C:\\calls\\x.wav",
        "x\x00.wav",
        "x\r\n.wav",
        ".hidden.wav",
        "a" * 300 + ".wav",
        " ",
    ],
)
def test_path_traversal_in_file_names_is_refused(abuse, tmp_path, name):
    problem = abuse(422, "bad_name", None, files={"files": (name, wav(tmp_path), "audio/wav")})
    assert problem["detail"].startswith(problem["file"][:40])
    assert "file name refused" in problem["detail"]
    assert not (tmp_path / "x.wav").exists() and not Path("/tmp/x.wav").exists()


@sqlite_only
@pytest.mark.parametrize(
    "raw",
    [b"", b"../../x.wav", b"x\x00.wav", b"..\\\\x.wav", "/ev\u0131l/x.wav".encode(), b"a" * 5000],
)
def test_raw_names_are_refused_too(abuse, tmp_path, raw):
    body = multipart(("files", raw, wav(tmp_path)))
    problem = abuse(422, problem_reason(raw), None, content=body, headers=FORM)
    assert problem["status"] == 422


def problem_reason(raw: bytes) -> str:
    return "bad_form" if len(raw) > 4000 else "bad_name"


@sqlite_only
def test_many_files_at_once_are_refused(abuse, tmp_path):
    one = wav(tmp_path, 0.2)
    files = [("files", (f"{i}.wav", one, "audio/wav")) for i in range(5)]
    problem = abuse(413, "too_many_files", "3.wav", files=files)
    assert "more than 3 recordings" in problem["detail"]
    parts = [("other", None, b"x")] * 10  # a flood of small parts
    abuse(422, "bad_form", None, content=multipart(*parts), headers=FORM)
    parts = [("metadata", b"calls.csv", b"call_id\n")] * 10
    abuse(422, "bad_metadata", None, content=multipart(*parts), headers=FORM)


@sqlite_only
def test_malformed_requests_are_refused(abuse, tmp_path):
    one = wav(tmp_path, 0.2)
    abuse(415, "not_multipart", None, json={"files": ["a.wav"]})
    abuse(422, "no_files", None, content=multipart(), headers=FORM)
    cut = multipart(("files", b"a.wav", one))[:-30]  # no closing boundary
    abuse(422, "bad_form", None, content=cut, headers=FORM)
    abuse(422, "bad_form", None, content=b"garbage" * 100, headers=FORM)
    abuse(422, "bad_form", None, content=multipart(("files", None, one)), headers=FORM)
    twice = [("files", ("a.wav", one)), ("files", ("a.wav", one))]
    abuse(422, "duplicate_name", "a.wav", files=twice)


@sqlite_only
def test_bad_metadata_is_refused(make_client, admin, tmp_path, store):
    abuse = Abuse(make_client(max_request_bytes=3_000_000), admin, tmp_path, store)
    one = wav(tmp_path, 0.2)
    csv = b"audio_file,call_id\nsomeone-else.wav,X\n"
    problem = abuse(
        422,
        "bad_metadata",
        "calls.csv",
        files=[("files", ("a.wav", one)), ("metadata", ("calls.csv", csv))],
    )
    assert "'someone-else.wav' is not an uploaded file" in problem["detail"]
    big = b"call_id\n" + b"x" * 2_000_000
    abuse(
        413,
        "metadata_too_large",
        "calls.csv",
        files=[("files", ("a.wav", one)), ("metadata", ("calls.csv", big))],
    )
