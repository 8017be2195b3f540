"""What a VoC report shows, gathered from the store for a period of UTC days (inclusive).

The driver figures are those of ``/v1/drivers/metrics`` (``engine.analytics.summary``) over the
same stored calls, repeat links and alerts, so the report and the API agree. The per-call
emotion timelines are of the calls with the strongest emotion spikes in the period; their
per-utterance spike scores are recomputed from the stored signals with ``SpikeOptions``.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from engine.analytics.emotion import SpikeDetector, SpikeOptions
from engine.analytics.metrics import MetricsOptions, call_day
from engine.analytics.summary import DriverPeriod, driver_periods
from engine.errors import ConfigError
from engine.stages.sentiment import NoSentiment
from engine.store.repo import Store
from engine.types import CallFacts, DriverAlert, EmotionSpike, Role

__all__ = [
    "MAX_REPORT_DAYS",
    "CallTimeline",
    "DriverRow",
    "ReportData",
    "ReportOptions",
    "TimelinePoint",
    "gather_report",
]

log = logging.getLogger(__name__)

MAX_REPORT_DAYS = 366
"""The longest period a report covers by default (a year, leap day included)."""

_ALL_SPIKES = 1_000_000_000  # no practical limit: spikes are a few per cent of calls


@dataclass(frozen=True)
class ReportOptions:
    """What a VoC report shows.

    metrics: how driver figures are computed (default ``MetricsOptions()``: cost 1.0 a minute).
    top_drivers: drivers in the bar charts (default 10; the table lists them all).
    series_drivers: drivers in the volume-over-time chart (default 5, the largest).
    timeline_calls: calls with an emotion timeline (default 5, the strongest spikes first).
    max_days: the longest period, in days (default 366).
    spikes: the spike score of the timelines (default ``SpikeOptions()``, the batch's).
    """

    metrics: MetricsOptions = field(default_factory=MetricsOptions)
    top_drivers: int = 10
    series_drivers: int = 5
    timeline_calls: int = 5
    max_days: int = MAX_REPORT_DAYS
    spikes: SpikeOptions = field(default_factory=SpikeOptions)

    def __post_init__(self) -> None:
        if min(self.top_drivers, self.series_drivers, self.max_days) < 1:
            raise ConfigError("top_drivers, series_drivers and max_days must be >= 1")
        if self.timeline_calls < 0:
            raise ConfigError(f"timeline_calls must be >= 0, got {self.timeline_calls}")


@dataclass(frozen=True)
class DriverRow:
    """A driver's figures over the period, with its name."""

    name: str
    figures: DriverPeriod

    @property
    def driver_id(self) -> int:
        return self.figures.driver_id


@dataclass(frozen=True, slots=True)
class TimelinePoint:
    """One scored utterance of a timeline (times in seconds from the call's start).

    score: the spike score; arousal: None where the speaker has no acoustic baseline.
    """

    start: float
    end: float
    speaker: str
    role: Role
    sentiment: float
    score: float
    arousal: float | None


@dataclass(frozen=True)
class CallTimeline:
    """A call's emotion over time: its scored utterances and its spikes."""

    call_id: str
    started_at: datetime
    duration: float
    driver: str | None
    points: tuple[TimelinePoint, ...]
    spikes: tuple[EmotionSpike, ...]
    threshold: float

    @property
    def peak(self) -> float:
        """The strongest spike's score (0.0 without spikes)."""
        return max((s.score for s in self.spikes), default=0.0)


@dataclass(frozen=True)
class ReportData:
    """Everything a report shows for the days ``first`` to ``last`` (UTC, inclusive).

    calls: calls started in the period; unassigned: those without a primary driver;
    days: the days with calls; drivers: largest volume first; alerts: of the period.
    """

    first: date
    last: date
    generated_at: datetime
    calls: int
    unassigned: int
    days: tuple[date, ...]
    drivers: tuple[DriverRow, ...]
    alerts: tuple[DriverAlert, ...]
    timelines: tuple[CallTimeline, ...]
    cost_per_minute: float

    @property
    def empty(self) -> bool:
        return self.calls == 0

    @property
    def total_cost(self) -> float:
        return round(sum(d.figures.cost for d in self.drivers), 2)

    def driver_name(self, driver_id: int) -> str:
        for d in self.drivers:
            if d.driver_id == driver_id:
                return d.name
        return f"driver {driver_id}"


def check_period(first: date, last: date, max_days: int = MAX_REPORT_DAYS) -> None:
    """Raise ``ConfigError`` unless ``first <= last`` and the period is at most ``max_days``."""
    if first > last:
        raise ConfigError(f"the period starts after it ends: {first} > {last}")
    days = (last - first).days + 1
    if days > max_days:
        raise ConfigError(f"the period is {days} days; a report covers at most {max_days}")


def gather_report(
    store: Store,
    first: date,
    last: date,
    options: ReportOptions | None = None,
    now: datetime | None = None,
) -> ReportData:
    """The report's figures for the days ``first`` to ``last`` (UTC, inclusive)."""
    options = options or ReportOptions()
    check_period(first, last, options.max_days)
    start = datetime.combine(first, time.min, UTC)
    end = None if last == date.max else datetime.combine(last + timedelta(days=1), time.min, UTC)
    voc = store.voc
    facts = voc.call_facts(None, until=end)
    inside = [c for c in facts if first <= call_day(c) <= last]
    names = {d.id: d.name for d in voc.drivers()}
    periods = driver_periods(facts, voc.repeat_links(), voc.alerts(), first, last, options.metrics)
    drivers = tuple(DriverRow(names.get(p.driver_id, f"driver {p.driver_id}"), p) for p in periods)
    alerts = tuple(
        sorted((a for p in periods for a in p.alerts), key=lambda a: (a.day, a.driver_id, a.kind))
    )
    data = ReportData(
        first=first,
        last=last,
        generated_at=now or datetime.now(UTC),
        calls=len(inside),
        unassigned=sum(c.driver_id is None for c in inside),
        days=tuple(sorted({call_day(c) for c in inside})),
        drivers=drivers,
        alerts=alerts,
        timelines=_timelines(store, start, end, inside, names, options),
        cost_per_minute=options.metrics.cost_per_minute,
    )
    log.info(
        "report %s..%s: %d calls, %d drivers, %d alerts, %d timelines",
        first,
        last,
        data.calls,
        len(data.drivers),
        len(data.alerts),
        len(data.timelines),
    )
    return data


def _timelines(
    store: Store,
    start: datetime,
    end: datetime | None,
    inside: list[CallFacts],
    names: dict[int, str],
    options: ReportOptions,
) -> tuple[CallTimeline, ...]:
    if options.timeline_calls == 0 or not inside:
        return ()
    peaks: dict[str, float] = defaultdict(float)
    for call_id, spike in store.voc.spikes(start, end, None, _ALL_SPIKES):
        peaks[call_id] = max(peaks[call_id], spike.score)
    strongest = sorted(peaks, key=lambda c: (-peaks[c], c))
    facts = {c.call_id: c for c in inside}
    detector = SpikeDetector(options.spikes, NoSentiment())
    out: list[CallTimeline] = []
    for call_id in strongest:
        if len(out) == options.timeline_calls:
            break
        call = store.load_call(call_id)
        fact = facts.get(call_id)
        if call is None or fact is None or not call.signals:
            continue
        scores = detector.score(call.utterances, call.signals)
        points = tuple(
            TimelinePoint(
                start=call.utterances[s.index].start,
                end=call.utterances[s.index].end,
                speaker=call.utterances[s.index].speaker,
                role=call.utterances[s.index].role,
                sentiment=s.sentiment,
                score=s.score,
                arousal=s.arousal,
            )
            for s in sorted(scores, key=lambda s: call.utterances[s.index].start)
        )
        out.append(
            CallTimeline(
                call_id=call_id,
                started_at=fact.started_at,
                duration=call.duration,
                driver=None if fact.driver_id is None else names.get(fact.driver_id),
                points=points,
                spikes=call.spikes,
                threshold=options.spikes.threshold,
            )
        )
    return tuple(out)
