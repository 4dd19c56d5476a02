"""Working in a notebook (issue #10 item 5): a short repr, summary() and _repr_html_, the
column glossary in help(), result.plot, and load_events from a DataFrame."""
import dataclasses
import pydoc
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from eventstudy import load_config, load_events, run_study
from eventstudy.errors import InputError
from eventstudy.result import GLOSSARY, StudyResult

EVENTS = Path(__file__).resolve().parents[1] / "events.csv"


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    """The bundled study, its events given as a DataFrame (as a notebook user has them)."""
    frame = pd.read_csv(EVENTS, dtype=str, keep_default_na=False)
    return run_study(load_events(frame), load_config(None), offline=True,
                     cache_dir=tmp_path_factory.mktemp("cache"))


def test_repr_is_a_few_lines_with_the_counts(result):
    text = repr(result)
    assert len(text) < 600 and len(text.splitlines()) <= 4
    assert text.startswith(f"<StudyResult: {len(result.events)} events x "
                           f"{result.alignment['series'].nunique()} securities = "
                           f"{len(result.alignment)} pairs, "
                           f"{int(result.car['car'].notna().sum())} CARs, "
                           f"{len(result.skipped)} skipped")
    assert "[-1, +1]" in text and "market_model" in text


def _kp_row(result, group, window):
    t = result.tests
    return t[(t["group"] == group) & (t["model"] == "market_model") & (t["test"] == "kp_bmp")
             & (t["window_start"] == window[0]) & (t["window_end"] == window[1])].iloc[0]


def test_summary_text_counts_and_the_headline_tests(result):
    text = str(result.summary())
    assert "Event study results" in text
    assert f"Events:{len(result.events):>19d}" in text
    assert f"Pairs:{len(result.alignment):>20d}" in text
    assert "Windows:    [0, 0], [-1, +1], [0, +5]" in text
    assert "Estimation: [-250, -11]" in text
    for group in ("automakers", "escalations"):
        row = _kp_row(result, group, (-1, 1))
        mean = result.tests[(result.tests["group"] == group)
                            & (result.tests["model"] == "market_model")
                            & (result.tests["test"] == "cross_sectional_t")
                            & (result.tests["window_start"] == -1)
                            & (result.tests["window_end"] == 1)]["estimate"].iloc[0]
        line = next(x for x in text.splitlines() if x.startswith(group) and "[-1, +1]" in x)
        assert line.split() == [group, "[-1,", "+1]", str(int(row["n"])),
                                f"{mean * 100:+.2f}%", "kp", "bmp", f"{row['statistic']:.3f}",
                                f"{row['p_value']:.3f}", f"{row['p_bh']:.3f}"]
    assert repr(result.summary()) == text


def test_repr_html_is_escaped_html(result):
    html = result._repr_html_()
    assert html.startswith('<div class="eventstudy-summary">') and "<table" in html
    assert "automakers" in html
    tests = result.tests.copy()
    tests.loc[tests["group"] == "automakers", "group"] = "<script>x</script>"
    html = dataclasses.replace(result, tests=tests)._repr_html_()
    assert "<script>" not in html and "&lt;script&gt;x&lt;/script&gt;" in html


def test_summary_without_groups(result):
    bare = dataclasses.replace(result, tests=result.tests[result.tests["group"] == ""])
    assert "No group tests" in str(bare.summary())
    assert "No group tests" in bare._repr_html_()


def test_help_explains_every_column_of_every_frame(result):
    doc = pydoc.render_doc(StudyResult, renderer=pydoc.plaintext)
    assert "Columns of each frame" in doc
    assert "p_bh" in doc and "benchmark_contaminated" in doc
    for name, cols in GLOSSARY.items():
        frame = getattr(result, name)
        assert set(frame.columns) == set(cols), (name, set(frame.columns) ^ set(cols))
        assert f"    {name}:" in doc


def test_plot_returns_the_ar_and_car_figure(result):
    import plotly.graph_objects as go
    fig = result.plot("liberation-day", "N225")
    assert isinstance(fig, go.Figure)
    ar = result.ar[(result.ar["event_id"] == "liberation-day") & (result.ar["series"] == "N225")
                   & (result.ar["model"] == "market_model")].sort_values("rel_day")
    bars = [t for t in fig.data if t.type == "bar" and t.name == "market model"]
    assert len(bars) == 1
    assert list(bars[0].x) == ar["rel_day"].tolist()
    np.testing.assert_allclose(np.array(bars[0].y, float), ar["abnormal_return"], rtol=1e-5)
    assert {t.name for t in fig.data if t.type == "bar"} == {
        m.replace("_", " ") for m in result.config.models}
    assert "liberation-day" in fig.layout.title.text
    one = result.plot("liberation-day", "N225", models=["constant_mean"])
    assert [t.name for t in one.data if t.type == "bar"] == ["constant mean"]


