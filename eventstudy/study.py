"""A study: every (event, security, model), from prices to tidy result frames.

The unit of work is the panel (one calendar's sessions x securities, `eventstudy.panel`) and
the pairs table (one row per (event, security)), not one pair: day 0, returns, gaps and the
benchmark are computed once per calendar, and each model is fitted for every pair at once
(`eventstudy.fit`). Nothing here draws or prints; the report and the CLI read the frames of
`StudyResult`.
"""
from __future__ import annotations

import os
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from eventstudy.calendars import close_rule, session_closes
from eventstudy.config import Config, SeriesConfig
from eventstudy.errors import DataError, InputError, NetworkError
from eventstudy.memo import Memo
from eventstudy.panel import (asof_prices, bench_closes, build_panel, build_panel_wide,
                              interval_columns, interval_returns, shift_bars)
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

    @property
    def panel_key(self) -> tuple:
        """Series sharing a close rule share a panel; a universe is a panel of its own."""
        return ("universe", self.universe) if self.universe else ("series",) + self.close_key


SIDE_BY_SIDE_EVENTS = 100_000     # firm events past which independent steps share the cores
#: past this many pairs a study is not memoized: checking the memo (every pair's input rows
#: gathered and hashed, no in-place fast path) costs more than computing the pairs again.
#: Measured (2026-12-01, run_study): 25,000 pairs 3.8 s to compute and memoize, 2.3 s to
#: reuse, 2.7 s without the memo; 500,000 pairs 70 s and 10.8 GB, 51 s and 12.9 GB, 23.6 s
#: and 3.6 GB
MEMO_MAX_PAIRS = 50_000


