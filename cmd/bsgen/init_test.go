package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestInitRefusesNonEmptyDir(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "keep.txt"), []byte("x"), 0o644)
	var out, errb bytes.Buffer
	if code := initCmd([]string{dir}, &out, &errb); code != 1 || !strings.Contains(errb.String(), "is not empty (keep.txt)") {
		t.Fatalf("code %d, stderr %q", code, errb.String())
	}
	if code := initCmd([]string{"--example", "nope", t.TempDir()}, &out, &errb); code != 2 {
		t.Fatalf("unknown example: %d", code)
	}
}
