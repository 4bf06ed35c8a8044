//! STAGE 1: a project source (URL, local folder or `aigne.yaml`) → a verified, extracted
//! project folder in the cache.
//!
//! Input: [`FetchSettings`] (built in [`crate::settings`]). Output: [`FetchedProject`].
//! Entry point: [`fetch`]. Talks to the user only through a [`FetchReporter`].
//! Must not import `project`, `model`, `engine`, `batch` or `report`.
//!
//! - `http(s)://` URLs are downloaded into the [`cache`] (conditional requests, `--sha256`
//!   pins, `--offline`, `--refresh`, retries; see [`download`]) and unpacked safely (see
//!   [`extract`]).
//! - `file://` URLs and local paths: a folder (or an `aigne.yaml` in it) is used in place, not
//!   copied; a local tarball is unpacked into the cache like a download.
//! - The project folder is found by [`layout`]: the archive root, its single top-level folder,
//!   or `--subdir`.

pub mod cache;
pub mod extract;
pub mod layout;
pub mod reporter;

mod download;
mod error;

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

pub use error::FetchError;
pub use extract::ExtractLimits;
pub use reporter::{CacheHit, FetchReporter, NoReporter};

use crate::http::HttpSettings;
use crate::secret::{SafeUrl, Secret};
use cache::{Cache, CacheEntry, EntryMetadata, METADATA_VERSION};
use download::{Download, Unpacked};

/// Hosts that receive `GITHUB_TOKEN` when no `--token` is given.
pub const GITHUB_HOSTS: &[&str] = &["github.com", "codeload.github.com", "api.github.com"];

/// Everything stage 1 needs, resolved once.
#[derive(Debug, Clone)]
pub struct FetchSettings {
    /// SOURCE as given: URL, folder, or path to `aigne.yaml` or a tarball.
    pub source: String,
    /// Folder that relative paths are read against.
    pub current_dir: PathBuf,
    /// The cache root (`--cache-dir`).
    pub cache_dir: PathBuf,
    /// `--sha256`, lower-case hex.
    pub sha256: Option<String>,
    /// `--offline`.
    pub offline: bool,
    /// `--refresh`.
    pub refresh: bool,
    /// `--subdir`.
    pub subdir: Option<PathBuf>,
    /// `--token`: sent to the source URL's host (and to the same origin after a redirect).
    pub token: Option<Secret>,
    /// `GITHUB_TOKEN`: sent only when the source host is one of [`GITHUB_HOSTS`].
    pub github_token: Option<Secret>,
    /// `--max-unpacked-bytes`, `--max-entries`.
    pub limits: ExtractLimits,
    /// Timeouts, proxies and retries.
    pub http: HttpSettings,
}

/// What kind of source was fetched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    /// An `http(s)` URL of a tarball.
    Url,
    /// A local tarball (path or `file://` URL), unpacked into the cache.
    Tarball,
    /// A local folder (or `aigne.yaml`), used in place.
    Folder,
}

/// The result of stage 1, printed by `aigne-ci fetch` and recorded in the run summary.
/// Fields are only ever added.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FetchedProject {
    /// SOURCE as given (URL credentials masked).
    pub source: String,
    /// What SOURCE is.
    pub kind: SourceKind,
    /// The folder holding `aigne.yaml`.
    pub project_dir: PathBuf,
    /// Hex sha256 of the raw tarball (`None` for a folder).
    pub sha256: Option<String>,
    /// Size of the raw tarball (`None` for a folder).
    pub bytes: Option<u64>,
    /// Whether a cached entry was used without unpacking again.
    pub cache_hit: bool,
    /// A key for `actions/cache`: changes whenever the source or its content does (`None` for a
    /// folder).
    pub cache_key: Option<String>,
    /// When the tarball was downloaded or unpacked (RFC 3339; for a cache hit, when the cached
    /// copy was made).
    pub fetched_at: Option<String>,
    /// The extracted archive root in the cache (`None` for a folder).
    pub entry_dir: Option<PathBuf>,
    /// The URL after redirects (credentials masked).
    pub final_url: Option<String>,
    /// HTTP requests made by this fetch, retries included.
    pub requests: u32,
}

/// Runs stage 1.
pub async fn fetch(
    settings: &FetchSettings,
    reporter: &dyn FetchReporter,
) -> Result<FetchedProject, FetchError> {
    if let Some(subdir) = &settings.subdir
        && extract::safe_relative(subdir).is_err()
    {
        return Err(FetchError::InvalidSubdir {
            subdir: subdir.clone(),
        });
    }
    match parse_source(&settings.source, &settings.current_dir)? {
        Source::Remote(url) => fetch_remote(settings, url, reporter).await,
        Source::Local(path) => fetch_local(settings, &path, reporter).await,
    }
}

