"""Cross-sectional regressions of CARs (issue #10, item 1): checked against statsmodels run
directly on the written car.csv and the securities file, and against a hand-written WLS and
two-way cluster sandwich; the config, the CLI and the refusals."""
from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from click.testing import CliRunner
from scipy import stats

from eventstudy import run_study
from eventstudy.cli import main
from eventstudy.config import load_config, parse_config
from eventstudy.errors import InputError
from eventstudy.events import load_events, read_events_text
from eventstudy.regress import regression_frame
from tests.synthetic import sessions, us_study

ROOT = Path(__file__).resolve().parents[1]
UNIVERSE = ROOT / "examples" / "universe"
FORMULA = "car ~ C(sector_en)"
WINDOW = (-1, 1)
def cli(*args):
    res = CliRunner().invoke(main, [str(a) for a in args])
    assert "Traceback" not in res.output and "Traceback" not in res.stderr
    return res


# -- the real universe: every tariff event x ~1,100 Tokyo and US stocks -----------------------

@pytest.fixture(scope="module")
def universe(tmp_path_factory):
    """`eventstudy run` of examples/universe/study.toml, which has two [[regressions]]: the
    CARs of [-1, 1] on sector dummies, clustered by event and by security (about 40 s, once
    per module; output and cache in a tmp folder)."""
    root = tmp_path_factory.mktemp("universe")
    config = UNIVERSE / "study.toml"
    text = config.read_text("utf-8")
    assert f'formula = "{FORMULA}"' in text and f"window = [{WINDOW[0]}, {WINDOW[1]}]" in text
    res = cli("run", "--offline", "--quiet", "--events", ROOT / "events.csv", "--config",
              config, "--out", root / "out", "--cache", root / "cache")
    assert res.exit_code == 0, (res.stderr, res.exception)
    return root


def direct(car: pd.DataFrame, cluster: str):
    """statsmodels on car.csv joined with the universe's securities file, by hand."""
    sec = pd.read_csv(UNIVERSE / "securities.csv").rename(columns={"symbol": "series"})
    rows = car[(car["model"] == "market_model") & (car["window_start"] == WINDOW[0])
               & (car["window_end"] == WINDOW[1])].merge(sec, on="series", how="left")
    key = {"event_id": "event_id", "security": "series"}[cluster]
    groups = pd.factorize(rows[key])[0]
    fit = smf.ols(FORMULA, rows).fit(cov_type="cluster", cov_kwds={"groups": groups},
                                      use_t=True)
    return fit, rows


def assert_matches(table: pd.DataFrame, fit, n_clusters: int):
    table = table.set_index("term")
    assert list(table.index) == list(fit.params.index)
    for ours, theirs in (("estimate", fit.params), ("se", fit.bse), ("t", fit.tvalues),
                         ("p", fit.pvalues)):
        np.testing.assert_allclose(table[ours].to_numpy(float), theirs.to_numpy(float),
                                   rtol=0, atol=1e-10, err_msg=ours)
    assert (table["n"] == fit.nobs).all()
    assert (table["n_clusters"] == n_clusters).all()
    np.testing.assert_allclose(table["r2"], fit.rsquared, rtol=0, atol=1e-12)
    assert (table["df"] == n_clusters - 1).all()


def test_run_writes_regressions_matching_statsmodels_on_car_csv(universe):
    out = universe / "out" / "results"
    car = pd.read_csv(out / "car.csv")
    table = pd.read_csv(out / "regressions.csv", keep_default_na=False, na_values=[""])
    assert list(table.columns[:10]) == ["name", "term", "estimate", "se", "t", "p", "n",
                                        "n_clusters", "cov_type", "r2"]
    assert list(dict.fromkeys(table["name"])) == ["sectors-by-event", "sectors-by-security"]
    for name, cluster in (("sectors-by-event", "event_id"), ("sectors-by-security", "security")):
        fit, rows = direct(car, cluster)
        key = {"event_id": "event_id", "security": "series"}[cluster]
        sub = table[table["name"] == name]
        assert_matches(sub, fit, rows[key].nunique())
        assert (sub["cov_type"] == "cluster").all()
    # every tariff event, Tokyo and US sectors, ~13,000 pairs; the pairs the study skipped
    # (8303.T's bad file, short histories) are counted in the note
    assert fit.nobs > 12_000 and rows["event_id"].nunique() == 12
    pairs = len(pd.read_csv(out / "alignment.csv"))
    skipped = int(re.search(r"(\d+) pairs skipped by the study", sub["note"].iloc[0]).group(1))
    assert skipped == pairs - fit.nobs > 0
    # the report has the page and every page links it
    page = (universe / "out" / "regressions.html").read_text("utf-8")
    assert "sectors-by-event" in page and "C(sector_en)[T.Banks]" in page
    assert 'href="regressions.html"' in (universe / "out" / "index.html").read_text("utf-8")


