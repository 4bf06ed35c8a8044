//! A fake OpenAI-compatible chat-completions server on `127.0.0.1`, speaking the real wire
//! protocol, for hermetic tests of everything that calls a model.
//!
//! # API
//!
//! ```ignore
//! use crate::common::fake_openai::{FakeOpenAi, Reply, FakeToolCall};
//!
//! let server = FakeOpenAi::start();                 // own thread + runtime: usable from sync and async tests
//! server.push(Reply::tool_calls([FakeToolCall::new("call_1", "add", json!({"a": 1, "b": 2}))]));
//! server.push(Reply::text("The sum is 3").usage(12, 5));
//! // point the code under test at it:
//! command.env("OPENAI_BASE_URL", server.base_url()).env("OPENAI_API_KEY", "sk-test");
//! // … run …
//! let requests = server.requests();                  // every request, in arrival order
//! assert_eq!(requests[0].body["messages"][0]["role"], "system");
//! assert_eq!(requests[0].path, "/v1/chat/completions");
//! assert_eq!(requests[0].header("authorization"), Some("Bearer sk-test"));
//! ```
//!
//! * [`FakeOpenAi::start`] binds `127.0.0.1:0` on a dedicated thread; [`FakeOpenAi::base_url`] is
//!   `http://127.0.0.1:PORT/v1` (what `OPENAI_BASE_URL` expects); [`FakeOpenAi::url`] is the bare
//!   origin. Dropping the server (or [`FakeOpenAi::shutdown`]) stops it; afterwards connections to
//!   the port are refused.
//! * Replies come, in order, from a queue ([`FakeOpenAi::push`], [`FakeOpenAi::push_all`]); when the
//!   queue is empty, from the handler closure ([`FakeOpenAi::set_handler`], called with the
//!   recorded request, whose [`RecordedRequest::index`] counts requests from 0); otherwise from the
//!   default reply ([`FakeOpenAi::set_default`]); otherwise the server answers **500** with
//!   `{"error":{"message":"fake_openai: no scripted reply for request N"}}` so a missing script is
//!   loud.
//! * Every request is recorded ([`RecordedRequest`]: method, path, query, lowercase headers, raw
//!   body and parsed JSON body) whatever the path. `POST …/chat/completions` gets the scripted reply;
//!   `GET …/models` lists one model; `GET` of a path given to [`FakeOpenAi::serve_file`] answers
//!   that file; any other path is 404 (still recorded).
//! * A reply is streamed as SSE when the request body has `"stream": true` (each chunk its own
//!   `data: {...}\n\n` frame, then `data: [DONE]`), with a final usage chunk (`choices: []`) only when
//!   `stream_options.include_usage` is true, exactly as OpenAI does; otherwise it is one
//!   `chat.completion` JSON object with `usage`. The `model` field echoes the request's model unless
//!   [`Reply::model`] sets it.
//! * [`Reply`] builders: [`Reply::text`] (content split into [`Reply::fragments`] deltas, default 2),
//!   [`Reply::json`] (content = the compact JSON text), [`Reply::tool_calls`] (streamed as fragments
//!   keyed by `index`: the first carries `id`, `type`, `function.name` and `arguments: ""`, then the
//!   arguments string in pieces), [`Reply::refusal`], [`Reply::error`] (status + JSON body,
//!   [`Reply::retry_after`] adds `Retry-After`), [`Reply::raw`] (status, content type, body as-is),
//!   [`Reply::malformed_stream`] (a 200 SSE stream with a broken JSON chunk and no `[DONE]`), and
//!   modifiers [`Reply::usage`] (default 10 in / 5 out), [`Reply::cached_tokens`],
//!   [`Reply::latency`] (before the response head), [`Reply::chunk_delay`] (between SSE frames),
//!   [`Reply::header`], [`Reply::reasoning`] (non-standard `delta.reasoning`), [`Reply::finish_reason`],
//!   [`Reply::whole_tool_calls`] (each call in one delta, as xAI streams them).
//! * [`sse_body`] renders what a reply would stream, for tests of the parser alone.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Extension;
use axum::body::{Body, Bytes};
use axum::http::StatusCode;
use axum::response::Response;
use futures::StreamExt;
use serde_json::{Value, json};

