package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"go.uber.org/goleak"

	"github.com/better-state/better-state/internal/browsertest"
	"github.com/better-state/better-state/internal/proctest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const devKey = "bs-web-test-key"

type app struct {
	t      testing.TB
	http   string
	ws     string
	cli    string
	cliDir string
	page   string // the page's URL
}

// buildWeb builds the page with its WebAssembly client.
func buildWeb(t testing.TB) string {
	return browsertest.BuildWebApp(t, ".", []string{"index.html", "app.js", "app.css", "sw.js", "todos.js"},
		"github.com/better-state/better-state/examples/todos/cmd/todos-wasm", "todos")
}

// start serves the page from a todos-server process (--web) and returns
// it with the todos CLI.
func start(t testing.TB, list string) *app {
	web := buildWeb(t)
	server := proctest.Build(t, "github.com/better-state/better-state/examples/todos/cmd/todos-server")
	cli := proctest.Build(t, "github.com/better-state/better-state/examples/todos/cmd/todos")
	addr := proctest.FreeAddr(t)
	proctest.Start(t, server, "--addr", addr, "--db", filepath.Join(t.TempDir(), "web.db"), "--dev-key", devKey, "--web", web, "--log-level", "warn")
	a := &app{t: t, http: "http://" + addr, ws: "ws://" + addr + "/v1/ws", cli: cli, cliDir: t.TempDir()}
	a.page = fmt.Sprintf("%s/?key=%s&list=%s", a.http, devKey, list)
	proctest.WaitHealthy(t, a.http)
	return a
}

func (a *app) todos(list string, args ...string) string {
	a.t.Helper()
	out, err := exec.Command(a.cli, append([]string{"--url", a.ws, "--key", devKey, "--list", list, "--dir", a.cliDir}, args...)...).CombinedOutput()
	if err != nil {
		a.t.Fatalf("todos %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// titles reads the list's titles through REST, in order.
func (a *app) titles(list string) []string {
	a.t.Helper()
	req, _ := http.NewRequest("GET", a.http+"/v1/namespaces/default/states/"+list, nil)
	req.Header.Set("Authorization", "Bearer "+devKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		State struct {
			Items []struct {
				Title string `json:"title"`
			} `json:"items"`
		} `json:"state"`
	}
	json.NewDecoder(resp.Body).Decode(&out)
	var ts []string
	for _, it := range out.State.Items {
		ts = append(ts, it.Title)
	}
	return ts
}

// emulateNetworkConditions is the DevTools command that takes a page
// offline (Chromium still takes it; its newer ByRule form refused these
// parameters here).
var emulateNetworkConditions = cdp.Command[emulateParams, cdp.Empty]{Method: "Network.emulateNetworkConditions"}

type emulateParams struct {
	Offline            bool    `json:"offline"`
	Latency            float64 `json:"latency"`
	DownloadThroughput float64 `json:"downloadThroughput"`
	UploadThroughput   float64 `json:"uploadThroughput"`
}

// offline cuts (or restores) a page's network.
func offline(on bool) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		if _, err := cdp.Call(ctx, t, network.Enable, network.EnableParams{}); err != nil {
			return fmt.Errorf("Network.enable: %w", err)
		}
		if _, err := cdp.Call(ctx, t, emulateNetworkConditions, emulateParams{Offline: on, DownloadThroughput: -1, UploadThroughput: -1}); err != nil {
			return fmt.Errorf("Network.emulateNetworkConditions: %w", err)
		}
		var err error
		_, err = cdp.Call(ctx, t, network.OverrideNetworkState, network.OverrideNetworkStateParams{Offline: on, DownloadThroughput: -1, UploadThroughput: -1})
		return err
	})
}

// pageTitles are the titles a page shows.
func pageTitles(b *browsertest.Browser) []string { return b.Texts("#items li span") }

// add adds a todo through the page's form.
func add(b *browsertest.Browser, title string) {
	b.Run("add "+title,
		chromedp.SetValue(chromedp.ID("title"), title),
		chromedp.Click(chromedp.CSS("#add button")))
}

func hasTitle(title string) string {
	return fmt.Sprintf(`Array.from(document.querySelectorAll("#items li span")).some((s) => s.textContent === %q)`, title)
}

