"""The HTML report without a browser: pages, determinism, offline-ness, the day-0 explanations."""
from __future__ import annotations

import dataclasses
import html
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from eventstudy.report import GENERATED_MARK, PAGE_FIGURES_META, build_report, fmt, plotly_js
from eventstudy.report import methods_doc

MAX_PAGE_BYTES = 1_000_000


def html_pages(root: Path) -> list[Path]:
    return sorted(root.rglob("*.html"))


def text_of(page: Path) -> str:
    """Visible-ish text: tags stripped, entities decoded, whitespace collapsed."""
    raw = page.read_text("utf-8")
    raw = re.sub(r"<script.*?</script>", " ", raw, flags=re.S)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", raw)).split())


# ----------------------------------------------------------------------------- structure
def test_one_page_per_event_and_group(offline_result, report_dir):
    events = sorted(offline_result.events["event_id"])
    groups = sorted(offline_result.config.groups)
    assert sorted(p.stem for p in (report_dir / "events").glob("*.html")) == events
    assert sorted(p.stem for p in (report_dir / "groups").glob("*.html")) == groups
    assert (report_dir / "index.html").is_file() and (report_dir / "methods.html").is_file()


def test_deterministic_apart_from_the_generated_line(offline_result, report_dir, tmp_path):
    a, b = report_dir, tmp_path / "b"
    build_report(offline_result, b)          # generated_at defaults to now, in UTC
    files_a = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    assert files_a == files_b
    for rel in files_a:
        x, y = (a / rel).read_bytes(), (b / rel).read_bytes()
        if rel.suffix != ".html":
            assert x == y, rel
            continue
        lx, ly = x.split(b"\n"), y.split(b"\n")
        assert len(lx) == len(ly), rel
        differing = [i for i, (u, v) in enumerate(zip(lx, ly)) if u != v]
        assert len(differing) == 1, (rel, differing)
        assert GENERATED_MARK.encode() in lx[differing[0]]
        assert b"2025-01-01 00:00:00 UTC" in lx[differing[0]]
        assert re.search(rb"Generated \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", ly[differing[0]])


def test_rebuild_is_byte_identical_and_removes_stale_pages(offline_result, report_dir,
                                                           tmp_path):
    out = tmp_path / "rep"
    shutil.copytree(report_dir, out)
    first = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    stale = out / "events" / "gone.html"
    stale.write_text('<meta name="generator" content="eventstudy report">', "utf-8")
    mine = out / "events" / "notes.html"
    mine.write_text("<p>the user's own file</p>", "utf-8")
    pages = build_report(offline_result, out, generated_at="2025-01-01 00:00:00 UTC")
    assert not stale.exists() and mine.exists()
    mine.unlink()
    assert {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()} == first
    n = len(offline_result.events) + len(offline_result.config.groups) + 2
    # same inputs: nothing is rebuilt, every page is reported unchanged
    assert pages == [] and sorted(pages.unchanged) == html_pages(out)
    assert len(pages.unchanged) == n
    forced = build_report(offline_result, out, generated_at="2025-01-01 00:00:00 UTC",
                          force=True)
    assert sorted(forced) == html_pages(out)
    assert {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()} == first


def test_a_changed_event_rebuilds_its_page_the_index_and_its_groups_only(offline_result,
                                                                         report_dir, tmp_path):
    import dataclasses
    out = tmp_path / "rep"
    shutil.copytree(report_dir, out)
    events = offline_result.events.copy()
    events.loc[events["event_id"] == "liberation-day", "title"] = "Liberation Day (retitled)"
    changed = dataclasses.replace(offline_result, events=events)
    pages = build_report(changed, out, generated_at="2025-01-01 00:00:00 UTC")
    groups = sorted(g for g, cfg in offline_result.config.groups.items()
                    if "liberation-day" in cfg.events or "escalation" in cfg.categories)
    expected = {"index.html", "events/liberation-day.html"} | {f"groups/{g}.html" for g in groups}
    assert {p.relative_to(out).as_posix() for p in pages} == expected
    assert "Liberation Day (retitled)" in (out / "events" / "liberation-day.html").read_text()


