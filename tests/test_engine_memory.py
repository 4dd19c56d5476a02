"""The engine's memory work for issue #9 (5,000 x 100): the AAR paths drawn from the blocks'
arrays (`engine._aar_arrays`, the numba kernel `group_day_sums`) must be bit for bit what
`engine.group_aar` makes of the AR rows, which stays the reference and the path without numba."""
import types

import numpy as np
import pandas as pd
import pytest

from eventstudy import engine, fastpath, load_config, load_events, run_study
from tests.synthetic import gapped_market

numba = pytest.importorskip("numba")
MODELS = ["market_model", "constant_mean", "market_adjusted"]


def _case(folder, n_sec=30, n_events=7, seed=5):
    """A gapped universe (missing bars, a late listing, a delisting, a constant price) around
    global events, pooled and per-event groups and a group of a few securities."""
    rng = np.random.default_rng(seed)
    dates, market, prices = gapped_market(rng, "2021-01-04", "2024-12-31", n_sec, late=700)
    bench = 3000 * np.exp(np.cumsum(market))
    pd.DataFrame({"date": dates.strftime("%Y-%m-%d"), "close": bench}).to_csv(
        folder / "bench.csv", index=False)
    names = [f"S{i:02d}" for i in range(n_sec)]
    wide = pd.DataFrame(prices, columns=names)
    wide.insert(0, "date", pd.DatetimeIndex(dates))
    wide.to_parquet(folder / "prices.parquet", index=False)
    days = list(np.sort(rng.choice(np.arange(400, len(dates) - 20), n_events - 1,
                                   replace=False))) + [len(dates) - 3]   # one past the data
    pd.DataFrame({"event_id": [f"ev{i}" for i in range(n_events)],
                  "announced_at": [f"{dates[d]:%Y-%m-%d} 10:00 America/New_York"
                                   for d in days],
                  "time_precision": "minute", "title": "t", "category": "test", "tags": "",
                  "source": "https://example.org"}).to_csv(folder / "events.csv", index=False)
    (folder / "study.toml").write_text(
        '[study]\nuniverses = ["u"]\nmodels = ' + str(MODELS).replace("'", '"')
        + '\nestimation_window = [-250, -11]\nevent_windows = [[0, 0], [-1, 1], [0, 5]]\n'
        'plot_window = [-4, 8]\nn_boot = 100\nmin_estimation = 100\n\n'
        '[series.BENCH]\nsource = "csv"\npath = "bench.csv"\ncalendar = "XNYS"\n\n'
        '[universe.u]\nprices = "prices.parquet"\nlayout = "wide"\ncalendar = "XNYS"\n'
        'benchmark = "BENCH"\n\n[groups.pooled]\nuniverse = "u"\n\n'
        '[groups.by_event]\nuniverse = "u"\nby = ["event_id"]\n\n'
        '[groups.few]\nuniverse = "u"\nevents = ["ev1", "ev4", "ev6"]\n')
    return load_events(folder / "events.csv"), load_config(folder / "study.toml")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("aar")
    events, config = _case(folder)
    mp = pytest.MonkeyPatch()
    mp.setenv("EVENTSTUDY_FASTPATH", "on")
    mp.setattr(engine, "BLOCK_PAIRS", 23)          # several blocks per model
    out = {}
    fills = []
    real = engine._group_matrix        # the matrices built after every block
    mp.setattr(engine, "_group_matrix", lambda *a: fills.append(1) or real(*a))
    for name in ("arrays", "store", "gathered", "frame"):
        # store: the AR rows to a temporary dataset, written when first read
        mp.setattr(engine, "AR_IN_MEMORY_ROWS", 0 if name == "store" else 5_000_000)
        if name == "frame":          # the reference: group_aar on the AR rows (the engine
            # sees no kernels; the group tests keep theirs, so that their frames are the same)
            mp.setattr(engine, "fastpath", types.SimpleNamespace(
                **{**vars(fastpath), "kernels_if_loaded": lambda: None}))
        before = len(fills)
        # gathered: a memo, so the kernel on gathered blocks, the group matrices built after
        # every block (the reference of the matrices filled as the slabs complete)
        out[name] = run_study(events, config, offline=True, cache_dir=folder / f"c-{name}",
                              memoize=name == "gathered")
        out[name + "_adds"] = len(fills) - before
    mp.undo()
    return out


