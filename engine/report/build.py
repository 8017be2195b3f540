"""A VoC report over a period: ``VocReport(store).write(first, last, out_dir)``.

The page (``report.html``) is self-contained: top drivers by volume and by cost, driver
volume over time with alerts marked, repeat rate and negative-emotion share by driver, and
the emotion timelines of the calls with the strongest spikes, with tables of the figures.
"""

from __future__ import annotations

import logging
from datetime import date, datetime
from pathlib import Path

from engine.files import atomic_file
from engine.report.charts import ChartRenderer
from engine.report.data import ReportData, ReportOptions, gather_report
from engine.report.html import render_html
from engine.store.repo import Store

__all__ = ["REPORT_FILE", "VocReport"]

log = logging.getLogger(__name__)

REPORT_FILE = "report.html"


class VocReport:
    """Builds the report of a store (see the module docstring); safe to use from threads."""

    def __init__(self, store: Store, options: ReportOptions | None = None) -> None:
        self.store = store
        self.options = options or ReportOptions()

    def data(self, first: date, last: date, now: datetime | None = None) -> ReportData:
        """The figures of the UTC days ``first`` to ``last`` (inclusive)."""
        return gather_report(self.store, first, last, self.options, now)

    def html(self, first: date, last: date, now: datetime | None = None) -> str:
        """The report page of the days ``first`` to ``last``."""
        data = self.data(first, last, now)
        return render_html(data, ChartRenderer(self.options).render(data))

    def write(self, first: date, last: date, out_dir: Path) -> Path:
        """Write ``out_dir/report.html`` whole or not at all (the folder is made if needed)."""
        page = self.html(first, last)
        out_dir.mkdir(parents=True, exist_ok=True)
        path = out_dir / REPORT_FILE
        with atomic_file(path) as fh:
            fh.write(page)
        log.info("wrote the report of %s to %s to %s", first, last, path)
        return path
