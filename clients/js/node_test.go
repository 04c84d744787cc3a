// Package jsclient_test runs the JavaScript client's tests (node --test) as part
// of go test ./..., so that the vectors they share with the Go runtime are
// checked on both sides in one command.
package jsclient_test

import (
	"os"
	"os/exec"
	"testing"
)

func TestNode(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		if os.Getenv("BS_REQUIRE_NODE") != "" {
			t.Fatal("node is not installed (Debian: apt-get install nodejs)")
		}
		t.Skip("node is not installed (Debian: apt-get install nodejs)")
	}
	out, err := exec.Command(node, "--test").CombinedOutput()
	if err != nil {
		t.Fatalf("node --test: %v\n%s", err, out)
	}
	t.Logf("%s", out)
}
