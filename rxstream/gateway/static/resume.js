/*
 * A client's resume rules, with no DOM and no socket: which received messages to apply, drop, or
 * start over from. The same rules as rxstream/resume.py (the Python client's); both pass the
 * vectors in tests/data/resume_vectors.json.
 *
 * receive(message) returns decisions {action, topic, value, message}:
 *   yield      apply this data message (alone, or an item of a snapshot); value = seq
 *   duplicate  drop it: already applied (seq not after the last), or a fill whose exec_id is held
 *   gap        value = how many messages of a lossless topic never arrived before the next one
 *   reset      discard everything held for the topic (subscribed says reset: true; from a server
 *              that does not say, recovered: false or another epoch)
 *   snapshot   the items that follow are the topic's whole state (replace, do not merge)
 */

export const MAX_EXEC_IDS = 50000;

export class ResumeState {
  constructor({ maxExecIds = MAX_EXEC_IDS } = {}) {
    this.epoch = null;          // the epoch our seqs are counted in
    this.lastSeq = {};          // topic -> last seq applied
    this.policies = {};         // topic -> "state" | "lossless"
    this.gaps = 0;
    this.duplicates = 0;
    this.resets = 0;
    this.epochChanges = 0;
    this.epochOf = {};          // topic -> the epoch its lastSeq counts in
    this.execIds = new Map();   // topic -> Set of exec ids held (insertion ordered)
    this.maxExecIds = maxExecIds;
  }

  /** The {epoch, since} a subscribe to `topics` carries, or null for a fresh subscription. */
  resume(topics, { backfill = false } = {}) {
    if (this.epoch === null) return null;
    const since = {};
    for (const topic of topics) {
      const policy = this.policies[topic];
      if (policy === "state") continue;
      if (topic in this.lastSeq && this.epochOf[topic] === this.epoch) since[topic] = this.lastSeq[topic];
      else if (backfill && policy === "lossless") since[topic] = 0;
    }
    return Object.keys(since).length ? { epoch: this.epoch, since } : null;
  }

  /** The decisions for one server message ([] for those that change nothing to apply). */
  receive(message) {
    switch (message.type) {
      case "data": return this.data(message, message.topic, false);
      case "snapshot": return this.snapshot(message);
      case "subscribed": return this.subscribed(message);
      case "welcome":
        Object.assign(this.policies, message.policies || {});
        if (this.epoch === null && message.epoch != null) this.epoch = message.epoch;
        return [];
      default: return [];
    }
  }

  /** Whether a subscribed message means: discard what is held for its topic. */
  isReset(message) {
    if (typeof message.reset === "boolean") return message.reset;
    const topic = message.topic;
    const moved = topic in this.lastSeq && this.epochOf[topic] !== message.epoch;
    return message.recovered === false || moved;
  }

  subscribed(message) {
    const topic = message.topic;
    const epoch = message.epoch ?? null;
    if (message.policy) this.policies[topic] = message.policy;
    const reset = this.isReset(message);
    if (epoch !== null && epoch !== this.epoch) {
      if (this.epoch !== null) this.epochChanges += 1;
      this.epoch = epoch;
    }
    if (epoch !== null) this.epochOf[topic] = epoch;
    if (reset) {
      this.resets += 1;
      this.lastSeq[topic] = message.seq;
      this.execIds.delete(topic);
      return [decision("reset", topic)];
    }
    if (message.recovered === true) {
      if (!(topic in this.lastSeq)) this.lastSeq[topic] = 0;   // the missed messages follow
    } else {
      this.lastSeq[topic] = message.seq;                        // a fresh subscription: live data follows
    }
    return [];
  }

  snapshot(message) {
    const topic = message.topic;
    this.lastSeq[topic] = 0;
    this.execIds.delete(topic);
    const out = [decision("snapshot", topic)];
    for (const item of Array.isArray(message.items) ? message.items : []) out.push(...this.data(item, topic, true));
    this.lastSeq[topic] = Math.max(this.lastSeq[topic], message.seq);
    if (message.epoch != null) this.epochOf[topic] = message.epoch;
    return out;
  }

  data(message, topic, inSnapshot) {
    const seq = message.seq;
    const last = topic in this.lastSeq ? this.lastSeq[topic] : null;
    if (last !== null && seq <= last) {
      this.duplicates += 1;
      return [decision("duplicate", topic, seq, message)];
    }
    const out = [];
    this.lastSeq[topic] = seq;
    if (!(topic in this.epochOf) && message.epoch != null) this.epochOf[topic] = message.epoch;
    if (!inSnapshot && last !== null && seq > last + 1 && (this.policies[topic] ?? "lossless") === "lossless") {
      this.gaps += seq - last - 1;
      out.push(decision("gap", topic, seq - last - 1));
    }
    if (this.heldFill(topic, message.data)) {
      this.duplicates += 1;
      out.push(decision("duplicate", topic, seq, message));
    } else {
      out.push(decision("yield", topic, seq, message));
    }
    return out;
  }

  /** Whether `data` is a fill already held; remembers it if not. */
  heldFill(topic, data) {
    const execId = data && typeof data === "object" ? data.exec_id : null;
    if (execId == null) return false;
    let held = this.execIds.get(topic);
    if (!held) { held = new Set(); this.execIds.set(topic, held); }
    const key = String(execId);
    if (held.has(key)) return true;
    held.add(key);
    if (held.size > this.maxExecIds) held.delete(held.values().next().value);
    return false;
  }
}

function decision(action, topic, value = null, message = null) {
  return { action, topic, value, message };
}