#[derive(Debug)]
enum Source {
    Remote(SafeUrl),
    Local(PathBuf),
}

fn parse_source(text: &str, current_dir: &Path) -> Result<Source, FetchError> {
    let invalid = |reason: String| FetchError::InvalidSource {
        source_text: crate::secret::mask_url_text(text),
        reason,
    };
    let lower = text.to_ascii_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") {
        let url = url::Url::parse(text).map_err(|error| invalid(error.to_string()))?;
        if url.host_str().is_none_or(str::is_empty) {
            return Err(invalid("the URL has no host".to_owned()));
        }
        return Ok(Source::Remote(SafeUrl::new(url)));
    }
    if lower.starts_with("file://") {
        let url = url::Url::parse(text).map_err(|error| invalid(error.to_string()))?;
        let path = url
            .to_file_path()
            .map_err(|()| invalid("not a local file path".to_owned()))?;
        return Ok(Source::Local(path));
    }
    if let Some((scheme, _)) = text.split_once("://")
        && !scheme.is_empty()
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
    {
        return Err(invalid(format!(
            "the scheme `{scheme}` is not supported (use https, http or file)"
        )));
    }
    let path = Path::new(text);
    Ok(Source::Local(if path.is_absolute() {
        path.to_path_buf()
    } else {
        current_dir.join(path)
    }))
}

fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}

fn cache_key(entry: &CacheEntry, sha256: &str) -> String {
    format!(
        "aigne-ci-{}-{}-{}",
        cache::Bucket::Projects.name(),
        entry.key(),
        sha256
    )
}

fn locate(root: &Path, location: String, subdir: Option<&Path>) -> Result<PathBuf, FetchError> {
    layout::locate(root, subdir).map_err(|found| FetchError::ProjectNotFound {
        location,
        subdir: subdir.map(Path::to_path_buf),
        found,
    })
}

fn token_for<'a>(settings: &'a FetchSettings, url: &url::Url) -> Option<&'a Secret> {
    if let Some(token) = &settings.token {
        return Some(token);
    }
    let host = url.host_str()?.to_ascii_lowercase();
    settings
        .github_token
        .as_ref()
        .filter(|_| GITHUB_HOSTS.contains(&host.as_str()))
}

async fn fetch_remote(
    settings: &FetchSettings,
    url: SafeUrl,
    reporter: &dyn FetchReporter,
) -> Result<FetchedProject, FetchError> {
    let source = url.masked();
    let cache = Cache::open(&settings.cache_dir)?;
    let entry = cache.entry(url.expose());
    let _lock = entry.lock(|path| reporter.on_lock_wait(path)).await?;
    entry.remove_stale();
    let cached = entry.read_metadata().filter(|_| !settings.refresh);
    let pin_matches = |metadata: &EntryMetadata| {
        settings
            .sha256
            .as_ref()
            .is_none_or(|pin| *pin == metadata.sha256)
    };
    let hit = |metadata: EntryMetadata, requests: u32| -> Result<FetchedProject, FetchError> {
        let project_dir = locate(
            &entry.files(),
            format!("`{source}`"),
            settings.subdir.as_deref(),
        )?;
        Ok(FetchedProject {
            source: source.clone(),
            kind: SourceKind::Url,
            project_dir,
            cache_key: Some(cache_key(&entry, &metadata.sha256)),
            sha256: Some(metadata.sha256),
            bytes: Some(metadata.size),
            cache_hit: true,
            fetched_at: Some(metadata.fetched_at),
            entry_dir: Some(entry.files()),
            final_url: metadata.final_url,
            requests,
        })
    };
    if settings.offline {
        return match cached {
            Some(metadata) if pin_matches(&metadata) => {
                reporter.on_cache_hit(&source, CacheHit::Offline);
                hit(metadata, 0)
            }
            _ => Err(FetchError::OfflineMiss {
                url: url.masked(),
                pinned: settings.sha256.clone(),
            }),
        };
    }
    if settings.sha256.is_some()
        && let Some(metadata) = &cached
        && pin_matches(metadata)
    {
        reporter.on_cache_hit(&source, CacheHit::Pinned);
        return hit(metadata.clone(), 0);
    }
    // A pinned entry of other content is not worth revalidating: download afresh.
    let revalidate = cached.as_ref().filter(|metadata| {
        settings.sha256.is_none() && (metadata.etag.is_some() || metadata.last_modified.is_some())
    });
    let client = crate::http::client(&settings.http).map_err(|source| FetchError::Client {
        url: url.masked(),
        source,
    })?;
    let staging = entry.staging()?;
    let request = download::Request {
        client: &client,
        url: &url,
        token: token_for(settings, url.expose()),
        revalidate,
        policy: &settings.http.retry,
        limits: settings.limits,
    };
    let downloaded = match download::download(&request, &staging, reporter).await? {
        Download::NotModified { attempts } => {
            let Some(metadata) = cached else {
                return Err(not_modified_without_entry());
            };
            reporter.on_cache_hit(&source, CacheHit::NotModified);
            return hit(metadata, attempts);
        }
        Download::Fresh(downloaded) => downloaded,
    };
    verify_pin(settings, &source, &downloaded.unpacked)?;
    let metadata = EntryMetadata {
        version: METADATA_VERSION,
        url: source.clone(),
        final_url: Some(downloaded.final_url.masked()),
        etag: downloaded.etag,
        last_modified: downloaded.last_modified,
        sha256: downloaded.unpacked.sha256.clone(),
        size: downloaded.unpacked.size,
        unpacked_bytes: downloaded.unpacked.extracted.unpacked_bytes,
        entries: downloaded.unpacked.extracted.entries,
        fetched_at: now_rfc3339(),
        local_modified_ns: None,
    };
    entry.commit(staging, &metadata)?;
    let project_dir = locate(
        &entry.files(),
        format!("`{source}`"),
        settings.subdir.as_deref(),
    )?;
    Ok(FetchedProject {
        source,
        kind: SourceKind::Url,
        project_dir,
        cache_key: Some(cache_key(&entry, &metadata.sha256)),
        sha256: Some(metadata.sha256),
        bytes: Some(metadata.size),
        cache_hit: false,
        fetched_at: Some(metadata.fetched_at),
        entry_dir: Some(entry.files()),
        final_url: metadata.final_url,
        requests: downloaded.attempts,
    })
}

