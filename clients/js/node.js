// The Node.js transport of the client: WebSockets from the ws package, the
// state hash from node:crypto (spec.js). A page passes the browser's
// WebSocket and a hash of its own to Client instead.
"use strict";
const WebSocket = require("ws");
const { Client, Doc, MemoryStorage, ServerError, applyPatch } = require("./client.js");
const { stateHash } = require("./spec.js");

// A server frame may hold a whole state (16 MiB by default) or a coalesced
// batch (32 MiB): docs/PROTOCOL.md asks clients to read at least that.
const maxFrame = 256 << 20;

// connect returns a Client that dials url with the API key (sent in hello).
function connect(opts) {
  return new Client({ dial: (url) => new WebSocket(url, { maxPayload: maxFrame }), hash: stateHash, ...opts });
}

module.exports = { connect, Client, Doc, MemoryStorage, ServerError, applyPatch };
