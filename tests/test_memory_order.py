"""Issue #9, a million firm events: the panel is security-major in memory (Fortran-ordered
(sessions x securities) arrays) so that the fused kernel reads each security's rows in place.
The memory order must never change a number: the same closes in C and Fortran order give
the same checks and the same panel, and a wide Parquet file read as one arrow table gives
the matrix pandas reads."""
import numpy as np
import pandas as pd
import pytest

from eventstudy.calendars import session_closes
from eventstudy.config import SeriesConfig
from eventstudy.data.checks import cells, check_closes
from eventstudy.panel import build_panel_wide, interval_returns


def _closes(seed=0, S=260, N=40):
    rng = np.random.default_rng(seed)
    v = 50 * np.exp(np.cumsum(rng.normal(0, 0.02, (S, N)), axis=0))
    v[rng.random(v.shape) < 0.08] = np.nan           # gaps
    v[120:, 3] /= 2                                   # a split-like jump, flagged
    v[60, 5] *= 3                                     # a bad print, back the next day
    v[:, 7] = 4.0                                     # constant: skipped
    v[30:, 9] *= 1000                                 # an impossible jump: skipped
    v[10, 11] = -1.0                                  # not a price: dropped
    return v


def test_cells_in_row_major_order_whatever_the_memory_order():
    mask = np.random.default_rng(1).random((50, 30)) < 0.2
    r, c = cells(np.asfortranarray(mask), ordered=True)
    assert np.array_equal(np.c_[r, c], np.argwhere(mask))
    r, c = cells(np.asfortranarray(mask))              # any order: the same cells
    assert {*zip(r, c)} == {*map(tuple, np.argwhere(mask))}


def test_checks_and_panel_do_not_depend_on_memory_order():
    closes = session_closes(SeriesConfig(id="x", name="x", source="csv", calendar="XNYS"))
    v = _closes()
    dates = closes.index[1000:1000 + v.shape[0]]
    names = [f"s{i}" for i in range(v.shape[1])]
    frames = [pd.DataFrame(np.array(v, order=o), index=dates, columns=names, copy=False)
              for o in "CF"]
    checked = [check_closes(f) for f in frames]
    assert len(checked[0].problems) >= 4              # the cases above were found
    pd.testing.assert_frame_equal(checked[0].closes, checked[1].closes)
    pd.testing.assert_frame_equal(checked[0].problems, checked[1].problems)
    assert np.array_equal(frames[1].to_numpy(), v, equal_nan=True)   # the input untouched
    panels = [build_panel_wide(("XNYS",), closes, c.closes)[0] for c in checked]
    for f in ("close", "exists", "valid", "prev", "ret", "span"):
        a, b = getattr(panels[0], f), getattr(panels[1], f)
        assert np.array_equal(a, b, equal_nan=True), f
        assert b.flags.f_contiguous, f                  # security-major
    p = panels[1]
    asof = np.linspace(1, 2, p.close.shape[0])
    cols = np.arange(len(p.securities))
    assert np.array_equal(interval_returns(panels[0], asof, cols),
                          interval_returns(p, asof, cols), equal_nan=True)
    # a return is the log ratio of the security's bar to its previous bar, gaps spanned
    j = 0
    rows = np.flatnonzero(p.valid[:, j])
    expect = np.log(p.close[rows[1:], j] / p.close[rows[:-1], j])
    assert np.allclose(p.ret[rows[1:], j], expect, rtol=0, atol=1e-15)
    assert np.array_equal(p.span[rows[1:], j], np.diff(rows).astype(float))


def _slab(seed: int, cols: np.ndarray):
    """A checked panel of `_closes(seed)` with a market regressor, and the slab of `cols`."""
    from eventstudy.engine import slab
    closes = session_closes(SeriesConfig(id="x", name="x", source="csv", calendar="XNYS"))
    v = _closes(seed=seed)
    frame = pd.DataFrame(v, index=closes.index[2000:2000 + v.shape[0]],
                         columns=[f"s{i}" for i in range(v.shape[1])])
    p = build_panel_wide(("XNYS",), closes, check_closes(frame).closes)[0]
    p.regressors["rm"] = np.asfortranarray(np.zeros(p.close.shape))
    S, N = p.close.shape
    sl = slab(p, cols, np.full(len(cols), p.offset + 200), np.arange(-150, 6),
              np.zeros((S, N), bool, order="F"), ["rm"])
    sl.benchmark_field = np.full(len(cols), "universe.u.benchmark", dtype=object)
    return p, sl


