"""The API's settings: passed to ``create_app``; nothing is read at import time."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import make_url

from engine.store.connect import resolve_store_url
from engine.uploads import UPLOAD_TYPES, UploadLimits


@dataclass(frozen=True)
class ApiSettings:
    """store_url: the store the batch writes (None: the default embedded SQLite store);
    page_limit: the most calls one page may hold.

    Search and exports: search_model: the sentence model whose embeddings /v1/search uses
    (None: the one the store's embeddings were made with); sentence_device: where its query
    encoder runs (``cpu``, ``cuda`` or ``auto``); encoder_threads: PyTorch's CPU threads for
    it (1: a query is one short text, and more threads contend with the searches' matrix
    products; 0: PyTorch's default); search_preload: load the search index and
    encoder in the background at startup rather than at the first search (``callscope
    serve`` turns it on); search_check_seconds: the least time between two checks of the
    store for new embeddings (2.0); export_max_rows: the most rows one export may hold
    (1,000,000; more is refused with 413).

    Jobs and uploads: archive_roots: the server folders an archive job may name (a job's
    folder must resolve inside one; empty, the default: archive jobs are refused);
    upload_dir: where uploads are received, one folder per job (None: ``uploads`` beside the
    SQLite store's file, else ``callscope-data/uploads``); max_upload_bytes: the most bytes
    one uploaded file may have (1 GiB); max_request_bytes: the most bytes one upload request
    may have (4 GiB); max_files: the most recordings one upload may hold (100);
    max_audio_seconds: the longest recording an upload may hold (4 h, as ``callscope run``);
    audio_types: the containers uploads may be (``engine.uploads.UPLOAD_TYPES``: WAV, FLAC,
    Ogg, MP3, AAC, MP4/M4A, AMR, AIFF, AU, CAF, ASF/WMA), told by their bytes, never by name
    or content type; job_worker: run queued jobs in a background thread of this process
    (True; off, jobs wait for a process that runs them)."""

    store_url: str | None = None
    title: str = "callscope"
    page_limit: int = 200
    search_model: str | None = None
    sentence_device: str = "cpu"
    encoder_threads: int = 1
    search_preload: bool = False
    search_check_seconds: float = 2.0
    export_max_rows: int = 1_000_000
    # -- jobs and uploads (issue 5)
    archive_roots: tuple[Path, ...] = ()
    upload_dir: Path | None = None
    max_upload_bytes: int = 1024**3
    max_request_bytes: int = 4 * 1024**3
    max_files: int = 100
    max_audio_seconds: float = 4 * 3600.0
    audio_types: frozenset[str] = field(default=UPLOAD_TYPES)
    job_worker: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "archive_roots", tuple(Path(r) for r in self.archive_roots))
        if self.upload_dir is not None:
            object.__setattr__(self, "upload_dir", Path(self.upload_dir))
        object.__setattr__(self, "audio_types", frozenset(self.audio_types))
        self.upload_limits()  # fail now, not at the first upload

    def upload_folder(self) -> Path:
        """The upload area (see upload_dir)."""
        if self.upload_dir is not None:
            return self.upload_dir
        url = make_url(resolve_store_url(self.store_url))
        database = url.database or ""
        if url.get_backend_name() == "sqlite" and database and ":memory:" not in database:
            return Path(database).expanduser().parent / "uploads"
        return Path("callscope-data/uploads")

    def upload_limits(self) -> UploadLimits:
        return UploadLimits(
            max_file_bytes=self.max_upload_bytes,
            max_files=self.max_files,
            max_audio_seconds=self.max_audio_seconds,
            audio_types=self.audio_types,
        )
