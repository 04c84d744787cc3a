// The Better-State inspector: plain JavaScript, no build step. It reads
// through the server's REST API (states, history, at, diff, blame) and
// follows the open key over one WebSocket in patch mode with presence
// (docs/PROTOCOL.md). Every value from the server is written as text.
"use strict";

const PAGE = 50;
const $ = (id) => document.getElementById(id);

function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") el.className = v;
    else if (k.startsWith("data-")) el.setAttribute(k, v);
    else el[k] = v;
  }
  for (const k of kids) if (k != null) el.append(k);
  return el;
}

const S = {
  cred: "", ns: "", actor: "", ws: null, wsOpen: false, retry: 0,
  key: "", type: "", epoch: "", head: 0, headState: null,
  oldest: 0, // lowest seq in the timeline
  viewSeq: 0, live: true, viewState: null,
  members: new Map(),
  blamePath: null, blameNext: null,
  keysNext: null,
  diffs: new Map(), // seq -> ops
};

// ---- REST ----

class APIError extends Error {
  constructor(status, code, message) { super(message); this.status = status; this.code = code; }
}

async function api(path, params) {
  const qs = params ? "?" + new URLSearchParams(params) : "";
  const res = await fetch("/v1/namespaces/" + encodeURIComponent(S.ns) + path + qs, {
    headers: { Authorization: "Bearer " + S.cred },
  });
  let body = null;
  try { body = await res.json(); } catch { /* not JSON */ }
  if (!res.ok) {
    const e = (body && body.error) || {};
    throw new APIError(res.status, e.code || "http_" + res.status, e.message || res.statusText);
  }
  return body;
}

const keyPath = (key) => "/states/" + encodeURIComponent(key);

// ---- sign in, and the WebSocket ----

function clientID() {
  let id = sessionStorage.getItem("bs-inspect-client");
  if (!id) {
    const b = new Uint8Array(9);
    crypto.getRandomValues(b);
    id = "inspect-" + Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
    sessionStorage.setItem("bs-inspect-client", id);
  }
  return id;
}

function signIn(cred) {
  S.cred = cred;
  $("login-error").textContent = "";
  connect();
}

function signOut(msg) {
  // Nothing of the last credential's reading stays: its data, its key
  // list, its client id (which belongs to its actor).
  sessionStorage.removeItem("bs-inspect-cred");
  sessionStorage.removeItem("bs-inspect-client");
  S.cred = "";
  if (S.ws) { S.ws.onclose = null; S.ws.close(); S.ws = null; }
  Object.assign(S, { ns: "", actor: "", wsOpen: false, key: "", type: "", epoch: "", head: 0, headState: null, oldest: 0,
    viewSeq: 0, live: true, viewState: null, blamePath: null, blameNext: null, keysNext: null });
  S.members = new Map();
  S.diffs = new Map();
  for (const id of ["keys", "state", "timeline", "blame", "presence", "keys-error", "state-error", "blame-note", "timeline-note", "key-title", "key-type", "seq"]) {
    $(id).textContent = "";
  }
  $("key-pane").hidden = true;
  $("app").hidden = true;
  $("signout").hidden = true;
  $("who").textContent = "";
  $("login").hidden = false;
  $("login-error").textContent = msg || "";
}

function connect() {
  const ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/v1/ws");
  S.ws = ws;
  ws.onopen = () => ws.send(JSON.stringify({ t: "hello", v: 1, client: clientID(), auth: S.cred }));
  ws.onmessage = (m) => {
    let msg;
    try { msg = JSON.parse(m.data); } catch { return; }
    // A frame holds one message, or an array of them.
    for (const one of Array.isArray(msg) ? msg : [msg]) onMessage(one);
  };
  ws.onclose = () => {
    S.wsOpen = false;
    setConn("disconnected, retrying");
    if (!S.cred) return;
    const wait = Math.min(10000, 250 * 2 ** S.retry++);
    setTimeout(() => { if (S.cred && S.ws === ws) connect(); }, wait);
  };
}

