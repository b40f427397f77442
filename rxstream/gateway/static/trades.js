/* The trades panel: one row per fill, newest first. The resume rules (./resume.js) make sure a
 * fill's exec_id reaches it once; a reset empties it before the server's whole list arrives. */

import { $, el, setEmpty } from "./dom.js";
import { decimalsFor, fmt, fmtQty, hms, plural } from "./format.js";

const MAX_TRADE_ROWS = 500;

export class TradesView {
  constructor() {
    this.count = 0;
    this.body = $("trades-body");
  }

  /** The exec ids shown, newest first. */
  ids() {
    return Array.from(this.body.children, (tr) => tr.dataset.execId);
  }

  reset() {
    this.count = 0;
    this.body.replaceChildren();
    this.render();
  }

  apply(f, { seq, fresh }) {
    if (!f || f.exec_id == null) return;
    const id = String(f.exec_id);
    const side = String(f.side || "").toUpperCase();
    const row = el("tr", fresh ? "new-row" : "");
    row.dataset.execId = id;
    row.dataset.seq = String(seq);
    row.appendChild(el("td", "num muted", hms(f.time)));
    row.appendChild(el("td", "sym", f.symbol));
    const sideCell = el("td");
    sideCell.appendChild(el("span", `side ${side.toLowerCase()}`, side));
    row.appendChild(sideCell);
    row.appendChild(el("td", "num", fmtQty(f.quantity)));
    row.appendChild(el("td", "num", fmt(f.price, decimalsFor(f.price || 1))));
    row.appendChild(el("td", "num muted hide-sm", f.commission == null ? "–" : fmt(f.commission, 2)));
    row.appendChild(el("td", "muted hide-sm", f.account));
    row.appendChild(el("td", "muted hide-sm", String(f.order_id)));
    row.appendChild(el("td", "exec hide-sm", id));
    this.body.insertBefore(row, this.body.firstChild);
    while (this.body.children.length > MAX_TRADE_ROWS) this.body.lastChild.remove();
    this.count += 1;
    this.render();
  }

  render() {
    $("trades-count").textContent = plural(this.count, "fill");
    setEmpty("trades-empty", this.count === 0);
  }
}
