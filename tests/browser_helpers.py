"""A real Chromium for the browser-source tests and benchmark (not a test module).

Debian's ``chromium`` (apt; ``.ci/run`` installs it) driven by Playwright with ``executable_path``:
Playwright's own browser download cannot work on this offline machine.  The flags are the ones Chromium
needs here (root, no GPU, no network beyond loopback); Playwright gives every launch a new empty
``--user-data-dir``.
"""
from __future__ import annotations

import contextlib
import os
import shutil
from typing import Iterator

CHROMIUM = os.environ.get("DANCEPOSE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def chromium_missing() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if not (os.path.isfile(CHROMIUM) or shutil.which(CHROMIUM)):
        return f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -e '.[test]')"
    return None


@contextlib.contextmanager
def chromium() -> Iterator[object]:
    """A headless Chromium (Playwright ``Browser``), closed (and its processes ended) on exit."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


def page_state(page) -> dict:
    """The page's counters (``window.dancepose``): frames, received, drawn, elapsed ms, connected."""
    return page.evaluate("({frames: dancepose.frames, received: dancepose.received, drawn: dancepose.drawn,"
                         " elapsed: performance.now() - dancepose.started, connected: dancepose.connected})")
