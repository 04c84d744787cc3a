// A Better-State client for JavaScript, written from docs/PROTOCOL.md. It
// follows states in the patch mode (it runs no reducer: the server sends
// each change as JSON Patch), queues mutations durably before sending them,
// resends them after a reconnect, reports refusals and paces itself after
// rate_limited.
//
// It uses no Node API: the WebSocket (dial), the storage and the state hash
// are passed in (node.js wires Node's; a page would wire the browser's).
"use strict";

// Errors after which reconnecting cannot help (docs/PROTOCOL.md, "Errors").
const TERMINAL = new Set(["unauthorized", "forbidden", "client_taken", "replaced", "bad_version", "bad_request"]);
// Errors that end one key's subscription until the app changes something.
const KEY_FATAL = new Set(["unknown_type", "schema_mismatch", "type_mismatch", "bad_key", "too_many_keys", "forbidden"]);

// A refusal of a mutation (rej), or a terminal error of the server (err).
class ServerError extends Error {
  constructor(m) {
    super(`${m.code}: ${m.msg || ""}`);
    this.code = m.code;
    this.key = m.key;
    this.mid = m.mid;
    this.action = m.name;
  }
}

// MemoryStorage keeps what must survive a reconnect (the client id, each
// key's cursor, state and queue) as JSON text: a Client made again with
// the same storage starts where the last one stopped. A page would use
// IndexedDB or localStorage behind the same get/set.
class MemoryStorage {
  constructor() {
    this.m = new Map();
  }
  get(name) {
    const v = this.m.get(name);
    return v === undefined ? undefined : JSON.parse(v);
  }
  set(name, value) {
    this.m.set(name, JSON.stringify(value));
  }
}

const idAlphabet = "0123456789abcdefghjkmnpqrstvwxyz";

function newClientID() {
  const b = new Uint8Array(16);
  globalThis.crypto.getRandomValues(b);
  return Array.from(b, (x) => idAlphabet[x & 31]).join("");
}

// applyPatch applies RFC 6902 operations to doc (changed in place) and
// returns the result (a new value when the root is replaced).
function applyPatch(doc, ops) {
  for (const op of ops) {
    if (op.path === "") {
      if (op.op !== "replace" && op.op !== "add") throw new Error(`patch: ${op.op} of the whole document`);
      doc = op.value;
      continue;
    }
    const parts = op.path.split("/").slice(1).map((p) => p.replace(/~1/g, "/").replace(/~0/g, "~"));
    const last = parts.pop();
    let parent = doc;
    for (const p of parts) {
      parent = Array.isArray(parent) ? parent[index(parent, p, false)] : parent[p];
      if (parent === null || typeof parent !== "object") throw new Error(`patch: no container at ${op.path}`);
    }
    if (Array.isArray(parent)) {
      switch (op.op) {
        case "add":
          parent.splice(last === "-" ? parent.length : index(parent, last, true), 0, op.value);
          break;
        case "remove":
          parent.splice(index(parent, last, false), 1);
          break;
        case "replace":
          parent[index(parent, last, false)] = op.value;
          break;
        default:
          throw new Error(`patch: operation ${op.op} is not one the server sends`);
      }
      continue;
    }
    switch (op.op) {
      case "add":
      case "replace":
        if (op.op === "replace" && !Object.hasOwn(parent, last)) throw new Error(`patch: nothing to replace at ${op.path}`);
        parent[last] = op.value;
        break;
      case "remove":
        if (!Object.hasOwn(parent, last)) throw new Error(`patch: nothing to remove at ${op.path}`);
        delete parent[last];
        break;
      default:
        throw new Error(`patch: operation ${op.op} is not one the server sends`);
    }
  }
  return doc;
}

function index(arr, s, insert) {
  const i = Number(s);
  if (!/^(0|[1-9][0-9]*)$/.test(s) || i > arr.length || (!insert && i === arr.length)) throw new Error(`patch: bad array index ${s}`);
  return i;
}

