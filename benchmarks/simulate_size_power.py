"""Size and power of every group test: Brown & Warner (1985) simulations from arrays.

Two sources of abnormal returns, each giving samples of N pseudo-events (pairs):

* ``real``: the bundled real daily closes (eventstudy/data/sample): the Nikkei 225 against the
  previous S&P 500 session and five Japanese automakers against the Nikkei. A pseudo-event is
  a random series and a random day 0 with a full estimation window [-250, -11] and event
  window, inside the dates every series covers (2022-07 on); market model by OLS, AR
  variances with the prediction-error term (as the study's).
* ``universe``: the bundled real universe (examples/universe): a random stock among ~600 Tokyo
  stocks (market model on TOPIX) and ~500 S&P 500 stocks (on the S&P 500) and a random day 0
  with a full window of returns (Brown & Warner's design on a whole market), after the
  study's data checks.
* ``normal``: i.i.d. N(0, 1) returns, constant-mean model, every pair on its own dates;
  ``hnormal``: the same with a volatility per pair uniform in [0.5, 2] (CARs then are a scale
  mixture, fat-tailed across pairs); ``t3``, ``t5``: Student t returns; ``garch``: GARCH(1,1)
  returns (alpha 0.08, beta 0.90, Student t5 innovations), the textbook model of daily stock
  returns: volatility clusters and the estimation window's variance is a noisy measure of the
  event day's (it reproduces the real returns' over-rejection by patell and bw_cda).

``inference.group_tests_matrix`` runs on each sample (no study, no I/O beyond reading the
sample once); a shock s adds s (real: in log return; normal: s in units of s_i) to day 0.
A test rejects when its two-sided p < 0.05; NaN rows (a test's minimum N) are counted apart.
Beside each rejection rate, ``var_ratio`` is the variance of the test's statistic over the
samples divided by its nominal variance (1 for a normal reference, dof/(dof - 2) for Student
t): a test that over-rejects because its denominator understates the spread shows it there.

    python benchmarks/simulate_size_power.py --samples 1000 --pairs 10,30    # the docs table
    python benchmarks/simulate_size_power.py --samples 100 --pairs 10         # quick look
    python benchmarks/simulate_size_power.py --kp-gapped 500                  # KP at scale
    python benchmarks/simulate_size_power.py --samples 2000 --pairs 10 --variance   # + var_ratio
    python benchmarks/simulate_size_power.py --pooled 20000 --sources real,universe,normal,garch

Prints a markdown table per N; ``--out`` writes the long table as CSV.
"""
from __future__ import annotations

import os

if __name__ == "__main__":   # run as a script only: imported (by the tests), it must not
    #                           change the BLAS threads of the processes its importer starts
    for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_v, "1")

import argparse  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from eventstudy import inference  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "eventstudy" / "data" / "sample"
WINDOWS = [(0, 0), (-1, 1), (0, 5)]
EST = (-250, -11)
EVT = (-5, 5)
#: series studied and their benchmarks: (file, benchmark file, benchmark lag in sessions)
REAL_SERIES = {"N225": ("_N225", "_GSPC"), "7203.T": ("7203.T", "_N225"),
               "7267.T": ("7267.T", "_N225"), "7201.T": ("7201.T", "_N225"),
               "7261.T": ("7261.T", "_N225"), "7270.T": ("7270.T", "_N225")}


# --------------------------------------------------------------------------------------------
# abnormal returns of one pseudo-event: one column of the group's matrices
# --------------------------------------------------------------------------------------------

def _pair_columns(y: np.ndarray, x: np.ndarray | None, shock: float) -> dict:
    """OLS on the estimation rows of y (constant, plus x when given), ARs and variances for
    the rows EST[0]..EVT[1] (y and x cover exactly those rows)."""
    days = np.arange(EST[0], EVT[1] + 1)
    est = days <= EST[1]
    y = y.copy()
    y[days == 0] += shock
    X = np.ones((len(days), 1)) if x is None else np.column_stack([np.ones(len(days)), x])
    ok = est & np.isfinite(y) & np.isfinite(X).all(axis=1)
    Xe, ye = X[ok], y[ok]
    xtx_inv = np.linalg.inv(Xe.T @ Xe)
    beta = xtx_inv @ Xe.T @ ye
    ar = y - X @ beta
    T, k = len(ye), X.shape[1]
    s2 = float(ar[ok] @ ar[ok]) / (T - k)
    lev = np.einsum("ij,jk,ik->i", X, xtx_inv, X)          # x' (X'X)^-1 x
    var = np.where(est, s2, s2 * (1 + lev))
    ar[est & ~ok] = np.nan
    out = {"ar": ar, "var": var, "dof": float(T - k), "cars": {}}
    for a, b in WINDOWS:
        rows = (days >= a) & (days <= b)
        xs = X[rows].sum(axis=0)
        out["cars"][(a, b)] = (float(ar[rows].sum()), s2 * (rows.sum() + xs @ xtx_inv @ xs),
                               float(rows.sum()))
    return out


