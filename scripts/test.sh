#!/usr/bin/env bash
# The test command: formatting, lints, and every test of the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (all targets, warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "the stages crate builds warning-free with each optional sink or backend alone (board builds)"
for features in "" webhook mqtt kafka ort tensorrt hailo rknn http; do
  cargo clippy --quiet --locked -p edgeflow-stages --no-default-features --features "$features" \
    -- -D warnings
done

step "board-sized builds: nothing optional, and a board's set (gstreamer, ort, mqtt)"
for features in "" "gstreamer,ort,mqtt"; do
  cargo clippy --quiet --locked -p edgeflow --no-default-features --features "$features" \
    --all-targets -- -D warnings
done

step "cargo test"
cargo test --workspace --locked

step "every shipped pipeline validates (warnings denied; deep where no server is needed)"
cargo run --quiet --locked -- validate --deny-warnings pipelines/*.toml
cargo run --quiet --locked -- validate --deep --deny-warnings $(ls pipelines/*.toml | grep -v -e rtsp -e mqtt)
cargo run --quiet --locked -- collect --check --config docs/collector.toml

# The criterion benches compile under clippy --all-targets above; building them again in the
# bench profile would cost a second release build of the workspace.
step "benchmarks: the comparison harness runs (smoke: debug binaries, no figures)"
benches/compare/run.sh --smoke > /dev/null

step "cross build: generic-aarch64 under qemu (people.toml matches x86-64), every board profile"
cross/ci.sh
