#!/usr/bin/env bash
# Benchmarks polyrepo-render against the serde_yaml parse floor
# (examples/parse_baseline.rs) and kubectl kustomize, on the Helm capture and
# on generated ~10/50/100 MB streams; prints one table (medians, peak RSS,
# ratios) and the targets met. Exit status 1 when a target is missed.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked --quiet --bin polyrepo-render --example parse_baseline
mkdir -p target/bench
for n in 140 700 1400; do
  f=target/bench/stream-$n.yaml
  [ -s "$f" ] || scripts/gen-stream "$n" > "$f"
done
python3 scripts/bench.py
