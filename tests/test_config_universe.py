"""The config of a whole market: [universe.X], [events.X] (firm events), selector groups, and the
config parts of issue #12 (ids that a spreadsheet reads as formulas, bounds that stop runaway
runs). Bad configs go through the real CLI: exit 2, one `error:` line naming file and field."""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from eventstudy.cli import main
from eventstudy.config import (FirmEventsConfig, GroupConfig, UniverseConfig, apply_query,
                               check_query, load_config, parse_config)
from eventstudy.errors import InputError

EVENTS = ("event_id,announced_at,time_precision,title,category,tags,source\n"
          "liberation-day,2025-04-02T16:00:00-04:00,hour,Liberation Day,escalation,japan,"
          "https://example.com/a\n")

BASE = """\
[study]
universes = ["jp"]
models = ["constant_mean", "market_model"]
n_boot = 100

[series.TOPIX]
source = "csv"
path = "topix.csv"
calendar = "XTKS"

[universe.jp]
prices = "prices/"
securities = "securities.csv"
calendar = "XTKS"
benchmark = "TOPIX"
where = "group != 'us'"

[events.earnings]
path = "earnings.csv"
kind = "firm"

[groups.banks_by_event]
universe = "jp"
where = "sector == 'Banks'"
by = ["event_id"]

[groups.beats]
firm_events = "earnings"
where = "surprise > 0"
"""


def write(tmp_path: Path, config: str) -> Path:
    (tmp_path / "securities.csv").write_text(
        "\ufeffsymbol,name,group,sector\n7203.T,Toyota,large,Autos\n8306.T,MUFG,large,Banks\n",
        "utf-8")
    path = tmp_path / "study.toml"
    path.write_text(config, "utf-8")
    return path


def test_universe_firm_events_and_groups_parse(tmp_path):
    config = load_config(write(tmp_path, BASE))
    u = config.universes["jp"]
    assert u == UniverseConfig(id="jp", source="csv", prices=str(tmp_path / "prices"),
                               layout=None, securities=str(tmp_path / "securities.csv"),
                               calendar="XTKS", benchmark="TOPIX", where="group != 'us'")
    assert config.studied_universes == ("jp",)
    assert config.studied == ()                        # the series is only a benchmark
    assert config.needed_universes == ["jp"]
    assert config.needed_series == ["TOPIX"]           # universes' benchmarks are needed
    assert config.firm_events == {"earnings": FirmEventsConfig(
        "earnings", str(tmp_path / "earnings.csv"))}
    assert config.groups["banks_by_event"] == GroupConfig(
        id="banks_by_event", universe="jp", where="sector == 'Banks'", by=("event_id",))
    assert config.groups["beats"].firm_events == "earnings"
    assert config.groups["beats"].series == ()


def test_defaults_what_is_studied(tmp_path):
    # universes declared, nothing said: the universes are studied, not the first series
    config = load_config(write(tmp_path, BASE.replace('universes = ["jp"]\n', "")))
    assert config.studied_universes == ("jp",) and config.studied == ()
    # study.series given alone: only those series
    config = load_config(write(tmp_path, BASE.replace('universes = ["jp"]', 'series = ["TOPIX"]')))
    assert config.studied_universes == () and config.studied == ("TOPIX",)
    # no universes at all: as before, the first series
    config = parse_config('[series.A]\nsource = "csv"\npath = "a.csv"\ncalendar = "XNYS"\n', "x")
    assert config.studied == ("A",) and config.universes == {} and config.firm_events == {}


def test_yahoo_universe_and_layouts(tmp_path):
    text = BASE.replace('prices = "prices/"\n',
                        'source = "yahoo"\ntickers = ["7203.T", "8306.T"]\n')
    u = load_config(write(tmp_path, text)).universes["jp"]
    assert (u.source, u.tickers, u.prices) == ("yahoo", ("7203.T", "8306.T"), None)
    for layout in ("folder", "wide", "long"):
        text = BASE.replace('prices = "prices/"', f'prices = "p"\nlayout = "{layout}"')
        assert load_config(write(tmp_path, text)).universes["jp"].layout == layout


def test_where_on_empty_metadata_and_apply_query():
    import pandas as pd
    frame = pd.DataFrame({"security": ["A", "B", "C"], "sector": ["Banks", "Autos", "Banks"],
                          "size": [1.0, 5.0, 9.0]})
    got = apply_query(frame, "sector == 'Banks' and size > 2", file="f", field="w")
    assert list(got["security"]) == ["C"]
    got = apply_query(frame, "sector.str.contains('Au') or size >= 9", file="f", field="w")
    assert list(got["security"]) == ["B", "C"]
    with pytest.raises(InputError, match=r"^f, field w: query 'sectr == 1' fails"):
        apply_query(frame, "sectr == 1", file="f", field="w")
    got = apply_query(frame.assign(mail=["a@b", "c", "d"]), "mail == 'a@b'", file="f",
                      field="w")                       # '@' inside quotes is text
    assert list(got["security"]) == ["A"]
    with pytest.raises(InputError, match="does not give true or false"):
        apply_query(frame, "size", file="f", field="w")


