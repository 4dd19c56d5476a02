"""The study on a peer package's example data: seven US stocks around one shared event.

estudy2's classic example (../shared/validation/estudy2, used by path, never copied: GPL-3):
daily log returns of AMZN, ZM, UBER, NFLX, SHOP, FB and UPWK and the S&P 500, event window
2020-03-16 .. 2020-03-20. Our study reads prices, so the returns are turned back into price
paths (exp of the cumulative sum), which gives back the same log returns.

The second half rebuilds estudy2's own set-up (calendar estimation window 2019-04-01 ..
2020-03-13) with our model and inference code and checks its published statistics within 1 %
(source, mapping and convention differences: docs/methods-tests.md, "Checked against estudy2").
"""
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from eventstudy import inference, run_study
from eventstudy.config import parse_config
from eventstudy.events import read_events_text

DATA = Path(__file__).resolve().parents[2] / "shared" / "validation" / "estudy2"
pytestmark = pytest.mark.skipif(not DATA.is_dir(), reason=f"{DATA} not found")


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("peer")
    rates = pd.read_csv(DATA / "rates.csv", index_col=0, parse_dates=True)
    rates["GSPC"] = pd.read_csv(DATA / "rates_indx.csv", index_col=0, parse_dates=True)["^GSPC"]
    series = []
    for ticker, r in rates.items():
        r = r.dropna()
        prices = pd.DataFrame({"date": r.index.strftime("%Y-%m-%d"),
                               "close": 100 * np.exp(r.cumsum().to_numpy())})
        prices.to_csv(tmp / f"{ticker}.csv", index=False)
        bench = '\nbenchmark = "GSPC"' if ticker != "GSPC" else ""
        series.append(f'[series.{ticker}]\nsource = "csv"\npath = "{ticker}.csv"\n'
                      f'calendar = "XNYS"{bench}\n')
    stocks = [t for t in rates.columns if t != "GSPC"]
    config = parse_config(f"""
[study]
series = {stocks!r}
models = ["market_model"]
estimation_window = [-200, -1]
event_windows = [[0, 0], [0, 4]]
plot_window = [-3, 4]
min_estimation = 150
n_boot = 500
report_oversized_tests = true      # kp_patell vs patell below
[groups.covid]
series = {stocks!r}
events = ["covid-week"]
""".replace("'", '"') + "\n".join(series), str(tmp / "study.toml"))
    events = read_events_text(
        "event_id,announced_at,title,category,source\n"
        "covid-week,2020-03-13T16:30:00-04:00,National emergency declared (after the close),"
        "shock,https://example.org\n", "events.csv")
    return stocks, rates, run_study(events, config, offline=True, cache_dir=tmp / "cache")


def test_every_stock_is_studied_from_its_own_data(study):
    stocks, rates, res = study
    assert sorted(res.car["series"].unique()) == sorted(stocks)
    assert (res.alignment["day0"] == pd.Timestamp("2020-03-16")).all()
    ar = res.ar[res.ar.rel_day == 0].set_index("series")["return"]
    day0 = rates.loc["2020-03-16", stocks]
    assert ar[stocks].to_numpy() == pytest.approx(day0.to_numpy(), abs=1e-12)


def test_same_date_residuals_are_correlated_and_kp_shrinks_patell(study):
    stocks, _, res = study
    corr = inference.residual_correlation(res.panel)
    rbar = corr.to_numpy()[np.triu_indices(len(corr), 1)].mean()
    assert rbar > 0.05                    # market-model residuals of US stocks, same days
    tests = res.tests[(res.tests.group == "covid") & (res.tests.window_start == 0)
                      & (res.tests.window_end == 4)].set_index("test")
    assert tests.loc["kp_patell", "n"] == len(stocks)
    factor = np.sqrt(1 / (1 + (len(stocks) - 1) * rbar))
    assert abs(tests.loc["kp_patell", "statistic"]) < abs(tests.loc["patell", "statistic"])
    assert tests.loc["kp_patell", "statistic"] == pytest.approx(
        tests.loc["patell", "statistic"] * factor, rel=0.05)
    assert tests.loc["kp_bmp", "statistic"] == pytest.approx(
        tests.loc["bmp", "statistic"] * np.sqrt((1 - rbar) / (1 + (len(stocks) - 1) * rbar)),
        rel=0.05)


