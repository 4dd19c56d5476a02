"""Holm and Benjamini-Hochberg adjusted p-values (issue #10 item 3): by hand, against
statsmodels' multipletests applied family by family, NaN handling and family boundaries."""
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from statsmodels.stats.multitest import multipletests

from eventstudy.multitest import (CAR_FAMILY, add_adjusted, adjust, adjust_results,
                                  survival_marker)


def test_four_p_values_worked_by_hand():
    """p = .01, .04, .03, .20 (m = 4). Sorted: .01, .03, .04, .20.
    Holm: (4, 3, 2, 1) x p_(i) = .04, .09, .08, .20, running max -> .04, .09, .09, .20.
    BH:   p_(i) m / i = .04, .06, .0533, .20, running min from the top -> .04, .0533, .0533, .20.
    Back in the input order (.01, .04, .03, .20)."""
    p = [0.01, 0.04, 0.03, 0.20]
    assert adjust(p, "holm") == pytest.approx([0.04, 0.09, 0.09, 0.20], abs=1e-15)
    assert adjust(p, "fdr_bh") == pytest.approx([0.04, 0.16 / 3, 0.16 / 3, 0.20], abs=1e-15)


def test_adjusted_p_is_capped_at_one_by_hand():
    # Holm: 3 x .5 = 1.5 -> 1; BH: .5 x 3 / 1 = 1.5, then min with .6 x 3/2 = .9, .7 -> .7
    assert adjust([0.5, 0.6, 0.7], "holm") == pytest.approx([1.0, 1.0, 1.0])
    assert adjust([0.5, 0.6, 0.7], "fdr_bh") == pytest.approx([0.7, 0.7, 0.7])


def test_nan_stays_nan_and_is_not_counted():
    """p = .01, NaN, .04: a family of two. Holm: 2 x .01 = .02, max(1 x .04, .02) = .04."""
    out = adjust([0.01, np.nan, 0.04], "holm")
    assert np.isnan(out[1])
    assert out[[0, 2]] == pytest.approx([0.02, 0.04])
    assert np.isnan(adjust([np.nan, np.nan], "fdr_bh")).all()
    assert adjust([], "holm").shape == (0,)


def _car_frame(seed=0, n=40):
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "event_id": [f"e{i % 5}" for i in range(n)],
        "series": [f"S{i % 8}" for i in range(n)],
        "model": rng.choice(["market_model", "constant_mean"], n),
        "window_start": rng.choice([0, -1], n), "window_end": 1,
        "car": rng.normal(size=n), "p_value": rng.uniform(size=n) ** 3, "note": ""})
    frame.loc[[3, 17], "p_value"] = np.nan
    return frame


def test_each_family_matches_multipletests_on_its_own_rows():
    frame = _car_frame()
    out = add_adjusted(frame, CAR_FAMILY)
    assert list(out.columns) == ["event_id", "series", "model", "window_start", "window_end",
                                 "car", "p_value", "p_holm", "p_bh", "note"]
    pd.testing.assert_frame_equal(out.drop(columns=["p_holm", "p_bh"]), frame)   # order kept
    families = 0
    for _, rows in frame.groupby(list(CAR_FAMILY)):
        ok = rows["p_value"].notna()
        for col, method in (("p_holm", "holm"), ("p_bh", "fdr_bh")):
            expect = multipletests(rows.loc[ok, "p_value"].to_numpy(), method=method)[1]
            assert out.loc[rows.index[ok], col].to_numpy() == pytest.approx(expect, abs=1e-15)
            assert out.loc[rows.index[~ok], col].isna().all()
        families += 1
    assert families == 4


def test_all_families_at_once_equal_multipletests_one_by_one():
    """adjust_families (one sort for every family) against statsmodels family by family,
    with ties, p = 0 and 1, NaN, a family of one and one of NaN only."""
    from eventstudy.multitest import adjust_families
    rng = np.random.default_rng(7)
    n = 3000
    family = rng.integers(0, 60, n)
    p = rng.uniform(size=n) ** 4
    p[rng.integers(0, n, 300)] = 0.05                   # ties
    p[:5], p[5:10] = 0.0, 1.0
    p[rng.integers(0, n, 200)] = np.nan
    family[10] = 99                                     # a family of one
    family[11:13], p[11:13] = 98, np.nan                # a family of NaN only
    holm, bh = adjust_families(p, family)
    for f in np.unique(family):
        rows = np.flatnonzero(family == f)
        np.testing.assert_allclose(holm[rows], adjust(p[rows], "holm"), rtol=0, atol=1e-15)
        np.testing.assert_allclose(bh[rows], adjust(p[rows], "fdr_bh"), rtol=0, atol=1e-15)
    assert holm[10] == p[10] and np.isnan(holm[11:13]).all()


