//! [`SseClientTransport`]: the legacy HTTP+SSE transport of MCP (protocol 2024-11-05), which
//! AIGNE uses for every `url` server that does not say `transport: streamableHttp`
//! (`MCPAgent.from`: `SSEClientTransport` unless `options.transport === "streamableHttp"`).
//!
//! Hand-written because rmcp no longer ships an SSE client (only streamable HTTP), and the
//! transport is small enough not to need one: GET the URL as an event stream, wait for the
//! `endpoint` event (a URL, relative to the stream's, on the same origin — as the TypeScript SDK
//! checks), then POST each JSON-RPC message to it as `application/json` and read every answer as
//! a `message` event of the stream. Events are parsed by the crate's one SSE parser
//! ([`crate::http::sse::events`], the `sse-stream` crate rmcp itself uses). When the stream
//! ends, [`SseClientTransport::receive`] ends and the connection's reconnect logic opens a new
//! session (the TypeScript SDK's `EventSource` would reconnect the stream, but the server then
//! has a new session that was never initialized).

use futures::StreamExt;
use rmcp::service::{RoleClient, RxJsonRpcMessage, TxJsonRpcMessage};
use url::Url;

use super::cap::{Pending, too_large_message};
use crate::http::sse;
use crate::secret::SafeUrl;

/// Most bytes of an error body quoted in a message.
const ERROR_BODY_LIMIT: usize = 300;
/// Messages read ahead of the service loop.
const INCOMING_BUFFER: usize = 64;

