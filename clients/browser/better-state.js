// better-state.js: runs a Better-State client in a web page. The client is
// runtime/client compiled to WebAssembly with the app's schema, so the
// schema's own Go reducers apply each action in the page at once; the
// queue is kept in IndexedDB before an action's promise resolves.
//
//   import { start, connect } from "./better-state.js";
//   await start({ wasm: "dist/todos.wasm" });
//   const client = await connect("ws://host/v1/ws", { app: "todos", apiKey });
//
// Tabs. Each tab is a client of its own, with its own id and queue, so two
// tabs never share a mutation id (nothing doubled, nothing lost between
// them). A tab takes a "slot": a client id and its IndexedDB queue, held
// with a Web Lock for as long as the tab lives, per app and per user
// (scopeOf). A reloaded tab takes its own slot again; a new tab takes the
// slot of a closed one first, so the queue a closed tab left offline is
// sent by the next tab of that user that opens.

/* global Go */

// ---- IndexedDB, for the Go client (runtime/client/persist_js.go) ----

function req(r) {
  return new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
}

function done(tx) {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onabort = () => reject(tx.error || new Error("transaction aborted"));
    tx.onerror = () => reject(tx.error || new Error("transaction failed"));
  });
}

// Every write waits for its transaction to complete with strict
// durability: on disk, not only in the browser's memory.
const RW = { durability: "strict" };
const pendingRange = (key) => IDBKeyRange.bound([key, 0], [key, Number.MAX_SAFE_INTEGER]);

globalThis.betterStateIDB = {
  async open(name) {
    const r = indexedDB.open(name, 1);
    r.onupgradeneeded = () => {
      const db = r.result;
      db.createObjectStore("meta");
      db.createObjectStore("keys");
      db.createObjectStore("pending");
    };
    const blocked = new Promise((_, reject) => {
      r.onblocked = () => reject(new Error(`IndexedDB ${name}: another tab holds an older version open; close it`));
    });
    const db = await Promise.race([req(r), blocked]);
    // A newer version opened elsewhere: let it through, this tab reloads.
    db.onversionchange = () => db.close();
    return db;
  },
  async meta(db, k) {
    return req(db.transaction("meta").objectStore("meta").get(k));
  },
  async setMeta(db, k, v) {
    const tx = db.transaction("meta", "readwrite", RW);
    tx.objectStore("meta").put(v, k);
    return done(tx);
  },
  async load(db, key) {
    const tx = db.transaction(["keys", "pending"]);
    const [row, pending] = await Promise.all([
      req(tx.objectStore("keys").get(key)),
      req(tx.objectStore("pending").getAll(pendingRange(key))),
    ]);
    if (!row) return null;
    return { row, pending };
  },
  async enqueue(db, key, type, p) {
    const tx = db.transaction(["keys", "pending"], "readwrite", RW);
    const keys = tx.objectStore("keys");
    keys.get(key).onsuccess = (e) => {
      const row = e.target.result || { type, seq: 0, epoch: "", state: null, nextMid: 0 };
      row.nextMid = p.mid;
      keys.put(row, key);
    };
    tx.objectStore("pending").put(p, [key, p.mid]);
    return done(tx);
  },
  async save(db, k, resolved) {
    const tx = db.transaction(["keys", "pending"], "readwrite", RW);
    const keys = tx.objectStore("keys");
    keys.get(k.key).onsuccess = (e) => {
      const old = e.target.result;
      keys.put({ type: k.type, seq: k.seq, epoch: k.epoch, state: k.state, nextMid: Math.max(old ? old.nextMid : 0, k.nextMid) }, k.key);
    };
    tx.objectStore("pending").delete(IDBKeyRange.bound([k.key, 0], [k.key, resolved]));
    return done(tx);
  },
  async forget(db, key, mid) {
    const tx = db.transaction("pending", "readwrite", RW);
    tx.objectStore("pending").delete([key, mid]);
    return done(tx);
  },
  async renumber(db, key, type, pend, nextMid) {
    const tx = db.transaction(["keys", "pending"], "readwrite", RW);
    const pending = tx.objectStore("pending");
    pending.delete(pendingRange(key));
    for (const p of pend) pending.put(p, [key, p.mid]);
    const keys = tx.objectStore("keys");
    keys.get(key).onsuccess = (e) => {
      const row = e.target.result || { type, seq: 0, epoch: "", state: null, nextMid: 0 };
      row.nextMid = nextMid;
      keys.put(row, key);
    };
    return done(tx);
  },
  close(db) {
    db.close();
  },
};

