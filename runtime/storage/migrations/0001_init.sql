-- Better-State storage, version 1.
CREATE TABLE namespaces (
	name       TEXT PRIMARY KEY,
	created_at INTEGER NOT NULL
) WITHOUT ROWID;

-- API keys are stored as SHA-256 hashes of their secret; the id is public.
CREATE TABLE api_keys (
	id         TEXT PRIMARY KEY,
	namespace  TEXT NOT NULL REFERENCES namespaces(name),
	hash       BLOB NOT NULL,
	actor      TEXT NOT NULL,
	role       TEXT NOT NULL,
	created_at INTEGER NOT NULL,
	revoked_at INTEGER
) WITHOUT ROWID;

-- One row per key: its type, the fingerprint it was last served with, the
-- epoch of its log and the head seq.
CREATE TABLE states (
	namespace   TEXT NOT NULL,
	key         TEXT NOT NULL,
	type        TEXT NOT NULL,
	fingerprint TEXT NOT NULL,
	epoch       TEXT NOT NULL,
	seq         INTEGER NOT NULL,
	created_at  INTEGER NOT NULL,
	updated_at  INTEGER NOT NULL,
	PRIMARY KEY (namespace, key)
) WITHOUT ROWID;

-- The event log: accepted mutations, per key, in seq order.
CREATE TABLE events (
	namespace TEXT NOT NULL,
	key       TEXT NOT NULL,
	seq       INTEGER NOT NULL,
	client    TEXT NOT NULL,
	mid       INTEGER NOT NULL,
	name      TEXT NOT NULL,
	args      BLOB NOT NULL,
	time      INTEGER NOT NULL,
	actor     TEXT NOT NULL,
	PRIMARY KEY (namespace, key, seq)
) WITHOUT ROWID;

-- Full states at some seqs; they bound replay time and allow compaction.
CREATE TABLE snapshots (
	namespace TEXT NOT NULL,
	key       TEXT NOT NULL,
	seq       INTEGER NOT NULL,
	state     BLOB NOT NULL,
	PRIMARY KEY (namespace, key, seq)
) WITHOUT ROWID;

-- The last mutation id of each client processed on each key (applied or
-- refused): the dedup cursor. It moves in the same transaction as the event.
CREATE TABLE client_mids (
	namespace TEXT NOT NULL,
	key       TEXT NOT NULL,
	client    TEXT NOT NULL,
	mid       INTEGER NOT NULL,
	PRIMARY KEY (namespace, key, client)
) WITHOUT ROWID;

-- Refusals not yet acknowledged by their client.
CREATE TABLE rejections (
	namespace TEXT NOT NULL,
	key       TEXT NOT NULL,
	client    TEXT NOT NULL,
	mid       INTEGER NOT NULL,
	name      TEXT NOT NULL,
	code      TEXT NOT NULL,
	message   TEXT NOT NULL,
	PRIMARY KEY (namespace, key, client, mid)
) WITHOUT ROWID;
