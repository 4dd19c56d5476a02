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


# -- issue #11 item 6: 'UTC+9' is +09:00, never the POSIX -09:00 --------------------------------
@pytest.mark.parametrize("text, utc", [
    # the reproduction: 14:00 at UTC+9 is 05:00 UTC (it was read as 23:00 UTC)
    ("2025-05-01 14:00 UTC+9", "2025-05-01 05:00"),
    ("2025-05-01 14:00 UTC-4", "2025-05-01 18:00"),
    ("2025-05-01 14:00 GMT+3", "2025-05-01 11:00"),
    ("2025-05-01T14:00UTC+09:00", "2025-05-01 05:00"),
    ("2025-05-01 14:00 UTC +9", "2025-05-01 05:00"),      # was read as 14:00 UTC, offset dropped
    ("2025-05-01 14:00 utc+5:30", "2025-05-01 08:30"),
    # tzdb's Etc/GMT zones keep their own inverted sign: Etc/GMT-9 is +09:00
    ("2025-05-01 14:00 Etc/GMT-9", "2025-05-01 05:00"),
    ("2025-05-01 14:00 Etc/GMT+4", "2025-05-01 18:00"),
])
def test_utc_plus_n_is_read_as_a_person_means_it(text, utc):
    assert parse_instant(text) == pd.Timestamp(utc, tz="UTC")


def test_utc_plus_n_gives_the_same_nikkei_day_as_the_iso_offset():
    # 14:00 Tokyo is before the 15:30 close: day 0 is that session, not the next one
    assert parse_instant("2025-05-01 14:00 UTC+9") == parse_instant("2025-05-01T14:00+09:00")
    assert parse_instant("2025-05-01 14:00 UTC+9").tz_convert("Asia/Tokyo").hour == 14


@pytest.mark.parametrize("text, message", [
    ("2025-05-01 14:00 EST+5", "'EST+5' in '2025-05-01 14:00 EST+5' is ambiguous: POSIX reads it "
                               "as UTC-05:00, a person may mean UTC+05:00 (write an ISO offset: "
                               "2025-05-01T14:00+05:00 or 2025-05-01T14:00-05:00)"),
    ("2025-05-01 14:00 JST-9", "ambiguous: POSIX reads it as UTC+09:00"),
    ("2025-05-01 14:00Z+9", "ambiguous"),
    ("2025-05-01 14:00 UTC+15", "no time zone is UTC+15:00"),
    ("2025-05-01 UTC+9", "has no time of day"),
    ("2025-05-01 14:00+09:00 UTC+9", "has two UTC offsets"),
])
def test_other_named_offsets_are_refused_in_one_line(text, message):
    with pytest.raises(ValueError) as err:
        parse_instant(text)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_events_file_with_utc_plus_n_gives_the_person_instant():
    text = HEADER + "a,2025-05-01 14:00 UTC+9,A,talks,x\nb,2025-05-01 14:00 Etc/GMT-9,B,talks,x\n"
    events = read_events_text(text, "ev.csv")
    assert (events["announced_at_utc"] == pd.Timestamp("2025-05-01 05:00", tz="UTC")).all()


# -- scope: market_wide events (the benchmark market reacted to the news itself) -------------------
def test_scope_column_is_optional_and_defaults_to_local():
    events = read_events_text(HEADER + "a,2025-04-02T16:00:00-04:00,A,escalation,x\n", "f")
    assert events["scope"].tolist() == ["local"]


def test_scope_values_are_validated():
    text = ("event_id,announced_at,title,category,source,scope\n"
            "a,2025-04-02T16:00:00-04:00,A,escalation,x,market_wide\n"
            "b,2025-04-03T16:00:00-04:00,B,escalation,x,\n"
            "c,2025-04-04T16:00:00-04:00,C,escalation,x,local\n")
    assert read_events_text(text, "f")["scope"].tolist() == ["market_wide", "local", "local"]
    with pytest.raises(InputError) as err:
        read_events_text(text.replace("x,local", "x,market-wide"), "ev.csv")
    assert str(err.value) == ("ev.csv, row 4, field scope: scope 'market-wide' is not one of "
                              "market_wide, local (or empty for local) (did you mean "
                              "'market_wide'?)")


def test_misspelt_scope_column_is_named():
    text = "event_id,announced_at,title,category,source,scpoe\na,2025-04-02T16:00Z,A,c,x,\n"
    with pytest.raises(InputError, match=r"unknown column 'scpoe' \(did you mean 'scope'\?\)"):
        read_events_text(text, "f")


def test_repository_events_mark_the_market_wide_events():
    events = load_events("events.csv").set_index("event_id")
    wide = set(events.index[events["scope"] == "market_wide"])
    assert wide == {"liberation-day", "tariff-pause"}


def test_events_list_shows_the_instant_an_etc_gmt_zone_became(tmp_path):
    from click.testing import CliRunner

    from eventstudy.cli import main
    path = tmp_path / "events.csv"
    path.write_text(HEADER + "tokyo,2025-05-01 14:00 Etc/GMT-9,A,talks,x\n"
                             "person,2025-05-01 14:00 UTC+9,B,talks,x\n")
    res = CliRunner().invoke(main, ["events", "list", "--events", str(path)])
    assert res.exit_code == 0, res.output
    for line in res.stdout.splitlines():
        assert "2025-05-01 05:00 UTC" in line and "05-01 14:00 JST" in line, line
