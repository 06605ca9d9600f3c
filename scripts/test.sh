#!/usr/bin/env bash
# The README's test command: every test (`cargo test --locked`, arguments
# passed on), then the tests that did not run here, each with what runs it:
# the Helm and kubectl end-to-end tests need `scripts/fetch-helm.sh`, the
# schema test `pip install kubernetes-validate`, the static image build
# `POLYREPO_SLOW_TESTS=1` (minutes on 2 cores). Under CI=true (`.ci/run`)
# none is skipped: a missing tool fails its test.
set -uo pipefail
cd "$(dirname "$0")/.."
dir="$(mktemp -d)"
trap 'rm -rf "$dir"' EXIT
export POLYREPO_SKIPPED_LOG="$dir/skipped"
: > "$POLYREPO_SKIPPED_LOG"
cargo test --locked "$@"
status=$?
if [ -s "$POLYREPO_SKIPPED_LOG" ]; then
  echo
  echo "Not run here ($(sort -u "$POLYREPO_SKIPPED_LOG" | wc -l) tests; CI runs them all):"
  sort -u "$POLYREPO_SKIPPED_LOG" | sed 's/^/  /'
fi
exit "$status"
