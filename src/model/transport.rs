//! How a provider request reaches the network: one `POST` with a JSON body, HTTP retries on
//! 408/409/429/5xx and network errors (honouring `Retry-After`), request timeouts, and the
//! record/replay [`Cassette`].
//!
//! The client and the retry policy (transient statuses and errors, back-off, `Retry-After`) are
//! the shared [`crate::http`] layer's; this file adds reading the whole body inside the retry
//! loop (a cut stream is retried too), `retry-after-ms`, a whole-request timeout, and the
//! cassette.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::ModelError;
use super::cassette::{Cassette, Interaction, VERSION};
use super::wire::WireRequest;
use crate::http::{self, HttpSettings, retry};
use crate::secret::{SafeUrl, Secret};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

/// How HTTP calls are made.
#[derive(Debug, Clone)]
pub struct TransportSettings {
    /// The shared client's settings; `retry.max_retries` is `--retries`.
    pub http: HttpSettings,
    /// Whole-request timeout (headers and body) of one attempt.
    pub request_timeout: Duration,
    /// The largest answer body read, in bytes (`--max-response-size`): a body past it is
    /// refused as soon as it passes, never buffered whole.
    pub max_response_bytes: usize,
}

/// The HTTP side of every provider.
pub struct Transport {
    client: reqwest::Client,
    settings: TransportSettings,
    cassette: Option<Arc<Cassette>>,
}

/// `--max-response-size`'s default: the largest answer body read from a provider, in bytes. A
/// chat answer (even one with an inline image) is far below it. The body is held once while it
/// is parsed (events are parsed one at a time from it, and only the assembled answer is kept
/// besides), so a run enforcing this cap stays near 64 MB.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 16 * 1024 * 1024;

/// A body up to this size grows by doubling; past it, the buffer takes room for the whole cap.
const SMALL_BODY_BYTES: usize = 1024 * 1024;

/// Tells whether a 2xx streamed body reached its protocol's end marker (`[DONE]`,
/// `message_stop`, `finishReason`, `messageStop`); `Err` says what is missing. Each provider
/// module has its `check_end`.
pub type CheckEnd = fn(&[u8]) -> Result<(), String>;

/// One call to make.
pub struct HttpCall<'a> {
    pub provider: &'a str,
    pub model: &'a str,
    pub url: &'a SafeUrl,
    pub key: Option<&'a Secret>,
    pub body: &'a Value,
    pub case: Option<&'a str>,
    /// For a streamed answer: a body that stopped early is retried like a dropped connection,
    /// and is an error ([`ModelError::Truncated`]) when the retries run out.
    pub check_end: Option<CheckEnd>,
}

/// A successful (2xx) answer, body read whole.
#[derive(Debug)]
pub struct HttpAnswer {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: String,
    /// Attempts it took (1 = no retry).
    pub attempts: u32,
}

/// One fully built request of any provider (method, headers and body included).
pub struct RawCall<'a> {
    pub provider: &'a str,
    pub model: &'a str,
    pub request: &'a WireRequest,
    pub case: Option<&'a str>,
    /// A limit on the time until the response's headers, inside the whole-request timeout
    /// (AIGNE Hub's client has one).
    pub header_timeout: Option<Duration>,
    /// As [`HttpCall::check_end`].
    pub check_end: Option<CheckEnd>,
}

/// A successful (2xx) answer with its body as bytes (Bedrock's event stream is binary).
#[derive(Debug)]
pub struct RawAnswer {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
    /// Attempts it took (1 = no retry).
    pub attempts: u32,
}

enum Attempt {
    Answer {
        status: u16,
        content_type: Option<String>,
        retry_after: Option<Duration>,
        body: Vec<u8>,
    },
    Failed(reqwest::Error),
    /// No answer within this limit.
    TimedOut(Duration),
    /// The body is larger than [`TransportSettings::max_response_bytes`].
    TooLarge,
}

impl Transport {
    /// A transport with its own client.
    pub fn new(
        settings: TransportSettings,
        cassette: Option<Arc<Cassette>>,
    ) -> Result<Self, ModelError> {
        let client = http::client(&settings.http)?;
        Ok(Self {
            client,
            settings,
            cassette,
        })
    }

