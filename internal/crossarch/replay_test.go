package crossarch_test

import (
	"bufio"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/better-state/better-state/examples/counter"
	"github.com/better-state/better-state/examples/polls"
	"github.com/better-state/better-state/examples/todos"
	"github.com/better-state/better-state/internal/crossarch/floaty"
	"github.com/better-state/better-state/internal/crossarch/fused"
	"github.com/better-state/better-state/runtime/contract"
	"github.com/better-state/better-state/runtime/protocol"
	"github.com/better-state/better-state/schema"
)

const events = 3000

// gen makes the next mutation of a log from the current state.
type gen func(r *rand.Rand, state any) (action string, args any)

func pickID(r *rand.Rand, l *todos.List) string {
	if len(l.Items) == 0 || r.IntN(10) == 0 {
		return "missing"
	}
	return l.Items[r.IntN(len(l.Items))].ID
}

var logs = []struct {
	typ *contract.Type
	gen gen
}{
	{todos.ListType, func(r *rand.Rand, s any) (string, any) {
		l := s.(*todos.List)
		switch r.IntN(6) {
		case 0, 1:
			return "Add", todos.ListAddArgs{Title: fmt.Sprint("item ", r.IntN(1000))}
		case 2:
			return "Toggle", todos.ListToggleArgs{ID: pickID(r, l)}
		case 3:
			return "Rename", todos.ListRenameArgs{ID: pickID(r, l), Title: fmt.Sprint("renamed ", r.IntN(1000))}
		case 4:
			return "Remove", todos.ListRemoveArgs{ID: pickID(r, l)}
		}
		return "ClearDone", todos.ListClearDoneArgs{}
	}},
	{polls.PollType, func(r *rand.Rand, s any) (string, any) {
		switch r.IntN(10) {
		case 0:
			return "Setup", polls.PollSetupArgs{Question: "q", Options: []string{"a", "b", "c"}}
		case 1:
			return "Close", polls.PollCloseArgs{}
		}
		return "Vote", polls.PollVoteArgs{Option: r.Int64N(4) - 1}
	}},
	{counter.CounterType, func(r *rand.Rand, s any) (string, any) {
		if r.IntN(20) == 0 {
			return "Reset", counter.CounterResetArgs{}
		}
		return "Add", counter.CounterAddArgs{N: r.Int64N(1<<40) - 1<<39}
	}},
	{floaty.BodyType, func(r *rand.Rand, s any) (string, any) {
		switch r.IntN(4) {
		case 0:
			return "Step", floaty.BodyStepArgs{A: float64(r.Float64()*20) - 10, Dt: r.Float64() / 30}
		case 1:
			return "Sample", floaty.BodySampleArgs{X: float64(r.NormFloat64() * 1e3)}
		case 2:
			c := make([]float64, 1+r.IntN(6))
			for i := range c {
				c[i] = float64(r.Float64()*2) - 1
			}
			return "Horner", floaty.BodyHornerArgs{C: c, X: float64(r.Float64()*4) - 2}
		}
		return "Wave", floaty.BodyWaveArgs{T: float64(r.Float64()*200) - 100}
	}},
}

// The generators round their products explicitly too: the arguments must
// be the same on every architecture, or the test would compare different
// logs.

// hashes replays each log and returns one line per type: its name and the
// hash of its final state and of every refusal code on the way; then the
// fused control's lines.
func hashes() []string {
	var out []string
	for _, l := range logs {
		r := rand.New(rand.NewPCG(21, uint64(len(l.typ.Name))))
		state := l.typ.New()
		var refusals strings.Builder
		chain := sha256.New()
		for seq := uint64(1); seq <= events; seq++ {
			name, args := l.gen(r, state)
			b, err := json.Marshal(args)
			if err != nil {
				panic(err)
			}
			ctx := schema.NewContext(schema.Meta{Key: "k", Client: fmt.Sprint("c", seq%3), Mid: seq, Actor: fmt.Sprint("a", seq%5), Time: time.UnixMilli(int64(seq) * 1000).UTC(), Epoch: "e", Seq: seq})
			next := l.typ.Clone(state)
			if err := l.typ.Apply(next, ctx, name, b); err != nil {
				refusals.WriteString(contract.ErrCode(err) + ";")
				continue
			}
			state = next
			// Every state on the way is hashed, as a client checks the
			// server's hash now and then: a difference that a later
			// event would round away still counts.
			enc, err := l.typ.Encode(state)
			if err != nil {
				panic(err)
			}
			chain.Write(enc)
		}
		out = append(out, fmt.Sprintf("schema %s %x %s", l.typ.Name, chain.Sum(nil)[:8], protocol.StateHash([]byte(refusals.String()))))
	}
	// The control: floaty's arithmetic without rounding.
	// Every result is hashed, not summed: a sum would round the last-bit
	// differences away.
	r := rand.New(rand.NewPCG(21, 1))
	var pos, vel float64
	var step, horner uint64
	for range events {
		pos, vel = fused.Step(pos, vel, float64(r.Float64()*20)-10, r.Float64()/30)
		step = step*31 + math.Float64bits(pos) ^ math.Float64bits(vel)
		c := []float64{r.Float64(), r.Float64(), r.Float64(), r.Float64()}
		horner = horner*31 + math.Float64bits(fused.Horner(c, float64(r.Float64()*4)-2))
	}
	return append(out, fmt.Sprintf("fused step %x", step), fmt.Sprintf("fused horner %x", horner))
}

