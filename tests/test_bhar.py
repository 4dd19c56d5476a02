"""BHAR per pair and window, recomputed by hand from the daily rows of `result.ar`:
prod(1 + R_t) - prod(1 + E[R_t]) over the window's days with an abnormal return (for log
returns R = exp(r) - 1 and 1 + E[R] = exp(E[r])); NaN where the CAR is NaN. On the golden
synthetic panel (gaps, late listing, delisting, a missing day 0), both the numpy path and the
fast path."""
import dataclasses

import numpy as np
import pytest

from eventstudy import run_study
from tests.golden.scenarios import synthetic


def _hand(result, log: bool):
    ar = result.ar[np.isfinite(result.ar["abnormal_return"])]
    car = result.car
    rows = car.merge(ar, on=["event_id", "series", "model"])
    rows = rows[rows["rel_day"].between(rows["window_start"], rows["window_end"])]
    if log:
        gross, normal = np.exp(rows["return"]), np.exp(rows["expected_return"])
    else:
        gross, normal = 1 + rows["return"], 1 + rows["expected_return"]
    rows = rows.assign(g=gross.to_numpy(), n=normal.to_numpy())
    keys = ["event_id", "series", "model", "window_start", "window_end"]
    hand = rows.groupby(keys).agg(g=("g", "prod"), n=("n", "prod"))
    hand = (hand["g"] - hand["n"]).rename("hand")
    return car.set_index(keys).join(hand)


@pytest.mark.parametrize("path", ["off", "on"])
@pytest.mark.parametrize("returns", ["log", "simple"])
def test_bhar_is_the_buy_and_hold_difference_of_the_window_days(tmp_path, monkeypatch, path,
                                                                returns):
    if path == "on":
        pytest.importorskip("numba")
    monkeypatch.setenv("EVENTSTUDY_FASTPATH", path)
    events, config, kwargs = synthetic(tmp_path)
    config = dataclasses.replace(config, returns=returns,
                                 models=("market_model", "constant_mean"))
    result = run_study(events, config, **kwargs)
    both = _hand(result, returns == "log")
    defined = np.isfinite(both["car"])
    assert defined.sum() > 50 and (~defined).sum() > 0
    assert np.isnan(both.loc[~defined, "bhar"]).all()
    err = np.abs(both.loc[defined, "bhar"] - both.loc[defined, "hand"])
    assert err.max() < 1e-12
    # a window with a missing bar inside: the return after the gap spans both sessions and
    # is compounded like any other day (as in the CAR)
    gapped = both[defined & both["note"].str.contains("missing bar")]
    assert len(gapped)
