"""Archive discovery for the nightly batch: which recordings exist and what is known of them.

Recording systems export one folder per night (``2026-11-16/``) holding the audio files
and a ``calls.csv`` with one row per call. `discover` walks an archive (nights may be
nested, e.g. ``site-a/2026/2026-11-16/``), joins each audio file to its CSV row and
returns one `CallMetadata` per recording plus a list of human-readable problems.

Nothing is ever refused for lack of metadata: a folder without ``calls.csv``, a file with
no row, or a row with empty cells still yields a call, with

- ``call_id`` from the file name (its stem),
- ``started_at`` from the file's modification time (UTC),
- ``channel_layout`` left None (the batch decides from the channel count),

and the names of the fields so derived in ``CallMetadata.derived``.

Safety: symlinks are never followed out of the archive root (symlinked folders are not
followed at all, so links cannot loop or count a night twice); an ``audio_file`` cell that
is absolute or climbs with ``..`` is refused as a problem and never opened; hidden entries
(names starting with ``.``) and files without an audio extension are ignored unless the
CSV names them; a call_id seen twice keeps its first recording (in started_at, path order)
and returns the others in `Discovery.duplicates` for the batch to quarantine.
"""

from __future__ import annotations

import csv
import logging
import os
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime, tzinfo
from pathlib import Path, PurePosixPath
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from engine.config import ChannelMap
from engine.errors import ConfigError
from engine.types import CallMetadata
from models.cache import sha256_of

__all__ = [
    "AUDIO_EXTENSIONS",
    "METADATA_FIELDS",
    "Discovery",
    "MetadataSchema",
    "content_hash",
    "discover",
]

log = logging.getLogger(__name__)

# callscope's metadata fields, each read from one CSV column (see MetadataSchema).
METADATA_FIELDS: tuple[str, ...] = (
    "call_id",
    "started_at",
    "customer_id",
    "agent_id",
    "queue",
    "channel_layout",
    "audio_file",
)

# File extensions (lower case, no dot) discovered as recordings even when no CSV row names
# them. Everything FFmpeg reads that recorders export; the decoder has the last word.
AUDIO_EXTENSIONS: frozenset[str] = frozenset(
    {
        "wav", "wave", "mp3", "flac", "ogg", "oga", "opus", "spx", "m4a", "mp4", "aac",
        "wma", "amr", "gsm", "au", "snd", "aif", "aiff", "aifc", "caf", "mka", "webm",
    }
)  # fmt: skip

_NIGHT_RE = re.compile(r"\d{4}-\d{2}-\d{2}")


