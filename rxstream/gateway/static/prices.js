/* The prices panel: one row per symbol (bid, ask, last/mid, spread, change, sparkline, time). */

import { $, el, flash, setEmpty, svg, trendClass } from "./dom.js";
import { decimalsFor, fmt, hms, plural } from "./format.js";

const SPARK_POINTS = 60;

export class PricesView {
  /** `onMark(symbol, price)` hears every new reference price; `onSelect(symbol)` a click on a row. */
  constructor({ onMark = () => {}, onSelect = () => {} } = {}) {
    this.rows = new Map(); // symbol -> {row, cells, svg, area, line, open, points, last, updates}
    this.stale = null;     // symbols a snapshot being applied has not refreshed yet
    this.onMark = onMark;
    this.body = $("prices-body");
    this.body.addEventListener("click", (event) => {
      const tr = event.target.closest("tr[data-symbol]");
      if (tr) onSelect(tr.dataset.symbol);
    });
  }

  /** The latest reference price of `symbol`, or null. */
  mark(symbol) {
    const p = this.rows.get(symbol);
    return p && p.points.length ? p.points[p.points.length - 1] : null;
  }

  /** Mark `symbol`'s row as the one the chart shows. */
  select(symbol) {
    for (const [name, p] of this.rows) p.row.classList.toggle("selected", name === symbol);
  }

  /** The snapshot that follows is the whole state: rows it does not refresh go at settle(). */
  replace() {
    this.stale = new Set(this.rows.keys());
  }

  /** Drop the rows the last snapshot did not hold; the others keep their trend line. */
  settle() {
    if (!this.stale) return;
    for (const symbol of this.stale) {
      this.rows.get(symbol).row.remove();
      this.rows.delete(symbol);
    }
    this.stale = null;
    this.count();
  }

  apply(tick) {
    if (!tick || typeof tick.symbol !== "string") return;
    const bid = tick.bid ?? null;
    const ask = tick.ask ?? null;
    const mid = bid != null && ask != null ? (bid + ask) / 2 : null;
    const last = tick.last ?? mid;
    const ref = last ?? bid ?? ask;
    if (ref == null) return;
    const p = this.row(tick.symbol);
    if (this.stale) this.stale.delete(tick.symbol);
    const d = decimalsFor(ref);
    if (p.open == null) p.open = ref;
    const cells = p.cells;
    const update = (name, value) => {
      const prev = p.last[name];
      cells[name].textContent = fmt(value, d);
      if (prev != null && value != null && value !== prev) flash(cells[name], value - prev);
      p.last[name] = value;
    };
    update("bid", bid);
    update("ask", ask);
    update("last", last);
    cells.spread.textContent = bid != null && ask != null ? fmt(ask - bid, d) : "–";
    const change = ref - p.open;
    const pct = p.open ? (change / p.open) * 100 : 0;
    cells.change.replaceChildren(
      el("span", "abs", `${change >= 0 ? "+" : ""}${fmt(change, d)} `),
      el("span", "pct", `${pct >= 0 ? "+" : ""}${pct.toFixed(2)}%`)
    );
    cells.change.className = `num change ${trendClass(change)}`;
    cells.time.textContent = hms(tick.time);
    p.points.push(ref);
    if (p.points.length > SPARK_POINTS) p.points.shift();
    drawSpark(p);
    p.updates += 1;
    p.row.dataset.updates = String(p.updates);
    this.onMark(tick.symbol, ref);
  }

  row(symbol) {
    let p = this.rows.get(symbol);
    if (p) return p;
    const row = el("tr");
    row.dataset.symbol = symbol;
    row.dataset.updates = "0";
    const cells = {
      symbol: el("td", "sym", symbol),
      bid: el("td", "num"),
      ask: el("td", "num"),
      last: el("td", "num hide-sm"),
      spread: el("td", "num muted hide-sm"),
      change: el("td", "num"),
      spark: el("td", "spark-col"),
      time: el("td", "num muted hide-sm"),
    };
    for (const c of Object.values(cells)) row.appendChild(c);
    const chart = svg("svg", { class: "spark flat", viewBox: "0 0 120 26", preserveAspectRatio: "none" });
    const area = svg("polygon", { class: "area" });
    const line = svg("polyline");
    chart.append(area, line);
    cells.spark.appendChild(chart);
    p = { row, cells, svg: chart, area, line, open: null, points: [], last: {}, updates: 0 };
    this.rows.set(symbol, p);
    const after = Array.from(this.body.children).find((tr) => tr.dataset.symbol > symbol);
    this.body.insertBefore(row, after || null); // rows sorted by symbol
    this.count();
    return p;
  }

  count() {
    $("prices-count").textContent = plural(this.rows.size, "symbol");
    setEmpty("prices-empty", this.rows.size === 0);
  }
}

function drawSpark(p) {
  const pts = p.points;
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of pts) { if (v < lo) lo = v; if (v > hi) hi = v; }
  const span = hi - lo || 1;
  const step = pts.length > 1 ? 118 / (SPARK_POINTS - 1) : 0;
  const x0 = 120 - 1 - step * (pts.length - 1);
  const coords = pts.map((v, i) => `${(x0 + i * step).toFixed(1)},${(24 - ((v - lo) / span) * 22).toFixed(1)}`);
  if (coords.length === 1) coords.unshift(`${(x0 - 1).toFixed(1)},${coords[0].split(",")[1]}`);
  p.line.setAttribute("points", coords.join(" "));
  const first = coords[0].split(",")[0];
  const lastX = coords[coords.length - 1].split(",")[0];
  p.area.setAttribute("points", `${first},26 ${coords.join(" ")} ${lastX},26`);
  const trend = pts[pts.length - 1] - pts[0];
  p.svg.setAttribute("class", `spark ${trend > 0 ? "up" : trend < 0 ? "down" : "flat"}`);
}
