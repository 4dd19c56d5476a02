"""`eventstudy init [DIR]`: a starter study a pip-installed user can run and then edit.

It writes DIR/events.csv (the header and one real example event, so that `eventstudy run
--offline` works at once on the bundled sample; replace it with your own) and DIR/study.toml
(the built-in study, commented, with its groups selecting events by category so that they
do not name events of the bundled events.csv). Existing files are never overwritten.
"""
from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

from eventstudy import atomic
from eventstudy.errors import InputError

EVENTS_HEADER = "event_id,announced_at,time_precision,title,category,tags,source\n"
EXAMPLE_EVENT = ("liberation-day,2025-04-02T16:00:00-04:00,hour,Liberation Day: reciprocal "
                 "tariffs announced in the Rose Garden (10% baseline; 24% on Japan),escalation,"
                 "japan;reciprocal;baseline,https://feeds.bbci.co.uk/news/live/c1dr7vy39eet?page=10\n")

STUDY_HEADER = """\
# Your study. `eventstudy run --config study.toml` reads it (events from events.csv).
# It started as a copy of the built-in study; every key is explained where it is set.
# Series: source = "yahoo" (ticker), "fred" (ticker = a FRED series id) or "csv" (path to your
# own prices, column, date_column). Groups choose their events by `categories` (of events.csv)
# or by `events` (a list of event ids, each of which must be in events.csv).

"""


def starter_config() -> str:
    """The built-in config as a starter: groups select by category, not by bundled event ids."""
    text = resources.files("eventstudy").joinpath("default_config.toml").read_text("utf-8")
    text = re.sub(r"(?m)^events = \[[^\]\n]*\][ \t]*$",
                  lambda m: 'categories = ["escalation", "de-escalation"]\n'
                            f"# {m.group(0)}   # or name events of your events.csv", text)
    return STUDY_HEADER + text


def init_study(folder: str | Path) -> list[Path]:
    """Write events.csv and study.toml into `folder` (created if needed); returns them."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise InputError("exists and is not a folder", file=str(folder))
    files = {folder / "events.csv": EVENTS_HEADER + EXAMPLE_EVENT,
             folder / "study.toml": starter_config()}
    there = [p for p in files if p.exists() or p.is_symlink()]
    if there:
        raise InputError("already exists; init never overwrites (remove it or choose another "
                         "folder)", file=str(there[0]))
    for path, text in files.items():
        atomic.write_text(path, text)
    return list(files)
