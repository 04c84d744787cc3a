package storage

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// checkMigrations fails the test unless every embedded migration is
// recorded exactly once.
func checkMigrations(t *testing.T, s *SQLite) {
	t.Helper()
	names, err := fs.Glob(migrationFiles, "migrations/*.sql")
	if err != nil || len(names) == 0 {
		t.Fatalf("embedded migrations: %v %v", names, err)
	}
	var rows []struct {
		Version int `db:"version"`
		N       int `db:"n"`
	}
	if err := s.r.Select(&rows, `SELECT version, COUNT(*) AS n FROM migrations GROUP BY version ORDER BY version`); err != nil {
		t.Fatal(err)
	}
	if len(rows) != len(names) {
		t.Errorf("%d migrations recorded, %d embedded: %+v", len(rows), len(names), rows)
	}
	for i, r := range rows {
		if r.Version != i+1 || r.N != 1 {
			t.Errorf("migration row %d: version %d recorded %d times", i, r.Version, r.N)
		}
	}
}

// Opening a database that is up to date changes nothing: no migration runs
// twice (0003 would count the namespace's usage twice), the data and its
// usage are as they were, and the store works.
func TestReopenIsIdempotent(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "s.db")
	s := openStore(t, path, SQLiteOptions{})
	checkMigrations(t, s)
	createKey(t, s, "ns", "k")
	w := snapshotWrite("ns", "k", 1, 3, 0, 0)
	mustWrite(t, s, w)
	sum := w.UsageDelta
	if err := s.CreateKey(ctx, APIKey{ID: "id", Namespace: "ns", Hash: []byte{1}, Actor: "a", Role: "admin", CreatedAt: 1}); err != nil {
		t.Fatal(err)
	}
	// migrate again on the open store: a no-op.
	if err := migrate(s.w); err != nil {
		t.Fatalf("migrate on an up-to-date database: %v", err)
	}
	checkMigrations(t, s)

	for i := range 2 {
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		s = openStore(t, path, SQLiteOptions{})
		checkMigrations(t, s)
		if evs := allEvents(t, s, "ns", "k"); len(evs) != 3 {
			t.Errorf("reopen %d: %d events, want 3", i, len(evs))
		}
		if k, err := s.Key(ctx, "id"); err != nil || k.Role != "admin" {
			t.Errorf("reopen %d: api key %+v (%v)", i, k, err)
		}
		if ns, err := s.Namespaces(ctx); err != nil || len(ns) != 1 || ns[0] != "ns" {
			t.Errorf("reopen %d: namespaces %v (%v)", i, ns, err)
		}
		checkUsage(t, s, "ns", sum)
	}
	w = &Write{Namespace: "ns", Key: "k", Events: []Event{ev(4, "c", 4)}}
	mustWrite(t, s, w)
	checkUsage(t, s, "ns", sum+w.UsageDelta)
}

// An Exclusive store refuses a second Exclusive opener of its file, with an
// error that says why, and keeps working; a non-exclusive opener (a tool
// that manages keys) is let in; after Close the file can be opened again.
func TestExclusiveOpen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "s.db")
	first := openStore(t, path, SQLiteOptions{Exclusive: true})
	createKey(t, first, "ns", "k")

	second, err := OpenSQLite(path, SQLiteOptions{Exclusive: true})
	if err == nil {
		second.Close()
		t.Fatal("a second Exclusive open of the same file succeeded")
	}
	for _, want := range []string{"in use", path, "one server per database file"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	// The refused opener left the first store alone.
	mustWrite(t, first, &Write{Namespace: "ns", Key: "k", Events: []Event{ev(1, "c", 1)}})

	tool := openStore(t, path, SQLiteOptions{})
	if err := tool.CreateKey(ctx, APIKey{ID: "id", Namespace: "ns", Hash: []byte{1}, Actor: "a", Role: "admin", CreatedAt: 1}); err != nil {
		t.Errorf("a non-exclusive store next to an exclusive one: %v", err)
	}
	if err := tool.Close(); err != nil {
		t.Fatal(err)
	}

	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	again := openStore(t, path, SQLiteOptions{Exclusive: true})
	if evs := allEvents(t, again, "ns", "k"); len(evs) != 1 {
		t.Errorf("after reopening: %d events, want 1", len(evs))
	}
	if _, err := again.Key(ctx, "id"); err != nil {
		t.Errorf("the tool's key: %v", err)
	}
}

// An Exclusive open that fails after taking the lock releases it.
func TestExclusiveOpenFailureReleasesLock(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "s.db")
	// A directory where the database file should be: the lock is taken,
	// then SQLite cannot open the file.
	if err := os.Mkdir(path, 0o755); err != nil {
		t.Fatal(err)
	}
	if s, err := OpenSQLite(path, SQLiteOptions{Exclusive: true}); err == nil {
		s.Close()
		t.Fatal("opened a directory as a database")
	}
	if s, err := OpenSQLite(path, SQLiteOptions{Exclusive: true}); err == nil || strings.Contains(err.Error(), "in use") {
		if s != nil {
			s.Close()
		}
		t.Fatalf("second open of the directory: %v; want SQLite's error, not the lock's", err)
	}
}