def run_study(events: pd.DataFrame, config: Config, *, offline: bool = False,
              cache_dir: str | Path | None = None, fetch=None,
              today: pd.Timestamp | None = None, memoize: bool = True,
              recompute: bool = False, executor=None, progress: bool = False,
              dataset_dir: str | Path | None = None) -> StudyResult:
    """Run every (event, security, model) of the config; `fetch` defaults to Yahoo.

    `executor`: where the partitions run: a `concurrent.futures`-style executor, or an
    `executors.EngineSettings` (workers / dask / scheduler); None: the config's [engine],
    else in-process. `progress`: a progress line on stderr (only when it is a terminal).
    `dataset_dir`: write the AR rows and the estimation panel to Parquet datasets
    `<dataset_dir>/ar` and `<dataset_dir>/panel` (`result.ar_store`, `result.panel`); without
    it they go to temporary ones only past `engine.AR_IN_MEMORY_ROWS` AR rows
    (docs/big-studies.md).

    With `memoize`, results whose inputs are unchanged since the last run are read from the
    memo in the cache folder (eventstudy.memo) instead of being computed again; `recompute`
    computes everything and refreshes the memo. A study of more than `MEMO_MAX_PAIRS` pairs
    is not memoized (neither read nor written): checking the memo would cost more.
    """
    from eventstudy.data.cache import PriceCache
    fetchers = _fetchers(fetch) if not offline else {}
    cache = PriceCache(cache_dir if cache_dir is not None else default_cache_dir())
    today = pd.Timestamp.now(tz="UTC").tz_localize(None).normalize() if today is None else today
    def load_prices():
        series_ids = config.needed_series
        closes = {sid: session_closes(config.series[sid]) for sid in series_ids}
        start = _fetch_start(events, config, closes)
        loaded = _load_series(series_ids, config, cache, fetchers, offline, start, today)
        securities = [Security(sid, config.series[sid]) for sid in series_ids]
        inputs = {("series",) + s.close_key: {} for s in securities}
        for s in securities:
            inputs[("series",) + s.close_key][s.id] = loaded.bars[s.id]
        meta = [pd.DataFrame({"series": [s.id for s in securities], "universe": "",
                              "name": [s.cfg.name for s in securities]})]
        for uid in config.needed_universes:
            members, data = _load_universe(config.universes[uid], cache, fetchers,
                                           loaded.offline, today)
            securities += members
            inputs[("universe", uid)] = data.closes
            meta.append(data.securities.rename(columns={"security": "series"})
                        .assign(universe=uid))
            loaded.problems.append(data.problems)
            loaded.provenance.append(data.provenance.rename(columns={"security": "series"}))
        return loaded, securities, inputs, meta

    # the firm-event file is parsed on a second thread while the prices are read and
    # checked (pyarrow's CSV and Parquet readers release the GIL); a bad firm-event file is
    # reported first either way, as when it was read first
    from eventstudy.executors import kernel_threads, side_by_side
    firm, (loaded, securities, inputs, meta) = side_by_side(
        lambda: _firm_events(config), load_prices,
        threads=bool(getattr(config, "firm_events", None)) and kernel_threads() > 1)
    _check_unique(securities, config)
    security_meta = pd.concat(meta, ignore_index=True)
    if "name" not in security_meta:
        security_meta["name"] = security_meta["series"]
    security_meta["name"] = security_meta["name"].fillna(security_meta["series"])
    problems = pd.concat([p for p in loaded.problems if len(p)], ignore_index=True) \
        if any(len(p) for p in loaded.problems) else None

    panels, where, gaps = _build_panels(securities, inputs, config, problems)
    inputs = None               # the closes are in the panels now (a market's: 400 MB)
    _add_regressors(panels, where, securities, config)

    pairs = study_pairs(events, config, security_meta)
    groups = resolve_groups(events, config, security_meta, firm)
    # the pairs matched with the global events' alignment: a firm pair only where its
    # event id is also a global event's (the others can match no global row, and a million
    # of them made this concat and its drop_duplicates cost a second)
    pairs = pd.concat([pairs] + [m[["event_id", "series"]] for _, m in groups]
                      + ([firm.loc[firm["event_id"].isin(events["event_id"]).to_numpy(),
                                   ["event_id", "series"]]] if firm is not None else []),
                      ignore_index=True).drop_duplicates(ignore_index=True)
    pairs = pairs[pairs["series"].isin(where)]

    def align():
        alignment = _alignment(events, pairs, securities, panels, where, firm)
        check_data_start(events, alignment, _firsts(panels, where,
                                                    alignment["series"].unique()),
                         config.estimation_window)
        return alignment

    from eventstudy.engine import compute
    from eventstudy.executors import EngineSettings, make_executor, side_by_side
    # the rows kept out of estimation windows do not depend on the alignment: at a million
    # firm events each is ~1 s, so they run side by side
    excluded, alignment = side_by_side(
        lambda: _excluded_rows(events, panels, where, config, firm), align,
        threads=firm is not None and len(firm) > SIDE_BY_SIDE_EVENTS and kernel_threads() > 1)
    flagged = _flagged_rows(panels, where, problems)
    memo = Memo(cache.root, fresh=recompute) \
        if memoize and len(alignment) <= MEMO_MAX_PAIRS else None
    if executor is None or isinstance(executor, EngineSettings):
        settings = executor or getattr(config, "engine", None)
        running = make_executor(settings)
    else:                       # the caller's own executor (they close it)
        settings = getattr(config, "engine", None)
        running = nullcontext(executor)
    ar_store = _ar_store(alignment, config, settings, dataset_dir)
    with running as ex:
        out = compute(alignment, panels, where, securities, config, groups, excluded, flagged,
                      memo=memo, executor=ex, progress=progress, ar_store=ar_store)
    if memo is not None:
        memo.save()
    skipped = out.skipped
    if firm is not None:
        lost = firm[~firm["series"].isin(list(where))]
        if len(lost):
            skipped = pd.concat([skipped, pd.DataFrame({
                "event_id": lost["event_id"].to_numpy(), "series": lost["series"].to_numpy(),
                "model": "", "reason": "the security is in no universe and no [series.X] of "
                "the config (or has no usable prices)"})], ignore_index=True)
    if problems is not None:
        whole = problems[problems["action"] == "skip security"]
        if len(whole):
            skipped = pd.concat([skipped, pd.DataFrame({
                "event_id": "", "series": whole["security"].to_numpy(), "model": "",
                "reason": ("prices not usable, security skipped: " + whole["kind"]
                           + ": " + whole["reason"]).to_numpy()})], ignore_index=True)
    from eventstudy.multitest import adjust_results   # p_holm, p_bh beside each p_value
    car, tests = adjust_results(out.car, out.tests)
    return StudyResult(
        config=config, events=events, alignment=alignment.drop(columns=["day0_pos"]),
        ar=out.ar, car=car, tests=tests, panel_source=lambda: out.panel, aar=out.aar,
        skipped=skipped, gaps=gaps, prices=lambda: _prices(panels, where, securities),
        provenance=pd.concat([pd.DataFrame([p.__dict__ for p in loaded.provenance
                                            if not isinstance(p, pd.DataFrame)])]
                             + [p for p in loaded.provenance if isinstance(p, pd.DataFrame)],
                             ignore_index=True),
        warnings=loaded.warnings, returns=SeriesFrames(panels, where),
        reuse=out.reuse, firm_events=firm,
        securities=security_meta[(security_meta["universe"] != "")
                                 | security_meta["series"].isin(config.studied)]
        .reset_index(drop=True),
        group_members=pd.concat([m.assign(group=gid) for gid, m in groups], ignore_index=True)
        [["group", "event_id", "series"]] if groups else None)


