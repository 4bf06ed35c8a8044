//! The project cache: versioned buckets ([`Bucket`], every bucket of the cache root, the engine's
//! included), readable entry paths, metadata beside each entry, per-entry locks and atomic
//! commits.
//!
//! ```text
//! <cache-dir>/
//!   CACHEDIR.TAG                       (tells backup tools to skip the folder)
//!   .gitignore                         (`*`: never committed by accident)
//!   node-bridge-v1/, node-engine-v1/, npm-project-state/   (the engine's; see [`Bucket`])
//!   projects-v1/
//!     <host>[_<port>]/<url path…>/     (readable, as the official CLI's ~/.aigne/<host>/<path>)
//!       <key>.lock                     (held while the entry is checked or written)
//!       <key>/                         (one committed entry; `key` = hash of the whole URL)
//!         entry.json                   ([`EntryMetadata`])
//!         files/                       (the extracted archive)
//!       .<key>.tmp-<random>/           (an entry being built; renamed to `<key>` when complete)
//! ```
//!
//! An entry is built in a temporary folder beside it and renamed into place only once it is
//! complete and verified, under the entry's lock; a process killed half-way leaves only a
//! `.tmp-` folder, which the next holder of the lock deletes. Local tarballs live under the
//! host `file`.

use std::fs::{File, TryLockError};
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::FetchError;

/// The folders ("buckets") of the cache root, the only place their names are written. Each name
/// carries a version: bump it when the layout of what the bucket holds changes, so that an old
/// cache restored by CI is never misread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bucket {
    /// Extracted projects (this module's [`Cache`] entries).
    Projects,
    /// The Node bridge's script (native engine, JavaScript agents).
    NodeBridge,
    /// The official AIGNE packages for `--engine node`, one folder per version, and the host
    /// script.
    NodeEngine,
    /// The locks and incomplete-install markers of project `npm install`s (never written into
    /// the project).
    NpmProjectState,
}

impl Bucket {
    /// Its folder name under the cache root.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Projects => "projects-v1",
            Self::NodeBridge => "node-bridge-v1",
            Self::NodeEngine => "node-engine-v1",
            Self::NpmProjectState => "npm-project-state",
        }
    }

    /// Its folder under the cache root `root`.
    pub fn path(self, root: &Path) -> PathBuf {
        root.join(self.name())
    }
}

const CACHEDIR_TAG: &str = "Signature: 8a477f597d28d172789f06886806bc55\n\
# This file is a cache directory tag created by aigne-ci.\n\
# For information about cache directory tags see https://bford.info/cachedir/\n";

/// The cache root.
#[derive(Debug, Clone)]
pub struct Cache {
    root: PathBuf,
}

impl Cache {
    /// Opens (creating if needed) the cache at `root`, with `CACHEDIR.TAG` and `.gitignore`.
    pub fn open(root: &Path) -> Result<Self, FetchError> {
        create_dir_all(root)?;
        #[expect(
            clippy::disallowed_methods,
            reason = "the error variant names the path"
        )]
        let root = std::fs::canonicalize(root).map_err(|source| FetchError::Cache {
            action: "open",
            path: root.to_path_buf(),
            source,
        })?;
        for (name, contents) in [("CACHEDIR.TAG", CACHEDIR_TAG), (".gitignore", "*\n")] {
            let path = root.join(name);
            if !path.exists() {
                write_atomic(&path, contents.as_bytes())?;
            }
        }
        Ok(Self { root })
    }

    /// The cache root (canonical).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The entry for a tarball URL (`http(s)` or `file`).
    pub fn entry(&self, url: &url::Url) -> CacheEntry {
        let mut folder = Bucket::Projects.path(&self.root);
        let host = match (url.scheme(), url.host_str()) {
            ("file", _) => "file".to_owned(),
            (_, Some(host)) => match url.port() {
                Some(port) => format!("{host}_{port}"),
                None => host.to_owned(),
            },
            (_, None) => "_".to_owned(),
        };
        folder.push(sanitize_segment(&host));
        for segment in url.path_segments().into_iter().flatten() {
            folder.push(sanitize_segment(segment));
        }
        let key = url_key(url);
        CacheEntry { folder, key }
    }
}

