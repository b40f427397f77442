"""What a new ib_insync (or ib_async) user tries first, run unmodified against ``rxstream sim``, each in its
own process.

1. the README example of the installed library (ib_insync's, or ib_async's "Historical Data"
   example), read from the package's metadata: historical hourly bars of EUR/USD into a DataFrame;
   only the port is replaced;
2. a script using account summary, portfolio, historical bars of several sizes and ``whatToShow``
   kinds, and a what-if order.

The bars printed by the scripts are checked against the bundled tick file by a computation of
their own (window index, first/max/min/last), not by the simulator's code.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import json
import math
import re
import sys
import textwrap
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from tws_support import sim_command

from rxstream.events import Tick
from rxstream.ibkr.api import NAME
from rxstream.tickfile import bundled_session, read_events

BROKER = NAME
"""The broker library installed: ``ib_insync`` or ``ib_async`` (never both in one environment)."""


def readme_example() -> str:
    """The historical-data example of the installed library's README, read from its package metadata."""
    text = importlib.metadata.metadata(BROKER).get_payload()  # type: ignore[attr-defined]
    if BROKER == "ib_insync":  # reStructuredText: the one code block of "Example"
        block = text.split(".. code-block:: python", 1)[1].split("Output::", 1)[0]
    else:  # Markdown: the block under "### Historical Data"
        block = text.split("### Historical Data", 1)[1].split("```python", 1)[1].split("```", 1)[0]
    return textwrap.dedent(block).strip() + "\n"


ACCOUNT_SCRIPT = r"""
import json, sys
from BROKER import IB, Forex, Stock, MarketOrder

ib = IB()
ib.connect("127.0.0.1", int(sys.argv[1]), clientId=7, timeout=5)
out = {"summary": {v.tag: [v.value, v.currency] for v in ib.accountSummary()}}
out["portfolio"] = [[p.contract.localSymbol, p.position, p.marketPrice, p.marketValue, p.averageCost,
                     p.unrealizedPNL] for p in ib.portfolio()]
eurusd = Forex("EURUSD")
ib.qualifyContracts(eurusd)
out["bars"] = {}
for size, what in [("1 hour", "MIDPOINT"), ("15 mins", "BID"), ("1 min", "ASK"), ("5 secs", "BID_ASK"),
                   ("1 day", "MIDPOINT")]:
    bars = ib.reqHistoricalData(eurusd, endDateTime="", durationStr="2 D", barSizeSetting=size,
                                whatToShow=what, useRTH=False, formatDate=2)
    out["bars"][size + "/" + what] = [[int(b.date.timestamp()) if hasattr(b.date, "hour") else b.date.isoformat(),
                                       b.open, b.high, b.low, b.close, b.barCount] for b in bars]
state = ib.whatIfOrder(Stock("AAPL", "SMART", "USD"), MarketOrder("BUY", 100))
out["what_if"] = {k: getattr(state, k) for k in ("initMarginChange", "maintMarginChange", "initMarginAfter",
                                                  "equityWithLoanAfter", "commission", "commissionCurrency")}
out["trades_after_what_if"] = len(ib.trades())
print(json.dumps(out))
ib.disconnect()
"""

SESSION = [e for e in read_events(bundled_session()) if isinstance(e, Tick)]


def expected(seconds: int, what: str) -> list[tuple[datetime, float, float, float, float, int]]:
    groups: dict[int, list[tuple[float, float]]] = {}
    for t in SESSION:
        assert t.bid is not None and t.ask is not None
        low, high = {"MIDPOINT": ((t.bid + t.ask) / 2,) * 2, "BID": (t.bid,) * 2, "ASK": (t.ask,) * 2,
                     "BID_ASK": (t.bid, t.ask)}[what]
        groups.setdefault(math.floor(t.time.timestamp() / seconds), []).append((low, high))
    return [
        (datetime.fromtimestamp(i * seconds, UTC), p[0][0], max(h for _, h in p), min(lo for lo, _ in p), p[-1][1],
         len(p))
        for i, p in sorted(groups.items())
    ]


@pytest.fixture
async def sim_port() -> AsyncIterator[int]:
    """``rxstream sim`` on a free port, as a user starts it (the bundled session, 1x, looping)."""
    async with sim_command() as (_, port, _):
        yield port


async def run(script: str, *args: str) -> str:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", script, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()[-3000:]
    assert "Timeout" not in err.decode() and "Error" not in err.decode(), err.decode()[-3000:]
    return out.decode()


async def test_readme_example_unmodified(sim_port: int) -> None:
    # the example's util.df needs pandas: the test extras install it
    example = readme_example()
    assert "reqHistoricalData" in example and "util.df(bars)" in example and "7497" in example
    script = example.replace("7497", str(sim_port))  # the simulator's port, nothing else changed
    printed = await run(script)
    rows = [line.split() for line in printed.splitlines()[1:] if re.match(r"^\d+\s+20\d\d-", line)]
    want = expected(3600, "MIDPOINT")
    assert len(want) == 7  # 22:00 on 2020-01-01 to 04:00 on 2020-01-02
    assert len(rows) == (7 if BROKER == "ib_insync" else 5)  # ib_async's example prints df.head()
    for row, (start, open_, *_rest) in zip(rows, want[: len(rows)], strict=True):
        assert datetime.fromisoformat(f"{row[1]} {row[2]}") == start
        assert float(row[3]) == pytest.approx(open_, abs=1e-6)


async def test_account_portfolio_bars_and_what_if_script(sim_port: int) -> None:
    seen = json.loads(await run(ACCOUNT_SCRIPT.replace("BROKER", BROKER), str(sim_port)))
    summary = seen["summary"]
    assert summary["AccountType"] == ["INDIVIDUAL", ""]
    for tag in ("NetLiquidation", "TotalCashValue", "InitMarginReq", "MaintMarginReq", "AvailableFunds",
                "BuyingPower", "GrossPositionValue"):
        assert summary[tag][1] == "USD" and float(summary[tag][0]) > 0, tag
    portfolio = {row[0]: row[1:] for row in seen["portfolio"]}
    assert set(portfolio) == {"EUR.USD", "AAPL"}
    position, price, value, cost, pnl = portfolio["EUR.USD"]
    assert (position, cost) == (100_000, 1.1205) and 1.0 < price < 1.2
    assert value == pytest.approx(position * price, abs=0.01)
    assert pnl == pytest.approx(position * (price - cost), abs=0.01)
    for key, bars in seen["bars"].items():
        size, what = key.split("/")
        seconds = {"1 hour": 3600, "15 mins": 900, "1 min": 60, "5 secs": 5, "1 day": 86400}[size]
        want = expected(seconds, what)
        assert len(bars) == len(want), key
        for got, (start, *prices, count) in zip(bars, want, strict=True):
            date = datetime.fromisoformat(got[0]).replace(tzinfo=UTC) if isinstance(got[0], str) else \
                datetime.fromtimestamp(got[0], UTC)
            assert date == start and got[5] == count, key
            assert got[1:5] == pytest.approx(prices, abs=1e-9), key
    what_if = seen["what_if"]
    assert float(what_if["commission"]) == 1.0 and what_if["commissionCurrency"] == "USD"
    assert float(what_if["initMarginChange"]) == pytest.approx(100 * 100.0 * 0.5)  # no AAPL quote: 100 USD
    assert float(what_if["maintMarginChange"]) == pytest.approx(100 * 100.0 * 0.25)
    assert seen["trades_after_what_if"] == 0
