"""Bad input (issue #5): a catalogue of bad inputs and the exact one-line error each gives.

Every bad case goes through the real CLI (CliRunner on `eventstudy.cli.main`; three through the
installed `eventstudy` script in a subprocess) and must give: its exit code (2 for bad input,
3 for market data that cannot be had), exactly one line on stderr, `error: ` followed by the
file, the row (a spreadsheet's numbering: header = row 1) and the field where those exist, no
traceback, and nothing already written lost or half-written: every file under the previous
run's out dir, its cache dir and the working folder is byte-identical afterwards and no file
(temporary or not) has appeared.

Decisions recorded here (docs/bad-input.md is the same catalogue as a table):
* an event whose whole estimation window precedes the data of every series studied on it is an
  ERROR naming the events file, its row and announced_at: a year typed wrong (1990, 2010 for
  2025) is far likelier than a study of it, and a silent skip would hide it;
* an event after the data ends is NOT an error: its pairs are skipped with the reason
  "waiting for data" and the run exits 0 (the next run with fresher prices studies it);
* weekend and holiday announcements are NOT errors: day 0 is the next session;
* a price file whose prices are all equal is an ERROR (constant returns: a stale feed or the
  wrong column); a constant stretch covering one event's estimation window is a SKIP of that
  pair with the reason "constant returns in the estimation window".
"""
from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from eventstudy.cli import main

REPO = Path(__file__).resolve().parents[1]
SCRIPT = Path(sys.executable).with_name("eventstudy")
HEADER = "event_id,announced_at,time_precision,title,category,tags,source\n"
ROWS = [  # rows 2-4 of the template's events.csv (real events of events.csv)
    "liberation-day,2025-04-02T16:00:00-04:00,hour,Liberation Day: reciprocal tariffs "
    "announced,escalation,japan;reciprocal,https://feeds.bbci.co.uk/news/live/c1dr7vy39eet\n",
    "tariff-pause,2025-04-09T13:18:00-04:00,minute,90-day pause of reciprocal tariffs,"
    "de-escalation,japan;pause,https://www.channelnewsasia.com/business/5055841\n",
    "us-japan-talks-1,2025-04-16T17:30:00-04:00,hour,First US-Japan tariff talks,negotiation,"
    "japan;talks,https://japannews.yomiuri.co.jp/politics/20250418-249831\n",
]
EVENTS = HEADER + "".join(ROWS)
# One more row, bad in one field at a time: row 5 when appended to EVENTS.
ROW = "new-event,2025-05-01T19:00:00-04:00,hour,Second talks,negotiation,japan,https://x.example\n"

CONFIG = """\
[study]
series = ["N225"]
models = ["constant_mean", "market_model"]
n_boot = 100

[series.N225]
name = "Nikkei 225"
source = "yahoo"
ticker = "^N225"
calendar = "XTKS"
benchmark = "GSPC"

[series.GSPC]
name = "S&P 500"
source = "yahoo"
ticker = "^GSPC"
calendar = "XNYS"

[groups.escalations]
series = ["N225"]
categories = ["escalation"]
"""
# A quick study (one series, no benchmark, no groups) for runs that are meant to succeed.
SMALL = """\
[study]
series = [%s]
models = ["constant_mean"]

[series.N225]
source = "yahoo"
ticker = "^N225"
calendar = "XTKS"

[series.GSPC]
source = "yahoo"
ticker = "^GSPC"
calendar = "XNYS"
"""
# A local CSV series (synthetic prices on NYSE sessions, written by `prices_csv`).
CSV_CONFIG = """\
[study]
series = ["X"]
models = ["constant_mean"]

[series.X]
source = "csv"
path = "prices.csv"
calendar = "XNYS"
"""


def cfg(old: str, new: str, base: str = CONFIG) -> str:
    """The template config with one substitution (which must apply)."""
    assert old in base, old
    return base.replace(old, new, 1)


def run_args(events: str = "events.csv", config: str = "study.toml") -> list[str]:
    return ["run", "--offline", "--events", events, "--config", config, "--out", "out",
            "--cache", "cache"]


# -- the template run (once per module) and each test's copy of it ---------------------------

@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    """A good run: events.csv + study.toml -> out/ (reports, results) and a seeded cache/."""
    from eventstudy.data.cache import PriceCache
    from eventstudy.data.prices import load_sample
    root = tmp_path_factory.mktemp("template")
    (root / "events.csv").write_text(EVENTS, "utf-8")
    (root / "study.toml").write_text(CONFIG, "utf-8")
    # The cache holds the S&P 500 (the sample's prices), so runs read it: a run that moved
    # it aside, rewrote it or left a temporary file beside it would show.
    PriceCache(root / "cache").write("^GSPC", load_sample("^GSPC"), source="test",
                                     fetched_at=dt.datetime(2026, 7, 25, tzinfo=dt.timezone.utc))
    cwd = os.getcwd()
    os.chdir(root)
    try:
        res = CliRunner().invoke(main, run_args())
    finally:
        os.chdir(cwd)
    assert res.exit_code == 0, (res.output, res.exception)
    assert (root / "out" / "index.html").is_file()
    assert len(list((root / "out" / "results").glob("*.csv"))) == 8
    return root


