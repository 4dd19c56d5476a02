"""Firm-specific events through the fused kernel reading the panel in place (engine.Slab,
engine.study_slab) against the numpy path and against the kernel on gathered (pairs x days)
blocks: a gapped universe with a late listing, a delisting, a constant price and a flagged
split-like day, several models."""
import numpy as np
import pandas as pd
import pytest

from eventstudy import engine, load_config, load_events, run_study
from eventstudy.calendars import session_closes
from eventstudy.config import SeriesConfig
from tests.synthetic import gapped_market

pytest.importorskip("numba")

MODELS = ["market_model", "constant_mean", "market_adjusted", "dimson"]
FRAMES = ["alignment", "car", "tests", "skipped", "ar", "panel"]


def _case(folder, n_sec=24, per_sec=6, seed=4):
    rng = np.random.default_rng(seed)
    dates, market, prices = gapped_market(rng, "2021-01-04", "2024-12-31", n_sec, late=420,
                                          delisted=150)
    S = len(dates)
    bench = 3000 * np.exp(np.cumsum(market))
    pd.DataFrame({"date": dates.strftime("%Y-%m-%d"), "close": bench}).to_csv(
        folder / "bench.csv", index=False)
    prices[600:, 4] *= 0.5                                  # a split-like day: flagged
    names = [f"F{i:02d}" for i in range(n_sec)]
    wide = pd.DataFrame(prices, columns=names)
    wide.insert(0, "date", pd.DatetimeIndex(dates))
    wide.to_parquet(folder / "prices.parquet", index=False)
    day = rng.integers(300, S - 2, (n_sec, per_sec))
    day[1, :3] = [430, 500, 700]                            # around the late listing
    day[2, :2] = [S - 100, S - 10]                          # after the delisting
    day[4, :2] = [610, 700]                                 # around the flagged day
    day[5, 0] = S - 1                                       # windows past the data
    sec = np.repeat(names, per_sec)
    when = [f"{d:%Y-%m-%d} {t}" for d, t in zip(dates[day.ravel()], rng.choice(
        ["10:00 America/New_York", "17:30 America/New_York", "08:00 Asia/Tokyo"],
        day.size))]
    pd.DataFrame({"event_id": [f"e{i:04d}" for i in range(day.size)], "security": sec,
                  "announced_at": when, "category": "earnings"}).to_csv(
        folder / "firm.csv", index=False)
    pd.DataFrame({"event_id": ["global0"], "announced_at": ["2024-06-03 10:00 America/New_York"],
                  "time_precision": "minute", "title": "unused", "category": "none",
                  "tags": "", "source": "https://example.org"}).to_csv(folder / "events.csv",
                                                                      index=False)
    (folder / "study.toml").write_text(
        f'[study]\nseries = ["BENCH"]\nuniverses = []\nmodels = {MODELS!r}\n'.replace("'", '"')
        + 'estimation_window = [-250, -11]\nevent_windows = [[0, 0], [-1, 1], [0, 5]]\n'
        'plot_window = [-3, 8]\nmin_estimation = 100\ndimson_lags = 1\n\n'
        '[series.BENCH]\nsource = "csv"\npath = "bench.csv"\ncalendar = "XNYS"\n\n'
        '[universe.firms]\nprices = "prices.parquet"\nlayout = "wide"\ncalendar = "XNYS"\n'
        'benchmark = "BENCH"\n\n[events.firm]\npath = "firm.csv"\n')
    return load_events(folder / "events.csv"), load_config(folder / "study.toml")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("firm")
    events, config = _case(folder)
    mp = pytest.MonkeyPatch()
    out = {}
    calls = []
    real = engine.study_slab
    mp.setattr(engine, "study_slab", lambda *a: calls.append(1) or real(*a))
    for name, mode, memo in (("numpy", "off", False), ("direct", "on", False),
                             ("gathered", "on", True)):
        mp.setenv("EVENTSTUDY_FASTPATH", mode)
        before = len(calls)
        r = run_study(events, config, offline=True, cache_dir=folder / f"cache-{name}",
                      memoize=memo)
        out[name] = ({f: getattr(r, f) for f in FRAMES}, len(calls) - before)
    mp.undo()
    return out


def test_the_slab_path_is_taken_only_without_a_memo(runs):
    assert runs["direct"][1] > 0
    assert runs["numpy"][1] == 0 and runs["gathered"][1] == 0


