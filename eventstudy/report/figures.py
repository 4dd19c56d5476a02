"""Plotly figures of the report, drawn only from the result frames.

Every builder takes slices of `StudyResult` frames and returns a `Chart`: a plotly figure spec
(data + layout) serialised to deterministic JSON (keys sorted, floats rounded to 6 significant
digits, NaN as null, no random ids). Pages embed the JSON in a <script type="application/json">
and `report.js` calls `Plotly.newPlot` on a div with a fixed id (`fig-<n>`): the equivalent of
`to_html(full_html=False, include_plotlyjs=False, div_id=...)`, with the rounding under our
control, so the same result gives the same bytes.

Specs are written as plain dicts rather than `go.Figure` objects: graph_objects validate every
property on assignment, which cost ~10 s for a report's ~70 figures. `validate()` runs plotly's
schema check on a spec; the tests call it on every figure of the real report.

Nothing here computes a statistic: values are plotted as the study wrote them (the bands are
the frames' standard errors times 1.96, a drawing convention).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from eventstudy.report import fmt

# Okabe & Ito (2008), colour-blind safe; black is kept for the reference lines.
OKABE_ITO = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442",
             "#000000")
INK = "#222222"
GRID = "#e3e3e3"
BAND_Z = 1.96
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif"
SIG_DIGITS = 6
PLOT_CONFIG = {"displaylogo": False, "responsive": True,
               "modeBarButtonsToRemove": ["lasso2d", "select2d", "autoScale2d"],
               "toImageButtonOptions": {"format": "png", "scale": 2}}


@dataclass(frozen=True)
class Chart:
    """A figure ready for a page: its title, height and the JSON spec Plotly.newPlot reads."""
    title: str
    spec: str
    height: int
    kind: str = ""      # where the page puts it (e.g. "day0", "price", "ar")
    id: str = ""        # the div id, fig-<n>, given when the page is assembled


def colour(i: int) -> str:
    return OKABE_ITO[i % len(OKABE_ITO)]


def fill(hex_colour: str, alpha: float) -> str:
    h = hex_colour.lstrip("#")
    r, g, b = (int(h[i:i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def _round(value):
    """Floats to SIG_DIGITS significant digits, NaN/inf to None, recursively; keys kept."""
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return None
        return float(f"{value:.{SIG_DIGITS}g}")
    if isinstance(value, dict):
        return {k: _round(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_round(v) for v in value]
    return value


def to_chart(fig: dict, title: str, kind: str = "") -> Chart:
    """Serialise a figure deterministically (html-safe: no '<', '>' or '&' in the JSON)."""
    spec = {"data": _round(fig["data"]), "layout": _round(fig["layout"]), "config": PLOT_CONFIG}
    text = json.dumps(spec, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return Chart(title=title, spec=text, height=int(fig["layout"]["height"]), kind=kind)


def validate(chart: Chart | str):
    """Check a chart's spec against plotly's schema (slow: for tests, not for every build).
    Raises ValueError on a property plotly does not know. Returns the go.Figure (plotly's
    graph_objects are imported here only: a build writes the specs as JSON without them)."""
    import plotly.graph_objects as go
    spec = json.loads(chart.spec if isinstance(chart, Chart) else chart)
    return go.Figure(data=spec["data"], layout=spec["layout"])


def _floats(values) -> list:
    return [fmt.num(v) for v in values]


def _dates(values) -> list[str]:
    return [fmt.date(v) for v in values]


def _utc_x(ts) -> str:
    """An instant as a plotly date string in UTC (the time axes say so)."""
    return fmt.as_utc(ts).strftime("%Y-%m-%d %H:%M")


def _axis(**kw) -> dict:
    base = {"showgrid": True, "gridcolor": GRID, "zeroline": False, "linecolor": "#888",
            "ticks": "outside", "showline": True, "automargin": True}
    base.update(kw)
    return base


def _figure(title: str, height: int, data: list[dict], margin_top: int = 80, **layout) -> dict:
    lay = {
        "title": {"text": title, "x": 0.0, "xanchor": "left", "xref": "paper",
                  "font": {"size": 15}},
        "height": height, "font": {"family": FONT, "size": 12, "color": INK},
        "paper_bgcolor": "white", "plot_bgcolor": "white", "hovermode": "closest",
        "hoverlabel": {"font": {"family": FONT}},
        "margin": {"l": 70, "r": 30, "t": margin_top, "b": 60},
        "legend": {"orientation": "h", "yanchor": "bottom", "y": 1.0, "x": 1.0,
                   "xanchor": "right", "bgcolor": "rgba(255,255,255,0.8)"},
    }
    lay.update(layout)
    return {"data": data, "layout": lay}


def _vline(x, xref: str = "x", yref: str = "paper", colour_: str = "#555", width: float = 1,
           dash: str = "dot") -> dict:
    return {"type": "line", "xref": xref, "yref": yref, "x0": x, "x1": x, "y0": 0, "y1": 1,
            "line": {"color": colour_, "width": width, "dash": dash}, "layer": "below"}


def _announcement(x, width: float) -> dict:
    """The announcement instant as a dashed vertical line with its own legend entry."""
    line = _vline(x, colour_=OKABE_ITO[7], width=width, dash="dash")
    line.update(layer="above", showlegend=True, name="announcement")
    return line


def _html(s) -> str:
    """Plotly renders a few tags in hover text: escape what came from the user."""
    return fmt.text(s).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _wrap(s: str, width: int = 60) -> str:
    words, lines, line = s.split(), [], ""
    for w in words:
        if line and len(line) + len(w) + 1 > width:
            lines.append(line)
            line = w
        else:
            line = f"{line} {w}" if line else w
    if line:
        lines.append(line)
    return "<br>".join(lines)


def timeline(prices: pd.DataFrame, events: pd.DataFrame, names: dict[str, str],
             start: pd.Timestamp, end: pd.Timestamp) -> Chart:
    """Studied series normalised to 100 at their first shown date; events as numbered lines.

    `prices`: (series, date, close) already cut to [start, end], in the order to draw;
    `events`: rows with number, event_id, title, announced_at_utc.
    """
    data = []
    for i, (sid, sub) in enumerate(prices.groupby("series", sort=False)):
        sub = sub.sort_values("date")
        base = float(sub["close"].iloc[0])
        data.append({
            "type": "scatter", "mode": "lines", "x": _dates(sub["date"]),
            "y": _floats(sub["close"] / base * 100.0),
            "customdata": [[fmt.num(c)] for c in sub["close"]],
            "name": f"{names.get(sid, sid)} ({sid})", "line": {"color": colour(i), "width": 1.8},
            "hovertemplate": (f"{_html(sid)} %{{x|%Y-%m-%d}}<br>close %{{customdata[0]:,.4~f}}"
                              "<br>index %{y:.1f}<extra></extra>")})
    shapes, xs, ys, texts, hovers = [], [], [], [], []
    levels: list[pd.Timestamp] = []          # last marker time on each row of markers
    gap = (pd.Timestamp(end) - pd.Timestamp(start)) * 0.02
    for row in events.itertuples(index=False):
        x = _utc_x(row.announced_at_utc)
        t = fmt.as_utc(row.announced_at_utc).tz_localize(None)
        level = next((k for k, last in enumerate(levels) if t - last >= gap), len(levels))
        if level == len(levels):
            levels.append(t)
        levels[level] = t
        shapes.append(_vline(x))
        xs.append(x)
        ys.append(float(level + 1))
        texts.append(str(row.number))
        hovers.append(f"<b>{row.number}. {_html(row.event_id)}</b><br>"
                      f"{_wrap(_html(row.title))}<br>"
                      f"{fmt.instant(row.announced_at_utc, fmt.NEW_YORK)} = "
                      f"{fmt.instant(row.announced_at_utc, fmt.TOKYO)}")
    rows = max(len(levels), 1)
    top = 1.0 - 0.06 * rows
    data.append({
        "type": "scatter", "mode": "markers+text", "x": xs, "y": ys,
        "xaxis": "x", "yaxis": "y2", "text": texts, "textposition": "middle center",
        "textfont": {"color": "white", "size": 10},
        "marker": {"size": 18, "color": "#333", "symbol": "circle"},
        "hovertext": hovers, "hovertemplate": "%{hovertext}<extra></extra>", "name": "events",
        "showlegend": False, "cliponaxis": False})
    fig = _figure(
        "Studied series around the events (index: first shown date = 100)", 460 + 20 * rows,
        data, shapes=shapes,
        xaxis=_axis(title={"text": "Date (series: session dates; events: announcement time, UTC)"},
                    range=[fmt.date(start), fmt.date(end)], type="date"),
        yaxis=_axis(title={"text": "Close, indexed to 100"}, domain=[0.0, top - 0.02]),
        yaxis2={"domain": [top, 1.0], "range": [0.5, rows + 0.5], "visible": False,
                "fixedrange": True, "anchor": "x"})
    return to_chart(fig, "Timeline", "timeline")


def day0_chart(rows: pd.DataFrame, announced_utc, names: dict[str, str],
               zones: dict[str, str], labels: bool = False) -> Chart:
    """How day 0 was chosen: per series, the previous close and day 0's close on a UTC axis,
    with the announcement between them. `rows`: alignment rows of one event; `labels`: the
    series column is already the label (a universe: one row per calendar and day 0)."""
    labels = (list(rows["series"]) if labels else
              [f"{names.get(s, s)} ({s})" for s in rows["series"]])
    ann = _utc_x(announced_utc)
    data = []
    for lbl, r in zip(labels, rows.itertuples(index=False)):
        if fmt.missing(r.prev_close_utc) or fmt.missing(r.day0_close_utc):
            continue
        data.append({"type": "scatter", "mode": "lines", "x": [_utc_x(r.prev_close_utc),
                                                               _utc_x(r.day0_close_utc)],
                     "y": [lbl, lbl], "line": {"color": "#aaa", "width": 3},
                     "hoverinfo": "skip", "showlegend": False})
    for kind, col, session_col, symbol, i in (
            ("previous session close", "prev_close_utc", "prev_session", "circle-open", 0),
            ("day-0 session close", "day0_close_utc", "day0", "circle", 1)):
        ok = rows[col].notna().to_numpy()
        sub = rows[ok]
        data.append({
            "type": "scatter", "mode": "markers", "name": kind,
            "x": [_utc_x(t) for t in sub[col]], "y": [lbl for lbl, k in zip(labels, ok) if k],
            "marker": {"symbol": symbol, "size": 12, "color": colour(i), "line": {"width": 2}},
            "customdata": [[fmt.date(d), fmt.instant(t, zones.get(sid, "UTC"))]
                           for d, t, sid in zip(sub[session_col], sub[col], sub["series"])],
            "hovertemplate": (f"{kind}<br>session %{{customdata[0]}}<br>%{{customdata[1]}}"
                              "<br>%{x|%Y-%m-%d %H:%M} UTC<extra></extra>")})
    times = [announced_utc] + [t for c in ("prev_close_utc", "day0_close_utc")
                               for t in rows[c] if not fmt.missing(t)]
    lo = min(fmt.as_utc(t) for t in times) - pd.Timedelta(hours=6)
    hi = max(fmt.as_utc(t) for t in times) + pd.Timedelta(hours=6)
    fig = _figure(
        "How day 0 was chosen: the announcement between two session closes",
        170 + 40 * len(labels), data,
        shapes=[_announcement(ann, 2)],
        xaxis=_axis(title={"text": "Time (UTC)"}, type="date",
                    range=[lo.strftime("%Y-%m-%d %H:%M"), hi.strftime("%Y-%m-%d %H:%M")]),
        yaxis=_axis(type="category", autorange="reversed", showgrid=False,
                    title={"text": "Series"}))
    fig["layout"]["margin"]["l"] = 40
    return to_chart(fig, "How day 0 was chosen", "day0")


def price_path(prices: pd.DataFrame, bases: dict[str, float], announced_utc,
               names: dict[str, str], day0: dict[str, str]) -> Chart:
    """Closes around the event, each series indexed to 100 at its last close before the
    announcement. `prices`: (series, date, close) cut to each series' plot window."""
    data = []
    for i, (sid, sub) in enumerate(prices.groupby("series", sort=False)):
        sub = sub.sort_values("date")
        base = bases.get(sid)
        if not base:
            continue
        data.append({
            "type": "scatter", "mode": "lines+markers", "x": _dates(sub["date"]),
            "y": _floats(sub["close"] / base * 100.0), "name": f"{names.get(sid, sid)} ({sid})",
            "line": {"color": colour(i), "width": 1.8},
            "marker": {"size": [10 if fmt.date(d) == day0.get(sid) else 4 for d in sub["date"]]},
            "customdata": [[fmt.num(c)] for c in sub["close"]],
            "hovertemplate": (f"{_html(sid)} %{{x|%Y-%m-%d}}<br>close %{{customdata[0]:,.4~f}}"
                              "<br>index %{y:.2f}<extra></extra>")})
    ann = _utc_x(announced_utc)
    fig = _figure(
        "Closes around the event (index: last close before the announcement = 100; "
        "large marker: day 0)", 400, data,
        shapes=[_announcement(ann, 1.5)],
        xaxis=_axis(title={"text": "Session date (announcement line at its UTC time)"},
                    type="date"),
        yaxis=_axis(title={"text": "Close, indexed to 100"}))
    return to_chart(fig, "Price path", "price")


