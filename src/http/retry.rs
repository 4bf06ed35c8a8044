//! Retry policy shared by every HTTP caller: which failures are transient, how long to wait
//! before the next attempt, and a small send loop ([`send`]) built from those pieces.
//!
//! Transient: connection failures, timeouts, resets and early EOFs (walking the error's source
//! chain), and the statuses 408, 429 and 5xx. Everything else (TLS errors, other 4xx, bad URLs)
//! is permanent. A `Retry-After` header (seconds or HTTP date) replaces the back-off, capped by
//! [`RetryPolicy::max_retry_after`]. With [`RetryPolicy::no_delay`] (the test knob
//! `AIGNE_CI_TEST_NO_RETRY_DELAY`) every wait is zero.

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
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 4,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(120),
            no_delay: false,
        }
    }
}

impl RetryPolicy {
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

/// Exponential back-off with jitter before retry number `retry` (1-based): a random wait in
/// `[d/2, d]` where `d = base_delay * 2^(retry-1)`, capped at `max_delay`. Zero with
/// [`RetryPolicy::no_delay`].
pub fn backoff_delay(policy: &RetryPolicy, retry: u32) -> Duration {
    if policy.no_delay {
        return Duration::ZERO;
    }
    let exponent = retry.saturating_sub(1).min(20);
    let full = policy
        .base_delay
        .saturating_mul(1u32 << exponent)
        .min(policy.max_delay);
    let factor: f64 = rand::rng().random_range(0.5..=1.0);
    full.mul_f64(factor)
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

/// The wait a `Retry-After` header asks for: delta-seconds or an HTTP date (relative to `now`;
/// a date in the past means zero). `None` when absent or unreadable.
pub fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
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
    let mut attempts = 0;
    loop {
        attempts += 1;
        let outcome = make(attempts).send().await;
        let classification = classify(&outcome);
        match (classification, outcome) {
            (Classification::Transient { retry_after }, outcome)
                if policy.allows_retry(attempts) =>
            {
                let reason = match &outcome {
                    Ok(response) => response.status().to_string(),
                    Err(error) => crate::text::error_chain(error),
                };
                let delay = policy.delay(attempts, retry_after);
                on_retry(&RetryNotice {
                    attempt: attempts,
                    reason,
                    retry_after,
                    delay,
                });
                // Drop the failed response before waiting so its connection is released.
                drop(outcome);
                tokio::time::sleep(delay).await;
            }
            (_, Ok(response)) => return Ok(Sent { response, attempts }),
            (_, Err(source)) => return Err(SendError { attempts, source }),
        }
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
