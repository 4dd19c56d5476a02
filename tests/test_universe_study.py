"""Whole-market studies through the panel engine (issue #8): universes, firm-specific events,
groups by selector and the data checks, on small synthetic markets written to a tmp folder."""
import numpy as np
import pandas as pd
import pytest

from eventstudy import run_study
from eventstudy.config import parse_config
from eventstudy.events import read_events_text
from tests.synthetic import sessions, us_study

EVENTS = """event_id,announced_at,time_precision,title,category,tags,source
ev-a,2025-03-03T10:00:00-05:00,minute,A,escalation,,https://example.org/a
ev-b,2025-06-02T16:30:00-04:00,minute,B,escalation,,https://example.org/b
ev-c,2025-09-15T10:00:00-04:00,minute,C,negotiation,,https://example.org/c
"""


def market(tmp_path, n=6, seed=3):
    """A US benchmark and n US stocks (wide CSV, a late listing as blank cells)."""
    rng = np.random.default_rng(seed)
    dates = sessions("XNYS")
    m = rng.normal(0.0003, 0.01, len(dates))
    bench = 4000 * np.exp(np.cumsum(m))
    noise = rng.normal(0, 0.015, (len(dates), n))
    prices = 30 * np.exp(np.cumsum(m[:, None] * rng.uniform(0.6, 1.4, n) + noise, axis=0))
    names = [f"U{i}" for i in range(n)]
    wide = pd.DataFrame(prices, columns=names)
    wide.insert(0, "date", dates.strftime("%Y-%m-%d"))
    wide.loc[:400, "U5"] = np.nan                        # listed later: blank cells
    wide.to_csv(tmp_path / "wide.csv", index=False)
    pd.DataFrame({"date": dates.strftime("%Y-%m-%d"), "close": bench}).to_csv(
        tmp_path / "bench.csv", index=False)
    pd.DataFrame({"symbol": names, "sector": ["Banks", "Banks", "Autos", "Autos", "Retail",
                                              "Retail"][:n]}).to_csv(
        tmp_path / "members.csv", index=False)
    return wide, bench, names


def universe_config(tmp_path, extra=""):
    return parse_config(us_study("""
models = ["constant_mean", "market_model"]
estimation_window = [-200, -11]
min_estimation = 100
n_boot = 200""", extra), str(tmp_path / "study.toml"))


def events():
    return read_events_text(EVENTS, "events.csv")


def test_a_universe_gives_the_numbers_of_the_same_securities_as_series(tmp_path):
    """The universe path (one wide file, one panel) and the [series.X] path (one CSV each)
    give the same ARs, CARs and tests."""
    wide, _, names = market(tmp_path)
    uni = run_study(events(), universe_config(tmp_path), offline=True,
                    cache_dir=tmp_path / "c", memoize=False)
    for n in names:
        wide[["date", n]].dropna().rename(columns={n: "close"}).to_csv(tmp_path / f"{n}.csv",
                                                                        index=False)
    series = "".join(f'[series.{n}]\nsource = "csv"\npath = "{n}.csv"\ncalendar = "XNYS"\n'
                     f'benchmark = "BENCH"\n' for n in names)
    cfg = parse_config(f"""
[study]
series = {names!r}
models = ["constant_mean", "market_model"]
estimation_window = [-200, -11]
min_estimation = 100
n_boot = 200
[series.BENCH]
source = "csv"
path = "bench.csv"
calendar = "XNYS"
{series}""".replace("'", '"'), str(tmp_path / "series.toml"))
    ser = run_study(events(), cfg, offline=True, cache_dir=tmp_path / "d", memoize=False)
    for name in ("car", "ar", "skipped"):
        pd.testing.assert_frame_equal(getattr(uni, name), getattr(ser, name), check_dtype=False)
    assert set(uni.car["series"]) == set(names)
    # U5's blank cells are "not listed yet", not gaps; it is studied after its listing
    gaps = uni.gaps[uni.gaps.series == "U5"]
    assert (gaps["kind"] != "missing bar").all() or gaps.empty
    assert uni.securities.set_index("series").loc["U0", "sector"] == "Banks"


