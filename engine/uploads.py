"""Recordings uploaded through the API, received straight into one folder of the upload area.

Nothing a client sends is trusted:

- Names: a client's file name is a label, never a path. It is checked (no ``/`` or ``\\``,
  no control or format characters, no leading dot, at most `UploadLimits.max_name_chars`)
  and then only kept in the job's record; the file is stored as ``NNN-<ascii stem>.<ext>``
  with the extension of the container its bytes announce, in the job's own folder.
- Content: the first bytes must announce an accepted audio container (`sniff`), whatever
  the extension or Content-Type claimed; a finished file must then pass `engine.audio.probe`
  (it opens as audio, a usable rate and channel count, at most ``max_audio_seconds``).
- Size: each file and its metadata are counted as they arrive and refused the moment they
  pass their cap (the caller counts the whole request); the number of recordings is capped
  before a file over it is opened.
- Metadata: an optional ``calls.csv`` with the batch's columns (`engine.archive`), matched
  to the uploaded files by their client names (``audio_file``) or stems (``call_id``), then
  written again into the folder naming the stored files, one row per recording.

Any refusal raises `UploadRefused` naming the file and the reason; ``UploadFolder.discard``
then removes the folder, so a refused upload leaves nothing behind. Files are created with
``O_EXCL | O_NOFOLLOW`` and mode 0600, only ever inside the job's folder.
"""

from __future__ import annotations

import csv
import io
import logging
import os
import re
import shutil
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from engine.archive import METADATA_FIELDS
from engine.audio import SNIFF_BYTES, container_of, probe
from engine.config import AudioOptions
from engine.errors import AudioError, CallscopeError, ConfigError
from engine.store.jobs import JobFile, is_job_id

__all__ = [
    "METADATA_NAME",
    "UPLOAD_TYPES",
    "UploadArea",
    "UploadFolder",
    "UploadLimits",
    "UploadRefused",
    "check_name",
    "sniff",
]

log = logging.getLogger(__name__)

METADATA_NAME = "calls.csv"
"""The metadata file's name, in an upload and in the job's folder."""

# Container (as `engine.audio.container_of` names it) -> the extension a stored file gets.
_EXTENSIONS: dict[str, str] = {
    "WAV": "wav",
    "FLAC": "flac",
    "Ogg": "ogg",
    "MP3": "mp3",
    "AAC": "aac",
    "MP4/M4A": "m4a",
    "AMR": "amr",
    "AIFF": "aiff",
    "AU": "au",
    "CAF": "caf",
    "ASF/WMA": "wma",
}

UPLOAD_TYPES: frozenset[str] = frozenset(_EXTENSIONS)
"""Every container an upload may be (names as `sniff` gives them)."""

SIZE_REASONS = frozenset(
    {"too_large", "request_too_large", "too_many_files", "metadata_too_large", "too_long"}
)
"""Refusals for going over a limit (HTTP 413); the others are about the content (422)."""


@dataclass(frozen=True)
class UploadLimits:
    """What one upload may hold.

    max_file_bytes: the most bytes one recording may have (default 1 GiB).
    max_files: the most recordings in one upload (default 100).
    max_audio_seconds: the longest recording accepted (default 4 h, as ``callscope run``).
    audio_types: the containers accepted (default `UPLOAD_TYPES`, every one `sniff` knows).
    max_metadata_bytes: the most bytes the ``calls.csv`` may have (default 1 MiB).
    max_name_chars: the longest client file name accepted (default 200 characters).
    """

    max_file_bytes: int = 1024**3
    max_files: int = 100
    max_audio_seconds: float = 4 * 3600.0
    audio_types: frozenset[str] = UPLOAD_TYPES
    max_metadata_bytes: int = 1024**2
    max_name_chars: int = 200

    def __post_init__(self) -> None:
        unknown = set(self.audio_types) - UPLOAD_TYPES
        if unknown:
            raise ConfigError(
                f"unknown audio types {sorted(unknown)}; known: {', '.join(sorted(UPLOAD_TYPES))}"
            )
        if self.max_file_bytes < 1 or self.max_files < 1 or self.max_audio_seconds <= 0:
            raise ConfigError("upload limits must be positive")


_DEFAULT_LIMITS = UploadLimits()


