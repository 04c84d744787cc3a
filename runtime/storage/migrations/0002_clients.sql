-- Better-State storage, version 2: client ids belong to the actor that
-- first used them in a namespace. Dedup cursors and stored refusals are
-- kept per client id, so a client id may not be used by another actor.
CREATE TABLE clients (
	namespace  TEXT NOT NULL,
	client     TEXT NOT NULL,
	actor      TEXT NOT NULL,
	created_at INTEGER NOT NULL,
	PRIMARY KEY (namespace, client)
) WITHOUT ROWID;

-- Client ids already in the log belong to the actor of their first event.
INSERT OR IGNORE INTO clients (namespace, client, actor, created_at)
	SELECT namespace, client, actor, MIN(time) FROM events WHERE client <> '' GROUP BY namespace, client;