def test_the_aar_from_the_arrays_is_the_aar_of_the_ar_rows(runs):
    new, old = runs["arrays"].aar, runs["frame"].aar
    assert len(old) > 100 and set(old["group"]) >= {"pooled", "few"}
    assert (old["n"] == 0).any() or old["aar"].notna().all()
    pd.testing.assert_frame_equal(new, old, check_exact=True)


@pytest.mark.parametrize("frame", ["car", "tests", "ar", "panel"])
def test_the_other_frames_do_not_move(runs, frame):
    pd.testing.assert_frame_equal(getattr(runs["arrays"], frame),
                                  getattr(runs["frame"], frame), check_exact=True)


@pytest.mark.parametrize("frame", ["car", "tests", "aar", "ar", "panel", "skipped"])
def test_matrices_filled_as_the_slabs_complete_equal_those_built_at_the_end(runs, frame):
    """The slab path fills the group matrices block by block and drops the residuals
    (`result.panel` computes them again); the memo path builds them after every block."""
    assert runs["arrays_adds"] == 0 and runs["gathered_adds"] == len(MODELS)
    assert len(runs["arrays"].tests.query("group != ''")) > 500
    ar = runs["gathered"].ar          # the slab path keeps a flag, not the intervals
    assert ar["benchmark_contaminated"].any() and not ar["benchmark_contaminated"].all()
    pd.testing.assert_frame_equal(getattr(runs["arrays"], frame),
                                  getattr(runs["gathered"], frame), check_exact=True)


def test_keep_columns_moves_the_kept_columns_in_place():
    rng = np.random.default_rng(1)
    for rows, cols in ((1, 1), (3, 7), (50, 40), (4, 0)):
        a = rng.normal(size=(rows, cols))
        for keep in (np.arange(cols), np.flatnonzero(rng.random(cols) < 0.6),
                     np.array([], np.int64), np.arange(cols)[-1:]):
            want = a[:, keep].copy()
            b = a.copy()
            got = engine._keep_columns(b, keep)
            np.testing.assert_array_equal(got, want)
            assert got.flags.c_contiguous and (got.size == 0 or np.shares_memory(got, b))


def _pandas_sums(rows, a, v, c, cv, has):
    """The reference: pandas' groupby over the long rows, as `group_aar` computes."""
    i, d = np.nonzero(has[rows])
    long = pd.DataFrame({"d": d, "a": a[rows][i, d], "v": v[rows][i, d], "c": c[rows][i, d],
                         "cv": cv[rows][i, d]})
    W = a.shape[1]
    out = np.zeros((7, W))
    if not len(long):
        return out
    g = long.groupby("d", sort=True)
    at = np.unique(d)
    out[0, at] = g.size().to_numpy()
    out[1, at], out[2, at] = g["a"].count().to_numpy(), g["a"].sum().to_numpy()
    out[3, at] = g["v"].sum().to_numpy()
    out[4, at], out[5, at] = g["c"].count().to_numpy(), g["c"].sum().to_numpy()
    out[6, at] = g["cv"].sum().to_numpy()
    return out


