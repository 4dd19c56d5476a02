"""The CLI online (issue #5, "fetch that never loses data"): `eventstudy fetch` and `eventstudy
run` in-process (CliRunner on `eventstudy.cli.main`) with the REAL yfinance code talking to the
local fake Yahoo (tests/fake_yahoo.py) over loopback.

`run_study` and `update_cache` import `fetch_yahoo` from `eventstudy.data.yahoo` when called,
so replacing that module attribute with `partial(fetch_yahoo, session=<fake>, sleep=<recorder>)`
routes the product's own fetch to the fake without touching product code. The study is small
(N225 with the S&P 500 as benchmark, the market model, three April 2025 events) and every
test asserts: the exit code, no traceback, and the exact `warning:` lines on stderr.
"""
from __future__ import annotations

import datetime as dt
import functools
import math
import re
import socket
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

import eventstudy.data.yahoo as yahoo
from eventstudy.cli import main
from eventstudy.data.cache import PriceCache
from tests.conftest import MARKET
from tests.fake_yahoo import RoutedSession

D = dt.date
REPO = Path(__file__).resolve().parents[1]
EVENT_IDS = ("liberation-day", "tariff-pause", "us-japan-talks-1")
TICKERS = ("^GSPC", "^N225")                       # the order the study needs them: benchmark first
SERIES = {"^GSPC": "GSPC", "^N225": "N225"}
LAST_BAR = D(2025, 6, 30)                          # the fake's last bar for both tickers

CONFIG = """\
[study]
series = ["N225"]
models = ["market_model"]
estimation_window = [-100, -11]
event_windows = [[0, 0], [0, 1]]
min_estimation = 60
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
"""


class Sleeps(list):
    """Records back-off sleeps instead of sleeping."""

    def __call__(self, seconds):
        self.append(seconds)


class CountingSession(RoutedSession):
    """A RoutedSession that records every URL it is asked for, even when the connection fails."""

    def __init__(self, base_url: str):
        super().__init__(base_url)
        self.urls: list[str] = []

    def request(self, method, url, *args, **kwargs):
        self.urls.append(str(url))
        return super().request(method, url, *args, **kwargs)


class Study:
    """Paths of one test's study (all in tmp_path) and the CLI run over them."""

    def __init__(self, root: Path, fake, monkeypatch):
        self.root, self.fake, self.monkeypatch = root, fake, monkeypatch
        self.events = root / "events.csv"
        self.config = root / "study.toml"
        self.cache = root / "cache"
        self.out = root / "out"
        self.sleeps = Sleeps()
        lines = (REPO / "events.csv").read_text("utf-8").splitlines(keepends=True)
        chosen = [line for line in lines[1:] if line.split(",", 1)[0] in EVENT_IDS]
        assert len(chosen) == len(EVENT_IDS)
        self.events.write_text(lines[0] + "".join(chosen), "utf-8")
        self.config.write_text(CONFIG, "utf-8")
        self.route(fake.session())

    def route(self, session) -> None:
        """Send the product's Yahoo fetch through `session` (the fake, or a dead port)."""
        self.monkeypatch.setattr(yahoo, "fetch_yahoo", functools.partial(
            ORIGINAL_FETCH, session=session, sleep=self.sleeps))

    def invoke(self, *args: str):
        common = ["--events", str(self.events), "--config", str(self.config),
                  "--cache", str(self.cache)]
        if args[0] == "run":
            common += ["--out", str(self.out)]
        res = CliRunner().invoke(main, [*args, *common])
        shown = f"exit {res.exit_code}\nstdout:\n{res.stdout}\nstderr:\n{res.stderr}"
        assert res.exc_info is None or res.exc_info[0] is SystemExit, (
            shown, res.exc_info)                        # an uncaught exception is a bug
        assert "Traceback" not in res.output, shown
        assert res.exit_code == 0, shown
        return res

    # -- reading what a run left ---------------------------------------------------------
    def parquet(self, ticker: str) -> Path:
        return PriceCache(self.cache).path(ticker)

    def cache_bytes(self) -> dict[str, bytes]:
        return {p.name: p.read_bytes() for p in sorted(self.cache.glob("*.parquet*"))}

    def results(self, name: str) -> pd.DataFrame:
        return pd.read_csv(self.out / "results" / f"{name}.csv")

    def origins(self) -> dict[str, str]:
        prov = self.results("provenance")
        return dict(zip(prov["series"], prov["origin"]))