# --------------------------------------------------------------------------------------
# Schema
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MetadataSchema:
    """Where callscope finds each metadata field in an archive's CSV files.

    call_id / started_at / customer_id / agent_id / queue / channel_layout / audio_file:
        the CSV column holding that field (defaults: the field's own name). Header names
        are matched ignoring case and surrounding spaces; a column missing from a CSV
        is reported once and the field is treated as empty.
    metadata_file: the CSV's file name in each night folder (default ``calls.csv``).
    audio_extensions: extensions (no dot, any case) of files discovered as recordings even
        when no CSV row names them (default `AUDIO_EXTENSIONS`).
    timezone: IANA zone of started_at values written without an offset (default UTC).

    Build one from keyword arguments, from a mapping (`from_mapping`) or from the CLI's
    ``"field=column,..."`` text (`parse`), e.g.
    ``"call_id=CallID,started_at=StartTime,audio_file=File,audio_extensions=wav|mp3"``.
    """

    call_id: str = "call_id"
    started_at: str = "started_at"
    customer_id: str = "customer_id"
    agent_id: str = "agent_id"
    queue: str = "queue"
    channel_layout: str = "channel_layout"
    audio_file: str = "audio_file"
    metadata_file: str = "calls.csv"
    audio_extensions: frozenset[str] = AUDIO_EXTENSIONS
    timezone: str = "UTC"

    def __post_init__(self) -> None:
        columns = [getattr(self, name) for name in METADATA_FIELDS]
        for name, column in zip(METADATA_FIELDS, columns, strict=True):
            if not isinstance(column, str) or not column.strip():
                raise ConfigError(f"metadata column for {name!r} must be a non-empty name")
        folded = [c.strip().casefold() for c in columns]
        clash = sorted({c for c in folded if folded.count(c) > 1})
        if clash:
            raise ConfigError(f"metadata columns must be distinct; used twice: {', '.join(clash)}")
        name = self.metadata_file
        if not name or name in (".", "..") or "/" in name or "\\" in name or "\0" in name:
            raise ConfigError(f"metadata_file must be a plain file name, got {name!r}")
        given: Iterable[str] = self.audio_extensions
        if isinstance(given, str):  # "wav|mp3" rather than a collection
            given = re.split(r"[|;,\s]+", given)
        exts = frozenset(e.strip().lower().lstrip(".") for e in given if e.strip())
        if not exts or "" in exts or any("/" in e or "\\" in e for e in exts):
            raise ConfigError(
                f"audio_extensions must be non-empty extensions, got {self.audio_extensions!r}"
            )
        object.__setattr__(self, "audio_extensions", exts)
        self.zone()  # fail now, not on the first naive timestamp

    def column(self, name: str) -> str:
        """The CSV column of metadata field `name` (one of METADATA_FIELDS)."""
        if name not in METADATA_FIELDS:
            raise ConfigError(
                f"unknown metadata field {name!r}; known: {', '.join(METADATA_FIELDS)}"
            )
        return str(getattr(self, name))

    def zone(self) -> tzinfo:
        """The zone assumed for started_at values without an offset."""
        if self.timezone.upper() == "UTC":
            return UTC
        try:
            return ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ConfigError(f"unknown timezone {self.timezone!r}") from exc

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, str | Iterable[str]]) -> MetadataSchema:
        """A schema from {field: column} plus optional metadata_file, audio_extensions
        (an iterable, or one string separated by ``|``, ``;`` or spaces) and timezone."""
        known = {f.name for f in fields(cls)}
        values: dict[str, object] = {}
        for key, value in mapping.items():
            name = key.strip()
            if name not in known:
                raise ConfigError(
                    f"unknown metadata field {key!r}; known: {', '.join(sorted(known))}"
                )
            if name == "audio_extensions":
                values[name] = value if isinstance(value, str) else frozenset(value)
            elif isinstance(value, str):
                values[name] = value.strip()
            else:
                raise ConfigError(f"metadata field {name!r} needs a column name, got {value!r}")
        return cls(**values)  # type: ignore[arg-type]

    @classmethod
    def parse(cls, text: str) -> MetadataSchema:
        """A schema from the CLI's ``"field=column,field=column,..."`` (empty parts ignored)."""
        mapping: dict[str, str] = {}
        for part in text.split(","):
            if not part.strip():
                continue
            if "=" not in part:
                raise ConfigError(f"metadata schema part {part.strip()!r} is not field=column")
            key, value = (p.strip() for p in part.split("=", 1))
            if key in mapping:
                raise ConfigError(f"metadata field {key!r} given twice in {text!r}")
            mapping[key] = value
        return cls.from_mapping(mapping)

    def is_audio_name(self, name: str) -> bool:
        """Whether a file name has one of the audio extensions."""
        _, dot, ext = name.rpartition(".")
        return bool(dot) and ext.lower() in self.audio_extensions


# --------------------------------------------------------------------------------------
# Discovery result
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Discovery:
    """What `discover` found.

    calls: one per recording to process, sorted by started_at then path.
    duplicates: recordings whose call_id an earlier call already has (to quarantine).
    problems: metadata problems to report, one sentence each, paths relative to the root.
    """

    calls: tuple[CallMetadata, ...]
    duplicates: tuple[CallMetadata, ...] = ()
    problems: tuple[str, ...] = ()


def content_hash(path: Path) -> str:
    """SHA-256 (hex) of a file's bytes, read in chunks; raises OSError when unreadable."""
    return sha256_of(path)


# --------------------------------------------------------------------------------------
# Walking the archive
# --------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Folder:
    """One folder of the archive: its audio files and whether it holds the metadata CSV."""

    rel: PurePosixPath
    audio: list[str] = field(default_factory=list)  # names of audio-extension files
    has_csv: bool = False


@dataclass(frozen=True, slots=True)
class _Problem:
    text: str
    day: date | None = None  # the date the problem concerns (for `since`); None: always shown


@dataclass(frozen=True, slots=True)
class _Found:
    meta: CallMetadata
    day: date  # the date `since` compares


def _night_date(name: str) -> date | None:
    if not _NIGHT_RE.fullmatch(name):
        return None
    try:
        return date.fromisoformat(name)
    except ValueError:
        return None