# ----------------------------------------------------------------------------- offline
def test_plotly_js_once_in_assets_and_never_inlined(report_dir):
    js = plotly_js()
    assert len(js) > 1_000_000
    assert (report_dir / "assets" / "plotly.min.js").read_bytes() == js
    assert len(list(report_dir.rglob("plotly*.js"))) == 1
    for page in html_pages(report_dir):
        raw = page.read_text("utf-8")
        assert "plotly.js v" not in raw and len(raw) < MAX_PAGE_BYTES, page
        n = int(re.search(rf'<meta name="{PAGE_FIGURES_META}" content="(\d+)">', raw).group(1))
        root = "../" if page.parent != report_dir else ""
        loads = raw.count(f'<script src="{root}assets/plotly.min.js"')
        assert loads == (1 if n else 0), page


def test_no_external_scripts_styles_fonts_or_images(report_dir):
    tag = re.compile(r"<(script|link|img|iframe|source|embed|object)\b[^>]*>", re.I)
    attr = re.compile(r"""\b(src|href|data)\s*=\s*["']?([^"'\s>]+)""", re.I)
    for page in html_pages(report_dir):
        raw = page.read_text("utf-8")
        for m in tag.finditer(raw):
            for _, url in attr.findall(m.group(0)):
                assert not re.match(r"^(https?:)?//", url, re.I), (page, m.group(0))
        assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//[^"'>]*\.(js|css|woff2?|ttf|otf)""",
                             raw, re.I), page
        assert "@import" not in raw and "fonts.googleapis" not in raw
    css = (report_dir / "assets" / "report.css").read_text("utf-8")
    assert "url(" not in css and "@import" not in css and "@font-face" not in css
    js = (report_dir / "assets" / "report.js").read_text("utf-8")
    assert "http" not in js and "fetch(" not in js and "XMLHttpRequest" not in js


def test_relative_links_resolve(report_dir):
    for page in html_pages(report_dir):
        raw = page.read_text("utf-8")
        for url in re.findall(r'(?:href|src)="([^"]+)"', raw):
            if re.match(r"^(https?:|mailto:|#)", url):
                continue
            target = (page.parent / url.split("#", 1)[0]).resolve()
            assert target.is_file(), (page, url)


# ----------------------------------------------------------------------------- content
def test_liberation_day_explains_day0(report_dir):
    text = text_of(report_dir / "events" / "liberation-day.html")
    assert ("announced 2025-04-02 16:00 EDT = 2025-04-03 05:00 JST, after the Tokyo close of "
            "04-02 15:30 JST; day 0 = 2025-04-03 (close 04-03 15:30 JST)") in text
    assert "How day 0 was chosen" in text
    # The time in three zones with their abbreviations.
    for shown in ("2025-04-02 16:00 EDT", "2025-04-03 05:00 JST", "2025-04-02 20:00 UTC"):
        assert shown in text
    # The day-0 table: N225's previous session, its close, day 0 and its close.
    raw = (report_dir / "events" / "liberation-day.html").read_text("utf-8")
    row = re.search(r'<tr><td title="Nikkei 225">N225</td>(.*?)</tr>', raw).group(1)
    assert re.findall(r"<td>(.*?)</td>", row)[:2] == ["2025-04-02", "2025-04-02 15:30 JST"]
    assert "<strong>2025-04-03</strong>" in row and "2025-04-03 15:30 JST" in row


def test_talks_day0_is_the_next_tokyo_session(report_dir):
    text = text_of(report_dir / "events" / "us-japan-talks-1.html")
    assert ("announced 2025-04-16 17:30 EDT = 2025-04-17 06:30 JST, after the Tokyo close of "
            "04-16 15:30 JST; day 0 = 2025-04-17") in text
    assert ("closing quote of the 04-16 daily bar (04-16 00:00 BST); day 0 = 2025-04-17"
            in text)


