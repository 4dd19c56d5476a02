"""Model fits and the CAR variance, against closed forms computed by hand."""
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st

from eventstudy import models as mdl


def frame(ret, rm=None, span=None):
    n = len(ret)
    out = pd.DataFrame({"ret": ret, "span": np.ones(n) if span is None else span})
    if rm is not None:
        out["rm"] = rm
    return out


def test_constant_mean_car_variance_by_hand():
    est = frame([0.01, -0.02, 0.03, 0.00, 0.015])
    fit = mdl.fit("constant_mean", est, ["span"])
    r = np.array([0.01, -0.02, 0.03, 0.00, 0.015])
    mu = r.sum() / 5                                   # 0.007
    s2 = ((r - mu) ** 2).sum() / (5 - 1)
    assert fit.params["span"] == pytest.approx(mu)
    assert fit.sigma2 == pytest.approx(s2)
    assert fit.dof == 4 and fit.n_est == 5
    event = frame([0.05, -0.01])
    # Var(CAR) = s2 (L + L^2 / T): the second term is the estimation error of the mean
    assert fit.car_variance(event) == pytest.approx(s2 * (2 + 4 / 5))
    assert fit.ar_variance(event).tolist() == pytest.approx([s2 * (1 + 1 / 5)] * 2)
    assert fit.expected(event).tolist() == pytest.approx([mu, mu])


def test_market_model_car_variance_matches_campbell_lo_mackinlay_closed_form():
    rng = np.random.default_rng(1)
    rm = rng.normal(0, 0.01, 60)
    ret = 0.0005 + 1.2 * rm + rng.normal(0, 0.008, 60)
    fit = mdl.fit("market_model", frame(ret, rm), ["span", "rm"])
    rm_ev = np.array([0.02, -0.03, 0.01])
    event = frame(np.zeros(3), rm_ev)
    T, L = 60, 3
    beta = ((rm - rm.mean()) * (ret - ret.mean())).sum() / ((rm - rm.mean()) ** 2).sum()
    alpha = ret.mean() - beta * rm.mean()
    resid = ret - alpha - beta * rm
    s2 = (resid ** 2).sum() / (T - 2)
    closed = s2 * (L + L ** 2 / T
                   + ((rm_ev - rm.mean()).sum()) ** 2 / ((rm - rm.mean()) ** 2).sum())
    assert fit.params.tolist() == pytest.approx([alpha, beta])
    assert fit.sigma2 == pytest.approx(s2)
    assert fit.car_variance(event) == pytest.approx(closed, rel=1e-10)
    # and each AR: s2 (1 + 1/T + (rm_t - mean)^2 / Sxx)
    ar_closed = s2 * (1 + 1 / T + (rm_ev - rm.mean()) ** 2 / ((rm - rm.mean()) ** 2).sum())
    assert fit.ar_variance(event).to_numpy() == pytest.approx(ar_closed, rel=1e-10)


def test_car_path_variance_ends_at_the_car_variance():
    rng = np.random.default_rng(2)
    rm = rng.normal(0, 0.01, 80)
    fit = mdl.fit("market_model", frame(rm * 0.9 + rng.normal(0, 0.01, 80), rm), ["span", "rm"])
    event = frame(np.zeros(5), rng.normal(0, 0.02, 5))
    path = fit.car_path_variance(event)
    assert path[-1] == pytest.approx(fit.car_variance(event))
    assert path[0] == pytest.approx(fit.ar_variance(event).iloc[0])
    assert np.all(np.diff(path) > 0)


def test_market_adjusted_has_no_estimated_parameters():
    rng = np.random.default_rng(3)
    rm = rng.normal(0, 0.01, 50)
    ret = rm + rng.normal(0, 0.005, 50)
    fit = mdl.fit("market_adjusted", frame(ret, rm), [])
    ar = ret - rm
    assert fit.sigma2 == pytest.approx(ar.var(ddof=1))
    assert fit.dof == 49
    event = frame([0.01, 0.02], [0.005, 0.0])
    assert fit.expected(event).tolist() == pytest.approx([0.005, 0.0])
    assert fit.car_variance(event) == pytest.approx(2 * ar.var(ddof=1))