/// Why the SSE transport failed; every variant names the URL (credentials masked).
#[derive(Debug, thiserror::Error)]
pub enum SseError {
    /// The GET of the event stream failed.
    #[error("GET `{url}` failed")]
    Connect {
        /// The stream URL.
        url: String,
        /// Why.
        #[source]
        source: reqwest::Error,
    },
    /// The GET of the event stream got an error status.
    #[error("GET `{url}` answered HTTP {status}")]
    Status {
        /// The stream URL.
        url: String,
        /// The status code.
        status: u16,
    },
    /// The stream ended (or broke) before its `endpoint` event.
    #[error("the event stream of `{url}` ended before its `endpoint` event")]
    NoEndpoint {
        /// The stream URL.
        url: String,
    },
    /// The stream could not be read or parsed.
    #[error("cannot read the event stream of `{url}`")]
    Stream {
        /// The stream URL.
        url: String,
        /// Why.
        #[source]
        source: sse_stream::Error,
    },
    /// The `endpoint` event is not a URL on the stream's origin.
    #[error("the `endpoint` event of `{url}` is not a URL on the same origin: `{endpoint}`")]
    BadEndpoint {
        /// The stream URL.
        url: String,
        /// The event's data.
        endpoint: String,
    },
    /// A POST of a message failed.
    #[error("POST to `{endpoint}` failed")]
    Post {
        /// The endpoint.
        endpoint: String,
        /// Why.
        #[source]
        source: reqwest::Error,
    },
    /// A POST of a message got an error status.
    #[error("POST to `{endpoint}` answered HTTP {status}: {body}")]
    PostStatus {
        /// The endpoint.
        endpoint: String,
        /// The status code.
        status: u16,
        /// The start of the response body.
        body: String,
    },
    /// A message could not be serialized.
    #[error("cannot serialize an MCP message")]
    Serialize(#[source] serde_json::Error),
}

/// A connected legacy SSE session: the stream is read by a task that forwards `message` events.
pub struct SseClientTransport {
    client: reqwest::Client,
    headers: reqwest::header::HeaderMap,
    endpoint: Url,
    incoming: tokio::sync::mpsc::Receiver<RxJsonRpcMessage<RoleClient>>,
    reader: tokio::task::JoinHandle<()>,
    pending: Pending,
}

impl SseClientTransport {
    /// Opens the event stream of `url` and waits for its `endpoint` event. `headers` go with
    /// every request (the GET and each POST), as the TypeScript SDK sends `requestInit.headers`.
    /// An event over `cap` bytes (`--max-tool-result`) ends the stream, and fails every request
    /// still waiting for its answer at once (the event cannot be read to tell which one it was).
    pub async fn connect(
        client: reqwest::Client,
        url: Url,
        headers: reqwest::header::HeaderMap,
        cap: usize,
    ) -> Result<Self, SseError> {
        let label = masked(&url);
        let response = client
            .get(url.clone())
            .headers(headers.clone())
            .header(reqwest::header::ACCEPT, "text/event-stream")
            .send()
            .await
            .map_err(|source| SseError::Connect {
                url: label.clone(),
                source,
            })?;
        if !response.status().is_success() {
            return Err(SseError::Status {
                url: label,
                status: response.status().as_u16(),
            });
        }
        let mut events = sse::events(response.bytes_stream(), cap);
        let endpoint = loop {
            match events.next().await {
                Some(Ok(event)) if event.event.as_deref() == Some("endpoint") => {
                    break event.data.unwrap_or_default();
                }
                // Nothing was sent yet, so nothing before the endpoint can be an answer.
                Some(Ok(_)) => {}
                Some(Err(source)) => {
                    return Err(SseError::Stream { url: label, source });
                }
                None => return Err(SseError::NoEndpoint { url: label }),
            }
        };
        let endpoint = url
            .join(endpoint.trim())
            .ok()
            .filter(|joined| joined.origin() == url.origin())
            .ok_or_else(|| SseError::BadEndpoint {
                url: label,
                endpoint: endpoint.clone(),
            })?;
        let (sender, incoming) = tokio::sync::mpsc::channel(INCOMING_BUFFER);
        let pending = Pending::default();
        let waiting = pending.clone();
        let reader = tokio::spawn(async move {
            loop {
                let event = match events.next().await {
                    Some(Ok(event)) => event,
                    Some(Err(error)) if sse::is_event_too_large(&error) => {
                        for id in waiting.take_all() {
                            let Some(answer) = too_large_message(&id, cap) else {
                                continue;
                            };
                            if sender.send(answer).await.is_err() {
                                break;
                            }
                        }
                        break;
                    }
                    Some(Err(_)) | None => break,
                };
                if !matches!(event.event.as_deref(), None | Some("message")) {
                    continue;
                }
                // The TypeScript SDK reports and skips a message it cannot parse.
                let Some(message) = event.data.and_then(|data| {
                    serde_json::from_str::<RxJsonRpcMessage<RoleClient>>(&data).ok()
                }) else {
                    continue;
                };
                waiting.received(&message);
                if sender.send(message).await.is_err() {
                    break;
                }
            }
        });
        Ok(Self {
            client,
            headers,
            endpoint,
            incoming,
            reader,
            pending,
        })
    }
}

impl rmcp::transport::Transport<RoleClient> for SseClientTransport {
    type Error = SseError;

    fn send(
        &mut self,
        item: TxJsonRpcMessage<RoleClient>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        let client = self.client.clone();
        let headers = self.headers.clone();
        let endpoint = self.endpoint.clone();
        self.pending.sent(&item);
        let body = serde_json::to_vec(&item);
        async move {
            let body = body.map_err(SseError::Serialize)?;
            let response = client
                .post(endpoint.clone())
                .headers(headers)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body)
                .send()
                .await
                .map_err(|source| SseError::Post {
                    endpoint: masked(&endpoint),
                    source,
                })?;
            let status = response.status();
            if status.is_success() {
                return Ok(());
            }
            let mut body = response.text().await.unwrap_or_default();
            if let Some((cut, _)) = body.char_indices().nth(ERROR_BODY_LIMIT) {
                body.truncate(cut);
            }
            Err(SseError::PostStatus {
                endpoint: masked(&endpoint),
                status: status.as_u16(),
                body,
            })
        }
    }

    fn receive(&mut self) -> impl Future<Output = Option<RxJsonRpcMessage<RoleClient>>> + Send {
        self.incoming.recv()
    }

    async fn close(&mut self) -> Result<(), Self::Error> {
        // Dropping the stream closes the connection; the server ends the session.
        self.reader.abort();
        self.incoming.close();
        Ok(())
    }
}

impl Drop for SseClientTransport {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

fn masked(url: &Url) -> String {
    SafeUrl::new(url.clone()).masked()
}
