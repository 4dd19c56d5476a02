"""Paper-ready tables: CARs by event and window, the group tests, the regressions; written as
LaTeX (booktabs), Markdown or an Excel workbook.

The tables are drawn from the result frames (or the results/*.csv files a run wrote), never
recomputed. The same frames give the same bytes: no date, time or version is written, and the
workbook's created/modified stamps and its zip entries' times are fixed (FIXED_TIME).
"""
from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from eventstudy.errors import InputError, suggest
from eventstudy.multitest import survival_marker

FORMATS = {"latex": ".tex", "md": ".md", "xlsx": ".xlsx"}
STAR_NOTE = "* p < 0.10, ** p < 0.05, *** p < 0.01 (two-sided)"
ADJUSTED_NOTE = ("\u2020 the p-value is still below 0.05 after the Benjamini-Hochberg "
                 "adjustment for multiple testing over its family ({family}), \u2021 after "
                 "Holm's as well")
FIXED_TIME = "1980-01-01T00:00:00Z"       # the earliest time a zip entry can carry
DASH = "\u2013"                           # a missing value


def stars(p) -> str:
    """*** p < 0.01, ** p < 0.05, * p < 0.10; '' for larger or missing p."""
    p = _float(p)
    if p is None:
        return ""
    return "***" if p < 0.01 else "**" if p < 0.05 else "*" if p < 0.10 else ""


# ----------------------------------------------------------------------------- the tables
@dataclass
class Cell:
    text: str = ""
    sup: str = ""          # stars and survival marker: a superscript in LaTeX
    num: bool = False      # a number (LaTeX: a true minus sign)


@dataclass
class PaperTable:
    name: str                       # label / sheet name
    title: str
    columns: list[Cell]
    stub: int                       # leading label columns (left aligned)
    panels: list[tuple[str, list[list[Cell]]]] = field(default_factory=list)
    note: str = ""


def car_table(car: pd.DataFrame, *, models=None, windows=None, events=None) -> PaperTable:
    """CAR (percent) with stars, its standard error in parentheses below; one row pair per
    (event, series), one column per window, one panel per model.

    `events`: the event ids to show, in that order (default: all, by day 0, then as they
    come)."""
    car = _need(car, "car", ["event_id", "series", "model", "window_start", "window_end",
                             "car", "se", "p_value"])
    if events is not None:
        car = car[car["event_id"].isin(set(events))]
    models = _choose(models, _unique(car["model"]), "model", "car")
    wins = _choose_windows(windows, car)
    car = car[car["model"].isin(models)]
    order = _pair_order(car, events)
    by_key = {(r.event_id, r.series, r.model, int(r.window_start), int(r.window_end)): r
              for r in car.itertuples(index=False)}
    panels = []
    for model in models:
        rows = []
        for eid, sid in order:
            if not any((eid, sid, model, *w) in by_key for w in wins):
                continue
            top, below = [Cell(str(eid)), Cell(str(sid))], [Cell(), Cell()]
            for w in wins:
                r = by_key.get((eid, sid, model, *w))
                if r is None or _float(r.car) is None:
                    top.append(Cell(DASH))
                    below.append(Cell())
                    continue
                top.append(Cell(_fixed(100 * r.car, 2), _sup(r), num=True))
                se = _float(r.se)
                below.append(Cell(f"({_fixed(100 * se, 2)})" if se is not None else "",
                                  num=True))
            rows += [top, below]
        panels.append((_model_name(model), rows))
    adjusted = "p_bh" in car.columns
    note = ("CARs in percent: cumulative abnormal returns over the window (trading days "
            "relative to day 0). Standard errors in parentheses; they include the estimation "
            f"error of the normal-return model. {STAR_NOTE}"
            + ("; " + ADJUSTED_NOTE.format(family="every pair of one model and window")
               if adjusted else "") + ".")
    return PaperTable("car", "Cumulative abnormal returns by event and window"
                      + _one_model(models),
                      [Cell("Event"), Cell("Series")] + [Cell(_window(w), num=True)
                                                         for w in wins],
                      2, _label_panels(panels), note)


