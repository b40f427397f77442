/*
 * The dashboard's WebSocket: opens it, parses frames (one message or an array of them), checks the
 * peer with pings, and reconnects after a loss with the shared backoff (backoff.js). It knows
 * nothing of topics or seqs: the caller decides what to send and what a message means.
 */

import { BACKOFF, backoffDelay } from "./backoff.js";

/** Close codes of rxstream.gateway.protocol.CloseCode the page reacts to. */
export const CLOSE = Object.freeze({ TRY_AGAIN_LATER: 1013, UNAUTHORIZED: 4001 });

const PING_EVERY_MS = 15000;
const PONG_TIMEOUT_MS = 10000;

export class Connection {
  /**
   * hooks: onOpening(reconnecting), onMessage(msg), onLost(code, reason), onRefused(reason),
   * onRetry(delayMs, attempt, offline).
   */
  constructor(url, hooks, { backoff = BACKOFF } = {}) {
    this.url = url;
    this.hooks = hooks;
    this.backoff = backoff;
    this.ws = null;
    this.attempts = 0;      // consecutive attempts since the last good connection
    this.reconnects = 0;
    this.opened = 0;
    this.reconnectTimer = null;
    this.pingTimer = null;
    this.pongTimer = null;
    window.addEventListener("online", () => {
      if (!this.ws) { clearTimeout(this.reconnectTimer); this.reconnectTimer = null; this.attempts = 0; this.open(); }
    });
  }

  /** The server accepted us (welcome): the next loss starts the backoff over. */
  established() {
    this.attempts = 0;
  }

  send(msg) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(msg));
  }

  open() {
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    let socket;
    try {
      socket = new WebSocket(this.url);
    } catch (err) {
      console.warn("rxstream: cannot open the WebSocket:", err);
      this.retry();
      return;
    }
    this.ws = socket;
    this.hooks.onOpening(this.opened > 0);
    this.opened += 1;
    socket.addEventListener("message", (event) => {
      if (socket !== this.ws) return;
      this.armPong(false);
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch (err) {
        console.warn("rxstream: a frame that is not JSON:", err);
        return;
      }
      for (const msg of Array.isArray(frame) ? frame : [frame]) {
        if (msg && typeof msg === "object") this.hooks.onMessage(msg);
      }
    });
    socket.addEventListener("open", () => {
      if (socket !== this.ws) return;
      clearInterval(this.pingTimer);
      this.pingTimer = setInterval(() => {
        this.send({ type: "ping" });
        this.armPong(true);
      }, PING_EVERY_MS);
    });
    socket.addEventListener("close", (event) => {
      if (socket === this.ws) this.lost(event.code, event.reason);
    });
  }

  armPong(waiting) {
    clearTimeout(this.pongTimer);
    this.pongTimer = null;
    if (!waiting) return;
    this.pongTimer = setTimeout(() => {
      console.warn("rxstream: no answer to ping; reconnecting");
      const socket = this.ws;
      this.ws = null;
      try { socket.close(); } catch (_) { /* already closing */ }
      this.lost(0, "heartbeat timeout");
    }, PONG_TIMEOUT_MS);
  }

  lost(code, reason) {
    clearInterval(this.pingTimer);
    clearTimeout(this.pongTimer);
    this.pingTimer = this.pongTimer = null;
    this.ws = null;
    this.hooks.onLost(code, reason);
    if (code === CLOSE.UNAUTHORIZED) {
      this.hooks.onRefused(reason);    // the same token would be refused again
      return;
    }
    this.retry(code === CLOSE.TRY_AGAIN_LATER ? this.backoff.maximum * 1000 : 0);
  }

  retry(floorMs = 0) {
    if (this.reconnectTimer) return;
    this.attempts += 1;
    this.reconnects += 1;
    const delay = Math.max(floorMs, backoffDelay(this.attempts, this.backoff) * 1000);
    this.hooks.onRetry(delay, this.attempts, navigator.onLine === false);
    this.reconnectTimer = setTimeout(() => this.open(), delay);
  }
}
