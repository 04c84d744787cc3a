package inspector_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"go.uber.org/goleak"

	"github.com/better-state/better-state/internal/browsertest"
	"github.com/better-state/better-state/internal/fixtures"
	"github.com/better-state/better-state/internal/proctest"
)

const devKey = "bs-inspector-test-key"

type env struct {
	*browsertest.Browser
	t      testing.TB
	server string // the todos-server binary
	secret string // its --token-secret-file
	http   string
	ws     string
	cli    string
	cliDir string
}

// start builds todos-server and the todos CLI, writes a key "big" of
// 100,000 events into a new database, starts the server on it with
// --inspect, and opens a headless Chromium.
func start(t testing.TB) *env {
	server := proctest.Build(t, "github.com/better-state/better-state/examples/todos/cmd/todos-server")
	cli := proctest.Build(t, "github.com/better-state/better-state/examples/todos/cmd/todos")
	db := filepath.Join(t.TempDir(), "inspect.db")
	if err := fixtures.TodosLog(db, "big", 100000, time.Now().Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	secret := filepath.Join(t.TempDir(), "token.secret")
	if err := os.WriteFile(secret, []byte("the inspector tests' token secret, 32 bytes or more"), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := proctest.FreeAddr(t)
	proctest.Start(t, server, "--addr", addr, "--db", db, "--dev-key", devKey, "--inspect", "--log-level", "warn", "--token-secret-file", secret)
	e := &env{t: t, server: server, secret: secret, http: "http://" + addr, ws: "ws://" + addr + "/v1/ws", cli: cli, cliDir: t.TempDir()}
	proctest.WaitHealthy(t, e.http)

	e.Browser = browsertest.Start(t)
	return e
}

// todos runs the todos CLI on list.
func (e *env) todos(list string, args ...string) string {
	e.t.Helper()
	cmd := exec.Command(e.cli, append([]string{"--url", e.ws, "--key", devKey, "--list", list, "--dir", e.cliDir}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		e.t.Fatalf("todos %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// itemIDs reads the ids of list's items through REST.
func (e *env) itemIDs(list string) []string {
	e.t.Helper()
	req, _ := http.NewRequest("GET", e.http+"/v1/namespaces/default/states/"+list, nil)
	req.Header.Set("Authorization", "Bearer "+devKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		State struct {
			Items []struct {
				ID string `json:"id"`
			} `json:"items"`
		} `json:"state"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		e.t.Fatal(err)
	}
	var ids []string
	for _, it := range out.State.Items {
		ids = append(ids, it.ID)
	}
	return ids
}

// TestInspectorPage drives the page in a real Chromium against a real
// todos-server process: sign in, find a key, see a live event arrive,
// move to an older seq, click a field and see its blame, see who is on
// the key, at laptop and phone widths.
func TestInspectorPage(t *testing.T) {
	e := start(t)
	shots := browsertest.ShotsDir(t)
	for _, title := range []string{"milk", "eggs", "bread"} {
		e.todos("groceries", "add", title)
	}
	ids := e.itemIDs("groceries")
	e.todos("groceries", "rename", ids[0], "oat milk") // seq 4

	// Without --inspect there is no page; with it, the page comes with
	// headers that keep other sites' scripts out.
	resp, err := http.Get(e.http + "/inspect/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "script-src 'self'") {
		t.Fatalf("GET /inspect/: %d %v", resp.StatusCode, resp.Header)
	}

	// A wrong key is refused, on the page.
	e.Run("wrong key",
		chromedp.Navigate(e.http+"/inspect"),
		chromedp.WaitVisible(chromedp.ID("#cred")),
		chromedp.SendKeys(chromedp.ID("#cred"), "not-a-key"),
		chromedp.Click(chromedp.ID("#signin")))
	e.WaitJS("the refusal", `document.getElementById("login-error").textContent.includes("not valid")`)

	// Sign in, find the key by its prefix.
	e.Run("sign in",
		chromedp.SetValue(chromedp.ID("#cred"), devKey),
		chromedp.Click(chromedp.ID("#signin")),
		chromedp.WaitVisible(chromedp.ID("#app")),
		chromedp.WaitVisible(chromedp.CSS(`#keys li[data-key="big"]`)))
	if who := e.Texts("#who"); len(who) != 1 || !strings.Contains(who[0], "namespace default") {
		t.Fatalf("who: %v", who)
	}
	e.Run("search",
		chromedp.SendKeys(chromedp.ID("#prefix"), "groc"))
	e.WaitJS("the search", `document.getElementById("keys").dataset.prefix === "groc"`)
	if got := e.Attrs("#keys li", "data-key"); fmt.Sprint(got) != "[groceries]" {
		t.Fatalf("keys with prefix groc: %v", got)
	}
	e.Run("open the key",
		chromedp.Click(chromedp.CSS(`#keys li[data-key="groceries"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#timeline li[data-seq="4"]`)))
	if got := e.Attrs("#timeline li", "data-seq"); fmt.Sprint(got) != "[4 3 2 1]" {
		t.Fatalf("timeline seqs %v, want newest first", got)
	}
	if txt := e.Texts("#key-type"); txt[0] != "todos.List" {
		t.Fatalf("type %v", txt)
	}
	e.WaitJS("the state", `document.getElementById("state").textContent.includes("oat milk")`)

	// Someone else watches the list: the page shows them.
	watch := exec.Command(e.cli, "--url", e.ws, "--key", devKey, "--list", "groceries", "--dir", t.TempDir(), "--name", "bob", "watch")
	if err := watch.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { watch.Process.Kill(); watch.Wait() })
	e.WaitJS("bob's presence", `Array.from(document.querySelectorAll("#presence li")).some((li) => li.textContent.includes("bob"))`)

	// A live event arrives at the top of the timeline, with its diff, and
	// the state follows.
	e.todos("groceries", "add", "jam")
	e.Run("the live event", chromedp.WaitVisible(chromedp.CSS(`#timeline li[data-seq="5"]`)))
	if got := e.Attrs("#timeline li", "data-seq"); got[0] != "5" {
		t.Fatalf("the live event is not first: %v", got)
	}
	e.WaitJS("the live state", `document.getElementById("state").textContent.includes("jam") && document.getElementById("seq").textContent === "5"`)
	e.Run("its diff",
		chromedp.Click(chromedp.CSS(`#timeline li[data-seq="5"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#timeline li[data-seq="5"] .ops`)))
	if ops := e.Texts(`#timeline li[data-seq="5"] .ops li`); len(ops) != 1 || !strings.HasPrefix(ops[0], "add /items/") || !strings.Contains(ops[0], "jam") {
		t.Fatalf("diff of seq 5: %v", ops)
	}

	// Back in time: the state at seq 2, from the timeline.
	e.Run("seq 2",
		chromedp.Click(chromedp.CSS(`#timeline li[data-seq="2"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#state[data-seq="2"]`)))
	st := e.Texts("#state")[0]
	if !strings.Contains(st, `"milk"`) || !strings.Contains(st, "eggs") || strings.Contains(st, "bread") || strings.Contains(st, "oat milk") {
		t.Fatalf("state at seq 2: %s", st)
	}
	if ops := e.Texts(`#timeline li[data-seq="2"] .ops li`); len(ops) != 1 || !strings.HasPrefix(ops[0], "add /items/1") {
		t.Fatalf("diff of seq 2: %v", ops)
	}
	// ... and with the slider.
	e.Run("slider to 3", browsertest.JS(`(() => { const s = document.getElementById("slider"); s.value = "3"; s.dispatchEvent(new Event("change")); })()`),
		chromedp.WaitVisible(chromedp.CSS(`#state[data-seq="3"]`)))
	if st := e.Texts("#state")[0]; !strings.Contains(st, "bread") || strings.Contains(st, "oat milk") {
		t.Fatalf("state at seq 3: %s", st)
	}

	// Back to live, then a field's history: its blame.
	e.Run("follow live",
		chromedp.Click(chromedp.ID("#live")),
		chromedp.WaitVisible(chromedp.CSS(`#state[data-seq="5"]`)),
		chromedp.Click(chromedp.CSS(`#state [data-path="/items/0/title"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#blame li[data-seq="1"]`)))
	if got := e.Attrs("#blame li", "data-seq"); fmt.Sprint(got) != "[4 1]" {
		t.Fatalf("blame of /items/0/title: seqs %v", got)
	}
	b := e.Texts("#blame li")
	if !strings.Contains(b[0], `"milk" → "oat milk"`) || !strings.Contains(b[0], "Rename(") || !strings.Contains(b[1], `set to "milk"`) {
		t.Fatalf("blame of /items/0/title: %q", b)
	}
	if title := e.Texts("#blame-title")[0]; title != "History of /items/0/title" {
		t.Fatalf("blame title %q", title)
	}
	e.Run("scroll to the top", browsertest.JS(`window.scrollTo(0, 0)`))
	e.Shot(shots, "inspector-laptop.png")
	// A change in the blame takes the state there.
	e.Run("blame to seq 1",
		chromedp.Click(chromedp.CSS(`#blame li[data-seq="1"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#state[data-seq="1"]`)))

	// At a phone's width the panes stack and nothing scrolls sideways.
	e.Run("phone", chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile))
	e.WaitJS("stacked panes", `(() => {
		const a = document.getElementById("keys-pane").getBoundingClientRect();
		const b = document.getElementById("key-pane").getBoundingClientRect();
		return b.top >= a.bottom && document.documentElement.scrollWidth <= window.innerWidth;
	})()`)
	e.Shot(shots, "inspector-phone.png")
	e.Run("laptop", chromedp.EmulateViewport(1280, 900))

	// The credential is kept for the session: a reload needs no sign-in.
	e.Run("reload",
		chromedp.Reload(),
		chromedp.WaitVisible(chromedp.ID("#app")),
		chromedp.WaitVisible(chromedp.CSS(`#keys li[data-key="groceries"]`)))

	// A key of 100,000 events opens on its newest page.
	t0 := time.Now()
	e.Run("open big",
		chromedp.Click(chromedp.CSS(`#keys li[data-key="big"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#timeline li[data-seq="100000"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#state[data-seq="100000"]`)))
	t.Logf("a key of 100,000 events opened in %v (timeline and state)", time.Since(t0).Round(time.Millisecond))
	if n := len(e.Texts("#timeline li")); n != 50 {
		t.Fatalf("the first page of big has %d events, want 50", n)
	}
	if max := e.Attrs("#slider", "max"); max[0] != "100000" {
		t.Fatalf("slider max %v", max)
	}
	e.Run("older events",
		chromedp.Click(chromedp.ID("#timeline-more")),
		chromedp.WaitVisible(chromedp.CSS(`#timeline li[data-seq="99901"]`)))

	// Signing out forgets the credential.
	e.Run("sign out", chromedp.Click(chromedp.ID("#signout")), chromedp.WaitVisible(chromedp.ID("#login")), chromedp.Reload(), chromedp.WaitVisible(chromedp.ID("#cred")))
	if left := browsertest.Eval[string](e.Browser, `["keys", "state", "timeline", "blame", "who"].map((id) => document.getElementById(id).textContent).join("")`); left != "" {
		t.Fatalf("after sign-out the page still shows %q", left)
	}
	if id := browsertest.Eval[string](e.Browser, `sessionStorage.getItem("bs-inspect-client") || ""`); id != "" {
		t.Fatalf("after sign-out the client id %q is kept", id)
	}
	if !browsertest.Eval[bool](e.Browser, `document.getElementById("app").hidden`) {
		t.Fatal("the app is shown after sign-out and reload")
	}
}

// TestInspectorWithAToken: an end-user token that may read one key signs
// in; it may not list keys, and the page says so and opens its key by name;
// another key is refused.
func TestInspectorWithAToken(t *testing.T) {
	e := start(t)
	e.todos("shared", "add", "one")
	e.todos("private", "add", "two")
	mint := exec.Command(e.server, "tokens", "mint", "--token-secret-file", e.secret, "--actor", "reader", "--grant", "shared:r", "--ttl", "1h")
	token, err := mint.Output()
	if err != nil {
		t.Fatalf("tokens mint: %v", err)
	}
	e.Run("sign in",
		chromedp.Navigate(e.http+"/inspect/"),
		chromedp.WaitVisible(chromedp.ID("#cred")),
		chromedp.SendKeys(chromedp.ID("#cred"), strings.TrimSpace(string(token))),
		chromedp.Click(chromedp.ID("#signin")),
		chromedp.WaitVisible(chromedp.ID("#app")))
	e.WaitJS("the listing's refusal", `document.getElementById("keys-error").textContent.includes("may not list keys")`)
	if who := e.Texts("#who")[0]; !strings.Contains(who, "reader") {
		t.Fatalf("who: %q", who)
	}
	e.Run("open shared by name",
		chromedp.SendKeys(chromedp.ID("open-key-name"), "shared"),
		chromedp.Click(chromedp.CSS("#open-key button")),
		chromedp.WaitVisible(chromedp.CSS(`#timeline li[data-seq="1"]`)),
		chromedp.Click(chromedp.CSS(`#state [data-path="/items/0/title"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#blame li[data-seq="1"]`)))
	e.Run("open private by name",
		chromedp.SetValue(chromedp.ID("open-key-name"), "private"),
		chromedp.Click(chromedp.CSS("#open-key button")))
	e.WaitJS("the refusal", `document.getElementById("keys-error").textContent.startsWith("forbidden")`)
}

// BenchmarkInspectorOpen100k times opening a key of 100,000 events in the
// page, from the click in the key list to its newest page of events and
// its state on screen.
func BenchmarkInspectorOpen100k(b *testing.B) {
	e := start(b)
	e.todos("small", "add", "x")
	e.Run("sign in",
		chromedp.Navigate(e.http+"/inspect/"),
		chromedp.WaitVisible(chromedp.ID("cred")),
		chromedp.SendKeys(chromedp.ID("cred"), devKey),
		chromedp.Click(chromedp.ID("signin")),
		chromedp.WaitVisible(chromedp.CSS(`#keys li[data-key="big"]`)))
	for b.Loop() {
		e.Run("open small",
			chromedp.Click(chromedp.CSS(`#keys li[data-key="small"]`)),
			chromedp.WaitVisible(chromedp.CSS(`#state[data-seq="1"]`)))
		e.Run("open big",
			chromedp.Click(chromedp.CSS(`#keys li[data-key="big"]`)),
			chromedp.WaitVisible(chromedp.CSS(`#timeline li[data-seq="100000"]`)),
			chromedp.WaitVisible(chromedp.CSS(`#state[data-seq="100000"]`)))
	}
}

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