function send(msg) {
  if (S.ws && S.wsOpen) S.ws.send(JSON.stringify(msg));
}

function setConn(text) { $("conn").textContent = text; }

function onMessage(m) {
  switch (m.t) {
    case "welcome": {
      const first = !S.ns;
      S.wsOpen = true; S.retry = 0; S.ns = m.ns; S.actor = m.actor || "";
      sessionStorage.setItem("bs-inspect-cred", S.cred);
      $("who").textContent = "namespace " + S.ns + " · " + (S.actor || "admin");
      $("login").hidden = true; $("app").hidden = false; $("signout").hidden = false;
      if (first) loadKeys(false);
      if (S.key) subscribe();
      break;
    }
    case "err":
      if (m.fatal) {
        S.cred = "";
        signOut(m.msg || m.code);
      } else if (m.key === S.key) {
        $("state-error").textContent = m.code + ": " + (m.msg || "");
        setConn("not following: " + m.code);
      }
      break;
    case "snap":
      if (m.key !== S.key) return;
      onSnap(m);
      break;
    case "synced":
      if (m.key === S.key) setConn("live");
      break;
    case "patch":
      if (m.key !== S.key) return;
      onPatch(m);
      break;
    case "presence":
      if (m.key !== S.key) return;
      onPresence(m);
      break;
  }
}

// ---- keys ----

let keysGen = 0;

async function loadKeys(more) {
  const list = $("keys");
  const gen = ++keysGen;
  const prefix = $("prefix").value;
  const params = { prefix, limit: PAGE };
  if (more && S.keysNext != null) params.after = S.keysNext;
  $("keys-error").textContent = "";
  try {
    const out = await api("/states", params);
    if (gen !== keysGen) return; // a newer search is on its way
    if (!more) list.textContent = "";
    list.dataset.prefix = prefix;
    for (const st of out.states) {
      const li = h("li", { "data-key": st.key },
        h("div", { class: "k" }, st.key),
        h("div", { class: "d" }, st.type + " · seq " + st.seq + (st.updated_at ? " · " + ago(st.updated_at) : "")));
      li.onclick = () => openKey(st.key, st.type);
      if (st.key === S.key) li.classList.add("selected");
      list.append(li);
    }
    S.keysNext = out.next;
    $("keys-more").hidden = out.next == null;
  } catch (e) {
    $("keys-error").textContent = e.code === "forbidden"
      ? "This credential may not list keys (an admin key may); open a key by name below."
      : e.code + ": " + e.message;
  }
}

function ago(ms) {
  const s = Math.round((Date.now() - ms) / 1000);
  if (s < 60) return s + " s ago";
  if (s < 3600) return Math.round(s / 60) + " min ago";
  if (s < 86400) return Math.round(s / 3600) + " h ago";
  return new Date(ms).toISOString().slice(0, 16).replace("T", " ");
}

async function openKeyByName(name) {
  try {
    const out = await api(keyPath(name));
    openKey(name, out.type);
  } catch (e) {
    $("keys-error").textContent = e.code + ": " + e.message;
  }
}

function openKey(key, type) {
  if (S.key && S.key !== key) send({ t: "unsub", key: S.key });
  for (const li of document.querySelectorAll("#keys li")) li.classList.toggle("selected", li.dataset.key === key);
  Object.assign(S, { key, type, epoch: "", head: 0, headState: null, oldest: 0, viewSeq: 0, live: true, viewState: null, blamePath: null, blameNext: null });
  S.members = new Map();
  S.diffs = new Map();
  $("key-pane").hidden = false;
  $("key-title").textContent = key;
  $("key-type").textContent = type;
  $("seq").textContent = "…";
  $("timeline").textContent = "";
  $("timeline-note").textContent = "";
  $("blame").textContent = "";
  $("blame-note").textContent = "";
  $("blame-title").textContent = "Field history";
  $("blame-more").hidden = true;
  $("state-error").textContent = "";
  renderPresence();
  subscribe();
}

function subscribe() {
  setConn("connecting");
  send({ t: "sub", key: S.key, type: S.type, mode: "patch", presence: true });
}

