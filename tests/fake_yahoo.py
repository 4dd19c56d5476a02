"""A local stand-in for Yahoo Finance, so the real yfinance code path runs without a network.

`FakeYahoo(data_dir)` serves real daily prices from the CSV files in `data_dir`
(``yahoo_<ticker without ^>.csv``) through the endpoints yfinance 1.7's ``history()``
touches: ``/v8/finance/chart/{ticker}`` (chart JSON, honouring ``period1``/``period2``
or ``range``), ``fc.yahoo.com`` (cookie), ``/v1/test/getcrumb`` and ``guce.yahoo.com``
(the cookie-consent fallback yfinance tries after any HTTP error). Bars are stamped at
the exchange's session open in its own time zone, as Yahoo does, so a UTC-date bug
shows up as a shifted date. Failure modes are switched per ticker with `fail()`, and
every request is recorded so tests can assert which date ranges were asked for.
`rebase()` scales a ticker's history (a vendor re-basing its adjusted closes), `hide()` leaves
bars out (a hole in the vendor's data, or the history as it stood on an earlier day).

`session()` returns a `requests.Session` that rewrites every ``*.yahoo.com`` URL to this
server and refuses any other host, so a test can never reach the network by accident.
"""
from __future__ import annotations

import datetime as dt
import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit, urlunsplit
from zoneinfo import ZoneInfo

import pandas as pd
import requests

FAILURE_MODES = ("429", "500", "404", "empty", "malformed", "no_close", "zero_close",
                 "no_tz", "wrong_tz")


@dataclass(frozen=True)
class Exchange:
    """What Yahoo's chart meta says about where a ticker trades."""
    tz: str
    open: str            # session open, local time: daily bars are stamped here
    close: str           # session close, local time: regularMarketTime
    currency: str
    instrument: str
    exchange: str


TOKYO = Exchange("Asia/Tokyo", "09:00", "15:30", "JPY", "EQUITY", "JPX")
EXCHANGES = {
    "^N225": Exchange("Asia/Tokyo", "09:00", "15:30", "JPY", "INDEX", "OSA"),
    "^GSPC": Exchange("America/New_York", "09:30", "16:00", "USD", "INDEX", "SNP"),
    "ACWI": Exchange("America/New_York", "09:30", "16:00", "USD", "ETF", "NGM"),
    "JPY=X": Exchange("Europe/London", "00:00", "23:00", "JPY", "CURRENCY", "CCY"),
}

NOT_FOUND = {"chart": {"result": None, "error": {
    "code": "Not Found", "description": "No data found, symbol may be delisted"}}}


def exchange_of(ticker: str) -> Exchange:
    if ticker in EXCHANGES:
        return EXCHANGES[ticker]
    if ticker.endswith(".T"):
        return TOKYO
    return EXCHANGES["^GSPC"]


def epoch(stamps: pd.Series) -> pd.Series:
    """Aware timestamps -> integer Unix seconds, whatever pandas' datetime resolution."""
    return (stamps - pd.Timestamp("1970-01-01", tz="UTC")) // pd.Timedelta(seconds=1)


