//! Safe, streaming tar extraction: gzip detected by its magic bytes, entries written as they
//! arrive, limits checked before anything is written.
//!
//! Rejected (naming the entry): absolute paths, `..`, symlinks and hardlinks that resolve
//! outside the root (checked when created, when written through, and once more at the end),
//! device and fifo entries, sparse and unknown types, more than `max_entries` entries, more than
//! `max_unpacked_bytes` of file data (and a decompressed stream much larger than that: a gzip
//! bomb). Only the executable bit of a mode is kept (files become 0644 or 0755); owners and
//! times are not restored.

// Each file-system call here checks what it finds (symlink_metadata, canonicalize) and turns any
// failure into an `ExtractError` naming the entry and the path, so std's plain errors are wanted.
#![expect(
    clippy::disallowed_methods,
    reason = "each error becomes an ExtractError naming the path"
)]

use std::io::{self, BufRead, Read, Write};
use std::path::{Component, Path, PathBuf};

use flate2::bufread::GzDecoder;
use tar::EntryType;

/// Limits against decompression bombs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtractLimits {
    /// Most bytes of file data.
    pub max_unpacked_bytes: u64,
    /// Most entries (files, folders, links).
    pub max_entries: u64,
}

impl Default for ExtractLimits {
    fn default() -> Self {
        Self {
            max_unpacked_bytes: 1 << 30,
            max_entries: 100_000,
        }
    }
}

/// What an extraction wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Extracted {
    /// Entries written.
    pub entries: u64,
    /// Bytes of file data written.
    pub unpacked_bytes: u64,
}

/// Why an extraction stopped. The caller adds the URL or path.
#[derive(Debug)]
pub(crate) enum ExtractError {
    /// An entry that must not be written.
    Unsafe { entry: String, reason: String },
    /// Too much data.
    TooLarge { entry: Option<String>, limit: u64 },
    /// Too many entries.
    TooManyEntries { limit: u64 },
    /// The stream is not a tar archive.
    NotAnArchive { reason: String },
    /// Damaged archive (or, when the raw reader recorded a failure, a broken download).
    Corrupt {
        entry: Option<String>,
        source: io::Error,
    },
    /// Writing into the destination failed.
    Write { path: PathBuf, source: io::Error },
}

/// Unpacks the (optionally gzipped) tar stream `raw` into `destination`, which must exist and
/// be empty. Reads `raw` to its end, so a hashing reader below sees every byte.
pub(crate) fn unpack<R: BufRead>(
    mut raw: R,
    destination: &Path,
    limits: ExtractLimits,
) -> Result<Extracted, ExtractError> {
    let root = std::fs::canonicalize(destination).map_err(|source| ExtractError::Write {
        path: destination.to_path_buf(),
        source,
    })?;
    let head = raw.fill_buf().map_err(|source| ExtractError::Corrupt {
        entry: None,
        source,
    })?;
    if head.is_empty() {
        return Err(ExtractError::NotAnArchive {
            reason: "the body is empty".to_owned(),
        });
    }
    // Tar headers and padding add at most ~1 KiB per entry; anything past that is a bomb.
    let stream_cap = limits
        .max_unpacked_bytes
        .saturating_add(limits.max_entries.saturating_mul(1536))
        .saturating_add(1 << 20);
    let extracted = if head.starts_with(&[0x1f, 0x8b]) {
        let decoder = Capped::new(GzDecoder::new(&mut raw), stream_cap);
        let mut archive = tar::Archive::new(decoder);
        let extracted = unpack_entries(&mut archive, &root, limits)?;
        // Read the gzip trailer (checks the CRC) and anything the tar reader left.
        drain(&mut archive.into_inner(), limits)?;
        extracted
    } else {
        let mut archive = tar::Archive::new(Capped::new(&mut raw, stream_cap));
        let extracted = unpack_entries(&mut archive, &root, limits)?;
        drain(&mut archive.into_inner(), limits)?;
        extracted
    };
    // Whatever follows the gzip member still counts for the sha256.
    io::copy(&mut raw, &mut io::sink()).map_err(|source| ExtractError::Corrupt {
        entry: None,
        source,
    })?;
    Ok(extracted)
}

fn drain<R: Read>(reader: &mut Capped<R>, limits: ExtractLimits) -> Result<(), ExtractError> {
    io::copy(reader, &mut io::sink()).map_err(|source| {
        if reader.exceeded {
            ExtractError::TooLarge {
                entry: None,
                limit: limits.max_unpacked_bytes,
            }
        } else {
            ExtractError::Corrupt {
                entry: None,
                source,
            }
        }
    })?;
    Ok(())
}

/// A reader that fails once more than `cap` bytes went through it.
struct Capped<R> {
    inner: R,
    remaining: u64,
    exceeded: bool,
}

