"""What a backtest writes: the fills as a tick file, ``summary.json`` and a self-contained ``report.html``.

Every file is deterministic: the same run writes the same bytes. The report is
one HTML file with inline SVG charts (no script, no network): the equity curve,
and per symbol the one-minute closes with the fills marked on them.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from ..events import Bar, Fill
from ..tickfile import write_events
from .simulation import BacktestResult

__all__ = ["summary", "write_report"]

_WIDTH, _HEIGHT, _PAD_LEFT, _PAD = 960, 260, 78, 24
_MAX_POINTS = 1500  # per line: longer series are merged down to this many points
_MAX_ROWS = 1000  # fills listed in the report's table


def _number(value: float) -> float:
    return round(value, 6) + 0.0  # + 0.0: no "-0.0"


def _currency(symbol: str) -> str | None:
    return symbol[3:].upper() if len(symbol) == 6 and symbol.isalpha() else None


def _iso(time: datetime | None) -> str | None:
    return time.isoformat().replace("+00:00", "Z") if time is not None else None


def summary(result: BacktestResult) -> dict[str, Any]:
    """The run in numbers: trades, win rate, P&L, max drawdown, exposure; per symbol too.

    P&L is in each symbol's quote currency; the totals add the symbols as they
    are, and ``currency`` is ``null`` when their quote currencies differ.
    """
    symbols: dict[str, Any] = {}
    for symbol in sorted(result.positions):
        position = result.positions[symbol]
        unrealised = position.unrealised(result.marks.get(symbol))
        symbols[symbol] = {
            "currency": _currency(symbol),
            "fills": sum(1 for f in result.fills if f.symbol == symbol),
            "trades": position.trades,
            "wins": position.wins,
            "win_rate": _number(position.wins / position.trades) if position.trades else None,
            "position": _number(position.quantity),
            "realised_pnl": _number(position.realised),
            "unrealised_pnl": _number(unrealised),
            "pnl": _number(position.realised + unrealised),
            "commission": _number(position.commission),
        }
    trades = sum(p.trades for p in result.positions.values())
    wins = sum(p.wins for p in result.positions.values())
    realised = sum(p.realised for p in result.positions.values())
    unrealised = sum(p.unrealised(result.marks.get(s)) for s, p in result.positions.items())
    currencies = {_currency(s) for s in result.positions}
    length = (result.end - result.start).total_seconds() if result.start and result.end else 0.0
    return {
        "source": result.source,
        "pipelines": result.pipelines,
        "quantity": result.quantity,
        "commission": str(result.commission),
        "start": _iso(result.start),
        "end": _iso(result.end),
        "events": result.ticks,
        "signals": result.signals,
        "orders": result.orders,
        "unfilled_orders": result.unfilled,
        "fills": len(result.fills),
        "flattened_at_end": result.flatten,
        "trades": trades,
        "wins": wins,
        "losses": trades - wins,
        "win_rate": _number(wins / trades) if trades else None,
        "realised_pnl": _number(realised),
        "unrealised_pnl": _number(unrealised),
        "pnl": _number(realised + unrealised),
        "commission_paid": _number(sum(p.commission for p in result.positions.values())),
        "max_drawdown": _number(result.max_drawdown),
        "exposure": {
            "time_in_market": _number(result.time_in_market / length) if length else 0.0,
            "seconds_in_market": _number(result.time_in_market),
            "max_position": _number(max((abs(f.quantity) for f in result.fills), default=0.0)),
        },
        "currency": currencies.pop() if len(currencies) == 1 else None,
        "symbols": symbols,
    }


def write_report(result: BacktestResult, out: str | Path) -> dict[str, Path]:
    """Write ``fills.jsonl``, ``summary.json`` and ``report.html`` into ``out``; returns their paths."""
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {"fills": folder / "fills.jsonl", "summary": folder / "summary.json", "report": folder / "report.html"}
    write_events(paths["fills"], result.fills, source=f"rxstream backtest {result.source}")
    numbers = summary(result)
    paths["summary"].write_bytes(orjson.dumps(numbers, option=orjson.OPT_INDENT_2) + b"\n")
    paths["report"].write_text(_html(result, numbers), encoding="utf-8")
    return paths


# --- the HTML report ------------------------------------------------------------------


def _fmt(value: float) -> str:
    return format(value, ".10g")


def _thin(points: Sequence[tuple[datetime, float]]) -> list[tuple[datetime, float]]:
    """At most ``_MAX_POINTS`` points, keeping the last."""
    if len(points) <= _MAX_POINTS:
        return list(points)
    step = -(-len(points) // _MAX_POINTS)
    return [*points[::step][:-1], points[-1]]


def _merge_bars(bars: Sequence[Bar]) -> list[Bar]:
    """Merge consecutive bars so that at most ``_MAX_POINTS`` remain."""
    if len(bars) <= _MAX_POINTS:
        return list(bars)
    k = -(-len(bars) // _MAX_POINTS)
    merged = []
    for i in range(0, len(bars), k):
        group = bars[i:i + k]
        merged.append(Bar(group[0].symbol, group[0].start, group[-1].end, group[0].open,
                          max(b.high for b in group), min(b.low for b in group), group[-1].close,
                          sum(b.ticks for b in group)))
    return merged


class _Frame:
    """Maps times and values into one chart's pixels."""

    def __init__(self, start: datetime, end: datetime, low: float, high: float) -> None:
        self.start = start
        self.seconds = max((end - start).total_seconds(), 1.0)
        margin = (high - low) * 0.05 or abs(high) * 0.001 or 1.0
        self.low, self.high = low - margin, high + margin
        step = (self.high - self.low) / 4  # between two labels of the value axis
        self.digits = max(0, 1 - math.floor(math.log10(step)))

    def x(self, time: datetime) -> float:
        """The time's pixel column, kept inside the session (a bar's end may be after the last quote)."""
        seconds = min(max((time - self.start).total_seconds(), 0.0), self.seconds)
        return round(_PAD_LEFT + seconds / self.seconds * (_WIDTH - _PAD_LEFT - _PAD), 1)

    def y(self, value: float) -> float:
        return round(_PAD + (self.high - value) / (self.high - self.low) * (_HEIGHT - 2 * _PAD), 1)

    def axes(self, end: datetime) -> str:
        parts = []
        for i in range(5):
            value = self.low + (self.high - self.low) * i / 4
            y = self.y(value)
            parts.append(f'<line class="grid" x1="{_PAD_LEFT}" x2="{_WIDTH - _PAD}" y1="{y}" y2="{y}"/>'
                         f'<text class="label" x="{_PAD_LEFT - 6}" y="{y + 4}" text-anchor="end">'
                         f'{value:.{self.digits}f}</text>')
        middle = self.start + (end - self.start) / 2
        for time, anchor in ((self.start, "start"), (middle, "middle"), (end, "end")):
            parts.append(f'<text class="label" x="{self.x(time)}" y="{_HEIGHT - 4}" text-anchor="{anchor}">'
                         f'{time.strftime("%Y-%m-%d %H:%M")}</text>')
        return "".join(parts)


