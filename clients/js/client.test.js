// Scenarios of the JavaScript client against a real todos server process.
// node_test.go builds and starts the server (and the Go todos CLI) and
// passes them in BS_HTTP, BS_KEY and BS_TODOS_CLI; without them these
// tests are skipped (run them with go test ./clients/js).
"use strict";
const test = require("node:test");
const assert = require("node:assert");
const net = require("node:net");
const { execFile } = require("node:child_process");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { connect, MemoryStorage, applyPatch } = require("./node.js");

const http = process.env.BS_HTTP; // http://127.0.0.1:PORT
const key = process.env.BS_KEY;
const cli = process.env.BS_TODOS_CLI;
const skip = http ? false : "no server: run through go test ./clients/js";
const serverAddr = http && new URL(http);
const TYPE = "todos.List";

let nkeys = 0;
const freshKey = (name) => `js-${name}-${process.pid}-${++nkeys}`;

// A TCP proxy between a client and the server that can cut every
// connection and refuse new ones until restored: a dropped socket, a
// device going offline.
class Link {
  constructor() {
    this.up = true;
    this.socks = new Set();
    this.server = net.createServer((c) => {
      if (!this.up) return c.destroy();
      const s = net.connect(Number(serverAddr.port), serverAddr.hostname);
      this.socks.add(c).add(s);
      c.pipe(s).pipe(c);
      const drop = () => {
        c.destroy();
        s.destroy();
        this.socks.delete(c);
        this.socks.delete(s);
      };
      c.on("error", drop).on("close", drop);
      s.on("error", drop).on("close", drop);
    });
  }
  listen() {
    return new Promise((resolve) => this.server.listen(0, "127.0.0.1", resolve));
  }
  url() {
    return `ws://127.0.0.1:${this.server.address().port}/v1/ws`;
  }
  cut() {
    this.up = false;
    for (const s of this.socks) s.destroy();
    this.socks.clear();
  }
  restore() {
    this.up = true;
  }
  close() {
    this.cut();
    this.server.close();
  }
}

const wsURL = () => http.replace(/^http/, "ws") + "/v1/ws";

function client(t, opts = {}) {
  const errors = [];
  const c = connect({ url: wsURL(), key, onError: (e) => errors.push(e), ...opts });
  c.errors = errors;
  t.after(() => c.close());
  return c;
}

async function link(t) {
  const l = new Link();
  await l.listen();
  t.after(() => l.close());
  return l;
}

async function rest(method, p, body) {
  const r = await fetch(http + p, {
    method,
    headers: { Authorization: "Bearer " + key, "Content-Type": "application/json" },
    body: body && JSON.stringify(body),
  });
  return { status: r.status, body: await r.json().catch(() => null) };
}

async function serverState(k) {
  const r = await rest("GET", `/v1/namespaces/default/states/${k}`);
  assert.strictEqual(r.status, 200, JSON.stringify(r.body));
  return r.body;
}

// within fails the test if p does not settle in ms.
function within(p, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

const idle = (doc) => within(doc.idle(), 15000, `${doc.key} idle`);

// until resolves when doc's state satisfies pred.
function until(doc, pred, what) {
  let stop;
  const p = new Promise((resolve) => {
    stop = doc.subscribe((s) => pred(s) && resolve());
  });
  return within(p, 15000, what).finally(() => stop());
}
const titles = (state) => (state.items || []).map((i) => i.title);

function runCLI(dir, k, ...args) {
  return new Promise((resolve, reject) => {
    execFile(cli, ["--dir", dir, "--list", k, ...args], { env: { ...process.env, BS_URL: wsURL(), BS_KEY: key }, timeout: 30000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`todos ${args.join(" ")}: ${err.message}\n${stdout}${stderr}`));
      else resolve(stdout);
    });
  });
}

test("RFC 6902 operations as the server sends them", () => {
  const doc = { items: [{ id: "a", done: false }, { id: "b" }], "x/y": 1, "m~n": 2 };
  const out = applyPatch(doc, [
    { op: "replace", path: "/items/0/done", value: true },
    { op: "remove", path: "/items/1" },
    { op: "add", path: "/items/-", value: { id: "c" } },
    { op: "add", path: "/items/0", value: { id: "z" } },
    { op: "remove", path: "/x~1y" },
    { op: "replace", path: "/m~0n", value: 3 },
    { op: "add", path: "/new", value: null },
  ]);
  assert.deepStrictEqual(out, { items: [{ id: "z" }, { id: "a", done: true }, { id: "c" }], "m~n": 3, new: null });
  assert.deepStrictEqual(applyPatch({ a: 1 }, [{ op: "replace", path: "", value: [1] }]), [1]);
  assert.throws(() => applyPatch({ items: [] }, [{ op: "remove", path: "/items/0" }]), /bad array index/);
  assert.throws(() => applyPatch({}, [{ op: "replace", path: "/nope", value: 1 }]), /nothing to replace/);
});

