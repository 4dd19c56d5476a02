"""The study's configuration: which series, windows and models, read from TOML.

Unknown keys are errors with a suggestion (a typo must not silently fall back to a default).
"""
from __future__ import annotations

import ast
import dataclasses
import re
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from eventstudy.errors import InputError, suggest

MODELS = ("constant_mean", "market_adjusted", "market_model", "factor_model", "dimson",
          "scholes_williams", "garch")
SOURCES = ("yahoo", "fred", "csv")

_STUDY_KEYS = {"series", "universes", "estimation_window", "event_windows", "plot_window",
               "returns", "models", "min_estimation", "exclude_other_events", "factors",
               "dimson_lags", "n_boot", "seed", "report_oversized_tests"}
_SERIES_KEYS = {"name", "source", "ticker", "calendar", "close_time", "close_tz", "benchmark",
                "path", "column", "date_column"}
_GROUP_KEYS = {"series", "universe", "events", "categories", "where", "by", "firm_events"}
_UNIVERSE_KEYS = {"source", "prices", "layout", "securities", "calendar", "close_time", "close_tz",
                  "benchmark", "where", "tickers", "tickers_file"}
_EVENTS_KEYS = {"path", "kind"}
_TOP_KEYS = {"study", "series", "universe", "events", "groups", "regressions", "engine"}
_REGRESSION_KEYS = {"name", "formula", "window", "model", "cluster", "weights", "groups"}
_ENGINE_KEYS = {"workers", "dask", "scheduler", "ar_in_memory_rows"}
UNIVERSE_SOURCES = ("csv", "yahoo")
LAYOUTS = ("folder", "wide", "long")

# Upper bounds: a value past them is a typo or a run that never ends (issue #12, item 16).
MAX_N_BOOT = 1_000_000
MAX_DIMSON_LAGS = 10
MAX_OFFSET = 10_000            # trading days (about 40 years) from day 0, any window
MAX_ESTIMATION_DAYS = 5_000    # about 20 years of sessions
MAX_EVENT_WINDOW_DAYS = 250    # an event window (and the plot window) of about a year at most
MAX_ID_LENGTH = 100
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# What a `where` query may use besides column names, literals, comparisons and boolean logic:
# enough for `sector.str.contains('Bank')`, never a path to a file write or to Python internals.
QUERY_METHODS = frozenset({
    "str", "dt", "contains", "startswith", "endswith", "match", "fullmatch", "lower", "upper",
    "strip", "len", "isin", "isna", "notna", "between", "abs", "year", "month", "day"})


@dataclass(frozen=True)
class SeriesConfig:
    """One priced thing: where its prices come from, its calendar, its benchmark."""
    id: str
    name: str
    source: str
    calendar: str
    ticker: str | None = None          # the vendor's id: Yahoo ticker or FRED series id
    close_time: str | None = None      # "HH:MM" (up to "24:00") in close_tz; overrides the calendar
    close_tz: str | None = None
    benchmark: str | None = None       # id of another series
    path: str | None = None            # source = "csv"
    column: str = "close"
    date_column: str = "date"

    @property
    def vendor_key(self) -> str:
        """The name of this series' prices in the cache and the bundled sample."""
        return f"fred-{self.ticker}" if self.source == "fred" else str(self.ticker)


@dataclass(frozen=True)
class UniverseConfig:
    """Many securities sharing a calendar, a close rule and a benchmark (prices in one place)."""
    id: str
    source: str = "csv"                     # "csv" (local files) or "yahoo" (a ticker list)
    prices: str | None = None               # folder of <symbol>.csv, or one wide/long CSV/Parquet
    layout: str | None = None               # "folder" | "wide" | "long"; None: inferred on load
    securities: str | None = None           # CSV: `symbol` + metadata columns
    calendar: str = "XNYS"
    close_time: str | None = None
    close_tz: str | None = None
    benchmark: str | None = None            # a [series.X] id
    where: str | None = None                # pandas query on the securities' metadata
    tickers: tuple[str, ...] = ()           # source = "yahoo"
    tickers_file: str | None = None         # source = "yahoo": CSV with a `symbol` column


@dataclass(frozen=True)
class FirmEventsConfig:
    """A file of firm-specific events: one (event_id, security, announced_at) pair a row."""
    id: str
    path: str


