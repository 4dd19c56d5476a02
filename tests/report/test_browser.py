"""The offline report in headless Chromium with every network request blocked.

Needs Debian's chromium (apt-get install chromium) and the playwright package; never runs
`playwright install`. Skipped, with the reason, where either is missing.
"""
from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from tests.report.browser import (declared_figures, offline_browser, open_page,
                                  rendered_figures, unavailable)

REASON = unavailable()
pytestmark = [pytest.mark.browser, pytest.mark.skipif(REASON is not None, reason=REASON or "")]

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def cli_report(tmp_path_factory) -> Path:
    """`eventstudy run --offline` on the repo's events.csv, with an empty price cache."""
    from click.testing import CliRunner

    from eventstudy.cli import main
    out = tmp_path_factory.mktemp("cli") / "rep"
    cache = tmp_path_factory.mktemp("cache")
    res = CliRunner().invoke(main, ["run", "--offline", "--events", str(REPO / "events.csv"),
                                    "--out", str(out), "--cache", str(cache)])
    assert res.exit_code == 0, res.output
    rebuilt = int(re.search(r"rebuilt (\d+) pages", res.output).group(1))
    assert rebuilt == len(list(out.rglob("*.html")))     # a fresh folder: every page built
    return out


@pytest.fixture(scope="module")
def browser():
    with offline_browser() as b:
        yield b


def assert_clean(visit, page: Path) -> None:
    assert visit.blocked == [], f"{page.name} tried the network: {visit.blocked}"
    assert visit.console_errors == [], f"{page.name} console errors: {visit.console_errors}"
    assert visit.page_errors == [], f"{page.name} page errors: {visit.page_errors}"
    assert visit.failed == [], f"{page.name} missing files: {visit.failed}"
    n = declared_figures(visit.page)
    assert n >= 1
    assert rendered_figures(visit.page) == n
    svgs = visit.page.eval_on_selector_all(".js-plotly-plot .main-svg", "e => e.length")
    assert svgs >= n                       # plotly draws 2-3 svg layers per chart


def local_targets(visit, page: Path) -> list[tuple[str, Path]]:
    hrefs = visit.page.eval_on_selector_all("a[href]", "els => els.map(a => a.href)")
    out = []
    for href in hrefs:
        url = urlparse(href)
        if url.scheme != "file":
            assert url.scheme in ("http", "https", "mailto"), href
            continue
        out.append((href, Path(unquote(url.path))))
    return out


def test_index_offline(browser, cli_report):
    from eventstudy import load_config, load_events
    page = cli_report / "index.html"
    visit = open_page(browser, page)
    assert_clean(visit, page)
    p = visit.page
    n_rows = p.eval_on_selector_all("#summary tbody tr", "rows => rows.length")
    events = load_events(REPO / "events.csv")
    assert n_rows == len(events) * len(load_config(None).studied)

    targets = local_targets(visit, page)
    assert targets, "no links on the index"
    for href, path in targets:
        assert path.is_file(), f"broken link {href}"
    linked = {path.resolve() for _, path in targets}
    for eid in events["event_id"]:
        assert (cli_report / "events" / f"{eid}.html").resolve() in linked
    for gid in load_config(None).groups:
        assert (cli_report / "groups" / f"{gid}.html").resolve() in linked

    # Sorting: a click on the first CAR column orders the rows by the value (missing last).
    header = p.locator("#summary thead tr:last-child th").nth(4)
    header.click()
    values = p.eval_on_selector_all(
        "#summary tbody tr", "rows => rows.map(r => r.cells[4].getAttribute('data-v'))")
    numbers = [float(v) for v in values if v]
    assert numbers == sorted(numbers)
    assert header.get_attribute("aria-sort") == "ascending"
    header.click()
    values = p.eval_on_selector_all(
        "#summary tbody tr", "rows => rows.map(r => r.cells[4].getAttribute('data-v'))")
    numbers = [float(v) for v in values if v]
    assert numbers == sorted(numbers, reverse=True)
    p.context.close()


def test_event_page_offline_and_links_back(browser, cli_report):
    page = cli_report / "events" / "us-japan-talks-1.html"
    visit = open_page(browser, page)
    assert_clean(visit, page)
    p = visit.page
    text = p.inner_text("#day0")
    assert "day 0 = 2025-04-17" in text and "JST" in text and "EDT" in text
    for href, path in local_targets(visit, page):
        assert path.is_file(), f"broken link {href}"
    # The way back to the overview, and from there to another event, by clicking.
    p.click("nav.pager >> text=overview")
    p.wait_for_load_state("load")
    assert p.url.endswith("/index.html")
    assert p.eval_on_selector_all("#summary tbody tr", "rows => rows.length") > 0
    p.click("#summary a[href='events/us-japan-talks-2.html'] >> nth=0")
    p.wait_for_load_state("load")
    assert p.url.endswith("/events/us-japan-talks-2.html")
    assert visit.blocked == [] and visit.page_errors == []
    p.context.close()


@pytest.mark.parametrize("rel", ["groups/automakers.html", "groups/escalations.html",
                                 "events/liberation-day.html"])
def test_other_pages_render_offline(browser, cli_report, rel):
    page = cli_report / rel
    visit = open_page(browser, page)
    assert_clean(visit, page)
    for href, path in local_targets(visit, page):
        assert path.is_file(), f"broken link {href}"
    visit.page.context.close()


def test_methods_page_offline(browser, cli_report):
    page = cli_report / "methods.html"
    visit = open_page(browser, page, wait_for_figures=False)
    assert visit.blocked == [] and visit.console_errors == [] and visit.page_errors == []
    assert declared_figures(visit.page) == 0
    for href, path in local_targets(visit, page):
        assert path.is_file(), f"broken link {href}"
    visit.page.context.close()


def test_the_network_guard_records_and_blocks(browser, tmp_path):
    """The guard itself: a page that reaches out is caught (so a clean run means something)."""
    page = tmp_path / "leaky.html"
    page.write_text('<!DOCTYPE html><html><head><meta name="eventstudy:figures" content="0">'
                    '<script src="https://cdn.example.invalid/x.js"></script></head><body>'
                    '<img src="http://img.example.invalid/y.png"></body></html>', "utf-8")
    visit = open_page(browser, page, wait_for_figures=False)
    assert sorted(visit.blocked) == ["http://img.example.invalid/y.png",
                                     "https://cdn.example.invalid/x.js"]
    visit.page.context.close()
