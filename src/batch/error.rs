//! [`BatchError`]: what stops a batch before or while it runs (never a failed case: those are
//! data).

use super::case::InvalidCase;

/// Stage 4 failed.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    /// The inputs file cannot be read.
    #[error("cannot read the inputs file `{file}`")]
    ReadInputs {
        file: String,
        #[source]
        source: std::io::Error,
    },
    /// A line of a JSON or YAML inputs document that cannot be read (too long, not UTF-8).
    #[error("cannot read line {line} of `{file}`: {message}")]
    UnreadableLine {
        file: String,
        line: usize,
        message: String,
    },
    /// Malformed entries under `--on-invalid-input error`: the first ones, and how many more.
    #[error("{} malformed {} in `{file}`:{}", invalid.len() + more, if invalid.len() + more == 1 { "entry" } else { "entries" }, list(file, invalid, *more))]
    InvalidInputs {
        file: String,
        invalid: Vec<InvalidCase>,
        more: usize,
    },
    /// The inputs hold no case.
    #[error("no cases in `{file}`")]
    NoCases { file: String },
    /// `--shard` is not `K/N` with 1 ≤ K ≤ N.
    #[error("`--shard {value}` must look like `K/N` with 1 <= K <= N")]
    Shard { value: String },
    /// `--concurrency 0` and the like.
    #[error("`--{flag}` {message}")]
    Setting { flag: &'static str, message: String },
    /// A reporter could not record a case (results file unwritable).
    #[error("cannot record the result of line {line}")]
    Record {
        line: usize,
        #[source]
        source: std::io::Error,
    },
}

/// Most malformed entries listed in the error (a screenful); the rest are counted. The inputs
/// reader keeps no more than these when they are only to be listed.
pub const LISTED_INVALID: usize = 20;

fn list(file: &str, invalid: &[InvalidCase], more: usize) -> String {
    let mut text: String = invalid
        .iter()
        .take(LISTED_INVALID)
        .map(|invalid| format!("\n  {file}:{}: {}", invalid.line, invalid.message))
        .collect();
    let more = more + invalid.len().saturating_sub(LISTED_INVALID);
    if more > 0 {
        text.push_str(&format!("\n  and {more} more"));
    }
    text
}

impl crate::hint::Hint for BatchError {
    fn hint(&self) -> Option<String> {
        match self {
            Self::InvalidInputs { .. } => Some(
                "fix these entries, or pass `--on-invalid-input skip` to record them as skipped and run the rest"
                    .to_owned(),
            ),
            Self::NoCases { .. } => {
                Some("an inputs file holds one JSON value per line (or a JSON array, or a YAML list)".to_owned())
            }
            Self::Shard { .. } => Some("for example `--shard 1/4` runs the first of four shards".to_owned()),
            _ => None,
        }
    }
}
