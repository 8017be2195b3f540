"""``callscope report``: writes DIR/report.html and prints its path; bad periods exit 2."""

from __future__ import annotations

from engine.cli import main
from engine.store.repo import Store
from tests.engine.report.conftest import fill_report_store


def test_report_command(tmp_path, capsys, caplog):
    url = f"sqlite:///{tmp_path / 'store.db'}"
    with Store.open(url) as store:
        fill_report_store(store)
    out = tmp_path / "reports"
    args = ["--store", url, "--out", str(out)]
    assert main(["report", "--from", "2026-11-16", "--to", "2026-11-21", *args]) == 0
    assert capsys.readouterr().out == f"{out / 'report.html'}\n"
    page = (out / "report.html").read_text(encoding="utf-8")
    assert 'id="chart-trend"' in page and 'id="chart-timeline-2"' in page
    assert main(["report", "--from", "2026-11-20", "--to", "2026-11-21", *args]) == 0
    assert 'id="chart-timeline-2"' not in (out / "report.html").read_text(encoding="utf-8")
    capsys.readouterr()

    assert main(["report", "--from", "16/11/2026", "--to", "2026-11-21", *args]) == 2
    assert "--from '16/11/2026': not a date (YYYY-MM-DD)" in caplog.text
    assert main(["report", "--from", "2026-11-21", "--to", "2026-11-16", *args]) == 2
    assert "starts after it ends: 2026-11-21 > 2026-11-16" in caplog.text
    assert main(["report", "--from", "2020-01-01", "--to", "2026-11-16", *args]) == 2
    assert "a report covers at most 366" in caplog.text
    period = ["--from", "2026-11-16", "--to", "2026-11-21"]
    assert main(["report", *period, *args, "--cost-per-minute", "-1"]) == 2
    assert "cost_per_minute must be >= 0" in caplog.text
    assert capsys.readouterr().out == ""