@dataclass
class Workspace:
    root: Path
    before: dict = field(default_factory=dict)

    def write(self, name: str, content: str | bytes) -> Path:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, "utf-8")
        return path

    def snapshot(self) -> dict:
        """Every path under the workspace (out/, cache/, inputs): bytes of files, None for dirs."""
        return {str(p.relative_to(self.root)): (p.read_bytes() if p.is_file() else None)
                for p in sorted(self.root.rglob("*"))}


@pytest.fixture
def ws(template, tmp_path, monkeypatch) -> Workspace:
    root = tmp_path / "ws"
    shutil.copytree(template, root)
    monkeypatch.chdir(root)   # messages name files as given on the command line
    return Workspace(root)


def assert_unchanged(before: dict, after: dict) -> None:
    new = sorted(set(after) - set(before))
    lost = sorted(set(before) - set(after))
    changed = sorted(k for k in before.keys() & after.keys() if before[k] != after[k])
    assert not new and not lost and not changed, f"new {new}, lost {lost}, changed {changed}"


def check_bad(ws: Workspace, args: list[str], expected, code: int = 2) -> str:
    """Run a bad input; the one stderr line must be `error: <expected>` (str or regex)."""
    before = ws.snapshot()
    assert any(k.startswith("out/results/") for k in before)   # there is something to lose
    res = CliRunner().invoke(main, args)
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exception
    assert "Traceback" not in res.output and "Traceback" not in res.stderr
    assert res.exit_code == code, (res.exit_code, res.stderr, res.stdout)
    lines = res.stderr.splitlines()
    assert len(lines) == 1, res.stderr
    line = lines[0]
    assert line.startswith("error: "), line
    if isinstance(expected, re.Pattern):
        assert expected.fullmatch(line), f"{line!r} !~ {expected.pattern!r}"
    else:
        assert line == f"error: {expected}"
    assert_unchanged(before, ws.snapshot())
    return line


# -- the catalogue ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Case:
    id: str
    input: str                      # what is wrong, in words (docs/bad-input.md)
    files: dict                     # name -> text or bytes, written before the run
    args: list
    expected: str | re.Pattern      # the stderr line after "error: "
    code: int = 2


def ev(content: str | bytes) -> dict:
    return {"bad.csv": content}


def ev_row(old: str, new: str) -> str:
    """EVENTS plus ROW (row 5) with one substitution in ROW."""
    assert old in ROW, old
    return EVENTS + ROW.replace(old, new, 1)


BAD = run_args("bad.csv")
CONF = run_args(config="bad.toml")
ALLOWED = ("event_id, announced_at, time_precision, title, category, tags, source, scope")