def test_groups_by_event_and_by_sector(tmp_path):
    market(tmp_path)
    cfg = universe_config(tmp_path, """
[groups.by_event]
universe = "us"
by = ["event_id"]
[groups.sectors]
universe = "us"
events = ["ev-a"]
by = ["sector"]
[groups.banks_b]
universe = "us"
where = "sector == 'Banks' and event_id == 'ev-b'"
""")
    res = run_study(events(), cfg, offline=True, cache_dir=tmp_path / "c", memoize=False)
    t = res.tests
    groups = set(t["group"]) - {""}
    assert groups == {"by_event:ev-a", "by_event:ev-b", "by_event:ev-c", "sectors:Autos",
                      "sectors:Banks", "sectors:Retail", "banks_b"}
    # the cross-sectional t of a by-group is computed from exactly its members' CARs
    car = res.car[(res.car.model == "market_model") & (res.car.window_start == 0)
                  & (res.car.window_end == 0) & res.car.car.notna()]
    for group, members in (("sectors:Banks", car[(car.event_id == "ev-a")
                                                  & car.series.isin(["U0", "U1"])]),
                           ("by_event:ev-c", car[car.event_id == "ev-c"]),
                           ("banks_b", car[(car.event_id == "ev-b")
                                           & car.series.isin(["U0", "U1"])])):
        row = t[(t.group == group) & (t.model == "market_model") & (t.test == "cross_sectional_t")
                & (t.window_start == 0) & (t.window_end == 0)].iloc[0]
        x = members["car"].to_numpy()
        assert row["n"] == len(x)
        assert row["estimate"] == pytest.approx(x.mean(), abs=1e-15)
        assert row["statistic"] == pytest.approx(x.mean() / (x.std(ddof=1) / np.sqrt(len(x))))
    aar = res.aar[(res.aar.group == "by_event:ev-c") & (res.aar.model == "market_model")
                  & (res.aar.rel_day == 0)]
    assert aar["aar"].iloc[0] == pytest.approx(car[car.event_id == "ev-c"]["car"].mean())