// Client is one connection to a server, shared by the keys it opens.
//
//   const c = new Client({url, key, dial, storage, hash, onError});
//   const list = c.open("list-1", "todos.List");
//   list.subscribe((state) => render(state));
//   await list.mutate("Add", {title: "milk"});   // resolves once the server applied it
class Client {
  constructor(opts) {
    this.url = opts.url;
    this.key = opts.key;
    this.dial = opts.dial;
    this.storage = opts.storage || new MemoryStorage();
    this.hash = opts.hash; // state => hex hash, to check patch.hash; optional
    this.onError = opts.onError || (() => {});
    this.window = opts.window || 32; // mutations in flight per key
    this.minRetryMs = opts.minRetryMs ?? 200;
    this.id = this.storage.get("client");
    if (!this.id) {
      this.id = opts.clientId || newClientID();
      this.storage.set("client", this.id);
    }
    this.docs = new Map();
    this.ws = null;
    this.online = false;
    this.closed = false;
    this.fatal = null; // a terminal ServerError: no more reconnects
    this.backoff = 100;
    this.timer = null;
    // Pacing: after rate_limited, at least gap ms between mutations on
    // this connection (the server's limit is per connection), easing off
    // as they are accepted.
    this.gap = 0;
    this.nextSend = 0;
    this.pumpTimer = null;
    this.stats = { connects: 0, snaps: 0, patches: 0, rateLimited: 0 };
    this.connect();
  }

  // open returns the Doc of key, a state of the given type.
  open(key, type) {
    let d = this.docs.get(key);
    if (!d) {
      d = new Doc(this, key, type);
      this.docs.set(key, d);
      if (this.fatal) d.fail(this.fatal);
      else if (this.online) d.sub();
    }
    return d;
  }

  close() {
    this.closed = true;
    clearTimeout(this.timer);
    clearTimeout(this.pumpTimer);
    if (this.ws) this.ws.close();
    for (const d of this.docs.values()) d.stop();
  }

  connect() {
    if (this.closed || this.fatal) return;
    let ws;
    try {
      ws = this.dial(this.url);
    } catch (e) {
      this.onError(e);
      this.retry();
      return;
    }
    this.ws = ws;
    this.stats.connects++;
    ws.onopen = () => ws.send(JSON.stringify({ t: "hello", v: 1, client: this.id, auth: this.key }));
    ws.onmessage = (e) => {
      if (this.ws !== ws) return;
      let msgs;
      try {
        msgs = JSON.parse(typeof e.data === "string" ? e.data : String(e.data));
      } catch (err) {
        this.onError(err);
        return;
      }
      for (const m of Array.isArray(msgs) ? msgs : [msgs]) this.handle(m);
    };
    ws.onerror = () => {}; // close follows
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.online = false;
      for (const d of this.docs.values()) d.offline();
      this.retry();
    };
  }

  retry() {
    if (this.closed || this.fatal) return;
    clearTimeout(this.timer);
    const wait = this.backoff * (0.5 + Math.random() / 2);
    this.backoff = Math.min(this.backoff * 2, 5000);
    this.timer = setTimeout(() => this.connect(), wait);
  }

  send(m) {
    if (this.ws && this.online) this.ws.send(JSON.stringify(m));
  }

  // slot reports whether a mutation may be sent now, under the pacing a
  // rate_limited imposed; if not, the docs are pumped again when it may.
  slot() {
    if (!this.gap) return true;
    const now = Date.now();
    if (now >= this.nextSend) {
      this.nextSend = now + this.gap;
      return true;
    }
    if (!this.pumpTimer) {
      this.pumpTimer = setTimeout(() => {
        this.pumpTimer = null;
        for (const d of this.docs.values()) d.pump();
      }, this.nextSend - now);
    }
    return false;
  }

  handle(m) {
    switch (m.t) {
      case "welcome":
        this.online = true;
        this.backoff = 100;
        for (const d of this.docs.values()) d.sub();
        return;
      case "pong":
        return;
      case "err":
        if (m.fatal) {
          const err = new ServerError(m);
          if (TERMINAL.has(m.code)) {
            this.fatal = err;
            for (const d of this.docs.values()) d.fail(err);
          }
          this.onError(err); // the server closes; others reconnect
          return;
        }
        if (m.key && this.docs.has(m.key)) {
          this.docs.get(m.key).err(m);
          return;
        }
        this.onError(new ServerError(m));
        return;
    }
    const d = this.docs.get(m.key);
    if (d) d.handle(m);
  }
}

