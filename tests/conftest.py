"""Shared fixtures. `fake_yahoo`: a local Yahoo for yfinance, with yfinance's global state isolated."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.fake_yahoo import FakeYahoo

MARKET = Path(__file__).parent / "data" / "market"


@pytest.fixture
def fake_yahoo(monkeypatch):
    """A running `FakeYahoo` over tests/data/market; use `fake_yahoo.session()` with yfinance.

    yfinance keeps a process-wide YfData singleton (session, crumb), an lru cache of chart
    responses, a counter of `info` fallbacks, and sqlite tz/cookie caches in the user's cache
    directory. Each test gets them fresh and the sqlite caches replaced by yfinance's own
    no-op dummies, so nothing leaks between tests or onto the machine.
    """
    import yfinance.base
    import yfinance.cache as yc
    import yfinance.data as yd

    monkeypatch.setattr(yd.SingletonMeta, "_instances", {})
    monkeypatch.setattr(yc._TzCacheManager, "_tz_cache", yc._TzCacheDummy())
    monkeypatch.setattr(yc._CookieCacheManager, "_Cookie_cache", yc._CookieCacheDummy())
    monkeypatch.setattr(yfinance.base, "_tz_info_fetch_ctr", 0)
    yd.YfData.cache_get.cache_clear()
    with FakeYahoo(MARKET) as fake:
        yield fake
    yd.YfData.cache_get.cache_clear()
