"""Multi-event dummy regressions and linear hypotheses about event effects (issue #3).

One regression per series over the whole sample (the earliest estimation window start to the
latest event window end): the series' returns on the model's regressors plus one dummy per
(event, event day) of the union of the event windows (Thompson 1985; Binder 1985; Karafiath
1988). Each dummy's coefficient is that session's abnormal return, its OLS variance is the
prediction-error variance, and a CAR is a sum of coefficients, so hypotheses about CARs are
linear restrictions R b = r tested with statsmodels' `t_test` / `wald_test`.

    >>> test_hypotheses(result, ["CAR(liberation-day, 0, 1) = 0",
    ...                          "mean CAR(category=escalation, 0, 1) < 0"], series="N225")

Formulas, conventions and the HAC correction of the event-day block: docs/methods-hypotheses.md.
"""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats

from eventstudy import models as mdl
from eventstudy.errors import InputError

COV_TYPES = ("HAC", "nonrobust")
SUPPORTED_MODELS = ("constant_mean", "market_adjusted", "market_model", "factor_model", "dimson",
                    "garch")
# The Scholes-Williams beta is a ratio of three OLS slopes and the lag-one autocorrelation of
# the benchmark, not one regression's coefficient: it has no dummy-regression form.
UNSUPPORTED = {"scholes_williams": "the Scholes-Williams beta is a ratio of OLS slopes, not "
                                   "one regression's coefficient, so it has no dummy-regression "
                                   "form; 'dimson' is its regression counterpart"}
COLUMNS = ["series", "model", "hypothesis", "estimate", "se", "statistic", "dof", "p_value",
           "alternative", "cov_type", "n_obs", "test", "df_num", "note"]
ALTERNATIVES = {"=": "two-sided", "<": "less", ">": "greater"}


def default_hac_lags(n_obs: int) -> int:
    """Newey & West (1994) rule of thumb: floor(4 (T/100)^(2/9)); 8 lags for T = 2500."""
    return int(np.floor(4 * (n_obs / 100) ** (2 / 9)))


@dataclass(frozen=True)
class DummyRegression:
    """One series' dummy regression: both statsmodels fits and what each dummy stands for."""
    series: str
    model: str
    ols: object                   # statsmodels results, cov_type "nonrobust"
    hac: object                   # statsmodels results, cov_type "HAC" (Bartlett, hac_lags)
    hac_cov: pd.DataFrame         # hac.cov_params() with the event-day block corrected (docs)
    hac_lags: int
    columns: dict                 # (event_id, rel_day) -> dummy column name (shared if joint)
    dummy_dates: dict             # dummy column name -> session date
    dates: pd.DatetimeIndex       # the sessions used, in order (len == n_obs)
    events: pd.DataFrame          # event_id, category, day0 of the events with dummies
    span: tuple[int, int]         # event days dummied: the union of the event windows
    notes: list[str] = field(default_factory=list)

    @property
    def n_obs(self) -> int:
        return int(self.ols.nobs)

    def cov(self, cov_type: str) -> np.ndarray:
        if cov_type == "HAC":
            return self.hac_cov.to_numpy()
        if cov_type == "nonrobust":
            return np.asarray(self.ols.cov_params())
        raise InputError(f"unknown cov_type {cov_type!r}{_suggest(cov_type, COV_TYPES)}")