    /// Whether calls are answered from a cassette.
    pub fn is_replay(&self) -> bool {
        self.cassette
            .as_ref()
            .is_some_and(|cassette| cassette.is_replay())
    }

    /// Posts `body` as JSON (with the key as a bearer token) and returns the 2xx answer; a
    /// non-2xx final answer is a [`ModelError::Status`].
    pub async fn post_json(&self, call: HttpCall<'_>) -> Result<HttpAnswer, ModelError> {
        let invalid = |error: super::wire::WireError| ModelError::InvalidSetting {
            name: format!("{} request", call.provider),
            message: error.to_string(),
        };
        let mut request =
            WireRequest::post_json(call.url.expose().clone(), call.body).map_err(invalid)?;
        request
            .header("accept", "application/json")
            .map_err(invalid)?;
        if let Some(key) = call.key {
            request
                .secret_header("authorization", "Bearer ", key)
                .map_err(invalid)?;
        }
        let answer = self
            .send(RawCall {
                provider: call.provider,
                model: call.model,
                request: &request,
                case: call.case,
                header_timeout: None,
                check_end: call.check_end,
            })
            .await?;
        // Moved, not copied, when it is UTF-8 (as it should be).
        let body = String::from_utf8(answer.body)
            .unwrap_or_else(|error| String::from_utf8_lossy(error.as_bytes()).into_owned());
        Ok(HttpAnswer {
            status: answer.status,
            content_type: answer.content_type,
            body,
            attempts: answer.attempts,
        })
    }

    /// Sends a built request with retries (or answers it from the cassette) and returns the
    /// 2xx answer; a non-2xx final answer is a [`ModelError::Status`].
    pub async fn send(&self, call: RawCall<'_>) -> Result<RawAnswer, ModelError> {
        let path = call.request.url.path().to_owned();
        // The cassette keys on the JSON body (`null` for a `GET`).
        let request_json = call.request.json_body().unwrap_or(Value::Null);
        if let Some(cassette) = self
            .cassette
            .as_ref()
            .filter(|cassette| cassette.is_replay())
        {
            let recorded = cassette.answer(call.provider, &path, &request_json, call.case)?;
            if let Some(missing) = cut_short(&call, recorded.status, &recorded.body) {
                return Err(truncated(
                    &call,
                    &SafeUrl::new(call.request.url.clone()),
                    1,
                    missing,
                ));
            }
            return finish(
                &call,
                recorded.status,
                recorded.content_type,
                recorded.body,
                1,
            );
        }
        let url = SafeUrl::new(call.request.url.clone());
        let (outcome, attempts) = retry::run(
            &self.settings.http.retry,
            |_| self.judged_attempt(&call),
            |_, _| {},
        )
        .await;
        let (outcome, cut) = outcome;
        if let Some(missing) = cut {
            return Err(truncated(&call, &url, attempts, missing));
        }
        match outcome {
            Attempt::TooLarge => Err(ModelError::TooLarge {
                provider: call.provider.to_owned(),
                model: call.model.to_owned(),
                url: url.to_string(),
                limit: self.settings.max_response_bytes,
            }),
            Attempt::Failed(source) => Err(ModelError::Network {
                provider: call.provider.to_owned(),
                model: call.model.to_owned(),
                url: url.to_string(),
                attempts,
                source: source.without_url(),
            }),
            Attempt::TimedOut(timeout) => Err(ModelError::Timeout {
                provider: call.provider.to_owned(),
                model: call.model.to_owned(),
                url: url.to_string(),
                attempts,
                timeout,
            }),
            Attempt::Answer {
                status,
                content_type,
                body,
                ..
            } => {
                if let Some(cassette) = &self.cassette {
                    let (response, response_encoding) = match std::str::from_utf8(&body) {
                        Ok(text) => (text.to_owned(), None),
                        Err(_) => (BASE64.encode(&body), Some("base64".to_owned())),
                    };
                    cassette.append(Interaction {
                        version: VERSION,
                        provider: call.provider.to_owned(),
                        method: call.request.method.as_str().to_owned(),
                        path: path.clone(),
                        case: call.case.map(str::to_owned),
                        request: request_json.clone(),
                        status,
                        content_type: content_type.clone(),
                        response,
                        response_encoding,
                    })?;
                }
                finish(&call, status, content_type, body, attempts)
            }
        }
    }