def group_table(tests: pd.DataFrame, *, models=None, windows=None,
                tests_shown=None) -> PaperTable | None:
    """Each group's test statistics with stars, p-values in brackets below; one row pair per
    (group, test), one column per window, one panel per model. None without group rows."""
    tests = _need(tests, "tests", ["group", "model", "window_start", "window_end", "test",
                                   "statistic", "p_value", "n"])
    rows_g = tests[tests["group"].fillna("").astype(str) != ""]
    if rows_g.empty:
        return None
    models = _choose(models, _unique(rows_g["model"]), "model", "tests")
    shown = _unique(rows_g["test"])
    if tests_shown is None:       # not a test with no statistic anywhere (withheld: OVERSIZED)
        has = set(rows_g.loc[rows_g["statistic"].notna(), "test"])
        shown = [t for t in shown if t in has]
    names = _choose(tests_shown, shown, "test", "tests")
    wins = _choose_windows(windows, rows_g)
    rows_g = rows_g[rows_g["model"].isin(models) & rows_g["test"].isin(names)]
    by_key = {(r.group, r.model, r.test, int(r.window_start), int(r.window_end)): r
              for r in rows_g.itertuples(index=False)}
    groups = _unique(rows_g["group"])
    panels = []
    for model in models:
        rows = []
        for gid in groups:
            for name in names:
                found = [by_key.get((gid, model, name, *w)) for w in wins]
                if all(r is None for r in found):
                    continue
                ns = sorted({int(r.n) for r in found if r is not None and _float(r.n) is not None})
                n = (f"{ns[0]}" if len(ns) == 1 else f"{ns[0]}{DASH}{ns[-1]}" if ns else "")
                top = [Cell(str(gid)), Cell(name.replace("_", " ")), Cell(n, num=True)]
                below = [Cell(), Cell(), Cell()]
                for r in found:
                    stat = _float(r.statistic) if r is not None else None
                    if stat is None:
                        top.append(Cell(DASH))
                        below.append(Cell())
                        continue
                    top.append(Cell(_fixed(stat, 2), _sup(r), num=True))
                    p = _float(r.p_value)
                    below.append(Cell(f"[{_fixed(p, 3)}]" if p is not None else "", num=True))
                rows += [top, below]
        panels.append((_model_name(model), rows))
    adjusted = "p_bh" in rows_g.columns
    note = ("Test statistics of the group's CARs (a t or z statistic, by test; see the "
            "methods), p-values in brackets; N = pairs in the group (a range where it differs "
            f"by window). {STAR_NOTE}"
            + ("; " + ADJUSTED_NOTE.format(family="every group of one test, model and window")
               if adjusted else "") + ".")
    return PaperTable("group-tests", "Group tests by window" + _one_model(models),
                      [Cell("Group"), Cell("Test"), Cell("N", num=True)]
                      + [Cell(_window(w), num=True) for w in wins],
                      2, _label_panels(panels), note)


REGRESSION_COLUMNS = ["name", "term", "estimate", "se", "t", "p", "n", "n_clusters", "cov_type",
                      "r2"]


def regression_table(reg: pd.DataFrame | None) -> PaperTable | None:
    """One column per regression (`name`), a coefficient with stars and its standard error in
    parentheses per term; observations, clusters, R-squared and the covariance below."""
    if reg is None or len(reg) == 0:
        return None
    reg = _need(reg, "regressions", REGRESSION_COLUMNS)
    names = _unique(reg["name"])
    terms = _unique(reg["term"])
    by_key = {(r.name, r.term): r for r in reg.itertuples(index=False)}
    first = {name: next(r for r in reg.itertuples(index=False) if r.name == name)
             for name in names}
    rows = []
    for term in terms:
        top, below = [Cell(str(term))], [Cell()]
        for name in names:
            r = by_key.get((name, term))
            est = _float(r.estimate) if r is not None else None
            if est is None:
                top.append(Cell())
                below.append(Cell())
                continue
            top.append(Cell(_coef(est), stars(r.p), num=True))
            se = _float(r.se)
            below.append(Cell(f"({_coef(se)})" if se is not None else "", num=True))
        rows += [top, below]
    stats = [
        [Cell("Observations")] + [Cell(_int(first[n].n), num=True) for n in names],
        [Cell("Clusters")] + [Cell(_int(first[n].n_clusters), num=True) for n in names],
        [Cell("R\u00b2")] + [Cell(_fixed(first[n].r2, 3), num=True) for n in names],
        [Cell("Standard errors")] + [Cell(str(first[n].cov_type)) for n in names]]
    covs = ", ".join(_unique(reg["cov_type"].astype(str)))
    note = (f"Regressions of CARs (fractions, not percent) on the regressors; standard errors "
            f"in parentheses ({covs}). {STAR_NOTE}.")
    return PaperTable("regressions", "Cross-sectional regressions of CARs",
                      [Cell("")] + [Cell(f"({i}) {n}") for i, n in enumerate(names, 1)],
                      1, [("", rows), ("", stats)], note)


