"""``rxstream backtest`` on the bundled session: deterministic files, P&L that adds up from the fills,
fills at the replayed quotes in the order the demo's rule gives, and a report Chromium renders cleanly."""

from __future__ import annotations

import bisect
import io
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from browser_support import CHROMIUM, CHROMIUM_ARGS, ConsoleWatch, require_browser
from rich.console import Console

from rxstream.autotrade import SignalOrders
from rxstream.backtest import Commission, PaperBroker, Position, run_backtest
from rxstream.backtest.command import progress_after
from rxstream.cli import main
from rxstream.errors import ConfigError
from rxstream.events import Signal, Tick
from rxstream.tickfile import ReadStats, read_events

FILES = ("fills.jsonl", "summary.json", "report.html")


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One backtest of the bundled session with a commission; its output folder."""
    from rxstream.tickfile import bundled_session

    out = tmp_path_factory.mktemp("backtest") / "a"
    assert main(["backtest", str(bundled_session()), "--commission", "0.2bp+1", "--out", str(out)]) == 0
    return out


def fills_of(folder: Path) -> list[dict[str, object]]:
    lines = (folder / "fills.jsonl").read_bytes().splitlines()
    assert orjson.loads(lines[0])["format"] == "rxstream.ticks"  # a tick file: replayable, importable
    return [orjson.loads(line) for line in lines[1:]]


def test_two_runs_write_identical_files(run: Path, session_file: Path, tmp_path: Path) -> None:
    again = tmp_path / "b"
    assert main(["backtest", str(session_file), "--commission", "0.2bp+1", "--out", str(again)]) == 0
    for name in FILES:
        assert (run / name).read_bytes() == (again / name).read_bytes(), name


def test_final_pnl_is_the_sum_over_the_fills(run: Path) -> None:
    fills = fills_of(run)
    summary = orjson.loads((run / "summary.json").read_bytes())
    cash = 0.0
    position = 0.0
    for f in fills:
        sign = 1 if f["side"] == "BUY" else -1
        cash -= sign * f["quantity"] * f["price"] + f["commission"]  # type: ignore[operator]
        position += sign * f["quantity"]  # type: ignore[operator]
    assert position == 0  # flattened at the end
    assert summary["fills"] == len(fills) > 10
    assert summary["pnl"] == pytest.approx(cash, abs=1e-6)
    assert summary["realised_pnl"] == summary["pnl"] and summary["unrealised_pnl"] == 0
    assert summary["commission_paid"] == pytest.approx(sum(f["commission"] for f in fills), abs=1e-6)  # type: ignore[misc]
    assert summary["symbols"]["EURUSD"]["pnl"] == summary["pnl"]
    assert 0 <= summary["win_rate"] <= 1 and summary["wins"] + summary["losses"] == summary["trades"]
    assert summary["max_drawdown"] >= 0 and 0 < summary["exposure"]["time_in_market"] <= 1
    assert summary["currency"] == "USD"


def test_buys_fill_at_the_ask_and_sells_at_the_bid_of_the_quote_of_the_moment(run: Path, session_file: Path) -> None:
    quotes = [e for e in read_events(session_file) if isinstance(e, Tick)]
    times = [q.time for q in quotes]
    for f in fills_of(run):
        time = datetime.fromisoformat(str(f["time"]))
        quote = quotes[bisect.bisect_right(times, time) - 1]  # the latest quote at the fill's time
        assert quote.time == time.astimezone(UTC)
        assert f["price"] == (quote.ask if f["side"] == "BUY" else quote.bid)
        assert f["commission"] == pytest.approx(1 + f["quantity"] * f["price"] * 0.2 / 10_000)  # type: ignore[operator]


def test_orders_follow_the_live_demos_rule_over_the_replayed_signals(
    run: Path, session_file: Path, tmp_path: Path
) -> None:
    out = tmp_path / "signals.jsonl"
    assert main(["replay", str(session_file), "--pipeline", "signals", "--out", str(out)]) == 0
    rule = SignalOrders(20_000)  # the rule SignalTrader places the demo's orders with
    expected = []
    for signal in read_events(out):
        assert isinstance(signal, Signal)
        order = rule.order_for(signal)
        if order is not None:
            rule.placed(order)
            expected.append((order.side, order.quantity, signal.time))
    fills = fills_of(run)
    assert [(f["side"], f["quantity"], datetime.fromisoformat(str(f["time"]))) for f in fills[:-1]] == expected
    assert fills[-1]["quantity"] == 20_000  # the closing fill at the end


def test_keep_open_leaves_the_last_position_unrealised(session_file: Path, tmp_path: Path) -> None:
    result = run_backtest(session_file, flatten=False)
    position = result.positions["EURUSD"]
    assert abs(position.quantity) == 20_000
    quote = [e for e in read_events(session_file) if isinstance(e, Tick)][-1]
    mark = quote.bid if position.quantity > 0 else quote.ask
    assert result.marks["EURUSD"] == mark
    assert result.equity[-1][1] == pytest.approx(position.cash + position.quantity * mark)  # type: ignore[operator]


def test_a_pipeline_that_emits_no_signals_cannot_be_traded(
    session_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["backtest", str(session_file), "--pipelines", "bars_1m", "--out", str(tmp_path)]) == 2
    assert "stream 'bars_1m': emits Bar values, not signals" in capsys.readouterr().err
    assert main(["backtest", str(session_file), "--pipelines", "signals,nope", "--out", str(tmp_path)]) == 2
    assert "unknown pipeline 'nope'" in capsys.readouterr().err
    assert main(["backtest", str(session_file), "--pipelines", ",", "--out", str(tmp_path)]) == 2
    assert "name at least one pipeline" in capsys.readouterr().err
    assert main(["backtest", str(session_file), "--quantity", "0", "--out", str(tmp_path)]) == 2
    assert "quantity" in capsys.readouterr().err


@pytest.mark.parametrize(("text", "fixed", "bp"), [("2", 2.0, 0.0), ("0.2bp", 0.0, 0.2), ("0.2bp+1.5", 1.5, 0.2)])
def test_commission_forms(text: str, fixed: float, bp: float) -> None:
    commission = Commission.parse(text)
    assert (commission.fixed, commission.bp) == (fixed, bp)
    assert Commission.parse(str(commission)) == commission


@pytest.mark.parametrize("text", ["", "bp", "-1", "2%", "1+1"])
def test_bad_commissions_are_refused(text: str) -> None:
    with pytest.raises(ConfigError, match="commission"):
        Commission.parse(text)


def test_position_books_a_reversal_as_one_closed_trade_and_a_new_position() -> None:
    p = Position()
    p.apply("BUY", 10, 100.0, 1.0)  # long 10 at 100.1 a unit, commission included
    assert (p.quantity, p.avg_cost) == (10, pytest.approx(100.1))
    p.apply("SELL", 20, 103.0, 2.0)  # closes 10 (+29.0 - 1.0 commission share) and opens 10 short
    assert (p.trades, p.wins) == (1, 1)
    assert p.realised == pytest.approx(28.0)
    assert p.quantity == -10 and p.avg_cost == pytest.approx(102.9)
    mark = 101.0
    assert p.realised + p.unrealised(mark) == pytest.approx(p.cash + p.quantity * mark)


def test_the_broker_cannot_fill_before_a_two_sided_quote() -> None:
    broker = PaperBroker()
    time = datetime(2020, 1, 1, tzinfo=UTC)
    broker.on_tick(Tick("EURUSD", time, bid=1.1))
    assert broker.market("EURUSD", "BUY", 1, time) is None
    broker.on_tick(Tick("EURUSD", time, bid=1.1, ask=1.2))
    fill = broker.market("EURUSD", "BUY", 1, time)
    assert fill is not None and fill.price == 1.2 and fill.exec_id == "BT-000001"


def test_progress_shows_only_on_a_terminal_once_the_delay_has_passed(session_file: Path) -> None:
    events = list(read_events(session_file))
    shown, hidden = io.StringIO(), io.StringIO()
    stats = ReadStats()
    assert list(progress_after(iter(events), stats, Console(file=shown, force_terminal=True), delay=0.0)) == events
    assert list(progress_after(iter(events), stats, Console(file=hidden, force_terminal=False), delay=0.0)) == events
    slow = io.StringIO()
    assert list(progress_after(iter(events), stats, Console(file=slow, force_terminal=True), delay=3600)) == events
    assert shown.getvalue() and not hidden.getvalue() and not slow.getvalue()


@pytest.mark.browser
async def test_the_report_renders_in_chromium_without_console_errors(run: Path) -> None:
    async_playwright = require_browser()
    fills = fills_of(run)
    console = ConsoleWatch()
    requests: list[str] = []
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1200, "height": 900})
            console.attach(page)
            page.on("request", lambda request: requests.append(request.url))
            await page.goto((run / "report.html").as_uri())
            assert await page.title() == "Backtest of eurusd-2020-01-01.jsonl.gz"
            assert await page.locator("polyline.equity").count() == 1
            buys = sum(1 for f in fills if f["side"] == "BUY")
            assert await page.locator("polygon.buy").count() == buys
            assert await page.locator("polygon.sell").count() == len(fills) - buys
            box = await page.locator("svg").first.bounding_box()
            assert box is not None and box["width"] > 600 and box["height"] > 100
        finally:
            await browser.close()
    assert console.errors == []
    assert [url for url in requests if not url.startswith("file:")] == []  # self-contained: no network
