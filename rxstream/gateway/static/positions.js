/* The positions panel: one row per account and symbol, marked to the latest price, with the total P&L. */

import { $, el, flash, setEmpty, trendClass } from "./dom.js";
import { decimalsFor, fmt, fmtMoney, fmtQty } from "./format.js";

export class PositionsView {
  /** `markOf(symbol)` gives the latest price of a symbol, or null. */
  constructor({ markOf = () => null } = {}) {
    this.rows = new Map(); // "account:symbol" -> {row, cells, data, pnl}
    this.markOf = markOf;
    this.body = $("positions-body");
  }

  /** A snapshot is the whole state: positions not in it are gone. */
  reset() {
    this.rows.clear();
    this.body.replaceChildren();
    setEmpty("positions-empty", true);
    $("positions-pnl").textContent = "";
  }

  apply(pos) {
    if (!pos || typeof pos.symbol !== "string") return;
    const key = `${pos.account}:${pos.symbol}`;
    let p = this.rows.get(key);
    if (!p) {
      const row = el("tr");
      row.dataset.key = key;
      row.dataset.symbol = pos.symbol;
      const cells = {
        account: el("td", "muted hide-sm"),
        symbol: el("td", "sym", pos.symbol),
        quantity: el("td", "num"),
        avg: el("td", "num"),
        mark: el("td", "num muted hide-sm"),
        pnl: el("td", "num"),
      };
      for (const c of Object.values(cells)) row.appendChild(c);
      p = { row, cells, data: null, pnl: null };
      this.rows.set(key, p);
      const after = Array.from(this.body.children).find((tr) => tr.dataset.key > key);
      this.body.insertBefore(row, after || null);
      setEmpty("positions-empty", false);
    }
    const prev = p.data;
    p.data = pos;
    const c = p.cells;
    c.account.textContent = pos.account;
    c.quantity.textContent = fmtQty(pos.quantity);
    c.quantity.className = `num ${trendClass(pos.quantity)}`;
    c.avg.textContent = fmt(pos.avg_cost, decimalsFor(Math.abs(pos.avg_cost) || 1));
    if (prev && prev.quantity !== pos.quantity) flash(c.quantity, pos.quantity - prev.quantity);
    this.renderPnl(p, this.markOf(pos.symbol));
  }

  /** A new price for `symbol`: re-mark its positions. */
  mark(symbol, price) {
    for (const p of this.rows.values()) if (p.data && p.data.symbol === symbol) this.renderPnl(p, price);
  }

  renderPnl(p, mark) {
    const c = p.cells;
    const pos = p.data;
    c.mark.textContent = mark == null ? "–" : fmt(mark, decimalsFor(mark));
    const pnl = mark == null ? null : (mark - pos.avg_cost) * pos.quantity;
    p.pnl = pnl;
    c.pnl.textContent = fmtMoney(pnl);
    c.pnl.className = `num ${trendClass(pnl)}`;
    let total = 0;
    let any = false;
    for (const q of this.rows.values()) if (q.pnl != null) { total += q.pnl; any = true; }
    const head = $("positions-pnl");
    head.textContent = any ? `P&L ${fmtMoney(total)}` : "";
    head.className = `count ${total > 0 ? "pos" : total < 0 ? "neg" : ""}`;
  }
}
