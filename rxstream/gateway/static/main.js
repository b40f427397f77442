/*
 * rxstream dashboard: speaks the documented WebSocket protocol (docs/WEBSOCKET_USAGE.md) and gets
 * stream health pushed on the stream_health topic (or polls GET /websocket/status for it on a server
 * that does not publish it). Native ES modules, no build step, no dependencies:
 *
 *   main.js        wires the rest: what to subscribe to, and which view applies each decision
 *   resume.js      the resume rules (seq, epoch, gap, reset, snapshot; no DOM), shared with the
 *                  Python client through tests/data/resume_vectors.json
 *   backoff.js     reconnect delays (rxstream.operators.Backoff's formula and parameters)
 *   connection.js  the WebSocket: frames, pings, reconnects
 *   prices.js, positions.js, signals.js, trades.js, health.js, candles.js, header.js: one view per panel
 *
 * Resume: after a server restart or a network blip the page reconnects and subscribes with the
 * epoch and the last seq it applied per lossless topic; the server answers with the missed
 * messages (recovered: true), or with reset: true and a snapshot that is the topic's whole state.
 * No message is applied twice, and a fill's exec_id is shown once.
 *
 * For tests and the curious, window.rxdash exposes the client state (read-only use).
 */

import { Connection } from "./connection.js";
import { ResumeState } from "./resume.js";
import { CandlesView } from "./candles.js";
import { HeaderView } from "./header.js";
import { HealthView } from "./health.js";
import { PositionsView } from "./positions.js";
import { PricesView } from "./prices.js";
import { SignalsView } from "./signals.js";
import { TradesView } from "./trades.js";

const TOPICS = ["price_updates", "portfolio_updates", "signals", "trade_executions"];
const HEALTH_TOPIC = "stream_health";   // pushed health, when the server publishes it
const BARS_TOPIC = "bars_1m";           // one-minute bars for the chart, when the server publishes them
const STATUS_EVERY_MS = 2000;

const resume = new ResumeState();
const header = new HeaderView();
const health = new HealthView();
const signals = new SignalsView();
const trades = new TradesView();
const positions = new PositionsView({ markOf: (symbol) => prices.mark(symbol) });
const prices = new PricesView({
  onMark: (symbol, price) => positions.mark(symbol, price),
  onSelect: (symbol) => { candles.choose(symbol); prices.select(symbol); },
});
const candles = new CandlesView({ onSelect: (symbol) => prices.select(symbol) });

/** Each topic's view. A reset or snapshot replaces a view's state; prices do it row by row at the
 * snapshot's end (replace, then settle), so the symbols that stay keep their trend lines. */
const VIEWS = {
  price_updates: { view: prices, merge: true },
  portfolio_updates: { view: positions },
  signals: { view: signals },
  trade_executions: { view: trades },
  [HEALTH_TOPIC]: { view: health },
  [BARS_TOPIC]: { view: candles },
};

const page = {
  connection: "connecting",
  connects: 0,
  received: 0,
  recovered: {},          // topic -> recovered flag of the last resume
  healthPushed: false,    // subscribed to stream_health: the poll keeps only the header stats
  lastStatus: null,
  lastStatusOk: 0,
  errors: [],             // server error messages
  downSince: null,
  resumeReport: null,
};
let rateCount = 0;

window.rxdash = {
  get state() {
    return {
      connection: page.connection, epoch: resume.epoch, lastSeq: { ...resume.lastSeq },
      policies: { ...resume.policies }, connects: page.connects, reconnects: socket.reconnects,
      attempts: socket.attempts, received: page.received, duplicates: resume.duplicates, gaps: resume.gaps,
      resets: resume.resets, epochChanges: resume.epochChanges, recovered: { ...page.recovered },
      healthPushed: page.healthPushed, lastStatus: page.lastStatus, errors: [...page.errors],
    };
  },
  tradeIds: () => trades.ids(),
};

function setConnection(name, label) {
  page.connection = name;
  header.connection(name, label);
}

// --- messages -------------------------------------------------------------------------------

function apply(decisions, live) {
  for (const d of decisions) {
    const entry = VIEWS[d.topic];
    switch (d.action) {
      case "yield":
        if (entry) entry.view.apply(d.message.data, { seq: d.value, fresh: live });
        if (d.topic === BARS_TOPIC) prices.select(candles.selected);
        break;
      case "snapshot":
      case "reset":
        if (entry && entry.merge) entry.view.replace();
        else if (entry) entry.view.reset();
        // state topics always reload; a lossless one reset is worth saying
        if (d.action === "reset" && page.resumeReport && resume.policies[d.topic] === "lossless") {
          page.resumeReport.reset.push(d.topic);
        }
        break;
      case "gap":
        header.notice(`${d.topic}: ${d.value} message(s) missing`, "warn");
        break;
      default: break; // duplicate: counted by the resume state
    }
  }
}

