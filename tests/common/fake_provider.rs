//! A scripted fake server on `127.0.0.1` for the native provider protocols (Anthropic Messages,
//! Gemini `streamGenerateContent`, Bedrock ConverseStream, AIGNE Hub), plus renderers that produce
//! each protocol's streamed answer.
//!
//! ```ignore
//! let server = FakeProvider::start();
//! server.push(Canned::sse(anthropic_stream(&[AnthropicBlock::Text("Hi")], usage)));
//! // ANTHROPIC_BASE_URL = server.url()
//! let requests = server.requests();          // method, path, query, headers, raw and JSON body
//! ```
//!
//! * Every request is recorded. `GET /__blocklet__.js` answers the AIGNE Hub blocklet
//!   description (AI Kit mounted at [`HUB_MOUNT`]) without using the queue; everything else is
//!   answered from the queue, in order; an empty queue answers 500 (a missing script is loud).
//! * [`Canned`] is a status, headers and raw body; [`Canned::sse`], [`Canned::bytes`],
//!   [`Canned::json`] and [`Canned::error`] build the usual ones.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Extension;
use axum::body::Body;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use super::server::{Loopback, Recorded};

/// Where the fake hub mounts its AI Kit component.
pub(crate) const HUB_MOUNT: &str = "/app/ai-kit";
/// The AI Kit component DID.
pub(crate) const HUB_DID: &str = "z8ia3xzq2tMq8CRHfaXj1BTYJyYnEcHbqP8cJ";

/// One request the server received.
#[derive(Debug, Clone)]
pub(crate) struct Received {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    /// Lowercase names.
    pub headers: Vec<(String, String)>,
    pub raw_body: Vec<u8>,
    /// The body as JSON (`Null` when it is not JSON).
    pub body: Value,
}

impl Received {
    /// A header by (lowercase) name.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

/// A scripted answer.
#[derive(Debug, Clone)]
pub(crate) struct Canned {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Wait before the response head.
    pub delay: Duration,
}

impl Canned {
    /// A 200 `text/event-stream` body.
    pub(crate) fn sse(body: String) -> Self {
        Self {
            status: 200,
            headers: vec![("content-type".into(), "text/event-stream".into())],
            body: body.into_bytes(),
            delay: Duration::ZERO,
        }
    }

    /// A 200 body of this content type.
    pub(crate) fn bytes(content_type: &str, body: Vec<u8>) -> Self {
        Self {
            status: 200,
            headers: vec![("content-type".into(), content_type.into())],
            body,
            delay: Duration::ZERO,
        }
    }

    /// A JSON body with a status.
    pub(crate) fn json(status: u16, body: &Value) -> Self {
        Self {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.to_string().into_bytes(),
            delay: Duration::ZERO,
        }
    }

    /// An error status with `{"error":{"message"}}`.
    pub(crate) fn error(status: u16, message: &str) -> Self {
        Self::json(
            status,
            &json!({"type": "error", "error": {"type": "error", "message": message}}),
        )
    }

    /// Waits this long before answering.
    pub(crate) fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// Adds a header (`Retry-After`, …).
    pub(crate) fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }
}

impl From<&Recorded> for Received {
    fn from(recorded: &Recorded) -> Self {
        Self {
            method: recorded.method.clone(),
            path: recorded.path.clone(),
            query: recorded.query.clone(),
            headers: recorded.headers.clone(),
            raw_body: recorded.body.clone(),
            body: recorded.json(),
        }
    }
}

/// The running server (on the shared [`Loopback`] bootstrap); stops when dropped.
pub(crate) struct FakeProvider {
    server: Loopback,
    queue: Arc<Mutex<VecDeque<Canned>>>,
}

impl FakeProvider {
    /// Starts on `127.0.0.1:<free port>` in its own thread and runtime.
    pub(crate) fn start() -> Self {
        let queue = Arc::new(Mutex::new(VecDeque::new()));
        let arrival_queue = queue.clone();
        // The answer is taken as the request is recorded: the n-th request gets the n-th.
        let server = Loopback::serve_with(
            axum::Router::new().fallback(|Extension(canned): Extension<Canned>| handle(canned)),
            move |recorded| answer(&arrival_queue, recorded),
        );
        Self { server, queue }
    }