def _ar_store(alignment, config, settings, dataset_dir):
    """A Parquet dataset for the AR rows when asked for, or when there would be more than
    `engine.AR_IN_MEMORY_ROWS` (or [engine] ar_in_memory_rows) of them; else None."""
    from eventstudy.engine import AR_COLUMNS, AR_IN_MEMORY_ROWS, window_span
    from eventstudy.store import PartitionedFrame
    limit = getattr(settings, "ar_in_memory_rows", None)
    limit = AR_IN_MEMORY_ROWS if limit is None else limit
    w0, w1 = window_span(config)
    rows = len(alignment) * len(config.models) * (w1 - w0 + 1)
    if dataset_dir is None and rows <= limit:
        return None
    root = Path(dataset_dir) / "ar" if dataset_dir is not None else None
    return PartitionedFrame(root, alignment["event_id"].unique(), AR_COLUMNS)


@dataclass
class _Loaded:
    bars: dict
    provenance: list
    problems: list
    warnings: list
    offline: bool


def _load_series(series_ids, config, cache, fetchers, offline, start, today) -> _Loaded:
    """Each [series.X]'s bars from its vendor, cache, file or the bundled sample, checked."""
    from eventstudy.data.checks import check_series
    from eventstudy.data.prices import load_series_prices
    out = _Loaded({}, [], [], [], offline)
    for sid in series_ids:
        cfg = config.series[sid]
        try:
            prices, prov, warning = load_series_prices(cfg, offline=out.offline, cache=cache,
                                                       fetch=fetchers.get(cfg.source),
                                                       start=start[sid], end=today)
        except NetworkError as exc:
            out.warnings.append(f"{exc}; working offline: cached or bundled data for every "
                                "series")
            out.offline = True
            prices, prov, warning = load_series_prices(cfg, offline=True, cache=cache)
        if warning:
            out.warnings.append(warning)
        out.provenance.append(prov)
        clean, problems = check_series(prices, sid)
        out.bars[sid] = clean
        out.problems.append(problems)
    return out


def _load_universe(u, cache, fetchers, offline, today):
    """A universe's securities (one `Security` each) and its checked closes."""
    from eventstudy.data.universe import load_universe
    data = load_universe(u, offline=offline or "yahoo" not in fetchers, cache=cache,
                         fetch=fetchers.get("yahoo"), end=today)
    names = data.securities["name"] if "name" in data.securities else data.securities["security"]
    members = [Security(str(sec), SeriesConfig(id=str(sec), name=str(name), source=u.source,
                                               calendar=u.calendar, close_time=u.close_time,
                                               close_tz=u.close_tz, benchmark=u.benchmark),
                        universe=u.id)
               for sec, name in zip(data.securities["security"], names)]
    return members, data


def _check_unique(securities, config) -> None:
    seen = {}
    for s in securities:
        if s.id in seen:
            other = seen[s.id]
            raise InputError(
                f"security {s.id!r} is in {_origin(s)} and in {_origin(other)}: one id, one "
                "security (rename one, or drop it with the universe's `where`)",
                file=config.path, field=f"universe.{s.universe or other.universe}")
        seen[s.id] = s