def dummy_regression(result, series: str, model: str = "market_model", *,
                     hac_lags: int | None = None, sample=None,
                     overlap: str = "merge") -> DummyRegression:
    """Fit the multi-event dummy regression of one series (OLS, plain and HAC).

    `sample` = (start, end) session dates (either may be None) overrides the default sample.
    `overlap`: "merge" gives (event, day) pairs that fall on the same session one joint dummy
    (named ``a[+1]&b[+0]``, noted); "raise" raises an InputError listing them.
    """
    if overlap not in ("merge", "raise"):
        raise InputError(f"overlap must be 'merge' or 'raise', not {overlap!r}")
    if series not in result.returns:
        raise InputError(f"unknown series {series!r}{_suggest(series, result.returns)} "
                         "(no returns for it in this result)")
    if model in UNSUPPORTED:
        raise InputError(f"the dummy regression cannot use the model {model!r}: "
                         f"{UNSUPPORTED[model]}")
    if model not in SUPPORTED_MODELS:
        raise InputError(f"the dummy regression supports the models {', '.join(SUPPORTED_MODELS)},"
                         f" not {model!r}{_suggest(model, SUPPORTED_MODELS)}")
    config = result.config
    names = mdl.regressor_names(model, tuple(getattr(config, "factors", ())),
                                getattr(config, "dimson_lags", 1))
    frame = result.returns[series]
    if not (np.diff(frame["pos"].to_numpy()) > 0).all():
        frame = frame.sort_values("pos", kind="stable")
    frame = frame.reset_index(drop=True)
    needed = names + (["rm"] if model == "market_adjusted" else [])
    missing = [n for n in needed if n not in frame]
    if missing:
        raise InputError(f"the {model.replace('_', ' ')} needs {', '.join(missing)}, which series "
                         f"{series!r} does not have (no benchmark or factor configured)")
    span = tuple(config.event_span) if hasattr(config, "event_span") else (
        min(w[0] for w in config.event_windows), max(w[1] for w in config.event_windows))
    notes: list[str] = []

    ev = _event_days(result, series, frame, notes)
    offsets = np.arange(span[0], span[1] + 1)
    d0 = ev["day0_pos"].to_numpy()
    data = {c: frame[c].to_numpy() for c in dict.fromkeys(["pos", "date", "ret", "span", "gap"]
                                                           + needed)}
    pos = data["pos"]
    if sample is None:
        if not len(ev):
            raise InputError(f"no event has its day 0 within the data of series {series!r}")
        keep = (pos >= d0.min() + config.estimation_window[0]) & (pos <= d0.max() + span[1])
    else:
        start, end = (pd.Timestamp(s) if s is not None else None for s in sample)
        keep = np.ones(len(frame), bool)
        if start is not None:
            keep &= (frame["date"] >= start).to_numpy()
        if end is not None:
            keep &= (frame["date"] <= end).to_numpy()

    # Every (event, day) as a calendar position; the rows in any event window.
    pair_pos = (d0[:, None] + offsets[None, :]).ravel()
    pair_event = np.repeat(ev["event_id"].to_numpy(), len(offsets))
    pair_day = np.tile(offsets, len(ev))
    in_window = np.isin(pos, pair_pos)
    usable = keep & ~data["gap"].astype(bool) & (in_window | (data["span"] == 1))
    for c in ["ret"] + needed:
        usable &= ~np.isnan(data[c].astype(float))
    use = np.flatnonzero(usable)
    n = len(use)
    if n == 0:
        raise InputError(f"series {series!r}: no usable sessions in the sample")
    dates = pd.DatetimeIndex(data["date"][use])

    # Locate each (event, day) among the rows used; one dummy column per distinct row.
    row_pos = pos[use]
    idx = np.minimum(np.searchsorted(row_pos, pair_pos), n - 1)
    found = row_pos[idx] == pair_pos
    _note_missing(frame, keep, pair_pos[~found], pair_event[~found], pair_day[~found], notes)
    pair_event, pair_day, pair_row = pair_event[found], pair_day[found], idx[found]
    uniq, col = np.unique(pair_row, return_inverse=True)
    members: list[list[str]] = [[] for _ in uniq]
    for e, k, c in zip(pair_event, pair_day, col):
        members[c].append(f"{e}[{k:+d}]")
    col_names = ["&".join(m) for m in members]
    dummy_dates = dict(zip(col_names, dates[uniq]))
    lines = [f"{dummy_dates[name]:%Y-%m-%d}: {' and '.join(m)}"
             for name, m in zip(col_names, members) if len(m) > 1]
    if lines and overlap == "raise":
        raise InputError(f"series {series!r}: event days share a session, so their dummies "
                         f"are collinear: {'; '.join(lines)} (use overlap='merge' for joint "
                         "dummies, or drop one of the events)")
    notes += [f"joint dummy on {line}: their abnormal returns on that session are not "
              "separately identified" for line in lines]

    # X = [model regressors | dummies]; y = ret - offset, as in models.design
    k_base = len(names)
    X = np.zeros((n, k_base + len(uniq)))
    for j, c in enumerate(names):
        X[:, j] = data[c][use]
    X[uniq, k_base + np.arange(len(uniq))] = 1.0
    offset = data["rm"][use] if model == "market_adjusted" else 0.0
    y = pd.Series(data["ret"][use] - offset, name="ret")
    X = pd.DataFrame(X, columns=names + col_names)
    if n - len(uniq) <= k_base + 1:
        raise InputError(f"series {series!r}: {n - len(uniq)} non-event sessions for "
                         f"{k_base} regressors: too few for the dummy regression")
    if np.linalg.matrix_rank(X.to_numpy()) < X.shape[1]:
        raise InputError(f"series {series!r}: the regressors {names} are collinear on the "
                         "non-event sessions (e.g. a constant benchmark)")
    lags = default_hac_lags(n) if hac_lags is None else hac_lags
    if not isinstance(lags, (int, np.integer)) or isinstance(lags, bool) or lags < 0:
        raise InputError(f"hac_lags must be a whole number >= 0, not {hac_lags!r}")
    lags = int(lags)
    if model == "garch":
        h = _garch_variances(series, y.to_numpy() - X.to_numpy()[:, :k_base]
                             @ sm.OLS(y, X).fit().params.to_numpy()[:k_base])
        notes.append("GARCH(1,1): weighted least squares with weights 1/h_t, h_t the "
                     "conditional variance of the base model's residuals (two-step FGLS)")
        ols = sm.WLS(y, X, weights=1.0 / h).fit()
        hac = sm.WLS(y, X, weights=1.0 / h).fit(cov_type="HAC", cov_kwds={"maxlags": lags},
                                                use_t=True)
        scale = np.sqrt(h[uniq])
    else:
        ols = sm.OLS(y, X).fit()
        hac = sm.OLS(y, X).fit(cov_type="HAC", cov_kwds={"maxlags": lags}, use_t=True)
        scale = np.ones(len(uniq))
    hac_cov = hac.cov_params() + _event_block(ols, uniq, k_base, lags, scale)

    columns = {(str(e), int(k)): col_names[c] for e, k, c in zip(pair_event, pair_day, col)}
    with_dummies = ev[ev["event_id"].isin(set(pair_event))][["event_id", "category", "day0"]]
    return DummyRegression(series=series, model=model, ols=ols, hac=hac, hac_cov=hac_cov,
                           hac_lags=lags, columns=columns, dummy_dates=dummy_dates,
                           dates=dates,
                           events=with_dummies.reset_index(drop=True), span=span, notes=notes)