def _group(cols: list[dict], dates: list[np.ndarray]
           ) -> tuple[inference.GroupMatrix, list[inference.WindowCars]]:
    """A GroupMatrix of pseudo-events p0000, p0001, ... (sorted) and its windows."""
    days = np.arange(EST[0], EVT[1] + 1)
    P = len(cols)
    keys = pd.MultiIndex.from_tuples([(f"p{i:04d}", "s") for i in range(P)],
                                     names=["event_id", "series"])
    is_est = np.broadcast_to((days <= EST[1])[:, None], (len(days), P))
    dof = np.array([c["dof"] for c in cols])
    g = inference.GroupMatrix.from_arrays(
        keys, days, np.column_stack([c["ar"] for c in cols]),
        np.column_stack([c["var"] for c in cols]), is_est, ~is_est,
        np.column_stack(dates), dof)
    wins = []
    for w in WINDOWS:
        car, var, n = (np.array(v) for v in zip(*(c["cars"][w] for c in cols)))
        wins.append(inference.WindowCars(w[0], w[1], car, var, dof, n))
    return g, wins


# --------------------------------------------------------------------------------------------
# the two sources
# --------------------------------------------------------------------------------------------

def _read(name: str) -> pd.Series:
    f = pd.read_csv(SAMPLE / f"{name}.csv", parse_dates=["date"]).set_index("date")["close"]
    return np.log(f).diff().dropna()


def real_returns() -> dict[str, pd.DataFrame]:
    """Per series: its log returns on its own sessions and the benchmark's return as of the
    series' previous close to this close (the last benchmark session on or before each date;
    for the Nikkei against the S&P 500, strictly before: the US session closes later)."""
    out = {}
    for sid, (file, bench) in REAL_SERIES.items():
        r = _read(file)
        b_level = np.log(pd.read_csv(SAMPLE / f"{bench}.csv", parse_dates=["date"])
                         .set_index("date")["close"])
        lag = "1ns" if bench == "_GSPC" else "0ns"
        asof = b_level.reindex(b_level.index.union(r.index)).ffill()
        when = r.index - pd.Timedelta(lag)
        level = asof.reindex(asof.index.union(when)).ffill().reindex(when).to_numpy()
        rm = np.diff(np.concatenate([[np.nan], level]))
        out[sid] = pd.DataFrame({"r": r.to_numpy(), "rm": rm,
                                 "date": r.index.to_numpy(dtype="datetime64[D]")})
        out[sid] = out[sid].iloc[1:]                    # the first rm has no previous close
    return out


UNIVERSE = ROOT / "examples" / "universe"


def universe_returns() -> dict[str, pd.DataFrame]:
    """Per security of the bundled real universe (examples/universe: ~600 Tokyo stocks against
    TOPIX, ~500 S&P 500 stocks against the S&P 500), its log returns and the benchmark's on the
    same sessions, after the study's data checks (eventstudy.data.checks: skipped securities
    left out, dropped bars and flagged days NaN, so a pair whose window holds one is redrawn)."""
    from eventstudy.data.checks import check_closes
    benches = {"tokyo": pd.read_csv(UNIVERSE / "TOPIX.csv", parse_dates=["date"]),
               "us": pd.read_csv(SAMPLE / "_GSPC.csv", parse_dates=["date"])}
    out = {}
    for market, bench in benches.items():
        long = pd.read_parquet(UNIVERSE / f"closes-{market}.parquet")
        wide = long.pivot(index="date", columns="security", values="close")
        wide.index = pd.DatetimeIndex(wide.index).as_unit("ns")
        checked = check_closes(wide)
        closes = checked.closes
        flagged = checked.problems[checked.problems["action"] == "flag day"]
        for sec, day in zip(flagged["security"], flagged["date"]):
            if sec in closes.columns and day in closes.index:
                closes.loc[day, sec] = np.nan
        level = np.log(bench.set_index("date")["close"]).reindex(closes.index)
        rm = level.diff().to_numpy()
        r = np.log(closes).diff().to_numpy()
        dates = closes.index.to_numpy(dtype="datetime64[D]")
        for j, sec in enumerate(closes.columns):
            out[f"{market}:{sec}"] = pd.DataFrame({"r": r[1:, j], "rm": rm[1:],
                                                   "date": dates[1:]})
    return out