def paper_tables(car: pd.DataFrame, tests: pd.DataFrame | None = None,
                 regressions: pd.DataFrame | None = None, *, models=None, windows=None,
                 group_tests=None, events=None) -> list[PaperTable]:
    """The tables a paper shows, in order: CARs, group tests (if any), regressions (if any).

    Group tests are shown for the CAR windows (the study's event windows) unless `windows`
    says otherwise; `group_tests` picks tests by name (default: all)."""
    windows = windows if windows is not None else _windows(car)
    out = [car_table(car, models=models, windows=windows, events=events)]
    if tests is not None and len(tests):
        g = group_table(tests, models=models, windows=windows, tests_shown=group_tests)
        if g is not None:
            out.append(g)
    r = regression_table(regressions)
    if r is not None:
        out.append(r)
    return out


def result_tables(result, regressions=None, **options) -> list[PaperTable]:
    """`paper_tables` of a StudyResult; regressions default to `result.regressions`."""
    if regressions is None:
        found = getattr(result, "regressions", None)
        regressions = found if isinstance(found, pd.DataFrame) else None
    if options.get("events") is None and getattr(result, "events", None) is not None:
        options["events"] = list(result.events["event_id"])
    return paper_tables(result.car, result.tests, regressions, **options)


# ----------------------------------------------------------------------------- LaTeX
_LATEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
          "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}",
          "^": r"\textasciicircum{}", "<": r"\textless{}", ">": r"\textgreater{}",
          "\u2013": "--", "\u2014": "---", "\u2020": r"\textdagger{}",
          "\u2021": r"\textdaggerdbl{}", "\u00b2": r"\textsuperscript{2}"}


def latex_escape(text) -> str:
    """Text safe inside a LaTeX table: the ten special characters (and < > ² † ‡ dashes)
    written as commands; line breaks and other control characters become spaces."""
    text = re.sub(r"[\x00-\x1f\x7f]+", " ", str(text))
    return "".join(_LATEX.get(ch, ch) for ch in text)


def _latex_cell(c: Cell) -> str:
    out = latex_escape(c.text)
    if c.num:
        out = re.sub(r"(?<![\w$])-(?=\d)", "$-$", out)
    if out.startswith("["):       # '\\' followed by '[' would read as \\[length]
        out = "{" + out + "}"
    if c.sup:
        sup = latex_escape(c.sup).replace(r"\textdagger{}", r"\dagger").replace(
            r"\textdaggerdbl{}", r"\ddagger")
        out += f"$^{{{sup}}}$"
    return out


LONG_ROWS = 60     # more rows than this: a longtable, which breaks across pages