// Doc is one key: its state as the server has it, and this client's queue.
class Doc {
  constructor(client, key, type) {
    this.c = client;
    this.key = key;
    this.type = type;
    const saved = client.storage.get("key:" + key) || {};
    this.seq = saved.seq || 0;
    this.epoch = saved.epoch || "";
    this.state = saved.state ?? null;
    this.nextMid = saved.nextMid || 1;
    this.pending = saved.pending || []; // {mid, name, args, lid}, in mid order
    this.lid = this.pending.reduce((n, e) => Math.max(n, e.lid), 0);
    this.waiters = new Map(); // lid -> {resolve, reject}
    this.listeners = new Set();
    this.idlers = [];
    this.error = null; // a ServerError that ended the subscription
    this.synced = false;
    this.sentUpTo = 0; // the last mid sent on this subscription
    this.timer = null;
    this.onRefused = null; // (ServerError) => void, for refusals nobody awaits
  }

  // subscribe calls fn with the state now (if any) and after each change.
  subscribe(fn) {
    this.listeners.add(fn);
    if (this.state !== null) fn(this.state);
    return () => this.listeners.delete(fn);
  }

  // mutate queues an action durably and sends it when it can. The promise
  // resolves when the server has applied it ({seq}, or {} when a snapshot
  // covered it) and rejects with a ServerError when the server refuses it.
  mutate(name, args = {}) {
    if (this.error) return Promise.reject(this.error);
    const e = { mid: this.nextMid++, name, args, lid: ++this.lid };
    this.pending.push(e);
    this.save();
    const p = new Promise((resolve, reject) => this.waiters.set(e.lid, { resolve, reject }));
    this.pump();
    return p;
  }

  // idle resolves when the key is synced with nothing pending.
  idle() {
    if (this.error) return Promise.reject(this.error);
    return new Promise((resolve, reject) => {
      this.idlers.push({ resolve, reject });
      this.checkIdle();
    });
  }

  save() {
    const pending = this.pending.map(({ mid, name, args, lid }) => ({ mid, name, args, lid }));
    this.c.storage.set("key:" + this.key, { seq: this.seq, epoch: this.epoch, state: this.state, nextMid: this.nextMid, pending });
  }

  acked() {
    return this.pending.length ? this.pending[0].mid - 1 : this.nextMid - 1;
  }

  sub(snap = false) {
    clearTimeout(this.timer);
    this.synced = false;
    if (this.error) return;
    const m = { t: "sub", key: this.key, type: this.type, mode: "patch", after: this.seq, epoch: this.epoch, acked: this.acked() };
    if (snap || this.state === null) {
      m.after = 0;
      m.epoch = "";
      m.snap = snap;
    }
    this.c.send(m);
  }