def universe_eligible(frames) -> dict[str, np.ndarray]:
    """Per security, the day-0 positions whose whole window [EST[0], EVT[1]] has returns and
    benchmark returns (no gap, no flagged day, listed throughout)."""
    L = EVT[1] - EST[0] + 1
    out = {}
    for sid, f in frames.items():
        ok = (np.isfinite(f["r"].to_numpy()) & np.isfinite(f["rm"].to_numpy())).astype(int)
        if len(ok) < L:
            continue
        run = np.convolve(ok, np.ones(L, dtype=int), mode="valid")     # full windows
        starts = np.flatnonzero(run == L)
        if len(starts):
            out[sid] = starts - EST[0]                                    # day-0 positions
    return out


def eligible(frames) -> dict[str, np.ndarray]:
    """Per series, the day-0 positions with a full window whose date every series can have
    as a day 0 (the common range, as the first version of this script drew them)."""
    first = max(f["date"].iloc[-EST[0]] for f in frames.values())
    last = min(f["date"].iloc[-EVT[1] - 1] for f in frames.values())
    return {sid: np.flatnonzero((f["date"] >= first).to_numpy() & (f["date"] <= last).to_numpy())
            for sid, f in frames.items()}


def real_sample(frames, rng, n_pairs: int, shock: float, positions=None):
    positions = eligible(frames) if positions is None else positions
    names = list(positions)
    cols, dates = [], []
    while len(cols) < n_pairs:
        sid = names[rng.integers(len(names))]
        f = frames[sid]
        pos = int(positions[sid][rng.integers(len(positions[sid]))])
        rows = f.iloc[pos + EST[0]:pos + EVT[1] + 1]
        if not np.isfinite(rows["rm"].to_numpy()).all():
            continue
        cols.append(_pair_columns(rows["r"].to_numpy(), rows["rm"].to_numpy(), shock))
        dates.append(rows["date"].to_numpy())
    return _group(cols, dates)


#: GARCH(1,1) of the ``garch`` source: (alpha, beta, Student t innovations' df, burn-in days)
GARCH = (0.08, 0.90, 5.0, 500)


def garch_returns(rng, days: int, n: int) -> np.ndarray:
    """(days, n) GARCH(1,1) returns with unit unconditional variance: h_t = (1 - alpha - beta)
    + alpha r_{t-1}^2 + beta h_{t-1}, r_t = sqrt(h_t) z_t, z_t unit-variance Student t; each
    column starts from the unconditional variance and runs a burn-in first."""
    alpha, beta, df, burn = GARCH
    z = rng.standard_t(df, (burn + days, n)) * np.sqrt((df - 2) / df)
    h = np.ones(n)
    r = np.empty_like(z)
    for t in range(burn + days):                    # a recursion in time, vectorised over n
        r[t] = np.sqrt(h) * z[t]
        h = (1.0 - alpha - beta) + alpha * r[t] ** 2 + beta * h
    return r[burn:]


def normal_sample(rng, n_pairs: int, shock: float, df: float = np.inf, hetero: bool = False,
                  garch: bool = False):
    """i.i.d. returns (normal, or Student t with ``df`` scaled to unit variance); with
    ``hetero`` each pair has its own volatility; with ``garch`` GARCH(1,1) returns."""
    D = EVT[1] - EST[0] + 1
    vol = rng.uniform(0.5, 2.0, n_pairs) if hetero else np.ones(n_pairs)
    if garch:
        e = garch_returns(rng, D, n_pairs)
    elif np.isinf(df):
        e = rng.standard_normal((D, n_pairs))
    else:
        e = rng.standard_t(df, (D, n_pairs)) * np.sqrt((df - 2) / df)
    r = e * vol
    cols = [_pair_columns(r[:, i], None, shock * vol[i]) for i in range(n_pairs)]
    base = np.datetime64("2000-01-03") + np.arange(D)
    dates = [base + 400 * i for i in range(n_pairs)]      # pairs never share a date
    return _group(cols, dates)