class UploadRefused(CallscopeError):
    """An upload refused: ``reason`` is a stable code, ``name`` the client's file name."""

    def __init__(self, reason: str, detail: str, name: str | None = None) -> None:
        self.reason = reason
        self.detail = detail
        self.name = name
        super().__init__(f"{name}: {detail}" if name is not None else detail)

    @property
    def too_large(self) -> bool:
        """Whether a limit was passed (rather than the content being wrong)."""
        return self.reason in SIZE_REASONS


def sniff(head: bytes) -> str | None:
    """The audio container a file's first bytes announce, or None: the containers of
    `engine.audio.container_of`, plus MP3 and AAC (ADTS) streams from their frame sync."""
    kind = container_of(head)
    if kind is not None:
        return kind
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:
        layer = (head[1] >> 1) & 0b11
        if layer == 0 and head[1] & 0xF0 == 0xF0:
            return "AAC"
        if layer != 0 and (head[1] >> 3) & 0b11 != 0b01:  # a layer and a valid MPEG version
            return "MP3"
    return None


def _shown(name: str) -> str:
    """A name as it can be quoted in a message (control characters escaped)."""
    return ascii(name)[1:-1] if any(unicodedata.category(c).startswith("C") for c in name) else name


def check_name(raw: str, limits: UploadLimits = _DEFAULT_LIMITS) -> str:
    """The client's file name when it is a plain name (NFC), else raises UploadRefused."""
    name = unicodedata.normalize("NFC", raw)
    shown = _shown(name)[:80]

    def refuse(why: str) -> UploadRefused:
        return UploadRefused("bad_name", f"file name refused: {why}", shown)

    if not name.strip():
        raise refuse("empty")
    if len(name) > limits.max_name_chars:
        raise refuse(f"longer than {limits.max_name_chars} characters ({len(name)})")
    if "/" in name or "\\" in name:
        raise refuse("it contains a path separator; send a file name, not a path")
    if any(unicodedata.category(c).startswith("C") for c in name):
        raise refuse("it contains control or format characters")
    if name.startswith(".") or name != name.strip():
        raise refuse("it starts with a dot or a space, or ends with a space")
    return name


def _ascii_stem(name: str) -> str:
    stem = PurePosixPath(name).stem
    folded = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode()
    return re.sub(r"[^A-Za-z0-9_-]+", "_", folded).strip("_")[:48] or "recording"


@dataclass
class _Receiving:
    """A recording being received: its first bytes are held until the container is known."""

    name: str
    index: int
    size: int = 0
    head: bytearray = field(default_factory=bytearray)
    stored: str | None = None
    container: str | None = None
    fh: BinaryIO | None = None


