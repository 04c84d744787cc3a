"use strict";
// The test vectors of docs/PROTOCOL.md, also checked in Go
// (schema TestIDAndRandVectors, runtime/protocol TestStateHashVector).
const test = require("node:test");
const assert = require("node:assert");
const { newIDs, rand, canonical, stateHash } = require("./spec.js");

const withClient = { key: "list-1", client: "c7f3kq2m9d1x", mid: 8 };

test("ctx.NewID", () => {
  assert.deepStrictEqual(newIDs(withClient, 2), ["nmn4qxt1z01k2m72", "xyrzxnw0pw5zx6cd"]);
  assert.deepStrictEqual(newIDs({ key: "list-1", epoch: "k2j4h5g6", seq: 13 }, 1), ["w3wqbddkt8b0sbdz"]);
});

test("ctx.Rand", () => {
  const r = rand(withClient);
  assert.strictEqual(r(), 14669809258940600689n);
  assert.strictEqual(r(), 7455210794774785647n);
});

test("state hash", () => {
  // What Go's encoding/json writes for the vector's state.
  const state = JSON.parse('{"title":"a \\u003cb\\u003e \\u0026 c","n":1e+21,"done":false,"é":[1.5,-0,100]}');
  assert.strictEqual(canonical(state), '{"done":false,"n":1e+21,"title":"a <b> & c","é":[1.5,0,100]}');
  assert.strictEqual(stateHash(state), "5614ba3b4f8864ee");
});
