"""PriceCache: validation on read, atomic writes, and incremental updates that ask only for gaps."""
from __future__ import annotations

import datetime as dt
import functools
import os

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from eventstudy.data import cache as cache_mod
from eventstudy.data.cache import CacheCorruptWarning, PriceCache
from eventstudy.data.yahoo import fetch_yahoo
from eventstudy.errors import DataError

D = dt.date
UTC = dt.timezone.utc
LATER = dt.datetime(2030, 1, 1, tzinfo=UTC)      # fetched long after: no bar is provisional


def frame(dates, closes=None) -> pd.DataFrame:
    dates = pd.to_datetime(list(dates)).astype("datetime64[ns]")
    closes = np.arange(1, len(dates) + 1, dtype="float64") * 100 if closes is None else closes
    return pd.DataFrame({"date": dates, "close": np.asarray(closes, dtype="float64")})


def weekdays(start, end, scale=1.0) -> pd.DataFrame:
    """A synthetic price frame: every weekday, close = scale * (day of year)."""
    dates = pd.bdate_range(start, end)
    return frame(dates, scale * dates.day_of_year.to_numpy(dtype="float64"))


class FakeFetch:
    """A `fetch(ticker, start, end)` over synthetic weekday prices that records its calls."""
    __name__ = "fake"

    def __init__(self, scale=1.0, error=None):
        self.calls, self.scale, self.error = [], scale, error

    def __call__(self, ticker, start, end):
        self.calls.append((start, end))
        if self.error:
            raise self.error
        return weekdays(start, end, self.scale)


@pytest.fixture
def cache(tmp_path):
    return PriceCache(tmp_path / "prices")


def files(cache):
    return sorted(p.name for p in cache.root.iterdir())


# -- read / write -------------------------------------------------------------------------
def test_round_trip_keeps_frame_and_records_metadata(cache):
    f = weekdays("2025-04-01", "2025-04-30")
    cache.write("^N225", f, source="yahoo", fetched_at=dt.datetime(2025, 5, 1, 9, tzinfo=UTC))
    assert files(cache) == ["_N225.parquet"]
    pd.testing.assert_frame_equal(cache.read("^N225"), f)
    assert cache.meta("^N225") == {"fetched_at": dt.datetime(2025, 5, 1, 9, tzinfo=UTC),
                                   "first": D(2025, 4, 1), "last": D(2025, 4, 30), "source": "yahoo"}
    raw = pq.read_schema(cache.path("^N225")).metadata
    assert raw[b"fetched_at"] == b"2025-05-01T09:00:00+00:00"


def test_absent_ticker_reads_none(cache):
    assert cache.read("^N225") is None and cache.meta("^N225") is None


def test_write_refuses_an_invalid_frame(cache):
    with pytest.raises(ValueError, match="duplicate dates"):
        cache.write("X", frame(["2025-04-01", "2025-04-01"]))
    assert not cache.path("X").exists()


def _write_raw(path, df, meta=True):
    table = pa.Table.from_pandas(df, preserve_index=False)
    if meta:
        table = table.replace_schema_metadata({
            **table.schema.metadata, b"fetched_at": b"2025-05-01T00:00:00+00:00",
            b"first": b"2025-04-01", b"last": b"2025-04-02", b"source": b"test"})
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)


