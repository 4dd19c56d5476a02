"""Issue #9, the million firm events, memory first: what the study no longer stores or copies
must give the very same numbers. A panel's span and a lone benchmark's rm are derived when
read (`Panel.span_columns`, `panel.interval_columns`), not stored; the CAR rows are written
straight to whole columns in the car frame's order (`engine._car_columns`)."""
import numpy as np
import pandas as pd
import pytest

from eventstudy import engine, run_study
from eventstudy import panel as panel_mod
from eventstudy import study as study_mod
from eventstudy.calendars import session_closes
from eventstudy.config import SeriesConfig
from eventstudy.panel import (DerivedColumns, asof_prices, build_panel_wide, interval_columns,
                              interval_returns)


def _panel(seed=8, N=12):
    """A gapped panel: random missing bars, a late listing, a delisting, a column of one bar
    and one with no bar at all."""
    rng = np.random.default_rng(seed)
    closes = session_closes(SeriesConfig(id="x", name="x", source="csv", calendar="XNYS"))
    dates = closes.loc["2023-01-03":"2024-06-28"].index
    S = len(dates)
    prices = 40 * np.exp(np.cumsum(rng.normal(0, 0.02, (S, N)), axis=0))
    prices[rng.random((S, N)) < 0.15] = np.nan
    prices[:50, 1] = np.nan
    prices[-30:, 2] = np.nan
    prices[:, 3] = np.nan
    prices[7, 3] = 41.0
    prices[:, 4] = np.nan
    panel, _ = build_panel_wide(("universe", "u"), closes,
                                pd.DataFrame(prices, index=pd.DatetimeIndex(dates)), "log")
    bench_rows = np.flatnonzero(rng.random(S) > 0.05)             # a benchmark with gaps
    bench_ns = pd.DatetimeIndex(closes.loc[dates].array).as_unit("ns").asi8[bench_rows]
    bench = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, len(bench_rows))))
    bench[3] = np.nan
    return panel, asof_prices(panel, bench_ns, bench), rng


def _stored_span(p):
    """The span as `_assemble` stored it before: NaN, 1 after a bar, rows since the previous
    bar after a gap."""
    S, N = p.valid.shape
    va = p.valid
    sp = np.full((S, N), np.nan)
    sp[1:][va[1:] & va[:-1]] = 1.0
    rr, cc = np.nonzero(va[1:] & ~va[:-1])
    rr += 1
    pr = p.prev[rr, cc]
    after = pr >= 0
    sp[rr[after], cc[after]] = (rr - pr)[after]
    return sp


def test_span_is_what_was_stored_by_columns_cells_and_whole():
    p, _, rng = _panel()
    S, N = p.valid.shape
    ref = _stored_span(p)
    assert np.isfinite(ref).any() and (ref > 1).any()          # gaps spanned
    whole = p.span
    assert np.array_equal(whole, ref, equal_nan=True) and whole.flags.f_contiguous
    lazy = p.span_columns
    assert isinstance(lazy, DerivedColumns) and lazy.shape == (S, N)
    for cols in (slice(None), slice(2, 7), np.array([5, 0, 5, 11]), np.array([3]),
                 np.array([], dtype=np.int64)):
        got = lazy[:, cols]
        assert np.array_equal(got, ref[:, cols], equal_nan=True)
        assert got.flags.f_contiguous                           # security-major
    rows = rng.integers(0, S, (40, 7))
    cols = rng.integers(0, N, (40, 7))
    assert np.array_equal(lazy[rows, cols], ref[rows, cols], equal_nan=True)
    assert np.array_equal(lazy[rows[:, 0], 6], ref[rows[:, 0], 6], equal_nan=True)
    assert np.array_equal(np.asarray(lazy), ref, equal_nan=True)


