//! `<out-dir>/transcripts/<line>.json`: one case's [`Transcript`], written (redacted) when the
//! case ends. The format is `schemas/transcript.schema.json`; [`crate::transcript`] describes
//! what it holds.

use std::io::Write;
use std::path::Path;

use crate::batch::CaseOutcome;
use crate::transcript::Transcript;

use super::Redactor;

/// The folder of the transcripts, under the out-dir.
pub const FOLDER: &str = "transcripts";

/// The transcript's path relative to the out-dir.
pub fn relative_path(line: usize) -> String {
    format!("{FOLDER}/{line}.json")
}

/// Writes the transcript of `outcome`; returns its path relative to `out_dir`.
pub fn write(
    out_dir: &Path,
    outcome: &CaseOutcome,
    transcript: &Transcript,
    redactor: &Redactor,
) -> std::io::Result<String> {
    let relative = relative_path(outcome.line);
    let path = out_dir.join(&relative);
    let context = |error: std::io::Error| {
        std::io::Error::new(
            error.kind(),
            format!("cannot write `{}`: {error}", path.display()),
        )
    };
    // Every string masked before it is serialised (keys and structure untouched).
    let masked = redactor
        .redact_record(transcript)
        .map_err(std::io::Error::other)?;
    let json = serde_json::to_string(&masked).map_err(std::io::Error::other)?;
    if let Some(folder) = path.parent() {
        fs_err::create_dir_all(folder).map_err(context)?;
        // A folder symlinked elsewhere (planted in a checkout, say) would put the file there.
        if fs_err::symlink_metadata(folder)
            .map_err(context)?
            .file_type()
            .is_symlink()
        {
            return Err(context(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!(
                    "`{}` is a symbolic link, not a folder: aigne-ci writes transcripts only into a folder of the out-dir",
                    folder.display()
                ),
            )));
        }
    }
    // Only a new or regular file is written: never through a symlink, into a FIFO or a device.
    let mut file = super::lock::create_fresh(&path).map_err(context)?;
    file.write_all(json.as_bytes()).map_err(context)?;
    Ok(relative)
}

/// Reads a transcript written by [`write`] (already redacted), as JSON.
/// Only a regular file is read (a symlink planted in a shard's out-dir, to `/dev/zero` say, is
/// no transcript).
pub fn read(out_dir: &Path, relative: &str) -> Option<serde_json::Value> {
    let bytes = crate::output_file::read_small(&own_file(out_dir, relative)?, MAX_READ_BYTES)?;
    serde_json::from_slice(&bytes).ok()
}

/// The largest transcript file [`read`] reads (each value in one is capped well below this).
const MAX_READ_BYTES: u64 = 256 << 20;

/// The size in bytes of a transcript file, by its relative name as in a result's `transcript`.
pub fn size(out_dir: &Path, relative: &str) -> Option<usize> {
    let metadata = fs_err::symlink_metadata(own_file(out_dir, relative)?).ok()?;
    if !metadata.file_type().is_file() {
        return None;
    }
    usize::try_from(metadata.len()).ok()
}

/// The path of one of our own transcript files: never a path a results file could point
/// elsewhere with.
fn own_file(out_dir: &Path, relative: &str) -> Option<std::path::PathBuf> {
    let name = relative.strip_prefix(&format!("{FOLDER}/"))?;
    let line = name.strip_suffix(".json")?;
    if line.is_empty() || !line.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    Some(out_dir.join(relative))
}
