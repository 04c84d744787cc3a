// The parts of docs/PROTOCOL.md that a client must compute exactly like the
// Go runtime: ctx.NewID(), ctx.Rand() and the state hash. No dependencies
// beyond Node's crypto (the browser client will swap in SubtleCrypto).
"use strict";
const crypto = require("node:crypto");

const enc = (s) => Buffer.from(s, "utf8");

// identity is the SHA-256 of a mutation's identity: key NUL client NUL mid
// for a client's mutation, key NUL NUL epoch NUL seq for a write without one.
function identity(m) {
  const parts = [enc(m.key), Buffer.from([0])];
  if (m.client) parts.push(enc(m.client), Buffer.from([0]), enc(String(m.mid)));
  else parts.push(Buffer.from([0]), enc(m.epoch), Buffer.from([0]), enc(String(m.seq)));
  return crypto.createHash("sha256").update(Buffer.concat(parts)).digest();
}

const alphabet = "0123456789abcdefghjkmnpqrstvwxyz";

// base32 encodes bytes in RFC 4648 bit order with this alphabet, unpadded.
function base32(b) {
  let bits = 0, val = 0, out = "";
  for (const x of b) {
    val = ((val << 8) | x) & 0xffff;
    bits += 8;
    while (bits >= 5) {
      out += alphabet[(val >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += alphabet[(val << (5 - bits)) & 31];
  return out;
}

// newIDs returns the first n ids ctx.NewID() returns for mutation m.
function newIDs(m, n) {
  const seed = identity(m);
  const out = [];
  for (let i = 1n; i <= BigInt(n); i++) {
    const buf = Buffer.alloc(40);
    seed.copy(buf, 0);
    buf.writeBigUInt64BE(i, 32);
    out.push(base32(crypto.createHash("sha256").update(buf).digest().subarray(0, 10)));
  }
  return out;
}

// rand returns ctx.Rand()'s Uint64 for mutation m: Go's math/rand/v2 PCG
// (a 128-bit LCG with the DXSM output function) seeded with the first two
// big-endian uint64s of the identity.
function rand(m) {
  const seed = identity(m);
  const M64 = (1n << 64n) - 1n, M128 = (1n << 128n) - 1n;
  let state = (seed.readBigUInt64BE(0) << 64n) | seed.readBigUInt64BE(8);
  const mul = (2549297995355413924n << 64n) | 4865540595714422341n;
  const inc = (6364136223846793005n << 64n) | 1442695040888963407n;
  return () => {
    state = (state * mul + inc) & M128;
    let hi = state >> 64n;
    const lo = state & M64;
    hi ^= hi >> 32n;
    hi = (hi * 0xda942042e4dd58b5n) & M64;
    hi ^= hi >> 48n;
    return (hi * (lo | 1n)) & M64;
  };
}

// canonical writes a JSON value in the JSON Canonicalization Scheme (RFC
// 8785): keys sorted by UTF-16 code units, ECMAScript number and string
// forms (which JSON.stringify gives).
function canonical(v) {
  if (Array.isArray(v)) return "[" + v.map(canonical).join(",") + "]";
  if (v !== null && typeof v === "object") {
    return "{" + Object.keys(v).sort().map((k) => JSON.stringify(k) + ":" + canonical(v[k])).join(",") + "}";
  }
  return JSON.stringify(v);
}

// stateHash is the hash an ev carries: the first 16 hex digits of the
// SHA-256 of the state's canonical JSON.
function stateHash(state) {
  return crypto.createHash("sha256").update(canonical(state)).digest("hex").slice(0, 16);
}

module.exports = { identity, newIDs, rand, canonical, stateHash };
