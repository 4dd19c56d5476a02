"""Firm-specific events (events.load_firm_events): one (event, security) pair a row, the same
instant rules and one-line errors as events.csv."""
from __future__ import annotations

import pandas as pd
import pytest

from eventstudy.errors import InputError
from eventstudy.events import load_firm_events

HEADER = "event_id,security,announced_at,time_precision,category,surprise\n"
GOOD = HEADER + (
    "7203-2025Q1,7203.T,2025-05-08 13:55 Asia/Tokyo,minute,earnings,0.042\n"
    "7267-2025Q1,7267.T,2025-05-13 15:30 Asia/Tokyo,minute,earnings,-0.013\n"
    "AAPL-2025Q2,AAPL,2025-05-01T16:30:00-04:00,,earnings,\n"
    "sector-news,7203.T,2025-05-02T09:00:00+09:00,hour,news,\n"
    "sector-news,7267.T,2025-05-02T09:00:00+09:00,hour,news,\n")


def load(tmp_path, text: str, name: str = "earnings.csv") -> pd.DataFrame:
    path = tmp_path / name
    path.write_text(text, "utf-8")
    return load_firm_events(path)


def test_parses_pairs_sorted_by_instant(tmp_path):
    f = load(tmp_path, GOOD)
    assert list(f.columns) == ["event_id", "security", "announced_at", "announced_at_utc",
                               "time_precision", "category", "surprise", "row"]
    assert list(zip(f["event_id"], f["security"])) == [
        ("AAPL-2025Q2", "AAPL"), ("sector-news", "7203.T"), ("sector-news", "7267.T"),
        ("7203-2025Q1", "7203.T"), ("7267-2025Q1", "7267.T")]
    # 13:55 Tokyo (UTC+9) is 04:55 UTC; 16:30 New York (EDT, UTC-4) is 20:30 UTC
    assert f.loc[3, "announced_at_utc"] == pd.Timestamp("2025-05-08 04:55", tz="UTC")
    assert f.loc[0, "announced_at_utc"] == pd.Timestamp("2025-05-01 20:30", tz="UTC")
    assert f.loc[0, "time_precision"] == "minute"          # blank: the default
    assert f["surprise"].dtype == "float64" and f.loc[3, "surprise"] == 0.042
    assert pd.isna(f.loc[0, "surprise"])
    assert list(f["row"]) == [4, 5, 6, 2, 3]
    assert f.attrs["file"].endswith("earnings.csv")


def test_minimal_columns_and_text_metadata(tmp_path):
    f = load(tmp_path, "\ufeffsecurity,event_id,announced_at,note\n"
                       "X,e1,2025-05-01T16:30:00Z,\"beat, raised\"\n")
    assert f.loc[0, "category"] == "" and f.loc[0, "note"] == "beat, raised"
    assert f.loc[0, "announced_at_utc"] == pd.Timestamp("2025-05-01 16:30", tz="UTC")


BAD = [
    ("naive time", "e1,X,2025-05-01 16:30,minute,earnings,\n",
     "row 2, field announced_at: naive timestamp '2025-05-01 16:30' (add a UTC offset such as "
     "-04:00 or a zone name such as America/New_York)"),
    ("duplicate pair", "e1,X,2025-05-01T16:30Z,,,\ne1,X,2025-05-02T16:30Z,,,\n",
     "row 3, field event_id: duplicate pair (e1, X) (first on row 2)"),
    ("bad event id", "e 1,X,2025-05-01T16:30Z,,,\n",
     "row 2, field event_id: event_id 'e 1' may hold only letters, digits, '.', '_' and '-'"),
    ("formula event id", "=e1,X,2025-05-01T16:30Z,,,\n",
     "row 2, field event_id: event_id '=e1' may hold only letters, digits, '.', '_' and '-'"),
    ("empty security", "e1,,2025-05-01T16:30Z,,,\n", "row 2, field security: empty security"),
    ("formula security", "e1,@X,2025-05-01T16:30Z,,,\n",
     "row 2, field security: security '@X' starts with a formula character or holds a control "
     "character"),
    ("bad precision", "e1,X,2025-05-01T16:30Z,minutes,,\n",
     "row 2, field time_precision: 'minutes' is not one of minute, hour, day (did you mean "
     "'minute'?)"),
    ("ragged row", "e1,X,2025-05-01T16:30Z\n",
     "row 2: 3 fields where the header has 6 (quote values that contain commas)"),
    ("abbreviated zone", "e1,X,2025-05-01 16:30 EST,,,\n",
     "row 2, field announced_at: 'EST' in '2025-05-01 16:30 EST' is not a time zone name: "
     "abbreviations are ambiguous (use a UTC offset such as -04:00 or a zone name such as "
     "America/New_York)"),
]


@pytest.mark.parametrize("what,rows,expected", BAD, ids=[b[0] for b in BAD])
def test_bad_rows_are_one_line(tmp_path, what, rows, expected):
    with pytest.raises(InputError) as err:
        load(tmp_path, HEADER + rows, "bad.csv")
    line = str(err.value)
    assert "\n" not in line
    assert line == f"{tmp_path / 'bad.csv'}, {expected}"


