//! The seam between the batch and whatever grades model-graded assertions (`llm-rubric`,
//! `judge`): the batch hands a [`JudgeRequest`] to a [`Judge`] and grades the structured answer
//! itself ([`super::assertion::Assertion::grade`]). The wiring implements [`Judge`] over the
//! native model providers (and the engine, for project evaluator agents), so this stage never
//! imports `engine` or `model`.

use serde_json::Value;

use super::assertion::JudgeKind;
use super::outcome::{ErrorInfo, Usage};

/// One judge call: who judges, and what.
#[derive(Debug, Clone)]
pub struct JudgeRequest {
    /// Rubric, the `aigne eval` evaluator or a project agent.
    pub kind: JudgeKind,
    /// The assertion's `model` (the judge falls back to `--judge-model`, then to the model of
    /// the case's agent).
    pub model: Option<String>,
    /// The agent the case ran.
    pub agent: String,
    /// The case's input as written.
    pub input: Value,
    /// The agent's output.
    pub output: Value,
    /// Key of the output text (`output_key`, default `message`).
    pub text_key: String,
    /// The case's `expected`.
    pub expected: Option<Value>,
    /// `id (line N)`, for cassettes and messages.
    pub case_label: String,
}

/// What a judge answered.
#[derive(Debug, Clone)]
pub struct JudgeReply {
    /// The structured answer, or why there is none.
    pub answer: Result<Value, ErrorInfo>,
    /// The judge's tokens (reported apart from the agent's).
    pub usage: Usage,
    /// Who judged: `provider/model`, or `agent:NAME`.
    pub judge: String,
}

/// Grades outputs with a model.
#[async_trait::async_trait]
pub trait Judge: Send + Sync {
    /// Asks the judge. Never fails: errors are part of the [`JudgeReply`].
    async fn judge(&self, request: &JudgeRequest) -> JudgeReply;
}