def _svg(label: str, body: str) -> str:
    return (f'<svg viewBox="0 0 {_WIDTH} {_HEIGHT}" role="img" aria-label="{html.escape(label)}" '
            f'xmlns="http://www.w3.org/2000/svg">{body}</svg>')


def _equity_chart(result: BacktestResult) -> str:
    points = result.equity
    if not points or result.start is None or result.end is None:
        return "<p>No equity to draw: the session had no events.</p>"
    values = [v for _, v in points]
    frame = _Frame(result.start, result.end, min(0.0, *values), max(0.0, *values))
    line = " ".join(f"{frame.x(t)},{frame.y(v)}" for t, v in _thin(points))
    zero = frame.y(0.0)
    return _svg("equity curve", frame.axes(result.end)
                + f'<line class="zero" x1="{_PAD_LEFT}" x2="{_WIDTH - _PAD}" y1="{zero}" y2="{zero}"/>'
                + f'<polyline class="equity" points="{line}"/>')


def _price_chart(symbol: str, bars: Sequence[Bar], fills: Iterable[Fill], start: datetime, end: datetime) -> str:
    shown = _merge_bars(bars)
    frame = _Frame(start, end, min(b.low for b in shown), max(b.high for b in shown))
    band = " ".join(f"{frame.x(b.start)},{frame.y(b.high)}" for b in shown)
    band += " " + " ".join(f"{frame.x(b.end)},{frame.y(b.low)}" for b in reversed(shown))
    closes = " ".join(f"{frame.x(b.end)},{frame.y(b.close)}" for b in shown)
    marks = []
    for f in fills:
        x, y = frame.x(f.time), frame.y(f.price)
        shape = f"{x},{y} {x - 6},{y + 10} {x + 6},{y + 10}" if f.side == "BUY" else \
            f"{x},{y} {x - 6},{y - 10} {x + 6},{y - 10}"
        tip = html.escape(f"{f.side} {_fmt(f.quantity)} {f.symbol} @ {_fmt(f.price)} ({f.exec_id}, "
                          f"{f.time.strftime('%H:%M:%S')})")
        marks.append(f'<polygon class="{f.side.lower()}" points="{shape}"><title>{tip}</title></polygon>')
    return _svg(f"{symbol} one-minute prices with fills", frame.axes(end)
                + f'<polygon class="range" points="{band}"/><polyline class="price" points="{closes}"/>'
                + "".join(marks))


_STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 24px auto; max-width: 1000px; color: #1d2433; }
h1 { font-size: 20px; margin: 0 0 4px; } h2 { font-size: 16px; margin: 24px 0 6px; }
.muted { color: #667085; } svg { width: 100%; height: auto; background: #fbfcfe; border: 1px solid #e4e7ec; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
td, th { padding: 3px 10px; border-bottom: 1px solid #eef0f4; text-align: right; }
th:first-child, td:first-child { text-align: left; }
.grid { stroke: #eef0f4; } .zero { stroke: #98a2b3; stroke-dasharray: 4 3; }
.label { fill: #667085; font-size: 11px; }
.equity { fill: none; stroke: #2e6be6; stroke-width: 1.5; } .price { fill: none; stroke: #1d2433; stroke-width: 1; }
.range { fill: #d0d5dd; opacity: .5; } .buy { fill: #12b76a; } .sell { fill: #f04438; }
"""


def _html(result: BacktestResult, numbers: dict[str, Any]) -> str:
    esc = html.escape
    rows = [
        ("P&L", numbers["pnl"]), ("realised", numbers["realised_pnl"]), ("unrealised", numbers["unrealised_pnl"]),
        ("commission paid", numbers["commission_paid"]), ("max drawdown", numbers["max_drawdown"]),
        ("trades", numbers["trades"]), ("win rate", numbers["win_rate"]), ("fills", numbers["fills"]),
        ("signals traded", numbers["signals"]), ("time in market", numbers["exposure"]["time_in_market"]),
    ]
    facts = "".join(f"<tr><th>{esc(k)}</th><td>{esc('—' if v is None else str(v))}</td></tr>" for k, v in rows)
    parts = [
        "<!doctype html>", '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">', '<link rel="icon" href="data:,">',
        f"<title>Backtest of {esc(result.source)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>Backtest of {esc(result.source)}</h1>",
        f'<p class="muted">{esc(numbers["start"] or "")} to {esc(numbers["end"] or "")} · pipelines '
        f'{esc(", ".join(result.pipelines))} · quantity {_fmt(result.quantity)} · commission '
        f'{esc(numbers["commission"])} · currency {esc(numbers["currency"] or "mixed: see per symbol")}</p>',
        f"<table>{facts}</table>", "<h2>Equity (realised + unrealised P&amp;L)</h2>", _equity_chart(result),
    ]
    by_symbol: dict[str, list[Bar]] = {}
    for bar in result.bars:
        by_symbol.setdefault(bar.symbol, []).append(bar)
    if result.start is not None and result.end is not None:
        for symbol in sorted(by_symbol):
            fills = [f for f in result.fills if f.symbol == symbol]
            s = numbers["symbols"].get(symbol, {})
            parts.append(f"<h2>{esc(symbol)} · {len(fills)} fills · P&amp;L {s.get('pnl', 0.0)}"
                         f" {esc(s.get('currency') or '')}</h2>")
            parts.append(_price_chart(symbol, by_symbol[symbol], fills, result.start, result.end))
    parts.append("<h2>Fills</h2><table><tr><th>exec id</th><th>time</th><th>symbol</th><th>side</th>"
                 "<th>quantity</th><th>price</th><th>commission</th></tr>")
    for f in result.fills[:_MAX_ROWS]:
        parts.append(f"<tr><td>{esc(f.exec_id)}</td><td>{esc(_iso(f.time) or '')}</td><td>{esc(f.symbol)}</td>"
                     f"<td>{f.side}</td><td>{_fmt(f.quantity)}</td><td>{_fmt(f.price)}</td>"
                     f"<td>{_fmt(f.commission or 0.0)}</td></tr>")
    parts.append("</table>")
    if len(result.fills) > _MAX_ROWS:
        parts.append(f'<p class="muted">… and {len(result.fills) - _MAX_ROWS} more in fills.jsonl</p>')
    parts.append("</body></html>\n")
    return "\n".join(parts)
