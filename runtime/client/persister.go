package client

// persister is the client's durable part: its id, the queue of each key
// (pending mutations, durable before the action returns) and the last
// confirmed state. On native builds it is Dir/client.db (SQLite,
// persist.go); in the browser, IndexedDB (persist_js.go).
type persister interface {
	meta(k string) (string, error)
	setMeta(k, v string) error
	// load returns the key's row and its queue in mid order (false: no
	// row).
	load(key string) (keyRow, []pendingRow, bool, error)
	// enqueue makes one mutation durable, with the key's mid counter.
	enqueue(key, typ string, p pendingRow) error
	// save stores the confirmed state and forgets the pending mutations
	// the server has processed (mid <= resolved).
	save(k keyRow, resolved uint64) error
	// forget deletes one pending mutation (a refused one).
	forget(key string, mid uint64) error
	// renumber replaces the key's queue with pend (the same mutations
	// under new mids) and sets its mid counter to nextMid.
	renumber(key, typ string, pend []pendingRow, nextMid uint64) error
	close() error
}

type keyRow struct {
	Key     string `db:"key"`
	Type    string `db:"type"`
	Seq     uint64 `db:"seq"`
	Epoch   string `db:"epoch"`
	State   []byte `db:"state"`
	NextMid uint64 `db:"next_mid"`
}

type pendingRow struct {
	Mid  uint64 `db:"mid"`
	Name string `db:"name"`
	Args []byte `db:"args"`
	Time int64  `db:"time"`
}
