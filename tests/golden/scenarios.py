"""The golden master's scenarios: each returns (events, config, run_study kwargs).

Frozen from the per-pair engine at commit 786dab7 (issue #8, item 1) so that a new engine can
be checked against it. Every scenario runs offline, with an empty cache folder, a fixed
`today` and no memo; synthetic prices come from fixed numpy seeds and are written into the
folder given, so the same call gives the same inputs on any machine.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd

from eventstudy import load_config, load_events
from eventstudy.calendars import session_closes
from eventstudy.config import MODELS, SeriesConfig, parse_config

REPO = Path(__file__).resolve().parents[2]
TODAY = pd.Timestamp("2026-01-15")
FRAMES = ("alignment", "ar", "car", "tests", "aar", "skipped", "gaps")


def run_kwargs(folder: Path) -> dict:
    """Offline, an empty cache of its own, a fixed today, no memo."""
    cache = Path(folder) / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    return {"offline": True, "cache_dir": cache, "today": TODAY, "memoize": False}


def bundled(folder: Path):
    """The bundled study (events.csv, built-in config, its groups) with all seven models."""
    config = dataclasses.replace(load_config(None), models=MODELS, factors=("GSPC", "DXY"))
    return load_events(REPO / "events.csv"), config, run_kwargs(folder)


# --- synthetic prices -------------------------------------------------------------------------

def _sessions(calendar: str, start: str, end: str, close_time=None, close_tz=None):
    cfg = SeriesConfig(id="x", name="x", source="csv", calendar=calendar,
                       close_time=close_time, close_tz=close_tz)
    closes = session_closes(cfg)
    return closes.loc[start:end]


def _write(folder: Path, name: str, dates, closes) -> None:
    pd.DataFrame({"date": pd.DatetimeIndex(dates).strftime("%Y-%m-%d"),
                  "close": np.round(np.asarray(closes, dtype=float), 6)}
                 ).to_csv(folder / f"{name}.csv", index=False)


def _market(rng, start: str, end: str) -> pd.Series:
    """A latent world factor: one log-return a calendar day (weekends quiet)."""
    days = pd.date_range(start, end, freq="D")
    f = rng.normal(0.0003, 0.009, len(days)) * np.where(days.day_of_week < 5, 1.0, 0.2)
    return pd.Series(np.cumsum(f), index=days)


def _drop(dates: pd.DatetimeIndex, rng, share: float, keep_ends: bool = True) -> np.ndarray:
    """A mask of bars kept: a random `share` of sessions missing (never the first or last)."""
    keep = rng.random(len(dates)) >= share
    if keep_ends:
        keep[0] = keep[-1] = True
    return keep


SYN_START, SYN_END = "2023-06-01", "2025-06-30"
TOKYO = [f"T{i}" for i in range(1, 9)]
LISTED = "2024-08-13"      # T7's first bar: a late listing
DELISTED = "2025-01-31"    # T8's last bar: a delisting


def _synthetic_prices(folder: Path) -> None:
    rng = np.random.default_rng(20260115)
    level = _market(rng, "2023-05-01", SYN_END)

    us = _sessions("XNYS", SYN_START, SYN_END)
    spx = 4200 * np.exp(level.asof(us.index) * 1.0)
    keep = _drop(us.index, rng, 0.01)
    dates = list(us.index[keep]) + [pd.Timestamp("2024-07-04")]   # Independence Day: no session
    values = list(spx[keep]) + [float(spx.iloc[10])]
    order = np.argsort(dates)
    _write(folder, "SPX", np.array(dates)[order], np.array(values)[order])

    dxy = _sessions("XNYS", SYN_START, SYN_END, "17:00", "America/New_York")
    usd = 104 * np.exp(0.4 * level.asof(dxy.index) + np.cumsum(rng.normal(0, 0.003, len(dxy))))
    _write(folder, "DXYS", dxy.index, usd)

    tk = _sessions("XTKS", SYN_START, SYN_END).index
    prev_us = level.asof(tk - pd.Timedelta(days=1))   # Tokyo sees the previous US day
    for i, sid in enumerate(TOKYO):
        beta = 0.6 + 0.1 * i
        noise = np.cumsum(rng.normal(0.0, 0.012 + 0.002 * i, len(tk)))
        price = (1000 + 300 * i) * np.exp(beta * prev_us.to_numpy() + noise)
        keep = _drop(tk, rng, 0.015)
        if sid == "T7":
            keep &= tk >= pd.Timestamp(LISTED)
        if sid == "T8":
            keep &= tk <= pd.Timestamp(DELISTED)
        if sid == "T2":      # two missing bars inside the event window [0, 5] of "equinox-fx"
            keep &= ~tk.isin(pd.to_datetime(["2025-03-24", "2025-03-25"]))
        if sid == "T4":      # day 0 of "tokyo-before-close" missing: no return in [0, 0]
            keep &= tk != pd.Timestamp("2025-02-05")
        dates, values = list(tk[keep]), list(price[keep])
        if sid == "T3":      # New Year's Day: a bar on a day Tokyo is closed (ignored)
            dates.append(pd.Timestamp("2025-01-01"))
            values.append(float(price[-1]))
        order = np.argsort(dates)
        _write(folder, sid, np.array(dates)[order], np.array(values)[order])

    fx = _sessions("24/5", SYN_START, SYN_END, "00:00", "Europe/London").index
    yen = 140 * np.exp(0.5 * level.asof(fx).to_numpy()
                       + np.cumsum(rng.normal(0, 0.005, len(fx))))
    keep = _drop(fx, rng, 0.02)
    _write(folder, "FXJPY", fx[keep], yen[keep])


SYNTHETIC_EVENTS = [
    # event_id, announced_at, time_precision, category
    ("us-cpi", "2024-06-12T08:30:00-04:00", "minute", "macro"),        # before T7 lists
    ("boj-noon", "2024-07-31 12:50 Asia/Tokyo", "minute", "policy"),     # Tokyo midday
    ("tokyo-1510-old-close", "2024-10-10 15:10 Asia/Tokyo", "minute", "policy"),  # after 15:00
    ("tokyo-before-close", "2025-02-05 15:20 Asia/Tokyo", "minute", "escalation"),  # 15:30 close
    ("tokyo-after-close", "2025-02-05 15:45 Asia/Tokyo", "minute", "escalation"),
    ("equinox-fx", "2025-03-20T12:00:00Z", "hour", "escalation"),        # Tokyo holiday
    ("near-end", "2025-06-25T16:00:00-04:00", "hour", "escalation"),    # windows past the data
    ("after-data", "2025-08-01T10:00:00+09:00", "day", "macro"),        # day 0 after last bar
    ("far-future", "2040-01-15T10:00:00Z", "day", "macro"),             # after the calendar
]


def _events_csv(folder: Path, rows) -> pd.DataFrame:
    path = Path(folder) / "events.csv"
    frame = pd.DataFrame(rows, columns=["event_id", "announced_at", "time_precision", "category"])
    frame["title"] = "synthetic " + frame["event_id"]
    frame["tags"] = ""
    frame["source"] = "https://example.org/" + frame["event_id"]
    frame[["event_id", "announced_at", "time_precision", "title", "category", "tags",
           "source"]].to_csv(path, index=False)
    return load_events(path)


def synthetic(folder: Path):
    """Eight Tokyo stocks against a US benchmark, a London-midnight FX series against a
    17:00 New York dollar index: gaps, a late listing, a delisting, holidays, an off-session
    bar, events either side of the Tokyo close, past the data and past the calendar."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    _synthetic_prices(folder)
    series = "\n".join(f"""
[series.{sid}]
source = "csv"
path = "{sid}.csv"
calendar = "XTKS"
benchmark = "SPX"
""" for sid in TOKYO)
    text = f"""
[study]
series = {TOKYO + ["FXJPY"]!r}
estimation_window = [-150, -11]
event_windows = [[0, 0], [-1, 1], [0, 5]]
plot_window = [-5, 8]
models = {list(MODELS)!r}
factors = ["SPX", "DXYS"]
dimson_lags = 2
min_estimation = 100
exclude_other_events = true
n_boot = 200
seed = 11
{series}
[series.SPX]
source = "csv"
path = "SPX.csv"
calendar = "XNYS"

[series.DXYS]
source = "csv"
path = "DXYS.csv"
calendar = "XNYS"
close_time = "17:00"
close_tz = "America/New_York"

[series.FXJPY]
source = "csv"
path = "FXJPY.csv"
calendar = "24/5"
close_time = "00:00"
close_tz = "Europe/London"
benchmark = "DXYS"

[groups.tokyo]
series = {TOKYO!r}
events = ["tokyo-1510-old-close", "tokyo-before-close", "tokyo-after-close", "equinox-fx"]

[groups.escalations]
series = ["T1", "T2", "T3", "T4", "T7", "FXJPY"]
categories = ["escalation"]
"""
    config = parse_config(text, str(folder / "study.toml"))
    return _events_csv(folder, SYNTHETIC_EVENTS), config, run_kwargs(folder)


