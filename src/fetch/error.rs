//! [`FetchError`]: every variant names the URL (masked) or path it is about.

/// Stage 1 failed.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {}

impl crate::hint::Hint for FetchError {}
