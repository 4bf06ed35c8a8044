//! What running a case produced: [`CaseExecution`] (from the runner), [`CaseOutcome`] (after
//! expectations), and the run totals [`Counts`] / [`BatchOutcome`].

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::assertion::AssertionOutcome;

/// Tokens one case used (summed over every model call it made).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
}

impl Usage {
    /// Adds another usage.
    pub fn add(&mut self, other: Usage) {
        self.input_tokens += other.input_tokens;
        self.output_tokens += other.output_tokens;
    }
}

/// Why a case errored: `kind` is a stable word (`timeout`, `model`, `agent`, `cancelled`,
/// `invalid_input`, …), `message` the human text (secrets never included).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorInfo {
    pub kind: String,
    pub message: String,
}

impl ErrorInfo {
    /// An error of a kind.
    pub fn new(kind: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            kind: kind.into(),
            message: message.into(),
        }
    }
}

/// The engine that runs a case, and why (`--engine auto` decides per case).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngineInfo {
    /// `native` or `node`.
    pub engine: String,
    /// Why, in one sentence.
    pub reason: String,
}

/// What a [`super::CaseRunner`] returns for one case.
#[derive(Debug, Clone)]
pub struct CaseExecution {
    /// The agent's output, or why there is none.
    pub output: Result<Value, ErrorInfo>,
    /// Tokens used.
    pub usage: Usage,
    /// The model that answered (`provider:name`), if any.
    pub model: Option<String>,
    /// Model-call attempts (1 + retries).
    pub attempts: u32,
    /// Key of the output text for text expectations (the agent's `output_key`); `None` =
    /// `message`.
    pub output_key: Option<String>,
}

impl CaseExecution {
    /// An execution that produced an output.
    pub fn output(output: Value) -> Self {
        Self {
            output: Ok(output),
            usage: Usage::default(),
            model: None,
            attempts: 1,
            output_key: None,
        }
    }

    /// An execution that failed.
    pub fn error(error: ErrorInfo) -> Self {
        Self {
            output: Err(error),
            usage: Usage::default(),
            model: None,
            attempts: 1,
            output_key: None,
        }
    }
}

/// Status of one case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CaseStatus {
    /// The agent answered and every expectation held.
    Passed,
    /// The agent answered and an expectation did not hold.
    Failed,
    /// The agent or model failed, or the case timed out or was stopped.
    Errored,
    /// Not run (malformed line under `--on-invalid-input skip`).
    Skipped,
}

impl CaseStatus {
    /// `passed`, `failed`, …
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Passed => "passed",
            Self::Failed => "failed",
            Self::Errored => "errored",
            Self::Skipped => "skipped",
        }
    }
}

/// One finished case, handed to the [`super::Reporter`].
#[derive(Debug, Clone)]
pub struct CaseOutcome {
    pub id: String,
    pub line: usize,
    pub session: Option<String>,
    pub agent: String,
    pub input: Value,
    pub output: Option<Value>,
    pub status: CaseStatus,
    pub error: Option<ErrorInfo>,
    pub assertions: Vec<AssertionOutcome>,
    pub attempts: u32,
    pub duration_ms: u64,
    pub usage: Usage,
    pub model: Option<String>,
    pub tags: Vec<String>,
    pub metadata: Option<Value>,
    /// The engine that ran it and why (`None` for skipped lines, or a runner that does not say).
    pub engine: Option<EngineInfo>,
    /// What ran (when transcripts are on).
    pub transcript: Option<std::sync::Arc<crate::transcript::Transcript>>,
}

/// Cases per status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub total: usize,
    pub passed: usize,
    pub failed: usize,
    pub errored: usize,
    pub skipped: usize,
}

impl Counts {
    /// Counts one case.
    pub fn add(&mut self, status: CaseStatus) {
        self.total += 1;
        match status {
            CaseStatus::Passed => self.passed += 1,
            CaseStatus::Failed => self.failed += 1,
            CaseStatus::Errored => self.errored += 1,
            CaseStatus::Skipped => self.skipped += 1,
        }
    }

    /// Passed / (passed + failed + errored); `None` when no case ran.
    pub fn pass_rate(&self) -> Option<f64> {
        let ran = self.passed + self.failed + self.errored;
        (ran > 0).then(|| self.passed as f64 / ran as f64)
    }
}

/// Why a run stopped early.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// SIGINT or SIGTERM.
    Interrupted,
    /// `--total-timeout` ran out.
    TotalTimeout,
}

/// The whole run, after the last case.
#[derive(Debug, Clone, Default)]
pub struct BatchOutcome {
    /// Cases written, per status.
    pub counts: Counts,
    /// Cases never started because the run stopped.
    pub not_run: usize,
    /// Set when the run stopped early.
    pub stopped: Option<StopReason>,
    /// Tokens of every case.
    pub usage: Usage,
    /// Wall time of the batch.
    pub wall_ms: u64,
}
