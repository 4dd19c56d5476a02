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
from eventstudy.data.cache import (REBASE_TOLERANCE, CacheCorruptWarning, CacheRebasedWarning,
                                   CacheUnverifiedWarning, PriceCache)
from eventstudy.data.yahoo import fetch_yahoo
from eventstudy.errors import DataError, NetworkError

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
                                   "first": D(2025, 4, 1), "last": D(2025, 4, 30),
                                   "source": "yahoo", "ticker": "^N225", "vendor": "yahoo"}
    raw = pq.read_schema(cache.path("^N225")).metadata
    assert raw[b"fetched_at"] == b"2025-05-01T09:00:00+00:00"
    assert (raw[b"ticker"], raw[b"vendor"]) == (b"^N225", b"yahoo")


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
    # Fetched during the session of the 30th: that bar may be intraday, so ask for it again,
    # from the final bar before it (the 29th), which must be re-served unchanged.
    cached = weekdays("2025-04-01", "2025-04-30")
    cached.loc[cached.index[-1], "close"] = 1.0
    cache.write("X", cached, fetched_at=dt.datetime(2025, 4, 30, 3, tzinfo=UTC))
    fetch = FakeFetch()
    got = cache.update("X", fetch, D(2025, 4, 1), D(2025, 4, 30), today=D(2025, 5, 2))
    assert fetch.calls == [(D(2025, 4, 29), D(2025, 4, 30))]
    assert got["close"].iloc[-1] == 120.0                     # day of year of April 30
    assert cache.meta("X")["fetched_at"] > dt.datetime(2025, 4, 30, 3, tzinfo=UTC)


def test_new_rows_win_but_old_rows_are_never_deleted(cache):
    cached = weekdays("2025-04-01", "2025-04-10")
    cache.write("X", cached, fetched_at=LATER)

    def sparse(ticker, start, end):         # re-serves the 10th (same close), lacks the 14th
        return frame(["2025-04-10", "2025-04-11", "2025-04-15"], [100.0, 2.0, 3.0])

    got = cache.update("X", sparse, D(2025, 4, 1), D(2025, 4, 15), today=D(2025, 6, 1))
    assert got["date"].iloc[:8].equals(cached["date"].iloc[:8])
    assert got.set_index("date")["close"]["2025-04-09":].tolist() == [99.0, 100.0, 2.0, 3.0]


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


# -- issue #11 item 7: a vendor that re-bases its history between runs --------------------------
def test_rebased_tail_overlap_refetches_the_whole_history_once(cache):
    # Cached on the old basis; then a 2:1 split: the vendor now serves every close halved.
    cache.write("X", weekdays("2025-03-03", "2025-04-10"), fetched_at=LATER)
    fetch = FakeFetch(scale=0.5)
    with pytest.warns(CacheRebasedWarning) as caught:
        got = cache.update("X", fetch, D(2025, 3, 3), D(2025, 4, 30), today=D(2025, 6, 1))
    assert len(caught) == 1
    assert str(caught[0].message).endswith(
        "the vendor's close of X on 2025-04-10 is now 50, cached 100 (x0.5): its history was "
        "re-based since it was cached (a split, a dividend or a correction); fetched the whole "
        "history 2025-03-03..2025-04-30 again")
    # the tail, then the whole span; no bar of the old basis is left beside the new ones
    assert fetch.calls == [(D(2025, 4, 10), D(2025, 4, 30)), (D(2025, 3, 3), D(2025, 4, 30))]
    pd.testing.assert_frame_equal(got, weekdays("2025-03-03", "2025-04-30", 0.5))
    pd.testing.assert_frame_equal(cache.read("X"), got)
    ret = np.log(got["close"]).diff().dropna()
    assert ret.min() > -0.5                                     # no -69 % seam in the returns


def test_rebased_head_overlap_is_found_too(cache):
    cache.write("X", weekdays("2025-04-07", "2025-04-30"), fetched_at=LATER)
    fetch = FakeFetch(scale=2.0)
    with pytest.warns(CacheRebasedWarning, match="on 2025-04-07 is now 194, cached 97 "):
        got = cache.update("X", fetch, D(2025, 4, 1), D(2025, 4, 30), today=D(2025, 6, 1))
    assert fetch.calls == [(D(2025, 4, 1), D(2025, 4, 7)), (D(2025, 4, 1), D(2025, 4, 30))]
    pd.testing.assert_frame_equal(got, weekdays("2025-04-01", "2025-04-30", 2.0))


def test_changes_within_the_tolerance_are_not_a_rebase(cache, recwarn):
    cache.write("X", weekdays("2025-04-01", "2025-04-10"), fetched_at=LATER)
    fetch = FakeFetch(scale=1 + REBASE_TOLERANCE / 2)      # float noise: kept incremental
    cache.update("X", fetch, D(2025, 4, 1), D(2025, 4, 15), today=D(2025, 6, 1))
    assert fetch.calls == [(D(2025, 4, 10), D(2025, 4, 15))]
    assert not [w for w in recwarn if issubclass(w.category, CacheCorruptWarning)]
    fetch = FakeFetch(scale=1 + 3 * REBASE_TOLERANCE)     # a 0.0003 % dividend adjustment is not
    with pytest.warns(CacheRebasedWarning):
        cache.update("X", fetch, D(2025, 4, 1), D(2025, 4, 18), today=D(2025, 6, 1))
    assert len(fetch.calls) == 2


