//! [`Case`]: one scripted input with its expectations, as read from an inputs file.

use serde_json::Value;

use super::assertion::Assertion;

/// One case of a run. `line` is the 1-based line of the inputs file where it starts, kept for
/// error messages, annotations and merging shards.
#[derive(Debug, Clone)]
pub struct Case {
    /// `id` of the line, else `line-<N>`.
    pub id: String,
    /// Line in the inputs file (1 for `--prompt`/`--input-json`).
    pub line: usize,
    /// The agent input: an object, or a string meaning text for the agent's `input_key`.
    pub input: Value,
    /// `expected` and `assert` entries, in that order (with a `judge` assertion, `expected` is
    /// what the judge compares with, not an exact check).
    pub assertions: Vec<Assertion>,
    /// `expected` as written (for judges).
    pub expected: Option<Value>,
    /// Agent for this case (else the run's agent).
    pub agent: Option<String>,
    /// Conversation this case is a turn of.
    pub session: Option<String>,
    /// Free data echoed into results.
    pub metadata: Option<Value>,
    /// Labels echoed into results.
    pub tags: Vec<String>,
}

impl Case {
    /// A case with only an input.
    pub fn new(line: usize, input: Value) -> Self {
        Self {
            id: format!("line-{line}"),
            line,
            input,
            assertions: Vec::new(),
            expected: None,
            agent: None,
            session: None,
            metadata: None,
            tags: Vec::new(),
        }
    }
}

/// A malformed line of an inputs file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidCase {
    /// 1-based line.
    pub line: usize,
    /// What is wrong.
    pub message: String,
    /// The line's text (shortened), echoed as the input of the skipped result.
    pub text: String,
}