    /// One attempt within the whole-request timeout, judged for [`retry::run`]: retryable
    /// statuses (honouring `Retry-After`), transient network errors, timeouts, and a 2xx stream
    /// cut before its end marker (a connection dropped mid-answer) are retried.
    async fn judged_attempt(
        &self,
        call: &RawCall<'_>,
    ) -> retry::Verdict<(Attempt, Option<String>)> {
        let outcome = match tokio::time::timeout(
            self.settings.request_timeout,
            self.attempt(call.request, call.header_timeout),
        )
        .await
        {
            Ok(outcome) => outcome,
            Err(_) => Attempt::TimedOut(self.settings.request_timeout),
        };
        let cut = match &outcome {
            Attempt::Answer { status, body, .. } => cut_short(call, *status, body),
            _ => None,
        };
        let retry = match &outcome {
            Attempt::Answer {
                status,
                retry_after,
                ..
            } if is_retryable_status(*status) => Some((*retry_after, format!("status {status}"))),
            Attempt::Answer { .. } => cut.clone().map(|missing| (None, missing)),
            Attempt::Failed(error) if retry::is_transient_error(error) => {
                Some((None, crate::text::error_chain(error)))
            }
            Attempt::Failed(_) | Attempt::TooLarge => None,
            Attempt::TimedOut(limit) => Some((None, format!("timed out after {limit:?}"))),
        };
        match retry {
            Some((retry_after, reason)) => retry::Verdict::Retry {
                outcome: (outcome, cut),
                retry_after,
                reason,
            },
            None => retry::Verdict::Done((outcome, cut)),
        }
    }

    /// Downloads a file (AIGNE turns `url` parts into inline files before calling the model):
    /// a `GET` through [`Self::send`], so it is retried, recorded and replayed like model calls
    /// and replay needs no network for it either.
    pub async fn download(
        &self,
        provider: &str,
        url: &SafeUrl,
        case: Option<&str>,
    ) -> Result<Vec<u8>, ModelError> {
        let request = WireRequest::get(url.expose().clone());
        let answer = self
            .send(RawCall {
                provider,
                model: "",
                request: &request,
                case,
                header_timeout: None,
                check_end: None,
            })
            .await
            .map_err(|error| match error {
                ModelError::Status {
                    status, attempts, ..
                } => ModelError::Download {
                    url: url.to_string(),
                    message: format!("status {status} after {attempts} attempt(s)"),
                },
                ModelError::Network {
                    attempts, source, ..
                } => ModelError::Download {
                    url: url.to_string(),
                    message: format!("{source} after {attempts} attempt(s)"),
                },
                ModelError::Timeout { attempts, .. } => ModelError::Download {
                    url: url.to_string(),
                    message: format!("timed out after {attempts} attempt(s)"),
                },
                other => other,
            })?;
        Ok(answer.body)
    }

    async fn attempt(&self, wire: &WireRequest, header_timeout: Option<Duration>) -> Attempt {
        let mut request = self
            .client
            .request(wire.method.clone(), wire.url.clone())
            .headers(wire.headers.clone());
        if !wire.body.is_empty() {
            request = request.body(wire.body.clone());
        }
        let sent = match header_timeout {
            Some(limit) => match tokio::time::timeout(limit, request.send()).await {
                Ok(sent) => sent,
                Err(_) => return Attempt::TimedOut(limit),
            },
            None => request.send().await,
        };
        let mut response = match sent {
            Ok(response) => response,
            Err(error) => return Attempt::Failed(error),
        };
        let status = response.status().as_u16();
        let headers = response.headers();
        let content_type = headers
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        let retry_after = retry_after(headers);
        let limit = self.settings.max_response_bytes;
        let announced = response.content_length();
        if announced.is_some_and(|length| length > limit as u64) {
            return Attempt::TooLarge;
        }
        // Room for what the server announced. Otherwise the buffer doubles while the body is
        // small, then takes room for the whole cap at once: doubling a large body copies it and
        // holds the old and the new buffer together (only the pages written become resident).
        let mut body = Vec::with_capacity(
            announced.map_or(0, |length| usize::try_from(length).unwrap_or(limit)),
        );
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    let needed = body.len() + chunk.len();
                    if needed > limit {
                        return Attempt::TooLarge;
                    }
                    if needed > body.capacity() {
                        let room = if needed <= SMALL_BODY_BYTES {
                            (body.capacity() * 2).clamp(needed, limit)
                        } else {
                            limit
                        };
                        body.reserve_exact(room - body.len());
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(error) => return Attempt::Failed(error),
            }
        }
        Attempt::Answer {
            status,
            content_type,
            retry_after,
            body,
        }
    }
}

