"""Size and power of every test: Brown & Warner (1985) on the bundled real returns.

Random pseudo-events are drawn on real daily returns of the Nikkei 225 (against the previous
S&P 500 session) and five Japanese automakers (against the Nikkei). Each sample is N
pseudo-events (a random series and a random day 0); the study's own code computes their ARs,
CARs and tests (market model, estimation window [-250, -11]). With no event, a test at 5%
should reject about 5% of the samples; with +1% or +2% added to the day-0 return, its
rejection rate is its power.

    python benchmarks/simulate_size_power.py --samples 1000 --pairs 10   # the full study
    python benchmarks/simulate_size_power.py --samples 100               # quick look

Writes benchmarks/out/size_power.csv and prints a markdown table.
"""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd

from eventstudy import inference, load_config
from eventstudy.calendars import session_closes
from eventstudy.data.prices import load_sample
from eventstudy.returns import session_returns
from eventstudy.study import _add_regressors, _study_pair

SERIES = ["N225", "7203.T", "7267.T", "7201.T", "7261.T", "7270.T"]
WINDOWS = [(0, 0), (-1, 1), (0, 5)]
SHOCKS = [0.0, 0.01, 0.02]


def series_frames(config):
    """Session returns and benchmark regressors of every series, from the bundled sample."""
    frames = {}
    for sid in config.needed_series:
        cfg = config.series[sid]
        frames[sid] = session_returns(load_sample(cfg.ticker), session_closes(cfg), "log")
    return {sid: _add_regressors(frames[sid], sid, config, frames) for sid in frames}


def eligible_positions(frames, config) -> tuple[int, int]:
    """Day-0 positions with a full estimation and event window in every studied series."""
    e0 = config.estimation_window[0]
    hi = max(config.plot_window[1], config.event_span[1])
    lo = max(int(frames[s]["pos"].iloc[0]) - e0 for s in SERIES)
    up = min(int(frames[s]["pos"].iloc[-1]) - hi for s in SERIES)
    return lo, up


def one_sample(frames, config, rng, n_pairs, shock, model):
    """Panel and CARs of N random pseudo-events with `shock` added to the day-0 return."""
    lo, up = eligible_positions(frames, config)
    panels, cars = [], []
    for i in range(n_pairs):
        sid = SERIES[rng.integers(len(SERIES))]
        frame = frames[sid]
        pos = int(rng.integers(lo, up + 1))
        row_index = pos - int(frame["pos"].iloc[0])
        if frame["gap"].iloc[row_index]:
            continue
        if shock:
            frame = frame.copy()
            frame.loc[frame.index[row_index], "ret"] += shock
        row = SimpleNamespace(event_id=f"p{i}", series=sid, day0=frame["date"].iloc[row_index],
                              day0_pos=pos)
        out = _study_pair(frame, row, model, config, np.array([], dtype=int))
        if isinstance(out, str):
            continue
        _, car, panel = out
        panels.append(panel)
        cars += car
    return pd.concat(panels, ignore_index=True), pd.DataFrame(cars)


def simulate(samples: int, n_pairs: int, seed: int, model: str, n_boot: int,
             shocks=tuple(SHOCKS)) -> pd.DataFrame:
    config = load_config(None)
    config = replace(config, studied=tuple(SERIES), models=(model,), groups={},
                     event_windows=tuple(WINDOWS))
    frames = series_frames(config)
    rows = []
    for shock in shocks:
        rng = np.random.default_rng(seed)          # same pseudo-events for every shock
        for s in range(samples):
            panel, cars = one_sample(frames, config, rng, n_pairs, shock, model)
            cars = cars[cars["car"].notna()]
            group = inference.group_tests(panel, cars, WINDOWS, n_boot=n_boot, seed=s)
            group["level"] = "group"
            pair_t = cars.assign(test="t", statistic=cars["t_stat"], level="pair")
            boots = pd.concat([inference.pair_bootstrap(p, cars[cars.event_id == e])
                               for e, p in panel.groupby("event_id")], ignore_index=True)
            boots["level"] = "pair"
            for frame in (group, pair_t, boots):
                rows.append(frame[["window_start", "window_end", "test", "p_value",
                                   "level"]].assign(shock=shock, sample=s))
    out = pd.concat(rows, ignore_index=True)
    out["reject"] = out["p_value"] < 0.05
    table = (out.dropna(subset=["p_value"])
             .groupby(["level", "test", "window_start", "window_end", "shock"])["reject"]
             .agg(["mean", "count"]).reset_index())
    return table


def markdown(table: pd.DataFrame) -> str:
    wide = table.pivot_table(index=["level", "test"], columns=["window_start", "window_end",
                                                               "shock"], values="mean")
    counts = table.groupby(["level", "test"])["count"].min()
    head = ["test (level, n)"] + [f"[{a},{b}] {s:.0%}" for a, b, s in wide.columns]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for (level, test), values in wide.iterrows():
        cells = [f"{v:.1%}" for v in values]
        lines.append(f"| {test} ({level}, {counts[(level, test)]}) | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--pairs", type=int, default=10, help="pseudo-events per sample")
    parser.add_argument("--seed", type=int, default=1985)
    parser.add_argument("--model", default="market_model")
    parser.add_argument("--n-boot", type=int, default=500)
    parser.add_argument("--shocks", default=",".join(str(x) for x in SHOCKS),
                        help="comma-separated abnormal returns added on day 0")
    parser.add_argument("--out", default=str(Path(__file__).parent / "out" / "size_power.csv"))
    args = parser.parse_args(argv)
    started = time.perf_counter()
    shocks = tuple(float(x) for x in args.shocks.split(","))
    table = simulate(args.samples, args.pairs, args.seed, args.model, args.n_boot, shocks)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out, index=False)
    print(markdown(table))
    print(f"\n{args.samples} samples x {args.pairs} pseudo-events x {len(shocks)} shocks, "
          f"model {args.model}: {time.perf_counter() - started:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