    /// `http://127.0.0.1:PORT`.
    pub(crate) fn url(&self) -> String {
        self.server.url()
    }

    /// Queues answers.
    pub(crate) fn push(&self, canned: Canned) {
        self.queue
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .push_back(canned);
    }

    /// Every request so far.
    pub(crate) fn requests(&self) -> Vec<Received> {
        self.server.requests().iter().map(Received::from).collect()
    }

    /// The requests that were not the hub's blocklet discovery.
    pub(crate) fn calls(&self) -> Vec<Received> {
        self.requests()
            .into_iter()
            .filter(|request| request.path != "/__blocklet__.js")
            .collect()
    }
}

/// The answer to a request: the hub's blocklet description, else the queue's next, else a 500.
fn answer(queue: &Mutex<VecDeque<Canned>>, received: &Recorded) -> Canned {
    let canned = if received.method == "GET" && received.path == "/__blocklet__.js" {
        Some(Canned::json(
            200,
            &json!({"appPid": "zFake", "componentMountPoints": [
                {"did": "zOther", "mountPoint": "/other"},
                {"did": HUB_DID, "mountPoint": HUB_MOUNT, "name": "ai-kit"}
            ]}),
        ))
    } else {
        queue
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .pop_front()
    };
    canned.unwrap_or_else(|| Canned::error(500, "fake_provider: no scripted answer"))
}

async fn handle(canned: Canned) -> Response {
    if !canned.delay.is_zero() {
        tokio::time::sleep(canned.delay).await;
    }
    let mut response = Response::builder().status(StatusCode::from_u16(canned.status).unwrap());
    for (name, value) in &canned.headers {
        response = response.header(name, value);
    }
    response.body(Body::from(canned.body)).unwrap()
}

// --- Anthropic -------------------------------------------------------------------------------

