"""The real offline study (bundled sample, an empty price cache), shared by the report tests."""
from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EVENTS = REPO / "events.csv"


@pytest.fixture(scope="session")
def offline_result(tmp_path_factory):
    from eventstudy import load_config, load_events, run_study
    cache = tmp_path_factory.mktemp("empty-cache")
    return run_study(load_events(EVENTS), load_config(None), offline=True, cache_dir=cache)


@pytest.fixture(scope="session")
def report_dir(offline_result, tmp_path_factory) -> Path:
    from eventstudy.report import build_report
    out = tmp_path_factory.mktemp("report")
    build_report(offline_result, out, generated_at="2025-01-01 00:00:00 UTC")
    return out
