"""Pages for universes: an event or a group of thousands of (event, security) pairs, summarised.

Above `pages.LARGE` series around an event, one table row or chart trace per pair would make a
page of tens of MB that no one reads. Such pages show instead, for the headline model:
per-universe and per-sector tables (n, mean CAR with its group test when the study ran a group
of exactly those pairs, else the cross-sectional t of the CARs, and the share of pairs
significant at 5 %), the distribution of the CARs, the top and bottom movers, and the mean
split of each event day's return into expected and abnormal. The per-pair detail stays in
results/*.csv and *.parquet, linked from the page.

The cross-sectional t computed here (mean / (sd / sqrt n), t(n-1)) is the one statistic the
report computes itself, and only where no group test covers the rows; it assumes independent
CARs, which same-day announcements violate: the page says so.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from eventstudy.report import figures, fmt
from eventstudy.report.pages import (
    CONTAMINATED, CONTAMINATED_TITLE, EVENT_STARS_NOTE, STARS_NOTE, Cell, Table, View, car_cell,
    day0_sentence, event_cells, event_header, num_cell, pct_cell, text_cell)

TOP = 20
MANY_EVENTS = 100     # above this, the index summarises per event category, not per event
SIG = 0.05
# The group test a summary cell shows, first found: KP-BMP is robust to the cross-correlation
# of same-date abnormal returns, the usual case of a universe around one announcement.
PRIMARY_TESTS = ("kp_bmp", "bmp", "cross_sectional_t", "patell", "grank")
RESULT_FILES = ("car", "ar", "tests", "alignment", "aar", "skipped", "gaps")
CS_T = "cross-sectional t of the CARs (computed here: no group test covers exactly these pairs)"


def results_links(root: str) -> list[tuple[str, str, str]]:
    """(name, csv href, parquet href) of the per-pair files `eventstudy run` writes."""
    return [(name, f"{root}results/{name}.csv", f"{root}results/{name}.parquet")
            for name in RESULT_FILES]


# ----------------------------------------------------------------------------- statistics
def cross_section(car: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Per key and window: n CARs, their mean, median, sd, the cross-sectional t and its
    p-value (t(n-1), two-sided), and the pairs whose own t-test has p < 5 %, by sign."""
    win = ["window_start", "window_end"]
    ok = car[car["car"].notna()]
    sig = ok["p_value"] < SIG
    frame = ok.assign(_pos=sig & (ok["car"] > 0), _neg=sig & (ok["car"] < 0))
    g = frame.groupby(keys + win, sort=True, observed=True)
    out = g["car"].agg(n="count", mean="mean", median="median", sd="std")
    out["sig_pos"] = g["_pos"].sum()
    out["sig_neg"] = g["_neg"].sum()
    out = out.reset_index()
    n = out["n"].to_numpy(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = out["mean"].to_numpy() / (out["sd"].to_numpy() / np.sqrt(n))
    from scipy.special import stdtr
    dof = np.where(n >= 2, n - 1, np.nan)
    out["t"] = np.where(np.isfinite(t), t, np.nan)
    out["p"] = 2 * stdtr(dof, -np.abs(out["t"].to_numpy()))
    return out


def groups_of(view: View) -> "Groups":
    """The view's Groups, built once per build (every page asks)."""
    found = getattr(view, "_universe_groups", None)
    if found is None:
        found = view._universe_groups = Groups(view)
    return found


class Groups:
    """Which group of the study has exactly a given set of pairs, and its test rows."""

    def __init__(self, view: View):
        self.view = view
        self.by_pairs: dict[frozenset, str] = {}
        self.events: dict[str, set] = {}
        for gid in view.groups:
            m = view.members[gid]
            eids, sids = m["event_id"].tolist(), m["series"].tolist()
            self.events[gid] = set(eids)
            if eids:
                self.by_pairs.setdefault(frozenset(zip(eids, sids)), gid)
        sec = view.securities
        self.meta = {c: dict(zip(sec["series"].tolist(), sec[c].tolist()))
                     for c in ("universe", "sector") if c in sec.columns}
        tests = view.r.tests
        self.tests = tests[tests["group"].fillna("") != ""]
        self.rows = {key: sub for key, sub in self.tests.groupby(
            ["group", "model", "window_start", "window_end"], sort=False)}

    def match(self, event_ids, series) -> str:
        return self.by_pairs.get(frozenset(zip(list(event_ids), list(series))), "")

    def cell(self, gid: str, model: str, w: tuple[int, int], root: str) -> Cell | None:
        """The group's mean CAR with the p of its primary test (stars), all tests in the
        title; None if the group has no such rows."""
        rows = self.rows.get((gid, model, w[0], w[1]))
        if rows is None or rows.empty:
            return None
        by_test = {t: r for t, r in zip(rows["test"], rows.itertuples(index=False))}
        primary = next((t for t in PRIMARY_TESTS if t in by_test
                        and not fmt.missing(by_test[t].p_value)), None)
        mean_row = by_test.get("cross_sectional_t")
        mean = mean_row.estimate if mean_row is not None else np.nan
        p = by_test[primary].p_value if primary else np.nan
        c = pct_cell(mean)
        c.text += fmt.stars(p)
        if fmt.stars(p):
            c.cls += " sig"
        c.small = f"p {fmt.pval(p)} {primary.replace('_', ' ')}" if primary else "no test"
        c.title = f"group {gid}: " + "; ".join(
            f"{t} p {fmt.pval(r.p_value)} (n {fmt.integer(r.n)})"
            for t, r in sorted(by_test.items()))
        c.href = self.view.group_href(gid, root)
        return c


def stat_cell(row) -> Cell:
    """A mean CAR with the cross-sectional p computed from the CARs."""
    c = pct_cell(row.mean)
    c.text += fmt.stars(row.p)
    if fmt.stars(row.p):
        c.cls += " sig"
    c.small = f"p {fmt.pval(row.p)} cs t" if not fmt.missing(row.p) else "n < 2"
    c.title = (f"mean CAR {fmt.pct(row.mean)}, median {fmt.pct(row.median)}, sd "
               f"{fmt.pct(row.sd).lstrip('+')}, t {fmt.fixed(row.t, 2)}, n {row.n}: {CS_T}")
    return c


def share_cell(row) -> Cell:
    k = int(row.sig_pos + row.sig_neg)
    share = k / row.n if row.n else np.nan
    return Cell(text=f"{share * 100:.0f}%" if row.n else fmt.DASH, v=fmt.sort_key(share),
                cls="num", small=f"+{int(row.sig_pos)} / \u2212{int(row.sig_neg)}",
                title=f"{k} of {row.n} pairs with p < 5% in their own t-test: "
                      f"{int(row.sig_pos)} positive, {int(row.sig_neg)} negative")


def summary_table(view: View, groups: Groups, car: pd.DataFrame, pairs: pd.DataFrame,
                  keys: list[str], labels: list[str], model: str, id_: str, root: str,
                  caption: str = "") -> Table:
    """One row per key value: n, then per window the mean CAR (group test or cross-sectional
    t) and the share of pairs significant at 5 %. `pairs`: the (event_id, series, keys...)
    studied, to find a group of exactly those pairs."""
    stats = cross_section(car[car["model"] == model], keys)
    cols = [(lbl, "") for lbl in labels] + [("n", "num")]
    for w in view.windows:
        cols += [(f"CAR {fmt.window(*w)}", "num"), ("sig. 5%", "num")]
    cols.append(("test", ""))
    t = Table(columns=cols, id=id_, caption=caption)
    cells = {(tuple(getattr(r, k) for k in keys), int(r.window_start), int(r.window_end)): r
             for r in stats.itertuples(index=False)}
    for key, sub in pairs.groupby(keys, sort=True, observed=True):
        key = key if isinstance(key, tuple) else (key,)
        gid = groups.match(sub["event_id"], sub["series"])
        row = [text_cell(v, href=view.event_href(v, root) if k == "event_id" else "")
               for k, v in zip(keys, key)]
        n_with = [cells[(key, *w)].n for w in view.windows if (key, *w) in cells]
        row.append(num_cell(len(sub), fmt.integer(len(sub)),
                            title=f"{len(sub)} pairs studied; "
                                  f"{max(n_with, default=0)} with a CAR"))
        for w in view.windows:
            s = cells.get((key, *w))
            c = groups.cell(gid, model, w, root) if gid else None
            if c is None:
                c = stat_cell(s) if s is not None else Cell(cls="num")
            row += [c, share_cell(s) if s is not None else Cell(cls="num")]
        row.append(text_cell(f"group {gid}", href=view.group_href(gid, root)) if gid
                   else text_cell("cs t", title=CS_T))
        t.rows.append(row)
    return t


def movers(view: View, car: pd.DataFrame, model: str, root: str, id_: str) -> tuple[Table, Table]:
    """The TOP largest and smallest CARs of the headline model's first window."""
    w = view.windows[0]
    main = car[(car["model"] == model) & (car["window_start"] == w[0])
               & (car["window_end"] == w[1]) & car["car"].notna()]
    main = main.sort_values(["car", "event_id", "series"], kind="stable")
    meta = groups_of(view).meta
    extra = list(meta)
    shown = pd.concat([main.iloc[::-1][:TOP], main[:TOP]])[["event_id", "series"]]
    rows_of = car[car["model"] == model].merge(shown.drop_duplicates(), on=["event_id", "series"])
    index = {(r.event_id, r.series, int(r.window_start), int(r.window_end)): r
             for r in rows_of.itertuples(index=False)}
    out = []
    for name, rows in (("top", main.iloc[::-1][:TOP]), ("bottom", main[:TOP])):
        cols = [("#", "num"), ("event", ""), ("security", ""), ("name", "")] + [
            (c, "") for c in extra] + [(f"CAR {fmt.window(*x)}", "num") for x in view.windows]
        t = Table(columns=cols, id=f"{id_}-{name}")
        for i, r in enumerate(rows.itertuples(index=False), start=1):
            t.rows.append([num_cell(i, str(i)),
                           text_cell(r.event_id, href=view.event_href(r.event_id, root)),
                           text_cell(r.series), text_cell(view.names.get(r.series, ""))]
                          + [text_cell(meta[c].get(r.series, "")) for c in extra]
                          + [car_cell(index.get((r.event_id, r.series, *x)))
                             for x in view.windows])
        out.append(t)
    return out[0], out[1]


def histogram(view: View, car: pd.DataFrame, model: str, title: str) -> figures.Chart | None:
    cars = {fmt.window(*w): car.loc[(car["model"] == model) & (car["window_start"] == w[0])
                                    & (car["window_end"] == w[1]), "car"].to_numpy(float)
            for w in view.windows}
    if not any(np.isfinite(v).any() for v in cars.values()):
        return None
    return figures.car_histogram(cars, title)


def mean_split(view: View, ar: pd.DataFrame) -> Table:
    """Per model and event day, the means over securities of the return, the benchmark
    return, the expected and the abnormal return (return = expected + abnormal holds for the
    means too), and how many securities' benchmark interval contains the announcement."""
    lo, hi = view.config.event_span
    days = ar[(ar["rel_day"] >= lo) & (ar["rel_day"] <= hi)]
    has_flag = CONTAMINATED in days.columns
    days = days.assign(_flag=days[CONTAMINATED].fillna(False).astype(bool) if has_flag
                       else False)
    g = days.groupby(["model", "rel_day"], sort=True)
    m = g[["return", "benchmark_return", "expected_return", "abnormal_return"]].mean()
    m["n"] = g["abnormal_return"].count()
    m["flagged"] = g["_flag"].sum()
    m = m.reset_index()
    mrank = {x: i for i, x in enumerate(view.models)}
    m = m.assign(_m=m["model"].map(mrank)).sort_values(["_m", "rel_day"], kind="stable")
    cols = [("model", ""), ("day", "num"), ("n", "num"), ("mean return", "num"),
            ("mean benchmark return", "num"), ("mean expected", "num"), ("AAR", "num")]
    if has_flag:
        cols.append(("benchmark contaminated", "num"))
    t = Table(columns=cols, id="split-table",
              caption="Mean return = mean expected + mean abnormal, per event day")
    for model, day, n, ret, rm, exp, abn, flagged in zip(
            m["model"], m["rel_day"], m["n"], m["return"], m["benchmark_return"],
            m["expected_return"], m["abnormal_return"], m["flagged"]):
        row = [text_cell(fmt.model_name(model)),
               num_cell(day, f"{int(day):+d}" if day else "0"), num_cell(n, fmt.integer(n)),
               pct_cell(ret), pct_cell(rm), pct_cell(exp), pct_cell(abn)]
        if has_flag:
            row.append(num_cell(flagged, fmt.integer(flagged),
                                cls="num flag" if flagged and model != "constant_mean"
                                else "num", title=CONTAMINATED_TITLE if flagged else ""))
        t.rows.append(row)
    return t


def contaminated_days(ar: pd.DataFrame) -> list[str]:
    if CONTAMINATED not in ar.columns:
        return []
    hit = ar[ar[CONTAMINATED].fillna(False).astype(bool)].drop_duplicates(["series", "rel_day"])
    counts = hit.groupby("rel_day")["series"].nunique()
    return [f"day {int(d):+d}: {n} securit{'y' if n == 1 else 'ies'}".replace("day +0", "day 0")
            for d, n in counts.items()]


def day0_groups(view: View, align: pd.DataFrame) -> tuple[list[dict], pd.DataFrame, dict]:
    """Securities that share a calendar, close rule and day 0 are one row."""
    keys = ["calendar", "close_rule", "prev_session", "prev_close_utc", "day0",
            "day0_close_utc"]
    counts = align.groupby(keys, sort=False, dropna=False).size().rename("n").reset_index()
    first = align.drop_duplicates(keys).reset_index(drop=True)
    first = first.merge(counts, on=keys, how="left")
    rows, labels, zones = [], [], {}
    for a in first.itertuples(index=False):
        zone = view.zone(a.series, a.calendar)
        label = f"{a.calendar}: {a.n} series"
        zones[label] = zone
        labels.append(label)
        rows.append({"n": int(a.n), "calendar": a.calendar, "rule": a.close_rule,
                     "prev_session": fmt.date(a.prev_session),
                     "prev_close": fmt.instant(a.prev_close_utc, zone),
                     "day0": fmt.date(a.day0), "day0_close": fmt.instant(a.day0_close_utc, zone),
                     "example": a.series, "sentence": day0_sentence(a, zone)})
    return rows, first.assign(series=labels), zones


def count_table(frame: pd.DataFrame, keys: list[str], id_: str) -> Table:
    t = Table(columns=[(k, "") for k in keys] + [("pairs", "num")], id=id_)
    if frame.empty:
        return t
    counts = frame.groupby(keys, sort=True, dropna=False).size().sort_values(
        ascending=False, kind="stable")
    for key, n in counts.items():
        key = key if isinstance(key, tuple) else (key,)
        t.rows.append([text_cell(fmt.model_name(v) if k == "model" else v, cls="wrap"
                                 if k == "reason" else "") for k, v in zip(keys, key)]
                      + [num_cell(n, fmt.integer(n))])
    return t


def pairs_with_meta(view: View, align: pd.DataFrame) -> pd.DataFrame:
    sec = view.securities
    cols = ["series", "universe"] + (["sector"] if "sector" in sec.columns else [])
    out = align[["event_id", "series"]].merge(sec[cols], on="series", how="left")
    out["universe"] = out["universe"].fillna("").replace("", "(series)")
    if "sector" in out.columns:
        out["sector"] = out["sector"].fillna("").astype(str).replace("", "(none)")
    return out


def car_with_meta(view: View, car: pd.DataFrame) -> pd.DataFrame:
    sec = view.securities
    cols = ["series", "universe"] + (["sector"] if "sector" in sec.columns else [])
    out = car.merge(sec[cols], on="series", how="left")
    out["universe"] = out["universe"].fillna("").replace("", "(series)")
    if "sector" in out.columns:
        out["sector"] = out["sector"].fillna("").astype(str).replace("", "(none)")
    return out


# ----------------------------------------------------------------------------- event
def event_context(view: View, eid: str) -> dict:
    r = view.r
    root = "../"
    e = view.by_id[eid]
    model = view.headline_model(eid)
    groups = groups_of(view)
    align = view.of_event("alignment", eid)
    day0_rows, reps, zones = day0_groups(view, align)
    charts = []
    if len(reps):
        charts.append(figures.day0_chart(reps, e.announced_at_utc, {}, zones, labels=True))
    car = car_with_meta(view, view.of_event("car", eid))
    pairs = pairs_with_meta(view, align)
    hist = histogram(view, car, model,
                     f"Distribution of the CARs, {fmt.model_name(model)} ({len(align)} pairs)")
    if hist is not None:
        charts.append(hist)
    own = groups.match(align["event_id"], align["series"])
    aar = r.aar[(r.aar["group"] == own)] if own else r.aar[:0]
    if len(aar):
        charts.append(figures.aar_caar(aar, view.models, f"Group {own}: AAR and CAAR",
                                       view.config.event_span))
    ar = view.ar.get(eid, view.ar.empty)
    top, bottom = movers(view, car, model, root, "movers")
    by = [("universe", "per universe", "universes")]
    if "sector" in pairs.columns:
        by.append(("sector", "per sector", "sectors"))
    tables = [(title, summary_table(view, groups, car, pairs, [key], [key], model,
                                    f"by-{key}", root)) for key, title, _ in by]
    all_row = summary_table(view, groups, car.assign(everything="all"),
                            pairs.assign(everything="all"), ["everything"], ["pairs"], model,
                            "all", root)
    in_groups = [gid for gid in view.groups if eid in groups.events[gid]]
    gaps = event_gaps(view, ar)
    return {
        "large": True,
        "e": event_header(e),
        "n_pairs": len(align), "model": fmt.model_name(model),
        "market_wide": eid in view.market_wide, "day0_rows": day0_rows, "charts": charts,
        "all_table": all_row, "tables": tables, "top": top, "bottom": bottom,
        "top_n": TOP, "main_window": fmt.window(*view.windows[0]),
        "split_table": mean_split(view, ar), "contaminated": contaminated_days(ar),
        "skipped": count_table(view.of_event("skipped", eid), ["model", "reason"], "skipped-table"),
        "gaps": count_table(gaps, ["kind"], "gaps-table"), "n_gap_series": gaps["series"].nunique(),
        "groups": [(gid, view.group_href(gid, root)) for gid in in_groups],
        "results": results_links(root), "own_group": own,
        "stars_note": STARS_NOTE if "p_bh" in view.r.car.columns else EVENT_STARS_NOTE,
        "band_z": figures.BAND_Z, "cs_t": CS_T}


def event_gaps(view: View, ar: pd.DataFrame) -> pd.DataFrame:
    """Gaps of the event's series inside each one's plot window (one merge, no loop)."""
    gaps = view.r.gaps
    if ar.empty or gaps.empty:
        return gaps[:0]
    span = ar.groupby("series")["date"].agg(["min", "max"]).reset_index()
    g = gaps.merge(span, on="series")
    return g[(g["date"] >= g["min"]) & (g["date"] <= g["max"])]


def event_page_inputs(view: View, eid: str) -> list[pd.DataFrame]:
    """What a large event page shows beyond the event's own rows (alignment, car, ar, pair
    tests, skipped, gaps): the tests and AAR of the groups holding the event, and the
    securities' metadata (universe, sector). For the build manifest's page key."""
    groups = groups_of(view)
    mine = [gid for gid in view.groups if eid in groups.events[gid]]
    r = view.r
    return [groups.tests[groups.tests["group"].isin(mine)], r.aar[r.aar["group"].isin(mine)],
            view.securities]


# ----------------------------------------------------------------------------- index
def index_context(view: View, margin_days: int = 30) -> dict:
    r, cfg = view.r, view.config
    ev = view.events
    root = ""
    groups = groups_of(view)
    start = (ev["announced_at_utc"].min().tz_convert("UTC").tz_localize(None).normalize()
             - pd.Timedelta(days=margin_days))
    end = (ev["announced_at_utc"].max().tz_convert("UTC").tz_localize(None).normalize()
           + pd.Timedelta(days=margin_days))
    shown = [s for s in view.series_order if s in cfg.series][:12]
    prices = r.prices[r.prices["series"].isin(shown) & (r.prices["date"] >= start)
                      & (r.prices["date"] <= end)]
    charts = [figures.timeline(view.sort_series(prices, "date"), ev, view.names, start, end)] \
        if len(prices) and len(ev) else []
    car = car_with_meta(view, r.car)
    pairs = pairs_with_meta(view, r.alignment)
    # per event x universe, each with its own headline model
    tables = []
    per_model = {}
    for eid in ev["event_id"]:
        per_model.setdefault(view.headline_model(eid), []).append(eid)
    if pairs["universe"].nunique() > 1:      # each event over all universes too
        car = pd.concat([car, car.assign(universe="(all)")], ignore_index=True)
        pairs = pd.concat([pairs, pairs.assign(universe="(all)")], ignore_index=True)
    # Many events (firm-specific ones: one pair each): one row per category, not per event.
    by_event = len(ev) <= MANY_EVENTS
    key, label = ("event_id", "event") if by_event else ("category", "category")
    category = dict(zip(ev["event_id"], ev["category"].fillna("").astype(str)))
    car = car.assign(category=car["event_id"].map(category))
    pairs = pairs.assign(category=pairs["event_id"].map(category))
    for model, eids in per_model.items():
        sel = car["event_id"].isin(eids)
        t = summary_table(view, groups, car[sel], pairs[pairs["event_id"].isin(eids)],
                          [key, "universe"], [label, "universe"], model,
                          f"summary-{fmt.slug(model)}", root,
                          caption=f"Headline model: {fmt.model_name(model)}")
        if by_event:
            order = {x: i for i, x in enumerate(ev["event_id"])}
            t.rows.sort(key=lambda row: order.get(row[0].text, 0))
        tables.append(t)
    if view.unpaged:                         # firm-specific events: by category
        fcat = dict(zip(view.firm["event_id"], view.firm["category"].fillna("").astype(str)
                        .replace("", "(none)")))
        fcar = car_with_meta(view, r.car[r.car["event_id"].isin(view.unpaged)])
        fpairs = pairs_with_meta(view, r.alignment[r.alignment["event_id"].isin(view.unpaged)])
        fcar, fpairs = (f.assign(category=f["event_id"].map(fcat)) for f in (fcar, fpairs))
        model = view.headline_model()
        tables.append(summary_table(view, groups, fcar, fpairs, ["category", "universe"],
                                    ["firm events: category", "universe"], model,
                                    f"summary-firm-{fmt.slug(model)}", root,
                                    caption="Firm-specific events, one pair each. Headline "
                                            f"model: {fmt.model_name(model)}"))
    events_table = events_list(view)
    return {"large": True, "charts": charts, "tables": tables, "events_table": events_table,
            "unpaged_note": view.unpaged_note(),
            "group_table": group_table(view, groups, root), "n_groups": len(view.groups),
            "skipped": count_table(r.skipped, ["model", "reason"], "skipped-table"),
            "provenance": provenance_summary(view), "params": capped_params(view),
            "results": results_links(root), "stars_note": STARS_NOTE, "cs_t": CS_T,
            "n_events": len(ev), "n_pairs": len(r.alignment),
            "studied_text": studied_text(view), "any_market_wide": bool(view.market_wide),
            "top_n": TOP}


def studied_text(view: View) -> str:
    sec = view.securities
    parts = []
    for uni, sub in sec.groupby("universe", sort=True):
        if uni:
            parts.append(f"{len(sub)} securities of universe {uni}")
        else:
            ids = list(sub["series"])
            parts.append(", ".join(ids[:10]) + (f" and {len(ids) - 10} more series"
                                                 if len(ids) > 10 else ""))
    return "; ".join(parts)


def events_list(view: View) -> Table:
    t = Table(columns=[("#", "num"), ("event", ""), ("title", ""), ("category", ""),
                       ("New York", ""), ("Tokyo", ""), ("pairs", "num"), ("headline", "")],
              id="events")
    for e in view.events.itertuples(index=False):
        n = view.n_series.get(e.event_id, 0)
        t.rows.append([
            *event_cells(view, e),
            num_cell(n, fmt.integer(n)),
            text_cell(fmt.model_name(view.headline_model(e.event_id))
                      + (" (market-wide)" if e.event_id in view.market_wide else ""))])
    return t


def group_table(view: View, groups: Groups, root: str) -> Table:
    """One row per group: its pairs, events, and per window the mean CAR with the p of its
    primary test, for the headline model of its events."""
    cols = [("group", ""), ("pairs", "num"), ("events", "num"), ("model", "")] + [
        (f"CAR {fmt.window(*w)}", "num") for w in view.windows]
    t = Table(columns=cols, id="groups-table")
    for gid in view.groups:
        m = view.members[gid]
        eids = set(m["event_id"])
        models = {view.headline_model(x) for x in eids} or {view.headline_model()}
        model = models.pop() if len(models) == 1 else view.headline_model()
        n = len(m) if len(m) else None
        cells = [groups.cell(gid, model, w, root) or Cell(cls="num") for w in view.windows]
        t.rows.append([text_cell(gid, href=view.group_href(gid, root), cls="id"),
                       num_cell(n, fmt.integer(n)), num_cell(len(eids), str(len(eids))),
                       text_cell(fmt.model_name(model))] + cells)
    return t


def provenance_summary(view: View) -> Table:
    prov = view.r.provenance.merge(view.securities[["series", "universe"]], on="series",
                                   how="left")
    prov["universe"] = prov["universe"].fillna("").replace("", "(series)")
    for col in ("origin", "location", "as_of", "first", "last"):
        if col not in prov.columns:
            prov[col] = ""
    t = Table(columns=[("universe", ""), ("origin", ""), ("location", ""), ("series", "num"),
                       ("first", ""), ("last", ""), ("as of", "")], id="provenance")
    keys = ["universe", "origin", "location"]
    g = prov.fillna({"origin": "", "location": ""}).groupby(keys, sort=True, dropna=False)
    for key, sub in g:
        as_of = sorted({fmt.text(x) for x in sub["as_of"]})
        t.rows.append([text_cell(key[0]), text_cell(key[1]), text_cell(key[2], cls="path"),
                       num_cell(len(sub), fmt.integer(len(sub))),
                       text_cell(fmt.date(sub["first"].min())),
                       text_cell(fmt.date(sub["last"].max())),
                       text_cell(as_of[0] if len(as_of) == 1 else f"{len(as_of)} dates")])
    return t


def capped_params(view: View) -> list[tuple[str, str]]:
    from eventstudy.report.pages import params
    out = []
    for k, v in params(view):
        if k == "studied series":
            v = studied_text(view)
        elif len(v) > 400:
            v = v[:400] + " \u2026"
        out.append((k, v))
    return out


# ----------------------------------------------------------------------------- group
def group_context(view: View, gid: str) -> dict:
    """The pieces of a large group's page that replace its one-row-per-member table."""
    members = view.members[gid]
    eids = set(members["event_id"])
    models = {view.headline_model(x) for x in eids}
    model = models.pop() if len(models) == 1 else view.headline_model()
    car = view.r.car.merge(members, on=["event_id", "series"])
    car = car_with_meta(view, car)
    root = "../"
    charts = []
    hist = histogram(view, car, model, f"Distribution of the members' CARs, "
                                       f"{fmt.model_name(model)} ({len(members)} pairs)")
    if hist is not None:
        charts.append(hist)
    top, bottom = movers(view, car, model, root, "movers")
    return {"large": True, "model": fmt.model_name(model), "top": top, "bottom": bottom,
            "top_n": TOP, "main_window": fmt.window(*view.windows[0]), "large_charts": charts,
            "n_events": len(eids), "n_series": members["series"].nunique(),
            "results": results_links(root)}