def _event_block(ols, dummy_rows: np.ndarray, k_base: int, lags: int,
                 scale: np.ndarray) -> np.ndarray:
    """The error covariance of the event sessions, added to the HAC dummy block.

    The residual of a single-observation dummy is zero, so the sandwich never sees the event
    errors: statsmodels' HAC variance of a dummy coefficient is only x'V_b x (far too small).
    We add Omega_ts = w(|t-s|) gamma_|t-s| (Bartlett weights, gamma from the non-event
    residuals, lags in sample rows), which is sigma^2 on the diagonal, as in plain OLS.
    Under weighted least squares gamma is of the whitened residuals and the error of session t
    is sqrt(h_t) times a whitened one: `scale` is sqrt(h_t) of the dummy rows (1 for OLS).
    """
    u = np.asarray(ols.wresid, dtype=float).copy()
    u[dummy_rows] = 0.0
    n = len(u)
    j = np.arange(lags + 1)
    gamma = np.array([u[k:] @ u[:n - k] for k in j]) / ols.df_resid
    weight = 1.0 - j / (lags + 1)
    dist = np.abs(dummy_rows[:, None] - dummy_rows[None, :])
    near = dist <= lags
    omega = np.where(near, (weight * gamma)[np.minimum(dist, lags)], 0.0)
    block = np.zeros((k_base + len(dummy_rows),) * 2)
    block[k_base:, k_base:] = omega * np.outer(scale, scale)
    return block


def _garch_variances(series: str, resid: np.ndarray) -> np.ndarray:
    """Conditional variances h_t of a GARCH(1,1) fitted by arch to the base model's residuals
    over the whole sample (event sessions included: their residual is the abnormal return, as
    in the study's GARCH model, and h_t only uses sessions before t)."""
    try:
        return mdl.garch11(resid, "the sample")[3]
    except mdl.ModelError as exc:
        raise InputError(f"series {series!r}: {exc}, so the garch dummy regression has no "
                         "weights") from None