def test_a_provisional_last_bar_may_change_without_a_rebase(cache, recwarn):
    cached = weekdays("2025-04-01", "2025-04-30")
    cached.loc[cached.index[-1], "close"] = 1.0               # an intraday value
    cache.write("X", cached, fetched_at=dt.datetime(2025, 4, 30, 3, tzinfo=UTC))
    fetch = FakeFetch()
    cache.update("X", fetch, D(2025, 4, 1), D(2025, 5, 2), today=D(2025, 5, 2))
    assert fetch.calls == [(D(2025, 4, 29), D(2025, 5, 2))]
    assert not [w for w in recwarn if issubclass(w.category, CacheCorruptWarning)]


def test_a_failed_whole_refetch_leaves_the_old_file(cache):
    cache.write("X", weekdays("2025-03-03", "2025-04-10"), fetched_at=LATER)
    before = cache.path("X").read_bytes()
    calls = []

    def rebased_then_down(ticker, start, end):
        calls.append((start, end))
        if len(calls) > 1:
            raise DataError("Yahoo server error (HTTP 500) ...")
        return weekdays(start, end, 0.5)

    with pytest.raises(DataError, match="HTTP 500"):
        cache.update("X", rebased_then_down, D(2025, 3, 3), D(2025, 4, 30), today=D(2025, 6, 1))
    assert len(calls) == 2
    assert cache.path("X").read_bytes() == before and files(cache) == ["X.parquet"]


# -- issue #11 item 9: a cache file of another ticker -------------------------------------------
def test_a_file_of_another_ticker_is_set_aside_and_refetched(cache):
    cache.write("^GSPC", weekdays("2025-04-01", "2025-04-30", 0.1), fetched_at=LATER)
    cache.path("^N225").write_bytes(cache.path("^GSPC").read_bytes())   # copied over
    with pytest.warns(CacheCorruptWarning, match=r"_N225\.parquet: holds the prices of \^GSPC, "
                                                 r"not of \^N225; moved aside to _N225\.parquet"
                                                 r"\.corrupt-") as caught:
        assert cache.read("^N225") is None
    assert len(caught) == 1
    assert cache.read("^GSPC") is not None                             # the original is fine
    fetch = FakeFetch()
    got = cache.update("^N225", fetch, D(2025, 4, 1), D(2025, 4, 30), today=D(2025, 6, 1))
    assert fetch.calls == [(D(2025, 4, 1), D(2025, 4, 30))]
    pd.testing.assert_frame_equal(got, weekdays("2025-04-01", "2025-04-30"))
    assert cache.meta("^N225")["ticker"] == "^N225"


def test_a_file_of_another_vendor_is_refused(cache):
    cache.write("fred-DEXJPUS", weekdays("2025-04-01", "2025-04-30"), fetched_at=LATER)
    meta = pq.read_schema(cache.path("fred-DEXJPUS")).metadata
    table = pq.read_table(cache.path("fred-DEXJPUS")).replace_schema_metadata(
        {**meta, b"vendor": b"yahoo"})
    pq.write_table(table, cache.path("fred-DEXJPUS"))
    with pytest.warns(CacheCorruptWarning, match="holds yahoo prices, not fred ones"):
        assert cache.read("fred-DEXJPUS") is None


def _legacy(cache, ticker, df):
    """A file as written before #11: no ticker or vendor in its metadata."""
    cache.write(ticker, df, fetched_at=LATER)
    meta = {k: v for k, v in pq.read_schema(cache.path(ticker)).metadata.items()
            if k not in (b"ticker", b"vendor")}
    pq.write_table(pq.read_table(cache.path(ticker)).replace_schema_metadata(meta),
                   cache.path(ticker))


def test_an_unverified_file_is_refetched_whole_when_online(cache, recwarn):
    _legacy(cache, "^N225", weekdays("2025-03-03", "2025-04-10", 0.1))   # really another index
    fetch = FakeFetch()
    got = cache.update("^N225", fetch, D(2025, 4, 1), D(2025, 4, 30), today=D(2025, 6, 1))
    assert fetch.calls == [(D(2025, 3, 3), D(2025, 4, 30))]               # its whole span
    pd.testing.assert_frame_equal(got, weekdays("2025-04-01", "2025-04-30"))
    assert cache.meta("^N225")["ticker"] == "^N225"
    assert cache.read("^N225")["date"].iloc[0] == pd.Timestamp("2025-03-03")
    assert not [w for w in recwarn if issubclass(w.category, CacheCorruptWarning)]


