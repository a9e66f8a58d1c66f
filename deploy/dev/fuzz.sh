#!/usr/bin/env bash
# fuzz.sh runs every fuzz target of the module (every func FuzzXxx in a
# _test.go file) for a short while each, with the coverage-guided fuzzer:
#
#   deploy/dev/fuzz.sh [SECONDS]     default 5 seconds per target
#
# The test command runs it after the tests, so a parser change that a few
# seconds of fuzzing can break does not land. A failure leaves the input
# in the package's testdata/fuzz/FuzzXxx/ folder: commit it with the fix,
# and it becomes a seed that every `go test` runs. Long runs are for
# people: go test -run='^$' -fuzz='^FuzzXxx$' -fuzztime=10m ./pkg
set -euo pipefail
cd "$(dirname "$0")/../.."

seconds=${1:-5}
targets=$(grep -rE --include='*_test.go' -l '^func Fuzz[A-Za-z0-9_]*\(f \*testing\.F\)' . | sort)
count=0
for file in $targets; do
  pkg="./$(dirname "${file#./}")"
  for name in $(grep -oE '^func Fuzz[A-Za-z0-9_]*' "$file" | awk '{print $2}'); do
    echo "fuzz.sh: $pkg $name (${seconds}s)" >&2
    # A finding always writes its input. Go's fuzzer can also stop with
    # "context deadline exceeded" and no input when its time ends on a
    # loaded machine: that is tried once more, then reported, not failed.
    for attempt in 1 2; do
      if out=$(go test -run='^$' -fuzz="^${name}\$" -fuzztime="${seconds}s" "$pkg" 2>&1); then
        break
      fi
      if grep -q 'Failing input written to' <<<"$out"; then
        echo "$out" >&2
        echo "fuzz.sh: $pkg $name failed; the input that broke it is in $pkg/testdata/fuzz/$name/" >&2
        exit 1
      fi
      if [ "$attempt" = 2 ]; then
        echo "$out" | tail -n 5 >&2
        echo "fuzz.sh: $pkg $name: the fuzzer stopped without a failing input twice (counted as run)" >&2
      fi
    done
    count=$((count + 1))
  done
done
echo "fuzz.sh: $count fuzz targets ran ${seconds}s each without a failure" >&2
