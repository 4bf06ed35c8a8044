//! The one retry helper of the crate: which failures are transient, how long to wait before the
//! next attempt (one formula, [`backoff_delay`]), and the one retry loop ([`run`]) that every
//! retrying caller goes through — provider calls (`model::transport`), AIGNE's framework retries
//! (`model::common::with_framework_retries`), tarball downloads (`fetch::download`), MCP
//! reconnects (`engine::mcp::connection`) and [`send_with`].
//!
//! Transient: connection failures, timeouts, resets and early EOFs (walking the error's source
//! chain), and the statuses 408, 429 and 5xx. Everything else (TLS errors, other 4xx, bad URLs)
//! is permanent. A `Retry-After` header (`retry-after-ms`, seconds or HTTP date) replaces the
//! back-off, capped by [`RetryPolicy::max_retry_after`]. With [`RetryPolicy::no_delay`] (the
//! test knob `AIGNE_CI_TEST_NO_RETRY_DELAY`) every wait is zero.
//!
//! Hand-written rather than `backon`/`reqwest-retry`: the loop is twenty lines, and what the
//! callers need is around it, not in it — an attempt that reads (or unpacks) the whole body
//! before it is judged, the attempt count in every result and error (the conformance tests
//! compare request counts with the official runtime), AIGNE's exact framework back-off without
//! jitter, and notices for the fetch progress lines. The classification (the part uv also
//! writes itself, `uv-client/src/retry.rs`) is the substance and no crate has it for our
//! callers' error types.

use std::time::{Duration, SystemTime};

use rand::Rng;
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, RETRY_AFTER};

/// How many times to retry and how long to wait in between.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (so `max_retries + 1` attempts at most).
    pub max_retries: u32,
    /// Back-off before the first retry; doubled for each later one.
    pub base_delay: Duration,
    /// Longest back-off.
    pub max_delay: Duration,
    /// Longest wait a `Retry-After` header may ask for.
    pub max_retry_after: Duration,
    /// Make every wait zero (tests).
    pub no_delay: bool,
    /// Randomize each back-off into `[d/2, d]` (off for AIGNE's own deterministic back-offs).
    pub jitter: bool,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 4,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(120),
            no_delay: false,
            jitter: true,
        }
    }
}

impl RetryPolicy {
    /// A back-off without jitter: `base * 2^(retry-1)`, capped at `max_delay` (AIGNE's
    /// framework retries and MCP reconnects double their wait deterministically).
    pub fn doubling(max_retries: u32, base_delay: Duration, max_delay: Duration) -> Self {
        Self {
            max_retries,
            base_delay,
            max_delay,
            jitter: false,
            ..Self::default()
        }
    }

    /// The same policy with every wait zero when `no_delay` holds.
    pub fn without_delays_if(mut self, no_delay: bool) -> Self {
        self.no_delay |= no_delay;
        self
    }

    /// Whether another attempt may follow `attempts` attempts made so far.
    pub fn allows_retry(&self, attempts: u32) -> bool {
        attempts <= self.max_retries
    }

    /// The wait before retry number `retry` (1-based): `Retry-After` when the server sent one
    /// (capped), otherwise [`backoff_delay`]. Zero with [`Self::no_delay`].
    pub fn delay(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        if self.no_delay {
            return Duration::ZERO;
        }
        match retry_after {
            Some(wait) => wait.min(self.max_retry_after),
            None => backoff_delay(self, retry),
        }
    }
}

/// The back-off formula, the only one in the crate: before retry number `retry` (1-based),
/// `d = base_delay * 2^(retry-1)` capped at `max_delay`; with [`RetryPolicy::jitter`] a random
/// wait in `[d/2, d]`. Zero with [`RetryPolicy::no_delay`].
pub fn backoff_delay(policy: &RetryPolicy, retry: u32) -> Duration {
    if policy.no_delay {
        return Duration::ZERO;
    }
    let exponent = retry.saturating_sub(1).min(20);
    let full = policy
        .base_delay
        .saturating_mul(1u32 << exponent)
        .min(policy.max_delay);
    if !policy.jitter {
        return full;
    }
    let factor: f64 = rand::rng().random_range(0.5..=1.0);
    full.mul_f64(factor)
}

/// How the loop of [`run`] judges one attempt.
#[derive(Debug)]
pub enum Verdict<T> {
    /// Keep this outcome (a success or a failure a retry will not fix).
    Done(T),
    /// A transient failure: retry while the policy allows, else keep `outcome`.
    Retry {
        /// The outcome, kept when no retry is left.
        outcome: T,
        /// The server's `Retry-After`, if any.
        retry_after: Option<Duration>,
        /// Why it failed, for the retry notice.
        reason: String,
    },
}