def test_cli_regress_matches_statsmodels_on_car_csv(universe, tmp_path):
    res = cli("regress", FORMULA, "--window", *WINDOW, "--cluster", "security", "--offline",
              "--events", ROOT / "events.csv", "--config", UNIVERSE / "study.toml",
              "--cache", universe / "cache", "--csv", tmp_path / "reg.csv")
    assert res.exit_code == 0, (res.stderr, res.exception)
    assert "C(sector_en)[T.Banks]" in res.stdout
    fit, rows = direct(pd.read_csv(universe / "out" / "results" / "car.csv"), "security")
    assert_matches(pd.read_csv(tmp_path / "reg.csv"), fit, rows["series"].nunique())


def test_python_regress_matches_statsmodels_on_car_csv(universe):
    config = load_config(UNIVERSE / "study.toml")
    config = replace(config, models=("market_model",), groups={})
    result = run_study(load_events(ROOT / "events.csv"), config, offline=True,
                       cache_dir=universe / "cache", memoize=False)
    car = pd.read_csv(universe / "out" / "results" / "car.csv")
    for cluster, key in (("event_id", "event_id"), ("security", "series")):
        table = result.regress(FORMULA, window=WINDOW, model="market_model", cluster=cluster)
        fit, rows = direct(car, cluster)
        assert_matches(table, fit, rows[key].nunique())


# -- a small synthetic market: refusals, WLS, two-way clustering ------------------------------

EVENTS = "event_id,announced_at,time_precision,title,category,tags,source\n" + "".join(
    f"ev-{i},2025-{m:02d}-1{i}T10:00:00-04:00,minute,E{i},{cat},,https://example.org/{i}\n"
    for i, (m, cat) in enumerate([(3, "escalation"), (4, "escalation"), (5, "negotiation"),
                                  (6, "escalation"), (7, "negotiation"), (9, "negotiation")]))


def market(tmp_path, n=12, seed=7):
    """A US benchmark and n US stocks in 3 sectors (wide CSV), with a size column that one
    security lacks."""
    rng = np.random.default_rng(seed)
    dates = sessions("XNYS", start="2024-01-02")
    m = rng.normal(0.0003, 0.01, len(dates))
    common = rng.normal(0, 0.01, len(dates))           # same-date shocks: event clusters
    noise = rng.normal(0, 0.015, (len(dates), n)) * rng.uniform(0.5, 2.0, n)
    rets = m[:, None] * rng.uniform(0.6, 1.4, n) + common[:, None] + noise
    names = [f"U{i}" for i in range(n)]
    wide = pd.DataFrame(30 * np.exp(np.cumsum(rets, axis=0)), columns=names)
    wide.insert(0, "date", dates.strftime("%Y-%m-%d"))
    wide.to_csv(tmp_path / "wide.csv", index=False)
    pd.DataFrame({"date": dates.strftime("%Y-%m-%d"),
                  "close": 4000 * np.exp(np.cumsum(m))}).to_csv(tmp_path / "bench.csv",
                                                                 index=False)
    size = np.linspace(1.0, 3.0, n)
    size[3] = np.nan                                   # a missing regressor: dropped
    pd.DataFrame({"symbol": names, "sector": (["Banks", "Autos", "Retail"] * n)[:n],
                  "size": size}).to_csv(tmp_path / "members.csv", index=False)


def small(tmp_path, n_events=6, extra=""):
    """12 US stocks in 3 sectors around `n_events` events (the config and events file are
    written to tmp_path for the CLI); returns the study's result."""
    market(tmp_path)
    text = us_study("""
models = ["market_model"]
estimation_window = [-150, -11]
event_windows = [[0, 0], [0, 2]]
min_estimation = 100
n_boot = 200""", extra)
    (tmp_path / "study.toml").write_text(text, "utf-8")
    lines = EVENTS.splitlines(keepends=True)
    (tmp_path / "events.csv").write_text("".join(lines[:n_events + 1]), "utf-8")
    cfg = parse_config(text, str(tmp_path / "study.toml"))
    events = read_events_text("".join(lines[:n_events + 1]), "events.csv")
    return run_study(events, cfg, offline=True, cache_dir=tmp_path / "c", memoize=False)


