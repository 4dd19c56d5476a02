"""A study: every (event, security, model), from prices to tidy result frames.

The unit of work is the panel (one calendar's sessions x securities, `eventstudy.panel`) and
the pairs table (one row per (event, security)), not one pair: day 0, returns, gaps and the
benchmark are computed once per calendar, and each model is fitted for every pair at once
(`eventstudy.fit`). Nothing here draws or prints; the report and the CLI read the frames of
`StudyResult`.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from eventstudy import fit as bfit
from eventstudy.calendars import close_rule, session_closes
from eventstudy.config import Config, SeriesConfig
from eventstudy.errors import DataError, InputError, NetworkError
from eventstudy.memo import Memo
from eventstudy.panel import Panel, build_panel, interval_returns, asof_prices, shift_bars
from eventstudy.result import StudyResult

FETCH_MARGIN = 30  # sessions fetched before the earliest estimation window starts


def default_cache_dir() -> Path:
    return Path(os.environ.get("EVENTSTUDY_CACHE", Path.home() / ".cache" / "eventstudy"))


# ---------------------------------------------------------------------------------------------
# securities, prices and panels
# ---------------------------------------------------------------------------------------------

@dataclass
class Security:
    """One priced thing of the study: a [series.X], or a member of a universe."""
    id: str
    cfg: SeriesConfig        # calendar, close rule, benchmark (a universe member gets one too)
    universe: str = ""

    @property
    def close_key(self) -> tuple:
        return (self.cfg.calendar, self.cfg.close_time, self.cfg.close_tz)


def run_study(events: pd.DataFrame, config: Config, *, offline: bool = False,
              cache_dir: str | Path | None = None, fetch=None,
              today: pd.Timestamp | None = None, memoize: bool = True,
              recompute: bool = False) -> StudyResult:
    """Run every (event, security, model) of the config; `fetch` defaults to Yahoo.

    With `memoize`, results whose inputs are unchanged since the last run are read from the
    memo in the cache folder (eventstudy.memo) instead of being computed again; `recompute`
    computes everything and refreshes the memo.
    """
    from eventstudy.data.cache import PriceCache
    from eventstudy.data.prices import load_series_prices
    fetchers = _fetchers(fetch) if not offline else {}
    cache = PriceCache(cache_dir if cache_dir is not None else default_cache_dir())
    today = pd.Timestamp.now(tz="UTC").tz_localize(None).normalize() if today is None else today
    pairs = study_pairs(events, config)

    series_ids = config.needed_series
    closes = {sid: session_closes(config.series[sid]) for sid in series_ids}
    start = _fetch_start(events, config, closes)
    bars, provenance, warn = {}, [], []
    for sid in series_ids:
        cfg = config.series[sid]
        try:
            prices, prov, warning = load_series_prices(cfg, offline=offline, cache=cache,
                                                       fetch=fetchers.get(cfg.source),
                                                       start=start[sid], end=today)
        except NetworkError as exc:
            warn.append(f"{exc}; working offline: cached or bundled data for every series")
            offline = True
            prices, prov, warning = load_series_prices(cfg, offline=True, cache=cache)
        if warning:
            warn.append(warning)
        provenance.append(prov)
        bars[sid] = prices

    securities = [Security(sid, config.series[sid]) for sid in series_ids]
    panels, where, gaps = _build_panels(securities, bars, closes, config)
    _add_regressors(panels, where, securities, config)

    alignment = _alignment(events, pairs, securities, panels, where)
    check_data_start(events, alignment, _firsts(panels, where, alignment["series"].unique()),
                     config.estimation_window)

    from eventstudy.engine import compute
    groups = [(gid, group_members(group, events)) for gid, group in config.groups.items()]
    excluded = _excluded_rows(events, panels, config)
    memo = Memo(cache.root, fresh=recompute) if memoize else None
    out = compute(alignment, panels, where, securities, config, groups, excluded, memo=memo)
    if memo is not None:
        memo.save()
    warn += out.warnings
    prices = pd.concat([pd.DataFrame({"series": s.id, "date": panels[where[s.id][0]].dates[
        panels[where[s.id][0]].valid[:, where[s.id][1]]],
        "close": panels[where[s.id][0]].close[panels[where[s.id][0]].valid[:, where[s.id][1]],
                                              where[s.id][1]]})
        for s in securities], ignore_index=True)
    return StudyResult(
        config=config, events=events, alignment=alignment.drop(columns=["day0_pos"]),
        ar=out.ar, car=out.car, tests=out.tests, panel=out.panel, aar=out.aar,
        skipped=out.skipped, gaps=gaps, prices=prices[["series", "date", "close"]],
        provenance=pd.DataFrame([p.__dict__ for p in provenance]),
        warnings=warn, returns=SeriesFrames(panels, where),
        reuse=out.reuse)


class SeriesFrames(dict):
    """`result.returns[sid]`: each security's one-series frame, built from its panel when
    first asked for (thousands of securities need not all be turned into frames)."""

    def __init__(self, panels: dict, where: dict):
        super().__init__()
        self._panels, self._where = panels, where

    def __missing__(self, sid):
        if sid not in self._where:
            raise KeyError(sid)
        key, _ = self._where[sid]
        frame = self._panels[key].series_frame(sid)
        self[sid] = frame
        return frame

    def __contains__(self, sid):
        return dict.__contains__(self, sid) or sid in self._where

    def __iter__(self):
        return iter(dict.fromkeys(list(self._where) + list(dict.keys(self))))

    def __len__(self):
        return len(set(self._where) | set(dict.keys(self)))

    def keys(self):
        return list(iter(self))

    def items(self):
        return [(k, self[k]) for k in self]

    def values(self):
        return [self[k] for k in self]


def _build_panels(securities, bars, closes, config):
    """One panel per close rule; `where[sid] = (panel key, column)`; the gaps frame."""
    by_key: dict[tuple, list[Security]] = {}
    for s in securities:
        by_key.setdefault(s.close_key, []).append(s)
    panels, where = {}, {}
    off = {}
    for key, members in by_key.items():
        panel, off_calendar = build_panel(key, closes[members[0].id],
                                          {s.id: bars[s.id] for s in members}, config.returns)
        panels[key] = panel
        for i, s in enumerate(members):
            where[s.id] = (key, i)
        off[key] = off_calendar
    gaps = []
    for s in securities:
        key, i = where[s.id]
        p = panels[key]
        gaps.append(pd.DataFrame({"series": s.id, "date": p.dates[p.gap[:, i]],
                                  "kind": "missing bar"}))
        o = off[key]
        o = o[o["security"] == s.id]
        gaps.append(pd.DataFrame({"series": s.id, "date": o["date"].to_numpy(),
                                  "kind": "bar on a non-session day (ignored)"}))
    gaps = pd.concat(gaps, ignore_index=True)[["series", "date", "kind"]]
    gaps["date"] = gaps["date"].astype("datetime64[ns]")
    return panels, where, gaps


def _add_regressors(panels: dict, where: dict, securities, config: Config) -> None:
    """Benchmark (rm), its Dimson lags and leads, and factor returns, over each security's
    own bar intervals: one as-of vector per (panel, benchmark), gathered per column."""
    def bench_bars(bid):
        key, j = where[bid]
        return panels[key].bars(j)

    for key, panel in panels.items():
        n = len(panel.securities)
        S = panel.close.shape[0]
        members = [s for s in securities if where[s.id][0] == key]
        names = ["rm"] + [f"rm_lag{k}" for k in range(1, config.dimson_lags + 1)] \
            + [f"rm_lead{k}" for k in range(1, config.dimson_lags + 1)]
        for name in names + [f"f_{f}" for f in config.factors]:
            panel.regressors[name] = np.full((S, n), np.nan)
            panel.has[name] = np.zeros(n, bool)
        by_bench: dict[str, list[int]] = {}
        for s in members:
            if s.cfg.benchmark is not None:
                by_bench.setdefault(s.cfg.benchmark, []).append(where[s.id][1])
        for bid, cols in by_bench.items():
            cols = np.asarray(cols)
            rm = interval_returns(panel, asof_prices(panel, *bench_bars(bid)), cols,
                                  config.returns)
            panel.regressors["rm"][:, cols] = rm
            panel.has["rm"][cols] = True
        rm = panel.regressors["rm"]
        for k in range(1, config.dimson_lags + 1):
            panel.regressors[f"rm_lag{k}"] = shift_bars(rm, panel.valid, k)
            panel.regressors[f"rm_lead{k}"] = shift_bars(rm, panel.valid, -k)
            panel.has[f"rm_lag{k}"] = panel.has[f"rm_lead{k}"] = panel.has["rm"]
        for f in config.factors:
            cols = np.asarray([where[s.id][1] for s in members if s.id != f], dtype=int)
            if len(cols):
                panel.regressors[f"f_{f}"][:, cols] = interval_returns(
                    panel, asof_prices(panel, *bench_bars(f)), cols, config.returns)
                panel.has[f"f_{f}"][cols] = True
        if not config.factors and not panel.has["rm"].any():
            pass


def _excluded_rows(events, panels, config) -> dict:
    """Per panel, the (S, N) rows inside any event's widest window: kept out of every
    estimation window (`exclude_other_events`)."""
    out = {}
    instants = pd.DatetimeIndex(events["announced_at_utc"]).tz_convert("UTC").as_unit("ns")
    lo, hi = config.event_span
    for key, p in panels.items():
        S, N = p.close.shape
        mask = np.zeros((S, N), bool)
        if config.exclude_other_events and S:
            closes = pd.DatetimeIndex(p.calendar_closes.array).as_unit("ns")
            pos = closes.searchsorted(instants, side="right")
            pos = pos[(pos > 0) & (pos < len(closes))]
            rows = (pos[:, None] + np.arange(lo, hi + 1)[None, :]).ravel() - p.offset
            mask[rows[(rows >= 0) & (rows < S)], :] = True
        out[key] = mask
    return out


# ---------------------------------------------------------------------------------------------
# pairs and alignment
# ---------------------------------------------------------------------------------------------

def study_pairs(events: pd.DataFrame, config: Config) -> pd.DataFrame:
    """Every (event_id, series) studied: studied series x all events, plus the groups' pairs."""
    ids = events["event_id"].tolist()
    pairs = [(e, s) for s in config.studied for e in ids]
    for gid, group in config.groups.items():
        for eid in group.events:
            if eid not in ids:
                raise InputError(f"unknown event {eid!r} (not in the events file)",
                                 file=config.path, field=f"groups.{gid}.events")
        pairs += list(group_members(group, events).itertuples(index=False, name=None))
    return pd.DataFrame(pairs, columns=["event_id", "series"]).drop_duplicates(ignore_index=True)


