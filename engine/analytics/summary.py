"""Driver figures over a period: totals, the daily series and the alerts, for the API and
reports (computed from the stored calls, repeat links and alerts)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from engine.analytics.metrics import MetricsOptions, call_day, driver_days
from engine.types import CallFacts, DriverAlert, DriverDay, RepeatLink

__all__ = ["DriverPeriod", "driver_periods"]


@dataclass(frozen=True)
class DriverPeriod:
    """One driver over a period: share of all calls, mean handle time (s), cost, rates."""

    driver_id: int
    volume: int
    share: float
    handle_time: float
    cost: float
    repeat_rate: float
    negative_share: float
    days: tuple[DriverDay, ...]
    alerts: tuple[DriverAlert, ...]


def driver_periods(
    calls: Sequence[CallFacts],
    links: Sequence[RepeatLink],
    alerts: Sequence[DriverAlert],
    first: date | None = None,
    last: date | None = None,
    options: MetricsOptions | None = None,
) -> tuple[DriverPeriod, ...]:
    """Each driver's figures over the days from ``first`` to ``last`` (inclusive; None:
    open), largest volume first."""
    inside = [
        c
        for c in calls
        if (first is None or call_day(c) >= first) and (last is None or call_day(c) <= last)
    ]
    days: dict[int, list[DriverDay]] = defaultdict(list)
    for d in driver_days(inside, links, options):
        days[d.driver_id].append(d)
    raised: dict[int, list[DriverAlert]] = defaultdict(list)
    for a in alerts:
        if (first is None or a.day >= first) and (last is None or a.day <= last):
            raised[a.driver_id].append(a)
    out = []
    for driver_id, series in days.items():
        volume = sum(d.volume for d in series)

        def mean(field: str, series: list[DriverDay] = series, volume: int = volume) -> float:
            return round(sum(getattr(d, field) * d.volume for d in series) / volume, 4)

        out.append(
            DriverPeriod(
                driver_id=driver_id,
                volume=volume,
                share=round(volume / len(inside), 4),
                handle_time=mean("handle_time"),
                cost=round(sum(d.cost for d in series), 2),
                repeat_rate=mean("repeat_rate"),
                negative_share=mean("negative_share"),
                days=tuple(series),
                alerts=tuple(raised.get(driver_id, ())),
            )
        )
    return tuple(sorted(out, key=lambda p: (-p.volume, p.driver_id)))