def _origin(s) -> str:
    return f"universe {s.universe!r}" if s.universe else f"[series.{s.id}]"


def _prices(panels, where, securities) -> pd.DataFrame:
    """(series, date, close) of every bar used, securities in the config's order; the series
    column is categorical (a market's prices are millions of rows of a thousand names)."""
    ids = [s.id for s in securities]
    rank = {sid: i for i, sid in enumerate(ids)}
    parts = []
    for key, p in panels.items():
        cc, rr = np.nonzero(p.valid.T)            # bars by security, then date
        codes = np.array([rank[s] for s in p.securities], dtype=np.int64)[cc]
        parts.append((codes, p.dates[rr], p.close[rr, cc]))
    if not parts:
        return pd.DataFrame(columns=["series", "date", "close"])
    codes = np.concatenate([c for c, _, _ in parts])
    keep = np.argsort(codes, kind="stable")
    return pd.DataFrame({
        "series": pd.Categorical.from_codes(codes[keep], categories=pd.Index(ids, dtype=object)),
        "date": np.concatenate([d for _, d, _ in parts])[keep],
        "close": np.concatenate([c for *_, c in parts])[keep]})


def _firm_events(config):
    """Every declared firm-specific events file, as one frame (None when there is none)."""
    if not getattr(config, "firm_events", None):
        return None
    from eventstudy.events import load_firm_events
    frames = [load_firm_events(f.path).assign(events_set=fid)
              for fid, f in config.firm_events.items()]
    return pd.concat(frames, ignore_index=True).rename(columns={"security": "series"})


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


def _build_panels(securities, inputs, config, problems=None):
    """One panel per close rule for the [series.X] and one per universe;
    `where[sid] = (panel key, column)`; the gaps frame (missing bars, off-calendar bars and
    what the data checks did to a bar)."""
    panels, where, off = {}, {}, {}
    first = {}
    for s in securities:
        first.setdefault(s.panel_key, s)
    for key, data in inputs.items():
        cfg = first[key].cfg if key in first else None
        if cfg is None:
            continue
        closes = session_closes(cfg)
        if isinstance(data, dict):
            panel, off_calendar = build_panel(key, closes, data, config.returns)
        else:
            panel, off_calendar = build_panel_wide(key, closes, data, config.returns)
        panels[key] = panel
        for i, sid in enumerate(panel.securities):
            where[sid] = (key, i)
        off[key] = off_calendar
    gaps = []
    for key, p in panels.items():
        rr, cc = np.nonzero(p.gap.T)
        gaps.append(pd.DataFrame({"_s": rr, "series": np.asarray(p.securities, object)[rr],
                                  "date": p.dates[cc], "kind": "missing bar", "_o": 0}))
        o = off[key]
        gaps.append(pd.DataFrame({"_s": pd.Index(p.securities).get_indexer(o["security"]),
                                  "series": o["security"].to_numpy(), "date": o["date"],
                                  "kind": "bar on a non-session day (ignored)", "_o": 1}))
    if problems is not None and len(problems):
        shown = problems[problems["action"] != "skip security"]
        gaps.append(pd.DataFrame({
            "_s": 0, "series": shown["security"].to_numpy(), "date": shown["date"].to_numpy(),
            "kind": (shown["kind"] + " (" + shown["action"] + "): " + shown["reason"])
            .to_numpy(), "_o": 2}))
    gaps = pd.concat(gaps, ignore_index=True)
    rank = pd.Index([s.id for s in securities]).get_indexer(gaps["series"])
    order = np.lexsort((gaps["_o"].to_numpy(), rank))
    gaps = gaps.iloc[order][["series", "date", "kind"]].reset_index(drop=True)
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
        lags = _lags_needed(config)
        names = ["rm"] + [f"rm_lag{k}" for k in range(1, lags + 1)] \
            + [f"rm_lead{k}" for k in range(1, lags + 1)]
        by_bench: dict[str, list[int]] = {}
        for s in members:
            if s.cfg.benchmark is not None:
                by_bench.setdefault(s.cfg.benchmark, []).append(where[s.id][1])
        one = len(by_bench) == 1 and np.array_equal(next(iter(by_bench.values())),
                                                     np.arange(n))
        for name in names + [f"f_{f}" for f in config.factors]:     # (rm of one benchmark
            panel.regressors[name] = None if one and name == "rm" \
                else np.full((S, n), np.nan, order="F")             #  for all: set below)
            panel.has[name] = np.zeros(n, bool)
        panel.bench_close = np.full((len(by_bench), S), np.iinfo(np.int64).min, np.int64)
        panel.bench_of = np.full(n, -1, dtype=np.int64)
        for b, (bid, cols) in enumerate(by_bench.items()):
            cols = np.asarray(cols)
            bench_ns, bench_close = bench_bars(bid)
            asof = asof_prices(panel, bench_ns, bench_close)
            if one and not lags:        # every column: computed for the columns read
                panel.regressors["rm"] = interval_columns(panel, asof, config.returns)
            elif len(cols) == n and np.array_equal(cols, np.arange(n)):
                panel.regressors["rm"] = interval_returns(panel, asof, cols, config.returns)
            else:
                panel.regressors["rm"][:, cols] = interval_returns(panel, asof, cols,
                                                                   config.returns)
            panel.has["rm"][cols] = True
            panel.bench_close[b] = bench_closes(panel, bench_ns)
            panel.bench_of[cols] = b
        rm = panel.regressors["rm"]
        for k in range(1, lags + 1):
            panel.regressors[f"rm_lag{k}"] = shift_bars(rm, panel.valid, k)
            panel.regressors[f"rm_lead{k}"] = shift_bars(rm, panel.valid, -k)
            panel.has[f"rm_lag{k}"] = panel.has[f"rm_lead{k}"] = panel.has["rm"]
        for f in config.factors:
            cols = np.asarray([where[s.id][1] for s in members if s.id != f], dtype=int)
            if len(cols):
                panel.regressors[f"f_{f}"][:, cols] = interval_returns(
                    panel, asof_prices(panel, *bench_bars(f)), cols, config.returns)
                panel.has[f"f_{f}"][cols] = True