def to_latex(tables: list[PaperTable]) -> str:
    """booktabs tables in `table` floats, one per paper table, notes below in small type; a
    table of more than LONG_ROWS rows (a universe's CARs) is a `longtable` whose header
    repeats on every page."""
    long = [sum(len(rows) for _, rows in t.panels) > LONG_ROWS for t in tables]
    packages = "booktabs" + (" and longtable" if any(long) else "")
    parts = [f"% Tables by `eventstudy export`; they need \\usepackage{{{packages}}}."
             .replace("{booktabs and longtable}", "{booktabs} and \\usepackage{longtable}")
             + "\n"]
    for t, is_long in zip(tables, long):
        k = len(t.columns)
        spec = "l" * t.stub + "c" * (k - t.stub)
        head = ["\\toprule", " & ".join(_latex_cell(c) for c in t.columns) + " \\\\"]
        caption = [f"\\caption{{{latex_escape(t.title)}}}", f"\\label{{tab:{t.name}}}"]
        if is_long:
            lines = [f"\\begin{{longtable}}{{{spec}}}", "".join(caption) + " \\\\", *head,
                     "\\midrule", "\\endfirsthead", *head, "\\midrule", "\\endhead",
                     "\\bottomrule", "\\endfoot"]
        else:
            lines = ["\\begin{table}[htbp]", "\\centering", *caption,
                     f"\\begin{{tabular}}{{{spec}}}", *head]
        for i, (title, rows) in enumerate(t.panels):
            if i or not is_long:
                lines.append("\\midrule")
            if title:
                lines.append(f"\\multicolumn{{{k}}}{{l}}{{\\textit{{{latex_escape(title)}}}}}"
                             " \\\\")
            lines += [" & ".join(_latex_cell(c) for c in row) + " \\\\" for row in rows]
        note = (f"\\par\\smallskip\\noindent\\parbox{{\\linewidth}}{{\\footnotesize "
                f"\\textit{{Note:}} {latex_escape(t.note)}}}")
        if is_long:
            lines += ["\\end{longtable}", note, ""]
        else:
            lines += ["\\bottomrule", "\\end{tabular}", "", note, "\\end{table}", ""]
        parts.append("\n".join(lines))
    return "\n".join(parts)


# ----------------------------------------------------------------------------- Markdown
_MD = re.compile(r"([\\`*_|<>])")


def md_escape(text) -> str:
    """Text safe in a GitHub-flavoured Markdown table cell (no emphasis, no column break)."""
    return _MD.sub(r"\\\1", re.sub(r"[\x00-\x1f\x7f]+", " ", str(text)))


def to_markdown(tables: list[PaperTable]) -> str:
    """Pipe tables, one heading per table and a bold line per panel, the note below."""
    out = []
    for t in tables:
        out.append(f"### {md_escape(t.title)}\n")
        head = "| " + " | ".join(md_escape(c.text) for c in t.columns) + " |"
        rule = "|" + "|".join(":--" if i < t.stub else "--:" for i in range(len(t.columns))) \
            + "|"
        for title, rows in t.panels:
            if title:
                out.append(f"**{md_escape(title)}**\n")
            out += [head, rule]
            out += ["| " + " | ".join(md_escape(c.text + c.sup) for c in row) + " |"
                    for row in rows]
            out.append("")
        out.append(f"Note: {md_escape(t.note)}\n")
    return "\n".join(out)


# ----------------------------------------------------------------------------- Excel
SHEETS = {"car": "CAR", "group-tests": "Group tests", "regressions": "Regressions"}


def to_xlsx(tables: list[PaperTable]) -> bytes:
    """A workbook with one sheet per table laid out as in the paper (text cells, stars and
    markers included). Byte-identical for the same tables (see `_fixed_zip`). Needs
    openpyxl (the `xlsx` extra)."""
    try:
        from openpyxl import Workbook
        from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
        from openpyxl.styles import Alignment, Border, Font, Side
    except ImportError:
        raise InputError("the xlsx format needs openpyxl: pip install openpyxl (or the "
                         "package's extra: pip install 'eventstudy-markets[xlsx]')") from None
    wb = Workbook()
    wb.remove(wb.active)
    wb.properties.creator = "eventstudy"
    bold, italic, small = Font(bold=True), Font(italic=True), Font(italic=True, size=9)
    rule = Border(bottom=Side(style="thin"))

    def put(ws, row, col, text, font=None, right=False):
        cell = ws.cell(row=row, column=col)
        cell.value = ILLEGAL_CHARACTERS_RE.sub(" ", text)
        cell.data_type = "s"        # never a formula, whatever the text starts with
        if font is not None:
            cell.font = font
        if right:
            cell.alignment = Alignment(horizontal="right")
        return cell

    for t in tables:
        ws = wb.create_sheet(SHEETS.get(t.name, t.name[:31]))
        put(ws, 1, 1, t.title, bold)
        for j, c in enumerate(t.columns, 1):
            put(ws, 2, j, c.text, bold, right=j > t.stub).border = rule
        r = 3
        widths = [len(c.text) for c in t.columns]
        for title, rows in t.panels:
            if title:
                put(ws, r, 1, title, italic)
                r += 1
            for row in rows:
                for j, c in enumerate(row, 1):
                    text = c.text + c.sup
                    if text:
                        put(ws, r, j, text, right=j > t.stub)
                    widths[j - 1] = max(widths[j - 1], len(text))
                r += 1
        put(ws, r + 1, 1, "Note: " + t.note, small)
        for j, w in enumerate(widths, 1):
            ws.column_dimensions[_column_letter(j)].width = min(max(w + 2, 8), 40)
    buffer = io.BytesIO()
    wb.save(buffer)
    return _fixed_zip(buffer.getvalue())


