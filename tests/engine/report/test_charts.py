"""The report's charts: valid PNG images of sensible size, safe with any driver name, and the
same when drawn in threads (no pyplot, no global state)."""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from PIL import Image

from engine.report.charts import ChartRenderer, chart_label
from engine.report.data import ReportOptions, gather_report
from tests.engine.report.conftest import FIRST, LAST

NOW = datetime(2026, 11, 22, 6, tzinfo=UTC)
DRIVER_CHARTS = ["chart-volume", "chart-cost", "chart-trend", "chart-repeat", "chart-negative"]


@pytest.fixture
def data(sqlite_report_store):
    return gather_report(sqlite_report_store, FIRST, LAST, now=NOW)


def test_every_chart_is_a_valid_image(data):
    charts = ChartRenderer().render(data)
    assert [c.id for c in charts] == [*DRIVER_CHARTS, "chart-timeline-1", "chart-timeline-2"]
    for chart in charts:
        image = Image.open(io.BytesIO(chart.png))
        image.verify()
        assert image.format == "PNG" and image.size == (chart.width, chart.height)
        assert 600 <= chart.width <= 1200 and 150 <= chart.height <= 800, chart.id
        assert chart.data_uri.startswith("data:image/png;base64,iVBOR")
        assert chart.title and chart.alt
        pixels = Image.open(io.BytesIO(chart.png)).convert("L")
        low, high = pixels.getextrema()
        assert high - low > 100, f"{chart.id} looks blank"
    names = [r.name for r in data.drivers]
    volume = charts[0]
    assert all(name in volume.alt for name in names) and "all 3 drivers" in volume.alt
    assert "1 alerts marked" in charts[2].alt
    assert "call angry1" in charts[5].alt and "1 spikes" in charts[5].alt


def test_only_the_top_drivers_are_drawn(data):
    charts = ChartRenderer(ReportOptions(top_drivers=2, series_drivers=1)).render(data)
    volume = next(c for c in charts if c.id == "chart-volume")
    assert "top 2 of 3 drivers" in volume.alt
    trend = next(c for c in charts if c.id == "chart-trend")
    assert "daily calls of 1 drivers" in trend.alt  # the largest is the one with the alert


def test_names_with_dollars_and_markup_are_drawn_literally(sqlite_report_store):
    store = sqlite_report_store
    driver = store.voc.drivers(["active"])[0]
    store.voc.rename_driver(driver.id, r"refund $5 \frac{ $x^ <b>" + "x" * 80)
    data = gather_report(store, FIRST, LAST, now=NOW)
    charts = ChartRenderer().render(data)  # mathtext would refuse "\frac{"
    assert len(charts) == 7
    assert chart_label("a $5  fee\n") == r"a \$5 fee"
    assert chart_label("y" * 50, 10) == "y" * 9 + "…"


def test_charts_drawn_in_threads_are_the_same(data):
    renderer = ChartRenderer()
    alone = [c.png for c in renderer.render(data)]
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(lambda _: [c.png for c in renderer.render(data)], range(4)))
    assert all(pngs == alone for pngs in together)


def test_no_driver_charts_without_drivers(data):
    charts = ChartRenderer().render(replace(data, drivers=(), timelines=data.timelines[:1]))
    assert [c.id for c in charts] == ["chart-timeline-1"]