@dataclass(frozen=True)
class GroupConfig:
    """A set of (event, security) pairs tested together (AAR, CAAR and the group tests).

    Members are chosen by selector: listed `series` and/or a `universe`, or the pairs of a
    `firm_events` file; then `events`/`categories`, then `where` on security and event
    metadata. `by` splits the group into one group per value (e.g. per event, per sector).
    """
    id: str
    series: tuple[str, ...] = ()
    events: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    universe: str | None = None
    where: str | None = None
    by: tuple[str, ...] = ()
    firm_events: str | None = None


@dataclass(frozen=True)
class RegressionConfig:
    """One `[[regressions]]` table: a cross-sectional regression of CARs (eventstudy.regress)."""
    name: str
    formula: str
    window: tuple[int, int]
    model: str = "market_model"
    cluster: str = "event_id"
    weights: str | None = None
    groups: tuple[str, ...] = ()
    field: str = "regressions"          # where it was declared, for error messages


@dataclass(frozen=True)
class Config:
    series: dict[str, SeriesConfig]
    studied: tuple[str, ...]
    estimation_window: tuple[int, int] = (-250, -11)
    event_windows: tuple[tuple[int, int], ...] = ((0, 0), (-1, 1), (0, 5))
    plot_window: tuple[int, int] = (-10, 10)
    returns: str = "log"
    models: tuple[str, ...] = ("constant_mean", "market_model")
    min_estimation: int = 120
    exclude_other_events: bool = True
    factors: tuple[str, ...] = ()      # series ids used by the factor model
    dimson_lags: int = 1
    n_boot: int = 2000
    seed: int = 0
    report_oversized_tests: bool = False   # inference.OVERSIZED: NaN with a note unless true
    groups: dict[str, GroupConfig] = field(default_factory=dict)
    path: str = "<built-in defaults>"
    universes: dict[str, UniverseConfig] = field(default_factory=dict)
    studied_universes: tuple[str, ...] = ()
    firm_events: dict[str, FirmEventsConfig] = field(default_factory=dict)
    regressions: tuple[RegressionConfig, ...] = ()
    engine: object = None    # executors.EngineSettings from [engine] (None: in-process)

    @property
    def event_span(self) -> tuple[int, int]:
        """The widest event window: the days an event 'owns' (excluded from others' estimation)."""
        return (min(w[0] for w in self.event_windows), max(w[1] for w in self.event_windows))

    @property
    def needed_universes(self) -> list[str]:
        """Studied universes and those groups select from, in declaration order; every
        universe when there are firm-specific events (their securities may be in any)."""
        if self.firm_events:
            return list(self.universes)
        wanted = set(self.studied_universes) | {g.universe for g in self.groups.values()}
        return [u for u in self.universes if u in wanted]

    @property
    def needed_series(self) -> list[str]:
        """Studied series, group members and everything their models refer to, benchmarks first.

        Universes' benchmarks are included (before the series that are studied).
        """
        wanted = [self.universes[u].benchmark for u in self.needed_universes
                  if self.universes[u].benchmark]
        wanted += [s for s in self.studied if s not in wanted]
        for group in self.groups.values():
            wanted += [s for s in group.series if s not in wanted]
        out: list[str] = []

        def visit(sid: str, chain: tuple[str, ...] = ()) -> None:
            if sid in out:
                return
            if sid in chain:
                raise InputError(f"benchmarks form a loop: {' -> '.join(chain + (sid,))}",
                                 file=self.path, field=f"series.{sid}.benchmark")
            benchmark = self.series[sid].benchmark
            if benchmark:
                visit(benchmark, chain + (sid,))
            out.append(sid)

        factors = self.factors if "factor_model" in self.models else ()
        for sid in list(factors) + wanted:
            visit(sid)
        return out


def load_config(path: str | Path | None) -> Config:
    """Read a study config; None gives the built-in defaults (the 2025 tariff study)."""
    if path is None:
        text = resources.files("eventstudy").joinpath("default_config.toml").read_text("utf-8")
        return parse_config(text, "<built-in defaults>")
    path = Path(path)
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError:
        raise InputError("file not found", file=str(path)) from None
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text: byte 0x{exc.object[exc.start]:02x} "
                         "(save it as UTF-8)", file=str(path)) from None
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", file=str(path)) from None
    return parse_config(text, str(path))


