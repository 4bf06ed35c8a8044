//! Streaming a tarball into the extractor: the body goes through a bounded bridge into a
//! blocking thread that hashes the raw bytes (sha256), detects gzip and unpacks, all in one
//! pass; memory stays flat whatever the size. HTTP downloads retry transient failures,
//! including a connection that breaks mid-body (the attempt starts over in an empty folder).

use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{ETAG, IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED};
use sha2::{Digest, Sha256};

use super::FetchError;
use super::cache::{EntryMetadata, Staging};
use super::extract::{self, ExtractError, ExtractLimits, Extracted};
use super::reporter::FetchReporter;
use crate::http::retry::{self, RetryPolicy};
use crate::secret::{SafeUrl, Secret};

/// Read-buffer size between the raw stream and the decompressor.
const BUFFER: usize = 256 * 1024;

/// Body chunks in flight between the network and the unpacking thread.
const CHANNEL_CHUNKS: usize = 16;

/// What the unpacking thread receives.
enum Piece {
    Chunk(bytes::Bytes),
    Failed(io::Error),
    /// The body ended.
    Done,
}

/// Sends the body to the unpacking thread, chunk by chunk, until it ends or the thread stops.
async fn pump(response: reqwest::Response, sender: tokio::sync::mpsc::Sender<Piece>) {
    use futures::StreamExt;
    let mut stream = response.bytes_stream();
    while let Some(item) = stream.next().await {
        let piece = match item {
            Ok(chunk) => Piece::Chunk(chunk),
            Err(error) => {
                let _ = sender.send(Piece::Failed(io::Error::other(error))).await;
                return;
            }
        };
        if sender.send(piece).await.is_err() {
            return;
        }
    }
    let _ = sender.send(Piece::Done).await;
}

/// The body as a blocking reader. A channel closed before [`Piece::Done`] means the download was
/// abandoned (the future that fed it was dropped): the read fails with
/// [`io::ErrorKind::ConnectionAborted`].
struct ChannelReader {
    receiver: tokio::sync::mpsc::Receiver<Piece>,
    current: bytes::Bytes,
    finished: bool,
}

impl Read for ChannelReader {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        loop {
            if !self.current.is_empty() {
                let count = self.current.len().min(buffer.len());
                buffer[..count].copy_from_slice(&self.current[..count]);
                let _ = self.current.split_to(count);
                return Ok(count);
            }
            if self.finished {
                return Ok(0);
            }
            match self.receiver.blocking_recv() {
                Some(Piece::Chunk(chunk)) => self.current = chunk,
                Some(Piece::Failed(error)) => return Err(error),
                Some(Piece::Done) => self.finished = true,
                None => {
                    return Err(io::Error::new(io::ErrorKind::ConnectionAborted, ABANDONED));
                }
            }
        }
    }
}

/// The message of a download abandoned half-way.
const ABANDONED: &str = "the download was abandoned";

/// Raises its flag when dropped before [`AbandonGuard::disarm`]: the download future was
/// dropped while the unpacking thread still ran.
struct AbandonGuard(Arc<AtomicBool>);

impl AbandonGuard {
    fn disarm(self) {
        std::mem::forget(self);
    }
}

impl Drop for AbandonGuard {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// What one pass over a tarball produced.
#[derive(Debug, Clone)]
pub(crate) struct Unpacked {
    /// Hex sha256 of the raw bytes.
    pub sha256: String,
    /// Raw bytes read.
    pub size: u64,
    /// What was written.
    pub extracted: Extracted,
}

/// A successful HTTP download.
#[derive(Debug, Clone)]
pub(crate) struct Downloaded {
    pub unpacked: Unpacked,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    pub final_url: SafeUrl,
    pub attempts: u32,
}

/// The outcome of [`download`].
#[derive(Debug)]
pub(crate) enum Download {
    /// `304 Not Modified` to a conditional request.
    NotModified { attempts: u32 },
    /// A fresh body, unpacked into the staging folder.
    Fresh(Downloaded),
}

/// One HTTP download of `url` into `staging`.
pub(crate) struct Request<'a> {
    pub client: &'a reqwest::Client,
    pub url: &'a SafeUrl,
    pub token: Option<&'a Secret>,
    /// The cached entry to revalidate (sends `If-None-Match`/`If-Modified-Since`).
    pub revalidate: Option<&'a EntryMetadata>,
    pub policy: &'a RetryPolicy,
    pub limits: ExtractLimits,
}