def test_a_return_across_a_gap_expects_two_sessions_of_drift():
    est = frame([0.01, 0.02, 0.03, 0.02])
    fit = mdl.fit("constant_mean", est, ["span"])
    event = frame([0.05], span=[2.0])
    assert fit.expected(event).iloc[0] == pytest.approx(2 * 0.02)
    s2 = fit.sigma2
    assert fit.ar_variance(event).iloc[0] == pytest.approx(s2 * (2 + 4 / 4))


def test_constant_returns_are_refused():
    with pytest.raises(mdl.ModelError, match="constant returns"):
        mdl.fit("constant_mean", frame([0.01] * 10), ["span"])


def test_collinear_benchmark_is_refused():
    with pytest.raises(mdl.ModelError, match="collinear"):
        mdl.fit("market_model", frame(np.linspace(0, 0.01, 10), [0.002] * 10), ["span", "rm"])


@settings(max_examples=30, deadline=None)
@given(st.floats(0.1, 100), st.integers(0, 10_000))
def test_scaling_returns_scales_variances_by_the_square(scale, seed):
    rng = np.random.default_rng(seed)
    rm = rng.normal(0, 0.01, 40)
    ret = 0.5 * rm + rng.normal(0, 0.01, 40)
    ev = frame(rng.normal(0, 0.01, 3), rng.normal(0, 0.01, 3))
    a = mdl.fit("market_model", frame(ret, rm), ["span", "rm"])
    b = mdl.fit("market_model", frame(ret * scale, rm), ["span", "rm"])
    assert b.sigma2 == pytest.approx(a.sigma2 * scale ** 2, rel=1e-9)
    assert b.car_variance(ev) == pytest.approx(a.car_variance(ev) * scale ** 2, rel=1e-9)
    assert b.params.to_numpy() == pytest.approx(a.params.to_numpy() * scale, rel=1e-9, abs=1e-15)


def simulate_garch(n, omega, alpha, beta, seed):
    rng = np.random.default_rng(seed)
    h = np.empty(n)
    e = np.empty(n)
    h[0] = omega / (1 - alpha - beta)
    for t in range(n):
        if t:
            h[t] = omega + alpha * e[t - 1] ** 2 + beta * h[t - 1]
        e[t] = np.sqrt(h[t]) * rng.standard_normal()
    return e, h


def test_garch_recovers_parameters_and_filters_by_the_recursion():
    omega, alpha, beta = 2e-6, 0.10, 0.85
    e, _ = simulate_garch(3000, omega, alpha, beta, seed=5)
    rng = np.random.default_rng(6)
    rm = rng.normal(0, 0.01, 3000)
    ret = 0.0002 + 0.8 * rm + e
    fit = mdl.fit_garch(frame(ret[:2990], rm[:2990]), ["span", "rm"])
    assert fit.alpha == pytest.approx(alpha, abs=0.04)
    assert fit.beta == pytest.approx(beta, abs=0.06)
    event = frame(ret[2990:], rm[2990:])
    h = fit.conditional_variance(event)
    # the same recursion written out by hand, from the last estimation day
    resid = (event["ret"] - fit.expected(event)).to_numpy()
    expected = []
    prev_h, prev_e2 = fit.last_h, fit.last_e2
    for r in resid:
        prev_h = fit.omega + fit.alpha * prev_e2 + fit.beta * prev_h
        expected.append(prev_h)
        prev_e2 = r ** 2
    assert h == pytest.approx(np.array(expected), rel=1e-10)


def test_garch_raises_the_variance_after_a_shock():
    e, _ = simulate_garch(1500, 2e-6, 0.10, 0.85, seed=7)
    fit = mdl.fit_garch(frame(e), ["span"])
    calm = frame(np.zeros(3) + fit.params["span"])
    shocked = frame(np.array([0.08, 0.0, 0.0]) + fit.params["span"])
    h_calm, h_shock = fit.conditional_variance(calm), fit.conditional_variance(shocked)
    assert h_calm[0] == pytest.approx(h_shock[0])        # day 0 knows nothing of itself
    assert h_shock[1] > 5 * h_calm[1]                    # the day after does


