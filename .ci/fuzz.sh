#!/usr/bin/env bash
# Runs each fuzz target briefly (FUZZTIME, default 5s). The seed corpora run
# in every plain `go test` as well.
set -euo pipefail
cd "$(dirname "$0")/.."
t=${FUZZTIME:-5s}
go test -run '^$' -fuzz '^FuzzDecode$' -fuzztime "$t" ./runtime/protocol
go test -run '^$' -fuzz '^FuzzFastPaths$' -fuzztime "$t" ./runtime/protocol
go test -run '^$' -fuzz '^FuzzDispatch$' -fuzztime "$t" ./examples/todos
go test -run '^$' -fuzz '^FuzzDispatch$' -fuzztime "$t" ./examples/polls
go test -run '^$' -fuzz '^FuzzDecodeArgsFastPath$' -fuzztime "$t" ./runtime
go test -run '^$' -fuzz '^FuzzRESTMutation$' -fuzztime "$t" -parallel 1 ./runtime/server
go test -run '^$' -fuzz '^FuzzServerFrames$' -fuzztime "$t" ./runtime/client