/// What one attempt of [`download`] left.
enum Tried {
    /// A transient failure before the body (kept as is, so that a retry does not read the
    /// body of an error it drops).
    Sent(Result<reqwest::Response, reqwest::Error>),
    /// The attempt's result.
    Finished(Result<Download, FetchError>),
}

pub(crate) async fn download(
    request: &Request<'_>,
    staging: &Staging,
    reporter: &dyn FetchReporter,
) -> Result<Download, FetchError> {
    let url = request.url;
    let (tried, attempts) = retry::run(
        request.policy,
        |attempt| download_once(request, staging, reporter, attempt),
        |_, notice| reporter.on_retry(url, notice),
    )
    .await;
    match tried {
        Tried::Finished(result) => result,
        Tried::Sent(Err(source)) => Err(FetchError::Request {
            url: url.masked(),
            attempts,
            source,
        }),
        // A transient status whose retries ran out.
        Tried::Sent(Ok(response)) => Err(FetchError::Status {
            url: url.masked(),
            status: response.status(),
            attempts,
            body: body_excerpt(response, request.token).await,
            authenticated: request.token.is_some(),
        }),
    }
}

/// Attempt number `attempts` of [`download`], judged for [`retry::run`]: transient statuses and
/// errors, and a body that broke off, are retried (the attempt starts in an empty folder).
async fn download_once(
    request: &Request<'_>,
    staging: &Staging,
    reporter: &dyn FetchReporter,
    attempts: u32,
) -> retry::Verdict<Tried> {
    use retry::Verdict::{Done, Retry};
    let url = request.url;
    let location = url.masked();
    if attempts > 1
        && let Err(error) = staging.reset()
    {
        return Done(Tried::Finished(Err(error)));
    }
    reporter.on_request(url, request.revalidate.is_some());
    // A reqwest error shows its URL, which after a redirect may be a signed one (`jwt=`,
    // `X-Goog-Signature=`): errors keep only the masked source URL.
    let outcome = build(request)
        .send()
        .await
        .map_err(reqwest::Error::without_url);
    if let retry::Classification::Transient { retry_after } = retry::classify(&outcome) {
        let reason = match &outcome {
            Ok(response) => response.status().to_string(),
            Err(error) => crate::text::error_chain(error),
        };
        return Retry {
            outcome: Tried::Sent(outcome),
            retry_after,
            reason,
        };
    }
    let response = match outcome {
        Ok(response) => response,
        Err(source) => {
            return Done(Tried::Finished(Err(FetchError::Request {
                url: url.masked(),
                attempts,
                source,
            })));
        }
    };
    let status = response.status();
    if status == StatusCode::NOT_MODIFIED && request.revalidate.is_some() {
        return Done(Tried::Finished(Ok(Download::NotModified { attempts })));
    }
    if !status.is_success() {
        return Done(Tried::Finished(Err(FetchError::Status {
            url: url.masked(),
            status,
            attempts,
            body: body_excerpt(response, request.token).await,
            authenticated: request.token.is_some(),
        })));
    }
    let header = |name| {
        response
            .headers()
            .get(name)
            .and_then(|value: &reqwest::header::HeaderValue| value.to_str().ok())
            .map(str::to_owned)
    };
    let etag = header(ETAG);
    let last_modified = header(LAST_MODIFIED);
    let final_url = SafeUrl::new(response.url().clone());
    reporter.on_download_start(&location, response.content_length());
    // The body goes to the unpacking thread through a bounded channel (no `block_on` in
    // that thread): when this future is dropped (a signal, the total timeout), the channel
    // closes, the thread stops at its next read and removes what it wrote, and nothing
    // waits on a runtime that is shutting down.
    let (sender, receiver) = tokio::sync::mpsc::channel(CHANNEL_CHUNKS);
    let reader = ChannelReader {
        receiver,
        current: bytes::Bytes::new(),
        finished: false,
    };
    let abandoned = AbandonGuard(Arc::new(AtomicBool::new(false)));
    let pumped = pump(response, sender);
    let unpacked = unpack_stream(
        reader,
        staging.files(),
        request.limits,
        reporter,
        Some(abandoned.0.clone()),
    );
    let ((), unpacked) = tokio::join!(pumped, unpacked);
    abandoned.disarm();
    match unpacked {
        Ok(unpacked) => {
            reporter.on_download_end(unpacked.size);
            Done(Tried::Finished(Ok(Download::Fresh(Downloaded {
                unpacked,
                etag,
                last_modified,
                final_url,
                attempts,
            }))))
        }
        Err(StreamFailure::Read { error, bytes }) => Retry {
            reason: format!(
                "the body broke off after {bytes} bytes: {}",
                crate::text::error_chain(&error)
            ),
            outcome: Tried::Finished(Err(FetchError::Body {
                url: url.masked(),
                bytes,
                attempts,
                source: error,
            })),
            retry_after: None,
        },
        Err(StreamFailure::Extract(error)) => {
            Done(Tried::Finished(Err(extract_error(error, &location))))
        }
        Err(StreamFailure::Task(source)) => {
            Done(Tried::Finished(Err(FetchError::Task { location, source })))
        }
    }
}