def _lags_needed(config) -> int:
    """Leads and lags of the benchmark the models read: Dimson's, or Scholes-Williams' one."""
    if "dimson" in config.models:
        return config.dimson_lags
    return 1 if "scholes_williams" in config.models else 0


def _excluded_rows(events, panels, where, config, firm) -> dict:
    """Per panel, the (S, N) rows inside an event's widest window, kept out of every
    estimation window (`exclude_other_events`): every global event's, on every security of
    the calendar; and a firm-specific event's on its own security only."""
    out = {}
    instants = pd.DatetimeIndex(events["announced_at_utc"]).tz_convert("UTC").as_unit("ns")
    offsets = np.arange(config.event_span[0], config.event_span[1] + 1)
    for key, p in panels.items():
        S, N = p.close.shape
        mask = np.zeros((S, N), bool, order="F")      # (the panel's memory order)
        if config.exclude_other_events and S:
            closes = pd.DatetimeIndex(p.calendar_closes.array).as_unit("ns")
            pos = closes.searchsorted(instants, side="right")
            pos = pos[(pos > 0) & (pos < len(closes))]
            rows = (pos[:, None] + offsets[None, :]).ravel() - p.offset
            mask[rows[(rows >= 0) & (rows < S)], :] = True
            if firm is not None:
                on, col = _where_arrays(where, firm["series"], key)
                mine = firm["announced_at_utc"]          # (not a copy of the whole frame)
                mine = mine if on.all() else mine[on]
                if len(mine):
                    cols = col[on]
                    at = closes.searchsorted(pd.DatetimeIndex(mine)
                                             .tz_convert("UTC").as_unit("ns"), side="right")
                    ok = (at > 0) & (at < len(closes))
                    rows = ((at[ok][:, None] + offsets[None, :]) - p.offset).ravel()
                    c = np.repeat(cols[ok], len(offsets))
                    inside = (rows >= 0) & (rows < S)
                    mask[rows[inside], c[inside]] = True
        out[key] = mask
    return out


