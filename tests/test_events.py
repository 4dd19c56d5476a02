import pandas as pd
import pytest

from eventstudy.errors import InputError
from eventstudy.events import add_event, load_events, parse_instant, read_events_text

HEADER = "event_id,announced_at,title,category,source\n"


def test_parse_instant_offset_and_zone_name_agree():
    a = parse_instant("2025-04-02T16:00:00-04:00")
    b = parse_instant("2025-04-02 16:00 America/New_York")
    assert a == b == pd.Timestamp("2025-04-02 20:00", tz="UTC")


@pytest.mark.parametrize("text, message", [
    ("2025-04-02 16:00", "naive timestamp"),
    ("2025-04-02 16:00 Mars/Olympus", "unknown time zone 'Mars/Olympus'"),
    ("yesterday", "cannot parse timestamp"),
    ("", "empty timestamp"),
])
def test_parse_instant_refuses(text, message):
    with pytest.raises(ValueError, match=message):
        parse_instant(text)


def test_rows_are_validated_with_file_row_and_field():
    text = HEADER + "a,2025-04-02T16:00:00-04:00,A,escalation,x\n" \
                    "a,2025-04-03T16:00:00-04:00,B,escalation,x\n"
    with pytest.raises(InputError) as err:
        read_events_text(text, "ev.csv")
    assert str(err.value) == ("ev.csv, row 3, field event_id: duplicate event_id 'a' "
                              "(first on row 2)")


def test_shuffled_rows_give_the_same_frame():
    rows = ["a,2025-04-02T16:00:00-04:00,A,escalation,x\n",
            "b,2025-04-09T13:18:00-04:00,B,de-escalation,y\n",
            "c,2025-03-26T16:00:00-04:00,C,escalation,z\n"]
    one = read_events_text(HEADER + "".join(rows), "f").drop(columns="row")
    two = read_events_text(HEADER + "".join(reversed(rows)), "f").drop(columns="row")
    pd.testing.assert_frame_equal(one, two)
    assert one["event_id"].tolist() == ["c", "a", "b"]


def test_add_event_is_atomic_and_validated(tmp_path):
    path = tmp_path / "events.csv"
    path.write_text(HEADER + "a,2025-04-02T16:00:00-04:00,A,escalation,x\n")
    before = path.read_bytes()
    with pytest.raises(InputError, match="naive timestamp"):
        add_event(path, event_id="b", announced_at="2025-04-03 10:00", title="B",
                  category="escalation", source="y")
    assert path.read_bytes() == before
    events = add_event(path, event_id="b", announced_at="2025-04-03T10:00:00-04:00",
                       title="B, with a comma", category="escalation", source="y")
    assert events["event_id"].tolist() == ["a", "b"]
    assert load_events(path)["title"].tolist() == ["A", "B, with a comma"]


def test_repository_events_file_is_valid_and_has_the_founding_events():
    events = load_events("events.csv")
    ids = set(events["event_id"])
    assert {"liberation-day", "tariff-pause", "us-japan-talks-1"} <= ids
    assert events["source"].str.startswith("http").all()
    lib = events.set_index("event_id").loc["liberation-day", "announced_at_utc"]
    assert lib == pd.Timestamp("2025-04-02 20:00", tz="UTC")
