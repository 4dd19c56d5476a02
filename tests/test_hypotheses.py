"""The multi-event dummy regression and its linear hypotheses (eventstudy.hypotheses).

Expected values are computed here, independently of the module: separate statsmodels fits on
the non-event sessions, R V R' and the F statistic by hand, the prediction-error CAR variance
of models.py (Karafiath 1988), and a small size simulation.
"""
from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats

from eventstudy import models as mdl
from eventstudy.errors import InputError
from eventstudy.hypotheses import COLUMNS, dummy_regression
from eventstudy.hypotheses import test_hypotheses  # noqa: F401 (marked __test__ = False)

EST = (-100, -11)
WINDOWS = ((0, 0), (-1, 1), (0, 5))


def fake_result(ret, rm, day0_rows: dict, categories: dict, *, gap_rows=(), span2_rows=()):
    """A minimal stand-in for StudyResult: one series 'X', calendar positions from 1000."""
    n = len(ret)
    dates = pd.bdate_range("2020-01-01", periods=n)
    frame = pd.DataFrame({"date": dates, "pos": np.arange(n) + 1000, "close": 100.0,
                          "ret": np.asarray(ret, float), "span": 1.0, "gap": False,
                          "rm": np.asarray(rm, float)})
    frame.loc[list(gap_rows), ["ret", "gap"]] = [np.nan, True]
    frame.loc[list(span2_rows), "span"] = 2.0
    ids = list(day0_rows)
    return SimpleNamespace(
        returns={"X": frame},
        events=pd.DataFrame({"event_id": ids, "category": [categories[e] for e in ids]}),
        alignment=pd.DataFrame({"event_id": ids, "series": "X",
                                "day0": [dates[day0_rows[e]] for e in ids]}),
        config=SimpleNamespace(estimation_window=EST, event_windows=WINDOWS, factors=(),
                               dimson_lags=1, series={}))


def simulated(seed=0, n=400, sigma=0.002, effects=True, **kw):
    rng = np.random.default_rng(seed)
    rm = rng.normal(0, 0.01, n)
    ret = 0.0003 + 1.2 * rm + rng.normal(0, sigma, n)
    if effects:
        ret[300] += 0.05
        ret[301] -= 0.03
    return fake_result(ret, rm, {"A": 300, "B": 350}, {"A": "escalation", "B": "de-escalation"},
                       **kw)


def non_event_fit(result, reg, cov_type="nonrobust"):
    """Separate statsmodels OLS on the sample without the event sessions."""
    frame = result.returns["X"]
    rows = frame[frame["date"].isin(reg.dates)]
    rows = rows[~rows["date"].isin(list(reg.dummy_dates.values()))]
    X = rows[["span", "rm"]]
    return sm.OLS(rows["ret"], X).fit(cov_type=cov_type), rows


def test_dummies_recover_effects_and_equal_out_of_sample_residuals():
    result = simulated()
    reg = dummy_regression(result, "X")
    frame = result.returns["X"]
    # sample: earliest estimation start (300 - 100) to latest event window end (350 + 5)
    assert reg.dates[0] == frame["date"][200] and reg.dates[-1] == frame["date"][355]
    assert reg.n_obs == 156 and reg.notes == []
    assert len(reg.columns) == 14 and reg.columns[("A", 0)] == "A[+0]"
    b = reg.ols.params
    assert b["A[+0]"] == pytest.approx(0.05, abs=0.01)
    assert b["A[+1]"] == pytest.approx(-0.03, abs=0.01)
    fit, _ = non_event_fit(result, reg)
    assert fit.nobs == 156 - 14
    np.testing.assert_allclose(fit.params.to_numpy(), b[["span", "rm"]].to_numpy(), atol=1e-12)
    for day in range(-1, 6):
        t = 300 + day
        resid = frame["ret"][t] - fit.params["span"] - fit.params["rm"] * frame["rm"][t]
        assert b[f"A[{day:+d}]"] == pytest.approx(resid, abs=1e-10)


