"""The `eventstudy` command. Bad input: one line on stderr, exit 2, no traceback."""
from __future__ import annotations

import sys
import time
from functools import wraps
from pathlib import Path

import click

from eventstudy.errors import DataError, InputError

EXIT_BAD_INPUT = 2
EXIT_NO_DATA = 3


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


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
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
@_friendly
def run(events_path, out_dir, config_path, offline, cache_dir):
    """Run the study and write HTML reports and result CSVs to OUT."""
    from eventstudy.config import load_config
    from eventstudy.events import load_events
    from eventstudy.report import build_report
    from eventstudy.study import run_study

    started = time.perf_counter()
    events = load_events(events_path)
    config = load_config(config_path)
    result = run_study(events, config, offline=offline, cache_dir=cache_dir)
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    out = Path(out_dir)
    result.write_csvs(out / "results")
    pages = build_report(result, out)
    for _, row in result.skipped.iterrows():
        click.echo(f"skipped {row.event_id} / {row.series} / {row.model}: {row.reason}", err=True)
    n_pairs = len(result.alignment)
    click.echo(f"{len(events)} events x series = {n_pairs} pairs, {len(result.car)} CARs, "
               f"{len(result.tests)} tests; wrote {len(pages)} pages to {out}/ "
               f"in {time.perf_counter() - started:.1f} s")
    click.echo(f"open {out / 'index.html'}")


if __name__ == "__main__":  # pragma: no cover
    main()
