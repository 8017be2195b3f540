"""Per-driver daily figures and volume alerts against a trailing baseline.

``driver_days`` turns the calls of a period (and their repeat links) into one ``DriverDay`` per
driver and UTC day. ``detect_alerts`` flags driver-days whose volume is out of line with the
same driver's recent past:

- ``spike``: one day far above the trailing baseline (a Poisson upper-tail test against the
  mean of the previous days; e.g. a campaign that nobody told the contact centre about);
- ``trend``: a sustained rise over the trailing window (a Poisson log-linear slope test that
  must survive dropping the busiest day, so one spike alone is never a trend); reported on
  the first day of a run of days on which it holds.

A campaign or an outage can raise the volume of one problem that the clustering split into
two or three drivers (one problem said several ways), each too small to alert on its own.
``detect_family_alerts`` runs the same tests on **driver families** (``driver_families``:
drivers linked by centroid cosine at least ``family_similarity``): kinds ``family_spike`` and
``family_trend``, named by the family's busiest driver that day, and raised only where none
of the family's drivers already alerted that day.

Days on which the store had calls but a driver had none count as zero volume for that driver;
days without any calls (closures, gaps in the data) are skipped, not counted as zero.
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta

import numpy as np
from scipy import stats

from engine.analytics.clustering import merge_close
from engine.analytics.repeats import as_utc
from engine.errors import ConfigError
from engine.types import CallFacts, DriverAlert, DriverDay, RepeatLink

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MetricsOptions:
    """How driver-day figures are computed.

    cost_per_minute: what one minute of handle time costs, in currency units (default 1.0);
        a driver-day's cost is volume x mean handle minutes x this.
    """

    cost_per_minute: float = 1.0

    def __post_init__(self) -> None:
        if self.cost_per_minute < 0:
            raise ConfigError(f"cost_per_minute must be >= 0, got {self.cost_per_minute}")


@dataclass(frozen=True)
class AlertOptions:
    """When a driver's daily volume raises an alert.

    baseline_days: the trailing baseline is the days with calls among the previous this many
        calendar days (default 7).
    min_history_days: no alert for a day with fewer baseline days than this (default 3).
    alpha: a spike needs a Poisson upper-tail p-value P(X >= observed) below this (default
        0.01), with the rate set to the baseline mean, or ``rate_floor`` when that is lower.
    rate_floor: the smallest baseline rate the test uses (default 0.5 calls a day), so that a
        driver that was quiet is not flagged for two or three calls.
    ratio_min: a spike needs at least this multiple of the baseline mean (default 2.0).
    min_volume: neither alert fires on a day with fewer calls of the driver (default 3).
    trend_days: the trend window: the days with calls among this many calendar days ending
        with the day tested (default 7).
    trend_min_days: the trend window needs at least this many days with calls (default 5).
    trend_alpha: the slope test's one-sided p-value must be below this, also with the
        window's busiest day left out (default 0.001: conservative).
    trend_ratio_min: the later half of the window must average at least this multiple of
        the earlier half (default 1.5), so a tiny drift of a busy driver is no alert.
    family_similarity: drivers whose centroids have at least this cosine form a family
        (default 0.65, the "semantically similar drivers" cosine of repeat detection);
        None: no family alerts.
    """

    baseline_days: int = 7
    min_history_days: int = 3
    alpha: float = 0.01
    rate_floor: float = 0.5
    ratio_min: float = 2.0
    min_volume: int = 3
    trend_days: int = 7
    trend_min_days: int = 5
    trend_alpha: float = 0.001
    trend_ratio_min: float = 1.5
    family_similarity: float | None = 0.65

    def __post_init__(self) -> None:
        if self.baseline_days < 1 or self.min_history_days < 1:
            raise ConfigError("baseline_days and min_history_days must be >= 1")
        if self.min_history_days > self.baseline_days:
            raise ConfigError("min_history_days cannot exceed baseline_days")
        if not 0 < self.alpha < 1 or not 0 < self.trend_alpha < 1:
            raise ConfigError("alpha and trend_alpha must be in (0, 1)")
        if self.rate_floor <= 0:
            raise ConfigError(f"rate_floor must be positive, got {self.rate_floor}")
        if self.trend_min_days < 3 or self.trend_min_days > self.trend_days:
            raise ConfigError("trend_min_days must be in [3, trend_days]")


def call_day(call: CallFacts) -> date:
    """The UTC date a call started on."""
    return as_utc(call.started_at).date()


def days_with_calls(calls: Iterable[CallFacts]) -> frozenset[date]:
    """The UTC dates on which any call started (driver known or not)."""
    return frozenset(call_day(call) for call in calls)


def driver_days(
    calls: Sequence[CallFacts],
    links: Sequence[RepeatLink],
    options: MetricsOptions | None = None,
) -> tuple[DriverDay, ...]:
    """One ``DriverDay`` per driver and UTC day with calls, sorted by day then driver.

    share: the driver's calls over all calls that day (calls without a driver included);
    handle_time: mean call duration in seconds; repeat_rate: share of the driver-day's calls
    that are repeats (the ``call_id`` of a link); negative_share: share with negative emotion.
    """
    options = options or MetricsOptions()
    repeats = {link.call_id for link in links}
    totals: dict[date, int] = defaultdict(int)
    groups: dict[tuple[date, int], list[CallFacts]] = defaultdict(list)
    for call in calls:
        day = call_day(call)
        totals[day] += 1
        if call.driver_id is not None:
            groups[(day, call.driver_id)].append(call)
    figures = []
    for (day, driver_id), group in sorted(groups.items()):
        volume = len(group)
        handle_time = sum(call.duration for call in group) / volume
        figures.append(
            DriverDay(
                driver_id=driver_id,
                day=day,
                volume=volume,
                share=round(volume / totals[day], 4),
                handle_time=round(handle_time, 3),
                cost=round(volume * handle_time / 60 * options.cost_per_minute, 2),
                repeat_rate=round(sum(c.call_id in repeats for c in group) / volume, 4),
                negative_share=round(sum(c.negative_emotion for c in group) / volume, 4),
            )
        )
    return tuple(figures)


def detect_alerts(
    days: Sequence[DriverDay],
    options: AlertOptions | None = None,
    active_days: Collection[date] | None = None,
) -> tuple[DriverAlert, ...]:
    """Volume alerts (metric "volume", kind "spike" or "trend"), sorted by day then driver.

    active_days: the days on which the store had any calls; the days of ``days`` are always
    included, pass this too when some days had calls of no known driver (or of no driver
    in ``days``), so that those days count as zero volume rather than as missing.
    """
    options = options or AlertOptions()
    active = sorted({d.day for d in days} | set(active_days or ()))
    volumes: dict[int, dict[date, int]] = defaultdict(dict)
    for figure in days:
        volumes[figure.driver_id][figure.day] = figure.volume
    alerts: list[DriverAlert] = []
    for driver_id, by_day in sorted(volumes.items()):
        trending = False
        for day in active:
            observed = by_day.get(day, 0)
            spike = _spike(driver_id, day, observed, by_day, active, options)
            if spike is not None:
                alerts.append(spike)
            trend = _trend(driver_id, day, observed, by_day, active, options)
            if trend is not None and not trending:
                alerts.append(trend)
            trending = trend is not None
    alerts.sort(key=lambda a: (a.day, a.driver_id, a.kind))
    log.debug("%d volume alerts over %d days", len(alerts), len(active))
    return tuple(alerts)


def driver_families(
    centroids: Mapping[int, np.ndarray], threshold: float
) -> dict[int, tuple[int, ...]]:
    """Families of two or more drivers linked (single linkage) by centroid cosine at least
    ``threshold``: family id (its smallest driver id) -> member driver ids."""
    ids = sorted(centroids)
    if len(ids) < 2:
        return {}
    groups = merge_close(np.stack([centroids[d] for d in ids]), threshold)
    members: dict[int, list[int]] = defaultdict(list)
    for driver_id, group in zip(ids, groups, strict=True):
        members[int(group)].append(driver_id)
    return {min(m): tuple(m) for m in members.values() if len(m) > 1}


def detect_family_alerts(
    days: Sequence[DriverDay],
    families: Mapping[int, Sequence[int]],
    options: AlertOptions | None = None,
    active_days: Collection[date] | None = None,
    driver_alerts: Sequence[DriverAlert] = (),
) -> tuple[DriverAlert, ...]:
    """Spike and trend alerts of driver families (see the module docstring)."""
    options = options or AlertOptions()
    family_of = {d: f for f, members in families.items() for d in members}
    summed: list[DriverDay] = []
    busiest: dict[tuple[int, date], tuple[int, int]] = {}
    for figure in days:
        family = family_of.get(figure.driver_id)
        if family is None:
            continue
        summed.append(replace(figure, driver_id=family))
        key = (family, figure.day)
        if figure.volume > busiest.get(key, (-1, 0))[0]:
            busiest[key] = (figure.volume, figure.driver_id)
    volumes: dict[tuple[int, date], int] = defaultdict(int)
    for figure in summed:
        volumes[(figure.driver_id, figure.day)] += figure.volume
    family_days = [
        DriverDay(family, day, volume, 0.0, 0.0, 0.0, 0.0, 0.0)
        for (family, day), volume in sorted(volumes.items())
    ]
    alerted = {(family_of.get(a.driver_id), a.day) for a in driver_alerts}
    out = []
    for alert in detect_alerts(family_days, options, active_days):
        if (alert.driver_id, alert.day) in alerted:
            continue
        owner = busiest.get((alert.driver_id, alert.day), (0, alert.driver_id))[1]
        out.append(replace(alert, driver_id=owner, kind=f"family_{alert.kind}"))
    return tuple(out)


def _window(active: Sequence[date], first: date, last: date) -> list[date]:
    return [day for day in active if first <= day <= last]


def _spike(
    driver_id: int,
    day: date,
    observed: int,
    by_day: dict[date, int],
    active: Sequence[date],
    options: AlertOptions,
) -> DriverAlert | None:
    history = _window(active, day - timedelta(days=options.baseline_days), day - timedelta(days=1))
    if observed < options.min_volume or len(history) < options.min_history_days:
        return None
    baseline = sum(by_day.get(d, 0) for d in history) / len(history)
    if observed < options.ratio_min * baseline:
        return None
    rate = max(baseline, options.rate_floor)
    p_value = float(stats.poisson.sf(observed - 1, rate))
    if p_value >= options.alpha:
        return None
    return DriverAlert(
        driver_id, day, "volume", "spike", float(observed), round(baseline, 4), p_value
    )


def _trend(
    driver_id: int,
    day: date,
    observed: int,
    by_day: dict[date, int],
    active: Sequence[date],
    options: AlertOptions,
) -> DriverAlert | None:
    window = _window(active, day - timedelta(days=options.trend_days - 1), day)
    if observed < options.min_volume or len(window) < options.trend_min_days:
        return None
    points = [((d - window[0]).days, by_day.get(d, 0)) for d in window]
    half = len(points) // 2
    early = sum(v for _, v in points[:half]) / half
    late = sum(v for _, v in points[-half:]) / half
    if late < options.trend_ratio_min * early or late == 0:
        return None
    busiest = max(range(len(points)), key=lambda i: (points[i][1], i))
    p_value = max(_slope_p(points), _slope_p(points[:busiest] + points[busiest + 1 :]))
    if p_value >= options.trend_alpha:
        return None
    previous = [v for _, v in points[:-1]]
    baseline = sum(previous) / len(previous)
    return DriverAlert(
        driver_id, day, "volume", "trend", float(observed), round(baseline, 4), p_value
    )


def _slope_p(points: Sequence[tuple[int, int]]) -> float:
    """One-sided p-value of a rising log-linear Poisson trend (the score test of slope 0).

    Given the total N, under no trend each call falls on any of the n days alike, so
    T = sum(t * x_t) has mean N * mean(t) and variance N * var(t); z = (T - E[T]) / sd.
    """
    total = sum(v for _, v in points)
    times = [t for t, _ in points]
    mean_t = sum(times) / len(times)
    var_t = sum((t - mean_t) ** 2 for t in times) / len(times)
    if total == 0 or var_t == 0:
        return 1.0
    score = sum(t * v for t, v in points) - total * mean_t
    return float(stats.norm.sf(score / math.sqrt(total * var_t)))
