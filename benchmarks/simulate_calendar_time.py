"""Size of the calendar-time portfolio test: random pseudo-events on the real universe.

Each sample draws K (security, day 0) pseudo-events at random (securities of the Tokyo and US
universes of examples/universe, day 0 a random session of the security between START and
END), builds the daily calendar-time portfolio of the securities inside [0, 5] of their
pseudo-event (`eventstudy.calendar_time.portfolio_from_long`) and tests its intercept (HAC
t, 5 % two-sided). Nothing happened on those days, so a well-sized test rejects ~5 % of
the time. Run from the repository root:

    python benchmarks/simulate_calendar_time.py --samples 1000 --events 300

The study's returns are computed once (about 20 s); each sample costs ~0.1-0.3 s.
"""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from eventstudy.calendar_time import (  # noqa: E402
    fit_portfolio, long_returns, portfolio_from_long, prepare)


def universe_returns(cache_dir: str | None = None) -> pd.DataFrame:
    """The long returns frame of every security of the universe example (one study)."""
    import tempfile

    from eventstudy.config import load_config
    from eventstudy.events import load_events
    from eventstudy.study import run_study
    config = load_config(ROOT / "examples" / "universe" / "study.toml")
    config = replace(config, models=("market_model",), groups={})
    events = load_events(ROOT / "events.csv").head(1)
    with tempfile.TemporaryDirectory() as tmp:
        result = run_study(events, config, offline=True, cache_dir=cache_dir or tmp,
                           memoize=False)
        return long_returns(result)


def draw_pairs(cand: pd.DataFrame, k: int, rng: np.random.Generator) -> pd.DataFrame:
    """K random (security, session) pseudo-events among the sessions `cand` (with a bar)."""
    pick = cand.iloc[rng.integers(0, len(cand), size=k)]
    return pd.DataFrame({"event_id": [f"pseudo-{i}" for i in range(k)],
                         "series": pick["series"].to_numpy(), "day0": pick["date"].to_numpy()})


def simulate(long, samples: int, k: int, seed: int = 0, window=(0, 5),
             method: str = "market_model", benchmark: str = "index",
             start: str = "2022-07-01", end: str = "2025-12-31") -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    cand = long[(long["date"] >= pd.Timestamp(start)) & (long["date"] <= pd.Timestamp(end))
                & np.isfinite(long["ret"].to_numpy())]
    keyed = prepare(long)
    rows = []
    for s in range(samples):
        pairs = draw_pairs(cand, k, rng)
        port = portfolio_from_long(keyed, pairs, window, log=True, benchmark=benchmark)
        fit, _, lags = fit_portfolio(port, method)
        rows.append({"sample": s, "alpha": fit.params[0], "t": fit.tvalues[0],
                     "p": fit.pvalues[0], "n_periods": len(port), "mean_n": port["n"].mean(),
                     "hac_lags": lags})
    return pd.DataFrame(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=1000)
    ap.add_argument("--events", type=int, default=300, help="pseudo-events per sample")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--method", default="market_model", choices=["market_model", "excess"])
    ap.add_argument("--benchmark", default="index", choices=["index", "universe"])
    args = ap.parse_args()
    t0 = time.perf_counter()
    long = universe_returns()
    t1 = time.perf_counter()
    out = simulate(long, args.samples, args.events, args.seed, method=args.method,
                   benchmark=args.benchmark)
    t2 = time.perf_counter()
    rate = (out["p"] < 0.05).mean()
    se = np.sqrt(0.05 * 0.95 / len(out))
    print(f"calendar-time portfolio, window [0, 5], {args.method} on {args.benchmark}, "
          f"{args.events} pseudo-events a sample, {len(out)} samples (seed {args.seed})")
    print(f"rejection rate at 5 %: {rate:.2%} (binomial se {se:.2%}); at 1 %: "
          f"{(out['p'] < 0.01).mean():.2%}; at 10 %: {(out['p'] < 0.10).mean():.2%}")
    print(f"mean t {out['t'].mean():+.3f}, sd t {out['t'].std():.3f}; mean alpha "
          f"{out['alpha'].mean():+.6f}; periods {out['n_periods'].median():.0f} (median), "
          f"securities a period {out['mean_n'].mean():.2f}, HAC lags {out['hac_lags'].iloc[0]}")
    print(f"returns {t1 - t0:.1f} s, samples {t2 - t1:.1f} s ({(t2 - t1) / len(out):.3f} s each)")


if __name__ == "__main__":
    main()
