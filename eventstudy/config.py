"""The study's configuration: which series, windows and models, read from TOML.

Unknown keys are errors with a suggestion (a typo must not silently fall back to a default).
"""
from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from eventstudy.errors import InputError, suggest

MODELS = ("constant_mean", "market_adjusted", "market_model", "factor_model", "dimson",
          "scholes_williams", "garch")
SOURCES = ("yahoo", "fred", "csv")

_STUDY_KEYS = {"series", "estimation_window", "event_windows", "plot_window", "returns", "models",
               "min_estimation", "exclude_other_events", "factors", "dimson_lags", "n_boot", "seed"}
_SERIES_KEYS = {"name", "source", "ticker", "calendar", "close_time", "close_tz", "benchmark",
                "path", "column", "date_column"}
_GROUP_KEYS = {"series", "events", "categories"}
_TOP_KEYS = {"study", "series", "groups"}


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
class GroupConfig:
    """A set of (event, series) pairs tested together (AAR, CAAR and the group tests)."""
    id: str
    series: tuple[str, ...]
    events: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()


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
    groups: dict[str, GroupConfig] = field(default_factory=dict)
    path: str = "<built-in defaults>"

    @property
    def event_span(self) -> tuple[int, int]:
        """The widest event window: the days an event 'owns' (excluded from others' estimation)."""
        return (min(w[0] for w in self.event_windows), max(w[1] for w in self.event_windows))

    @property
    def needed_series(self) -> list[str]:
        """Studied series, group members and everything their models refer to, benchmarks first."""
        wanted = list(self.studied)
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

    series = {sid: _parse_series(sid, body, name) for sid, body in raw.get("series", {}).items()}
    if not series:
        raise InputError("no [series.*] tables: nothing to study", file=name)
    for sid, cfg in series.items():
        if cfg.benchmark is not None and cfg.benchmark not in series:
            raise InputError(f"unknown series {cfg.benchmark!r}{_suggest(cfg.benchmark, series)}",
                             file=name, field=f"series.{sid}.benchmark")
        if cfg.benchmark == sid:
            raise InputError("a series cannot be its own benchmark", file=name,
                             field=f"series.{sid}.benchmark")

    studied = tuple(_str_list(study.get("series", list(series)[:1]), name, "study.series"))
    for sid in studied:
        if sid not in series:
            raise InputError(f"unknown series {sid!r}{_suggest(sid, series)}", file=name,
                             field="study.series")

    est = _window(study.get("estimation_window", [-250, -11]), name, "study.estimation_window")
    windows = study.get("event_windows", [[0, 0], [-1, 1], [0, 5]])
    if not isinstance(windows, list) or not windows:
        raise InputError("must be a non-empty list of [start, end] pairs", file=name,
                         field="study.event_windows")
    event_windows = tuple(_window(w, name, "study.event_windows") for w in windows)
    plot = _window(study.get("plot_window", [-10, 10]), name, "study.plot_window")
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

    groups = {}
    for gid, body in raw.get("groups", {}).items():
        if not isinstance(body, dict):
            raise InputError("must be a table", file=name, field=f"groups.{gid}")
        _check_keys(body, _GROUP_KEYS, name, f"groups.{gid}")
        members = tuple(_str_list(body.get("series", []), name, f"groups.{gid}.series"))
        if not members:
            raise InputError("a group needs at least one series", file=name,
                             field=f"groups.{gid}.series")
        for sid in members:
            if sid not in series:
                raise InputError(f"unknown series {sid!r}{_suggest(sid, series)}", file=name,
                                 field=f"groups.{gid}.series")
        groups[gid] = GroupConfig(
            id=gid, series=members,
            events=tuple(_str_list(body.get("events", []), name, f"groups.{gid}.events")),
            categories=tuple(_str_list(body.get("categories", []), name,
                                       f"groups.{gid}.categories")))

    return Config(series=series, studied=studied, estimation_window=est,
                  event_windows=event_windows, plot_window=plot, returns=returns, models=models,
                  min_estimation=min_est, exclude_other_events=exclude, factors=factors,
                  dimson_lags=_int(study.get("dimson_lags", 1), name, "study.dimson_lags", 1),
                  n_boot=_int(study.get("n_boot", 2000), name, "study.n_boot", 100),
                  seed=_int(study.get("seed", 0), name, "study.seed", 0),
                  groups=groups, path=name)


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
    _check_calendar(calendar, name, f"{where}.calendar")
    if source == "yahoo" and not body.get("ticker"):
        raise InputError("missing (the Yahoo ticker, e.g. ^N225)", file=name,
                         field=f"{where}.ticker")
    if source == "fred" and not body.get("ticker"):
        raise InputError("missing (the FRED series id, e.g. DEXJPUS)", file=name,
                         field=f"{where}.ticker")
    if source == "csv" and not body.get("path"):
        raise InputError("missing (the CSV file of prices)", file=name, field=f"{where}.path")
    close_time, close_tz = body.get("close_time"), body.get("close_tz")
    if (close_time is None) != (close_tz is None):
        raise InputError("close_time and close_tz go together", file=name,
                         field=f"{where}.close_time")
    if close_time is not None:
        if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d|24:00", str(close_time)):
            raise InputError(f"{close_time!r} is not a time 'HH:MM' (00:00 to 24:00)",
                             file=name, field=f"{where}.close_time")
        _check_tz(close_tz, name, f"{where}.close_tz")
    path = body.get("path")
    if path is not None and not Path(path).is_absolute() and not name.startswith("<"):
        path = str(Path(name).parent / path)
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
             ("[groups.<id>]", _GROUP_KEYS, "groups.")]
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


def _int(value, name: str, field_name: str, minimum: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise InputError(f"{value!r} must be a whole number >= {minimum}", file=name,
                         field=field_name)
    return value


def _str_list(value, name: str, field_name: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InputError(f"{value!r} must be a list of strings", file=name, field=field_name)
    return value


def _check_calendar(code: str, name: str, field_name: str) -> None:
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
