"""Reports for universes (issue #8 item 8): thousands of pairs summarised, pages small and fast.

Synthetic result frames (tests/report/universe_factory.py) stand in for a universe study:
5,000 securities x 1 event and 1,100 x 12 events. Every number checked on a page is
recomputed here from the frames, independently of the report code.
"""
from __future__ import annotations

import html
import json
import re
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from eventstudy.report import build_report, fmt
from tests.report.universe_factory import make_universe_result

MAX_PAGE_BYTES = 1_000_000        # "a few MB" at most; these pages are ~0.1 MB
MAX_ROWS = 400                    # table rows on one page, whatever the number of pairs


def build(result, out: Path) -> tuple[Path, float]:
    result.write_csvs(out / "results")
    result.write_parquet(out / "results")
    t = time.perf_counter()
    build_report(result, out, generated_at="2025-01-01 00:00:00 UTC")
    return out, time.perf_counter() - t


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    r = make_universe_result(5000, 1)
    out, seconds = build(r, tmp_path_factory.mktemp("u5000"))
    return r, out, seconds


@pytest.fixture(scope="module")
def wide(tmp_path_factory):
    r = make_universe_result(1100, 12, market_wide=(1,), contaminated=(1,))
    out, seconds = build(r, tmp_path_factory.mktemp("u1100"))
    return r, out, seconds


def text_of(raw: str) -> str:
    raw = re.sub(r"<script.*?</script>", " ", raw, flags=re.S)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", raw)).split())


def table(raw: str, id_: str) -> list[list[str]]:
    """The body rows of a table as cell texts (main line only, the small line dropped)."""
    t = re.search(rf'<table id="{re.escape(id_)}".*?</table>', raw, re.S).group(0)
    body = t.split("<tbody>")[1]
    rows = []
    for row in re.findall(r"<tr>(.*?)</tr>", body, re.S):
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        rows.append([html.unescape(re.sub(r"<[^>]+>", "", re.sub(
            r'<span class="small">.*?</span>', "", c))) for c in cells])
    return rows


# ----------------------------------------------------------------------------- size, speed
@pytest.mark.parametrize("case", ["big", "wide"])
def test_pages_stay_small_and_build_fast(case, request):
    r, out, seconds = request.getfixturevalue(case)
    pages = sorted(out.rglob("*.html"))
    n_groups = r.group_members["group"].nunique()
    assert len(pages) == 2 + len(r.events) + n_groups
    for page in pages:
        raw = page.read_text("utf-8")
        assert len(raw.encode()) < MAX_PAGE_BYTES, (page, len(raw))
        assert raw.count("<tr>") < MAX_ROWS, (page, raw.count("<tr>"))
    # generous: a loaded 2-core machine; ~10 s when quiet
    assert seconds < 120, seconds
    print(f"{case}: {len(pages)} pages, {sum(p.stat().st_size for p in pages)} bytes, "
          f"{seconds:.1f} s")


def test_every_relative_link_resolves_to_a_written_file(big, wide):
    for _, out, _ in (big, wide):
        for page in out.rglob("*.html"):
            raw = page.read_text("utf-8")
            for url in re.findall(r'(?:href|src)="([^"]+)"', raw):
                if re.match(r"^(https?:|mailto:|#)", url):
                    continue
                target = (page.parent / url.split("#", 1)[0]).resolve()
                assert target.is_file(), (page, url)
        assert (out / "results" / "car.parquet").is_file()


# ----------------------------------------------------------------------------- numbers
def test_sector_and_universe_tables_against_the_frames(big):
    r, out, _ = big
    raw = (out / "events" / "event-01.html").read_text("utf-8")
    car = r.car.merge(r.securities, on="series")
    mm = car[(car["model"] == "market_model") & (car["window_start"] == 0)
             & (car["window_end"] == 0)]
    # per universe: no group covers exactly a universe, so the cross-sectional t of the CARs
    rows = {row[0]: row for row in table(raw, "by-universe")}
    assert sorted(rows) == sorted(r.securities["universe"].unique())
    for uni, sub in mm.groupby("universe"):
        x = sub["car"].to_numpy()
        p = stats.ttest_1samp(x, 0.0).pvalue
        assert rows[uni][1] == str((r.securities["universe"] == uni).sum())
        assert rows[uni][2] == fmt.pct(x.mean()) + fmt.stars(p)
        assert f"p {fmt.pval(p)} cs t" in text_of(raw)
        share = (sub["p_value"] < 0.05).mean()
        assert rows[uni][3] == f"{share * 100:.0f}%"
    # per sector: the study's sector groups cover exactly these pairs: their tests are shown
    tests = r.tests[r.tests["group"].str.startswith("sector:")
                    & (r.tests["model"] == "market_model") & (r.tests["window_start"] == 0)
                    & (r.tests["window_end"] == 0)].set_index(["group", "test"])
    rows = {row[0]: row for row in table(raw, "by-sector")}
    assert len(rows) == 12
    for sector, row in rows.items():
        mean = tests.loc[(f"sector:{sector}", "cross_sectional_t"), "estimate"]
        bmp = tests.loc[(f"sector:{sector}", "bmp"), "p_value"]
        assert row[2] == fmt.pct(mean) + fmt.stars(bmp)
        assert row[-1] == f"group sector:{sector}"
    assert 'href="../groups/sector-Banks.html"' in raw