# --------------------------------------------------------------------------------------------
# estudy2's published statistics on this data, reproduced
# --------------------------------------------------------------------------------------------
#
# Source (quoted facts, no estudy2 code): irudnyts/estudy2, docs/articles/estudy2-intro.html at
# commit 4824af33ab3c8a7f2a60f2e412355e7510c87b26 (pkgdown site of estudy2 0.10.0, vignette
# dated 2022-04-12). The vignette downloads the prices live, then calls
#   apply_market_model(rates, regressor = rates_indx, same_regressor_for_all = TRUE,
#                      market_model = "sim", estimation_method = "ols",
#                      estimation_start = 2019-04-01, estimation_end = 2020-03-13)
#   parametric_tests / nonparametric_tests(event_start = 2020-03-16, event_end = 2020-03-20)
# on AMZN, ZM, UBER, NFLX, SHOP, FB, UPWK against ^GSPC (continuous compounding, multi_day).
# Its data vintage is the one in ../shared/validation/estudy2 (0.10.0's rates.rda): the mean ARs
# and every parametric statistic below come out equal to all printed digits.
# One row per event day (2020-03-16 .. 2020-03-20 = rel_day 0 .. 4).
E2_SOURCE = ("irudnyts/estudy2 docs/articles/estudy2-intro.html "
             "@ 4824af33ab3c8a7f2a60f2e412355e7510c87b26 (estudy2 0.10.0)")
E2_MEAN = [0.02329740, -0.03157867, -0.01617850, 0.07672027, 0.05840545]
E2_PARAMETRIC = {
    "bw_1980": [2.486449, -3.370281, -1.726675, 8.188085, 6.233409],
    "bw_1985": [1.858514, -2.519140, -1.290615, 6.120241, 4.659205],
    "t_test": [1.3941497, -1.2769075, -0.4023135, 1.7958275, 5.1233281],
    "patell": [2.5507399, -2.9495613, 0.3283654, 8.4216222, 6.3196352],
    "boehmer": [1.20471169, -1.17531339, 0.07606284, 2.16657728, 8.65212561],
    "lamb": [1.620049, -2.435456, -1.254626, 6.105794, 4.565195],
}
E2_NONPARAMETRIC = {
    "sign": [1.1338934, 0.3779645, 1.1338934, 1.8898224, 2.6457513],
    "gsign": [1.1516761, 0.3957301, 1.1516761, 1.9076220, 2.6635680],
    "csign": [0.8636930, 0.2878977, 0.8636930, 1.4394883, 2.0152836],
    "rank": [0.7962064, -0.1857202, 1.0205417, 2.1127972, 2.9255529],
    "mrank": [0.8499246, -0.2283881, 0.9865178, 2.1665371, 2.9786668],
    "wilcoxon": [23, 10, 15, 27, 28],
}
#: 1 % relative: looser than the published rounding (7-8 significant digits) everywhere
REL = 0.01
E2_DAYS = [(d, d) for d in range(5)]


