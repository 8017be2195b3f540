"""/v1/drivers: the drivers and their descriptions; renaming (admin)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException

from api.deps import AdminDep, AnalystDep, StoreDep
from api.schemas import DriverOut, DriverRename
from engine.analytics.edits import DriverEditor
from engine.types import Driver

router = APIRouter(prefix="/drivers", tags=["drivers"])


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


@router.get("", response_model=list[DriverOut])
def drivers(store: StoreDep, _: AnalystDep, include_inactive: bool = False) -> list[DriverOut]:
    chosen = None if include_inactive else ["active"]
    return [_out(d) for d in store.voc.drivers(chosen)]


@router.get("/{driver_id}", response_model=DriverOut)
def driver(driver_id: int, store: StoreDep, _: AnalystDep) -> DriverOut:
    found = store.voc.driver(driver_id)
    if found is None:
        raise HTTPException(404, f"no driver {driver_id}")
    return _out(found)


@router.patch("/{driver_id}", response_model=DriverOut)
def rename(driver_id: int, body: DriverRename, store: StoreDep, _: AdminDep) -> DriverOut:
    if store.voc.driver(driver_id) is None:
        raise HTTPException(404, f"no driver {driver_id}")
    return _out(DriverEditor(store, model="").rename(driver_id, body.name))
