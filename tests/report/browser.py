"""Headless Chromium for the report tests and the README screenshots (no network, ever).

Uses Debian's chromium through the playwright package (`playwright install` is never run):

    with offline_browser() as browser:
        visit = open_page(browser, path)        # every non-file:// request aborted, recorded
        visit.page.screenshot(path="x.png")

Regenerate the README images from a real offline run:

    /work/venv/bin/python -m tests.report.browser [--out docs/img]
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
REPO = Path(__file__).resolve().parents[2]


def chromium_path() -> str | None:
    env = os.environ.get("EVENTSTUDY_CHROMIUM")
    for candidate in ((env,) if env else ()) + CHROMIUM_CANDIDATES:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("chromium")


def unavailable() -> str | None:
    """Why the browser tests cannot run here, or None if they can."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install playwright)"
    if chromium_path() is None:
        return ("no chromium executable (apt-get install chromium, or set EVENTSTUDY_CHROMIUM); "
                "playwright's own browsers are not used")
    return None


@dataclass
class Visit:
    page: object                                     # playwright Page
    blocked: list[str] = field(default_factory=list)  # non-file:// requests, all aborted
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)   # file:// requests that failed


@contextmanager
def offline_browser():
    from playwright.sync_api import sync_playwright
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS,
                                     headless=True)
        try:
            yield browser
        finally:
            browser.close()


def open_page(browser, path: Path, *, width: int = 1360, height: int = 900,
              wait_for_figures: bool = True, timeout_ms: int = 30000) -> Visit:
    """Open a report page from file:// with every other request aborted and recorded."""
    context = browser.new_context(viewport={"width": width, "height": height},
                                  device_scale_factor=1, service_workers="block")
    page = context.new_page()
    visit = Visit(page=page)

    def route(r):
        url = r.request.url
        if url.startswith("file://"):
            r.continue_()
        else:
            visit.blocked.append(url)
            r.abort()

    page.route("**/*", route)
    page.on("console", lambda m: visit.console_errors.append(m.text) if m.type == "error"
            else None)
    page.on("pageerror", lambda e: visit.page_errors.append(str(e)))
    page.on("requestfailed", lambda r: visit.failed.append(r.url)
            if r.url.startswith("file://") else None)
    page.goto(Path(path).resolve().as_uri(), wait_until="load", timeout=timeout_ms)
    if wait_for_figures:
        expected = declared_figures(page)
        page.wait_for_function(
            "n => document.querySelectorAll('.js-plotly-plot .main-svg').length >= n "
            "&& document.querySelectorAll('.js-plotly-plot').length >= n",
            arg=expected, timeout=timeout_ms)
    return visit


def declared_figures(page) -> int:
    content = page.eval_on_selector('meta[name="eventstudy:figures"]', "m => m.content")
    return int(content)


def rendered_figures(page) -> int:
    return page.eval_on_selector_all(".js-plotly-plot", "els => els.length")


def screenshot(browser, page_path: Path, png: Path, *, width: int = 1360, height: int = 900,
               full_page: bool = False, clip_height: int | None = None) -> Path:
    visit = open_page(browser, page_path, width=width, height=height)
    png.parent.mkdir(parents=True, exist_ok=True)
    if clip_height is not None:
        total = visit.page.evaluate("document.documentElement.scrollHeight")
        visit.page.screenshot(path=str(png), full_page=True,
                              clip={"x": 0, "y": 0, "width": width,
                                    "height": min(clip_height, total)})
    else:
        visit.page.screenshot(path=str(png), full_page=full_page)
    visit.page.context.close()
    return png


def build_offline_report(out: Path, cache: Path) -> None:
    """A real `eventstudy run --offline` on the repo's events.csv into `out`, with an empty
    price cache (so the bundled sample is used, as on a fresh checkout)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "eventstudy.cli", "run", "--offline", "--events",
           str(REPO / "events.csv"), "--out", str(out), "--cache", str(cache)]
    subprocess.run(cmd, check=True, cwd=out.parent, capture_output=True, text=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="README screenshots of the offline report")
    parser.add_argument("--out", default=str(REPO / "docs" / "img"))
    parser.add_argument("--report", default=None, help="an existing report folder to shoot")
    args = parser.parse_args(argv)
    reason = unavailable()
    if reason:
        print(f"cannot take screenshots: {reason}", file=sys.stderr)
        return 1
    out = Path(args.out)
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(args.report) if args.report else Path(tmp) / "rep"
        if not args.report:
            build_offline_report(report, Path(tmp) / "cache")
        with offline_browser() as browser:
            shots = [(report / "index.html", out / "index.png", 1450),
                     (report / "events" / "us-japan-talks-1.html", out / "us-japan-talks-1.png",
                      1900)]
            for page, png, clip in shots:
                screenshot(browser, page, png, clip_height=clip)
                print(f"{png} ({png.stat().st_size // 1024} KB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
