//! Reading the files a project names, under the trust model of DESIGN.md: every file is a
//! regular file within a size cap, read in chunks that a [`Cancel`] flag interrupts, and (through
//! [`FileAccess`]) resolves — after following symlinks — inside the project folder or a folder
//! opened on purpose with `--allow-read`.
//!
//! Hand-written because no crate combines the three checks this needs: the type of the file as
//! opened (a FIFO opened without `O_NONBLOCK` blocks before any check can run; `/dev/zero` never
//! ends), a byte cap enforced while reading (a file may grow after `stat`), and a cancellation
//! point between chunks so `--timeout`, `--total-timeout` and SIGINT/SIGTERM stop a slow read.
//!
//! Errors name the target as written and the reference (the referring file and line).

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::error::{Location, ProjectError};

/// The default of `--max-file-size`: the largest project file, inputs line or tool result.
pub const DEFAULT_MAX_FILE_SIZE: u64 = 8 * 1024 * 1024;

/// Bytes read between two checks of the [`Cancel`] flag.
const CHUNK: usize = 64 * 1024;

/// A flag that stops reads in progress (set when the timeouts run out or a signal arrives).
#[derive(Debug, Clone, Default)]
pub struct Cancel(Arc<AtomicBool>);

impl Cancel {
    /// Stops every read that checks this flag.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// Whether [`Self::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    /// A guard that cancels when dropped (when the future awaiting a blocking read is dropped
    /// by a timeout or a signal, the read stops too).
    pub fn on_drop(&self) -> CancelOnDrop {
        CancelOnDrop(self.clone())
    }
}

/// Cancels its [`Cancel`] when dropped; see [`Cancel::on_drop`].
#[derive(Debug)]
pub struct CancelOnDrop(Cancel);

impl CancelOnDrop {
    /// Drops the guard without cancelling (the read finished).
    pub fn disarm(self) {
        std::mem::forget(self);
    }
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

/// Why a file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum FileProblem {
    /// A device, FIFO, socket or folder.
    #[error("is {kind}, not a regular file")]
    NotRegular {
        /// "a FIFO", "a character device", …
        kind: &'static str,
    },
    /// Larger than the cap.
    #[error("is larger than the {} cap (`--max-file-size`)", human_size(*limit))]
    TooLarge {
        /// The cap in bytes.
        limit: u64,
    },
    /// Resolves outside the project and every `--allow-read` folder.
    #[error("resolves to `{}`, outside the project folder `{}`", real.display(), root.display())]
    Outside {
        /// Where it resolves, symlinks followed.
        real: PathBuf,
        /// The project folder.
        root: PathBuf,
    },
    /// Not UTF-8 text.
    #[error("is not UTF-8 text (invalid bytes on line {line})")]
    NotUtf8 {
        /// The 1-based line of the first invalid byte.
        line: usize,
    },
    /// The read was stopped by a timeout or a signal.
    #[error("was not read: the run was stopped")]
    Cancelled,
    /// Missing, unreadable, …
    #[error("cannot be read: {0}")]
    Io(std::io::Error),
}

/// How big a read may be and what interrupts it.
#[derive(Debug, Clone)]
pub struct ReadLimits {
    /// Most bytes of one file.
    pub max_file_size: u64,
    /// Stops the read between chunks.
    pub cancel: Cancel,
}

impl Default for ReadLimits {
    fn default() -> Self {
        Self {
            max_file_size: DEFAULT_MAX_FILE_SIZE,
            cancel: Cancel::default(),
        }
    }
}

/// Reads a regular file of at most `limits.max_file_size` bytes. A FIFO is opened without
/// blocking (and refused), so no writer, no data and no end of file can hold the caller.
pub fn read_regular_file(path: &Path, limits: &ReadLimits) -> Result<Vec<u8>, FileProblem> {
    let file = open_regular(path, limits.max_file_size)?;
    let mut reader = file.take(limits.max_file_size.saturating_add(1));
    let mut bytes = Vec::new();
    let mut chunk = vec![0u8; CHUNK];
    loop {
        if limits.cancel.is_cancelled() {
            return Err(FileProblem::Cancelled);
        }
        match reader.read(&mut chunk) {
            Ok(0) => break,
            Ok(count) => bytes.extend_from_slice(&chunk[..count]),
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
            Err(error) => return Err(FileProblem::Io(error)),
        }
        if bytes.len() as u64 > limits.max_file_size {
            return Err(FileProblem::TooLarge {
                limit: limits.max_file_size,
            });
        }
    }
    Ok(bytes)
}