// ---- slots: one client per tab ----

// A slot is a client id with its IndexedDB queue and states, for one app
// and one scope: the credential's namespace and actor (a token's ns and
// sub, or a hash of an API key). The server ties a client id to one actor
// of one namespace, so another user of the browser never takes this one's
// slot, its queue or its cached states.

function lockName(app, scope, id) {
  return `better-state:${app}:${scope}:${id}`;
}

// hold takes the lock name and keeps it for the tab's life; wait says how
// long to wait for it (0: not at all).
function hold(name, wait) {
  return new Promise((resolve) => {
    const opts = wait > 0 ? { signal: AbortSignal.timeout(wait) } : { ifAvailable: true };
    navigator.locks.request(name, opts, (lock) => {
      if (!lock) {
        resolve(false);
        return undefined;
      }
      resolve(true);
      return new Promise(() => {}); // held until the tab goes away
    }).catch(() => resolve(false)); // the wait timed out
  });
}

function randomID() {
  const b = new Uint8Array(12);
  crypto.getRandomValues(b);
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

// scopeOf names the credential's user without keeping the credential.
export async function scopeOf({ apiKey = "", token = "" } = {}) {
  if (token) {
    try {
      const claims = JSON.parse(atob(token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/")));
      if (claims.ns || claims.sub) return `t-${claims.ns || ""}-${claims.sub || ""}`;
    } catch {
      /* not a JWT: hashed below */
    }
  }
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(apiKey || token));
  return "k-" + Array.from(new Uint8Array(digest).slice(0, 8), (x) => x.toString(16).padStart(2, "0")).join("");
}

// takeSlot returns this tab's client id: the one it had before a reload
// (waiting up to 2 s for the old page to let go of it), or a free one (a
// closed tab's), or a new one.
export async function takeSlot(app, scope = "") {
  const regKey = `better-state:${app}:${scope}:slots`;
  const mineKey = `better-state:${app}:${scope}:slot`;
  const mine = sessionStorage.getItem(mineKey);
  if (mine && await hold(lockName(app, scope, mine), 2000)) return mine;
  const known = JSON.parse(localStorage.getItem(regKey) || "[]");
  for (const id of known) {
    if (id !== mine && await hold(lockName(app, scope, id), 0)) {
      sessionStorage.setItem(mineKey, id);
      return id;
    }
  }
  const id = randomID();
  await hold(lockName(app, scope, id), 0);
  // The registry is read, changed and written under a lock of its own:
  // two tabs making slots at once both land in it.
  await navigator.locks.request(`better-state:${app}:${scope}:registry`, async () => {
    const now = JSON.parse(localStorage.getItem(regKey) || "[]");
    if (!now.includes(id)) now.push(id);
    localStorage.setItem(regKey, JSON.stringify(now));
  });
  sessionStorage.setItem(mineKey, id);
  return id;
}

// ---- loading ----

let started = null;

// start loads Go's wasm_exec.js (from the same directory as the .wasm)
// and the app's WebAssembly client, once.
export function start({ wasm, wasmExec } = {}) {
  if (!started) {
    started = (async () => {
      const wasmURL = new URL(wasm, document.baseURI);
      if (!globalThis.Go) await import(new URL(wasmExec || "wasm_exec.js", wasmURL).href);
      const ready = new Promise((resolve) => { globalThis.betterStateReady = resolve; });
      const go = new Go();
      const { instance } = await WebAssembly.instantiateStreaming(fetch(wasmURL), go.importObject);
      go.run(instance);
      await ready;
      return globalThis.betterStateGo;
    })();
  }
  return started;
}

// connect opens this tab's client of the server at url (ws:// or wss://),
// once per tab. apiKey or token authenticates it (in hello.auth: a page
// cannot set headers); token may be a function returning (a promise of) a
// fresh token, called for each connection and before the last expires.
// app names the app's slots and IndexedDB databases.
export async function connect(url, { app = "app", apiKey = "", token = "" } = {}) {
  const bs = await start();
  const first = typeof token === "function" ? await token() : token;
  const scope = await scopeOf({ apiKey, token: first });
  const slot = await takeSlot(app, scope);
  return bs.connect(url, { apiKey, token, dir: `${app}:${scope}:${slot}`, clientId: slot });
}
