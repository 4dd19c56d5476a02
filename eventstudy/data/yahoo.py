"""Daily adjusted closes from Yahoo Finance through yfinance, with errors that say what went wrong.

yfinance's habit is to log a problem and hand back an empty frame; a study built on that
would quietly lose a series. `fetch_yahoo` makes yfinance raise, classifies what it raised
(transient: network, HTTP 429, 5xx; permanent: unknown ticker, no data, malformed data),
retries only the transient kind with exponential back-off, and checks the frame itself
before anything downstream sees it. Every failure is one `DataError` line naming the ticker.

Written against yfinance 1.7; the internals it leans on are listed at `_download`.
"""
from __future__ import annotations

import datetime as dt
import socket
import logging
import threading
import time
import warnings
from contextlib import contextmanager
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import requests
import yfinance as yf
from yfinance.data import YfData
from yfinance.exceptions import YFRateLimitError, YFTzMissingError

from eventstudy.data import PRICE_COLUMNS, as_date, one_line
from eventstudy.errors import DataError, NetworkError

try:  # yfinance's preferred backend; absent on some platforms
    from curl_cffi.requests import exceptions as _curl_exc
    _CURL_NETWORK = (_curl_exc.ConnectionError, _curl_exc.Timeout)
except ImportError:  # pragma: no cover
    _CURL_NETWORK = ()

_NETWORK_ERRORS = (requests.exceptions.ConnectionError, requests.exceptions.Timeout,
                   requests.exceptions.ChunkedEncodingError, ConnectionError, TimeoutError,
                   socket.gaierror) + _CURL_NETWORK

# yfinance keeps its switches and its session in process-wide singletons; one download at a
# time keeps our temporary changes to them from leaking into another thread's download.
_LOCK = threading.RLock()


class _Transient(Exception):
    """A failure worth trying again (network, rate limit, server error); `reason` is for the user."""

    def __init__(self, reason: str, *, network: bool = False):
        super().__init__(reason)
        self.reason = reason
        self.network = network


def fetch_yahoo(ticker: str, start: dt.date, end: dt.date, *, session=None, retries: int = 3,
                backoff: float = 1.0, sleep=time.sleep, timeout: float = 30) -> pd.DataFrame:
    """Adjusted daily closes of `ticker` from `start` to `end` (both inclusive) as a price frame.

    Dates are the session dates as Yahoo labels them in the exchange's own time zone (a
    Tokyo session stays on its Tokyo date, not the UTC date its timestamp falls on).
    `retries` is the number of tries in all; between tries we sleep `backoff`, then twice
    that, and so on (`sleep` is injectable so tests need not wait). `session` is handed to
    yfinance (a requests or curl_cffi Session; yfinance keeps it for the rest of the
    process, its YfData being a singleton). Raises `DataError` with one line.
    """
    start, end = as_date(start), as_date(end)
    if end < start:
        raise ValueError(f"end {end} is before start {start}")
    if retries < 1:
        raise ValueError("retries must be at least 1")
    span = f"between {start} and {end}"
    for attempt in range(1, retries + 1):
        try:
            raw, meta = _download(ticker, start, end, session, timeout, span)
        except _Transient as exc:
            if attempt == retries:
                tries = "1 try" if retries == 1 else f"{retries} tries"
                error = NetworkError if exc.network else DataError
                raise error(f"{exc.reason} for {ticker} {span}, after {tries}") from exc
            sleep(backoff * 2 ** (attempt - 1))
            continue
        return _price_frame(ticker, raw, meta, start, end, span)
    raise AssertionError("unreachable")  # pragma: no cover




