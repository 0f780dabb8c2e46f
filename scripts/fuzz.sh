#!/bin/sh
# Runs every fuzz target of the module for FUZZTIME (5s by default).
#
# A target that finds a failing input fails the run at once: Go writes the
# input to the package's testdata/fuzz/<target>/ (commit it as a regression
# case once fixed). Go's fuzzer also fails, on a busy machine, with
# "fuzzing process hung or terminated unexpectedly" and no input: its worker
# panics when one call takes 10 s, which a starved CPU can cause
# (https://github.com/golang/go/issues/56238). Only that failure, with no
# failing input written, runs the target once more; the output of every
# failure is printed.
set -eu
GO=${GO:-go}
FUZZTIME=${FUZZTIME:-5s}
log=$(mktemp)
trap 'rm -f "$log"' EXIT

fuzz() { # package, target
	$GO test -run '^$' -fuzz "^$2\$" -fuzztime "$FUZZTIME" "$1" >"$log" 2>&1
}

for pkg in $($GO list ./...); do
	for f in $($GO test -list '^Fuzz' "$pkg" | grep '^Fuzz' || true); do
		echo "fuzz $pkg $f"
		fuzz "$pkg" "$f" && continue
		tail -n 30 "$log"
		if grep -q 'fuzzing process hung or terminated unexpectedly' "$log" && ! grep -q 'Failing input written' "$log"; then
			echo "fuzz $pkg $f: Go's fuzzer stopped without a failing input (golang/go#56238); running it again"
			fuzz "$pkg" "$f" && continue
			tail -n 30 "$log"
		fi
		exit 1
	done
done