def test_plot_says_why_it_cannot(result):
    with pytest.raises(ValueError, match="no event 'liberation-dy' .did you mean "
                                         "'liberation-day'"):
        result.plot("liberation-dy", "N225")
    with pytest.raises(ValueError, match="series 'N226' is not studied around"):
        result.plot("liberation-day", "N226")
    skipped = result.skipped.iloc[0]
    with pytest.raises(ValueError, match="no abnormal returns of model garch"):
        result.plot(skipped["event_id"], skipped["series"], models=["garch"])


# ----------------------------------------------------------------------------- load_events(df)
def test_load_events_from_a_dataframe_is_the_file(result):
    from_file = load_events(EVENTS)
    frame = pd.read_csv(EVENTS, dtype=str, keep_default_na=False)
    from_frame = load_events(frame)
    assert from_frame.attrs["file"] == "<DataFrame>"
    # rows: the file counts a header; the frame names its index label
    assert (from_frame["row"] + 2).tolist() == from_file["row"].tolist()
    pd.testing.assert_frame_equal(from_frame.drop(columns="row"),
                                  from_file.drop(columns="row"))
    # load_events' own output (and a filter of it) goes back in
    again = load_events(from_file[from_file["category"] == "escalation"])
    assert again["event_id"].tolist() == from_file.loc[
        from_file["category"] == "escalation", "event_id"].tolist()
    assert list(result.events["event_id"]) == list(from_file["event_id"])


def _frame(changes=None):
    rows = [{"event_id": "a", "announced_at": "2025-04-02 16:00 America/New_York",
             "title": "A", "category": "escalation", "source": "https://example.org/a"},
            {"event_id": "b", "announced_at": "2025-04-09T13:18:00-04:00",
             "title": "B", "category": "de-escalation", "source": "https://example.org/b"}]
    frame = pd.DataFrame(rows, index=["first", "second"]).astype(object)
    for (label, col), value in (changes or {}).items():
        frame.loc[label, col] = value
    return frame


def test_load_events_accepts_timestamps_and_nan():
    frame = _frame()
    frame["announced_at"] = [pd.Timestamp("2025-04-02 16:00", tz="America/New_York"),
                             pd.Timestamp("2025-04-09 17:18", tz="UTC")]
    frame["tags"] = [np.nan, "tariffs"]
    events = load_events(frame)
    assert events["announced_at_utc"].tolist() == [pd.Timestamp("2025-04-02 20:00", tz="UTC"),
                                                   pd.Timestamp("2025-04-09 17:18", tz="UTC")]
    assert events["tags"].tolist() == ["", "tariffs"]
    assert events["row"].tolist() == ["first", "second"]
    assert events["time_precision"].tolist() == ["minute", "minute"]


@pytest.mark.parametrize("changes, message", [
    ({("second", "announced_at"): pd.Timestamp("2025-04-09 13:18")},
     "<DataFrame>, row second, field announced_at: naive timestamp '2025-04-09 13:18:00'"),
    ({("first", "announced_at"): "2025-04-02 16:00"},
     "<DataFrame>, row first, field announced_at: naive timestamp '2025-04-02 16:00'"),
    ({("second", "event_id"): "a"},
     "<DataFrame>, row second, field event_id: duplicate event_id 'a' (first on row first)"),
    ({("second", "title"): np.nan}, "<DataFrame>, row second, field title: empty title"),
    ({("first", "time_precision"): "minutes"},
     "<DataFrame>, row first, field time_precision: 'minutes' is not one of minute, hour, "
     "day (did you mean 'minute'?)"),
])
def test_load_events_frame_errors_name_row_and_field(changes, message):
    with pytest.raises(InputError) as err:
        load_events(_frame(changes))
    assert str(err.value).startswith(message)


def test_load_events_frame_column_errors():
    with pytest.raises(InputError, match=r"^<DataFrame>: missing column source"):
        load_events(_frame().drop(columns="source"))
    with pytest.raises(InputError, match=r"^<DataFrame>, field titel: unknown column 'titel' "
                                         r"\(did you mean 'title'\?\)"):
        load_events(_frame().rename(columns={"title": "titel"}))
    with pytest.raises(InputError, match=r"^<DataFrame>: no events"):
        load_events(_frame()[:0])


def test_load_events_frame_checks_a_stale_utc_column():
    events = load_events(_frame())
    events.loc[0, "announced_at"] = "2025-04-03 16:00 America/New_York"   # edited, utc not
    with pytest.raises(InputError, match=r"^<DataFrame>, row 0, field announced_at_utc: "
                                         r"announced_at_utc .* disagrees with announced_at"):
        load_events(events)
    assert len(load_events(events.drop(columns="announced_at_utc"))) == 2


def test_result_to_latex_shows_the_events_asked_for_in_that_order(result):
    """`events` picks and orders the CAR table's events (it used to clash with the default)."""
    text = result.to_latex(events=["tariff-pause", "liberation-day"], models=["market_model"])
    assert "tariff-pause" in text and "liberation-day" in text
    assert text.index("tariff-pause") < text.index("liberation-day")
    assert "us-japan-deal" not in text.split("\\end{tabular}")[0]