def test_event_page_shows_the_car_table_from_the_frame(offline_result, report_dir):
    raw = (report_dir / "events" / "us-japan-talks-1.html").read_text("utf-8")
    car = offline_result.car
    rows = car[car["event_id"] == "us-japan-talks-1"]
    table = re.search(r'<table id="car".*?</table>', raw, re.S).group(0)
    assert table.count("<tr>") == len(rows) + 1
    n225 = rows[(rows["series"] == "N225") & (rows["model"] == "constant_mean")
                & (rows["window_start"] == 0) & (rows["window_end"] == 0)].iloc[0]
    assert fmt.pct(n225["car"]) in table and fmt.pval(n225["p_value"]) in table
    tests = offline_result.tests
    mine = tests[(tests["event_id"] == "us-japan-talks-1") & (tests["group"] == "")]
    t_table = re.search(r'<table id="tests".*?</table>', raw, re.S).group(0)
    assert t_table.count("<tr>") == len(mine) + 1


def test_summary_has_one_row_per_event_and_studied_series(offline_result, report_dir):
    raw = (report_dir / "index.html").read_text("utf-8")
    table = re.search(r'<table id="summary".*?</table>', raw, re.S).group(0)
    body = table.split("<tbody>")[1]
    n = len(offline_result.events) * len(offline_result.config.studied)
    assert body.count("<tr>") == n
    for eid in offline_result.events["event_id"]:
        assert f'href="events/{eid}.html"' in raw
    for gid in offline_result.config.groups:
        assert f'href="groups/{gid}.html"' in raw
    text = text_of(report_dir / "index.html")
    for sid in offline_result.provenance["series"]:
        assert sid in text
    assert "bundled sample" in text and "<built-in defaults>" in text


def test_group_page_has_every_group_test(offline_result, report_dir):
    for gid in offline_result.config.groups:
        raw = (report_dir / "groups" / f"{gid}.html").read_text("utf-8")
        mine = offline_result.tests[offline_result.tests["group"] == gid]
        table = re.search(r'<table id="tests".*?</table>', raw, re.S).group(0)
        assert table.count("<tr>") == len(mine) + 1
        for test in mine["test"].unique():
            assert f">{test}<" in raw


def test_figures_are_valid_plotly_with_fixed_ids(report_dir):
    from eventstudy.report.figures import validate
    for page in html_pages(report_dir):
        raw = page.read_text("utf-8")
        n = int(re.search(rf'<meta name="{PAGE_FIGURES_META}" content="(\d+)">', raw).group(1))
        specs = re.findall(r'<script type="application/json" class="fig-data" '
                           r'data-target="(fig-\d+)">(.*?)</script>', raw, re.S)
        assert [t for t, _ in specs] == [f"fig-{i}" for i in range(1, n + 1)], page
        for target, body in specs:
            assert f'<div id="{target}" class="plot"' in raw
            spec = json.loads(body)
            fig = validate(body)                     # plotly's schema, strict
            assert fig.layout.title.text, (page, target)
            for key in ("xaxis", "yaxis"):
                axis = spec["layout"][key]
                assert axis.get("title", {}).get("text") or axis.get("type") == "category" \
                    or key == "xaxis" and "xaxis2" in spec["layout"], (page, target, key)
            for value in re.findall(r"-?\d+\.\d+(?:e-?\d+)?", body):
                assert float(f"{float(value):.6g}") == float(value), (page.name, target, value)
    assert "fig-1" in (report_dir / "index.html").read_text("utf-8")


def test_methods_page_renders_the_docs(report_dir, offline_result):
    text = text_of(report_dir / "methods.html")
    assert "constant_mean" in text and "market_model" in text
    for test in offline_result.tests["test"].unique():
        assert test in text
    if methods_doc.find_methods() is not None:
        assert "Rendered from docs/methods.md" in text


