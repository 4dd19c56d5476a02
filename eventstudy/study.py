"""A study: every (event, series, model), from prices to tidy result frames.

Nothing here draws or prints; the report and the CLI read the frames of `StudyResult`.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from eventstudy import inference
from eventstudy import models as mdl
from eventstudy.calendars import align, session_closes
from eventstudy.config import Config
from eventstudy.data.prices import load_series_prices
from eventstudy.errors import DataError, InputError, NetworkError
from eventstudy.memo import MEMO_FILE, Memo
from eventstudy.memo import key as memo_key
from eventstudy.result import StudyResult
from eventstudy.returns import benchmark_returns, off_calendar_bars, session_returns

FETCH_MARGIN = 30  # sessions fetched before the earliest estimation window starts


def default_cache_dir() -> Path:
    return Path(os.environ.get("EVENTSTUDY_CACHE", Path.home() / ".cache" / "eventstudy"))


def run_study(events: pd.DataFrame, config: Config, *, offline: bool = False,
              cache_dir: str | Path | None = None, fetch=None,
              today: pd.Timestamp | None = None, memoize: bool = True,
              recompute: bool = False) -> StudyResult:
    """Run every (event, series, model) of the config; `fetch` defaults to Yahoo.

    With `memoize`, results whose inputs are unchanged since the last run are read from the
    memo in the cache folder (eventstudy.memo) instead of being computed again; `recompute`
    computes everything and refreshes the memo.
    """
    from eventstudy.data.cache import PriceCache
    fetchers = _fetchers(fetch) if not offline else {}
    cache = PriceCache(cache_dir if cache_dir is not None else default_cache_dir())
    today = pd.Timestamp.now(tz="UTC").tz_localize(None).normalize() if today is None else today
    pairs = study_pairs(events, config)

    series_ids = config.needed_series
    closes = {sid: session_closes(config.series[sid]) for sid in series_ids}
    start = _fetch_start(events, config, closes)
    frames, provenance, gaps, warn = {}, [], [], []
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
        extra = off_calendar_bars(prices, closes[sid])
        frame = session_returns(prices, closes[sid], config.returns)
        frames[sid] = frame
        gaps.append(pd.DataFrame({"series": sid, "date": frame.loc[frame["gap"], "date"],
                                  "kind": "missing bar"}))
        gaps.append(pd.DataFrame({"series": sid, "date": extra["date"],
                                  "kind": "bar on a non-session day (ignored)"}))
    for sid in series_ids:
        frames[sid] = _add_regressors(frames[sid], sid, config, frames)

    # every event on every studied series: the studied pairs, and the days kept out of estimation
    aligned = {sid: align(events, config.series[sid], closes[sid])
               for sid in series_ids if sid in set(pairs["series"])}
    alignment = pd.concat(aligned.values(), ignore_index=True)
    alignment = alignment.merge(pairs, on=["event_id", "series"], how="inner")
    check_data_start(events, alignment, frames, config.estimation_window)

    memo = Memo(cache.root / MEMO_FILE if memoize else None, fresh=recompute)
    ar_rows, car_rows, panel_rows, boot_rows, skipped = [], [], [], [], []
    for sid, group in alignment.groupby("series", sort=True):
        frame = frames[sid]
        excluded = (_event_positions(aligned[sid], config.event_span)
                    if config.exclude_other_events else np.array([], dtype=int))
        for row in group.itertuples(index=False):
            for model in config.models:
                out = memo.get(_pair_key(frame, row, model, config, excluded),
                               lambda: _study_pair_with_bootstrap(frame, row, model, config,
                                                                  excluded))
                if isinstance(out, str):
                    skipped.append({"event_id": row.event_id, "series": sid, "model": model,
                                    "reason": out})
                    continue
                ar, cars, panel, boot = out
                ar_rows.append(ar)
                car_rows += cars
                panel_rows.append(panel)
                boot_rows.append(boot)

    ar = _concat(ar_rows, AR_COLUMNS)
    car = pd.DataFrame(car_rows, columns=CAR_COLUMNS)
    panel = _concat(panel_rows, PANEL_COLUMNS)
    tests = _tests(panel, car, boot_rows, events, config, memo)
    memo.save()
    aar = group_aar(ar, events, config)
    prices = pd.concat([f.loc[~f["gap"], ["date", "close"]].assign(series=sid)
                        for sid, f in frames.items()], ignore_index=True)
    return StudyResult(
        config=config, events=events, alignment=alignment.drop(columns=["day0_pos"]),
        ar=ar, car=car, tests=tests, panel=panel, aar=aar,
        skipped=pd.DataFrame(skipped, columns=["event_id", "series", "model", "reason"]),
        gaps=pd.concat(gaps, ignore_index=True)[["series", "date", "kind"]],
        prices=prices[["series", "date", "close"]],
        provenance=pd.DataFrame([p.__dict__ for p in provenance]),
        warnings=warn, returns=frames,
        reuse={"computed": memo.misses, "reused": memo.hits})


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


def check_data_start(events: pd.DataFrame, alignment: pd.DataFrame, frames: dict,
                     estimation_window: tuple[int, int]) -> None:
    """Refuse an event whose whole estimation window precedes the data of every series
    studied on it: far more often a typo in the year (1925, 2205) than a study design.

    `alignment` holds the studied (event_id, series) pairs with `day0_pos` (-1 when the
    announcement is outside the calendar); `frames` the series' `session_returns`. An event
    that precedes only some series (one listed later) is not refused here: those pairs are
    skipped with a reason. Raises InputError naming the events file (``events.attrs["file"]``),
    the event's row and the field announced_at.
    """
    first = {sid: (int(f["pos"].iloc[0]), f["date"].iloc[0], f["close_utc"].iloc[0])
             for sid, f in frames.items() if len(f)}
    e1 = estimation_window[1]
    verdict: dict[str, list] = {}
    for row in alignment.itertuples(index=False):
        if row.series not in first:
            continue
        pos0, date0, close0 = first[row.series]
        if row.day0_pos >= 0:
            before = row.day0_pos + e1 < pos0
        else:   # outside the calendar: before its first session, or after its last
            before = pd.Timestamp(row.announced_at_utc) < close0
        verdict.setdefault(row.event_id, []).append((before, date0, row.series))
    for event in events.itertuples(index=False):
        marks = verdict.get(event.event_id)
        if not marks or not all(before for before, _, _ in marks):
            continue
        date0, sid = min((d, s) for _, d, s in marks)
        raise InputError(f"{event.announced_at!r} is before the data: the estimation window "
                         f"of event {event.event_id!r} ends before the first price of every "
                         f"series studied on it ({sid} starts {date0:%Y-%m-%d}); is the year "
                         "right?", file=events.attrs.get("file"),
                         row=getattr(event, "row", None), field="announced_at")


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
                    | events["category"].isin(group.categories)]["event_id"]
    return pd.DataFrame([(e, s) for s in group.series for e in chosen],
                        columns=["event_id", "series"])


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


def _add_regressors(frame: pd.DataFrame, sid: str, config: Config, frames: dict) -> pd.DataFrame:
    """Benchmark (rm), its Dimson lags and leads, and factor returns, over the series' intervals."""
    cfg = config.series[sid]
    frame = frame.copy()
    if cfg.benchmark is not None:
        frame["rm"] = benchmark_returns(frame, frames[cfg.benchmark], config.returns)
        bars = frame.loc[~frame["gap"], "rm"]
        for k in range(1, config.dimson_lags + 1):
            frame[f"rm_lag{k}"] = bars.shift(k).reindex(frame.index)
            frame[f"rm_lead{k}"] = bars.shift(-k).reindex(frame.index)
    for f in config.factors:
        if f != sid:
            frame[f"f_{f}"] = benchmark_returns(frame, frames[f], config.returns)
    return frame