use super::server::{Loopback, Recorded};

/// One request the server received.
#[derive(Debug, Clone)]
pub(crate) struct RecordedRequest {
    /// Position in arrival order, from 0.
    pub index: usize,
    pub method: String,
    /// Path without the query, e.g. `/v1/chat/completions`.
    pub path: String,
    pub query: Option<String>,
    /// Header names in lowercase, in arrival order.
    pub headers: Vec<(String, String)>,
    /// The raw body text.
    pub raw_body: String,
    /// The body parsed as JSON (`Value::Null` when it is not JSON).
    pub body: Value,
}

impl RecordedRequest {
    /// The first value of a header (name case-insensitive).
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        super::server::header(&self.headers, name)
    }

    /// Whether the request asked for a stream.
    pub(crate) fn is_stream(&self) -> bool {
        self.body.get("stream").and_then(Value::as_bool) == Some(true)
    }

    /// The model the request named.
    pub(crate) fn model(&self) -> Option<&str> {
        self.body.get("model").and_then(Value::as_str)
    }

    /// The text of the request's last user message.
    pub(crate) fn last_user_text(&self) -> String {
        last_user_text(&self.body)
    }
}

/// The text of the last user message of a chat request body: its string content, or its text
/// parts joined ("" when there is none).
pub(crate) fn last_user_text(body: &Value) -> String {
    body["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .rev()
        .find(|message| message["role"] == "user")
        .map(|message| match &message["content"] {
            Value::String(text) => text.clone(),
            Value::Array(parts) => parts
                .iter()
                .filter_map(|part| part["text"].as_str())
                .collect(),
            _ => String::new(),
        })
        .unwrap_or_default()
}

/// A tool call the fake model makes.
#[derive(Debug, Clone)]
pub(crate) struct FakeToolCall {
    pub id: Option<String>,
    pub name: String,
    /// The arguments string exactly as sent (may be invalid JSON on purpose).
    pub arguments: String,
}

impl FakeToolCall {
    /// A call with JSON arguments.
    pub(crate) fn new(id: &str, name: &str, arguments: Value) -> Self {
        Self {
            id: Some(id.to_owned()),
            name: name.to_owned(),
            arguments: arguments.to_string(),
        }
    }

    /// A call whose arguments string is sent verbatim.
    pub(crate) fn raw(id: &str, name: &str, arguments: &str) -> Self {
        Self {
            id: Some(id.to_owned()),
            name: name.to_owned(),
            arguments: arguments.to_owned(),
        }
    }

    /// A call without an id (the client must invent one).
    pub(crate) fn without_id(mut self) -> Self {
        self.id = None;
        self
    }
}

#[derive(Debug, Clone)]
enum ReplyKind {
    Message {
        content: Option<String>,
        tool_calls: Vec<FakeToolCall>,
        refusal: Option<String>,
        reasoning: Option<String>,
    },
    Error {
        status: u16,
        body: Value,
    },
    Raw {
        status: u16,
        content_type: String,
        body: String,
    },
    MalformedStream,
}

/// A scripted answer.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    kind: ReplyKind,
    usage: Option<(u64, u64)>,
    cached_tokens: Option<u64>,
    model: Option<String>,
    latency: Duration,
    chunk_delay: Duration,
    headers: Vec<(String, String)>,
    fragments: usize,
    whole_tool_calls: bool,
    finish_reason: Option<String>,
}