def test_scholes_williams_beta_by_hand_and_under_non_synchronous_trading():
    rng = np.random.default_rng(11)
    n = 3000
    rm = rng.normal(0, 0.01, n + 1)
    # a thinly traded asset: half of each market move shows today, half tomorrow; beta 1.2
    ret = 1.2 * (0.5 * rm[1:] + 0.5 * rm[:-1]) + rng.normal(0, 0.004, n)
    est = pd.DataFrame({"ret": ret, "span": 1.0, "rm": rm[1:]})
    est["rm_lag1"] = est["rm"].shift(1)
    est["rm_lead1"] = est["rm"].shift(-1)
    fit = mdl.fit_scholes_williams(est)
    rows = est.dropna()
    slope = [np.polyfit(rows[c], rows["ret"], 1)[0] for c in ("rm_lag1", "rm", "rm_lead1")]
    rho = np.corrcoef(rows["rm_lag1"], rows["rm"])[0, 1]
    beta = sum(slope) / (1 + 2 * rho)
    assert fit.params["rm"] == pytest.approx(beta, rel=1e-10)
    assert fit.params["span"] == pytest.approx(rows["ret"].mean() - beta * rows["rm"].mean())
    assert fit.params["rm"] == pytest.approx(1.2, abs=0.05)      # SW recovers the true beta
    ols = mdl.fit("market_model", rows, ["span", "rm"])
    assert ols.params["rm"] == pytest.approx(0.6, abs=0.05)      # OLS sees half of it
    assert fit.dof == len(rows) - 2 and fit.n_est == len(rows)


