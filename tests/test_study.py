"""The whole study on the bundled real sample, offline."""
import warnings

import numpy as np
import pandas as pd
import pytest

from eventstudy import load_config, load_events, run_study
from eventstudy.config import parse_config
from eventstudy.memo import MemoWarning


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    return run_study(load_events("events.csv"), load_config(None), offline=True,
                     cache_dir=tmp_path_factory.mktemp("cache"))


def day0(result, event, series):
    a = result.alignment
    return a[(a.event_id == event) & (a.series == series)]["day0"].iloc[0]


def test_founding_events_day0_on_the_nikkei(result):
    assert day0(result, "liberation-day", "N225") == pd.Timestamp("2025-04-03")
    assert day0(result, "tariff-pause", "N225") == pd.Timestamp("2025-04-10")
    assert day0(result, "us-japan-talks-1", "N225") == pd.Timestamp("2025-04-17")


def test_nikkei_return_on_april_17_is_the_press_figure(result):
    ar = result.ar
    row = ar[(ar.series == "N225") & (ar.date == "2025-04-17")
             & (ar.event_id == "us-japan-talks-1") & (ar.model == "market_model")].iloc[0]
    assert row["rel_day"] == 0
    assert row["return"] == pytest.approx(np.log(34377.601562 / 33920.398438), abs=1e-9)
    assert round(row["return"], 5) == 0.01339
    assert round(row["simple_return"] * 100, 2) == 1.35


def test_nikkei_is_modelled_on_the_previous_us_session(result):
    ar = result.ar
    row = ar[(ar.series == "N225") & (ar.date == "2025-04-04")].iloc[0]
    # S&P 500 2025-04-03 close over 2025-04-02 close (the US session before the Tokyo close)
    assert row["benchmark_return"] == pytest.approx(np.log(5396.52001953125 / 5670.97021484375))


def test_a_benchmark_that_reacted_to_the_same_news_is_flagged(result):
    """Issue #11: the pause (13:18 New York, April 9) is inside the S&P 500's April 9 session,
    the benchmark of the Nikkei's day 0 (April 10); Liberation Day (16:00 New York, April 2,
    at the close) is inside the S&P's April 3 session, the benchmark of the Nikkei's day +1."""
    ar = result.ar[(result.ar.series == "N225") & (result.ar.model == "market_model")]
    flag = ar.set_index(["event_id", "rel_day"])["benchmark_contaminated"]
    assert flag[("tariff-pause", 0)] and not flag[("tariff-pause", -1)]
    assert not flag[("tariff-pause", 1)]
    assert flag[("liberation-day", 1)] and not flag[("liberation-day", 0)]
    assert flag.dtype == bool
    # one flagged day per event at most, and only where the benchmark return exists
    assert (ar.groupby("event_id")["benchmark_contaminated"].sum() <= 1).all()
    assert ar.loc[ar["benchmark_contaminated"], "benchmark_return"].notna().all()


def test_yahoo_fx_gap_after_the_talks_is_reported_not_filled(result):
    gaps = result.gaps[result.gaps.series == "USDJPY"]
    assert {pd.Timestamp("2025-04-18"), pd.Timestamp("2025-04-21")} <= set(gaps["date"])
    car = result.car
    row = car[(car.event_id == "us-japan-talks-1") & (car.series == "USDJPY")
              & (car.window_start == 0) & (car.window_end == 5)].iloc[0]
    assert "2 missing bar(s)" in row["note"]
    ar = result.ar
    gap_rows = ar[(ar.series == "USDJPY") & ar.date.isin(["2025-04-18", "2025-04-21"])]
    assert gap_rows["abnormal_return"].isna().all()


def test_car_is_the_sum_of_its_ars_and_p_value_matches_t(result):
    from scipy import stats
    ar, car = result.ar, result.car
    for row in car[car.car.notna()].itertuples():
        days = ar[(ar.event_id == row.event_id) & (ar.series == row.series)
                  & (ar.model == row.model) & ar.rel_day.between(row.window_start, row.window_end)]
        assert row.car == pytest.approx(days["abnormal_return"].sum(skipna=True), abs=1e-12)
        assert row.p_value == pytest.approx(2 * stats.t.sf(abs(row.car / row.se), row.dof))


