"""The FRED source against a local fake of FRED's CSV download (127.0.0.1, no network)."""
import datetime as dt
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pandas as pd
import pytest

from eventstudy.data.fred import fetch_fred
from eventstudy.errors import DataError, NetworkError

SAMPLE = Path(__file__).resolve().parents[2] / "eventstudy" / "data" / "sample"


class FakeFred(BaseHTTPRequestHandler):
    """Serves DEXJPUS as FRED does (blank on US holidays); `mode` switches failures."""
    mode: list = ["ok"]
    requests: list = []

    def do_GET(self):  # noqa: N802 - http.server's name
        query = parse_qs(urlparse(self.path).query)
        FakeFred.requests.append(query)
        mode = FakeFred.mode.pop(0) if len(FakeFred.mode) > 1 else FakeFred.mode[0]
        if mode == "500":
            return self._send(500, "oops")
        if mode == "404":
            return self._send(404, "Not found")
        if mode == "malformed":
            return self._send(200, "<html>not a csv</html>")
        prices = pd.read_csv(SAMPLE / "fred-DEXJPUS.csv")
        prices = prices[(prices["date"] >= query["cosd"][0]) & (prices["date"] <= query["coed"][0])]
        lines = ["observation_date,DEXJPUS"] + [f"{d},{v}" for d, v in
                                                zip(prices["date"], prices["close"])]
        if mode == "holiday":       # FRED lists a holiday with an empty value
            lines.insert(2, "2025-04-02,")
        self._send(200, "\n".join(lines) + "\n")

    def _send(self, status, body):
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/csv")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def fred():
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeFred)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    FakeFred.mode, FakeFred.requests = ["ok"], []
    yield f"http://127.0.0.1:{server.server_address[1]}/graph/fredgraph.csv"
    server.shutdown()


def fetch(url, **kw):
    return fetch_fred("DEXJPUS", dt.date(2025, 4, 1), dt.date(2025, 4, 30), url=url,
                      sleep=kw.pop("sleep", lambda s: None), **kw)


def test_values_and_dates_as_fred_publishes_them(fred):
    frame = fetch(fred)
    assert list(frame.columns) == ["date", "close"]
    row = frame.set_index("date").loc[pd.Timestamp("2025-04-09"), "close"]
    assert row == pytest.approx(145.09)           # the figure SOURCES.md checked
    assert frame["date"].min() >= pd.Timestamp("2025-04-01")
    assert pd.Timestamp("2025-04-18") in set(frame["date"])   # Good Friday: FRED has a rate
    assert FakeFred.requests[0]["id"] == ["DEXJPUS"]


def test_a_holiday_without_a_value_is_dropped_not_zeroed(fred):
    FakeFred.mode = ["holiday"]
    frame = fetch(fred)
    assert (frame["close"] > 0).all()
    assert frame["date"].is_unique


def test_server_errors_are_retried_with_back_off(fred):
    FakeFred.mode = ["500", "500", "ok"]
    sleeps = []
    frame = fetch(fred, sleep=sleeps.append)
    assert len(frame) > 10 and sleeps == [1.0, 2.0] and len(FakeFred.requests) == 3


def test_permanent_failures_are_one_line_errors(fred):
    FakeFred.mode = ["404"]
    with pytest.raises(DataError, match=r"^FRED refused series DEXJPUS \(HTTP 404\)$"):
        fetch(fred)
    assert len(FakeFred.requests) == 1            # not retried
    FakeFred.mode = ["malformed"]
    with pytest.raises(DataError, match="lacks the columns date and DEXJPUS"):
        fetch(fred)


def test_unreachable_fred_is_a_network_error(fred):
    closed = fred.replace(fred.split(":")[2].split("/")[0], "9")     # port 9: nothing there
    with pytest.raises(NetworkError, match="could not reach FRED .* after 2 tries"):
        fetch(closed, retries=2)