@pytest.mark.parametrize("text,expected", [
    ("", ": empty file: expected a header row (event_id,security,announced_at)"),
    (HEADER, ": no events (only a header)"),
    ("event_id,securty,announced_at\n", ", row 1: missing column security (did you mean "
                                         "'securty'?) (found: event_id, securty, announced_at)"),
    ("event_id,security,announced_at,row\n", ", row 1, field row: column 'row' is computed by "
                                             "the tool: rename it"),
    ("event_id,security,announced_at,security\n", ", row 1: column 'security' appears twice"),
])
def test_bad_files(tmp_path, text, expected):
    with pytest.raises(InputError) as err:
        load(tmp_path, text, "bad.csv")
    assert str(err.value) == f"{tmp_path / 'bad.csv'}{expected}"


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="file not found"):
        load_firm_events(tmp_path / "nope.csv")


# ---------------------------------------------------------------- the column-wise reader
def _row_by_row(path):
    """The row reader's frame; and the column reader must have read the file itself."""
    from eventstudy import events
    text = events._read_text(path)
    rows, header = events._header(text, str(path), events.FIRM_REQUIRED)
    assert events._firm_columns(text, rows, header, str(path)) is not None
    rows, header = events._header(text, str(path), events.FIRM_REQUIRED)
    return events._firm_rows(rows, header, str(path))


@pytest.mark.parametrize("text", [
    GOOD,
    GOOD.replace("\n", "\r\n"),                                        # Windows line ends
    HEADER + " e1 , X ,2025-05-01T16:30Z , hour ,news, 1.5\n",          # padded cells
    HEADER + "e1,X,2025-05-01 16:30:00.123456789 UTC,,,\n"              # ns: the finest unit
             "e2,X,2025-05-01 09:00 UTC+9,,,\n"                         # a person's UTC+9
             "e3,Y,2025-05-01 09:00 Etc/GMT-9,,,\n"                     # tzdb's sign
             "e4,Y,2025-03-09 01:30 America/New_York,,,\n"
             "e5,Y,2025-05-01 12:00:00 Europe/London,day,,\n",
    "security,event_id,announced_at,note\nX,e1,2025-05-01T16:30:00Z,\"beat, raised\"\n"
    "Y,e1,2025-05-01T16:30:00Z,\"in \"\"quotes\"\"\"\n",              # quoted cells
    HEADER + "e1,Ä,2025-05-01T16:30Z,,,\n",                             # non-ASCII security
])
def test_column_reader_equals_row_reader(tmp_path, text):
    path = tmp_path / "f.csv"
    path.write_bytes(text.encode("utf-8"))
    pd.testing.assert_frame_equal(load_firm_events(path), _row_by_row(path))


def test_column_reader_on_many_random_rows(tmp_path):
    """Random zones and offsets, ids shared by three securities, many equal instants (the
    sort's ties), numeric metadata."""
    import numpy as np
    rng = np.random.default_rng(5)
    n = 3000
    zones = np.array(["America/New_York", "Asia/Tokyo", "Europe/London", "UTC"])
    day = pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 1500, n), "D")
    minute = rng.integers(0, 24 * 60, n)
    stamp = day + pd.to_timedelta(minute, "min")
    zoned = [f"{s:%Y-%m-%d %H:%M} {z}" for s, z in zip(stamp, rng.choice(zones, n))]
    iso = [f"{s:%Y-%m-%dT%H:%M:%S}{o}" for s, o in zip(stamp, rng.choice(
        ["Z", "+09:00", "-04:00", "+05:30"], n))]
    when = np.where(rng.random(n) < 0.5, zoned, iso)
    when[rng.random(n) < 0.3] = "2024-06-03 10:00 America/New_York"     # ties on the instant
    rows = [f"ev{i // 3},S{i % 97},{w},{rng.choice(['', 'day', 'hour'])},"
            f"cat,{rng.normal():.4f}" for i, w in enumerate(when)]
    path = tmp_path / "many.csv"
    path.write_text(HEADER + "\n".join(rows) + "\n", "utf-8")
    pd.testing.assert_frame_equal(load_firm_events(path), _row_by_row(path))


def test_bad_row_after_many_good_ones_is_worded_by_the_row_reader(tmp_path):
    good = "".join(f"e{i},X{i},2025-05-01T16:30Z,,,\n" for i in range(2000))
    with pytest.raises(InputError) as err:
        load(tmp_path, HEADER + good + "e1,X1,2025-05-02T16:30Z,,,\n", "bad.csv")
    assert str(err.value).endswith("row 2002, field event_id: duplicate pair (e1, X1) (first "
                                   "on row 3)")
    with pytest.raises(InputError) as err:
        load(tmp_path, HEADER + good + "e,Y,2025-03-09 02:30 America/New_York,,,\n", "bad.csv")
    assert "row 2002, field announced_at:" in str(err.value) and "does not exist" in str(
        err.value)
