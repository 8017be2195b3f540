"""/v1/exports: the calls, or their utterances, that the calls list's filters match, as one
Parquet or CSV file (the columns of ``callscope export``)."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask

from api import problems
from api.deps import AnalystDep, SettingsDep, StoreDep
from api.routers.calls import CallFilterDep
from engine.export import ExportTooLarge, export_filtered

router = APIRouter(prefix="/exports", tags=["exports"])

MEDIA_TYPES = {"parquet": "application/vnd.apache.parquet", "csv": "text/csv; charset=utf-8"}

Format = Annotated[Literal["parquet", "csv"], Query(alias="format")]


def _download(
    table: str, fmt: str, store: StoreDep, settings: SettingsDep, found: CallFilterDep
) -> FileResponse:
    """The table written to a temporary file, sent, then deleted."""
    fd, name = tempfile.mkstemp(prefix=f"callscope-{table}-", suffix=f".{fmt}")
    os.close(fd)
    path = Path(name)
    try:
        export_filtered(store, table, path, fmt, found, settings.export_max_rows)
    except ExportTooLarge as exc:
        path.unlink(missing_ok=True)
        raise HTTPException(413, f"{exc}: narrow the filters") from exc
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        raise
    return FileResponse(
        path,
        media_type=MEDIA_TYPES[fmt],
        filename=f"{table}.{fmt}",
        background=BackgroundTask(path.unlink, missing_ok=True),
    )


_RESPONSES: dict[int | str, dict[str, object]] = {
    200: {
        "description": "the file (Content-Disposition: attachment)",
        "content": {t.split(";")[0]: {} for t in MEDIA_TYPES.values()},
    },
    **problems.responses(413),
}


@router.get("/calls", response_class=FileResponse, responses=_RESPONSES)
def export_calls(
    store: StoreDep,
    settings: SettingsDep,
    _: AnalystDep,
    found: CallFilterDep,
    fmt: Format = "parquet",
) -> FileResponse:
    """One row per call: its metadata and audio."""
    return _download("calls", fmt, store, settings, found)


@router.get("/utterances", response_class=FileResponse, responses=_RESPONSES)
def export_utterances(
    store: StoreDep,
    settings: SettingsDep,
    _: AnalystDep,
    found: CallFilterDep,
    fmt: Format = "parquet",
) -> FileResponse:
    """One row per utterance of the calls: speaker, role, times, text, word count."""
    return _download("utterances", fmt, store, settings, found)
