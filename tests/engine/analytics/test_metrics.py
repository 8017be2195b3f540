"""Driver-day figures and volume alerts (spike and trend) against a trailing baseline."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from engine.analytics.metrics import (
    AlertOptions,
    MetricsOptions,
    days_with_calls,
    detect_alerts,
    detect_family_alerts,
    driver_days,
    driver_families,
)
from engine.errors import ConfigError
from engine.types import CallFacts, DriverDay, RepeatLink

D0 = date(2026, 11, 16)


def call(
    call_id: str,
    when: datetime,
    driver: int | None,
    duration: float,
    negative: bool = False,
) -> CallFacts:
    return CallFacts(call_id, when, duration, "c", "AG1", "Q", driver, negative_emotion=negative)


def at(day: int, hour: int = 10) -> datetime:
    return datetime(2026, 11, 16 + day, hour, tzinfo=UTC)


def test_driver_day_figures() -> None:
    calls = [
        call("m1", at(0), 1, 120.0, negative=True),
        call("m2", at(0, 11), 1, 240.0),
        call("m3", at(0, 12), 2, 60.0),
        call("m4", at(0, 13), None, 30.0),
        call("m5", at(1), 1, 600.0),
    ]
    links = [RepeatLink("m2", "old", 2.0, 1, 1.0)]
    days = driver_days(calls, links, MetricsOptions(cost_per_minute=0.5))
    assert days == (
        DriverDay(1, D0, 2, 0.5, 180.0, 3.0, 0.5, 0.5),
        DriverDay(2, D0, 1, 0.25, 60.0, 0.5, 0.0, 0.0),
        DriverDay(1, D0 + timedelta(days=1), 1, 1.0, 600.0, 5.0, 0.0, 0.0),
    )


def test_default_cost_is_one_per_minute() -> None:
    (day,) = driver_days([call("a", at(0), 3, 90.0), call("b", at(0, 11), 3, 150.0)], [])
    assert day.handle_time == 120.0
    assert day.cost == 4.0


def test_day_is_the_utc_date() -> None:
    evening_in_new_york = datetime(2026, 11, 16, 23, 30, tzinfo=timezone(timedelta(hours=-5)))
    (day,) = driver_days([call("a", evening_in_new_york, 1, 60.0)], [])
    assert day.day == date(2026, 11, 17)
    assert days_with_calls([call("b", at(2), None, 1.0)]) == {date(2026, 11, 18)}


def volume_days(driver: int, volumes: list[int], start: int = 0) -> list[DriverDay]:
    return [
        DriverDay(driver, D0 + timedelta(days=start + i), v, 0.0, 60.0, 0.0, 0.0, 0.0)
        for i, v in enumerate(volumes)
        if v > 0
    ]


def test_a_jump_to_seven_after_two_a_day_is_one_spike() -> None:
    alerts = detect_alerts(volume_days(1, [2, 2, 2, 2, 7]))
    assert len(alerts) == 1
    alert = alerts[0]
    assert (alert.driver_id, alert.day, alert.metric, alert.kind) == (
        1,
        D0 + timedelta(days=4),
        "volume",
        "spike",
    )
    assert alert.observed == 7.0
    assert alert.baseline == 2.0
    assert alert.p_value == pytest.approx(0.00453, abs=1e-5)


def test_a_flat_driver_raises_nothing() -> None:
    assert detect_alerts(volume_days(1, [3] * 10) + volume_days(2, [1, 0, 1, 1, 0, 1, 2])) == ()


def test_too_little_history_raises_nothing() -> None:
    days = volume_days(1, [2, 2, 9])
    assert detect_alerts(days) == ()
    assert [a.kind for a in detect_alerts(days, AlertOptions(min_history_days=2))] == ["spike"]


def test_small_numbers_are_no_spike() -> None:
    # a quiet driver with 3 calls: the rate floor (0.5) keeps p above alpha
    assert detect_alerts(volume_days(1, [0, 0, 0, 3]) + volume_days(2, [5, 5, 5, 5])) == ()


def test_days_without_the_driver_count_as_zero() -> None:
    other = volume_days(2, [5, 5, 5, 5])
    new = volume_days(1, [0, 0, 0, 0, 4])
    (alert,) = detect_alerts(other + new)
    assert (alert.driver_id, alert.kind, alert.baseline) == (1, "spike", 0.0)
    # without the other driver nothing shows the store had calls on the first four days...
    assert detect_alerts(new) == ()
    # ...unless the caller says so
    active = {D0 + timedelta(days=i) for i in range(5)}
    assert [a.kind for a in detect_alerts(new, active_days=active)] == ["spike"]


def test_days_without_any_calls_are_skipped_not_zero() -> None:
    # the store was closed on days 4-6: the baseline is the three busy days before
    days = volume_days(1, [2, 2, 2, 0, 0, 0, 7]) + volume_days(2, [1, 1, 1, 0, 0, 0, 1])
    (alert,) = detect_alerts(days)
    assert (alert.day, alert.baseline) == (D0 + timedelta(days=6), 2.0)


def test_a_sustained_rise_is_one_trend_alert() -> None:
    alerts = detect_alerts(volume_days(1, [2, 4, 6, 8, 10, 12, 14, 15]))
    assert [(a.kind, a.day) for a in alerts] == [("trend", D0 + timedelta(days=6))]
    assert alerts[0].p_value < 0.001
    assert alerts[0].baseline == 7.0


def test_a_trend_is_reported_on_its_first_day_only() -> None:
    # with a lax test the rise holds from day 5 to day 10: one alert, on day 5
    lax = AlertOptions(trend_alpha=0.05, ratio_min=10)
    alerts = detect_alerts(volume_days(1, [2, 4, 6, 8, 10, 12, 14, 16, 18, 20]), lax)
    assert [(a.kind, a.day) for a in alerts] == [("trend", D0 + timedelta(days=4))]


def test_one_spike_is_no_trend() -> None:
    lax = AlertOptions(trend_alpha=0.05)
    assert [a.kind for a in detect_alerts(volume_days(1, [2, 2, 2, 2, 2, 2, 12]), lax)] == ["spike"]


def test_alert_options_are_checked() -> None:
    with pytest.raises(ConfigError):
        AlertOptions(min_history_days=8)
    with pytest.raises(ConfigError):
        AlertOptions(alpha=0)
    with pytest.raises(ConfigError):
        MetricsOptions(cost_per_minute=-1)


def test_drivers_with_close_centroids_form_a_family() -> None:
    import numpy as np

    a, b, c = np.eye(3, dtype=np.float32)
    close = (a + 0.5 * b) / np.linalg.norm(a + 0.5 * b)
    families = driver_families({1: a, 2: close, 3: c}, threshold=0.65)
    assert families == {1: (1, 2)}
    assert driver_families({1: a}, 0.65) == {}


def test_a_campaign_split_over_two_drivers_alerts_for_their_family() -> None:
    # each driver goes from 1 a day to 3: no driver alert, but the family goes from 2 to 6
    days = (
        volume_days(1, [1, 1, 1, 1, 3])
        + volume_days(2, [1, 1, 1, 1, 4])
        + volume_days(3, [2, 2, 2, 2, 2])
    )
    alone = detect_alerts(days)
    assert alone == ()
    family = detect_family_alerts(days, {1: (1, 2)})
    assert [(a.kind, a.driver_id, a.observed) for a in family] == [("family_spike", 2, 7.0)]


def test_no_family_alert_where_one_of_its_drivers_already_alerted() -> None:
    days = volume_days(1, [2, 2, 2, 2, 7]) + volume_days(2, [1, 1, 1, 1, 1])
    driver_alerts = detect_alerts(days)
    assert [a.kind for a in driver_alerts] == ["spike"]
    assert detect_family_alerts(days, {1: (1, 2)}, driver_alerts=driver_alerts) == ()
