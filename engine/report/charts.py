"""The report's charts, drawn with matplotlib and returned as PNG images.

Figures are ``matplotlib.figure.Figure`` objects rendered by the Agg canvas directly: pyplot
and its global figure manager are never used and no backend is selected, so charts can be
drawn in API worker threads without touching process-wide state.

Text that comes from analysts or transcripts (driver names, call ids) is shown literally: a
``$`` is escaped so that matplotlib never reads it as mathtext.
"""

from __future__ import annotations

import base64
import io
import logging
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from matplotlib.axes import Axes
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter, date2num
from matplotlib.figure import Figure

from engine.report.data import CallTimeline, DriverRow, ReportData, ReportOptions
from engine.types import Role

__all__ = ["Chart", "ChartRenderer", "chart_label"]

log = logging.getLogger(__name__)

_PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
    "#d62728",
)
_ROLE_COLOURS = {Role.AGENT: "#1f77b4", Role.CUSTOMER: "#d62728", Role.UNKNOWN: "#7f7f7f"}
_ALERT_MARKERS = {"spike": ("^", "#d62728"), "trend": ("D", "#ff7f0e")}


@dataclass(frozen=True, slots=True)
class Chart:
    """One rendered chart: ``id`` is its HTML id, ``alt`` its text alternative."""

    id: str
    title: str
    alt: str
    png: bytes

    @property
    def data_uri(self) -> str:
        return "data:image/png;base64," + base64.b64encode(self.png).decode("ascii")

    @property
    def width(self) -> int:
        """Pixels across (from the PNG header)."""
        return int(struct.unpack(">I", self.png[16:20])[0])

    @property
    def height(self) -> int:
        return int(struct.unpack(">I", self.png[20:24])[0])


def chart_label(text: str, width: int = 40) -> str:
    """``text`` on one line, cut to ``width`` characters, with ``$`` kept literal."""
    text = " ".join(text.split())
    if len(text) > width:
        text = text[: width - 1] + "…"
    return text.replace("$", r"\$")


