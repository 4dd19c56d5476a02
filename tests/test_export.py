"""Paper-ready output (issue #10 item 4): tables from tiny hand-built frames compared with
hand-written LaTeX and Markdown, escaping, the regression table from a statsmodels fit, the
CLI, and determinism (same frames -> same bytes, xlsx included)."""
import io
import time
import zipfile

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from eventstudy import export
from eventstudy.cli import main
from eventstudy.errors import InputError
from eventstudy.result import to_csv

NAN = np.nan


def tiny_car():
    """Two events (ids with a LaTeX special), one series 'X&Y', one model, two windows.
    b_2 has the earlier day 0, so it comes first; its [-1, +1] CAR is missing."""
    return pd.DataFrame({
        "event_id": ["a-1", "a-1", "b_2", "b_2"], "series": "X&Y", "model": "market_model",
        "window_start": [0, -1, 0, -1], "window_end": [0, 1, 0, 1],
        "car": [-0.0123, 0.004, 0.05, NAN], "se": [0.004, 0.01, 0.03, NAN],
        "t_stat": [-3.075, 0.4, 1.667, NAN], "dof": 200,
        "p_value": [0.002, 0.69, 0.096, NAN], "p_holm": [0.004, 0.69, 0.096, NAN],
        "p_bh": [0.004, 0.69, 0.096, NAN],
        "day0": pd.to_datetime(["2025-04-03", "2025-04-03", "2025-04-01", "2025-04-01"]),
        "note": ["", "", "", "waiting for data"]})


def tiny_tests():
    rows = []
    for group, n, stats, ps, bh in (("autos", 5, (2.5, -0.4), (0.012, 0.7), (0.024, 0.7)),
                                    ("banks", 7, (-1.8, 1.2), (0.08, 0.26), (0.08, 0.7))):
        for (ws, we), stat, p, pb in zip(((0, 0), (-1, 1)), stats, ps, bh):
            rows.append({"group": group, "model": "market_model", "event_id": "", "series": "",
                         "window_start": ws, "window_end": we, "test": "kp_bmp",
                         "estimate": 0.01, "se": NAN, "statistic": stat, "dof": n - 1,
                         "p_value": p, "p_holm": min(1.0, 5 * pb), "p_bh": pb, "n": n,
                         "note": ""})
    pair = {"group": "", "model": "market_model", "event_id": "a-1", "series": "X&Y",
            "window_start": 0, "window_end": 0, "test": "t", "estimate": -0.0123, "se": 0.004,
            "statistic": -3.075, "dof": 200, "p_value": 0.002, "p_holm": 0.004, "p_bh": 0.004,
            "n": 1, "note": ""}
    return pd.DataFrame(rows + [pair])


def tiny_regressions():
    """The schema of eventstudy.regress: name, term, estimate, se, t, p, n, n_clusters,
    cov_type, r2 (one row per term)."""
    return pd.DataFrame([
        ("sector", "Intercept", -0.0123, 0.0045, -2.73, 0.008, 40, 12, "cluster", 0.0512),
        ("sector", "C(sector)[T.banks]", 0.02, 0.015, 1.33, 0.19, 40, 12, "cluster", 0.0512),
        ("size", "Intercept", 0.001, 0.002, 0.5, 0.62, 38, NAN, "HC1", 0.101),
        ("size", "log_size", -0.00031, 0.0001, -3.1, 0.04, 38, NAN, "HC1", 0.101),
    ], columns=export.REGRESSION_COLUMNS)


CAR_LATEX = r"""\begin{table}[htbp]
\centering
\caption{Cumulative abnormal returns by event and window (market model)}
\label{tab:car}
\begin{tabular}{llcc}
\toprule
Event & Series & {[0, 0]} & {[$-$1, +1]} \\
\midrule
b\_2 & X\&Y & 5.00$^{*}$ & -- \\
 &  & (3.00) &  \\
a-1 & X\&Y & $-$1.23$^{***\ddagger}$ & 0.40 \\
 &  & (0.40) & (1.00) \\
\bottomrule
\end{tabular}
"""