test("two writers: every mutation once, both followers equal to the server", { skip }, async (t) => {
  const k = freshKey("order");
  const a = client(t).open(k, TYPE);
  const b = client(t).open(k, TYPE);
  const done = [];
  for (let i = 0; i < 25; i++) {
    done.push(a.mutate("Add", { title: `a${i}` }), b.mutate("Add", { title: `b${i}` }));
  }
  const results = await within(Promise.all(done), 15000, "50 mutations");
  assert.strictEqual(new Set(results.map((r) => r.seq)).size, 50, "each mutation has its own seq");
  await Promise.all([idle(a), idle(b)]);
  const s = await serverState(k);
  assert.strictEqual(s.seq, 50);
  assert.deepStrictEqual(a.state, s.state);
  assert.deepStrictEqual(b.state, s.state);
  assert.strictEqual(a.seq, 50);
  // Each writer's items are in the order it sent them.
  for (const w of ["a", "b"]) {
    const mine = titles(s.state).filter((x) => x.startsWith(w));
    assert.deepStrictEqual(mine, Array.from({ length: 25 }, (_, i) => `${w}${i}`));
  }
});

test("exactly once across a dropped socket", { skip }, async (t) => {
  const k = freshKey("once");
  const l = await link(t);
  const c = client(t, { url: l.url() });
  const doc = c.open(k, TYPE);
  await idle(doc);
  for (let i = 0; i < 12; i++) {
    const p = doc.mutate("Add", { title: `x${i}` });
    // Cut at once or a little later: before the server reads the
    // mutation, while it applies it, or before its patch arrives.
    await new Promise((r) => setTimeout(r, i % 4));
    l.cut();
    setTimeout(() => l.restore(), 20);
    await within(p, 15000, `x${i}`);
  }
  await idle(doc);
  const s = await serverState(k);
  assert.deepStrictEqual(titles(s.state), Array.from({ length: 12 }, (_, i) => `x${i}`));
  assert.deepStrictEqual(doc.state, s.state);
  assert.ok(c.stats.connects > 3, `reconnected ${c.stats.connects} times`);
});

test("catch-up from a cursor: the patches missed, no snapshot", { skip }, async (t) => {
  const k = freshKey("cursor");
  const l = await link(t);
  const a = client(t, { url: l.url() });
  const da = a.open(k, TYPE);
  const db = client(t).open(k, TYPE);
  await Promise.all([idle(da), idle(db)]);
  await db.mutate("Add", { title: "one" });
  await until(da, (s) => titles(s).length === 1, "a sees one");
  l.cut();
  for (const x of ["two", "three", "four"]) await db.mutate("Add", { title: x });
  const [snaps, patches] = [a.stats.snaps, a.stats.patches];
  l.restore();
  await until(da, (s) => titles(s).length === 4, "a catches up");
  await idle(da);
  assert.strictEqual(a.stats.snaps, snaps, "no snapshot for a cursor the patches reach");
  assert.strictEqual(a.stats.patches, patches + 3);
  assert.deepStrictEqual(da.state, (await serverState(k)).state);
});

test("catch-up from a snapshot, across a restart, after writes from the Go CLI", { skip: skip || (!cli && "no Go CLI") }, async (t) => {
  const k = freshKey("snap");
  const storage = new MemoryStorage();
  const first = connect({ url: wsURL(), key, storage });
  const d1 = first.open(k, TYPE);
  await d1.mutate("Add", { title: "from js" });
  await idle(d1);
  first.close();
  // While no client in patch mode holds the key, the server keeps no
  // patches: the Go CLI's write reaches the restarted client as a
  // snapshot, after which it follows by patches again.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bs-cli-"));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  await runCLI(dir, k, "add", "from", "go");
  const again = client(t, { storage });
  const d2 = again.open(k, TYPE);
  assert.deepStrictEqual(titles(d2.state), ["from js"], "the restarted client starts from what it stored");
  await idle(d2);
  assert.strictEqual(again.stats.snaps, 1);
  assert.deepStrictEqual(titles(d2.state), ["from js", "from go"]);
  assert.deepStrictEqual(d2.state, (await serverState(k)).state);
  // And the Go CLI reads what JavaScript wrote.
  await d2.mutate("Add", { title: "js again" });
  const out = await runCLI(dir, k, "list");
  assert.match(out, /from js[\s\S]*from go[\s\S]*js again/);
});