def test_an_unverified_file_is_used_offline_with_one_warning(cache):
    _legacy(cache, "^N225", weekdays("2025-03-03", "2025-04-10"))
    with pytest.warns(CacheUnverifiedWarning) as caught:
        got = cache.read("^N225")
        meta = cache.meta("^N225")
    assert len(caught) == 1                    # once per PriceCache (one run), however often read
    assert "_N225.parquet: written by an older version without its ticker" in str(caught[0].message)
    assert meta["ticker"] is None
    pd.testing.assert_frame_equal(got, weekdays("2025-03-03", "2025-04-10"))


def test_an_unverified_file_whose_refetch_fails_is_left_as_it_was(cache):
    _legacy(cache, "^N225", weekdays("2025-03-03", "2025-04-10"))
    before = cache.path("^N225").read_bytes()
    with pytest.raises(DataError):
        cache.update("^N225", FakeFetch(error=DataError("down")), D(2025, 4, 1), D(2025, 4, 30),
                     today=D(2025, 6, 1))
    assert cache.path("^N225").read_bytes() == before


# -- issue #11 item 10: holes in the vendor's answer are asked for again -------------------------
def test_holes_inside_the_needed_range_are_asked_for_once_per_run(tmp_path):
    full = weekdays("2025-04-01", "2025-04-30")
    holed = full[~full["date"].isin(pd.to_datetime(["2025-04-08", "2025-04-09", "2025-04-22"]))]
    PriceCache(tmp_path).write("X", holed.reset_index(drop=True), fetched_at=LATER)
    sessions = pd.bdate_range("2025-01-01", "2025-12-31")
    run = PriceCache(tmp_path)
    fetch = FakeFetch()                                     # the vendor has healed
    got = run.update("X", fetch, D(2025, 4, 1), D(2025, 4, 30), today=D(2025, 6, 1),
                     sessions=sessions)
    assert fetch.calls == [(D(2025, 4, 8), D(2025, 4, 22))]  # one request, first to last hole
    pd.testing.assert_frame_equal(got, full)
    pd.testing.assert_frame_equal(PriceCache(tmp_path).read("X"), full)
    run.update("X", fetch, D(2025, 4, 1), D(2025, 4, 30), today=D(2025, 6, 1), sessions=sessions)
    assert len(fetch.calls) == 1                            # nothing missing any more


def test_holes_the_vendor_still_lacks_stay_gaps_and_are_not_asked_again_this_run(tmp_path):
    full = weekdays("2025-04-01", "2025-04-30")
    holed = full[full["date"] != "2025-04-15"].reset_index(drop=True)
    PriceCache(tmp_path).write("X", holed, fetched_at=LATER)
    before = PriceCache(tmp_path).path("X").read_bytes()
    sessions = pd.bdate_range("2025-01-01", "2025-12-31")
    calls = []

    def still_holed(ticker, start, end):
        calls.append((start, end))
        if start == end:
            raise DataError(f"Yahoo returned no prices for {ticker} between {start} and {end}")
        return holed[(holed["date"] >= pd.Timestamp(start)) & (holed["date"] <= pd.Timestamp(end))]

    run = PriceCache(tmp_path)
    for _ in range(2):
        got = run.update("X", still_holed, D(2025, 4, 1), D(2025, 4, 30), today=D(2025, 6, 1),
                         sessions=sessions)
        pd.testing.assert_frame_equal(got, holed)
    assert calls == [(D(2025, 4, 15), D(2025, 4, 15))]       # once per run, not an error
    assert PriceCache(tmp_path).path("X").read_bytes() == before
    PriceCache(tmp_path).update("X", still_holed, D(2025, 4, 1), D(2025, 4, 30),
                                today=D(2025, 6, 1), sessions=sessions)
    assert len(calls) == 2                                   # the next run asks again


def test_holes_outside_the_needed_range_are_left_alone(cache):
    full = weekdays("2025-03-03", "2025-04-30")
    cache.write("X", full[full["date"] != "2025-03-12"].reset_index(drop=True), fetched_at=LATER)
    fetch = FakeFetch()
    cache.update("X", fetch, D(2025, 4, 1), D(2025, 4, 30), today=D(2025, 6, 1),
                 sessions=pd.bdate_range("2025-01-01", "2025-12-31"))
    assert fetch.calls == []


def test_a_hole_refetch_that_cannot_reach_the_vendor_raises(cache):
    full = weekdays("2025-04-01", "2025-04-30")
    cache.write("X", full[full["date"] != "2025-04-15"].reset_index(drop=True), fetched_at=LATER)
    before = cache.path("X").read_bytes()
    with pytest.raises(NetworkError):
        cache.update("X", FakeFetch(error=NetworkError("could not reach Yahoo")), D(2025, 4, 1),
                     D(2025, 4, 30), today=D(2025, 6, 1),
                     sessions=pd.bdate_range("2025-01-01", "2025-12-31"))
    assert cache.path("X").read_bytes() == before


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
