"""Session-close tables are kept a day on disk (building XNYS takes ~0.15 s a process): the
stored table must be the built one, and a bad file must be ignored, never trusted."""
import pandas as pd

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
