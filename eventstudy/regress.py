"""Cross-sectional regressions of CARs on security and event metadata (issue #10, item 1).

    >>> regress(result, "car ~ C(sector_en)", window=(0, 1), cluster="event_id")

One row per (event, security) pair of one model and event window: the dependent variable is
`car`, `scar` (car / se, the standardized CAR) or `bhar`; the regressors are the columns of
`result.securities` (sector, size, ...), of the events (category, scope, ...) and, for
firm-specific events, of the firm events file (surprise, ...). statsmodels fits it (OLS, or
WLS with weights 1 / car_var) with standard errors clustered by event (default), by event
date, by security, both ways (Cameron, Gelbach & Miller 2011) or heteroskedasticity-robust
only (HC1). Conventions and when event clustering is not enough: docs/second-stage.md.

A formula is text from a config or a command line, and statsmodels' formula engines evaluate
Python: `check_formula` lets through only column names, numbers, quoted strings, formula
operators and a short list of transforms (C, I, Q, np.log, ...), as `config.check_query`
does for group queries.
"""
from __future__ import annotations

import io
import keyword
import tokenize

import numpy as np
import pandas as pd

from eventstudy.errors import InputError, suggest

COLUMNS = ["name", "term", "estimate", "se", "t", "p", "n", "n_clusters", "cov_type", "r2",
           "df", "ci_low", "ci_high", "dependent", "formula", "model", "window_start",
           "window_end", "cluster", "weights", "n_dropped", "note"]
CLUSTERS = ("event_id", "day0", "security", "both", "none")
WEIGHTS = (None, "inverse_variance")
DEPENDENTS = ("car", "scar", "bhar")
# Fewer clusters than this: refused. The cluster-robust variance is a sum over clusters; with
# G clusters it has at most G - 1 degrees of freedom and the t test uses t(G - 1). With one
# cluster the scores sum to zero (the intercept's se is 0); with 2-4 the critical value is
# 2.8-12.7 and Cameron, Gelbach & Miller (2008) find rejection rates several times nominal.
MIN_CLUSTERS = 5
FEW_CLUSTERS = 30      # below it: computed, with a note (docs/second-stage.md)

# What a formula may call besides column names (statsmodels/patsy transforms and contrasts).
FORMULA_FUNCTIONS = frozenset({"C", "I", "Q", "center", "standardize", "scale", "Treatment",
                               "Sum", "Diff", "Helmert", "Poly", "log", "exp", "sqrt", "abs"})
NUMPY_FUNCTIONS = frozenset({"log", "log1p", "exp", "sqrt", "abs", "square", "sign"})
FORMULA_KEYWORDS = frozenset({"reference", "levels"})
_FORMULA_OPS = frozenset({"~", "+", "-", "*", "/", ":", "**", "(", ")", ",", "=", "|", "[",
                          "]", "%"})