// TestTwoPagesOfflineAndTheCLI drives the todos page in two tabs of a real
// Chromium against a todos-server process: the tabs converge; one goes
// offline, adds items, is reloaded offline and still shows them, comes
// back, and both tabs converge with each item once; a refusal is shown in
// the page that made the action; the Go CLI and the page see each other's
// changes.
func TestTwoPagesOfflineAndTheCLI(t *testing.T) {
	a := start(t, "shared")
	b1 := browsertest.Start(t)
	b2 := b1.NewTab()
	for _, b := range []*browsertest.Browser{b1, b2} {
		b.Run("open the page", chromedp.Navigate(a.page), chromedp.WaitVisible(chromedp.CSS(`body[data-ready="1"]`)))
		b.WaitJS("online", `document.getElementById("status").textContent === "online"`)
	}
	id1 := browsertest.Eval[string](b1, `window.todos.client.id`)
	id2 := browsertest.Eval[string](b2, `window.todos.client.id`)
	if id1 == "" || id1 == id2 {
		t.Fatalf("the tabs' client ids: %q and %q: each tab is its own client", id1, id2)
	}
	t.Logf("first render: %.0f ms", browsertest.Eval[float64](b1, `window.todosFirstRenderMs`))

	// Two pages converge.
	add(b1, "milk")
	b2.WaitJS("milk in tab 2", hasTitle("milk"))
	add(b2, "eggs")
	b1.WaitJS("eggs in tab 1", hasTitle("eggs"))

	// The Go CLI sees the page's change, and the page the CLI's.
	if out := a.todos("shared", "list"); !strings.Contains(out, "milk") || !strings.Contains(out, "eggs") {
		t.Fatalf("todos list: %s", out)
	}
	a.todos("shared", "add", "from-cli")
	b1.WaitJS("the CLI's item in tab 1", hasTitle("from-cli"))

	// A refusal made in the page is shown in it.
	b1.Run("an empty title", chromedp.SetValue(chromedp.ID("title"), "   "), chromedp.Click(chromedp.CSS("#add button")))
	b1.WaitJS("the refusal", `document.getElementById("error").textContent.startsWith("empty_title")`)

	// Tab 1 saves its newest state (as it does when hidden, and every
	// 200 ms), goes offline, and is reloaded so that no connection is
	// left.
	browsertest.Eval[bool](b1, `window.todos.client.flush().then(() => true)`)
	b1.Run("offline", offline(true), chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS(`body[data-ready="1"]`)))
	b1.WaitJS("offline", `document.getElementById("status").textContent !== "online"`)
	add(b1, "offline-1")
	add(b1, "offline-2")
	b1.WaitJS("both offline items", hasTitle("offline-1")+" && "+hasTitle("offline-2"))
	// Toggle an item the CLI removes meanwhile: the server refuses it.
	b1.Run("toggle eggs", chromedp.Click(chromedp.CSS(`#items li:nth-child(2) input`)))
	if got := pageTitles(b1); len(got) < 2 || got[1] != "eggs" {
		t.Fatalf("the second item is %v", got)
	}
	ids := browsertest.Eval[[]string](b2, `Array.from(document.querySelectorAll("#items li")).map((li) => li.dataset.id)`)
	a.todos("shared", "rm", ids[1])
	b1.WaitJS("three pending", `document.getElementById("meta").dataset.pending === "3"`)

	// Reloaded while offline: the page (from its service worker) shows
	// its queued items (from IndexedDB).
	b1.Run("reload offline", chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS(`body[data-ready="1"]`)))
	b1.WaitJS("the offline items after a reload", hasTitle("offline-1")+" && "+hasTitle("offline-2")+` && document.getElementById("meta").dataset.pending === "3"`)
	if b2Has := browsertest.Eval[bool](b2, hasTitle("offline-1")); b2Has {
		t.Fatal("tab 2 shows an item tab 1 made offline")
	}
	if got := a.titles("shared"); strings.Contains(fmt.Sprint(got), "offline") {
		t.Fatalf("the server has the offline items while tab 1 is offline: %v", got)
	}

	// Back online: the queue goes out, the refused toggle is reported in
	// tab 1, and both tabs converge with each item once.
	b1.Run("online", offline(false))
	b1.WaitJS("sent", `document.getElementById("meta").dataset.pending === "0"`)
	b1.WaitJS("the refusal of the toggle", `document.getElementById("error").textContent.includes("no_such_item")`)
	b2.WaitJS("the offline items in tab 2", hasTitle("offline-1")+" && "+hasTitle("offline-2"))
	want := a.titles("shared")
	if fmt.Sprint(want) != "[milk from-cli offline-1 offline-2]" {
		t.Fatalf("the server's list: %v", want)
	}
	for i, b := range []*browsertest.Browser{b1, b2} {
		b.WaitJS("converged", fmt.Sprintf(`JSON.stringify(Array.from(document.querySelectorAll("#items li span"), (s) => s.textContent)) === %q`, mustJSON(want)))
		if got := pageTitles(b); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("tab %d shows %v, the server %v", i+1, got, want)
		}
	}
	if out := a.todos("shared", "list"); strings.Count(out, "offline-1") != 1 {
		t.Fatalf("todos list after the offline items: %s", out)
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestDeclarationsTypeCheck runs the TypeScript compiler (typescript,
// pinned in clients/js/package.json) over typecheck.ts with the generated
// todos.d.ts and better-state.d.ts: the declarations compile, and the
// mistakes marked @ts-expect-error are errors.
func TestDeclarationsTypeCheck(t *testing.T) {
	tsc, err := filepath.Abs(filepath.Join("..", "..", "..", "clients", "js", "node_modules", "typescript", "bin", "tsc"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(tsc); err != nil {
		if os.Getenv("BS_REQUIRE_NODE") != "" {
			t.Fatalf("no TypeScript compiler at %s: run npm ci in clients/js (BS_REQUIRE_NODE is set)", tsc)
		}
		t.Skipf("no TypeScript compiler at %s: run npm ci in clients/js", tsc)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("no node")
	}
	dir := t.TempDir()
	for src, dst := range map[string]string{"todos.d.ts": "todos.d.ts", "typecheck.ts": "typecheck.ts", "../../../clients/browser/better-state.d.ts": "better-state.d.ts"} {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, dst), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(node, tsc, "--noEmit", "--strict", "--target", "es2022", "--module", "es2022", "--moduleResolution", "bundler", "--lib", "es2022,dom", "typecheck.ts")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("tsc: %v\n%s", err, out)
	}
	// And a mistake that is not marked fails: the check can fail.
	bad := []byte("import { openList } from \"./todos.js\";\nexport async function f(c: any) { const l = await openList(c, \"k\"); await l.add(1); }\n")
	if err := os.WriteFile(filepath.Join(dir, "bad.ts"), bad, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd = exec.Command(node, tsc, "--noEmit", "--strict", "--target", "es2022", "--module", "es2022", "--moduleResolution", "bundler", "bad.ts")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "not assignable") {
		t.Fatalf("tsc accepted add(1): %v\n%s", err, out)
	}
}

// BenchmarkPage measures the page in headless Chromium against a
// todos-server process: the time from the script's start to the first
// render (loading and compiling the .wasm, connecting, opening the list),
// and one optimistic action: store.add, from the call until its promise
// resolves (the Go reducer in the page, the view, and the IndexedDB
// transaction that makes it durable), over 50 actions.
func BenchmarkPage(b *testing.B) {
	a := start(b, "bench")
	br := browsertest.Start(b)
	var render, act float64
	for b.Loop() {
		br.Run("open the page", chromedp.Navigate(a.page), chromedp.WaitVisible(chromedp.CSS(`body[data-ready="1"]`)))
		render += browsertest.Eval[float64](br, `window.todosFirstRenderMs`)
		act += browsertest.Eval[float64](br, `(async () => {
			const s = window.todos.store, ts = [];
			for (let i = 0; i < 50; i++) {
				const t0 = performance.now();
				await s.add("bench " + i);
				ts.push(performance.now() - t0);
			}
			ts.sort((x, y) => x - y);
			return ts[25];
		})()`)
	}
	b.ReportMetric(render/float64(b.N), "first-render-ms")
	b.ReportMetric(act/float64(b.N), "action-p50-ms")
	info, err := os.Stat(filepath.Join(buildWeb(b), "dist", "todos.wasm"))
	if err == nil {
		b.ReportMetric(float64(info.Size())/(1<<20), "wasm-MiB")
	}
}