def parse_config(text: str, name: str) -> Config:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"not valid TOML: {exc}", file=name) from None
    _check_keys(raw, _TOP_KEYS, name, "")
    study = raw.get("study", {})
    _check_keys(study, _STUDY_KEYS, name, "study")

    series_tables = _table(raw.get("series", {}), name, "series")
    for sid in series_tables:
        _check_id(sid, name, f"series.{sid}")
    series = {sid: _parse_series(sid, body, name) for sid, body in series_tables.items()}
    universe_tables = _table(raw.get("universe", {}), name, "universe")
    for uid in universe_tables:
        _check_id(uid, name, f"universe.{uid}")
        if uid in series:
            raise InputError(f"{uid!r} is also a [series.{uid}]: a universe needs its own id",
                             file=name, field=f"universe.{uid}")
    universes = {uid: _parse_universe(uid, body, name) for uid, body in universe_tables.items()}
    if not series and not universes:
        raise InputError("no [series.*] or [universe.*] tables: nothing to study", file=name)
    for sid, cfg in series.items():
        if cfg.benchmark is not None and cfg.benchmark not in series:
            raise InputError(f"unknown series {cfg.benchmark!r}{_suggest(cfg.benchmark, series)}",
                             file=name, field=f"series.{sid}.benchmark")
        if cfg.benchmark == sid:
            raise InputError("a series cannot be its own benchmark", file=name,
                             field=f"series.{sid}.benchmark")
    for uid, cfg in universes.items():
        if cfg.benchmark is not None and cfg.benchmark not in series:
            raise InputError(f"unknown series {cfg.benchmark!r}{_suggest(cfg.benchmark, series)}"
                             " (a benchmark is a [series.X] id)", file=name,
                             field=f"universe.{uid}.benchmark")
    firm_events = {eid: _parse_firm_events(eid, body, name)
                   for eid, body in _table(raw.get("events", {}), name, "events").items()}

    if "universes" in study:
        studied_universes = tuple(_str_list(study["universes"], name, "study.universes"))
    else:   # declared universes are studied unless the study names its series only
        studied_universes = () if "series" in study else tuple(universes)
    for uid in studied_universes:
        if uid not in universes:
            raise InputError(f"unknown universe {uid!r}{_suggest(uid, universes)}", file=name,
                             field="study.universes")
    if "series" in study:
        studied = tuple(_str_list(study["series"], name, "study.series"))
    else:
        studied = () if studied_universes else tuple(list(series)[:1])
    for sid in studied:
        if sid not in series:
            raise InputError(f"unknown series {sid!r}{_suggest(sid, series)}", file=name,
                             field="study.series")
    if not studied and not studied_universes:
        raise InputError("no series and no universe to study: list some in study.series "
                         "or study.universes", file=name,
                         field="study.series" if "series" in study else "study.universes")

    est = _window(study.get("estimation_window", [-250, -11]), name, "study.estimation_window")
    windows = study.get("event_windows", [[0, 0], [-1, 1], [0, 5]])
    if not isinstance(windows, list) or not windows:
        raise InputError("must be a non-empty list of [start, end] pairs", file=name,
                         field="study.event_windows")
    event_windows = tuple(_window(w, name, "study.event_windows") for w in windows)
    plot = _window(study.get("plot_window", [-10, 10]), name, "study.plot_window")
    _max_length(est, MAX_ESTIMATION_DAYS, name, "study.estimation_window")
    for w in event_windows:
        _max_length(w, MAX_EVENT_WINDOW_DAYS, name, "study.event_windows")
    _max_length(plot, MAX_EVENT_WINDOW_DAYS, name, "study.plot_window")
    span = (min(w[0] for w in event_windows), max(w[1] for w in event_windows))
    if est[1] >= span[0]:
        raise InputError(f"estimation window {list(est)} overlaps the event window starting at "
                         f"day {span[0]}: it must end before it", file=name,
                         field="study.estimation_window")
    returns = study.get("returns", "log")
    if returns not in ("log", "simple"):
        raise InputError(f"must be 'log' or 'simple', not {returns!r}", file=name,
                         field="study.returns")
    models = tuple(_str_list(study.get("models", ["constant_mean", "market_model"]), name,
                             "study.models"))
    for m in models:
        if m not in MODELS:
            raise InputError(f"unknown model {m!r}{_suggest(m, MODELS)}", file=name,
                             field="study.models")
    factors = tuple(_str_list(study.get("factors", []), name, "study.factors"))
    for f in factors:
        if f not in series:
            raise InputError(f"unknown series {f!r}{_suggest(f, series)}", file=name,
                             field="study.factors")
    if "factor_model" in models and not factors:
        raise InputError("the factor model needs study.factors (a list of series ids)",
                         file=name, field="study.factors")
    min_est = _int(study.get("min_estimation", 120), name, "study.min_estimation", minimum=3)
    est_len = est[1] - est[0] + 1
    if min_est > est_len:
        raise InputError(f"min_estimation {min_est} is more than the {est_len} days of the "
                         "estimation window", file=name, field="study.min_estimation")
    exclude = study.get("exclude_other_events", True)
    if not isinstance(exclude, bool):
        raise InputError("must be true or false", file=name, field="study.exclude_other_events")

    oversized = study.get("report_oversized_tests", False)
    if not isinstance(oversized, bool):
        raise InputError("must be true or false", file=name,
                         field="study.report_oversized_tests")

    groups = {gid: _parse_group(gid, body, name, series, universes, firm_events)
              for gid, body in _table(raw.get("groups", {}), name, "groups").items()}

    engine = _parse_engine(raw.get("engine"), name) if "engine" in raw else None

    return Config(series=series, studied=studied, estimation_window=est,
                  event_windows=event_windows, plot_window=plot, returns=returns, models=models,
                  min_estimation=min_est, exclude_other_events=exclude, factors=factors,
                  dimson_lags=_int(study.get("dimson_lags", 1), name, "study.dimson_lags", 1,
                                   MAX_DIMSON_LAGS),
                  n_boot=_int(study.get("n_boot", 2000), name, "study.n_boot", 100, MAX_N_BOOT),
                  seed=_int(study.get("seed", 0), name, "study.seed", 0),
                  report_oversized_tests=oversized,
                  groups=groups, path=name, universes=universes,
                  studied_universes=studied_universes, firm_events=firm_events, engine=engine,
                  regressions=_parse_regressions(raw.get("regressions", []), name,
                                                 event_windows, models, groups))


