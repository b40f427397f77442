/*
 * rxstream dashboard: speaks the documented WebSocket protocol (docs/WEBSOCKET_USAGE.md) and
 * gets stream health pushed on the stream_health topic (or polls GET /websocket/status for it on a
 * server that does not publish it). No build step, no dependencies.
 *
 * Resume: the page keeps the server's epoch and the last seq it applied per topic. After a
 * server restart or a network blip it reconnects (jittered exponential backoff) and subscribes
 * with {epoch, since}; the server answers with the missed messages (recovered: true) or a
 * snapshot (recovered: false). Every message is applied at most once per (topic, seq), and
 * fills are also keyed by exec_id, so no trade or signal is lost or shown twice.
 *
 * For tests and the curious, window.rxdash exposes the client state (read-only use).
 */
(() => {
  "use strict";

  const TOPICS = ["price_updates", "portfolio_updates", "signals", "trade_executions"];
  const HEALTH_TOPIC = "stream_health";   // pushed health, when the server publishes it
  const STATUS_EVERY_MS = 2000;
  const PING_EVERY_MS = 15000;
  const PONG_TIMEOUT_MS = 10000;
  const BACKOFF_MIN_MS = 250;
  const BACKOFF_MAX_MS = 5000;
  const SPARK_POINTS = 60;
  const MAX_SIGNALS = 200;
  const MAX_TRADE_ROWS = 500;
  const MAX_SEEN_EXEC = 50000;

  const $ = (id) => document.getElementById(id);

  // --- client state ------------------------------------------------------------------------

  const state = {
    connection: "connecting",
    epoch: null,            // the epoch our seqs are counted in
    lastSeq: {},            // topic -> last seq applied
    policies: {},           // topic -> "state" | "lossless"
    attempts: 0,
    connects: 0,
    reconnects: 0,
    received: 0,
    duplicates: 0,          // messages dropped because already applied
    gaps: 0,                // seq jumps on lossless topics (should stay 0)
    recovered: {},          // topic -> recovered flag of the last resume
    epochChanges: 0,
    lastStatus: null,
    health: {},             // stream -> its health entry (pushed on stream_health, else polled)
    healthPushed: false,    // subscribed to stream_health: the poll keeps only the header stats
    lastStatusOk: 0,
    errors: [],             // server error messages
  };

  const prices = new Map();     // symbol -> {row, cells, open, points, last, updates}
  const positions = new Map();  // "account:symbol" -> {row, cells, data}
  const seenExec = new Set();   // exec ids shown
  const seenExecOrder = [];
  let tradeCount = 0;
  let signalCount = 0;

  window.rxdash = {
    state,
    tradeIds: () => Array.from(document.querySelectorAll("#trades-body tr"), (tr) => tr.dataset.execId),
  };

  // --- formatting --------------------------------------------------------------------------

  const decimalsFor = (price) => (price >= 1000 ? 2 : price >= 50 ? 3 : 5);
  const fmt = (value, decimals) => (value == null || !Number.isFinite(value) ? "–" : value.toFixed(decimals));
  const fmtQty = (q) => (q == null ? "–" : Number(q).toLocaleString("en-US", { maximumFractionDigits: 4 }));
  const fmtMoney = (v) =>
    v == null || !Number.isFinite(v)
      ? "–"
      : (v > 0 ? "+" : "") + v.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  const hms = (iso) => {
    if (!iso) return "–";
    const d = new Date(iso);
    return Number.isNaN(d.getTime()) ? String(iso) : d.toISOString().slice(11, 19);
  };
  const ago = (iso) => {
    if (!iso) return "never";
    const s = (Date.now() - new Date(iso).getTime()) / 1000;
    if (!Number.isFinite(s)) return "–";
    if (s < 1) return "just now";
    if (s < 60) return `${Math.floor(s)}s ago`;
    if (s < 3600) return `${Math.floor(s / 60)}m ago`;
    return `${Math.floor(s / 3600)}h ago`;
  };
  const duration = (seconds) => {
    const s = Math.max(0, Math.floor(seconds));
    const h = Math.floor(s / 3600);
    const m = Math.floor((s % 3600) / 60);
    return h ? `${h}h ${m}m` : m ? `${m}m ${s % 60}s` : `${s}s`;
  };

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text != null) node.textContent = text;
    return node;
  }

  function flash(node, direction) {
    if (!direction) return;
    node.classList.remove("flash-up", "flash-down");
    void node.offsetWidth; // restart the animation
    node.classList.add(direction > 0 ? "flash-up" : "flash-down");
  }

  function setEmpty(id, empty) {
    $(id).hidden = !empty;
  }

  // --- connection indicator & notices --------------------------------------------------------

  function setConnection(name, label) {
    state.connection = name;
    const conn = $("conn");
    conn.dataset.state = name;
    $("conn-label").textContent = label;
  }

  let noticeTimer = null;
  function notice(text, level = "info", ms = 8000) {
    const box = $("notice");
    box.textContent = text;
    box.dataset.level = level;
    box.hidden = false;
    clearTimeout(noticeTimer);
    if (ms) noticeTimer = setTimeout(() => { box.hidden = true; }, ms);
  }

  // --- prices ------------------------------------------------------------------------------------

  function priceRow(symbol) {
    let p = prices.get(symbol);
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
    const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    svg.setAttribute("class", "spark flat");
    svg.setAttribute("viewBox", "0 0 120 26");
    svg.setAttribute("preserveAspectRatio", "none");
    const area = document.createElementNS(svg.namespaceURI, "polygon");
    area.setAttribute("class", "area");
    const line = document.createElementNS(svg.namespaceURI, "polyline");
    svg.append(area, line);
    cells.spark.appendChild(svg);
    p = { row, cells, svg, area, line, open: null, points: [], last: {}, updates: 0 };
    prices.set(symbol, p);
    // keep rows sorted by symbol
    const body = $("prices-body");
    const after = Array.from(body.children).find((tr) => tr.dataset.symbol > symbol);
    body.insertBefore(row, after || null);
    $("prices-count").textContent = `${prices.size} symbol${prices.size === 1 ? "" : "s"}`;
    setEmpty("prices-empty", false);
    return p;
  }

  function applyPrice(tick) {
    if (!tick || typeof tick.symbol !== "string") return;
    const p = priceRow(tick.symbol);
    const bid = tick.bid ?? null;
    const ask = tick.ask ?? null;
    const mid = bid != null && ask != null ? (bid + ask) / 2 : null;
    const last = tick.last ?? mid;
    const ref = last ?? bid ?? ask;
    if (ref == null) return;
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
    cells.change.className = `num change ${change > 0 ? "pos" : change < 0 ? "neg" : "flat"}`;
    cells.time.textContent = hms(tick.time);
    p.points.push(ref);
    if (p.points.length > SPARK_POINTS) p.points.shift();
    drawSpark(p);
    p.updates += 1;
    p.row.dataset.updates = String(p.updates);
    markPositions(tick.symbol, ref);
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

  // --- positions -----------------------------------------------------------------------------------

  function applyPosition(pos) {
    if (!pos || typeof pos.symbol !== "string") return;
    const key = `${pos.account}:${pos.symbol}`;
    let p = positions.get(key);
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
      p = { row, cells, data: null };
      positions.set(key, p);
      const body = $("positions-body");
      const after = Array.from(body.children).find((tr) => tr.dataset.key > key);
      body.insertBefore(row, after || null);
      setEmpty("positions-empty", false);
    }
    const prev = p.data;
    p.data = pos;
    const c = p.cells;
    c.account.textContent = pos.account;
    c.quantity.textContent = fmtQty(pos.quantity);
    c.quantity.className = `num ${pos.quantity > 0 ? "pos" : pos.quantity < 0 ? "neg" : "flat"}`;
    c.avg.textContent = fmt(pos.avg_cost, decimalsFor(Math.abs(pos.avg_cost) || 1));
    if (prev && prev.quantity !== pos.quantity) flash(c.quantity, pos.quantity - prev.quantity);
    const quote = prices.get(pos.symbol);
    renderPnl(p, quote && quote.points.length ? quote.points[quote.points.length - 1] : null);
  }

  function renderPnl(p, mark) {
    const c = p.cells;
    const pos = p.data;
    c.mark.textContent = mark == null ? "–" : fmt(mark, decimalsFor(mark));
    const pnl = mark == null ? null : (mark - pos.avg_cost) * pos.quantity;
    p.pnl = pnl;
    c.pnl.textContent = fmtMoney(pnl);
    c.pnl.className = `num ${pnl > 0 ? "pos" : pnl < 0 ? "neg" : "flat"}`;
    let total = 0;
    let any = false;
    for (const q of positions.values()) if (q.pnl != null) { total += q.pnl; any = true; }
    const head = $("positions-pnl");
    head.textContent = any ? `P&L ${fmtMoney(total)}` : "";
    head.className = `count ${total > 0 ? "pos" : total < 0 ? "neg" : ""}`;
  }

  function markPositions(symbol, mark) {
    for (const p of positions.values()) if (p.data && p.data.symbol === symbol) renderPnl(p, mark);
  }

  function clearPositions() {
    positions.clear();
    $("positions-body").replaceChildren();
    setEmpty("positions-empty", true);
    $("positions-pnl").textContent = "";
  }

  // --- signals -------------------------------------------------------------------------------------

  function applySignal(sig, seq, fresh) {
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
    fill.style.width = `${(conf * 100).toFixed(1)}%`;
    bar.appendChild(fill);
    wrap.append(bar, el("span", "pct", `${Math.round(conf * 100)}%`));
    li.appendChild(wrap);
    li.appendChild(el("span", "reason", sig.reason || ""));
    if (fresh) li.classList.add("new-row");
    const feed = $("signals-feed");
    feed.insertBefore(li, feed.firstChild);
    while (feed.children.length > MAX_SIGNALS) feed.lastChild.remove();
    signalCount += 1;
    $("signals-count").textContent = String(signalCount);
    setEmpty("signals-empty", false);
  }

  // --- trades --------------------------------------------------------------------------------------

  function applyFill(f, seq, fresh) {
    if (!f || f.exec_id == null) return;
    const id = String(f.exec_id);
    if (seenExec.has(id)) { state.duplicates += 1; return; }
    seenExec.add(id);
    seenExecOrder.push(id);
    if (seenExecOrder.length > MAX_SEEN_EXEC) seenExec.delete(seenExecOrder.shift());
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
    const body = $("trades-body");
    body.insertBefore(row, body.firstChild);
    while (body.children.length > MAX_TRADE_ROWS) body.lastChild.remove();
    tradeCount += 1;
    $("trades-count").textContent = `${tradeCount} fill${tradeCount === 1 ? "" : "s"}`;
    setEmpty("trades-empty", false);
  }

  // --- messages --------------------------------------------------------------------------------------

  let rateCount = 0;

  function applyData(msg, fromSnapshot) {
    const topic = msg.topic;
    const seq = msg.seq;
    const last = state.lastSeq[topic] ?? 0;
    if (typeof seq === "number") {
      if (seq <= last) { state.duplicates += 1; return; }
      if (!fromSnapshot && state.policies[topic] === "lossless" && seq > last + 1 && last > 0) {
        state.gaps += seq - last - 1;
        notice(`${topic}: ${seq - last - 1} message(s) missing before #${seq}`, "warn");
      }
      state.lastSeq[topic] = seq;
    }
    const data = msg.data;
    switch (topic) {
      case "price_updates": applyPrice(data); break;
      case "portfolio_updates": applyPosition(data); break;
      case "signals": applySignal(data, seq, !fromSnapshot); break;
      case "trade_executions": applyFill(data, seq, !fromSnapshot); break;
      case HEALTH_TOPIC: applyHealth(data); break;
      default: break;
    }
  }

  function onSnapshot(msg) {
    const topic = msg.topic;
    const items = Array.isArray(msg.items) ? msg.items : [];
    if (state.policies[topic] === "state") {
      // the snapshot is the whole current state: positions not in it are gone
      if (topic === "portfolio_updates") clearPositions();
      state.lastSeq[topic] = 0;
      for (const item of items) applyData(item, true);
      state.lastSeq[topic] = Math.max(state.lastSeq[topic] ?? 0, msg.seq ?? 0);
    } else {
      // a lossless topic's history tail after an unrecoverable resume: apply what is new
      const before = state.lastSeq[topic] ?? 0;
      const first = items.length ? items[0].seq : null;
      for (const item of items) applyData(item, true);
      if (before > 0 && first != null && first > before + 1) {
        state.gaps += first - before - 1;
        notice(`${topic}: ${first - before - 1} message(s) were beyond the server's history`, "warn", 15000);
      }
      state.lastSeq[topic] = Math.max(state.lastSeq[topic] ?? 0, msg.seq ?? 0);
    }
  }

  function onSubscribed(msg) {
    if (msg.epoch && msg.epoch !== state.epoch) {
      // the server's numbering restarted (a new bus): our seqs no longer apply
      if (state.epoch !== null) state.epochChanges += 1;
      state.epoch = msg.epoch;
      state.lastSeq = {};
      $("meta-epoch").textContent = msg.epoch;
    }
    if (msg.policy) state.policies[msg.topic] = msg.policy;
    if (typeof msg.recovered === "boolean") state.recovered[msg.topic] = msg.recovered;
  }

  let resumeReport = null;

  function onMessage(msg) {
    state.received += 1;
    switch (msg.type) {
      case "data": rateCount += 1; applyData(msg, false); break;
      case "snapshot": onSnapshot(msg); break;
      case "subscribed": onSubscribed(msg); break;
      case "welcome": onWelcome(msg); break;
      case "pong": break;
      case "error":
        state.errors.push(msg);
        if (state.errors.length > 50) state.errors.shift();
        console.warn(`rxstream: ${msg.code}: ${msg.message}`);
        if (msg.code !== "going_away") notice(`Server: ${msg.message}`, "error");
        break;
      default: break;
    }
  }

  // --- the socket ------------------------------------------------------------------------------------

  let ws = null;
  let reconnectTimer = null;
  let pingTimer = null;
  let pongTimer = null;
  let downSince = null;

  function wsUrl() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const token = new URLSearchParams(location.search).get("token");
    return `${scheme}//${location.host}/ws${token ? `?token=${encodeURIComponent(token)}` : ""}`;
  }

  function onWelcome(msg) {
    state.attempts = 0;
    state.connects += 1;
    if (msg.policies) Object.assign(state.policies, msg.policies);
    const available = [...TOPICS, HEALTH_TOPIC].filter((t) => (msg.topics || []).includes(t));
    const missing = TOPICS.filter((t) => !available.includes(t));
    state.healthPushed = available.includes(HEALTH_TOPIC);
    if (missing.length) notice(`This server does not publish: ${missing.join(", ")}`, "warn");
    if (!available.length) return;
    const lossless = available.filter((t) => (state.policies[t] || "lossless") === "lossless");
    const sub = { type: "subscribe", topics: available, id: `sub-${state.connects}` };
    if (state.epoch === null) {
      // first connection: backfill the recent history of lossless topics from seq 0
      sub.epoch = msg.epoch;
      sub.since = Object.fromEntries(lossless.map((t) => [t, 0]));
      state.epoch = msg.epoch;
      $("meta-epoch").textContent = msg.epoch;
    } else {
      sub.epoch = state.epoch;
      sub.since = Object.fromEntries(lossless.map((t) => [t, state.lastSeq[t] ?? 0]));
    }
    const before = { trades: tradeCount, signals: signalCount };
    resumeReport = state.connects > 1 ? { before, downSince, epoch: state.epoch } : null;
    send(sub);
    setConnection("live", "Live");
    if (resumeReport) {
      // report once the replay of missed messages has been applied (it follows in the same frames)
      send({ type: "ping", id: `resume-${state.connects}` });
    }
    downSince = null;
  }

  function send(msg) {
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(msg));
  }

  function connect() {
    clearTimeout(reconnectTimer);
    reconnectTimer = null;
    let socket;
    try {
      socket = new WebSocket(wsUrl());
    } catch (err) {
      console.warn("rxstream: cannot open the WebSocket:", err);
      scheduleReconnect();
      return;
    }
    ws = socket;
    setConnection(state.connects ? "reconnecting" : "connecting", state.connects ? "Reconnecting…" : "Connecting…");
    socket.onmessage = (event) => {
      if (socket !== ws) return;
      armPong();
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch (err) {
        console.warn("rxstream: a frame that is not JSON:", err);
        return;
      }
      const list = Array.isArray(frame) ? frame : [frame];
      for (const msg of list) {
        if (msg && typeof msg === "object") {
          onMessage(msg);
          if (msg.type === "pong" && typeof msg.id === "string" && msg.id.startsWith("resume-")) reportResume();
        }
      }
    };
    socket.onopen = () => {
      if (socket !== ws) return;
      clearInterval(pingTimer);
      pingTimer = setInterval(() => {
        send({ type: "ping" });
        armPong(true);
      }, PING_EVERY_MS);
    };
    socket.onclose = (event) => {
      if (socket !== ws) return;
      lost(event.code, event.reason);
    };
    socket.onerror = () => { /* onclose follows with the code */ };
  }

  function armPong(waiting) {
    clearTimeout(pongTimer);
    pongTimer = null;
    if (waiting) {
      pongTimer = setTimeout(() => {
        console.warn("rxstream: no answer to ping; reconnecting");
        const socket = ws;
        ws = null;
        try { socket.close(); } catch (_) { /* already closing */ }
        lost(0, "heartbeat timeout");
      }, PONG_TIMEOUT_MS);
    }
  }

  function lost(code, reason) {
    clearInterval(pingTimer);
    clearTimeout(pongTimer);
    pingTimer = pongTimer = null;
    ws = null;
    if (downSince === null) downSince = Date.now();
    if (code === 4001) {
      setConnection("refused", "Not authorized");
      notice(`The server refused the connection: ${reason || "token required"}. Reload with ?token=…`, "error", 0);
      return;
    }
    scheduleReconnect(code === 1013 ? 5000 : 0);
  }

  function scheduleReconnect(floorMs = 0) {
    if (reconnectTimer) return;
    state.attempts += 1;
    state.reconnects += 1;
    const base = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** (state.attempts - 1));
    const delay = Math.max(floorMs, base * (0.75 + Math.random() * 0.5));
    const offline = navigator.onLine === false;
    setConnection(
      offline ? "offline" : "reconnecting",
      `${offline ? "Offline" : "Reconnecting"} in ${(delay / 1000).toFixed(1)}s · attempt ${state.attempts}`
    );
    reconnectTimer = setTimeout(connect, delay);
  }

  function reportResume() {
    if (!resumeReport) return;
    const trades = tradeCount - resumeReport.before.trades;
    const signals = signalCount - resumeReport.before.signals;
    const secs = resumeReport.downSince ? ((Date.now() - resumeReport.downSince) / 1000).toFixed(1) : "?";
    const lost = Object.entries(state.recovered).filter(([, ok]) => !ok).map(([t]) => t);
    const text = state.epoch !== resumeReport.epoch
      ? `Reconnected after ${secs}s to a restarted server (new epoch ${state.epoch}): current state reloaded, ` +
        "earlier trades and signals kept."
      : lost.length
      ? `Reconnected after ${secs}s; ${lost.join(", ")} could not be fully recovered (snapshot loaded).`
      : `Reconnected after ${secs}s and resumed: ${trades} missed trade${trades === 1 ? "" : "s"}, ` +
        `${signals} signal${signals === 1 ? "" : "s"} recovered.`;
    notice(text, lost.length ? "warn" : "info");
    resumeReport = null;
  }

  window.addEventListener("online", () => {
    if (!ws) { clearTimeout(reconnectTimer); reconnectTimer = null; state.attempts = 0; connect(); }
  });

  // --- stream health (pushed on stream_health; polled from /websocket/status as a fallback) -------

  function applyHealth(entry) {
    const { stream, ...health } = entry;
    state.health[stream] = health;
    renderHealth();
  }

  const healthRows = new Map();
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
      state.lastStatus = status;
      state.lastStatusOk = Date.now();
      if (!state.healthPushed) state.health = status.stream_health || {};
      renderStatus(status);
    } catch (_) {
      markStatusStale();
    } finally {
      clearTimeout(timer);
      statusInFlight = false;
    }
  }

  function renderStatus(status) {
    renderHealth();
    $("health-foot").textContent = `Updated ${hms(new Date().toISOString())} · ${status.queued_messages ?? 0} queued · max queue ${status.max_queue_depth ?? 0}`;
    $("meta-clients").textContent = String(status.active_connections ?? "–");
    $("meta-uptime").textContent = status.uptime_seconds != null ? duration(status.uptime_seconds) : "–";
  }

  function renderHealth() {
    const panel = document.querySelector(".panel.health");
    panel.classList.remove("stale");
    const health = state.health;
    const body = $("health-body");
    const names = Object.keys(health);
    for (const [name, row] of healthRows) {
      if (!(name in health)) { row.tr.remove(); healthRows.delete(name); }
    }
    let unhealthy = 0;
    for (const name of names) {
      const h = health[name];
      let row = healthRows.get(name);
      if (!row) {
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
        row = { tr, cells };
        healthRows.set(name, row);
        body.appendChild(tr);
      }
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

  function markStatusStale() {
    document.querySelector(".panel.health").classList.add("stale");
    const summary = $("health-summary");
    summary.dataset.healthy = "stale";
    summary.textContent = "status unavailable";
    const since = state.lastStatusOk ? `last seen ${ago(new Date(state.lastStatusOk).toISOString())}` : "never reached";
    $("health-foot").textContent = `/websocket/status unreachable · ${since}`;
  }

  function refreshAges() {
    for (const row of healthRows.values()) {
      if (row.data) row.cells.last.textContent = ago(row.data.last_update);
    }
  }

  // --- clocks ----------------------------------------------------------------------------------------

  let lastRateAt = performance.now();
  setInterval(() => {
    const now = performance.now();
    const rate = (rateCount * 1000) / (now - lastRateAt);
    rateCount = 0;
    lastRateAt = now;
    $("meta-rate").textContent = rate.toFixed(rate < 10 ? 1 : 0);
    $("meta-clock").textContent = new Date().toISOString().slice(11, 19);
    refreshAges();
    $("footer-stats").textContent =
      `received ${state.received} · duplicates dropped ${state.duplicates} · gaps ${state.gaps} · reconnects ${state.reconnects}`;
  }, 1000);

  connect();
  pollStatus();
  setInterval(pollStatus, STATUS_EVERY_MS);
})();
