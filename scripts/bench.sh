#!/usr/bin/env bash
# Benchmarks polyrepo-render against the serde_yaml parse floor
# (examples/parse_baseline.rs), a pinned earlier release doing the same work
# (default e3b8364, the release before the scheduling work; another with
# POLYREPO_BENCH_PINNED=REV; built once into target/bench/) and kubectl
# kustomize, on the Helm capture and on generated ~10/50/100 MB streams;
# prints one table (medians, peak RSS, ratios) and the targets met. Exit
# status 1 when a target is missed.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked --quiet --bin polyrepo-render --example parse_baseline
mkdir -p target/bench
pinned=${POLYREPO_BENCH_PINNED:-e3b8364}
bin=target/bench/pinned-$pinned
if [ ! -x "$bin" ]; then
  wt=$(mktemp -d)
  trap 'git worktree remove --force "$wt" 2>/dev/null || true; rm -rf "$wt" "$wt.target"' EXIT
  git worktree add --quiet --detach "$wt" "$pinned"
  (cd "$wt" && CARGO_TARGET_DIR="$wt.target" cargo build --release --quiet --bin polyrepo-render)
  cp "$wt.target/release/polyrepo-render" "$bin.tmp" && mv "$bin.tmp" "$bin"
fi
for n in 140 700 1400; do
  f=target/bench/stream-$n.yaml
  [ -s "$f" ] || scripts/gen-stream "$n" > "$f"
done
# The same stream without Polyaxon workloads: the chart's core labels and
# the ConfigMap key that names them renamed, so nothing is changed.
other=target/bench/stream-1400-other.yaml
[ -s "$other" ] || sed -e 's/^\( *\)type: polyaxon-core$/\1tier: polyaxon-core/' \
  -e 's/part-of: polyaxon-core/suite: polyaxon-core/' \
  -e 's/POLYAXON_TYPE_LABELS_CORE/POLYAXON_TIER/' target/bench/stream-1400.yaml > "$other"
POLYREPO_BENCH_PINNED_BIN="$PWD/$bin" POLYREPO_BENCH_PINNED_REV="$pinned" python3 scripts/bench.py