def frame_of(result, window=(0, 2)):
    car = result.car[(result.car["window_start"] == window[0])
                     & (result.car["window_end"] == window[1])]
    return (car.merge(result.securities, on="series")
            .merge(result.events[["event_id", "category"]], on="event_id"))


def crv1(x, u, groups):
    """Hand CRV1 sandwich of OLS on (x, u): G/(G-1) (N-1)/(N-K) B (sum_g s_g s_g') B."""
    n, k = x.shape
    bread = np.linalg.inv(x.T @ x)
    codes = pd.factorize(pd.Series(list(map(tuple, groups)) if groups.ndim > 1 else groups))[0]
    g = codes.max() + 1
    scores = np.zeros((g, k))
    np.add.at(scores, codes, x * u[:, None])
    return g / (g - 1) * (n - 1) / (n - k) * bread @ (scores.T @ scores) @ bread, g


def test_wls_with_two_way_clustering_against_a_hand_sandwich(tmp_path):
    """WLS (weights 1 / car_var) with standard errors clustered by event and by security
    (Cameron, Gelbach & Miller 2011: V_event + V_security - V_intersection), all by hand."""
    result = small(tmp_path)
    table = result.regress("car ~ C(sector) + size", window=(0, 2), cluster="both",
                           weights="inverse_variance").set_index("term")
    d = frame_of(result).dropna(subset=["size"]).reset_index(drop=True)
    w = 1.0 / d["car_var"].to_numpy()
    x = np.column_stack([np.ones(len(d)), d["sector"] == "Banks", d["sector"] == "Retail",
                         d["size"]]).astype(float)
    y = d["car"].to_numpy()
    sw = np.sqrt(w)
    xw, yw = x * sw[:, None], y * sw
    beta = np.linalg.solve(xw.T @ xw, xw.T @ yw)
    u = yw - xw @ beta
    ev, sec = d["event_id"].to_numpy(), d["series"].to_numpy()
    v_ev, g_ev = crv1(xw, u, ev)
    v_sec, g_sec = crv1(xw, u, sec)
    v_both, _ = crv1(xw, u, np.column_stack([ev, sec]))
    se = np.sqrt(np.diag(v_ev + v_sec - v_both))
    order = ["Intercept", "C(sector)[T.Banks]", "C(sector)[T.Retail]", "size"]
    np.testing.assert_allclose(table.loc[order, "estimate"], beta, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(table.loc[order, "se"], se, rtol=1e-10)
    df = min(g_ev, g_sec) - 1
    np.testing.assert_allclose(table.loc[order, "p"], 2 * stats.t.sf(np.abs(beta / se), df),
                               rtol=1e-9)
    assert (table["cov_type"] == "cluster-2way").all()
    assert (table["n_clusters"] == min(g_ev, g_sec)).all() and (table["df"] == df).all()
    # size is missing for one security: its 6 pairs are dropped, and said so
    assert (table["n"] == 66).all() and (table["n_dropped"] == 6).all()
    assert "6 of 72 pairs dropped" in table["note"].iloc[0]


def test_scar_and_event_metadata_and_unweighted_two_way_against_statsmodels(tmp_path):
    result = small(tmp_path)
    table = result.regress("scar ~ C(category)", window=(0, 0), cluster="both")
    d = frame_of(result, (0, 0))
    d["scar"] = d["car"] / d["se"]
    groups = np.column_stack([pd.factorize(d["event_id"])[0], pd.factorize(d["series"])[0]])
    fit = smf.ols("scar ~ C(category)", d).fit(cov_type="cluster", cov_kwds={"groups": groups},
                                                use_t=True)
    np.testing.assert_allclose(table["estimate"], fit.params, rtol=1e-10)
    np.testing.assert_allclose(table["se"], fit.bse, rtol=1e-10)
    np.testing.assert_allclose(table["p"], fit.pvalues, rtol=1e-9)
    # none: heteroskedasticity-robust (HC1) only
    hc = result.regress("car ~ C(sector)", window=(0, 0), cluster="none")
    fit = smf.ols("car ~ C(sector)", d).fit(cov_type="HC1", use_t=True)
    np.testing.assert_allclose(hc["se"], fit.bse, rtol=1e-10)
    assert (hc["cov_type"] == "HC1").all()


def test_one_event_cannot_be_clustered_by_event(tmp_path):
    result = small(tmp_path, n_events=1)
    with pytest.raises(InputError, match=r"cannot cluster by event_id: 1 events in the "
                                         r"sample, at least 5 needed"):
        result.regress("car ~ C(sector)", window=(0, 0))
    # by security it runs (12 securities)
    assert len(result.regress("car ~ C(sector)", window=(0, 0), cluster="security")) == 3
    res = cli("regress", "car ~ C(sector)", "--window", 0, 0, "--offline", "--events",
              tmp_path / "events.csv", "--config", tmp_path / "study.toml", "--cache",
              tmp_path / "c")
    assert res.exit_code == 2
    lines = res.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: field cluster: cannot cluster by "
                                                   "event_id: 1 events"), res.stderr