/// [`read_regular_file`] as UTF-8 text (the error names the line of the first invalid byte).
pub fn read_regular_text(path: &Path, limits: &ReadLimits) -> Result<String, FileProblem> {
    let bytes = read_regular_file(path, limits)?;
    utf8_text(bytes)
}

/// UTF-8 text, or the line of the first invalid byte.
pub fn utf8_text(bytes: Vec<u8>) -> Result<String, FileProblem> {
    String::from_utf8(bytes).map_err(|error| {
        let valid = error.utf8_error().valid_up_to();
        let line = 1 + error.as_bytes()[..valid]
            .iter()
            .filter(|&&byte| byte == b'\n')
            .count();
        FileProblem::NotUtf8 { line }
    })
}

/// Checks that `path` is a regular file within the cap, without reading it (JavaScript modules,
/// which node reads).
pub fn check_regular_file(path: &Path, max_file_size: u64) -> Result<(), FileProblem> {
    open_regular(path, max_file_size).map(drop)
}

#[expect(
    clippy::disallowed_methods,
    reason = "the caller's error names the path; std's metadata and open keep the message short"
)]
fn open_regular(path: &Path, max_file_size: u64) -> Result<std::fs::File, FileProblem> {
    // `stat` first: opening a socket fails with a confusing error, and a FIFO must not be opened
    // for a blocking read at all.
    let metadata = std::fs::metadata(path).map_err(FileProblem::Io)?;
    check_metadata(&metadata, max_file_size)?;
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // The file may be swapped for a FIFO between the `stat` and the `open`: a non-blocking
        // open returns at once, and the check below refuses it.
        options.custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits());
    }
    let file = options.open(path).map_err(FileProblem::Io)?;
    let metadata = file.metadata().map_err(FileProblem::Io)?;
    check_metadata(&metadata, max_file_size)?;
    Ok(file)
}

fn check_metadata(metadata: &std::fs::Metadata, max_file_size: u64) -> Result<(), FileProblem> {
    if !metadata.is_file() {
        return Err(FileProblem::NotRegular {
            kind: kind_of(metadata),
        });
    }
    if metadata.len() > max_file_size {
        return Err(FileProblem::TooLarge {
            limit: max_file_size,
        });
    }
    Ok(())
}

/// "a FIFO", "a socket", … for messages.
pub fn kind_of(metadata: &std::fs::Metadata) -> &'static str {
    let file_type = metadata.file_type();
    if file_type.is_dir() {
        return "a folder";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if file_type.is_fifo() {
            return "a FIFO";
        }
        if file_type.is_socket() {
            return "a socket";
        }
        if file_type.is_char_device() {
            return "a character device";
        }
        if file_type.is_block_device() {
            return "a block device";
        }
    }
    "not a regular file"
}

/// `8 MiB`, `512 KiB`, `100 bytes`.
pub fn human_size(bytes: u64) -> String {
    const KIB: u64 = 1024;
    const MIB: u64 = 1024 * 1024;
    const GIB: u64 = 1024 * 1024 * 1024;
    match bytes {
        b if b >= GIB && b % GIB == 0 => format!("{} GiB", b / GIB),
        b if b >= MIB && b % MIB == 0 => format!("{} MiB", b / MIB),
        b if b >= KIB && b % KIB == 0 => format!("{} KiB", b / KIB),
        b => format!("{b} bytes"),
    }
}

/// Parses a size as `--max-file-size` takes it: `8MiB`, `512KiB`, `2MB`, `1GiB`, `1048576`.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let number: u64 = digits
        .parse()
        .map_err(|_| format!("`{text}` is not a size (try `8MiB`, `512KiB` or a byte count)"))?;
    let multiplier: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1000,
        "kib" => 1024,
        "m" | "mb" => 1000 * 1000,
        "mib" => 1024 * 1024,
        "g" | "gb" => 1000 * 1000 * 1000,
        "gib" => 1024 * 1024 * 1024,
        other => return Err(format!("unknown size unit `{other}` in `{text}`")),
    };
    let size = number
        .checked_mul(multiplier)
        .ok_or_else(|| format!("`{text}` is too large"))?;
    if size == 0 {
        return Err("a size cap must be at least 1 byte".to_owned());
    }
    Ok(size)
}