impl Reply {
    fn message(content: Option<String>, tool_calls: Vec<FakeToolCall>) -> Self {
        Self {
            kind: ReplyKind::Message {
                content,
                tool_calls,
                refusal: None,
                reasoning: None,
            },
            usage: Some((10, 5)),
            cached_tokens: None,
            model: None,
            latency: Duration::ZERO,
            chunk_delay: Duration::ZERO,
            headers: Vec::new(),
            fragments: 2,
            whole_tool_calls: false,
            finish_reason: None,
        }
    }

    /// Assistant text.
    pub(crate) fn text(text: &str) -> Self {
        Self::message(Some(text.to_owned()), Vec::new())
    }

    /// Assistant text that is the compact JSON of `value` (structured output).
    pub(crate) fn json(value: Value) -> Self {
        Self::message(Some(value.to_string()), Vec::new())
    }

    /// Tool calls (no text).
    pub(crate) fn tool_calls(calls: impl IntoIterator<Item = FakeToolCall>) -> Self {
        Self::message(None, calls.into_iter().collect())
    }

    /// Text and tool calls together.
    pub(crate) fn text_and_tool_calls(
        text: &str,
        calls: impl IntoIterator<Item = FakeToolCall>,
    ) -> Self {
        Self::message(Some(text.to_owned()), calls.into_iter().collect())
    }

    /// A refusal (`delta.refusal`).
    pub(crate) fn refusal(text: &str) -> Self {
        let mut reply = Self::message(None, Vec::new());
        if let ReplyKind::Message { refusal, .. } = &mut reply.kind {
            *refusal = Some(text.to_owned());
        }
        reply
    }

    /// An HTTP error with a JSON body, e.g. `Reply::error(429, json!({"error": {...}}))`.
    pub(crate) fn error(status: u16, body: Value) -> Self {
        let mut reply = Self::message(None, Vec::new());
        reply.kind = ReplyKind::Error { status, body };
        reply
    }

    /// Any status, content type and body, sent as-is.
    pub(crate) fn raw(status: u16, content_type: &str, body: &str) -> Self {
        let mut reply = Self::message(None, Vec::new());
        reply.kind = ReplyKind::Raw {
            status,
            content_type: content_type.to_owned(),
            body: body.to_owned(),
        };
        reply
    }

    /// A 200 SSE stream: one good chunk, then a chunk that is not JSON, then the connection ends
    /// (no `[DONE]`).
    pub(crate) fn malformed_stream() -> Self {
        let mut reply = Self::message(None, Vec::new());
        reply.kind = ReplyKind::MalformedStream;
        reply
    }

    /// Token usage (`prompt_tokens`, `completion_tokens`).
    pub(crate) fn usage(mut self, input_tokens: u64, output_tokens: u64) -> Self {
        self.usage = Some((input_tokens, output_tokens));
        self
    }

    /// No usage at all, even when asked for.
    pub(crate) fn no_usage(mut self) -> Self {
        self.usage = None;
        self
    }

    /// `usage.prompt_tokens_details.cached_tokens`.
    pub(crate) fn cached_tokens(mut self, tokens: u64) -> Self {
        self.cached_tokens = Some(tokens);
        self
    }

    /// The `model` field of the answer (default: the request's model).
    pub(crate) fn model(mut self, model: &str) -> Self {
        self.model = Some(model.to_owned());
        self
    }

    /// Wait before sending the response head.
    pub(crate) fn latency(mut self, latency: Duration) -> Self {
        self.latency = latency;
        self
    }

    /// Wait between SSE frames.
    pub(crate) fn chunk_delay(mut self, delay: Duration) -> Self {
        self.chunk_delay = delay;
        self
    }

    /// An extra response header.
    pub(crate) fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// `Retry-After: <value>` (seconds or an HTTP date).
    pub(crate) fn retry_after(self, value: &str) -> Self {
        self.header("retry-after", value)
    }

    /// How many deltas text and tool arguments are split into (at least 1).
    pub(crate) fn fragments(mut self, fragments: usize) -> Self {
        self.fragments = fragments.max(1);
        self
    }

