/*
 * Reconnect delays: rxstream.operators.Backoff's formula with the Python client's parameters
 * (rxstream.client.DEFAULT_BACKOFF); both are pinned by tests/data/resume_vectors.json.
 * Attempt n (1-based) waits min(maximum, min(maximum, initial * factor^(n-1)) * (1 + uniform(-jitter, jitter))).
 */

export const BACKOFF = Object.freeze({ initial: 0.25, factor: 2.0, maximum: 5.0, jitter: 0.25 });

/** Seconds to wait before reconnect attempt `attempt`; `random` draws from [0, 1). */
export function backoffDelay(attempt, { initial, factor, maximum, jitter } = BACKOFF, random = Math.random) {
  let base = Math.min(maximum, initial * factor ** Math.min(attempt - 1, 64));
  if (jitter) base *= 1 + (-jitter + (jitter - -jitter) * random());
  return Math.min(maximum, base);
}