def test_the_hand_case_through_a_frame():
    frame = pd.DataFrame({"model": "m", "window_start": 0, "window_end": 0,
                          "p_value": [0.01, 0.04, 0.03, 0.20]})
    out = add_adjusted(frame, CAR_FAMILY)
    assert out["p_holm"].tolist() == pytest.approx([0.04, 0.09, 0.09, 0.20], abs=1e-15)
    assert out["p_bh"].tolist() == pytest.approx([0.04, 0.16 / 3, 0.16 / 3, 0.20], abs=1e-15)


def test_families_do_not_leak_into_each_other():
    """Two families with the same p-values get the same adjustment as each alone; a change in
    one family leaves the other's adjusted p-values untouched."""
    p = [0.001, 0.02, 0.03, 0.5]
    frame = pd.DataFrame({"model": ["a"] * 4 + ["b"] * 4, "window_start": 0, "window_end": 0,
                          "p_value": p + p})
    out = add_adjusted(frame, CAR_FAMILY)
    alone = adjust(p, "holm")
    assert out["p_holm"].to_numpy() == pytest.approx(np.r_[alone, alone])
    frame.loc[7, "p_value"] = 0.0001
    again = add_adjusted(frame, CAR_FAMILY)
    assert again["p_holm"][:4].to_numpy() == pytest.approx(alone)
    assert not np.allclose(again["p_holm"][4:], alone)
    # another window is another family
    frame2 = frame.assign(window_end=[0, 0, 1, 1, 0, 0, 1, 1])
    out2 = add_adjusted(frame2, CAR_FAMILY)
    assert out2["p_holm"][:2].to_numpy() == pytest.approx(adjust(p[:2], "holm"))


def test_tests_frame_pair_rows_and_group_rows_are_separate_families():
    rows = []
    for group in ("", "", "", "g1", "g2"):
        rows.append({"group": group, "model": "m", "event_id": "e" if not group else "",
                     "series": "s", "window_start": 0, "window_end": 0, "test": "t",
                     "estimate": 0.0, "statistic": 1.0, "p_value": 0.02, "n": 1, "note": ""})
    tests = pd.DataFrame(rows)
    car = pd.DataFrame({"model": ["m"] * 3, "window_start": 0, "window_end": 0,
                        "p_value": [0.02] * 3})
    car_out, tests_out = adjust_results(car, tests)
    assert tests_out["p_holm"].tolist() == pytest.approx([0.06, 0.06, 0.06, 0.04, 0.04])
    assert tests_out["p_bh"].tolist() == pytest.approx([0.02] * 5)
    assert car_out["p_holm"].tolist() == pytest.approx([0.06] * 3)
    assert list(tests_out.columns[tests_out.columns.get_loc("p_value"):][:3]) == \
        ["p_value", "p_holm", "p_bh"]
    assert "_level" not in tests_out.columns
    empty_car, empty_tests = adjust_results(car[:0], tests[:0])
    assert {"p_holm", "p_bh"} <= set(empty_car.columns) & set(empty_tests.columns)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.floats(0, 1), st.just(float("nan"))), min_size=1, max_size=30))
def test_adjusted_p_is_between_p_and_one_and_bh_never_above_holm(p):
    p = np.array(p)
    holm, bh = adjust(p, "holm"), adjust(p, "fdr_bh")
    ok = np.isfinite(p)
    assert (np.isnan(holm) == ~ok).all() and (np.isnan(bh) == ~ok).all()
    assert (p[ok] <= bh[ok] + 1e-15).all() and (bh[ok] <= holm[ok] + 1e-15).all()
    assert (holm[ok] <= 1).all()


def test_survival_marker():
    assert survival_marker(0.01, 0.01) == "\u2021"
    assert survival_marker(0.2, 0.04) == "\u2020"
    assert survival_marker(0.2, 0.2) == ""
    assert survival_marker(np.nan, np.nan) == ""


# ----------------------------------------------------------------------------- in a study
@pytest.fixture(scope="module")
def result(tmp_path_factory):
    from eventstudy import load_config, load_events, run_study
    return run_study(load_events("events.csv"), load_config(None), offline=True,
                     cache_dir=tmp_path_factory.mktemp("cache"))


