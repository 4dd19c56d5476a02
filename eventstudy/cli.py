"""The `eventstudy` command. Bad input: one line on stderr, exit 2, no traceback.

Only click and the standard library are imported up front: `eventstudy --help`, `events
list` and a rerun with nothing new must not pay for the numeric stack (pandas, scipy,
statsmodels, plotly), which the commands import when they need it.
"""
from __future__ import annotations

import gc
import os
import re
import stat
import sys
import time
import warnings
from contextlib import ExitStack, contextmanager
from functools import wraps
from pathlib import Path

import click

from eventstudy import __version__
from eventstudy.config import MODELS
from eventstudy.errors import DataError, InputError

EXIT_BAD_INPUT = 2
EXIT_NO_DATA = 3


def _our_warnings() -> tuple[type[Warning], ...]:
    """Warnings meant for the user (shown as one line); library noise is not shown."""
    from eventstudy.data.cache import CacheCorruptWarning
    from eventstudy.memo import MemoWarning
    return (CacheCorruptWarning, MemoWarning)


_ESCAPES = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)?|.)?")
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def clean(text) -> str:
    """Text from a file, safe to print: terminal escape sequences and control characters
    removed (a title can otherwise move the cursor, retitle the window or hide lines)."""
    return _CONTROLS.sub("", _ESCAPES.sub("", str(text)))


def one_line(text) -> str:
    """`clean` text on one line: any run of white space (line breaks too) is one space."""
    return " ".join(clean(re.sub(r"[\r\n\t\v\f]", " ", str(text))).split())


def _friendly(func):
    """Turn our errors into one line and an exit code; anything else is a bug and shows.

    An OSError (a full disk, a read-only folder, a file where a folder must be) is the
    machine's state, not a bug: one line naming the file, exit 2.
    """
    @wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except InputError as exc:
            click.echo(f"error: {one_line(exc)}", err=True)
            sys.exit(EXIT_BAD_INPUT)
        except DataError as exc:
            click.echo(f"error: {one_line(exc)}", err=True)
            sys.exit(EXIT_NO_DATA)
        except OSError as exc:
            click.echo(f"error: {one_line(_os_error(exc))}", err=True)
            sys.exit(EXIT_BAD_INPUT)
    return wrapper


def _os_error(exc: OSError) -> str:
    """'cannot write reports/index.html: No space left on device' (a temporary file is named
    by the file it was to become)."""
    name = exc.filename
    if name is None:
        return f"{type(exc).__name__}: {exc}"
    path = Path(os.fsdecode(name))
    m = re.fullmatch(r"\.(.+)\.[A-Za-z0-9_]{8}\.tmp", path.name)
    if m:
        path = path.with_name(m.group(1))
    return f"cannot write {path}: {exc.strerror or exc}"


def _input_file(path, option: str, hint: str = "") -> Path:
    """A file the user named: it must be a regular file (not a device such as /dev/zero, a
    pipe or a folder), or one line says what it is instead."""
    path = Path(path)
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise InputError(f"file not found{hint}", file=str(path)) from None
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", file=str(path)) from None
    if stat.S_ISDIR(mode):
        raise InputError("is a folder, not a file", file=str(path))
    if not stat.S_ISREG(mode):
        raise InputError(f"is not a regular file (a device or a pipe?): {option} needs a file",
                         file=str(path))
    return path


def _folder(path, what: str) -> Path:
    """A folder we will write to: a file in its place is one line, not a traceback later."""
    path = Path(path)
    if (path.exists() or path.is_symlink()) and not path.is_dir():
        raise InputError(f"is a file, not a folder ({what})", file=str(path))
    return path


def _out_folder(out_dir) -> Path:
    out = _folder(out_dir, "--out")
    for sub in ("results", "events", "groups", "assets"):
        _folder(out / sub, f"the report writes a folder {sub}/ there")
    return out


