-- Better-State storage on PostgreSQL, version 1: the tables of the SQLite
-- store's migrations 1 to 4, with two differences. states.seq is the key's
-- head, moved by every Write; the move is how servers sharing the database
-- order their appends (a Write whose base is no longer the head is
-- refused). And a key's stored bytes are in its row (states.bytes), not in
-- one row per namespace that every server's every commit would wait for.
CREATE TABLE namespaces (
	name       TEXT PRIMARY KEY,
	created_at BIGINT NOT NULL
);

CREATE TABLE api_keys (
	id         TEXT PRIMARY KEY,
	namespace  TEXT NOT NULL REFERENCES namespaces(name),
	hash       BYTEA NOT NULL,
	actor      TEXT NOT NULL,
	role       TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	revoked_at BIGINT,
	grants     TEXT NOT NULL DEFAULT ''
);

CREATE TABLE states (
	namespace   TEXT NOT NULL,
	key         TEXT NOT NULL,
	type        TEXT NOT NULL,
	fingerprint TEXT NOT NULL,
	epoch       TEXT NOT NULL,
	seq         BIGINT NOT NULL,
	created_at  BIGINT NOT NULL,
	updated_at  BIGINT NOT NULL,
	bytes       BIGINT NOT NULL DEFAULT 0,
	PRIMARY KEY (namespace, key)
);

CREATE TABLE events (
	namespace TEXT NOT NULL,
	key       TEXT NOT NULL,
	seq       BIGINT NOT NULL,
	client    TEXT NOT NULL,
	mid       BIGINT NOT NULL,
	name      TEXT NOT NULL,
	args      BYTEA NOT NULL,
	time      BIGINT NOT NULL,
	actor     TEXT NOT NULL,
	PRIMARY KEY (namespace, key, seq)
);
CREATE INDEX events_client ON events (namespace, key, client, mid);

CREATE TABLE snapshots (
	namespace TEXT NOT NULL,
	key       TEXT NOT NULL,
	seq       BIGINT NOT NULL,
	state     BYTEA NOT NULL,
	PRIMARY KEY (namespace, key, seq)
);

CREATE TABLE client_mids (
	namespace TEXT NOT NULL,
	key       TEXT NOT NULL,
	client    TEXT NOT NULL,
	mid       BIGINT NOT NULL,
	PRIMARY KEY (namespace, key, client)
);

CREATE TABLE rejections (
	namespace TEXT NOT NULL,
	key       TEXT NOT NULL,
	client    TEXT NOT NULL,
	mid       BIGINT NOT NULL,
	name      TEXT NOT NULL,
	code      TEXT NOT NULL,
	message   TEXT NOT NULL,
	PRIMARY KEY (namespace, key, client, mid)
);

CREATE TABLE clients (
	namespace  TEXT NOT NULL,
	client     TEXT NOT NULL,
	actor      TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	PRIMARY KEY (namespace, client)
);
