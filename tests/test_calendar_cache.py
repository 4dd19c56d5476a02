"""Session-close tables are kept a day on disk (building XNYS takes ~0.15 s a process): the
stored table must be the built one, and a bad file must be ignored, never trusted."""
import pandas as pd
import pytest

from eventstudy import calendars


def test_a_stored_table_is_the_built_one_and_a_bad_file_is_no_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("EVENTSTUDY_CACHE", str(tmp_path))
    for rule in [("XNYS", None, None), ("24/5", "00:00", "Europe/London")]:
        built = calendars._build_closes(*rule)
        assert calendars._stored_closes(*rule) is None
        calendars._store_closes(built, *rule)
        stored = calendars._stored_closes(*rule)
        pd.testing.assert_series_equal(stored, built, check_exact=True, check_freq=False)
        path = calendars._closes_file(*rule)
        assert path.parent.parent.name == "calendars" and path.is_file()
        path.write_bytes(b"PAR1 not a parquet file")
        assert calendars._stored_closes(*rule) is None


def test_the_exchange_zone_comes_from_the_stored_table(tmp_path, monkeypatch):
    """A report needs each calendar's zone: read from today's table, not by building the
    calendar again (0.15 s) and importing exchange_calendars (0.4 s)."""
    monkeypatch.setenv("EVENTSTUDY_CACHE", str(tmp_path))
    calendars.exchange_zone.cache_clear()
    calendars._store_closes(calendars._build_closes("XTKS", None, None), "XTKS", None, None)

    def no_calendar(code):
        raise AssertionError(f"built the {code} calendar")

    monkeypatch.setattr(calendars, "_calendar", no_calendar)
    assert calendars.exchange_zone("XTKS") == "Asia/Tokyo"
    calendars.exchange_zone.cache_clear()
    calendars._closes_file("XTKS", None, None).unlink()       # no table: the calendar is built
    with pytest.raises(AssertionError, match="built the XTKS calendar"):
        calendars.exchange_zone("XTKS")
    calendars.exchange_zone.cache_clear()
