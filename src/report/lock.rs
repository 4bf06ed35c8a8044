//! Results are never mixed or replaced: one run at a time per output folder ([`lock_outputs`]),
//! and nothing but a regular file is ever overwritten ([`check_replaceable`]).
//!
//! Each folder a run writes into (the out-dir and the folders of `--output`, `--summary`,
//! `--junit`) holds a `.aigne-ci.lock` file, locked with an OS file lock for the whole run and
//! naming its holder (pid, command, start time). The OS releases the lock when the process ends,
//! however it ends, so a crashed run never blocks the next one; a second run on a locked folder
//! is refused at once (exit 2) with the holder named.

use std::fs::TryLockError;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use super::ReportError;

/// The lock file's name in each output folder.
pub const LOCK_FILE: &str = ".aigne-ci.lock";

/// The held locks: released when dropped (or when the process ends).
#[derive(Debug)]
pub struct OutputLock {
    _files: Vec<std::fs::File>,
}

/// Locks every folder holding one of `paths` (`out_dir` included), or says which run holds one.
/// Also refuses, before anything runs, an output path that is not a regular file.
pub fn lock_outputs(out_dir: &Path, paths: &[&Path]) -> Result<OutputLock, ReportError> {
    for path in paths {
        check_replaceable(path).map_err(|source| ReportError::Write {
            path: path.to_path_buf(),
            source,
        })?;
    }
    let mut folders: Vec<PathBuf> = vec![out_dir.to_path_buf()];
    for path in paths {
        if let Some(folder) = path
            .parent()
            .filter(|folder| !folder.as_os_str().is_empty())
            && !folders.iter().any(|known| known == folder)
        {
            folders.push(folder.to_path_buf());
        }
    }
    let mut files = Vec::with_capacity(folders.len());
    for folder in folders {
        files.push(lock_folder(&folder)?);
    }
    Ok(OutputLock { _files: files })
}

fn lock_folder(folder: &Path) -> Result<std::fs::File, ReportError> {
    let path = folder.join(LOCK_FILE);
    let lock_error = |source| ReportError::Lock {
        path: path.clone(),
        source,
    };
    fs_err::create_dir_all(folder).map_err(lock_error)?;
    let mut file = crate::output_file::open_lock_file(&path).map_err(lock_error)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = holder.lines().next().unwrap_or("").trim().to_owned();
            return Err(ReportError::Busy {
                folder: folder.to_path_buf(),
                holder: if holder.is_empty() {
                    "a process that has not named itself yet".to_owned()
                } else {
                    holder
                },
            });
        }
        Err(TryLockError::Error(source)) => return Err(lock_error(source)),
    }
    // Held: say who holds it.
    let holder = format!(
        "pid {}, `aigne-ci {}`, started {}\n",
        std::process::id(),
        std::env::args().nth(1).unwrap_or_default(),
        humantime::format_rfc3339_seconds(std::time::SystemTime::now())
    );
    file.set_len(0)
        .and_then(|()| file.rewind())
        .and_then(|()| file.write_all(holder.as_bytes()))
        .and_then(|()| file.flush())
        .map_err(lock_error)?;
    Ok(file)
}

pub use crate::output_file::{check_replaceable, create_fresh, create_regular};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_a_folder_names_the_first_holder() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let first = lock_outputs(&out, &[&out.join("results.jsonl")]).unwrap();
        let error = lock_outputs(&out, &[]).unwrap_err();
        let message = error.to_string();
        assert!(
            message.contains("in use by another aigne-ci run"),
            "{message}"
        );
        assert!(
            message.contains(&format!("pid {}", std::process::id())),
            "{message}"
        );
        drop(first);
        assert!(lock_outputs(&out, &[]).is_ok());
    }

    #[cfg(unix)]
    #[test]
    fn only_regular_files_are_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target");
        fs_err::write(&target, "keep").unwrap();
        let link = dir.path().join("link");
        fs_err::os::unix::fs::symlink(&target, &link).unwrap();
        let error = check_replaceable(&link).unwrap_err();
        assert!(error.to_string().contains("a symbolic link"), "{error}");
        assert!(create_regular(&link).is_err());
        assert!(create_fresh(&link).is_err());
        assert_eq!(fs_err::read_to_string(&target).unwrap(), "keep");
        let fresh = dir.path().join("fresh");
        fs_err::write(&fresh, "old and longer").unwrap();
        std::io::Write::write_all(&mut create_fresh(&fresh).unwrap(), b"new").unwrap();
        assert_eq!(fs_err::read_to_string(&fresh).unwrap(), "new");
        assert!(check_replaceable(dir.path()).is_err());
        assert!(check_replaceable(Path::new("/dev/null")).is_err());
        assert!(check_replaceable(&target).is_ok());
        assert!(check_replaceable(&dir.path().join("new")).is_ok());
        assert_eq!(fs_err::read_to_string(&target).unwrap(), "keep");
    }
}