ORIGINAL_FETCH = yahoo.fetch_yahoo


@pytest.fixture
def study(tmp_path, fake_yahoo, monkeypatch) -> Study:
    return Study(tmp_path, fake_yahoo, monkeypatch)


def warning_lines(res) -> list[str]:
    return [line for line in res.stderr.splitlines() if line.startswith("warning:")]


def csv_dates(ticker: str) -> pd.Series:
    return pd.to_datetime(pd.read_csv(MARKET / f"yahoo_{ticker.lstrip('^')}.csv")["Date"])


def today_utc() -> dt.date:
    return dt.datetime.now(dt.timezone.utc).date()


def test_the_patch_reaches_the_product(monkeypatch):
    """The study looks fetch_yahoo up in eventstudy.data.yahoo when it runs, not at import."""
    from eventstudy import study

    def sentinel(*args, **kwargs):
        raise AssertionError("not called here")
    monkeypatch.setattr(yahoo, "fetch_yahoo", sentinel)
    assert study._fetchers()["yahoo"] is sentinel
    assert not hasattr(study, "fetch_yahoo")


# -- eventstudy fetch ----------------------------------------------------------------------------

def test_fetch_fills_the_cache_then_asks_only_for_the_tail(study):
    res = study.invoke("fetch")
    assert study.sleeps == [] and warning_lines(res) == []
    lines = res.stdout.splitlines()
    assert len(lines) == 2, res.stdout
    for line, ticker in zip(lines, TICKERS):
        # the first request is the whole span the study needs, up to today
        (asked,) = study.fake.requested_ranges(ticker)
        assert asked[1] in (today_utc(), today_utc() + dt.timedelta(days=1))
        dates = csv_dates(ticker)
        served = dates[dates >= pd.Timestamp(asked[0])]
        cached = PriceCache(study.cache).read(ticker)
        assert cached["date"].tolist() == served.tolist()
        assert line.split() == [SERIES[ticker], ticker, f"{served.iloc[0]:%Y-%m-%d}", "..",
                                f"{LAST_BAR}", str(len(served)), "rows"]
        assert study.parquet(ticker).is_file()
        assert served.iloc[0] < pd.Timestamp("2024-12-31")   # 100 sessions before April 3

    # The second fetch asks each ticker for the tail only: from its last cached bar (which is
    # re-checked) to today; nothing before it.
    study.fake.clear_requests()
    again = study.invoke("fetch")
    assert again.stdout == res.stdout
    for ticker in TICKERS:
        (asked,) = study.fake.requested_ranges(ticker)
        assert asked[0] == LAST_BAR
        assert asked[1] in (today_utc(), today_utc() + dt.timedelta(days=1))
    assert sorted(study.cache_bytes()) == sorted(study.parquet(t).name for t in TICKERS)


# -- eventstudy run, online ------------------------------------------------------------------------

def test_run_online_fetches_both_series_and_computes_real_returns(study):
    res = study.invoke("run")
    assert warning_lines(res) == [] and study.sleeps == []
    assert study.origins() == {"GSPC": "yahoo", "N225": "yahoo"}
    ar = study.results("ar")
    day = ar[(ar["series"] == "N225") & (ar["date"] == "2025-04-17")
             & (ar["model"] == "market_model")]
    assert set(day["event_id"]) == set(EVENT_IDS)    # inside all three plot windows
    want = math.log(34377.601562 / 33920.398438)
    assert (day["return"] - want).abs().max() < 1e-9
    talks = day[day["event_id"] == "us-japan-talks-1"]
    assert talks["rel_day"].tolist() == [0]         # the talks' day 0 in Tokyo is April 17
    for ticker in TICKERS:
        assert len(study.fake.requested_ranges(ticker)) == 1
        assert study.parquet(ticker).is_file()