@pytest.mark.parametrize("damage", [
    "random-bytes", "truncated", "duplicate-dates", "zero-price", "wrong-columns",
    "int-close", "no-metadata", "aware-dates",
])
def test_invalid_file_is_moved_aside_and_refetched(cache, damage):
    path = cache.path("^N225")
    good = frame(["2025-04-01", "2025-04-02"])
    if damage == "random-bytes":
        path.parent.mkdir(parents=True)
        path.write_bytes(np.random.default_rng(0).bytes(500))
    elif damage == "truncated":
        cache.write("^N225", weekdays("2025-01-01", "2025-04-02"))
        path.write_bytes(path.read_bytes()[:-200])
    else:
        bad = {
            "duplicate-dates": frame(["2025-04-01", "2025-04-01", "2025-04-02"]).iloc[1:],
            "zero-price": frame(["2025-04-01", "2025-04-02"], [100.0, 0.0]),
            "wrong-columns": good.rename(columns={"close": "Close"}),
            "int-close": good.astype({"close": "int64"}),
            "no-metadata": good,
            "aware-dates": good.assign(date=good["date"].dt.tz_localize("Asia/Tokyo")),
        }[damage]
        if damage == "duplicate-dates":
            bad = frame(["2025-04-01", "2025-04-02", "2025-04-02"]).iloc[[0, 1, 2]]
        _write_raw(path, bad, meta=damage != "no-metadata")
    before = path.read_bytes()

    with pytest.warns(CacheCorruptWarning, match=r"moved aside to _N225\.parquet\.corrupt-\d{8}T"):
        assert cache.read("^N225") is None
    [aside] = [n for n in files(cache) if ".corrupt-" in n]
    assert (cache.root / aside).read_bytes() == before        # kept for inspection
    assert not path.exists()

    fetch = FakeFetch()
    got = cache.update("^N225", fetch, D(2025, 4, 1), D(2025, 4, 4), today=D(2025, 6, 1))
    assert fetch.calls == [(D(2025, 4, 1), D(2025, 4, 4))]    # refetched in full
    pd.testing.assert_frame_equal(got, weekdays("2025-04-01", "2025-04-04"))


