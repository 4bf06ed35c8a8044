#!/usr/bin/env bash
# What "what ran" costs (a benchmark, not a test): issue 15's targets.
#   bench/report.sh [CASES=200] [CONCURRENCY=16] [LATENCY_MS=100] [BULK_CASES=10000] [ROUNDS=3]
#
# 1. Transcripts and report.html cost under 5% of a batch's wall time: the same batch run with
#    the defaults (transcripts on, report.html written) and with `--transcripts off --report off`,
#    ROUNDS times each, alternating, against the stand-in provider of bench/batch.sh. Twice: CASES
#    cases with LATENCY_MS of model latency (a batch as CI runs it), and BULK_CASES cases with no
#    latency (the worst case: nothing but aigne-ci's own work). Prints the median walls and
#    their ratio.
# 2. report.html of BULK_CASES cases (the default run above: real transcripts) under 10 MB and
#    interactive in under 2 s in headless Chromium: its size, and the time from navigation to
#    the page saying it is ready (table rendered, handlers bound), then one sort, measured by
#    tests/browser/report_check.mjs through playwright-core (AIGNE_CI_TEST_PLAYWRIGHT_DIR,
#    AIGNE_CI_TEST_CHROMIUM, as the tests use them).
# Needs python3, GNU time (installed if missing), node, chromium and playwright-core for part 2.
set -euo pipefail
cd "$(dirname "$0")/.."
cases=${1:-200}
concurrency=${2:-16}
latency_ms=${3:-100}
bulk_cases=${4:-10000}
rounds=${5:-3}
command -v /usr/bin/time >/dev/null || { apt-get update -qq && apt-get install -y -qq time >/dev/null; }
# shellcheck source=bench/lib.sh
. bench/lib.sh
build_bench_binaries
work=$(mktemp -d)
trap 'kill $server_pid 2>/dev/null || true; rm -rf "$work"' EXIT

echo "$latency_ms" >"$work/latency"
# A free port: the provider exits at once when its port is taken, so try another.
for _ in $(seq 20); do
  port=$((20000 + RANDOM % 20000))
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && continue
  "$provider" "$port" "$work/latency" &
  server_pid=$!
  for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
  kill -0 "$server_pid" 2>/dev/null && break
done
kill -0 "$server_pid" 2>/dev/null || { echo "the stand-in provider did not start" >&2; exit 1; }
cp -r examples/hello "$work/examples-hello"

run() { # cases out-dir [extra flags…] -> prints "wall_seconds peak_kb"
  local count=$1 out=$2
  shift 2
  seq 1 "$count" | sed 's/.*/{"id": "c&", "input": "question &"}/' >"$work/prompts.jsonl"
  rm -rf "${work:?}/$out"
  (cd "$work" && OPENAI_API_KEY=bench OPENAI_BASE_URL="http://127.0.0.1:$port/v1" \
    /usr/bin/time -f "%e %M" -o "$work/time" "$binary" run examples-hello \
    --input prompts.jsonl --concurrency "$concurrency" --out-dir "$out" "$@" >/dev/null 2>&1) || true
  cat "$work/time"
}

median() { python3 -c "import statistics, sys; print(statistics.median(float(x) for x in sys.argv[1:]))" "$@"; }

compare() { # cases label
  local count=$1 label=$2 with=() without=() wall
  for _ in $(seq "$rounds"); do
    read -r wall _ < <(run "$count" with)
    with+=("$wall")
    read -r wall _ < <(run "$count" without --transcripts off --report off)
    without+=("$wall")
  done
  local with_median without_median
  with_median=$(median "${with[@]}")
  without_median=$(median "${without[@]}")
  echo "$label: $count cases, concurrency $concurrency, median of $rounds rounds"
  echo "  with transcripts + report.html:    ${with_median}s (${with[*]})"
  echo "  --transcripts off --report off:    ${without_median}s (${without[*]})"
  echo "  cost: $(python3 -c "print(f'{($with_median / $without_median - 1) * 100:+.1f}%')") of the batch's wall time (target < 5%)"
  echo "  transcripts written: $(find "$work/with/transcripts" -name '*.json' | wc -l), report.html $(stat -c %s "$work/with/report.html") bytes"
}

compare "$cases" "batch with ${latency_ms}ms model latency"
echo 0 >"$work/latency"
compare "$bulk_cases" "batch with no model latency (worst case)"

# Part 2: the bulk run's page (the last `with` run above) in headless Chromium.
playwright=${AIGNE_CI_TEST_PLAYWRIGHT_DIR:-$HOME/.cache/aigne-ci-ci/playwright/node_modules/playwright-core}
chromium=${AIGNE_CI_TEST_CHROMIUM:-/usr/bin/chromium}
report=$work/with/report.html
size=$(stat -c %s "$report")
echo "report.html of $bulk_cases cases: $size bytes ($(python3 -c "print(round($size / 1048576, 2))") MiB; target < 10 MB)"
if [ -f "$playwright/package.json" ] && [ -x "$chromium" ] && command -v node >/dev/null; then
  mkdir -p "$work/shots"
  for round in $(seq "$rounds"); do
    node tests/browser/report_check.mjs "$playwright" "$chromium" "$report" "$work/shots" >"$work/check-$round.json"
    python3 - "$work/check-$round.json" "$bulk_cases" <<'EOF'
import json, sys
result = json.load(open(sys.argv[1]))
ids = len(result["ids"])
print(f"  round: interactive after {result['ready_ms'] / 1000:.2f} s (navigation to ready), "
      f"sort {result['sort_ms']} ms, {ids} rows of {sys.argv[2]}, "
      f"{len(result['errors'])} page errors, {len(result['requests'])} network requests")
EOF
  done
  echo "  (target: interactive in under 2 s)"
else
  echo "  skipped the browser: needs node, $chromium and playwright-core at $playwright"
fi
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
