#!/usr/bin/env python3
"""A scripted stand-in for an OpenAI-compatible provider, used to (re)record the example cassette
without an API key: `python3 stand_in_provider.py PORT`. It answers chat completions with
server-sent events exactly as the OpenAI API streams them. It is not used by the tests (they have
their own fake provider in tests/common/fake_openai.rs); it only makes `cassette.jsonl` reproducible.
"""
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ANSWERS = [
    ("hello", "Hello and welcome to aigne-ci: point it at a project and a prompts file and it runs every case."),
    ("exit code", "Exit code 1 means the run completed but the policy did not hold."),
    ("--replay", "The --replay flag answers model calls from a recorded cassette, with no network and no API key."),
]


def answer(body):
    messages = body.get("messages", [])
    last_user = next((m for m in reversed(messages) if m.get("role") == "user"), {})
    content = last_user.get("content", "")
    if isinstance(content, list):
        content = " ".join(part.get("text", "") for part in content)
    if body.get("response_format", {}).get("type") == "json_schema":
        negative = any(word in content.lower() for word in ("re-downloaded", "slow", "broken"))
        return json.dumps({"sentiment": "negative" if negative else "positive"})
    for key, text in ANSWERS:
        if key in content.lower():
            return text
    return "I can only answer questions about aigne-ci."


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        length = int(self.headers.get("content-length", "0"))
        body = json.loads(self.rfile.read(length))
        text = answer(body)
        model = body.get("model", "gpt-4o-mini")
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.end_headers()
        base = {"id": "chatcmpl-example", "object": "chat.completion.chunk", "created": 1764000000, "model": model}
        chunks = [
            {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]},
        ]
        for start in range(0, len(text), 24):
            chunks.append({**base, "choices": [{"index": 0, "delta": {"content": text[start:start + 24]}, "finish_reason": None}]})
        chunks.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        chunks.append({**base, "choices": [], "usage": {"prompt_tokens": 40 + len(json.dumps(body)) // 20, "completion_tokens": 1 + len(text) // 4, "total_tokens": 0}})
        for chunk in chunks:
            self.wfile.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")
        self.wfile.write(b"data: [DONE]\n\n")

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
