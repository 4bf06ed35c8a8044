"""Amazon event-stream framing (prelude, string headers, payload, CRC32s) for fake Bedrock answers."""
import json, struct, zlib, base64
def frame(event_type, payload):
    hdrs = b""
    for k, v in [(":event-type", event_type), (":content-type", "application/json"), (":message-type", "event")]:
        kb, vb = k.encode(), v.encode()
        hdrs += bytes([len(kb)]) + kb + bytes([7]) + struct.pack(">H", len(vb)) + vb
    body = json.dumps(payload).encode()
    total = 12 + len(hdrs) + len(body) + 4
    prelude = struct.pack(">II", total, len(hdrs))
    prelude += struct.pack(">I", zlib.crc32(prelude))
    msg = prelude + hdrs + body
    return msg + struct.pack(">I", zlib.crc32(msg))
def stream(events): return base64.b64encode(b"".join(frame(t, p) for t, p in events)).decode()