# --------------------------------------------------------------------------------------------
# the simulation
# --------------------------------------------------------------------------------------------

def source_returns(source: str):
    """(frames, eligible positions) of a real source ("real", "universe"); (None, None) for a
    synthetic one (normal, t, garch...)."""
    if source == "real":
        frames = real_returns()
        return frames, eligible(frames)
    if source == "universe":
        frames = universe_returns()
        return frames, universe_eligible(frames)
    return None, None


def with_missing(g: inference.GroupMatrix, wins: list, rng, share: float):
    """The sample with missing bars in the event window: each (pair, event day) is missing
    with probability ``share`` (no AR that day, and no CAR for a window containing it), so
    that a group's windows differ in their pairs, as in a real panel's gaps."""
    if share <= 0:
        return g, wins
    evt = g.is_evt & (rng.random(g.ar.shape) >= share)
    gone = g.is_evt & ~evt
    ar = np.where(gone, np.nan, g.ar)
    g2 = inference.GroupMatrix.from_arrays(g.keys, g.days, ar, g.var, g.is_est, evt, g.date,
                                           g.dof)
    out = []
    for w in wins:
        rows = (g.days >= w.start) & (g.days <= w.end)
        lost = gone[rows].any(axis=0)
        out.append(inference.WindowCars(w.start, w.end, np.where(lost, np.nan, w.car),
                                        w.car_var, w.dof, w.n_days))
    return g2, out


def simulate(samples: int, n_pairs: int, seed: int, source: str = "normal", n_boot: int = 500,
             shocks=(0.0,), report_oversized: bool = False, missing: float = 0.0,
             tests=inference.ALL_GROUP_TESTS) -> pd.DataFrame:
    """One row per (test, window, shock): rejection rate among samples with a p-value, the
    number of those samples and of NaN rows (with the first note seen). The tests of
    inference.OVERSIZED are NaN with a note unless ``report_oversized``."""
    frames, positions = source_returns(source)
    rows = []
    for shock in shocks:
        rng = np.random.default_rng(seed)                    # same pseudo-events per shock
        for s in range(samples):
            if source in ("real", "universe"):
                g, wins = real_sample(frames, rng, n_pairs, shock, positions)
            else:
                g, wins = normal_sample(rng, n_pairs, shock,
                                        df=float(source[1:]) if source[0] == "t" else np.inf,
                                        hetero=source == "hnormal", garch=source == "garch")
            g, wins = with_missing(g, wins, np.random.default_rng([seed, s, 1]), missing)
            out = inference.group_tests_matrix(g, wins, n_boot=n_boot, seed=s, tests=tests,
                                               oversized=() if report_oversized else None)
            rows.append(out.assign(shock=shock, sample=s))
    out = pd.concat(rows, ignore_index=True)
    out["reject"] = out["p_value"] < 0.05
    out["has_p"] = out["p_value"].notna()
    # nominal variance of the statistic: 1 (normal reference) or dof / (dof - 2) (Student t)
    stat = out["statistic"].where(np.isfinite(out["statistic"]) & out["has_p"])
    out["stat"] = stat
    out["nominal"] = np.where(out["dof"] > 2, out["dof"] / (out["dof"] - 2), 1.0)
    table = (out.groupby(["test", "window_start", "window_end", "shock"], sort=False)
             .agg(rate=("reject", "sum"), count=("has_p", "sum"), nan=("has_p", "size"),
                  note=("note", "max"), stat_var=("stat", "var"), nominal=("nominal", "mean"))
             .reset_index())
    table["nan"] = table["nan"] - table["count"]
    table["rate"] = table["rate"] / table["count"].where(table["count"] > 0)
    table["var_ratio"] = table.pop("stat_var") / table.pop("nominal")
    return table.assign(source=source, n_pairs=n_pairs)