def test_top_and_bottom_movers_are_the_extreme_cars(big):
    r, out, _ = big
    raw = (out / "events" / "event-01.html").read_text("utf-8")
    mm = r.car[(r.car["model"] == "market_model") & (r.car["window_start"] == 0)
               & (r.car["window_end"] == 0)].sort_values("car")
    top = table(raw, "movers-top")
    bottom = table(raw, "movers-bottom")
    assert [row[2] for row in top] == list(mm["series"].iloc[::-1][:20])
    assert [row[2] for row in bottom] == list(mm["series"][:20])
    assert top[0][6].startswith(fmt.pct(mm["car"].max()))
    assert len(top) == len(bottom) == 20


def test_histogram_counts_every_car_once(big):
    r, out, _ = big
    raw = (out / "events" / "event-01.html").read_text("utf-8")
    specs = [json.loads(s) for s in re.findall(
        r'<script type="application/json" class="fig-data" data-target="fig-\d+">(.*?)</script>',
        raw, re.S)]
    hist = next(s for s in specs if s["layout"]["title"]["text"].startswith("Distribution"))
    from eventstudy.report.figures import validate
    validate(json.dumps(hist))
    mm = r.car[r.car["model"] == "market_model"]
    for trace, (a, b) in zip(hist["data"], r.config.event_windows):
        n = mm[(mm["window_start"] == a) & (mm["window_end"] == b)]["car"].notna().sum()
        assert sum(trace["y"]) == n == 5000 - len(r.skipped)   # skipped pairs have no CAR
    assert len(hist["data"][0]["y"]) <= 60


def test_mean_split_and_contaminated_counts(big):
    r, out, _ = big
    raw = (out / "events" / "event-01.html").read_text("utf-8")
    rows = {(row[0], row[1]): row for row in table(raw, "split-table")}
    ar = r.ar[(r.ar["model"] == "market_model") & (r.ar["rel_day"] == 0)]
    row = rows[("market model", "0")]
    assert row[2] == str(len(ar)) == str(5000 - len(r.skipped))
    assert row[3:7] == [fmt.pct(ar["return"].mean()), fmt.pct(ar["benchmark_return"].mean()),
                        fmt.pct(ar["expected_return"].mean()),
                        fmt.pct(ar["abnormal_return"].mean())]
    assert row[7] == str(int(ar["benchmark_contaminated"].sum())) == str(len(ar))
    assert rows[("market model", "+1")][7] == "0"
    assert "Benchmark contaminated (day 0: 5000 securities)" in text_of(raw)


def test_index_summarises_per_event_and_universe(wide):
    r, out, _ = wide
    raw = (out / "index.html").read_text("utf-8")
    # event-02 is market-wide: its rows use the constant-mean model
    cm = table(raw, "summary-constant_mean")
    mm = table(raw, "summary-market_model")
    assert {row[0] for row in cm} == {"event-02"}
    assert {row[0] for row in mm} == {f"event-{k:02d}" for k in range(1, 13)} - {"event-02"}
    car = r.car.merge(r.securities, on="series")
    sub = car[(car["event_id"] == "event-02") & (car["model"] == "constant_mean")
              & (car["window_start"] == -1) & (car["window_end"] == 1)]
    # over all universes a by_event group exists: its cross-sectional t estimate is shown
    row = next(row for row in cm if row[1] == "(all)")
    assert row[5] == fmt.pct(sub["car"].mean()) + fmt.stars(
        r.tests.set_index(["group", "model", "window_start", "window_end", "test"]).loc[
            ("by_event:event-02", "constant_mean", -1, 1, "bmp"), "p_value"])
    uni = next(row for row in cm if row[1] == "mid400")
    x = sub[sub["universe"] == "mid400"]["car"]
    assert uni[2] == str(len(x)) and uni[5].startswith(fmt.pct(x.mean()))
    text = text_of(raw)
    assert "constant mean (market-wide)" in text
    assert "13200 event × security pairs" in text
    assert text.count("Company ") == 0            # no per-security rows on the index
    event = text_of((out / "events" / "event-02.html").read_text("utf-8"))
    assert "A market-wide event: headline constant mean" in event