def test_car_estimate_and_nonrobust_se_by_hand():
    result = simulated()
    reg = dummy_regression(result, "X")
    table = test_hypotheses(result, ["CAR(A, 0, 1) = 0"], series="X", regression=reg)
    assert list(table.columns) == COLUMNS
    row = table.set_index("cov_type").loc["nonrobust"]
    b = reg.ols.params
    assert row["estimate"] == pytest.approx(b["A[+0]"] + b["A[+1]"], abs=1e-14)
    R = np.array([[1.0 if c in ("A[+0]", "A[+1]") else 0.0 for c in b.index]])
    V = reg.ols.cov_params().to_numpy()
    assert row["se"] == pytest.approx(float(np.sqrt(R @ V @ R.T)[0, 0]), rel=1e-12)
    assert row["dof"] == reg.n_obs - len(b) and row["n_obs"] == reg.n_obs
    # Karafiath (1988): the same variance as the prediction-error CAR variance of models.py
    _, rows = non_event_fit(result, reg)
    fitted = mdl.fit("market_model", rows.reset_index(drop=True), ["span", "rm"])
    window = result.returns["X"].iloc[[300, 301]]
    assert row["se"] == pytest.approx(np.sqrt(fitted.car_variance(window)), rel=1e-10)


def test_hac_event_block_is_the_error_variance_plus_sandwich():
    """Raw statsmodels HAC misses the event error (zero residual); ours adds s^2 back."""
    result = simulated()
    reg = dummy_regression(result, "X", hac_lags=0)
    k = list(reg.ols.params.index).index("A[+0]")
    assert reg.hac.bse.iloc[k] < 0.5 * reg.ols.bse.iloc[k]   # the documented problem
    hc0, _ = non_event_fit(result, reg, cov_type="HC0")
    x = np.array([1.0, result.returns["X"]["rm"][300]])
    expected = reg.ols.scale + x @ hc0.cov_params().to_numpy() @ x
    assert reg.hac_cov.iloc[k, k] == pytest.approx(expected, rel=1e-10)


def test_one_sided_p_values_are_half_the_two_sided():
    result = simulated()
    reg = dummy_regression(result, "X")
    texts = ["CAR(A, 1, 1) = 0", "CAR(A, 1, 1) < 0", "CAR(A, 1, 1) > 0",
             "CAR(A, 0, 0) = 0", "CAR(A, 0, 0) < 0"]
    t = test_hypotheses(result, texts, series="X", regression=reg)
    for cov in ("HAC", "nonrobust"):
        p = t[t["cov_type"] == cov].set_index("hypothesis")["p_value"]
        alt = t[t["cov_type"] == cov].set_index("hypothesis")["alternative"]
        assert alt[texts[1]] == "less" and alt[texts[2]] == "greater"
        assert p[texts[1]] == pytest.approx(p[texts[0]] / 2, rel=1e-12)        # estimate < 0
        assert p[texts[2]] == pytest.approx(1 - p[texts[0]] / 2, rel=1e-12)
        assert p[texts[4]] == pytest.approx(1 - p[texts[3]] / 2, rel=1e-12)    # estimate > 0


def test_linear_combination_with_weights_and_constant():
    result = simulated()
    reg = dummy_regression(result, "X")
    text = "CAR(A, 0, 1) - 2*CAR(B, 0, 0) = -0.01"
    row = test_hypotheses(result, [text], series="X", regression=reg).iloc[1]
    b = reg.ols.params
    est = b["A[+0]"] + b["A[+1]"] - 2 * b["B[+0]"]
    assert row["cov_type"] == "nonrobust"
    assert row["estimate"] == pytest.approx(est, abs=1e-14)
    assert row["statistic"] == pytest.approx((est + 0.01) / row["se"], rel=1e-12)
    same = test_hypotheses(result, ["CAR(A,0,1) + 0.01 = 2 * CAR(B,0,0)"], series="X",
                           regression=reg).iloc[1]
    assert same["statistic"] == pytest.approx(row["statistic"], rel=1e-12)


def test_mean_over_a_category():
    rng = np.random.default_rng(3)
    rm = rng.normal(0, 0.01, 400)
    ret = 0.9 * rm + rng.normal(0, 0.002, 400)
    result = fake_result(ret, rm, {"A": 250, "B": 300, "C": 350},
                         {"A": "escalation", "B": "de-escalation", "C": "escalation"})
    reg = dummy_regression(result, "X")
    row = test_hypotheses(result, ["mean CAR(category=escalation, 0, 1) < 0"], series="X",
                          regression=reg).iloc[1]
    b = reg.ols.params
    assert row["estimate"] == pytest.approx(
        (b["A[+0]"] + b["A[+1]"] + b["C[+0]"] + b["C[+1]"]) / 2, abs=1e-14)


