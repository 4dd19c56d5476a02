"""read_price_csv checks every row (its row loop runs in C since issue #12's cold start work):
blank rows are skipped but keep the spreadsheet's row numbers, a short or long row is named by
its row, and a file of blank rows has no prices."""
from __future__ import annotations

import pandas as pd
import pytest

from eventstudy.data.prices import read_price_csv
from eventstudy.errors import InputError


def write(tmp_path, text: str):
    path = tmp_path / "p.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_blank_rows_are_skipped_and_rows_are_sorted_by_date(tmp_path):
    path = write(tmp_path, "date,close\n2024-01-03, 11.5 \n\n , \n2024-01-02,10\n\n")
    frame = read_price_csv(path)
    assert frame["date"].tolist() == [pd.Timestamp("2024-01-02"), pd.Timestamp("2024-01-03")]
    assert frame["close"].tolist() == [10.0, 11.5]


@pytest.mark.parametrize("text, message", [
    ("date,close\n2024-01-02,10\n\n \n2024-01-03,11,7\n", "row 5: 3 fields where the header has 2"),
    ("date,close\n\n2024-01-03\n", "row 3: 1 fields where the header has 2"),
    ("date,close\n\n\n2024-01-02,10\n2024-01-03,x\n", "row 5, field close: price 'x' is not a positive"),
    ("date,close\n\n , \n", "no prices (only a header)"),
    ('date,close\n2024-01-02,10\n"2024-01-03,11\n', "row 3: unbalanced quote"),
])
def test_a_bad_row_is_named_by_its_spreadsheet_row(tmp_path, text, message):
    with pytest.raises(InputError) as err:
        read_price_csv(write(tmp_path, text))
    assert message in str(err.value)