def test_nav_links_groups_once_when_there_are_many(wide):
    _, out, _ = wide
    raw = (out / "events" / "event-03.html").read_text("utf-8")
    assert 'href="../index.html#groups">groups (24)</a>' in raw
    assert raw.count("groups/") < 30


def test_hostile_source_and_titles_on_a_universe_page(tmp_path):
    r = make_universe_result(40, 1)
    r.events.loc[0, "source"] = "javascript:alert(1)"
    build(r, tmp_path)
    raw = (tmp_path / "events" / "event-01.html").read_text("utf-8")
    assert 'href="javascript' not in raw and "javascript:alert(1)" in raw
    assert "Announcement 1 &lt;b&gt;&amp;&lt;/b&gt;" in raw


def test_deterministic(big, tmp_path):
    r, out, _ = big
    again, _ = build(r, tmp_path)
    for page in out.rglob("*.html"):
        assert page.read_bytes() == (again / page.relative_to(out)).read_bytes(), page


# ----------------------------------------------------------------------------- parquet
def test_write_parquet_round_trips_every_frame(tmp_path):
    r = make_universe_result(50, 2)
    paths = r.write_parquet(tmp_path)
    names = sorted(p.stem for p in paths)
    assert names == sorted(["alignment", "ar", "car", "aar", "tests", "skipped", "gaps",
                            "provenance", "securities"])
    for name in names:
        back = pd.read_parquet(tmp_path / f"{name}.parquet")
        want = getattr(r, name).reset_index(drop=True)
        pd.testing.assert_frame_equal(back, want, check_dtype=False)
    # a study without universes writes no securities file
    from eventstudy.result import StudyResult
    import dataclasses
    plain = StudyResult(**{f.name: getattr(r, f.name) for f in dataclasses.fields(StudyResult)
                           if f.init})
    plain.securities = None
    assert "securities" not in [p.stem for p in plain.write_parquet(tmp_path / "plain")]
    assert np.isclose(pd.read_parquet(tmp_path / "car.parquet")["car"].sum(), r.car["car"].sum())


# ----------------------------------------------------------------------------- shapes
def test_a_large_study_without_the_new_fields_still_reports(tmp_path):
    """No securities frame, no group members, no benchmark_contaminated, no scope column:
    the pages fall back (cross-sectional t, no sector table) instead of failing."""
    import dataclasses
    r = make_universe_result(60, 2)
    r = dataclasses.replace(r, securities=None, group_members=None,
                            ar=r.ar.drop(columns="benchmark_contaminated"),
                            events=r.events.drop(columns="scope"))
    build(r, tmp_path)
    raw = (tmp_path / "events" / "event-01.html").read_text("utf-8")
    assert 'id="by-universe"' in raw and 'id="by-sector"' not in raw
    assert "Benchmark contaminated" not in raw and ">benchmark contaminated<" not in raw
    rows = table(raw, "all")
    mm = r.car[(r.car["event_id"] == "event-01") & (r.car["model"] == "market_model")
               & (r.car["window_start"] == 0) & (r.car["window_end"] == 0)]
    p = stats.ttest_1samp(mm["car"], 0.0).pvalue
    assert rows[0][2] == fmt.pct(mm["car"].mean()) + fmt.stars(p) and rows[0][-1] == "cs t"
    assert len(list((tmp_path / "groups").glob("*.html"))) == r.tests["group"].nunique() - 1


def test_a_small_universe_keeps_the_one_row_per_pair_pages(tmp_path):
    r = make_universe_result(12, 2)
    build(r, tmp_path)
    index = (tmp_path / "index.html").read_text("utf-8")
    summary = table(index, "summary")
    assert len(summary) == 2 * 12 and summary[0][2] == "1000.T"
    raw = (tmp_path / "events" / "event-01.html").read_text("utf-8")
    split = table(raw, "split-table")
    lo, hi = r.config.event_span
    assert len(split) == 12 * 2 * (hi - lo + 1)
    flagged = [row for row in split if row[-1] == "contaminated"]
    assert len(flagged) == 12 * 2 and {row[2] for row in flagged} == {"0"}
    group = (tmp_path / "groups" / "sector-Banks.html").read_text("utf-8")
    assert len(table(group, "members")) == 2       # one Banks security x two events