EVENT_CASES = [
    Case("unbalanced-quote", "a title's opening quote is never closed",
         ev(EVENTS + 'x,2025-05-01T19:00:00-04:00,hour,"Second talks,negotiation,,https://x\n'),
         BAD, "bad.csv, row 5: unbalanced quote: a quoted field starts on this row and never ends"),
    Case("text-after-quote", "text after a closing quote",
         ev(EVENTS + 'x,2025-05-01T19:00:00-04:00,hour,"Second" talks,negotiation,,https://x\n'),
         BAD, re.compile(r"error: bad\.csv, row 5: malformed CSV: ',' expected after '\"' .*")),
    Case("field-count", "a title with an unquoted comma (one field too many)",
         ev(ev_row("Second talks", "Second talks, Washington")),
         BAD, "bad.csv, row 5: 8 fields where the header has 7 (quote titles that contain commas)"),
    Case("missing-columns", "no category and source columns",
         ev("event_id,announced_at,title\nx,2025-05-01T19:00:00-04:00,T\n"),
         BAD, "bad.csv, row 1: missing columns category, source (found: event_id, announced_at, "
              "title)"),
    Case("misspelt-column", "a misspelt column (annouced_at)",
         ev(EVENTS.replace("announced_at", "annouced_at", 1)),
         BAD, "bad.csv, row 1, field annouced_at: unknown column 'annouced_at' (did you mean "
              "'announced_at'?)"),
    Case("unknown-column", "an extra column the tool does not know",
         ev(EVENTS.replace("source\n", "source,notes\n", 1)),
         BAD, f"bad.csv, row 1, field notes: unknown column 'notes' (allowed: {ALLOWED})"),
    Case("unnamed-column", "a trailing comma in the header",
         ev(EVENTS.replace("source\n", "source,\n", 1)),
         BAD, "bad.csv, row 1: column 8 of the header has no name (a stray comma?)"),
    Case("empty-file", "an empty events file", ev(""),
         BAD, "bad.csv: empty file: expected a header row (event_id,announced_at,title,category,"
              "source)"),
    Case("header-only", "a header and no events", ev(HEADER),
         BAD, "bad.csv: no events (only a header)"),
    Case("duplicate-id", "an event_id used twice", ev(EVENTS + ROWS[1]),
         BAD, "bad.csv, row 5, field event_id: duplicate event_id 'tariff-pause' (first on row 3)"),
    Case("case-twin-id", "event_ids differing only in case",
         ev(ev_row("new-event", "Tariff-Pause")),
         BAD, "bad.csv, row 5, field event_id: event_id 'Tariff-Pause' differs from 'tariff-pause' "
              "(row 3) only in case: their report pages would be one file on macOS and Windows"),
    Case("empty-id", "an empty event_id", ev(ev_row("new-event", "")),
         BAD, "bad.csv, row 5, field event_id: empty event_id"),
    Case("bad-id", "a space and a slash in an event_id", ev(ev_row("new-event", "talks 2/May")),
         BAD, "bad.csv, row 5, field event_id: event_id 'talks 2/May' may hold only letters, "
              "digits, '.', '_' and '-'"),
    Case("naive-time", "a time without offset or zone",
         ev(ev_row("2025-05-01T19:00:00-04:00", "2025-05-01 19:00")),
         BAD, "bad.csv, row 5, field announced_at: naive timestamp '2025-05-01 19:00' (add a UTC "
              "offset such as -04:00 or a zone name such as America/New_York)"),
    Case("unparseable-time", "a date that does not exist (February 30)",
         ev(ev_row("2025-05-01T19:00:00-04:00", "2025-02-30T19:00:00-04:00")),
         BAD, "bad.csv, row 5, field announced_at: cannot parse timestamp "
              "'2025-02-30T19:00:00-04:00'"),
    Case("time-without-date", "a time of day with no date (would silently mean today)",
         ev(ev_row("2025-05-01T19:00:00-04:00", "19:00 America/New_York")),
         BAD, "bad.csv, row 5, field announced_at: cannot parse timestamp "
              "'19:00 America/New_York': it must start with a date (YYYY-MM-DD)"),
    Case("unknown-zone", "a misspelt zone name",
         ev(ev_row("2025-05-01T19:00:00-04:00", "2025-05-01 19:00 America/New_Yrok")),
         BAD, "bad.csv, row 5, field announced_at: unknown time zone 'America/New_Yrok'"),
    Case("zone-abbreviation", "a zone abbreviation (EST)",
         ev(ev_row("2025-05-01T19:00:00-04:00", "2025-05-01 19:00 EST")),
         BAD, "bad.csv, row 5, field announced_at: 'EST' in '2025-05-01 19:00 EST' is not a time "
              "zone name: abbreviations are ambiguous (use a UTC offset such as -04:00 or a zone "
              "name such as America/New_York)"),
    Case("offset-and-zone", "both a UTC offset and a zone name",
         ev(ev_row("2025-05-01T19:00:00-04:00", "2025-05-01T19:00-04:00 America/New_York")),
         BAD, "bad.csv, row 5, field announced_at: '2025-05-01T19:00-04:00 America/New_York' has "
              "both a UTC offset and a zone name"),
    Case("dst-gap", "a local time the clocks skip (spring forward)",
         ev(ev_row("2025-05-01T19:00:00-04:00", "2025-03-09 02:30 America/New_York")),
         BAD, "bad.csv, row 5, field announced_at: '2025-03-09 02:30 America/New_York' does not "
              "exist: the clocks skip that hour for daylight saving time (give a UTC offset "
              "instead)"),
    Case("dst-ambiguous", "a local time that happens twice (fall back)",
         ev(ev_row("2025-05-01T19:00:00-04:00", "2025-11-02 01:30 America/New_York")),
         BAD, "bad.csv, row 5, field announced_at: '2025-11-02 01:30 America/New_York' is "
              "ambiguous: that hour happens twice when the clocks go back (give a UTC offset "
              "instead)"),
    Case("bad-precision", "time_precision 'minutes'", ev(ev_row(",hour,", ",minutes,")),
         BAD, "bad.csv, row 5, field time_precision: 'minutes' is not one of minute, hour, day "
              "(did you mean 'minute'?)"),
    Case("empty-title", "an empty title", ev(ev_row("Second talks", "")),
         BAD, "bad.csv, row 5, field title: empty title"),
    Case("empty-category", "an empty category", ev(ev_row("negotiation", "")),
         BAD, "bad.csv, row 5, field category: empty category"),
    Case("empty-source", "an empty source", ev(ev_row("https://x.example", "")),
         BAD, "bad.csv, row 5, field source: empty source"),
    Case("events-not-found", "the events file does not exist", {},
         run_args("nosuch.csv"), "nosuch.csv: file not found (make one with `eventstudy init`, or start one with "
         "`eventstudy events add`)"),
    Case("events-not-utf8", "an events file saved as Latin-1",
         ev(ev_row("Second talks", "Second talks \xe0 Washington").encode("latin-1")),
         BAD, "bad.csv, row 5: not UTF-8 text: byte 0xe0 (save it as CSV UTF-8)"),
    Case("events-utf16", "an events file saved as UTF-16", ev(EVENTS.encode("utf-16")),
         BAD, "bad.csv: UTF-16 text: save it as CSV UTF-8"),
    Case("events-nul", "NUL bytes in the events file",
         ev(ev_row("Second talks", "Second\x00talks")),
         BAD, "bad.csv, row 5: NUL characters: not a text CSV (UTF-16? save it as CSV UTF-8)"),
]