// ---- following the key ----

function onSnap(m) {
  const jumped = m.seq !== S.head || m.epoch !== S.epoch;
  S.head = m.seq || 0;
  S.epoch = m.epoch || "";
  S.headState = m.state;
  updateHead();
  if (jumped) loadTimeline();
  if (S.live) showState(S.head, S.headState);
}

function onPatch(m) {
  if (m.seq !== S.head + 1 || S.headState === null) {
    subscribe(); // out of step: a fresh subscription starts with a snapshot
    return;
  }
  try {
    S.headState = applyPatch(S.headState, m.ops);
  } catch (e) {
    subscribe();
    return;
  }
  S.head = m.seq;
  S.diffs.set(m.seq, m.ops);
  updateHead();
  const li = eventItem(m);
  li.classList.add("new");
  $("timeline").prepend(li);
  if (!S.oldest) S.oldest = m.seq;
  if (S.live) showState(S.head, S.headState);
}

function updateHead() {
  $("seq").textContent = String(S.head);
  const sl = $("slider");
  sl.max = String(S.head);
  if (S.live) { sl.value = String(S.head); $("seq-label").textContent = S.head + " (live)"; }
  $("live").disabled = S.live;
}

function onPresence(m) {
  if (m.full) S.members = new Map();
  for (const c of m.left || []) S.members.delete(c);
  for (const mb of m.members || []) {
    const old = S.members.get(mb.client) || {};
    S.members.set(mb.client, { actor: mb.actor || old.actor || "", data: mb.data });
  }
  renderPresence();
}

function renderPresence() {
  const ul = $("presence");
  ul.textContent = "";
  for (const [client, mb] of S.members) {
    ul.append(h("li", { title: client }, (mb.actor || "?") + " " + JSON.stringify(mb.data)));
  }
  if (!S.members.size) ul.append(h("li", { class: "none" }, "nobody"));
}

// applyPatch applies RFC 6902 add, remove and replace operations (the only
// ones the server sends) to a copy of doc.
function applyPatch(doc, ops) {
  doc = structuredClone(doc);
  for (const op of ops) {
    const toks = op.path === "" ? [] : op.path.slice(1).split("/").map((t) => t.replace(/~1/g, "/").replace(/~0/g, "~"));
    if (!toks.length) {
      if (op.op === "remove") throw new Error("remove of the whole document");
      doc = structuredClone(op.value);
      continue;
    }
    let parent = doc;
    for (const t of toks.slice(0, -1)) {
      if (parent === null || typeof parent !== "object" || !Object.hasOwn(parent, t)) throw new Error("no " + op.path);
      parent = parent[t];
    }
    const last = toks[toks.length - 1];
    if (Array.isArray(parent)) {
      const i = last === "-" ? parent.length : Number(last);
      if (op.op === "add") parent.splice(i, 0, op.value);
      else if (op.op === "remove") parent.splice(i, 1);
      else parent[i] = op.value;
    } else if (parent !== null && typeof parent === "object") {
      // defineProperty, not "=": a key named __proto__ is data too.
      if (op.op === "remove") delete parent[last];
      else Object.defineProperty(parent, last, { value: op.value, writable: true, enumerable: true, configurable: true });
    } else {
      throw new Error("no " + op.path);
    }
  }
  return doc;
}

// ---- timeline ----

async function loadTimeline() {
  $("timeline").textContent = "";
  $("timeline-note").textContent = "";
  S.oldest = S.head + 1;
  await loadOlder();
}

async function loadOlder() {
  const upto = S.oldest - 1;
  if (upto < 1) { $("timeline-more").hidden = true; return; }
  const after = Math.max(0, upto - PAGE);
  const key = S.key;
  try {
    const out = await api(keyPath(key) + "/history", { after, limit: upto - after });
    if (key !== S.key) return;
    const list = $("timeline");
    for (const ev of out.events.slice().reverse()) {
      if (ev.seq > upto) continue;
      list.append(eventItem(ev));
    }
    S.oldest = out.events.length ? Math.min(S.oldest, out.events[0].seq) : after + 1;
    $("timeline-more").hidden = S.oldest <= 1;
  } catch (e) {
    if (key !== S.key) return;
    $("timeline-more").hidden = true;
    $("timeline-note").textContent = e.code === "compacted"
      ? "Older events were compacted: " + e.message
      : e.code + ": " + e.message;
  }
  markViewing();
}

