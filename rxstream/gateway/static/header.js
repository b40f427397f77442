/* The top bar (connection state, epoch, rate, clients, uptime, clock), the notice line and the footer. */

import { $ } from "./dom.js";
import { duration } from "./format.js";

export class HeaderView {
  constructor() {
    this.noticeTimer = null;
  }

  /** The connection indicator: `name` is its data-state, `label` its text. */
  connection(name, label) {
    $("conn").dataset.state = name;
    $("conn-label").textContent = label;
  }

  /** Show `text` at `level` (info, warn, error) for `ms` milliseconds (0: until replaced). */
  notice(text, level = "info", ms = 8000) {
    const box = $("notice");
    box.textContent = text;
    box.dataset.level = level;
    box.hidden = false;
    clearTimeout(this.noticeTimer);
    if (ms) this.noticeTimer = setTimeout(() => { box.hidden = true; }, ms);
  }

  epoch(epoch) {
    $("meta-epoch").textContent = epoch ?? "–";
  }

  status(status) {
    $("meta-clients").textContent = String(status.active_connections ?? "–");
    $("meta-uptime").textContent = status.uptime_seconds != null ? duration(status.uptime_seconds) : "–";
  }

  tick(rate, stats) {
    $("meta-rate").textContent = rate.toFixed(rate < 10 ? 1 : 0);
    $("meta-clock").textContent = new Date().toISOString().slice(11, 19);
    $("footer-stats").textContent =
      `received ${stats.received} · duplicates dropped ${stats.duplicates} · gaps ${stats.gaps} · reconnects ${stats.reconnects}`;
  }
}