// TestReplayHashes computes the hashes on this machine; with
// BS_CROSSARCH_OUT set it writes them there (the driver below runs it so on
// other architectures).
func TestReplayHashes(t *testing.T) {
	lines := hashes()
	if len(lines) != len(logs)+2 {
		t.Fatalf("%d lines", len(lines))
	}
	if out := os.Getenv("BS_CROSSARCH_OUT"); out != "" {
		if err := os.WriteFile(out, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestCrossArchitecture builds this package's test binary for arm64 and
// 386, runs each under qemu-user, and compares their hashes with amd64's.
// The schemas' must be equal; the fused control's must differ on arm64,
// which shows that the replay catches an unrounded product.
func TestCrossArchitecture(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the test binary for two other architectures")
	}
	if runtime.GOARCH != "amd64" {
		t.Skip("the driver runs on amd64")
	}
	native := hashes()
	for _, arch := range []string{"arm64", "386"} {
		t.Run(arch, func(t *testing.T) {
			qemu := map[string]string{"arm64": "qemu-aarch64-static", "386": "qemu-i386-static"}[arch]
			if _, err := exec.LookPath(qemu); err != nil {
				if os.Getenv("BS_REQUIRE_QEMU") != "" {
					t.Fatalf("%s is not installed (Debian: apt-get install qemu-user-static)", qemu)
				}
				t.Skipf("%s is not installed (Debian: apt-get install qemu-user-static)", qemu)
			}
			dir := t.TempDir()
			bin := filepath.Join(dir, "crossarch."+arch)
			build := exec.Command("go", "test", "-c", "-o", bin, ".")
			// CGO_ENABLED=0 makes a static binary for qemu-user; a GOFLAGS
			// of the caller's such as -race (which needs cgo) must not
			// reach this one cross build.
			build.Env = append(os.Environ(), "GOARCH="+arch, "CGO_ENABLED=0", "GOFLAGS=")
			if out, err := build.CombinedOutput(); err != nil {
				t.Fatalf("go test -c for %s: %v\n%s", arch, err, out)
			}
			out := filepath.Join(dir, "hashes")
			run := exec.Command(qemu, bin, "-test.run", "^TestReplayHashes$")
			// Go's asynchronous preemption signals confuse qemu-i386.
			run.Env = append(os.Environ(), "BS_CROSSARCH_OUT="+out, "GODEBUG=asyncpreemptoff=1")
			if b, err := run.CombinedOutput(); err != nil {
				t.Fatalf("the %s binary: %v\n%s", arch, err, b)
			}
			got := readLines(t, out)
			if len(got) != len(native) {
				t.Fatalf("%s wrote %d lines, amd64 %d", arch, len(got), len(native))
			}
			fusedDiffers := false
			for i := range native {
				switch {
				case strings.HasPrefix(native[i], "schema "):
					if got[i] != native[i] {
						t.Errorf("%s replays differently:\n  amd64: %s\n  %s: %s", arch, native[i], arch, got[i])
					}
				case got[i] != native[i]:
					fusedDiffers = true
					t.Logf("the unrounded control differs, as expected on %s:\n  amd64: %s\n  %s: %s", arch, native[i], arch, got[i])
				}
			}
			if arch == "arm64" && !fusedDiffers {
				t.Error("the fused control computed the same on arm64 as on amd64: the replay would not catch an unrounded product")
			}
		})
	}
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []string
	for sc := bufio.NewScanner(f); sc.Scan(); {
		lines = append(lines, sc.Text())
	}
	return lines
}
