//! The run's [`Judge`]: model-graded assertions over the native model providers (whatever
//! engine ran the case), and project evaluator agents through the run's [`CaseRunner`].
//!
//! - `judge` without `agent` sends exactly what `aigne eval` (`@aigne/cli` 1.59.0,
//!   `utils/evaluation/evaluator.js`, `LLMEvaluator`) sends for the same item: its instructions
//!   rendered with `{input, output, expectedOutput}` (each `JSON.stringify(value, null, 2)`, a
//!   string input as is, the output without `$meta`) as the one user message, and its output
//!   schema `{rating, reasoning, score}` as structured output named `output`. The prompt text
//!   (`aigne_eval_evaluator.txt`) is that package's, kept verbatim so scores are comparable with
//!   `aigne eval` (`@aigne/cli` is under the Elastic License 2.0, which allows redistribution
//!   with its notice).
//! - `judge` with `agent: NAME` calls the project agent with that same input, as
//!   `aigne eval --evaluator NAME` does, through the engine that runs the cases.
//! - `llm-rubric` is aigne-ci's own prompt: a system message with the grading instructions, the
//!   rubric, input and output in the user message, and structured output
//!   `{pass, score, reason}`.
//!
//! The judge model is the assertion's `model`, else `--judge-model` (both routed as AIGNE routes
//! a model string, without the run's `--model`), else the model of the case's agent (with
//! `--model` applied, as for the agent). Calls share the run's transport: retries, request
//! timeouts and `--record`/`--replay` apply to them as to the agents.

use std::path::Path;
use std::sync::Arc;

use serde_json::{Map, Value, json};

use crate::batch::assertion::{JudgeKind, output_text};
use crate::batch::{Case, CaseRunner, ErrorInfo, Judge, JudgeReply, JudgeRequest, Usage};
use crate::engine::template::{js_pretty, render};
use crate::error::error_chain;
use crate::model::registry::ModelRegistry;
use crate::model::types::{ChatMessage, ChatRequest, Content, ContentPart, ResponseFormat, Role};
use crate::model::{ChatModel, ModelResolver, ModelSpec};
use crate::project::Project;

/// `@aigne/cli` 1.59.0's `EVALUATOR_PROMPT`, byte for byte.
const EVALUATOR_PROMPT: &str = include_str!("aigne_eval_evaluator.txt");

/// The rubric judge's instructions.
const RUBRIC_INSTRUCTIONS: &str = "You grade the output of an AI agent against a rubric.\n\
Read the rubric, the input the agent was given and the agent's output, then decide whether the output satisfies the rubric. Judge only what the rubric asks for.\n\n\
Answer with `pass` (true when the output satisfies the rubric), `score` (a number from 0 to 1: how well it satisfies the rubric, 1 = fully) and `reason` (one or two sentences saying why).";

/// The run's judge.
pub(crate) struct ModelJudge {
    registry: Arc<ModelRegistry>,
    project: Arc<Project>,
    /// `--judge-model`.
    judge_model: Option<String>,
    /// Runs project evaluator agents.
    runner: Arc<dyn CaseRunner>,
}

impl ModelJudge {
    /// A judge over these providers, for this project.
    pub(crate) fn new(
        registry: Arc<ModelRegistry>,
        project: Arc<Project>,
        judge_model: Option<String>,
        runner: Arc<dyn CaseRunner>,
    ) -> Self {
        Self {
            registry,
            project,
            judge_model,
            runner,
        }
    }

    /// The judge model of a request.
    fn model(&self, request: &JudgeRequest) -> Result<Arc<dyn ChatModel>, String> {
        if let Some(text) = request.model.as_ref().or(self.judge_model.as_ref()) {
            return self
                .registry
                .resolve_exact(text, &Map::new())
                .map_err(|error| error_chain(&error));
        }
        // The agent's model (else the project's), as the agent resolves it.
        let config = self
            .project
            .agent(Some(&request.agent))
            .ok()
            .and_then(|agent| agent.model.clone())
            .or_else(|| self.project.model.clone())
            .unwrap_or_default();
        let options = config
            .options
            .into_iter()
            .filter(|(_, value)| !value.get("$get").is_some_and(|_| value.is_object()))
            .collect();
        let spec = ModelSpec {
            model: config
                .model
                .as_ref()
                .and_then(Value::as_str)
                .map(str::to_owned),
            options,
        };
        self.registry
            .resolve(&spec)
            .map_err(|error| error_chain(&error))
    }

    async fn ask_model(&self, request: &JudgeRequest, chat: ChatRequest) -> JudgeReply {
        let model = match self.model(request) {
            Ok(model) => model,
            Err(message) => {
                return JudgeReply {
                    answer: Err(ErrorInfo::new("model", message)),
                    usage: Usage::default(),
                    judge: request
                        .model
                        .clone()
                        .or_else(|| self.judge_model.clone())
                        .unwrap_or_else(|| "the agent's model".to_owned()),
                };
            }
        };
        let judge = format!("{}:{}", model.provider(), model.model());
        match model.complete(chat).await {
            Ok(response) => {
                let usage = Usage {
                    input_tokens: response.usage.input_tokens,
                    output_tokens: response.usage.output_tokens,
                };
                let answer = match response.json {
                    Some(answer) => Ok(answer),
                    None => Err(ErrorInfo::new(
                        "judge",
                        format!(
                            "the judge answered no structured output (text: {})",
                            crate::batch::assertion::excerpt(
                                response.text.as_deref().unwrap_or("")
                            )
                        ),
                    )),
                };
                JudgeReply {
                    answer,
                    usage,
                    judge,
                }
            }
            Err(error) => JudgeReply {
                answer: Err(ErrorInfo::new(error.kind(), error_chain(&error))),
                usage: Usage::default(),
                judge,
            },
        }
    }
}

