/* The signals panel: the newest signal first, with its confidence as a bar. */

import { $, el, setEmpty } from "./dom.js";
import { hms } from "./format.js";

const MAX_SIGNALS = 200;

export class SignalsView {
  constructor() {
    this.count = 0;
    this.feed = $("signals-feed");
  }

  reset() {
    this.count = 0;
    this.feed.replaceChildren();
    this.render();
  }

  apply(sig, { seq, fresh }) {
    if (!sig) return;
    const action = String(sig.action || "").toUpperCase();
    const li = el("li", action === "BUY" ? "buy-row" : action === "SELL" ? "sell-row" : "");
    li.dataset.seq = String(seq);
    li.dataset.symbol = sig.symbol;
    li.appendChild(el("span", "t", hms(sig.time)));
    li.appendChild(el("span", `side ${action.toLowerCase()}`, action));
    li.appendChild(el("span", "s", sig.symbol));
    li.appendChild(el("span", "strat", sig.strategy));
    const conf = Math.max(0, Math.min(1, Number(sig.confidence) || 0));
    const wrap = el("span", "conf");
    wrap.title = `confidence ${(conf * 100).toFixed(1)}%`;
    const bar = el("span", "bar");
    const fill = el("i");
    fill.style.width = `${(conf * 100).toFixed(1)}%`; // CSSOM, which a CSP without 'unsafe-inline' allows
    bar.appendChild(fill);
    wrap.append(bar, el("span", "pct", `${Math.round(conf * 100)}%`));
    li.appendChild(wrap);
    li.appendChild(el("span", "reason", sig.reason || ""));
    if (fresh) li.classList.add("new-row");
    this.feed.insertBefore(li, this.feed.firstChild);
    while (this.feed.children.length > MAX_SIGNALS) this.feed.lastChild.remove();
    this.count += 1;
    this.render();
  }

  render() {
    $("signals-count").textContent = String(this.count);
    setEmpty("signals-empty", this.count === 0);
  }
}
