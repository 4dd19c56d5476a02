"""Price checks (data/checks.py): every problem becomes a row saying what was done; nothing
raises; real crashes survive. Real closes below are copied from the shared universe
(../shared/data/universe/prices, Yahoo via yfinance, adjusted)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from eventstudy.data.checks import (PROBLEM_COLUMNS, SPLIT_TOLERANCE, check_closes, check_long,
                                    check_series)


def walk(n: int = 60, seed: int = 0, start: float = 100.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return start * np.exp(np.cumsum(rng.normal(0, 0.01, n)))


DATES = pd.bdate_range("2025-01-01", periods=60)


def matrix(**columns) -> pd.DataFrame:
    return pd.DataFrame(columns, index=DATES)


def real(text: str) -> pd.DataFrame:
    """'date,close date,close ...' as a one-column frame."""
    pairs = [p.split(",") for p in text.split()]
    return pd.DataFrame({"close": [float(c) for _, c in pairs]},
                        index=pd.DatetimeIndex([d for d, _ in pairs]))


FISV = real("2025-10-21,126.07 2025-10-22,125.25 2025-10-23,123.96 2025-10-24,125.17 "
            "2025-10-27,126.54 2025-10-28,126.17 2025-10-29,70.6 2025-10-30,65.19 "
            "2025-10-31,66.69 2025-11-03,65.14 2025-11-04,64.45 2025-11-05,64.0 "
            "2025-11-06,61.63")                    # Fiserv's earnings day: -44.0 %
GL = real("2024-04-03,108.5 2024-04-04,107.96 2024-04-05,106.33 2024-04-08,105.74 "
          "2024-04-09,105.51 2024-04-10,102.88 2024-04-11,48.21 2024-04-12,57.94 "
          "2024-04-15,54.72 2024-04-16,58.8 2024-04-17,62.0 2024-04-18,63.73 "
          "2024-04-19,65.44")                        # Globe Life, a short-seller report: -53.1 %
SHIMAMURA = real("2026-02-09,10718.02 2026-02-10,10871.55 2026-02-12,10975.57 "
                 "2026-02-13,10945.85 2026-02-16,10926.04 2026-02-17,10935.94 "
                 "2026-02-18,3678.33 2026-02-19,3628.0 2026-02-20,3537.0 2026-02-24,3531.0 "
                 "2026-02-25,3581.0 2026-02-26,3560.0 2026-02-27,3596.0")   # 8227.T: a 3:1 split


def test_clean_data_passes_untouched():
    closes = matrix(A=walk(seed=1), B=walk(seed=2))
    out = check_closes(closes)
    assert list(out.problems.columns) == PROBLEM_COLUMNS and out.problems.empty
    expected = closes.set_axis(closes.index.astype("datetime64[ns]"), axis=0)
    pd.testing.assert_frame_equal(out.closes, expected.rename_axis("date").rename_axis(
        "security", axis=1), check_freq=False)
    assert out.closes.index.dtype == "datetime64[ns]"


def test_planted_split_is_flagged_not_dropped():
    a = walk(seed=3)
    a[30:] /= 2                                      # an unadjusted 2:1 split on day 30
    out = check_closes(matrix(A=a, B=walk(seed=4)))
    p = out.problems
    assert len(p) == 1
    row = p.iloc[0]
    assert (row.security, row.date, row.kind, row.action) == ("A", DATES[30], "split-like jump",
                                                              "flag day")
    ratio = a[30] / a[29]
    assert abs(np.log(ratio) + np.log(2)) < SPLIT_TOLERANCE
    assert f"close ratio {ratio:.4f} (about 1/2" in row.reason
    np.testing.assert_array_equal(out.closes["A"].to_numpy(), a)   # flagged, every bar kept


@pytest.mark.parametrize("k", [3, 4, 5, 10])
def test_reverse_splits_and_larger_ratios(k):
    a = walk(seed=5)
    a[20:] *= k                                      # a reverse split k:1
    p = check_closes(matrix(A=a)).problems
    assert list(p["action"]) == ["flag day"] and p["date"].iloc[0] == DATES[20]
    assert f"(about {k}:" in p["reason"].iloc[0]


def test_real_split_shimamura_flagged():
    p = check_closes(SHIMAMURA.rename(columns={"close": "8227.T"})).problems
    assert list(p["action"]) == ["flag day"]
    assert p["date"].iloc[0] == pd.Timestamp("2026-02-18")
    assert "close ratio 0.3364 (about 1/3: 10935.9 to 3678.33)" in p["reason"].iloc[0]


@pytest.mark.parametrize("frame,day,drop", [(FISV, "2025-10-29", -0.440), (GL, "2024-04-11",
                                                                               -0.531)])
def test_real_crashes_survive(frame, day, drop):
    out = check_closes(frame)
    assert out.problems.empty
    s = out.closes["close"]
    i = s.index.get_loc(pd.Timestamp(day))
    assert s.iloc[i] / s.iloc[i - 1] - 1 == pytest.approx(drop, abs=5e-4)


def test_a_planted_exact_half_within_tolerance_of_a_crash_boundary():
    # 0.5 * 1.031 is just outside the tolerance (log 1.031 = 0.0305): kept as a real move
    a = np.array([100.0, 100.0 * 1.01, 100.0 * 1.01 * 0.5 * 1.031, 52.0, 53.0, 52.5])
    closes = pd.DataFrame({"A": a}, index=DATES[:6])
    assert check_closes(closes).problems.empty
    a[2] = 100.0 * 1.01 * 0.5 * 1.029                 # just inside: flagged
    assert list(check_closes(closes.assign(A=a)).problems["action"]) == ["flag day"]


def test_negative_zero_and_infinite_prices_are_dropped_and_reported():
    a = walk(seed=6)
    a[10], a[11], a[40] = -5.0, 0.0, np.inf
    out = check_closes(matrix(A=a))
    p = out.problems
    assert list(p["date"]) == [DATES[10], DATES[11], DATES[40]]
    assert list(p["action"]) == ["drop bar"] * 3
    assert list(p["kind"]) == ["non-positive price", "non-positive price", "non-finite price"]
    assert p["reason"].iloc[0] == "close -5 is not a positive price"
    got = out.closes["A"].to_numpy()
    assert np.isnan(got[[10, 11, 40]]).all()
    keep = np.ones(60, bool)
    keep[[10, 11, 40]] = False
    np.testing.assert_array_equal(got[keep], a[keep])


def test_constant_and_empty_series_are_skipped():
    out = check_closes(matrix(A=np.full(60, 7.0), B=walk(seed=7), C=np.full(60, np.nan)))
    p = out.problems.set_index("security")
    assert list(out.closes.columns) == ["B"]
    assert p.loc["A", "action"] == "skip security" and p.loc["A", "kind"] == "constant"
    assert p.loc["A", "reason"].startswith("all 60 closes are 7: constant returns")
    assert p.loc["C", "reason"] == "no prices" and pd.isna(p.loc["C", "date"])


def test_impossible_jump_skips_the_security():
    a = walk(seed=8)
    a[:25] *= 1e6                                    # a broken adjustment, like 8303.T
    out = check_closes(matrix(A=a, B=walk(seed=9)))
    p = out.problems
    assert list(p["security"]) == ["A"] and p["action"].iloc[0] == "skip security"
    assert p["kind"].iloc[0] == "impossible jump"
    assert f"on {DATES[25]:%Y-%m-%d}: not a price series" in p["reason"].iloc[0]
    assert list(out.closes.columns) == ["B"]


def test_a_reversed_bad_print_is_dropped_not_flagged():
    a = walk(seed=10)
    bad = a.copy()
    bad[33] *= 10                                    # one print ten times too high
    out = check_closes(matrix(A=bad))
    p = out.problems
    assert list(p["action"]) == ["drop bar"] and p["date"].iloc[0] == DATES[33]
    assert p["kind"].iloc[0] == "bad print"
    assert np.isnan(out.closes["A"].iloc[33])


def test_duplicate_dates_long():
    long = pd.DataFrame({
        "security": ["A", "A", "A", "B", "B", "B", "C", "C"],
        "date": pd.to_datetime(["2025-01-02", "2025-01-03", "2025-01-03", "2025-01-02",
                                "2025-01-03", "2025-01-03", "2025-01-03", "2025-01-02"]),
        "close": [10.0, 11.0, 11.0, 20.0, 21.0, 22.0, 31.0, 30.0]})
    out = check_long(long)
    p = out.problems.set_index("security")
    # A: the same close twice -> one kept; B: two different closes -> skipped; C: sorted
    assert p.loc["A", "action"] == "drop bar"
    assert p.loc["A", "reason"] == "appears 2 times with the same close: one kept"
    assert p.loc["B", "action"] == "skip security"
    assert p.loc["B", "reason"].startswith("2025-01-03 appears 2 times with different closes "
                                           "(21 to 22)")
    assert p.loc["C", "action"] == "note" and p.loc["C", "kind"] == "unsorted dates"
    assert list(out.closes.columns) == ["A", "C"]
    assert out.closes.loc["2025-01-03", "A"] == 11.0
    assert list(out.closes["C"]) == [30.0, 31.0]
    assert out.closes.index.is_monotonic_increasing and out.closes.index.is_unique


def test_a_wide_matrix_with_a_repeated_row_goes_the_long_way():
    index = pd.DatetimeIndex(["2025-01-03", "2025-01-02", "2025-01-03", "2025-01-06"])
    closes = pd.DataFrame({"A": [11.0, 10.0, 11.5, 12.0], "B": [21.0, 20.0, np.nan, 22.0],
                           "E": np.nan}, index=index)
    out = check_closes(closes)
    p = out.problems
    assert set(p.loc[p["kind"] == "unsorted dates", "security"]) == {"A", "B"}
    p = p[p["kind"] != "unsorted dates"].set_index("security")
    assert p.loc["A", "action"] == "skip security"          # 11 or 11.5?
    assert "B" not in p.index                                # a blank repeat is no conflict
    assert p.loc["E", "reason"] == "no prices"
    assert list(out.closes.columns) == ["B"]
    assert list(out.closes["B"]) == [20.0, 21.0, 22.0]


def test_missing_price_and_bad_date_rows_in_long_input():
    long = pd.DataFrame({"security": ["A"] * 4,
                         "date": pd.to_datetime(["2025-01-02", None, "2025-01-06", "2025-01-07"]),
                         "close": [10.0, 11.0, np.nan, 12.0]})
    out = check_long(long)
    assert list(out.problems["kind"]) == ["bad date", "missing price"]
    assert list(out.problems["action"]) == ["drop bar", "drop bar"]
    assert list(out.closes["A"]) == [10.0, 12.0]


def test_wide_and_long_paths_agree_and_check_series():
    a, b = walk(seed=11), walk(seed=12)
    a[5] = -1.0
    b[40:] *= 3
    wide = matrix(A=a, B=b)
    long = wide.rename_axis("date").reset_index().melt(id_vars="date", var_name="security",
                                                       value_name="close")
    x, y = check_closes(wide), check_long(long.sample(frac=1.0, random_state=0))
    pd.testing.assert_frame_equal(x.closes, y.closes, check_freq=False)
    key = ["security", "date", "kind", "action", "reason"]
    pd.testing.assert_frame_equal(x.problems[key],
                                  y.problems[y.problems["kind"] != "unsorted dates"][key]
                                  .reset_index(drop=True))
    clean, problems = check_series(pd.DataFrame({"date": DATES, "close": a}), "A")
    assert list(clean.columns) == ["date", "close"] and len(clean) == 59
    assert list(problems["kind"]) == ["non-positive price"]


def test_aware_dates_keep_their_local_day():
    idx = pd.DatetimeIndex(["2025-04-03 00:00", "2025-04-04 00:00"]).tz_localize("Asia/Tokyo")
    out = check_closes(pd.DataFrame({"A": [1.0, 1.1]}, index=idx))
    assert list(out.closes.index) == [pd.Timestamp("2025-04-03"), pd.Timestamp("2025-04-04")]


# -- properties -----------------------------------------------------------------------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@st.composite
def damaged(draw):
    """A few random walks with planted damage: a split, a bad bar, a gap, a repeated date."""
    n_sec = draw(st.integers(1, 4))
    seed = draw(st.integers(0, 10_000))
    values = np.column_stack([walk(40, seed + i) for i in range(n_sec)])
    for c in range(n_sec):
        kind = draw(st.sampled_from(["none", "split", "negative", "gap"]))
        at = draw(st.integers(1, 38))
        if kind == "split":
            values[at:, c] /= draw(st.sampled_from([2, 3, 5, 10]))
        elif kind == "negative":
            values[at, c] = -1.0
        elif kind == "gap":
            values[at, c] = np.nan
    frame = pd.DataFrame(values, index=DATES[:40], columns=[f"S{i}" for i in range(n_sec)])
    long = frame.rename_axis("date").reset_index().melt(id_vars="date", var_name="security",
                                                        value_name="close")
    return long[long["close"].notna()].reset_index(drop=True)


KEY = ["security", "date", "kind", "action"]


@settings(max_examples=40, deadline=None)
@given(damaged(), st.integers(0, 1000), st.sampled_from([0.01, 7.0, 1e4]))
def test_row_order_and_price_scale_change_nothing(long, seed, scale):
    base = check_long(long)
    shuffled = check_long(long.sample(frac=1.0, random_state=seed))
    scaled = check_long(long.assign(close=long["close"] * scale))
    pd.testing.assert_frame_equal(base.closes, shuffled.closes)
    no_note = shuffled.problems[shuffled.problems["kind"] != "unsorted dates"]
    pd.testing.assert_frame_equal(base.problems[KEY], no_note[KEY].reset_index(drop=True))
    pd.testing.assert_frame_equal(base.problems[KEY], scaled.problems[KEY])
    np.testing.assert_allclose(scaled.closes.to_numpy(), base.closes.to_numpy() * scale,
                               rtol=1e-12)