def test_joint_f_test_by_hand():
    result = simulated()
    reg = dummy_regression(result, "X")
    t = test_hypotheses(result, ["CAR(A, 0, 1) = 0; CAR(B, 0, 1) = 0.001"], series="X",
                        regression=reg).set_index("cov_type")
    names = list(reg.ols.params.index)
    R = np.zeros((2, len(names)))
    R[0, [names.index("A[+0]"), names.index("A[+1]")]] = 1
    R[1, [names.index("B[+0]"), names.index("B[+1]")]] = 1
    q = np.array([0.0, 0.001])
    d = R @ reg.ols.params.to_numpy() - q
    for cov_type, V in (("nonrobust", reg.ols.cov_params().to_numpy()),
                        ("HAC", reg.hac_cov.to_numpy())):
        F = float(d @ np.linalg.solve(R @ V @ R.T, d)) / 2
        row = t.loc[cov_type]
        assert row["test"] == "F" and row["df_num"] == 2
        assert row["statistic"] == pytest.approx(F, rel=1e-10)
        assert row["p_value"] == pytest.approx(stats.f.sf(F, 2, reg.ols.df_resid), rel=1e-10)
    f = reg.ols.f_test((R, q))
    assert t.loc["nonrobust", "statistic"] == pytest.approx(float(f.fvalue), rel=1e-10)


def test_size_by_simulation():
    """200 pure-noise samples: the 5% two-sided test of CAR(0, 1) rejects about 5%."""
    rng = np.random.default_rng(2025)
    rejections = {"HAC": 0, "nonrobust": 0}
    reps = 200
    result = fake_result(np.zeros(130), np.zeros(130), {"A": 110}, {"A": "escalation"})
    frame = result.returns["X"]
    for _ in range(reps):
        rm = rng.normal(0, 0.01, 130)
        ret = 1.0 * rm + rng.normal(0, 0.01, 130)
        result.returns["X"] = frame.assign(ret=ret, rm=rm)
        t = test_hypotheses(result, ["CAR(A, 0, 1) = 0"], series="X")
        for row in t.itertuples():
            rejections[row.cov_type] += row.p_value < 0.05
    for cov_type, count in rejections.items():
        assert 0.02 <= count / reps <= 0.09, (cov_type, count)


def test_overlapping_events_share_a_joint_dummy_or_raise():
    rng = np.random.default_rng(1)
    rm = rng.normal(0, 0.01, 400)
    ret = rm + rng.normal(0, 0.002, 400)
    result = fake_result(ret, rm, {"A": 300, "B": 301}, {"A": "escalation", "B": "other"})
    reg = dummy_regression(result, "X")
    assert reg.columns[("A", 1)] == reg.columns[("B", 0)] == "A[+1]&B[+0]"
    # one column per distinct session (-1..6 around A: 8), nothing dropped, full rank
    assert len(set(reg.columns.values())) == 8 and len(reg.columns) == 14
    assert any("A[+1] and B[+0]" in n for n in reg.notes)
    row = test_hypotheses(result, ["CAR(A, 1, 1) = 0"], series="X", regression=reg).iloc[0]
    assert "joint dummy A[+1]&B[+0]" in row["note"]
    with pytest.raises(InputError, match=r"A\[\+1\] and B\[\+0\]"):
        dummy_regression(result, "X", overlap="raise")
    with pytest.raises(InputError, match="cancel"):
        test_hypotheses(result, ["CAR(A, 1, 1) = CAR(B, 0, 0)"], series="X", regression=reg)


