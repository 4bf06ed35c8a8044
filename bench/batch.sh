#!/usr/bin/env bash
# Batch throughput and memory (a benchmark, not a test).
#   bench/batch.sh [CASES=200] [CONCURRENCY=16] [LATENCY_MS=100] [MEMORY_CASES=10000]
# Runs CASES cases against a local stand-in provider that answers after LATENCY_MS, and prints
# the wall time against the ideal CASES/CONCURRENCY*LATENCY; then runs MEMORY_CASES cases with
# no latency and prints the peak RSS. Needs python3 and GNU time (installed if missing).
set -euo pipefail
cd "$(dirname "$0")/.."
cases=${1:-200}
concurrency=${2:-16}
latency_ms=${3:-100}
memory_cases=${4:-10000}
command -v /usr/bin/time >/dev/null || { apt-get update -qq && apt-get install -y -qq time >/dev/null; }
# AIGNE_CI_BINARY: a prebuilt binary to measure instead of building one.
binary=${AIGNE_CI_BINARY:-}
if [ -z "$binary" ]; then
  cargo build --release --quiet
  binary=$PWD/target/release/aigne-ci
fi
work=$(mktemp -d)
trap 'kill $server_pid 2>/dev/null || true; rm -rf "$work"' EXIT

port=$((20000 + RANDOM % 20000))
cat >"$work/server.py" <<'PY'
import json, os, sys, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
latency_file = sys.argv[2]
class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", "0")))
        latency = float(open(latency_file).read()) / 1000
        if latency:
            time.sleep(latency)
        chunk = {"id": "b", "object": "chat.completion.chunk", "created": 0, "model": "gpt-4o-mini",
                 "choices": [{"index": 0, "delta": {"content": "ok"}, "finish_reason": "stop"}]}
        usage = {"id": "b", "object": "chat.completion.chunk", "created": 0, "model": "gpt-4o-mini",
                 "choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6}}
        body = ("data: " + json.dumps(chunk) + "\n\n" + "data: " + json.dumps(usage) + "\n\ndata: [DONE]\n\n").encode()
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
ThreadingHTTPServer.daemon_threads = True
ThreadingHTTPServer.request_queue_size = 256
ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
PY
echo "$latency_ms" >"$work/latency"
python3 "$work/server.py" "$port" "$work/latency" &
server_pid=$!
sleep 1

run() { # cases concurrency -> prints "wall_seconds peak_kb"
  seq 1 "$1" | sed 's/.*/{"id": "c&", "input": "question &"}/' >"$work/prompts.jsonl"
  (cd "$work" && OPENAI_API_KEY=bench OPENAI_BASE_URL="http://127.0.0.1:$port/v1" \
    /usr/bin/time -f "%e %M" -o "$work/time" "$binary" run examples-hello \
    --input prompts.jsonl --concurrency "$2" --out-dir out >/dev/null 2>&1) || true
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