/// The first 16 hex digits of the sha256 of the URL without credentials or fragment: tells
/// apart URLs that share a path (other port, query, scheme).
pub fn url_key(url: &url::Url) -> String {
    let mut url = url.clone();
    let _ = url.set_username("");
    let _ = url.set_password(None);
    url.set_fragment(None);
    let digest = Sha256::digest(url.as_str().as_bytes());
    hex::encode(&digest[..8])
}

/// One path segment as a folder name: never empty, `.` or `..`, no separators, not too long.
fn sanitize_segment(segment: &str) -> String {
    let mut name: String = segment
        .chars()
        .map(|character| match character {
            '/' | '\\' | '\0' | ':' => '_',
            other => other,
        })
        .collect();
    if name.is_empty() || name == "." || name == ".." {
        name = "_".to_owned();
    }
    if name.len() > 120 {
        let mut end = 120;
        while !name.is_char_boundary(end) {
            end -= 1;
        }
        name.truncate(end);
    }
    name
}

/// Where one URL's entry lives.
#[derive(Debug, Clone)]
pub struct CacheEntry {
    folder: PathBuf,
    key: String,
}

/// What is recorded beside each entry (`entry.json`). Holds no secret: URLs are masked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryMetadata {
    /// Format of this file.
    pub version: u32,
    /// The source URL (credentials masked).
    pub url: String,
    /// The URL after redirects (credentials masked).
    pub final_url: Option<String>,
    /// The `ETag` the server sent.
    pub etag: Option<String>,
    /// The `Last-Modified` the server sent.
    pub last_modified: Option<String>,
    /// Hex sha256 of the raw tarball bytes.
    pub sha256: String,
    /// Size of the raw tarball.
    pub size: u64,
    /// Bytes of file data unpacked.
    pub unpacked_bytes: u64,
    /// Entries unpacked.
    pub entries: u64,
    /// When the tarball was downloaded (RFC 3339).
    pub fetched_at: String,
    /// For local tarballs: the file's modification time (ns since the epoch) when extracted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_modified_ns: Option<u128>,
}

/// The current format of [`EntryMetadata`].
pub const METADATA_VERSION: u32 = 1;

impl CacheEntry {
    /// The committed entry folder.
    pub fn path(&self) -> PathBuf {
        self.folder.join(&self.key)
    }

    /// The extracted archive inside the entry.
    pub fn files(&self) -> PathBuf {
        self.path().join("files")
    }

    /// The URL key (see [`url_key`]).
    pub fn key(&self) -> &str {
        &self.key
    }

    fn lock_path(&self) -> PathBuf {
        self.folder.join(format!("{}.lock", self.key))
    }

    /// Takes the entry's lock, waiting for another process that holds it (`on_wait` hears
    /// about the wait first). Released when the guard drops (or the process dies).
    pub async fn lock(&self, on_wait: impl FnOnce(&Path)) -> Result<EntryLock, FetchError> {
        create_dir_all(&self.folder)?;
        let path = self.lock_path();
        // Never through a symlink, nor blocking on a FIFO (a restored or committed cache can
        // hold either).
        let file =
            crate::output_file::open_lock_file(&path).map_err(|source| FetchError::Cache {
                action: "create the lock",
                path: path.clone(),
                source,
            })?;
        match file.try_lock() {
            Ok(()) => return Ok(EntryLock { _file: file }),
            Err(TryLockError::WouldBlock) => on_wait(&path),
            Err(TryLockError::Error(source)) => {
                return Err(FetchError::Cache {
                    action: "lock",
                    path,
                    source,
                });
            }
        }
        let waited_path = path.clone();
        tokio::task::spawn_blocking(move || file.lock().map(|()| file))
            .await
            .map_err(|error| FetchError::Cache {
                action: "lock",
                path: waited_path.clone(),
                source: io::Error::other(error),
            })?
            .map(|file| EntryLock { _file: file })
            .map_err(|source| FetchError::Cache {
                action: "lock",
                path: waited_path,
                source,
            })
    }

