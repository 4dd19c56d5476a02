"""The study on a peer package's example data: seven US stocks around one shared event.

estudy2's classic example (../shared/validation/estudy2, used by path, never copied: GPL-3):
daily log returns of AMZN, ZM, UBER, NFLX, SHOP, FB and UPWK and the S&P 500, event window
2020-03-16 .. 2020-03-20. Our study reads prices, so the returns are turned back into price
paths (exp of the cumulative sum), which gives back the same log returns.
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