/// `304` only answers a conditional request, which is only sent with a cached entry.
fn not_modified_without_entry() -> FetchError {
    FetchError::Cache {
        action: "revalidate",
        path: PathBuf::new(),
        source: std::io::Error::other("`304 Not Modified` without a cached entry"),
    }
}

fn verify_pin(
    settings: &FetchSettings,
    location: &str,
    unpacked: &Unpacked,
) -> Result<(), FetchError> {
    match &settings.sha256 {
        Some(pin) if *pin != unpacked.sha256 => Err(FetchError::ChecksumMismatch {
            location: location.to_owned(),
            expected: pin.clone(),
            actual: unpacked.sha256.clone(),
        }),
        _ => Ok(()),
    }
}

async fn fetch_local(
    settings: &FetchSettings,
    path: &Path,
    reporter: &dyn FetchReporter,
) -> Result<FetchedProject, FetchError> {
    #[expect(
        clippy::disallowed_methods,
        reason = "the error variant names the path"
    )]
    let metadata = std::fs::metadata(path).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => FetchError::SourceNotFound {
            path: path.to_path_buf(),
        },
        _ => FetchError::ReadLocal {
            path: path.to_path_buf(),
            source,
        },
    })?;
    #[expect(
        clippy::disallowed_methods,
        reason = "the error variant names the path"
    )]
    let real = std::fs::canonicalize(path).map_err(|source| FetchError::ReadLocal {
        path: path.to_path_buf(),
        source,
    })?;
    let is_manifest = metadata.is_file()
        && real.file_name().is_some_and(|name| {
            layout::MANIFEST_NAMES
                .iter()
                .any(|manifest| name == *manifest)
        });
    if metadata.is_dir() || is_manifest {
        if settings.sha256.is_some() {
            return Err(FetchError::Unsupported {
                message: format!(
                    "`--sha256` pins a tarball, but `{}` is a folder used in place",
                    path.display()
                ),
                hint: Some("drop `--sha256`, or point SOURCE at a tarball".to_owned()),
            });
        }
        let project_dir = if is_manifest {
            if settings.subdir.is_some() {
                return Err(FetchError::Unsupported {
                    message: format!(
                        "`--subdir` needs a folder or an archive, but `{}` is a manifest",
                        path.display()
                    ),
                    hint: Some("point SOURCE at the folder instead".to_owned()),
                });
            }
            real.parent().map(Path::to_path_buf).unwrap_or(real.clone())
        } else {
            locate(
                &real,
                format!("`{}`", real.display()),
                settings.subdir.as_deref(),
            )?
        };
        return Ok(FetchedProject {
            source: settings.source.clone(),
            kind: SourceKind::Folder,
            project_dir,
            sha256: None,
            bytes: None,
            cache_hit: false,
            cache_key: None,
            fetched_at: None,
            entry_dir: None,
            final_url: None,
            requests: 0,
        });
    }
    fetch_local_tarball(settings, &real, &metadata, reporter).await
}

