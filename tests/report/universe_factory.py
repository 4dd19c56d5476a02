"""Synthetic result frames of a universe study (thousands of securities), for the report tests.

The frames have the columns of `StudyResult`'s, plus what the universe engine adds
(`securities`, `group_members`, `ar.benchmark_contaminated`, `events.scope`). The numbers are
made to be internally consistent where a page shows them side by side (CAR = the sum of the
window's ARs, return = expected + abnormal, a group's cross-sectional t from its CARs), not to
be a study: nothing here is an estimate.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from eventstudy.config import Config, SeriesConfig
from eventstudy.result import StudyResult

SECTORS = ("Banks", "Automobiles", "Retail", "Electronics", "Pharma", "Utilities",
           "Chemicals", "Machinery", "Real Estate", "Telecom", "Food", "Transport")
MODELS = ("constant_mean", "market_model")
WINDOWS = ((0, 0), (-1, 1), (0, 5))
PLOT = (-10, 10)


@dataclass
class UniverseResult(StudyResult):
    securities: pd.DataFrame | None = None
    group_members: pd.DataFrame | None = None


def make_universe_result(n_securities: int, n_events: int, *, seed: int = 0,
                         contaminated: tuple[int, ...] = (0,),
                         market_wide: tuple[int, ...] = ()) -> UniverseResult:
    """`n_securities` Tokyo stocks (two universes, twelve sectors) around `n_events` events;
    the events in `contaminated` have every security's day 0 flagged; `market_wide` events
    carry scope = market_wide."""
    rng = np.random.default_rng(seed)
    sids = np.array([f"{1000 + i}.T" for i in range(n_securities)])
    universe = np.where(np.arange(n_securities) % 3 == 2, "mid400", "core100")
    sector = np.array(SECTORS)[np.arange(n_securities) % len(SECTORS)]
    securities = pd.DataFrame({"series": sids, "universe": universe,
                               "name": [f"Company {i}" for i in range(n_securities)],
                               "sector": sector, "group": "jp"})
    sessions = pd.bdate_range("2025-01-06", periods=40 + 15 * n_events + 40)
    eids = [f"event-{k + 1:02d}" for k in range(n_events)]
    day0_pos = np.array([40 + 15 * k for k in range(n_events)])
    announced = [pd.Timestamp(sessions[p - 1]).tz_localize("UTC") + pd.Timedelta(hours=20)
                 for p in day0_pos]
    events = pd.DataFrame({
        "event_id": eids, "announced_at": [a.isoformat() for a in announced],
        "announced_at_utc": pd.DatetimeIndex(announced), "time_precision": "minute",
        "title": [f"Announcement {k + 1} <b>&</b>" for k in range(n_events)],
        "category": "escalation", "tags": "tariffs", "source": "https://example.org/news",
        "row": np.arange(n_events) + 2,
        "scope": ["market_wide" if k in market_wide else "" for k in range(n_events)]})

    # alignment: one row per (event, security); every security shares the Tokyo close
    e_idx = np.repeat(np.arange(n_events), n_securities)
    s_idx = np.tile(np.arange(n_securities), n_events)
    day0 = sessions[day0_pos[e_idx]]
    prev = sessions[day0_pos[e_idx] - 1]
    alignment = pd.DataFrame({
        "event_id": np.array(eids)[e_idx], "series": sids[s_idx], "calendar": "XTKS",
        "announced_at": events["announced_at"].to_numpy()[e_idx],
        "announced_at_utc": events["announced_at_utc"].to_numpy()[e_idx],
        "time_precision": "minute", "day0": day0,
        "day0_close_utc": (day0 + pd.Timedelta(hours=6, minutes=30)).tz_localize("UTC"),
        "prev_session": prev,
        "prev_close_utc": (prev + pd.Timedelta(hours=6, minutes=30)).tz_localize("UTC"),
        "close_rule": "XTKS close (15:30 JST)"})
    alignment["announced_at_utc"] = pd.DatetimeIndex(alignment["announced_at_utc"]).tz_localize(
        "UTC") if alignment["announced_at_utc"].dt.tz is None else alignment["announced_at_utc"]

    # ar: (pair, model, rel_day), with an event effect on day 0 that depends on the sector
    rel = np.arange(PLOT[0], PLOT[1] + 1)
    n_pairs, n_days = len(alignment), len(rel)
    rm = rng.normal(0, 0.01, (n_events, n_days))
    beta = rng.uniform(0.5, 1.5, n_securities)
    effect = (np.arange(n_securities) % len(SECTORS) - 5) * 0.004
    ret = (beta[s_idx, None] * rm[e_idx] + rng.normal(0, 0.015, (n_pairs, n_days)))
    ret[:, -PLOT[0]] += effect[s_idx]
    parts = []
    for model in MODELS:
        expected = (np.full_like(ret, 0.0003) if model == "constant_mean"
                    else 0.0001 + beta[s_idx, None] * rm[e_idx])
        abnormal = ret - expected
        se = np.full_like(ret, 0.015)
        parts.append(pd.DataFrame({
            "event_id": np.repeat(alignment["event_id"].to_numpy(), n_days),
            "series": np.repeat(alignment["series"].to_numpy(), n_days),
            "model": model,
            "date": sessions[(day0_pos[e_idx][:, None] + rel[None, :]).ravel()],
            "rel_day": np.tile(rel, n_pairs), "return": ret.ravel(),
            "simple_return": np.expm1(ret).ravel(),
            "benchmark_return": rm[e_idx].ravel(), "expected_return": expected.ravel(),
            "abnormal_return": abnormal.ravel(), "ar_se": se.ravel(),
            "ar_t": (abnormal / se).ravel(), "car_path": np.cumsum(abnormal, axis=1).ravel(),
            "car_path_se": (0.015 * np.sqrt(np.arange(1, n_days + 1)))[None, :].repeat(
                n_pairs, 0).ravel(),
            "span": 1.0, "gap": False}))
    ar = pd.concat(parts, ignore_index=True)
    flagged = np.isin(ar["event_id"], [eids[k] for k in contaminated if k < n_events])
    ar["benchmark_contaminated"] = flagged & (ar["rel_day"].to_numpy() == 0)
    ar = ar.sort_values(["event_id", "series", "model", "rel_day"], kind="stable",
                        ignore_index=True)

    # car: the sum of each window's ARs, a t-test with a fixed se
    cars = []
    for a, b in WINDOWS:
        w = ar[(ar["rel_day"] >= a) & (ar["rel_day"] <= b)]
        g = w.groupby(["event_id", "series", "model"], sort=True)["abnormal_return"].sum()
        frame = g.rename("car").reset_index()
        n = b - a + 1
        se = 0.015 * np.sqrt(n)
        t = frame["car"] / se
        frame = frame.assign(window_start=a, window_end=b, se=se, t_stat=t, dof=200.0,
                             p_value=2 * stats.t.sf(np.abs(t), 200), n_est=200, n_days=n,
                             n_excluded=0, sigma=0.015, car_simple=np.expm1(frame["car"]),
                             bhar=frame["car"], car_var=se ** 2, note="")
        cars.append(frame)
    car = pd.concat(cars, ignore_index=True)
    car = car.merge(alignment[["event_id", "series", "day0"]], on=["event_id", "series"])
    car = car[["event_id", "series", "model", "window_start", "window_end", "car", "se",
               "t_stat", "dof", "p_value", "n_est", "n_days", "n_excluded", "sigma",
               "car_simple", "bhar", "car_var", "day0", "note"]]

    # a few skipped pairs (no market model for the last securities around the last event)
    n_skip = min(5, n_securities)
    skipped = pd.DataFrame({"event_id": eids[-1], "series": sids[-n_skip:],
                            "model": "market_model",
                            "reason": "only 80 estimation days (< 120)"})
    drop = (car["event_id"] == eids[-1]) & car["series"].isin(sids[-n_skip:]) & (
        car["model"] == "market_model")
    car = car[~drop].reset_index(drop=True)
    ar = ar[~((ar["event_id"] == eids[-1]) & ar["series"].isin(sids[-n_skip:])
              & (ar["model"] == "market_model"))].reset_index(drop=True)

    # groups: one per event and one per sector (over all events)
    members = [pd.DataFrame({"group": f"by_event:{eid}", "event_id": eid, "series": sids})
               for eid in eids]
    members += [pd.DataFrame({"group": f"sector:{s}",
                              "event_id": np.repeat(eids, (sector == s).sum()),
                              "series": np.tile(sids[sector == s], n_events)})
                for s in SECTORS[:min(len(SECTORS), n_securities)]]
    group_members = pd.concat(members, ignore_index=True)
    pair_tests = car.assign(group="", test="t", estimate=car["car"], statistic=car["t_stat"],
                            n=1)[["group", "model", "event_id", "series", "window_start",
                                  "window_end", "test", "estimate", "se", "statistic", "dof",
                                  "p_value", "n"]]
    gt, aars = [], []
    in_car = car.merge(group_members, on=["event_id", "series"])
    for (gid, model, a, b), x in in_car.groupby(["group", "model", "window_start",
                                                 "window_end"], sort=True):
        n = len(x)
        mean, sd = x["car"].mean(), x["car"].std(ddof=1)
        t = mean / (sd / np.sqrt(n))
        for test, stat in (("cross_sectional_t", t), ("bmp", t * 0.9)):
            gt.append({"group": gid, "model": model, "event_id": "", "series": "",
                       "window_start": a, "window_end": b, "test": test, "estimate": mean,
                       "se": sd / np.sqrt(n), "statistic": stat, "dof": n - 1.0,
                       "p_value": 2 * stats.t.sf(abs(stat), n - 1), "n": n})
    in_ar = ar.merge(group_members, on=["event_id", "series"])
    g = in_ar.groupby(["group", "model", "rel_day"], sort=True)["abnormal_return"]
    aar = g.agg(n="count", aar="mean").reset_index()
    aar["aar_se"] = 0.015 / np.sqrt(aar["n"])
    aar["caar"] = aar.groupby(["group", "model"])["aar"].cumsum()
    aar["caar_se"] = aar["aar_se"] * np.sqrt(aar["rel_day"] - PLOT[0] + 1)
    tests = pd.concat([pair_tests, pd.DataFrame(gt)], ignore_index=True)

    gaps = pd.DataFrame({"series": sids[:3], "date": sessions[day0_pos[0] + 1],
                         "kind": "missing bar"})
    prices = ar[ar["model"] == MODELS[0]][["series", "date", "return"]].drop_duplicates(
        ["series", "date"])
    prices = prices.assign(close=100 * np.exp(prices.groupby("series")["return"].cumsum()))
    prices = prices[["series", "date", "close"]].sort_values(["series", "date"],
                                                             ignore_index=True)
    provenance = pd.DataFrame({"series": sids, "ticker": sids, "origin": "csv",
                               "location": "prices/wide.csv", "first": sessions[0],
                               "last": sessions[-1], "rows": len(sessions),
                               "as_of": "bundled sample"})
    panel = pd.DataFrame(columns=["event_id", "series", "model", "phase", "rel_day", "date",
                                  "abnormal_return", "ar_var", "sigma2", "dof", "n_est"])
    config = Config(series={"TOPIX": SeriesConfig(id="TOPIX", name="TOPIX", source="csv",
                                                  calendar="XTKS")},
                    studied=(), models=MODELS, event_windows=WINDOWS, plot_window=PLOT,
                    groups={}, path="universe.toml")
    # the engine may keep the long panel behind a builder (`panel_source`)
    fields = {f.name for f in dataclasses.fields(StudyResult)}
    panel_arg = {"panel_source": panel} if "panel_source" in fields else {"panel": panel}
    return UniverseResult(config=config, events=events, alignment=alignment, ar=ar, car=car,
                          tests=tests, aar=aar, skipped=skipped, gaps=gaps,
                          prices=prices, provenance=provenance, securities=securities,
                          group_members=group_members, **panel_arg)
