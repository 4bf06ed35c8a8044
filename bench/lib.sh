# shellcheck shell=bash
# Shared by the bench scripts (sourced, not run).
# Sets `binary` (AIGNE_CI_BINARY: a prebuilt binary to measure instead of building one) and
# `provider`: the Rust stand-in provider `examples/bench_provider.rs` (axum; a Python server could
# not keep up, about 360 requests/s, and made the tool look slower than it is).
build_bench_binaries() {
  binary=${AIGNE_CI_BINARY:-}
  if [ -z "$binary" ]; then
    cargo build --release --quiet
    binary=$PWD/target/release/aigne-ci
  fi
  cargo build --release --quiet --example bench_provider
  # shellcheck disable=SC2034 # read by the scripts that source this file
  provider=$PWD/target/release/examples/bench_provider
}
