package gen_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestWebAPIParsesAndTypeChecks: the typed JavaScript API of the web case
// (names that need care) parses as JavaScript, and its declarations
// type-check with tsc --strict beside better-state.d.ts.
func TestWebAPIParsesAndTypeChecks(t *testing.T) {
	node, err := exec.LookPath("node")
	tsc, _ := filepath.Abs(filepath.Join("..", "..", "clients", "js", "node_modules", "typescript", "bin", "tsc"))
	if _, serr := os.Stat(tsc); err != nil || serr != nil {
		if os.Getenv("BS_REQUIRE_NODE") != "" {
			t.Fatal("node and clients/js/node_modules/typescript are needed (npm ci in clients/js; BS_REQUIRE_NODE is set)")
		}
		t.Skip("no node or no TypeScript in clients/js/node_modules")
	}
	want := filepath.Join("testdata", "web", "want", "web")
	if out, err := exec.Command(node, "--check", filepath.Join(want, "tricky.js")).CombinedOutput(); err != nil {
		t.Fatalf("node --check tricky.js: %v\n%s", err, out)
	}
	dir := t.TempDir()
	for src, dst := range map[string]string{filepath.Join(want, "tricky.d.ts"): "tricky.d.ts", filepath.Join("..", "..", "clients", "browser", "better-state.d.ts"): "better-state.d.ts"} {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, dst), b, 0o644)
	}
	use := []byte(`import { openBox, type Box } from "./tricky.js";
export async function f(c: any): Promise<void> {
  const b = await openBox(c, "k");
  const box: Box = b.get();
  const n: string = box.count;
  const m: number | undefined = box.made;
  await b.getAction("x");
  await b.put(1, false);
  console.log(n, m, box.owner.name);
}
`)
	os.WriteFile(filepath.Join(dir, "use.ts"), use, 0o644)
	cmd := exec.Command(node, tsc, "--noEmit", "--strict", "--target", "es2022", "--module", "es2022", "--moduleResolution", "bundler", "--lib", "es2022,dom", "use.ts")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("tsc: %v\n%s", err, out)
	}
}
