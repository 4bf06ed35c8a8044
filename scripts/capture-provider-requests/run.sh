#!/usr/bin/env bash
# Captures the request bodies the official AIGNE runtime sends to Anthropic, Gemini, Bedrock and
# AIGNE Hub for the fixture project, by pointing `aigne run` at a local recording server.
# Output: tests/fixtures/providers/official-structured-requests.json (compare, then commit).
#
# Needs node and the official CLI installed in AIGNE_REF (default /work/ref-aigne:
# `npm install @aigne/cli`). Touches no network beyond 127.0.0.1.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
ref=${AIGNE_REF:-/work/ref-aigne}
aigne="$ref/node_modules/.bin/aigne"
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
python3 "$here/make_answers.py" "$work"
capture() { # name port model env...
  local name=$1 port=$2 model=$3; shift 3
  node "$here/server.mjs" "$port" "$work/$name.json" "$work/$name.out.json" &
  local server=$!
  sleep 0.5
  env -i PATH="$PATH" HOME="$work/home" "$@" "$aigne" run "$repo/tests/fixtures/providers/project" structured \
    ${model:+--model "$model"} --input "Paris is nice" >/dev/null 2>&1 || true
  kill "$server"
}
capture anthropic 18931 anthropic:claude-sonnet-4-5 ANTHROPIC_API_KEY=sk-ant-test ANTHROPIC_BASE_URL=http://127.0.0.1:18931
capture gemini 18932 google:gemini-2.0-flash GEMINI_API_KEY=gem-test GOOGLE_GEMINI_BASE_URL=http://127.0.0.1:18932
capture bedrock 18933 bedrock:anthropic.claude-3-haiku-20240307-v1:0 AWS_ACCESS_KEY_ID=AKIDEXAMPLE \
  AWS_SECRET_ACCESS_KEY=secret AWS_REGION=us-east-1 AWS_ENDPOINT_URL_BEDROCK_RUNTIME=http://127.0.0.1:18933
capture hub 18934 "" AIGNE_HUB_API_KEY=hub-key AIGNE_HUB_API_URL=http://127.0.0.1:18934 MODEL=claude-sonnet-4-5
python3 - "$work" <<'PY'
import json, sys
work = sys.argv[1]
out = {"_comment": "Request bodies the official runtime sent for agent structured.yaml of tests/fixtures/providers/project with input \"Paris is nice\" (scripts/capture-provider-requests/run.sh)"}
for name, key, count in [("anthropic", "anthropic", 1), ("gemini", "gemini", 1), ("bedrock", "bedrock", 2), ("hub", "aignehub", 1)]:
    calls = [call for call in json.load(open(f"{work}/{name}.out.json")) if call["method"] == "POST"]
    out[key] = [call["body"] for call in calls[:count]]
print(json.dumps(out, indent=1))
PY