CONFIG_CASES = [
    Case("unknown-series", "study.series names a series with no [series.*] table",
         {"bad.toml": cfg('series = ["N225"]', 'series = ["N226"]')},
         CONF, "bad.toml, field study.series: unknown series 'N226' (did you mean 'N225'?)"),
    Case("unknown-benchmark", "a benchmark that is not a series",
         {"bad.toml": cfg('benchmark = "GSPC"', 'benchmark = "SPX"')},
         CONF, "bad.toml, field series.N225.benchmark: unknown series 'SPX'"),
    Case("unknown-calendar", "a transposed calendar code (XTSK)",
         {"bad.toml": cfg('calendar = "XTKS"', 'calendar = "XTSK"')},
         CONF, "bad.toml, field series.N225.calendar: unknown calendar 'XTSK' (did you mean "
               "'XTKS'?)"),
    Case("unknown-source", "an unknown price source",
         {"bad.toml": cfg('source = "yahoo"', 'source = "yahooo"')},
         CONF, "bad.toml, field series.N225.source: unknown source 'yahooo' (did you mean "
               "'yahoo'?)"),
    Case("typo-top-level", "a misspelt table name ([stduy])",
         {"bad.toml": cfg("[study]", "[stduy]")},
         CONF, "bad.toml, field stduy: unknown key (did you mean 'study'?)"),
    Case("misplaced-top-level", "a [study] key written above the tables",
         {"bad.toml": "seed = 1\n" + CONFIG},
         CONF, "bad.toml, field seed: misplaced key: it belongs in [study]"),
    Case("typo-study", "a misspelt key in [study]",
         {"bad.toml": cfg("n_boot = 100", "n_boot = 100\nestimaton_window = [-250, -11]")},
         CONF, "bad.toml, field study.estimaton_window: unknown key (did you mean "
               "'estimation_window'?)"),
    Case("typo-series", "a misspelt key in [series.N225]",
         {"bad.toml": cfg('ticker = "^N225"', 'tikcer = "^N225"')},
         CONF, "bad.toml, field series.N225.tikcer: unknown key (did you mean 'ticker'?)"),
    Case("typo-group", "a misspelt key in [groups.escalations]",
         {"bad.toml": cfg("categories = ", "category = ")},
         CONF, "bad.toml, field groups.escalations.category: unknown key (did you mean "
               "'categories'?)"),
    Case("unknown-key", "a key like no allowed one",
         {"bad.toml": cfg("n_boot = 100", "n_boot = 100\ncolour = \"red\"")},
         CONF, re.compile(r"error: bad\.toml, field study\.colour: unknown key \(allowed: "
                          r"dimson_lags, estimation_window, .*\)")),
    Case("window-reversed", "an event window whose start is after its end",
         {"bad.toml": cfg("n_boot = 100", "n_boot = 100\nevent_windows = [[0, 0], [5, 1]]")},
         CONF, "bad.toml, field study.event_windows: window [5, 1] starts after it ends"),
    Case("window-not-integers", "a window of fractional days",
         {"bad.toml": cfg("n_boot = 100", "n_boot = 100\nevent_windows = [[-1.5, 1]]")},
         CONF, "bad.toml, field study.event_windows: [-1.5, 1] is not a window [start, end] of "
               "whole trading days"),
    Case("window-strings", "a window written as strings",
         {"bad.toml": cfg("n_boot = 100", 'n_boot = 100\nestimation_window = ["-250", "-11"]')},
         CONF, "bad.toml, field study.estimation_window: ['-250', '-11'] is not a window "
               "[start, end] of whole trading days"),
    Case("window-overlap", "an event window reaching into the estimation window",
         {"bad.toml": cfg("n_boot = 100", "n_boot = 100\nestimation_window = [-250, -1]\n"
                                          "event_windows = [[-2, 2]]")},
         CONF, "bad.toml, field study.estimation_window: estimation window [-250, -1] overlaps "
               "the event window starting at day -2: it must end before it"),
    Case("estimation-too-short", "min_estimation longer than the estimation window",
         {"bad.toml": cfg("n_boot = 100", "n_boot = 100\nestimation_window = [-100, -11]\n"
                                          "min_estimation = 120")},
         CONF, "bad.toml, field study.min_estimation: min_estimation 120 is more than the 90 "
               "days of the estimation window"),
    Case("unknown-model", "a misspelt model",
         {"bad.toml": cfg('"market_model"]', '"market_modle"]')},
         CONF, "bad.toml, field study.models: unknown model 'market_modle' (did you mean "
               "'market_model'?)"),
    Case("bad-returns", "returns = 'logarithmic'",
         {"bad.toml": cfg("n_boot = 100", 'n_boot = 100\nreturns = "logarithmic"')},
         CONF, "bad.toml, field study.returns: must be 'log' or 'simple', not 'logarithmic'"),
    Case("toml-syntax", "a value missing after '='",
         {"bad.toml": cfg("n_boot = 100", "n_boot =")},
         CONF, "bad.toml: not valid TOML: Invalid value (at line 4, column 9)"),
    Case("not-a-string", "a ticker written as a number",
         {"bad.toml": cfg('ticker = "^N225"', "ticker = 225")},
         CONF, "bad.toml, field series.N225.ticker: 225 must be a string (in quotes)"),
    Case("bad-close-time", "close_time 25:00",
         {"bad.toml": cfg('calendar = "XTKS"', 'calendar = "XTKS"\nclose_time = "25:00"\n'
                                               'close_tz = "Asia/Tokyo"')},
         CONF, "bad.toml, field series.N225.close_time: '25:00' is not a time 'HH:MM' "
               "(00:00 to 24:00)"),
    Case("group-unknown-event", "a group naming an event not in the events file",
         {"bad.toml": cfg('categories = ["escalation"]', 'events = ["liberation-dya"]')},
         CONF, "bad.toml, field groups.escalations.events: unknown event 'liberation-dya' "
               "(not in the events file)"),
    Case("config-not-found", "the config file does not exist", {},
         run_args(config="nosuch.toml"), "nosuch.toml: file not found"),
    Case("config-not-utf8", "a config saved as Latin-1",
         {"bad.toml": cfg('name = "Nikkei 225"', 'name = "Nikkei 225 \xe0 Tokyo"')
          .encode("latin-1")},
         CONF, "bad.toml: not UTF-8 text: byte 0xe0 (save it as UTF-8)"),
    Case("unknown-ticker", "a ticker neither the cache nor the bundled sample has (offline)",
         {"bad.toml": cfg('ticker = "^N225"', 'ticker = "^N226"')},
         CONF, "no prices for N225 (^N226): not in the cache, offline, and not in the bundled "
               "sample", code=3),
]