function eventItem(ev) {
  const li = h("li", { "data-seq": String(ev.seq) },
    h("div", { class: "ev-head" },
      h("span", { class: "ev-seq" }, "#" + ev.seq),
      h("span", { class: "ev-action" }, ev.name + "(" + JSON.stringify(ev.args || {}) + ")"),
      h("span", { class: "ev-who" }, (ev.actor || "-") + " · " + (ev.client || "REST")),
      h("time", { dateTime: new Date(ev.time).toISOString() }, new Date(ev.time).toLocaleString())));
  li.onclick = () => { viewAt(ev.seq); toggleDiff(li, ev.seq); };
  return li;
}

async function toggleDiff(li, seq) {
  const old = li.querySelector(".ops");
  if (old) { old.remove(); return; }
  let ops = S.diffs.get(seq);
  if (!ops) {
    try {
      const out = await api(keyPath(S.key) + "/diff", { from: seq - 1, to: seq, limit: 1 });
      ops = out.ops;
      S.diffs.set(seq, ops);
    } catch (e) {
      li.append(h("div", { class: "ops error" }, e.code + ": " + e.message));
      return;
    }
  }
  const box = h("ul", { class: "ops" });
  for (const op of ops) {
    box.append(h("li", { class: "op-" + op.op }, op.op + " " + (op.path || "/") + ("value" in op ? " = " + JSON.stringify(op.value) : "")));
  }
  if (!ops.length) box.append(h("li", {}, "no change"));
  li.append(box);
}

function markViewing() {
  for (const li of document.querySelectorAll("#timeline li")) {
    li.classList.toggle("viewing", Number(li.dataset.seq) === S.viewSeq && !S.live);
  }
}

// ---- the state at a seq ----

async function viewAt(seq) {
  seq = Math.max(0, Math.min(seq, S.head));
  S.live = seq === S.head;
  $("slider").value = String(seq);
  $("seq-label").textContent = S.live ? seq + " (live)" : String(seq);
  $("live").disabled = S.live;
  if (S.live) { showState(S.head, S.headState); return; }
  const key = S.key;
  try {
    const out = await api(keyPath(key) + "/at/" + seq);
    if (key !== S.key || Number($("slider").value) !== seq) return;
    showState(seq, out.state);
  } catch (e) {
    $("state-error").textContent = e.code === "compacted"
      ? "The state at seq " + seq + " cannot be rebuilt: " + e.message
      : e.code + ": " + e.message;
  }
}

function showState(seq, state) {
  S.viewSeq = seq;
  S.viewState = state;
  $("state-error").textContent = "";
  const root = $("state");
  root.textContent = "";
  root.dataset.seq = String(seq);
  root.append(tree(state, ""));
  markViewing();
  if (S.blamePath !== null) {
    const el = root.querySelector('[data-path="' + CSS.escape(S.blamePath) + '"]');
    if (el) el.classList.add("picked");
  }
}

