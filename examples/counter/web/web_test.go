package web_test

import (
	"encoding/json"
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
	"github.com/better-state/better-state/internal/proctest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestCounterPage: the blank app's page, built and served as the GUIDE
// says, counts in a real Chromium; the server holds what the page did,
// and a refusal by the reducer in the page is shown in it.
func TestCounterPage(t *testing.T) {
	const key = "bs-counter-web-key"
	web := browsertest.BuildWebApp(t, ".", []string{"index.html", "app.js", "counter.js"},
		"github.com/better-state/better-state/examples/counter/cmd/counter-wasm", "counter")
	server := proctest.Build(t, "github.com/better-state/better-state/examples/counter/cmd/counter-server")
	// The page signs in with an end-user token (in hello.auth: a page
	// cannot set headers), as a real app's page would.
	secret := filepath.Join(t.TempDir(), "token.secret")
	if err := os.WriteFile(secret, []byte("the counter page test's token secret, 32 bytes+"), 0o600); err != nil {
		t.Fatal(err)
	}
	tok, err := exec.Command(server, "tokens", "mint", "--token-secret-file", secret, "--actor", "ann", "--grant", "c1:rw", "--ttl", "1h").Output()
	if err != nil {
		t.Fatalf("tokens mint: %v", err)
	}
	addr := proctest.FreeAddr(t)
	proctest.Start(t, server, "--addr", addr, "--db", filepath.Join(t.TempDir(), "c.db"), "--dev-key", key, "--web", web, "--log-level", "warn", "--token-secret-file", secret)
	proctest.WaitHealthy(t, "http://"+addr)

	b := browsertest.Start(t)
	b.Run("open", chromedp.Navigate("http://"+addr+"/?token="+strings.TrimSpace(string(tok))+"&counter=c1"), chromedp.WaitVisible(chromedp.CSS(`body[data-ready="1"]`)))
	b.Run("count", chromedp.Click(chromedp.ID("plus")), chromedp.Click(chromedp.ID("plus")), chromedp.Click(chromedp.ID("plus")), chromedp.Click(chromedp.ID("minus")))
	b.WaitJS("2 on screen", `document.getElementById("n").textContent === "2"`)
	b.WaitJS("online", `document.getElementById("status").textContent === "online"`)

	// The server's counter, once the page's queue is sent.
	var n int64
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		req, _ := http.NewRequest("GET", "http://"+addr+"/v1/namespaces/default/states/c1", nil)
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var out struct {
			State struct {
				N       int64  `json:"n"`
				Changes int64  `json:"changes"`
				LastBy  string `json:"last_by"`
			} `json:"state"`
		}
		json.NewDecoder(resp.Body).Decode(&out)
		resp.Body.Close()
		if n = out.State.N; n == 2 && out.State.Changes == 4 {
			if out.State.LastBy != "ann" {
				t.Fatalf("last_by %q, want the token's actor ann", out.State.LastBy)
			}
			break
		}
	}
	if n != 2 {
		t.Fatalf("the server's counter is %d, want 2", n)
	}
	// Adding zero is refused by the reducer, in the page, at once.
	if code := browsertest.Eval[string](b, `window.counterApp.counter.add(0).then(() => "applied", (e) => e.code)`); code != "zero" {
		t.Fatalf("add(0): %q, want the reducer's refusal zero", code)
	}
}
