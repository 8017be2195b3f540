"""The report in a real browser: headless Chromium (the Debian package) takes a screenshot of
it, and a copy of the page with a probe script appended reports every image as loaded.

Skipped when Chromium is missing, unless ``CALLSCOPE_REQUIRE_BROWSER=1`` (as in CI:
tests/install-and-run.sh installs it), which makes it fail instead.
"""

from __future__ import annotations

import html
import io
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from engine.report.build import VocReport
from engine.report.html import REPORT_CSP
from tests.engine.report.conftest import FIRST, LAST

pytestmark = pytest.mark.browser

REQUIRE_ENV = "CALLSCOPE_REQUIRE_BROWSER"
WINDOW = (1280, 2400)
CHARTS = [
    "chart-volume",
    "chart-cost",
    "chart-trend",
    "chart-repeat",
    "chart-negative",
    "chart-timeline-1",
    "chart-timeline-2",
]
PROBE = """<script>
window.addEventListener("load", () => {
  const images = [...document.images].map((i) => ({
    id: i.id, alt: i.alt, complete: i.complete, width: i.naturalWidth, height: i.naturalHeight,
  }));
  const out = document.createElement("pre");
  out.id = "probe";
  out.textContent = JSON.stringify({title: document.title, images: images});
  document.body.appendChild(out);
});
</script>
"""


@pytest.fixture(scope="module")
def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        reason = "the browser tests need Chromium (apt-get install chromium)"
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(f"{reason}; ${REQUIRE_ENV}=1 requires them")
        pytest.skip(reason)
    return found


def run_chromium(chromium: str, profile: Path, *args: str) -> str:
    command = [
        chromium,
        "--headless",
        "--no-sandbox",  # needed as root (CI containers); the page runs no foreign code
        "--disable-gpu",
        "--no-first-run",
        "--hide-scrollbars",
        f"--user-data-dir={profile}",
        *args,
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def probe(chromium: str, page: Path, tmp_path: Path) -> dict:
    """What the browser made of ``page``: its title and every image's load state and size."""
    text = page.read_text(encoding="utf-8")
    csp = html.escape(REPORT_CSP, quote=True)
    relaxed = html.escape(f"{REPORT_CSP}; script-src 'unsafe-inline'", quote=True)
    text = re.sub(
        r'(http-equiv="Content-Security-Policy" content=")[^"]*"', rf'\g<1>{relaxed}"', text
    )
    assert relaxed in text and csp not in text.replace(relaxed, "")
    copy = tmp_path / f"probe-{page.name}"
    copy.write_text(text.replace("</body>", PROBE + "</body>"), encoding="utf-8")
    dom = run_chromium(
        chromium, tmp_path / "profile", "--virtual-time-budget=10000", "--dump-dom", copy.as_uri()
    )
    found = re.search(r'<pre id="probe">(.*?)</pre>', dom, re.DOTALL)
    assert found is not None, dom[-2000:]
    return json.loads(html.unescape(found.group(1)))


def test_the_report_in_headless_chromium(chromium, sqlite_report_store, tmp_path):
    page = VocReport(sqlite_report_store).write(FIRST, LAST, tmp_path / "report")
    shot = tmp_path / "report.png"
    run_chromium(
        chromium,
        tmp_path / "profile",
        f"--window-size={WINDOW[0]},{WINDOW[1]}",
        f"--screenshot={shot}",
        page.as_uri(),
    )
    image = Image.open(io.BytesIO(shot.read_bytes()))
    assert image.format == "PNG" and image.size == WINDOW
    colours = image.convert("RGB").getcolors(maxcolors=1 << 20)
    assert colours is None or len(colours) > 50, "the screenshot looks blank"

    seen = probe(chromium, page, tmp_path)
    assert seen["title"] == "Voice of the customer · 2026-11-16 to 2026-11-21"
    images = seen["images"]
    assert [i["id"] for i in images] == CHARTS
    broken = [i["id"] for i in images if not i["complete"] or i["width"] == 0]
    assert broken == []
    assert all(i["width"] >= 600 and i["height"] >= 150 and i["alt"] for i in images)


def test_an_empty_report_in_headless_chromium(chromium, sqlite_report_store, tmp_path):
    page = VocReport(sqlite_report_store).write(
        FIRST.replace(year=2020), LAST.replace(year=2020), tmp_path / "empty"
    )
    seen = probe(chromium, page, tmp_path)
    assert seen["images"] == [] and seen["title"].endswith("2020-11-16 to 2020-11-21")
