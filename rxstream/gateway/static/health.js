/* The stream health panel: pushed on the stream_health topic, or polled from /websocket/status. */

import { $, el, setEmpty } from "./dom.js";
import { ago, hms } from "./format.js";

export class HealthView {
  constructor() {
    this.health = {};       // stream -> its health entry
    this.rows = new Map();  // stream -> {tr, cells, data}
    this.panel = document.querySelector(".panel.health");
    this.body = $("health-body");
  }

  /** One stream's entry, as pushed on stream_health. */
  apply(entry) {
    if (!entry || typeof entry.stream !== "string") return;
    const { stream, ...health } = entry;
    this.health[stream] = health;
    this.render();
  }

  /** Every stream's entry at once (polled from /websocket/status). */
  replace(health) {
    this.health = { ...health };
    this.render();
  }

  reset() {
    this.health = {};
    this.render();
  }

  render() {
    this.panel.classList.remove("stale");
    const health = this.health;
    const names = Object.keys(health);
    for (const [name, row] of this.rows) {
      if (!(name in health)) { row.tr.remove(); this.rows.delete(name); }
    }
    let unhealthy = 0;
    for (const name of names) {
      const h = health[name];
      const row = this.rows.get(name) || this.newRow(name);
      const ok = h.is_healthy === true;
      if (!ok) unhealthy += 1;
      row.tr.dataset.healthy = String(ok);
      row.data = h;
      const c = row.cells;
      c.name.replaceChildren(document.createTextNode(name));
      if (!ok && h.last_error) c.name.appendChild(el("span", "last-error", h.last_error));
      const badge = el("span", "status");
      badge.appendChild(el("span", "status-text", ok ? "Healthy" : "Unhealthy"));
      badge.title = ok ? "healthy" : `unhealthy${h.last_error ? `: ${h.last_error}` : ""}`;
      c.status.replaceChildren(badge);
      c.last.textContent = ago(h.last_update);
      c.last.title = h.last_update || "no update yet";
      c.errors.textContent = String(h.error_count ?? 0);
      c.errors.className = `num ${h.error_count ? "neg" : "muted"}`;
      c.recoveries.textContent = String(h.recovery_attempts ?? 0);
      c.recoveries.className = `num ${h.recovery_attempts ? "" : "muted"}`;
    }
    setEmpty("health-empty", names.length === 0);
    const summary = $("health-summary");
    summary.dataset.healthy = names.length === 0 ? "unknown" : String(unhealthy === 0);
    summary.textContent = names.length === 0 ? "no streams" : unhealthy ? `${unhealthy} unhealthy` : "All healthy";
  }

  newRow(name) {
    const tr = el("tr");
    tr.dataset.stream = name;
    const cells = {
      name: el("td", "sym"),
      status: el("td"),
      last: el("td", "num muted"),
      errors: el("td", "num"),
      recoveries: el("td", "num"),
    };
    for (const c of Object.values(cells)) tr.appendChild(c);
    const row = { tr, cells, data: null };
    this.rows.set(name, row);
    this.body.appendChild(tr);
    return row;
  }

  /** The footer line of a status poll. */
  foot(status) {
    $("health-foot").textContent =
      `Updated ${hms(new Date().toISOString())} · ${status.queued_messages ?? 0} queued · max queue ${status.max_queue_depth ?? 0}`;
  }

  /** /websocket/status could not be read; `lastOk` is when it last could (ms, 0 for never). */
  stale(lastOk) {
    this.panel.classList.add("stale");
    const summary = $("health-summary");
    summary.dataset.healthy = "stale";
    summary.textContent = "status unavailable";
    const since = lastOk ? `last seen ${ago(new Date(lastOk).toISOString())}` : "never reached";
    $("health-foot").textContent = `/websocket/status unreachable · ${since}`;
  }

  refreshAges() {
    for (const row of this.rows.values()) {
      if (row.data) row.cells.last.textContent = ago(row.data.last_update);
    }
  }
}