/// What a 2xx streamed body lacks, when it stopped before its protocol's end marker.
fn cut_short(call: &RawCall<'_>, status: u16, body: &[u8]) -> Option<String> {
    let check = call.check_end?;
    if !(200..300).contains(&status) {
        return None;
    }
    check(body).err()
}

fn truncated(call: &RawCall<'_>, url: &SafeUrl, attempts: u32, missing: String) -> ModelError {
    ModelError::Truncated {
        provider: call.provider.to_owned(),
        model: call.model.to_owned(),
        url: url.to_string(),
        attempts,
        message: missing,
    }
}

fn finish(
    call: &RawCall<'_>,
    status: u16,
    content_type: Option<String>,
    body: Vec<u8>,
    attempts: u32,
) -> Result<RawAnswer, ModelError> {
    if (200..300).contains(&status) {
        return Ok(RawAnswer {
            status,
            content_type,
            body,
            attempts,
        });
    }
    Err(ModelError::Status {
        provider: call.provider.to_owned(),
        model: call.model.to_owned(),
        status,
        attempts,
        message: error_message(&String::from_utf8_lossy(&body)),
    })
}

/// The OpenAI SDK retries 408, 409, 429 and 5xx.
fn is_retryable_status(status: u16) -> bool {
    status == 409 || reqwest::StatusCode::from_u16(status).is_ok_and(retry::is_transient_status)
}

/// `retry-after-ms`, then `Retry-After` as seconds or an HTTP date ([`retry::retry_after`]).
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    retry::retry_after(headers, std::time::SystemTime::now())
}

/// The provider's message: `error.message` when it is a string (or `error` itself when it is a
/// string), else the body (AIGNE's `CustomOpenAI` uses `JSON.stringify(body)`), cut to 500
/// characters.
fn error_message(body: &str) -> String {
    let parsed: Option<Value> = serde_json::from_str(body).ok();
    let message = match parsed.as_ref().and_then(|value| value.get("error")) {
        Some(Value::String(message)) => message.clone(),
        Some(error) => match error.get("message") {
            Some(Value::String(message)) => message.clone(),
            _ => parsed.as_ref().map(Value::to_string).unwrap_or_default(),
        },
        // Bedrock: `{"message": …}`.
        None => match &parsed {
            Some(value) => match value.get("message") {
                Some(Value::String(message)) => message.clone(),
                _ => value.to_string(),
            },
            None => body.trim().to_owned(),
        },
    };
    let message = if message.is_empty() {
        "(empty body)".to_owned()
    } else {
        message
    };
    if message.chars().count() > 500 {
        let cut: String = message.chars().take(500).collect();
        format!("{cut}…")
    } else {
        message
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_error_messages() {
        assert_eq!(
            error_message(r#"{"error":{"message":"bad key","type":"auth"}}"#),
            "bad key"
        );
        assert_eq!(error_message(r#"{"error":"plain"}"#), "plain");
        assert_eq!(
            error_message(r#"{"error":{"code":1}}"#),
            r#"{"error":{"code":1}}"#
        );
        assert_eq!(error_message("oops"), "oops");
        assert_eq!(error_message(""), "(empty body)");
    }

    #[test]
    fn parses_retry_after() {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert("retry-after", "2".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(2)));
        headers.insert("retry-after-ms", "150".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_millis(150)));
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(
            "retry-after",
            "Sun, 06 Nov 1994 08:49:37 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&headers), Some(Duration::ZERO));
    }
}