def _path_traces(frame: pd.DataFrame, models: list[str], bar_col: str, path_col: str,
                 se_col: str, label_bar: str, label_path: str, hover_extra: str,
                 extra_cols: list[str]) -> list[dict]:
    """Bars of daily (A)ARs on axes x/y, the cumulative path with a +-1.96 se band on x2/y2."""
    data = []
    # columns as arrays once, rows of a model by index (a frame slice per model and chart
    # cost ~3 ms of pandas overhead each: ~0.1 s of a cold report)
    model_of, rel = frame["model"].to_numpy(), frame["rel_day"].to_numpy()
    numbers = {col: frame[col].to_numpy(dtype=float, na_value=np.nan)
               for col in (bar_col, path_col, se_col)}
    extras = [frame[col].to_numpy() for col in extra_cols]
    for i, model in enumerate(models):
        rows = np.flatnonzero(model_of == model)
        if not len(rows):
            continue
        rows = rows[np.argsort(rel[rows], kind="stable")]
        c = colour(i)
        x = [int(v) for v in rel[rows]]
        custom = [[fmt.text(v) for v in vals] for vals in zip(*(e[rows] for e in extras))]
        label = fmt.model_name(model)
        data.append({
            "type": "bar", "x": x, "y": _floats(numbers[bar_col][rows]), "name": label,
            "legendgroup": model, "marker": {"color": c}, "customdata": custom,
            "xaxis": "x", "yaxis": "y",
            "hovertemplate": (f"{label}<br>day %{{x}} {hover_extra}<br>{label_bar} "
                              "%{y:+.2%}<extra></extra>")})
        path, se = numbers[path_col][rows], numbers[se_col][rows]
        for bound, extra in ((path + BAND_Z * se, {}),
                             (path - BAND_Z * se, {"fill": "tonexty",
                                                   "fillcolor": fill(c, 0.15)})):
            data.append({"type": "scatter", "mode": "lines", "x": x, "y": _floats(bound),
                         "line": {"width": 0, "color": c}, "legendgroup": model,
                         "showlegend": False, "hoverinfo": "skip", "xaxis": "x2",
                         "yaxis": "y2", **extra})
        data.append({
            "type": "scatter", "mode": "lines+markers", "x": x, "y": _floats(path),
            "name": f"{label} ({label_path})", "legendgroup": model, "showlegend": False,
            "line": {"color": c, "width": 2}, "marker": {"size": 5}, "xaxis": "x2",
            "yaxis": "y2",
            "customdata": [row + [fmt.num(v)] for row, v in zip(custom, se)],
            "hovertemplate": (f"{label}<br>day %{{x}} {hover_extra}<br>{label_path} "
                              f"%{{y:+.2%}} (se %{{customdata[{len(extra_cols)}]:.2%}})"
                              "<extra></extra>")})
    return data