/// `{input, output, expectedOutput}` as `LLMEvaluator.evaluate` builds it.
fn evaluator_input(request: &JudgeRequest) -> Map<String, Value> {
    let mut input = Map::new();
    input.insert(
        "input".to_owned(),
        Value::String(match &request.input {
            Value::String(text) => text.clone(),
            other => js_pretty(other, "  "),
        }),
    );
    // The runner drops `$meta` from the output (`const { $meta, ...output } = result`).
    let output = match &request.output {
        Value::Object(fields) => Value::Object(
            fields
                .iter()
                .filter(|(key, _)| key.as_str() != "$meta")
                .map(|(key, value)| (key.clone(), value.clone()))
                .collect(),
        ),
        other => other.clone(),
    };
    let output_text = match &output {
        Value::Null | Value::Bool(false) => String::new(),
        Value::String(text) if text.is_empty() => String::new(),
        other => js_pretty(other, "  "),
    };
    input.insert("output".to_owned(), Value::String(output_text));
    if let Some(expected) = &request.expected {
        input.insert(
            "expectedOutput".to_owned(),
            Value::String(js_pretty(expected, "  ")),
        );
    }
    input
}

/// The output schema of `LLMEvaluator` as `@aigne/core` sends it.
fn evaluator_schema() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "rating": {
                "type": "string",
                "enum": ["Very Good", "Good", "Ok", "Bad", "Very Bad"],
                "description": "The rating of the output"
            },
            "reasoning": {
                "type": "string",
                "description": "The reasoning of the rating, including justification"
            },
            "score": {
                "type": "integer",
                "minimum": 1,
                "maximum": 5,
                "description": "The score of the output, 1–5, 5 is the best"
            }
        },
        "required": ["rating", "reasoning", "score"],
        "$schema": "http://json-schema.org/draft-07/schema#"
    })
}

fn rubric_schema() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "pass": {"type": "boolean", "description": "Whether the output satisfies the rubric"},
            "score": {"type": "number", "minimum": 0, "maximum": 1, "description": "How well the output satisfies the rubric, 0 to 1"},
            "reason": {"type": "string", "description": "Why, in one or two sentences"}
        },
        "required": ["pass", "score", "reason"]
    })
}

fn user_text(text: String) -> ChatMessage {
    ChatMessage {
        role: Role::User,
        content: Some(Content::Parts(vec![ContentPart::Text { text }])),
        tool_calls: Vec::new(),
        tool_call_id: None,
        name: None,
    }
}

#[async_trait::async_trait]
impl Judge for ModelJudge {
    async fn judge(&self, request: &JudgeRequest) -> JudgeReply {
        match &request.kind {
            JudgeKind::Evaluator => {
                let variables = Value::Object(evaluator_input(request));
                let prompt = match render(
                    EVALUATOR_PROMPT,
                    Path::new("LLMEvaluator"),
                    &variables,
                    &self.project.files,
                ) {
                    Ok(prompt) => prompt,
                    Err(error) => {
                        return JudgeReply {
                            answer: Err(ErrorInfo::new("judge", error.to_string())),
                            usage: Usage::default(),
                            judge: "LLMEvaluator".to_owned(),
                        };
                    }
                };
                let chat = ChatRequest {
                    messages: vec![user_text(prompt)],
                    response_format: Some(ResponseFormat::JsonSchema {
                        name: "output".to_owned(),
                        description: None,
                        schema: evaluator_schema(),
                        strict: true,
                    }),
                    case_label: Some(request.case_label.clone()),
                    ..ChatRequest::default()
                };
                self.ask_model(request, chat).await
            }
            JudgeKind::Rubric { rubric } => {
                let input = match &request.input {
                    Value::String(text) => text.clone(),
                    other => js_pretty(other, "  "),
                };
                let output = output_text(&request.output, &request.text_key);
                let text = format!(
                    "<rubric>\n{rubric}\n</rubric>\n\n<input>\n{input}\n</input>\n\n<output>\n{output}\n</output>"
                );
                let chat = ChatRequest {
                    messages: vec![
                        ChatMessage::text(Role::System, RUBRIC_INSTRUCTIONS),
                        user_text(text),
                    ],
                    response_format: Some(ResponseFormat::JsonSchema {
                        name: "grade".to_owned(),
                        description: None,
                        schema: rubric_schema(),
                        strict: true,
                    }),
                    case_label: Some(request.case_label.clone()),
                    ..ChatRequest::default()
                };
                self.ask_model(request, chat).await
            }
            JudgeKind::Agent(name) => {
                let mut case = Case::new(0, Value::Object(evaluator_input(request)));
                case.id = format!("{} judge", request.case_label);
                case.agent = Some(name.clone());
                let execution = self.runner.run(&case).await;
                JudgeReply {
                    answer: execution.output,
                    usage: execution.usage,
                    judge: format!("agent:{name}"),
                }
            }
        }
    }
}
