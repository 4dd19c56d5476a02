"""What each page shows: the result frames filtered, pivoted and formatted into page contexts.

No statistic is computed here. Every number on a page is a value of a result frame, formatted
(percent with sign, p to 3 decimals) or arranged (one row per event x series, a pivot of
p-values by test and window).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from functools import cached_property, lru_cache

import pandas as pd
from markupsafe import Markup, escape

from eventstudy.multitest import survival_marker
from eventstudy.report import figures, fmt

# Tests whose `estimate` is a (mean) cumulative abnormal return: shown as a signed percent.
CAR_ESTIMATES = {"t", "bootstrap", "cross_sectional_t", "skew_t", "bw_cda"}

MODEL_TEXT = {
    "constant_mean": "Constant mean: expected return = the estimation-window mean.",
    "market_adjusted": "Market adjusted: expected return = the benchmark's return (no fit).",
    "market_model": "Market model: OLS of the return on the benchmark's return "
                    "(for Tokyo series the previous US session, as the closes are not "
                    "synchronous).",
    "factor_model": "Factor model: OLS on the returns of the configured factor series.",
    "dimson": "Dimson: market model with lags and leads of the benchmark "
              "(non-synchronous trading).",
    "scholes_williams": "Scholes-Williams: market model whose beta combines the slopes on "
                        "the previous, same and next benchmark returns (non-synchronous "
                        "trading).",
    "garch": "GARCH-scaled: market model residuals scaled by a GARCH(1,1) volatility.",
}

TEST_TEXT = {
    "t": "t-test of one pair's CAR; its variance includes the model's estimation error "
         "(MacKinlay 1997).",
    "bootstrap": "Bootstrap p-value from the estimation-window residuals.",
    "patell": "Patell (1976) standardised-residual test.",
    "bmp": "Boehmer, Musumeci & Poulsen (1991) standardised cross-sectional test.",
    "kp_patell": "Patell test with the Kolari & Pynnönen (2010) cross-correlation adjustment.",
    "kp_bmp": "BMP test with the Kolari & Pynnönen (2010) cross-correlation adjustment.",
    "cross_sectional_t": "Cross-sectional t-test of the mean CAR (Brown & Warner 1985).",
    "skew_t": "Skewness-adjusted t-test of the mean CAR.",
    "bw_cda": "Crude dependence adjustment (Brown & Warner 1985): the mean AR's variance from "
              "the estimation window.",
    "sign": "Sign test: the share of positive CARs against one half.",
    "generalized_sign": "Generalized sign test (Cowan 1992): positive CARs against the "
                        "estimation-window share.",
    "corrado_rank": "Corrado (1989) rank test.",
    "grank": "Generalized rank test (Kolari & Pynnönen 2011).",
    "cz_rank": "Corrado & Zivney rank test.",
    "wilcoxon": "Wilcoxon signed-rank test of the CARs.",
}


LARGE = 30    # more series than this around one event: summaries, not a row/trace per pair
FIRM_EVENT_ROWS = 100   # more firm-specific events than this: the index summarises them by
#                         category (a firm event never has a page: it is one pair, in results/)
MARKET_WIDE = "market_wide"
HEADLINE_MARKET_WIDE = "constant_mean"
DEFAULT_HEADLINE = "market_model"
CONTAMINATED = "benchmark_contaminated"
# Models whose expected return does not use the benchmark: a contaminated day leaves them whole.
NO_BENCHMARK = {"constant_mean"}


# ----------------------------------------------------------------------------- tables
@dataclass
class Cell:
    text: str = fmt.DASH
    v: str = ""                 # sort key (data-v); '' sorts as missing
    cls: str = ""
    href: str = ""
    title: str = ""
    small: str = ""             # a second, smaller line (e.g. the p-value under a CAR)


@dataclass
class Table:
    columns: list[tuple[str, str]]           # (label, css class) of the sortable header row
    rows: list[list[Cell]] = field(default_factory=list)
    groups: list[list[tuple[str, int]]] = field(default_factory=list)  # header rows above
    id: str = ""
    caption: str = ""
    sortable: bool = True


def _escape(value) -> str:
    """markupsafe's escape, for a plain str by five C-level replaces (the same bytes; a cell's
    text is seldom anything but a str): a report escapes ~10^5 of them."""
    if type(value) is str:
        return value.replace("&", "&amp;").replace(">", "&gt;").replace("<", "&lt;") \
            .replace("'", "&#39;").replace('"', "&#34;")
    return escape(value)


def table_html(t: Table, extra_class: str = "") -> Markup:
    """A table as HTML: what the `table` macro of _macros.html wrote, byte for byte, in
    Python (the macro took ~0.2 s of a cold run's ~10^5 cells: jinja's per-cell overhead)."""
    e = _escape
    out = ['<div class="table-wrap">\n<table']
    if t.id:
        out.append(f' id="{e(t.id)}"')
    out.append(' class="data' + (" sortable" if t.sortable else "")
               + (f" {e(extra_class)}" if extra_class else "") + '">\n')
    if t.caption:
        out.append(f"<caption>{e(t.caption)}</caption>\n")
    out.append("<thead>\n")
    for hrow in t.groups:
        out.append('<tr class="group-head">')
        for label, span in hrow:
            out.append(f'<th colspan="{e(span)}"' + (' class="span"' if label else "")
                       + f">{e(label)}</th>")
        out.append("</tr>\n")
    out.append("<tr>")
    for i, (label, cls) in enumerate(t.columns):
        out.append("<th" + (f' class="{e(cls)}"' if cls else "")
                   + (f' data-col="{i}" tabindex="0" aria-sort="none" title="sort"'
                      if t.sortable else "") + f">{e(label)}</th>")
    out.append("</tr>\n</thead>\n<tbody>\n")
    for row in t.rows:
        out.append("<tr>")
        for c in row:
            out.append("<td")
            if c.cls:
                out.append(f' class="{e(c.cls)}"')
            if c.v != "":
                out.append(f' data-v="{e(c.v)}"')
            if c.title:
                out.append(f' title="{e(c.title)}"')
            out.append(f'><a href="{e(c.href)}">{e(c.text)}</a>' if c.href else f">{e(c.text)}")
            if c.small:
                out.append(f'<span class="small">{e(c.small)}</span>')
            out.append("</td>")
        out.append("</tr>\n")
    out.append("</tbody>\n</table>\n</div>\n")
    return Markup("".join(out))


def num_cell(x, text: str | None = None, cls: str = "num", **kw) -> Cell:
    return Cell(text=text if text is not None else fmt.fixed(x), v=fmt.sort_key(x), cls=cls, **kw)


def pct_cell(x, **kw) -> Cell:
    text = fmt.pct(x)
    sign = " pos" if text.startswith("+") else " neg" if text.startswith("-") else ""
    return num_cell(x, text, cls="num" + sign, **kw)


def p_cell(p, p_holm=None, p_bh=None) -> Cell:
    """A p-value with its stars, and the survival marker of its adjusted p-values."""
    mark = survival_marker(p_holm, p_bh)
    return num_cell(p, fmt.pval(p) + (f" {fmt.stars(p)}" if fmt.stars(p) else "") + mark,
                    cls="num p" + (" sig" if fmt.stars(p) else ""),
                    title=adjusted_title(p_holm, p_bh) if mark else "")


def adjusted_title(p_holm, p_bh) -> str:
    return f"adjusted for multiple testing: Holm p {fmt.pval(p_holm)}, BH p {fmt.pval(p_bh)}"


def text_cell(s, href: str = "", title: str = "", cls: str = "") -> Cell:
    s = fmt.text(s)
    return Cell(text=s or fmt.DASH, v=s, href=href, title=title, cls=cls)


def car_cell(row, skipped: str = "") -> Cell:
    """CAR with stars, its p-value on a second line; sorted by the CAR."""
    if row is None:
        return Cell(text=fmt.DASH, cls="num", small="skipped" if skipped else "",
                    title=f"skipped: {skipped}" if skipped else "")
    cell = pct_cell(row.car)
    cell.text += fmt.stars(row.p_value)
    if fmt.stars(row.p_value):
        cell.cls += " sig"
    p_holm, p_bh = getattr(row, "p_holm", None), getattr(row, "p_bh", None)
    mark = survival_marker(p_holm, p_bh)
    cell.small = f"p {fmt.pval(row.p_value)}{mark}" if not fmt.missing(row.p_value) else \
        fmt.text(row.note)
    cell.title = (f"{fmt.model_name(row.model)} {fmt.window(row.window_start, row.window_end)}: "
                  f"CAR {fmt.pct(row.car)}, se {fmt.pct(row.se)}, t {fmt.fixed(row.t_stat, 2)}, "
                  f"p {fmt.pval(row.p_value)}" + (f" ({adjusted_title(p_holm, p_bh)})"
                                                  if p_bh is not None else "")
                  + (f"; {row.note}" if fmt.text(row.note) else ""))
    return cell


# ----------------------------------------------------------------------------- helpers
class EventRows:
    """Each event's rows of a frame, cut when first asked for: a build rebuilds the pages of
    the events that changed (one, when an event is added), not all. `get(eid)` is what
    `dict(tuple(frame.groupby("event_id", sort=True))).get(eid)` gives."""

    def __init__(self, frame: pd.DataFrame):
        self.frame = frame
        self.positions = frame.groupby("event_id", sort=True).indices if len(frame) else {}
        self._cut: dict = {}

    @property
    def empty(self) -> pd.DataFrame:
        """No rows, the frame's columns (a default that does not read the frame again)."""
        return self.frame.iloc[:0]

    def get(self, eid, default=None):
        if eid not in self.positions:
            return default
        if eid not in self._cut:
            self._cut[eid] = self.frame.iloc[self.positions[eid]]
        return self._cut[eid]

    def __contains__(self, eid) -> bool:
        return eid in self.positions