def _cache_folder(cache_dir) -> Path:
    """--cache, else $EVENTSTUDY_CACHE, else ~/.cache/eventstudy (as eventstudy.study does)."""
    if cache_dir is not None:
        return _folder(cache_dir, "--cache")
    env = os.environ.get("EVENTSTUDY_CACHE")
    if env:
        return _folder(env, "EVENTSTUDY_CACHE")
    return _folder(Path.home() / ".cache" / "eventstudy", "the default price cache")


def _not_writable(folder: Path) -> str:
    """Why nothing can be written in `folder` ('' if it can): a read-only or full cache must
    not stop a run that has its prices elsewhere (the bundled sample)."""
    import tempfile
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".eventstudy-probe.", suffix=".tmp", dir=folder)
        try:
            os.write(fd, b"x")
        finally:
            os.close(fd)
            os.unlink(probe)
    except OSError as exc:
        return exc.strerror or str(exc)
    return ""


@contextmanager
def _imports_kept():
    """Import the numeric stack with the cycle collector paused, then `gc.freeze()` it.

    Why: importing pandas, scipy and ours makes a few 10^5 objects that live until the
    process ends; each full collection of a run walked them all again (~0.1-0.2 s of a run
    with one new event). Frozen, they are never scanned; what the study allocates is
    collected as usual. The CLI's process only: `run_study` called from Python is untouched;
    a process that runs the command many times (tests) freezes once, at the first run, so
    garbage alive at a later one is not kept forever.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if not gc.get_freeze_count():
            gc.freeze()
        if enabled:
            gc.enable()


def _waiting(folder: Path) -> None:
    click.echo(f"waiting for another eventstudy run using {folder} to finish", err=True)


def _locked(stack: ExitStack, *folders) -> None:
    from eventstudy import atomic
    from eventstudy.lock import folder_locks
    stack.enter_context(folder_locks(folders, on_wait=_waiting))
    for folder in folders:        # we hold the lock: any temporary file is a killed run's
        atomic.clean_temporaries(folder)


class _OneLineErrors(click.Group):
    """Usage errors (a bad option value, a missing file) as one line, like all bad input."""

    def main(self, *args, standalone_mode: bool = True, **kwargs):
        if not standalone_mode:
            return super().main(*args, standalone_mode=False, **kwargs)
        try:
            return super().main(*args, standalone_mode=False, **kwargs)
        except click.exceptions.NoArgsIsHelpError as exc:
            exc.show()
            sys.exit(exc.exit_code)
        except click.UsageError as exc:
            where = exc.ctx.command_path if exc.ctx else self.name
            click.echo(f"error: {exc.format_message()} (see '{where} --help')", err=True)
            sys.exit(EXIT_BAD_INPUT)
        except click.ClickException as exc:
            click.echo(f"error: {exc.format_message()}", err=True)
            sys.exit(exc.exit_code)
        except click.Abort:
            click.echo("aborted", err=True)
            sys.exit(1)


@click.group(cls=_OneLineErrors, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(version=__version__, prog_name="eventstudy")
def main():
    """Measure how markets react to dated announcements.

    \b
    Typical use:
      eventstudy init mystudy        # a starter events.csv and study.toml
      eventstudy run                 # events.csv -> reports/index.html (+ results/*.csv)
      eventstudy run --offline       # never touch the network (cache, then bundled sample)
      eventstudy events list         # what is in events.csv

    Events come from events.csv (event_id, announced_at with a UTC offset or zone, title,
    category, source). Day 0 of an event is the first session of each series whose close
    comes after the announcement. See README.md and docs/methods.md.
    """


NO_EVENTS_HINT = " (make one with `eventstudy init`, or start one with `eventstudy events add`)"


@main.command()
@click.option("--events", "events_path", default="events.csv", show_default=True,
              type=click.Path(dir_okay=False), help="The events file.")
@click.option("--out", "out_dir", default="reports", show_default=True,
              type=click.Path(file_okay=False), help="Where the HTML reports and results/ go.")
@click.option("--config", "config_path", default=None, type=click.Path(dir_okay=False),
              help="Study config (TOML). Default: the built-in 2025 tariff study.")
@click.option("--offline", is_flag=True, help="Do not fetch: use the cache, then the bundled sample.")
@click.option("--cache", "cache_dir", default=None, type=click.Path(file_okay=False),
              help="Price cache folder (default $EVENTSTUDY_CACHE or ~/.cache/eventstudy).")
@click.option("--force", is_flag=True,
              help="Recompute every result and rebuild every page, changed or not.")
@click.option("--quiet", "-q", is_flag=True, help="Print only warnings and errors.")
@click.option("--workers", type=click.IntRange(1, 1024), default=None,
              help="Run the study's partitions on N local processes ([engine] workers).")
@click.option("--dask", "dask_mode", type=click.Choice(["local"]), default=None,
              help="Run them on a Dask LocalCluster of 2 workers (needs eventstudy[dask]).")
@click.option("--scheduler", default=None, metavar="tcp://HOST:PORT",
              help="Run them on a running Dask scheduler (needs eventstudy[dask]).")
@_friendly
def run(events_path, out_dir, config_path, offline, cache_dir, force, quiet, workers,
        dask_mode, scheduler):
    """Run the study and write HTML reports and result CSVs to OUT.

    Progress goes to stdout as the run goes (--quiet: none); warnings and errors to stderr,
    and a progress bar of the study's partitions too when stderr is a terminal. --workers,
    --dask and --scheduler (one of them) override the config's [engine]: docs/big-studies.md.
    With --offline, a rerun whose inputs (events, config, cached and bundled prices, this
    version) and outputs are unchanged since the last complete run says so and stops. One run
    at a time per output and cache folder: a second one waits.
    """
    from eventstudy import atomic, runstate
    started = time.perf_counter()

    def say(message: str) -> None:     # progress: stdout (stderr is for warnings and errors)
        if not quiet:
            click.echo(message)

    events_file = _input_file(events_path, "--events", NO_EVENTS_HINT)
    config_file = _input_file(config_path, "--config") if config_path else None
    out, cache = _out_folder(out_dir), _cache_folder(cache_dir)
    options = {"offline": offline, "out": str(out.resolve())}

    def fingerprint() -> dict:
        return runstate.fingerprint(events_path=events_file, config_path=config_file,
                                    cache_dir=cache, options=options)

    # The shortcut is checked without the lock: a run that writes meanwhile changes the files
    # the record lists (so we do not match), or writes the same bytes (so we are right), and a
    # bad input never waits for another run nor prints that it does. Temporary files (a
    # killed run's) send us the long way, which removes them under the lock.
    if offline and not force and (out / runstate.RECORD).is_file():
        record = runstate.up_to_date(out, runstate.digest(fingerprint()))
        from eventstudy.atomic import temporaries
        if record is not None and not temporaries(out) and not temporaries(cache):
            for line in record.get("messages", []):
                click.echo(line, err=True)
            if not quiet:
                click.echo(f"nothing changed since the last run: same inputs, outputs as "
                           f"written ({time.perf_counter() - started:.1f} s)")
                click.echo(f"open {out / 'index.html'}")
            return
    with ExitStack() as locks:
        with _imports_kept():
            import pandas as pd

            from eventstudy import engine  # noqa: F401 - run_study's: imported here, kept too
            from eventstudy.config import load_config
            from eventstudy.events import load_events
            from eventstudy.report import build_report
            from eventstudy.study import run_study

        events = load_events(events_file)
        config = load_config(config_file)
        engine = _engine(config, workers, dask_mode, scheduler)
        notes = []
        if config_file is None:
            config, notes = _builtin_groups(config, events)
        say(f"read {events_file}: {len(events)} events; config {config.path}")
        _locked(locks, out, cache)    # after the inputs are known good: bad input leaves no file
        before = fingerprint() if offline else None
        problem = _not_writable(cache)
        if problem:
            notes.append(f"the cache folder {cache} is not writable ({problem}): results are "
                         "computed afresh and not kept")
        studied = ", ".join(config.studied)
        universes = ", ".join(getattr(config, "studied_universes", ()))
        what = [f"{len(config.studied)} series ({studied})"] if config.studied else []
        what += [f"universes {universes}"] if universes else []
        say(f"studying {len(events)} events x " + " and ".join(what)
            + f", models {', '.join(config.models)}{'; offline' if offline else ''} ...")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = run_study(events, config, offline=offline, cache_dir=cache,
                               recompute=force, memoize=not problem, executor=engine,
                               progress=not quiet)
        regressions = None
        if getattr(config, "regressions", ()):      # before any file is written: a bad
            from eventstudy.regress import run_regressions   # formula leaves no file
            regressions = run_regressions(result)
        reuse = result.reuse
        say(f"studied {len(result.alignment)} pairs: {len(result.car)} CARs, "
            f"{len(result.tests)} tests ({reuse.get('computed', 0)} results computed, "
            f"{reuse.get('reused', 0)} unchanged)")
        messages = [f"{'warning' if 'not writable' in n else 'note'}: {one_line(n)}"
                    for n in notes]
        ours = [str(w.message) for w in caught if issubclass(w.category, _our_warnings())]
        messages += [f"warning: {one_line(w)}" for w in ours + result.warnings]
        skipped = result.skipped
        waits = skipped["reason"].str.startswith("waiting for data")
        messages += _capped([one_line(
            f"skipped {row.series} (all its pairs): {row.reason}" if not row.event_id
            else f"skipped {row.event_id} / {row.series} / {row.model}: {row.reason}")
            for row in skipped[~waits].sort_values("event_id", key=lambda e: e != "",
                                                   kind="stable").itertuples(index=False)],
            "skipped", "skipped.csv")      # a security skipped whole (a bad file) comes first
        # one line per (event, series) that has no data yet, whatever the number of models
        waiting = pd.concat([
            skipped[waits].assign(what=skipped.loc[waits, "reason"].str.removeprefix(
                "waiting for data: ")),
            result.car[result.car["note"] == "waiting for data"].assign(
                what="part of its event window is past the last bar")])
        messages += _capped([one_line(f"waiting for data: {eid} / {sid} ({rows['what'].iloc[0]})")
                             for (eid, sid), rows in waiting.groupby(["event_id", "series"],
                                                                     sort=True)],
                            "waiting for data", "car.csv and skipped.csv")
        for line in messages:
            click.echo(line, err=True)
        runstate.invalidate(out)    # from the first write until the record: not known current
        staged = locks.enter_context(atomic.batch())   # results and pages appear together
        paths = result.write_csvs(out / "results")
        paths += _write_regressions(regressions, out / "results")
        securities = result.securities
        if securities is not None and (securities["universe"] != "").any():
            paths += result.write_parquet(out / "results")     # what universe pages link
        say(f"wrote {out / 'results'}/ ({len(paths)} CSV files); building pages ...")
        pages = build_report(result, out, force=force, regressions=regressions)
        names = [p.relative_to(out).as_posix() for p in pages]
        shown = ", ".join(names[:6]) + (f" and {len(names) - 6} more" if len(names) > 6 else "")
        if not quiet:
            click.echo(f"rebuilt {len(pages)} pages ({shown or 'none'}), "
                       f"{len(pages.unchanged)} unchanged")
        staged.commit()
        if before is not None:
            after = fingerprint()
            if runstate.same_inputs(before, after):   # an input edited during the run: no record
                runstate.write(out, runstate.digest(after), messages)
    say(f"done in {time.perf_counter() - started:.1f} s")
    if not quiet:
        click.echo(f"open {out / 'index.html'}")


def _write_regressions(regressions, results: Path) -> list[Path]:
    """results/regressions.csv when the config has [[regressions]]; a stale one (from a config
    that had them) is removed, so the folder never shows results the study no longer has."""
    from eventstudy import atomic
    from eventstudy.result import to_csv
    path = results / "regressions.csv"
    if regressions is None:
        path.unlink(missing_ok=True)
        return []
    atomic.write_text(path, to_csv(regressions))
    return [path]


def _engine(config, workers, dask_mode, scheduler):
    """The executor settings: the command line's, else the config's [engine] (None:
    in-process); the config's ar_in_memory_rows is kept either way."""
    if workers is None and dask_mode is None and scheduler is None:
        return getattr(config, "engine", None)
    import dataclasses

    from eventstudy.executors import check_settings
    settings = check_settings(workers, dask_mode, scheduler, prefix="--")
    rows = getattr(getattr(config, "engine", None), "ar_in_memory_rows", None)
    return dataclasses.replace(settings, ar_in_memory_rows=rows)