def regress(result, formula: str, window=(0, 1), model: str = "market_model",
            cluster: str = "event_id", weights: str | None = None, groups=None,
            name: str | None = None, *, source: str | None = None,
            field: str | None = None) -> pd.DataFrame:
    """Fit `formula` on the CARs of one model and window; a tidy frame, one row per term.

    `groups` (group ids, or a `by` group's id for all its parts) restricts the sample to the
    pairs of those groups (their union). Pairs whose dependent variable or a regressor is
    missing are dropped and counted (`n_dropped`). `source`/`field` name where the
    specification came from (a config table) in error messages.
    """
    import statsmodels.formula.api as smf

    where = {"file": source, "field": field}
    window = _window(window, **where)
    name = name or formula
    if cluster not in CLUSTERS:
        raise InputError(f"cluster must be one of {', '.join(CLUSTERS)}, not {cluster!r}"
                         f"{suggest(cluster, CLUSTERS)}", **_at(where, "cluster"))
    weights = None if weights == "none" else weights
    if weights not in WEIGHTS:
        raise InputError(f"weights must be inverse_variance or none, not {weights!r}",
                         **_at(where, "weights"))
    frame = regression_frame(result, window=window, model=model, groups=groups, where=where)
    info = dict(frame.attrs)
    check_formula(formula, None, **_at(where, "formula"))     # its shape, then its columns
    lhs = _dependent(formula, where)
    check_formula(formula, frame.columns, **_at(where, "formula"))
    if weights == "inverse_variance":
        frame = frame.assign(_weight=1.0 / frame["car_var"])

    # the rows every variable of the formula has (statsmodels drops the others)
    n_all = len(frame)
    try:
        probe = smf.ols(formula, frame)
    except Exception as exc:  # noqa: BLE001 - the formula engines raise many types
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"formula {formula!r} cannot be built: {msg}",
                         **_at(where, "formula")) from None
    kept = frame.loc[probe.data.row_labels]
    if weights == "inverse_variance":
        kept = kept[np.isfinite(kept["_weight"]) & (kept["_weight"] > 0)]
    n_dropped = n_all - len(kept)
    if len(kept) == 0:
        raise InputError(f"no pair has {lhs} and every variable of {formula!r} "
                         f"({n_all} pairs, all dropped)", **_at(where, "formula"))
    if weights == "inverse_variance":
        mod = smf.wls(formula, kept, weights=kept["_weight"].to_numpy())
    else:
        mod = smf.ols(formula, kept)
    k = mod.exog.shape[1]
    if len(kept) <= k:
        raise InputError(f"{len(kept)} pairs for {k} coefficients: nothing left to estimate "
                         "the errors", **_at(where, "formula"))

    notes = []
    if info.get("n_skipped"):
        notes.append(f"{info['n_skipped']} pairs skipped by the study (no CAR: see "
                     "skipped.csv)")
    if info.get("n_waiting"):
        notes.append(f"{info['n_waiting']} pairs waiting for data left out")
    if n_dropped:
        notes.append(f"{n_dropped} of {n_all} pairs dropped (missing {lhs} or a regressor)")
    if cluster == "none":
        fit = mod.fit(cov_type="HC1", use_t=True)
        n_clusters, cov_type, df = len(kept), "HC1", fit.df_resid
    else:
        ids = _cluster_ids(kept, cluster)
        counts = [len(np.unique(ids[:, j])) for j in range(ids.shape[1])]
        n_clusters = min(counts)
        what = {"event_id": "events", "day0": "event dates (day 0)", "security": "securities",
                "both": "events or securities"}[cluster]
        if n_clusters < MIN_CLUSTERS:
            other = "\"event_id\" or \"none\"" if cluster == "security" else \
                "\"security\" or \"none\""
            raise InputError(
                f"cannot cluster by {cluster}: {n_clusters} {what} in the sample, at least "
                f"{MIN_CLUSTERS} needed (a cluster-robust variance has G - 1 degrees of freedom); "
                f"use cluster = {other} (docs/second-stage.md)",
                **_at(where, "cluster"))
        groups_arg = ids[:, 0] if ids.shape[1] == 1 else ids
        fit = mod.fit(cov_type="cluster", cov_kwds={"groups": groups_arg}, use_t=True)
        cov_type = "cluster" if cluster != "both" else "cluster-2way"
        df = n_clusters - 1
        if n_clusters < FEW_CLUSTERS:
            compare = {"security": "event_id"}.get(cluster, "security")
            notes.append(f"few clusters ({n_clusters} {what}): cluster-robust standard errors "
                         f"are biased down; compare cluster = {compare} "
                         "(docs/second-stage.md)")
        if n_clusters <= k:
            notes.append(f"{n_clusters} clusters for {k} coefficients: joint tests of them "
                         "are not possible")
    ci = np.asarray(fit.conf_int(alpha=0.05))
    terms = list(fit.params.index)
    return pd.DataFrame({
        "name": name, "term": terms, "estimate": fit.params.to_numpy(float),
        "se": fit.bse.to_numpy(float), "t": fit.tvalues.to_numpy(float),
        "p": fit.pvalues.to_numpy(float), "n": int(fit.nobs), "n_clusters": int(n_clusters),
        "cov_type": cov_type, "r2": float(fit.rsquared), "df": int(df),
        "ci_low": ci[:, 0], "ci_high": ci[:, 1], "dependent": lhs, "formula": formula,
        "model": model, "window_start": window[0], "window_end": window[1],
        "cluster": cluster, "weights": weights or "", "n_dropped": int(n_dropped),
        "note": "; ".join(notes)})[COLUMNS]