def test_keys_never_multiply_rows(result):
    assert not result.alignment.duplicated(["event_id", "series"]).any()
    assert not result.car.duplicated(["event_id", "series", "model", "window_start",
                                      "window_end"]).any()
    assert not result.ar.duplicated(["event_id", "series", "model", "rel_day"]).any()


def test_other_events_are_kept_out_of_the_estimation_window(result):
    car = result.car
    talks = car[(car.event_id == "us-japan-talks-1") & (car.series == "N225")].iloc[0]
    assert talks["n_excluded"] > 0           # liberation day and the pause are nearby


def csv_config(tmp_path, min_estimation):
    prices = pd.read_csv("eventstudy/data/sample/_N225.csv")
    prices.to_csv(tmp_path / "nikkei.csv", index=False)
    return parse_config(f"""
[study]
series = ["MINE"]
models = ["constant_mean"]
min_estimation = {min_estimation}
[series.MINE]
source = "csv"
path = "nikkei.csv"
calendar = "XTKS"
""", str(tmp_path / "study.toml"))


def test_a_csv_series_gives_the_same_numbers_as_the_same_prices_from_the_sample(tmp_path, result):
    res = run_study(load_events("events.csv"), csv_config(tmp_path, 120), offline=True,
                    cache_dir=tmp_path / "cache")
    mine = res.car[(res.car.event_id == "liberation-day")].reset_index(drop=True)
    ref = result.car[(result.car.event_id == "liberation-day") & (result.car.series == "N225")
                     & (result.car.model == "constant_mean")].reset_index(drop=True)
    for col in ("car", "se", "t_stat", "p_value", "n_est"):
        assert mine[col].to_numpy() == pytest.approx(ref[col].to_numpy())


def test_too_few_estimation_days_skips_the_pair_with_a_reason(tmp_path):
    res = run_study(load_events("events.csv"), csv_config(tmp_path, 240), offline=True,
                    cache_dir=tmp_path / "cache")
    skipped = res.skipped.set_index("event_id")
    assert "liberation-day" in skipped.index      # other events' windows were taken out
    assert "fewer than min_estimation 240" in skipped.loc["liberation-day", "reason"]
    assert "liberation-day" not in set(res.car["event_id"])


def test_every_model_runs_on_the_nikkei(tmp_path):
    cfg = parse_config("""
[study]
series = ["N225"]
models = ["constant_mean", "market_adjusted", "market_model", "factor_model", "dimson",
          "scholes_williams", "garch"]
factors = ["GSPC", "ACWI"]
[series.N225]
source = "yahoo"
ticker = "^N225"
calendar = "XTKS"
benchmark = "GSPC"
[series.GSPC]
source = "yahoo"
ticker = "^GSPC"
calendar = "XNYS"
[series.ACWI]
source = "yahoo"
ticker = "ACWI"
calendar = "XNYS"
""", "models.toml")
    events = load_events("events.csv")
    res = run_study(events[events.event_id == "us-japan-talks-1"], cfg, offline=True,
                    cache_dir=tmp_path)
    car = res.car.set_index(["model", "window_start", "window_end"])
    assert set(car.index.get_level_values(0)) == set(cfg.models)
    dof = car.xs((0, 0), level=[1, 2])["dof"]
    n = car.xs((0, 0), level=[1, 2])["n_est"]
    # k: constant 1, market-adjusted 1 (sample variance), market 2, factor 3, Dimson 4
    assert (n - dof).to_dict() == {"constant_mean": 1, "market_adjusted": 1, "market_model": 2,
                                   "factor_model": 3, "dimson": 4, "scholes_williams": 2,
                                   "garch": 2}
    # the market-adjusted AR is the return minus the benchmark's
    ar = res.ar[(res.ar.model == "market_adjusted") & res.ar.abnormal_return.notna()]
    assert (ar["abnormal_return"] - (ar["return"] - ar["benchmark_return"])).abs().max() < 1e-15