def _where_arrays(where: dict, ids, key) -> tuple[np.ndarray, np.ndarray]:
    """For each id of `ids`: whether its panel is `key`, and its column there (-1: in no
    panel), without a Python loop over a million firm events."""
    names = pd.Index(list(where))
    on_key = np.array([where[n][0] == key for n in names], dtype=bool)
    cols = np.array([where[n][1] for n in names], dtype=np.int64)
    at = names.get_indexer(pd.Index(ids))
    found = at >= 0
    return found & on_key[np.maximum(at, 0)], np.where(found, cols[np.maximum(at, 0)], -1)


def _flagged_rows(panels, where, problems) -> dict:
    """Per panel, the (S, N) days the data checks flagged (e.g. a possible unadjusted split),
    and why: a pair whose rows contain one is skipped with that reason."""
    out = {key: np.zeros(p.close.shape, bool) for key, p in panels.items()}
    reasons = {}
    if problems is not None and len(problems):
        flags = problems[(problems["action"] == "flag day")
                         & problems["security"].isin(list(where))]
        for sec, date, kind, reason in flags[["security", "date", "kind", "reason"]] \
                .itertuples(index=False):       # a handful of flagged days, not a hot path
            key, i = where[sec]
            r = panels[key].dates.get_indexer([pd.Timestamp(date)])[0]
            if r >= 0:
                out[key][r, i] = True
                reasons[(key, r, i)] = f"{kind} on {pd.Timestamp(date):%Y-%m-%d} ({reason})"
    return {"mask": out, "reasons": reasons}


# ---------------------------------------------------------------------------------------------
# pairs, groups and alignment
# ---------------------------------------------------------------------------------------------

def study_pairs(events: pd.DataFrame, config: Config,
                securities: pd.DataFrame | None = None) -> pd.DataFrame:
    """Every (event_id, series) studied around the global events: studied series and studied
    universes' securities x all events, plus the pairs of groups listing series."""
    ids = events["event_id"].to_numpy(dtype=object)
    studied = list(config.studied)
    if securities is not None:
        for uid in getattr(config, "studied_universes", ()):
            studied += securities.loc[securities["universe"] == uid, "series"].tolist()
    known = set(ids)
    for gid, group in config.groups.items():
        for eid in group.events:
            if eid not in known:
                raise InputError(f"unknown event {eid!r} (not in the events file)",
                                 file=config.path, field=f"groups.{gid}.events")
    studied = np.asarray(list(dict.fromkeys(studied)), dtype=object)
    pairs = pd.DataFrame({"event_id": np.tile(ids, len(studied)),
                          "series": np.repeat(studied, len(ids))})
    extra = [group_members(g, events) for g in config.groups.values() if g.series]
    return pd.concat([pairs] + extra, ignore_index=True).drop_duplicates(ignore_index=True)


def group_members(group, events: pd.DataFrame) -> pd.DataFrame:
    """The (event_id, series) pairs of a group's listed series x its events and categories."""
    chosen = _chosen_events(group, events)
    series = np.asarray(group.series, dtype=object)
    return pd.DataFrame({"event_id": np.tile(chosen, len(series)),
                         "series": np.repeat(series, len(chosen))})


def _chosen_events(group, events) -> np.ndarray:
    """A group's global events: those listed or of its categories; a selector group
    (universe or `by`) that names neither takes every event."""
    if not group.events and not group.categories and (getattr(group, "universe", None)
                                                      or getattr(group, "by", ())):
        return events["event_id"].to_numpy(dtype=object)
    return events[events["event_id"].isin(group.events)
                  | events["category"].isin(group.categories)]["event_id"].to_numpy(dtype=object)


