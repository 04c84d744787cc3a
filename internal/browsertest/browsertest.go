// Package browsertest drives a real headless Chromium (Debian's chromium
// package) with chromedp for tests: a browser per test, with the pages'
// exceptions and console lines in failure messages, and small helpers to
// run actions, evaluate JavaScript, wait for a condition and save
// screenshots.
package browsertest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	cdpruntime "github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// Chromium returns the browser's path. Without one the test is skipped,
// unless BS_REQUIRE_BROWSER is set (CI sets it): there, a missing browser
// fails.
func Chromium(t testing.TB) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("BS_REQUIRE_BROWSER") != "" {
		t.Fatal("no chromium on PATH (Debian: apt-get install chromium), and BS_REQUIRE_BROWSER is set")
	}
	t.Skip("no chromium on PATH (Debian: apt-get install chromium); set BS_REQUIRE_BROWSER to make this a failure")
	return ""
}

// ShotsDir is where screenshots go: $BS_SCREENSHOTS, or a new temporary
// directory that outlives the test.
func ShotsDir(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("BS_SCREENSHOTS")
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "bs-screenshots-"); err != nil {
			t.Fatal(err)
		}
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots in %s", dir)
	return dir
}

// Browser is one headless Chromium; Tab is the page the helpers act on.
type Browser struct {
	t       testing.TB
	Tab     context.Context
	console *consoleLog
}

// Start starts a headless Chromium for the test and closes it when the
// test ends.
func Start(t testing.TB) *Browser {
	t.Helper()
	path := Chromium(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.Headless,
		chromedp.Flag("disable-gpu", true), chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(1280, 900))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	b := &Browser{t: t, console: &consoleLog{}}
	tab, cancelTab := chromedp.NewContext(actx, chromedp.WithListener(b.console.listen))
	t.Cleanup(func() { cancelTab(); cancelAlloc() })
	if err := chromedp.Do(tab); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	b.Tab = tab
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("browser console:\n%s", b.console)
		}
	})
	return b
}

// NewTab opens another tab of the same browser (its own page, sharing the
// browser's storage).
func (b *Browser) NewTab() *Browser {
	tab, cancel := chromedp.NewContext(b.Tab, chromedp.WithListener(b.console.listen))
	b.t.Cleanup(cancel)
	if err := chromedp.Do(tab); err != nil {
		b.t.Fatalf("opening a tab: %v", err)
	}
	return &Browser{t: b.t, Tab: tab, console: b.console}
}

type consoleLog struct {
	mu    sync.Mutex
	lines []string
}

func (c *consoleLog) listen(ev any) {
	var line string
	switch ev := ev.(type) {
	case *cdpruntime.EventExceptionThrown:
		d := ev.ExceptionDetails
		line = fmt.Sprintf("exception at %d:%d: %s", d.LineNumber+1, d.ColumnNumber+1, d.Text)
		if d.Exception != nil {
			line += " " + d.Exception.Description
		}
	case *cdpruntime.EventConsoleAPICalled:
		line = "console." + string(ev.Type) + ":"
		for _, a := range ev.Args {
			line += " " + string(a.Value) + a.Description
		}
	default:
		return
	}
	c.mu.Lock()
	c.lines = append(c.lines, line)
	c.mu.Unlock()
}

func (c *consoleLog) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return strings.Join(c.lines, "\n")
}

// Run runs actions with a time limit, and fails the test with the page's
// console and body if one fails.
func (b *Browser) Run(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.Tab, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.t.Fatalf("%s: %v\nconsole:\n%s\npage:\n%.4000s", what, err, b.console, b.HTML())
	}
}

// HTML returns the page's body, for failure messages.
func (b *Browser) HTML() string {
	ctx, cancel := context.WithTimeout(b.Tab, 5*time.Second)
	defer cancel()
	html, _ := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("body")))
	return html
}

// Eval evaluates a JavaScript expression (awaiting it if it is a promise).
func Eval[T any](b *Browser, expr string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.Tab, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("evaluating %s: %v\nconsole:\n%s", expr, err, b.console)
	}
	return v
}

// JS is an action that evaluates expr for its effect.
func JS(expr string) chromedp.Action[chromedp.Void] { return chromedp.Evaluate[chromedp.Void](expr) }

// WaitJS waits up to 20 s until the JavaScript expression is true.
func (b *Browser) WaitJS(what, expr string) {
	b.t.Helper()
	b.Run(what, chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(20*time.Second)))
}

// Texts returns the textContent of the elements sel matches.
func (b *Browser) Texts(sel string) []string {
	b.t.Helper()
	return Eval[[]string](b, fmt.Sprintf(`Array.from(document.querySelectorAll(%q), (el) => el.textContent)`, sel))
}

// Attrs returns the attribute attr of the elements sel matches.
func (b *Browser) Attrs(sel, attr string) []string {
	b.t.Helper()
	return Eval[[]string](b, fmt.Sprintf(`Array.from(document.querySelectorAll(%q), (el) => el.getAttribute(%q))`, sel, attr))
}

// Shot saves a screenshot of the page as dir/name.
func (b *Browser) Shot(dir, name string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.Tab, 30*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// BuildWebApp copies the named files of a web app's directory src into a
// temporary directory and builds the app's WebAssembly client (the main
// package wasmPkg) into its dist/NAME.wasm, with Go's wasm_exec.js beside
// it, as docs/GUIDE.md ("In the browser") says to. It returns the
// directory, ready for the server's --web.
func BuildWebApp(t testing.TB, src string, files []string, wasmPkg, name string) string {
	t.Helper()
	dir := t.TempDir()
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	dist := filepath.Join(dir, "dist")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", filepath.Join(dist, name+".wasm"), wasmPkg)
	cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the WebAssembly client: %v\n%s", err, out)
	}
	root, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		t.Fatal(err)
	}
	wasmExec, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(root)), "lib", "wasm", "wasm_exec.js"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dist, "wasm_exec.js"), wasmExec, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}