class FakeYahoo:
    """Threaded HTTP server on 127.0.0.1 (free port) speaking enough of Yahoo for yfinance."""

    def __init__(self, data_dir: str | Path):
        self.data_dir = Path(data_dir)
        self.requests: list[dict] = []          # {"host", "path", "query"} per request
        self._failures: dict[str, list] = {}    # ticker -> [mode, remaining or None, options]
        self._frames: dict[str, pd.DataFrame | None] = {}
        self._hidden: dict[str, tuple[set, pd.Timestamp | None]] = {}
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------------
    def start(self) -> "FakeYahoo":
        handler = type("Handler", (_Handler,), {"fake": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.02}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)
            self._server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def session(self) -> "RoutedSession":
        return RoutedSession(self.base_url)

    # -- test controls -------------------------------------------------------------------
    def fail(self, ticker: str, mode: str, times: int | None = None, **options) -> None:
        """Make chart requests for `ticker` fail with `mode` (the next `times`, or forever).

        ``wrong_tz`` takes ``tz=`` (the zone to claim instead of the real one).
        """
        if mode not in FAILURE_MODES:
            raise ValueError(f"unknown failure mode {mode!r}; one of {FAILURE_MODES}")
        with self._lock:
            self._failures[ticker] = [mode, times, options]

    def heal(self, ticker: str | None = None) -> None:
        with self._lock:
            if ticker is None:
                self._failures.clear()
            else:
                self._failures.pop(ticker, None)

    def rebase(self, ticker: str, factor: float) -> None:
        """Scale every price of `ticker` by `factor`: its adjusted history re-based (0.5 is
        what a 2:1 split after the last bar does to Yahoo's adjusted closes)."""
        bars = self.prices(ticker).copy()
        cols = [c for c in ("Open", "High", "Low", "Close", "Adj Close") if c in bars]
        bars[cols] = bars[cols] * factor
        with self._lock:
            self._frames[ticker] = bars

    def hide(self, ticker: str, dates=(), *, after: str | None = None) -> None:
        """Leave bars of `ticker` out of every answer: those on `dates` (a hole in the vendor's
        data) and those after `after` (the history as it stood on that day)."""
        with self._lock:
            self._hidden[ticker] = (set(pd.to_datetime(list(dates))), after and pd.Timestamp(after))

    def unhide(self, ticker: str | None = None) -> None:
        with self._lock:
            if ticker is None:
                self._hidden.clear()
            else:
                self._hidden.pop(ticker, None)

    def clear_requests(self) -> None:
        with self._lock:
            self.requests.clear()

    def chart_requests(self, ticker: str) -> list[dict]:
        """The recorded chart queries for `ticker` (dicts of single values), in order."""
        path = f"/v8/finance/chart/{ticker}"
        with self._lock:
            return [r["query"] for r in self.requests if r["path"] == path]

    def requested_ranges(self, ticker: str) -> list[tuple[dt.date, dt.date]]:
        """Date ranges of the `period1`/`period2` chart requests, as exchange-local dates.

        `period2` is exclusive, as yfinance sends it (midnight after the last wanted day).
        """
        tz = ZoneInfo(exchange_of(ticker).tz)
        return [(dt.datetime.fromtimestamp(int(q["period1"]), tz).date(),
                 dt.datetime.fromtimestamp(int(q["period2"]), tz).date())
                for q in self.chart_requests(ticker) if "period1" in q]

    # -- data ----------------------------------------------------------------------------
    def prices(self, ticker: str) -> pd.DataFrame | None:
        """Bars for `ticker` from its CSV with a `ts` column (Unix seconds at session open)."""
        with self._lock:
            if ticker not in self._frames:
                self._frames[ticker] = self._load(ticker)
            return self._frames[ticker]

    def _load(self, ticker: str) -> pd.DataFrame | None:
        path = self.data_dir / f"yahoo_{ticker.lstrip('^')}.csv"
        if not path.is_file():
            return None
        df = pd.read_csv(path)
        ex = exchange_of(ticker)
        opened = (pd.to_datetime(df["Date"]) + pd.Timedelta(ex.open + ":00")).dt.tz_localize(ex.tz)
        df["ts"] = epoch(opened.dt.tz_convert("UTC"))
        if "Adj Close" not in df:
            df["Adj Close"] = df["Close"]
        if "Volume" not in df:
            df["Volume"] = 0
        return df.sort_values("ts", ignore_index=True)

    def _take_failure(self, ticker: str):
        with self._lock:
            entry = self._failures.get(ticker)
            if entry is None:
                return None, {}
            mode, times, options = entry
            if times is not None:
                if times <= 0:
                    del self._failures[ticker]
                    return None, {}
                entry[1] = times - 1
            return mode, options

    def chart(self, ticker: str, query: dict) -> tuple[int, str, bytes]:
        """(status, content type, body) for one chart request."""
        mode, options = self._take_failure(ticker)
        if mode == "429":
            return 429, "text/plain", b"Edge: Too Many Requests"
        if mode == "500":
            return 500, "text/html", b"<html><body><h1>500 Internal Server Error</h1></body></html>"
        if mode == "malformed":
            return 200, "application/json", b'{"chart": {"result": [{"meta": {"currency": "JP'
        bars = self.prices(ticker)
        if mode == "404" or bars is None:
            return 404, "application/json", json.dumps(NOT_FOUND).encode()

        with self._lock:
            hidden, after = self._hidden.get(ticker, (set(), None))
        if hidden or after is not None:
            day = pd.to_datetime(bars["Date"])
            bars = bars[~day.isin(hidden) & ((day <= after) if after is not None else True)]
        if "period1" in query:
            p1, p2 = int(query["period1"]), int(query.get("period2", 2**40))
            bars = bars[(bars["ts"] >= p1) & (bars["ts"] < p2)]
        elif query.get("range") == "1d":
            bars = bars.tail(1)
        if mode == "empty":
            bars = bars.iloc[0:0]
        body = {"chart": {"result": [self._result(ticker, bars, query, mode, options)],
                          "error": None}}
        return 200, "application/json", json.dumps(body).encode()

    def _result(self, ticker, bars, query, mode, options) -> dict:
        ex = exchange_of(ticker)
        zone = ZoneInfo(ex.tz)
        full = self.prices(ticker)
        last_day = pd.Timestamp(full["Date"].iloc[-1])
        market_time = pd.Timestamp(f"{last_day.date()} {ex.close}").tz_localize(ex.tz)
        offset = int(market_time.utcoffset().total_seconds())
        abbrev = market_time.tzname()

        def period(start, end):
            s = int(pd.Timestamp(f"{last_day.date()} {start}").tz_localize(ex.tz).timestamp())
            e = int(pd.Timestamp(f"{last_day.date()} {end}").tz_localize(ex.tz).timestamp())
            return {"timezone": abbrev, "start": s, "end": e, "gmtoffset": offset}

        meta = {
            "currency": ex.currency, "symbol": ticker, "exchangeName": ex.exchange,
            "fullExchangeName": ex.exchange, "instrumentType": ex.instrument,
            "firstTradeDate": int(full["ts"].iloc[0]),
            "regularMarketTime": int(market_time.timestamp()),
            "hasPrePostMarketData": False, "gmtoffset": offset, "timezone": abbrev,
            "exchangeTimezoneName": zone.key,
            "regularMarketPrice": float(full["Close"].iloc[-1]),
            "chartPreviousClose": float(full["Close"].iloc[-2]),
            "priceHint": 2,
            "currentTradingPeriod": {"pre": period(ex.open, ex.open),
                                     "regular": period(ex.open, ex.close),
                                     "post": period(ex.close, ex.close)},
            "dataGranularity": query.get("interval", "1d"),
            "range": query.get("range", ""),
            "validRanges": ["1d", "5d", "1mo", "3mo", "6mo", "1y", "2y", "5y", "10y", "ytd", "max"],
        }
        if mode == "no_tz":
            del meta["exchangeTimezoneName"]
        elif mode == "wrong_tz":
            meta["exchangeTimezoneName"] = options.get("tz", "UTC")
        if bars.empty:   # what Yahoo sends for a range without sessions: no timestamp key
            return {"meta": meta, "indicators": {"quote": [{}], "adjclose": [{}]}}

        def values(col):
            return bars[col].astype(object).where(bars[col].notna(), None).tolist()

        quote = {"open": values("Open"), "high": values("High"), "low": values("Low"),
                 "close": values("Close"), "volume": values("Volume")}
        adjclose = values("Adj Close")
        if mode == "no_close":
            del quote["close"]
        elif mode == "zero_close":
            quote["close"][-1] = 0.0
            adjclose[-1] = 0.0
        return {"meta": meta, "timestamp": bars["ts"].tolist(),
                "indicators": {"quote": [quote], "adjclose": [{"adjclose": adjclose}]}}