def test_a_slab_reads_the_panel_in_place():
    p, sl = _slab(2, np.repeat(np.arange(5, 12), 3))
    assert np.shares_memory(sl.ret, p.ret) and np.shares_memory(sl.regs["rm"],
                                                                  p.regressors["rm"])
    assert np.array_equal(sl.ret, p.ret[:, 5:12].T, equal_nan=True)


def test_a_slab_cut_for_a_worker_carries_only_its_own_securities():
    """A task sent to another process gets its pairs' securities, not the whole block's, and
    reads the same rows: each pair's row of `take` is the block slab's row."""
    p, sl = _slab(3, np.repeat(np.arange(20, 32), 2))
    S = p.close.shape[0]
    rows = np.arange(6, 13)                       # securities 23 .. 26
    part = sl.take(rows)
    assert sl.ret.shape == (12, S)
    assert part.ret.shape == (4, S) and part.regs["rm"].shape == (4, S)
    for a, b in ((part.ret, sl.ret), (part.span, sl.span), (part.valid, sl.valid),
                 (part.exists, sl.exists), (part.excluded, sl.excluded)):
        assert np.array_equal(a[part.col], b[sl.col[rows]], equal_nan=True)
    assert np.array_equal(part.r0, sl.r0[rows]) and list(part.flag_text) == list(
        sl.flag_text[rows])


def test_wide_parquet_matrix_equals_pandas_read(tmp_path):
    pytest.importorskip("pyarrow")
    from eventstudy.data.universe import _numeric_wide
    v = _closes(seed=3, N=12)[:50, :6]
    frame = pd.DataFrame(v, columns=[f"S{i}" for i in range(6)])
    frame.insert(0, "date", pd.date_range("2024-01-01", periods=50))
    frame["S2"] = np.arange(50)                        # an integer column
    path = tmp_path / "prices.parquet"
    frame.to_parquet(path, index=False)
    closes, prov = _numeric_wide(path, "wide", None)
    assert closes.to_numpy().flags.f_contiguous
    expect = frame.drop(columns="date").to_numpy(dtype=float)
    assert np.array_equal(closes.to_numpy(), expect, equal_nan=True)
    assert list(closes.columns) == [f"S{i}" for i in range(6)]
    assert (closes.index == frame["date"]).all()
    # pandas' own date index is read as pandas reads it
    frame.set_index("date").to_parquet(path)
    again, _ = _numeric_wide(path, "wide", None)
    pd.testing.assert_frame_equal(again, closes, check_freq=False)


def test_the_panel_reads_the_checked_closes_in_place_unless_a_cell_must_change():
    closes = session_closes(SeriesConfig(id="x", name="x", source="csv", calendar="XNYS"))
    v = np.asfortranarray(_closes(seed=4)[:, :6])
    v[:5, 2] = np.nan                                 # a security listed later
    frame = pd.DataFrame(v, index=closes.index[500:500 + v.shape[0]],
                         columns=[f"s{i}" for i in range(6)], copy=False)
    p = build_panel_wide(("XNYS",), closes, frame)[0]
    assert np.shares_memory(p.close, v)
    v2 = v.copy(order="F")
    v2[7, 1] = np.inf                                  # not a price: NaN in the panel
    p2 = build_panel_wide(("XNYS",), closes, pd.DataFrame(v2, index=frame.index,
                                                          columns=frame.columns, copy=False))[0]
    assert not np.shares_memory(p2.close, v2) and np.isinf(v2[7, 1])
    assert np.isnan(p2.close[7, 1]) and not p2.valid[7, 1]
    same = np.isfinite(v2)
    assert np.array_equal(p2.close[same], v2[same])