def test_firm_specific_events_get_day0_on_their_own_calendar_and_close(tmp_path):
    """A Tokyo stock announcing at 15:20 before and after the close moved from 15:00 to 15:30
    (2024-11-05), and a US stock announcing after the New York close."""
    market(tmp_path)
    rng = np.random.default_rng(5)
    tdates = sessions("XTKS")
    tk = 2000 * np.exp(np.cumsum(rng.normal(0, 0.012, (len(tdates), 2)), axis=0))
    pd.DataFrame({"date": tdates.strftime("%Y-%m-%d"), "7203.T": tk[:, 0],
                  "6758.T": tk[:, 1]}).to_csv(tmp_path / "tokyo.csv", index=False)
    topix = 2500 * np.exp(np.cumsum(rng.normal(0, 0.01, len(tdates))))
    pd.DataFrame({"date": tdates.strftime("%Y-%m-%d"), "close": topix}).to_csv(
        tmp_path / "topix.csv", index=False)
    (tmp_path / "earnings.csv").write_text(
        "event_id,security,announced_at,time_precision,category,surprise\n"
        "7203-q2-2024,7203.T,2024-08-01 15:20 Asia/Tokyo,minute,earnings,0.1\n"
        "7203-q3-2024,7203.T,2025-02-05 15:20 Asia/Tokyo,minute,earnings,-0.2\n"
        "6758-q3-2024,6758.T,2025-02-13 15:40 Asia/Tokyo,minute,earnings,0.3\n"
        "u0-q1,U0,2025-04-24 16:05 America/New_York,minute,earnings,0.05\n")
    cfg = universe_config(tmp_path, """
[series.TOPIX]
source = "csv"
path = "topix.csv"
calendar = "XTKS"
[universe.tokyo]
prices = "tokyo.csv"
calendar = "XTKS"
benchmark = "TOPIX"
[events.earnings]
path = "earnings.csv"
[groups.beats]
firm_events = "earnings"
where = "surprise > 0"
""")
    res = run_study(events(), cfg, offline=True, cache_dir=tmp_path / "c", memoize=False)
    al = res.alignment.set_index(["event_id", "series"])
    # 15:20 Tokyo before 2024-11-05 is after the 15:00 close: day 0 is the next session
    assert al.loc[("7203-q2-2024", "7203.T"), "day0"] == pd.Timestamp("2024-08-02")
    # 15:20 after the move to 15:30 is before the close: day 0 is the same session
    assert al.loc[("7203-q3-2024", "7203.T"), "day0"] == pd.Timestamp("2025-02-05")
    assert al.loc[("6758-q3-2024", "6758.T"), "day0"] == pd.Timestamp("2025-02-14")
    # 16:05 New York is after the close: the next session
    assert al.loc[("u0-q1", "U0"), "day0"] == pd.Timestamp("2025-04-25")
    # a firm event is one pair: not studied on the other securities
    assert (res.car["event_id"] == "u0-q1").groupby(res.car["series"]).any().sum() == 1
    # the firm's own other events are kept out of its estimation windows, not others'
    car = res.car[(res.car.model == "constant_mean") & (res.car.window_start == 0)
                  & (res.car.window_end == 0)]
    n_excl = car.set_index(["event_id", "series"])["n_excluded"]
    assert n_excl[("7203-q3-2024", "7203.T")] == 7     # q2's days [-1, 5] are in its window
    assert n_excl[("6758-q3-2024", "6758.T")] == 0     # ... but not in another firm's
    groups = set(res.tests["group"]) - {""}
    assert groups == {"beats"}
    beats = res.tests[(res.tests.group == "beats") & (res.tests.test == "cross_sectional_t")]
    assert (beats["n"] <= 3).all() and (beats["n"] >= 1).any()


def test_a_planted_split_skips_the_pairs_around_it_and_a_real_crash_survives(tmp_path):
    wide, _, names = market(tmp_path)
    dates = pd.to_datetime(wide["date"])
    split = int(np.searchsorted(dates, pd.Timestamp("2025-05-12")))
    wide.loc[split:, "U1"] = wide.loc[split:, "U1"] / 2.0 * 1.004      # unadjusted 2:1 split
    crash = int(np.searchsorted(dates, pd.Timestamp("2025-09-15")))
    wide.loc[crash:, "U2"] = wide.loc[crash:, "U2"] * 0.55             # a real -45 % day
    wide.loc[100, "U3"] = -12.0                                        # an impossible price
    wide.to_csv(tmp_path / "wide.csv", index=False)
    res = run_study(events(), universe_config(tmp_path), offline=True,
                    cache_dir=tmp_path / "c", memoize=False)
    flagged = res.gaps[(res.gaps.series == "U1") & res.gaps.kind.str.contains("split")]
    assert list(flagged["date"]) == [pd.Timestamp("2025-05-12")]
    skipped = res.skipped[res.skipped.series == "U1"].set_index(["event_id", "model"])
    assert skipped.loc[("ev-b", "market_model"), "reason"].startswith("data check:")
    assert "2025-05-12" in skipped.loc[("ev-b", "market_model"), "reason"]
    assert "ev-a" not in set(skipped.index.get_level_values(0))     # before the split
    crash_car = res.car[(res.car.series == "U2") & (res.car.event_id == "ev-c")
                        & (res.car.model == "constant_mean") & (res.car.window_end == 0)]
    assert crash_car["car"].iloc[0] < np.log(0.6)                   # the crash is the CAR
    assert res.gaps[(res.gaps.series == "U3")]["kind"].str.contains("drop bar").any()
    assert (res.prices[res.prices.series == "U3"]["close"] > 0).all()