    /// Sends each tool call whole in one delta (id, type, name and all arguments), as xAI does.
    pub(crate) fn whole_tool_calls(mut self) -> Self {
        self.whole_tool_calls = true;
        self
    }

    /// A non-standard `delta.reasoning` before the content.
    pub(crate) fn reasoning(mut self, text: &str) -> Self {
        if let ReplyKind::Message { reasoning, .. } = &mut self.kind {
            *reasoning = Some(text.to_owned());
        }
        self
    }

    /// The `finish_reason` (default `stop`, or `tool_calls` when there are calls).
    pub(crate) fn finish_reason(mut self, reason: &str) -> Self {
        self.finish_reason = Some(reason.to_owned());
        self
    }
}

/// Splits `text` into `parts` pieces on char boundaries (fewer when it is short).
fn split(text: &str, parts: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    if chars.is_empty() {
        return vec![String::new()];
    }
    let size = chars.len().div_ceil(parts.max(1)).max(1);
    chars
        .chunks(size)
        .map(|chunk| chunk.iter().collect())
        .collect()
}

fn chunk(model: &str, choices: Value, usage: Option<Value>) -> Value {
    let mut chunk = json!({
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": 1_700_000_000,
        "model": model,
        "system_fingerprint": "fp_fake",
        "choices": choices,
    });
    if let Some(usage) = usage {
        chunk["usage"] = usage;
    }
    chunk
}

fn usage_value(reply: &Reply) -> Option<Value> {
    reply.usage.map(|(input, output)| {
        let mut usage = json!({
            "prompt_tokens": input,
            "completion_tokens": output,
            "total_tokens": input + output,
        });
        if let Some(cached) = reply.cached_tokens {
            usage["prompt_tokens_details"] = json!({"cached_tokens": cached});
        }
        usage
    })
}

fn finish_reason(reply: &Reply, has_calls: bool) -> String {
    reply.finish_reason.clone().unwrap_or_else(|| {
        if has_calls {
            "tool_calls".to_owned()
        } else {
            "stop".to_owned()
        }
    })
}

/// The SSE frames (`data: …\n\n`) a message reply streams, `[DONE]` included.
pub(crate) fn sse_frames(reply: &Reply, model: &str, include_usage: bool) -> Vec<String> {
    let model = reply.model.as_deref().unwrap_or(model);
    let mut frames = Vec::new();
    let mut push = |value: Value| frames.push(format!("data: {value}\n\n"));
    match &reply.kind {
        ReplyKind::Message {
            content,
            tool_calls,
            refusal,
            reasoning,
        } => {
            push(chunk(
                model,
                json!([{"index": 0, "delta": {"role": "assistant", "content": "", "refusal": null}, "logprobs": null, "finish_reason": null}]),
                None,
            ));
            if let Some(reasoning) = reasoning {
                for piece in split(reasoning, reply.fragments) {
                    push(chunk(
                        model,
                        json!([{"index": 0, "delta": {"reasoning": piece}, "logprobs": null, "finish_reason": null}]),
                        None,
                    ));
                }
            }
            if let Some(content) = content {
                for piece in split(content, reply.fragments) {
                    push(chunk(
                        model,
                        json!([{"index": 0, "delta": {"content": piece}, "logprobs": null, "finish_reason": null}]),
                        None,
                    ));
                }
            }
            if let Some(refusal) = refusal {
                for piece in split(refusal, reply.fragments) {
                    push(chunk(
                        model,
                        json!([{"index": 0, "delta": {"refusal": piece}, "logprobs": null, "finish_reason": null}]),
                        None,
                    ));
                }
            }
            for (index, call) in tool_calls.iter().enumerate() {
                let whole = reply.whole_tool_calls;
                let mut first = json!({
                    "index": index,
                    "type": "function",
                    "function": {"name": call.name, "arguments": if whole { call.arguments.as_str() } else { "" }},
                });
                if let Some(id) = &call.id {
                    first["id"] = json!(id);
                }
                push(chunk(
                    model,
                    json!([{"index": 0, "delta": {"tool_calls": [first]}, "logprobs": null, "finish_reason": null}]),
                    None,
                ));
                if !whole && !call.arguments.is_empty() {
                    for piece in split(&call.arguments, reply.fragments) {
                        push(chunk(
                            model,
                            json!([{"index": 0, "delta": {"tool_calls": [{"index": index, "function": {"arguments": piece}}]}, "logprobs": null, "finish_reason": null}]),
                            None,
                        ));
                    }
                }
            }
            push(chunk(
                model,
                json!([{"index": 0, "delta": {}, "logprobs": null, "finish_reason": finish_reason(reply, !tool_calls.is_empty())}]),
                None,
            ));
            if include_usage && let Some(usage) = usage_value(reply) {
                push(chunk(model, json!([]), Some(usage)));
            }
            frames.push("data: [DONE]\n\n".to_owned());
        }
        ReplyKind::MalformedStream => {
            push(chunk(
                model,
                json!([{"index": 0, "delta": {"role": "assistant", "content": "partial"}, "logprobs": null, "finish_reason": null}]),
                None,
            ));
            frames.push(
                "data: {\"id\":\"chatcmpl-fake\",\"choices\":[{\"delta\":{\"content\n\n".to_owned(),
            );
        }
        ReplyKind::Error { .. } | ReplyKind::Raw { .. } => {}
    }
    frames
}