def markdown(table: pd.DataFrame, variance: bool = False, withheld=()) -> str:
    """One row per test, one column per (window, shock); NaN rows shown as 'NaN'. With
    ``variance``, each cell also shows the statistic's variance over its nominal one. Tests in
    ``withheld`` (computed with report_oversized) show 'NaN' and, after it, the rate they would
    have if reported."""
    cell = (100 * table["rate"]).map("{:.1f}%".format)
    if variance:
        cell = cell + table["var_ratio"].map(" ({:.2f})".format)
    cell = np.where(table["test"].isin(list(withheld)) & (table["count"] > 0),
                    "NaN; reported: " + cell, cell)
    cells = table.assign(cell=np.where(table["count"] > 0, cell, "NaN"),
                         col=table.apply(lambda r: f"[{r.window_start},{r.window_end}]"
                                         + (f" +{r.shock:g}" if r.shock else ""), axis=1))
    wide = cells.pivot_table(index="test", columns="col", values="cell", aggfunc="first",
                             sort=False)
    head = ["test"] + list(wide.columns)
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for test, values in wide.iterrows():
        lines.append(f"| {test} | " + " | ".join(values) + " |")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# why a test over-rejects: the standardized CARs of many independent pseudo-events
# --------------------------------------------------------------------------------------------

def _draw(source: str, rng, n_pairs: int, frames=None, positions=None):
    if source in ("real", "universe"):
        return real_sample(frames, rng, n_pairs, 0.0, positions)
    return normal_sample(rng, n_pairs, 0.0,
                         df=float(source[1:]) if source[0] == "t" else np.inf,
                         hetero=source == "hnormal", garch=source == "garch")


def _garch_scar(g: inference.GroupMatrix) -> dict:
    """Each pair's SCARs with the study's GARCH(1,1) variances (models.garch11 on its
    estimation residuals, h_t filtered through the event rows with the pair's own ARs, as the
    ``garch`` model does; docs/methods.md); NaN for a pair whose fit is refused."""
    from eventstudy.models import ModelError, garch11
    est = g.is_est[:, 0]
    out = {w: np.full(len(g.keys), np.nan) for w in WINDOWS}
    for i in range(len(g.keys)):
        e = g.ar[:, i]
        try:
            omega, alpha, beta, h_est = garch11(e[est])
        except ModelError:
            continue
        h = np.empty(len(e))
        h[est] = h_est
        for t in np.flatnonzero(~est):                  # day t uses information up to t - 1
            h[t] = omega + alpha * e[t - 1] ** 2 + beta * h[t - 1]
        for a, b in WINDOWS:
            rows = (g.days >= a) & (g.days <= b)
            out[(a, b)][i] = e[rows].sum() / np.sqrt(h[rows].sum())
    return out


def _pool(source: str, pairs: int, seed: int, garch_model: bool = False) -> dict:
    """CARs and standardized CARs of ``pairs`` independent pseudo-events, per window (drawn
    100 at a time by the samplers above), the mean nominal SCAR variance dof/(dof - 2) and the
    mean first-order autocorrelation of the pairs' estimation-window ARs."""
    frames, positions = source_returns(source)
    rng = np.random.default_rng(seed)
    out = {k: {w: [] for w in WINDOWS} for k in ("car", "ols", "garch")}
    nominal, rho1 = [], []
    while len(nominal) < pairs:
        g, wins = _draw(source, rng, min(100, pairs - len(nominal)), frames, positions)
        nominal += list(g.dof / (g.dof - 2))
        e = g.est_ar[g.is_est.any(axis=1)]
        e = e - np.nanmean(e, axis=0)
        rho1 += list(np.nansum(e[1:] * e[:-1], axis=0) / np.nansum(e * e, axis=0))
        for w in wins:
            out["car"][(w.start, w.end)].append(w.car)
            out["ols"][(w.start, w.end)].append(w.car / np.sqrt(w.car_var))
        if garch_model:
            for w, v in _garch_scar(g).items():
                out["garch"][w].append(v)
    pools = {k: {w: np.concatenate(v) for w, v in d.items() if v} for k, d in out.items()}
    pools["nominal"] = float(np.mean(nominal))
    pools["rho1"] = float(np.mean(rho1))
    return pools