def group_members(group, events: pd.DataFrame) -> pd.DataFrame:
    """The (event_id, series) pairs of a group: its series x its events and categories."""
    chosen = events[events["event_id"].isin(group.events)
                    | events["category"].isin(group.categories)]["event_id"].to_numpy()
    series = np.asarray(group.series, dtype=object)
    return pd.DataFrame({"event_id": np.tile(chosen, len(series)),
                         "series": np.repeat(series, len(chosen))})


def _alignment(events, pairs, securities, panels, where) -> pd.DataFrame:
    """Day 0 of every studied (event, security): the first session whose close comes after
    the announcement, on the security's own calendar and close; one searchsorted per panel.

    Rows: securities in the config's order, events in the events file's order."""
    instants = pd.DatetimeIndex(events["announced_at_utc"]).tz_convert("UTC").as_unit("ns")
    studied = set(pairs["series"])
    frames = []
    for s in securities:
        if s.id not in studied:
            continue
        key, _ = where[s.id]
        closes = panels[key].calendar_closes
        close_values = pd.DatetimeIndex(closes.array).as_unit("ns")
        pos = close_values.searchsorted(instants, side="right")
        inside = (pos > 0) & (pos < len(closes))
        safe = np.clip(pos, 1, len(closes) - 1)
        nat = np.datetime64("NaT")
        frames.append(pd.DataFrame({
            "event_id": events["event_id"].to_numpy(),
            "series": s.id,
            "calendar": s.cfg.calendar,
            "announced_at": events["announced_at"].to_numpy(),
            "announced_at_utc": instants,
            "time_precision": events["time_precision"].to_numpy(),
            "day0": np.where(inside, closes.index[safe], nat),
            "day0_close_utc": close_values[safe].where(inside),
            "prev_session": np.where(inside, closes.index[safe - 1], nat),
            "prev_close_utc": close_values[safe - 1].where(inside),
            "day0_pos": np.where(inside, safe, -1),
            "close_rule": close_rule(s.cfg)}))
    alignment = pd.concat(frames, ignore_index=True)
    for col in ("day0", "prev_session"):
        alignment[col] = alignment[col].astype("datetime64[ns]")
    return alignment.merge(pairs, on=["event_id", "series"], how="inner")


