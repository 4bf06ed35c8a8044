"""Writes the scripted answers the capture server replays (one JSON file per provider)."""
import json
import sys

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from eventstream import frame  # noqa: E402
import base64  # noqa: E402

out = sys.argv[1]
SSE = {"content-type": "text/event-stream"}


def anthropic_sse(events):
    return "".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n" for e in events)


start = {"type": "message_start", "message": {"id": "m", "type": "message", "role": "assistant",
         "model": "claude-sonnet-4-5", "content": [], "usage": {"input_tokens": 25, "output_tokens": 1}}}
generate_json = [start,
                 {"type": "content_block_start", "index": 0, "content_block": {"type": "tool_use", "id": "t", "name": "generate_json", "input": {}}},
                 {"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": "{\"city\":\"Paris\"}"}},
                 {"type": "content_block_stop", "index": 0},
                 {"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 9}},
                 {"type": "message_stop"}]
gemini = [{"candidates": [{"content": {"parts": [{"text": "{\"city\":\"Paris\"}"}], "role": "model"}, "finishReason": "STOP"}],
           "usageMetadata": {"promptTokenCount": 20, "candidatesTokenCount": 6}, "modelVersion": "gemini-2.0-flash"}]
bedrock_text = b"".join(frame(t, p) for t, p in [
    ("messageStart", {"role": "assistant"}),
    ("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Paris."}}),
    ("messageStop", {"stopReason": "end_turn"}),
    ("metadata", {"usage": {"inputTokens": 50, "outputTokens": 6, "totalTokens": 56}})])
converse = {"output": {"message": {"role": "assistant", "content": [{"toolUse": {"toolUseId": "t", "name": "generate_json", "input": {"city": "Paris"}}}]}},
            "usage": {"inputTokens": 70, "outputTokens": 8, "totalTokens": 78}}
blocklet = {"match": "__blocklet__", "headers": {"content-type": "application/json"},
            "body": json.dumps({"componentMountPoints": [{"did": "z8ia3xzq2tMq8CRHfaXj1BTYJyYnEcHbqP8cJ", "mountPoint": "/app/ai-kit"}]})}
hub = [{"delta": {"json": {"json": {"city": "Paris"}}}}, {"delta": {"json": {"usage": {"inputTokens": 20, "outputTokens": 5}}}}]

answers = {
    "anthropic": [{"headers": SSE, "body": anthropic_sse(generate_json)}],
    "gemini": [{"headers": SSE, "body": "".join(f"data: {json.dumps(c)}\r\n\r\n" for c in gemini)}],
    "bedrock": [{"headers": {"content-type": "application/vnd.amazon.eventstream"}, "bodyBase64": base64.b64encode(bedrock_text).decode()},
                {"headers": {"content-type": "application/json"}, "body": json.dumps(converse)}],
    "hub": [blocklet, {"headers": SSE, "body": "".join(f"data: {json.dumps(c)}\n\n" for c in hub)}],
}
for name, script in answers.items():
    with open(f"{out}/{name}.json", "w") as file:
        json.dump(script, file)