test("refusals while away reach the app once", { skip }, async (t) => {
  const k = freshKey("refuse");
  const l = await link(t);
  const a = client(t, { url: l.url() });
  const da = a.open(k, TYPE);
  const db = client(t).open(k, TYPE);
  await db.mutate("Add", { title: "shared" });
  await until(da, (s) => titles(s).length === 1, "a sees the item");
  const id = da.state.items[0].id;
  l.cut();
  // Offline, a toggles the item that b removes meanwhile; and a sends an
  // empty title, refused whenever it arrives.
  const toggle = da.mutate("Toggle", { id });
  const empty = da.mutate("Add", { title: "" });
  const fine = da.mutate("Add", { title: "after" });
  assert.strictEqual(da.pending.length, 3);
  await db.mutate("Remove", { id });
  l.restore();
  await assert.rejects(within(toggle, 15000, "toggle"), (e) => e.code === "no_such_item" && e.action === "Toggle");
  await assert.rejects(within(empty, 15000, "empty"), (e) => e.code === "empty_title");
  await within(fine, 15000, "after");
  await idle(da);
  assert.deepStrictEqual(titles(da.state), ["after"]);

  // A refusal the server stored while the socket was down is delivered on
  // the next subscription, once.
  const refused = [];
  da.onRefused = (e) => refused.push(e);
  const p = da.mutate("Rename", { id: "nope", title: "x" });
  l.cut();
  setTimeout(() => l.restore(), 30);
  await assert.rejects(within(p, 15000, "rename"), (e) => e.code === "no_such_item");
  l.cut();
  l.restore();
  await idle(da);
  assert.deepStrictEqual(refused, [], "no second report");
});

test("an epoch change with a queued mutation: renumbered, sent, applied once", { skip }, async (t) => {
  const k = freshKey("epoch");
  const l = await link(t);
  const c = client(t, { url: l.url() });
  const doc = c.open(k, TYPE);
  for (const x of ["a", "b", "c"]) await doc.mutate("Add", { title: x });
  const before = doc.epoch;
  l.cut();
  const queued = doc.mutate("Add", { title: "queued" });
  assert.strictEqual(doc.pending[0].mid, 4);
  const del = await rest("DELETE", `/v1/namespaces/default/states/${k}`);
  assert.strictEqual(del.status, 200, JSON.stringify(del.body));
  l.restore();
  await within(queued, 15000, "queued");
  await idle(doc);
  const s = await serverState(k);
  assert.notStrictEqual(s.epoch, before);
  assert.strictEqual(doc.epoch, s.epoch);
  assert.deepStrictEqual(titles(s.state), ["queued"]);
  assert.deepStrictEqual(doc.state, s.state);
  assert.strictEqual(s.seq, 1);
});

test("a queue larger than the rate limit is paced, not lost", { skip }, async (t) => {
  const k = freshKey("pace");
  const l = await link(t);
  const c = client(t, { url: l.url() });
  const doc = c.open(k, TYPE);
  await idle(doc);
  l.cut();
  const n = 120;
  const all = [];
  for (let i = 0; i < n; i++) all.push(doc.mutate("Add", { title: `p${i}` }));
  l.restore();
  await within(Promise.all(all), 30000, `${n} queued mutations`);
  await idle(doc);
  const s = await serverState(k);
  assert.deepStrictEqual(titles(s.state), Array.from({ length: n }, (_, i) => `p${i}`));
  t.diagnostic(`${c.stats.rateLimited} rate_limited answers for ${n} mutations, ${c.stats.connects} connections`);
  assert.ok(c.stats.rateLimited > 0, "the server's rate limit was reached (BS_RATE is low on purpose)");
  // A whole-queue resend once cost more refusals than mutations; paced,
  // the first window over the burst (12 here) and about one per 15 after.
  assert.ok(c.stats.rateLimited < n / 3, `paced: ${c.stats.rateLimited} rate_limited answers for ${n} mutations`);
});

test("a wrong key is terminal, not offline", { skip }, async (t) => {
  const c = client(t, { key: "not-a-key" });
  const doc = c.open(freshKey("auth"), TYPE);
  await assert.rejects(within(doc.idle(), 5000, "idle"), (e) => e.code === "unauthorized");
  assert.strictEqual(c.fatal.code, "unauthorized");
  await assert.rejects(doc.mutate("Add", { title: "x" }), (e) => e.code === "unauthorized");
  await assert.rejects(c.open(freshKey("auth"), TYPE).idle(), (e) => e.code === "unauthorized");
});

test("a read-only token: mutations and keys out of reach are refused, not retried", { skip }, async (t) => {
  const token = process.env.BS_READONLY_TOKEN;
  const k = freshKey("readonly").replace(/^js-/, "js-readonly-");
  // The admin makes the key; the reader may read it.
  const admin = client(t).open(k, TYPE);
  await admin.mutate("Add", { title: "seen" });
  const c = client(t, { key: token });
  const doc = c.open(k, TYPE);
  await until(doc, (s) => titles(s).length === 1, "the reader sees the list");
  await assert.rejects(within(doc.mutate("Add", { title: "no" }), 5000, "a write"), (e) => e.code === "forbidden");
  await idle(doc);
  const other = c.open(freshKey("elsewhere"), TYPE);
  await assert.rejects(within(other.idle(), 5000, "a key out of reach"), (e) => e.code === "forbidden");
  assert.deepStrictEqual(titles((await serverState(k)).state), ["seen"]);
});