@pytest.mark.parametrize("kind", ["log", "simple"])
def test_interval_columns_equal_interval_returns_bitwise(kind):
    p, asof, rng = _panel(seed=3)
    S, N = p.valid.shape
    ref = interval_returns(p, asof, np.arange(N), kind)
    lazy = interval_columns(p, asof, kind)
    assert np.array_equal(np.asarray(lazy), ref, equal_nan=True)
    for cols in (slice(None), slice(1, 4), np.array([9, 2, 2]), np.array([4])):
        assert np.array_equal(lazy[:, cols], ref[:, cols], equal_nan=True)
    # cells, including row 0, the rows right after a gap and after a missing as-of price
    after_gap = np.argwhere(p.valid[1:] & ~p.valid[:-1]) + [1, 0]
    assert len(after_gap) > 10
    rows = np.r_[rng.integers(0, S, 300), after_gap[:, 0], 0, 4, 5]
    cols = np.r_[rng.integers(0, N, 300), after_gap[:, 1], 0, 0, 0]
    got = lazy[rows, cols]
    assert np.array_equal(got, ref[rows, cols], equal_nan=True)
    assert np.isfinite(got).sum() > 100
    assert np.array_equal(lazy[rows.reshape(-1, 1), cols.reshape(-1, 1)],
                          ref[rows, cols].reshape(-1, 1), equal_nan=True)


def test_slab_and_gather_read_derived_columns_as_stored_arrays():
    p, asof, rng = _panel(seed=5)
    S, N = p.valid.shape
    eager = interval_returns(p, asof, np.arange(N), "log")
    cols = np.repeat(np.array([0, 1, 2, 5, 6, 9]), 3)
    d0 = p.offset + rng.integers(60, S - 10, len(cols))
    excluded = np.zeros((S, N), bool, order="F")
    blocks = []
    for rm in (interval_columns(p, asof, "log"), eager):
        p.regressors["rm"] = rm
        sl = engine.slab(p, cols, d0, np.arange(-50, 6), excluded, ["rm"])
        few = engine.gather(p, cols, d0, np.arange(-1, 6), excluded)     # read in place
        many = engine.gather(p, cols, d0, np.arange(-50, 6), excluded)   # copied out
        blocks.append((sl, few, many))
    (sl, few, many), (sl0, few0, many0) = blocks
    assert np.array_equal(sl.regs["rm"], sl0.regs["rm"], equal_nan=True)
    assert np.array_equal(sl.span, _stored_span(p)[:, np.unique(cols)].T, equal_nan=True)
    # a slab computes its derived arrays when first read, and carries them to a process
    import pickle
    p.regressors["rm"] = interval_columns(p, asof, "log")
    fresh = engine.slab(p, cols, d0, np.arange(-50, 6), excluded, ["rm"])
    assert "span" not in vars(fresh) and "regs" not in vars(fresh)
    sent = pickle.loads(pickle.dumps(fresh))
    assert "_later" not in vars(sent)
    for one in (sent, fresh):
        assert np.array_equal(one.span, sl0.span, equal_nan=True)
        assert np.array_equal(one.regs["rm"], sl0.regs["rm"], equal_nan=True)
    for a, b in ((few, few0), (many, many0)):
        assert np.array_equal(a.regs["rm"], b.regs["rm"], equal_nan=True)
        assert np.array_equal(a.span, b.span, equal_nan=True)
        assert np.isfinite(a.regs["rm"]).any() and np.isfinite(a.span).any()