def test_gaps_and_multi_session_returns_are_dropped_outside_windows():
    # 250: gap outside windows; 260: span 2 outside windows; 302 (A day 2): gap in the window;
    # 303 (A day 3): span 2 inside the window (kept, absorbed by its dummy)
    result = simulated(gap_rows=(250, 302), span2_rows=(260, 303))
    reg = dummy_regression(result, "X")
    dates = result.returns["X"]["date"]
    assert dates[250] not in reg.dates and dates[260] not in reg.dates
    assert dates[303] in reg.dates and dates[302] not in reg.dates
    assert reg.n_obs == 156 - 3
    assert ("A", 2) not in reg.columns and ("A", 3) in reg.columns
    assert any("A day +2" in n and "missing bar" in n for n in reg.notes)
    row = test_hypotheses(result, ["CAR(A, 0, 5) = 0"], series="X", regression=reg).iloc[1]
    b = reg.ols.params
    assert row["estimate"] == pytest.approx(sum(b[f"A[{d:+d}]"] for d in (0, 1, 3, 4, 5)))
    assert "no session for day(s) [2]" in row["note"]


@pytest.mark.parametrize("text, match", [
    ("CAR(liberaton-day, 0, 1) = 0", r"unknown event 'liberaton-day' \(did you mean "
                                     r"'liberation-day'\?\)"),
    ("CAR(A, 0 1) = 0", r"column 10: expected ','"),
    ("CAR(A, 0, 1) 0", r"expected '=', '<' or '>'"),
    ("CAR(A, 0, 1) <= 0", r"'<=' is not a relation"),
    ("car(A, 0, 1) = 0", r"unknown word 'car' \(did you mean 'CAR'\?\)"),
    ("mean CAR(category=, 0, 1) < 0", r"empty category"),
    ("mean CAR(category=escalaton, 0, 1) < 0", r"did you mean 'escalation'"),
    ("mean CAR(category=other, 0, 1) < 0", r"category 'other' has no events in the sample"),
    ("CAR(A, -3, 1) = 0", r"window \[-3, 1\] is outside the dummy span \[-1, 5\]"),
    ("CAR(A, 2, 1) = 0", r"starts after it ends"),
    ("CAR(A, 0, 1) = 0; CAR(B, 0, 1) < 0", r"joint test .* '=' only"),
    ("CAR(A, 0, 1) = 0 extra", r"expected ';' or the end"),
    ("0 = 0", r"no CAR"),
])
def test_parse_errors_name_the_hypothesis_and_position(text, match):
    rng = np.random.default_rng(0)
    rm = rng.normal(0, 0.01, 400)
    result = fake_result(rm + rng.normal(0, 0.002, 400), rm,
                         {"A": 300, "B": 350, "liberation-day": 320, "gone": 399},
                         {"A": "escalation", "B": "de-escalation", "liberation-day": "escalation",
                          "gone": "other"})
    result.returns["X"] = result.returns["X"].iloc[:380]   # 'gone' has day 0 beyond the data
    with pytest.raises(InputError, match=match) as info:
        test_hypotheses(result, [text], series="X")
    assert repr(text) in str(info.value)


# -- the real bundled data ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def real(tmp_path_factory):
    from eventstudy import load_config, load_events, run_study
    config = load_config(None)
    config = dataclasses.replace(config, studied=("N225",), models=("market_model",), groups={})
    events = load_events(__import__("pathlib").Path(__file__).parents[1] / "events.csv")
    return run_study(events, config, offline=True, cache_dir=tmp_path_factory.mktemp("cache"))


def test_liberation_day_on_the_nikkei(real):
    reg = dummy_regression(real, "N225")
    table = test_hypotheses(real, ["CAR(liberation-day, 0, 0) = 0"], series="N225",
                            regression=reg)
    assert list(table.columns) == COLUMNS and list(table["cov_type"]) == ["HAC", "nonrobust"]
    assert np.isfinite(table["estimate"]).all() and (table["estimate"] < 0).all()
    assert (table["n_obs"] == len(reg.dates)).all() and len(reg.dates) == reg.ols.nobs
    # Auto tariffs took effect at 00:01 New York on April 3: same Tokyo session as Liberation Day
    col = reg.columns[("liberation-day", 0)]
    assert col == reg.columns[("auto-tariffs-effective", 0)]
    assert "joint dummy" in table["note"].iloc[0]
    # analytic: the day-0 coefficient is that session's residual from the non-event fit
    frame = real.returns["N225"]
    rows = frame[frame["date"].isin(reg.dates)]
    fit_rows = rows[~rows["date"].isin(list(reg.dummy_dates.values()))]
    fit = sm.OLS(fit_rows["ret"], fit_rows[["span", "rm"]]).fit()
    day0 = rows[rows["date"] == reg.dummy_dates[col]].iloc[0]
    expected = day0["ret"] - fit.params["span"] * day0["span"] - fit.params["rm"] * day0["rm"]
    assert table["estimate"].iloc[0] == pytest.approx(expected, abs=1e-10)