def _download(ticker, start, end, session, timeout, span):
    """One try through yfinance: (raw frame, chart meta) or `_Transient` / `DataError`.

    yfinance 1.7 internals relied on: `yf.config.debug.hide_exceptions` (set False so errors
    raise instead of yielding an empty frame; `_fetch_ticker_tz` ignores `raise_errors`);
    `YfData.cache_get` (an lru_cache over past-dated chart requests: cleared so a retry really
    asks Yahoo again); `Ticker._data._session` (the session yfinance really uses, wrapped to
    see HTTP status codes, which yfinance does not put in its exceptions).
    """
    with _LOCK, _yfinance_raises(), _quiet_yfinance_log(), warnings.catch_warnings():
        # yfinance's own pandas deprecation noise is not the user's business.
        warnings.filterwarnings("ignore", module=r"yfinance(\.|$)")
        YfData.cache_get.cache_clear()
        tk = yf.Ticker(ticker, session=session)
        log = _ChartLog()
        with log.watching(tk._data._session):
            try:
                raw = tk.history(start=start.isoformat(), end=(end + dt.timedelta(days=1)).isoformat(),
                                 interval="1d", auto_adjust=True, actions=False, repair=False,
                                 timeout=timeout)
                md = tk.get_history_metadata()
                meta = {k: md[k] for k in ("exchangeTimezoneName", "gmtoffset", "regularMarketTime")
                        if k in md}
            except Exception as exc:
                raise _classify(ticker, exc, log, span) from exc
    return raw, meta


@contextmanager
def _quiet_yfinance_log():
    """yfinance logs each failed cookie fetch to stderr; our one-line errors say it better."""
    logger = logging.getLogger("yfinance")
    before = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(before)


@contextmanager
def _yfinance_raises():
    debug = yf.config.debug
    before = debug.hide_exceptions
    debug.hide_exceptions = False
    try:
        yield
    finally:
        debug.hide_exceptions = before


class _ChartLog:
    """Status codes and bodies of the chart responses during one try."""

    def __init__(self):
        self.statuses: list[int] = []
        self.last = None

    @contextmanager
    def watching(self, session):
        had_own = "request" in vars(session)
        inner = session.request

        def request(method, url, *args, **kwargs):
            response = inner(method, url, *args, **kwargs)
            if "/v8/finance/chart/" in str(url):
                self.statuses.append(response.status_code)
                self.last = response
            return response

        session.request = request
        try:
            yield self
        finally:
            if had_own:
                session.request = inner
            else:
                del session.request


def _classify(ticker: str, exc: Exception, log: _ChartLog, span: str) -> Exception:
    """Turn whatever yfinance raised into `_Transient` (retry) or a one-line `DataError`."""
    if isinstance(exc, YFRateLimitError) or 429 in log.statuses:
        return _Transient("Yahoo rate-limited (HTTP 429) the request")
    server = [s for s in log.statuses if s >= 500]
    if server:
        return _Transient(f"Yahoo server error (HTTP {server[-1]})")
    if "CURRENTLY DOWN" in str(exc):
        return _Transient("Yahoo is down")
    if isinstance(exc, _NETWORK_ERRORS):
        return _Transient(f"could not reach Yahoo ({one_line(exc)})", network=True)
    if 404 in log.statuses:
        return DataError(f"Yahoo does not know ticker {ticker} (HTTP 404: {_yahoo_reason(log.last)})")
    if isinstance(exc, KeyError) and exc.args and exc.args[0] in ("close", "Close"):
        return DataError(f"Yahoo data for {ticker} {span} is missing column Close")
    if _lacks_valid_zone(log.last) or isinstance(exc, YFTzMissingError):
        return DataError(f"Yahoo gave no valid exchange time zone for {ticker}, "
                         "so its session dates cannot be trusted")
    if "no price data found" in str(exc):
        # an empty answer may be a mislabelled zone that moved the bars out of the range
        try:
            meta = log.last.json()["chart"]["result"][0]["meta"]
            _check_zone(ticker, meta, meta["exchangeTimezoneName"])
        except DataError as zone_error:
            return zone_error
        except Exception:  # no usable meta: it is an empty answer after all
            pass
    if "no price data found" in str(exc):
        return DataError(f"Yahoo returned no prices for {ticker} {span}")
    if log.statuses and log.statuses[-1] >= 400:
        return DataError(f"Yahoo refused the request for {ticker} (HTTP {log.statuses[-1]}: "
                         f"{_yahoo_reason(log.last)})")
    return DataError(f"Yahoo sent malformed data for {ticker} {span} ({one_line(exc)})")


