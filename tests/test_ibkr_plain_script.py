"""An unmodified ib_insync (or ib_async) script, knowing nothing of rxstream, against ``rxstream sim``.

Both run as separate processes, exactly as a user would run them: the
simulator serves the bundled EUR/USD session; the script connects, reads its
positions, streams market data and places a market order, and prints what it
saw as JSON.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from tws_support import sim_command

from rxstream.ibkr.api import NAME

SCRIPT = r"""
import json, sys
from LIBRARY import IB, Forex, MarketOrder

ib = IB()
ib.connect("127.0.0.1", int(sys.argv[1]), clientId=11, timeout=5)
positions = [(p.account, p.contract.localSymbol, p.position) for p in ib.positions()]
eurusd = Forex("EURUSD")
ib.qualifyContracts(eurusd)
ticker = ib.reqMktData(eurusd)
updates = 0
while updates < 3:
    ib.waitOnUpdate(timeout=5)
    if ticker.bid == ticker.bid:  # not NaN
        updates += 1
reports = []
ib.commissionReportEvent += lambda trade, fill, report: reports.append(report.commission)
trade = ib.placeOrder(eurusd, MarketOrder("BUY", 10000))
while not reports:
    ib.waitOnUpdate(timeout=5)
print(json.dumps({
    "positions": positions, "bid": ticker.bid, "ask": ticker.ask, "status": trade.orderStatus.status,
    "fill_price": trade.fills[0].execution.price, "commission": reports[0],
}))
ib.disconnect()
"""


async def test_unmodified_ib_insync_script_against_rxstream_sim() -> None:
    async with sim_command("--speed", "2000") as (_, port, banner):
        assert "EURUSD" in banner
        script = await asyncio.create_subprocess_exec(
            sys.executable, "-c", SCRIPT.replace("LIBRARY", NAME), str(port),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(script.communicate(), 60)
        assert script.returncode == 0, err.decode()[-2000:]
    seen = json.loads(out)
    assert ["DU0000001", "EUR.USD", 100000.0] in seen["positions"]
    assert 1.0 < seen["bid"] < seen["ask"] < 1.2  # EUR/USD on 2020-01-01
    assert seen["status"] == "Filled" and 1.0 < seen["fill_price"] < 1.2  # the ask when the order arrived
    assert seen["commission"] == 2.0


async def test_sim_command_names_a_bad_tick_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"format": "rxstream.ticks", "version": 1}\n{"type": "tick", "symbol": "EURUSD"}\n')
    sim = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "rxstream.cli", "sim", "--port", "0", "--file", str(bad),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(sim.communicate(), 30)
    assert sim.returncode == 2 and f"{bad}:2:".encode() in err