def test_rate_limit_twice_then_ok_backs_off_and_succeeds(study):
    # yfinance repeats a failed chart request once itself, so four 429s are two failed tries
    # of ours (tests/data/test_yahoo.py); the third try gets the prices.
    study.fake.fail("^N225", "429", times=4)
    res = study.invoke("run")
    assert study.sleeps == [1.0, 2.0]
    assert warning_lines(res) == []
    assert study.origins() == {"GSPC": "yahoo", "N225": "yahoo"}
    assert len(study.fake.requested_ranges("^N225")) == 1   # prices asked for once, when it worked


def test_yahoo_down_runs_from_cache_with_one_warning_per_series(study):
    study.invoke("fetch")
    before = study.cache_bytes()
    assert sorted(before) == sorted(study.parquet(t).name for t in TICKERS)
    for ticker in TICKERS:
        study.fake.fail(ticker, "500")
    res = study.invoke("run")
    # HTTP 500 is a DataError per ticker (not "unreachable"): each series is tried, 3 tries
    # with back-off, and each gets its own one warning line.
    assert study.sleeps == [1.0, 2.0, 1.0, 2.0]
    lines = warning_lines(res)
    assert len(lines) == 2, res.stderr
    for line, ticker in zip(lines, TICKERS):
        assert line.startswith(f"warning: Yahoo server error (HTTP 500) for {ticker} between ")
        assert line.endswith(f", after 3 tries; using cached or bundled data for {SERIES[ticker]}")
    assert study.origins() == {"GSPC": "cache", "N225": "cache"}
    assert study.cache_bytes() == before              # failed downloads never replace good data


def test_unreachable_yahoo_works_offline_after_one_warning(study):
    study.invoke("fetch")
    before = study.cache_bytes()
    with socket.socket() as s:                        # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dead = CountingSession(f"http://127.0.0.1:{port}")
    study.route(dead)
    study.fake.clear_requests()
    res = study.invoke("run")
    lines = warning_lines(res)
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("warning: could not reach Yahoo (ConnectionError")
    assert " for ^GSPC between " in lines[0]
    assert lines[0].endswith(", after 3 tries; working offline: cached or bundled data for "
                             "every series")
    assert study.sleeps == [1.0, 2.0]                 # the first ticker's tries, nobody else's
    charts = [u for u in dead.urls if "/v8/finance/chart/" in u]
    assert charts and all("/chart/%5EGSPC" in u or "/chart/^GSPC" in u for u in charts), charts
    assert not any("N225" in u for u in dead.urls)  # no further ticker tried
    assert study.fake.requests == []
    assert study.origins() == {"GSPC": "cache", "N225": "cache"}
    assert study.cache_bytes() == before


def test_corrupt_cache_file_is_set_aside_and_refetched(study):
    study.invoke("fetch")
    study.parquet("^N225").write_bytes(b"\x00garbage, not parquet\xff" * 40)
    study.fake.clear_requests()
    res = study.invoke("run")
    (line,) = warning_lines(res)            # one line, like every warning of the CLI
    assert re.search(r"/_N225\.parquet: unreadable \(ArrowInvalid", line), line
    aside = sorted(p.name for p in study.cache.glob(study.parquet("^N225").name + ".corrupt-*"))
    assert len(aside) == 1
    assert (study.cache / aside[0]).read_bytes().startswith(b"\x00garbage")
    # refetched whole (the corrupt file tells nothing), the other ticker only its tail
    (asked,) = study.fake.requested_ranges("^N225")
    assert asked[0] < D(2025, 1, 1)
    assert [r[0] for r in study.fake.requested_ranges("^GSPC")] == [LAST_BAR]
    assert PriceCache(study.cache).read("^N225")["date"].iloc[-1] == pd.Timestamp(LAST_BAR)
    assert study.origins() == {"GSPC": "yahoo", "N225": "yahoo"}


WRONG_ZONE = ("Yahoo's time zone for ^N225 (America/New_York) contradicts its UTC offset (+9h); "
              "the session dates would be shifted")