impl<R> Capped<R> {
    fn new(inner: R, cap: u64) -> Self {
        Self {
            inner,
            remaining: cap,
            exceeded: false,
        }
    }
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        let read = self.inner.read(buffer)?;
        match self.remaining.checked_sub(read as u64) {
            Some(remaining) => {
                self.remaining = remaining;
                Ok(read)
            }
            None => {
                self.exceeded = true;
                Err(io::Error::other(StreamTooLarge))
            }
        }
    }
}

fn unpack_entries<R: Read>(
    archive: &mut tar::Archive<Capped<R>>,
    root: &Path,
    limits: ExtractLimits,
) -> Result<Extracted, ExtractError> {
    let mut extracted = Extracted::default();
    let mut links: Vec<(PathBuf, String)> = Vec::new();
    let mut buffer = vec![0u8; 128 * 1024];
    let entries = archive
        .entries()
        .map_err(|source| not_an_archive_or_corrupt(source, 0, None))?;
    let mut last_entry: Option<String> = None;
    for (index, entry) in entries.enumerate() {
        let seen = index as u64;
        let mut entry = match entry {
            Ok(entry) => entry,
            Err(source) => {
                return Err(classify_read_error(
                    source,
                    seen,
                    last_entry.clone(),
                    limits,
                ));
            }
        };
        let raw_path = entry.path_bytes().into_owned();
        let name = String::from_utf8_lossy(&raw_path).into_owned();
        last_entry = Some(name.clone());
        let entry_type = entry.header().entry_type();
        if matches!(
            entry_type,
            EntryType::XGlobalHeader
                | EntryType::XHeader
                | EntryType::GNULongName
                | EntryType::GNULongLink
        ) {
            continue;
        }
        extracted.entries += 1;
        if extracted.entries > limits.max_entries {
            return Err(ExtractError::TooManyEntries {
                limit: limits.max_entries,
            });
        }
        let relative = safe_relative(&entry.path().map_err(|source| ExtractError::Corrupt {
            entry: Some(name.clone()),
            source,
        })?)
        .map_err(|reason| unsafe_entry(&name, reason))?;
        let Some(relative) = relative else {
            // `./` or an empty name: the root itself.
            continue;
        };
        let target = root.join(&relative);
        let parent_relative = relative.parent().unwrap_or(Path::new(""));
        match entry_type {
            EntryType::Directory => {
                ensure_directory(root, &relative, &name)?;
            }
            EntryType::Regular | EntryType::Continuous => {
                let size = entry
                    .header()
                    .size()
                    .map_err(|source| ExtractError::Corrupt {
                        entry: Some(name.clone()),
                        source,
                    })?;
                extracted.unpacked_bytes = extracted.unpacked_bytes.saturating_add(size);
                if extracted.unpacked_bytes > limits.max_unpacked_bytes {
                    return Err(ExtractError::TooLarge {
                        entry: Some(name),
                        limit: limits.max_unpacked_bytes,
                    });
                }
                ensure_directory(root, parent_relative, &name)?;
                replace_non_directory(&target, &name)?;
                let executable = entry
                    .header()
                    .mode()
                    .map(|mode| mode & 0o111 != 0)
                    .unwrap_or(false);
                let mut file = create_file(&target, executable)?;
                copy_entry(&mut entry, &mut file, &mut buffer, &target, &name).map_err(
                    |error| match error {
                        ExtractError::Corrupt { entry, source } => {
                            classify_read_error(source, seen + 1, entry, limits)
                        }
                        other => other,
                    },
                )?;
            }
            EntryType::Symlink => {
                let link = entry
                    .link_name()
                    .map_err(|source| ExtractError::Corrupt {
                        entry: Some(name.clone()),
                        source,
                    })?
                    .ok_or_else(|| unsafe_entry(&name, "symlink without a target".to_owned()))?
                    .into_owned();
                let parent = ensure_directory(root, parent_relative, &name)?;
                if !resolves_inside(root, &parent, &link) {
                    return Err(unsafe_entry(
                        &name,
                        format!("symlink to `{}` leaves the archive", link.display()),
                    ));
                }
                replace_non_directory(&target, &name)?;
                create_symlink(&link, &target)?;
                links.push((target, name));
            }
            EntryType::Link => {
                let link = entry
                    .link_name()
                    .map_err(|source| ExtractError::Corrupt {
                        entry: Some(name.clone()),
                        source,
                    })?
                    .ok_or_else(|| unsafe_entry(&name, "hardlink without a target".to_owned()))?
                    .into_owned();
                let link_relative = safe_relative(&link)
                    .map_err(|reason| unsafe_entry(&name, format!("hardlink target {reason}")))?
                    .ok_or_else(|| {
                        unsafe_entry(&name, "hardlink to the archive root".to_owned())
                    })?;
                let source = root.join(&link_relative);
                let inside = std::fs::canonicalize(&source)
                    .map(|real| real.starts_with(root))
                    .unwrap_or(false);
                let regular = std::fs::symlink_metadata(&source)
                    .map(|metadata| metadata.is_file())
                    .unwrap_or(false);
                if !inside || !regular {
                    return Err(unsafe_entry(
                        &name,
                        format!(
                            "hardlink to `{}`, which is not a file extracted before it inside the archive",
                            link.display()
                        ),
                    ));
                }
                ensure_directory(root, parent_relative, &name)?;
                replace_non_directory(&target, &name)?;
                std::fs::hard_link(&source, &target).map_err(|source| ExtractError::Write {
                    path: target.clone(),
                    source,
                })?;
            }
            EntryType::Char | EntryType::Block => {
                return Err(unsafe_entry(
                    &name,
                    "device entries are not allowed".to_owned(),
                ));
            }
            EntryType::Fifo => {
                return Err(unsafe_entry(
                    &name,
                    "fifo entries are not allowed".to_owned(),
                ));
            }
            other => {
                return Err(unsafe_entry(
                    &name,
                    format!("unsupported entry type `{:?}`", other),
                ));
            }
        }
    }
    // A link created early can be re-pointed by a later one; check what they resolve to now.
    for (link, name) in links {
        if let Ok(real) = std::fs::canonicalize(&link)
            && !real.starts_with(root)
        {
            return Err(unsafe_entry(
                &name,
                "symlink resolves outside the archive through other links".to_owned(),
            ));
        }
    }
    Ok(extracted)
}

