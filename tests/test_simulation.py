"""A small Brown & Warner simulation (the full one: benchmarks/simulate_size_power.py).

N = 10 pseudo-events per sample, on the bundled real returns (market model) and on i.i.d.
normal returns: without an event every group test rejects near 5 % or is NaN with a note
(its minimum N); with +2 % on day 0 the tests find it."""
import importlib.util
from pathlib import Path

import pytest

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
        if (rows["count"] == 0).all():                     # below the test's minimum N
            assert rows["note"].str.contains("needs N >= ").all(), test
            continue
        assert (rows["nan"] == 0).all(), test
        # 3 windows x 300 samples: standard error of a 5 % rate about 0.8 points
        rate = (rows["rate"] * rows["count"]).sum() / rows["count"].sum()
        assert 0.02 <= rate <= 0.09, (test, rate)
    nan_tests = set(table.loc[table["count"] == 0, "test"])
    assert nan_tests == {"sign", "generalized_sign", "bootstrap"}


def test_a_two_percent_day0_shock_is_found(sim):
    table = sim.simulate(samples=60, n_pairs=10, seed=8, source="real", n_boot=199,
                         shocks=(0.02,))
    day0 = table[(table.window_start == 0) & (table.window_end == 0) & (table["count"] > 0)]
    assert len(day0) == 11
    assert (day0["rate"] >= 0.5).all(), day0[["test", "rate"]]
