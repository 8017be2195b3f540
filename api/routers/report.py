"""/v1/report: the VoC report of a period as one self-contained HTML page."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import HTMLResponse

from api.deps import AnalystDep, StoreDep
from engine.analytics.metrics import MetricsOptions
from engine.errors import ConfigError
from engine.report.build import VocReport
from engine.report.data import ReportOptions, check_period
from engine.report.html import REPORT_CSP

router = APIRouter(tags=["report"])


@router.get(
    "/report",
    response_class=HTMLResponse,
    responses={200: {"description": "The report page (charts embedded, no scripts)"}},
)
def report(
    store: StoreDep,
    _: AnalystDep,
    first: Annotated[date, Query(alias="from", description="first UTC day (inclusive)")],
    last: Annotated[date, Query(alias="to", description="last UTC day (inclusive)")],
    cost_per_minute: Annotated[float, Query(ge=0, le=1e6)] = 1.0,
) -> HTMLResponse:
    """Top drivers by volume and cost, driver volume over time with alerts, repeat rate and
    negative-emotion share by driver, and emotion timelines of the strongest spikes; the
    period is at most 366 days (422 otherwise, or when ``from`` is after ``to``)."""
    options = ReportOptions(metrics=MetricsOptions(cost_per_minute=cost_per_minute))
    try:
        check_period(first, last, options.max_days)
    except ConfigError as exc:
        raise HTTPException(422, str(exc)) from exc
    page = VocReport(store, options).html(first, last)
    return HTMLResponse(
        page,
        headers={"Content-Security-Policy": REPORT_CSP, "X-Content-Type-Options": "nosniff"},
    )