def overlap(folder: Path):
    """Two events four sessions apart (their [0, 5] windows overlap), other events' windows
    kept out of the estimation window: the later event's estimation loses the earlier's days."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(8)
    level = _market(rng, "2023-12-01", "2025-03-31")
    us = _sessions("XNYS", "2024-01-02", "2025-03-31").index
    _write(folder, "MKT", us, 100 * np.exp(level.asof(us).to_numpy()))
    names = ["A", "B", "C", "D"]
    for i, sid in enumerate(names):
        noise = np.cumsum(rng.normal(0, 0.01 + 0.003 * i, len(us)))
        _write(folder, sid, us, 50 * np.exp((0.8 + 0.2 * i) * level.asof(us).to_numpy() + noise))
    blocks = "\n".join(f"""
[series.{sid}]
source = "csv"
path = "{sid}.csv"
calendar = "XNYS"
benchmark = "MKT"
""" for sid in names)
    text = f"""
[study]
series = {names!r}
estimation_window = [-100, -2]
event_windows = [[0, 0], [-1, 1], [0, 5]]
plot_window = [-3, 7]
models = ["constant_mean", "market_model"]
min_estimation = 60
exclude_other_events = true
n_boot = 300
seed = 3
{blocks}
[series.MKT]
source = "csv"
path = "MKT.csv"
calendar = "XNYS"

[groups.all]
series = {names!r}
categories = ["news"]
"""
    config = parse_config(text, str(folder / "study.toml"))
    events = _events_csv(folder, [
        ("first", "2025-01-14T10:00:00-05:00", "minute", "news"),
        ("second", "2025-01-17 11:30 America/New_York", "minute", "news"),
    ])
    return events, config, run_kwargs(folder)


SCENARIOS = {"bundled": bundled, "synthetic": synthetic, "overlap": overlap}