def _parse_regressions(value, name: str, windows, models, groups) -> tuple:
    """`[[regressions]]`: each table checked here, field by field; the formula's columns are
    checked when the study's frames are known (eventstudy.regress)."""
    if isinstance(value, list) and not value:
        return ()
    from eventstudy.regress import CLUSTERS, check_formula
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise InputError("must be tables [[regressions]] (name, formula, window, ...)",
                         file=name, field="regressions")
    out, names = [], set()
    for i, body in enumerate(value, start=1):
        where = f"regressions[{i}]"
        _check_keys(body, _REGRESSION_KEYS, name, where)
        formula = _opt_str(body, "formula", name, where)
        if not formula:
            raise InputError("missing (e.g. formula = \"car ~ C(sector)\")", file=name,
                             field=f"{where}.formula")
        check_formula(formula, None, file=name, field=f"{where}.formula")
        reg_name = _opt_str(body, "name", name, where) or formula
        _check_id(reg_name, name, f"{where}.name")
        if reg_name in names:
            raise InputError(f"a second regression named {reg_name!r}", file=name,
                             field=f"{where}.name")
        names.add(reg_name)
        if "window" not in body:
            raise InputError("missing (one of study.event_windows, e.g. [0, 1])", file=name,
                             field=f"{where}.window")
        window = _window(body["window"], name, f"{where}.window")
        if window not in windows:
            raise InputError(f"window {list(window)} is not one of study.event_windows "
                             f"({', '.join(str(list(w)) for w in windows)})", file=name,
                             field=f"{where}.window")
        model = _opt_str(body, "model", name, where) or "market_model"
        if model not in models:
            raise InputError(f"model {model!r} is not studied{_suggest(model, models)} "
                             f"(study.models: {', '.join(models)})", file=name,
                             field=f"{where}.model")
        cluster = _opt_str(body, "cluster", name, where) or "event_id"
        if cluster not in CLUSTERS:
            raise InputError(f"unknown cluster {cluster!r}{_suggest(cluster, CLUSTERS)} "
                             f"(allowed: {', '.join(CLUSTERS)})", file=name,
                             field=f"{where}.cluster")
        weights = _opt_str(body, "weights", name, where)
        if weights not in (None, "none", "inverse_variance"):
            raise InputError(f"unknown weights {weights!r} (allowed: inverse_variance, none)",
                             file=name, field=f"{where}.weights")
        chosen = tuple(_str_list(body.get("groups", []), name, f"{where}.groups"))
        for g in chosen:
            if g not in groups:
                raise InputError(f"unknown group {g!r}{_suggest(g, groups)}", file=name,
                                 field=f"{where}.groups")
        out.append(RegressionConfig(name=reg_name, formula=formula, window=window, model=model,
                                    cluster=cluster, weights=None if weights == "none" else weights,
                                    groups=chosen, field=where))
    return tuple(out)