@pytest.mark.parametrize("mode, cached", [
    pytest.param("malformed", False, id="malformed-json-empty-cache"),
    pytest.param("malformed", True, id="malformed-json-cached"),
    pytest.param("wrong_tz", False, id="wrong-zone-empty-cache"),
    pytest.param("wrong_tz", True, id="wrong-zone-cached"),
])
def test_bad_payload_for_one_ticker_falls_back_with_one_warning(study, mode, cached):
    if cached:
        study.invoke("fetch")
    before = study.cache_bytes()
    study.fake.fail("^N225", mode, tz="America/New_York")   # tz= only used by wrong_tz
    res = study.invoke("run")
    assert study.sleeps == []                         # permanent: not retried
    lines = warning_lines(res)
    assert len(lines) == 1, res.stderr
    tail = "; using cached or bundled data for N225"
    if mode == "wrong_tz":
        assert lines[0] == f"warning: {WRONG_ZONE}{tail}"
    else:
        # the span asked for: the whole study span into an empty cache, else the tail only
        got = re.fullmatch(r"warning: Yahoo sent malformed data for \^N225 between "
                           rf"(\d{{4}}-\d\d-\d\d) and {today_utc()} \(JSONDecodeError: "
                           rf"[^\n]*\){re.escape(tail)}", lines[0])
        assert got, lines[0]
        assert (got[1] == f"{LAST_BAR}") if cached else (got[1] < "2025-01-01"), lines[0]
    if cached:
        assert study.origins() == {"GSPC": "yahoo", "N225": "cache"}
        # nothing replaced: N225's file is the good one (GSPC's tail was re-fetched: rewritten)
        name = study.parquet("^N225").name
        assert study.cache_bytes()[name] == before[name]
    else:
        assert study.origins() == {"GSPC": "yahoo", "N225": "sample"}
        assert not study.parquet("^N225").exists()  # nothing cached from a bad payload
    assert not list(study.cache.glob("*.corrupt-*"))


def test_offline_run_never_touches_the_server(study):
    study.invoke("fetch")
    study.fake.clear_requests()
    res = study.invoke("run", "--offline")
    assert study.fake.requests == [] and study.sleeps == []
    assert warning_lines(res) == []
    assert study.origins() == {"GSPC": "cache", "N225": "cache"}


# -- issue #11: vendor data that silently shifts results -------------------------------------------

def pause_day0(study) -> pd.Series:
    """The tariff pause's day-0 row of N225 (April 10 in Tokyo) per model, from ar.csv."""
    ar = study.results("ar")
    rows = ar[(ar["series"] == "N225") & (ar["event_id"] == "tariff-pause") & (ar["rel_day"] == 0)]
    return rows.set_index("model").iloc[0]


def served(ticker: str, factor: float = 1.0) -> pd.DataFrame:
    raw = pd.read_csv(MARKET / f"yahoo_{ticker.lstrip('^')}.csv")
    col = "Adj Close" if "Adj Close" in raw else "Close"
    return pd.DataFrame({"date": pd.to_datetime(raw["Date"]).astype("datetime64[ns]"),
                         "close": raw[col].astype("float64") * factor})


def test_a_rebased_vendor_history_is_refetched_whole_with_one_warning(study):
    # Cached on April 10 (the pause's day 0 in Tokyo); then the vendor re-bases the whole
    # adjusted history 2:1. Before the fix the tail from April 10 replaced only that bar:
    # day 0's return became log(0.5 * P10 / P9), about -69 % + 8.7 %.
    study.fake.hide("^N225", after="2025-04-10")
    first = study.invoke("run")
    assert warning_lines(first) == []
    want = math.log(34609.0 / 31714.029297)      # the Nikkei's real day 0: +8.7 %
    assert abs(pause_day0(study)["return"] - want) < 1e-6

    study.fake.unhide()
    study.fake.rebase("^N225", 0.5)
    study.fake.clear_requests()
    res = study.invoke("run")
    (line,) = warning_lines(res)
    assert re.fullmatch(r"warning: price cache \S+/_N225\.parquet: the vendor's close of \^N225 on "
                        r"2025-04-10 is now 17304\.5, cached 34609 \(x0\.5\): its history was "
                        r"re-based since it was cached \(a split, a dividend or a correction\); "
                        r"fetched the whole history \d{4}-\d\d-\d\d\.\.\d{4}-\d\d-\d\d again",
                        line), line
    tail, whole = study.fake.requested_ranges("^N225")
    assert tail[0] == D(2025, 4, 10) and whole[0] < D(2025, 1, 1)
    cached = PriceCache(study.cache).read("^N225")
    expect = served("^N225", 0.5)
    pd.testing.assert_frame_equal(cached, expect[expect["date"] >= cached["date"].iloc[0]]
                                  .reset_index(drop=True))            # one basis throughout
    assert abs(pause_day0(study)["return"] - want) < 1e-6             # returns do not change
    assert study.origins() == {"GSPC": "yahoo", "N225": "yahoo"}

    study.fake.clear_requests()
    again = study.invoke("run")                                       # said once, not every run
    assert warning_lines(again) == []
    assert [r[0] for r in study.fake.requested_ranges("^N225")] == [LAST_BAR]


