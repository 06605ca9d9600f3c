#!/usr/bin/env bash
# Fuzzes the whole stdin -> stdout path (fuzz/fuzz_targets/render.rs) for a
# fixed time: scripts/fuzz.sh [SECONDS] (default 600). Seeds the corpus with
# the Helm captures, the YAML test suite and the regression inputs. Needs
# cargo-fuzz (installed if missing) and a nightly toolchain (or, failing
# that, RUSTC_BOOTSTRAP=1 on stable).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-600}
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
toolchain=()
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  toolchain=(+nightly)
else
  export RUSTC_BOOTSTRAP=1
fi
corpus=fuzz/corpus/render
mkdir -p "$corpus"
i=0
cp tests/regressions/*.bin "$corpus"/ 2>/dev/null || true
for f in tests/fixtures/polyaxon-0.6.1/helm*.yaml tests/yaml-test-suite/cases/*/in.yaml; do
  [ -f "$f" ] || continue
  for sel in 0 1 2; do
    out="$corpus/seed-$i-$sel"
    [ -f "$out" ] || { printf "\\x0$sel" > "$out"; cat "$f" >> "$out"; }
  done
  i=$((i + 1))
done
cargo "${toolchain[@]}" fuzz run render "$corpus" -- \
  -max_total_time="$seconds" -max_len=200000 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