/// The whole SSE body of a message reply.
pub(crate) fn sse_body(reply: &Reply, model: &str, include_usage: bool) -> String {
    sse_frames(reply, model, include_usage).concat()
}

/// The non-streaming `chat.completion` object of a message reply.
pub(crate) fn completion_json(reply: &Reply, model: &str) -> Value {
    let model = reply.model.as_deref().unwrap_or(model);
    let (content, tool_calls, refusal) = match &reply.kind {
        ReplyKind::Message {
            content,
            tool_calls,
            refusal,
            ..
        } => (content.clone(), tool_calls.clone(), refusal.clone()),
        _ => (None, Vec::new(), None),
    };
    let mut message = json!({"role": "assistant", "content": content, "refusal": refusal});
    if !tool_calls.is_empty() {
        message["tool_calls"] = Value::Array(
            tool_calls
                .iter()
                .map(|call| {
                    json!({
                        "id": call.id.clone().unwrap_or_else(|| "call_fake".to_owned()),
                        "type": "function",
                        "function": {"name": call.name, "arguments": call.arguments},
                    })
                })
                .collect(),
        );
    }
    let mut completion = json!({
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": model,
        "system_fingerprint": "fp_fake",
        "choices": [{
            "index": 0,
            "message": message,
            "logprobs": null,
            "finish_reason": finish_reason(reply, !tool_calls.is_empty()),
        }],
    });
    if let Some(usage) = usage_value(reply) {
        completion["usage"] = usage;
    }
    completion
}

type Handler = Arc<dyn Fn(&RecordedRequest) -> Reply + Send + Sync>;

#[derive(Default)]
struct State {
    queue: VecDeque<Reply>,
    handler: Option<Handler>,
    default: Option<Reply>,
    files: std::collections::HashMap<String, (String, Vec<u8>)>,
}

impl From<&Recorded> for RecordedRequest {
    fn from(recorded: &Recorded) -> Self {
        Self {
            index: recorded.index,
            method: recorded.method.clone(),
            path: recorded.path.clone(),
            query: recorded.query.clone(),
            headers: recorded.headers.clone(),
            raw_body: recorded.text(),
            body: recorded.json(),
        }
    }
}

/// The running fake server (on the shared [`Loopback`] bootstrap). Stops when dropped.
pub(crate) struct FakeOpenAi {
    server: Loopback,
    state: Arc<Mutex<State>>,
}