# ----------------------------------------------------------------------------- robustness
def test_missing_values_skips_warnings_and_new_test_columns(offline_result, tmp_path,
                                                            monkeypatch):
    """Frames with gaps and columns the report has not seen, and no docs/methods.md."""
    monkeypatch.setattr(methods_doc, "find_methods", lambda: None)
    r = offline_result
    car = r.car.copy()
    waiting = car["event_id"] == "us-japan-deal-order"
    car.loc[waiting, ["car", "se", "t_stat", "p_value"]] = np.nan
    car.loc[waiting, "note"] = "waiting for data"
    skipped = pd.DataFrame([{"event_id": "us-japan-deal-order", "series": "USDJPY",
                             "model": "market_model", "reason": "no <DXY> & co"}])
    tests = r.tests.copy()
    tests["method_note"] = "extra column"
    extra = tests.iloc[:1].assign(test="brand_new_test", group="escalations")
    tests = pd.concat([tests, extra], ignore_index=True)
    changed = dataclasses.replace(r, car=car, skipped=skipped, tests=tests,
                                  warnings=["prices of X are stale <b>"])
    build_report(changed, tmp_path, generated_at="x")
    index = (tmp_path / "index.html").read_text("utf-8")
    assert "prices of X are stale &lt;b&gt;" in index          # escaped
    assert "no &lt;DXY&gt; &amp; co" in index
    event = text_of(tmp_path / "events" / "us-japan-deal-order.html")
    assert "waiting for data" in event
    group = (tmp_path / "groups" / "escalations.html").read_text("utf-8")
    assert "brand_new_test" in group and "extra column" in group
    assert "docs/methods.md was not found" in text_of(tmp_path / "methods.html")


# ----------------------------------------------------------------------------- formatting
@pytest.mark.parametrize("value, text", [(0.0135, "+1.35%"), (-0.0204, "-2.04%"), (0.0, "0.00%"),
                                         (-0.00001, "0.00%"), (np.nan, fmt.DASH), (None, fmt.DASH)])
def test_pct(value, text):
    assert fmt.pct(value) == text


@pytest.mark.parametrize("p, text, stars", [(0.0004, "<0.001", "***"), (0.0123, "0.012", "**"),
                                            (0.07, "0.070", "*"), (0.5, "0.500", ""),
                                            (np.nan, fmt.DASH, "")])
def test_pvalues_and_stars(p, text, stars):
    assert fmt.pval(p) == text and fmt.stars(p) == stars


def test_instants_carry_their_zone():
    ts = pd.Timestamp("2025-04-16T17:30:00-04:00")
    assert fmt.instant(ts, fmt.NEW_YORK) == "2025-04-16 17:30 EDT"
    assert fmt.instant(ts, fmt.TOKYO) == "2025-04-17 06:30 JST"
    assert fmt.instant(ts, fmt.UTC) == "2025-04-16 21:30 UTC"
    assert fmt.instant(pd.Timestamp("2025-02-09T18:00-05:00"), fmt.NEW_YORK).endswith("EST")
    assert fmt.window(-1, 1) == "[-1, +1]" and fmt.window(0, 0) == "[0, 0]"


def test_markdown_converter():
    out = methods_doc.convert(
        "# Title\n\nSome *it* and **bold** `a<b` [x](http://e.org).\n\n"
        "<script>alert(1)</script>\n\n```\ncode <b>\n```\n\n"
        "| a | b |\n|---|--:|\n| 1 | 2 |\n\n* one\n  * nested\n* two\n")
    assert '<h1 id="m-title">Title</h1>' in out
    assert "<em>it</em>" in out and "<strong>bold</strong>" in out
    assert "<code>a&lt;b</code>" in out and '<a href="http://e.org">x</a>' in out
    assert "<script>" not in out and "&lt;script&gt;" in out
    assert "<pre><code>code &lt;b&gt;</code></pre>" in out
    assert '<th>a</th><th style="text-align:right">b</th>' in out
    assert "<ul><li>one<ul><li>nested</li></ul></li><li>two</li></ul>" in out
    assert methods_doc.shift_headings("<h1 id=x>a</h1>") == "<h2 id=x>a</h2>"
    links = methods_doc.rewrite_links('<a href="t.md">t</a> <a href="u.md">u</a>',
                                      {"t.md": "doc-t"})
    assert links == '<a href="#doc-t">t</a> <span class="unlinked" title="u.md">u</span>'


def test_a_changed_price_rebuilds_the_pages_that_show_it(offline_result, report_dir, tmp_path):
    import dataclasses
    out = tmp_path / "rep"
    shutil.copytree(report_dir, out)
    prices = offline_result.prices.copy()
    day = pd.Timestamp("2025-04-17")
    prices.loc[(prices["series"] == "N225") & (prices["date"] == day), "close"] += 1.0
    changed = dataclasses.replace(offline_result, prices=prices)
    pages = build_report(changed, out, generated_at="2025-01-01 00:00:00 UTC")
    ar = offline_result.ar[offline_result.ar["series"] == "N225"]
    span = ar.groupby("event_id")["date"].agg(["min", "max"])
    showing = span[(span["min"] <= day) & (span["max"] >= day)].index
    expected = {"index.html"} | {f"events/{e}.html" for e in showing}
    assert len(showing) >= 3
    assert {p.relative_to(out).as_posix() for p in pages} == expected