def _printable(name: str) -> bool:
    """Whether a name is valid Unicode (os gives undecodable bytes as lone surrogates)."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class _Walker:
    def __init__(self, root: Path, schema: MetadataSchema) -> None:
        self.root = root  # absolute, as given (links in its own path are kept)
        self.real_root = root.resolve()
        self.schema = schema
        self.problems: list[_Problem] = []
        self.folders: list[_Folder] = []  # parents before their subfolders
        self.claimed: set[PurePosixPath] = set()  # files (relative to root) a CSV row named

    def problem(self, text: str, day: date | None = None) -> None:
        self.problems.append(_Problem(text, day))

    def inside(self, path: Path) -> bool:
        """Whether a path, with every link resolved, lies inside the archive root."""
        try:
            real = path.resolve(strict=True)
        except (OSError, RuntimeError):
            return False
        return real == self.real_root or self.real_root in real.parents

    def walk(self, rel: PurePosixPath) -> None:
        folder = self.root / rel
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            self.problem(f"{_folder_label(rel)}: cannot list folder: {exc.strerror or exc}")
            return
        here = _Folder(rel)
        subfolders: list[PurePosixPath] = []
        for entry in entries:
            name = entry.name
            if name.startswith("."):
                continue
            if not _printable(name):
                self.problem(f"{rel / ascii(name)[1:-1]}: name is not valid UTF-8; ignored")
                continue
            try:
                if entry.is_symlink():
                    self._link(here, entry, rel / name)
                elif entry.is_dir(follow_symlinks=False):
                    subfolders.append(rel / name)
                elif entry.is_file(follow_symlinks=False):
                    if name == self.schema.metadata_file:
                        here.has_csv = True
                    elif self.schema.is_audio_name(name):
                        here.audio.append(name)
            except OSError as exc:
                self.problem(f"{rel / name}: cannot inspect: {exc.strerror or exc}")
        if here.audio or here.has_csv:
            self.folders.append(here)
        for sub in subfolders:
            self.walk(sub)

    def _link(self, here: _Folder, entry: os.DirEntry[str], rel: PurePosixPath) -> None:
        path = self.root / rel
        if not self.inside(path):
            if path.exists():
                self.problem(f"{rel}: symlink points outside the archive; ignored")
            elif self.schema.is_audio_name(entry.name):
                self.problem(f"{rel}: broken symlink; ignored")
            return
        if path.is_dir():
            log.debug("not following symlinked folder %s", rel)
            return
        if not path.is_file():
            return
        if entry.name == self.schema.metadata_file:
            here.has_csv = True
        elif self.schema.is_audio_name(entry.name):
            here.audio.append(entry.name)


# --------------------------------------------------------------------------------------
# Reading one folder
# --------------------------------------------------------------------------------------


def _lookup(names: Iterable[str]) -> dict[str, str]:
    """NFC-normalised name -> actual name, so a CSV in one normal form finds the other."""
    table: dict[str, str] = {}
    for name in names:
        table.setdefault(unicodedata.normalize("NFC", name), name)
    return table


class _FolderReader:
    """Joins one folder's audio files to its CSV rows."""

    def __init__(self, walker: _Walker, folder: _Folder) -> None:
        self.w = walker
        self.schema = walker.schema
        self.folder = folder
        self.path = walker.root / folder.rel
        name = folder.rel.name
        self.night_date = _night_date(name)
        self.night: str | None = (
            name if self.night_date is not None else (str(folder.rel) if folder.rel.parts else None)
        )
        self.found: list[_Found] = []
        self._nfc: dict[str, str] | None = None  # NFC name -> name on disk, built on demand
        self._stems: dict[str, list[str]] | None = None  # file stem -> names, built on demand

    def rel(self, inner: PurePosixPath | str) -> PurePosixPath:
        return self.folder.rel / inner

    # -- CSV ---------------------------------------------------------------------------

    def read(self) -> None:
        rows = self._rows() if self.folder.has_csv else None
        if rows is not None:
            for line, row in rows:
                self._row(line, row)
        unclaimed = [n for n in self.folder.audio if self.rel(n) not in self.w.claimed]
        if rows is None and unclaimed:
            label = _folder_label(self.folder.rel)
            why = "unusable" if self.folder.has_csv else "missing"
            self.w.problem(
                f"{label}: {self.schema.metadata_file} {why}; metadata of "
                f"{len(unclaimed)} recording(s) derived from the files",
                self.night_date,
            )
        for name in unclaimed:
            inner = PurePosixPath(name)
            if rows is not None:
                self.w.problem(
                    f"{self.rel(name)}: no row in {self.schema.metadata_file}; metadata derived",
                    self.night_date,
                )
            self._add(inner, {})

    def _rows(self) -> list[tuple[int, dict[str, str]]] | None:
        """The CSV's rows as {field: value} (empty cells dropped), or None when unusable."""
        csv_rel = self.rel(self.schema.metadata_file)
        try:
            with (self.path / self.schema.metadata_file).open(
                encoding="utf-8-sig", newline=""
            ) as fh:
                reader = csv.reader(fh)
                header = next(reader, None)
                if header is None:
                    self.w.problem(f"{csv_rel}: empty file", self.night_date)
                    return None
                index = {h.strip().casefold(): i for i, h in reversed(list(enumerate(header)))}
                where: dict[str, int] = {}
                missing: list[str] = []
                for name in METADATA_FIELDS:
                    column = self.schema.column(name)
                    if column.strip().casefold() in index:
                        where[name] = index[column.strip().casefold()]
                    else:
                        missing.append(f"{column} ({name})" if column != name else name)
                if "call_id" not in where and "audio_file" not in where:
                    self.w.problem(
                        f"{csv_rel}: has neither the call_id column "
                        f"{self.schema.call_id!r} nor the audio_file column "
                        f"{self.schema.audio_file!r}; header is {header}",
                        self.night_date,
                    )
                    return None
                if missing:
                    self.w.problem(
                        f"{csv_rel}: missing column(s) {', '.join(missing)}; treated as empty",
                        self.night_date,
                    )
                rows: list[tuple[int, dict[str, str]]] = []
                for cells in reader:
                    if not any(c.strip() for c in cells):
                        continue  # blank line
                    values = {
                        name: cells[i].strip()
                        for name, i in where.items()
                        if i < len(cells) and cells[i].strip()
                    }
                    rows.append((reader.line_num, values))
                return rows
        except UnicodeDecodeError as exc:
            self.w.problem(f"{csv_rel}: not UTF-8 text ({exc.reason})", self.night_date)
        except csv.Error as exc:
            self.w.problem(f"{csv_rel}: unreadable CSV: {exc}", self.night_date)
        except OSError as exc:
            self.w.problem(f"{csv_rel}: cannot read: {exc.strerror or exc}", self.night_date)
        return None

    # -- rows --------------------------------------------------------------------------

    def _row_day(self, values: Mapping[str, str]) -> date | None:
        started = _parse_time(values.get("started_at", ""), self.schema.zone())
        return started.date() if started is not None else self.night_date

    def _row(self, line: int, values: dict[str, str]) -> None:
        where = f"{self.rel(self.schema.metadata_file)} line {line}"
        call_id = values.get("call_id")
        if call_id:
            where += f" (call {call_id})"
        day = self._row_day(values)
        inner = self._audio_of(where, values, day)
        if inner is None:
            return
        if self.rel(inner) in self.w.claimed:
            self.w.problem(f"{where}: {self.rel(inner)} is listed again; row ignored", day)
            return
        self.w.claimed.add(self.rel(inner))
        self._add(inner, values, where)

    def _audio_of(
        self, where: str, values: Mapping[str, str], day: date | None
    ) -> PurePosixPath | None:
        """The row's audio file relative to this folder, when it is safe and exists."""
        text = values.get("audio_file")
        if text is None:
            if self._stems is None:
                self._stems = {}
                for name in self.folder.audio:
                    self._stems.setdefault(PurePosixPath(name).stem, []).append(name)
            named = self._stems.get(values.get("call_id", ""), [])
            stems = [n for n in named if self.rel(n) not in self.w.claimed]
            if len(stems) == 1:
                return PurePosixPath(stems[0])
            self.w.problem(f"{where}: no audio_file and no single file named after the call", day)
            return None
        inner = PurePosixPath(text)
        if inner.is_absolute() or ".." in inner.parts or text.startswith("\\"):
            self.w.problem(f"{where}: audio_file {text!r} leaves the folder; refused", day)
            return None
        if not inner.parts:
            self.w.problem(f"{where}: audio_file {text!r} is not a file name", day)
            return None
        inner = self._actual_name(inner)
        path = self.path / inner
        if not self.w.inside(path):
            if path.exists():  # through a symlink (the file or a folder on the way)
                self.w.problem(
                    f"{where}: {self.rel(inner)} leads outside the archive through a symlink; "
                    "refused",
                    day,
                )
            else:
                self.w.problem(f"{where}: audio file {self.rel(inner)} is missing", day)
            return None
        if not path.is_file():
            self.w.problem(f"{where}: {self.rel(inner)} is not a file", day)
            return None
        return inner

    def _actual_name(self, inner: PurePosixPath) -> PurePosixPath:
        """The file as it is spelt on disk when the CSV uses another Unicode normal form."""
        if len(inner.parts) != 1 or (self.path / inner).exists():
            return inner
        if self._nfc is None:
            self._nfc = _lookup(self.folder.audio)
        actual = self._nfc.get(unicodedata.normalize("NFC", inner.name))
        return PurePosixPath(actual) if actual is not None else inner

    # -- one call ----------------------------------------------------------------------

    def _add(self, inner: PurePosixPath, values: Mapping[str, str], where: str = "") -> None:
        path = self.path / inner
        rel = self.rel(inner)
        derived: list[str] = []
        call_id = values.get("call_id")
        if not call_id:
            call_id = inner.stem
            derived.append("call_id")
        started: datetime | None = None
        raw_time = values.get("started_at")
        if raw_time is not None:
            started = _parse_time(raw_time, self.schema.zone())
            if started is None:
                self.w.problem(
                    f"{where}: started_at {raw_time!r} is not an ISO 8601 time; "
                    "file time used instead",
                    self.night_date,
                )
        day = started.date() if started is not None else None
        if started is None:
            try:
                mtime = path.stat().st_mtime
            except OSError:
                mtime = 0.0
            started = datetime.fromtimestamp(mtime, tz=UTC)
            derived.append("started_at")
            day = self.night_date or started.date()
        assert day is not None
        layout = values.get("channel_layout")
        if layout is not None and layout.lower().startswith("stereo") and "=" in layout:
            try:
                ChannelMap.parse(layout)
            except ConfigError as exc:
                self.w.problem(f"{where or rel}: channel_layout ignored: {exc}", day)
                layout = None
        meta = CallMetadata(
            call_id=call_id,
            path=str(path),
            night=self.night,
            started_at=started,
            customer_id=values.get("customer_id"),
            agent_id=values.get("agent_id"),
            queue=values.get("queue"),
            channel_layout=layout,
            derived=tuple(derived),
        )
        self.found.append(_Found(meta, day))