def check_data_start(events: pd.DataFrame, alignment: pd.DataFrame, firsts,
                     estimation_window: tuple[int, int]) -> None:
    """Refuse an event whose whole estimation window precedes the data of every security
    studied on it: far more often a typo in the year (1925, 2205) than a study design.

    `alignment` holds the studied (event_id, series) pairs with `day0_pos` (-1 when the
    announcement is outside the calendar); `firsts` each series' first session (a frame
    indexed by series with pos, date, close_utc; or a mapping of series frames). An event
    that precedes only some securities (one listed later) is not refused here: those pairs are
    skipped with a reason. Raises InputError naming the events file
    (``events.attrs["file"]``), the event's row and the field announced_at.
    """
    if not isinstance(firsts, pd.DataFrame):
        firsts = pd.DataFrame([f.iloc[0][["pos", "date", "close_utc"]] for f in firsts.values()
                               if len(f)],
                              index=[s for s, f in firsts.items() if len(f)])
    a = alignment[alignment["series"].isin(firsts.index)]
    if a.empty:
        return
    first = firsts.loc[a["series"]]
    inside = a["day0_pos"].to_numpy() >= 0
    before_pos = a["day0_pos"].to_numpy() + estimation_window[1] < first["pos"].to_numpy()
    before_cal = (pd.DatetimeIndex(a["announced_at_utc"]).as_unit("ns").asi8
                  < pd.DatetimeIndex(first["close_utc"]).as_unit("ns").asi8)
    before = pd.Series(np.where(inside, before_pos, before_cal))
    all_before = before.groupby(a["event_id"].to_numpy()).all()
    for event in events.itertuples(index=False):
        if not all_before.get(event.event_id, False):
            continue
        sub = first[(a["event_id"] == event.event_id).to_numpy()]
        date0, sid = min(zip(sub["date"], sub.index))
        raise InputError(f"{event.announced_at!r} is before the data: the estimation window "
                         f"of event {event.event_id!r} ends before the first price of every "
                         f"series studied on it ({sid} starts {date0:%Y-%m-%d}); is the year "
                         "right?", file=events.attrs.get("file"),
                         row=getattr(event, "row", None), field="announced_at")