  // later subscribes again after ms (a rate limit, a busy server).
  later(ms) {
    this.synced = false;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.c.online && this.sub(), ms);
  }

  offline() {
    this.synced = false;
    clearTimeout(this.timer);
  }

  stop() {
    clearTimeout(this.timer);
  }

  fail(err) {
    this.error = err;
    for (const w of this.waiters.values()) w.reject(err);
    this.waiters.clear();
    for (const w of this.idlers) w.reject(err);
    this.idlers = [];
  }

  // pump sends queued mutations, at most window of them unanswered.
  pump() {
    if (!this.synced || !this.c.online) return;
    for (const e of this.pending) {
      if (e.mid <= this.sentUpTo) continue;
      if (e.mid - this.acked() > this.c.window || !this.c.slot()) break;
      this.c.send({ t: "mut", key: this.key, mid: e.mid, name: e.name, args: e.args });
      this.sentUpTo = e.mid;
    }
  }

  emit() {
    for (const fn of this.listeners) fn(this.state);
    this.checkIdle();
  }

  checkIdle() {
    if (this.synced && this.pending.length === 0) {
      for (const w of this.idlers) w.resolve();
      this.idlers = [];
    }
  }

  // settle drops the pending mutations up to mid, resolving them with res.
  settle(mid, res) {
    while (this.pending.length && this.pending[0].mid <= mid) {
      const e = this.pending.shift();
      const w = this.waiters.get(e.lid);
      this.waiters.delete(e.lid);
      if (w) w.resolve(res);
    }
  }

  handle(m) {
    switch (m.t) {
      case "snap":
        this.c.stats.snaps++;
        this.state = m.state;
        this.seq = m.seq || 0;
        this.epoch = m.epoch || "";
        this.save();
        this.emit();
        return;
      case "patch": {
        const seq = m.seq || 0;
        if (seq <= this.seq) return; // a re-sub's catch-up overlapping what it has
        if (seq !== this.seq + 1) {
          this.sub(); // missed one
          return;
        }
        this.c.stats.patches++;
        try {
          this.state = applyPatch(structuredClone(this.state), m.ops);
        } catch (err) {
          this.c.onError(err);
          this.sub(true);
          return;
        }
        this.seq = seq;
        if (m.hash && this.c.hash && this.c.hash(this.state) !== m.hash) {
          this.c.onError(new Error(`state of ${this.key} diverged at seq ${seq}; resyncing from a snapshot`));
          this.sub(true);
          return;
        }
        if (m.client === this.c.id) {
          this.settle(m.mid, { seq });
          this.c.gap = this.c.gap > 1 ? this.c.gap * 0.99 : 0;
        }
        this.save();
        this.emit();
        this.pump();
        return;
      }
      case "rej": {
        const i = this.pending.findIndex((e) => e.mid === m.mid);
        if (i < 0) return; // already answered
        // Every earlier mutation was processed before this one.
        this.settle(m.mid - 1, {});
        const e = this.pending.shift();
        this.save();
        const err = new ServerError(m);
        const w = this.waiters.get(e.lid);
        this.waiters.delete(e.lid);
        if (w) w.reject(err);
        else if (this.onRefused) this.onRefused(err);
        else this.c.onError(err);
        this.checkIdle();
        this.pump();
        return;
      }
      case "synced": {
        if ((m.seq || 0) !== this.seq || (m.epoch || "") !== this.epoch) {
          this.sub(true); // a catch-up that did not reach the head
          return;
        }
        const done = m.mid || 0;
        // Processed and not refused (refusals came first): applied.
        this.settle(done, {});
        // The log may have gone back (a deleted key, a restored
        // database): the queue follows the server's last mid.
        this.pending.forEach((e, i) => (e.mid = done + 1 + i));
        this.nextMid = done + 1 + this.pending.length;
        this.sentUpTo = done;
        this.synced = true;
        this.save();
        this.checkIdle();
        this.pump();
        return;
      }
    }
  }

  err(m) {
    switch (m.code) {
      case "duplicate":
        return; // the catch-up tells its outcome
      case "rate_limited":
        // Wait what the server says, then resubscribe and resend, one
        // mutation per retry_ms (about the limit's interval) at first.
        this.c.stats.rateLimited++;
        this.c.gap = Math.max(this.c.gap, 1.2 * (m.retry_ms || 0), 1);
        this.later(Math.max(m.retry_ms || 0, this.c.minRetryMs));
        return;
      case "reset":
        // The key was deleted: start over from its new epoch.
        this.state = null;
        this.seq = 0;
        this.epoch = "";
        this.save();
        this.sub();
        return;
      case "mid_gap":
      case "not_subscribed":
        this.sub();
        return;
      case "forbidden":
        if (m.mid) {
          // The credential may not write this key: the mutation is
          // refused for good (the server did not count it; the queue is
          // renumbered after the next synced).
          const i = this.pending.findIndex((e) => e.mid === m.mid);
          if (i >= 0) {
            const [e] = this.pending.splice(i, 1);
            this.save();
            const err = new ServerError(m);
            const w = this.waiters.get(e.lid);
            this.waiters.delete(e.lid);
            if (w) w.reject(err);
            else this.c.onError(err);
          }
          this.sub();
          return;
        }
        break; // a refused subscription: the key is out of reach
    }
    if (KEY_FATAL.has(m.code)) {
      this.fail(new ServerError(m));
      this.c.onError(this.error);
      return;
    }
    // busy, storage_failed, quota_exceeded, internal: try again later.
    this.c.onError(new ServerError(m));
    this.later(1000);
  }
}

module.exports = { Client, Doc, MemoryStorage, ServerError, applyPatch };
