"""/v1/drivers/metrics, /v1/repeats, /v1/spikes: the analytics as queryable lists."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Query

from api.deps import AnalystDep, FactsDep, StoreDep
from api.schemas import (
    AlertOut,
    DayOut,
    DriverMetricsOut,
    RepeatOut,
    SpikeListOut,
    spike_fields,
)
from engine.analytics.metrics import MetricsOptions
from engine.analytics.summary import driver_periods

router = APIRouter(tags=["analytics"])


@router.get("/drivers/metrics", response_model=list[DriverMetricsOut])
def driver_metrics(
    store: StoreDep,
    facts: FactsDep,
    _: AnalystDep,
    first: Annotated[date | None, Query(alias="from", description="first day (inclusive)")] = None,
    last: Annotated[date | None, Query(alias="to", description="last day (inclusive)")] = None,
    cost_per_minute: Annotated[float, Query(ge=0, le=1e6)] = 1.0,
) -> list[DriverMetricsOut]:
    names = {d.id: d.name for d in store.voc.drivers()}
    periods = driver_periods(
        facts.calls,
        facts.links,
        facts.alerts,
        first,
        last,
        MetricsOptions(cost_per_minute=cost_per_minute),
    )
    return [
        DriverMetricsOut(
            driver_id=p.driver_id,
            name=names.get(p.driver_id),
            volume=p.volume,
            share=p.share,
            handle_time=p.handle_time,
            cost=p.cost,
            repeat_rate=p.repeat_rate,
            negative_share=p.negative_share,
            alert=bool(p.alerts),
            alerts=[
                AlertOut(
                    day=a.day.isoformat(),
                    metric=a.metric,
                    kind=a.kind,
                    observed=a.observed,
                    baseline=a.baseline,
                    p_value=a.p_value,
                )
                for a in p.alerts
            ],
            daily=[DayOut.of(d) for d in p.days],
        )
        for p in periods
    ]


@router.get("/repeats", response_model=list[RepeatOut])
def repeats(store: StoreDep, _: AnalystDep) -> list[RepeatOut]:
    return [
        RepeatOut(
            call_id=x.call_id,
            earlier_call_id=x.earlier_call_id,
            gap_days=x.gap_days,
            driver_id=x.driver_id,
            similarity=x.similarity,
        )
        for x in store.voc.repeat_links()
    ]


@router.get("/spikes", response_model=list[SpikeListOut])
def spikes(
    store: StoreDep,
    _: AnalystDep,
    first: Annotated[date | None, Query(alias="from", description="first day (inclusive)")] = None,
    last: Annotated[date | None, Query(alias="to", description="last day (inclusive)")] = None,
    role: Literal["agent", "customer"] | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[SpikeListOut]:
    start = datetime.combine(first, time.min, UTC) if first else None
    end = datetime.combine(last + timedelta(days=1), time.min, UTC) if last else None
    return [
        SpikeListOut(call_id=call_id, **spike_fields(x))
        for call_id, x in store.voc.spikes(start, end, role, limit)
    ]