const esc = (t) => t.replace(/~/g, "~0").replace(/\//g, "~1");

function tree(v, path) {
  if (v !== null && typeof v === "object") {
    const ul = h("ul");
    const entries = Array.isArray(v) ? v.map((x, i) => [String(i), x]) : Object.entries(v);
    for (const [k, x] of entries) {
      const p = path + "/" + esc(k);
      const label = h("span", { class: "field", "data-path": p }, (Array.isArray(v) ? "[" + k + "]" : k) + ": ");
      const li = h("li", {}, label);
      if (x !== null && typeof x === "object") {
        li.append(h("span", { class: "lit" }, Array.isArray(x) ? "[" + x.length + "]" : "{…}"));
        li.append(tree(x, p));
      } else {
        li.append(leaf(x, p));
      }
      ul.append(li);
    }
    if (!entries.length) ul.append(h("li", { class: "lit" }, Array.isArray(v) ? "[]" : "{}"));
    return ul;
  }
  return leaf(v, path);
}

function leaf(x, path) {
  const cls = typeof x === "string" ? "str" : typeof x === "number" ? "num" : "lit";
  return h("span", { class: cls, "data-path": path }, JSON.stringify(x));
}

// ---- blame ----

async function blame(path, more) {
  const key = S.key;
  if (!more) {
    S.blamePath = path;
    S.blameNext = null;
    $("blame").textContent = "";
    $("blame-note").textContent = "loading…";
    $("blame-title").textContent = "History of " + (path || "the whole state");
    for (const el of document.querySelectorAll("#state .picked")) el.classList.remove("picked");
    const el = $("state").querySelector('[data-path="' + CSS.escape(path) + '"]');
    if (el) el.classList.add("picked");
  }
  const params = { path, limit: PAGE, before: more ? S.blameNext : S.viewSeq + 1 };
  try {
    const out = await api(keyPath(key) + "/blame", params);
    if (key !== S.key || path !== S.blamePath) return;
    const list = $("blame");
    for (const c of out.changes) {
      const ev = c.event;
      const li = h("li", { "data-seq": String(c.seq), class: "op-" + c.op },
        h("div", { class: "ev-head" },
          h("span", { class: "ev-seq" }, "#" + c.seq),
          h("span", { class: "change" }, c.op === "add" ? "set to " + JSON.stringify(c.after)
            : c.op === "remove" ? "removed (was " + JSON.stringify(c.before) + ")"
            : JSON.stringify(c.before) + " → " + JSON.stringify(c.after))),
        h("div", { class: "ev-head" },
          h("span", { class: "ev-action" }, ev.name + "(" + JSON.stringify(ev.args) + ")"),
          h("span", { class: "ev-who" }, (ev.actor || "-") + " · " + (ev.client || "REST")),
          h("time", { dateTime: new Date(ev.time).toISOString() }, new Date(ev.time).toLocaleString())));
      li.onclick = () => viewAt(c.seq);
      list.append(li);
    }
    S.blameNext = out.next;
    $("blame-more").hidden = out.next == null;
    let note = out.changes.length || more ? "" : "No event changed this path up to seq " + S.viewSeq + ".";
    if (!out.complete && out.next == null) {
      note += " The log before seq " + out.origin.seq + " was compacted: at that seq the value was " +
        ("value" in out.origin ? JSON.stringify(out.origin.value) : "absent") + ".";
    }
    $("blame-note").textContent = note.trim();
  } catch (e) {
    $("blame-note").textContent = e.code + ": " + e.message;
  }
}

// ---- wiring ----

document.addEventListener("DOMContentLoaded", () => {
  $("login").addEventListener("submit", (e) => { e.preventDefault(); signIn($("cred").value.trim()); });
  $("signout").onclick = () => signOut("");
  let t = 0;
  $("prefix").addEventListener("input", () => { clearTimeout(t); t = setTimeout(() => loadKeys(false), 200); });
  $("keys-more").onclick = () => loadKeys(true);
  $("open-key").addEventListener("submit", (e) => { e.preventDefault(); openKeyByName($("open-key-name").value.trim()); });
  $("timeline-more").onclick = () => loadOlder();
  $("blame-more").onclick = () => blame(S.blamePath, true);
  $("slider").addEventListener("input", () => { $("seq-label").textContent = $("slider").value; });
  $("slider").addEventListener("change", () => viewAt(Number($("slider").value)));
  $("live").onclick = () => viewAt(S.head);
  $("state").addEventListener("click", (e) => {
    const el = e.target.closest("[data-path]");
    if (el) blame(el.dataset.path, false);
  });
  const saved = sessionStorage.getItem("bs-inspect-cred");
  if (saved) signIn(saved);
});
