#!/usr/bin/env bash
# The whole test suite: vet, then every test with the race detector. It
# installs what the integration tests need on this machine (Chromium for the
# browser test, from Debian's packages) and tells the tests where it is.
set -euo pipefail
cd "$(dirname "$0")/../.."

if [ -z "${TOUSU_TEST_BROWSER:-}" ]; then
  if ! command -v chromium >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      echo "test.sh: installing chromium for the browser test" >&2
      apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    fi
  fi
  if command -v chromium >/dev/null 2>&1; then
    export TOUSU_TEST_BROWSER="$(command -v chromium)"
  else
    echo "test.sh: no chromium: the browser test will be skipped" >&2
  fi
fi

go vet ./...
go test -race -count=1 -timeout 20m ./...
