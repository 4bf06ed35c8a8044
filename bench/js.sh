#!/usr/bin/env bash
# JavaScript costs (a benchmark, not a test).
#   bench/js.sh [CASES=1000] [NODE_CASES=200]
# (a) A JS function agent call through the Node bridge after warm-up, against a native no-op
#     (a `transform` agent), both through the binary, one case at a time. Target: < 5 ms a call.
# (b) The node engine's added per-case cost after its start, against the native engine, on the
#     same AI agent with a stand-in provider that answers at once. Target: < 50 ms a case.
# Each per-case figure is the slope between a run of N cases and a run of N/5 cases: process
# start, project load and the node start are in both runs and cancel out. Baselines are measured
# in the same run. Needs node, npm, python3; (b) uses AIGNE_CI_NODE_ENGINE_DIR (a folder holding
# node_modules/@aigne/cli) or installs the pinned packages once into a cache under /tmp.
set -euo pipefail
cd "$(dirname "$0")/.."
cases=${1:-1000}
node_cases=${2:-200}
# shellcheck source=bench/lib.sh
. bench/lib.sh
build_bench_binaries
work=$(mktemp -d)
server_pid=
trap '[ -n "$server_pid" ] && kill $server_pid 2>/dev/null; rm -rf "$work"' EXIT

# The project: a JS no-op, a native no-op, and an AI agent.
mkdir -p "$work/project"
cat >"$work/project/aigne.yaml" <<'YAML'
model: openai:gpt-4o-mini
agents:
  - noop.mjs
  - noop.yaml
  - chat.yaml
YAML
cat >"$work/project/noop.mjs" <<'JS'
export default async function noop({ n }) {
  return { n };
}
JS
cat >"$work/project/noop.yaml" <<'YAML'
type: transform
name: noop_native
jsonata: |
  {"n": n}
YAML
cat >"$work/project/chat.yaml" <<'YAML'
name: chat
instructions: You are terse.
input_key: message
YAML

port=$((20000 + RANDOM % 20000))
echo 0 >"$work/latency"
"$provider" "$port" "$work/latency" &
server_pid=$!
for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done

node_dir_args=()
if [ -n "${AIGNE_CI_NODE_ENGINE_DIR:-}" ]; then
  node_dir_args=(--node-engine-dir "$AIGNE_CI_NODE_ENGINE_DIR")
fi
cache=/tmp/aigne-ci-bench-cache

# run AGENT CASES ENGINE -> prints wall seconds (fails loudly when a case did not pass)
run() {
  local agent=$1 count=$2 engine=$3
  if [ "$agent" = chat ]; then
    seq 1 "$count" | sed 's/.*/{"id": "c&", "input": "question &"}/' >"$work/prompts.jsonl"
  else
    seq 1 "$count" | sed 's/.*/{"id": "c&", "input": {"n": &}}/' >"$work/prompts.jsonl"
  fi
  rm -rf "$work/out"
  local start end
  start=$(date +%s.%N)
  (cd "$work" && OPENAI_API_KEY=bench OPENAI_BASE_URL="http://127.0.0.1:$port/v1" \
    "$binary" run project "$agent" --input prompts.jsonl --concurrency 1 --engine "$engine" \
    --cache-dir "$cache" "${node_dir_args[@]}" --out-dir out >/dev/null 2>"$work/stderr") || {
    cat "$work/stderr" >&2
    exit 1
  }
  end=$(date +%s.%N)
  local passed
  passed=$(grep -c '"status":"passed"' "$work/out/results.jsonl")
  [ "$passed" = "$count" ] || { echo "only $passed of $count cases passed ($agent, $engine)" >&2; exit 1; }
  python3 -c "print($end - $start)"
}

# slope AGENT N ENGINE -> per-case milliseconds between N/5 and N cases (median of 3 each)
slope() {
  local agent=$1 n=$2 engine=$3 small=$(($2 / 5)) a b
  a=$(for _ in 1 2 3; do run "$agent" "$small" "$engine"; done | sort -g | sed -n 2p)
  b=$(for _ in 1 2 3; do run "$agent" "$n" "$engine"; done | sort -g | sed -n 2p)
  python3 -c "print(round(($b - $a) * 1000 / ($n - $small), 3))"
}

run noop 1 native >/dev/null # warm the file cache and the bridge script
native=$(slope noop_native "$cases" native)
js=$(slope noop "$cases" native)
echo "(a) JS function agent call after warm-up, $cases cases, concurrency 1"
echo "  native no-op (transform): ${native} ms/case"
echo "  JS no-op through the Node bridge: ${js} ms/case"
echo "  added by the JS call: $(python3 -c "print(round($js - $native, 3))") ms (target < 5 ms), ratio $(python3 -c "print(round($js / max($native, 0.001), 2))")x"

run chat 1 node >/dev/null # install (or check) the node engine packages
native=$(slope chat "$node_cases" native)
node=$(slope chat "$node_cases" node)
echo "(b) node engine per case after its start, $node_cases cases, concurrency 1, provider answers at once"
echo "  native engine: ${native} ms/case"
echo "  node engine: ${node} ms/case"
echo "  added by the node engine: $(python3 -c "print(round($node - $native, 3))") ms (target < 50 ms), ratio $(python3 -c "print(round($node / max($native, 0.001), 2))")x"