MAX_LINES = 20     # per kind of message: a whole market's skips go to the results files


def _capped(lines: list[str], what: str, where: str) -> list[str]:
    """At most MAX_LINES lines, then one saying how many more and where they are."""
    if len(lines) <= MAX_LINES:
        return lines
    head = MAX_LINES - 5
    return lines[:head] + [f"... and {len(lines) - head} more {what} (see results/{where})"]


def _builtin_groups(config, events):
    """The built-in config's groups, narrowed to the events of this events file.

    They were written for the bundled events.csv; with a file of your own, a group keeps the
    events it names that your file has, and is left out when it would have none.
    """
    from dataclasses import replace
    have = set(events["event_id"])
    categories = set(events["category"])
    groups, notes = {}, []
    for gid, group in config.groups.items():
        named = tuple(e for e in group.events if e in have)
        missing = [e for e in group.events if e not in have]
        if not named and not categories.intersection(group.categories):
            notes.append(f"built-in group {gid!r} left out: none of its events "
                         f"({', '.join(group.events + group.categories)}) is in the events file")
            continue
        if missing:
            notes.append(f"built-in group {gid!r} without {', '.join(missing)} (not in the "
                         "events file)")
        groups[gid] = replace(group, events=named)
    return replace(config, groups=groups), notes


