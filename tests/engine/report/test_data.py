"""The report's figures (SQLite and PostgreSQL): the same as the driver metrics of the API."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime

import pytest

from engine.analytics.metrics import MetricsOptions
from engine.analytics.summary import driver_periods
from engine.errors import ConfigError
from engine.report.data import ReportOptions, check_period, gather_report
from tests.engine.report.conftest import FIRST, LAST

NOW = datetime(2026, 11, 22, 6, tzinfo=UTC)


def test_figures_agree_with_the_driver_metrics(report_store):
    voc = report_store.voc
    data = gather_report(report_store, FIRST, LAST, now=NOW)
    expected = driver_periods(voc.call_facts(None), voc.repeat_links(), voc.alerts(), FIRST, LAST)
    assert [row.figures for row in data.drivers] == list(expected)
    names = {d.id: d.name for d in voc.drivers()}
    assert [row.name for row in data.drivers] == [names[p.driver_id] for p in expected]
    assert data.calls == 43 == len(report_store.call_ids())
    assert data.unassigned == 0 and sum(r.figures.volume for r in data.drivers) == 43
    assert data.days == tuple(date(2026, 11, d) for d in range(16, 22))
    assert [(a.day, a.kind) for a in data.alerts] == [(date(2026, 11, 21), "spike")]
    exchange = next(r for r in data.drivers if "exchange" in r.name)
    assert exchange.figures.alerts == data.alerts
    assert data.total_cost == round(sum(p.cost for p in expected), 2)
    assert data.generated_at == NOW and not data.empty
    repeated = [r for r in data.drivers if r.figures.repeat_rate > 0]
    assert len(repeated) == 1 and repeated[0].figures.repeat_rate == round(1 / 14, 4)
    negative = sorted(r.figures.negative_share for r in data.drivers)
    assert negative == [0.0, round(1 / 14, 4), round(1 / 11, 4)]  # one angry call of 14, of 11


def test_the_strongest_spikes_get_timelines(report_store):
    data = gather_report(report_store, FIRST, LAST, now=NOW)
    assert [t.call_id for t in data.timelines] == ["angry1", "angry2"]
    angry = data.timelines[0]
    assert angry.peak == 3.4 and angry.threshold == 2.5 and angry.driver is not None
    assert [p.start for p in angry.points] == [0.0, 3.2, 7.2, 10.5, 14.5, 17.5]
    loud = angry.points[3]
    assert loud.role == "customer" and loud.sentiment == -0.8 and loud.score > 2.5
    assert max(p.score for p in angry.points if p is not loud) < 2.5
    one = gather_report(report_store, FIRST, LAST, ReportOptions(timeline_calls=1), now=NOW)
    assert [t.call_id for t in one.timelines] == ["angry1"]
    late = gather_report(report_store, date(2026, 11, 19), date(2026, 11, 20), now=NOW)
    assert [t.call_id for t in late.timelines] == ["angry2"]


def test_a_shorter_period_and_another_cost(report_store):
    options = ReportOptions(metrics=MetricsOptions(cost_per_minute=2.0))
    full = gather_report(report_store, FIRST, LAST, now=NOW)
    dear = gather_report(report_store, FIRST, LAST, options, now=NOW)
    assert dear.total_cost == pytest.approx(2 * full.total_cost, abs=0.05)
    early = gather_report(report_store, FIRST, date(2026, 11, 20), now=NOW)
    assert early.calls == 33 and early.alerts == ()
    assert all(not r.figures.alerts for r in early.drivers)


def test_an_empty_period(report_store):
    data = gather_report(report_store, date(2025, 1, 1), date(2025, 1, 31), now=NOW)
    assert data.empty and data.calls == 0
    assert data.drivers == data.alerts == data.timelines == data.days == ()
    assert data.total_cost == 0.0


def test_bad_periods_and_options():
    check_period(FIRST, FIRST)
    with pytest.raises(ConfigError, match="starts after it ends"):
        check_period(LAST, FIRST)
    with pytest.raises(ConfigError, match="367 days; a report covers at most 366"):
        check_period(date(2024, 1, 1), date(2025, 1, 1))
    with pytest.raises(ConfigError):
        ReportOptions(top_drivers=0)
    with pytest.raises(ConfigError):
        replace(ReportOptions(), timeline_calls=-1)