def resolve_groups(events: pd.DataFrame, config: Config, securities: pd.DataFrame,
                   firm: pd.DataFrame | None) -> list[tuple[str, pd.DataFrame]]:
    """Each group's (event_id, series) members, groups in the config's order; a group with
    `by` gives one group per value, named `NAME:value` (values sorted)."""
    out = []
    for gid, g in config.groups.items():
        chosen = _chosen_events(g, events)
        names = list(g.series)
        if getattr(g, "universe", None):
            names += securities.loc[securities["universe"] == g.universe, "series"].tolist()
        names = np.asarray(list(dict.fromkeys(names)), dtype=object)
        parts = [pd.DataFrame({"event_id": np.tile(chosen, len(names)),
                               "series": np.repeat(names, len(chosen))})]
        if getattr(g, "firm_events", None) and firm is not None:
            f = firm[firm["events_set"] == g.firm_events]
            if g.events or g.categories:
                f = f[f["event_id"].isin(g.events) | f["category"].isin(g.categories)]
            parts.append(f[["event_id", "series"]])
        members = pd.concat(parts, ignore_index=True).drop_duplicates(ignore_index=True)
        by = list(getattr(g, "by", ()) or ())
        if getattr(g, "where", None) or by:
            members = _with_metadata(members, securities, events, firm)
            if g.where:
                from eventstudy.config import apply_query
                members = apply_query(members, g.where, file=config.path,
                                      field=f"groups.{gid}.where")
        if by:
            missing = [c for c in by if c not in members]
            if missing:
                raise InputError(f"unknown column {missing[0]!r} (columns: "
                                 f"{', '.join(map(str, members.columns))})", file=config.path,
                                 field=f"groups.{gid}.by")
            for value, sub in members.groupby(by, sort=True, dropna=True):
                value = value if isinstance(value, tuple) else (value,)
                name = f"{gid}:" + "/".join(str(v) for v in value)
                out.append((name, sub[["event_id", "series"]].reset_index(drop=True)))
        else:
            out.append((gid, members[["event_id", "series"]].reset_index(drop=True)))
    return out


def _with_metadata(members, securities, events, firm):
    """Members with their security's metadata and their event's columns (a firm-specific
    event's own metadata where the pair is firm-specific)."""
    out = members.merge(securities, on="series", how="left")
    ev = events.drop(columns=[c for c in ("row",) if c in events])
    if firm is None or not len(firm):
        return out.merge(ev, on="event_id", how="left", suffixes=("", "_event"))
    # a firm-event id may be shared by several securities, each with its own metadata: join
    # firm pairs on (event_id, series), global ones on event_id
    firm = firm.drop(columns=[c for c in ("row",) if c in firm])
    keys = ["event_id", "series"]
    is_firm = pd.MultiIndex.from_frame(out[keys]).isin(pd.MultiIndex.from_frame(firm[keys]))
    out = out.assign(_order=np.arange(len(out)))
    parts = [out[~is_firm].merge(ev, on="event_id", how="left", suffixes=("", "_event")),
             out[is_firm].merge(firm, on=keys, how="left", suffixes=("", "_event"))]
    return (pd.concat(parts, ignore_index=True).sort_values("_order", kind="stable")
            .drop(columns="_order").reset_index(drop=True))


ALIGNMENT_COLUMNS = ["event_id", "series", "calendar", "announced_at", "announced_at_utc",
                     "time_precision", "day0", "day0_close_utc", "prev_session",
                     "prev_close_utc", "day0_pos", "close_rule"]