# ----------------------------------------------------------------------------- hostile input
@pytest.mark.parametrize("source", ["javascript:alert(document.cookie)",
                                    " JavaScript:alert(1)", "data:text/html,<script>x</script>",
                                    "vbscript:msgbox", "https://ok.example/ javascript:x"])
def test_a_non_web_source_is_text_not_a_link(offline_result, tmp_path, source):
    """Issue #12 item 9: only an http(s) URL becomes a link (this failed before the fix: the
    event page rendered <a href="javascript:...">)."""
    events = offline_result.events.copy()
    events.loc[events["event_id"] == "liberation-day", "source"] = source
    build_report(dataclasses.replace(offline_result, events=events), tmp_path, generated_at="x")
    raw = (tmp_path / "events" / "liberation-day.html").read_text("utf-8")
    hrefs = re.findall(r'href="([^"]*)"', raw)
    assert not [h for h in hrefs if not re.match(r"^(https?://|\.\./|#|[\w./-]+\.html$)", h)]
    assert html.escape(source.strip(), quote=False) in raw       # still shown, as text
    assert not re.search(r"(?i)href=\"\s*(javascript|data|vbscript):", raw)


def test_a_web_source_is_a_link(report_dir, offline_result):
    raw = (report_dir / "events" / "liberation-day.html").read_text("utf-8")
    src = offline_result.events.set_index("event_id").loc["liberation-day", "source"]
    assert src.startswith("http") and f'<a class="url" href="{html.escape(src)}"' in raw


def test_methods_converter_drops_script_links():
    out = methods_doc.convert("[a](javascript:alert(1)) [b](https://e.org) [c](x.md)")
    assert 'href="javascript' not in out and '<a href="https://e.org">b</a>' in out
    assert '<a href="x.md">c</a>' in out


# ----------------------------------------------------------------------------- issue 11
@pytest.fixture(scope="module")
def contaminated_report(offline_result, tmp_path_factory):
    """The pause with its benchmark flagged on N225's day 0 and declared market-wide."""
    r = offline_result
    ar = r.ar.copy()
    flag = (ar["event_id"] == "tariff-pause") & (ar["series"] == "N225") & (ar["rel_day"] == 0)
    ar["benchmark_contaminated"] = flag
    events = r.events.assign(scope=np.where(r.events["event_id"] == "tariff-pause",
                                            "market_wide", ""))
    out = tmp_path_factory.mktemp("contaminated")
    build_report(dataclasses.replace(r, ar=ar, events=events), out, generated_at="x")
    return r, ar, out