def _parse_engine(body, name: str):
    """[engine]: where the partitions run (one of workers, dask, scheduler) and how many AR
    rows a study keeps in memory before writing them to a Parquet dataset."""
    from eventstudy.executors import check_settings
    if not isinstance(body, dict):
        raise InputError("must be a table: [engine] with workers = N, dask = \"local\" or "
                         "scheduler = \"tcp://host:port\"", file=name, field="engine")
    _check_keys(body, _ENGINE_KEYS, name, "engine")
    settings = check_settings(body.get("workers"), body.get("dask"), body.get("scheduler"),
                              file=name)
    if "ar_in_memory_rows" in body:
        rows = _int(body["ar_in_memory_rows"], name, "engine.ar_in_memory_rows", 0)
        settings = dataclasses.replace(settings, ar_in_memory_rows=rows)
    return settings


def _parse_group(gid: str, body, name: str, series: dict, universes: dict,
                 firm_events: dict) -> GroupConfig:
    where = f"groups.{gid}"
    _check_id(gid, name, where)
    if not isinstance(body, dict):
        raise InputError("must be a table", file=name, field=where)
    _check_keys(body, _GROUP_KEYS, name, where)
    members = tuple(_str_list(body.get("series", []), name, f"{where}.series"))
    for sid in members:
        if sid not in series:
            raise InputError(f"unknown series {sid!r}{_suggest(sid, series)}", file=name,
                             field=f"{where}.series")
    universe = _opt_str(body, "universe", name, where)
    if universe is not None and universe not in universes:
        raise InputError(f"unknown universe {universe!r}{_suggest(universe, universes)}",
                         file=name, field=f"{where}.universe")
    firm = _opt_str(body, "firm_events", name, where)
    if firm is not None and firm not in firm_events:
        raise InputError(f"unknown firm events {firm!r}{_suggest(firm, firm_events)} (declare "
                         "them in [events.NAME] with a path)", file=name,
                         field=f"{where}.firm_events")
    if not members and universe is None and firm is None:
        raise InputError("a group needs series, a universe or firm_events", file=name,
                         field=f"{where}.series")
    query = _opt_str(body, "where", name, where)
    if query is not None:
        check_query(query, name, f"{where}.where")
    by = tuple(_str_list(body.get("by", []), name, f"{where}.by"))
    if len(set(by)) != len(by) or not all(by):
        raise InputError(f"{list(by)!r} must be distinct, non-empty column names", file=name,
                         field=f"{where}.by")
    return GroupConfig(
        id=gid, series=members,
        events=tuple(_str_list(body.get("events", []), name, f"{where}.events")),
        categories=tuple(_str_list(body.get("categories", []), name, f"{where}.categories")),
        universe=universe, where=query, by=by, firm_events=firm)