def test_one_new_event_recomputes_only_the_pairs_and_groups_it_touches(tmp_path):
    """Memo v2 at market scale: a rerun reuses everything; one more event computes its own
    pairs (one per security and model) and the groups that gain members, nothing else."""
    market(tmp_path)
    extra = """
[groups.by_event]
universe = "us"
by = ["event_id"]
[groups.pooled]
universe = "us"
"""
    cfg = universe_config(tmp_path, extra)
    first = run_study(events(), cfg, offline=True, cache_dir=tmp_path / "c")
    again = run_study(events(), cfg, offline=True, cache_dir=tmp_path / "c")
    assert again.reuse["computed"] == 0 and again.reuse["reused"] == first.reuse["computed"]
    pd.testing.assert_frame_equal(first.car, again.car)
    pd.testing.assert_frame_equal(first.tests, again.tests)
    more = read_events_text(EVENTS + "ev-d,2025-10-20T10:00:00-04:00,minute,D,escalation,,"
                                     "https://example.org/d\n", "events.csv")
    added = run_study(more, cfg, offline=True, cache_dir=tmp_path / "c")
    n_sec, n_models = 6, 2
    # the new event's pairs, its by-event group and the pooled group (per model); the old
    # events' pairs keep their inputs (ev-d's window is after theirs) and are reused
    assert added.reuse["computed"] == n_sec * n_models + 2 * n_models
    fresh = run_study(more, cfg, offline=True, cache_dir=tmp_path / "d", memoize=False)
    pd.testing.assert_frame_equal(added.car, fresh.car)
    pd.testing.assert_frame_equal(added.tests, fresh.tests)


def test_a_firm_event_shared_by_securities_keeps_each_pairs_metadata(tmp_path):
    """One firm-event id on several securities, each with its own surprise: a group's `where`
    sees each pair's own row, not the first row of the id."""
    market(tmp_path)
    surprise = {"U0": -0.1, "U1": 0.2, "U2": -0.3, "U3": 0.4, "U4": 0.5}
    (tmp_path / "news.csv").write_text(
        "event_id,security,announced_at,time_precision,category,surprise\n" + "".join(
            f"q2-news,{s},2025-05-06 10:00 America/New_York,minute,news,{v}\n"
            for s, v in surprise.items()))
    cfg = universe_config(tmp_path, """
[events.news]
path = "news.csv"
[groups.beats]
firm_events = "news"
where = "surprise > 0"
""")
    res = run_study(events(), cfg, offline=True, cache_dir=tmp_path / "c", memoize=False)
    members = res.group_members[res.group_members["group"] == "beats"]
    assert sorted(members["series"]) == ["U1", "U3", "U4"]
    assert set(members["event_id"]) == {"q2-news"}


def test_a_delisted_security_is_not_waiting_for_data(tmp_path):
    """After a security's last bar: 'waiting for data' when the other securities' data end
    there too (the vendor has not sent it yet), 'no bars after' when they go on (delisted)."""
    wide, _, _ = market(tmp_path)
    dates = pd.to_datetime(wide["date"])
    wide.loc[dates > "2025-06-30", "U4"] = np.nan                   # U4 stops trading
    wide.to_csv(tmp_path / "wide.csv", index=False)
    (tmp_path / "late.csv").write_text(
        "event_id,security,announced_at,time_precision,category\n"
        "after-the-data,U0,2026-01-06 10:00 America/New_York,minute,news\n")
    cfg = universe_config(tmp_path, '[events.late]\npath = "late.csv"\n')
    res = run_study(events(), cfg, offline=True, cache_dir=tmp_path / "c", memoize=False)
    reason = res.skipped.drop_duplicates(["event_id", "series"]).set_index(
        ["event_id", "series"])["reason"]
    assert reason[("ev-c", "U4")] == ("no bars after 2025-06-30 (delisted or suspended: the "
                                      "other securities' data run to 2025-12-30); day 0 is "
                                      "2025-09-15")
    assert reason[("after-the-data", "U0")].startswith("waiting for data: day 0 is 2026-01-06")
    assert ("ev-c", "U3") not in reason.index                       # the others are studied