/// What a project may read: its folder and the `--allow-read` folders (all canonical), each file
/// within the size cap.
#[derive(Clone)]
pub struct FileAccess {
    root: PathBuf,
    allowed: Vec<PathBuf>,
    limits: ReadLimits,
}

impl fmt::Debug for FileAccess {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("FileAccess")
            .field("root", &self.root)
            .field("allowed", &self.allowed)
            .field("max_file_size", &self.limits.max_file_size)
            .finish()
    }
}

impl PartialEq for FileAccess {
    fn eq(&self, other: &Self) -> bool {
        self.root == other.root
            && self.allowed == other.allowed
            && self.limits.max_file_size == other.limits.max_file_size
    }
}

/// The settings of [`crate::project::Project::load_with`].
#[derive(Debug, Clone, Default)]
pub struct LoadSettings {
    /// `--max-file-size` ([`None`]: [`DEFAULT_MAX_FILE_SIZE`]).
    pub max_file_size: Option<u64>,
    /// `--allow-read`: folders outside the project that its files may name.
    pub allow_read: Vec<PathBuf>,
    /// Stops reads in progress.
    pub cancel: Cancel,
}

impl FileAccess {
    /// Access confined to `root` and the `allow_read` folders. A folder that does not exist is
    /// an error naming it.
    #[expect(
        clippy::disallowed_methods,
        reason = "the error variant names the path"
    )]
    pub fn new(root: &Path, settings: &LoadSettings) -> Result<Self, ProjectError> {
        let canonical = |path: &Path| {
            std::fs::canonicalize(path).map_err(|source| ProjectError::Read {
                path: path.to_path_buf(),
                source,
            })
        };
        let root = canonical(root)?;
        let allowed = settings
            .allow_read
            .iter()
            .map(|path| canonical(path))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            root,
            allowed,
            limits: ReadLimits {
                max_file_size: settings.max_file_size.unwrap_or(DEFAULT_MAX_FILE_SIZE),
                cancel: settings.cancel.clone(),
            },
        })
    }

    /// The project folder (canonical).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The size cap and the cancel flag.
    pub fn limits(&self) -> &ReadLimits {
        &self.limits
    }

    /// Where `target` resolves (symlinks followed), if inside the project or an allowed folder.
    #[expect(
        clippy::disallowed_methods,
        reason = "the caller's error names the path"
    )]
    pub fn confine(&self, target: &Path) -> Result<PathBuf, FileProblem> {
        let real = std::fs::canonicalize(target).map_err(FileProblem::Io)?;
        if real.starts_with(&self.root) || self.allowed.iter().any(|dir| real.starts_with(dir)) {
            Ok(real)
        } else {
            Err(FileProblem::Outside {
                real,
                root: self.root.clone(),
            })
        }
    }

    /// Reads a file the project names: confined, regular, capped, interruptible, UTF-8.
    /// `reference` is where it is named (`None` for `aigne.yaml` itself).
    pub fn read_text(
        &self,
        target: &Path,
        reference: Option<&Location>,
    ) -> Result<String, ProjectError> {
        self.read_text_unlocated(target)
            .map_err(|problem| file_error(target, reference, problem))
    }

    /// [`Self::read_text`] without the reference (the caller adds it).
    pub fn read_text_unlocated(&self, target: &Path) -> Result<String, FileProblem> {
        let real = self.confine(target)?;
        read_regular_text(&real, &self.limits)
    }

    /// Checks a file the project names without reading it: confined, regular, capped.
    pub fn check(&self, target: &Path, reference: Option<&Location>) -> Result<(), ProjectError> {
        self.confine(target)
            .and_then(|real| check_regular_file(&real, self.limits.max_file_size))
            .map_err(|problem| file_error(target, reference, problem))
    }
}