def _two_panel(title: str, data: list[dict], span: tuple[int, int], x_title: str,
               y_top: str, y_bottom: str, n_days: int) -> dict:
    shapes = []
    for xref, yref in (("x", "y domain"), ("x2", "y2 domain")):
        shapes.append({"type": "rect", "xref": xref, "yref": yref, "x0": span[0] - 0.5,
                       "x1": span[1] + 0.5, "y0": 0, "y1": 1, "fillcolor": "rgba(0,0,0,0.06)",
                       "line": {"width": 0}, "layer": "below"})
        shapes.append(_vline(0, xref=xref, yref=yref))
    dtick = 1 if n_days <= 25 else 2
    return _figure(
        title, 540, data, barmode="group", bargap=0.25, shapes=shapes,
        xaxis=_axis(anchor="y", domain=[0.0, 1.0], matches="x2", showticklabels=False,
                    dtick=dtick),
        yaxis=_axis(anchor="x", domain=[0.56, 1.0], title={"text": y_top}, tickformat="+.1%",
                    zeroline=True, zerolinecolor="#999"),
        xaxis2=_axis(anchor="y2", domain=[0.0, 1.0], title={"text": x_title}, dtick=dtick),
        yaxis2=_axis(anchor="x2", domain=[0.0, 0.5], title={"text": y_bottom},
                     tickformat="+.1%", zeroline=True, zerolinecolor="#999"))


