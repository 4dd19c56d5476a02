"""fetch_yahoo against the local fake Yahoo: real yfinance code, real prices, no network."""
from __future__ import annotations

import datetime as dt
import socket

import pandas as pd
import pytest
import yfinance as yf

from eventstudy.data.yahoo import fetch_yahoo
from eventstudy.errors import DataError
from tests.conftest import MARKET
from tests.fake_yahoo import RoutedSession

D = dt.date
APRIL = (D(2025, 4, 1), D(2025, 4, 30))


def csv_closes(ticker: str, start: dt.date, end: dt.date) -> pd.DataFrame:
    """The fixture CSV's rows in [start, end], as the price frame we expect back."""
    raw = pd.read_csv(MARKET / f"yahoo_{ticker.lstrip('^')}.csv")
    col = "Adj Close" if "Adj Close" in raw else "Close"
    frame = pd.DataFrame({"date": pd.to_datetime(raw["Date"]).astype("datetime64[ns]"),
                          "close": raw[col].astype("float64")})
    inside = (frame["date"] >= pd.Timestamp(start)) & (frame["date"] <= pd.Timestamp(end))
    return frame[inside].reset_index(drop=True)


class Sleeps(list):
    """Records back-off sleeps instead of sleeping."""

    def __call__(self, seconds):
        self.append(seconds)


@pytest.fixture
def sleeps():
    return Sleeps()


def fetch(fake, ticker="^N225", span=APRIL, **kw):
    return fetch_yahoo(ticker, *span, session=fake.session(), **kw)


def test_nikkei_closes_are_the_csv_closes_on_tokyo_dates(fake_yahoo):
    got = fetch(fake_yahoo)
    assert list(got.columns) == ["date", "close"]
    assert got["date"].dtype == "datetime64[ns]" and got["close"].dtype == "float64"
    # Tokyo bars are stamped 09:00 JST = 00:00 UTC; the date must stay the Tokyo date.
    assert got.loc[got["date"] == "2025-04-17", "close"].item() == 34377.601562
    assert got["date"].iloc[-1] == pd.Timestamp("2025-04-30")      # end is inclusive
    assert got["date"].is_monotonic_increasing and got["date"].is_unique
    pd.testing.assert_frame_equal(got, csv_closes("^N225", *APRIL))


@pytest.mark.parametrize("ticker", ["JPY=X", "^GSPC", "7203.T"])
def test_other_zones_keep_exchange_local_dates(fake_yahoo, ticker):
    # JPY=X bars are stamped 00:00 London = 23:00 UTC the day before in summer time:
    # taking the UTC date would shift every bar back a day.
    got = fetch(fake_yahoo, ticker)
    pd.testing.assert_frame_equal(got, csv_closes(ticker, *APRIL))


def test_fx_gap_stays_a_gap(fake_yahoo):
    got = fetch(fake_yahoo, "JPY=X", (D(2025, 4, 16), D(2025, 4, 22)))
    assert got["date"].dt.strftime("%m-%d").tolist() == ["04-16", "04-17", "04-22"]
    assert got["close"].iloc[1] == 141.92799377441406


def test_requests_whole_exchange_days_end_inclusive(fake_yahoo):
    fetch(fake_yahoo)
    assert fake_yahoo.requested_ranges("^N225") == [(D(2025, 4, 1), D(2025, 5, 1))]


@pytest.mark.parametrize("span", [APRIL, (D(2025, 4, 19), D(2025, 4, 20))],
                         ids=["empty-result", "weekend"])
def test_no_prices_is_an_error_not_an_empty_frame(fake_yahoo, sleeps, span):
    if span == APRIL:
        fake_yahoo.fail("^N225", "empty")
    with pytest.raises(DataError) as err:
        fetch(fake_yahoo, span=span, sleep=sleeps)
    assert str(err.value) == f"Yahoo returned no prices for ^N225 between {span[0]} and {span[1]}"
    assert sleeps == []                                     # permanent: no retry
    assert len(fake_yahoo.requested_ranges("^N225")) == 1


def test_rate_limit_is_retried_with_exponential_backoff(fake_yahoo, sleeps):
    # yfinance itself repeats a failed chart request once (other cookie strategy), so four
    # 429s are two failed tries of ours; the third try succeeds.
    fake_yahoo.fail("^N225", "429", times=4)
    got = fetch(fake_yahoo, sleep=sleeps, backoff=0.5)
    assert sleeps == [0.5, 1.0]
    tries = [q for q in fake_yahoo.chart_requests("^N225") if q.get("range") == "1d"]
    assert len(tries) == 3 + 2                              # tz look-ups: 2 failed tries x2, 1 ok
    assert len(fake_yahoo.requested_ranges("^N225")) == 1   # the price request, once
    pd.testing.assert_frame_equal(got, csv_closes("^N225", *APRIL))


