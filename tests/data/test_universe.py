"""load_universe: the three price layouts give the same matrix, blank cells are "no bar", each
file is read once, bad securities are dropped with a reason, `where` selects on metadata, and a
Yahoo universe goes through the cache."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from eventstudy.config import UniverseConfig
from eventstudy.data.cache import PriceCache
from eventstudy.data.universe import infer_layout, load_universe, read_securities
from eventstudy.errors import DataError, InputError

DATES = pd.bdate_range("2025-03-03", periods=8).astype("datetime64[ns]")
# Hand-written closes; NaN = no bar (BBB lists on day 2, CCC has a gap on day 5).
CLOSES = pd.DataFrame({
    "AAA": [100.0, 101.0, 99.5, 98.0, 97.0, 99.0, 100.5, 101.0],
    "BBB": [np.nan, np.nan, 20.0, 20.5, 21.0, 20.8, 20.9, 21.2],
    "CCC": [50.0, 51.0, 52.0, 51.5, 51.0, np.nan, 52.5, 53.0],
}, index=pd.DatetimeIndex(DATES, name="date"))
SECURITIES = ("\ufeffsymbol,name,sector,export_share\n"
              "AAA,Alpha,Banks,0.1\nBBB,\"Beta, Inc.\",Autos,0.6\nCCC,Gamma,Autos,0.8\n")


def write_folder(root: Path, closes: pd.DataFrame = CLOSES) -> Path:
    folder = root / "prices"
    folder.mkdir()
    for sec in closes.columns:
        s = closes[sec].dropna()
        pd.DataFrame({"Date": s.index.strftime("%Y-%m-%d"), "Open": s.to_numpy(),
                      "High": s.to_numpy(), "Low": s.to_numpy(), "Close": s.to_numpy(),
                      "Volume": 1000}).to_csv(folder / f"{sec}.csv", index=False)
    return folder


def write_wide_csv(root: Path) -> Path:
    path = root / "wide.csv"
    lines = ["date," + ",".join(CLOSES.columns)]
    for day, row in CLOSES.iterrows():     # blank cells, as a spreadsheet writes them
        lines.append(f"{day:%Y-%m-%d}," + ",".join("" if np.isnan(v) else repr(v)
                                                     for v in row))
    path.write_text("\n".join(lines) + "\n")
    return path


def long_frame() -> pd.DataFrame:
    long = CLOSES.reset_index().melt(id_vars="date", var_name="security", value_name="close")
    return long.dropna().sample(frac=1.0, random_state=1)    # any row order


def universe(prices: Path | None, layout: str | None = None, securities: Path | None = None,
             where: str | None = None, **kw) -> UniverseConfig:
    return UniverseConfig(id="u", prices=str(prices) if prices else None, layout=layout,
                          securities=str(securities) if securities else None,
                          calendar="XNYS", where=where, **kw)


def expected(columns=("AAA", "BBB", "CCC")) -> pd.DataFrame:
    return CLOSES[list(columns)].rename_axis(None, axis=1)


@pytest.fixture
def files(tmp_path):
    (tmp_path / "securities.csv").write_text(SECURITIES, "utf-8")
    folder = write_folder(tmp_path)
    wide = write_wide_csv(tmp_path)
    CLOSES.reset_index().to_parquet(tmp_path / "wide.parquet", compression="zstd")
    long_frame().to_csv(tmp_path / "long.csv", index=False)
    long_frame().rename(columns={"security": "symbol"}).to_parquet(tmp_path / "long.parquet")
    return {"folder": folder, "wide": wide, "wide_pq": tmp_path / "wide.parquet",
            "long": tmp_path / "long.csv", "long_pq": tmp_path / "long.parquet",
            "securities": tmp_path / "securities.csv"}


@pytest.mark.parametrize("key,layout", [("folder", "folder"), ("wide", "wide"),
                                        ("wide_pq", "wide"), ("long", "long"),
                                        ("long_pq", "long")])
def test_each_layout_gives_the_same_matrix(files, key, layout):
    assert infer_layout(files[key]) == layout
    for given in (None, layout):
        data = load_universe(universe(files[key], given))
        pd.testing.assert_frame_equal(data.closes, expected(), check_freq=False)
        assert data.problems.empty, data.problems
        assert list(data.securities["security"]) == ["AAA", "BBB", "CCC"]
        prov = data.provenance.set_index("security")
        assert prov.loc["BBB", "first"] == DATES[2] and prov.loc["BBB", "last"] == DATES[-1]
        assert prov.loc["BBB", "rows"] == 6 and prov.loc["CCC", "rows"] == 7


def test_wide_parquet_with_pandas_date_index(tmp_path):
    CLOSES.to_parquet(tmp_path / "w.parquet")              # the date as pandas' index
    data = load_universe(universe(tmp_path / "w.parquet"))
    pd.testing.assert_frame_equal(data.closes, expected(), check_freq=False)


def test_closes_index_is_naive_sorted_unique_float(files):
    closes = load_universe(universe(files["wide"])).closes
    idx = closes.index
    assert idx.tz is None and idx.is_monotonic_increasing and idx.is_unique
    assert (idx == idx.normalize()).all() and idx.dtype == "datetime64[ns]"
    assert (closes.dtypes == "float64").all()
    assert np.isnan(closes.loc[DATES[5], "CCC"]) and np.isnan(closes.loc[DATES[0], "BBB"])


def test_securities_metadata_and_where(files):
    data = load_universe(universe(files["folder"], securities=files["securities"],
                                  where="sector == 'Autos' and export_share > 0.7"))
    assert list(data.securities["security"]) == ["CCC"]
    assert list(data.closes.columns) == ["CCC"]
    meta = read_securities(files["securities"])
    assert list(meta.columns) == ["security", "name", "sector", "export_share"]
    assert meta["export_share"].dtype == "float64"           # numbers become numbers
    assert meta.loc[1, "name"] == "Beta, Inc."
    with pytest.raises(InputError, match=r"securities\.csv, field universe\.u\.where: query "
                                         r"'sectr == 1' fails"):
        load_universe(universe(files["folder"], securities=files["securities"],
                               where="sectr == 1"))


def test_a_security_without_prices_is_dropped_with_a_reason(files, tmp_path):
    (tmp_path / "securities.csv").write_text(SECURITIES + "DDD,Delta,Banks,0.2\n", "utf-8")
    for key in ("folder", "wide", "long"):
        data = load_universe(universe(files[key], securities=files["securities"]))
        assert list(data.securities["security"]) == ["AAA", "BBB", "CCC"]
        p = data.problems
        assert list(p["security"]) == ["DDD"] and list(p["action"]) == ["skip security"]
        assert p["kind"].iloc[0] == "no prices"


def test_bad_files_in_a_folder_are_reported_not_raised(tmp_path):
    bad = CLOSES.copy()
    bad["NEG"] = CLOSES["AAA"]
    bad.loc[DATES[3], "NEG"] = -98.0
    bad["FLAT"] = 5.0
    folder = write_folder(tmp_path, bad)
    (folder / "TXT.csv").write_text("Date,Close\n2025-03-03,10\n2025-03-04,abc\n"
                                    "2025-03-05,11\n2025-03-06,10.5\n")
    (folder / "NOCLOSE.csv").write_text("Date,Open\n2025-03-03,10\n")
    (folder / "TZ.csv").write_text("Date,Close\n2025-03-03 00:00:00-05:00,10\n"
                                   "2025-03-04 00:00:00-05:00,10.5\n")
    data = load_universe(universe(folder))
    p = data.problems.set_index(["security", "kind"])
    assert p.loc[("NEG", "non-positive price"), "date"] == DATES[3]
    assert p.loc[("FLAT", "constant"), "action"] == "skip security"
    assert p.loc[("TXT", "missing price"), "date"] == DATES[1]
    assert p.loc[("NOCLOSE", "unreadable file"), "action"] == "skip security"
    assert list(data.closes.columns) == ["AAA", "BBB", "CCC", "NEG", "TXT", "TZ"]
    assert np.isnan(data.closes.loc[DATES[3], "NEG"])
    assert list(data.closes["TXT"].dropna()) == [10.0, 11.0, 10.5]
    assert list(data.closes["TZ"].dropna().index) == list(DATES[:2])   # local dates kept


def test_blank_cells_in_a_wide_file_are_no_bar_and_text_is_reported(tmp_path):
    path = tmp_path / "w.csv"
    path.write_text("Date,A,B\n2025-03-03,1.0,\n2025-03-04,,2.0\n2025-03-05,1.2,n/a?\n"
                    "2025-03-06,1.1,2.2\n")
    data = load_universe(universe(path))
    assert data.closes["A"].isna().tolist() == [False, True, False, False]
    assert data.closes["B"].isna().tolist() == [True, False, True, False]
    p = data.problems
    assert list(p["security"]) == ["B"] and list(p["kind"]) == ["missing price"]
    assert p["date"].iloc[0] == pd.Timestamp("2025-03-05")


def test_each_file_is_read_once(files, monkeypatch):
    import pyarrow.csv as pacsv
    calls = []
    real = pacsv.read_csv
    monkeypatch.setattr(pacsv, "read_csv", lambda path, *a, **k: calls.append(path) or real(
        path, *a, **k))
    load_universe(universe(files["folder"], securities=files["securities"]))
    assert sorted(Path(c).name for c in calls) == ["AAA.csv", "BBB.csv", "CCC.csv"]
    reads = []
    real_pd = pd.read_csv
    monkeypatch.setattr(pd, "read_csv", lambda path, *a, **k: reads.append(path) or real_pd(
        path, *a, **k))
    load_universe(universe(files["wide"]))
    assert reads == [files["wide"]]


def test_bad_input_the_user_controls_is_one_line(files, tmp_path):
    with pytest.raises(InputError, match="prices not found"):
        load_universe(universe(tmp_path / "nope.csv"))
    (tmp_path / "s2.csv").write_text("ticker,name\nA,a\n")
    with pytest.raises(InputError, match=r"s2\.csv, row 1, field symbol: missing column "
                                         r"'symbol' \(found: ticker, name\)"):
        read_securities(tmp_path / "s2.csv")
    (tmp_path / "s3.csv").write_text("symbol,name\nA,a\nB,b\nA,c\n")
    with pytest.raises(InputError, match=r"s3\.csv, row 4, field symbol: duplicate symbol 'A' "
                                         r"\(first on row 2\)"):
        read_securities(tmp_path / "s3.csv")
    (tmp_path / "s4.csv").write_text("symbol,name\n=HYPERLINK(1),a\n")
    with pytest.raises(InputError, match=r"s4\.csv, row 2, field symbol: symbol "):
        read_securities(tmp_path / "s4.csv")
    (tmp_path / "w.csv").write_text("date,A\n2025-03-03,1\nMarch 4,2\n")
    with pytest.raises(InputError, match=r"w\.csv, row 3, field date: cannot parse date "
                                         r"'March 4'"):
        load_universe(universe(tmp_path / "w.csv"))
    with pytest.raises(InputError, match="layout is 'wide' but this is a folder"):
        load_universe(universe(files["folder"], "wide"))


def fake_fetch(calls):
    def fetch(ticker, start, end):
        calls.append(ticker)
        if ticker == "GONE":
            raise DataError(f"Yahoo has no data for {ticker}")
        s = CLOSES[ticker].dropna()
        s = s[(s.index.date >= start) & (s.index.date <= end)]
        return pd.DataFrame({"date": s.index, "close": s.to_numpy()})
    return fetch


def test_yahoo_universe_goes_through_the_cache(tmp_path):
    cache = PriceCache(tmp_path / "cache")
    calls: list[str] = []
    u = UniverseConfig(id="y", source="yahoo", calendar="XNYS", tickers=("AAA", "CCC", "GONE"))
    start, end = pd.Timestamp("2025-03-03"), pd.Timestamp("2025-03-12")
    data = load_universe(u, offline=False, cache=cache, fetch=fake_fetch(calls), start=start,
                         end=end)
    assert calls == ["AAA", "CCC", "GONE"]
    pd.testing.assert_frame_equal(data.closes, expected(("AAA", "CCC")), check_freq=False)
    assert list(data.problems["security"]) == ["GONE"]
    assert data.problems["action"].iloc[0] == "skip security"
    assert set(data.provenance["origin"]) == {"yahoo"}
    # offline, the cache alone
    data = load_universe(u, offline=True, cache=cache)
    pd.testing.assert_frame_equal(data.closes, expected(("AAA", "CCC")), check_freq=False)
    assert set(data.provenance["origin"]) == {"cache"}
    assert cache.path("AAA").is_file() and dt.date(2025, 3, 3) == cache.meta("AAA")["first"]


# -- the real example (examples/universe, built by scripts/build_universe.py) -------------------

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "universe"


@pytest.fixture(scope="module")
def example():
    from eventstudy.config import load_config
    config = load_config(EXAMPLE / "study.toml")
    return config, {u: load_universe(config.universes[u]) for u in config.needed_universes}


def test_example_config_parses(example):
    config, _ = example
    assert config.studied_universes == ("tokyo", "us") and config.studied == ()
    assert config.needed_series == ["TOPIX", "GSPC"]
    assert config.groups["japan_banks"].where == "sector_en == 'Banks'"
    assert config.groups["tokyo_by_event_sector"].by == ("event_id", "sector_en")
    assert sum(p.stat().st_size for p in EXAMPLE.iterdir()) < 5_000_000


def test_example_universes_load_and_their_bad_files_are_found(example):
    _, data = example
    tokyo, us = data["tokyo"], data["us"]
    assert tokyo.closes.shape[1] == 592 and us.closes.shape[1] == 501
    assert list(tokyo.securities["security"]) == list(tokyo.closes.columns)
    assert set(tokyo.securities["group"]) == {"large", "mid", "small"}
    assert set(us.securities["group"]) == {"us"}
    p = tokyo.problems
    skip = p[p["action"] == "skip security"]
    assert list(skip["security"]) == ["8303.T"] and skip["kind"].iloc[0] == "impossible jump"
    assert (p.loc[p["kind"] == "non-positive price", "security"] == "8303.T").sum() == 245
    flag = p[p["action"] == "flag day"]
    assert list(flag["security"]) == ["8227.T"]
    assert flag["date"].iloc[0] == pd.Timestamp("2026-02-18")
    assert "close ratio 0.3364 (about 1/3" in flag["reason"].iloc[0]
    assert list(us.problems["security"]) == ["FDXF", "HONA"]
    assert set(us.problems["kind"]) == {"no prices"}
    # the lunch-break snapshot of 2026-07-13 is not in the copy
    assert tokyo.closes.index[-1] == pd.Timestamp("2026-07-10")


def test_example_spot_values_and_real_crash_kept(example):
    _, data = example
    toyota = data["tokyo"].closes["7203.T"]
    assert toyota["2025-04-02"] == 2577.37 and toyota["2025-04-03"] == 2443.94
    aapl = data["us"].closes["AAPL"]
    assert aapl["2025-04-02"] == 222.71 and aapl["2025-04-03"] == 202.12
    fisv = data["us"].closes["FISV"]
    assert fisv["2025-10-29"] / fisv["2025-10-28"] - 1 == pytest.approx(-0.4404, abs=1e-4)
    assert "FISV" not in set(data["us"].problems["security"])
    banks = data["tokyo"].securities.query("sector_en == 'Banks'")
    assert len(banks) == 25                         # 26 banks listed; 8303.T skipped
