"""A small Brown & Warner simulation on the real bundled returns (the full one: benchmarks/)."""
import importlib.util
from pathlib import Path

import pytest

PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "simulate_size_power.py"


@pytest.fixture(scope="module")
def table():
    spec = importlib.util.spec_from_file_location("simulate_size_power", PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.simulate(samples=30, n_pairs=10, seed=7, model="market_model", n_boot=200,
                           shocks=(0.0, 0.02)).set_index(["level", "test", "window_start",
                                                          "window_end", "shock"])


def test_pair_t_test_is_sized_on_real_returns(table):
    # 300 pseudo-events: a 5% test rejects 5% +- 2.5% (two standard errors)
    for window in [(0, 0), (-1, 1), (0, 5)]:
        rate = table.loc[("pair", "t", *window, 0.0), "mean"]
        assert 0.015 <= rate <= 0.10, (window, rate)


def test_group_tests_reject_rarely_without_an_event_and_often_with_two_percent(table):
    null = table.xs(0.0, level="shock").xs("group", level="level")
    assert (null["mean"] <= 0.25).all(), null[null["mean"] > 0.25]     # 30 samples: loose
    shocked = table.xs(0.02, level="shock").xs("group", level="level").xs((0, 0),
                                                                          level=[1, 2])
    assert (shocked["mean"] >= 0.5).all(), shocked[shocked["mean"] < 0.5]