class View:
    """Shared look-ups over one result (orderings, names, zones, event numbers)."""

    def __init__(self, result):
        self.r = result
        cfg = result.config
        self.config = cfg
        events = result.events.sort_values(["announced_at_utc", "event_id"], kind="stable")
        self.events = events.reset_index(drop=True).assign(
            number=range(1, len(events) + 1))
        self.by_id = {row.event_id: row for row in self.events.itertuples(index=False)}
        scope = self.events["scope"] if "scope" in self.events.columns else None
        self.market_wide = set() if scope is None else set(
            self.events.loc[scope.fillna("").astype(str).str.strip().str.lower()
                            == MARKET_WIDE, "event_id"])
        given = getattr(result, "securities", None)
        universe_ids = (list(given.loc[given["universe"].fillna("").astype(str) != "",
                                       "series"])
                        if isinstance(given, pd.DataFrame)
                        and {"series", "universe"} <= set(given.columns) else [])
        # studied: the [series.X] listed in study.series, then the universes' securities
        self.studied = list(dict.fromkeys([*cfg.studied, *universe_ids]))
        self.series_order = self.studied + [s for s in cfg.series if s not in self.studied]
        self.series_rank = {s: i for i, s in enumerate(self.series_order)}
        self.models = list(cfg.models)
        self.windows = [tuple(w) for w in cfg.event_windows]
        self.securities = securities_frame(result)
        self.names = {**{sid: fmt.text(n) for sid, n in zip(self.securities["series"],
                                                            self.securities["name"])},
                      **{sid: s.name for sid, s in cfg.series.items()}}
        self.zones = {sid: series_zone(s) for sid, s in cfg.series.items()}
        # Groups: the config's, and those the study produced (`by` groups: one per value).
        made = set(result.tests["group"].dropna().astype(str)) | set(
            result.aar["group"].dropna().astype(str))
        made.discard("")
        self.groups = sorted(made | {g for g, c in cfg.groups.items()
                                     if not getattr(c, "by", None)})
        self.group_files = unique_slugs(self.groups)
        # Firm-specific events (one pair each, maybe a million) have no page: their pairs are
        # in results/ and the index summarises them; pages are for the global events.
        firm = getattr(result, "firm_events", None)
        self.firm = (firm[["event_id", "category"]].drop_duplicates("event_id")
                     if isinstance(firm, pd.DataFrame) and len(firm)
                     else pd.DataFrame({"event_id": [], "category": []}))
        self.unpaged = set(self.firm["event_id"])
        ar = result.ar
        if self.unpaged:
            ar = ar[ar["event_id"].isin(set(self.events["event_id"]))]
        self.ar = EventRows(ar)
        self.members = {gid: _members(self, gid) for gid in self.groups}
        per_event = result.alignment.groupby("event_id")["series"].nunique()
        self.n_series = {eid: int(n) for eid, n in per_event.items()}
        # the universe layout also summarises many firm events by category
        self.many_firm_events = len(self.unpaged) > FIRM_EVENT_ROWS
        self.large = (self.many_firm_events or max(self.n_series.values(), default=0) > LARGE
                      or len(self.securities) > LARGE)
        pair_tests = result.tests[result.tests["group"].fillna("") == ""]
        self._by_event = {name: EventRows(frame)
                          for name, frame in (("alignment", result.alignment),
                                              ("car", result.car), ("tests", pair_tests),
                                              ("skipped", result.skipped))}
        self._frames = {"alignment": result.alignment, "car": result.car, "tests": pair_tests,
                        "skipped": result.skipped}
        self.skip_reason = {(x.event_id, x.series, x.model): fmt.text(x.reason)
                            for x in result.skipped.itertuples(index=False)}

    @cached_property
    def car_index(self) -> dict[tuple, tuple]:
        """(event_id, series, model, window_start, window_end) -> its car row (built on first
        use: a universe's pages look up a few rows, not all)."""
        car = self.r.car
        return {(r.event_id, r.series, r.model, int(r.window_start), int(r.window_end)): r
                for r in car.itertuples(index=False)}

    @cached_property
    def prices(self) -> dict[str, pd.DataFrame]:
        """Each series' closes by date (built on first use: a universe's page never needs
        thousands of them)."""
        return {sid: f.sort_values("date") for sid, f in
                self.r.prices.groupby("series", sort=True)}

    def large_event(self, eid: str) -> bool:
        """More series around this event than one row or trace each can show."""
        return self.n_series.get(eid, 0) > LARGE

    def zone(self, sid: str, calendar: str = "") -> str:
        """The zone a series' close is told in; for a universe's security its calendar's."""
        if sid in self.zones:
            return self.zones[sid]
        return calendar_zone(calendar)

    def headline_model(self, eid: str | None = None) -> str:
        """The model a summary shows: constant mean for a market-wide event (its benchmark
        reacted to the same news), else the market model, else the first model run."""
        if eid in self.market_wide and HEADLINE_MARKET_WIDE in self.models:
            return HEADLINE_MARKET_WIDE
        return DEFAULT_HEADLINE if DEFAULT_HEADLINE in self.models else self.models[0]

    def sort_series(self, frame: pd.DataFrame, *extra: str) -> pd.DataFrame:
        """Sort by series in config order (studied first), then the extra columns."""
        if frame.empty:
            return frame
        key = frame.assign(_rank=frame["series"].map(self.series_rank).fillna(len(self.series_rank)))
        return key.sort_values(["_rank", "series", *extra], kind="stable").drop(columns="_rank")

    def for_event_pages(self) -> "View":
        """This view without adjusted p-values (see `without_adjusted`); the rest shared."""
        out = copy.copy(self)
        out.r = without_adjusted(self.r)
        for cached in ("car_index", "_universe_groups"):
            out.__dict__.pop(cached, None)
        pair_tests = out.r.tests[out.r.tests["group"].fillna("") == ""]
        out._by_event = {**self._by_event, "car": EventRows(out.r.car),
                         "tests": EventRows(pair_tests)}
        out._frames = {**self._frames, "car": out.r.car, "tests": pair_tests}
        return out

    def of_event(self, name: str, eid: str) -> pd.DataFrame:
        """Rows of one event in a result frame (alignment, car, pair tests, skipped)."""
        found = self._by_event[name].get(eid)
        return found if found is not None else self._frames[name][:0]

    def window_rank(self, frame: pd.DataFrame) -> list[tuple]:
        """Sort key of each row's window: the config's windows in its order, then the rest."""
        return [(0, self.windows.index((int(a), int(b))), 0) if (int(a), int(b)) in self.windows
                else (1, int(a), int(b))
                for a, b in zip(frame["window_start"], frame["window_end"])]

    def event_href(self, eid: str, root: str) -> str:
        """The event's page, or "" (no link) for a firm event without one."""
        return "" if eid in self.unpaged else f"{root}events/{eid}.html"

    def unpaged_note(self) -> str:
        if not self.unpaged:
            return ""
        return (f"{len(self.unpaged):,} firm-specific events have no page each (one pair each): "
                "their pairs are in results/car.csv and results/alignment.csv"
                + (", summarised by category above." if self.many_firm_events else "."))

    def group_href(self, gid: str, root: str) -> str:
        return f"{root}groups/{self.group_files[gid]}.html"

    def car_columns(self) -> tuple[list[list[tuple[str, int]]], list[tuple[str, str]]]:
        """Header rows over the model x window CAR cells."""
        top = [(f"CAR, {fmt.model_name(m)}", len(self.windows)) for m in self.models]
        cols = [(fmt.window(*w), "num") for m in self.models for w in self.windows]
        return [top], cols

    def car_cells(self, eid: str, sid: str) -> list[Cell]:
        return [car_cell(self.car_index.get((eid, sid, m, w[0], w[1])),
                         self.skip_reason.get((eid, sid, m), ""))
                for m in self.models for w in self.windows]