def test_the_study_adds_the_columns_beside_p_value(result, tmp_path):
    for frame in (result.car, result.tests):
        cols = list(frame.columns)
        i = cols.index("p_value")
        assert cols[i + 1:i + 3] == ["p_holm", "p_bh"]
    car = result.car
    fam = car[(car["model"] == "market_model") & (car["window_start"] == -1)
              & (car["window_end"] == 1)]
    ok = fam["p_value"].notna()
    assert ok.sum() > 10
    expect = multipletests(fam.loc[ok, "p_value"], method="fdr_bh")[1]
    assert fam.loc[ok, "p_bh"].to_numpy() == pytest.approx(expect, abs=1e-15)
    # the tests frame's t rows are the CAR rows: same family, same adjusted p
    t = result.tests[(result.tests["group"] == "") & (result.tests["test"] == "t")]
    keys = ["event_id", "series", "model", "window_start", "window_end"]
    both = t.merge(car, on=keys, suffixes=("_t", "_car"))
    assert len(both) == len(car)
    np.testing.assert_array_equal(both["p_holm_t"].to_numpy(), both["p_holm_car"].to_numpy())
    # group rows: one family per test, model and window, across the groups
    g = result.tests[(result.tests["group"] != "") & (result.tests["test"] == "kp_bmp")
                     & (result.tests["model"] == "market_model")
                     & (result.tests["window_start"] == 0) & (result.tests["window_end"] == 0)]
    assert len(g) == 2
    ok = g["p_value"].notna()
    assert g.loc[ok, "p_holm"].to_numpy() == pytest.approx(
        multipletests(g.loc[ok, "p_value"], method="holm")[1])
    result.write_csvs(tmp_path)
    header = (tmp_path / "car.csv").read_text().splitlines()[0]
    assert '"p_value","p_holm","p_bh"' in header
    assert '"p_value","p_holm","p_bh"' in (tmp_path / "tests.csv").read_text().splitlines()[0]


def _marker(p_holm, p_bh):
    return "\u2021" if p_holm < 0.05 else "\u2020" if p_bh < 0.05 else ""


def test_the_report_marks_what_survives(result):
    """The overview's CAR cells are marked ‡ (Holm < 0.05) or † (BH only), as the group
    page's p-value grid; event pages show no adjusted p (their family spans every event, so
    an event page would change whenever an event is added): a note says where they are."""
    from eventstudy.report import fmt
    from eventstudy.report.pages import (EVENT_STARS_NOTE, STARS_NOTE, View, event_context,
                                         group_context, index_context)
    view = View(result)
    assert "\u2020 still below 0.05 after the Benjamini-Hochberg" in STARS_NOTE
    rows = {(r.event_id, r.series, r.model, r.window_start, r.window_end): r
            for r in result.car.itertuples(index=False)}
    summary = index_context(view)["summary"]
    marks = 0
    for cells in summary.rows:
        eid, sid = cells[1].text, cells[2].text
        cars = cells[4:]
        keys = [(m, w) for m in view.models for w in view.windows]
        assert len(cars) == len(keys)
        for (model, w), cell in zip(keys, cars):
            r = rows.get((eid, sid, model, *w))
            if r is None or pd.isna(r.p_value):
                continue
            mark = _marker(r.p_holm, r.p_bh)
            assert cell.small == f"p {fmt.pval(r.p_value)}{mark}", (eid, sid, model, w)
            marks += bool(mark)
    assert marks > 0          # the automakers' CARs on the deal day survive
    bare = view.for_event_pages()
    assert "p_holm" not in bare.r.car.columns and "p_holm" in view.r.car.columns
    for eid in ("us-japan-deal", "liberation-day"):
        ctx = event_context(bare, eid)
        labels = [label for label, _ in ctx["car_table"].columns]
        assert "p Holm" not in labels and ctx["stars_note"] == EVENT_STARS_NOTE
        assert not any(c.text[-1:] in ("\u2020", "\u2021") for row in ctx["car_table"].rows
                       for c in row)
    ctx = group_context(view, "automakers")
    pivot = ctx["pivots"][[t.id for t in ctx["pivots"]].index("pivot-market_model")]
    wins = [label for label, _ in pivot.columns][1:]
    g = result.tests[(result.tests["group"] == "automakers")
                     & (result.tests["model"] == "market_model")]
    seen = 0
    for cells in pivot.rows:
        test = cells[0].text
        for w, cell in zip(wins, cells[1:]):
            r = g[(g["test"] == test) & (g.apply(lambda x: fmt.window(x.window_start,
                                                                      x.window_end), axis=1)
                                         == w)]
            if r.empty or pd.isna(r["p_value"].iloc[0]):
                continue
            mark = _marker(r["p_holm"].iloc[0], r["p_bh"].iloc[0])
            assert (mark and cell.text.endswith(mark)) or (
                not mark and cell.text[-1] not in "\u2020\u2021"), (test, w, cell.text)
            seen += bool(mark)
    assert seen > 0
