/* Number, money, time and duration formats for the dashboard's cells (pure functions). */

export const decimalsFor = (price) => (price >= 1000 ? 2 : price >= 50 ? 3 : 5);

export const fmt = (value, decimals) => (value == null || !Number.isFinite(value) ? "–" : value.toFixed(decimals));

export const fmtQty = (q) => (q == null ? "–" : Number(q).toLocaleString("en-US", { maximumFractionDigits: 4 }));

export const fmtMoney = (v) =>
  v == null || !Number.isFinite(v)
    ? "–"
    : (v > 0 ? "+" : "") + v.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });

/** HH:MM:SS (UTC) of an ISO time. */
export const hms = (iso) => {
  if (!iso) return "–";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso) : d.toISOString().slice(11, 19);
};

/** HH:MM (UTC) of an ISO time. */
export const hm = (iso) => hms(iso).slice(0, 5);

/** "12s ago", "3m ago"… */
export const ago = (iso, now = Date.now()) => {
  if (!iso) return "never";
  const s = (now - new Date(iso).getTime()) / 1000;
  if (!Number.isFinite(s)) return "–";
  if (s < 1) return "just now";
  if (s < 60) return `${Math.floor(s)}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  return `${Math.floor(s / 3600)}h ago`;
};

/** "1h 2m", "3m 4s", "5s". */
export const duration = (seconds) => {
  const s = Math.max(0, Math.floor(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h ? `${h}h ${m}m` : m ? `${m}m ${s % 60}s` : `${s}s`;
};

/** "1 fill" / "2 fills". */
export const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;