def pooled(pools: dict, source: str, sizes=(10, 30), resamples: int = 40000,
           seed: int = 0) -> pd.DataFrame:
    """Per window, the standardized CAR (SCAR = CAR / sqrt(prediction-error variance),
    Patell's summand) of independent pseudo-events (:func:`_pool`): its variance over the
    nominal dof / (dof - 2) (the exact variance of a t(dof) variable, which it is under i.i.d.
    normal returns), its excess kurtosis, and Patell's rejection rate at each N of ``sizes``
    when N SCARs are drawn independently from the pool (no cross-correlation), with the nominal
    variance (``patell``) and with the pool's own variance (``patell_measured``): this
    separates a misstated variance from fat tails. ``ar_autocorr``: the mean lag-1
    autocorrelation of the estimation ARs (a negative one shrinks a multi-day CAR's variance
    below L sigma^2, which the prediction-error variance assumes). Rows ``garch``: the same for SCARs
    standardized by the ``garch`` model's conditional variances, when pooled."""
    from scipy import stats
    rng = np.random.default_rng(seed)
    nominal = pools["nominal"]
    rows = []
    for kind in ("ols", "garch"):
        for w, x in pools[kind].items():
            x = x[np.isfinite(x)]
            row = {"source": source, "variance": kind, "window": f"[{w[0]},{w[1]}]",
                   "pairs": len(x), "var_ratio": x.var() / nominal,
                   "ar_autocorr": pools["rho1"],
                   "excess_kurtosis": float(stats.kurtosis(x)), "mean": x.mean()}
            for n in sizes:
                s = x[rng.integers(0, len(x), (resamples, n))].sum(axis=1)
                row[f"patell N={n}"] = np.mean(np.abs(s) / np.sqrt(n * nominal) > 1.96)
                row[f"patell_measured N={n}"] = np.mean(np.abs(s) / np.sqrt(n * x.var())
                                                        > 1.96)
            rows.append(row)
    return pd.DataFrame(rows)