def test_rate_limit_forever_gives_up_after_retries(fake_yahoo, sleeps):
    fake_yahoo.fail("^N225", "429")
    with pytest.raises(DataError, match=r"^Yahoo rate-limited \(HTTP 429\) the request for \^N225 "
                                        r"between 2025-04-01 and 2025-04-30, after 3 tries$"):
        fetch(fake_yahoo, sleep=sleeps)
    assert sleeps == [1.0, 2.0]
    assert len(fake_yahoo.chart_requests("^N225")) == 3 * 2


def test_server_error_forever_gives_up_after_retries(fake_yahoo, sleeps):
    fake_yahoo.fail("^N225", "500")
    with pytest.raises(DataError, match=r"server error \(HTTP 500\) for \^N225 .* after 4 tries$"):
        fetch(fake_yahoo, sleep=sleeps, retries=4)
    assert sleeps == [1.0, 2.0, 4.0]


def test_server_error_then_ok_succeeds(fake_yahoo, sleeps):
    fake_yahoo.fail("^N225", "500", times=2)
    got = fetch(fake_yahoo, sleep=sleeps)
    assert sleeps == [1.0]
    assert got.loc[got["date"] == "2025-04-17", "close"].item() == 34377.601562


@pytest.mark.parametrize("ticker", ["^N225", "NOSUCH"])
def test_unknown_ticker_is_not_retried(fake_yahoo, sleeps, ticker):
    if ticker == "^N225":
        fake_yahoo.fail(ticker, "404")
    with pytest.raises(DataError) as err:
        fetch(fake_yahoo, ticker, sleep=sleeps)
    assert str(err.value) == (f"Yahoo does not know ticker {ticker} "
                              "(HTTP 404: No data found, symbol may be delisted)")
    assert sleeps == []


@pytest.mark.parametrize("mode, message", [
    ("malformed", r"^Yahoo sent malformed data for \^N225 between 2025-04-01 and 2025-04-30 \(JSONDecodeError"),
    ("no_close", r"^Yahoo data for \^N225 between 2025-04-01 and 2025-04-30 is missing column Close$"),
    ("zero_close", r"^Yahoo prices for \^N225 not positive on 2025-04-30$"),
    ("no_tz", r"^Yahoo gave no valid exchange time zone for \^N225"),
    ("bad_tz", r"^Yahoo gave no valid exchange time zone for \^N225"),
])
def test_bad_payloads_are_permanent_errors(fake_yahoo, sleeps, mode, message):
    if mode == "bad_tz":
        fake_yahoo.fail("^N225", "wrong_tz", tz="Mars/Olympus_Mons")
    else:
        fake_yahoo.fail("^N225", mode)
    with pytest.raises(DataError, match=message) as err:
        fetch(fake_yahoo, sleep=sleeps)
    assert "\n" not in str(err.value)
    assert sleeps == []


def test_wrong_zone_would_shift_dates_so_it_is_refused(fake_yahoo):
    # Told "New York", yfinance would date the 09:00 Tokyo bars on the previous day.
    fake_yahoo.fail("^N225", "wrong_tz", tz="America/New_York")
    with pytest.raises(DataError, match=r"time zone for \^N225 \(America/New_York\) contradicts "
                                        r"its UTC offset \(\+9h\)"):
        fetch(fake_yahoo)


def test_unreachable_host_is_retried_then_reported(fake_yahoo, sleeps):
    with socket.socket() as s:            # a port nobody listens on: connection refused
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(DataError, match=r"^could not reach Yahoo \(ConnectionError.* for \^N225 "
                                        r"between .* after 2 tries$"):
        fetch_yahoo("^N225", *APRIL, session=RoutedSession(f"http://127.0.0.1:{port}"),
                    retries=2, sleep=sleeps)
    assert sleeps == [1.0]


def test_yfinance_state_is_restored(fake_yahoo, sleeps):
    session = fake_yahoo.session()
    fake_yahoo.fail("^N225", "404")
    with pytest.raises(DataError):
        fetch_yahoo("^N225", *APRIL, session=session, sleep=sleeps)
    assert yf.config.debug.hide_exceptions is True
    assert "request" not in vars(session)


def test_default_session_is_the_one_yfinance_holds(fake_yahoo):
    from yfinance.data import YfData
    own = fake_yahoo.session()
    YfData(session=own)                  # what yfinance would use without a session argument
    got = fetch_yahoo("^N225", *APRIL)
    assert got.loc[got["date"] == "2025-04-17", "close"].item() == 34377.601562
    assert "request" not in vars(own)


def test_end_before_start_is_refused(fake_yahoo):
    with pytest.raises(ValueError):
        fetch(fake_yahoo, span=(D(2025, 4, 30), D(2025, 4, 1)))
    assert fake_yahoo.requests == []