def _event_positions(alignment_all: pd.DataFrame, span: tuple[int, int]) -> np.ndarray:
    """Calendar positions inside any event's widest window (kept out of estimation windows)."""
    d0 = alignment_all.loc[alignment_all["day0_pos"] >= 0, "day0_pos"].to_numpy()
    offsets = np.arange(span[0], span[1] + 1)
    return np.unique((d0[:, None] + offsets[None, :]).ravel())


def _study_pair(frame, row, model, config: Config, excluded: np.ndarray):
    """AR rows, CAR rows and inference panel of one (event, series, model), or a skip reason."""
    if row.day0_pos < 0 or pd.isna(row.day0):
        return "announcement outside the calendar's range"
    d0 = int(row.day0_pos)
    first_pos, last_pos = int(frame["pos"].iloc[0]), int(frame["pos"].iloc[-1])
    if d0 > last_pos:
        return (f"waiting for data: day 0 is {row.day0:%Y-%m-%d}, the last bar is "
                f"{frame['date'].iloc[-1]:%Y-%m-%d}")
    try:
        names = mdl.regressor_names(model, config.factors, config.dimson_lags)
    except mdl.ModelError as exc:
        return str(exc)
    needs_rm = model == "market_adjusted"
    missing = [n for n in names + (["rm"] if needs_rm else []) if n not in frame]
    if missing:
        return (f"the {model.replace('_', ' ')} needs "
                + ("a benchmark (series." + row.series + ".benchmark)" if "rm" in missing
                   else ", ".join(missing)))

    e0, e1 = config.estimation_window
    if d0 + e1 < first_pos:
        return (f"before the data: the estimation window ends before the first price "
                f"({frame['date'].iloc[0]:%Y-%m-%d})")
    lo = min(config.plot_window[0], config.event_span[0])
    hi = max(config.plot_window[1], config.event_span[1])
    sub = _pair_rows(frame, d0, config)
    rel = sub["pos"].to_numpy() - d0
    ret = sub["ret"].to_numpy(dtype=float)
    span = sub["span"].to_numpy(dtype=float)
    gap = sub["gap"].to_numpy(dtype=bool)
    X = sub[names].to_numpy(dtype=float)
    rm = sub["rm"].to_numpy(dtype=float) if "rm" in sub else np.full(len(sub), np.nan)
    offset = rm if needs_rm else np.zeros(len(sub))
    complete = np.isfinite(ret) & np.isfinite(X).all(axis=1) & np.isfinite(offset)

    in_est = (rel >= e0) & (rel <= e1)
    usable = in_est & ~gap & (span == 1) & complete
    is_excluded = np.isin(sub["pos"].to_numpy(), excluded)
    est = sub[usable & ~is_excluded]
    n_excluded = int((usable & is_excluded).sum())
    short = (f"data start {frame['date'].iloc[0]:%Y-%m-%d} cuts the estimation window: "
             if d0 + e0 < first_pos else "")
    if len(est) < config.min_estimation:
        return (f"{short}{len(est)} usable estimation days, fewer than min_estimation "
                f"{config.min_estimation}")
    try:
        if model == "garch":
            fitted = mdl.fit_garch(est, names)
        elif model == "scholes_williams":
            fitted = mdl.fit_scholes_williams(est)
        else:
            fitted = mdl.fit(model, est, names)
    except mdl.ModelError as exc:
        return str(exc)

    w = (rel >= lo) & (rel <= hi)
    rel_e, ret_e, span_e, X_e, ok = rel[w], ret[w], span[w], X[w], complete[w]
    expected = np.full(len(rel_e), np.nan)
    expected[ok] = fitted.expected_x(X_e[ok], offset[w][ok])
    abnormal = ret_e - expected
    ar_var = np.full(len(rel_e), np.nan)
    path_var = np.full(len(rel_e), np.nan)
    if isinstance(fitted, mdl.GarchFit):   # conditional variances, filtered day by day
        h = fitted.conditional_variance_x(abnormal, span_e)
        ar_var[ok] = h[ok]
        path_var[ok] = np.cumsum(h[ok])
        window_variance = lambda m: float(h[m].sum())  # noqa: E731
    else:
        ar_var[ok] = fitted.ar_variance_x(X_e[ok], span_e[ok])
        path_var[ok] = fitted.car_path_variance_x(X_e[ok], span_e[ok])
        window_variance = lambda m: fitted.car_variance_x(X_e[m], span_e[m])  # noqa: E731
    ev = sub[w]
    ar = pd.DataFrame({
        "event_id": row.event_id, "series": row.series, "model": model,
        "date": ev["date"].to_numpy(), "rel_day": rel_e, "return": ret_e,
        "simple_return": np.expm1(ret_e) if config.returns == "log" else ret_e,
        "benchmark_return": rm[w], "expected_return": expected, "abnormal_return": abnormal,
        "ar_se": np.sqrt(ar_var), "ar_t": abnormal / np.sqrt(ar_var),
        "car_path": np.cumsum(np.where(ok, abnormal, 0.0)),
        "car_path_se": pd.Series(np.sqrt(path_var)).ffill().to_numpy(),
        "span": span_e, "gap": gap[w]})

    last_rel = last_pos - d0
    cars = []
    for w0, w1 in config.event_windows:
        inw = (rel_e >= w0) & (rel_e <= w1)
        used = inw & ok
        waiting = w1 > last_rel
        n_gaps = int(gap[w][inw].sum())
        if waiting or not used.any():
            car = se = t = p = bhar = np.nan
            note = "waiting for data" if waiting else "no returns in window"
        else:
            car = float(abnormal[used].sum())
            se = float(np.sqrt(window_variance(used)))
            t = car / se
            p = float(2 * stats.t.sf(abs(t), fitted.dof))
            bhar = _bhar(ret_e[used], expected[used], config.returns)
            note = f"{n_gaps} missing bar(s) in window" if n_gaps else ""
        cars.append({"event_id": row.event_id, "series": row.series, "model": model,
                     "window_start": w0, "window_end": w1, "car": car, "se": se, "t_stat": t,
                     "dof": fitted.dof, "p_value": p, "n_est": fitted.n_est,
                     "n_days": int(used.sum()), "n_excluded": n_excluded,
                     "sigma": float(np.sqrt(fitted.sigma2)),
                     "car_simple": float(np.expm1(car)) if config.returns == "log" else car,
                     "bhar": bhar, "car_var": se ** 2, "day0": row.day0, "note": note})

    est = est.loc[fitted.residuals.index]      # the rows the model was fitted on
    after = rel_e > e1                          # a plot window may reach into the estimation one
    n_est, n_ev = len(est), int(after.sum())
    est_var = getattr(fitted, "estimation_variance", np.full(n_est, fitted.sigma2))
    panel = pd.DataFrame({
        "event_id": row.event_id, "series": row.series, "model": model,
        "phase": np.repeat(["estimation", "event"], [n_est, n_ev]),
        "rel_day": np.concatenate([est["pos"].to_numpy() - d0, rel_e[after]]),
        "date": np.concatenate([est["date"].to_numpy(), ev["date"].to_numpy()[after]]),
        "abnormal_return": np.concatenate([fitted.residuals.to_numpy(), abnormal[after]]),
        "ar_var": np.concatenate([est_var, ar_var[after]]),
        "sigma2": fitted.sigma2, "dof": fitted.dof, "n_est": fitted.n_est})
    return ar, cars, panel