def securities_frame(result) -> pd.DataFrame:
    """One row per studied security (series, universe, name, metadata): the result's
    `securities` frame when it has one, else the configured series (universe '')."""
    sec = getattr(result, "securities", None)
    if isinstance(sec, pd.DataFrame) and "series" in sec.columns:
        sec = sec.drop_duplicates("series").reset_index(drop=True)
        for col in ("universe", "name"):
            if col not in sec.columns:
                sec[col] = ""
        sec["universe"] = sec["universe"].fillna("").astype(str)
        return sec
    cfg = result.config
    ids = list(dict.fromkeys([*cfg.studied, *cfg.series]))
    return pd.DataFrame({"series": ids, "universe": "",
                         "name": [cfg.series[s].name if s in cfg.series else s for s in ids]})


@lru_cache(maxsize=None)
def calendar_zone(calendar: str) -> str:
    try:
        from eventstudy.calendars import exchange_zone
        return exchange_zone(calendar)
    except Exception:   # an unknown or 24/7 calendar: times in UTC
        return "UTC"


def series_zone(series) -> str:
    """The zone a series' close is told in: its close_tz, else its exchange calendar's zone."""
    if series.close_tz:
        return str(series.close_tz)
    try:
        from eventstudy.calendars import exchange_zone
        return exchange_zone(series.calendar)
    except Exception:  # pragma: no cover - an unknown calendar was refused by the config
        return "UTC"