async fn fetch_local_tarball(
    settings: &FetchSettings,
    path: &Path,
    file_metadata: &std::fs::Metadata,
    reporter: &dyn FetchReporter,
) -> Result<FetchedProject, FetchError> {
    let url = url::Url::from_file_path(path).map_err(|()| FetchError::InvalidSource {
        source_text: path.display().to_string(),
        reason: "not an absolute path".to_owned(),
    })?;
    let location = path.display().to_string();
    let cache = Cache::open(&settings.cache_dir)?;
    let entry = cache.entry(&url);
    let _lock = entry.lock(|lock| reporter.on_lock_wait(lock)).await?;
    entry.remove_stale();
    let modified_ns = file_metadata
        .modified()
        .ok()
        .and_then(|time| time.duration_since(SystemTime::UNIX_EPOCH).ok())
        .map(|duration| duration.as_nanos());
    let cached = entry.read_metadata().filter(|_| !settings.refresh);
    let reusable = cached.filter(|metadata| match &settings.sha256 {
        Some(pin) => *pin == metadata.sha256,
        None => {
            metadata.size == file_metadata.len()
                && modified_ns.is_some()
                && metadata.local_modified_ns == modified_ns
        }
    });
    let (metadata, cache_hit) = match reusable {
        Some(metadata) => {
            reporter.on_cache_hit(&location, CacheHit::Unchanged);
            (metadata, true)
        }
        None => {
            let staging = entry.staging()?;
            let unpacked = download::unpack_file(path, &staging, settings.limits, reporter).await?;
            verify_pin(settings, &location, &unpacked)?;
            let metadata = EntryMetadata {
                version: METADATA_VERSION,
                url: url.to_string(),
                final_url: None,
                etag: None,
                last_modified: None,
                sha256: unpacked.sha256,
                size: unpacked.size,
                unpacked_bytes: unpacked.extracted.unpacked_bytes,
                entries: unpacked.extracted.entries,
                fetched_at: now_rfc3339(),
                local_modified_ns: modified_ns,
            };
            entry.commit(staging, &metadata)?;
            (metadata, false)
        }
    };
    let project_dir = locate(
        &entry.files(),
        format!("`{location}`"),
        settings.subdir.as_deref(),
    )?;
    Ok(FetchedProject {
        source: settings.source.clone(),
        kind: SourceKind::Tarball,
        project_dir,
        cache_key: Some(cache_key(&entry, &metadata.sha256)),
        sha256: Some(metadata.sha256),
        bytes: Some(metadata.size),
        cache_hit,
        fetched_at: Some(metadata.fetched_at),
        entry_dir: Some(entry.files()),
        final_url: None,
        requests: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources() {
        let cwd = Path::new("/work");
        assert!(matches!(
            parse_source("https://h/a.tgz", cwd).unwrap(),
            Source::Remote(_)
        ));
        match parse_source("file:///tmp/a.tgz", cwd).unwrap() {
            Source::Local(path) => assert_eq!(path, PathBuf::from("/tmp/a.tgz")),
            Source::Remote(_) => panic!("file URL is local"),
        }
        match parse_source("proj", cwd).unwrap() {
            Source::Local(path) => assert_eq!(path, PathBuf::from("/work/proj")),
            Source::Remote(_) => panic!("path is local"),
        }
        let error = parse_source("ftp://u:secret@h/a.tgz", cwd).unwrap_err();
        assert!(error.is_usage());
        assert!(!error.to_string().contains("secret"), "{error}");
    }

    #[test]
    fn github_token_only_for_github_hosts() {
        let settings = FetchSettings {
            source: String::new(),
            current_dir: PathBuf::new(),
            cache_dir: PathBuf::new(),
            sha256: None,
            offline: false,
            refresh: false,
            subdir: None,
            token: None,
            github_token: Some(Secret::new("ghs")),
            limits: ExtractLimits::default(),
            http: HttpSettings::default(),
        };
        let github = url::Url::parse("https://codeload.github.com/o/r/tar.gz/main").unwrap();
        let other = url::Url::parse("https://github.com.evil.test/o/r.tgz").unwrap();
        assert!(token_for(&settings, &github).is_some());
        assert!(token_for(&settings, &other).is_none());
        let explicit = FetchSettings {
            token: Some(Secret::new("t")),
            ..settings
        };
        assert_eq!(token_for(&explicit, &other).map(Secret::expose), Some("t"));
    }
}
