"""eventstudy: how markets react to dated announcements.

The public API is small: load events and a config, run a study, read its tidy frames.

    >>> from eventstudy import load_events, load_config, run_study
    >>> result = run_study(load_events("events.csv"), load_config(None), offline=True)
    >>> result.car.head()
"""
from eventstudy.errors import InputError

__all__ = ["InputError", "load_events", "load_config", "run_study"]
__version__ = "0.1.0"


def __getattr__(name):  # lazy: keep `eventstudy --help` fast
    if name == "load_events":
        from eventstudy.events import load_events
        return load_events
    if name == "load_config":
        from eventstudy.config import load_config
        return load_config
    if name == "run_study":
        from eventstudy.study import run_study
        return run_study
    raise AttributeError(name)