/// The error [`Capped`] fails with.
#[derive(Debug, thiserror::Error)]
#[error("the decompressed stream is too large")]
struct StreamTooLarge;

/// Whether [`StreamTooLarge`] is somewhere in the chain (the tar crate wraps reader errors).
fn is_too_large(error: &io::Error) -> bool {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(error) = current {
        if error.is::<StreamTooLarge>() {
            return true;
        }
        current = match error.downcast_ref::<io::Error>() {
            Some(io) => io
                .get_ref()
                .map(|inner| inner as &(dyn std::error::Error + 'static)),
            None => error.source(),
        };
    }
    false
}

fn classify_read_error(
    source: io::Error,
    seen: u64,
    entry: Option<String>,
    limits: ExtractLimits,
) -> ExtractError {
    if is_too_large(&source) {
        return ExtractError::TooLarge {
            entry,
            limit: limits.max_unpacked_bytes,
        };
    }
    not_an_archive_or_corrupt(source, seen, entry)
}

fn not_an_archive_or_corrupt(source: io::Error, seen: u64, entry: Option<String>) -> ExtractError {
    if seen == 0 && source.kind() != io::ErrorKind::UnexpectedEof && !is_gzip_error(&source) {
        ExtractError::NotAnArchive {
            reason: source.to_string(),
        }
    } else {
        ExtractError::Corrupt { entry, source }
    }
}

fn is_gzip_error(error: &io::Error) -> bool {
    error.get_ref().is_some_and(|inner| {
        inner.is::<flate2::DecompressError>() || inner.to_string().contains("deflate")
    }) || error.to_string().contains("corrupt deflate stream")
        || error.to_string().contains("invalid gzip header")
}

fn copy_entry<R: Read>(
    entry: &mut R,
    file: &mut std::fs::File,
    buffer: &mut [u8],
    target: &Path,
    name: &str,
) -> Result<(), ExtractError> {
    loop {
        let read = match entry.read(buffer) {
            Ok(0) => return Ok(()),
            Ok(read) => read,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(source) => {
                return Err(ExtractError::Corrupt {
                    entry: Some(name.to_owned()),
                    source,
                });
            }
        };
        file.write_all(&buffer[..read])
            .map_err(|source| ExtractError::Write {
                path: target.to_path_buf(),
                source,
            })?;
    }
}

fn unsafe_entry(name: &str, reason: String) -> ExtractError {
    ExtractError::Unsafe {
        entry: name.to_owned(),
        reason,
    }
}

/// The path as plain relative components; `Err(reason)` for absolute paths and `..`;
/// `Ok(None)` for the root itself.
pub(crate) fn safe_relative(path: &Path) -> Result<Option<PathBuf>, String> {
    let mut relative = PathBuf::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => relative.push(part),
            Component::CurDir => {}
            Component::ParentDir => return Err("the path contains `..`".to_owned()),
            Component::RootDir | Component::Prefix(_) => {
                return Err("the path is absolute".to_owned());
            }
        }
    }
    Ok((!relative.as_os_str().is_empty()).then_some(relative))
}