CAR_MD = r"""### Cumulative abnormal returns by event and window (market model)

| Event | Series | [0, 0] | [-1, +1] |
|:--|:--|--:|--:|
| b\_2 | X&Y | 5.00\* | – |
|  |  | (3.00) |  |
| a-1 | X&Y | -1.23\*\*\*‡ | 0.40 |
|  |  | (0.40) | (1.00) |
"""

GROUP_LATEX = r"""\begin{tabular}{llccc}
\toprule
Group & Test & N & {[0, 0]} & {[$-$1, +1]} \\
\midrule
autos & kp bmp & 5 & 2.50$^{**\dagger}$ & $-$0.40 \\
 &  &  & {[0.012]} & {[0.700]} \\
banks & kp bmp & 7 & $-$1.80$^{*}$ & 1.20 \\
 &  &  & {[0.080]} & {[0.260]} \\
\bottomrule
\end{tabular}
"""

REGRESSION_LATEX = r"""\begin{tabular}{lcc}
\toprule
 & (1) sector & (2) size \\
\midrule
Intercept & $-$0.0123$^{***}$ & 0.0010 \\
 & (0.0045) & (0.0020) \\
C(sector)[T.banks] & 0.0200 &  \\
 & (0.0150) &  \\
log\_size &  & $-$3.10e-04$^{**}$ \\
 &  & (1.00e-04) \\
\midrule
Observations & 40 & 38 \\
Clusters & 12 &  \\
R\textsuperscript{2} & 0.051 & 0.101 \\
Standard errors & cluster & HC1 \\
\bottomrule
\end{tabular}
"""


def test_car_table_latex_by_hand():
    tex = export.to_latex([export.car_table(tiny_car())])
    assert CAR_LATEX in tex
    assert "\\textit{Note:} CARs in percent" in tex
    assert "* p \\textless{} 0.10, ** p \\textless{} 0.05, *** p \\textless{} 0.01" in tex
    assert "\\textdagger{} the p-value is still below 0.05 after the Benjamini-Hochberg" in tex
    assert tex.startswith("% Tables by `eventstudy export`; they need "
                          "\\usepackage{booktabs}.")


def test_car_table_markdown_by_hand():
    md = export.to_markdown([export.car_table(tiny_car())])
    assert md.startswith(CAR_MD)
    assert "\\* p \\< 0.10, \\*\\* p \\< 0.05, \\*\\*\\* p \\< 0.01 (two-sided)" in md


def test_events_order_and_models_panels():
    car = tiny_car()
    both = pd.concat([car, car.assign(model="constant_mean", car=car["car"] * 2)],
                     ignore_index=True)
    t = export.car_table(both, events=["a-1", "b_2"])
    assert [title for title, _ in t.panels] == ["Panel A: market model",
                                                "Panel B: constant mean"]
    assert [row[0].text for row in t.panels[0][1]] == ["a-1", "", "b_2", ""]
    tex = export.to_latex([t])
    assert "\\multicolumn{4}{l}{\\textit{Panel B: constant mean}} \\\\" in tex
    assert "a-1 & X\\&Y & $-$2.46" in tex          # the constant-mean panel, doubled CAR
    only = export.car_table(both, models=["constant_mean"], windows=[(-1, 1)])
    assert only.title.endswith("(constant mean)") and len(only.columns) == 3
    with pytest.raises(InputError, match="unknown model 'market_modl'.*did you mean"):
        export.car_table(both, models=["market_modl"])


def test_group_table_latex_by_hand():
    t = export.group_table(tiny_tests(), windows=[(0, 0), (-1, 1)])
    tex = export.to_latex([t])
    assert GROUP_LATEX in tex
    assert "every group of one test, model and window" in tex
    assert export.group_table(tiny_tests()[tiny_tests()["group"] == ""]) is None
    md = export.to_markdown([t])
    assert "| autos | kp bmp | 5 | 2.50\\*\\*† | -0.40 |" in md
    assert "|  |  |  | [0.012] | [0.700] |" in md