/// The retry loop: runs `attempt(n)` (n from 1) until it is [`Verdict::Done`] or the policy has
/// no retry left, waiting [`RetryPolicy::delay`] in between. `on_retry` sees each failed outcome
/// and its notice before the wait (the outcome is dropped before the wait, so a failed response
/// releases its connection). Returns the last outcome and the attempts made.
pub async fn run<T, F, Fut, R>(policy: &RetryPolicy, mut attempt: F, mut on_retry: R) -> (T, u32)
where
    F: FnMut(u32) -> Fut,
    Fut: std::future::Future<Output = Verdict<T>>,
    R: FnMut(&T, &RetryNotice),
{
    let mut attempts = 0;
    loop {
        attempts += 1;
        match attempt(attempts).await {
            Verdict::Retry {
                outcome,
                retry_after,
                reason,
            } if policy.allows_retry(attempts) => {
                let delay = policy.delay(attempts, retry_after);
                on_retry(
                    &outcome,
                    &RetryNotice {
                        attempt: attempts,
                        reason,
                        retry_after,
                        delay,
                    },
                );
                drop(outcome);
                if !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
            }
            Verdict::Retry { outcome, .. } | Verdict::Done(outcome) => return (outcome, attempts),
        }
    }
}

/// What to do with the outcome of one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Classification {
    /// A response that is not worth retrying (success, redirect, or a permanent error status).
    Done,
    /// A transient failure: retry (after `retry_after` if the server asked for it).
    Transient {
        /// The server's `Retry-After`, if any.
        retry_after: Option<Duration>,
    },
    /// A failure that a retry will not fix.
    Permanent,
}

/// Classifies one attempt's outcome.
pub fn classify(outcome: &Result<reqwest::Response, reqwest::Error>) -> Classification {
    match outcome {
        Ok(response) if is_transient_status(response.status()) => Classification::Transient {
            retry_after: retry_after(response.headers(), SystemTime::now()),
        },
        Ok(_) => Classification::Done,
        Err(error) if is_transient_error(error) => Classification::Transient { retry_after: None },
        Err(_) => Classification::Permanent,
    }
}

/// 408 Request Timeout, 429 Too Many Requests and every 5xx.
pub fn is_transient_status(status: StatusCode) -> bool {
    status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
        || status.is_server_error()
}