def unique_slugs(ids: list[str]) -> dict[str, str]:
    out, used = {}, set()
    for gid in ids:
        base = fmt.slug(gid)
        name, k = base, 2
        while name.lower() in used:
            name, k = f"{base}-{k}", k + 1
        used.add(name.lower())
        out[gid] = name
    return out


def day0_sentence(row, zone: str, bar: bool = False) -> str:
    """'announced 2025-04-16 17:30 EDT = 2025-04-17 06:30 JST, after the Tokyo close of
    04-16 15:30 JST; day 0 = 2025-04-17 (close 04-17 15:30 JST)'. `bar`: the series' close is
    a vendor's daily-bar end (close_time), not an exchange close."""
    ann = row.announced_at_utc
    text = f"announced {fmt.instant(ann, fmt.NEW_YORK)}"
    if zone not in ("America/New_York",):
        text += f" = {fmt.instant(ann, zone)}"
    if fmt.missing(row.day0):
        return text + "; outside the calendar's range: no day 0"
    where = fmt.place(zone)
    prev_close = fmt.instant(row.prev_close_utc, zone, "%m-%d %H:%M")
    prev_local_date = fmt.as_utc(row.prev_close_utc).tz_convert(zone).strftime("%Y-%m-%d")
    if bar:
        text += (f", after the closing quote of the {fmt.date(row.prev_session)[5:]} daily bar "
                 f"({prev_close})")
    elif prev_local_date == fmt.date(row.prev_session):
        text += f", after the {where} close of {prev_close}"
    else:
        text += (f", after the {where} close of session {fmt.date(row.prev_session)[5:]} "
                 f"({prev_close})")
    return (text + f"; day 0 = {fmt.date(row.day0)} "
            f"(close {fmt.instant(row.day0_close_utc, zone, '%m-%d %H:%M')})")


def event_times(ts) -> list[tuple[str, str]]:
    return [("New York", fmt.instant(ts, fmt.NEW_YORK)), ("Tokyo", fmt.instant(ts, fmt.TOKYO)),
            ("UTC", fmt.instant(ts, fmt.UTC))]


def test_table(tests: pd.DataFrame, drop: tuple[str, ...], id_: str, root: str,
               view: View) -> Table:
    """The tests frame as a table; columns beyond the known ones are shown as they come."""
    known = ["group", "event_id", "series", "model", "window_start", "window_end", "test",
             "estimate", "statistic", "dof", "p_value", "n", "p_holm", "p_bh"]
    adjusted = "p_bh" in tests.columns
    extra = [c for c in tests.columns if c not in known]
    cols: list[tuple[str, str]] = []
    show = [c for c in ("group", "event_id", "series", "model") if c not in drop]
    labels = {"group": "group", "event_id": "event", "series": "series", "model": "model"}
    cols += [(labels[c], "") for c in show]
    cols += [("window", ""), ("test", ""), ("estimate", "num"), ("statistic", "num"),
             ("dof", "num"), ("p", "num")] + ([("p Holm", "num"), ("p BH", "num")] if adjusted
                                              else []) + [("n", "num")]
    cols += [(c, "") for c in extra]
    rows = []
    for r in tests.itertuples(index=False):
        row = []
        for c in show:
            value = fmt.model_name(r.model) if c == "model" else getattr(r, c)
            href = view.event_href(value, root) if c == "event_id" and value else ""
            row.append(text_cell(value, href=href))
        row.append(Cell(text=fmt.window(r.window_start, r.window_end),
                        v=f"{int(r.window_start):+05d}{int(r.window_end):+05d}"))
        row.append(text_cell(r.test, title=TEST_TEXT.get(r.test, "")))
        row.append(pct_cell(r.estimate) if r.test in CAR_ESTIMATES
                   else num_cell(r.estimate, fmt.fixed(r.estimate, 4, signed=True)))
        row.append(num_cell(r.statistic, fmt.fixed(r.statistic, 3, signed=True)))
        row.append(num_cell(r.dof, fmt.integer(r.dof)))
        if adjusted:
            row += [p_cell(r.p_value, r.p_holm, r.p_bh), num_cell(r.p_holm, fmt.pval(r.p_holm)),
                    num_cell(r.p_bh, fmt.pval(r.p_bh))]
        else:
            row.append(p_cell(r.p_value))
        row.append(num_cell(r.n, fmt.integer(r.n)))
        for c in extra:
            value = getattr(r, c)
            row.append(num_cell(value) if isinstance(value, (int, float)) and
                       not isinstance(value, bool) else text_cell(value))
        rows.append(row)
    return Table(columns=cols, rows=rows, id=id_)


def sort_tests(tests: pd.DataFrame) -> pd.DataFrame:
    keys = [c for c in ("group", "event_id", "series", "model", "window_start", "window_end",
                        "test") if c in tests.columns]
    return tests.sort_values(keys, kind="stable").reset_index(drop=True)