fn build(request: &Request<'_>) -> reqwest::RequestBuilder {
    let mut builder = request.client.get(request.url.expose().clone());
    if let Some(token) = request.token {
        builder = builder.bearer_auth(token.expose());
    }
    if let Some(metadata) = request.revalidate {
        if let Some(etag) = &metadata.etag {
            builder = builder.header(IF_NONE_MATCH, etag);
        }
        if let Some(last_modified) = &metadata.last_modified {
            builder = builder.header(IF_MODIFIED_SINCE, last_modified);
        }
    }
    builder
}

/// The first 300 characters of an error body (read for at most 2 s), on one line, with the
/// token masked (a server may echo the credential it refused).
async fn body_excerpt(response: reqwest::Response, token: Option<&Secret>) -> String {
    let text = tokio::time::timeout(Duration::from_secs(2), response.text())
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default();
    let redactor = crate::secret::Redactor::new(token.map(|token| token.expose().to_owned()));
    let text = match token {
        // Masked even when too short to look like a key: this server was sent it.
        Some(token) if !token.expose().trim().is_empty() => text.replace(token.expose(), "****"),
        _ => text,
    };
    let text = redactor.redact(&text).into_owned();
    let line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut excerpt: String = line.chars().take(300).collect();
    if excerpt.len() < line.len() {
        excerpt.push('…');
    }
    excerpt
}

/// Why streaming into the extractor stopped.
#[derive(Debug)]
pub(crate) enum StreamFailure {
    /// Reading the raw stream failed (network, or the local file) after `bytes` bytes.
    Read { error: io::Error, bytes: u64 },
    /// The archive is bad or could not be written.
    Extract(ExtractError),
    /// The blocking task died.
    Task(tokio::task::JoinError),
}