def test_event_page_splits_each_event_day_into_expected_and_abnormal(contaminated_report):
    r, ar, out = contaminated_report
    raw = (out / "events" / "tariff-pause.html").read_text("utf-8")
    table = re.search(r'<table id="split-table".*?</table>', raw, re.S).group(0)
    lo, hi = r.config.event_span
    mine = ar[(ar["event_id"] == "tariff-pause") & ar["rel_day"].between(lo, hi)]
    rows = re.findall(r"<tr>(.*?)</tr>", table.split("<tbody>")[1], re.S)
    assert len(rows) == len(mine) > 0
    # N225, market model, day 0: return, Rm, expected and AR side by side, flagged.
    x = mine[(mine["series"] == "N225") & (mine["model"] == "market_model")
             & (mine["rel_day"] == 0)].iloc[0]
    # the split is the frame's: return = expected + abnormal (to rounding)
    assert x["return"] == pytest.approx(x["expected_return"] + x["abnormal_return"], abs=1e-12)
    row = next(r_ for r_ in rows if ">N225<" in r_ and ">market model<" in r_
               and re.search(r'data-v="0.0"[^>]*>0<', r_))
    cells = [html.unescape(re.sub(r"<[^>]+>", "", c))
             for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
    assert cells[4:8] == [fmt.pct(x["return"]), fmt.pct(x["benchmark_return"]),
                          fmt.pct(x["expected_return"]), fmt.pct(x["abnormal_return"])]
    assert cells[8] == "contaminated" and 'class="flag"' in row
    # only that series-day is flagged, once per model
    assert table.count(">contaminated<") == len(r.config.models)
    text = text_of(out / "events" / "tariff-pause.html")
    assert "Benchmark contaminated on N225 day 0 (2025-04-10)" in text
    other = text_of(out / "events" / "liberation-day.html")
    assert "Benchmark contaminated on" not in other and "headline" not in other.lower()


def test_market_wide_event_headlines_the_constant_mean_model(contaminated_report):
    r, ar, out = contaminated_report
    raw = (out / "events" / "tariff-pause.html").read_text("utf-8")
    block = re.search(r'<section class="callout" id="market-wide">.*?</section>', raw, re.S)
    assert block and "headline constant mean" in block.group(0)
    car = r.car.set_index(["event_id", "series", "model", "window_start", "window_end"])
    n225 = car.loc[("tariff-pause", "N225", "constant_mean", 0, 0)]
    table = re.search(r'<table id="headline".*?</table>', block.group(0), re.S).group(0)
    assert fmt.pct(n225["car"]) in table
    index = (out / "index.html").read_text("utf-8")
    assert "market-wide: headline constant mean" in index
    assert 'id="market-wide-note"' in index
    # the constant-mean cells of the pause's rows are the shaded ones
    assert index.count("headline") >= len(r.config.event_windows)


def test_ar_chart_marks_the_contaminated_day(contaminated_report):
    from eventstudy.report.figures import validate
    r, ar, out = contaminated_report
    raw = (out / "events" / "tariff-pause.html").read_text("utf-8")
    specs = [json.loads(s) for s in re.findall(
        r'<script type="application/json" class="fig-data" data-target="fig-\d+">(.*?)</script>',
        raw, re.S)]
    n225 = next(s for s in specs if "(N225): abnormal returns" in s["layout"]["title"]["text"])
    validate(json.dumps(n225))
    bands = [x for x in n225["layout"]["shapes"] if x.get("name") == "benchmark contaminated"]
    assert len(bands) == 1 and bands[0]["x0"] == -0.5 and bands[0]["x1"] == 0.5
    others = [s for s in specs if "abnormal returns" in s["layout"]["title"]["text"]
              and "(N225)" not in s["layout"]["title"]["text"]]
    assert others and not any(x.get("name") == "benchmark contaminated"
                              for s in others for x in s["layout"]["shapes"])


def test_a_new_event_rebuilds_its_page_the_index_and_the_groups_not_the_other_events(
        tmp_path, monkeypatch):
    """Adjusted p-values change for every pair when an event is added; event pages do not
    show them, so the other events' pages stay as they are (issue #12: one new event)."""
    from click.testing import CliRunner

    from eventstudy.cli import main
    repo = Path(__file__).resolve().parents[2]
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("EVENTSTUDY_CACHE", str(tmp_path / "cache"))
    events = tmp_path / "events.csv"
    events.write_text((repo / "events.csv").read_text("utf-8"), "utf-8")
    res = CliRunner().invoke(main, ["run", "--offline", "--quiet"])
    assert res.exit_code == 0, res.output
    before = {p.name: p.read_bytes() for p in (tmp_path / "reports" / "events").glob("*.html")}
    header = events.read_text("utf-8").splitlines()[0].split(",")
    row = ("new-event,2025-10-01T16:00:00-04:00,hour,A new event,escalation,japan,"
           "https://example.org/new" + "," * (len(header) - 7))
    events.write_text(events.read_text("utf-8") + row + "\n", "utf-8")
    res = CliRunner().invoke(main, ["run", "--offline"])
    assert res.exit_code == 0, res.output
    after = {p.name: p.read_bytes() for p in (tmp_path / "reports" / "events").glob("*.html")}
    assert set(after) == set(before) | {"new-event.html"}
    assert all(after[name] == data for name, data in before.items())
    line = next(x for x in res.output.splitlines() if x.startswith("rebuilt"))
    assert line.endswith(f"{len(before) + 1} unchanged")          # + methods.html