class ChartRenderer:
    """Draws a report's charts (see ``render``); ``dpi`` sets the pixel size of the images."""

    def __init__(self, options: ReportOptions | None = None, dpi: int = 100) -> None:
        self.options = options or ReportOptions()
        self.dpi = dpi

    def render(self, data: ReportData) -> tuple[Chart, ...]:
        """Every chart that has something to show: the driver charts (ids ``chart-volume``,
        ``chart-cost``, ``chart-trend``, ``chart-repeat``, ``chart-negative``) when some call
        has a driver, then one ``chart-timeline-K`` (K from 1) per emotion timeline."""
        charts: list[Chart] = []
        if data.drivers:
            charts += [
                self.volume(data),
                self.cost(data),
                self.trend(data),
                self.repeat_rate(data),
                self.negative_share(data),
            ]
        charts += [self.timeline(t, k) for k, t in enumerate(data.timelines, start=1)]
        log.debug("rendered %d charts", len(charts))
        return tuple(charts)

    # ------------------------------------------------------------------ driver charts

    def volume(self, data: ReportData) -> Chart:
        rows = data.drivers[: self.options.top_drivers]
        return self._bars(
            "chart-volume",
            "Top drivers by volume",
            rows,
            [r.figures.volume for r in rows],
            "calls in the period",
            lambda v: f"{v:,.0f}",
            len(data.drivers),
        )

    def cost(self, data: ReportData) -> Chart:
        rows = sorted(data.drivers, key=lambda r: (-r.figures.cost, r.driver_id))
        rows = rows[: self.options.top_drivers]
        return self._bars(
            "chart-cost",
            "Top drivers by cost",
            rows,
            [r.figures.cost for r in rows],
            f"handle cost ({data.cost_per_minute:g} a minute)",
            lambda v: f"{v:,.2f}",
            len(data.drivers),
        )

    def repeat_rate(self, data: ReportData) -> Chart:
        rows = data.drivers[: self.options.top_drivers]
        return self._bars(
            "chart-repeat",
            "Repeat rate by driver",
            rows,
            [100 * r.figures.repeat_rate for r in rows],
            "% of the driver's calls that are repeat contacts",
            lambda v: f"{v:.1f}%",
            len(data.drivers),
            percent=True,
        )

    def negative_share(self, data: ReportData) -> Chart:
        rows = data.drivers[: self.options.top_drivers]
        return self._bars(
            "chart-negative",
            "Negative-emotion share by driver",
            rows,
            [100 * r.figures.negative_share for r in rows],
            "% of the driver's calls with an emotion spike",
            lambda v: f"{v:.1f}%",
            len(data.drivers),
            percent=True,
        )

    def trend(self, data: ReportData) -> Chart:
        """Daily volume of the largest drivers and of every driver with an alert, over the
        days with calls; alerts are marked on their driver's line."""
        n = self.options.series_drivers
        shown = list(data.drivers[:n])
        shown += [r for r in data.drivers[n:] if r.figures.alerts][:n]
        fig = self._figure(9.0, 4.2)
        ax = fig.subplots()
        days = list(data.days)
        x = date2num(days)
        marked: set[str] = set()
        for k, row in enumerate(shown):
            by_day = {d.day: d.volume for d in row.figures.days}
            colour = _PALETTE[k % len(_PALETTE)]
            ax.plot(
                x,
                [by_day.get(day, 0) for day in days],
                marker="o",
                markersize=3,
                linewidth=1.6,
                color=colour,
                label=chart_label(row.name, 32),
            )
            for alert in row.figures.alerts:
                marker, edge = _ALERT_MARKERS.get(alert.kind, ("o", "#d62728"))
                label = f"alert: {alert.kind}" if alert.kind not in marked else None
                marked.add(alert.kind)
                ax.scatter(
                    date2num([alert.day]),
                    [by_day.get(alert.day, alert.observed)],
                    s=110,
                    marker=marker,
                    facecolor="none",
                    edgecolor=edge,
                    linewidth=2,
                    zorder=5,
                    label=label,
                )
        self._date_axis(ax, x)
        ax.set_ylim(bottom=0)
        ax.set_ylabel("calls a day")
        ax.set_title("Driver volume over time")
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
        alerts = sum(len(r.figures.alerts) for r in shown)
        alt = (
            f"Line chart: daily calls of {len(shown)} drivers over {len(days)} days with calls, "
            f"{alerts} alerts marked"
        )
        return self._chart(fig, "chart-trend", "Driver volume over time", alt)

    # ------------------------------------------------------------------ emotion timeline

    def timeline(self, timeline: CallTimeline, k: int) -> Chart:
        """A call's sentiment (top) and spike score (bottom) per utterance and speaker, with
        the spikes shaded and the spike threshold dashed."""
        fig = self._figure(9.0, 4.6)
        top, bottom = fig.subplots(2, 1, sharex=True)
        speakers = sorted({(p.role, p.speaker) for p in timeline.points}, key=lambda x: x[1])
        for role, speaker in speakers:
            points = [p for p in timeline.points if p.speaker == speaker]
            colour = _ROLE_COLOURS.get(role, "#7f7f7f")
            label = chart_label(f"{role.value} ({speaker})", 30)
            mids = [(p.start + p.end) / 2 for p in points]
            for ax, values in (
                (top, [p.sentiment for p in points]),
                (bottom, [p.score for p in points]),
            ):
                ax.hlines(
                    values, [p.start for p in points], [p.end for p in points], colors=colour, lw=3
                )
                ax.plot(mids, values, marker="o", ms=4, lw=0.8, ls=":", color=colour, label=label)
        for n, spike in enumerate(timeline.spikes):
            for ax in (top, bottom):
                ax.axvspan(
                    spike.start,
                    spike.end,
                    color="#d62728",
                    alpha=0.15,
                    label="emotion spike" if n == 0 and ax is bottom else None,
                )
        bottom.axhline(timeline.threshold, color="#444444", ls="--", lw=1, label="spike threshold")
        top.axhline(0.0, color="#999999", lw=0.6)
        top.set_ylim(-1.05, 1.05)
        top.set_ylabel("sentiment")
        bottom.set_ylabel("spike score")
        bottom.set_xlabel("seconds into the call")
        bottom.set_xlim(0, max([timeline.duration] + [p.end for p in timeline.points]))
        for ax in (top, bottom):
            ax.grid(alpha=0.3)
        handles, labels = bottom.get_legend_handles_labels()
        fig.legend(handles, labels, fontsize=8, loc="outside right upper", frameon=False)
        driver = f" · {chart_label(timeline.driver, 40)}" if timeline.driver else ""
        title = f"Call {timeline.call_id}"
        top.set_title(
            f"{chart_label(title, 60)} · {timeline.started_at:%Y-%m-%d %H:%M} UTC{driver}",
            fontsize=10,
        )
        alt = (
            f"Emotion timeline of call {timeline.call_id}: sentiment and spike score of "
            f"{len(timeline.points)} utterances, {len(timeline.spikes)} spikes shaded "
            f"(strongest {timeline.peak:.2f})"
        )
        return self._chart(fig, f"chart-timeline-{k}", f"Emotion timeline: {title}", alt)

    # ------------------------------------------------------------------ drawing

    def _figure(self, width: float, height: float) -> Figure:
        return Figure(figsize=(width, height), dpi=self.dpi, layout="constrained")

    def _bars(
        self,
        chart_id: str,
        title: str,
        rows: Sequence[DriverRow],
        values: Sequence[float],
        xlabel: str,
        fmt: Callable[[float], str],
        total: int,
        percent: bool = False,
    ) -> Chart:
        fig = self._figure(9.0, 1.3 + 0.36 * len(rows))
        ax = fig.subplots()
        positions = list(range(len(rows)))
        bars = ax.barh(positions, values, color=_PALETTE[0], height=0.65)
        ax.set_yticks(positions, [chart_label(r.name) for r in rows])
        ax.invert_yaxis()
        ax.bar_label(bars, labels=[fmt(v) for v in values], padding=3, fontsize=8)
        top = max(values, default=0.0)
        ax.set_xlim(0, max(top * 1.18, 5.0 if percent else 1.0))
        ax.set_xlabel(xlabel)
        ax.set_title(title)
        ax.grid(axis="x", alpha=0.3)
        ax.spines[["top", "right"]].set_visible(False)
        shown = f"top {len(rows)} of {total}" if len(rows) < total else f"all {total}"
        alt = f"Bar chart: {title.lower()}, {shown} drivers: " + "; ".join(
            f"{r.name} {fmt(v)}" for r, v in zip(rows, values, strict=True)
        )
        return self._chart(fig, chart_id, title, alt)

    def _date_axis(self, ax: Axes, x: Sequence[float]) -> None:
        """Dates on the x axis, with half a day to spare either side (one day works too)."""
        locator = AutoDateLocator(minticks=3, maxticks=10)
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))
        if len(x):
            ax.set_xlim(float(x[0]) - 0.5, float(x[-1]) + 0.5)

    def _chart(self, fig: Figure, chart_id: str, title: str, alt: str) -> Chart:
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", metadata={"Software": None})
        return Chart(chart_id, title, alt, buffer.getvalue())
