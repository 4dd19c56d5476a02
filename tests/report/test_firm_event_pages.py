"""Many firm-specific events (issue #8): no page each above FIRM_EVENT_PAGES, no dead links,
and the index says where their pairs are; a few firm events keep their pages."""
from __future__ import annotations

import re

import numpy as np
import pandas as pd

from eventstudy import run_study
from eventstudy.report import build_report, pages
from tests.report.test_universe_pages import table
from tests.synthetic import sessions
from tests.test_universe_study import events, market, universe_config


def firm_study(tmp_path, n_events: int):
    market(tmp_path)
    rng = np.random.default_rng(11)
    days = sessions("XNYS", "2024-06-03", "2025-11-28")
    pick = np.sort(rng.choice(len(days), n_events, replace=False))
    rows = [f"earn-{k:04d},U{k % 5},{days[d]:%Y-%m-%d} 10:00 America/New_York,minute,"
            f"{'beat' if k % 2 else 'miss'}" for k, d in enumerate(pick)]
    (tmp_path / "earnings.csv").write_text(
        "event_id,security,announced_at,time_precision,category\n" + "\n".join(rows) + "\n")
    cfg = universe_config(tmp_path, '[events.earnings]\npath = "earnings.csv"\n')
    res = run_study(events(), cfg, offline=True, cache_dir=tmp_path / "c", memoize=False)
    out = tmp_path / "out"
    res.write_csvs(out / "results")
    res.write_parquet(out / "results")
    build_report(res, out, generated_at="2025-01-01 00:00:00 UTC")
    return res, out


def links(html: str) -> list[str]:
    return re.findall(r'href="([^"#]+)"', html)


def test_many_firm_events_get_no_page_each_and_no_dead_link(tmp_path):
    res, out = firm_study(tmp_path, pages.FIRM_EVENT_ROWS + 20)
    firm = set(res.firm_events["event_id"])
    assert len(firm) == pages.FIRM_EVENT_ROWS + 20
    written = {p.stem for p in (out / "events").glob("*.html")}
    assert written == {"ev-a", "ev-b", "ev-c"}             # the global events only
    index = (out / "index.html").read_text("utf-8")
    assert f"{len(firm):,} firm-specific events have no page each" in index
    assert not any(f"earn-{k:04d}" in index for k in range(len(firm)))   # no row per firm event
    # ... but a summary by category, whose n and mean CAR are the frames'
    rows = {r[0]: r for r in table(index, "summary-firm-market_model")}
    car = res.car[res.car["event_id"].isin(firm) & (res.car["model"] == "market_model")
                  & (res.car["window_start"] == 0) & (res.car["window_end"] == 0)]
    cat = res.firm_events.set_index("event_id")["category"]
    for category in ("beat", "miss"):
        sub = car[car["event_id"].map(cat) == category]
        pairs = res.alignment[res.alignment["event_id"].map(cat) == category]
        assert rows[category][2] == f"{len(pairs):,}"
        assert rows[category][3].startswith(f"{100 * sub['car'].mean():+.2f}")
    for page in [out / "index.html", *out.glob("*/*.html")]:
        for href in links(page.read_text("utf-8")):
            if href.startswith(("http", "mailto")):
                continue
            assert (page.parent / href).resolve().exists(), (page, href)
    # every pair is still in the results: studied (car.csv) or skipped with its reason
    car = pd.read_csv(out / "results" / "car.csv")
    skipped = pd.read_csv(out / "results" / "skipped.csv")
    assert firm == set(pd.read_csv(out / "results" / "alignment.csv")["event_id"]) - \
        {"ev-a", "ev-b", "ev-c"}
    assert firm <= set(car["event_id"]) | set(skipped["event_id"])
    assert set(car["event_id"]) & firm


def test_a_few_firm_events_are_rows_without_dead_links(tmp_path):
    res, out = firm_study(tmp_path, 6)
    assert {p.stem for p in (out / "events").glob("*.html")} == {"ev-a", "ev-b", "ev-c"}
    index = (out / "index.html").read_text("utf-8")
    assert "6 firm-specific events have no page each" in index
    assert "earn-0003" in index and "events/earn-0003.html" not in index
    for page in [out / "index.html", *out.glob("*/*.html")]:
        assert "events/earn-" not in page.read_text("utf-8"), page