def ar_car(ar: pd.DataFrame, models: list[str], title: str, calendar: str,
           span: tuple[int, int]) -> Chart:
    """Daily ARs (bars) and the CAR path with its +-1.96 se band, one colour per model.
    `ar`: rows of result.ar for one (event, series)."""
    frame = ar.assign(date_text=[fmt.date(d) for d in ar["date"]])
    data = _path_traces(frame, models, "abnormal_return", "car_path", "car_path_se", "AR", "CAR",
                        "(%{customdata[0]})", ["date_text"])
    fig = _two_panel(title, data, span,
                     f"Trading day relative to day 0 ({calendar} sessions); shaded: event windows",
                     "Abnormal return", f"CAR (band ±{BAND_Z} se)", frame["rel_day"].nunique())
    fig["layout"]["shapes"] += contaminated_shapes(ar)
    return to_chart(fig, title, "ar")


def contaminated_shapes(ar: pd.DataFrame) -> list[dict]:
    """An amber band over each day whose benchmark interval contains the announcement
    (ar.benchmark_contaminated), with one legend entry."""
    if "benchmark_contaminated" not in ar.columns:
        return []
    flag = ar["benchmark_contaminated"].fillna(False).astype(bool)
    days = sorted({int(d) for d in ar.loc[flag, "rel_day"]})
    shapes = []
    for i, d in enumerate(days):
        shape = {"type": "rect", "xref": "x", "yref": "paper", "x0": d - 0.5, "x1": d + 0.5,
                 "y0": 0, "y1": 1, "fillcolor": fill(OKABE_ITO[4], 0.25), "line": {"width": 0},
                 "layer": "below"}
        if i == 0:
            shape.update(showlegend=True, name="benchmark contaminated")
        shapes.append(shape)
    return shapes