@pytest.fixture(scope="module")
def e2():
    """estudy2's set-up rebuilt with our pieces: per-stock OLS market model (models.fit) on every
    trading day of 2019-04-01 .. 2020-03-13 the stock has (ZM and UBER start later), ARs and
    their prediction-error variances on 2020-03-16 .. 20, then inference.group_tests on the
    daily windows (0, 0) .. (4, 4). Only the estimation and event days are in the panel (as in
    estudy2, whose rank tests rank exactly those days)."""
    from eventstudy import models

    rates = pd.read_csv(DATA / "rates.csv", index_col=0, parse_dates=True)
    market = pd.read_csv(DATA / "rates_indx.csv", index_col=0, parse_dates=True)["^GSPC"]
    dates = rates.index
    is_est = ((dates >= "2019-04-01") & (dates <= "2020-03-13"))
    is_evt = ((dates >= "2020-03-16") & (dates <= "2020-03-20"))
    rel = np.arange(len(dates)) - dates.get_loc(pd.Timestamp("2020-03-16"))
    names = ["span", "rm"]
    frames, fits = [], {}
    for s in rates.columns:
        f = pd.DataFrame({"ret": rates[s], "rm": market, "span": 1.0, "rel_day": rel,
                          "date": dates})
        keep = (is_est | is_evt) & f["ret"].notna().to_numpy()
        f, est = f[keep], is_est[keep]
        fit = fits[s] = models.fit("market_model", f[est], names)
        X = f[names].to_numpy()
        ar = f["ret"].to_numpy() - fit.expected_x(X, np.zeros(len(f)))
        var = np.where(est, fit.sigma2, fit.ar_variance_x(X, np.ones(len(f))))
        frames.append(pd.DataFrame({
            "event_id": "covid", "series": s, "phase": np.where(est, "estimation", "event"),
            "rel_day": f["rel_day"].to_numpy(), "date": f["date"].to_numpy(),
            "abnormal_return": ar, "ar_var": var, "sigma2": fit.sigma2, "dof": fit.dof,
            "n_est": fit.n_est}))
    panel = pd.concat(frames, ignore_index=True)
    no_cars = pd.DataFrame(columns=["event_id", "series", "window_start", "window_end", "car",
                                    "car_var", "dof", "n_days"])
    tests = inference.group_tests(
        panel, no_cars, E2_DAYS,
        tests=["cross_sectional_t", "bw_cda", "patell", "bmp", "corrado_rank", "sign",
               "generalized_sign", "wilcoxon"],
        min_n={}, oversized=())     # N = 7: every statistic, none withheld (estudy2's set)
    stat = tests.pivot(index="window_start", columns="test", values="statistic")
    est_col = tests.pivot(index="window_start", columns="test", values="estimate")
    return panel, fits, market, stat, est_col


def test_e2_data_vintage_and_mean_ar(e2):
    """Same data, same market model: our cross-sectional mean AR is estudy2's ``mean``."""
    _, _, _, _, est = e2
    assert est["cross_sectional_t"].to_numpy() == pytest.approx(E2_MEAN, rel=1e-6)


def test_e2_t_test_is_our_cross_sectional_t(e2):
    """``t_test`` = mean AR / cross-sectional sd (ddof 1) * sqrt(N): our cross_sectional_t on a
    daily window. No convention difference (its t(N-1) reference is ours too)."""
    stat = e2[3]
    assert stat["cross_sectional_t"].to_numpy() == pytest.approx(E2_PARAMETRIC["t_test"], rel=REL)


def test_e2_bw_1985_is_our_bw_cda(e2):
    """``bw_1985`` = mean AR / sd of the estimation-window AAR series (each day's mean over the
    securities it has, ddof 1): our bw_cda on a daily window (crude dependence adjustment,
    Brown & Warner 1985). Convention differences, none in the statistic: estudy2's reference
    is t(mean T_i - 1), ours t(days with an AAR - 1)."""
    stat = e2[3]
    assert stat["bw_cda"].to_numpy() == pytest.approx(E2_PARAMETRIC["bw_1985"], rel=REL)


def test_e2_patell_matches(e2):
    """``patell`` = sum of SARs / sqrt(sum (T_i-2)/(T_i-4)), SAR with the market-model
    prediction-error correction: our patell. Convention difference: estudy2 scales by the
    sample sd of the estimation residuals (ddof 1, SSR/(T-1)); we use the OLS sigma
    (SSR/(T-2)), so each SAR differs by sqrt((T_i-1)/(T_i-2)), 0.2-0.25 % here (observed
    0.18-0.25 %). Same dof term ((T-2)/(T-4) = dof/(dof-2))."""
    stat = e2[3]
    assert stat["patell"].to_numpy() == pytest.approx(E2_PARAMETRIC["patell"], rel=REL)