def _event_days(result, series: str, frame: pd.DataFrame, notes: list[str]) -> pd.DataFrame:
    """event_id, category, day0, day0_pos (the series' `pos`) of every event with day 0 in data.

    Every event of the result gets dummies, not only those studied on this series, so no
    event's reaction leaks into the fit. Events missing from result.alignment are aligned here.
    """
    events = result.events
    al = result.alignment
    al = al[al["series"] == series]
    day0_of = dict(zip(al["event_id"], al["day0"]))
    todo = events[~events["event_id"].isin(list(day0_of))]
    if len(todo):
        from eventstudy.calendars import align, session_closes
        cfg = result.config.series[series]
        extra = align(todo, cfg, session_closes(cfg))
        day0_of.update(zip(extra["event_id"], extra["day0"]))
    out = pd.DataFrame({"event_id": events["event_id"].to_numpy(),
                        "category": events["category"].to_numpy()})
    out["day0"] = pd.DatetimeIndex([day0_of.get(e) for e in out["event_id"]])
    row = pd.DatetimeIndex(frame["date"]).get_indexer(out["day0"])
    for r in out[row < 0].itertuples(index=False):
        where = "outside the calendar" if pd.isna(r.day0) else f"{r.day0:%Y-%m-%d}"
        notes.append(f"{r.event_id}: day 0 ({where}) is not within the data: no dummies")
    out["day0_pos"] = frame["pos"].to_numpy()[row]
    return out[row >= 0].reset_index(drop=True)


def _note_missing(frame, keep, pos, event, day, notes) -> None:
    """A note for each (event, day) without a usable session (missing bar, out of sample)."""
    row_of = pd.Series(np.arange(len(frame)), index=frame["pos"].to_numpy())
    for p, e, k in zip(pos, event, day):
        if p not in row_of.index:
            notes.append(f"{e} day {k:+d}: beyond the data: no dummy")
            continue
        r = int(row_of[p])
        why = "missing bar or regressor" if keep[r] else "outside the sample"
        notes.append(f"{e} day {k:+d} ({frame['date'].iloc[r]:%Y-%m-%d}): {why}: no dummy")


# -- hypotheses ---------------------------------------------------------------------------------

@dataclass
class Restriction:
    """One linear restriction: sum coef[col] * b[col] (relation) const."""
    coefs: dict
    const: float
    relation: str
    columns_used: set = field(default_factory=set)
    notes: list = field(default_factory=list)


def test_hypotheses(result, hypotheses: list[str], *, series: str, model: str = "market_model",
                    hac_lags: int | None = None, sample=None, overlap: str = "merge",
                    regression: DummyRegression | None = None) -> pd.DataFrame:
    """One row per hypothesis and cov_type ("HAC", "nonrobust"); see the docs for the grammar.

    A hypothesis with one restriction is a t-test (`=` two-sided; `<` / `>` state the one-sided
    alternative); several restrictions separated by `;` are a joint F (Wald) test.
    """
    if isinstance(hypotheses, str):
        hypotheses = [hypotheses]
    reg = regression if regression is not None else dummy_regression(
        result, series, model, hac_lags=hac_lags, sample=sample, overlap=overlap)
    parsed = [(text, parse_hypothesis(text, reg, result.events)) for text in hypotheses]
    names = list(reg.ols.params.index)
    out = []
    for text, restrictions in parsed:
        R = np.array([[r.coefs.get(c, 0.0) for c in names] for r in restrictions])
        q = np.array([r.const for r in restrictions])
        notes = list(dict.fromkeys(n for r in restrictions for n in r.notes))
        for cov_type in COV_TYPES:
            cov = reg.cov(cov_type)
            base = {"series": reg.series, "model": reg.model, "hypothesis": text,
                    "cov_type": cov_type, "n_obs": reg.n_obs, "note": "; ".join(notes)}
            if len(restrictions) == 1:
                res = reg.ols.t_test((R, q), cov_p=cov, use_t=True)
                t, dof = float(np.squeeze(res.tvalue)), float(res.df_denom)
                relation = restrictions[0].relation
                p = {"=": 2 * stats.t.sf(abs(t), dof), "<": stats.t.cdf(t, dof),
                     ">": stats.t.sf(t, dof)}[relation]
                out.append(base | {"estimate": float(np.squeeze(res.effect)),
                                   "se": float(np.squeeze(res.sd)), "statistic": t,
                                   "dof": int(round(dof)),
                                   "p_value": float(p), "alternative": ALTERNATIVES[relation],
                                   "test": "t", "df_num": 1})
            else:
                res = reg.ols.wald_test((R, q), cov_p=cov, use_f=True, scalar=True)
                out.append(base | {"estimate": np.nan, "se": np.nan,
                                   "statistic": float(np.squeeze(res.statistic)),
                                   "dof": int(round(float(res.df_denom))),
                                   "p_value": float(res.pvalue),
                                   "alternative": "two-sided", "test": "F",
                                   "df_num": int(res.df_num)})
    return pd.DataFrame(out, columns=COLUMNS)


