"""FRED daily series (e.g. DEXJPUS, the noon New York yen rate) through FRED's CSV download.

Why a second vendor: a currency trades around the clock, so its day 0 depends on when the
vendor's daily value is taken; FRED's H.10 rates are noon New York buying rates, Yahoo's FX
bars are London-midnight quotes (docs/methods.md, "FX bars").
"""
from __future__ import annotations

import datetime as dt
import io
import time

import numpy as np
import pandas as pd
import requests

from eventstudy.data import as_date, one_line
from eventstudy.errors import DataError, NetworkError

FRED_CSV_URL = "https://fred.stlouisfed.org/graph/fredgraph.csv"
_TRANSIENT_STATUS = {429, 500, 502, 503, 504}


def fetch_fred(series_id: str, start: dt.date, end: dt.date, *, session=None,
               url: str = FRED_CSV_URL, retries: int = 3, backoff: float = 1.0,
               sleep=time.sleep, timeout: float = 30) -> pd.DataFrame:
    """Daily values of a FRED series from `start` to `end` (inclusive) as a price frame.

    Days FRED publishes without a value (US holidays: '.' or empty) are dropped, not zeroed.
    Retries network errors, 429 and 5xx with back-off; raises a one-line `DataError`
    (`NetworkError` when FRED cannot be reached at all).
    """
    start, end = as_date(start), as_date(end)
    span = f"between {start} and {end}"
    params = {"id": series_id, "cosd": start.isoformat(), "coed": end.isoformat()}
    http = session or requests.Session()
    for attempt in range(1, retries + 1):
        try:
            response = http.get(url, params=params, timeout=timeout)
        except requests.RequestException as exc:
            problem, network = f"could not reach FRED ({one_line(exc)})", True
        else:
            if response.status_code == 200:
                return _price_frame(series_id, response.text, start, end, span)
            if response.status_code not in _TRANSIENT_STATUS:
                raise DataError(f"FRED refused series {series_id} (HTTP {response.status_code})")
            problem, network = f"FRED server error (HTTP {response.status_code})", False
        if attempt == retries:
            error = NetworkError if network else DataError
            raise error(f"{problem} for {series_id} {span}, after {retries} tries")
        sleep(backoff * 2 ** (attempt - 1))
    raise AssertionError("unreachable")  # pragma: no cover


def _price_frame(series_id: str, text: str, start, end, span: str) -> pd.DataFrame:
    try:
        raw = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise DataError(f"FRED sent malformed data for {series_id} {span} "
                        f"({one_line(exc)})") from None
    date_col = next((c for c in raw.columns if c.lower() in ("observation_date", "date")), None)
    if date_col is None or series_id not in raw.columns:
        raise DataError(f"FRED data for {series_id} {span} lacks the columns date and "
                        f"{series_id} (found: {', '.join(raw.columns)})")
    dates = pd.to_datetime(raw[date_col], format="%Y-%m-%d", errors="coerce")
    values = pd.to_numeric(raw[series_id].str.strip().replace(".", ""), errors="coerce")
    if dates.isna().any():
        raise DataError(f"FRED sent an unparseable date for {series_id} {span}")
    frame = pd.DataFrame({"date": dates.astype("datetime64[ns]"), "close": values})
    frame = frame[frame["close"].notna()]
    frame = frame[(frame["date"] >= pd.Timestamp(start)) & (frame["date"] <= pd.Timestamp(end))]
    if frame.empty:
        raise DataError(f"FRED returned no values for {series_id} {span}")
    if not (np.isfinite(frame["close"]) & (frame["close"] > 0)).all():
        raise DataError(f"FRED values for {series_id} {span} are not all positive")
    return frame.drop_duplicates("date").sort_values("date").reset_index(drop=True)