def group_aar(ar: pd.DataFrame, events: pd.DataFrame, config: Config) -> pd.DataFrame:
    """AAR and CAAR paths of every group, by model and event day (for charts and tables).

    The bands assume independent pairs; the group tests in tests.csv do not.
    """
    out = []
    for gid, group in config.groups.items():
        members = group_members(group, events)
        sub = ar.merge(members, on=["event_id", "series"])
        if sub.empty:
            continue
        sub = sub.assign(ar_var=sub["ar_se"] ** 2, path_var=sub["car_path_se"] ** 2)
        g = sub.groupby(["model", "rel_day"], sort=True)
        frame = pd.DataFrame({
            "n": g["abnormal_return"].count(),
            "aar": g["abnormal_return"].mean(),
            "aar_se": np.sqrt(g["ar_var"].sum()) / g["abnormal_return"].count(),
            "caar": g["car_path"].mean(),
            "caar_se": np.sqrt(g["path_var"].sum()) / g["car_path"].count(),
        }).reset_index()
        out.append(frame.assign(group=gid))
    if not out:
        return pd.DataFrame(columns=AAR_COLUMNS)
    return pd.concat(out, ignore_index=True)[AAR_COLUMNS]


def _bhar(ret: np.ndarray, expected: np.ndarray, kind: str) -> float:
    """Buy-and-hold abnormal return: compounded return minus compounded expected return."""
    if kind == "log":
        return float(np.expm1(ret.sum()) - np.expm1(expected.sum()))
    return float(np.prod(1 + ret) - np.prod(1 + expected))


