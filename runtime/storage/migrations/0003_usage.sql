-- Better-State storage, version 3: the bytes each namespace stores (event
-- rows and snapshots, as usage.go counts them), kept in the transaction
-- that changes them, for the namespace quotas.
CREATE TABLE usage (
	namespace TEXT PRIMARY KEY,
	bytes     INTEGER NOT NULL
) WITHOUT ROWID;

INSERT INTO usage (namespace, bytes)
	SELECT namespace, SUM(b) FROM (
		SELECT namespace, length(args) + length(CAST(name AS BLOB)) + length(CAST(client AS BLOB)) + length(CAST(actor AS BLOB)) + 48 AS b FROM events
		UNION ALL
		SELECT namespace, length(state) + 48 FROM snapshots
	) GROUP BY namespace;