def _parse_universe(uid: str, body, name: str) -> UniverseConfig:
    where = f"universe.{uid}"
    if not isinstance(body, dict):
        raise InputError("must be a table", file=name, field=where)
    _check_keys(body, _UNIVERSE_KEYS, name, where)
    text = {key: _opt_str(body, key, name, where)
            for key in ("source", "prices", "layout", "securities", "calendar", "close_time",
                        "close_tz", "benchmark", "where", "tickers_file")}
    source = text["source"] or "csv"
    if source not in UNIVERSE_SOURCES:
        raise InputError(f"unknown source {source!r}{_suggest(source, UNIVERSE_SOURCES)}",
                         file=name, field=f"{where}.source")
    if text["calendar"] is None:
        raise InputError("missing (an exchange_calendars code such as XTKS, XNYS or 24/5)",
                         file=name, field=f"{where}.calendar")
    _check_calendar(text["calendar"], name, f"{where}.calendar", text["close_time"],
                    text["close_tz"])
    _check_close(text["close_time"], text["close_tz"], name, where)
    layout = text["layout"]
    if layout is not None and layout not in LAYOUTS:
        raise InputError(f"unknown layout {layout!r}{_suggest(layout, LAYOUTS)} (allowed: "
                         f"{', '.join(LAYOUTS)})", file=name, field=f"{where}.layout")
    tickers = tuple(_str_list(body.get("tickers", []), name, f"{where}.tickers"))
    for ticker in tickers:
        _check_id(ticker, name, f"{where}.tickers")
    if source == "csv":
        if text["prices"] is None:
            raise InputError("missing (a folder of <symbol>.csv files, or one wide or long "
                             "CSV/Parquet file of closes)", file=name, field=f"{where}.prices")
        for key in ("tickers", "tickers_file"):
            if key in body:
                raise InputError("only for source = \"yahoo\" (this universe reads prices)",
                                 file=name, field=f"{where}.{key}")
    else:
        if text["prices"] is not None or layout is not None:
            raise InputError("a Yahoo universe takes tickers, not a prices file", file=name,
                             field=f"{where}.{'prices' if text['prices'] else 'layout'}")
        if not tickers and text["tickers_file"] is None and text["securities"] is None:
            raise InputError("missing (a list of Yahoo tickers, or tickers_file / securities: "
                             "a CSV with a symbol column)", file=name, field=f"{where}.tickers")
    if text["benchmark"] == "":
        raise InputError("empty: name a [series.X] id, or remove the key", file=name,
                         field=f"{where}.benchmark")
    paths = {key: _relative(text[key], name) for key in ("prices", "securities", "tickers_file")}
    query = text["where"]
    if query is not None:
        check_query(query, name, f"{where}.where")
        columns = _csv_header(paths["securities"]) if paths["securities"] else None
        if columns is not None:   # cheap: the header only; the rows are checked on load
            frame = _empty_frame(["security"] + [c for c in columns if c not in ("symbol",
                                                                               "security")])
            apply_query(frame, query, file=name, field=f"{where}.where")
    return UniverseConfig(id=uid, source=source, prices=paths["prices"], layout=layout,
                          securities=paths["securities"], calendar=text["calendar"],
                          close_time=text["close_time"], close_tz=text["close_tz"],
                          benchmark=text["benchmark"], where=query, tickers=tickers,
                          tickers_file=paths["tickers_file"])


def _parse_firm_events(eid: str, body, name: str) -> FirmEventsConfig:
    where = f"events.{eid}"
    _check_id(eid, name, where)
    if not isinstance(body, dict):
        raise InputError("must be a table (path = \"earnings.csv\")", file=name, field=where)
    _check_keys(body, _EVENTS_KEYS, name, where)
    kind = _opt_str(body, "kind", name, where)
    if kind not in (None, "firm"):
        raise InputError(f"unknown kind {kind!r}: only \"firm\" (global events come from "
                         "events.csv)", file=name, field=f"{where}.kind")
    path = _opt_str(body, "path", name, where)
    if not path:
        raise InputError("missing (the CSV file of event_id,security,announced_at rows)",
                         file=name, field=f"{where}.path")
    return FirmEventsConfig(id=eid, path=_relative(path, name))


def _table(value, name: str, where: str) -> dict:
    if not isinstance(value, dict):
        raise InputError(f"must be tables [{where}.NAME]", file=name, field=where)
    return value


def _opt_str(body: dict, key: str, name: str, where: str) -> str | None:
    value = body.get(key)
    if value is not None and not isinstance(value, str):
        raise InputError(f"{value!r} must be a string (in quotes)", file=name,
                         field=f"{where}.{key}")
    return value


def _relative(path: str | None, name: str) -> str | None:
    """A path as written, or relative to the config file's folder (like series paths)."""
    if path is None or Path(path).is_absolute() or name.startswith("<"):
        return path
    return str(Path(name).parent / path)


def _check_id(ident: str, name: str, field_name: str) -> None:
    """Ids land at the start of CSV cells and in file names: no formula, no control character."""
    if not ident:
        raise InputError("empty id", file=name, field=field_name)
    if ident[0] in "=+-@":
        raise InputError(f"id {ident[:40]!r} starts with {ident[0]!r}: a spreadsheet would read "
                         "it as a formula (start with a letter or digit)", file=name,
                         field=field_name)
    if _CONTROL.search(ident):
        raise InputError(f"id {ident[:40]!r} contains a control character", file=name,
                         field=field_name)
    if len(ident) > MAX_ID_LENGTH:
        raise InputError(f"id of {len(ident)} characters: at most {MAX_ID_LENGTH}", file=name,
                         field=field_name)


def _check_close(close_time, close_tz, name: str, where: str) -> None:
    if (close_time is None) != (close_tz is None):
        raise InputError("close_time and close_tz go together", file=name,
                         field=f"{where}.close_time")
    if close_time is not None:
        if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d|24:00", str(close_time)):
            raise InputError(f"{close_time!r} is not a time 'HH:MM' (00:00 to 24:00)",
                             file=name, field=f"{where}.close_time")
        _check_tz(close_tz, name, f"{where}.close_tz")


