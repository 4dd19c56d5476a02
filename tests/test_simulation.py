"""A small Brown & Warner simulation (the full one: benchmarks/simulate_size_power.py).

N = 10 pseudo-events per sample, on the bundled real returns (market model) and on i.i.d.
normal returns: without an event every group test rejects near 5 % or is NaN with a note
(below its minimum N, or withheld because it over-rejects on daily returns at every N:
inference.OVERSIZED); with +2 % on day 0 the tests find it."""
import importlib.util
from pathlib import Path

import numpy as np
import pytest

from eventstudy.inference import OVERSIZED

PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "simulate_size_power.py"


@pytest.fixture(scope="module")
def sim():
    spec = importlib.util.spec_from_file_location("simulate_size_power", PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("source", ["real", "normal"])
def test_group_tests_are_sized_or_nan_with_a_note(sim, source):
    table = sim.simulate(samples=300, n_pairs=10, seed=7, source=source, n_boot=199)
    for test, rows in table.groupby("test"):
        if (rows["count"] == 0).all():
            why = "not reported: " if test in OVERSIZED else "needs N >= "
            assert rows["note"].str.startswith(why).all(), test
            continue
        assert (rows["nan"] == 0).all(), test
        # 3 windows x 300 samples: standard error of a 5 % rate about 0.8 points
        rate = (rows["rate"] * rows["count"]).sum() / rows["count"].sum()
        assert 0.02 <= rate <= 0.09, (test, rate)
    nan_tests = set(table.loc[table["count"] == 0, "test"])
    assert nan_tests == {"sign", "generalized_sign", "bootstrap", *OVERSIZED}


def test_the_withheld_tests_are_sized_on_normal_returns_when_reported(sim):
    """What OVERSIZED withholds is a property of daily returns, not a bug in the statistics:
    on i.i.d. normal returns the four reject near 5 %."""
    table = sim.simulate(samples=300, n_pairs=10, seed=7, source="normal", n_boot=199,
                         report_oversized=True)
    for test in OVERSIZED:
        rows = table[table["test"] == test]
        assert (rows["count"] == 300).all(), test
        assert rows["note"].str.contains("over-rejects on daily").all(), test
        rate = (rows["rate"] * rows["count"]).sum() / rows["count"].sum()
        assert 0.02 <= rate <= 0.09, (test, rate)


def test_a_two_percent_day0_shock_is_found(sim):
    table = sim.simulate(samples=60, n_pairs=10, seed=8, source="real", n_boot=199,
                         shocks=(0.02,), report_oversized=True)
    day0 = table[(table.window_start == 0) & (table.window_end == 0) & (table["count"] > 0)]
    assert len(day0) == 11
    assert (day0["rate"] >= 0.5).all(), day0[["test", "rate"]]


def test_the_standardized_car_has_the_t_variance_on_normal_returns(sim):
    # i.i.d. normal returns: CAR / sqrt(prediction-error variance) is exactly t(dof), whose
    # variance dof / (dof - 2) is Patell's; 4,000 pairs put the ratio within ~0.07 of 1
    table = sim.pooled(sim._pool("normal", 4000, seed=11), "normal", sizes=(10,),
                       resamples=20000, seed=11)
    assert (table["var_ratio"].between(0.92, 1.08)).all(), table
    assert (table["excess_kurtosis"].abs() < 0.5).all(), table
    assert (table["patell N=10"].between(0.04, 0.06)).all(), table


def test_garch_returns_inflate_patells_variance_and_the_measured_variance_sizes_it(sim):
    # GARCH(1,1) with t5 innovations (clustered, fat-tailed volatility, as real daily returns):
    # the estimation window's variance understates the event window's on average (Jensen: a
    # noisy variance in the denominator), so the SCAR's variance exceeds dof/(dof-2) and
    # Patell over-rejects; scaled by the measured variance it is sized again
    pools = sim._pool("garch", 4000, seed=12)
    table = sim.pooled(pools, "garch", sizes=(10,), resamples=20000, seed=12)
    assert table["var_ratio"].mean() > 1.05, table
    assert (table["patell N=10"] > table["patell_measured N=10"]).all(), table
    assert (table["patell_measured N=10"].between(0.04, 0.065)).all(), table


def test_garch_returns_have_unit_variance_and_volatility_clustering(sim):
    r = sim.garch_returns(np.random.default_rng(3), 2000, 200)
    assert r.var() == pytest.approx(1.0, abs=0.1)
    r2 = r ** 2 - (r ** 2).mean()
    rho = (r2[1:] * r2[:-1]).mean() / (r2 * r2).mean()
    assert rho > 0.1                       # squared returns are autocorrelated (clustering)
    assert abs((r[1:] * r[:-1]).mean()) < 0.02      # returns themselves are not
