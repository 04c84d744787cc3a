package storage

import (
	"context"
	"database/sql"
	"errors"
)

// What a namespace stores is counted in bytes: each event row as its args,
// name, client and actor plus 48 bytes, each snapshot as its state plus 48.
// The count moves in the same transaction as the rows (Write.UsageDelta
// reports by how much), so the server's namespace quotas start from it.

// EventBytes is what an event counts for in its namespace's usage.
func EventBytes(e *Event) int64 {
	return int64(len(e.Args)+len(e.Name)+len(e.Client)+len(e.Actor)) + 48
}

// SnapshotBytes is what a snapshot counts for.
func SnapshotBytes(state []byte) int64 { return int64(len(state)) + 48 }

const (
	sqlEventBytesBelow = `SELECT COALESCE(SUM(length(args) + length(CAST(name AS BLOB)) + length(CAST(client AS BLOB)) + length(CAST(actor AS BLOB)) + 48), 0) FROM events WHERE namespace = ? AND key = ? AND seq < ?`
	sqlSnapBytesBelow  = `SELECT COALESCE(SUM(length(state) + 48), 0) FROM snapshots WHERE namespace = ? AND key = ? AND seq < ?`
	sqlAddUsage        = `INSERT INTO usage (namespace, bytes) VALUES (?, ?) ON CONFLICT (namespace) DO UPDATE SET bytes = bytes + excluded.bytes`
)

// Usage is what a namespace stores.
type Usage struct {
	Bytes int64 // event rows and snapshots, as EventBytes and SnapshotBytes count them
	Keys  int64
}

// Usage implements Store.
func (s *SQLite) Usage(ctx context.Context, ns string) (Usage, error) {
	var u Usage
	err := s.r.GetContext(ctx, &u.Bytes, `SELECT bytes FROM usage WHERE namespace = ?`, ns)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return u, err
	}
	err = s.r.GetContext(ctx, &u.Keys, `SELECT COUNT(*) FROM states WHERE namespace = ?`, ns)
	return u, err
}

// bytesBelow returns the usage of the key's rows below seq that q selects.
func bytesBelow(tx *sql.Tx, q, ns, key string, seq uint64) (int64, error) {
	var n int64
	err := tx.QueryRow(q, ns, key, seq).Scan(&n)
	return n, err
}