class _Handler(BaseHTTPRequestHandler):
    fake: FakeYahoo

    def log_message(self, *args):      # keep test output quiet
        pass

    def _send(self, status: int, ctype: str, body: bytes, headers=()):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        self.do_GET()

    def do_GET(self):
        parts = urlsplit(self.path)
        path = unquote(parts.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        host = self.headers.get("X-Fake-Yahoo-Host", "")
        with self.fake._lock:
            self.fake.requests.append({"host": host, "path": path, "query": query})

        if path.startswith("/v8/finance/chart/"):
            self._send(*self.fake.chart(path.removeprefix("/v8/finance/chart/"), query))
        elif path == "/v1/test/getcrumb":
            self._send(200, "text/plain", b"fakecrumb")
        elif host == "fc.yahoo.com":
            # Yahoo answers 404 but sets the A3 cookie; yfinance only wants the cookie.
            self._send(404, "text/html", b"<html>404</html>",
                       [("Set-Cookie", "A3=fake; Path=/; Max-Age=31536000")])
        elif host.endswith("consent.yahoo.com"):
            # No consent form: yfinance's csrf cookie strategy gives up and falls back.
            self._send(200, "text/html", b"<html><body>no consent needed</body></html>")
        else:
            self._send(404, "application/json",
                       json.dumps({"finance": {"result": None, "error": {
                           "code": "Not Found", "description": f"no fake for {path}"}}}).encode())


class RoutedSession(requests.Session):
    """A requests Session (so yfinance accepts it) that sends Yahoo traffic to the fake.

    Any other host raises, so no test can silently reach the network.
    """

    def __init__(self, base_url: str):
        super().__init__()
        self.trust_env = False          # ignore HTTP(S)_PROXY: 127.0.0.1 must be direct
        self._base = urlsplit(base_url)

    def request(self, method, url, *args, **kwargs):
        parts = urlsplit(url)
        host = parts.hostname or ""
        if not (host == "yahoo.com" or host.endswith(".yahoo.com")):
            raise RuntimeError(f"test tried to reach {url!r} outside the fake Yahoo")
        headers = dict(kwargs.pop("headers", None) or {})
        headers["X-Fake-Yahoo-Host"] = host
        url = urlunsplit((self._base.scheme, self._base.netloc, parts.path or "/",
                          parts.query, ""))
        return super().request(method, url, *args, headers=headers, **kwargs)
