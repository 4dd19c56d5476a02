"""The report of an installed wheel, opened in headless Chromium (issue #12, item 1).

`.ci/run` installs the built wheel in a fresh venv, runs `eventstudy init` and `eventstudy run
--offline` from an empty folder, and points EVENTSTUDY_INSTALLED_REPORT at the reports folder
it wrote; this test opens its pages offline. Without that variable (a developer's plain
`pytest`) it is skipped: tests/test_install.py covers the install without a browser.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.report.browser import (declared_figures, offline_browser, open_page,
                                  rendered_figures, unavailable)

REPORT = os.environ.get("EVENTSTUDY_INSTALLED_REPORT")
REASON = unavailable() or (None if REPORT else "EVENTSTUDY_INSTALLED_REPORT is not set "
                           "(.ci/run sets it)")
pytestmark = [pytest.mark.browser, pytest.mark.skipif(REASON is not None, reason=REASON or "")]


@pytest.mark.parametrize("rel", ["index.html", "events/liberation-day.html", "methods.html"])
def test_installed_report_opens_offline(rel):
    page = Path(REPORT) / rel
    assert page.is_file(), page
    with offline_browser() as browser:
        visit = open_page(browser, page, wait_for_figures=rel != "methods.html")
        assert not visit.page_errors, visit.page_errors
        assert not visit.console_errors, visit.console_errors
        assert not visit.failed, visit.failed
        assert not visit.blocked, visit.blocked
        assert rendered_figures(visit.page) == declared_figures(visit.page)
        if rel == "methods.html":
            assert "was not found" not in visit.page.content()
            assert visit.page.eval_on_selector_all("section.doc", "s => s.length") >= 1