/// A content block of an Anthropic answer.
pub(crate) enum AnthropicBlock<'a> {
    Text(&'a str),
    /// id, name, arguments (streamed in two `input_json_delta` pieces).
    ToolUse(&'a str, &'a str, &'a str),
}

/// An Anthropic Messages SSE stream: `message_start` (input 25, cache read 10, creation 3),
/// the blocks, `message_delta` with `output_tokens`, `message_stop`.
pub(crate) fn anthropic_stream(
    model: &str,
    blocks: &[AnthropicBlock<'_>],
    output_tokens: u64,
) -> String {
    let mut events = vec![json!({"type": "message_start", "message": {
        "id": "msg_1", "type": "message", "role": "assistant", "model": model, "content": [],
        "stop_reason": null, "usage": {"input_tokens": 25, "output_tokens": 1,
            "cache_creation_input_tokens": 3, "cache_read_input_tokens": 10}}})];
    for (index, block) in blocks.iter().enumerate() {
        match block {
            AnthropicBlock::Text(text) => {
                events.push(json!({"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}}));
                events.push(json!({"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": text}}));
            }
            AnthropicBlock::ToolUse(id, name, arguments) => {
                events.push(json!({"type": "content_block_start", "index": index, "content_block": {"type": "tool_use", "id": id, "name": name, "input": {}}}));
                let middle = arguments.len() / 2;
                for part in [&arguments[..middle], &arguments[middle..]] {
                    events.push(json!({"type": "content_block_delta", "index": index, "delta": {"type": "input_json_delta", "partial_json": part}}));
                }
            }
        }
        events.push(json!({"type": "content_block_stop", "index": index}));
    }
    events.push(json!({"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": output_tokens}}));
    events.push(json!({"type": "message_stop"}));
    events
        .iter()
        .map(|event| {
            format!(
                "event: {}\ndata: {event}\n\n",
                event["type"].as_str().unwrap()
            )
        })
        .collect()
}

// --- Gemini ----------------------------------------------------------------------------------

/// A Gemini SSE stream: one chunk per part list, the last with `finishReason` and usage.
pub(crate) fn gemini_stream(model: &str, chunks: &[Value], usage: Value) -> String {
    let last = chunks.len().saturating_sub(1);
    chunks
        .iter()
        .enumerate()
        .map(|(index, parts)| {
            let mut candidate = json!({"content": {"parts": parts, "role": "model"}, "index": 0});
            let mut chunk = json!({"modelVersion": model, "responseId": "r1"});
            if index == last {
                candidate["finishReason"] = json!("STOP");
                chunk["usageMetadata"] = usage.clone();
            }
            chunk["candidates"] = json!([candidate]);
            format!("data: {chunk}\r\n\r\n")
        })
        .collect()
}

// --- Bedrock ---------------------------------------------------------------------------------

/// One event-stream frame with string headers.
pub(crate) fn event_frame(headers: &[(&str, &str)], payload: &[u8]) -> Vec<u8> {
    let mut encoded = Vec::new();
    for (name, value) in headers {
        encoded.push(name.len() as u8);
        encoded.extend_from_slice(name.as_bytes());
        encoded.push(7);
        encoded.extend_from_slice(&(value.len() as u16).to_be_bytes());
        encoded.extend_from_slice(value.as_bytes());
    }
    let total = 12 + encoded.len() + payload.len() + 4;
    let mut frame = Vec::new();
    frame.extend_from_slice(&(total as u32).to_be_bytes());
    frame.extend_from_slice(&(encoded.len() as u32).to_be_bytes());
    let prelude = crc32fast::hash(&frame);
    frame.extend_from_slice(&prelude.to_be_bytes());
    frame.extend_from_slice(&encoded);
    frame.extend_from_slice(payload);
    let crc = crc32fast::hash(&frame);
    frame.extend_from_slice(&crc.to_be_bytes());
    frame
}

/// A ConverseStream event.
pub(crate) fn bedrock_event(event_type: &str, payload: Value) -> Vec<u8> {
    event_frame(
        &[
            (":event-type", event_type),
            (":content-type", "application/json"),
            (":message-type", "event"),
        ],
        payload.to_string().as_bytes(),
    )
}

/// A ConverseStream answer: text, then tool uses, then usage.
pub(crate) fn bedrock_stream(
    text: Option<&str>,
    tools: &[(&str, &str, &str)],
    input_tokens: u64,
    output_tokens: u64,
) -> Vec<u8> {
    let mut body = bedrock_event("messageStart", json!({"role": "assistant"}));
    let mut index = 0;
    if let Some(text) = text {
        body.extend(bedrock_event(
            "contentBlockDelta",
            json!({"contentBlockIndex": 0, "delta": {"text": text}}),
        ));
        body.extend(bedrock_event(
            "contentBlockStop",
            json!({"contentBlockIndex": 0}),
        ));
        index += 1;
    }
    for (id, name, arguments) in tools {
        body.extend(bedrock_event(
            "contentBlockStart",
            json!({"contentBlockIndex": index, "start": {"toolUse": {"toolUseId": id, "name": name}}}),
        ));
        body.extend(bedrock_event(
            "contentBlockDelta",
            json!({"contentBlockIndex": index, "delta": {"toolUse": {"input": arguments}}}),
        ));
        index += 1;
    }
    body.extend(bedrock_event(
        "messageStop",
        json!({"stopReason": if tools.is_empty() { "end_turn" } else { "tool_use" }}),
    ));
    body.extend(bedrock_event(
        "metadata",
        json!({"usage": {"inputTokens": input_tokens, "outputTokens": output_tokens, "totalTokens": input_tokens + output_tokens}, "metrics": {"latencyMs": 1}}),
    ));
    body
}

// --- AIGNE Hub -------------------------------------------------------------------------------

/// AIGNE response chunks as SSE `data:` lines.
pub(crate) fn hub_stream(chunks: &[Value]) -> String {
    chunks
        .iter()
        .map(|chunk| format!("data: {chunk}\n\n"))
        .collect()
}
