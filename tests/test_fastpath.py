"""The fast path (numba kernel, eventstudy.fastpath) against the numpy path it must equal.

The two are not bitwise equal: the kernel sums each pair's rows in order and inverts a 2x2 X'X
in closed form, numpy sums pairwise/through BLAS and calls LAPACK's inv and solve; each is a
last-bit difference, so we hold them to 1e-12 (relative above 1)."""
import dataclasses
import sys

import numpy as np
import pandas as pd
import pytest

from eventstudy import engine, fastpath
from eventstudy.calendars import session_closes
from eventstudy.config import SeriesConfig, load_config
from eventstudy.panel import asof_prices, build_panel_wide, interval_returns, shift_bars
from tests.synthetic import gapped_market

numba = pytest.importorskip("numba")


def _block(seed=3, n_sec=60, n_events=4, constant=True):
    """A gapped synthetic panel (random missing bars, a late listing, a delisting, a constant
    price) with a benchmark, gathered around a few event days for every security."""
    rng = np.random.default_rng(seed)
    closes = session_closes(SeriesConfig(id="x", name="x", source="csv", calendar="XNYS"))
    dates, market, prices = gapped_market(rng, "2022-01-03", "2024-12-31", n_sec,
                                          beta=(0.3, 1.6), constant=constant)
    wide = pd.DataFrame(prices, index=pd.DatetimeIndex(dates), columns=[f"S{i}" for i in
                                                                          range(n_sec)])
    panel, _ = build_panel_wide(("universe", "u"), closes, wide, "log")
    bench = 3000 * np.exp(np.cumsum(market))
    bench_ns = pd.DatetimeIndex(closes.loc[dates].array).as_unit("ns").asi8
    cols = np.arange(n_sec)
    rm = interval_returns(panel, asof_prices(panel, bench_ns, bench), cols, "log")
    panel.regressors["rm"] = rm
    panel.has["rm"] = np.ones(n_sec, bool)
    for k in (1, 2):
        panel.regressors[f"rm_lag{k}"] = shift_bars(rm, panel.valid, k)
        panel.regressors[f"rm_lead{k}"] = shift_bars(rm, panel.valid, -k)
        panel.has[f"rm_lag{k}"] = panel.has[f"rm_lead{k}"] = panel.has["rm"]
    day = rng.integers(300, panel.close.shape[0] - 3, n_events)
    d0 = np.tile(panel.offset + day, n_sec)
    sec = np.repeat(cols, n_events)
    excluded = np.zeros(panel.close.shape, bool)
    excluded[day[0] - 40:day[0] - 30] = True                 # some rows kept out
    return panel, sec, d0, excluded


def _config(**kw):
    base = load_config(None)
    return dataclasses.replace(base, estimation_window=(-250, -11),
                               event_windows=((0, 0), (-1, 1), (0, 5), (-3, 10)),
                               plot_window=(-10, 10), dimson_lags=2, factors=(), **kw)


def _study(model, config, fast, monkeypatch, panel, sec, d0, excluded):
    monkeypatch.setenv("EVENTSTUDY_FASTPATH", "on" if fast else "off")
    lo, hi = engine.pair_span(config)
    block = engine.gather(panel, sec, d0, np.arange(lo, hi + 1), excluded)
    block.benchmark_field = np.full(len(d0), "universe.u.benchmark", dtype=object)
    return engine.study_block(model, block, config)


def _close(a, b, name):
    a, b = np.asarray(a, float), np.asarray(b, float)
    assert np.array_equal(np.isnan(a), np.isnan(b)), f"{name}: NaN patterns differ"
    ok = ~np.isnan(a)
    err = np.abs(a[ok] - b[ok]) / np.maximum(1.0, np.abs(b[ok]))
    assert err.max(initial=0.0) <= 1e-12, f"{name}: {err.max()}"


@pytest.mark.parametrize("model", ["market_model", "constant_mean", "market_adjusted",
                                   "dimson"])
@pytest.mark.parametrize("returns", ["log", "simple"])
def test_the_fast_path_equals_the_numpy_path_on_a_gapped_panel(model, returns, monkeypatch):
    data = _block()
    config = _config(returns=returns)
    slow = _study(model, config, False, monkeypatch, *data)
    fast = _study(model, config, True, monkeypatch, *data)
    assert list(fast.reason) == list(slow.reason)
    studied = slow.reason == ""
    assert studied.sum() > 150 and (~studied).sum() >= 4     # both kinds are exercised
    if model != "market_adjusted":          # there a constant price still moves (y = -rm)
        assert any("constant returns" in r for r in slow.reason)
    assert np.isnan(slow.car[studied]).any()                 # a CAR undefined by the data
    for name in engine.PairArrays.SCALARS + engine.PairArrays.ARRAYS:
        _close(getattr(fast, name), getattr(slow, name), name)