def test_group_table_n_range_where_it_differs_by_window():
    tests = tiny_tests()
    tests.loc[(tests["group"] == "banks") & (tests["window_end"] == 1), "n"] = 6
    t = export.group_table(tests)
    assert [row[2].text for row in t.panels[0][1]] == ["5", "", "6\u20137", ""]


def test_a_withheld_test_has_no_rows_unless_asked_for():
    """patell is NaN with a note by default (inference.OVERSIZED): a paper table would be a
    row of dashes; asked for by name it is shown, dashes and all."""
    tests = tiny_tests()
    withheld = tests[tests["group"] != ""].assign(test="patell", statistic=NAN, p_value=NAN,
                                                   note="not reported: over-rejects")
    tests = pd.concat([tests, withheld], ignore_index=True)
    names = [row[1].text for row in export.group_table(tests).panels[0][1]]
    assert names == ["kp bmp", "", "kp bmp", ""]
    asked = export.group_table(tests, tests_shown=["kp_bmp", "patell"])
    rows = asked.panels[0][1]
    assert [row[1].text for row in rows] == ["kp bmp", "", "patell", ""] * 2
    assert [c.text for c in rows[2][3:]] == [export.DASH, export.DASH]


def test_regression_table_latex_by_hand():
    tex = export.to_latex([export.regression_table(tiny_regressions())])
    assert REGRESSION_LATEX in tex
    assert "standard errors in parentheses (cluster, HC1)" in tex
    assert export.regression_table(None) is None
    assert export.regression_table(tiny_regressions()[:0]) is None


def test_regression_table_from_a_statsmodels_fit():
    """A frame of the regress schema made from statsmodels: the table shows its params and
    bse (4 decimals), n, clusters and R-squared."""
    import statsmodels.formula.api as smf
    rng = np.random.default_rng(3)
    data = pd.DataFrame({"x": rng.normal(size=60), "date": np.repeat(np.arange(12), 5)})
    data["car"] = 0.01 + 0.02 * data["x"] + rng.normal(scale=0.01, size=60)
    fit = smf.ols("car ~ x", data).fit(cov_type="cluster", cov_kwds={"groups": data["date"]})
    frame = pd.DataFrame({"name": "slope", "term": fit.params.index, "estimate": fit.params,
                          "se": fit.bse, "t": fit.tvalues, "p": fit.pvalues,
                          "n": int(fit.nobs), "n_clusters": 12, "cov_type": "cluster",
                          "r2": fit.rsquared}).reset_index(drop=True)
    t = export.regression_table(frame)
    cells = {row[0].text: row[1] for row in t.panels[0][1] if row[0].text}
    assert cells["x"].text == f"{fit.params['x']:.4f}" and cells["x"].sup == "***"
    se_row = t.panels[0][1][3]
    assert se_row[1].text == f"({fit.bse['x']:.4f})"
    stats = {row[0].text: row[1].text for row in t.panels[1][1]}
    assert stats == {"Observations": "60", "Clusters": "12", "R\u00b2": f"{fit.rsquared:.3f}",
                     "Standard errors": "cluster"}
    with pytest.raises(InputError, match="no column r2"):
        export.regression_table(frame.drop(columns="r2"))


def test_latex_and_markdown_escaping():
    assert export.latex_escape("a&b%c$d#e_f{g}h~i^j\\k") == (
        r"a\&b\%c\$d\#e\_f\{g\}h\textasciitilde{}i\textasciicircum{}j\textbackslash{}k")
    assert export.latex_escape("x\ny\tz") == "x y z"
    assert export.md_escape("a|b*c_d`e<f") == r"a\|b\*c\_d\`e\<f"
    car = tiny_car().assign(series="50%_$#")
    tex = export.to_latex([export.car_table(car)])
    assert r"50\%\_\$\#" in tex
    # a number cell keeps its minus sign as math; an id's hyphen stays a hyphen
    car = tiny_car().replace({"event_id": {"a-1": "us-japan-1"}})
    assert "us-japan-1 & X\\&Y & $-$1.23" in export.to_latex([export.car_table(car)])


