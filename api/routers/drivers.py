"""/v1/drivers: the drivers and their descriptions, one driver's daily series and calls;
renaming, merging and splitting (admin)."""

from __future__ import annotations

from datetime import UTC, date, timedelta
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Path, Query

from api import problems
from api.deps import AdminDep, AnalystDep, FactsDep, StoreDep
from api.routers.calls import summary
from api.schemas import (
    MAX_ID,
    DayOut,
    DriverDetail,
    DriverMerge,
    DriverOut,
    DriverRename,
    DriverSplit,
)
from engine.analytics.edits import DriverEditor
from engine.analytics.metrics import call_day, driver_days
from engine.errors import ConfigError
from engine.store.calls import CallFilter, list_calls
from engine.store.repo import Store
from engine.types import Driver

router = APIRouter(prefix="/drivers", tags=["drivers"])

DriverPath = Annotated[int, Path(ge=0, le=MAX_ID)]

SERIES_DAYS = 30
"""The default span of a driver's daily series: the last 30 days with data."""
DETAIL_CALLS = 20
"""How many of its newest calls a driver's detail lists."""
MAX_SERIES_DAYS = 3660


def _out(d: Driver) -> DriverOut:
    return DriverOut(
        id=d.id,
        name=d.name,
        status=d.status,
        name_source=d.name_source,
        keywords=list(d.keywords),
        exemplars=list(d.exemplars),
        size=d.size,
        merged_into=d.merged_into,
        parent_id=d.parent_id,
    )


def _found(store: Store, driver_id: int) -> Driver:
    found = store.voc.driver(driver_id)
    if found is None:
        raise HTTPException(404, f"no driver {driver_id}")
    return found


@router.get("", response_model=list[DriverOut])
def drivers(store: StoreDep, _: AnalystDep, include_inactive: bool = False) -> list[DriverOut]:
    chosen = None if include_inactive else ["active"]
    return [_out(d) for d in store.voc.drivers(chosen)]


def _span(store: Store, first: date | None, last: date | None) -> tuple[date, date] | None:
    """The days of the series: as asked, else ending on the newest call's day (None: the
    store has no call with a start time)."""
    if last is None:
        newest = store.voc.last_call_start()
        if newest is None and first is None:
            return None
        last = newest.astimezone(UTC).date() if newest is not None else date.today()
        if first is not None and last < first:
            last = first + timedelta(days=SERIES_DAYS - 1)
    if first is None:
        first = last - timedelta(days=SERIES_DAYS - 1)
    if last < first:
        raise HTTPException(422, f"from ({first}) is after to ({last})")
    if (last - first).days >= MAX_SERIES_DAYS:
        raise HTTPException(422, f"a series spans at most {MAX_SERIES_DAYS} days")
    return first, last


@router.get("/{driver_id}", response_model=DriverDetail, responses=problems.responses(404))
def driver(
    driver_id: DriverPath,
    store: StoreDep,
    facts: FactsDep,
    _: AnalystDep,
    first: Annotated[
        date | None, Query(alias="from", description="first day (default: 29 days before to)")
    ] = None,
    last: Annotated[
        date | None, Query(alias="to", description="last day (default: the newest call's)")
    ] = None,
) -> DriverDetail:
    found = _found(store, driver_id)
    span = _span(store, first, last)
    daily: list[DayOut] = []
    if span is not None:
        inside = [c for c in facts.calls if span[0] <= call_day(c) <= span[1]]
        daily = [DayOut.of(d) for d in driver_days(inside, facts.links) if d.driver_id == driver_id]
    page = list_calls(store, CallFilter(driver_id=driver_id), DETAIL_CALLS, descending=True)
    more = None
    if page.next_cursor is not None:
        query = urlencode({"driver": driver_id, "order": "desc", "cursor": page.next_cursor})
        more = f"/v1/calls?{query}"
    return DriverDetail(
        **_out(found).model_dump(),
        first=span[0].isoformat() if span else None,
        last=span[1].isoformat() if span else None,
        daily=daily,
        calls=[summary(c) for c in page.items],
        calls_next=more,
    )


@router.patch("/{driver_id}", response_model=DriverOut, responses=problems.responses(400, 403, 404))
def rename(driver_id: DriverPath, body: DriverRename, store: StoreDep, _: AdminDep) -> DriverOut:
    _found(store, driver_id)
    return _out(DriverEditor(store, model="").rename(driver_id, body.name))


def _editor(store: Store) -> DriverEditor:
    """An editor over the embeddings the store's drivers were built from."""
    analysis = store.voc.last_analysis()
    if analysis is not None:
        return DriverEditor(store, analysis.model)
    counts = store.voc.embedding_models()
    if not counts:
        raise HTTPException(409, "the store has no embeddings: drivers cannot be edited")
    return DriverEditor(store, max(counts, key=lambda m: (counts[m], m)))


def _active(store: Store, driver_id: int) -> None:
    d = _found(store, driver_id)
    if d.status != "active":
        raise HTTPException(409, f"driver {driver_id} is {d.status}, not active")


@router.post(
    "/merge", response_model=list[DriverOut], responses=problems.responses(400, 403, 404, 409)
)
def merge(body: DriverMerge, store: StoreDep, _: AdminDep) -> list[DriverOut]:
    """Merge the ``sources`` into ``target``: the target, then the merged drivers."""
    sources = list(dict.fromkeys(body.sources))
    if body.target in sources:
        raise HTTPException(422, "a driver cannot be merged into itself")
    for driver_id in (body.target, *sources):
        _active(store, driver_id)
    try:
        _editor(store).merge(body.target, sources)
    except ConfigError as exc:
        raise HTTPException(422, str(exc)) from exc
    return [_out(_found(store, i)) for i in (body.target, *sources)]


@router.post(
    "/{driver_id}/split",
    response_model=list[DriverOut],
    responses=problems.responses(400, 403, 404, 409),
)
def split(
    driver_id: DriverPath, body: DriverSplit, store: StoreDep, _: AdminDep
) -> list[DriverOut]:
    """Split a driver into ``parts`` by its members' embeddings: the driver, then its parts."""
    _active(store, driver_id)
    try:
        update = _editor(store).split(driver_id, body.parts)
    except ConfigError as exc:
        raise HTTPException(422, str(exc)) from exc
    children = [other for action, _, other, _ in update.events if action == "split" and other]
    return [_out(_found(store, i)) for i in (driver_id, *children)]
