#!/usr/bin/env bash
# Runs each fuzz target briefly (FUZZTIME, default 5s). The seed corpora run
# in every plain `go test` as well.
set -euo pipefail
cd "$(dirname "$0")/.."
t=${FUZZTIME:-5s}
# On a loaded 2-core machine the fuzz engine sometimes ends a run with
# "context deadline exceeded" although no input failed. Such a run is tried
# once more; a real failure writes its input to testdata/fuzz, where the
# second run meets it again and fails as well.
fuzz() { go test "$@" || go test "$@"; }
fuzz -run '^$' -fuzz '^FuzzDecode$' -fuzztime "$t" ./runtime/protocol
fuzz -run '^$' -fuzz '^FuzzFastPaths$' -fuzztime "$t" ./runtime/protocol
fuzz -run '^$' -fuzz '^FuzzDispatch$' -fuzztime "$t" ./examples/todos
fuzz -run '^$' -fuzz '^FuzzDispatch$' -fuzztime "$t" ./examples/polls
fuzz -run '^$' -fuzz '^FuzzGeneratedDecoders$' -fuzztime "$t" ./runtime/contract
fuzz -run '^$' -fuzz '^FuzzRESTMutation$' -fuzztime "$t" -parallel 1 ./runtime/server
fuzz -run '^$' -fuzz '^FuzzServerFrames$' -fuzztime "$t" ./runtime/client