def test_the_memo_gives_the_same_result_and_notices_changed_prices(tmp_path):
    cfg = csv_config(tmp_path, 120)
    events = load_events("events.csv")
    first = run_study(events, cfg, offline=True, cache_dir=tmp_path / "c")
    again = run_study(events, cfg, offline=True, cache_dir=tmp_path / "c")
    assert first.reuse["reused"] == 0 and again.reuse["computed"] == 0
    for name in ("ar", "car", "tests", "panel", "aar", "skipped"):
        pd.testing.assert_frame_equal(getattr(first, name), getattr(again, name))
    # move one price inside the pause's event window: that pair is recomputed, others reused
    prices = pd.read_csv(tmp_path / "nikkei.csv")
    prices.loc[prices["date"] == "2025-04-10", "close"] *= 1.01
    prices.to_csv(tmp_path / "nikkei.csv", index=False)
    changed = run_study(events, cfg, offline=True, cache_dir=tmp_path / "c")
    fresh = run_study(events, cfg, offline=True, cache_dir=tmp_path / "c", memoize=False)
    pd.testing.assert_frame_equal(changed.car, fresh.car)
    assert 0 < changed.reuse["computed"] < len(events)
    day0 = changed.car[(changed.car.event_id == "tariff-pause") & (changed.car.window_end == 0)]
    before = first.car[(first.car.event_id == "tariff-pause") & (first.car.window_end == 0)]
    assert day0["car"].iloc[0] == pytest.approx(before["car"].iloc[0] + np.log(1.01))


def test_a_study_past_memo_max_pairs_is_computed_without_the_memo(tmp_path, monkeypatch):
    """Past MEMO_MAX_PAIRS pairs checking the memo costs more than computing (at 500,000
    pairs 51 s to reuse against 24 s to compute): nothing is read or written, the results
    are the memoized run's."""
    from eventstudy import study
    cfg = csv_config(tmp_path, 120)
    events = load_events("events.csv")
    memoized = run_study(events, cfg, offline=True, cache_dir=tmp_path / "a")
    assert (tmp_path / "a" / "memo").is_dir() and memoized.reuse["computed"] > 0
    monkeypatch.setattr(study, "MEMO_MAX_PAIRS", len(memoized.alignment) - 1)
    for _ in range(2):
        res = run_study(events, cfg, offline=True, cache_dir=tmp_path / "b")
        assert res.reuse == {"computed": memoized.reuse["computed"], "reused": 0}
        assert not (tmp_path / "b" / "memo").exists()
        for name in ("ar", "car", "tests", "aar", "skipped"):
            pd.testing.assert_frame_equal(getattr(res, name), getattr(memoized, name))
    again = run_study(events, cfg, offline=True, cache_dir=tmp_path / "a")   # not read either
    assert again.reuse["reused"] == 0


def test_an_unreadable_memo_is_ignored(tmp_path):
    cfg = csv_config(tmp_path, 120)
    events = load_events("events.csv")
    (tmp_path / "c" / "memo").mkdir(parents=True)
    (tmp_path / "c" / "memo" / "pairs-constant_mean.parquet").write_bytes(b"not parquet")
    with pytest.warns(MemoWarning, match="ignoring unreadable study memo"):
        res = run_study(events, cfg, offline=True, cache_dir=tmp_path / "c")
    assert res.reuse["reused"] == 0 and len(res.car) > 0
    again = run_study(events, cfg, offline=True, cache_dir=tmp_path / "c")   # rewritten
    assert again.reuse["computed"] == 0


def test_a_memo_of_the_wrong_shape_is_ignored(tmp_path):
    """A memo written with other windows (other array widths) is not misread."""
    cfg = csv_config(tmp_path, 120)
    events = load_events("events.csv")
    run_study(events, cfg, offline=True, cache_dir=tmp_path / "c")
    import pyarrow as pa
    import pyarrow.parquet as pq
    path = tmp_path / "c" / "memo" / "pairs-constant_mean.parquet"
    table = pq.read_table(path)
    i = table.schema.get_field_index("expected")
    col = table.column(i).combine_chunks()
    width = col.type.list_size
    cut = pa.FixedSizeListArray.from_arrays(
        pa.array(col.flatten().to_numpy(zero_copy_only=False).reshape(-1, width)[:, :-1]
                 .ravel()), width - 1)
    pq.write_table(table.set_column(i, "expected", cut), path)
    with pytest.warns(MemoWarning, match="ignoring unreadable study memo"):
        res = run_study(events, cfg, offline=True, cache_dir=tmp_path / "c")
    fresh = run_study(events, cfg, offline=True, cache_dir=tmp_path / "d", memoize=False)
    assert res.reuse["reused"] == 0
    pd.testing.assert_frame_equal(res.car, fresh.car)


