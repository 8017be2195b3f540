"""The report page: self-contained, every value escaped, a clear page for an empty period."""

from __future__ import annotations

import html
import re
from datetime import UTC, date, datetime
from html.parser import HTMLParser

from engine.report.build import VocReport
from engine.report.html import REPORT_CSP
from tests.engine.report.conftest import FIRST, LAST
from tests.store_fixtures import make_call, make_meta

NOW = datetime(2026, 11, 22, 6, tzinfo=UTC)
EVIL = '<script>alert("owned")</script> & <img src=x onerror=alert(1)>'


class Tags(HTMLParser):
    """The tags of a page with their attributes, as a browser's parser sees them."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.feed(page)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def check_self_contained(page: str) -> list[str]:
    """The image ids of ``page``, after checking it has no script, no event handler and no
    reference to anything but data: images."""
    tags = Tags(page).tags
    assert "script" not in {tag for tag, _ in tags}
    for tag, attrs in tags:
        assert not [a for a in attrs if a.startswith("on")], tag
        assert "href" not in attrs, tag
        if "src" in attrs:
            assert tag == "img" and (attrs["src"] or "").startswith("data:image/png;base64,")
    return [attrs["id"] or "" for tag, attrs in tags if tag == "img"]


def test_the_page_has_every_chart_and_escapes_names(sqlite_report_store):
    store = sqlite_report_store
    driver = store.voc.drivers(["active"])[0]
    store.voc.rename_driver(driver.id, EVIL)
    page = VocReport(store).html(FIRST, LAST, now=NOW)
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert "<script" not in page.lower() and "<img src=x" not in page
    assert "&lt;script&gt;alert(&#34;owned&#34;)&lt;/script&gt; &amp; &lt;img" in page
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', page)
    assert csp is not None and html.unescape(csp.group(1)) == REPORT_CSP
    assert check_self_contained(page) == [
        "chart-volume",
        "chart-cost",
        "chart-trend",
        "chart-repeat",
        "chart-negative",
        "chart-timeline-1",
        "chart-timeline-2",
    ]
    assert 'id="driver-table"' in page and 'id="alert-table"' in page
    assert "Calls started 2026-11-16 to 2026-11-21" in page
    assert "2026-11-21" in page and "spike" in page and "ridiculous" in page
    rows = re.findall(
        r"<tr><td>(.*?)</td>", page.split('id="driver-table"')[1].split("</table>")[0]
    )
    assert len(rows) == 3 and EVIL not in rows


def test_an_empty_period_is_a_clear_page(sqlite_report_store):
    page = VocReport(sqlite_report_store).html(date(2025, 1, 1), date(2025, 1, 2), now=NOW)
    assert 'id="no-calls"' in page and "No calls in this period." in page
    assert "<img" not in page and page.rstrip().endswith("</html>")


def test_calls_without_an_analysis(tmp_path):
    from engine.store.repo import Store

    with Store.open(f"sqlite:///{tmp_path}/s.db") as store:
        when = datetime(2026, 11, 16, 9, tzinfo=UTC)
        store.save_call(
            store.start_run("a", {}), make_meta("c1", started_at=when), "h", make_call("c1")
        )
        page = VocReport(store).html(FIRST, LAST, now=NOW)
    assert "run <code>callscope analyse</code>" in page and "<img" not in page
    assert "No emotion spikes in this period." in page


def test_write_replaces_the_report_whole(sqlite_report_store, tmp_path):
    out = tmp_path / "out" / "nested"
    path = VocReport(sqlite_report_store).write(FIRST, LAST, out)
    assert path == out / "report.html"
    first = path.read_text(encoding="utf-8")
    assert "chart-timeline-2" in first
    VocReport(sqlite_report_store).write(date(2025, 1, 1), date(2025, 1, 1), out)
    assert "No calls in this period." in path.read_text(encoding="utf-8")
    assert sorted(p.name for p in out.iterdir()) == ["report.html"]  # no temporary file left