/// Whether a request or body error is worth another attempt: timeouts, connection failures,
/// and anywhere in the source chain an I/O reset/abort/EOF/timeout or a hyper connection that
/// closed early. TLS and URL errors are permanent.
pub fn is_transient_error(error: &(dyn std::error::Error + 'static)) -> bool {
    if let Some(error) = error.downcast_ref::<reqwest::Error>()
        && (error.is_timeout() || error.is_connect())
    {
        return true;
    }
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(error) = current {
        if let Some(io) = error.downcast_ref::<std::io::Error>()
            && is_transient_io(io.kind())
        {
            return true;
        }
        if let Some(hyper) = error.downcast_ref::<hyper::Error>()
            && (hyper.is_incomplete_message() || hyper.is_closed() || hyper.is_canceled())
        {
            return true;
        }
        if let Some(h2) = error.downcast_ref::<h2::Error>()
            && (h2.is_go_away() || h2.is_reset() || h2.is_io())
        {
            return true;
        }
        if let Some(error) = error.downcast_ref::<reqwest::Error>()
            && (error.is_timeout() || error.is_connect())
        {
            return true;
        }
        // `io::Error::source` skips the wrapped error itself; look at it directly.
        current = match error.downcast_ref::<std::io::Error>() {
            Some(io) => io
                .get_ref()
                .map(|inner| inner as &(dyn std::error::Error + 'static)),
            None => error.source(),
        };
    }
    false
}

/// I/O error kinds that a new connection may not hit again.
pub fn is_transient_io(kind: std::io::ErrorKind) -> bool {
    use std::io::ErrorKind;
    matches!(
        kind,
        ErrorKind::ConnectionReset
            | ErrorKind::ConnectionAborted
            | ErrorKind::ConnectionRefused
            | ErrorKind::BrokenPipe
            | ErrorKind::UnexpectedEof
            | ErrorKind::TimedOut
            | ErrorKind::Interrupted
            | ErrorKind::NotConnected
    )
}

/// The wait a `Retry-After` header asks for: `retry-after-ms` (milliseconds, as the OpenAI SDK
/// reads it), else delta-seconds or an HTTP date (relative to `now`; a date in the past means
/// zero). `None` when absent or unreadable.
pub fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    if let Some(millis) = headers
        .get("retry-after-ms")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse::<f64>().ok())
        && millis.is_finite()
        && millis >= 0.0
    {
        return Some(Duration::from_secs_f64(millis / 1000.0));
    }
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let date = httpdate::parse_http_date(value).ok()?;
    Some(date.duration_since(now).unwrap_or(Duration::ZERO))
}

/// A retry about to happen, for progress reporting.
#[derive(Debug, Clone)]
pub struct RetryNotice {
    /// The attempt that failed (1-based).
    pub attempt: u32,
    /// Why it failed (`503 Service Unavailable`, `connection reset`, …).
    pub reason: String,
    /// What the server's `Retry-After` asked for, if it sent one.
    pub retry_after: Option<Duration>,
    /// How long we wait before the next attempt.
    pub delay: Duration,
}

/// The last response of [`send`]: a success, a permanent status, or a transient status whose
/// retries ran out. The caller checks the status.
#[derive(Debug)]
pub struct Sent {
    /// The response.
    pub response: reqwest::Response,
    /// Attempts made (1-based).
    pub attempts: u32,
}

/// [`send`] gave up with a transport error.
#[derive(Debug, thiserror::Error)]
#[error("request failed after {attempts} attempt(s)")]
pub struct SendError {
    /// Attempts made.
    pub attempts: u32,
    /// The last error.
    #[source]
    pub source: reqwest::Error,
}

/// Sends a request, retrying transient failures under `policy`. `make` builds the request for
/// attempt `n` (1-based); `on_retry` hears about each retry before its wait.
pub async fn send_with<F, R>(
    policy: &RetryPolicy,
    mut make: F,
    mut on_retry: R,
) -> Result<Sent, SendError>
where
    F: FnMut(u32) -> reqwest::RequestBuilder,
    R: FnMut(&RetryNotice),
{
    let (outcome, attempts) = run(
        policy,
        |attempt| {
            let request = make(attempt);
            async move {
                let outcome = request.send().await;
                match classify(&outcome) {
                    Classification::Transient { retry_after } => Verdict::Retry {
                        reason: match &outcome {
                            Ok(response) => response.status().to_string(),
                            Err(error) => crate::text::error_chain(error),
                        },
                        outcome,
                        retry_after,
                    },
                    Classification::Done | Classification::Permanent => Verdict::Done(outcome),
                }
            }
        },
        |_, notice| on_retry(notice),
    )
    .await;
    match outcome {
        Ok(response) => Ok(Sent { response, attempts }),
        Err(source) => Err(SendError { attempts, source }),
    }
}

/// [`send_with`] without a retry callback.
pub async fn send<F>(policy: &RetryPolicy, make: F) -> Result<Sent, SendError>
where
    F: FnMut(u32) -> reqwest::RequestBuilder,
{
    send_with(policy, make, |_| {}).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn statuses() {
        for code in [408, 429, 500, 502, 503, 504] {
            assert!(
                is_transient_status(StatusCode::from_u16(code).unwrap()),
                "{code}"
            );
        }
        for code in [200, 304, 400, 401, 403, 404, 410] {
            assert!(
                !is_transient_status(StatusCode::from_u16(code).unwrap()),
                "{code}"
            );
        }
    }

    #[test]
    fn io_errors_in_the_chain() {
        #[derive(Debug, thiserror::Error)]
        #[error("outer")]
        struct Outer(#[source] std::io::Error);
        let reset = Outer(std::io::Error::from(std::io::ErrorKind::ConnectionReset));
        assert!(is_transient_error(&reset));
        let denied = Outer(std::io::Error::from(std::io::ErrorKind::PermissionDenied));
        assert!(!is_transient_error(&denied));
        let wrapped = std::io::Error::other(Outer(std::io::Error::from(
            std::io::ErrorKind::UnexpectedEof,
        )));
        assert!(is_transient_error(&wrapped));
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480);
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after(&headers, now), None);
        headers.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        assert_eq!(retry_after(&headers, now), Some(Duration::from_secs(7)));
        // 2015-10-21 07:28:00 GMT is 1445412480.
        headers.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:30 GMT"),
        );
        assert_eq!(retry_after(&headers, now), Some(Duration::from_secs(30)));
        headers.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:00:00 GMT"),
        );
        assert_eq!(retry_after(&headers, now), Some(Duration::ZERO));
        headers.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&headers, now), None);
    }

    #[test]
    fn backoff_grows_with_jitter_and_caps() {
        let policy = RetryPolicy::default();
        for retry in 1..=10 {
            let delay = backoff_delay(&policy, retry);
            let full = (policy.base_delay * 2u32.pow(retry - 1)).min(policy.max_delay);
            assert!(delay >= full / 2 && delay <= full, "{retry}: {delay:?}");
        }
        assert_eq!(
            policy.delay(1, Some(Duration::from_secs(7))),
            Duration::from_secs(7)
        );
        assert_eq!(
            policy.delay(1, Some(Duration::from_secs(3600))),
            policy.max_retry_after
        );
        let fast = RetryPolicy {
            no_delay: true,
            ..policy
        };
        assert_eq!(fast.delay(3, Some(Duration::from_secs(7))), Duration::ZERO);
        assert_eq!(backoff_delay(&fast, 5), Duration::ZERO);
        assert!(policy.allows_retry(4) && !policy.allows_retry(5));
    }
}