/// Creates `relative` (and its parents) under `root` without following any link that leaves
/// it; returns the real path.
fn ensure_directory(root: &Path, relative: &Path, name: &str) -> Result<PathBuf, ExtractError> {
    let mut current = root.to_path_buf();
    for component in relative.components() {
        current.push(component);
        match std::fs::symlink_metadata(&current) {
            Ok(metadata) if metadata.is_dir() => {}
            Ok(metadata) if metadata.file_type().is_symlink() => {
                let real = std::fs::canonicalize(&current).map_err(|_| {
                    unsafe_entry(
                        name,
                        format!(
                            "goes through the dangling symlink `{}`",
                            display_relative(root, &current)
                        ),
                    )
                })?;
                if !real.starts_with(root) {
                    return Err(unsafe_entry(
                        name,
                        format!(
                            "goes through the symlink `{}`, which leaves the archive",
                            display_relative(root, &current)
                        ),
                    ));
                }
                if !real.is_dir() {
                    return Err(unsafe_entry(
                        name,
                        format!("`{}` is not a folder", display_relative(root, &current)),
                    ));
                }
                current = real;
            }
            Ok(_) => {
                return Err(unsafe_entry(
                    name,
                    format!(
                        "`{}` is a file, not a folder",
                        display_relative(root, &current)
                    ),
                ));
            }
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                std::fs::create_dir(&current).map_err(|source| ExtractError::Write {
                    path: current.clone(),
                    source,
                })?;
            }
            Err(source) => {
                return Err(ExtractError::Write {
                    path: current,
                    source,
                });
            }
        }
    }
    Ok(current)
}

fn display_relative(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
}

/// Removes a file or symlink at `target` (a later entry replaces an earlier one, as tar does);
/// refuses to replace a folder.
fn replace_non_directory(target: &Path, name: &str) -> Result<(), ExtractError> {
    match std::fs::symlink_metadata(target) {
        Ok(metadata) if metadata.is_dir() => Err(unsafe_entry(
            name,
            "replaces a folder extracted before it".to_owned(),
        )),
        Ok(_) => std::fs::remove_file(target).map_err(|source| ExtractError::Write {
            path: target.to_path_buf(),
            source,
        }),
        Err(_) => Ok(()),
    }
}

/// Whether `link`, read relative to the real folder `parent`, stays inside `root`: walks its
/// components, following links that already exist.
fn resolves_inside(root: &Path, parent: &Path, link: &Path) -> bool {
    let mut current = parent.to_path_buf();
    for component in link.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                if !current.pop() || !current.starts_with(root) {
                    return false;
                }
            }
            Component::Normal(part) => {
                current.push(part);
                if std::fs::symlink_metadata(&current)
                    .is_ok_and(|metadata| metadata.file_type().is_symlink())
                    && let Ok(real) = std::fs::canonicalize(&current)
                {
                    current = real;
                }
            }
            Component::RootDir | Component::Prefix(_) => return false,
        }
        if !current.starts_with(root) {
            return false;
        }
    }
    current.starts_with(root)
}

fn create_file(target: &Path, executable: bool) -> Result<std::fs::File, ExtractError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(if executable { 0o755 } else { 0o644 });
    }
    #[cfg(not(unix))]
    let _ = executable;
    options.open(target).map_err(|source| ExtractError::Write {
        path: target.to_path_buf(),
        source,
    })
}

fn create_symlink(link: &Path, target: &Path) -> Result<(), ExtractError> {
    #[cfg(unix)]
    let result = std::os::unix::fs::symlink(link, target);
    #[cfg(not(unix))]
    let result = Err::<(), _>(io::Error::other(
        "symlinks are not supported on this platform",
    ));
    result.map_err(|source| ExtractError::Write {
        path: target.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths() {
        assert_eq!(
            safe_relative(Path::new("./a/b")).unwrap(),
            Some(PathBuf::from("a/b"))
        );
        assert_eq!(safe_relative(Path::new("./")).unwrap(), None);
        assert!(safe_relative(Path::new("/etc/passwd")).is_err());
        assert!(safe_relative(Path::new("a/../../b")).is_err());
    }

    #[test]
    fn links_inside_and_outside() {
        let dir = tempfile::tempdir().unwrap();
        let root = fs_err::canonicalize(dir.path()).unwrap();
        fs_err::create_dir_all(root.join("a/b")).unwrap();
        let parent = root.join("a/b");
        assert!(resolves_inside(&root, &parent, Path::new("../x")));
        assert!(resolves_inside(&root, &parent, Path::new("../../x")));
        assert!(!resolves_inside(&root, &parent, Path::new("../../../x")));
        assert!(!resolves_inside(&root, &parent, Path::new("/etc")));
        fs_err::os::unix::fs::symlink("../..", root.join("a/b/up")).unwrap();
        assert!(!resolves_inside(&root, &root, Path::new("a/b/up/..")));
    }
}