def test_a_cache_file_of_another_ticker_is_set_aside_and_refetched(study):
    # The reproduction: _GSPC.parquet copied over _N225.parquet; the Nikkei then showed the
    # S&P's returns with no warning.
    study.invoke("fetch")
    study.parquet("^N225").write_bytes(study.parquet("^GSPC").read_bytes())
    study.fake.clear_requests()
    res = study.invoke("run")
    (line,) = warning_lines(res)
    assert re.fullmatch(r"warning: price cache \S+/_N225\.parquet: holds the prices of \^GSPC, not "
                        r"of \^N225; moved aside to _N225\.parquet\.corrupt-\d{8}T\d+Z", line), line
    (asked,) = study.fake.requested_ranges("^N225")                   # refetched whole
    assert asked[0] < D(2025, 1, 1)
    want = math.log(34609.0 / 31714.029297)
    assert abs(pause_day0(study)["return"] - want) < 1e-6
    assert PriceCache(study.cache).meta("^N225")["ticker"] == "^N225"
    assert len(list(study.cache.glob("_N225.parquet.corrupt-*"))) == 1


def test_an_old_cache_file_without_a_ticker_is_refetched_online_and_warned_offline(study):
    import pyarrow.parquet as pq
    study.invoke("fetch")
    for ticker in TICKERS:                       # as written before tickers were recorded
        path = study.parquet(ticker)
        meta = {k: v for k, v in pq.read_schema(path).metadata.items()
                if k not in (b"ticker", b"vendor")}
        pq.write_table(pq.read_table(path).replace_schema_metadata(meta), path)
    offline = study.invoke("run", "--offline")
    lines = warning_lines(offline)
    assert len(lines) == 2, offline.stderr
    for line, ticker in zip(lines, TICKERS):
        assert f"{study.parquet(ticker).name}: written by an older version without its ticker, " \
               f"so it cannot be checked to hold {ticker}; used as it is" in line
    assert study.origins() == {"GSPC": "cache", "N225": "cache"}

    study.fake.clear_requests()
    online = study.invoke("run")
    assert warning_lines(online) == []
    for ticker in TICKERS:
        (asked,) = study.fake.requested_ranges(ticker)               # whole, not the tail
        assert asked[0] < D(2025, 1, 1)
        assert PriceCache(study.cache).meta(ticker)["ticker"] == ticker


def test_a_hole_in_the_vendors_answer_is_asked_for_again_next_run(study):
    study.fake.hide("^N225", ["2025-04-10"])     # Yahoo leaves out the pause's day 0
    study.invoke("run")
    assert not (PriceCache(study.cache).read("^N225")["date"] == "2025-04-10").any()
    gaps = study.results("gaps")
    assert ((gaps["series"] == "N225") & (gaps["date"] == "2025-04-10")).any()

    study.fake.unhide()                          # the vendor heals
    study.fake.clear_requests()
    res = study.invoke("run")
    assert warning_lines(res) == []
    ranges = study.fake.requested_ranges("^N225")
    assert ranges == [(LAST_BAR, ranges[0][1]), (D(2025, 4, 10), D(2025, 4, 11))]
    pd.testing.assert_frame_equal(PriceCache(study.cache).read("^N225"),
                                  served("^N225").pipe(
                                      lambda f: f[f["date"] >= PriceCache(study.cache)
                                                  .read("^N225")["date"].iloc[0]])
                                  .reset_index(drop=True))
    want = math.log(34609.0 / 31714.029297)
    assert abs(pause_day0(study)["return"] - want) < 1e-6

    study.fake.clear_requests()
    study.invoke("run")                          # nothing missing now: only the tail
    assert [r[0] for r in study.fake.requested_ranges("^N225")] == [LAST_BAR]