def test_garch_imports_neither_arch_nor_statsmodels():
    """arch (and statsmodels' OLS) import statsmodels and scipy.stats: ~0.5 s of a rerun with
    one new event. models.garch11_qmle and pinv_ols give their numbers without them."""
    import subprocess
    import sys
    code = ("import numpy as np, pandas as pd, sys\n"
            "from eventstudy import models\n"
            "rng = np.random.default_rng(0)\n"
            "est = pd.DataFrame({'ret': rng.normal(0, 0.01, 300), 'span': 1.0})\n"
            "models.fit_garch(est, ['span'])\n"
            "print(*[m in sys.modules for m in ('arch', 'statsmodels', 'scipy.stats', "
            "'numba')])\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=__import__("pathlib").Path(__file__).parents[1])
    assert out.stdout.split() == ["False"] * 4, out.stderr


def _arch_fit(y):
    import warnings
    arch = pytest.importorskip("arch")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return arch.arch_model(y, mean="Zero", vol="GARCH", p=1, q=1,
                               rescale=False).fit(disp="off")


def _bundled_returns(name):
    from importlib import resources
    path = resources.files("eventstudy").joinpath("data", "sample", name)
    with resources.as_file(path) as f:
        close = pd.read_csv(f)["close"].to_numpy(dtype=float)
    return np.diff(np.log(close))


def _garch_cases():
    """Estimation windows of real returns (calm and April 2025), fat-tailed noise of many
    lengths and scales, simulated GARCH series, and windows where SLSQP fails."""
    cases = []
    for name in ("_N225.csv", "JPY=X.csv", "7201.T.csv", "7203.T.csv"):
        r = _bundled_returns(name)
        for end in (len(r), len(r) - 130, len(r) - 400, len(r) - 900):
            cases.append((f"{name}:{end}", 100 * (r[end - 240:end] - r[end - 240:end].mean())))
    rng = np.random.default_rng(2026)
    for k in range(16):
        n = int(rng.integers(40, 400))
        cases.append((f"t5:{k}", rng.standard_t(5, n) * rng.uniform(0.2, 3.0)))
    for k in range(8):
        e, _ = simulate_garch(250, 0.05, rng.uniform(0.0, 0.3), rng.uniform(0.5, 0.69),
                              seed=100 + k)
        cases.append((f"garch:{k}", e))
    return cases


@pytest.mark.parametrize("name,y", _garch_cases(), ids=lambda c: c if isinstance(c, str) else "")
def test_garch11_qmle_is_arch_to_the_bit(name, y):
    """The estimator is arch's (same backcast, bounds, starting grid and SLSQP calls): the
    same parameters, conditional volatilities and optimiser status, exactly."""
    res = _arch_fit(y)
    params, vol, status = mdl.garch11_qmle(y)
    assert status == res.convergence_flag
    np.testing.assert_array_equal(params, res.params.to_numpy())
    np.testing.assert_array_equal(vol, res.conditional_volatility)


def test_garch11_qmle_agrees_with_arch_when_slsqp_fails():
    """Some windows make SLSQP stop with 'Inequality constraints incompatible' (exit 4): the
    status is arch's too, so such a fit is refused in both."""
    rng = np.random.default_rng(0)
    statuses = []
    # which windows fail depends on the CPU's BLAS kernels (1 of 600 with OpenBLAS's SkylakeX,
    # 2 with Haswell's): draw until both outcomes have been seen a few times
    while len(statuses) < 1500 and (statuses.count(0) < 20 or len(statuses) - statuses.count(0) < 2):
        y = rng.standard_t(4, int(rng.integers(60, 400))) * rng.uniform(0.3, 3)
        params, _, status = mdl.garch11_qmle(y)
        statuses.append(status)
        if status == 0 and statuses.count(0) > 60:
            continue                # (enough converged fits compared with arch's)
        res = _arch_fit(y)
        assert status == res.convergence_flag
        np.testing.assert_array_equal(params, res.params.to_numpy())
    assert 0 in statuses and any(statuses)      # both outcomes were exercised


@given(st.integers(0, 10_000), st.integers(8, 300), st.integers(1, 4))
@settings(max_examples=40, deadline=None)
def test_pinv_ols_is_statsmodels_to_the_bit(seed, n, k):
    from statsmodels.regression.linear_model import OLS
    rng = np.random.default_rng(seed)
    X = np.column_stack([np.ones(n)] + [rng.normal(0, 0.01, n) for _ in range(k - 1)])
    y = X @ rng.normal(0, 1, k) * 0.01 + rng.standard_t(4, n) * 0.01
    X = pd.DataFrame(X).to_numpy(dtype=float)       # the layout models.fit passes
    res = OLS(y, X).fit()
    params, cov, resid, scale, dof = mdl.pinv_ols(y, X)
    np.testing.assert_array_equal(params, res.params)
    np.testing.assert_array_equal(cov, res.normalized_cov_params)
    np.testing.assert_array_equal(resid, res.resid)
    assert scale == res.scale and dof == res.df_resid


def test_garch_mean_equation_is_the_statsmodels_fit():
    rng = np.random.default_rng(3)
    rm = rng.normal(0, 0.01, 240)
    est = frame(0.0003 + 0.9 * rm + simulate_garch(240, 2e-6, 0.1, 0.85, seed=4)[0], rm)
    garch = mdl.fit_garch(est, ["span", "rm"])
    ols = mdl.fit("market_model", est, ["span", "rm"])
    np.testing.assert_array_equal(garch.params.to_numpy(), ols.params.to_numpy())
    np.testing.assert_array_equal(garch.mean.xtx_inv, ols.xtx_inv)
    assert garch.sigma2 == ols.sigma2 and garch.dof == ols.dof


def test_a_garch_fit_whose_optimiser_did_not_converge_is_refused(monkeypatch):
    """SLSQP returns estimates even when it stops early (arch's convergence_flag != 0): they
    are not a maximum of the likelihood, so the pair is skipped with the reason, never used."""
    from eventstudy import models
    rng = np.random.default_rng(1)
    est = pd.DataFrame({"ret": rng.normal(0, 0.01, 300), "span": 1.0})
    real = models.garch11_qmle

    def stopped_early(y):
        params, vol, _ = real(y)
        return params, vol, 9                         # SLSQP: iteration limit reached

    assert models.fit_garch(est, ["span"]).alpha >= 0          # converges as it is
    monkeypatch.setattr(models, "garch11_qmle", stopped_early)
    with pytest.raises(models.ModelError, match=r"did not converge .*\(SLSQP exit 9\)"):
        models.fit_garch(est, ["span"])