def _csv_header(path: str) -> list[str] | None:
    """The column names of a CSV's first line, or None if it cannot be read (checked later)."""
    import csv
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            return [c.strip() for c in next(csv.reader([fh.readline(1 << 16)]), [])]
    except (OSError, UnicodeDecodeError, StopIteration):
        return None


def _empty_frame(columns: list[str]):
    import pandas as pd
    return pd.DataFrame({c: pd.Series([], dtype=object) for c in columns})


def check_query(where: str, file: str | None, field: str) -> None:
    """Refuse a `where` that is not a plain filter: only columns, literals, comparisons, boolean
    logic and a few string/date methods (QUERY_METHODS). pandas' query language can reach
    Python objects and methods that write files; a filter never needs them."""
    if not where.strip():
        raise InputError("empty query", file=file, field=field)
    if "@" in re.sub(r"'[^']*'|\"[^\"]*\"|`[^`]*`", "", where):     # '@' outside quotes
        raise InputError(f"{where!r}: '@' (a Python variable) is not allowed in a query",
                         file=file, field=field)
    text = re.sub(r"`[^`]*`", "_col", where)          # `a column with spaces`
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise InputError(f"{where!r} is not a valid query ({exc.msg})", file=file,
                         field=field) from None
    for node in ast.walk(tree):
        bad = None
        if isinstance(node, ast.Attribute) and node.attr not in QUERY_METHODS:
            bad = f".{node.attr}"
        elif isinstance(node, ast.Name) and node.id.startswith("__"):
            bad = node.id
        elif isinstance(node, ast.Call) and not isinstance(node.func, ast.Attribute):
            bad = "a function call"
        elif isinstance(node, (ast.Lambda, ast.NamedExpr, ast.Subscript, ast.Starred,
                               ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp,
                               ast.Await, ast.Yield, ast.YieldFrom, ast.FormattedValue)):
            bad = type(node).__name__
        if bad is not None:
            raise InputError(f"{where!r}: {bad} is not allowed in a query (allowed: columns, "
                             "literals, comparisons, and/or/not, in, "
                             f"{', '.join(sorted(QUERY_METHODS))})", file=file, field=field)


def apply_query(frame, where: str | None, *, file: str | None, field: str):
    """The rows of `frame` that match `where` (checked by check_query); one-line InputError on
    an unknown column or a query that does not give one true/false per row."""
    if where is None:
        return frame
    check_query(where, file, field)
    try:
        mask = frame.eval(where, engine="python")
    except Exception as exc:  # noqa: BLE001 - pandas raises many types for a bad query
        known = ", ".join(map(str, frame.columns))
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(f"query {where!r} fails: {msg} (columns: {known})", file=file,
                         field=field) from None
    import pandas as pd
    if not isinstance(mask, pd.Series) or not (mask.dtype == bool or len(mask) == 0):
        raise InputError(f"query {where!r} does not give true or false for each row",
                         file=file, field=field)
    return frame[mask.astype(bool).to_numpy()]


def _parse_series(sid: str, body, name: str) -> SeriesConfig:
    where = f"series.{sid}"
    if not isinstance(body, dict):
        raise InputError("must be a table", file=name, field=where)
    _check_keys(body, _SERIES_KEYS, name, where)
    for key in ("name", "source", "ticker", "calendar", "close_time", "close_tz", "benchmark",
                "path", "column", "date_column"):
        if key in body and not isinstance(body[key], str):
            raise InputError(f"{body[key]!r} must be a string (in quotes)", file=name,
                             field=f"{where}.{key}")
    source = body.get("source", "yahoo")
    if source not in SOURCES:
        raise InputError(f"unknown source {source!r}{_suggest(source, SOURCES)}", file=name,
                         field=f"{where}.source")
    if "calendar" not in body:
        raise InputError("missing (an exchange_calendars code such as XTKS, XNYS or 24/5)",
                         file=name, field=f"{where}.calendar")
    calendar = body["calendar"]
    _check_calendar(calendar, name, f"{where}.calendar", body.get("close_time"),
                    body.get("close_tz"))
    if source == "yahoo" and not body.get("ticker"):
        raise InputError("missing (the Yahoo ticker, e.g. ^N225)", file=name,
                         field=f"{where}.ticker")
    if source == "fred" and not body.get("ticker"):
        raise InputError("missing (the FRED series id, e.g. DEXJPUS)", file=name,
                         field=f"{where}.ticker")
    if source == "csv" and not body.get("path"):
        raise InputError("missing (the CSV file of prices)", file=name, field=f"{where}.path")
    close_time, close_tz = body.get("close_time"), body.get("close_tz")
    _check_close(close_time, close_tz, name, where)
    if body.get("benchmark") == "":
        raise InputError("empty: name a [series.X] id, or remove the key", file=name,
                         field=f"{where}.benchmark")
    path = _relative(body.get("path"), name)
    return SeriesConfig(id=sid, name=body.get("name", sid), source=source, calendar=calendar,
                        ticker=body.get("ticker"), close_time=close_time, close_tz=close_tz,
                        benchmark=body.get("benchmark"), path=path,
                        column=body.get("column", "close"),
                        date_column=body.get("date_column", "date"))