class UploadFolder:
    """One upload's folder: recordings written as their bytes arrive, then checked.

    Drive it part by part: ``begin_file(name)`` (or ``begin_metadata()``), ``write(data)``
    as often as data comes, ``end_part()``; then ``finish()`` for the recordings. Any of
    these may raise UploadRefused; call ``discard()`` then (or on any other error).
    """

    def __init__(self, path: Path, limits: UploadLimits) -> None:
        self.path = path
        self.limits = limits
        self.files: list[JobFile] = []
        self._names: set[str] = set()
        self._current: _Receiving | None = None
        self._metadata: bytearray | None = None
        self._in_metadata = False
        path.mkdir(mode=0o700)

    # -- receiving -----------------------------------------------------------------------

    @property
    def count(self) -> int:
        """Recordings received or being received."""
        return len(self.files) + (self._current is not None)

    def begin_file(self, raw_name: str) -> None:
        name = check_name(raw_name, self.limits)
        if name.casefold() == METADATA_NAME:
            self.begin_metadata()
            return
        if self.count >= self.limits.max_files:
            raise UploadRefused(
                "too_many_files",
                f"more than {self.limits.max_files} recordings in one upload; send fewer at a time",
                _shown(name),
            )
        if name in self._names:
            raise UploadRefused("duplicate_name", "the same file name is sent twice", name)
        self._names.add(name)
        self._current = _Receiving(name, len(self.files) + 1)

    def begin_metadata(self) -> None:
        if self._metadata is not None:
            raise UploadRefused("bad_metadata", "sent twice", METADATA_NAME)
        self._metadata = bytearray()
        self._in_metadata = True

    def write(self, data: bytes) -> None:
        if self._in_metadata:
            assert self._metadata is not None
            if len(self._metadata) + len(data) > self.limits.max_metadata_bytes:
                raise UploadRefused(
                    "metadata_too_large",
                    f"larger than the limit of {self.limits.max_metadata_bytes} bytes",
                    METADATA_NAME,
                )
            self._metadata += data
            return
        cur = self._current
        if cur is None:
            raise UploadRefused("bad_form", "data outside a file part")
        if cur.size + len(data) > self.limits.max_file_bytes:
            raise UploadRefused(
                "too_large",
                f"larger than the limit of {self.limits.max_file_bytes} bytes per file",
                cur.name,
            )
        cur.size += len(data)
        if cur.fh is None:
            cur.head += data
            if len(cur.head) >= SNIFF_BYTES:
                self._open(cur)
        else:
            cur.fh.write(data)

    def _open(self, cur: _Receiving) -> None:
        """Check the first bytes, then create the stored file and write what came so far."""
        head = bytes(cur.head)
        if not head:
            raise UploadRefused("empty", "the file is empty (0 bytes)", cur.name)
        kind = sniff(head[:SNIFF_BYTES])
        if kind is None:
            raise UploadRefused(
                "not_audio",
                f"not a recognised audio file (it starts with {head[:8]!r}); the name and "
                "content type are not trusted, only the bytes",
                cur.name,
            )
        if kind not in self.limits.audio_types:
            raise UploadRefused(
                "type_not_allowed",
                f"{kind} files are not accepted here "
                f"(accepted: {', '.join(sorted(self.limits.audio_types))})",
                cur.name,
            )
        cur.container = kind
        cur.stored = f"{cur.index:03d}-{_ascii_stem(cur.name)}.{_EXTENSIONS[kind]}"
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
        fd = os.open(self.path / cur.stored, flags, 0o600)
        cur.fh = os.fdopen(fd, "wb")
        cur.fh.write(head)
        cur.head = bytearray()

    def end_part(self) -> None:
        if self._in_metadata:
            self._in_metadata = False
            return
        cur = self._current
        if cur is None:
            return
        if cur.fh is None:
            self._open(cur)
        assert cur.fh is not None and cur.stored is not None and cur.container is not None
        cur.fh.close()
        self._current = None
        options = AudioOptions(
            max_duration_s=self.limits.max_audio_seconds, max_size_bytes=self.limits.max_file_bytes
        )
        try:
            info = probe(self.path / cur.stored, options)
        except AudioError as exc:  # FFmpeg's words may hold the server path: never show it
            detail = exc.detail.replace(str(self.path / cur.stored), cur.name)
            detail = detail.replace(str(self.path), "…")
            raise UploadRefused(exc.problem.value, detail, cur.name) from None
        if info.duration > self.limits.max_audio_seconds:  # a WAV header stating more than it holds
            raise UploadRefused(
                "too_long",
                f"the file states a duration of {info.duration:.1f} s, over the limit of "
                f"{self.limits.max_audio_seconds:.1f} s",
                cur.name,
            )
        self.files.append(
            JobFile(
                name=cur.name,
                stored=cur.stored,
                call_id=PurePosixPath(cur.name).stem or cur.name,
                size_bytes=cur.size,
                duration=info.duration,
                container=cur.container,
            )
        )

    # -- the end -------------------------------------------------------------------------

    def finish(self) -> tuple[JobFile, ...]:
        """The recordings, with call_ids from the metadata; writes the folder's calls.csv."""
        if self._current is not None or self._in_metadata:
            raise UploadRefused("bad_form", "the upload ended in the middle of a file")
        if not self.files:
            raise UploadRefused(
                "no_files", "no recordings: send one or more audio files as 'files' parts"
            )
        values = self._metadata_rows() if self._metadata is not None else {}
        files: list[JobFile] = []
        seen: dict[str, str] = {}
        for f in self.files:
            row = values.get(f.name, {})
            call_id = row.get("call_id") or f.call_id
            if call_id in seen:
                raise UploadRefused(
                    "duplicate_call_id",
                    f"call_id {call_id!r} is also the call_id of {seen[call_id]!r}",
                    f.name,
                )
            seen[call_id] = f.name
            files.append(JobFile(f.name, f.stored, call_id, f.size_bytes, f.duration, f.container))
        self._write_metadata(files, values)
        log.info("received %d recordings into %s", len(files), self.path)
        return tuple(files)

    def _metadata_rows(self) -> dict[str, dict[str, str]]:
        """Client file name -> the metadata of its calls.csv row (empty cells dropped)."""
        assert self._metadata is not None

        def refuse(why: str) -> UploadRefused:
            return UploadRefused("bad_metadata", why, METADATA_NAME)

        try:
            text = bytes(self._metadata).decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise refuse(f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
        try:
            table = list(csv.reader(io.StringIO(text, newline="")))
        except csv.Error as exc:
            raise refuse(f"unreadable CSV: {exc}") from None
        if not table:
            raise refuse("empty file")
        index = {h.strip().casefold(): i for i, h in reversed(list(enumerate(table[0])))}
        where = {name: index[name] for name in METADATA_FIELDS if name in index}
        if "call_id" not in where and "audio_file" not in where:
            raise refuse(f"needs an audio_file or a call_id column; the header is {table[0]}")
        by_name = {f.name: f for f in self.files}
        by_stem: dict[str, list[str]] = {}
        for f in self.files:
            by_stem.setdefault(f.call_id, []).append(f.name)
        rows: dict[str, dict[str, str]] = {}
        for line, cells in enumerate(table[1:], start=2):
            if not any(c.strip() for c in cells):
                continue
            row = {
                name: unicodedata.normalize("NFC", cells[i].strip())
                for name, i in where.items()
                if i < len(cells) and cells[i].strip()
            }
            if "audio_file" in row:
                target = row["audio_file"]
                if target not in by_name:
                    raise refuse(f"line {line}: audio_file {target!r} is not an uploaded file")
            else:
                named = by_stem.get(row.get("call_id", ""), [])
                if len(named) != 1:
                    raise refuse(
                        f"line {line}: no audio_file, and no single uploaded file is named "
                        f"after call {row.get('call_id', '')!r}"
                    )
                target = named[0]
            if target in rows:
                raise refuse(f"line {line}: {target!r} has a row already")
            call_id = row.get("call_id", "")
            if len(call_id) > self.limits.max_name_chars or any(
                unicodedata.category(c).startswith("C") for c in call_id
            ):
                raise refuse(f"line {line}: call_id {_shown(call_id)[:80]!r} is not usable")
            rows[target] = row
        return rows

    def _write_metadata(self, files: list[JobFile], values: dict[str, dict[str, str]]) -> None:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
        fd = os.open(self.path / METADATA_NAME, flags, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            out = csv.writer(fh)
            out.writerow(METADATA_FIELDS)
            for f in files:
                row = {**values.get(f.name, {}), "call_id": f.call_id, "audio_file": f.stored}
                out.writerow([row.get(name, "") for name in METADATA_FIELDS])

    def discard(self) -> None:
        """Remove the folder and everything received into it."""
        if self._current is not None and self._current.fh is not None:
            self._current.fh.close()
        self._current = None
        shutil.rmtree(self.path, ignore_errors=True)
        log.info("discarded the upload folder %s", self.path)


class UploadArea:
    """The folder uploads are received in: one sub-folder per upload job, named by its id."""

    def __init__(self, root: Path, limits: UploadLimits = _DEFAULT_LIMITS) -> None:
        self.root = Path(os.path.abspath(root))
        self.limits = limits

    def open(self, job_id: str) -> UploadFolder:
        """A new, empty folder for the upload of job ``job_id``."""
        if not is_job_id(job_id):
            raise ConfigError(f"{job_id!r} is not a job id")
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        return UploadFolder(self.root / job_id, self.limits)

    def sweep(self, is_job: Callable[[str], bool], older_than_s: float = 3600.0) -> int:
        """Remove folders of uploads that never became jobs (a server stopped mid-upload)
        and are older than ``older_than_s``; returns how many were removed."""
        if not self.root.is_dir():
            return 0
        removed = 0
        cutoff = time.time() - older_than_s
        for entry in self.root.iterdir():
            if not is_job_id(entry.name) or not entry.is_dir() or entry.is_symlink():
                continue
            if entry.stat().st_mtime < cutoff and not is_job(entry.name):
                shutil.rmtree(entry, ignore_errors=True)
                removed += 1
        if removed:
            log.warning("removed %d unfinished upload folders from %s", removed, self.root)
        return removed