test_hypotheses.__test__ = False  # a public API name, not a pytest test


_NUMBER = re.compile(r"(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_INT = re.compile(r"[+-]?\d+")
_WORD = re.compile(r"[A-Za-z_]\w*")
_ID = re.compile(r"[^\s,()=;<>+*]+(?:[ \t]+[^\s,()=;<>+*]+)*")
_KEYWORDS = ("CAR", "mean")


def parse_hypothesis(text: str, reg: DummyRegression, events: pd.DataFrame) -> list[Restriction]:
    """Restrictions of one hypothesis text (several if joined by ';'); InputError on a typo.

    Grammar (whitespace is free between tokens):
        hypothesis  := restriction (';' restriction)*
        restriction := sum ('=' | '<' | '>') sum
        sum         := ['+' | '-'] term (('+' | '-') term)*
        term        := NUMBER ['*' car] | car
        car         := ['mean'] 'CAR' '(' target ',' INT ',' INT ')'
        target      := EVENT_ID | 'category' '=' NAME
    """
    if not isinstance(text, str) or not text.strip():
        raise InputError(f"hypothesis {text!r}: empty")
    parser = _Parser(text, reg, events)
    restrictions = [parser.restriction()]
    while parser.accept(";"):
        restrictions.append(parser.restriction())
    parser.skip()
    if parser.i < len(text):
        parser.fail("expected ';' or the end of the hypothesis", parser.token())
    if len(restrictions) > 1 and any(r.relation != "=" for r in restrictions):
        raise InputError(f"hypothesis {text!r}: a joint test (restrictions joined by ';') takes "
                         "'=' only; test a one-sided alternative alone")
    return restrictions


class _Parser:
    def __init__(self, text: str, reg: DummyRegression, events: pd.DataFrame):
        self.text, self.reg, self.i = text, reg, 0
        self.all_events = events["event_id"].tolist()
        self.categories = sorted(events["category"].dropna().unique().tolist())

    # -- lexing helpers
    def skip(self) -> None:
        while self.i < len(self.text) and self.text[self.i].isspace():
            self.i += 1

    def accept(self, s: str) -> bool:
        self.skip()
        if self.text.startswith(s, self.i):
            self.i += len(s)
            return True
        return False

    def expect(self, s: str, what: str) -> None:
        if not self.accept(s):
            self.fail(f"expected {what}", self.token())

    def token(self) -> str:
        self.skip()
        if self.i >= len(self.text):
            return ""
        m = re.compile(r"\w[\w.-]*|\S").match(self.text, self.i)
        return m.group(0)

    def fail(self, message: str, token: str | None = None, at: int | None = None):
        at = self.i if at is None else at
        found = "the end" if token == "" else (repr(token) if token is not None else None)
        tail = f" (found {found})" if found else ""
        raise InputError(f"hypothesis {self.text!r}, column {at + 1}: {message}{tail}")

    # -- grammar
    def restriction(self) -> Restriction:
        coefs, const, used, notes = self.sum()
        self.skip()
        at = self.i
        two = self.text[self.i:self.i + 2]
        if two in ("<=", ">=", "==", "!="):
            self.fail(f"{two!r} is not a relation: use '=' (two-sided), '<' or '>' (one-sided "
                      "alternative)", at=at)
        rel = self.text[self.i:self.i + 1]
        if rel not in ("=", "<", ">"):
            self.fail("expected '=', '<' or '>'", self.token())
        self.i += 1
        rcoefs, rconst, rused, rnotes = self.sum()
        for c, v in rcoefs.items():
            coefs[c] = coefs.get(c, 0.0) - v
        coefs = {c: v for c, v in coefs.items() if v != 0.0}
        if not used | rused:
            self.fail("no CAR(...) in this restriction", at=at)
        if not coefs:
            self.fail("the two sides cancel: they are the same sum of event-day dummies "
                      "(shared sessions have one joint dummy)", at=at)
        return Restriction(coefs=coefs, const=rconst - const, relation=rel,
                           columns_used=used | rused, notes=notes + rnotes)

    def sum(self):
        coefs, const, used, notes = {}, 0.0, set(), []
        sign = -1.0 if self.accept("-") else 1.0
        if sign > 0:
            self.accept("+")
        while True:
            factor, car = self.term()
            if car is None:
                const += sign * factor
            else:
                cc, u, nn = car
                for c, v in cc.items():
                    coefs[c] = coefs.get(c, 0.0) + sign * factor * v
                used |= u
                notes += nn
            if self.accept("+"):
                sign = 1.0
            elif self.accept("-"):
                sign = -1.0
            else:
                return coefs, const, used, notes

    def term(self):
        self.skip()
        m = _NUMBER.match(self.text, self.i)
        if m:
            self.i = m.end()
            value = float(m.group(0))
            if self.accept("*"):
                return value, self.car()
            return value, None
        return 1.0, self.car()

    def car(self):
        self.skip()
        at = self.i
        m = _WORD.match(self.text, self.i)
        if not m:
            self.fail("expected a number or CAR(...)", self.token())
        word = m.group(0)
        mean = word == "mean"
        if mean:
            self.i = m.end()
            self.skip()
            at = self.i
            m = _WORD.match(self.text, self.i)
            if not m:
                self.fail("expected CAR after 'mean'", self.token())
            word = m.group(0)
        if word != "CAR":
            self.fail(f"unknown word {word!r}{_suggest(word, _KEYWORDS)}; expected "
                      f"{'CAR' if mean else 'CAR or mean'}", at=at)
        self.i = m.end()
        self.expect("(", "'(' after CAR")
        self.skip()
        at = self.i
        if re.compile(r"category\s*=").match(self.text, self.i):
            self.i = self.text.index("=", self.i) + 1
            self.skip()
            at = self.i
            m = _ID.match(self.text, self.i)
            if not m:
                self.fail("empty category after 'category='", self.token())
            self.i = m.end()
            ids = self.category_events(m.group(0), at)
        else:
            m = _ID.match(self.text, self.i)
            if not m:
                self.fail("expected an event id or category=NAME", self.token())
            self.i = m.end()
            ids = [self.event(m.group(0), at)]
        self.expect(",", "',' after the event")
        start = self.integer("the window start")
        self.expect(",", "',' between the window start and end")
        end = self.integer("the window end")
        self.expect(")", "')' closing CAR(")
        lo, hi = self.reg.span
        if start > end:
            self.fail(f"window [{start}, {end}] starts after it ends", at=at)
        if start < lo or end > hi:
            self.fail(f"window [{start}, {end}] is outside the dummy span [{lo}, {hi}] "
                      "(the union of the study's event windows)", at=at)
        weight = 1.0 / len(ids) if mean else 1.0
        coefs, used, notes = {}, set(), []
        for eid in ids:
            days = [self.reg.columns.get((eid, k)) for k in range(start, end + 1)]
            cols = [c for c in days if c is not None]
            if not cols:
                self.fail(f"event {eid!r} has no usable session in days {start}..{end} "
                          f"of series {self.reg.series!r}", at=at)
            if len(cols) < len(days):
                lost = [k for k, c in zip(range(start, end + 1), days) if c is None]
                notes.append(f"{eid}: no session for day(s) {lost} (summed over the others)")
            for c in cols:
                coefs[c] = coefs.get(c, 0.0) + weight
                used.add(c)
                if "&" in c:
                    notes.append(f"joint dummy {c} ({self.reg.dummy_dates[c]:%Y-%m-%d})")
        return coefs, used, notes

    def integer(self, what: str) -> int:
        self.skip()
        m = _INT.match(self.text, self.i)
        if not m:
            self.fail(f"expected {what} (a whole number of trading days)", self.token())
        self.i = m.end()
        return int(m.group(0))

    def event(self, eid: str, at: int) -> str:
        if eid not in self.all_events:
            self.fail(f"unknown event {eid!r}{_suggest(eid, self.all_events)}", at=at)
        if eid not in set(self.reg.events["event_id"]):
            self.fail(f"event {eid!r} has no dummies in the sample of series "
                      f"{self.reg.series!r} (see the regression's notes)", at=at)
        return eid

    def category_events(self, name: str, at: int) -> list[str]:
        if name not in self.categories:
            self.fail(f"unknown category {name!r}{_suggest(name, self.categories)}", at=at)
        ids = self.reg.events.loc[self.reg.events["category"] == name, "event_id"].tolist()
        if not ids:
            self.fail(f"category {name!r} has no events in the sample of series "
                      f"{self.reg.series!r}", at=at)
        return ids


def _suggest(word: str, choices) -> str:
    """' (did you mean 'x'?)' for the closest choice, ignoring case; '' if none is close."""
    by_lower = {str(c).lower(): str(c) for c in choices}
    close = difflib.get_close_matches(str(word).lower(), list(by_lower), n=1, cutoff=0.6)
    return f" (did you mean {by_lower[close[0]]!r}?)" if close else ""