_CORE_TIME = re.compile(rb"(<dcterms:(created|modified)[^>]*>)[^<]*(</dcterms:\2>)")


def _fixed_zip(data: bytes) -> bytes:
    """The workbook re-packed with every entry dated FIXED_TIME and the document's created /
    modified stamps set to it: openpyxl stamps both with the time of saving."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    stamp = FIXED_TIME.encode()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            body = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                body = _CORE_TIME.sub(lambda m: m.group(1) + stamp + m.group(3), body)
            entry = zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0))
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o644 << 16
            dst.writestr(entry, body)
    return out.getvalue()


def _column_letter(j: int) -> str:
    s = ""
    while j:
        j, rem = divmod(j - 1, 26)
        s = chr(65 + rem) + s
    return s


# ----------------------------------------------------------------------------- files
def render(tables: list[PaperTable], fmt: str) -> str | bytes:
    if fmt == "latex":
        return to_latex(tables)
    if fmt == "md":
        return to_markdown(tables)
    if fmt == "xlsx":
        return to_xlsx(tables)
    raise InputError(f"unknown format {fmt!r} (known: {', '.join(FORMATS)})"
                     f"{suggest(fmt, FORMATS)}", field="--format")


def write(data: str | bytes, path: str | Path) -> Path:
    """Write atomically (eventstudy.atomic): an interrupted export leaves the old file."""
    from eventstudy import atomic
    path = Path(path)
    if isinstance(data, bytes):
        atomic.write_bytes(path, data)
    else:
        atomic.write_text(path, data)
    return path


NUMERIC = {"car": ["window_start", "window_end", "car", "se", "p_value", "p_holm", "p_bh"],
           "tests": ["window_start", "window_end", "statistic", "p_value", "p_holm", "p_bh",
                     "n", "estimate"],
           "regressions": ["estimate", "se", "t", "p", "n", "n_clusters", "r2"],
           "alignment": []}


def read_results(folder: str | Path) -> dict:
    """car, tests and regressions (None when absent) from a results/ folder of CSV files, and
    `events`: the event ids in announcement order (from alignment.csv; None without it).
    A file that is not what a run writes is one InputError naming file, row and field."""
    folder = Path(folder)
    if not (folder / "car.csv").is_file():
        raise InputError("no car.csv in this folder: run `eventstudy run` first, or give the "
                         "results folder of a run (--results reports/results)", file=str(folder))
    out = {}
    for name in ("car", "tests", "regressions"):
        path = folder / f"{name}.csv"
        out[name] = _read_csv(path, name) if path.is_file() else None
    out["events"] = _event_order(folder / "alignment.csv")
    return out


def _event_order(path: Path) -> list[str] | None:
    """Event ids by announcement instant, then id (as load_events orders them)."""
    if not path.is_file():
        return None
    frame = _read_csv(path, "alignment")
    if not {"event_id", "announced_at_utc"} <= set(frame.columns):
        return None
    first = frame.groupby("event_id", sort=False)["announced_at_utc"].first()
    stamps = pd.to_datetime(first, errors="coerce", utc=True)
    return sorted(first.index, key=lambda e: (pd.isna(stamps[e]),
                                              stamps[e] if not pd.isna(stamps[e]) else 0, e))


def _read_csv(path: Path, name: str) -> pd.DataFrame:
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise InputError(f"not a results CSV: {str(exc).splitlines()[0]}",
                         file=str(path)) from None
    for col in NUMERIC[name]:
        if col not in frame.columns:
            continue
        text = frame[col].str.strip()
        values = pd.to_numeric(text.replace("", np.nan), errors="coerce")
        bad = values.isna() & text.ne("")
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise InputError(f"not a number: {text.iloc[i]!r}", file=str(path), row=i + 2,
                             field=col)
        frame[col] = values.astype(float)
    return frame


# ----------------------------------------------------------------------------- helpers
def _need(frame: pd.DataFrame, name: str, columns: list[str]) -> pd.DataFrame:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InputError(f"the {name} frame has no column{'s' if len(missing) > 1 else ''} "
                         f"{', '.join(missing)}", field=missing[0])
    return frame


def _unique(values) -> list:
    return list(dict.fromkeys(v for v in values.tolist() if not _missing(v)))


def _choose(chosen, known: list, what: str, frame: str) -> list:
    if chosen is None or (not isinstance(chosen, str) and len(chosen) == 0):
        return known
    chosen = [chosen] if isinstance(chosen, str) else list(chosen)
    for c in chosen:
        if c not in known:
            raise InputError(f"unknown {what} {c!r}{suggest(c, known)} (in {frame}: "
                             f"{', '.join(map(str, known))})", field=f"--{what}")
    return chosen


def _windows(frame: pd.DataFrame) -> list[tuple[int, int]]:
    pairs = zip(frame["window_start"].tolist(), frame["window_end"].tolist())
    return list(dict.fromkeys((int(a), int(b)) for a, b in pairs
                              if not _missing(a) and not _missing(b)))


def _choose_windows(windows, frame) -> list[tuple[int, int]]:
    known = _windows(frame)
    if windows is None:
        return known
    wins = [(int(a), int(b)) for a, b in windows]
    shown = [w for w in wins if w in known]
    if not shown:
        raise InputError(f"no window {', '.join(map(_window, wins))} in the results (known: "
                         f"{', '.join(map(_window, known))})", field="--window")
    return shown


def _pair_order(car: pd.DataFrame, events) -> list[tuple[str, str]]:
    """(event, series) pairs: events in the given order, else by their first day 0 (then as
    they come); series as they come within an event."""
    pairs = list(dict.fromkeys(zip(car["event_id"].tolist(), car["series"].tolist())))
    if events is not None:
        rank = {e: i for i, e in enumerate(events)}
    else:
        day0 = pd.to_datetime(car["day0"], errors="coerce") if "day0" in car.columns \
            else pd.Series(pd.NaT, index=car.index)
        first = pd.DataFrame({"e": car["event_id"], "d": day0}).groupby("e", sort=False)["d"]
        first = first.min()
        ordered = sorted(first.index, key=lambda e: (pd.isna(first[e]),
                                                     first[e] if not pd.isna(first[e]) else 0))
        rank = {e: i for i, e in enumerate(ordered)}
    big = len(rank)
    return sorted(pairs, key=lambda p: rank.get(p[0], big))


def _one_model(models) -> str:
    return f" ({_model_name(models[0])})" if len(models) == 1 else ""


def _label_panels(panels):
    if len(panels) <= 1:
        return [("", rows) for _, rows in panels] if panels else []
    return [(f"Panel {chr(65 + i)}: {title}", rows) for i, (title, rows) in enumerate(panels)]


def _sup(r) -> str:
    return stars(r.p_value) + survival_marker(getattr(r, "p_holm", None),
                                              getattr(r, "p_bh", None))


def _missing(x) -> bool:
    try:
        return bool(pd.isna(x))
    except (TypeError, ValueError):
        return False


def _float(x) -> float | None:
    try:
        x = float(x)
    except (TypeError, ValueError):
        return None
    return x if np.isfinite(x) else None


def _fixed(x, digits: int) -> str:
    x = _float(x)
    if x is None:
        return ""
    out = f"{x:.{digits}f}"
    return out[1:] if out.startswith("-") and float(out) == 0 else out


def _coef(x) -> str:
    """Coefficients: 4 decimals, or 3 significant digits in e-notation when smaller."""
    x = _float(x)
    if x is None:
        return ""
    return _fixed(x, 4) if x == 0 or abs(x) >= 0.0005 else f"{x:.2e}"


def _int(x) -> str:
    x = _float(x)
    return "" if x is None else f"{int(round(x)):d}"


def _window(w) -> str:
    def d(v: int) -> str:
        return f"{v:+d}" if v else "0"
    return f"[{d(int(w[0]))}, {d(int(w[1]))}]"


def _model_name(model) -> str:
    return str(model).replace("_", " ")
