//! The record of every child [`super::spawn`] started (for `summary.json`), the `PATH` lookup that
//! finds their programs, and the scripts shipped inside the binary that they run.
//!
//! A project from a URL is code: the run lists every process it started.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::Serialize;

/// One subprocess the run started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SubprocessRecord {
    /// Why it was started (`js-bridge`, `node-engine`, `npm-install`, `mcp-server`).
    pub purpose: String,
    /// The program, as resolved on `PATH`.
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<String>,
    /// The folder it ran in.
    pub working_dir: PathBuf,
    /// Its process id, when the OS gave one.
    pub pid: Option<u32>,
}

/// A shared, append-only list of [`SubprocessRecord`]s.
#[derive(Debug, Clone, Default)]
pub struct SubprocessLog {
    records: Arc<Mutex<Vec<SubprocessRecord>>>,
}

impl SubprocessLog {
    /// Appends one record.
    pub fn record(&self, record: SubprocessRecord) {
        if let Ok(mut records) = self.records.lock() {
            records.push(record);
        }
    }

    /// Everything recorded so far, in start order.
    pub fn records(&self) -> Vec<SubprocessRecord> {
        self.records
            .lock()
            .map(|records| records.clone())
            .unwrap_or_default()
    }
}

/// Finds `program` on the `PATH` of `env` (the environment the child will get), relative
/// entries resolved against `working_dir`.
pub fn find_program(
    program: &str,
    env: &BTreeMap<String, String>,
    working_dir: &Path,
) -> Option<PathBuf> {
    let path = env.get("PATH").map(String::as_str).unwrap_or_default();
    which::which_in(program, Some(path), working_dir).ok()
}

/// Writes `text` (a script shipped inside the binary) to `dir` as `<prefix>-<hash>.mjs`, a name
/// that changes with its content, and reuses the file when it is already there. Returns the path
/// and, on failure, the path it tried with the error.
pub fn write_script(
    dir: &Path,
    prefix: &str,
    text: &str,
) -> Result<PathBuf, (PathBuf, std::io::Error)> {
    use sha2::Digest as _;
    let digest = hex::encode(sha2::Sha256::digest(text.as_bytes()));
    let path = dir.join(format!("{prefix}-{}.mjs", &digest[..16]));
    if path.is_file() {
        return Ok(path);
    }
    let write = || -> std::io::Result<()> {
        fs_err::create_dir_all(dir)?;
        let mut file = crate::atomic_file::temporary_in(dir)?;
        std::io::Write::write_all(&mut file, text.as_bytes())?;
        file.persist(&path).map_err(|error| error.error)?;
        Ok(())
    };
    match write() {
        Ok(()) => Ok(path),
        Err(error) => Err((path, error)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_programs_only_on_the_given_path() {
        let dir = tempfile::tempdir().unwrap();
        let mut env = BTreeMap::new();
        env.insert("PATH".to_owned(), dir.path().to_string_lossy().into_owned());
        assert_eq!(find_program("sh", &env, dir.path()), None);
        env.insert("PATH".to_owned(), "/bin:/usr/bin".to_owned());
        assert!(find_program("sh", &env, dir.path()).is_some());
    }

    #[test]
    fn log_keeps_order() {
        let log = SubprocessLog::default();
        for purpose in ["a", "b"] {
            log.record(SubprocessRecord {
                purpose: purpose.to_owned(),
                program: PathBuf::from("/bin/node"),
                args: vec![],
                working_dir: PathBuf::from("/"),
                pid: None,
            });
        }
        let purposes: Vec<_> = log.records().into_iter().map(|r| r.purpose).collect();
        assert_eq!(purposes, ["a", "b"]);
    }
}
