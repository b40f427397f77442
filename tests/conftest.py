"""Shared fixtures: real files under tmp_path, the bundled session."""

from __future__ import annotations

from pathlib import Path

import pytest

from rxstream.tickfile import bundled_session


@pytest.fixture
def session_file() -> Path:
    """The bundled EUR/USD session, as installed code finds it."""
    return bundled_session()


@pytest.fixture
def tick_factory():
    """Make ticks: ``tick_factory("EURUSD", bid=1.1, seconds=3)``."""
    from datetime import UTC, datetime, timedelta

    from rxstream.events import Tick

    base = datetime(2020, 1, 1, 22, tzinfo=UTC)

    def make(symbol: str = "EURUSD", bid: float = 1.1, ask: float | None = None, seconds: float = 0.0) -> Tick:
        return Tick(symbol, base + timedelta(seconds=seconds), bid, ask if ask is not None else bid + 0.0002)

    return make


@pytest.fixture
def signal_factory():
    """Make signals: ``signal_factory("BUY", 0.9)``."""
    from datetime import UTC, datetime

    from rxstream.events import Signal

    def make(action: str = "BUY", confidence: float = 0.5, symbol: str = "EURUSD") -> Signal:
        return Signal("test", symbol, action, confidence, datetime(2020, 1, 1, 22, tzinfo=UTC))  # type: ignore[arg-type]

    return make