def test_formulas_are_checked_before_anything_runs(tmp_path):
    result = small(tmp_path, n_events=6)
    for formula, message in [
            ("car ~ __import__('os').system('true')", "not allowed in a formula"),
            ("car ~ sector.__class__", "not allowed"),
            ("car ~ open('x')", r"open\(\) is not allowed"),
            ("car ~ sectr", r"unknown column 'sectr' \(did you mean 'sector'\?\)"),
            ("ret ~ sector", "dependent variable .* must be one of car, scar, bhar"),
            ("car sector", "is not a formula")]:
        with pytest.raises(InputError, match=message):
            result.regress(formula, window=(0, 0))
    with pytest.raises(InputError, match=r"window \[0, 1\] is not an event window .*\[0, 0\]"):
        result.regress("car ~ 1", window=(0, 1))
    with pytest.raises(InputError, match="unknown model 'garch'"):
        result.regress("car ~ 1", window=(0, 0), model="garch")
    np.testing.assert_allclose(   # transforms that are allowed
        result.regress("car ~ np.log(size) + I(size ** 2)", window=(0, 0))["n"], 66)


def test_config_regressions_are_validated_field_by_field(tmp_path):
    market(tmp_path, n=6)
    base = us_study('models = ["market_model"]', """[groups.banks]
universe = "us"
where = "sector == 'Banks'"
""")
    ok = parse_config(base + '[[regressions]]\nname = "s"\nformula = "car ~ C(sector)"\n'
                      'window = [0, 0]\ngroups = ["banks"]\nweights = "inverse_variance"\n',
                      "study.toml")
    (reg,) = ok.regressions
    assert (reg.name, reg.window, reg.cluster, reg.weights, reg.groups) == (
        "s", (0, 0), "event_id", "inverse_variance", ("banks",))
    for body, field, message in [
            ('formula = "car ~ x"\nwindow = [0, 1]', "regressions[1].window",
             r"window \[0, 1\] is not one of study.event_windows"),
            ('formula = "car ~ x"\nwindow = [0, 0]\ncluster = "events"',
             "regressions[1].cluster", "unknown cluster 'events'"),
            ('formula = "car ~ x"\nwindow = [0, 0]\nmodel = "garch"', "regressions[1].model",
             "model 'garch' is not studied"),
            ('formula = "car ~ x"\nwindow = [0, 0]\ngroups = ["bank"]', "regressions[1].groups",
             "unknown group 'bank' \\(did you mean 'banks'\\?\\)"),
            ('formula = "car ~ eval(x)"\nwindow = [0, 0]', "regressions[1].formula",
             "eval\\(\\) is not allowed"),
            ('window = [0, 0]', "regressions[1].formula", "missing"),
            ('formula = "car ~ x"\nwindow = [0, 0]\nweight = "x"', "regressions[1].weight",
             "unknown key"),
            ('formula = "car ~ x"', "regressions[1].window", "missing")]:
        with pytest.raises(InputError, match=message) as exc:
            parse_config(base + "[[regressions]]\n" + body + "\n", "study.toml")
        assert exc.value.field == field and exc.value.file == "study.toml"