def _folder_label(rel: PurePosixPath) -> str:
    return str(rel) if rel.parts else "archive root"


def _parse_time(text: str, zone: tzinfo) -> datetime | None:
    """An ISO 8601 time (``Z`` and a space separator accepted); naive ones get `zone`."""
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone)
    return value


# --------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------


_DEFAULT_SCHEMA = MetadataSchema()


def discover(
    archive: Path, schema: MetadataSchema = _DEFAULT_SCHEMA, since: date | None = None
) -> Discovery:
    """Every recording under `archive` with its metadata (see the module docstring).

    since: keep only calls on or after this date: the date of started_at when the
    metadata gives it, else the night folder's date, else the file time's (UTC) date.
    Problems about calls (or folders of nights) before `since` are left out too.
    Raises ConfigError when `archive` is not a folder.
    """
    root = Path(os.path.abspath(archive))
    if not root.is_dir():
        raise ConfigError(f"{archive}: not a folder")
    walker = _Walker(root, schema)
    walker.walk(PurePosixPath())
    found: list[_Found] = []
    for folder in walker.folders:
        reader = _FolderReader(walker, folder)
        reader.read()
        found.extend(reader.found)
    if since is not None:
        found = [f for f in found if f.day >= since]
    found.sort(key=lambda f: (f.meta.started_at or datetime.min.replace(tzinfo=UTC), f.meta.path))
    calls: list[CallMetadata] = []
    duplicates: list[CallMetadata] = []
    first: dict[str, CallMetadata] = {}
    seen_files: dict[Path, CallMetadata] = {}  # real path -> call (links inside the archive)
    for item in found:
        meta = item.meta
        real = Path(meta.path).resolve()
        same = seen_files.setdefault(real, meta)
        if same is not meta:
            walker.problem(
                f"{_relative(root, meta.path)}: same file as {_relative(root, same.path)} "
                f"(call {same.call_id!r}); not processed twice",
                item.day,
            )
            continue
        earlier = first.get(meta.call_id)
        if earlier is None:
            first[meta.call_id] = meta
            calls.append(meta)
            continue
        duplicates.append(meta)
        walker.problem(
            f"{_relative(root, meta.path)}: duplicate call_id {meta.call_id!r} "
            f"(first: {_relative(root, earlier.path)}); not processed",
            item.day,
        )
    problems = tuple(
        p.text for p in walker.problems if since is None or p.day is None or p.day >= since
    )
    log.info(
        "discovered %d recordings (%d duplicates) in %s; %d metadata problems",
        len(calls),
        len(duplicates),
        root,
        len(problems),
    )
    return Discovery(tuple(calls), tuple(duplicates), problems)


def _relative(root: Path, path: str) -> str:
    try:
        return str(Path(path).relative_to(root))
    except ValueError:
        return path
