"""The report as one self-contained HTML page: charts embedded as data: URIs, no scripts, no
external requests (a Content-Security-Policy says so to the browser), every value escaped."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from engine.report.charts import Chart
from engine.report.data import ReportData

__all__ = ["DRIVER_CHARTS", "REPORT_CSP", "render_html"]

REPORT_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
"""What the page may load: its own inline styles and data: images, nothing else."""

DRIVER_CHARTS = ("chart-volume", "chart-cost", "chart-trend", "chart-repeat", "chart-negative")
"""The driver charts' ids, in page order."""


def _pct(value: float) -> str:
    return f"{100 * value:.1f}%"


def _money(value: float) -> str:
    return f"{value:,.2f}"


def _duration(seconds: float) -> str:
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes}:{rest:02d}"


@cache
def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(Path(__file__).parent),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(pct=_pct, money=_money, duration=_duration)
    return env


def render_html(data: ReportData, charts: Sequence[Chart]) -> str:
    """The page for ``data`` with ``charts`` (as drawn by ``ChartRenderer.render``)."""
    by_id = {c.id: c for c in charts}
    template = _environment().get_template("report.html.j2")
    return template.render(
        data=data,
        charts=by_id,
        driver_charts=[c for c in DRIVER_CHARTS if c in by_id],
        csp=REPORT_CSP,
    )
