//! `--max-tool-result` on every MCP transport: an answer over the cap is never read whole, and
//! the request it answers fails at once with a JSON-RPC error naming the cap
//! ([`too_large_error`], recognised by [`too_large_cap`]) instead of waiting for the MCP timeout.
//!
//! - stdio ([`super::stdio`]) and legacy SSE ([`super::sse`]) find the request from the answer's
//!   first or last bytes, or else fail every request still [`Pending`] (an answer too large to
//!   read cannot say which one it was);
//! - streamable HTTP ([`CappedHttpClient`]) knows the request each POST carries, and wraps rmcp's
//!   reqwest client so that its own caps (set to ours) answer that request instead of closing the
//!   session.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use futures::stream::BoxStream;
use reqwest::header::{HeaderName, HeaderValue};
use rmcp::RoleClient;
use rmcp::model::{ClientJsonRpcMessage, JsonRpcMessage, RequestId};
use rmcp::service::{RxJsonRpcMessage, TxJsonRpcMessage};
use rmcp::transport::streamable_http_client::{
    SseError, StreamableHttpClient, StreamableHttpError, StreamableHttpPostResponse,
    StreamableHttpResponseLimits,
};
use sse_stream::Sse;

/// The `data` key of the error that answers an oversized reply.
const TOO_LARGE_KEY: &str = "aigne_ci_too_large";

/// The JSON-RPC error that answers request `id` (as written: a number or a quoted string).
pub(super) fn too_large_error(id: &str, cap: usize) -> Vec<u8> {
    let id: serde_json::Value = serde_json::from_str(id).unwrap_or(serde_json::Value::Null);
    let mut line = serde_json::to_vec(&serde_json::json!({
        "jsonrpc": "2.0",
        "id": id,
        "error": {
            "code": -32603,
            "message": format!(
                "the answer is larger than the {} cap (`--max-tool-result`)",
                crate::project::files::human_size(cap as u64)
            ),
            "data": { TOO_LARGE_KEY: cap },
        },
    }))
    .unwrap_or_default();
    line.push(b'\n');
    line
}

/// [`too_large_error`] as a message for the service.
pub(super) fn too_large_message(id: &str, cap: usize) -> Option<RxJsonRpcMessage<RoleClient>> {
    serde_json::from_slice(&too_large_error(id, cap)).ok()
}

/// The cap, when `error` is the answer [`too_large_error`] gave an oversized reply.
pub(super) fn too_large_cap(error: &rmcp::service::ServiceError) -> Option<usize> {
    let rmcp::service::ServiceError::McpError(data) = error else {
        return None;
    };
    let cap = data.data.as_ref()?.get(TOO_LARGE_KEY)?.as_u64()?;
    usize::try_from(cap).ok()
}

/// A request id as JSON text (`3`, `"a-1"`).
fn id_text(id: &RequestId) -> String {
    serde_json::to_string(id).unwrap_or_default()
}

/// The requests sent to a server and not answered yet (their ids as JSON text).
#[derive(Debug, Clone, Default)]
pub(super) struct Pending(Arc<Mutex<BTreeSet<String>>>);

impl Pending {
    fn ids(&self) -> std::sync::MutexGuard<'_, BTreeSet<String>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Notes a message going to the server.
    pub(super) fn sent(&self, message: &TxJsonRpcMessage<RoleClient>) {
        if let JsonRpcMessage::Request(request) = message {
            self.ids().insert(id_text(&request.id));
        }
    }

    /// Notes a message from the server.
    pub(super) fn received(&self, message: &RxJsonRpcMessage<RoleClient>) {
        let id = match message {
            JsonRpcMessage::Response(response) => Some(&response.id),
            JsonRpcMessage::Error(error) => error.id.as_ref(),
            _ => None,
        };
        if let Some(id) = id {
            self.ids().remove(&id_text(id));
        }
    }

    /// Every request still waiting, now forgotten.
    pub(super) fn take_all(&self) -> Vec<String> {
        std::mem::take(&mut *self.ids()).into_iter().collect()
    }
}