def test_the_kernel_is_used_and_reports_what_it_leaves(monkeypatch):
    """Short estimation windows are left to the numpy path (which words the reason)."""
    panel, sec, d0, excluded = _block(n_sec=8, n_events=2, constant=False)
    config = _config(returns="log")
    calls = []
    real = fastpath.fused
    monkeypatch.setattr(fastpath, "fused", lambda *a, **k: calls.append(1) or real(*a, **k))
    d0 = d0.copy()
    d0[0] = panel.offset + 60            # day 0 early: an estimation window of ~50 days
    config = dataclasses.replace(config, min_estimation=3)
    slow = _study("market_model", config, False, monkeypatch, panel, sec, d0, excluded)
    fast = _study("market_model", config, True, monkeypatch, panel, sec, d0, excluded)
    assert calls
    assert list(fast.reason) == list(slow.reason)
    _close(fast.car, slow.car, "car")


def test_without_numba_every_block_takes_the_numpy_path(monkeypatch):
    data = _block(n_sec=10, n_events=2)
    config = _config(returns="log")
    reference = _study("market_model", config, False, monkeypatch, *data)
    monkeypatch.setitem(sys.modules, "numba", None)          # `import numba` now fails
    monkeypatch.setattr(fastpath, "_STATE", {})
    assert not fastpath.available()
    assert not fastpath.use_fast(10 ** 7, "market_model")
    out = _study("market_model", config, True, monkeypatch, *data)
    for name in engine.PairArrays.SCALARS + engine.PairArrays.ARRAYS:
        a, b = getattr(out, name), getattr(reference, name)
        assert np.array_equal(a, b, equal_nan=True), name       # the same code: bitwise


def test_the_switch(monkeypatch):
    monkeypatch.setattr(fastpath, "_STATE", {})
    monkeypatch.setenv("EVENTSTUDY_FASTPATH", "auto")
    assert not fastpath.use_fast(500, "market_model")         # small: numba is not imported
    assert "kernels" not in fastpath._STATE
    assert fastpath.use_fast(fastpath.FAST_MIN_PAIRS, "market_model")
    assert not fastpath.use_fast(500, "market_model")         # loaded or not: the same rule
    assert not fastpath.use_fast(10 ** 6, "garch")
    monkeypatch.setenv("EVENTSTUDY_FASTPATH", "off")
    assert not fastpath.use_fast(10 ** 6, "market_model")
    monkeypatch.setenv("EVENTSTUDY_FASTPATH", "on")
    assert fastpath.use_fast(1, "market_model")


def test_the_kernels_pair_bootstrap_is_the_numpy_one_on_the_same_numbers(monkeypatch):
    """Given the kernel's own residuals and CARs, its bootstrap p-values and counts are
    bitwise those of inference.pair_bootstrap_matrix (same cumulative sums, same threshold)."""
    from eventstudy import inference
    data = _block()
    config = _config(returns="log")
    fast = _study("market_model", config, True, monkeypatch, *data)
    ok = fast.reason == ""
    lo, _ = engine.pair_span(config)
    e0, e1 = config.estimation_window
    est = fast.resid[ok][:, e0 - lo:e1 - lo + 1]
    p, m = inference.pair_bootstrap_matrix(est, fast.car[ok], fast.n_days[ok])
    assert np.array_equal(p, fast.boot_p[ok], equal_nan=True)
    assert np.array_equal(m, fast.boot_m[ok])
    assert np.isfinite(p).sum() > 100


def test_the_group_tests_are_the_same_with_the_kernels_loaded(monkeypatch):
    """The group bootstrap with numba loaded (same draws; sums per resample instead of a
    count-matrix product, so |t| may differ in the last bit, never a count here) gives the
    same group test rows as the numpy helper, on a gapped group with tied CARs."""
    from eventstudy import inference
    rng = np.random.default_rng(5)
    D, P = 80, 120
    ar = rng.standard_t(4, (D, P)) * 0.01
    ar[rng.random((D, P)) < 0.05] = np.nan
    ar[:, :10] = np.round(ar[:, :10], 3)                  # ties in the ranks
    days = np.arange(-69, 11)
    is_est = (days < -10)[:, None] & np.isfinite(ar)
    is_evt = (days >= -1)[:, None] & (days <= 5)[:, None] & np.isfinite(ar)
    date = (np.arange(D)[:, None] + rng.integers(0, 3, P)[None, :]) + 19000
    keys = [(f"e{i // 40}", f"s{i:03d}") for i in range(P)]
    gm = inference.GroupMatrix.from_arrays(keys, days, ar, np.full((D, P), 1e-4), is_est,
                                           is_evt, date, np.full(P, 50.0))
    car = np.round(rng.normal(0, 0.02, P), 3)            # tied CARs
    car[[3, 70]] = np.nan
    wins = [inference.WindowCars(0, 5, car, np.full(P, 4e-4), np.full(P, 50.0),
                                 np.full(P, 6.0))] + \
        [inference.WindowCars.from_day(gm, d) for d in (-1, 0, 1)]
    monkeypatch.setenv("EVENTSTUDY_FASTPATH", "off")
    slow = inference.group_tests_matrix(gm, wins, n_boot=500, seed=3)
    monkeypatch.setenv("EVENTSTUDY_FASTPATH", "on")
    assert fastpath.kernels_if_loaded() is not None
    fast = inference.group_tests_matrix(gm, wins, n_boot=500, seed=3)
    import pandas as pd
    pd.testing.assert_frame_equal(fast, slow, check_exact=True)