def test_car_columns_scatter_blocks_of_several_models_in_pair_order():
    """Blocks come model by model: each block's rows go to their places in (pair, model,
    window) order, as concatenating every block and sorting the rows put them."""
    rng = np.random.default_rng(2)
    wins = [(0, 0), (-1, 1), (0, 5)]
    nw = len(wins)
    P = 50
    plan = []
    for mi in range(2):
        for part in (np.arange(0, 30), np.arange(30, P)):
            r = engine.PairArrays.empty(len(part), 5, 3, nw, est_var=False, resid=False)
            for name in ("car", "se", "t", "p", "bhar", "var", "boot_p", "boot_m",
                         "n_days", "n_gaps", "waiting"):
                getattr(r, name)[:] = rng.integers(0, 4, (len(part), nw)) * 1.0
            r.car[0, 1] = np.nan
            r.dof[:], r.n_est[:], r.sigma2[:] = rng.integers(100, 200, (3, len(part)))
            r.n_excluded[:] = rng.integers(0, 5, len(part))
            s = np.flatnonzero(rng.random(len(part)) > 0.2)
            plan.append((mi, r, s, part[s]))
    out = engine._car_columns(plan, wins)
    # the reference: the blocks' rows concatenated, then sorted by pair and model (stable)
    p = np.concatenate([np.repeat(pk, nw) for _, _, _, pk in plan])
    m = np.concatenate([np.full(len(pk) * nw, mi) for mi, _, _, pk in plan])
    order = np.lexsort((m, p))
    assert np.array_equal(out["_p"], p[order]) and np.array_equal(out["_m"], m[order])
    assert (np.diff(out["_m"]) < 0).any()                   # the models interleave
    for field, name in engine._CAR_WINDOW.items():
        ref = np.concatenate([getattr(r, field)[s].ravel() for _, r, s, _ in plan])[order]
        assert np.array_equal(out[name], ref, equal_nan=True), name
    sigma = np.concatenate([np.repeat(np.sqrt(r.sigma2[s]), nw) for _, r, s, _ in plan])
    assert np.array_equal(out["sigma"], sigma[order])
    for field in ("dof", "n_est", "n_excluded"):
        ref = np.concatenate([np.repeat(getattr(r, field)[s].astype(np.int64), nw)
                              for _, r, s, _ in plan])[order]
        assert np.array_equal(out[field], ref) and out[field].dtype == np.int64
    assert np.array_equal(out["window_start"], np.tile([0, -1, 0], len(order) // nw))
    note = np.concatenate([np.where(r.waiting[s].ravel() > 0, 1, np.where(
        r.n_days[s].ravel() == 0, 2, np.where(r.n_gaps[s].ravel() > 0,
                                               2 + r.n_gaps[s].ravel().astype(np.int64), 0)))
        for _, r, s, _ in plan])[order]
    assert np.array_equal(out["_note"], note) and len(set(note.tolist())) >= 3
    assert engine._car_columns([], wins) is None


@pytest.fixture(scope="module")
def firm_runs(tmp_path_factory):
    """The gapped firm case of test_firm_fastpath with two models that read rm and no lags
    (so rm is derived), run with the derived columns and with them stored as before."""
    pytest.importorskip("numba")
    from tests.test_firm_fastpath import _case
    folder = tmp_path_factory.mktemp("firm-memory")
    events, _ = _case(folder)
    toml = folder / "study.toml"
    text = toml.read_text()
    start = text.index("models = ")
    toml.write_text(text[:start] + 'models = ["market_model", "market_adjusted"]'
                    + text[text.index("\n", start):])
    from eventstudy import load_config
    config = load_config(toml)
    assert study_mod._lags_needed(config) == 0

    def stored_rm(panel, asof, kind="log"):
        return interval_returns(panel, asof, np.arange(panel.valid.shape[1]), kind)
    out = {}
    mp = pytest.MonkeyPatch()
    for stored in (False, True):
        if stored:
            mp.setattr(study_mod, "interval_columns", stored_rm)
            mp.setattr(panel_mod.Panel, "span_columns", property(_stored_span))
        for memo in (False, True):            # the slab path, and gathered blocks
            r = run_study(events, config, offline=True,
                          cache_dir=folder / f"cache-{stored}-{memo}", memoize=memo)
            out[(stored, memo)] = {f: getattr(r, f) for f in
                                   ("alignment", "car", "tests", "skipped", "ar", "panel")}
            if not stored and not memo:
                panels = r.returns._panels
                assert any(isinstance(p.regressors.get("rm"), DerivedColumns)
                           for p in panels.values())
                sid = r.alignment["series"].iloc[-1]
                frame = r.returns[sid]
                out["returns"] = frame
    mp.undo()
    return out


@pytest.mark.parametrize("memo", [False, True])
@pytest.mark.parametrize("frame", ["alignment", "car", "tests", "skipped", "ar", "panel"])
def test_derived_columns_give_the_frames_of_stored_ones_bitwise(firm_runs, frame, memo):
    new, old = firm_runs[(False, memo)][frame], firm_runs[(True, memo)][frame]
    assert len(new) > 0
    pd.testing.assert_frame_equal(new, old, check_exact=True)


def test_a_security_frame_has_its_spans(firm_runs):
    frame = firm_runs["returns"]
    ok = frame["ret"].notna()
    assert (frame.loc[ok, "span"] >= 1).all() and frame.loc[~ok, "span"].isna().all()