/// Hashes, decompresses and unpacks `reader` into `destination` on a blocking thread, while
/// this task relays progress to the reporter.
pub(crate) async fn unpack_stream<R: Read + Send + 'static>(
    reader: R,
    destination: PathBuf,
    limits: ExtractLimits,
    reporter: &dyn FetchReporter,
    abandoned: Option<Arc<AtomicBool>>,
) -> Result<Unpacked, StreamFailure> {
    let progress = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&progress);
    let task = tokio::task::spawn_blocking(move || {
        let mut raw = RawReader {
            inner: reader,
            hasher: Sha256::new(),
            bytes: 0,
            progress: counter,
            failure: None,
        };
        let result = extract::unpack(
            BufReader::with_capacity(BUFFER, &mut raw),
            &destination,
            limits,
        );
        // Abandoned (a signal, the total timeout): the future that owns the staging folder may
        // already have removed it while this thread still wrote; remove what is left.
        if abandoned.is_some_and(|flag| flag.load(Ordering::SeqCst))
            && let Some(staging) = destination.parent()
        {
            let _ = fs_err::remove_dir_all(staging);
        }
        (result, raw)
    });
    tokio::pin!(task);
    let mut ticker = tokio::time::interval(Duration::from_millis(100));
    let (result, raw) = loop {
        tokio::select! {
            joined = &mut task => break joined.map_err(StreamFailure::Task)?,
            _ = ticker.tick() => reporter.on_download_progress(progress.load(Ordering::Relaxed)),
        }
    };
    reporter.on_download_progress(raw.bytes);
    if let Some(error) = raw.failure {
        return Err(StreamFailure::Read {
            error,
            bytes: raw.bytes,
        });
    }
    let extracted = result.map_err(StreamFailure::Extract)?;
    Ok(Unpacked {
        sha256: hex::encode(raw.hasher.finalize()),
        size: raw.bytes,
        extracted,
    })
}

/// The lowest reader: every raw byte goes through the hash; a read failure is kept aside so it
/// is not mistaken for a corrupt archive.
struct RawReader<R> {
    inner: R,
    hasher: Sha256,
    bytes: u64,
    progress: Arc<AtomicU64>,
    failure: Option<io::Error>,
}

impl<R: Read> Read for RawReader<R> {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        if self.failure.is_some() {
            return Err(io::Error::other("the download broke off"));
        }
        loop {
            match self.inner.read(buffer) {
                Ok(read) => {
                    self.hasher.update(&buffer[..read]);
                    self.bytes += read as u64;
                    self.progress.store(self.bytes, Ordering::Relaxed);
                    return Ok(read);
                }
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => {
                    let kind = error.kind();
                    self.failure = Some(error);
                    return Err(io::Error::new(kind, "the download broke off"));
                }
            }
        }
    }
}

/// Adds the URL or path to an extraction error.
pub(crate) fn extract_error(error: ExtractError, location: &str) -> FetchError {
    let location = location.to_owned();
    match error {
        ExtractError::Unsafe { entry, reason } => FetchError::UnsafeEntry {
            location,
            entry,
            reason,
        },
        ExtractError::TooLarge { entry, limit } => FetchError::TooLarge {
            location,
            entry,
            limit,
        },
        ExtractError::TooManyEntries { limit } => FetchError::TooManyEntries { location, limit },
        ExtractError::NotAnArchive { reason } => FetchError::NotAnArchive { location, reason },
        ExtractError::Corrupt { entry, source } => FetchError::CorruptArchive {
            location,
            entry,
            source,
        },
        ExtractError::Write { path, source } => FetchError::Cache {
            action: "write",
            path,
            source,
        },
    }
}

/// Unpacks a local tarball.
pub(crate) async fn unpack_file(
    path: &Path,
    staging: &Staging,
    limits: ExtractLimits,
    reporter: &dyn FetchReporter,
) -> Result<Unpacked, FetchError> {
    #[expect(
        clippy::disallowed_methods,
        reason = "the error variant names the path"
    )]
    let file = std::fs::File::open(path).map_err(|source| FetchError::ReadLocal {
        path: path.to_path_buf(),
        source,
    })?;
    let length = file.metadata().ok().map(|metadata| metadata.len());
    let location = path.display().to_string();
    reporter.on_download_start(&location, length);
    match unpack_stream(file, staging.files(), limits, reporter, None).await {
        Ok(unpacked) => {
            reporter.on_download_end(unpacked.size);
            Ok(unpacked)
        }
        Err(StreamFailure::Read { error, .. }) => Err(FetchError::ReadLocal {
            path: path.to_path_buf(),
            source: error,
        }),
        Err(StreamFailure::Extract(error)) => Err(extract_error(error, &location)),
        Err(StreamFailure::Task(source)) => Err(FetchError::Task { location, source }),
    }
}