def _tests(panel, car, boot_rows, events, config, memo) -> pd.DataFrame:
    """Per-pair t-tests and bootstrap p-values, and the groups' test battery."""
    rows = car.assign(group="", test="t", estimate=car["car"], statistic=car["t_stat"],
                      n=car["n_days"])[TEST_COLUMNS]
    frames = [rows, *boot_rows]
    if len(panel):
        frames.append(_group_tests(panel, car, events, config, memo))
    frames = [f for f in frames if len(f)]
    if not frames:  # every pair skipped (e.g. all waiting for data)
        return pd.DataFrame(columns=TEST_COLUMNS[:8] + ["se"] + TEST_COLUMNS[8:])
    out = pd.concat(frames, ignore_index=True)
    # where the statistic is estimate / se, report that se too
    ratio = out["test"].isin(RATIO_TESTS)
    out["se"] = np.where(ratio, out["estimate"] / out["statistic"], np.nan)
    out = out[TEST_COLUMNS[:8] + ["se"] + TEST_COLUMNS[8:]]
    return out.sort_values(["group", "model", "event_id", "series", "window_start", "window_end",
                            "test"], kind="stable").reset_index(drop=True)


def _group_tests(panel, car, events, config, memo) -> pd.DataFrame:
    span = config.event_span
    windows = list(config.event_windows) + [(d, d) for d in range(span[0], span[1] + 1)]
    windows = list(dict.fromkeys(windows))
    out = []
    for gid, group in config.groups.items():
        members = group_members(group, events)
        for model in config.models:
            keys = members.assign(model=model)
            sub_panel = panel.merge(keys, on=["event_id", "series", "model"])
            sub_car = car.merge(keys, on=["event_id", "series", "model"])
            sub_car = sub_car[sub_car["car"].notna()]
            if sub_car.empty:
                continue
            res = memo.get(
                memo_key(sub_panel, sub_car.drop(columns=["day0"]), windows, config.n_boot,
                         config.seed),
                lambda: inference.group_tests(sub_panel, sub_car, windows, n_boot=config.n_boot,
                                              seed=config.seed))
            out.append(res.assign(group=gid, model=model, event_id="", series=""))
    return pd.concat(out, ignore_index=True)[TEST_COLUMNS] if out else pd.DataFrame()