def regression_frame(result, window=(0, 1), model: str = "market_model", groups=None,
                     where: dict | None = None) -> pd.DataFrame:
    """The data a formula sees: one row per pair of `model` and `window` (its CAR row: car,
    se, bhar, car_var, ...; scar = car / se) with its security's metadata (`result.securities`)
    and its event's columns (`result.events`; a firm-specific pair's own row of its file).

    Pairs still waiting for data (a partial window) are left out."""
    where = where or {}
    car = result.car
    models = list(dict.fromkeys(car["model"]))
    if model not in models:
        raise InputError(f"unknown model {model!r}{suggest(model, models)} (this study has "
                         f"{', '.join(models) or 'no CARs'})", **_at(where, "model"))
    rows = car[(car["model"] == model) & (car["window_start"] == window[0])
               & (car["window_end"] == window[1])]
    if not len(rows):
        have = sorted(set(zip(car["window_start"], car["window_end"])))
        raise InputError(f"window {list(window)} is not an event window of the study "
                         f"(it has {', '.join(str(list(w)) for w in have)})",
                         **_at(where, "window"))
    pairs = result.alignment[["event_id", "series"]].drop_duplicates()
    if groups:
        chosen = _group_pairs(result, groups, where)
        rows = rows.merge(chosen, on=["event_id", "series"])
        pairs = pairs.merge(chosen, on=["event_id", "series"])
    waiting = rows["note"] == "waiting for data"
    n_waiting = int(waiting.sum())
    rows = rows[~waiting].drop(columns=[c for c in ("_p", "_m") if c in rows])
    n_skipped = max(len(pairs) - len(rows) - n_waiting, 0)    # studied pairs with no CAR
    rows = rows.assign(scar=rows["car"] / rows["se"])
    securities = result.securities
    out = rows
    if isinstance(securities, pd.DataFrame) and len(securities):
        out = out.merge(securities.drop_duplicates("series"), on="series", how="left",
                        suffixes=("", "_security"))
    events = result.events.drop(columns=[c for c in ("row",) if c in result.events])
    out = out.merge(events, on="event_id", how="left", suffixes=("", "_event"))
    firm = getattr(result, "firm_events", None)
    if isinstance(firm, pd.DataFrame) and len(firm):
        own = firm.drop(columns=[c for c in ("row",) if c in firm])
        own = out[["event_id", "series"]].merge(own, on=["event_id", "series"], how="left")
        for col in own.columns.drop(["event_id", "series"]):
            if col in out:      # a column events.csv has too: the pair's own value first
                out[col] = own[col].where(own[col].notna(), out[col]).to_numpy()
            else:
                out[col] = own[col].to_numpy()
    out = out.reset_index(drop=True)
    out.attrs.update(n_skipped=n_skipped, n_waiting=n_waiting)
    return out


def check_formula(formula: str, columns, *, file: str | None = None,
                  field: str | None = None) -> None:
    """Refuse a formula that is more than columns, literals, operators and known transforms:
    statsmodels' formula engines evaluate the text as Python."""
    if not isinstance(formula, str) or "~" not in formula:
        raise InputError(f"{formula!r} is not a formula 'y ~ x + C(group)' (the dependent "
                         f"variable is one of {', '.join(DEPENDENTS)})", file=file, field=field)
    try:
        tokens = [t for t in tokenize.generate_tokens(io.StringIO(formula).readline)
                  if t.type not in (tokenize.NEWLINE, tokenize.NL, tokenize.ENDMARKER,
                                    tokenize.INDENT, tokenize.DEDENT)]
    except (tokenize.TokenError, IndentationError, SyntaxError) as exc:
        raise InputError(f"{formula!r} cannot be read: {exc}", file=file, field=field) from None
    known = None if columns is None else set(map(str, columns))
    for i, tok in enumerate(tokens):
        nxt = tokens[i + 1].string if i + 1 < len(tokens) else ""
        prev = tokens[i - 1].string if i else ""
        bad = None
        if tok.type == tokenize.NAME:
            if tok.string.startswith("_") or (keyword.iskeyword(tok.string)
                                             and tok.string not in ("True", "False", "None")):
                bad = tok.string
            elif prev == ".":
                if tokens[i - 2].string != "np" or tok.string not in NUMPY_FUNCTIONS:
                    bad = f"np.{tok.string}"
            elif tok.string == "np":
                if nxt != ".":
                    bad = "np"
            elif nxt == "(":
                if tok.string not in FORMULA_FUNCTIONS:
                    bad = f"{tok.string}()"
            elif nxt == "=":
                if tok.string not in FORMULA_KEYWORDS:
                    bad = f"{tok.string}="
            elif (known is not None and tok.string not in known
                  and tok.string not in ("True", "False", "None")):
                raise InputError(f"unknown column {tok.string!r}{suggest(tok.string, known)} "
                                 f"(columns: {', '.join(sorted(known))})", file=file,
                                 field=field)
        elif tok.type == tokenize.OP:
            if tok.string == ".":
                if prev != "np":
                    bad = "'.' (attribute access)"
            elif tok.string not in _FORMULA_OPS:
                bad = repr(tok.string)
        elif tok.type not in (tokenize.NUMBER, tokenize.STRING):
            bad = repr(tok.string)
        if bad is not None:
            raise InputError(f"{formula!r}: {bad} is not allowed in a formula (allowed: column "
                             "names, numbers, quoted text, + - * / : ** ( ), and "
                             f"{', '.join(sorted(FORMULA_FUNCTIONS))}, np.{{"
                             f"{', '.join(sorted(NUMPY_FUNCTIONS))}}})", file=file,
                             field=field)