def _firsts(panels: dict, where: dict, ids) -> pd.DataFrame:
    """Each security's first session: calendar position, date and close instant."""
    rows = []
    for sid in ids:
        key, i = where[sid]
        p = panels[key]
        if p.last_row[i] >= p.first_row[i]:
            r = int(p.first_row[i])
            rows.append((sid, p.offset + r, p.dates[r], p.calendar_closes.iloc[p.offset + r]))
    return pd.DataFrame(rows, columns=["series", "pos", "date", "close_utc"]).set_index("series")


# ---------------------------------------------------------------------------------------------
# fetching
# ---------------------------------------------------------------------------------------------

def update_cache(events: pd.DataFrame, config: Config, *, cache_dir=None, fetch=None,
                 today: pd.Timestamp | None = None, on_series=None) -> pd.DataFrame:
    """Bring the cache up to date for every Yahoo series the study needs (nothing else).

    Returns one row per series: series, ticker, status ("ok" or the one-line error),
    first, last, rows. A failure leaves that ticker's cache as it was and goes on.
    """
    from eventstudy.data.cache import PriceCache
    fetchers = _fetchers(fetch)
    cache = PriceCache(cache_dir if cache_dir is not None else default_cache_dir())
    today = pd.Timestamp.now(tz="UTC").tz_localize(None).normalize() if today is None else today
    ids = [sid for sid in config.needed_series if config.series[sid].source in fetchers]
    closes = {sid: session_closes(config.series[sid]) for sid in ids}
    start = _fetch_start(events, config, closes)
    rows = []
    for sid in ids:
        cfg = config.series[sid]
        ticker, fetch_one = cfg.ticker, fetchers[cfg.source]
        try:
            frame = cache.update(cfg.vendor_key, lambda _, a, b: fetch_one(ticker, a, b),
                                 start[sid].date(), today.date())
            rows.append({"series": sid, "ticker": ticker, "status": "ok",
                         "first": frame["date"].min(), "last": frame["date"].max(),
                         "rows": len(frame)})
        except NetworkError as exc:
            rows.append({"series": sid, "ticker": ticker, "status": str(exc)})
            rows += [{"series": s, "ticker": config.series[s].ticker,
                      "status": "not tried: the network is unreachable"} for s in ids[ids.index(sid) + 1:]]
            if on_series:
                on_series(sid)
            break
        except DataError as exc:
            rows.append({"series": sid, "ticker": ticker, "status": str(exc)})
        if on_series:
            on_series(sid)
    return pd.DataFrame(rows, columns=["series", "ticker", "status", "first", "last", "rows"])


def _fetchers(fetch=None) -> dict:
    """The download function of each vendor; a `fetch` callable replaces Yahoo's (tests)."""
    from eventstudy.data.fred import fetch_fred
    from eventstudy.data.yahoo import fetch_yahoo
    if isinstance(fetch, dict):
        return {"yahoo": fetch_yahoo, "fred": fetch_fred, **fetch}
    return {"yahoo": fetch or fetch_yahoo, "fred": fetch_fred}


def _fetch_start(events, config, closes) -> dict[str, pd.Timestamp]:
    """First date each series is needed from: the earliest estimation window, with a margin."""
    first_event = events["announced_at_utc"].min()
    out = {}
    for sid, c in closes.items():
        pos = int(pd.DatetimeIndex(c.array).searchsorted(first_event, side="right"))
        pos = max(pos + config.estimation_window[0] - FETCH_MARGIN, 0)
        out[sid] = c.index[pos]
    return out