    /// The committed entry's metadata, if there is a complete entry.
    pub fn read_metadata(&self) -> Option<EntryMetadata> {
        // A regular file of metadata (a symlink to `/dev/zero` in a restored cache never ends).
        let text = crate::output_file::read_small(&self.path().join("entry.json"), 1 << 20)?;
        let metadata: EntryMetadata = serde_json::from_slice(&text).ok()?;
        (metadata.version == METADATA_VERSION && self.files().is_dir()).then_some(metadata)
    }

    /// Rewrites the committed entry's metadata (after a revalidation).
    pub fn update_metadata(&self, metadata: &EntryMetadata) -> Result<(), FetchError> {
        write_metadata(&self.path(), metadata)
    }

    /// Deletes what killed processes left (only the lock holder may call this).
    pub fn remove_stale(&self) {
        let prefixes = [format!(".{}.tmp-", self.key), format!(".{}.old-", self.key)];
        let Ok(read) = fs_err::read_dir(&self.folder) else {
            return;
        };
        for item in read.flatten() {
            let name = item.file_name().to_string_lossy().into_owned();
            if prefixes.iter().any(|prefix| name.starts_with(prefix)) {
                let _ = fs_err::remove_dir_all(item.path());
            }
        }
    }

    /// A fresh temporary folder beside the entry, with an empty `files/` inside.
    pub fn staging(&self) -> Result<Staging, FetchError> {
        create_dir_all(&self.folder)?;
        let path = self
            .folder
            .join(format!(".{}.tmp-{}", self.key, random_suffix()));
        create_dir_all(&path.join("files"))?;
        Ok(Staging { path })
    }

    /// Moves a complete staging folder into place, replacing the old entry.
    pub fn commit(&self, staging: Staging, metadata: &EntryMetadata) -> Result<(), FetchError> {
        write_metadata(&staging.path, metadata)?;
        let destination = self.path();
        let old = self
            .folder
            .join(format!(".{}.old-{}", self.key, random_suffix()));
        #[expect(
            clippy::disallowed_methods,
            reason = "the error variant names the path"
        )]
        let had_old = match std::fs::rename(&destination, &old) {
            Ok(()) => true,
            Err(error) if error.kind() == io::ErrorKind::NotFound => false,
            Err(source) => {
                return Err(FetchError::Cache {
                    action: "replace",
                    path: destination,
                    source,
                });
            }
        };
        #[expect(
            clippy::disallowed_methods,
            reason = "the error variant names the path"
        )]
        std::fs::rename(&staging.path, &destination).map_err(|source| FetchError::Cache {
            action: "commit",
            path: destination.clone(),
            source,
        })?;
        staging.keep();
        if had_old {
            let _ = fs_err::remove_dir_all(&old);
        }
        Ok(())
    }
}

/// Holds an entry's lock.
#[derive(Debug)]
pub struct EntryLock {
    _file: File,
}

/// A temporary entry folder; deleted on drop unless committed.
#[derive(Debug)]
pub struct Staging {
    path: PathBuf,
}

impl Staging {
    /// Where the archive is extracted.
    pub fn files(&self) -> PathBuf {
        self.path.join("files")
    }

    /// Empties `files/` for a new attempt.
    pub fn reset(&self) -> Result<(), FetchError> {
        let files = self.files();
        let _ = fs_err::remove_dir_all(&files);
        create_dir_all(&files)
    }

    fn keep(mut self) {
        self.path = PathBuf::new();
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.path.as_os_str().is_empty() {
            let _ = fs_err::remove_dir_all(&self.path);
        }
    }
}

fn write_metadata(entry: &Path, metadata: &EntryMetadata) -> Result<(), FetchError> {
    let text = serde_json::to_vec_pretty(metadata).map_err(|error| FetchError::Cache {
        action: "write",
        path: entry.join("entry.json"),
        source: io::Error::other(error),
    })?;
    write_atomic(&entry.join("entry.json"), &text)
}