@main.group()
def events():
    """List, validate or add events (events.csv)."""


_EVENTS_OPTION = click.option("--events", "events_path", default="events.csv", show_default=True,
                              type=click.Path(dir_okay=False), help="The events file.")


def _narrowed_study_options(f):
    """--events, --config, --offline, --cache, --csv: the options of `test` and `regress`."""
    for option in reversed([
            _EVENTS_OPTION,
            click.option("--config", "config_path", default=None,
                         type=click.Path(dir_okay=False),
                         help="Study config (TOML). Default: the built-in 2025 tariff study."),
            click.option("--offline", is_flag=True,
                         help="Do not fetch: use the cache, then the bundled sample."),
            click.option("--cache", "cache_dir", default=None, type=click.Path(file_okay=False)),
            click.option("--csv", "csv_path", default=None, type=click.Path(dir_okay=False),
                         help="Also write the table to this CSV file.")]):
        f = option(f)
    return f


def _narrowed_study(events_path, config_path, cache_dir, offline, narrow, *,
                    silence_warnings: bool = False):
    """The study `test` and `regress` need: the config narrowed by `narrow(config)` (which
    also checks the command's options against it), run under the cache's lock without the
    memo (memoize=False: it must not replace the memo of `eventstudy run`)."""
    from eventstudy.config import load_config
    from eventstudy.events import load_events
    from eventstudy.study import run_study
    events_file = _input_file(events_path, "--events", NO_EVENTS_HINT)
    config = load_config(_input_file(config_path, "--config") if config_path else None)
    cache = _cache_folder(cache_dir)
    config = narrow(config)
    events = load_events(events_file)
    with ExitStack() as locks, warnings.catch_warnings():
        if silence_warnings:
            warnings.simplefilter("ignore")
        _locked(locks, cache)
        return run_study(events, config, offline=offline, cache_dir=cache, memoize=False)