/// The [`ProjectError`] for a file that cannot be used.
pub fn file_error(
    target: &Path,
    reference: Option<&Location>,
    problem: FileProblem,
) -> ProjectError {
    ProjectError::File {
        target: target.to_path_buf(),
        reference: reference.cloned(),
        problem: Box::new(problem),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_and_print() {
        assert_eq!(parse_size("8MiB"), Ok(8 * 1024 * 1024));
        assert_eq!(parse_size("512 KiB"), Ok(512 * 1024));
        assert_eq!(parse_size("2mb"), Ok(2_000_000));
        assert_eq!(parse_size("100"), Ok(100));
        assert!(parse_size("0").is_err());
        assert!(parse_size("8 parsecs").is_err());
        assert!(parse_size("99999999999999999999GiB").is_err());
        assert_eq!(human_size(DEFAULT_MAX_FILE_SIZE), "8 MiB");
        assert_eq!(human_size(1000), "1000 bytes");
    }

    #[test]
    fn invalid_utf8_names_its_line() {
        let error = utf8_text(b"ok\nstill ok\nbad \xff here\n".to_vec()).unwrap_err();
        assert!(matches!(error, FileProblem::NotUtf8 { line: 3 }), "{error}");
    }

    #[cfg(unix)]
    #[test]
    fn special_files_are_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
        let limits = ReadLimits::default();
        let error = read_regular_file(&fifo, &limits).unwrap_err();
        assert!(
            matches!(error, FileProblem::NotRegular { kind: "a FIFO" }),
            "{error}"
        );
        let error = read_regular_file(Path::new("/dev/zero"), &limits).unwrap_err();
        assert!(
            matches!(
                error,
                FileProblem::NotRegular {
                    kind: "a character device"
                }
            ),
            "{error}"
        );
        let socket = dir.path().join("socket");
        let _listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
        let error = read_regular_file(&socket, &limits).unwrap_err();
        assert!(
            matches!(error, FileProblem::NotRegular { kind: "a socket" }),
            "{error}"
        );
        let error = read_regular_file(dir.path(), &limits).unwrap_err();
        assert!(
            matches!(error, FileProblem::NotRegular { kind: "a folder" }),
            "{error}"
        );
    }

    #[test]
    fn the_cap_and_the_cancel_flag_stop_a_read() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("big");
        fs_err::write(&file, vec![b'x'; 3 * CHUNK]).unwrap();
        let small = ReadLimits {
            max_file_size: CHUNK as u64,
            cancel: Cancel::default(),
        };
        assert!(matches!(
            read_regular_file(&file, &small),
            Err(FileProblem::TooLarge { .. })
        ));
        let cancelled = ReadLimits::default();
        cancelled.cancel.cancel();
        assert!(matches!(
            read_regular_file(&file, &cancelled),
            Err(FileProblem::Cancelled)
        ));
        assert_eq!(
            read_regular_file(&file, &ReadLimits::default())
                .unwrap()
                .len(),
            3 * CHUNK
        );
    }

    #[cfg(unix)]
    #[test]
    fn access_is_confined_after_symlinks() {
        let outer = tempfile::tempdir().unwrap();
        let root = outer.path().join("project");
        let shared = outer.path().join("shared");
        fs_err::create_dir_all(&root).unwrap();
        fs_err::create_dir_all(&shared).unwrap();
        fs_err::write(root.join("in.md"), "in").unwrap();
        fs_err::write(shared.join("out.md"), "out").unwrap();
        fs_err::os::unix::fs::symlink(shared.join("out.md"), root.join("link.md")).unwrap();
        let access = FileAccess::new(&root, &LoadSettings::default()).unwrap();
        assert_eq!(access.read_text(&root.join("in.md"), None).unwrap(), "in");
        for escape in [
            root.join("../shared/out.md"),
            root.join("link.md"),
            shared.join("out.md"),
        ] {
            let error = access.read_text(&escape, None).unwrap_err();
            assert!(
                matches!(
                    &error,
                    ProjectError::File { problem, .. }
                        if matches!(problem.as_ref(), FileProblem::Outside { .. })
                ),
                "{error}"
            );
        }
        let opened = FileAccess::new(
            &root,
            &LoadSettings {
                allow_read: vec![shared.clone()],
                ..LoadSettings::default()
            },
        )
        .unwrap();
        assert_eq!(
            opened.read_text(&root.join("link.md"), None).unwrap(),
            "out"
        );
    }
}