def test_a_bad_formula_column_in_the_config_stops_the_run_before_any_file(tmp_path):
    small(tmp_path, extra='[[regressions]]\nformula = "car ~ C(sectr)"\nwindow = [0, 0]\n')
    res = cli("run", "--offline", "--quiet", "--events", tmp_path / "events.csv", "--config",
              tmp_path / "study.toml", "--out", tmp_path / "out", "--cache", tmp_path / "c")
    assert res.exit_code == 2
    assert res.stderr.strip().startswith(f"error: {tmp_path / 'study.toml'}, field "
                                         "regressions[1].formula: unknown column 'sectr'")
    assert not (tmp_path / "out" / "results" / "car.csv").exists()


def test_groups_restrict_the_sample(tmp_path):
    result = small(tmp_path, extra='[groups.banks]\nuniverse = "us"\n'
                                   'where = "sector == \'Banks\'"\n'
                                   '[groups.per_event]\nuniverse = "us"\nby = ["event_id"]\n')
    banks = result.regress("car ~ size", window=(0, 0), groups=["banks"])
    d = frame_of(result, (0, 0))
    d = d[d["sector"] == "Banks"].dropna(subset=["size"])
    fit = smf.ols("car ~ size", d).fit(cov_type="cluster", use_t=True,
                                        cov_kwds={"groups": pd.factorize(d["event_id"])[0]})
    np.testing.assert_allclose(banks["estimate"], fit.params, rtol=1e-10)
    np.testing.assert_allclose(banks["se"], fit.bse, rtol=1e-10)
    # a `by` group's id stands for all its parts: here every pair
    every = result.regress("car ~ size", window=(0, 0), groups=["per_event"])
    assert (every["n"] == 66).all()


def test_run_writes_and_then_removes_regressions_with_the_config(tmp_path):
    reg = ('[[regressions]]\nname = "by-date"\nformula = "car ~ C(sector) + size"\n'
           'window = [0, 2]\ncluster = "day0"\n')
    small(tmp_path, extra=reg)
    args = ["run", "--offline", "--quiet", "--events", tmp_path / "events.csv", "--config",
            tmp_path / "study.toml", "--out", tmp_path / "out", "--cache", tmp_path / "c"]
    assert cli(*args).exit_code == 0
    table = pd.read_csv(tmp_path / "out" / "results" / "regressions.csv")
    assert set(table["name"]) == {"by-date"} and (table["cluster"] == "day0").all()
    assert (table["n_clusters"] == 6).all()      # six events on six different days
    assert (tmp_path / "out" / "regressions.html").is_file()
    text = (tmp_path / "study.toml").read_text("utf-8").replace(reg, "")
    (tmp_path / "study.toml").write_text(text, "utf-8")
    assert cli(*args).exit_code == 0
    assert not (tmp_path / "out" / "results" / "regressions.csv").exists()
    assert not (tmp_path / "out" / "regressions.html").exists()
    assert "regressions.html" not in (tmp_path / "out" / "index.html").read_text("utf-8")


def test_firm_event_metadata_is_joined_per_pair(tmp_path):
    """One firm-event id shared by 12 securities, each with its own surprise: the formula
    sees each pair's own value (joined on event and security, not on the event alone)."""
    surprise = np.round(np.linspace(-0.5, 0.6, 12), 2)
    (tmp_path / "earnings.csv").write_text(
        "event_id,security,announced_at,category,surprise\n" + "".join(
            f"q2-news,U{i},2025-08-05 10:00 America/New_York,earnings,{s}\n"
            for i, s in enumerate(surprise)), "utf-8")
    result = small(tmp_path, extra='[events.earnings]\npath = "earnings.csv"\n')
    table = result.regress("car ~ surprise", window=(0, 0), cluster="none")
    car = result.car[(result.car["event_id"] == "q2-news") & (result.car["window_end"] == 0)]
    d = car.merge(pd.DataFrame({"series": [f"U{i}" for i in range(12)], "surprise": surprise}),
                  on="series")
    fit = smf.ols("car ~ surprise", d).fit(cov_type="HC1", use_t=True)
    np.testing.assert_allclose(table["estimate"], fit.params, rtol=1e-10)
    np.testing.assert_allclose(table["se"], fit.bse, rtol=1e-10)
    # the 72 pairs of the global events have no surprise: dropped, and said so
    assert (table["n"] == 12).all() and (table["n_dropped"] == 72).all()
    # the firm file's category wins over the (absent) global one for its pairs
    frame = regression_frame(result, window=(0, 0))
    assert set(frame.loc[frame["event_id"] == "q2-news", "category"]) == {"earnings"}
