"""The result of a study: tidy frames, and the CSV files drawn from them."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from eventstudy import atomic
from eventstudy.config import Config

RESULT_FILES = ("alignment", "ar", "car", "aar", "tests", "skipped", "gaps", "provenance")


@dataclass
class StudyResult:
    """Everything a report, a table or a paper needs; nothing is recomputed downstream.

    Frames are keyed by (event_id, series[, model]): one index around many dates is the
    normal case, so never join on the series alone.
    """
    config: Config
    events: pd.DataFrame
    alignment: pd.DataFrame   # one row per (event, series): how day 0 was chosen
    ar: pd.DataFrame          # one row per (event, series, model, day) of the plot window
    #                           (a big study's is on disk: see `ar_store` below)
    car: pd.DataFrame         # one row per (event, series, model, window), with its t-test
    tests: pd.DataFrame       # every test statistic, per pair and per group
    panel_source: object      # builds `panel` (estimation residuals and event ARs) on use
    aar: pd.DataFrame         # per group, model and event day: AAR and CAAR with bands
    skipped: pd.DataFrame     # (event, series, model) not studied, with the reason
    gaps: pd.DataFrame        # missing bars and off-calendar bars, per series
    prices: pd.DataFrame      # (series, date, close) as used
    provenance: pd.DataFrame  # where each series' prices came from
    warnings: list[str] = field(default_factory=list)
    returns: dict[str, pd.DataFrame] = field(default_factory=dict)
    reuse: dict[str, int] = field(default_factory=dict)   # memo: results computed / reused
    securities: pd.DataFrame | None = None   # one row per security: series, universe, name,
    #                                          and the universe's metadata (sector, ...)
    firm_events: pd.DataFrame | None = None  # firm-specific events (event_id, series, ...)
    group_members: pd.DataFrame | None = None  # group, event_id, series: each group's pairs
    #                                            (a `by` group's one per value, resolved)
    # per series, every calendar session: date, close_utc, pos, close, ret, span, gap, and the
    # regressors the models use (rm, rm_lag1, rm_lead1, f_<id>): the input of hypotheses.py

    @property
    def panel(self) -> pd.DataFrame:
        """The long inference input: one row per (pair, model, day) of the estimation window
        and the event days; built when first read (it is large for a whole market)."""
        if not isinstance(self.panel_source, pd.DataFrame):
            self.panel_source = self.panel_source()
        return self.panel_source

    def regress(self, formula: str, window=(0, 1), model: str = "market_model",
                cluster: str = "event_id", weights: str | None = None, groups=None,
                name: str | None = None) -> pd.DataFrame:
        """Cross-sectional regression of CARs (car, scar, bhar) on security and event
        metadata, with clustered standard errors: `eventstudy.regress.regress`."""
        from eventstudy.regress import regress
        return regress(self, formula, window=window, model=model, cluster=cluster,
                       weights=weights, groups=groups, name=name)

    def calendar_time(self, window=(0, 5), **options) -> pd.DataFrame:
        """Calendar-time portfolio of the pairs inside their event window (Jaffe 1974,
        Mandelker 1974, Fama 1998): `eventstudy.calendar_time.calendar_time`."""
        from eventstudy.calendar_time import calendar_time
        return calendar_time(self, window=window, **options)

    def frames(self) -> dict[str, pd.DataFrame]:
        return {name: getattr(self, name) for name in RESULT_FILES}

    # ------------------------------------------------------------------ notebooks, papers
    def __repr__(self) -> str:
        """A few lines (the dataclass repr printed every frame: 44,000 characters)."""
        c = _counts(self)
        return (f"<StudyResult: {c['events']} events x {c['securities']} securities = "
                f"{c['pairs']} pairs, {c['cars']} CARs, {c['skipped']} skipped\n"
                f" models {', '.join(c['models'])}; windows {', '.join(c['windows'])}; "
                f"{c['groups']} groups\n"
                f" frames: {', '.join(RESULT_FILES)}, prices, panel; .summary(), "
                ".plot(event_id, series), help(StudyResult)>")

    def summary(self) -> "Summary":
        """Counts, windows, models and the headline group test of each group, like a
        statsmodels results summary: `print(result.summary())`, or HTML in a notebook."""
        return Summary(self)

    def _repr_html_(self) -> str:
        return Summary(self).as_html()

    def plot(self, event_id: str, series: str, models=None):
        """One (event, series): daily abnormal returns (bars) and the CAR path with its
        +-1.96 se band, one colour per model; a plotly Figure (the report's chart)."""
        from eventstudy.errors import suggest
        from eventstudy.report import figures
        if self.ar_store is not None:       # only that event's folder is read
            ar = self.ar_store.read(event_id=event_id, series=series)
        else:
            ar = self.ar[(self.ar["event_id"] == event_id) & (self.ar["series"] == series)]
        if ar.empty:
            events = list(dict.fromkeys(self.alignment["event_id"]))
            if event_id not in events:
                raise ValueError(f"no event {event_id!r}{suggest(event_id, events)}")
            of_event = self.alignment.loc[self.alignment["event_id"] == event_id, "series"]
            if series not in set(of_event):
                raise ValueError(f"series {series!r} is not studied around {event_id!r}"
                                 f"{suggest(series, of_event)}")
            why = self.skipped[(self.skipped["event_id"].isin([event_id, ""]))
                               & (self.skipped["series"] == series)]["reason"]
            raise ValueError(f"no abnormal returns for ({event_id}, {series})"
                             + (f": {why.iloc[0]}" if len(why) else ""))
        models = list(models) if models is not None else list(self.config.models)
        if not ar["model"].isin(models).any():
            raise ValueError(f"no abnormal returns of model {', '.join(models)} for "
                             f"({event_id}, {series}); it has {', '.join(ar['model'].unique())}")
        align = self.alignment[(self.alignment["event_id"] == event_id)
                               & (self.alignment["series"] == series)]
        calendar = str(align["calendar"].iloc[0]) if len(align) else ""
        chart = figures.ar_car(ar, models, f"{event_id}: {series}, abnormal returns and CAR",
                               calendar, self.config.event_span)
        return figures.validate(chart)

    def tables(self, regressions=None, **options) -> list:
        """The paper tables (eventstudy.export.PaperTable): CARs, group tests, regressions.
        Options: models, windows, group_tests (test names), events (their order)."""
        from eventstudy import export
        return export.result_tables(self, regressions, **options)

    def to_latex(self, regressions=None, **options) -> str:
        """The paper tables as LaTeX (booktabs): CAR (percent) with stars and (se), the group
        tests, the regressions (`regressions` or `self.regressions` if the study has one)."""
        from eventstudy import export
        return export.to_latex(self.tables(regressions, **options))

    def to_markdown(self, regressions=None, **options) -> str:
        """The paper tables as Markdown pipe tables (see `to_latex`)."""
        from eventstudy import export
        return export.to_markdown(self.tables(regressions, **options))

    def to_excel(self, path: str | Path, regressions=None, **options) -> Path:
        """The paper tables as an .xlsx workbook, one sheet each (needs openpyxl); the same
        result gives the same bytes."""
        from eventstudy import export
        return export.write(export.to_xlsx(self.tables(regressions, **options)), path)

    def write_csvs(self, directory: str | Path) -> list[Path]:
        """Write results/<name>.csv atomically, one file at a time; returns the paths.

        A file whose bytes would not change is left alone (its mtime too); a new file follows
        the umask, a replaced one keeps its mode (eventstudy.atomic)."""
        directory = Path(directory)
        paths = []
        for name, frame in self.frames().items():
            path = directory / f"{name}.csv"
            atomic.write_bytes(path, csv_bytes(frame))
            paths.append(path)
        return paths

    def write_parquet(self, directory: str | Path) -> list[Path]:
        """Write results/<name>.parquet atomically (and securities.parquet when the study has
        universes): the per-pair detail a universe's pages link to instead of listing it.
        Parquet keeps dtypes and zones, and reading it cannot execute code."""
        import io
        directory = Path(directory)
        frames = self.frames()
        securities = getattr(self, "securities", None)
        if isinstance(securities, pd.DataFrame):
            frames["securities"] = securities
        paths = []
        for name, frame in frames.items():
            buffer = io.BytesIO()
            frame.reset_index(drop=True).to_parquet(buffer, engine="pyarrow", index=False)
            path = directory / f"{name}.parquet"
            atomic.write_bytes(path, buffer.getvalue())
            paths.append(path)
        return paths


def _get_ar(self) -> pd.DataFrame:
    ar = self.__dict__["_ar"]
    return ar if isinstance(ar, pd.DataFrame) else ar.frame()


def _set_ar(self, value) -> None:
    self.__dict__["_ar"] = value


# `result.ar` is always a DataFrame. A study too big to hold its ARs (engine.AR_IN_MEMORY_ROWS)
# keeps them in a Parquet dataset (`eventstudy.store.PartitionedFrame`): `result.ar` then reads
# it whole, and `result.ar_store.read(event_id=...)` reads one event's rows only.
StudyResult.ar = property(_get_ar, _set_ar, doc="One row per (event, series, model, day).")
def _get_prices(self) -> pd.DataFrame:
    prices = self.__dict__["_prices"]
    if not isinstance(prices, pd.DataFrame):        # built when first read
        prices = self.__dict__["_prices"] = prices()
    return prices


def _set_prices(self, value) -> None:
    self.__dict__["_prices"] = value


# `result.prices` may be given as a function that builds it: a market of 10,000 securities over
# 20 years is 50 million bars, a frame the study itself never needs.
StudyResult.prices = property(_get_prices, _set_prices, doc="(series, date, close) as used.")
StudyResult.ar_store = property(
    lambda self: None if isinstance(self.__dict__["_ar"], pd.DataFrame) else self.__dict__["_ar"],
    doc="The Parquet dataset holding `ar` (None when it is in memory).")


def to_csv(frame: pd.DataFrame) -> str:
    """Deterministic CSV: ISO dates and times in UTC, floats at full precision (the shortest
    text that reads back to the same double), NaN as an empty cell, booleans True/False."""
    return bytes(csv_bytes(frame)).decode("utf-8")


def csv_bytes(frame: pd.DataFrame):
    """`to_csv`'s UTF-8 bytes (a bytes-like buffer), as written to a file: no text copies (a
    whole market's ar.csv is a gigabyte; text would hold it four times over).

    Written by pyarrow's C++ writer: a whole market's ar.csv is millions of cells."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv
    import re
    columns = {}
    for col in frame.columns:
        values = frame[col]
        if isinstance(values.dtype, pd.DatetimeTZDtype):
            stamps = pa.array(values.dt.tz_convert("UTC").dt.tz_localize(None)
                              .to_numpy("datetime64[s]"), from_pandas=True)
            text = pc.strftime(stamps, format="%Y-%m-%dT%H:%M:%SZ")
        elif pd.api.types.is_datetime64_any_dtype(values):
            text = pa.array(values.to_numpy("datetime64[D]"), from_pandas=True).cast(pa.string())
        elif pd.api.types.is_bool_dtype(values):
            text = pc.if_else(pa.array(values.to_numpy(bool)), "True", "False")
        elif pd.api.types.is_float_dtype(values):
            text = pa.array(values.to_numpy(float), from_pandas=True)
        elif pd.api.types.is_integer_dtype(values):
            text = pa.array(values.to_numpy())
        else:
            try:
                text = pa.array(values.to_numpy(dtype=object), type=pa.string(),
                                from_pandas=True)
            except (pa.ArrowTypeError, pa.ArrowInvalid):   # mixed objects: their str()
                text = pa.array(values.astype(object).where(values.notna(), "").astype(str)
                                .to_numpy(dtype=object), type=pa.string())
        columns[str(col)] = pc.fill_null(text, "") if pa.types.is_string(text.type) else text
    if not len(frame.columns):
        return b"\n"
    sink = pa.BufferOutputStream()
    pacsv.write_csv(pa.table(columns), sink, pacsv.WriteOptions(quoting_style="needed"))
    data = memoryview(sink.getvalue())
    if re.search(b"\r\n", data):            # (a cell's own line breaks, as text)
        return bytes(data).replace(b"\r\n", b"\n")
    return data


# ----------------------------------------------------------------------------- summary
#: the test a group's headline shows: the first with a p-value (as the report's universe pages)
HEADLINE_TESTS = ("kp_bmp", "bmp", "cross_sectional_t", "patell", "grank")
HEADLINE_ROWS = 30


def _window_text(w) -> str:
    def d(v: int) -> str:
        return f"{v:+d}" if v else "0"
    return f"[{d(int(w[0]))}, {d(int(w[1]))}]"


def _counts(r: StudyResult) -> dict:
    """What a summary counts; cheap (never builds the panel)."""
    cfg = r.config
    align, car, skipped = r.alignment, r.car, r.skipped
    groups = r.tests["group"].fillna("") if "group" in r.tests.columns else pd.Series([], str)
    return {
        "events": len(r.events), "securities": align["series"].nunique(),
        "pairs": len(align), "cars": int(car["car"].notna().sum()) if "car" in car else 0,
        "car_rows": len(car), "skipped": len(skipped),
        "skipped_whole": int((skipped["event_id"] == "").sum()) if len(skipped) else 0,
        "groups": groups[groups != ""].nunique(),
        "models": [str(m) for m in getattr(cfg, "models", ())],
        "windows": [_window_text(w) for w in getattr(cfg, "event_windows", ())],
        "estimation": _window_text(cfg.estimation_window)
        if getattr(cfg, "estimation_window", None) else "",
        "returns": str(getattr(cfg, "returns", "")), "config": str(getattr(cfg, "path", "")),
    }


def headline(r: StudyResult, model: str | None = None) -> pd.DataFrame:
    """Per group and event window: n, the mean CAR (cross-sectional t's estimate) and the
    headline test (HEADLINE_TESTS: the first with a p-value) with p and BH-adjusted p."""
    cols = ["group", "window", "n", "mean_car", "test", "statistic", "p_value", "p_bh"]
    tests = r.tests
    if not len(tests) or "group" not in tests:
        return pd.DataFrame(columns=cols)
    models = list(getattr(r.config, "models", ()))
    model = model or ("market_model" if "market_model" in models else
                      (models[0] if models else None))
    g = tests[(tests["group"].fillna("") != "") & (tests["model"] == model)]
    wins = list(getattr(r.config, "event_windows", ()))
    rows = []
    for (gid, ws, we), sub in g.groupby(["group", "window_start", "window_end"], sort=False):
        if (int(ws), int(we)) not in wins:
            continue
        by_test = {t: row for t, row in zip(sub["test"], sub.itertuples(index=False))}
        best = next((t for t in HEADLINE_TESTS if t in by_test
                     and pd.notna(by_test[t].p_value)), None)
        mean = by_test.get("cross_sectional_t")
        chosen = by_test[best] if best else None
        rows.append({"group": gid, "window": _window_text((ws, we)),
                     "_w": wins.index((int(ws), int(we))),
                     "n": int(chosen.n) if chosen is not None else
                     (int(mean.n) if mean is not None else 0),
                     "mean_car": float(mean.estimate) if mean is not None else np.nan,
                     "test": best or "", "statistic": float(chosen.statistic) if best else np.nan,
                     "p_value": float(chosen.p_value) if best else np.nan,
                     "p_bh": float(getattr(chosen, "p_bh", np.nan)) if best else np.nan})
    if not rows:
        return pd.DataFrame(columns=cols)
    out = pd.DataFrame(rows)
    order = {gid: i for i, gid in enumerate(dict.fromkeys(out["group"]))}
    out = out.assign(_g=out["group"].map(order)).sort_values(["_g", "_w"], kind="stable")
    out = out[cols].reset_index(drop=True)
    out.attrs["model"] = model
    return out


class Summary:
    """A study's summary as text (`print`) and HTML (a notebook cell shows it)."""

    WIDTH = 78

    def __init__(self, result: StudyResult):
        self.counts = _counts(result)
        self.table = headline(result)
        self.model = self.table.attrs.get("model")

    def _facts(self) -> list[tuple[str, str, str, str]]:
        c = self.counts
        skipped = f"{c['skipped']}" + (f" ({c['skipped_whole']} whole securities)"
                                       if c["skipped_whole"] else "")
        return [("Events", str(c["events"]), "Models", ", ".join(c["models"])),
                ("Securities", str(c["securities"]), "Windows", ", ".join(c["windows"])),
                ("Pairs", str(c["pairs"]), "Estimation", c["estimation"]),
                ("CARs", f"{c['cars']} of {c['car_rows']}", "Returns", c["returns"]),
                ("Skipped", skipped, "Groups", str(c["groups"]))]

    def _rows(self) -> list[list[str]]:
        t = self.table.head(HEADLINE_ROWS)
        return [[str(x.group), x.window, str(x.n), _pct(x.mean_car), x.test.replace("_", " "),
                 _num(x.statistic, 3), _num(x.p_value, 3), _num(x.p_bh, 3)]
                for x in t.itertuples(index=False)]

    HEAD = ["group", "window", "n", "mean CAR", "test", "statistic", "p", "p BH"]

    def as_text(self) -> str:
        w = self.WIDTH
        lines = ["Event study results".center(w), "=" * w]
        facts = self._facts()
        left = max([14] + [len(av) for _, av, _, _ in facts])
        for a, av, b, bv in facts:
            lines.append(f"{a + ':':<12}{av:>{left}}   {b + ':':<12}{bv}")
        lines.append("=" * w)
        if self.table.empty:
            lines.append("No group tests (the study has no groups).")
        else:
            lines.append(f"Group tests ({str(self.model).replace('_', ' ')}): the mean CAR and "
                         "the headline test")
            lines.append("-" * w)
            rows = [self.HEAD] + self._rows()
            widths = [max(len(r[i]) for r in rows) for i in range(len(self.HEAD))]
            for r in rows:
                lines.append("  ".join(v.ljust(widths[i]) if i in (0, 1, 4) else
                                       v.rjust(widths[i]) for i, v in enumerate(r)).rstrip())
            if len(self.table) > HEADLINE_ROWS:
                lines.append(f"... and {len(self.table) - HEADLINE_ROWS} more rows "
                             "(result.tests)")
            lines.append("-" * w)
            lines.append("test: the first of " + ", ".join(HEADLINE_TESTS) + " with a p;")
            lines.append("p BH: Benjamini-Hochberg adjusted over every group of the test, "
                         "model and window.")
        lines.append("=" * w)
        return "\n".join(lines)

    def as_html(self) -> str:
        from html import escape
        facts = "".join(f"<tr><th>{escape(a)}</th><td>{escape(av)}</td><th>{escape(b)}</th>"
                        f"<td>{escape(bv)}</td></tr>" for a, av, b, bv in self._facts())
        out = ['<div class="eventstudy-summary"><strong>Event study results</strong>',
               f'<table style="text-align:left">{facts}</table>']
        if self.table.empty:
            out.append("<p>No group tests (the study has no groups).</p>")
        else:
            def cell(tag: str, i: int, v: str) -> str:     # numbers right-aligned
                side = "left" if i in (0, 1, 4) else "right"
                return f'<{tag} style="text-align:{side}">{escape(v)}</{tag}>'
            head = "".join(cell("th", i, h) for i, h in enumerate(self.HEAD))
            body = "".join("<tr>" + "".join(cell("td", i, v) for i, v in enumerate(r))
                           + "</tr>" for r in self._rows())
            more = (f"<p>... and {len(self.table) - HEADLINE_ROWS} more rows (result.tests)</p>"
                    if len(self.table) > HEADLINE_ROWS else "")
            out.append(f"<p>Group tests, {escape(str(self.model).replace('_', ' '))}: mean "
                       "CAR and the headline test; p BH = Benjamini-Hochberg adjusted.</p>"
                       f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
                       + more)
        out.append("</div>")
        return "\n".join(out)

    def __str__(self) -> str:
        return self.as_text()

    __repr__ = __str__

    def _repr_html_(self) -> str:
        return self.as_html()


def _num(x, digits: int) -> str:
    return "" if pd.isna(x) else f"{x:.{digits}f}"


def _pct(x) -> str:
    return "" if pd.isna(x) else f"{x * 100:+.2f}%"


# ----------------------------------------------------------------------------- glossary
#: every frame's columns, for help(StudyResult); tests/test_jupyter.py checks it is complete
GLOSSARY: dict[str, dict[str, str]] = {
    "events": {
        "event_id": "the event's id (events.csv)",
        "announced_at": "the announcement time as written",
        "announced_at_utc": "the instant it became public, aware UTC",
        "time_precision": "minute, hour or day: how well the time is known",
        "title": "what was announced", "category": "e.g. escalation, negotiation",
        "tags": "semicolon-separated tags", "source": "where it was reported (a URL)",
        "scope": "market_wide (moved the benchmark itself) or local",
        "row": "its row in events.csv (header = 1), or its index label in a DataFrame",
    },
    "alignment": {
        "event_id": "the event", "series": "the security (or series) id",
        "calendar": "the security's trading calendar (exchange_calendars code)",
        "announced_at": "as written", "announced_at_utc": "the instant, UTC",
        "time_precision": "as in events",
        "day0": "the first session whose close comes after the announcement",
        "day0_close_utc": "that session's close, UTC",
        "prev_session": "the session before day 0", "prev_close_utc": "its close, UTC",
        "close_rule": "how the close was found (calendar, or the vendor's daily bar end)",
    },
    "ar": {
        "event_id": "the event", "series": "the security", "model": "the normal-return model",
        "date": "the session", "rel_day": "trading days from day 0",
        "return": "the return (log or simple, as configured)",
        "simple_return": "the same as a simple return",
        "benchmark_return": "the benchmark's return matched to this session (for Tokyo "
                            "stocks the previous US session)",
        "expected_return": "the model's normal return", "abnormal_return": "return - expected",
        "ar_se": "its standard error (prediction error included)", "ar_t": "AR / se",
        "car_path": "cumulative AR from the start of the plot window",
        "car_path_se": "its standard error",
        "span": "sessions the return covers (2 after a missing bar)",
        "gap": "a missing bar: no return that day",
        "benchmark_contaminated": "the benchmark's matched interval contains the "
                                  "announcement (it reacted to the same news)",
    },
    "car": {
        "event_id": "the event", "series": "the security", "model": "the model",
        "window_start": "first day of the window (relative to day 0)",
        "window_end": "last day of the window",
        "car": "cumulative abnormal return over the window",
        "se": "its standard error, with the model's estimation error",
        "t_stat": "car / se", "dof": "degrees of freedom of the t-test",
        "p_value": "two-sided p of the t-test",
        "p_holm": "p adjusted by Holm over every pair of the model and window",
        "p_bh": "p adjusted by Benjamini-Hochberg over the same family",
        "n_est": "estimation-window days used", "n_days": "event days with a return",
        "n_excluded": "estimation days dropped for overlapping other events",
        "sigma": "residual standard deviation of the estimation window",
        "car_simple": "exp(car) - 1 for log returns (the CAR in percent terms)",
        "bhar": "buy-and-hold abnormal return over the window",
        "car_var": "se squared", "day0": "the pair's day 0",
        "note": "why a value is missing (waiting for data, missing bars)",
    },
    "tests": {
        "group": "the group ('' for a per-pair test)", "model": "the model",
        "event_id": "the event (per-pair tests)", "series": "the security (per-pair tests)",
        "window_start": "first day of the window", "window_end": "last day of the window",
        "test": "t, bootstrap (per pair); bmp, kp_bmp, patell, cross_sectional_t, sign, ... "
                "(per group; docs/methods-tests.md)",
        "estimate": "what the test measures (a mean CAR for the t-type tests)",
        "se": "estimate / statistic for the ratio tests, else empty",
        "statistic": "the test statistic", "dof": "its degrees of freedom, where it has some",
        "p_value": "two-sided p",
        "p_holm": "p adjusted by Holm over every row of the test, model and window (pair "
                  "rows and group rows apart)",
        "p_bh": "p adjusted by Benjamini-Hochberg over the same family",
        "n": "observations (pairs, or days for a pair)",
        "note": "which estimator was used, or why the statistic is missing",
    },
    "aar": {
        "group": "the group", "model": "the model", "rel_day": "trading days from day 0",
        "n": "pairs with an AR that day", "aar": "average abnormal return",
        "aar_se": "its standard error (independent pairs)", "caar": "cumulative AAR",
        "caar_se": "its standard error",
    },
    "skipped": {
        "event_id": "the event ('' when the security is skipped whole)",
        "series": "the security", "model": "the model ('' for all)",
        "reason": "why it was not studied",
    },
    "gaps": {"series": "the security", "date": "the session",
             "kind": "missing bar, or a bar on a non-session day (ignored)"},
    "prices": {"series": "the security", "date": "the session", "close": "the close used"},
    "provenance": {
        "series": "the security", "ticker": "the vendor's ticker",
        "origin": "where the prices came from (yahoo, fred, csv, cache, bundled sample)",
        "location": "the file or URL", "first": "first bar", "last": "last bar",
        "rows": "bars read", "as_of": "when they were fetched",
    },
}


def _glossary_text() -> str:
    lines = ["", "Columns of each frame (result.<frame>):"]
    for frame, cols in GLOSSARY.items():
        lines.append(f"    {frame}:")
        lines += [f"        {col:<24}{text}" for col, text in cols.items()]
    lines += ["    securities: series, universe, name and the universe's metadata (sector, ...)",
              "    group_members: group, event_id, series (each group's pairs)",
              "    panel: the long inference input, one row per (pair, model, day) of the "
              "estimation window and the event days (built when first read)"]
    return "\n".join(lines)


StudyResult.__doc__ = (StudyResult.__doc__ or "") + _glossary_text()