def _alignment(events, pairs, securities, panels, where, firm=None) -> pd.DataFrame:
    """Day 0 of every studied (event, security): the first session whose close comes after
    the announcement, on the security's own calendar and close; one searchsorted per panel
    for the global events, one per pair for firm-specific ones.

    Rows: securities in the config's order, events in the events file's order; then the
    firm-specific pairs in their files' order."""
    instants = pd.DatetimeIndex(events["announced_at_utc"]).tz_convert("UTC").as_unit("ns")
    studied = set(pd.unique(pairs["series"]))      # (not a million firm pairs one by one)
    if firm is not None:      # (`pairs` holds only the firm pairs of global event ids)
        studied |= set(pd.unique(firm["series"]))
    by_panel: dict = {}
    for s in securities:
        if s.id in studied and s.id in where:
            by_panel.setdefault(s.panel_key, []).append(s)
    frames = [_align_block(events, instants, members, panels[key])
              for key, members in by_panel.items()]
    parts = []
    if frames:
        alignment = pd.concat(frames, ignore_index=True)
        rank = pd.Index([s.id for s in securities]).get_indexer(alignment["series"])
        alignment = alignment.iloc[np.argsort(rank, kind="stable")]
        parts.append(alignment.merge(pairs, on=["event_id", "series"], how="inner"))
    if firm is not None:
        known = firm["series"].isin(list(where)).to_numpy()
        f = firm if known.all() else firm[known]      # (no copy of a million rows)
        firm_parts = []
        # panels in the order of their first firm event (securities in first-seen order)
        keys = list(dict.fromkeys(where[x][0] for x in pd.unique(f["series"])))
        for key in keys:
            sub = f if len(keys) == 1 else f[_where_arrays(where, f["series"], key)[0]]
            cfg = next(s.cfg for s in securities if s.panel_key == key)
            firm_parts.append(_align_rows(
                _strings(sub["event_id"]), _strings(sub["series"]), cfg,
                _strings(sub["announced_at"]), pd.DatetimeIndex(sub["announced_at_utc"]),
                _strings(sub["time_precision"]) if "time_precision" in sub else "minute",
                panels[key].calendar_closes).assign(_i=sub.index.to_numpy()))
        if firm_parts:
            firm_rows = pd.concat(firm_parts) if len(firm_parts) > 1 else firm_parts[0]
            if not firm_rows["_i"].is_monotonic_increasing:     # (one panel: in order)
                firm_rows = firm_rows.sort_values("_i", kind="stable")
            parts.append(firm_rows.drop(columns="_i"))
    if not parts:
        return pd.DataFrame(columns=ALIGNMENT_COLUMNS)
    return pd.concat(parts, ignore_index=True)


def _strings(column: pd.Series):
    """A text column's values for a new frame: a pandas string column's own array (no
    million Python strings made and turned back into arrow strings), else objects."""
    if isinstance(column.dtype, pd.StringDtype):
        return column.array
    return column.to_numpy(dtype=object)


def _align_block(events, instants, members, panel) -> pd.DataFrame:
    ids = np.asarray([s.id for s in members], dtype=object)
    E = len(events)
    return _align_rows(np.tile(events["event_id"].to_numpy(dtype=object), len(ids)),
                       np.repeat(ids, E), members[0].cfg,
                       np.tile(events["announced_at"].to_numpy(), len(ids)),
                       instants[np.tile(np.arange(E), len(ids))],
                       np.tile(events["time_precision"].to_numpy(), len(ids)),
                       panel.calendar_closes)


def _align_rows(event_id, series, cfg, announced_at, instants, precision, closes):
    close_values = pd.DatetimeIndex(closes.array).as_unit("ns")
    instants = pd.DatetimeIndex(instants).tz_convert("UTC").as_unit("ns")
    pos = close_values.searchsorted(instants, side="right")
    inside = (pos > 0) & (pos < len(closes))
    safe = np.clip(pos, 1, len(closes) - 1)
    nat = np.datetime64("NaT", "ns")
    return pd.DataFrame({
        "event_id": event_id, "series": series, "calendar": cfg.calendar,
        "announced_at": announced_at, "announced_at_utc": instants,
        "time_precision": precision,
        "day0": np.where(inside, closes.index[safe].to_numpy(), nat),
        "day0_close_utc": close_values[safe].where(inside),
        "prev_session": np.where(inside, closes.index[safe - 1].to_numpy(), nat),
        "prev_close_utc": close_values[safe - 1].where(inside),
        "day0_pos": np.where(inside, safe, -1),
        "close_rule": close_rule(cfg)})


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
    a = alignment[alignment["event_id"].isin(events["event_id"]).to_numpy()]  # (no firm
    a = a[a["series"].isin(firsts.index).to_numpy()]          # events: not a million rows)
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
    parts = []
    for key, p in panels.items():
        has = p.last_row >= p.first_row
        if not has.any():
            continue
        r = p.first_row[has]
        parts.append(pd.DataFrame({
            "series": np.asarray(p.securities, dtype=object)[has], "pos": p.offset + r,
            "date": p.dates[r], "close_utc": p.calendar_closes.array[p.offset + r]}))
    if not parts:
        return pd.DataFrame(columns=["pos", "date", "close_utc"])
    out = pd.concat(parts, ignore_index=True).set_index("series")
    return out[out.index.isin(list(ids))]


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