def test_many_events_are_summarised_per_category(tmp_path, monkeypatch):
    from eventstudy.report import universe
    monkeypatch.setattr(universe, "MANY_EVENTS", 5)
    r = make_universe_result(40, 8)
    r.events["category"] = ["earnings", "tariff"] * 4
    build(r, tmp_path)
    rows = table((tmp_path / "index.html").read_text("utf-8"), "summary-market_model")
    assert [(row[0], row[1]) for row in rows] == [
        (c, u) for c in ("earnings", "tariff") for u in ("(all)", "core100", "mid400")]
    car = r.car.merge(r.securities, on="series").merge(r.events[["event_id", "category"]])
    x = car[(car["category"] == "tariff") & (car["universe"] == "mid400")
            & (car["model"] == "market_model") & (car["window_start"] == 0)
            & (car["window_end"] == 0)]["car"]
    row = rows[-1]
    studied = r.alignment.merge(r.securities, on="series").merge(
        r.events[["event_id", "category"]])
    n = ((studied["category"] == "tariff") & (studied["universe"] == "mid400")).sum()
    assert len(x) < n          # skipped pairs are counted as studied, have no CAR
    assert row[2] == str(n) and row[3] == fmt.pct(x.mean()) + fmt.stars(
        stats.ttest_1samp(x, 0.0).pvalue)


# ----------------------------------------------------------------------------- browser
def _browser_reason():
    from tests.report.browser import unavailable
    return unavailable()


@pytest.mark.browser
@pytest.mark.skipif(_browser_reason() is not None, reason=str(_browser_reason()))
def test_universe_pages_open_in_chromium_offline_and_fast(big):
    """Every figure of the 5,000-security pages draws, nothing touches the network, and the
    page is interactive well within a few seconds."""
    from tests.report.browser import declared_figures, offline_browser, open_page, \
        rendered_figures
    _, out, _ = big
    with offline_browser() as browser:
        for page in (out / "index.html", out / "events" / "event-01.html",
                     out / "groups" / "by_event-event-01.html"):
            t = time.perf_counter()
            visit = open_page(browser, page)
            seconds = time.perf_counter() - t
            assert visit.blocked == [] and visit.page_errors == [], page
            assert visit.console_errors == [] and visit.failed == [], page
            n = declared_figures(visit.page)
            assert rendered_figures(visit.page) == n and (n >= 2 or page.name == "index.html")
            assert seconds < 15, (page, seconds)
            visit.page.context.close()


def test_members_come_from_the_engines_groups_when_the_result_has_no_frame(tmp_path,
                                                                           monkeypatch):
    """Without result.group_members the pages ask study.resolve_groups (the engine's `by`
    groups, NAME:value): a sector group then matches its sector's row on the event page."""
    import dataclasses
    from eventstudy import study
    r = make_universe_result(60, 1)
    members = r.group_members
    calls = []

    def resolve(events, config, securities, firm):
        calls.append(len(securities))
        return [(g, f[["event_id", "series"]]) for g, f in members.groupby("group", sort=True)]
    monkeypatch.setattr(study, "resolve_groups", resolve, raising=False)
    build(dataclasses.replace(r, group_members=None), tmp_path)
    assert calls == [60]
    raw = (tmp_path / "events" / "event-01.html").read_text("utf-8")
    rows = {row[0]: row for row in table(raw, "by-sector")}
    assert rows["Banks"][-1] == "group sector:Banks"
    group = (tmp_path / "groups" / "sector-Banks.html").read_text("utf-8")
    assert "5 event × series pairs" in text_of(group)


def test_ids_the_new_sections_add_are_unique(big):
    """A section and its table must not share an id (the browser then finds two)."""
    _, out, _ = big
    for page in [out / "index.html", out / "events" / "event-01.html"]:
        ids = re.findall(r'\bid="([^"]+)"', page.read_text("utf-8"))
        mine = [i for i in ids if i.startswith(("split", "gaps", "skipped", "movers", "by-",
                                                "market-wide", "cross-section", "files"))]
        assert len(mine) == len(set(mine)), (page, sorted(mine))


def test_a_summary_event_page_is_rebuilt_when_only_its_groups_tests_change(tmp_path):
    """A large event page shows the tests of the groups holding the event: a change there
    (and nowhere in the event's own rows) must rebuild it, never leave it claiming to be
    current."""
    r = make_universe_result(60, 2)
    build_report(r, tmp_path, generated_at="2025-01-01 00:00:00 UTC")
    eid = r.events["event_id"].iloc[0]
    groups = set(r.group_members.loc[r.group_members["event_id"] == eid, "group"])
    rows = r.tests["group"].isin(groups)
    assert rows.any()
    r.tests.loc[rows, "estimate"] = r.tests.loc[rows, "estimate"] + 1.0
    pages = build_report(r, tmp_path, generated_at="2025-01-01 00:00:00 UTC")
    names = {p.relative_to(tmp_path).as_posix() for p in pages}
    assert f"events/{eid}.html" in names
