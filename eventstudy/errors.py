"""One error type for bad input, so the CLI can print one line and exit 2."""
from __future__ import annotations

import difflib


class InputError(Exception):
    """Bad input from a user: names the file, the row and the field where known.

    `str()` gives the one line the CLI prints, e.g.
    ``events.csv, row 4, field announced_at: naive timestamp '2025-04-02 16:00' (add a UTC offset or zone)``.
    Rows are counted as a person counts them in a spreadsheet: the header is row 1.
    """

    def __init__(self, message: str, *, file: str | None = None, row: int | None = None,
                 field: str | None = None):
        self.message = message
        self.file = file
        self.row = row
        self.field = field
        super().__init__(self.__str__())

    def __str__(self) -> str:
        where = []
        if self.file:
            where.append(str(self.file))
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.field:
            where.append(f"field {self.field}")
        prefix = ", ".join(where)
        return f"{prefix}: {self.message}" if prefix else self.message


class DataError(Exception):
    """Market data could not be had (network, vendor, cache); one line for the user."""


class NetworkError(DataError):
    """The vendor could not be reached at all (DNS, refused connection, timeout).

    Unlike a vendor's answer about one ticker, this holds for every ticker: the study stops
    asking and falls back to the cache and the bundled sample, with one warning.
    """


def suggest(word, choices) -> str:
    """' (did you mean 'x'?)' for the choice closest to `word`, or '' if none is close.

    Case is ignored, and a choice with exactly the letters of `word` (a transposition typo:
    'XTSK' for 'XTKS') wins over one that merely shares most of them ('XTSX').
    """
    by_lower: dict[str, str] = {}
    for c in choices:
        by_lower.setdefault(str(c).lower(), str(c))
    low = str(word).lower()
    if low in by_lower:
        return f" (did you mean {by_lower[low]!r}?)"
    anagrams = sorted(c for c in by_lower if sorted(c) == sorted(low))
    if anagrams:
        return f" (did you mean {by_lower[anagrams[0]]!r}?)"
    close = difflib.get_close_matches(low, list(by_lower), n=1, cutoff=0.6)
    return f" (did you mean {by_lower[close[0]]!r}?)" if close else ""