@events.command("list")
@_EVENTS_OPTION
@_friendly
def events_list(events_path):
    """One line per event, in time order, with the time in UTC, New York and Tokyo."""
    from eventstudy.events import load_events
    frame = load_events(events_path)
    for row in frame.itertuples():
        utc = row.announced_at_utc
        ny = utc.tz_convert("America/New_York").strftime("%m-%d %H:%M %Z")
        tokyo = utc.tz_convert("Asia/Tokyo").strftime("%m-%d %H:%M %Z")
        click.echo(f"{row.event_id:34s} {utc:%Y-%m-%d %H:%M} UTC  {ny:>15s}  {tokyo:>15s}  "
                   f"{row.time_precision:6s}  {one_line(row.category):14s}  "
                   f"{one_line(row.title)}")


@events.command("validate")
@_EVENTS_OPTION
@_friendly
def events_validate(events_path):
    """Check the events file; exit 2 with the first problem (file, row, field)."""
    from eventstudy.events import load_events
    frame = load_events(events_path)
    click.echo(f"{events_path}: {len(frame)} events, all valid")


@events.command("add")
@_EVENTS_OPTION
@click.option("--id", "event_id", required=True, help="Short id: letters, digits, '.', '_', '-'.")
@click.option("--at", "announced_at", required=True,
              help="When it became public, with a UTC offset or zone: "
                   "'2025-07-22T19:12:00-04:00' or '2025-07-22 19:12 America/New_York'.")
