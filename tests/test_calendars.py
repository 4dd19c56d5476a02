"""Day 0 is the first session whose close comes strictly after the announcement."""
import pandas as pd
import pytest

from eventstudy.calendars import align, session_closes
from eventstudy.config import SeriesConfig
from eventstudy.events import parse_instant

TOKYO = SeriesConfig(id="N225", name="Nikkei", source="yahoo", ticker="^N225", calendar="XTKS")
NEW_YORK = SeriesConfig(id="GSPC", name="S&P", source="yahoo", ticker="^GSPC", calendar="XNYS")
FX = SeriesConfig(id="USDJPY", name="USD/JPY", source="yahoo", ticker="JPY=X", calendar="24/5",
                  close_time="00:00", close_tz="Europe/London")


def day0(series, when: str) -> pd.Timestamp:
    instant = parse_instant(when)
    events = pd.DataFrame({"event_id": ["e"], "announced_at": [when],
                           "announced_at_utc": [instant.tz_convert("UTC")],
                           "time_precision": ["minute"]})
    return align(events, series, session_closes(series))["day0"].iloc[0]


@pytest.mark.parametrize("when, expected", [
    ("2025-04-02T16:00:00-04:00", "2025-04-03"),   # liberation day, after the NYSE close
    ("2025-04-09T13:18:00-04:00", "2025-04-10"),   # 90-day pause: 02:18 in Tokyo
    ("2025-04-16T17:30:00-04:00", "2025-04-17"),   # talks end in the Washington afternoon
])
def test_tariff_events_nikkei_day0(when, expected):
    assert day0(TOKYO, when) == pd.Timestamp(expected)


def test_tokyo_close_moved_to_1530_on_2024_11_05():
    # 15:10 JST: after the old 15:00 close, before the new 15:30 one.
    assert day0(TOKYO, "2024-11-01T15:10:00+09:00") == pd.Timestamp("2024-11-05")  # Nov 4 holiday
    assert day0(TOKYO, "2024-11-05T15:10:00+09:00") == pd.Timestamp("2024-11-05")
    closes = session_closes(TOKYO)
    assert closes[pd.Timestamp("2024-11-01")] == pd.Timestamp("2024-11-01 06:00", tz="UTC")
    assert closes[pd.Timestamp("2024-11-05")] == pd.Timestamp("2024-11-05 06:30", tz="UTC")


def test_weekend_announcement_goes_to_monday():
    # Saturday 2025-04-05 noon in Washington -> Monday 04-07 in Tokyo and New York
    assert day0(TOKYO, "2025-04-05T12:00:00-04:00") == pd.Timestamp("2025-04-07")
    assert day0(NEW_YORK, "2025-04-05T12:00:00-04:00") == pd.Timestamp("2025-04-07")


def test_announcement_exactly_at_the_close_belongs_to_the_next_session():
    assert day0(NEW_YORK, "2025-04-02T16:00:00-04:00") == pd.Timestamp("2025-04-03")
    assert day0(NEW_YORK, "2025-04-02T15:59:00-04:00") == pd.Timestamp("2025-04-02")


def test_holiday_announcement_goes_to_next_session():
    # Good Friday 2025-04-18: NYSE closed
    assert day0(NEW_YORK, "2025-04-18T10:00:00-04:00") == pd.Timestamp("2025-04-21")


def test_fx_bar_closes_at_london_midnight_at_its_start():
    # Yahoo's FX "close" for date D is the quote at 00:00 London on D (23:00 UTC on D-1 in BST).
    closes = session_closes(FX)
    assert closes[pd.Timestamp("2025-04-03")] == pd.Timestamp("2025-04-02 23:00", tz="UTC")
    assert closes[pd.Timestamp("2025-01-06")] == pd.Timestamp("2025-01-06 00:00", tz="UTC")
    assert day0(FX, "2025-04-02T16:00:00-04:00") == pd.Timestamp("2025-04-03")
    assert day0(FX, "2025-04-09T13:18:00-04:00") == pd.Timestamp("2025-04-10")


def test_alignment_is_vectorised_and_keeps_event_order():
    whens = ["2025-04-16T17:30:00-04:00", "2025-04-02T16:00:00-04:00"]
    events = pd.DataFrame({"event_id": ["b", "a"], "announced_at": whens,
                           "announced_at_utc": [parse_instant(w).tz_convert("UTC") for w in whens],
                           "time_precision": ["hour", "minute"]})
    out = align(events, TOKYO, session_closes(TOKYO))
    assert out["event_id"].tolist() == ["b", "a"]
    assert out["day0"].tolist() == [pd.Timestamp("2025-04-17"), pd.Timestamp("2025-04-03")]
    assert (out["prev_close_utc"] < out["announced_at_utc"]).all()
    assert (out["day0_close_utc"] > out["announced_at_utc"]).all()