@pytest.mark.parametrize("query", [
    "size.to_csv('/tmp/x')",                 # pandas would write a file
    "size.__class__.__init__",               # a road to Python internals
    "__import__('os').system('true')",
    "@pd",                                   # a Python variable of the caller
    "size[0] > 1",
])
def test_query_refuses_anything_but_a_filter(query):
    with pytest.raises(InputError, match="not allowed"):
        check_query(query, "f", "w")


# -- bad configs through the CLI ----------------------------------------------------------------

def run_bad(tmp_path: Path, config: str) -> str:
    write(tmp_path, config)
    (tmp_path / "events.csv").write_text(EVENTS, "utf-8")
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        res = CliRunner().invoke(main, ["run", "--offline", "--events", "events.csv", "--config",
                                        "study.toml", "--out", "out", "--cache", "cache"])
    finally:
        os.chdir(cwd)
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exception
    assert "Traceback" not in res.output and "Traceback" not in res.stderr
    assert res.exit_code == 2, (res.exit_code, res.stderr, res.stdout)
    lines = res.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: study.toml, "), res.stderr
    assert not (tmp_path / "out").exists()
    return lines[0][len("error: study.toml, "):]


BAD = [
    # (what, old, new, expected message after "study.toml, ")
    ("typo in a universe key", 'securities = "', 'securites = "',
     "field universe.jp.securites: unknown key (did you mean 'securities'?)"),
    ("a series key in a universe", 'where = "group', 'ticker = "x"\nwhere = "group',
     "field universe.jp.ticker: misplaced key: it belongs in [series.<id>]"),
    ("unknown benchmark", 'benchmark = "TOPIX"', 'benchmark = "TOPX"',
     "field universe.jp.benchmark: unknown series 'TOPX' (did you mean 'TOPIX'?) "
     "(a benchmark is a [series.X] id)"),
    ("empty benchmark", 'benchmark = "TOPIX"', 'benchmark = ""',
     "field universe.jp.benchmark: empty: name a [series.X] id, or remove the key"),
    ("unknown calendar", 'calendar = "XTKS"\nbenchmark', 'calendar = "XTSK"\nbenchmark',
     "field universe.jp.calendar: unknown calendar 'XTSK' (did you mean 'XTKS'?)"),
    ("missing prices", 'prices = "prices/"\n', "",
     "field universe.jp.prices: missing (a folder of <symbol>.csv files, or one wide or long "
     "CSV/Parquet file of closes)"),
    ("bad layout", 'prices = "prices/"', 'prices = "p"\nlayout = "tall"',
     "field universe.jp.layout: unknown layout 'tall' (allowed: folder, wide, long)"),
    ("where on a column the securities file lacks", "group != 'us'", "grup != 'us'",
     "field universe.jp.where: query \"grup != 'us'\" fails: name 'grup' is not defined "
     "(columns: security, name, group, sector)"),
    ("where that is not a query", "group != 'us'", "group !=",
     "field universe.jp.where: 'group !=' is not a valid query (invalid syntax)"),
    ("unknown studied universe", 'universes = ["jp"]', 'universes = ["JP"]',
     "field study.universes: unknown universe 'JP' (did you mean 'jp'?)"),
    ("nothing to study", 'universes = ["jp"]', "universes = []\nseries = []",
     "field study.series: no series and no universe to study: list some in study.series or "
     "study.universes"),
    ("group of an unknown universe", 'universe = "jp"\nwhere', 'universe = "jpn"\nwhere',
     "field groups.banks_by_event.universe: unknown universe 'jpn' (did you mean 'jp'?)"),
    ("group of unknown firm events", 'firm_events = "earnings"', 'firm_events = "earning"',
     "field groups.beats.firm_events: unknown firm events 'earning' (did you mean 'earnings'?) "
     "(declare them in [events.NAME] with a path)"),
    ("group with no members", 'firm_events = "earnings"\n', "",
     "field groups.beats.series: a group needs series, a universe or firm_events"),
    ("group by twice the same column", 'by = ["event_id"]', 'by = ["event_id", "event_id"]',
     "field groups.banks_by_event.by: ['event_id', 'event_id'] must be distinct, non-empty "
     "column names"),
    ("firm events without a path", 'path = "earnings.csv"\n', "",
     "field events.earnings.path: missing (the CSV file of event_id,security,announced_at rows)"),
    ("firm events of another kind", 'kind = "firm"', 'kind = "global"',
     "field events.earnings.kind: unknown kind 'global': only \"firm\" (global events come from "
     "events.csv)"),
    ("formula series id", "[series.TOPIX]", '[series."=TOPIX"]',
     "field series.=TOPIX: id '=TOPIX' starts with '=': a spreadsheet would read it as a formula "
     "(start with a letter or digit)"),
    ("formula universe id", "[universe.jp]", '[universe."+jp"]',
     "field universe.+jp: id '+jp' starts with '+': a spreadsheet would read it as a formula "
     "(start with a letter or digit)"),
    ("formula group id", "[groups.beats]", '[groups."@beats"]',
     "field groups.@beats: id '@beats' starts with '@': a spreadsheet would read it as a "
     "formula (start with a letter or digit)"),
    ("minus group id", "[groups.beats]", '[groups."-beats"]',
     "field groups.-beats: id '-beats' starts with '-': a spreadsheet would read it as a "
     "formula (start with a letter or digit)"),
    ("control character in an id", "[groups.beats]", '[groups."be\\u001bats"]',
     # the CLI strips terminal escapes from what it prints (issue #12 item 11); the id's repr
     # in the message still shows it
     "field groups.bets: id 'be\\x1bats' contains a control character"),
    ("formula ticker", 'prices = "prices/"', 'source = "yahoo"\ntickers = ["7203.T", "=cmd"]',
     "field universe.jp.tickers: id '=cmd' starts with '=': a spreadsheet would read it as a "
     "formula (start with a letter or digit)"),
    ("yahoo universe with a prices file", 'prices = "prices/"',
     'prices = "prices/"\nsource = "yahoo"\ntickers = ["7203.T"]',
     "field universe.jp.prices: a Yahoo universe takes tickers, not a prices file"),
    ("tickers for a csv universe", 'prices = "prices/"', 'prices = "prices/"\ntickers = ["A"]',
     "field universe.jp.tickers: only for source = \"yahoo\" (this universe reads prices)"),
    ("n_boot huge", "n_boot = 100", "n_boot = 1000000000",
     "field study.n_boot: 1000000000 is too large: at most 1,000,000"),
    ("n_boot as a float", "n_boot = 100", "n_boot = 1e9",
     "field study.n_boot: 1000000000.0 must be a whole number >= 100"),
    ("dimson_lags huge", "n_boot = 100", "n_boot = 100\ndimson_lags = 1000000",
     "field study.dimson_lags: 1000000 is too large: at most 10"),
    ("estimation window of a century", "n_boot = 100",
     "n_boot = 100\nestimation_window = [-25000, -11]",
     "field study.estimation_window: window [-25000, -11] reaches more than 10,000 trading days "
     "from day 0"),
    ("estimation window too long", "n_boot = 100",
     "n_boot = 100\nestimation_window = [-9000, -11]",
     "field study.estimation_window: window [-9000, -11] is 8,990 trading days long: at most "
     "5,000"),
    ("event window of years", "n_boot = 100", "n_boot = 100\nevent_windows = [[0, 0], [0, 999]]",
     "field study.event_windows: window [0, 999] is 1,000 trading days long: at most 250"),
]


@pytest.mark.parametrize("what,old,new,expected", BAD, ids=[b[0] for b in BAD])
def test_bad_config_is_one_line(tmp_path, what, old, new, expected):
    assert old in BASE, old
    line = run_bad(tmp_path, BASE.replace(old, new, 1))
    assert line == expected


def test_series_benchmark_empty_and_series_ids(tmp_path):
    text = BASE + ('\n[series.N225]\nsource = "csv"\npath = "n.csv"\ncalendar = "XTKS"\n'
                   'benchmark = ""\n')
    assert run_bad(tmp_path, text) == ("field series.N225.benchmark: empty: name a [series.X] "
                                       "id, or remove the key")
    text = BASE.replace('universes = ["jp"]', 'series = []')
    assert run_bad(tmp_path, text) == ("field study.series: no series and no universe to study: "
                                       "list some in study.series or study.universes")


def test_long_id_refused():
    text = f'[series.{"A" * 101}]\nsource = "csv"\npath = "a.csv"\ncalendar = "XNYS"\n'
    with pytest.raises(InputError, match=re.escape("id of 101 characters: at most 100")):
        parse_config(text, "x.toml")