function onMessage(msg) {
  page.received += 1;
  switch (msg.type) {
    case "data": rateCount += 1; apply(resume.receive(msg), true); break;
    case "snapshot":
      apply(resume.receive(msg), false);
      if (VIEWS[msg.topic]?.merge) VIEWS[msg.topic].view.settle();
      break;
    case "subscribed":
      if (typeof msg.recovered === "boolean") page.recovered[msg.topic] = msg.recovered;
      apply(resume.receive(msg), false);
      header.epoch(resume.epoch);
      break;
    case "welcome": onWelcome(msg); break;
    case "pong":
      if (typeof msg.id === "string" && msg.id.startsWith("resume-")) reportResume();
      break;
    case "error":
      page.errors.push(msg);
      if (page.errors.length > 50) page.errors.shift();
      console.warn(`rxstream: ${msg.code}: ${msg.message}`);
      if (msg.code !== "going_away") header.notice(`Server: ${msg.message}`, "error");
      break;
    default: break;
  }
}

function onWelcome(msg) {
  socket.established();
  page.connects += 1;
  resume.receive(msg);
  const offered = msg.topics || [];
  const available = [...TOPICS, HEALTH_TOPIC, BARS_TOPIC].filter((t) => offered.includes(t));
  const missing = TOPICS.filter((t) => !available.includes(t));
  page.healthPushed = available.includes(HEALTH_TOPIC);
  if (!available.includes(BARS_TOPIC)) candles.unavailable();
  if (missing.length) header.notice(`This server does not publish: ${missing.join(", ")}`, "warn");
  if (!available.length) return;
  // lossless topics resume after their last seq; on the first connection they backfill from 0
  const sub = { type: "subscribe", topics: available, id: `sub-${page.connects}`,
                ...(resume.resume(available, { backfill: true }) || {}) };
  header.epoch(resume.epoch);
  page.resumeReport = page.connects > 1
    ? { before: { trades: trades.count, signals: signals.count }, downSince: page.downSince, epoch: resume.epoch, reset: [] }
    : null;
  socket.send(sub);
  setConnection("live", "Live");
  // report once the missed messages are applied: they come before the pong, in the same order
  if (page.resumeReport) socket.send({ type: "ping", id: `resume-${page.connects}` });
  page.downSince = null;
}

function reportResume() {
  const report = page.resumeReport;
  if (!report) return;
  page.resumeReport = null;
  const secs = report.downSince ? ((Date.now() - report.downSince) / 1000).toFixed(1) : "?";
  const newTrades = trades.count - report.before.trades;
  const newSignals = signals.count - report.before.signals;
  let text;
  let level = "info";
  if (resume.epoch !== report.epoch) {
    text = `Reconnected after ${secs}s to a restarted server (new epoch ${resume.epoch}): ` +
      "its current state, trades and signals reloaded.";
  } else if (report.reset.length) {
    text = `Reconnected after ${secs}s; ${report.reset.join(", ")} could not be fully recovered (reloaded from the server).`;
    level = "warn";
  } else {
    text = `Reconnected after ${secs}s and resumed: ${newTrades} missed trade${newTrades === 1 ? "" : "s"}, ` +
      `${newSignals} signal${newSignals === 1 ? "" : "s"} recovered.`;
  }
  header.notice(text, level);
}

// --- the socket -------------------------------------------------------------------------------

function wsUrl() {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const token = new URLSearchParams(location.search).get("token");
  return `${scheme}//${location.host}/ws${token ? `?token=${encodeURIComponent(token)}` : ""}`;
}

const socket = new Connection(wsUrl(), {
  onOpening: (again) => setConnection(again ? "reconnecting" : "connecting", again ? "Reconnecting…" : "Connecting…"),
  onMessage,
  onLost: () => { if (page.downSince === null) page.downSince = Date.now(); },
  onRefused: (reason) => {
    setConnection("refused", "Not authorized");
    header.notice(`The server refused the connection: ${reason || "token required"}. Reload with ?token=…`, "error", 0);
  },
  onRetry: (delay, attempt, offline) => setConnection(
    offline ? "offline" : "reconnecting",
    `${offline ? "Offline" : "Reconnecting"} in ${(delay / 1000).toFixed(1)}s · attempt ${attempt}`),
});

// --- stream health from /websocket/status (the header's stats; the panel too if not pushed) ------

let statusInFlight = false;

async function pollStatus() {
  if (statusInFlight) return;
  statusInFlight = true;
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), STATUS_EVERY_MS * 0.9);
  try {
    const response = await fetch("/websocket/status", { cache: "no-store", signal: controller.signal });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const status = await response.json();
    page.lastStatus = status;
    page.lastStatusOk = Date.now();
    if (page.healthPushed) health.render();
    else health.replace(status.stream_health || {});
    health.foot(status);
    header.status(status);
  } catch (_) {
    health.stale(page.lastStatusOk);
  } finally {
    clearTimeout(timer);
    statusInFlight = false;
  }
}

// --- clocks ------------------------------------------------------------------------------------

let lastRateAt = performance.now();
setInterval(() => {
  const now = performance.now();
  const rate = (rateCount * 1000) / (now - lastRateAt);
  rateCount = 0;
  lastRateAt = now;
  header.tick(rate, { received: page.received, duplicates: resume.duplicates, gaps: resume.gaps,
                      reconnects: socket.reconnects });
  health.refreshAges();
}, 1000);

socket.open();
pollStatus();
setInterval(pollStatus, STATUS_EVERY_MS);