def test_e2_boehmer_is_our_bmp(e2):
    """``boehmer`` (bh_stat) = the cross-sectional t of the SARs: our bmp. Same sigma convention
    difference as Patell, which cancels in the t ratio except that it differs across stocks
    with T_i (212-240): observed <= 0.42 % (day 2, statistic 0.076)."""
    stat = e2[3]
    assert stat["bmp"].to_numpy() == pytest.approx(E2_PARAMETRIC["boehmer"], rel=REL)


def test_e2_bw_1980_from_our_fits(e2):
    """``bw_1980`` (not one of our group tests) = mean AR / (sqrt(sum_i s_i^2) / N) with s_i^2
    the ddof-1 variance of stock i's estimation ARs. Computed here from our pieces (labelled
    estudy2 variant): s_i^2 = our sigma2_i (SSR/(T_i-2)) * (T_i-2)/(T_i-1), exact because the
    OLS residuals have mean 0."""
    _, fits, _, _, est = e2
    s2 = np.array([f.sigma2 * f.dof / (f.n_est - 1) for f in fits.values()])
    bw1980 = est["cross_sectional_t"].to_numpy() / (np.sqrt(s2.sum()) / len(s2))
    assert bw1980 == pytest.approx(E2_PARAMETRIC["bw_1980"], rel=REL)


def test_e2_lamb_from_our_bw_cda(e2):
    """``lamb`` (not one of our group tests) = bw_1985 with a prediction-error factor
    sqrt(1 + 1/mean T_i + (R_m,t - mean R_m)^2 / sum (R_m - mean R_m)^2), the market moments
    taken over the whole estimation window. Computed here as our bw_cda divided by that factor
    (labelled estudy2 variant)."""
    _, fits, market, stat, _ = e2
    rm = market.loc["2019-04-01":"2020-03-13"]
    t_bar = np.mean([f.n_est for f in fits.values()])
    evt = market.loc["2020-03-16":"2020-03-20"].to_numpy()
    factor = np.sqrt(1 + 1 / t_bar + (evt - rm.mean()) ** 2 / ((rm - rm.mean()) ** 2).sum())
    assert stat["bw_cda"].to_numpy() / factor == pytest.approx(E2_PARAMETRIC["lamb"], rel=REL)


def test_e2_sign_is_our_sign(e2):
    """``sign`` = (share of positive ARs - 1/2) sqrt(N) / (1/2): our sign statistic (we drop
    zero ARs, estudy2 counts them as not positive: none here). Convention differences: estudy2
    reads it against the normal, we give the exact binomial p-value; our MIN_N (20) would blank
    it at N = 7, so the test asks for min_n={}."""
    stat = e2[3]
    assert stat["sign"].to_numpy() == pytest.approx(E2_NONPARAMETRIC["sign"], rel=REL)


def test_e2_generalized_sign(e2):
    """``gsign`` = (w - N p) / sqrt(N p (1-p)), Cowan (1992), as ours. Convention difference: p
    is the share of positive estimation ARs pooled over all stocks' estimation days; ours is
    the mean of each stock's share (different when T_i differ: ZM, UBER). Ours is within 0.4 %
    here; with the pooled p from our ARs (labelled estudy2 variant) it is exact."""
    panel, _, _, stat, est = e2
    assert stat["generalized_sign"].to_numpy() == pytest.approx(E2_NONPARAMETRIC["gsign"],
                                                                rel=REL)
    e = panel[panel.phase == "estimation"]
    p = float((e["abnormal_return"] > 0).mean())
    n = panel[panel.phase == "event"].groupby("rel_day").size().to_numpy()
    w = est["generalized_sign"].to_numpy() * n          # our estimate is the share positive
    pooled = (w - n * p) / np.sqrt(n * p * (1 - p))
    assert pooled == pytest.approx(E2_NONPARAMETRIC["gsign"], rel=1e-6)