def test_crash_mid_write_leaves_old_file_and_no_temp(cache, monkeypatch):
    cache.write("^N225", weekdays("2025-04-01", "2025-04-30"))
    before = cache.path("^N225").read_bytes()
    real = pq.write_table

    def crashing(table, where, **kw):
        real(table, where, **kw)                      # write the whole thing, then keep half
        with open(where, "r+b") as fh:
            fh.truncate(os.path.getsize(where) // 2)
        raise OSError("disk full")

    monkeypatch.setattr(cache_mod.pq, "write_table", crashing)
    with pytest.raises(OSError, match="disk full"):
        cache.write("^N225", weekdays("2025-04-01", "2025-05-30"))
    assert cache.path("^N225").read_bytes() == before
    assert files(cache) == ["_N225.parquet"]


# -- incremental update with a synthetic fetch ----------------------------------------------
def test_fresh_update_fetches_once_and_caps_at_today(cache):
    fetch = FakeFetch()
    got = cache.update("X", fetch, D(2025, 4, 1), D(2025, 12, 31), today=D(2025, 4, 10))
    assert fetch.calls == [(D(2025, 4, 1), D(2025, 4, 10))]
    assert got["date"].iloc[-1] == pd.Timestamp("2025-04-10")
    assert cache.meta("X")["source"] == "fake"


def test_covered_span_needs_no_fetch(cache):
    cache.write("X", weekdays("2025-04-01", "2025-04-30"), fetched_at=LATER)
    before = cache.path("X").read_bytes()
    fetch = FakeFetch()
    got = cache.update("X", fetch, D(2025, 4, 7), D(2025, 4, 11), today=D(2025, 6, 1))
    assert fetch.calls == []
    assert got["date"].dt.day.tolist() == [7, 8, 9, 10, 11]
    assert cache.path("X").read_bytes() == before


def test_head_and_tail_are_the_only_requests_and_overlap_one_cached_day(cache):
    cache.write("X", weekdays("2025-04-07", "2025-04-18"), fetched_at=LATER)
    fetch = FakeFetch()
    got = cache.update("X", fetch, D(2025, 4, 1), D(2025, 4, 30), today=D(2025, 6, 1))
    assert fetch.calls == [(D(2025, 4, 1), D(2025, 4, 7)), (D(2025, 4, 18), D(2025, 4, 30))]
    pd.testing.assert_frame_equal(got, weekdays("2025-04-01", "2025-04-30"))
    assert (cache.meta("X")["first"], cache.meta("X")["last"]) == (D(2025, 4, 1), D(2025, 4, 30))


def test_provisional_last_bar_is_refetched_and_corrected(cache):
    # Fetched during the session of the 30th: that bar may be intraday, so ask for it again.
    cached = weekdays("2025-04-01", "2025-04-30")
    cached.loc[cached.index[-1], "close"] = 1.0
    cache.write("X", cached, fetched_at=dt.datetime(2025, 4, 30, 3, tzinfo=UTC))
    fetch = FakeFetch()
    got = cache.update("X", fetch, D(2025, 4, 1), D(2025, 4, 30), today=D(2025, 5, 2))
    assert fetch.calls == [(D(2025, 4, 30), D(2025, 4, 30))]
    assert got["close"].iloc[-1] == 120.0                     # day of year of April 30
    assert cache.meta("X")["fetched_at"] > dt.datetime(2025, 4, 30, 3, tzinfo=UTC)


def test_new_rows_win_but_old_rows_are_never_deleted(cache):
    cached = weekdays("2025-04-01", "2025-04-10")
    cache.write("X", cached, fetched_at=LATER)

    def sparse(ticker, start, end):         # re-serves the 10th at another price, lacks the 14th
        return frame(["2025-04-10", "2025-04-11", "2025-04-15"], [1.0, 2.0, 3.0])

    got = cache.update("X", sparse, D(2025, 4, 1), D(2025, 4, 15), today=D(2025, 6, 1))
    assert got["date"].iloc[:8].equals(cached["date"].iloc[:8])
    assert got.set_index("date")["close"]["2025-04-09":].tolist() == [99.0, 1.0, 2.0, 3.0]


@pytest.mark.parametrize("bad", ["raises", "invalid-frame"])
def test_failing_fetch_leaves_the_file_byte_identical(cache, bad):
    cache.write("X", weekdays("2025-04-01", "2025-04-10"), fetched_at=LATER)
    before = cache.path("X").read_bytes()
    if bad == "raises":
        fetch = FakeFetch(error=DataError("Yahoo rate-limited (HTTP 429) ..."))
    else:
        def fetch(ticker, start, end):
            return frame([start, end]).rename(columns={"close": "Close"})
    with pytest.raises(DataError):
        cache.update("X", fetch, D(2025, 3, 1), D(2025, 4, 30), today=D(2025, 6, 1))
    assert cache.path("X").read_bytes() == before
    assert files(cache) == ["X.parquet"]


# -- with the real Yahoo source over the fake server ----------------------------------------
def test_incremental_yahoo_update_requests_only_the_missing_range(cache, fake_yahoo):
    fetch = functools.partial(fetch_yahoo, session=fake_yahoo.session())
    first = cache.update("^N225", fetch, D(2025, 4, 1), D(2025, 4, 10), today=D(2025, 6, 30),
                         source="yahoo")
    assert fake_yahoo.requested_ranges("^N225") == [(D(2025, 4, 1), D(2025, 4, 11))]
    assert first["date"].iloc[-1] == pd.Timestamp("2025-04-10")

    fake_yahoo.clear_requests()
    got = cache.update("^N225", fetch, D(2025, 4, 1), D(2025, 4, 30), today=D(2025, 6, 30))
    # From the last cached day (re-checked) to the end, nothing before it.
    assert fake_yahoo.requested_ranges("^N225") == [(D(2025, 4, 10), D(2025, 5, 1))]
    assert got.loc[got["date"] == "2025-04-17", "close"].item() == 34377.601562
    assert len(got) == len(fetch("^N225", D(2025, 4, 1), D(2025, 4, 30)))
    assert cache.meta("^N225")["source"] == "yahoo"


def test_yahoo_failure_during_update_keeps_cache(cache, fake_yahoo):
    fetch = functools.partial(fetch_yahoo, session=fake_yahoo.session(), sleep=lambda s: None)
    cache.update("^N225", fetch, D(2025, 4, 1), D(2025, 4, 10), today=D(2025, 6, 30))
    before = cache.path("^N225").read_bytes()
    fake_yahoo.fail("^N225", "500")
    with pytest.raises(DataError, match=r"HTTP 500.*after 3 tries"):
        cache.update("^N225", fetch, D(2025, 4, 1), D(2025, 4, 30), today=D(2025, 6, 30))
    assert cache.path("^N225").read_bytes() == before