impl FakeOpenAi {
    /// Starts a server on `127.0.0.1:<free port>` in its own thread and runtime.
    pub(crate) fn start() -> Self {
        let state = Arc::new(Mutex::new(State::default()));
        let server_state = state.clone();
        let router = axum::Router::new().fallback(
            move |Extension(recorded): Extension<Recorded>,
                  Extension(Scripted(reply)): Extension<Scripted>| {
                handle(server_state.clone(), recorded, reply)
            },
        );
        // The reply is taken as the request is recorded: the n-th chat request gets the n-th.
        let arrival_state = state.clone();
        let server = Loopback::serve_with(router, move |recorded| {
            Scripted(scripted_reply(&arrival_state, recorded))
        });
        Self { server, state }
    }

    /// A server that answers the first chat request at once (`quick`) and every later one after
    /// 30 s (`slow`): a run is then reliably in the middle of its second case.
    pub(crate) fn quick_then_slow() -> Self {
        let server = Self::start();
        server.set_handler(|request| {
            if request.index == 0 {
                Reply::text("quick")
            } else {
                Reply::text("slow").latency(Duration::from_secs(30))
            }
        });
        server
    }

    /// `http://127.0.0.1:PORT/v1` — the value for `OPENAI_BASE_URL`.
    pub(crate) fn base_url(&self) -> String {
        format!("{}/v1", self.server.url())
    }

    /// `http://127.0.0.1:PORT`.
    pub(crate) fn url(&self) -> String {
        self.server.url()
    }

    /// The bound address.
    pub(crate) fn address(&self) -> SocketAddr {
        self.server.address()
    }

    /// Queues one reply.
    pub(crate) fn push(&self, reply: Reply) {
        self.lock().queue.push_back(reply);
    }

    /// Queues several replies.
    pub(crate) fn push_all(&self, replies: impl IntoIterator<Item = Reply>) {
        self.lock().queue.extend(replies);
    }

    /// Answers with this closure whenever the queue is empty.
    pub(crate) fn set_handler(
        &self,
        handler: impl Fn(&RecordedRequest) -> Reply + Send + Sync + 'static,
    ) {
        self.lock().handler = Some(Arc::new(handler));
    }

    /// Answers with this reply whenever the queue is empty and there is no handler.
    pub(crate) fn set_default(&self, reply: Reply) {
        self.lock().default = Some(reply);
    }

    /// Serves `GET <path>` with this content type and body (files behind `url` content parts).
    pub(crate) fn serve_file(&self, path: &str, content_type: &str, body: &[u8]) {
        self.lock()
            .files
            .insert(path.to_owned(), (content_type.to_owned(), body.to_vec()));
    }

    /// Every request received so far, in arrival order.
    pub(crate) fn requests(&self) -> Vec<RecordedRequest> {
        self.server
            .requests()
            .iter()
            .map(RecordedRequest::from)
            .collect()
    }

    /// The parsed JSON bodies of the requests received so far.
    pub(crate) fn bodies(&self) -> Vec<Value> {
        self.server.requests().iter().map(Recorded::json).collect()
    }

    /// How many requests arrived.
    pub(crate) fn request_count(&self) -> usize {
        self.server.request_count()
    }

    /// Replies still queued.
    pub(crate) fn pending(&self) -> usize {
        self.lock().queue.len()
    }

    /// Stops the server and waits for its thread.
    pub(crate) fn shutdown(self) {
        self.server.shutdown();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }
}

/// The scripted reply of a request, taken when it arrives.
#[derive(Clone)]
struct Scripted(Option<Reply>);

fn is_chat(request: &Recorded) -> bool {
    request.method == "POST" && request.path.ends_with("/chat/completions")
}

/// The reply for a chat request: the queue's next, else the handler's, else the default.
fn scripted_reply(state: &Mutex<State>, recorded: &Recorded) -> Option<Reply> {
    if !is_chat(recorded) {
        return None;
    }
    let request = RecordedRequest::from(recorded);
    let mut state = state.lock().unwrap_or_else(|poison| poison.into_inner());
    state
        .queue
        .pop_front()
        .or_else(|| state.handler.as_ref().map(|handler| handler(&request)))
        .or_else(|| state.default.clone())
}