def _check_keys(table: dict, allowed: set[str], name: str, where: str) -> None:
    if not isinstance(table, dict):
        raise InputError("must be a table", file=name, field=where or None)
    for key in table:
        if key not in allowed:
            field_name = f"{where}.{key}" if where else key
            raise InputError(_unknown_key(key, allowed, where), file=name, field=field_name)


def _unknown_key(key: str, allowed: set[str], where: str) -> str:
    """Where a misplaced key belongs, else the closest allowed key, else the allowed keys."""
    homes = [("[study]", _STUDY_KEYS, "study"), ("[series.<id>]", _SERIES_KEYS, "series."),
             ("[universe.<id>]", _UNIVERSE_KEYS, "universe."),
             ("[events.<id>]", _EVENTS_KEYS, "events."), ("[groups.<id>]", _GROUP_KEYS, "groups."),
             ("[engine]", _ENGINE_KEYS, "engine")]
    for label, keys, prefix in homes:
        here = where == prefix or (prefix.endswith(".") and where.startswith(prefix))
        if key in keys and not here:
            return f"misplaced key: it belongs in {label}"
    return "unknown key" + (_suggest(key, allowed)
                            or f" (allowed: {', '.join(sorted(allowed))})")


def _suggest(word: str, choices) -> str:
    return suggest(word, choices)


def _window(value, name: str, field_name: str) -> tuple[int, int]:
    if (not isinstance(value, list) or len(value) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)):
        raise InputError(f"{value!r} is not a window [start, end] of whole trading days",
                         file=name, field=field_name)
    if value[0] > value[1]:
        raise InputError(f"window {value} starts after it ends", file=name, field=field_name)
    return (value[0], value[1])


def _int(value, name: str, field_name: str, minimum: int, maximum: int | None = None) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise InputError(f"{value!r} must be a whole number >= {minimum}", file=name,
                         field=field_name)
    if maximum is not None and value > maximum:
        raise InputError(f"{value!r} is too large: at most {maximum:,}", file=name,
                         field=field_name)
    return value


def _max_length(window: tuple[int, int], days: int, name: str, field_name: str) -> None:
    if max(abs(window[0]), abs(window[1])) > MAX_OFFSET:
        raise InputError(f"window {list(window)} reaches more than {MAX_OFFSET:,} trading days "
                         "from day 0", file=name, field=field_name)
    if window[1] - window[0] + 1 > days:
        raise InputError(f"window {list(window)} is {window[1] - window[0] + 1:,} trading days "
                         f"long: at most {days:,}", file=name, field=field_name)


def _str_list(value, name: str, field_name: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InputError(f"{value!r} must be a list of strings", file=name, field=field_name)
    return value


def _check_calendar(code: str, name: str, field_name: str, close_time=None,
                    close_tz=None) -> None:
    from eventstudy.calendars import known_calendar
    if known_calendar(code, close_time, close_tz):
        return      # a code this exchange_calendars built before (its import: ~60 ms)
    import exchange_calendars as xc
    names = xc.get_calendar_names(include_aliases=True)
    if code not in names:
        raise InputError(f"unknown calendar {code!r}{_suggest(code, names)}", file=name,
                         field=field_name)


def _check_tz(tz, name: str, field_name: str) -> None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError
    try:
        ZoneInfo(str(tz))
    except (ZoneInfoNotFoundError, ValueError):
        raise InputError(f"unknown time zone {tz!r}", file=name, field=field_name) from None