fn create_dir_all(path: &Path) -> Result<(), FetchError> {
    #[expect(
        clippy::disallowed_methods,
        reason = "the error variant names the path"
    )]
    std::fs::create_dir_all(path).map_err(|source| FetchError::Cache {
        action: "create",
        path: path.to_path_buf(),
        source,
    })
}

/// Writes a file through a temporary file and a rename; only a new or regular file is replaced
/// (a cache restored from elsewhere, or committed into a checkout, can hold anything).
fn write_atomic(path: &Path, contents: &[u8]) -> Result<(), FetchError> {
    let parent = path.parent().unwrap_or(Path::new("."));
    let error = |source| FetchError::Cache {
        action: "write",
        path: path.to_path_buf(),
        source,
    };
    crate::output_file::check_replaceable(path).map_err(error)?;
    let mut temporary = crate::atomic_file::temporary_in(parent).map_err(error)?;
    io::Write::write_all(&mut temporary, contents).map_err(error)?;
    temporary
        .persist(path)
        .map_err(|persist| error(persist.error))?;
    Ok(())
}

fn random_suffix() -> String {
    format!("{}-{:08x}", std::process::id(), rand::random::<u32>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readable_entry_paths() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path()).unwrap();
        assert!(cache.root().join("CACHEDIR.TAG").is_file());
        assert_eq!(
            fs_err::read_to_string(cache.root().join(".gitignore")).unwrap(),
            "*\n"
        );
        let url = url::Url::parse("https://u:p@GitHub.com/o/r/archive/main.tar.gz?x=1#f").unwrap();
        let entry = cache.entry(&url);
        let relative = entry.path().strip_prefix(cache.root()).unwrap().to_owned();
        assert_eq!(
            relative,
            PathBuf::from(format!(
                "projects-v1/github.com/o/r/archive/main.tar.gz/{}",
                entry.key()
            ))
        );
        // Credentials do not change the key; the query does.
        let plain = url::Url::parse("https://github.com/o/r/archive/main.tar.gz?x=1").unwrap();
        assert_eq!(url_key(&url), url_key(&plain));
        let other = url::Url::parse("https://github.com/o/r/archive/main.tar.gz?x=2").unwrap();
        assert_ne!(url_key(&other), url_key(&plain));
        let port = url::Url::parse("http://127.0.0.1:8080//a/..%2F/b").unwrap();
        let relative = cache.entry(&port).path();
        let relative = relative.strip_prefix(cache.root()).unwrap();
        assert!(
            relative.starts_with("projects-v1/127.0.0.1_8080/_/"),
            "{}",
            relative.display()
        );
    }

    #[test]
    fn staging_is_removed_unless_committed() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path()).unwrap();
        let entry = cache.entry(&url::Url::parse("https://h/a.tgz").unwrap());
        let staging = entry.staging().unwrap();
        let path = staging.path.clone();
        assert!(path.join("files").is_dir());
        drop(staging);
        assert!(!path.exists());
        let staging = entry.staging().unwrap();
        fs_err::write(staging.files().join("aigne.yaml"), "x").unwrap();
        let metadata = EntryMetadata {
            version: METADATA_VERSION,
            url: "https://h/a.tgz".into(),
            final_url: None,
            etag: Some("\"e\"".into()),
            last_modified: None,
            sha256: "00".into(),
            size: 1,
            unpacked_bytes: 1,
            entries: 1,
            fetched_at: "2026-01-01T00:00:00Z".into(),
            local_modified_ns: None,
        };
        entry.commit(staging, &metadata).unwrap();
        assert_eq!(entry.read_metadata(), Some(metadata.clone()));
        assert!(entry.files().join("aigne.yaml").is_file());
        // A second commit replaces the first.
        let staging = entry.staging().unwrap();
        entry.commit(staging, &metadata).unwrap();
        assert!(!entry.files().join("aigne.yaml").exists());
    }
}
