# counter — see README.md. `make run` starts the whole system, `make test`
# runs every test (installing what the tests need first).

GO      ?= go
BIN     := bin/counter
FUZZTIME ?= 5s

.PHONY: run build web tools test check unit model stress node node-deps web-test chromium fuzz bench clean

# The built web page, embedded by internal/apinode/web (ignored by git).
WEB_INDEX := internal/apinode/web/bundle/app/index.html
WEB_SRC   := $(shell find web/src -type f 2>/dev/null) web/index.html web/vite.config.ts web/tsconfig.json

run: node build
	./$(BIN) dev

# The binary, with the web page when npm is there (Go alone builds it with a
# placeholder page that says how to build the real one).
build:
	@if command -v npm >/dev/null; then $(MAKE) --no-print-directory web; else echo "npm not found: building without the web page (make run installs Node.js)"; fi
	$(GO) build -o $(BIN) ./cmd/counter

# The benchmarks and the load generator are a binary of their own, so that
# the product binary links none of their code.
tools: build
	$(GO) build -o bin/counter-tools ./cmd/counter-tools

# The web page (web/: React, TypeScript, Vite), rebuilt when its sources change.
web: $(WEB_INDEX)

$(WEB_INDEX): web/node_modules/.package-lock.json $(WEB_SRC)
	cd web && npm run build --silent

web/node_modules/.package-lock.json: web/package-lock.json
	cd web && npm ci --no-audit --no-fund --loglevel=error

node:
	@command -v npm >/dev/null || { echo "installing nodejs"; apt-get update && apt-get install -y nodejs npm; }

# Everything CI runs: static checks, all Go tests with the race detector
# (unit, integration against the embedded broker, process-level), the
# Socket.IO tests against the real npm client, the web page's tests (Vitest,
# then a real browser against real processes), the pipeline stress check,
# and a short fuzzing pass.
test: check node-deps web-test unit model stress fuzz

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
node-deps: node
	cd test/socketio && npm ci --no-audit --no-fund --loglevel=error

# The web page's tests: Vitest (logic and components), the type check and
# build, then the end-to-end tests (web/e2e: Debian's Chromium driven by
# playwright-core against `counter dev` and a broker + 2 workers + api set-up;
# screenshots in web/screenshots/).
web-test: node chromium build
	cd web && npm test --silent
	cd web && COUNTER_BIN=../$(BIN) npm run e2e --silent

chromium:
	@test -x /usr/bin/chromium || { echo "installing chromium"; apt-get update && apt-get install -y chromium; }

# Runs every fuzz target for $(FUZZTIME) (its seed corpus also runs in `unit`);
# see scripts/fuzz.sh.
fuzz:
	GO=$(GO) FUZZTIME=$(FUZZTIME) scripts/fuzz.sh

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
	rm -rf bin data internal/apinode/web/bundle/app web/screenshots
