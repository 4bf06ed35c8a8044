# shellcheck shell=bash
# Shared by the bench scripts (sourced, not run).
# Sets `binary` (AIGNE_CI_BINARY: a prebuilt binary to measure instead of building one) and
# `provider`: the Rust stand-in provider `examples/bench_provider.rs` (axum; a Python server could
# not keep up, about 360 requests/s, and made the tool look slower than it is;
# AIGNE_CI_BENCH_PROVIDER: a prebuilt one). With both given, nothing is built.
build_bench_binaries() {
  binary=${AIGNE_CI_BINARY:-}
  if [ -z "$binary" ]; then
    cargo build --release --quiet
    binary=$PWD/target/release/aigne-ci
  fi
  # shellcheck disable=SC2034 # read by the scripts that source this file
  provider=${AIGNE_CI_BENCH_PROVIDER:-}
  if [ -z "$provider" ]; then
    cargo build --release --quiet --example bench_provider
    provider=$PWD/target/release/examples/bench_provider
  fi
}