def aar_caar(aar: pd.DataFrame, models: list[str], title: str, span: tuple[int, int]) -> Chart:
    """A group's AAR bars and CAAR path with its +-1.96 se band, one colour per model."""
    frame = aar.assign(n_text=[fmt.integer(n) for n in aar["n"]])
    data = _path_traces(frame, models, "aar", "caar", "caar_se", "AAR", "CAAR",
                        "(n = %{customdata[0]})", ["n_text"])
    fig = _two_panel(title, data, span,
                     "Trading day relative to day 0 (each member's own sessions); "
                     "shaded: event windows",
                     "Average abnormal return", f"CAAR (band ±{BAND_Z} se)",
                     frame["rel_day"].nunique())
    return to_chart(fig, title, "aar")


def car_histogram(cars: dict[str, "np.ndarray"], title: str, max_bins: int = 60) -> Chart:
    """The distribution of CARs as counts per bin, one bar trace per window (the first shown,
    the others a legend click away). Bins are counted here, so the page carries
    O(bins) numbers, not one per pair."""
    import numpy as np
    finite = {k: v[np.isfinite(v)] for k, v in cars.items()}
    values = np.concatenate([v for v in finite.values()] or [np.zeros(0)])
    n_bins = int(min(max_bins, max(10, np.sqrt(max(len(values), 1)))))
    lo, hi = np.percentile(values, [0.5, 99.5]) if len(values) else (0.0, 0.0)
    if hi <= lo:
        lo, hi = lo - 0.01, hi + 0.01
    edges = np.linspace(lo, hi, n_bins + 1)
    data = []
    for i, (label, v) in enumerate(finite.items()):
        counts, _ = np.histogram(np.clip(v, lo, hi), bins=edges)
        data.append({
            "type": "bar", "x": _floats((edges[:-1] + edges[1:]) / 2),
            "y": [int(c) for c in counts], "width": _floats(np.diff(edges) * 0.95),
            "name": f"{label} (n = {len(v)})", "marker": {"color": colour(i)},
            "opacity": 0.8, "visible": True if i == 0 else "legendonly",
            "customdata": [[fmt.num(a), fmt.num(b)] for a, b in zip(edges[:-1], edges[1:])],
            "hovertemplate": (f"{_html(label)}: CAR %{{customdata[0]:+.2%}} to "
                              "%{customdata[1]:+.2%}<br>%{y} pairs<extra></extra>")})
    fig = _figure(
        title, 380, data, barmode="overlay", shapes=[_vline(0)],
        xaxis=_axis(title={"text": "CAR (outermost 0.5% on each side counted in the end bins)"},
                    tickformat="+.0%"),
        yaxis=_axis(title={"text": "Pairs"}, rangemode="tozero"))
    return to_chart(fig, title, "hist")