CSV = run_args(config="csv.toml")
PRICE_CASES = [  # (id, input, how to spoil the synthetic prices.csv, expected); row 12 = 11th bar
    ("price-nan", "a NaN price", {"close": (12, "NaN")},
     "prices.csv, row 12, field close: price 'NaN' is not a positive number"),
    ("price-empty", "a missing price", {"close": (12, "")},
     "prices.csv, row 12, field close: price '' is not a positive number"),
    ("price-zero", "a zero price", {"close": (12, "0")},
     "prices.csv, row 12, field close: price '0' is not a positive number"),
    ("price-negative", "a negative price", {"close": (12, "-5.2")},
     "prices.csv, row 12, field close: price '-5.2' is not a positive number"),
    ("price-text", "a price 'n/a'", {"close": (12, "n/a")},
     "prices.csv, row 12, field close: price 'n/a' is not a positive number"),
    ("price-bad-date", "a date that does not parse", {"date": (9, "2024-13-45")},
     "prices.csv, row 9, field date: cannot parse date '2024-13-45' (expected YYYY-MM-DD)"),
    ("price-duplicate-row", "a row repeated (same date and price)", {"duplicate": 12},
     "prices.csv, row 13, field date: date 2024-01-17 appears twice (first on row 12)"),
    ("price-constant", "every price the same (constant returns)", {"constant": 100.0},
     "prices.csv, field close: all 374 prices are 100.0000: constant returns, nothing to study "
     "(a stale feed or the wrong column?)"),
    ("price-missing-column", "no close column", {"header": "date,adj_close"},
     "prices.csv, row 1, field close: missing column 'close' (found: date, adj_close)"),
    ("price-field-count", "a row with a third field", {"close": (12, "101.5,7")},
     "prices.csv, row 12: 3 fields where the header has 2"),
    ("price-not-found", "the price file does not exist", {"remove": True},
     "prices.csv: price file not found"),
]