def _lacks_valid_zone(response) -> bool:
    """True if the chart JSON parses but names no zone, or one zoneinfo does not know."""
    try:
        meta = response.json()["chart"]["result"][0]["meta"]
    except Exception:
        return False
    try:
        ZoneInfo(meta["exchangeTimezoneName"])
    except Exception:
        return True
    return False


def _yahoo_reason(response) -> str:
    try:
        return response.json()["chart"]["error"]["description"]
    except Exception:
        return "no reason given"




def _price_frame(ticker, raw: pd.DataFrame, meta: dict, start, end, span) -> pd.DataFrame:
    """Check yfinance's frame and reduce it to the package's (date, close) shape."""
    if "Close" not in raw.columns:
        if raw.empty:  # yfinance's empty frame: no rows at all
            raise DataError(f"Yahoo returned no prices for {ticker} {span}")
        raise DataError(f"Yahoo data for {ticker} {span} is missing column Close")
    index = raw.index
    if not isinstance(index, pd.DatetimeIndex):
        raise DataError(f"Yahoo sent malformed data for {ticker} {span} (index is not dates)")
    if index.tz is not None:
        _check_zone(ticker, meta, str(index.tz))
        index = index.tz_localize(None)  # wall-clock time in the exchange's zone: its date
    frame = pd.DataFrame({"date": index.normalize().astype("datetime64[ns]"),
                          "close": raw["Close"].to_numpy(dtype="float64")})
    inside = (frame["date"] >= pd.Timestamp(start)) & (frame["date"] <= pd.Timestamp(end))
    frame = (frame[inside].drop_duplicates("date", keep="last")
             .sort_values("date", ignore_index=True)[PRICE_COLUMNS])
    if frame.empty:
        raise DataError(f"Yahoo returned no prices for {ticker} {span}")
    close = frame["close"].to_numpy()
    for bad, what in ((~np.isfinite(close), "not finite"), (np.isfinite(close) & (close <= 0), "not positive")):
        if bad.any():
            raise DataError(f"Yahoo prices for {ticker} {what} on {_dates(frame['date'][bad])}")
    return frame


def _dates(dates: pd.Series, shown: int = 3) -> str:
    text = ", ".join(dates.dt.strftime("%Y-%m-%d").head(shown))
    return text + (f" and {len(dates) - shown} more" if len(dates) > shown else "")


def _check_zone(ticker: str, meta: dict, zone: str) -> None:
    """Refuse a zone that contradicts Yahoo's own UTC offset: its dates would be a day off.

    yfinance dates each bar by converting its timestamp into `exchangeTimezoneName`; if that
    name is wrong (Yahoo has mislabelled zones before), bars land on the neighbouring day
    without any error. `gmtoffset` is the exchange's offset at `regularMarketTime`, so the
    two must agree there (or now, in case a DST change fell in between).
    """
    offset = meta.get("gmtoffset")
    if not isinstance(offset, (int, float)):
        return
    moments = [pd.Timestamp.now(tz="UTC")]
    market_time = meta.get("regularMarketTime")
    if isinstance(market_time, pd.Timestamp) and market_time.tzinfo is not None:
        moments.append(market_time)
    elif isinstance(market_time, (int, float)):
        moments.append(pd.Timestamp(int(market_time), unit="s", tz="UTC"))
    if not any(m.tz_convert(zone).utcoffset().total_seconds() == offset for m in moments):
        hours = offset / 3600
        raise DataError(f"Yahoo's time zone for {ticker} ({zone}) contradicts its UTC offset "
                        f"({hours:+g}h); the session dates would be shifted")
