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
use crate::http::{self, HttpSettings, retry};
use crate::secret::{SafeUrl, Secret};

/// How HTTP calls are made.
#[derive(Debug, Clone)]
pub struct TransportSettings {
    /// The shared client's settings; `retry.max_retries` is `--retries`.
    pub http: HttpSettings,
    /// Whole-request timeout (headers and body) of one attempt.
    pub request_timeout: Duration,
}

/// The HTTP side of every provider.
pub struct Transport {
    client: reqwest::Client,
    settings: TransportSettings,
    cassette: Option<Arc<Cassette>>,
}

/// One call to make.
pub struct HttpCall<'a> {
    pub provider: &'a str,
    pub model: &'a str,
    pub url: &'a SafeUrl,
    pub key: Option<&'a Secret>,
    pub body: &'a Value,
    pub case: Option<&'a str>,
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

enum Attempt {
    Answer {
        status: u16,
        content_type: Option<String>,
        retry_after: Option<Duration>,
        body: String,
    },
    Failed(reqwest::Error),
    TimedOut,
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

    /// Posts `body` as JSON and returns the 2xx answer; a non-2xx final answer is a
    /// [`ModelError::Status`].
    pub async fn post_json(&self, call: HttpCall<'_>) -> Result<HttpAnswer, ModelError> {
        let path = call.url.expose().path().to_owned();
        if let Some(cassette) = self
            .cassette
            .as_ref()
            .filter(|cassette| cassette.is_replay())
        {
            let recorded = cassette.answer(call.provider, &path, call.body, call.case)?;
            return finish(
                &call,
                recorded.status,
                recorded.content_type,
                recorded.body,
                1,
            );
        }
        let mut attempts = 0;
        loop {
            attempts += 1;
            let outcome = match tokio::time::timeout(
                self.settings.request_timeout,
                self.attempt(&call),
            )
            .await
            {
                Ok(outcome) => outcome,
                Err(_) => Attempt::TimedOut,
            };
            let retry_delay = match &outcome {
                Attempt::Answer {
                    status,
                    retry_after,
                    ..
                } if is_retryable_status(*status) => Some(*retry_after),
                Attempt::Answer { .. } => None,
                Attempt::Failed(error) if retry::is_transient_error(error) => Some(None),
                Attempt::Failed(_) => None,
                Attempt::TimedOut => Some(None),
            };
            let policy = &self.settings.http.retry;
            if let Some(retry_after) = retry_delay
                && policy.allows_retry(attempts)
            {
                tokio::time::sleep(policy.delay(attempts, retry_after)).await;
                continue;
            }
            return match outcome {
                Attempt::Failed(source) => Err(ModelError::Network {
                    provider: call.provider.to_owned(),
                    model: call.model.to_owned(),
                    url: call.url.to_string(),
                    attempts,
                    source: source.without_url(),
                }),
                Attempt::TimedOut => Err(ModelError::Timeout {
                    provider: call.provider.to_owned(),
                    model: call.model.to_owned(),
                    url: call.url.to_string(),
                    attempts,
                    timeout: self.settings.request_timeout,
                }),
                Attempt::Answer {
                    status,
                    content_type,
                    body,
                    ..
                } => {
                    if let Some(cassette) = &self.cassette {
                        cassette.append(Interaction {
                            version: VERSION,
                            provider: call.provider.to_owned(),
                            method: "POST".to_owned(),
                            path: path.clone(),
                            case: call.case.map(str::to_owned),
                            request: call.body.clone(),
                            status,
                            content_type: content_type.clone(),
                            response: body.clone(),
                        })?;
                    }
                    finish(&call, status, content_type, body, attempts)
                }
            };
        }
    }

    async fn attempt(&self, call: &HttpCall<'_>) -> Attempt {
        let mut request = self
            .client
            .post(call.url.expose().clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(reqwest::header::ACCEPT, "application/json")
            .body(serde_json::to_vec(call.body).unwrap_or_default());
        if let Some(key) = call.key {
            request = request.bearer_auth(key.expose());
        }
        let response = match request.send().await {
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
        match response.text().await {
            Ok(body) => Attempt::Answer {
                status,
                content_type,
                retry_after,
                body,
            },
            Err(error) => Attempt::Failed(error),
        }
    }
}

fn finish(
    call: &HttpCall<'_>,
    status: u16,
    content_type: Option<String>,
    body: String,
    attempts: u32,
) -> Result<HttpAnswer, ModelError> {
    if (200..300).contains(&status) {
        return Ok(HttpAnswer {
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
        message: error_message(&body),
    })
}

/// The OpenAI SDK retries 408, 409, 429 and 5xx.
fn is_retryable_status(status: u16) -> bool {
    status == 409 || reqwest::StatusCode::from_u16(status).is_ok_and(retry::is_transient_status)
}

/// `retry-after-ms`, then `Retry-After` as seconds or an HTTP date.
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let text = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    if let Some(millis) = text("retry-after-ms").and_then(|value| value.trim().parse::<f64>().ok())
        && millis.is_finite()
        && millis >= 0.0
    {
        return Some(Duration::from_secs_f64(millis / 1000.0));
    }
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
        None => match &parsed {
            Some(value) => value.to_string(),
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