# ----------------------------------------------------------------------------- index
def index_context(view: View, margin_days: int = 30) -> dict:
    if view.large:
        from eventstudy.report import universe
        return universe.index_context(view, margin_days)
    r = view.r
    ev = view.events
    # Timeline: the studied series over the events' span, with a margin.
    start = (ev["announced_at_utc"].min().tz_convert("UTC").tz_localize(None).normalize()
             - pd.Timedelta(days=margin_days))
    end = (ev["announced_at_utc"].max().tz_convert("UTC").tz_localize(None).normalize()
           + pd.Timedelta(days=margin_days))
    prices = r.prices[r.prices["series"].isin(view.studied) & (r.prices["date"] >= start)
                      & (r.prices["date"] <= end)]
    prices = view.sort_series(prices, "date")
    charts = [figures.timeline(prices, ev, view.names, start, end)] if len(prices) else []

    groups, cols = view.car_columns()
    summary = Table(columns=[("#", "num"), ("event", ""), ("series", ""),
                             ("day 0 (session)", "")] + cols,
                    groups=[[("", 4)] + groups[0]], id="summary")
    align = {(a.event_id, a.series): a for a in r.alignment.itertuples(index=False)}
    for e in ev.itertuples(index=False):
        for sid in view.studied:
            a = align.get((e.event_id, sid))
            event_cell = text_cell(e.event_id, href=view.event_href(e.event_id, ""), cls="id",
                                   title=f"{e.title} "
                                         f"({fmt.instant(e.announced_at_utc, fmt.NEW_YORK)})")
            cells = view.car_cells(e.event_id, sid)
            if e.event_id in view.market_wide:
                headline = fmt.model_name(view.headline_model(e.event_id))
                event_cell.small = f"market-wide: headline {headline}"
                k = view.models.index(view.headline_model(e.event_id)) * len(view.windows)
                for c in cells[k:k + len(view.windows)]:
                    c.cls += " headline"
            summary.rows.append([
                num_cell(e.number, str(e.number)), event_cell,
                text_cell(sid, title=view.names.get(sid, sid)),
                text_cell(fmt.date(a.day0) if a is not None else fmt.DASH), *cells])
    # a few firm-specific events (many take the universe layout): one row per pair, no page
    firm = r.alignment[r.alignment["event_id"].isin(view.unpaged)]
    category = dict(zip(view.firm["event_id"], view.firm["category"]))
    for a in firm.sort_values(["day0", "event_id", "series"]).itertuples(index=False):
        summary.rows.append([
            Cell(cls="num"),
            text_cell(a.event_id, cls="id", title=f"firm-specific event; category "
                                                  f"{fmt.text(category.get(a.event_id)) or fmt.DASH}"),
            text_cell(a.series, title=view.names.get(a.series, a.series)),
            text_cell(fmt.date(a.day0)), *view.car_cells(a.event_id, a.series)])

    events_table = Table(columns=[("#", "num"), ("event", ""), ("title", ""), ("category", ""),
                                  ("New York", ""), ("Tokyo", ""), ("precision", "")],
                         id="events")
    for e in ev.itertuples(index=False):
        events_table.rows.append([
            *event_cells(view, e),
            text_cell(e.time_precision)])

    return {"large": False, "charts": charts, "summary": summary, "events_table": events_table,
            "unpaged_note": view.unpaged_note(),
            "groups": group_list(view, ""), "provenance": provenance_table(view),
            "params": params(view), "skipped": skipped_table(r.skipped, view, "", True),
            "stars_note": STARS_NOTE, "any_market_wide": bool(view.market_wide),
            "studied_text": ", ".join(f"{view.names.get(s, s)} ({s})" for s in view.studied),
            "n_events": len(ev)}


STARS_NOTE = ("* p < 0.10, ** p < 0.05, *** p < 0.01 (two-sided); \u2020 still below 0.05 "
              "after the Benjamini-Hochberg adjustment for multiple testing, \u2021 after Holm's "
              "as well (the family: every pair of one model and window, or every group of one "
              "test, model and window)")
EVENT_STARS_NOTE = ("* p < 0.10, ** p < 0.05, *** p < 0.01 (two-sided). The p-values adjusted "
                    "for multiple testing (Holm, Benjamini-Hochberg) are on the overview page "
                    "(\u2020, \u2021) and in results/car.csv and tests.csv, not here: their "
                    "family spans every event, and this page stays as it is when an event "
                    "is added")
ADJUSTED = ("p_holm", "p_bh")