def write_prices(ws: Workspace, sessions: pd.DatetimeIndex, spoil: dict | None = None,
                 seed: int = 0) -> None:
    """A random walk on the given sessions, spoiled as `spoil` says, as ws/prices.csv."""
    rng = np.random.default_rng(seed)
    closes = [f"{x:.4f}" for x in 100 * np.exp(np.cumsum(rng.normal(0, 0.01, len(sessions))))]
    dates = [f"{d:%Y-%m-%d}" for d in sessions]
    spoil = spoil or {}
    if "constant" in spoil:
        closes = [f"{spoil['constant']:.4f}"] * len(closes)
    for col, values in (("close", closes), ("date", dates)):
        if col in spoil:
            row, value = spoil[col]
            values[row - 2] = value
    lines = [spoil.get("header", "date,close")] + [f"{d},{c}" for d, c in zip(dates, closes)]
    if "duplicate" in spoil:
        lines.insert(spoil["duplicate"], lines[spoil["duplicate"] - 1])
    if not spoil.get("remove"):
        ws.write("prices.csv", "\n".join(lines) + "\n")
    ws.write("csv.toml", CSV_CONFIG)


@pytest.fixture(scope="module")
def nyse_sessions() -> pd.DatetimeIndex:
    from eventstudy.calendars import session_closes
    from eventstudy.config import SeriesConfig
    closes = session_closes(SeriesConfig(id="X", name="X", source="csv", calendar="XNYS"))
    return closes.loc["2024-01-01":"2025-06-30"].index


@pytest.mark.parametrize("case", EVENT_CASES + CONFIG_CASES, ids=lambda c: c.id)
def test_bad_input(ws, case):
    for name, content in case.files.items():
        ws.write(name, content)
    check_bad(ws, case.args, case.expected, case.code)


@pytest.mark.parametrize("case_id, what, spoil, expected", PRICE_CASES,
                         ids=[c[0] for c in PRICE_CASES])
def test_bad_price_file(ws, nyse_sessions, case_id, what, spoil, expected):
    write_prices(ws, nyse_sessions, spoil)
    check_bad(ws, CSV, expected)


def test_synthetic_price_file_is_good(ws, nyse_sessions):
    """The unspoilt synthetic file runs: each failure above is the one spoilt cell."""
    write_prices(ws, nyse_sessions)
    res = CliRunner().invoke(main, ["run", "--offline", "--events", "events.csv", "--config",
                                    "csv.toml", "--out", "csv-out", "--cache", "cache"])
    assert res.exit_code == 0, (res.stderr, res.exception)
    car = pd.read_csv(ws.root / "csv-out" / "results" / "car.csv")
    assert car["car"].notna().all() and len(car) == 9   # 3 events x 3 windows


# -- events add and test ---------------------------------------------------------------------

ADD = ["events", "add", "--events", "events.csv", "--title", "Second talks", "--category",
       "negotiation", "--source", "https://x.example"]


def test_events_add_naive_time_leaves_the_file(ws):
    check_bad(ws, ADD + ["--id", "talks-2", "--at", "2025-05-01 19:00"],
              "events.csv, row 5, field announced_at: naive timestamp '2025-05-01 19:00' (add a "
              "UTC offset such as -04:00 or a zone name such as America/New_York)")


def test_events_add_duplicate_id_leaves_the_file(ws):
    check_bad(ws, ADD + ["--id", "tariff-pause", "--at", "2025-05-01T19:00:00-04:00"],
              "events.csv, row 5, field event_id: duplicate event_id 'tariff-pause' "
              "(first on row 3)")


def test_events_add_to_a_file_that_is_not_utf8(ws):
    ws.write("latin.csv", ev_row("Second talks", "Second talks \xe0 Washington")
             .encode("latin-1"))
    check_bad(ws, ["events", "add", "--events", "latin.csv", "--id", "x", "--at",
                   "2025-05-02T10:00:00-04:00", "--title", "T", "--category", "c",
                   "--source", "s"],
              "latin.csv, row 5: not UTF-8 text: byte 0xe0 (save it as CSV UTF-8)")


def test_events_validate_names_the_row(ws):
    ws.write("bad.csv", EVENTS + ROWS[1])
    check_bad(ws, ["events", "validate", "--events", "bad.csv"],
              "bad.csv, row 5, field event_id: duplicate event_id 'tariff-pause' (first on row 3)")


TEST = ["test", "--series", "N225", "--offline", "--events", "events.csv", "--config",
        "study.toml", "--cache", "cache"]


def test_hypothesis_malformed(ws):
    check_bad(ws, TEST + ["CAR(liberation-day, 0, 1) ="],
              "hypothesis 'CAR(liberation-day, 0, 1) =', column 28: expected a number or "
              "CAR(...) (found the end)")


def test_hypothesis_unknown_event_suggests(ws):
    check_bad(ws, TEST + ["CAR(liberation-dya, 0, 1) = 0"],
              "hypothesis 'CAR(liberation-dya, 0, 1) = 0', column 5: unknown event "
              "'liberation-dya' (did you mean 'liberation-day'?)")


