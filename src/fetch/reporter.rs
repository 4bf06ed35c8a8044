//! [`FetchReporter`]: how stage 1 tells the user what it does. The stage itself never prints;
//! `report::FetchProgress` draws a progress bar on a TTY and plain log lines otherwise.

use std::path::Path;

use crate::http::retry::RetryNotice;
use crate::secret::SafeUrl;

/// Why a cached entry was used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheHit {
    /// `--sha256` matched the cached entry: no request at all.
    Pinned,
    /// The server answered `304 Not Modified`.
    NotModified,
    /// `--offline`.
    Offline,
    /// A local tarball whose size and modification time did not change.
    Unchanged,
}

/// Events of one fetch. Every method has an empty default. Called from async code and, for
/// progress, at most a few times a second.
pub trait FetchReporter: Send + Sync {
    /// Another process holds the entry's lock; we wait for it.
    fn on_lock_wait(&self, _lock: &Path) {}
    /// A request is about to be sent (`conditional`: with `If-None-Match`/`If-Modified-Since`).
    fn on_request(&self, _url: &SafeUrl, _conditional: bool) {}
    /// A body starts arriving (`length` from `Content-Length`).
    fn on_download_start(&self, _source: &str, _length: Option<u64>) {}
    /// Raw bytes received so far in this attempt.
    fn on_download_progress(&self, _bytes: u64) {}
    /// The body was received and unpacked.
    fn on_download_end(&self, _bytes: u64) {}
    /// An attempt failed and another follows after `notice.delay`.
    fn on_retry(&self, _url: &SafeUrl, _notice: &RetryNotice) {}
    /// A cached entry is used.
    fn on_cache_hit(&self, _source: &str, _reason: CacheHit) {}
}

/// A reporter that reports nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoReporter;

impl FetchReporter for NoReporter {}