def drop_adjusted(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame without the adjusted p-value columns (what an event page reads)."""
    return frame.drop(columns=list(ADJUSTED), errors="ignore")


def without_adjusted(result):
    """The result as event pages see it: no adjusted p-values. Those depend on every pair of
    their family (all events), so an event page that showed them would change, and be
    rebuilt, whenever any event is added."""
    out = copy.copy(result)
    out.car, out.tests = drop_adjusted(result.car), drop_adjusted(result.tests)
    return out


def event_header(e) -> dict:
    """What an event page's head shows of the event (a row of View.events)."""
    return {"number": e.number, "id": e.event_id, "title": e.title, "category": e.category,
            "tags": fmt.tags(e.tags), "times": event_times(e.announced_at_utc),
            "precision": e.time_precision, "source": fmt.text(e.source),
            "source_href": fmt.web_url(e.source), "raw": e.announced_at}


def event_cells(view: View, e) -> list:
    """An events table's first cells: number, id (linked), title, category, New York and
    Tokyo times."""
    return [num_cell(e.number, str(e.number)),
            text_cell(e.event_id, href=view.event_href(e.event_id, "")),
            text_cell(e.title, cls="wrap"), text_cell(e.category),
            Cell(text=fmt.instant(e.announced_at_utc, fmt.NEW_YORK),
                 v=fmt.as_utc(e.announced_at_utc).isoformat()),
            Cell(text=fmt.instant(e.announced_at_utc, fmt.TOKYO),
                 v=fmt.as_utc(e.announced_at_utc).isoformat())]


def group_list(view: View, root: str) -> list[dict]:
    out = []
    for gid in view.groups:
        g = view.config.groups.get(gid)
        members = group_members(view, gid)
        series = (list(getattr(g, "series", ())) if g is not None
                  else list(dict.fromkeys(members["series"])))
        out.append({"id": gid, "href": view.group_href(gid, root), "series": series,
                    "events": list(getattr(g, "events", ())),
                    "categories": list(getattr(g, "categories", ())),
                    "n_events": members["event_id"].nunique(), "n_pairs": len(members)})
    return out


def group_members(view: View, gid: str) -> pd.DataFrame:
    return view.members[gid]


def _members(view: View, gid: str) -> pd.DataFrame:
    """A group's (event_id, series) pairs, events in date order and series in config order:
    as the study formed them (its `group_members` frame, or the engine's `resolve_groups`),
    else from the config's group, else none known."""
    found = _known_members(view).get(gid)
    if found is not None:
        return _page_order(view, found[["event_id", "series"]])
    if gid in view.config.groups:
        try:
            from eventstudy.study import group_members as members
            return _page_order(view, members(view.config.groups[gid], view.events))
        except Exception:   # a group shape this reader does not know: members unknown
            pass
    return pd.DataFrame({"event_id": pd.Series(dtype=str), "series": pd.Series(dtype=str)})


def _known_members(view: View) -> dict[str, pd.DataFrame]:
    """Every group's members as the study formed them, computed once per view."""
    known = getattr(view, "_known_members", None)
    if known is not None:
        return known
    known = {}
    r = view.r
    given = getattr(r, "group_members", None)
    if isinstance(given, pd.DataFrame) and {"group", "event_id", "series"} <= set(given.columns):
        known = dict(tuple(given.groupby("group", sort=False)))
    else:
        try:
            from eventstudy import study
            resolve = getattr(study, "resolve_groups", None)
            securities = getattr(r, "securities", None)
            if resolve is not None and isinstance(securities, pd.DataFrame):
                known = dict(resolve(r.events, view.config, securities,
                                     getattr(r, "firm_events", None)))
        except Exception:   # members unknown: the pages fall back to the config's groups
            known = {}
    view._known_members = known
    return known


def _page_order(view: View, members: pd.DataFrame) -> pd.DataFrame:
    order = {e: i for i, e in enumerate(view.events["event_id"])}
    out = members.assign(_e=members["event_id"].map(order))
    out = view.sort_series(out, "_e").sort_values(["_e"], kind="stable").drop(columns="_e")
    return out.reset_index(drop=True)


def provenance_table(view: View) -> Table:
    prov = view.sort_series(view.r.provenance)
    known = ["series", "ticker", "origin", "location", "first", "last", "rows", "as_of"]
    extra = [c for c in prov.columns if c not in known]
    t = Table(columns=[("series", ""), ("name", ""), ("ticker", ""), ("origin", ""),
                       ("location", ""), ("first", ""), ("last", ""), ("rows", "num"),
                       ("as of", "")] + [(c, "") for c in extra], id="provenance")
    for p in prov.itertuples(index=False):
        t.rows.append([text_cell(p.series), text_cell(view.names.get(p.series, "")),
                       text_cell(getattr(p, "ticker", "")), text_cell(getattr(p, "origin", "")),
                       text_cell(getattr(p, "location", ""), cls="path"),
                       text_cell(fmt.date(getattr(p, "first", None))),
                       text_cell(fmt.date(getattr(p, "last", None))),
                       num_cell(getattr(p, "rows", None), fmt.integer(getattr(p, "rows", None))),
                       text_cell(getattr(p, "as_of", ""))]
                      + [text_cell(getattr(p, c)) for c in extra])
    return t


def params(view: View) -> list[tuple[str, str]]:
    cfg = view.config
    studied = ", ".join(f"{s} ({view.names.get(s, s)})" for s in view.studied)
    pairs = [f"{s} vs {cfg.series[s].benchmark}" for s in view.series_order
             if s in cfg.series and cfg.series[s].benchmark]
    universes = getattr(cfg, "universes", None)
    if isinstance(universes, dict):
        pairs += [f"universe {u} vs {getattr(x, 'benchmark', '')}"
                  for u, x in sorted(universes.items()) if getattr(x, "benchmark", None)]
    bench = ", ".join(pairs)
    out = [("config", cfg.path), ("studied series", studied),
           ("benchmarks", bench or fmt.DASH),
           ("event windows", ", ".join(fmt.window(*w) for w in cfg.event_windows)
            + " trading days from day 0"),
           ("estimation window", fmt.window(*cfg.estimation_window)
            + f" (at least {cfg.min_estimation} usable days)"),
           ("plot window", fmt.window(*cfg.plot_window)),
           ("models", ", ".join(fmt.model_name(m) for m in cfg.models)),
           ("returns", cfg.returns),
           ("other events' windows", "excluded from estimation" if cfg.exclude_other_events
            else "kept in estimation"),
           ("bootstrap", f"{cfg.n_boot} draws, seed {cfg.seed}")]
    if cfg.factors:
        out.append(("factors", ", ".join(cfg.factors)))
    if "dimson" in cfg.models:
        out.append(("Dimson lags", str(cfg.dimson_lags)))
    return out


def skipped_table(skipped: pd.DataFrame, view: View, root: str, with_event: bool) -> Table:
    cols = ([("event", "")] if with_event else []) + [("series", ""), ("model", ""),
                                                      ("reason", "")]
    t = Table(columns=cols, id="skipped")
    if skipped.empty:
        return t
    order = {e: i for i, e in enumerate(view.events["event_id"])}
    frame = view.sort_series(skipped.assign(_e=skipped["event_id"].map(order)), "model")
    frame = frame.sort_values("_e", kind="stable")
    for s in frame.itertuples(index=False):
        row = [text_cell(s.event_id, href=view.event_href(s.event_id, root))] if with_event else []
        row += [text_cell(s.series), text_cell(fmt.model_name(s.model)),
                text_cell(s.reason, cls="wrap")]
        t.rows.append(row)
    return t


# ----------------------------------------------------------------------------- event
def event_context(view: View, eid: str) -> dict:
    if view.large_event(eid):
        from eventstudy.report import universe
        return universe.event_context(view, eid)
    r, cfg = view.r, view.config
    e = view.by_id[eid]
    root = "../"
    align = view.sort_series(view.of_event("alignment", eid))
    series = list(align["series"])

    day0_rows = []
    for a in align.itertuples(index=False):
        zone = view.zone(a.series, a.calendar)
        day0_rows.append({
            "series": a.series, "name": view.names.get(a.series, a.series),
            "calendar": a.calendar, "rule": a.close_rule,
            "prev_session": fmt.date(a.prev_session),
            "prev_close": fmt.instant(a.prev_close_utc, zone),
            "day0": fmt.date(a.day0), "day0_close": fmt.instant(a.day0_close_utc, zone),
            "sentence": day0_sentence(a, zone, bar=a.series in cfg.series
                                      and cfg.series[a.series].close_time is not None)})

    sentences: dict[str, list[str]] = {}
    for d in day0_rows:
        sentences.setdefault(d["sentence"], []).append(d["series"])
    day0_sentences = [(", ".join(sids), text) for text, sids in sentences.items()]
    charts = []
    if len(align):
        zones = {a.series: view.zone(a.series, a.calendar) for a in align.itertuples(index=False)}
        charts.append(figures.day0_chart(align, e.announced_at_utc, view.names, zones))
    ar = view.ar.get(eid, view.ar.empty)
    # Price path: each series' closes over the dates of its plot window, indexed to the last
    # close before the announcement (the previous session's close).
    price_parts, bases, day0s = [], {}, {}
    for a in align.itertuples(index=False):
        dates = ar.loc[ar["series"] == a.series, "date"]
        if dates.empty:
            continue
        p = view.prices.get(a.series, r.prices[:0])
        p = p[(p["date"] >= dates.min()) & (p["date"] <= dates.max())]
        before = p[p["date"] <= a.prev_session] if not fmt.missing(a.prev_session) else p[:0]
        if p.empty or before.empty:
            continue
        bases[a.series] = float(before["close"].iloc[-1])
        day0s[a.series] = fmt.date(a.day0)
        price_parts.append(p)
    if price_parts:
        charts.append(figures.price_path(pd.concat(price_parts, ignore_index=True), bases,
                                         e.announced_at_utc, view.names, day0s))
    span = cfg.event_span
    for sid in series:
        sub = ar[ar["series"] == sid]
        if sub.empty:
            continue
        cal = cfg.series[sid].calendar if sid in cfg.series else ""
        charts.append(figures.ar_car(
            sub, view.models, f"{view.names.get(sid, sid)} ({sid}): abnormal returns and CAR",
            cal, span))

    car = view.of_event("car", eid)
    mrank = {m: i for i, m in enumerate(view.models)}
    car = view.sort_series(car.assign(_m=car["model"].map(mrank), _w=view.window_rank(car)),
                           "_m", "_w")
    adjusted = "p_bh" in car.columns
    car_table = Table(columns=[("series", ""), ("model", ""), ("window", ""), ("CAR", "num"),
                               ("se", "num"), ("t", "num"), ("dof", "num"), ("p", "num")]
                      + ([("p Holm", "num"), ("p BH", "num")] if adjusted else [])
                      + [("n est", "num"), ("n days", "num"), ("n excluded", "num"),
                         ("note", "")], id="car")
    for c in car.itertuples(index=False):
        car_table.rows.append([
            text_cell(c.series, title=view.names.get(c.series, "")),
            text_cell(fmt.model_name(c.model)),
            Cell(text=fmt.window(c.window_start, c.window_end),
                 v=f"{int(c.window_start):+05d}{int(c.window_end):+05d}"),
            pct_cell(c.car), num_cell(c.se, fmt.pct(c.se).lstrip("+")),
            num_cell(c.t_stat, fmt.fixed(c.t_stat, 3, signed=True)),
            num_cell(c.dof, fmt.integer(c.dof)),
            p_cell(c.p_value, getattr(c, "p_holm", None), getattr(c, "p_bh", None)),
            *([num_cell(c.p_holm, fmt.pval(c.p_holm)), num_cell(c.p_bh, fmt.pval(c.p_bh))]
              if adjusted else []),
            num_cell(c.n_est, fmt.integer(c.n_est)), num_cell(c.n_days, fmt.integer(c.n_days)),
            num_cell(c.n_excluded, fmt.integer(c.n_excluded)), text_cell(c.note, cls="wrap")])

    tests = view.of_event("tests", eid)
    tests = view.sort_series(tests.assign(_m=tests["model"].map(mrank),
                                          _w=view.window_rank(tests)),
                             "_m", "_w", "test").drop(columns=["_m", "_w"])
    tests_table = test_table(tests, ("group", "event_id"), "tests", root, view)

    gaps_rows = []
    for sid in series:
        dates = ar.loc[ar["series"] == sid, "date"]
        if dates.empty:
            continue
        g = r.gaps[(r.gaps["series"] == sid) & (r.gaps["date"] >= dates.min())
                   & (r.gaps["date"] <= dates.max())].sort_values(["date", "kind"])
        gaps_rows += [{"series": sid, "date": fmt.date(x.date), "kind": x.kind}
                      for x in g.itertuples(index=False)]
    in_groups = [gid for gid in view.groups
                 if eid in set(group_members(view, gid)["event_id"])]
    split_table, contaminated = return_split(view, ar)
    return {
        "large": False,
        "e": event_header(e),
        "day0_rows": day0_rows, "day0_sentences": day0_sentences, "charts": charts, "car_table": car_table,
        "tests_table": tests_table, "gaps": gaps_rows,
        "skipped": skipped_table(view.of_event("skipped", eid), view, root, False),
        "groups": [(gid, view.group_href(gid, root)) for gid in in_groups],
        "split_table": split_table, "contaminated": contaminated,
        "headline": headline_context(view, eid, series),
        "stars_note": EVENT_STARS_NOTE if not adjusted else STARS_NOTE,
        "band_z": figures.BAND_Z}


def return_split(view: View, ar: pd.DataFrame) -> tuple[Table, list[str]]:
    """Each event-window day's return = expected return (the model's alpha + beta-hat Rm, or
    its mean) + abnormal return, per series and model, as the ar frame has them; and the
    (series, day) whose benchmark interval contains the announcement (benchmark_contaminated)."""
    lo, hi = view.config.event_span
    days = ar[(ar["rel_day"] >= lo) & (ar["rel_day"] <= hi)]
    has_flag = CONTAMINATED in days.columns
    flag = (days[CONTAMINATED].fillna(False).astype(bool) if has_flag
            else pd.Series(False, index=days.index))
    mrank = {m: i for i, m in enumerate(view.models)}
    days = view.sort_series(days.assign(_m=days["model"].map(mrank), _flag=flag),
                            "_m", "rel_day")
    cols = [("series", ""), ("model", ""), ("day", "num"), ("date", ""), ("return", "num"),
            ("benchmark return", "num"), ("expected", "num"), ("abnormal", "num")]
    if has_flag:
        cols.append(("benchmark", ""))
    t = Table(columns=cols, id="split-table",
              caption="Return = expected + abnormal on each event-window day")
    for sid, model, day, date, ret, rm, exp, abn, bad in zip(
            days["series"], days["model"], days["rel_day"], days["date"], days["return"],
            days["benchmark_return"], days["expected_return"], days["abnormal_return"],
            days["_flag"]):
        row = [text_cell(sid, title=view.names.get(sid, "")), text_cell(fmt.model_name(model)),
               num_cell(day, f"{int(day):+d}" if day else "0"), text_cell(fmt.date(date)),
               pct_cell(ret), pct_cell(rm), pct_cell(exp), pct_cell(abn)]
        if has_flag:
            uses = model not in NO_BENCHMARK
            row.append(Cell(text="contaminated" if bad else fmt.DASH, v="1" if bad else "",
                            cls="flag" if bad and uses else "",
                            title=CONTAMINATED_TITLE if bad else ""))
            if bad and uses:
                row[6].cls += " flag"
        t.rows.append(row)
    hit = days[days["_flag"]].drop_duplicates(["series", "rel_day"])
    contaminated = [f"{sid} day {int(d):+d} ({fmt.date(date)})".replace("day +0", "day 0")
                    for sid, d, date in zip(hit["series"], hit["rel_day"], hit["date"])]
    return t, contaminated


CONTAMINATED_TITLE = ("the benchmark's matched return interval contains the announcement: the "
                      "benchmark reacted to the same news, and a model using it calls part of "
                      "the reaction 'expected'")


def headline_context(view: View, eid: str, series: list[str]) -> dict | None:
    """For a market-wide event: the headline model's CARs (constant mean), with why."""
    if eid not in view.market_wide:
        return None
    model = view.headline_model(eid)
    t = Table(columns=[("series", "")] + [(fmt.window(*w), "num") for w in view.windows],
              id="headline", sortable=False)
    for sid in series:
        t.rows.append([text_cell(sid, title=view.names.get(sid, ""))] + [
            car_cell(view.car_index.get((eid, sid, model, w[0], w[1])),
                     view.skip_reason.get((eid, sid, model), "")) for w in view.windows])
    return {"model": fmt.model_name(model), "ran": model == HEADLINE_MARKET_WIDE, "table": t}


# ----------------------------------------------------------------------------- group
def group_context(view: View, gid: str) -> dict:
    r, cfg = view.r, view.config
    root = "../"
    g = cfg.groups.get(gid)
    members = group_members(view, gid)
    large = members["series"].nunique() > LARGE
    aar = r.aar[r.aar["group"] == gid]
    charts = []
    if len(aar):
        charts.append(figures.aar_caar(aar, view.models, f"Group {gid}: AAR and CAAR",
                                       cfg.event_span))
    shown = members[:0] if large else members
    align = {(a.event_id, a.series): a for a in r.alignment.merge(
        shown, on=["event_id", "series"]).itertuples(index=False)}
    heads, cols = view.car_columns()
    members_table = Table(columns=[("#", "num"), ("event", ""), ("series", ""),
                                   ("day 0 (session)", "")] + cols,
                          groups=[[("", 4)] + heads[0]], id="members")
    for m in shown.itertuples(index=False):
        a = align.get((m.event_id, m.series))
        members_table.rows.append([
            num_cell(view.by_id[m.event_id].number, str(view.by_id[m.event_id].number)),
            text_cell(m.event_id, href=view.event_href(m.event_id, root), cls="id",
                      title=view.by_id[m.event_id].title),
            text_cell(m.series, title=view.names.get(m.series, "")),
            text_cell(fmt.date(a.day0) if a is not None else fmt.DASH),
            *view.car_cells(m.event_id, m.series)])

    tests = sort_tests(r.tests[r.tests["group"] == gid])
    mrank = {m: i for i, m in enumerate(view.models)}
    tests = tests.assign(_m=tests["model"].map(mrank), _w=view.window_rank(tests)).sort_values(
        ["_m", "_w", "test"], kind="stable").drop(columns=["_m", "_w"])
    pivots = []
    for model in view.models:
        sub = tests[tests["model"] == model]
        if sub.empty:
            continue
        wins = sorted({(int(a), int(b)) for a, b in zip(sub["window_start"], sub["window_end"])},
                      key=lambda w: (0, view.windows.index(w), w) if w in view.windows
                      else (1, 0, w))
        names = sorted(sub["test"].unique())
        t = Table(columns=[("test", "")] + [(fmt.window(*w), "num") for w in wins],
                  id=f"pivot-{fmt.slug(model)}",
                  caption=f"{fmt.model_name(model)}: p-values by test and window")
        cells = {(x.test, int(x.window_start), int(x.window_end)): x
                 for x in sub.itertuples(index=False)}
        for name in names:
            notes = [fmt.text(getattr(cells.get((name, *w)), "note", "")) for w in wins]
            why = next((n for n in notes if n), "")     # withheld, or below its minimum N
            row = [text_cell(name, title=" ".join(filter(None, (TEST_TEXT.get(name, ""), why))))]
            for w in wins:
                x = cells.get((name, *w))
                if x is None:
                    row.append(Cell(cls="num"))
                    continue
                p_holm, p_bh = getattr(x, "p_holm", None), getattr(x, "p_bh", None)
                c = p_cell(x.p_value, p_holm, p_bh)
                c.title = (f"{name} {fmt.window(*w)}: statistic {fmt.fixed(x.statistic, 3, True)}"
                           f", p {fmt.pval(x.p_value)}, n {fmt.integer(x.n)}"
                           + (f"; {adjusted_title(p_holm, p_bh)}" if p_bh is not None else ""))
                row.append(c)
            t.rows.append(row)
        pivots.append(t)
    full = test_table(tests, ("group", "event_id", "series"), "tests", root, view)
    extra = {"large": False}
    if large:
        from eventstudy.report import universe
        extra = universe.group_context(view, gid)
        charts += extra.pop("large_charts")
    series = (list(getattr(g, "series", ())) if g is not None
              else list(dict.fromkeys(members["series"])))
    events = (list(getattr(g, "events", ())) if g is not None
              else list(dict.fromkeys(members["event_id"])))
    return {**extra,
            "g": {"id": gid, "series": series if len(series) <= LARGE else [
                      f"{len(series)} series"],
                  "events": events if len(events) <= LARGE else [f"{len(events)} events"],
                  "categories": list(getattr(g, "categories", ()))},
            "charts": charts, "members_table": members_table, "pivots": pivots,
            "tests_table": full, "n_members": len(members),
            "stars_note": STARS_NOTE, "band_z": figures.BAND_Z}


# ----------------------------------------------------------------------------- methods
def methods_context(view: View, methods_html: str | None, methods_source: str) -> dict:
    r = view.r
    tests = sorted(set(r.tests["test"].dropna())) if len(r.tests) else []
    return {"models": [(m, MODEL_TEXT.get(m, "")) for m in view.models],
            "tests": [(t, TEST_TEXT.get(t, "see docs/methods.md")) for t in tests],
            "params": params(view), "methods_html": methods_html,
            "methods_source": methods_source, "band_z": figures.BAND_Z,
            "stars_note": STARS_NOTE}
