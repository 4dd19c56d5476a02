"""The `eventstudy` command. Bad input: one line on stderr, exit 2, no traceback."""
from __future__ import annotations

import sys
import time
import warnings
from functools import wraps
from pathlib import Path

import click

from eventstudy.errors import DataError, InputError

EXIT_BAD_INPUT = 2
EXIT_NO_DATA = 3


def _our_warnings() -> tuple[type[Warning], ...]:
    """Warnings meant for the user (shown as one line); library noise is not shown."""
    from eventstudy.data.cache import CacheCorruptWarning
    from eventstudy.memo import MemoWarning
    return (CacheCorruptWarning, MemoWarning)


def _friendly(func):
    """Turn our errors into one line and an exit code; anything else is a bug and shows."""
    @wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except InputError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(EXIT_BAD_INPUT)
        except DataError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(EXIT_NO_DATA)
    return wrapper


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
@click.version_option(package_name="eventstudy")
def main():
    """Measure how markets react to dated announcements.

    \b
    Typical use:
      eventstudy run                 # events.csv -> reports/index.html (+ results/*.csv)
      eventstudy run --offline       # never touch the network (cache, then bundled sample)
      eventstudy events list         # what is in events.csv

    Events come from events.csv (event_id, announced_at with a UTC offset or zone, title,
    category, source). Day 0 of an event is the first session of each series whose close
    comes after the announcement. See README.md and docs/methods.md.
    """


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
@_friendly
def run(events_path, out_dir, config_path, offline, cache_dir, force):
    """Run the study and write HTML reports and result CSVs to OUT."""
    import pandas as pd

    from eventstudy.config import load_config
    from eventstudy.events import load_events
    from eventstudy.report import build_report
    from eventstudy.study import run_study

    started = time.perf_counter()
    events = load_events(events_path)
    config = load_config(config_path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = run_study(events, config, offline=offline, cache_dir=cache_dir,
                           recompute=force)
    ours = [str(w.message) for w in caught if issubclass(w.category, _our_warnings())]
    for warning in ours + result.warnings:
        click.echo(f"warning: {' '.join(warning.split())}", err=True)
    out = Path(out_dir)
    result.write_csvs(out / "results")
    pages = build_report(result, out, force=force)
    skipped = result.skipped
    waits = skipped["reason"].str.startswith("waiting for data")
    for row in skipped[~waits].itertuples(index=False):
        click.echo(f"skipped {row.event_id} / {row.series} / {row.model}: {row.reason}", err=True)
    # one line per (event, series) that has no data yet, whatever the number of models
    waiting = pd.concat([
        skipped[waits].assign(what=skipped.loc[waits, "reason"].str.removeprefix(
            "waiting for data: ")),
        result.car[result.car["note"] == "waiting for data"].assign(
            what="part of its event window is past the last bar")])
    for (eid, sid), rows in waiting.groupby(["event_id", "series"], sort=True):
        click.echo(f"waiting for data: {eid} / {sid} ({rows['what'].iloc[0]})", err=True)
    n_pairs = len(result.alignment)
    rebuilt = ", ".join(p.relative_to(out).as_posix() for p in pages) or "nothing"
    reuse = result.reuse
    click.echo(f"{len(events)} events x series = {n_pairs} pairs, {len(result.car)} CARs, "
               f"{len(result.tests)} tests ({reuse.get('computed', 0)} results computed, "
               f"{reuse.get('reused', 0)} unchanged); rebuilt {len(pages)} pages ({rebuilt}), "
               f"{len(pages.unchanged)} unchanged, in {time.perf_counter() - started:.1f} s")
    click.echo(f"open {out / 'index.html'}")


@main.group()
def events():
    """List, validate or add events (events.csv)."""


_EVENTS_OPTION = click.option("--events", "events_path", default="events.csv", show_default=True,
                              type=click.Path(dir_okay=False), help="The events file.")


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
                   f"{row.time_precision:6s}  {row.category:14s}  {row.title}")


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
@click.option("--source", required=True, help="URL of the source.")
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
    config = load_config(config_path)
    frame = load_events(events_path)
    names = [s for s in config.needed_series if config.series[s].source != "csv"]
    with click.progressbar(length=len(names), label="fetching", file=sys.stderr) as bar:
        table = update_cache(frame, config, cache_dir=cache_dir, on_series=lambda _: bar.update(1))
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
              type=click.Choice(["constant_mean", "market_adjusted", "market_model",
                                 "factor_model", "dimson"]))
@_EVENTS_OPTION
@click.option("--config", "config_path", default=None, type=click.Path(dir_okay=False),
              help="Study config (TOML). Default: the built-in 2025 tariff study.")
@click.option("--offline", is_flag=True, help="Do not fetch: use the cache, then the bundled sample.")
@click.option("--cache", "cache_dir", default=None, type=click.Path(file_okay=False))
@click.option("--csv", "csv_path", default=None, type=click.Path(dir_okay=False),
              help="Also write the table to this CSV file.")
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
    from eventstudy.config import load_config
    from eventstudy.events import load_events
    from eventstudy.hypotheses import test_hypotheses
    from eventstudy.result import to_csv
    from eventstudy.study import run_study
    config = load_config(config_path)
    if series not in config.series:
        raise InputError(f"unknown series {series!r} (known: {', '.join(config.series)})",
                         field="--series")
    config = replace(config, studied=(series,), models=(model,), groups={})
    # memoize=False: this narrowed study must not replace the memo of `eventstudy run`
    result = run_study(load_events(events_path), config, offline=offline, cache_dir=cache_dir,
                       memoize=False)
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    table = test_hypotheses(result, list(hypotheses), series=series, model=model)
    for row in table.itertuples():
        click.echo(f"{row.hypothesis}  [{row.cov_type}]  estimate {row.estimate:+.4%}  "
                   f"se {row.se:.4%}  {row.test} = {row.statistic:.3f}  "
                   f"p = {row.p_value:.3f} ({row.alternative})  n = {row.n_obs}")
    if csv_path:
        atomic.write_text(csv_path, to_csv(table))


if __name__ == "__main__":  # pragma: no cover
    main()