def _hall(x: np.ndarray, gamma: str = "G1", cubic: bool = True) -> np.ndarray:
    """Skewness-adjusted t of the rows of x (last axis): sqrt(n)(S + g S^2/3 [+ g^2 S^3/27]
    + g/(6n)), S = mean/sd; g the adjusted G1 (inference's) or, ``"lbt"``, Lyon, Barber &
    Tsai's m3 / s^3."""
    n = x.shape[-1]
    m = x.mean(axis=-1)
    sd = x.std(axis=-1, ddof=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        S = m / sd
        g = ((x - m[..., None]) ** 3).mean(axis=-1) / sd ** 3
        if gamma == "G1":
            g = g * n * n / ((n - 1) * (n - 2))
        return np.sqrt(n) * (S + g * S ** 2 / 3 + (g ** 2 * S ** 3 / 27 if cubic else 0)
                             + g / (6 * n))


def skew_variants(pools: dict, source: str, sizes=(10, 30), samples: int = 20000,
                  n_boot: int = 400, seed: int = 0) -> pd.DataFrame:
    """Rejection rates at 5 % of variants of the skewness-adjusted t on N CARs drawn
    independently from the pool, and the correlation of the sample's t with its skewness G1
    (``corr_S_g``: 0 for a symmetric light-tailed population): the plain t, inference's skew_t (Hall 1992 with G1, t(N-1)),
    Lyon-Barber-Tsai's skewness estimate, Johnson (1978) without Hall's cubic term, normal
    p-values, and two bootstrap calibrations of Hall's statistic (full-size resamples of the
    centred CARs, 1,000 samples, N <= 100): symmetric (|t*| >= |t|) and equal-tailed
    (LBT's)."""
    from scipy import special
    rng = np.random.default_rng(seed)
    rows = []
    for w, c in pools["car"].items():
        c = c[np.isfinite(c)]
        for n in sizes:
            x = c[rng.integers(0, len(c), (samples, n))]
            p = lambda t: 2 * special.stdtr(n - 1, -np.abs(t))           # noqa: E731
            t = x.mean(axis=1) / (x.std(axis=1, ddof=1) / np.sqrt(n))
            z = (x - x.mean(axis=1, keepdims=True)) / x.std(axis=1, ddof=1, keepdims=True)
            g1 = n / ((n - 1) * (n - 2)) * (z ** 3).sum(axis=1)
            row = {"source": source, "window": f"[{w[0]},{w[1]}]", "N": n,
                   "corr_S_g": float(np.corrcoef(t, g1)[0, 1]),
                   "t": np.mean(p(t) < 0.05),
                   "skew_t": np.mean(p(_hall(x)) < 0.05),
                   "lbt_gamma": np.mean(p(_hall(x, "lbt")) < 0.05),
                   "johnson": np.mean(p(_hall(x, cubic=False)) < 0.05),
                   "normal_p": np.mean(special.erfc(np.abs(_hall(x)) / np.sqrt(2)) < 0.05)}
            if n > 100:                        # (the bootstrap's memory grows with n)
                rows.append(row)
                continue
            xs = x[:1000]
            t0 = _hall(xs)
            y = xs - xs.mean(axis=1, keepdims=True)
            idx = rng.integers(0, n, (len(xs), n_boot, n))
            tb = _hall(np.take_along_axis(np.broadcast_to(y[:, None, :], idx.shape), idx, 2))
            ok = np.isfinite(tb)
            hits = (np.abs(tb) >= np.abs(t0)[:, None]) & ok
            row["boot_symmetric"] = np.mean(hits.sum(axis=1) / ok.sum(axis=1) < 0.05)
            tb = np.where(ok, tb, np.nan)
            lo, hi = np.nanquantile(tb, [0.025, 0.975], axis=1)
            row["boot_equal_tailed"] = np.mean((t0 < lo) | (t0 > hi))
            rows.append(row)
    return pd.DataFrame(rows)


def _print_markdown(t: pd.DataFrame) -> None:
    print("| " + " | ".join(t.columns) + " |\n|" + "---|" * len(t.columns))
    for r in t.itertuples(index=False):
        print("| " + " | ".join(f"{v:.3f}" if isinstance(v, float) else str(v) for v in r)
              + " |")


# --------------------------------------------------------------------------------------------
# Kolari-Pynnonen at scale on gapped, clustered data
# --------------------------------------------------------------------------------------------

def kp_gapped_sample(rng, n_sec=50, events=(300, 303, 340, 420), rho=0.3, gaps=0.05,
                     late=0.1):
    """n_sec securities with a market and 5 industry factors (residual correlation ~rho),
    studied around 4 events (two with overlapping windows); 5% of estimation days missing at
    random per security, 10% of securities listed 50-100 days into the estimation window."""
    days = np.arange(EST[0], EVT[1] + 1)
    est = days <= EST[1]
    C = max(events) + EVT[1] + 1
    ind = rng.integers(0, 5, n_sec)
    f = rng.standard_normal((C, 6))
    vol = rng.uniform(0.5, 2, n_sec)
    e = (np.sqrt(rho) * (0.5 * f[:, [0]] + np.sqrt(0.75) * f[:, 1 + ind])
         + np.sqrt(1 - rho) * rng.standard_normal((C, n_sec))) * vol
    miss = rng.random((C, n_sec)) < gaps
    late_by = np.where(rng.random(n_sec) < late, rng.integers(50, 100, n_sec), 0)
    cols, dates = [], []
    for E in events:
        cal = E + days
        for s in range(n_sec):
            y = e[cal, s].copy()
            m = miss[cal, s] & est
            m[:late_by[s]] = True
            y[m] = np.nan
            cols.append(_pair_columns(y, None, 0.0))
            dates.append(np.datetime64("2000-01-03") + cal)
    return _group(cols, dates)


def kp_gapped(samples: int, seed: int = 2011) -> pd.DataFrame:
    """Rejection rates of the exact and the date-sums KP tests on the same samples."""
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(samples):
        g, wins = kp_gapped_sample(rng)
        tests = ["patell", "bmp", "kp_patell", "kp_bmp"]
        a = inference.group_tests_matrix(g, wins, tests=tests)
        b = inference.group_tests_matrix(g, wins, tests=tests[2:], kp_exact_max=0)
        rows += [a.assign(path="exact"), b.assign(path="date sums", sample=s)]
    out = pd.concat(rows, ignore_index=True)
    out["reject"] = out["p_value"] < 0.05
    return (out.groupby(["test", "path", "window_start", "window_end"])["reject"].mean()
            .unstack(["window_start", "window_end"]))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--pairs", default="10,30", help="comma-separated N")
    parser.add_argument("--sources", default="real,normal",
                        help="comma-separated: real, normal, t3, t5 ...")
    parser.add_argument("--seed", type=int, default=1985)
    parser.add_argument("--n-boot", type=int, default=500)
    parser.add_argument("--shocks", default="0", help="comma-separated day-0 shocks")
    parser.add_argument("--kp-gapped", type=int, default=0, metavar="SAMPLES",
                        help="instead: size of exact vs date-sums KP on gapped data")
    parser.add_argument("--no-min-n", action="store_true",
                        help="calibration: compute every test at every N (inference.MIN_N off)")
    parser.add_argument("--report-oversized", action="store_true",
                        help="compute the tests of inference.OVERSIZED (NaN by default) and "
                             "show their rates as 'NaN; reported: x%%'")
    parser.add_argument("--variance", action="store_true",
                        help="show var(statistic) / nominal variance beside each rate")
    parser.add_argument("--pooled", type=int, default=0, metavar="PAIRS",
                        help="instead: variance and tails of the standardized CAR of PAIRS "
                             "independent pseudo-events per source, Patell's size from them, "
                             "and variants of skew_t on their CARs")
    parser.add_argument("--garch-model", action="store_true",
                        help="with --pooled: also standardize by the garch model's variances")
    parser.add_argument("--missing", type=float, default=0.0, metavar="SHARE",
                        help="missing bars: each (pair, event day) missing with this "
                             "probability (no AR that day, no CAR for a window holding it), "
                             "so that windows differ in their pairs")
    parser.add_argument("--tests", default="",
                        help="comma-separated: only these group tests (default: all)")
    parser.add_argument("--out", default="")
    args = parser.parse_args(argv)
    if args.no_min_n:
        getattr(inference, "MIN_N", {}).clear()         # (also for older inference modules)
    started = time.process_time()
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    if args.kp_gapped:
        t = kp_gapped(args.kp_gapped)
        print("| test | path | " + " | ".join(f"[{a},{b}]" for a, b in t.columns) + " |")
        print("|---|---|" + "---|" * len(t.columns))
        for (test, path), v in t.iterrows():
            print(f"| {test} | {path} | " + " | ".join(f"{x:.1%}" for x in v) + " |")
        print(f"\n{args.kp_gapped} samples, commit {commit}, "
              f"{time.process_time() - started:.0f} s CPU", file=sys.stderr)
        return
    if args.pooled:
        sizes = tuple(int(x) for x in args.pairs.split(","))
        scar, skew = [], []
        for src in args.sources.split(","):
            pools = _pool(src, args.pooled, args.seed, args.garch_model)
            scar.append(pooled(pools, src, sizes, seed=args.seed))
            skew.append(skew_variants(pools, src, sizes, seed=args.seed))
        _print_markdown(pd.concat(scar, ignore_index=True))
        print()
        _print_markdown(pd.concat(skew, ignore_index=True))
        print(f"\n{args.pooled} pairs per source, commit {commit}, "
              f"{time.process_time() - started:.0f} s CPU", file=sys.stderr)
        return
    shocks = tuple(float(x) for x in args.shocks.split(","))
    tables = []
    for source in args.sources.split(","):
        for n in (int(x) for x in args.pairs.split(",")):
            t = simulate(args.samples, n, args.seed, source, args.n_boot, shocks,
                         report_oversized=args.report_oversized, missing=args.missing,
                         tests=tuple(args.tests.split(",")) if args.tests
                         else inference.ALL_GROUP_TESTS)
            tables.append(t)
            withheld = inference.OVERSIZED if args.report_oversized else ()
            print(f"\n### {source}, N = {n}, {args.samples} samples"
                  + (f", missing bars {args.missing:.0%}" if args.missing else "") + "\n\n"
                  f"{markdown(t, args.variance, withheld)}")
            notes = t.loc[t["nan"] > 0, ["test", "note"]].drop_duplicates("test")
            for test, note in notes.itertuples(index=False):
                print(f"* {test}: NaN ({note})")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        pd.concat(tables).to_csv(args.out, index=False)
    print(f"\ncommit {commit}; {time.process_time() - started:.0f} s CPU", file=sys.stderr)


if __name__ == "__main__":
    main()
