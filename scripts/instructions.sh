#!/usr/bin/env bash
# Counts the instructions of N in-process renders (examples/render_loop.rs)
# under callgrind: a measure that, unlike wall time, does not move with the
# machine's load. With a git revision, counts that revision too (built in a
# temporary worktree) and prints both, for an A/B of the hot path.
#
#   scripts/instructions.sh [REV] [STREAM] [CONFIG] [N] [one-pass|on-demand]
#
# Defaults: no REV, the Helm capture, benches/bench-config.yaml, 20 renders,
# one-pass. Needs valgrind.
set -euo pipefail
cd "$(dirname "$0")/.."
rev=${1:-}
stream=$(realpath "${2:-examples/polyaxon-0.6.1.yaml}")
cfg=$(realpath "${3:-benches/bench-config.yaml}")
n=${4:-20}
strategy=${5:-one-pass}
command -v valgrind >/dev/null || { echo "valgrind is needed" >&2; exit 1; }
work=$(mktemp -d)
trap 'git worktree remove --force "$work/old" 2>/dev/null || true; rm -rf "$work"' EXIT

count() { # label, source dir
  (cd "$2" && CARGO_TARGET_DIR="$work/target-$1" cargo build --release --quiet --example render_loop)
  valgrind --tool=callgrind --callgrind-out-file="$work/cg.$1" \
    "$work/target-$1/release/examples/render_loop" "$stream" "$cfg" "$n" "$strategy" \
    2>&1 >/dev/null | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}

if [ -n "$rev" ]; then
  git worktree add --quiet --detach "$work/old" "$rev"
  cp examples/render_loop.rs "$work/old/examples/"
  old=$(count old "$work/old")
fi
new=$(count new .)
echo "$(basename "$stream"), $n renders, $strategy"
if [ -n "$rev" ]; then
  python3 - "$rev" "$old" "$new" <<'PY'
import sys
rev, old, new = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
print(f"{rev}: {old:,} instructions")
print(f"working tree: {new:,} instructions ({(new - old) / old:+.1%})")
PY
else
  echo "working tree: $(printf "%'d" "$new") instructions"
fi