def test_hypothesis_unknown_series(ws):
    args = TEST + ["CAR(liberation-day, 0, 1) = 0"]
    args[args.index("N225")] = "N226"
    check_bad(ws, args, "field --series: unknown series 'N226' (known: N225, GSPC)")


def test_hypothesis_series_without_benchmark(ws):
    args = TEST + ["CAR(liberation-day, 0, 1) = 0"]
    args[args.index("N225")] = "GSPC"
    check_bad(ws, args, "the market model needs rm, which series 'GSPC' does not have "
                        "(no benchmark or factor configured)")


def test_usage_error_is_one_line(ws):
    (ws.root / "folder.csv").mkdir()
    check_bad(ws, run_args("folder.csv"),
              re.compile(r"error: Invalid value for '--events': File 'folder\.csv' is a "
                         r"directory\..*"))


# -- events before the data: an error (a typo'd year), needs study.py to call the check -------

@pytest.mark.parametrize("when", ["1990-04-09T13:18:00-04:00", "2010-04-09T13:18:00-04:00"])
def test_event_before_the_data_is_an_error(ws, when):
    ws.write("bad.csv", ev_row("2025-05-01T19:00:00-04:00", when))
    ws.write("small.toml", SMALL % '"N225"')   # quick if it runs (as it does until fixed)
    check_bad(ws, run_args("bad.csv", "small.toml"), f"bad.csv, row 5, field announced_at: '{when}' is before the data: the "
                       "estimation window of event 'new-event' ends before the first price of "
                       "every series studied on it (N225 starts 2015-01-05); is the year right?")


def test_data_start_check_names_file_row_and_field():
    """study.check_data_start on the real sample."""
    from eventstudy.calendars import align, session_closes
    from eventstudy.config import load_config
    from eventstudy.data.prices import load_sample
    from eventstudy.errors import InputError
    from eventstudy.events import read_events_text
    from eventstudy.returns import session_returns
    from eventstudy.study import check_data_start
    config = load_config(None)
    cfg_ = config.series["N225"]
    closes = session_closes(cfg_)
    frames = {"N225": session_returns(load_sample("^N225"), closes)}
    for when, bad in [("2010-04-09T13:18:00-04:00", True), ("1990-04-09T13:18:00-04:00", True),
                      ("2015-03-02T13:18:00-04:00", False)]:   # 2015: cut short, not refused
        events = read_events_text(ev_row("2025-05-01T19:00:00-04:00", when), "ev.csv")
        alignment = align(events, cfg_, closes)
        if not bad:
            check_data_start(events, alignment, frames, config.estimation_window)
            continue
        with pytest.raises(InputError) as err:
            check_data_start(events, alignment, frames, config.estimation_window)
        assert str(err.value) == (
            f"ev.csv, row 5, field announced_at: '{when}' is before the data: the estimation "
            "window of event 'new-event' ends before the first price of every series studied "
            "on it (N225 starts 2015-01-05); is the year right?")


# -- not errors: after the data, weekends and holidays, a constant stretch ----------------------

def _run_ok(ws, events: str, config: str, out: str = "ok-out"):
    ws.write("ok.csv", events)
    ws.write("ok.toml", config)
    res = CliRunner().invoke(main, ["run", "--offline", "--events", "ok.csv", "--config",
                                    "ok.toml", "--out", out, "--cache", "cache"])
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exception
    assert "Traceback" not in res.output and "Traceback" not in res.stderr
    assert res.exit_code == 0, res.stderr
    return res, ws.root / out / "results"


def test_event_after_the_data_waits_for_data(ws):
    from eventstudy.data.prices import load_sample
    last = load_sample("^N225")["date"].iloc[-1]
    when = f"{last + pd.Timedelta(days=30):%Y-%m-%d}T12:00:00+00:00"
    events = EVENTS + f"after-the-data,{when},hour,Not yet priced,negotiation,,https://x\n"
    res, results = _run_ok(ws, events, SMALL % '"N225"')
    # one line per (event, series), whatever the number of models
    assert re.findall(r"^waiting for data: after-the-data / N225 \(day 0 "
                      rf"is \d{{4}}-\d\d-\d\d, the last bar is {last:%Y-%m-%d}\)$", res.stderr,
                      re.M) != [] and res.stderr.count("waiting for data") == 1, res.stderr
    skipped = pd.read_csv(results / "skipped.csv")
    assert skipped["event_id"].tolist() == ["after-the-data"]
    assert skipped["reason"].str.startswith("waiting for data").all()
    assert set(pd.read_csv(results / "car.csv")["event_id"]) == {
        "liberation-day", "tariff-pause", "us-japan-talks-1"}


def test_only_event_after_the_data_waits_for_data(ws):
    events = HEADER + "after-the-data,2026-09-01T12:00:00+00:00,hour,Later,negotiation,,x\n"
    res, results = _run_ok(ws, events, SMALL % '"N225"')
    assert "waiting for data" in res.stderr