def test_the_case_covers_what_it_should(runs):
    frames = runs["numpy"][0]
    reasons = frames["skipped"]["reason"]
    assert reasons.str.contains("delisted or suspended").any()
    assert reasons.str.contains("data start").any() or reasons.str.startswith("before").any()
    assert reasons.str.contains("constant returns").any()
    assert reasons.str.startswith("data check:").any()
    car = frames["car"]
    assert car["note"].eq("waiting for data").any()
    assert car["note"].str.contains("missing bar").any()
    assert len(car) > 1000


@pytest.mark.parametrize("frame", FRAMES)
def test_the_slab_path_equals_the_kernel_on_gathered_blocks_bitwise(runs, frame):
    pd.testing.assert_frame_equal(runs["direct"][0][frame], runs["gathered"][0][frame],
                                  check_exact=True)


@pytest.mark.parametrize("frame", FRAMES)
def test_the_slab_path_equals_the_numpy_path(runs, frame):
    """1e-12 relative above 1 (summation order and a closed-form 2x2 inverse: see
    eventstudy.fastpath); every text, count, date and NaN the same."""
    fast, slow = runs["direct"][0][frame], runs["numpy"][0][frame]
    assert list(fast.columns) == list(slow.columns) and len(fast) == len(slow)
    for col in fast.columns:
        a, b = fast[col], slow[col]
        if pd.api.types.is_float_dtype(b):
            a, b = a.to_numpy(float), b.to_numpy(float)
            assert np.array_equal(np.isnan(a), np.isnan(b)), col
            ok = ~np.isnan(b)
            err = np.abs(a[ok] - b[ok]) / np.maximum(1.0, np.abs(b[ok]))
            assert err.max(initial=0.0) <= 1e-12, (col, err.max())
        else:
            pd.testing.assert_series_equal(a, b, check_exact=True)


def test_panel_returns_and_benchmark_intervals_match_a_bar_by_bar_reference():
    """Returns, spans and benchmark intervals by row differences (panel._assemble,
    interval_returns, Panel.bench_interval_at) against each security's bars one by one."""
    from eventstudy.panel import (asof_prices, bench_closes, bench_intervals, build_panel_wide,
                                  interval_returns)
    rng = np.random.default_rng(8)
    closes = session_closes(SeriesConfig(id="x", name="x", source="csv", calendar="XNYS"))
    dates = closes.loc["2023-01-03":"2024-06-28"].index
    S, N = len(dates), 12
    prices = 40 * np.exp(np.cumsum(rng.normal(0, 0.02, (S, N)), axis=0))
    prices[rng.random((S, N)) < 0.1] = np.nan
    prices[:50, 1] = np.nan
    prices[-30:, 2] = np.nan
    panel, _ = build_panel_wide(("universe", "u"), closes,
                                pd.DataFrame(prices, index=pd.DatetimeIndex(dates)), "log")
    bench_rows = np.flatnonzero(rng.random(S) > 0.05)             # a benchmark with gaps
    bench_ns = pd.DatetimeIndex(closes.loc[dates].array).as_unit("ns").asi8[bench_rows]
    bench = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, len(bench_rows))))
    asof = asof_prices(panel, bench_ns, bench)
    rm = interval_returns(panel, asof, np.arange(N), "log")
    every = bench_intervals(panel, bench_ns, np.arange(N))
    panel.bench_close = bench_closes(panel, bench_ns)[None, :]
    panel.bench_of = np.zeros(N, np.int64)
    for c in range(N):
        rows = np.flatnonzero(panel.valid[:, c])
        for a, b in zip(rows[:-1], rows[1:]):
            assert panel.ret[b, c] == np.log(panel.close[b, c] / panel.close[a, c])
            assert panel.span[b, c] == b - a
            assert rm[b, c] == np.log(asof[b] / asof[a]) or np.isnan(asof[a])
        first = rows[0]
        assert np.isnan(panel.ret[first, c]) and np.isnan(panel.span[first, c])
        assert np.isnan(rm[first, c])
        off = np.setdiff1d(np.arange(S), rows)
        assert np.isnan(panel.ret[off, c]).all() and np.isnan(rm[off, c]).all()
    r = np.arange(S)[:, None].repeat(N, axis=1)
    c = np.arange(N)[None, :].repeat(S, axis=0)
    start, end = panel.bench_interval_at(r, c)
    assert np.array_equal(start, every[0]) and np.array_equal(end, every[1])
