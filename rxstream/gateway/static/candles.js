/* The chart panel: candlesticks of the selected symbol from the lossless bars_1m topic, drawn as SVG.
 * A bar is {"type": "bar", symbol, start, end, open, high, low, close, ticks}; a bar with the same
 * symbol and start as one held replaces it. */

import { $, el, setEmpty, svg } from "./dom.js";
import { decimalsFor, fmt, hm } from "./format.js";

const VISIBLE = 60;        // candles drawn at most
const SLOTS = 24;          // room for at least this many, so a few candles are not drawn huge
const KEEP = 500;          // bars held per symbol
const W = 640;
const H = 260;
const PAD = { left: 6, right: 62, top: 10, bottom: 22 };
const LABEL_GAP = 64;

export class CandlesView {
  /** `onSelect(symbol)` hears the user choosing a symbol in the chart's own list. */
  constructor({ onSelect = () => {} } = {}) {
    this.bars = new Map();  // symbol -> Map(start -> bar), oldest first
    this.selected = null;
    this.chosen = false;    // the user picked the symbol (else the first symbol with bars is shown)
    this.svg = $("candles");
    this.picker = $("chart-symbol");
    this.picker.addEventListener("change", () => {
      this.choose(this.picker.value);
      onSelect(this.picker.value);
    });
  }

  /** Show `symbol` (the user's choice). */
  choose(symbol) {
    this.chosen = true;
    this.selected = symbol;
    this.options();
    this.render();
  }

  reset() {
    this.bars.clear();
    this.options();
    this.render();
  }

  /** Say that the server publishes no bars_1m topic. */
  unavailable() {
    $("chart-empty").textContent = "This server does not publish bars_1m.";
  }

  apply(bar) {
    if (!bar || typeof bar.symbol !== "string" || !bar.start) return;
    let series = this.bars.get(bar.symbol);
    const isNew = !series;
    if (!series) { series = new Map(); this.bars.set(bar.symbol, series); }
    series.delete(bar.start); // a bar again for the same minute replaces the one held
    series.set(bar.start, bar);
    if (series.size > KEEP) series.delete(series.keys().next().value);
    if (this.selected === null && !this.chosen) this.selected = bar.symbol;
    if (isNew) this.options();
    if (bar.symbol === this.selected) this.render();
  }

  options() {
    const symbols = [...this.bars.keys()];
    if (this.selected !== null && !symbols.includes(this.selected)) symbols.push(this.selected);
    symbols.sort();
    const current = Array.from(this.picker.options, (o) => o.value);
    if (current.join() !== symbols.join()) {
      this.picker.replaceChildren(...symbols.map((s) => { const o = el("option", "", s); o.value = s; return o; }));
    }
    if (this.selected !== null) this.picker.value = this.selected;
    this.picker.disabled = symbols.length === 0;
  }

  render() {
    const series = this.selected === null ? null : this.bars.get(this.selected);
    const bars = series ? [...series.values()].sort((a, b) => (a.start < b.start ? -1 : 1)).slice(-VISIBLE) : [];
    this.svg.dataset.symbol = this.selected ?? "";
    this.svg.dataset.candles = String(bars.length);
    setEmpty("chart-empty", bars.length === 0);
    this.svg.classList.toggle("blank", bars.length === 0);
    if (!bars.length) {
      this.svg.replaceChildren();
      $("chart-ohlc").textContent = this.selected ? `${this.selected}: no bars yet` : "";
      return;
    }
    let lo = Infinity;
    let hi = -Infinity;
    for (const b of bars) { lo = Math.min(lo, b.low); hi = Math.max(hi, b.high); }
    const span = hi - lo || Math.abs(hi) * 1e-4 || 1;
    lo -= span * 0.06;
    hi += span * 0.06;
    const plotW = W - PAD.left - PAD.right;
    const plotH = H - PAD.top - PAD.bottom;
    const y = (v) => PAD.top + ((hi - v) / (hi - lo)) * plotH;
    const slot = plotW / Math.max(SLOTS, bars.length);
    const x0 = PAD.left + plotW - slot * bars.length; // right-aligned: the newest bar at the right edge
    const d = decimalsFor(hi);
    const nodes = [];
    for (let i = 0; i <= 4; i += 1) {
      const v = lo + ((hi - lo) * i) / 4;
      const yy = y(v).toFixed(1);
      nodes.push(svg("line", { class: "grid-line", x1: PAD.left, x2: PAD.left + plotW, y1: yy, y2: yy }));
      const label = svg("text", { class: "axis", x: W - PAD.right + 6, y: yy, "dominant-baseline": "middle" });
      label.textContent = fmt(v, d);
      nodes.push(label);
    }
    const every = Math.ceil(LABEL_GAP / slot); // time labels at least LABEL_GAP apart
    bars.forEach((b, i) => {
      const cx = x0 + slot * (i + 0.5);
      const kind = b.close > b.open ? "up" : b.close < b.open ? "down" : "flat";
      const g = svg("g", { class: `candle ${kind}` });
      g.dataset.start = b.start;
      const title = svg("title");
      title.textContent = `${b.symbol} ${hm(b.start)}  O ${fmt(b.open, d)}  H ${fmt(b.high, d)}  ` +
        `L ${fmt(b.low, d)}  C ${fmt(b.close, d)}  · ${b.ticks} ticks`;
      const top = y(Math.max(b.open, b.close));
      const body = Math.max(1, y(Math.min(b.open, b.close)) - top);
      g.append(
        title,
        svg("line", { class: "wick", x1: cx.toFixed(1), x2: cx.toFixed(1), y1: y(b.high).toFixed(1), y2: y(b.low).toFixed(1) }),
        svg("rect", { class: "body", x: (cx - slot * 0.32).toFixed(1), width: (slot * 0.64).toFixed(1),
                      y: top.toFixed(1), height: body.toFixed(1) })
      );
      nodes.push(g);
      if ((bars.length - 1 - i) % every === 0) {
        const label = svg("text", { class: "axis", x: cx.toFixed(1), y: H - 6, "text-anchor": "middle" });
        label.textContent = hm(b.start);
        nodes.push(label);
      }
    });
    this.svg.replaceChildren(...nodes);
    const last = bars[bars.length - 1];
    $("chart-ohlc").textContent = `${last.symbol} ${hm(last.start)}  O ${fmt(last.open, d)}  H ${fmt(last.high, d)}  ` +
      `L ${fmt(last.low, d)}  C ${fmt(last.close, d)}`;
  }
}