def test_paper_tables_shows_group_tests_for_the_car_windows():
    tests = tiny_tests()
    extra = tests[tests["group"] != ""].assign(window_start=3, window_end=3)
    tables = export.paper_tables(tiny_car(), pd.concat([tests, extra]), tiny_regressions())
    assert [t.name for t in tables] == ["car", "group-tests", "regressions"]
    assert [c.text for c in tables[1].columns] == ["Group", "Test", "N", "[0, 0]", "[-1, +1]"]
    assert [t.name for t in export.paper_tables(tiny_car(), None)] == ["car"]


def _sheet_rows(data: bytes, sheet: str) -> list[tuple]:
    import openpyxl
    wb = openpyxl.load_workbook(io.BytesIO(data))
    return [tuple(v for v in row) for row in wb[sheet].iter_rows(values_only=True)]


def test_xlsx_holds_the_same_table(monkeypatch):
    pytest.importorskip("openpyxl")
    car = tiny_car().assign(series="=SUM(A1)")           # text, never a formula
    data = export.to_xlsx(export.paper_tables(car, tiny_tests(), tiny_regressions()))
    rows = _sheet_rows(data, "CAR")
    assert rows[0][0] == "Cumulative abnormal returns by event and window (market model)"
    assert rows[1] == ("Event", "Series", "[0, 0]", "[-1, +1]")
    assert rows[2] == ("b_2", "=SUM(A1)", "5.00*", "\u2013")
    assert rows[3] == (None, None, "(3.00)", None)
    assert rows[4] == ("a-1", "=SUM(A1)", "-1.23***\u2021", "0.40")
    assert rows[-1][0].startswith("Note: CARs in percent")
    assert b"<f>" not in zipfile.ZipFile(io.BytesIO(data)).read("xl/worksheets/sheet1.xml")
    reg = _sheet_rows(data, "Regressions")
    assert reg[1] == (None, "(1) sector", "(2) size")
    assert reg[2] == ("Intercept", "-0.0123***", "0.0010")
    assert _sheet_rows(data, "Group tests")[2] == ("autos", "kp bmp", "5", "2.50**\u2020",
                                                   "-0.40")


def test_output_is_deterministic(monkeypatch):
    pytest.importorskip("openpyxl")
    tables = export.paper_tables(tiny_car(), tiny_tests(), tiny_regressions())
    first = {fmt: export.render(tables, fmt) for fmt in export.FORMATS}
    monkeypatch.setattr(time, "time", lambda: 2_000_000_000.0)   # zip entries use the clock
    again = export.render(export.paper_tables(tiny_car(), tiny_tests(), tiny_regressions()),
                          "xlsx")
    assert again == first["xlsx"]
    assert export.render(tables, "latex") == first["latex"]
    assert export.render(tables, "md") == first["md"]
    archive = zipfile.ZipFile(io.BytesIO(first["xlsx"]))
    assert {i.date_time for i in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}
    core = archive.read("docProps/core.xml").decode()
    assert core.count(export.FIXED_TIME) == 2        # created and modified


# ----------------------------------------------------------------------------- the CLI
@pytest.fixture
def results(tmp_path):
    folder = tmp_path / "reports" / "results"
    folder.mkdir(parents=True)
    (folder / "car.csv").write_text(to_csv(tiny_car()))
    (folder / "tests.csv").write_text(to_csv(tiny_tests()))
    (folder / "regressions.csv").write_text(to_csv(tiny_regressions()))
    return folder


