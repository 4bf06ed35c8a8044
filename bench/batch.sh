#!/usr/bin/env bash
# Batch throughput and memory (a benchmark, not a test).
#   bench/batch.sh [CASES=200] [CONCURRENCY=16] [LATENCY_MS=100] [MEMORY_CASES=10000]
# Runs CASES cases against a local stand-in provider that answers after LATENCY_MS, and prints
# the wall time against the ideal CASES/CONCURRENCY*LATENCY; then runs MEMORY_CASES cases with
# no latency and prints the peak RSS. Then the judged variant: CASES cases with `--repeat 3` and
# one `llm-rubric` each (6 model calls a case), against 6*CASES bare cases in the same run
# (target ratio <= 1.1), and MEMORY_CASES such cases with no latency (peak RSS).
# Needs python3 and GNU time (installed if missing).
# The ideal is CASES/CONCURRENCY*LATENCY (the issue's definition; whole rounds would be longer).
set -euo pipefail
cd "$(dirname "$0")/.."
cases=${1:-200}
concurrency=${2:-16}
latency_ms=${3:-100}
memory_cases=${4:-10000}
command -v /usr/bin/time >/dev/null || { apt-get update -qq && apt-get install -y -qq time >/dev/null; }
# shellcheck source=bench/lib.sh
. bench/lib.sh
build_bench_binaries
work=$(mktemp -d)
trap 'kill $server_pid 2>/dev/null || true; rm -rf "$work"' EXIT

port=$((20000 + RANDOM % 20000))
echo "$latency_ms" >"$work/latency"
"$provider" "$port" "$work/latency" &
server_pid=$!
for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done

run() { # cases concurrency [extra flags…] -> prints "wall_seconds peak_kb"
  local count=$1 width=$2
  shift 2
  if [ "${JUDGED:-}" = 1 ]; then
    seq 1 "$count" | sed 's/.*/{"id": "c&", "input": "question &", "assert": [{"type": "llm-rubric", "value": "answers the question"}]}/' >"$work/prompts.jsonl"
  else
    seq 1 "$count" | sed 's/.*/{"id": "c&", "input": "question &"}/' >"$work/prompts.jsonl"
  fi
  (cd "$work" && OPENAI_API_KEY=bench OPENAI_BASE_URL="http://127.0.0.1:$port/v1" \
    /usr/bin/time -f "%e %M" -o "$work/time" "$binary" run examples-hello \
    --input prompts.jsonl --concurrency "$width" --out-dir out "$@" >/dev/null 2>&1) || true
  cat "$work/time"
}
cp -r examples/hello "$work/examples-hello"

read -r wall rss < <(run "$cases" "$concurrency")
ideal=$(python3 -c "print($cases / $concurrency * $latency_ms / 1000)")
echo "throughput: $cases cases, concurrency $concurrency, ${latency_ms}ms model latency"
echo "  wall ${wall}s, ideal ${ideal}s, ratio $(python3 -c "print(round($wall / $ideal, 2))") (target <= 1.2)"
echo "  passed: $(grep -c '"status":"passed"' "$work/out/results.jsonl") of $cases"

echo 0 >"$work/latency"
read -r wall rss < <(run "$memory_cases" "$concurrency")
echo "memory: $memory_cases cases, concurrency $concurrency, no model latency"
echo "  wall ${wall}s, peak RSS $((rss / 1024)) MB (target < 100 MB)"
echo "  passed: $(grep -c '"status":"passed"' "$work/out/results.jsonl") of $memory_cases"

echo "$latency_ms" >"$work/latency"
read -r bare_wall _ < <(run $((cases * 6)) "$concurrency")
read -r judged_wall _ < <(JUDGED=1 run "$cases" "$concurrency" --repeat 3)
echo "judged: $cases cases x --repeat 3 + one llm-rubric each (6 calls a case), concurrency $concurrency, ${latency_ms}ms"
echo "  wall ${judged_wall}s, $((cases * 6)) bare calls ${bare_wall}s, ratio $(python3 -c "print(round($judged_wall / $bare_wall, 2))") (target <= 1.1)"
echo "  passed: $(grep -c '"status":"passed"' "$work/out/results.jsonl") of $cases, flaky: $(grep -c '"flaky":true' "$work/out/results.jsonl")"
echo 0 >"$work/latency"
read -r wall rss < <(JUDGED=1 run "$memory_cases" "$concurrency" --repeat 3)
echo "judged memory: $memory_cases cases x 3 runs + a judge each, concurrency $concurrency, no model latency"
echo "  wall ${wall}s, peak RSS $((rss / 1024)) MB (target < 100 MB)"
echo "  passed: $(grep -c '"status":"passed"' "$work/out/results.jsonl") of $memory_cases"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