def test_a_crafted_pickle_in_the_cache_folder_is_never_executed(tmp_path):
    """Issue #12 item 8: the old memo was a pickle; a crafted one ran code on `run`."""
    import pickle

    class Boom:
        def __reduce__(self):
            return (open, (str(tmp_path / "pwned"), "w"))
    cache = tmp_path / "c"
    (cache / "memo").mkdir(parents=True)
    payload = pickle.dumps({"code": "x", "entries": Boom()})
    for name in ("study-memo.pkl", "memo/pairs-constant_mean.parquet", "memo/groups.parquet"):
        (cache / name).write_bytes(payload)
    assert not (tmp_path / "pwned").exists()
    pickle.loads(payload)                      # the payload does run when unpickled ...
    assert (tmp_path / "pwned").exists()
    (tmp_path / "pwned").unlink()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MemoWarning)
        run_study(load_events("events.csv"), csv_config(tmp_path, 120), offline=True,
                  cache_dir=cache)
    assert not (tmp_path / "pwned").exists()   # ... and the study never unpickles it


def test_no_pickle_or_eval_in_the_package():
    """Nothing the tool reads may execute code: no pickle, eval or exec anywhere (a group's
    or universe's `where` is a pandas query, parsed by pandas and whitelisted by
    config.check_query, not Python's eval)."""
    import re
    from pathlib import Path
    root = Path(__file__).resolve().parent.parent / "eventstudy"
    bad = re.compile(r"\b(import pickle|pickle\.|cPickle|marshal\.loads|allow_pickle=True|"
                     r"read_pickle)|(?<![.\w])(eval|exec)\(")
    hits = [f"{p.relative_to(root)}:{i}" for p in root.rglob("*.py")
            for i, line in enumerate(p.read_text("utf-8").splitlines(), 1)
            if bad.search(line) and not line.lstrip().startswith("#")]
    assert hits == []


def test_a_memo_that_cannot_be_written_is_a_warning(tmp_path):
    cfg = csv_config(tmp_path, 120)
    cache = tmp_path / "c"
    cache.mkdir()
    (cache / "memo").write_text("a file where the memo folder goes")
    with pytest.warns(MemoWarning, match="could not save the study memo"):
        res = run_study(load_events("events.csv"), cfg, offline=True, cache_dir=cache)
    assert len(res.car) > 0


def test_two_fx_vendors_give_different_day0_for_the_same_announcement(tmp_path):
    res = run_study(load_events("events.csv"), load_config("examples/fx-vendors.toml"),
                    offline=True, cache_dir=tmp_path)
    day0 = res.alignment.set_index(["event_id", "series"])["day0"]
    # 00:01 New York on 2025-03-12: after Yahoo's 00:00 London quote of the 12th (20:00 New
    # York on the 11th) but before FRED's noon rate of the 12th
    assert day0[("steel-aluminum-tariffs-effective", "USDJPY")] == pd.Timestamp("2025-03-13")
    assert day0[("steel-aluminum-tariffs-effective", "USDJPY_FRED")] == pd.Timestamp("2025-03-12")
    # the pause (13:18 New York) comes after FRED's noon rate: both vendors' day 0 is the 10th
    assert day0[("tariff-pause", "USDJPY")] == day0[("tariff-pause", "USDJPY_FRED")] \
        == pd.Timestamp("2025-04-10")
    # FRED has the rates Yahoo lacks after the talks; its noon rate of 04-09 is SOURCES.md's
    fred = res.prices[res.prices.series == "USDJPY_FRED"].set_index("date")["close"]
    assert fred[pd.Timestamp("2025-04-09")] == pytest.approx(145.09)
    gaps = res.gaps[res.gaps.series == "USDJPY_FRED"]
    assert not gaps["date"].isin([pd.Timestamp("2025-04-18"), pd.Timestamp("2025-04-21")]).any()
    assert (res.provenance.set_index("series").loc["USDJPY_FRED", "origin"]) == "sample"


def test_recompute_ignores_the_memo_and_refreshes_it(tmp_path):
    cfg = csv_config(tmp_path, 120)
    events = load_events("events.csv")
    run_study(events, cfg, offline=True, cache_dir=tmp_path / "c")
    forced = run_study(events, cfg, offline=True, cache_dir=tmp_path / "c", recompute=True)
    assert forced.reuse["reused"] == 0 and forced.reuse["computed"] == len(events)
    after = run_study(events, cfg, offline=True, cache_dir=tmp_path / "c")
    assert after.reuse["computed"] == 0