def test_cli_export_reads_the_csvs_of_a_run(results, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(main, ["export", "--format", "md"])
    assert res.exit_code == 0, res.output
    assert res.output.startswith(CAR_MD)
    assert "### Cross-sectional regressions of CARs" in res.output
    # the same bytes as from the frames themselves
    direct = export.to_markdown(export.paper_tables(tiny_car(), tiny_tests(),
                                                    tiny_regressions()))
    assert res.output == direct
    res = CliRunner().invoke(main, ["export", "--format", "latex", "--out", "paper/",
                                    "--model", "market_model", "--test", "kp_bmp"])
    assert res.exit_code == 0, res.output
    assert "paper/tables.tex" in res.output
    assert CAR_LATEX in (tmp_path / "paper" / "tables.tex").read_text()
    res = CliRunner().invoke(main, ["export", "--format", "xlsx"])
    assert res.exit_code == 0, res.output
    first = (tmp_path / "tables.xlsx").read_bytes()
    res = CliRunner().invoke(main, ["export", "--format", "xlsx", "--out", "again.xlsx"])
    assert (tmp_path / "again.xlsx").read_bytes() == first


def test_cli_export_bad_input_is_one_line(results, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(main, ["export", "--format", "md", "--results", "nowhere"])
    assert res.exit_code == 2
    assert res.output.strip().startswith("error: nowhere: no car.csv in this folder")
    assert len(res.output.strip().splitlines()) == 1
    res = CliRunner().invoke(main, ["export", "--format", "md", "--test", "kp_bnp"])
    assert res.exit_code == 2 and "unknown test 'kp_bnp' (did you mean 'kp_bmp'?)" in res.output
    car = (results / "car.csv").read_text().splitlines()
    car[1] = car[1].replace("-0.0123", "minus one", 1)
    (results / "car.csv").write_text("\n".join(car) + "\n")
    res = CliRunner().invoke(main, ["export", "--format", "md"])
    assert res.exit_code == 2
    assert res.output.strip() == ("error: reports/results/car.csv, row 2, field car: not a "
                                  "number: 'minus one'")


def test_the_paper_output_doc_runs(monkeypatch, tmp_path):
    """docs/paper-output.md's python blocks, in order, from the repository root."""
    import re
    from pathlib import Path
    doc = Path(__file__).resolve().parents[1] / "docs" / "paper-output.md"
    monkeypatch.chdir(doc.parents[1])
    monkeypatch.setenv("EVENTSTUDY_CACHE", str(tmp_path / "cache"))
    blocks = re.findall(r"```python\n(.*?)```", doc.read_text(), flags=re.S)
    assert len(blocks) == 4
    namespace: dict = {}
    for i, block in enumerate(blocks, start=1):
        exec(compile(block, f"paper-output block {i}", "exec"), namespace)
    assert namespace["tex"].count("\\caption{") == 2
    assert "| Event | Series | [0, 0] | [-1, +1] | [0, +5] |" in namespace["md"]
    assert namespace["events"]["announced_at_utc"].iloc[0] == pd.Timestamp("2025-04-02 20:00",
                                                                            tz="UTC")


def test_result_methods_use_a_regressions_frame_if_the_result_has_one():
    from types import SimpleNamespace
    result = SimpleNamespace(car=tiny_car(), tests=tiny_tests(), events=pd.DataFrame(
        {"event_id": ["a-1", "b_2"]}))
    assert [t.name for t in export.result_tables(result)] == ["car", "group-tests"]
    result.regressions = tiny_regressions()
    tables = export.result_tables(result)
    assert [t.name for t in tables] == ["car", "group-tests", "regressions"]
    assert [row[0].text for row in tables[0].panels[0][1]] == ["a-1", "", "b_2", ""]
    result.regressions = lambda formula: None        # a method of that name is not a frame
    assert len(export.result_tables(result)) == 2
    assert len(export.result_tables(result, regressions=tiny_regressions())) == 3


LONG_HEAD = r"""% Tables by `eventstudy export`; they need \usepackage{booktabs} and \usepackage{longtable}.

\begin{longtable}{llc}
\caption{Cumulative abnormal returns by event and window (market model)}\label{tab:car} \\
\toprule
Event & Series & {[0, 0]} \\
\midrule
\endfirsthead
\toprule
Event & Series & {[0, 0]} \\
\midrule
\endhead
\bottomrule
\endfoot
e00 & S & 1.00 \\
 &  & (1.00) \\
e01 & S & 1.00 \\
"""


def test_a_long_table_is_a_longtable_with_its_header_on_every_page():
    n = 31                                   # 62 rows > LONG_ROWS
    car = pd.DataFrame({"event_id": [f"e{i:02d}" for i in range(n)], "series": "S",
                        "model": "market_model", "window_start": 0, "window_end": 0,
                        "car": 0.01, "se": 0.01, "p_value": 0.5,
                        "day0": pd.date_range("2025-01-01", periods=n)})
    tex = export.to_latex([export.car_table(car)])
    assert tex.startswith(LONG_HEAD)
    assert tex.rstrip().endswith("e30 & S & 1.00 \\\\\n &  & (1.00) \\\\\n\\end{longtable}\n"
                                 "\\par\\smallskip\\noindent\\parbox{\\linewidth}{\\footnotesize "
                                 "\\textit{Note:} CARs in percent: cumulative abnormal returns "
                                 "over the window (trading days relative to day 0). Standard "
                                 "errors in parentheses; they include the estimation error of "
                                 "the normal-return model. * p \\textless{} 0.10, ** p "
                                 "\\textless{} 0.05, *** p \\textless{} 0.01 (two-sided).}")
    short = export.to_latex([export.car_table(car[:30])])
    assert "longtable" not in short and "\\begin{table}[htbp]" in short


def test_cli_export_window_option(results, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(main, ["export", "--format", "md", "--window", "-1", "1"])
    assert res.exit_code == 0, res.output
    assert "| Event | Series | [-1, +1] |" in res.output
    assert "| Group | Test | N | [-1, +1] |" in res.output
    res = CliRunner().invoke(main, ["export", "--format", "md", "--window", "0", "9"])
    assert res.exit_code == 2
    assert res.output.strip() == ("error: field --window: no window [0, +9] in the results "
                                  "(known: [0, 0], [-1, +1])")


@pytest.mark.skipif(not __import__("shutil").which("pdflatex"),
                    reason="pdflatex not installed (Debian: texlive-latex-recommended)")
def test_the_latex_compiles(tmp_path):
    """Every table (special characters in ids, a longtable, the regressions) through
    pdflatex: no error."""
    import subprocess
    n = 31
    long_car = pd.DataFrame({"event_id": [f"e{i:02d}" for i in range(n)], "series": "S",
                             "model": "market_model", "window_start": 0, "window_end": 0,
                             "car": -0.01, "se": 0.01, "p_value": 0.04, "p_holm": 0.3,
                             "p_bh": 0.04, "day0": pd.date_range("2025-01-01", periods=n)})
    tables = export.paper_tables(tiny_car().assign(series="50%_$#~^{}\\&"), tiny_tests(),
                                 tiny_regressions()) + [export.car_table(long_car)]
    (tmp_path / "tables.tex").write_text(export.to_latex(tables))
    (tmp_path / "doc.tex").write_text(
        "\\documentclass{article}\\usepackage[T1]{fontenc}\\usepackage{booktabs}"
        "\\usepackage{longtable}\\begin{document}\\input{tables.tex}\\end{document}\n")
    done = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error",
                           "doc.tex"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stdout[-2000:]
    assert (tmp_path / "doc.pdf").stat().st_size > 0


def test_csv_bytes_are_to_csv_utf8_without_text_copies():
    """`write_csvs` writes `csv_bytes` (arrow's buffer, no str copies of a gigabyte-sized
    ar.csv): the same bytes as `to_csv`'s text, a cell's CRLF written as LF either way."""
    from eventstudy.result import csv_bytes
    frame = pd.DataFrame({"x": [1.5, float("nan")], "s": ["a\r\nb", "é"],
                          "d": pd.to_datetime(["2025-04-02", "2025-04-09"])})
    for f in (frame, frame[["x"]], frame[:0], pd.DataFrame()):
        assert bytes(csv_bytes(f)) == to_csv(f).encode("utf-8")
    assert to_csv(frame) == '"x","s","d"\n1.5,"a\nb","2025-04-02"\n,"é","2025-04-09"\n'
