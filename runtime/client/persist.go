//go:build !js

package client

import (
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"

	"github.com/jmoiron/sqlx"

	"github.com/better-state/better-state/internal/flock"
	_ "github.com/mattn/go-sqlite3" // the embedded SQLite driver
)

// disk is the client's durable part: Dir/client.db, an SQLite file in WAL
// mode with synchronous=FULL, so a queued mutation is on disk before the
// action method returns.
type disk struct {
	db     *sqlx.DB
	unlock func()
}

const clientSchema = `
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS keys (
	key      TEXT PRIMARY KEY,
	type     TEXT NOT NULL,
	seq      INTEGER NOT NULL,
	epoch    TEXT NOT NULL,
	state    BLOB,
	next_mid INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS pending (
	key  TEXT NOT NULL,
	mid  INTEGER NOT NULL,
	name TEXT NOT NULL,
	args BLOB NOT NULL,
	time INTEGER NOT NULL,
	PRIMARY KEY (key, mid)
) WITHOUT ROWID;
`

func openDisk(dir, synchronous string) (persister, error) {
	if synchronous == "" {
		synchronous = "FULL"
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	// Two clients on one Dir would share a client id and a queue, and
	// each would take the other's acknowledgements for its own.
	unlock, err := flock.Lock(filepath.Join(dir, "lock"), "client directory "+dir)
	if err != nil {
		return nil, fmt.Errorf("client: %w: one client per Dir", err)
	}
	q := url.Values{}
	q.Set("_journal_mode", "WAL")
	q.Set("_synchronous", synchronous)
	q.Set("_busy_timeout", "10000")
	q.Set("_txlock", "immediate")
	db, err := sqlx.Open("sqlite3", "file:"+filepath.Join(dir, "client.db")+"?"+q.Encode())
	if err != nil {
		unlock()
		return nil, fmt.Errorf("client: open %s: %w", dir, err)
	}
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(clientSchema); err != nil {
		db.Close()
		unlock()
		return nil, fmt.Errorf("client: open %s: %w", dir, err)
	}
	return &disk{db: db, unlock: unlock}, nil
}

func (d *disk) meta(k string) (string, error) {
	var v string
	err := d.db.Get(&v, `SELECT v FROM meta WHERE k = ?`, k)
	if err == sql.ErrNoRows {
		return "", nil
	}
	return v, err
}

func (d *disk) setMeta(k, v string) error {
	_, err := d.db.Exec(`INSERT INTO meta (k, v) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v`, k, v)
	return err
}

func (d *disk) load(key string) (keyRow, []pendingRow, bool, error) {
	var k keyRow
	err := d.db.Get(&k, `SELECT * FROM keys WHERE key = ?`, key)
	if err == sql.ErrNoRows {
		return k, nil, false, nil
	}
	if err != nil {
		return k, nil, false, err
	}
	var p []pendingRow
	err = d.db.Select(&p, `SELECT mid, name, args, time FROM pending WHERE key = ? ORDER BY mid`, key)
	return k, p, true, err
}

// enqueue makes one mutation durable, with the key's mid counter.
func (d *disk) enqueue(key, typ string, p pendingRow) error {
	tx, err := d.db.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.Exec(`INSERT INTO keys (key, type, seq, epoch, next_mid) VALUES (?, ?, 0, '', ?) ON CONFLICT (key) DO UPDATE SET next_mid = excluded.next_mid`, key, typ, p.Mid); err != nil {
		return err
	}
	if _, err := tx.Exec(`INSERT INTO pending (key, mid, name, args, time) VALUES (?, ?, ?, ?, ?)`, key, p.Mid, p.Name, p.Args, p.Time); err != nil {
		return err
	}
	return tx.Commit()
}

// save stores the confirmed state and forgets the pending mutations the
// server has processed (mid <= resolved).
func (d *disk) save(k keyRow, resolved uint64) error {
	tx, err := d.db.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.Exec(`INSERT INTO keys (key, type, seq, epoch, state, next_mid) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (key) DO UPDATE SET seq = excluded.seq, epoch = excluded.epoch, state = excluded.state, next_mid = max(keys.next_mid, excluded.next_mid)`,
		k.Key, k.Type, k.Seq, k.Epoch, k.State, k.NextMid); err != nil {
		return err
	}
	if _, err := tx.Exec(`DELETE FROM pending WHERE key = ? AND mid <= ?`, k.Key, resolved); err != nil {
		return err
	}
	return tx.Commit()
}

// forget deletes one pending mutation (a refused one).
func (d *disk) forget(key string, mid uint64) error {
	_, err := d.db.Exec(`DELETE FROM pending WHERE key = ? AND mid = ?`, key, mid)
	return err
}

// renumber replaces the key's queue with pend (the same mutations under new
// mids) and sets its mid counter to nextMid, which may be lower than before.
func (d *disk) renumber(key, typ string, pend []pendingRow, nextMid uint64) error {
	tx, err := d.db.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.Exec(`DELETE FROM pending WHERE key = ?`, key); err != nil {
		return err
	}
	for _, p := range pend {
		if _, err := tx.Exec(`INSERT INTO pending (key, mid, name, args, time) VALUES (?, ?, ?, ?, ?)`, key, p.Mid, p.Name, p.Args, p.Time); err != nil {
			return err
		}
	}
	if _, err := tx.Exec(`INSERT INTO keys (key, type, seq, epoch, next_mid) VALUES (?, ?, 0, '', ?) ON CONFLICT (key) DO UPDATE SET next_mid = excluded.next_mid`, key, typ, nextMid); err != nil {
		return err
	}
	return tx.Commit()
}

func (d *disk) close() error {
	err := d.db.Close()
	d.unlock()
	return err
}