def test_e2_wilcoxon_w_plus_from_our_z(e2):
    """``wilcoxon`` prints W+ itself; ours is the standardized W+, z = (W+ - n(n+1)/4) / sqrt(
    n(n+1)(2n+1)/24) (no ties, no zeros here), so W+ is recovered from our statistic."""
    stat = e2[3]
    n = 7
    w_plus = stat["wilcoxon"].to_numpy() * np.sqrt(n * (n + 1) * (2 * n + 1) / 24) \
        + n * (n + 1) / 4
    assert w_plus == pytest.approx(E2_NONPARAMETRIC["wilcoxon"], abs=1e-9)


def _e2_rank_pieces(panel):
    """Scaled centred ranks U = rank / (M_i + 1) - 1/2 of each stock's raw ARs over the
    estimation + event days (a hand computation from the panel, average ranks for ties), their
    daily means Kbar_t and counts N_t, and M_i."""
    ar = panel.pivot(index="rel_day", columns="series", values="abnormal_return")
    m = ar.notna().sum().to_numpy()
    u = (ar.rank() / (m + 1.0) - 0.5).to_numpy()
    n_t = np.isfinite(u).sum(axis=1)
    kbar = np.nansum(u, axis=1) / np.maximum(n_t, 1)
    return ar.index.to_numpy(), u, kbar, n_t, m


def test_e2_mrank_is_our_corrado_rank_up_to_its_variance(e2):
    """``mrank`` ranks the raw ARs over estimation + event days, scaled by 1/(M_i + 1): our
    corrado_rank, with the same daily numerator sqrt(N_t) Kbar_t. Two convention differences,
    both in the variance S^2 and both only when a stock has missing days (ZM, UBER here):
      (a) estudy2 divides sum_t N_t Kbar_t^2 by the mean of M_i (239.1 here); we divide by the
          number of days with at least one rank (245);
      (b) estudy2's daily sum is rowMeans(U) * N, i.e. N/N_t times the real sum on a day when
          only N_t of the N stocks have an AR, which inflates the early (pre-IPO) days.
    Together ours is 3.3 % above the published value (outside 1 %). Converting ours with the
    ratio of the two variances, both computed by hand from the panel's ARs, reproduces it."""
    panel, _, _, stat, _ = e2
    _, _, kbar, n_t, m = _e2_rank_pieces(panel)
    assert stat["corrado_rank"].to_numpy() == pytest.approx(
        np.array(E2_NONPARAMETRIC["mrank"]) * 1.0329, rel=1e-3)   # the documented gap
    n, used = len(m), n_t > 0
    ours_s2 = np.sum(n_t[used] * kbar[used] ** 2) / used.sum()
    e2_s2 = np.sum(n_t[used] * (kbar[used] * n / n_t[used]) ** 2) / m.mean()
    converted = stat["corrado_rank"].to_numpy() * np.sqrt(ours_s2 / e2_s2)
    assert converted == pytest.approx(E2_NONPARAMETRIC["mrank"], rel=REL)


def test_e2_rank_corrado_1989_from_our_ranks(e2):
    """``rank`` is Corrado's (1989) unscaled rank test: D_it = rank_it - (M_i + 1)/2, statistic
    Dbar_t / sqrt(sum_t Dbar_t'^2 / mean M_i) with estudy2's rowMeans * N quirk of mrank (b).
    Not one of our tests (its unscaled ranks weight a stock by its number of days; our
    corrado_rank is the scaled form). Computed here from our ARs' ranks, D = U (M_i + 1), as a
    labelled estudy2 variant: exact, which shows that the ARs ranked are the same."""
    days, u, _, n_t, m = _e2_rank_pieces(e2[0])
    d = u * (m + 1.0)
    dbar = np.nansum(d, axis=1) / np.maximum(n_t, 1)
    used = n_t > 0
    sd = np.sqrt(np.sum((dbar[used] * len(m) / n_t[used]) ** 2) / m.mean())
    evt = np.searchsorted(days, np.arange(5))
    assert dbar[evt] / sd == pytest.approx(E2_NONPARAMETRIC["rank"], rel=REL)