def test_weekend_and_holiday_announcements_take_the_next_session(ws):
    events = HEADER + "".join([
        "saturday,2025-04-05T12:00:00-04:00,hour,On a Saturday,negotiation,,https://x\n",
        "showa-day,2025-04-29T10:00:00+09:00,hour,On Showa Day (Tokyo closed),negotiation,,x\n",
        "good-friday,2025-04-18T11:00:00-04:00,hour,On Good Friday (NYSE closed),negotiation,,x\n",
    ])
    res, results = _run_ok(ws, events, SMALL % '"N225", "GSPC"')
    assert res.stderr == ""
    alignment = pd.read_csv(results / "alignment.csv")
    day0 = dict(zip(zip(alignment["event_id"], alignment["series"]), alignment["day0"]))
    assert day0 == {("saturday", "N225"): "2025-04-07", ("saturday", "GSPC"): "2025-04-07",
                    ("showa-day", "N225"): "2025-04-30", ("showa-day", "GSPC"): "2025-04-29",
                    ("good-friday", "N225"): "2025-04-21", ("good-friday", "GSPC"): "2025-04-21"}
    assert pd.read_csv(results / "car.csv")["car"].notna().all()


def test_constant_stretch_skips_the_pair_with_the_reason(ws, nyse_sessions):
    """Prices flat for a whole estimation window: that pair is skipped, "constant returns"."""
    from eventstudy.calendars import session_closes
    from eventstudy.config import SeriesConfig
    closes = session_closes(SeriesConfig(id="X", name="X", source="csv", calendar="XNYS"))
    sessions = closes.loc["2023-01-01":"2025-06-30"].index
    rng = np.random.default_rng(1)
    prices = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, len(sessions))))
    prices[sessions <= "2024-03-28"] = 100.0
    ws.write("prices.csv", "date,close\n" + "".join(
        f"{d:%Y-%m-%d},{p:.4f}\n" for d, p in zip(sessions, prices)))
    events = EVENTS + "flat-era,2024-04-01T12:00:00-04:00,hour,In the flat stretch,negotiation,,x\n"
    res, results = _run_ok(ws, events, CSV_CONFIG)
    assert res.stderr.splitlines() == [
        "skipped flat-era / X / constant_mean: constant returns in the estimation window "
        "(residual variance 0)"]
    assert set(pd.read_csv(results / "car.csv")["event_id"]) == {
        "liberation-day", "tariff-pause", "us-japan-talks-1"}


# -- end to end through the installed script: no traceback, outputs untouched ----------------

E2E = [  # (args, exit code, the one stderr line); files written by `end_to_end`
    (run_args("bad.csv"), 2, "error: bad.csv, row 5, field announced_at: naive timestamp "
     "'2025-05-01 19:00' (add a UTC offset such as -04:00 or a zone name such as "
     "America/New_York)"),
    (run_args(config="bad.toml"), 3, "error: no prices for N225 (^N226): not in the cache, "
     "offline, and not in the bundled sample"),
    (ADD + ["--id", "tariff-pause", "--at", "2025-05-01T19:00:00-04:00"], 2,
     "error: events.csv, row 5, field event_id: duplicate event_id 'tariff-pause' (first on "
     "row 3)"),
]


@pytest.fixture(scope="module", autouse=True)
def end_to_end(template, tmp_path_factory):
    """Start the E2E runs of the installed script as soon as the template exists.

    Each process spends seconds importing pandas, scipy and statsmodels; started here they
    run beside the in-process cases, and `test_installed_script_end_to_end` collects them.
    """
    root = tmp_path_factory.mktemp("e2e") / "ws"
    shutil.copytree(template, root)
    ws = Workspace(root)
    ws.write("bad.csv", ev_row("2025-05-01T19:00:00-04:00", "2025-05-01 19:00"))
    ws.write("bad.toml", cfg('ticker = "^N225"', 'ticker = "^N226"'))
    ws.before = ws.snapshot()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    procs = [subprocess.Popen([str(SCRIPT), *args], cwd=root, env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for args, _, _ in E2E] if SCRIPT.is_file() else []
    yield ws, procs
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def test_installed_script_end_to_end(end_to_end):
    """Three bad inputs through the `eventstudy` script: one line, exit code, files untouched."""
    ws, procs = end_to_end
    assert SCRIPT.is_file(), SCRIPT
    for proc, (args, code, line) in zip(procs, E2E):
        out, err = proc.communicate(timeout=120)
        assert "Traceback" not in out + err, err
        assert proc.returncode == code, (args, proc.returncode, err)
        assert err.splitlines() == [line], err
        # stdout holds at most the progress lines printed before the problem was found
        assert all(x.startswith(("read ", "studying ")) for x in out.splitlines()), out
    assert_unchanged(ws.before, ws.snapshot())