/// rmcp's reqwest client for streamable HTTP, with its answer caps turned into an error for
/// the request that got the oversized answer.
#[derive(Clone)]
pub(super) struct CappedHttpClient {
    pub(super) inner: reqwest::Client,
}

/// Whether rmcp's SSE reader stopped at its event cap (its error type is private: the text is
/// all that is public).
fn is_event_too_large(error: &SseError) -> bool {
    error.to_string().contains("exceeded the maximum size")
}

impl StreamableHttpClient for CappedHttpClient {
    type Error = reqwest::Error;

    async fn post_message(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<StreamableHttpPostResponse, StreamableHttpError<Self::Error>> {
        self.inner
            .post_message(uri, message, session_id, auth_header, custom_headers)
            .await
    }

    async fn post_message_with_response_limits(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        limits: StreamableHttpResponseLimits,
    ) -> Result<StreamableHttpPostResponse, StreamableHttpError<Self::Error>> {
        let request = match &message {
            JsonRpcMessage::Request(request) => Some(id_text(&request.id)),
            _ => None,
        };
        let sent_session = session_id.as_deref().map(str::to_owned);
        let cap = limits.max_json_response_size;
        let response = self
            .inner
            .post_message_with_response_limits(
                uri,
                message,
                session_id,
                auth_header,
                custom_headers,
                limits,
            )
            .await;
        let Some(id) = request else {
            return response;
        };
        match response {
            Err(StreamableHttpError::ResponseBodyTooLarge { .. }) => {
                match too_large_message(&id, cap) {
                    Some(answer) => Ok(StreamableHttpPostResponse::Json(answer, sent_session)),
                    None => response,
                }
            }
            Ok(StreamableHttpPostResponse::Sse(stream, session)) => Ok(
                StreamableHttpPostResponse::Sse(answer_oversized_events(stream, id, cap), session),
            ),
            other => other,
        }
    }

    async fn delete_session(
        &self,
        uri: Arc<str>,
        session_id: Arc<str>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<(), StreamableHttpError<Self::Error>> {
        self.inner
            .delete_session(uri, session_id, auth_header, custom_headers)
            .await
    }

    async fn get_stream(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<BoxStream<'static, Result<Sse, SseError>>, StreamableHttpError<Self::Error>> {
        self.inner
            .get_stream(uri, session_id, last_event_id, auth_header, custom_headers)
            .await
    }

    async fn get_stream_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        max_sse_event_size: usize,
    ) -> Result<BoxStream<'static, Result<Sse, SseError>>, StreamableHttpError<Self::Error>> {
        self.inner
            .get_stream_with_max_sse_event_size(
                uri,
                session_id,
                last_event_id,
                auth_header,
                custom_headers,
                max_sse_event_size,
            )
            .await
    }
}

/// The events of a POST's answer stream; an event over the cap becomes the error answering the
/// request (`id`), and ends the stream.
fn answer_oversized_events(
    stream: BoxStream<'static, Result<Sse, SseError>>,
    id: String,
    cap: usize,
) -> BoxStream<'static, Result<Sse, SseError>> {
    stream
        .scan(false, move |stopped, item| {
            if *stopped {
                return std::future::ready(None);
            }
            std::future::ready(Some(match item {
                Err(error) if is_event_too_large(&error) => {
                    *stopped = true;
                    let answer = too_large_error(&id, cap);
                    Ok(Sse {
                        event: Some("message".to_owned()),
                        data: Some(String::from_utf8_lossy(&answer).trim().to_owned()),
                        id: None,
                        retry: None,
                    })
                }
                other => other,
            }))
        })
        .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_error_names_the_request_and_the_cap() {
        let line = too_large_error("7", 1024);
        let value: serde_json::Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(value["id"], 7);
        assert_eq!(value["error"]["data"][TOO_LARGE_KEY], 1024);
        assert!(
            value["error"]["message"]
                .as_str()
                .unwrap()
                .contains("1 KiB cap")
        );
        assert!(too_large_message("\"a-1\"", 1024).is_some());
    }
}