def _pair_span(config: Config) -> tuple[int, int]:
    """First and last day, relative to day 0, that any part of a pair's study reads."""
    return (min(config.estimation_window[0], config.plot_window[0], config.event_span[0]),
            max(config.plot_window[1], config.event_span[1]))


def _pair_rows(frame: pd.DataFrame, d0: int, config: Config) -> pd.DataFrame:
    """The rows of a pair: sessions are consecutive, so positions slice them directly."""
    lo, hi = _pair_span(config)
    first_pos = int(frame["pos"].iloc[0])
    return frame.iloc[max(d0 + lo - first_pos, 0):max(d0 + hi - first_pos + 1, 0)]


def _pair_key(frame, row, model, config: Config, excluded: np.ndarray) -> str:
    """Everything `_study_pair` reads for this pair, hashed (see eventstudy.memo)."""
    d0 = int(row.day0_pos)
    first_pos = int(frame["pos"].iloc[0])
    lo, hi = _pair_span(config)
    sub = _pair_rows(frame, d0, config)
    columns = [c for c in sub.columns if c not in ("date", "close_utc", "close")]
    inside = excluded[(excluded >= d0 + lo) & (excluded <= d0 + hi)]
    study = (config.estimation_window, config.event_windows, config.plot_window, config.returns,
             config.min_estimation, config.factors, config.dimson_lags)
    return memo_key(row.event_id, row.series, model, d0, str(row.day0), first_pos,
                    str(frame["date"].iloc[0]), str(frame["date"].iloc[-1]), study, columns,
                    sub[columns].to_numpy(dtype=float), sub["date"].to_numpy(), inside)


def _study_pair_with_bootstrap(frame, row, model, config: Config, excluded: np.ndarray):
    """`_study_pair` plus the pair's bootstrap p-values (one memo entry for both)."""
    out = _study_pair(frame, row, model, config, excluded)
    if isinstance(out, str):
        return out
    ar, cars, panel = out
    car = pd.DataFrame(cars, columns=CAR_COLUMNS)
    car = car[car["car"].notna()]
    boot = (inference.pair_bootstrap(panel, car).assign(
        group="", event_id=row.event_id, series=row.series, model=model)[TEST_COLUMNS]
        if len(car) else pd.DataFrame(columns=TEST_COLUMNS))
    return ar, cars, panel, boot


def _concat(frames, columns) -> pd.DataFrame:
    if not frames:
        return pd.DataFrame(columns=columns)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return pd.concat(frames, ignore_index=True)[columns]


AR_COLUMNS = ["event_id", "series", "model", "date", "rel_day", "return", "simple_return",
              "benchmark_return", "expected_return", "abnormal_return", "ar_se", "ar_t", "car_path",
              "car_path_se", "span", "gap"]
CAR_COLUMNS = ["event_id", "series", "model", "window_start", "window_end", "car", "se", "t_stat",
               "dof", "p_value", "n_est", "n_days", "n_excluded", "sigma", "car_simple",
               "bhar", "car_var", "day0", "note"]
AAR_COLUMNS = ["group", "model", "rel_day", "n", "aar", "aar_se", "caar", "caar_se"]
PANEL_COLUMNS = ["event_id", "series", "model", "phase", "rel_day", "date", "abnormal_return",
                 "ar_var", "sigma2", "dof", "n_est"]
RATIO_TESTS = ("t", "cross_sectional_t", "bw_cda", "bmp", "kp_bmp")
TEST_COLUMNS = ["group", "model", "event_id", "series", "window_start", "window_end", "test",
                "estimate", "statistic", "dof", "p_value", "n"]