@click.option("--title", required=True)
@click.option("--category", required=True, help="e.g. escalation, de-escalation, negotiation.")
@click.option("--source", required=True,
              help="http(s) URL of the source (other links, e.g. javascript:, are refused).")
@click.option("--precision", "time_precision", default="minute", show_default=True,
              type=click.Choice(["minute", "hour", "day"]), help="How well the time is known.")
@click.option("--tags", default="", help="Semicolon-separated tags.")
@_friendly
def events_add(events_path, event_id, announced_at, title, category, source, time_precision,
               tags):
    """Append one event (validated; the file is rewritten atomically)."""
    from eventstudy.events import add_event
    frame = add_event(events_path, event_id=event_id, announced_at=announced_at, title=title,
                      category=category, source=source, time_precision=time_precision,
                      tags=tags)
    for note in frame.attrs.get("warnings", []):
        click.echo(f"warning: {one_line(note)}", err=True)
    row = frame.set_index("event_id").loc[event_id]
    click.echo(f"added {event_id} ({row.announced_at_utc:%Y-%m-%d %H:%M} UTC) to {events_path}; "
               f"{len(frame)} events")


@main.command()
@_EVENTS_OPTION
@click.option("--config", "config_path", default=None, type=click.Path(dir_okay=False),
              help="Study config (TOML). Default: the built-in 2025 tariff study.")
@click.option("--cache", "cache_dir", default=None, type=click.Path(file_okay=False),
              help="Price cache folder (default $EVENTSTUDY_CACHE or ~/.cache/eventstudy).")
@_friendly
def fetch(events_path, config_path, cache_dir):
    """Update the price cache from Yahoo and FRED (only the missing dates of each series)."""
    from eventstudy.config import load_config
    from eventstudy.events import load_events
    from eventstudy.study import update_cache
    config = load_config(_input_file(config_path, "--config") if config_path else None)
    frame = load_events(_input_file(events_path, "--events", NO_EVENTS_HINT))
    cache = _cache_folder(cache_dir)
    names = [s for s in config.needed_series if config.series[s].source != "csv"]
    with ExitStack() as locks, click.progressbar(length=len(names), label="fetching",
                                                 file=sys.stderr) as bar:
        _locked(locks, cache)
        table = update_cache(frame, config, cache_dir=cache, on_series=lambda _: bar.update(1))
    failed = 0
    for row in table.itertuples():
        if row.status == "ok":
            click.echo(f"{row.series:8s} {row.ticker:10s} {row.first:%Y-%m-%d} .. "
                       f"{row.last:%Y-%m-%d}  {row.rows} rows")
        else:
            failed += 1
            click.echo(f"{row.series:8s} {row.ticker:10s} {row.status}", err=True)
    if failed:
        sys.exit(EXIT_NO_DATA)


@main.command("test")
@click.argument("hypotheses", nargs=-1, required=True)
@click.option("--series", required=True, help="Series id, e.g. N225.")
@click.option("--model", default="market_model", show_default=True,
              type=click.Choice(MODELS),
              help="Any model a study runs (the list in eventstudy.config.MODELS).")