async fn handle(state: Arc<Mutex<State>>, recorded: Recorded, reply: Option<Reply>) -> Response {
    let request = RecordedRequest::from(&recorded);
    let method = request.method.as_str();
    let is_chat = is_chat(&recorded);
    let file = (method == "GET")
        .then(|| {
            state
                .lock()
                .unwrap_or_else(|poison| poison.into_inner())
                .files
                .get(&request.path)
                .cloned()
        })
        .flatten();
    if let Some((content_type, body)) = file {
        return Response::builder()
            .status(StatusCode::OK)
            .header("content-type", content_type)
            .body(Body::from(body))
            .expect("file response");
    }
    if !is_chat {
        if method == "GET" && request.path.ends_with("/models") {
            return json_response(
                StatusCode::OK,
                &json!({"object": "list", "data": [{"id": "gpt-4o-mini", "object": "model", "owned_by": "fake"}]}),
                &[],
            );
        }
        return json_response(
            StatusCode::NOT_FOUND,
            &json!({"error": {"message": format!("fake_openai: no route for {} {}", method, request.path)}}),
            &[],
        );
    }
    let Some(reply) = reply else {
        return json_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            &json!({"error": {"message": format!("fake_openai: no scripted reply for request {}", request.index), "type": "server_error"}}),
            &[],
        );
    };
    if !reply.latency.is_zero() {
        tokio::time::sleep(reply.latency).await;
    }
    let model = request.model().unwrap_or("gpt-4o-mini").to_owned();
    match &reply.kind {
        ReplyKind::Error { status, body } => json_response(
            StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            body,
            &reply.headers,
        ),
        ReplyKind::Raw {
            status,
            content_type,
            body,
        } => {
            let mut builder = Response::builder()
                .status(StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
                .header("content-type", content_type.as_str());
            for (name, value) in &reply.headers {
                builder = builder.header(name.as_str(), value.as_str());
            }
            builder
                .body(Body::from(body.clone()))
                .expect("raw response")
        }
        ReplyKind::Message { .. } | ReplyKind::MalformedStream => {
            if request.is_stream() || matches!(reply.kind, ReplyKind::MalformedStream) {
                let include_usage = request
                    .body
                    .pointer("/stream_options/include_usage")
                    .and_then(Value::as_bool)
                    == Some(true);
                let frames = sse_frames(&reply, &model, include_usage);
                let delay = reply.chunk_delay;
                let stream = futures::stream::iter(frames).then(move |frame| async move {
                    if !delay.is_zero() {
                        tokio::time::sleep(delay).await;
                    }
                    Ok::<_, Infallible>(Bytes::from(frame))
                });
                let mut builder = Response::builder()
                    .status(StatusCode::OK)
                    .header("content-type", "text/event-stream; charset=utf-8")
                    .header("cache-control", "no-cache");
                for (name, value) in &reply.headers {
                    builder = builder.header(name.as_str(), value.as_str());
                }
                builder
                    .body(Body::from_stream(stream))
                    .expect("sse response")
            } else {
                json_response(
                    StatusCode::OK,
                    &completion_json(&reply, &model),
                    &reply.headers,
                )
            }
        }
    }
}

fn json_response(status: StatusCode, body: &Value, headers: &[(String, String)]) -> Response {
    let mut builder = Response::builder()
        .status(status)
        .header("content-type", "application/json");
    for (name, value) in headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    builder
        .body(Body::from(body.to_string()))
        .expect("json response")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_text_into_fragments() {
        assert_eq!(split("hello", 2), vec!["hel", "lo"]);
        assert_eq!(split("", 3), vec![""]);
        assert_eq!(split("ab", 5), vec!["a", "b"]);
    }
}
