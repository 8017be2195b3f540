"""Exports of the result store: tables as Parquet, CSV or JSON Lines, and per-call files.

``export`` writes ``<table>.<ext>`` into a folder for the tables ``calls`` (one row per call,
with its metadata and audio), ``utterances`` (one row per utterance: call_id, idx, speaker,
role, start, end, text, word_count), and, when the store has any, ``drivers`` and ``flags``
(filled by the analytics). ``calls`` and ``utterances`` are always written, even empty: a
header-only CSV, an empty JSONL file, a Parquet file with the schema and no rows; ``drivers``
and ``flags`` are skipped (and not listed) while empty. All tables are read in one snapshot of
the store, so a batch writing meanwhile never splits a call between files.

Every file is written to a temporary file in the same folder, fsynced and renamed over the
target, so readers see the previous export or the new one, never a half-written file.

Values: times in seconds as numbers; ``started_at`` and ``processed_at`` as UTC timestamps
(Parquet ``timestamp[us, UTC]``; ISO 8601 text in CSV and JSONL); missing values as null
(an empty CSV field; JSONL also writes a NaN or infinite number as null).
"""

from __future__ import annotations

import csv
import json
import logging
import math
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from itertools import islice
from pathlib import Path
from typing import Any, TextIO

import pyarrow as pa
import pyarrow.parquet as pq

from engine.errors import CallscopeError
from engine.files import atomic_file
from engine.store.calls import CallFilter
from engine.store.repo import ColumnKind, ExportView, Store
from engine.writers import write_outputs

__all__ = [
    "EXPORT_FORMATS",
    "EXPORT_TABLES",
    "ExportTooLarge",
    "export",
    "export_call_files",
    "export_filtered",
]

log = logging.getLogger(__name__)

EXPORT_FORMATS = ("parquet", "csv", "jsonl")
EXPORT_TABLES = ("calls", "utterances", "drivers", "flags")
ALWAYS_WRITTEN = ("calls", "utterances")
_BATCH_ROWS = 10_000

_ARROW_TYPES: dict[ColumnKind, pa.DataType] = {
    "str": pa.string(),
    "int": pa.int64(),
    "float": pa.float64(),
    "datetime": pa.timestamp("us", tz="UTC"),
}

Columns = Sequence[tuple[str, ColumnKind]]


def _text(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def _json_value(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None  # JSON has no NaN or infinity
    return _text(value)


def _write_parquet(fh: Any, columns: Columns, rows: Iterable[tuple[Any, ...]]) -> None:
    schema = pa.schema([(name, _ARROW_TYPES[kind]) for name, kind in columns])
    with pq.ParquetWriter(fh, schema) as writer:
        it = iter(rows)
        while batch := list(islice(it, _BATCH_ROWS)):
            arrays = [
                pa.array([row[i] for row in batch], type=schema.field(i).type)
                for i in range(len(columns))
            ]
            writer.write_table(pa.Table.from_arrays(arrays, schema=schema))


def _write_csv(fh: TextIO, columns: Columns, rows: Iterable[tuple[Any, ...]]) -> None:
    out = csv.writer(fh)
    out.writerow([name for name, _ in columns])
    for row in rows:
        out.writerow(["" if v is None else _text(v) for v in row])


def _write_jsonl(fh: TextIO, columns: Columns, rows: Iterable[tuple[Any, ...]]) -> None:
    names = [name for name, _ in columns]
    for row in rows:
        record = {name: _json_value(v) for name, v in zip(names, row, strict=True)}
        fh.write(json.dumps(record, ensure_ascii=False, allow_nan=False) + "\n")


_WRITERS: dict[str, tuple[bool, Callable[[Any, Columns, Iterable[tuple[Any, ...]]], None]]] = {
    "parquet": (True, _write_parquet),
    "csv": (False, _write_csv),
    "jsonl": (False, _write_jsonl),
}


class ExportTooLarge(CallscopeError):
    """An export that would hold more rows than allowed."""

    def __init__(self, table: str, rows: int, limit: int) -> None:
        self.table, self.rows, self.limit = table, rows, limit
        super().__init__(f"the export would hold {rows} {table} rows; the most is {limit}")


def _export_table(
    view: ExportView, table: str, path: Path, fmt: str, calls: CallFilter | None = None
) -> None:
    binary, write = _WRITERS[fmt]
    rows = view.rows(table) if calls is None else view.rows(table, calls=calls)
    with atomic_file(path, binary) as fh:
        write(fh, view.columns(table), rows)


def _check(fmt: str, tables: Sequence[str]) -> None:
    if fmt not in _WRITERS:
        raise ValueError(f"unknown export format {fmt!r}; known: {', '.join(EXPORT_FORMATS)}")
    unknown = [t for t in tables if t not in EXPORT_TABLES]
    if unknown:
        raise ValueError(f"unknown export tables {unknown}; known: {', '.join(EXPORT_TABLES)}")


def export(
    store: Store,
    out_dir: Path,
    fmt: str = "parquet",
    tables: Sequence[str] = EXPORT_TABLES,
) -> list[Path]:
    """Write the store's ``tables`` as ``out_dir/<table>.<fmt>`` (see module docstring).

    Returns the paths written. Raises ValueError for an unknown format or table.
    """
    _check(fmt, tables)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    with store.export_view() as view:
        for table in dict.fromkeys(tables):
            if table not in ALWAYS_WRITTEN and view.count(table) == 0:
                log.info("export: no %s in the store; %s.%s not written", table, table, fmt)
                continue
            path = out_dir / f"{table}.{fmt}"
            _export_table(view, table, path, fmt)
            written.append(path)
            log.info("export: wrote %s", path)
    return written


def export_filtered(
    store: Store,
    table: str,
    path: Path,
    fmt: str = "parquet",
    calls: CallFilter | None = None,
    max_rows: int | None = None,
) -> int:
    """Write one table's rows of the calls ``calls`` matches (None: every call) to ``path``
    in ``fmt``, with the columns and values of ``export``; returns the rows written.

    Counted and written in one snapshot; raises ExportTooLarge, writing nothing, when the
    table would hold more than ``max_rows`` rows, and ValueError for an unknown format or table.
    """
    _check(fmt, [table])
    with store.export_view() as view:
        count = view.count(table, calls)
        if max_rows is not None and count > max_rows:
            raise ExportTooLarge(table, count, max_rows)
        _export_table(view, table, Path(path), fmt, calls)
    log.info("export: wrote %d %s rows to %s", count, table, path)
    return count


def export_call_files(
    store: Store,
    out_dir: Path,
    call_ids: Sequence[str] | None = None,
    formats: Sequence[str] = ("json", "rttm", "srt", "vtt"),
) -> list[Path]:
    """Write each call's JSON/RTTM/SRT/VTT files (``engine.writers.write_outputs``).

    ``call_ids``: these calls only (an id the store does not have is logged and skipped);
    None: every call with results.
    """
    written: list[Path] = []
    for call_id in store.call_ids() if call_ids is None else call_ids:
        call = store.load_call(call_id)
        if call is None:
            log.warning("export: no results for call %s in the store; skipped", call_id)
            continue
        written += write_outputs(call, Path(out_dir), formats)
    return written