@_narrowed_study_options
@_friendly
def test_command(hypotheses, series, model, events_path, config_path, offline, cache_dir,
                 csv_path):
    """Test linear hypotheses on event effects (dummy regression, OLS and HAC).

    \b
    Examples:
      eventstudy test "CAR(liberation-day, 0, 1) = 0" --series N225
      eventstudy test "CAR(liberation-day, 0, 1) + CAR(tariff-pause, 0, 1) = 0" --series N225
      eventstudy test "mean CAR(category=escalation, 0, 1) < 0" --series USDJPY
    """
    from dataclasses import replace

    from eventstudy import atomic
    from eventstudy.hypotheses import test_hypotheses
    from eventstudy.result import to_csv

    def narrow(config):
        if series not in config.series:
            raise InputError(f"unknown series {series!r} (known: {', '.join(config.series)})",
                             field="--series")
        return replace(config, studied=(series,), models=(model,), groups={})

    result = _narrowed_study(events_path, config_path, cache_dir, offline, narrow)
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    table = test_hypotheses(result, list(hypotheses), series=series, model=model)
    for row in table.itertuples():
        click.echo(f"{row.hypothesis}  [{row.cov_type}]  estimate {row.estimate:+.4%}  "
                   f"se {row.se:.4%}  {row.test} = {row.statistic:.3f}  "
                   f"p = {row.p_value:.3f} ({row.alternative})  n = {row.n_obs}")
    if csv_path:
        atomic.write_text(csv_path, to_csv(table))



@main.command("regress")
@click.argument("formula")
@click.option("--window", nargs=2, type=int, required=True, metavar="START END",
              help="An event window of the study, in trading days (e.g. --window 0 0).")
@click.option("--model", default="market_model", show_default=True,
              type=click.Choice(MODELS))
@click.option("--cluster", default="event_id", show_default=True,
              type=click.Choice(["event_id", "day0", "security", "both", "none"]),
              help="Cluster the standard errors by event, by event date, by security, both "
                   "ways (event and security), or not (HC1).")
@click.option("--weights", default=None, type=click.Choice(["inverse_variance", "none"]),
              help="inverse_variance: WLS with weights 1 / car_var.")
@click.option("--groups", "groups", multiple=True, metavar="G",
              help="Only the pairs of these groups of the config (repeat the option, or "
                   "G1,G2).")
@_narrowed_study_options
@_friendly
def regress_command(formula, window, model, cluster, weights, groups, events_path, config_path,
                    offline, cache_dir, csv_path):
    """Regress CARs on security and event metadata (OLS or WLS, clustered errors).

    \b
    FORMULA: statsmodels formula; left of ~ one of car, scar (car / se), bhar; on the right
    the columns of the securities (sector, ...) and of the events (category, ...).
    Examples:
      eventstudy regress "car ~ C(category)" --window 0 0 --offline
      eventstudy regress "car ~ C(sector_en)" --window 0 0 --cluster security \\
          --config examples/universe/study.toml --offline
    """
    from dataclasses import replace

    from eventstudy import atomic
    from eventstudy.regress import regress
    from eventstudy.result import to_csv
    window = tuple(window)
    groups = [g for value in groups for g in value.split(",") if g]   # repeated or a,b

    def narrow(config):
        if window not in config.event_windows:
            have = ", ".join(f"{a} {b}" for a, b in config.event_windows)
            raise InputError(f"{window[0]} {window[1]} is not an event window of the study "
                             f"({have}; add it to study.event_windows)", field="--window")
        for g in groups:
            if g not in config.groups:
                from eventstudy.errors import suggest
                raise InputError(f"unknown group {g!r}{suggest(g, config.groups)}",
                                 field="--groups")
        # only the model and the groups asked for (group tests cost most); the windows stay
        # the study's: they set the days excluded from estimation, so the CARs are `run`'s
        return replace(config, models=(model,), groups={g: config.groups[g] for g in groups},
                       regressions=())

    result = _narrowed_study(events_path, config_path, cache_dir, offline, narrow,
                             silence_warnings=True)
    table = regress(result, formula, window=window, model=model, cluster=cluster,
                    weights=None if weights in (None, "none") else weights,
                    groups=list(groups) or None)
    first = table.iloc[0]
    click.echo(f"{first['dependent']} ({model}, window {window[0]} {window[1]}): n = "
               f"{first['n']} pairs, {first['cov_type']} ({cluster}, {first['n_clusters']} "
               f"clusters), R2 = {first['r2']:.4f}")
    if first["note"]:
        click.echo(f"note: {one_line(first['note'])}")
    width = max(12, *(len(t) for t in table["term"]))
    click.echo(f"{'term':{width}s} {'estimate':>12s} {'se':>12s} {'t':>8s} {'p':>7s}")
    for row in table.itertuples():
        click.echo(f"{one_line(row.term):{width}s} {row.estimate:12.6f} {row.se:12.6f} "
                   f"{row.t:8.3f} {row.p:7.4f}")
    if csv_path:
        atomic.write_text(csv_path, to_csv(table))


