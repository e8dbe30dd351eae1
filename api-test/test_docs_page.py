"""The Swagger UI page at /docs/, loaded through the gateway by headless Chromium.

Chromium runs the page's scripts, then its DOM must list every operation of the document
(method and path) under the three services' sections. Every host but 127.0.0.1 is made
unresolvable for Chromium, so the page can only render from assets the stack serves itself.
A screenshot and the rendered DOM are kept in API_TEST_OUT (default run/api-test).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from html.parser import HTMLParser
from pathlib import Path

import pytest
import requests

GATEWAY = os.environ.get("GATEWAY", "http://127.0.0.1:8000").rstrip("/")
OUT_DIR = Path(os.environ.get("API_TEST_OUT", Path(__file__).resolve().parent.parent / "run" / "api-test"))
# Virtual time the page may use to load and render before the DOM is taken.
BUDGET_MS = 20000


class Operations(HTMLParser):
    """Collects (METHOD, path) of every rendered operation block, and the section titles."""

    def __init__(self) -> None:
        super().__init__()
        self.operations: list[tuple[str, str]] = []
        self.sections: list[str] = []
        self._method: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = dict(attrs)
        classes = (attr.get("class") or "").split()
        if tag == "div" and "opblock" in classes:
            methods = [c[len("opblock-") :] for c in classes if c.startswith("opblock-")]
            self._method = methods[0].upper() if methods else None
        if "opblock-summary-path" in classes and self._method and attr.get("data-path"):
            self.operations.append((self._method, attr["data-path"]))
            self._method = None
        if tag == "h3" and "opblock-tag" in classes and attr.get("data-tag"):
            self.sections.append(attr["data-tag"])


@pytest.fixture
def chromium():
    """The command line of a headless Chromium with a throwaway profile."""
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        pytest.fail("chromium is not installed (apt-get install chromium): make api-test installs it as root")
    with tempfile.TemporaryDirectory(prefix="api-test-chromium-") as profile:
        yield [
            binary,
            "--headless",
            "--no-sandbox",  # CI runs as root
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--hide-scrollbars",
            f"--user-data-dir={profile}",
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
            f"--virtual-time-budget={BUDGET_MS}",
        ]


def run(args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)


def test_docs_page_lists_every_operation_of_the_document(chromium):
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    document = requests.get(f"{GATEWAY}/docs/openapi.json", timeout=30).json()
    expected = {
        (method.upper(), path) for path, item in document["paths"].items() for method in item
    }
    url = f"{GATEWAY}/docs/"

    result = run(chromium + ["--dump-dom", url])
    (OUT_DIR / "docs.html").write_text(result.stdout)
    assert result.returncode == 0, result.stderr[-2000:]
    page = Operations()
    page.feed(result.stdout)
    rendered = set(page.operations)
    assert rendered == expected, (
        f"missing from the page: {sorted(expected - rendered)}\n"
        f"on the page but not in the document: {sorted(rendered - expected)}\n"
        f"(DOM in {OUT_DIR / 'docs.html'})"
    )
    assert len(page.operations) == len(expected), "an operation is shown twice"
    assert sorted(page.sections) == sorted(t["name"] for t in document["tags"])

    shot = OUT_DIR / "docs.png"
    shot.unlink(missing_ok=True)
    result = run(chromium + ["--window-size=1280,2600", f"--screenshot={shot}", url])
    assert result.returncode == 0, result.stderr[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000, shot
    print(f"\n{len(rendered)} operations rendered; screenshot {shot}")
