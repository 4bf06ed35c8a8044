//! The wire format of `results.jsonl`: one [`ResultRecord`] per line.
//!
//! ## Wire format (format version 1)
//!
//! Each line is one JSON object, written and flushed when its case ends (so lines are in the
//! order cases end, not file order):
//!
//! ```text
//! {"format_version":1,"id":"q1","line":3,"session":"s1","agent":"chat","input":{…},
//!  "output":{…}|null,"status":"passed|failed|errored|skipped",
//!  "error":{"kind":"timeout","message":"…"},"assertions":[{"type":"contains","passed":true,
//!  "spec":{"value":"Paris"},"message":"…","actual":…}],"attempts":1,"duration_ms":812,
//!  "usage":{"input_tokens":120,"output_tokens":14},"model":"openai:gpt-4o-mini",
//!  "tags":["smoke"],"metadata":{…},"engine":"native",
//!  "engine_reason":"the native engine supports every feature agent `chat` reaches"}
//! ```
//!
//! `transcript` (when transcripts are on) is the path of the case's transcript relative to the
//! out-dir, `transcripts/<line>.json` (schema: `schemas/transcript.schema.json`).
//!
//! `session`, `error`, `tags`, `metadata`, `engine`, `engine_reason` and `transcript` are
//! omitted when empty. New fields may be added
//! within a format version; a consumer must ignore fields it does not know. The JSON Schema is
//! `schemas/results.schema.json`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::batch::assertion::AssertionOutcome;
use crate::batch::{CaseOutcome, CaseStatus, ErrorInfo, Usage};

/// The format version of `results.jsonl` and `summary.json`.
pub const FORMAT_VERSION: u32 = 1;

/// One line of `results.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultRecord {
    pub format_version: u32,
    pub id: String,
    pub line: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    pub agent: String,
    pub input: Value,
    pub output: Option<Value>,
    pub status: CaseStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorInfo>,
    pub assertions: Vec<AssertionOutcome>,
    pub attempts: u32,
    pub duration_ms: u64,
    pub usage: Usage,
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
    /// The engine that ran the case (`native` or `node`; absent for skipped lines).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<String>,
    /// Why that engine (`--engine auto` decides per case from the agents it reaches).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine_reason: Option<String>,
    /// The case's transcript, relative to the out-dir (`transcripts/<line>.json`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transcript: Option<String>,
}

impl From<&CaseOutcome> for ResultRecord {
    fn from(outcome: &CaseOutcome) -> Self {
        Self {
            format_version: FORMAT_VERSION,
            id: outcome.id.clone(),
            line: outcome.line,
            session: outcome.session.clone(),
            agent: outcome.agent.clone(),
            input: outcome.input.clone(),
            output: outcome.output.clone(),
            status: outcome.status,
            error: outcome.error.clone(),
            assertions: outcome.assertions.clone(),
            attempts: outcome.attempts,
            duration_ms: outcome.duration_ms,
            usage: outcome.usage,
            model: outcome.model.clone(),
            tags: outcome.tags.clone(),
            metadata: outcome.metadata.clone(),
            engine: outcome.engine.as_ref().map(|engine| engine.engine.clone()),
            engine_reason: outcome.engine.as_ref().map(|engine| engine.reason.clone()),
            transcript: None,
        }
    }
}

impl ResultRecord {
    /// One line of text saying why the case did not pass (`None` when it passed).
    pub fn detail(&self) -> Option<String> {
        if let Some(error) = &self.error {
            return Some(format!("{}: {}", error.kind, error.message));
        }
        let failed: Vec<String> = self
            .assertions
            .iter()
            .filter(|assertion| !assertion.passed)
            .map(|assertion| match &assertion.message {
                Some(message) => format!("{}: {message}", assertion.kind),
                None => assertion.kind.clone(),
            })
            .collect();
        (!failed.is_empty()).then(|| failed.join("; "))
    }
}
