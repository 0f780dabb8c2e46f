# counter — see README.md. `make run` starts the whole system, `make test`
# runs every test (installing what the tests need first).

GO      ?= go
BIN     := bin/counter
FUZZTIME ?= 5s

.PHONY: run build tools test check unit model stress node-deps fuzz bench clean

run: build
	./$(BIN) dev

build:
	$(GO) build -o $(BIN) ./cmd/counter

# The benchmarks and the load generator are a binary of their own, so that
# the product binary links none of their code.
tools: build
	$(GO) build -o bin/counter-tools ./cmd/counter-tools

# Everything CI runs: static checks, all Go tests with the race detector
# (unit, integration against the embedded broker, process-level), the
# Socket.IO tests against the real npm client, the pipeline stress check,
# and a short fuzzing pass.
test: check node-deps unit model stress fuzz

check:
	@unformatted=$$(gofmt -l cmd internal examples); if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...

unit:
	$(GO) test -race -count=1 -timeout 20m ./...

# The counting core against its reference model: 10 000 seeded random cases
# (the race-detector run of `unit` does 1 000), and the data-driven cases.
model:
	$(GO) test -count=1 -run '^(TestModelRandom|TestDataDriven)$$' ./internal/worker/task

# The pipeline stress check (about two minutes): ten repetitions of a first
# transaction with megabytes of changelog aborted by a joining worker, then
# restored by others; every final must be exact. Without -race, which makes
# it too slow (it skips itself there).
stress:
	$(GO) test -count=1 -timeout 10m -run '^TestPipelineStress$$' ./internal/tools/bench

# The Socket.IO compatibility tests drive the npm socket.io-client from Node.
node-deps:
	@command -v node >/dev/null || { echo "installing nodejs"; apt-get update && apt-get install -y nodejs npm; }
	cd test/socketio && npm ci --no-audit --no-fund --loglevel=error

# Runs every fuzz target for $(FUZZTIME) (its seed corpus also runs in `unit`).
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "fuzz $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg >/dev/null; \
	  done; \
	done

# The full benchmarks of BENCHMARKS.md (about half an hour on 2 cores): each
# scenario starts its own broker, workers and API; figures are medians of 3
# runs. BENCHFLAGS go to every scenario, e.g. BENCHFLAGS="--json" or
# BENCHFLAGS="--profile-dir prof".
bench: tools
	./bin/counter-tools bench pipeline $(BENCHFLAGS)
	./bin/counter-tools bench ingest $(BENCHFLAGS)
	./bin/counter-tools bench restore --keys 1000000 $(BENCHFLAGS)
	./bin/counter-tools bench restore --keys 10000000 $(BENCHFLAGS)
	./bin/counter-tools bench memory --keys 1000000 $(BENCHFLAGS)
	./bin/counter-tools bench memory --keys 10000000 $(BENCHFLAGS)
	./bin/counter-tools bench latency $(BENCHFLAGS)

clean:
	rm -rf bin data