@main.command("export")
@click.option("--format", "fmt", required=True, type=click.Choice(["latex", "md", "xlsx"]),
              help="LaTeX (booktabs), Markdown or an Excel workbook (needs openpyxl).")
@click.option("--out", "out_path", default=None, type=click.Path(),
              help="A file, or a folder for tables.tex / tables.md / tables.xlsx. Default: "
                   "LaTeX and Markdown to stdout, xlsx to tables.xlsx here.")
@click.option("--results", "results_dir", default="reports/results", show_default=True,
              type=click.Path(file_okay=False),
              help="The results/ folder of a run: car.csv, tests.csv (and regressions.csv).")
@click.option("--model", "models", multiple=True,
              help="Only this model (repeat for more). Default: every model of the run.")
@click.option("--test", "group_tests", multiple=True,
              help="Only this group test, e.g. kp_bmp (repeat for more). Default: all.")
@click.option("--window", "windows", type=(int, int), multiple=True, metavar="START END",
              help="Only this event window, e.g. --window 0 1 (repeat for more). Default: "
                   "the study's event windows.")
@_friendly
def export_command(fmt, out_path, results_dir, models, group_tests, windows):
    """Write the tables a paper shows: CARs by event and window (stars, se in parentheses),
    the group tests and the regressions, from the CSV files of a run.

    \b
    Examples:
      eventstudy export --format latex --out paper/tables.tex
      eventstudy export --format md --model market_model --test kp_bmp
      eventstudy export --format xlsx --out tables.xlsx --results reports/universe/results
    """
    from eventstudy import export
    frames = export.read_results(_folder(results_dir, "--results"))
    tables = export.paper_tables(frames["car"], frames["tests"], frames["regressions"],
                                 models=models or None, group_tests=group_tests or None,
                                 windows=list(windows) or None, events=frames["events"])
    data = export.render(tables, fmt)
    if out_path is None and fmt != "xlsx":
        click.echo(data, nl=False)
        return
    path = Path(out_path if out_path is not None else f"tables{export.FORMATS[fmt]}")
    if path.is_dir() or (out_path or "").endswith(("/", os.sep)):
        path = path / f"tables{export.FORMATS[fmt]}"
    export.write(data, path)
    click.echo(f"wrote {path} ({', '.join(t.name for t in tables)})")


@main.command("init")
@click.argument("folder", default=".", type=click.Path(file_okay=False))
@_friendly
def init_command(folder):
    """Write a starter study into FOLDER (default: here): events.csv and study.toml.

    events.csv holds one real example event (replace it with yours: `eventstudy events add`);
    study.toml is the built-in study, commented, for you to edit. Nothing is overwritten.
    """
    from eventstudy.init import init_study
    paths = init_study(folder)
    for path in paths:
        click.echo(f"wrote {path}")
    here = Path(folder)
    cd = "" if here.resolve() == Path.cwd().resolve() else f"cd {folder} && "
    click.echo("next: add your events (eventstudy events add --help), then\n"
               f"  {cd}eventstudy run --config study.toml --offline   "
               "# the bundled sample; drop --offline to fetch prices")


if __name__ == "__main__":  # pragma: no cover
    main()