# -- the GARCH model: two-step feasible GLS ------------------------------------------------------

def garch_simulated(seed=3, n=600):
    """Market-model returns with GARCH(1,1) errors (omega, alpha, beta = 2e-6, 0.1, 0.85)."""
    rng = np.random.default_rng(seed)
    rm = rng.normal(0, 0.01, n)
    e, h = np.zeros(n), np.full(n, 2e-6 / 0.05)
    for t in range(1, n):
        h[t] = 2e-6 + 0.1 * e[t - 1] ** 2 + 0.85 * h[t - 1]
        e[t] = np.sqrt(h[t]) * rng.standard_normal()
    ret = 0.0002 + 0.9 * rm + e
    ret[450] += 0.04
    return fake_result(ret, rm, {"A": 450, "B": 520}, {"A": "escalation", "B": "escalation"})


def test_garch_dummy_regression_is_wls_on_arch_variances_by_hand():
    from arch import arch_model
    result = garch_simulated()
    reg = dummy_regression(result, "X", model="garch")
    assert any("GARCH(1,1)" in n for n in reg.notes)
    frame = result.returns["X"]
    rows = frame[frame["date"].isin(reg.dates)].reset_index(drop=True)
    event = rows["date"].isin(list(reg.dummy_dates.values())).to_numpy()
    # step 1, independently: OLS on the non-event sessions; residuals of every session
    base = sm.OLS(rows["ret"][~event], rows[["span", "rm"]][~event]).fit()
    e = rows["ret"] - rows[["span", "rm"]] @ base.params.to_numpy()
    # step 2: arch on those residuals (in percent), h_t; step 3: WLS without the event sessions
    fit = arch_model(e.to_numpy() * 100, mean="Zero", vol="GARCH", p=1, q=1,
                     rescale=False).fit(disp="off")
    h = (np.asarray(fit.conditional_volatility) / 100) ** 2
    wls = sm.WLS(rows["ret"][~event], rows[["span", "rm"]][~event], weights=1 / h[~event]).fit()
    # (arch's optimiser turns the 1e-16 differences of our residuals into ~1e-7 in h_t)
    np.testing.assert_allclose(reg.ols.params[["span", "rm"]], wls.params, rtol=1e-6)
    # a dummy is that session's residual; its variance s^2 h_t + x V x' (prediction error)
    t = int(np.flatnonzero(rows["date"] == reg.dummy_dates["A[+0]"])[0])
    x = rows.loc[t, ["span", "rm"]].to_numpy(float)
    assert reg.ols.params["A[+0]"] == pytest.approx(rows["ret"][t] - x @ wls.params, abs=1e-9)
    var = wls.scale * h[t] + x @ wls.cov_params().to_numpy() @ x
    assert reg.ols.bse["A[+0]"] ** 2 == pytest.approx(var, rel=1e-6)
    assert reg.ols.params["A[+0]"] == pytest.approx(0.04, abs=4 * np.sqrt(h[t]))
    table = test_hypotheses(result, ["CAR(A, 0, 1) = 0"], series="X", model="garch",
                            regression=reg)
    assert list(table["model"]) == ["garch", "garch"] and np.isfinite(table["p_value"]).all()
    # HAC with no lags: the event block is s_w^2 h_t on the dummy's diagonal, plus x V_HC0 x'
    reg0 = dummy_regression(result, "X", model="garch", hac_lags=0)
    hc0 = sm.WLS(rows["ret"][~event], rows[["span", "rm"]][~event],
                 weights=1 / h[~event]).fit(cov_type="HC0")
    k = list(reg0.ols.params.index).index("A[+0]")
    expected = wls.scale * h[t] + x @ hc0.cov_params().to_numpy() @ x
    assert reg0.hac_cov.iloc[k, k] == pytest.approx(expected, rel=1e-6)


def test_scholes_williams_is_refused_with_the_reason():
    with pytest.raises(InputError, match="ratio of OLS slopes.*'dimson'"):
        dummy_regression(simulated(), "X", model="scholes_williams")