def _dependent(formula: str, where: dict) -> str:
    lhs = formula.split("~", 1)[0].strip() if isinstance(formula, str) else ""
    if lhs not in DEPENDENTS:
        raise InputError(f"the dependent variable (left of ~) must be one of "
                         f"{', '.join(DEPENDENTS)}, not {lhs!r}{suggest(lhs, DEPENDENTS)}",
                         **_at(where, "formula"))
    return lhs


def _cluster_ids(frame: pd.DataFrame, cluster: str) -> np.ndarray:
    """Integer cluster codes, one column (two for `both`: event, security)."""
    cols = {"event_id": ["event_id"], "day0": ["day0"], "security": ["series"],
            "both": ["event_id", "series"]}[cluster]
    return np.column_stack([pd.factorize(frame[c].astype(str), sort=True)[0] for c in cols])


def _group_pairs(result, groups, where: dict) -> pd.DataFrame:
    """The (event_id, series) pairs of the named groups: a group id as resolved, or a `by`
    group's id for all its parts (`NAME:value`)."""
    if isinstance(groups, str):
        groups = [groups]
    members = getattr(result, "group_members", None)
    if members is None or not len(members):
        raise InputError("the study has no groups to choose pairs from", **_at(where, "groups"))
    names = pd.Series(members["group"].unique())
    chosen = []
    for g in groups:
        hit = names[(names == g) | names.str.startswith(f"{g}:")]
        if not len(hit):
            raise InputError(f"unknown group {g!r}{suggest(g, names)}", **_at(where, "groups"))
        chosen += list(hit)
    return (members.loc[members["group"].isin(chosen), ["event_id", "series"]]
            .drop_duplicates(ignore_index=True))


def _window(window, file=None, field=None) -> tuple[int, int]:
    try:
        a, b = (int(w) for w in window)
        if [a, b] != [w for w in window]:
            raise ValueError
    except (TypeError, ValueError):
        raise InputError(f"{window!r} is not a window (start, end) of whole trading days",
                         file=file, field=f"{field}.window" if field else "window") from None
    return a, b


def _at(where: dict, key: str) -> dict:
    """file/field for an error about `key` of a config table (or of the call)."""
    field = where.get("field")
    return {"file": where.get("file"), "field": f"{field}.{key}" if field else key}


def run_regressions(result) -> pd.DataFrame:
    """Every `[[regressions]]` of the result's config, one tidy frame (COLUMNS); errors name
    the config file and the table (`regressions[N].field`)."""
    specs = getattr(result.config, "regressions", ())
    frames = [regress(result, r.formula, window=r.window, model=r.model, cluster=r.cluster,
                      weights=r.weights, groups=list(r.groups) or None, name=r.name,
                      source=result.config.path, field=r.field) for r in specs]
    if not frames:
        return pd.DataFrame({c: [] for c in COLUMNS})
    return pd.concat(frames, ignore_index=True)
