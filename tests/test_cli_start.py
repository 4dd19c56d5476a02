"""A first study of your own, through the CLI (issue #12, items 3, 4, 5 and 7).

Your own events file with the built-in config, `eventstudy init`, the typos `events add`
warns about, `test --model` offering every model, progress as the run goes, and the
'nothing changed' rerun: fast (no numeric library imported) and never claimed when an input
or an output changed.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from eventstudy.cli import main

REPO = Path(__file__).resolve().parents[1]
HEADER = "event_id,announced_at,time_precision,title,category,tags,source\n"
ONE = ("liberation-day,2025-04-02T16:00:00-04:00,hour,Liberation Day,escalation,japan,"
       "https://example.org/a\n")
TWO = ("tariff-pause,2025-04-09T13:18:00-04:00,minute,90-day pause,de-escalation,japan,"
       "https://example.org/b\n")
CONFIG = """\
[study]
series = ["N225", "X"]
models = ["constant_mean"]

[series.N225]
source = "yahoo"
ticker = "^N225"
calendar = "XTKS"

[series.X]
source = "csv"
path = "prices.csv"
calendar = "XNYS"
"""
HEAVY = ("pandas", "numpy", "scipy", "statsmodels", "arch", "plotly", "jinja2",
         "exchange_calendars", "pyarrow")


def env() -> dict:
    out = dict(os.environ)
    out["PYTHONPATH"] = str(REPO) + os.pathsep + out.get("PYTHONPATH", "")
    out.pop("EVENTSTUDY_CACHE", None)
    return out


@pytest.fixture
def own(tmp_path, monkeypatch) -> Path:
    """A folder with a one-event events.csv of the user's own, and nothing else."""
    (tmp_path / "events.csv").write_text(HEADER + ONE, "utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("EVENTSTUDY_CACHE", str(tmp_path / "cache"))
    return tmp_path


def invoke(*args):
    res = CliRunner().invoke(main, list(args))
    assert "Traceback" not in res.output, res.output
    return res


# -- 3: built-in groups and your own events ----------------------------------------------------

def test_own_events_file_with_the_built_in_config(own):
    res = invoke("run", "--offline", "--quiet")
    assert res.exit_code == 0, res.output
    assert ("note: built-in group 'automakers' without auto-tariffs-announced, us-japan-deal "
            "(not in the events file)") in res.stderr.splitlines()
    assert (own / "reports" / "groups" / "automakers.html").is_file()


def test_built_in_group_with_none_of_its_events_is_left_out(own):
    (own / "events.csv").write_text(HEADER + TWO, "utf-8")          # de-escalation only
    res = invoke("run", "--offline", "--quiet")
    assert res.exit_code == 0, res.output
    assert "note: built-in group 'escalations' left out: none of its events (escalation) is " \
           "in the events file" in res.stderr
    assert not (own / "reports" / "groups" / "escalations.html").exists()


def test_no_events_file_says_how_to_make_one(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = invoke("run", "--offline")
    assert res.exit_code == 2
    assert res.stderr == ("error: events.csv: file not found (make one with `eventstudy init`, "
                          "or start one with `eventstudy events add`)\n")


# -- 4: eventstudy init ---------------------------------------------------------------------------

def test_init_writes_a_starter_that_runs_and_never_overwrites(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = invoke("init", "mystudy")
    assert res.exit_code == 0, res.output
    assert "eventstudy run --config study.toml --offline" in res.output
    from eventstudy.config import load_config
    from eventstudy.events import load_events
    config = load_config(tmp_path / "mystudy" / "study.toml")
    events = load_events(tmp_path / "mystudy" / "events.csv")
    assert list(events["event_id"]) == ["liberation-day"]
    assert config.groups["automakers"].events == ()
    assert config.groups["automakers"].categories == ("escalation", "de-escalation")
    before = (tmp_path / "mystudy" / "events.csv").read_bytes()
    res = invoke("init", "mystudy")
    assert res.exit_code == 2
    assert res.stderr.startswith(f"error: {Path('mystudy') / 'events.csv'}: already exists")
    assert (tmp_path / "mystudy" / "events.csv").read_bytes() == before


# -- 5: events add typos, test --model, progress -------------------------------------------------

def add(*extra, category="negotiation", source="https://example.org/x"):
    return invoke("events", "add", "--id", "new-one", "--at", "2025-05-01T19:00:00-04:00",
                  "--title", "T", "--category", category, "--source", source, *extra)


def test_events_add_warns_on_an_unknown_category(own):
    res = add(category="escalaton")
    assert res.exit_code == 0
    assert res.stderr.splitlines() == [
        "warning: category 'escalaton' is new: no event has it yet, so no group selects it "
        "(did you mean 'escalation'?) (known: de-escalation, escalation, implementation, "
        "negotiation)"]
    assert "new-one" in (own / "events.csv").read_text("utf-8")


def test_events_add_source_must_be_an_http_url(own):
    res = add(source="not a url")
    assert res.exit_code == 0
    assert res.stderr == ("warning: source 'not a url' is not an http(s) URL: the report shows "
                          "it as text, not as a link\n")
    before = (own / "events.csv").read_bytes()
    res = invoke("events", "add", "--id", "js", "--at", "2025-05-02T19:00:00-04:00", "--title",
                 "T", "--category", "negotiation", "--source", "javascript:alert(1)")
    assert res.exit_code == 2
    assert res.stderr == ("error: events.csv, field source: 'javascript:alert(1)' is a "
                          "javascript: link; a source must be an http(s) URL (or plain text "
                          "such as a publication's name)\n")
    assert (own / "events.csv").read_bytes() == before


@pytest.mark.parametrize("model", ["garch", "scholes_williams", "dimson", "market_adjusted"])
def test_test_command_offers_every_model_a_study_runs(model):
    from eventstudy.config import MODELS
    assert model in MODELS
    res = CliRunner().invoke(main, ["test", "--help"])
    assert model in res.output
    res = CliRunner().invoke(main, ["test", "x", "--series", "N225", "--model", model,
                                    "--events", "/nonexistent.csv"])
    assert "invalid choice" not in res.output.lower(), res.output


def test_run_prints_progress_as_it_goes_and_quiet_prints_nothing(own):
    proc = subprocess.Popen([sys.executable, "-m", "eventstudy.cli", "run", "--offline"],
                            cwd=own, env={**env(), "EVENTSTUDY_CACHE": str(own / "cache")},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen = []
    for line in proc.stdout:
        seen.append((time.monotonic(), line.rstrip("\n")))
    proc.wait()
    end = time.monotonic()
    assert proc.returncode == 0, proc.stderr.read()
    first = next(t for t, line in seen if line.startswith("studying "))
    assert end - first > 0.3                     # printed while the study ran, not at the end
    assert [line.split(" ")[0] for _, line in seen] == \
        ["read", "studying", "studied", "wrote", "rebuilt", "done", "open"]
    assert all(len(line) < 200 for _, line in seen)
    res = invoke("run", "--offline", "--quiet", "--force")
    assert res.exit_code == 0 and res.stdout == ""


# -- 7: nothing new: fast, and never claimed when something changed -------------------------------

@pytest.fixture
def csv_study(own) -> Path:
    from eventstudy.data.prices import load_sample
    prices = load_sample("^GSPC")
    prices.to_csv(own / "prices.csv", index=False, date_format="%Y-%m-%d")
    (own / "study.toml").write_text(CONFIG, "utf-8")
    return own


def run_args():
    return ["run", "--offline", "--config", "study.toml", "--cache", "cache"]


def rerun() -> str:
    res = invoke(*run_args())
    assert res.exit_code == 0, res.output
    return "rebuilt" if "rebuilt" in res.output else "nothing changed"


def test_rerun_with_nothing_new_imports_no_numeric_library(csv_study):
    assert rerun() == "rebuilt"
    code = ("import sys\nfrom eventstudy.cli import main\ntry:\n    main(sys.argv[1:])\n"
            "except SystemExit as e:\n    assert not e.code, e.code\n"
            f"print(sorted(m for m in {HEAVY!r} if m in sys.modules), file=sys.stderr)")
    started = time.monotonic()
    res = subprocess.run([sys.executable, "-c", code, *run_args()], cwd=csv_study, env=env(),
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("nothing changed since the last run")
    assert res.stderr.splitlines()[-1] == "[]"
    assert time.monotonic() - started < 10      # (about 0.2 s on a quiet machine)


def test_every_input_kind_invalidates_the_shortcut(csv_study, monkeypatch):
    from eventstudy import runstate
    assert rerun() == "rebuilt"
    assert rerun() == "nothing changed"
    steps = [
        ("events file", lambda: (csv_study / "events.csv").write_text(HEADER + ONE + TWO)),
        ("config", lambda: (csv_study / "study.toml").write_text(CONFIG + "\n# edited\n")),
        ("local price csv", lambda: (csv_study / "prices.csv").write_text(
            "".join((csv_study / "prices.csv").read_text().splitlines(keepends=True)[:-1]))),
        ("cache file", lambda: (csv_study / "cache" / "extra.parquet").write_bytes(b"x")),
        ("library version", lambda: monkeypatch.setattr(
            runstate, "_versions", lambda: ["pandas==0.0"])),
        ("package version", lambda: monkeypatch.setattr("eventstudy.__version__", "9.9")),
    ]
    for what, change in steps:
        change()
        assert rerun() == "rebuilt", what
        assert rerun() == "nothing changed", what


def test_online_runs_are_never_short_cut(csv_study):
    """Online, the vendor may have new prices no local file shows: always a real run. (A study
    of the local CSV series alone needs no network.)"""
    (csv_study / "study.toml").write_text(CONFIG.replace('["N225", "X"]', '["X"]'))
    for _ in range(2):
        res = invoke("run", "--config", "study.toml", "--cache", "cache")
        assert res.exit_code == 0, res.output
        assert "nothing changed" not in res.output and "rebuilt" in res.output


def test_test_command_runs_garch_and_explains_scholes_williams(tmp_path, monkeypatch):
    monkeypatch.setenv("EVENTSTUDY_CACHE", str(tmp_path / "cache"))
    events = str(REPO / "events.csv")
    res = invoke("test", "CAR(liberation-day, 0, 1) = 0", "--series", "N225", "--model",
                 "garch", "--offline", "--events", events)
    assert res.exit_code == 0, res.output
    lines = [line for line in res.stdout.splitlines() if line.startswith("CAR(")]
    assert [line.split("  ")[1] for line in lines] == ["[HAC]", "[nonrobust]"]
    res = invoke("test", "CAR(liberation-day, 0, 1) = 0", "--series", "N225", "--model",
                 "scholes_williams", "--offline", "--events", events)
    assert res.exit_code == 2
    assert res.stderr.startswith("error: the dummy regression cannot use the model "
                                 "'scholes_williams': the Scholes-Williams beta is a ratio")
    assert len(res.stderr.splitlines()) == 1