@pytest.mark.parametrize("P", [0, 1, 2, 57, 400])
def test_group_day_sums_is_pandas_groupby_bitwise(P):
    from eventstudy import _fastkernels
    rng = np.random.default_rng(P)
    W = 9
    # values of very different sizes, so that the compensated sum differs from a plain one
    a = rng.normal(0, 1, (P, W)) * 10.0 ** rng.integers(-8, 8, (P, W))
    v, c, cv = (np.abs(rng.normal(0, 1, (P, W))) * 10.0 ** rng.integers(-12, 4, (P, W))
                for _ in range(3))
    for x in (a, v, c, cv):
        x[rng.random((P, W)) < 0.2] = np.nan
    has = rng.random((P, W)) < 0.85
    has[:, 3] = False                               # a day without rows
    if P > 2:
        a[:, 5] = np.nan                            # a day with rows but no AR
        a[1, 6], c[2, 6] = np.inf, -np.inf          # infinities reset the compensation
    rows = np.sort(rng.choice(P, size=P * 3 // 4, replace=False)) if P > 2 else np.arange(P)
    got = _fastkernels.group_day_sums(rows.astype(np.int64), a, v, c, cv, has)
    want = _pandas_sums(rows, a, v, c, cv, has)
    np.testing.assert_array_equal(got, want)
    if P > 2:
        assert got[0, 5] > 0 and got[1, 5] == 0 and got[0, 3] == 0


def test_resid_buffers_are_reused_with_the_non_estimation_columns_reset():
    bufs = engine.ResidBuffers(10, slice(2, 7))
    a = bufs.take(5)
    assert a.shape == (5, 10) and np.isnan(a).all()
    a[:] = 1.0                                  # a block's whole rows (the numpy path)
    bufs.give(a)
    b = bufs.take(4)
    assert np.shares_memory(a, b) and b.shape == (4, 10)
    assert np.isnan(b[:, :2]).all() and np.isnan(b[:, 7:]).all()
    assert (b[:, 2:7] == 1.0).all()             # the kernel writes these for each pair
    c = bufs.take(3)                            # none free: a new one
    assert not np.shares_memory(b, c) and np.isnan(c).all()


def test_the_slab_path_reused_residual_buffers(tmp_path, monkeypatch):
    events, config = _case(tmp_path, n_sec=12, n_events=7)
    monkeypatch.setenv("EVENTSTUDY_FASTPATH", "on")
    monkeypatch.setattr(engine, "BLOCK_PAIRS", 7)
    taken, given = [], []
    real_take, real_give = engine.ResidBuffers.take, engine.ResidBuffers.give
    monkeypatch.setattr(engine.ResidBuffers, "take",
                        lambda self, P: taken.append(P) or real_take(self, P))
    monkeypatch.setattr(engine.ResidBuffers, "give",
                        lambda self, r: given.append(r) or real_give(self, r))
    r = run_study(events, config, offline=True, cache_dir=tmp_path / "c", memoize=False)
    assert len(taken) == len(given) >= 6 * len(MODELS)
    assert len({id(g.base if g.base is not None else g) for g in given}) < len(given) / 2
    assert len(r.tests.query("group != ''")) > 100


@pytest.mark.parametrize("frame", ["car", "tests", "aar", "ar", "panel"])
def test_the_ar_rows_on_disk_are_those_in_memory(runs, frame):
    """With the AR rows in a temporary dataset the slab path keeps its blocks' arrays and
    derives the ARs again when the dataset is written."""
    assert runs["store"].ar_store is not None and runs["arrays"].ar_store is None
    pd.testing.assert_frame_equal(getattr(runs["store"], frame),
                                  getattr(runs["arrays"], frame), check_exact=True)


@pytest.mark.parametrize("dtype", [float, bool])
def test_the_column_scatter_kernel_is_numpys_fancy_assignment(dtype):
    """GroupFill writes a block's pair-major rows into the columns of its day-major matrices
    with `_fastkernels.scatter_columns` when numba is loaded: the same cells as numpy's
    `dst[:, cols] = rows.T` (blocks of any size, columns in any order, the rest untouched)."""
    from eventstudy import _fastkernels
    rng = np.random.default_rng(3)
    for n in (0, 1, 63, 64, 65, 200):
        rows = rng.standard_normal((n, 37)) > 0.3 if dtype is bool \
            else rng.standard_normal((n, 37))
        cols = rng.permutation(500)[:n]
        want = np.zeros((37, 500), dtype)
        got = want.copy()
        want[:, cols] = rows.T
        _fastkernels.scatter_columns(got, rows, cols)
        np.testing.assert_array_equal(got, want)
