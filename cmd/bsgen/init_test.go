package main

import (
	"bytes"
	"os"
	"os/exec"
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

// TestInitAppsBuildAndPass scaffolds the blank app and each example into a
// temp dir pointing at this checkout, then runs go mod tidy, go generate,
// go vet and go test in it: the new app must be green as made.
func TestInitAppsBuildAndPass(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and tests three scaffolded apps")
	}
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	for _, example := range []string{"", "todos", "polls"} {
		name := example
		if name == "" {
			name = "blank"
		}
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "my"+name)
			args := []string{"--module", "example.com/my" + name, "--replace", repo, dir}
			if example != "" {
				args = append([]string{"--example", example}, args...)
			}
			var out, errb bytes.Buffer
			if code := initCmd(args, &out, &errb); code != 0 {
				t.Fatalf("init: %d %s", code, errb.String())
			}
			made, _ := filepath.Glob(filepath.Join(dir, "*_bs.go"))
			if len(made) != 1 {
				t.Fatalf("generated files: %v", made)
			}
			before, _ := os.ReadFile(made[0])
			for _, cmd := range [][]string{
				{"go", "mod", "tidy"},
				{"go", "generate", "./..."},
				{"go", "vet", "./..."},
				{"go", "test", "./..."},
			} {
				c := exec.Command(cmd[0], cmd[1:]...)
				c.Dir = dir
				c.Env = append(os.Environ(), "GOFLAGS=-mod=mod")
				if b, err := c.CombinedOutput(); err != nil {
					t.Fatalf("%s: %v\n%s", strings.Join(cmd, " "), err, b)
				}
			}
			// The scaffold's generated code is what go generate makes.
			after, _ := os.ReadFile(made[0])
			if !bytes.Equal(before, after) {
				t.Fatalf("go generate changed %s", made[0])
			}
		})
	}
}
