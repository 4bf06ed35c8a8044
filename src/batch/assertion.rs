//! Expectations of a case: `expected` and `assert: [...]`, parsed when the inputs file is read
//! (so a bad regex or schema is an input error before any model call) and evaluated on the
//! output of the agent.
//!
//! Assertion objects (`{"type": …}`):
//!
//! | type | fields | passes when |
//! |---|---|---|
//! | `equals` | `value` | a string `value` equals the output text; any other JSON deep-equals the output |
//! | `contains` | `value` (string) | the output text contains `value` |
//! | `not-contains` | `value` (string) | the output text does not contain `value` |
//! | `regex` | `value` (pattern) | the pattern matches somewhere in the output text |
//! | `json-schema` | `value` (schema) | the output validates against the schema |
//! | `json-path-equals` | `path`, `value` | the JSONPath (RFC 9535) selects exactly one node, deep-equal to `value` |
//! | `max-latency-ms` | `value` (integer) | the case took at most `value` ms |
//! | `max-tokens` | `value` (integer) | input + output tokens of the case are at most `value` |
//! | `llm-rubric` | `value` (rubric), `threshold`?, `model`? | a judge model grades the output against the rubric (`{pass, score 0–1, reason}`): `pass` is true and `score >= threshold` (default 0.5) |
//! | `judge` | `agent`?, `min-score`?, `model`? | the `aigne eval` evaluator (or the project agent `agent`) scores the output 1–5 against the case's `expected`: `score >= min-score` (default 4) |
//!
//! The two model-graded types (`llm-rubric`, `judge`) are not checked here but by a
//! [`super::Judge`] after the agent answers ([`Assertion::judged`], [`Assertion::grade`]).
//!
//! The *output text* is the output itself when it is a string, the string under the agent's
//! `output_key` (default `message`) when there is one, and the compact JSON of the output
//! otherwise.

use std::borrow::Cow;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::outcome::Usage;

/// The assertion types, as written in inputs files.
pub const ASSERTION_TYPES: &[&str] = &[
    "equals",
    "contains",
    "not-contains",
    "regex",
    "json-schema",
    "json-path-equals",
    "max-latency-ms",
    "max-tokens",
    "llm-rubric",
    "judge",
];

/// Default `threshold` of `llm-rubric`.
pub const DEFAULT_RUBRIC_THRESHOLD: f64 = 0.5;

/// Default `min-score` of `judge` (the `aigne eval` evaluator scores 1–5).
pub const DEFAULT_MIN_SCORE: f64 = 4.0;

/// Who grades a model-graded assertion.
#[derive(Debug, Clone, PartialEq)]
pub enum JudgeKind {
    /// `llm-rubric`: a judge model grades the output against a rubric.
    Rubric { rubric: String },
    /// `judge` without `agent`: the evaluator of `aigne eval` (`@aigne/cli`'s `LLMEvaluator`).
    Evaluator,
    /// `judge` with `agent`: a project agent called as `aigne eval --evaluator NAME` calls it.
    Agent(String),
}

impl JudgeKind {
    /// `llm-rubric`, `judge` or `judge agent `NAME``, for messages.
    pub fn label(&self) -> String {
        match self {
            Self::Rubric { .. } => "`llm-rubric`".to_owned(),
            Self::Evaluator => "`judge` (the `aigne eval` evaluator)".to_owned(),
            Self::Agent(name) => format!("`judge` agent `{name}`"),
        }
    }
}

/// What a judged assertion needs from the [`super::Judge`].
#[derive(Debug, Clone, PartialEq)]
pub struct JudgeSpec {
    pub kind: JudgeKind,
    /// `model` of the assertion (else `--judge-model`, else the agent's model).
    pub model: Option<String>,
}

/// One checked expectation.
#[derive(Clone)]
pub struct Assertion {
    /// The object as written (echoed in results).
    pub spec: Value,
    check: Check,
}

#[derive(Clone)]
enum Check {
    Expected(Value),
    Equals(Value),
    Contains(String),
    NotContains(String),
    Regex(regex::Regex),
    JsonSchema(Arc<jsonschema::Validator>),
    JsonPathEquals {
        path: serde_json_path::JsonPath,
        value: Value,
    },
    MaxLatencyMs(u64),
    MaxTokens(u64),
    LlmRubric {
        rubric: String,
        threshold: f64,
        model: Option<String>,
    },
    Judge {
        agent: Option<String>,
        min_score: f64,
        model: Option<String>,
    },
}

impl std::fmt::Debug for Assertion {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "Assertion({})", self.spec)
    }
}

/// What one assertion found, as it appears in `results.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AssertionOutcome {
    /// Assertion type (`expected` for the case's `expected` field).
    #[serde(rename = "type")]
    pub kind: String,
    /// Whether it held.
    pub passed: bool,
    /// The assertion as written, minus `type`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<Value>,
    /// Why it did not hold (or what was measured).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The measured value, for latency, tokens and JSONPath checks (the judge's whole answer
    /// for model-graded ones).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actual: Option<Value>,
    /// The judge's score (`llm-rubric`: 0–1; `judge`: 1–5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
    /// The judge's reason (`reason`, or the evaluator's `reasoning`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Who judged: the model (`provider/name`) or `agent:NAME`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub judge: Option<String>,
}

/// What an assertion is checked against.
#[derive(Debug, Clone, Copy)]
pub struct Observed<'a> {
    /// The agent's output.
    pub output: &'a Value,
    /// Key holding the output text (`output_key`, default `message`).
    pub text_key: &'a str,
    /// Wall time of the case.
    pub duration_ms: u64,
    /// Tokens the case used.
    pub usage: Usage,
}

/// The output without AIGNE's top-level `$meta` (e.g. `{"retries": 1}` after `retry_on_error`)
/// when the expected value has none: metadata is not part of what the agent answered.
fn without_meta<'a>(output: &'a Value, expected: &Value) -> Cow<'a, Value> {
    match (output, expected) {
        (Value::Object(fields), Value::Object(wanted))
            if fields.contains_key("$meta") && !wanted.contains_key("$meta") =>
        {
            let mut fields = fields.clone();
            fields.remove("$meta");
            Cow::Owned(Value::Object(fields))
        }
        _ => Cow::Borrowed(output),
    }
}

impl Observed<'_> {
    /// The output text: see the module doc.
    pub fn text(&self) -> Cow<'_, str> {
        output_text(self.output, self.text_key)
    }
}

/// The output text of an output: the string itself, the string under `text_key`, or compact
/// JSON.
pub fn output_text<'a>(output: &'a Value, text_key: &str) -> Cow<'a, str> {
    match output {
        Value::String(text) => Cow::Borrowed(text),
        Value::Object(map) => match map.get(text_key) {
            Some(Value::String(text)) => Cow::Borrowed(text),
            _ => Cow::Owned(output.to_string()),
        },
        other => Cow::Owned(other.to_string()),
    }
}

impl Assertion {
    /// The check of a case's `expected` field.
    pub fn expected(value: Value) -> Self {
        Self {
            spec: value.clone(),
            check: Check::Expected(value),
        }
    }

    /// Parses one entry of `assert: [...]`.
    pub fn parse(spec: &Value) -> Result<Self, String> {
        let Value::Object(map) = spec else {
            return Err(format!(
                "an assertion must be an object like `{{\"type\": \"contains\", \"value\": \"…\"}}`, found {}",
                kind_of(spec)
            ));
        };
        let kind = match map.get("type") {
            Some(Value::String(kind)) => kind.as_str(),
            Some(other) => {
                return Err(format!("`type` must be a string, found {}", kind_of(other)));
            }
            None => return Err("missing `type`".to_owned()),
        };
        let allowed: &[&str] = match kind {
            "json-path-equals" => &["type", "path", "value"],
            "llm-rubric" => &["type", "value", "threshold", "model"],
            "judge" => &["type", "agent", "min-score", "model"],
            _ => &["type", "value"],
        };
        if let Some(unknown) = map.keys().find(|key| !allowed.contains(&key.as_str())) {
            return Err(format!("unknown key `{unknown}` in a `{kind}` assertion"));
        }
        let value = map.get("value");
        let check = match kind {
            "equals" => Check::Equals(require(value, kind)?.clone()),
            "contains" => Check::Contains(require_string(value, kind)?),
            "not-contains" => Check::NotContains(require_string(value, kind)?),
            "regex" => {
                let pattern = require_string(value, kind)?;
                Check::Regex(
                    regex::Regex::new(&pattern)
                        .map_err(|error| format!("invalid regex `{pattern}`: {error}"))?,
                )
            }
            "json-schema" => {
                let schema = require(value, kind)?;
                let validator = jsonschema::validator_for(schema)
                    .map_err(|error| format!("invalid JSON Schema: {error}"))?;
                Check::JsonSchema(Arc::new(validator))
            }
            "json-path-equals" => {
                let path = match map.get("path") {
                    Some(Value::String(path)) => path,
                    _ => {
                        return Err(
                            "a `json-path-equals` assertion needs a string `path`".to_owned()
                        );
                    }
                };
                let parsed = serde_json_path::JsonPath::parse(path)
                    .map_err(|error| format!("invalid JSONPath `{path}`: {error}"))?;
                Check::JsonPathEquals {
                    path: parsed,
                    value: require(value, kind)?.clone(),
                }
            }
            "max-latency-ms" => Check::MaxLatencyMs(require_count(value, kind)?),
            "max-tokens" => Check::MaxTokens(require_count(value, kind)?),
            "llm-rubric" => {
                let rubric = require_string(value, kind)?;
                if rubric.trim().is_empty() {
                    return Err(
                        "an `llm-rubric` assertion needs a non-empty rubric `value`".to_owned()
                    );
                }
                let threshold = optional_number(map.get("threshold"), "threshold", kind)?
                    .unwrap_or(DEFAULT_RUBRIC_THRESHOLD);
                if !(0.0..=1.0).contains(&threshold) {
                    return Err(format!(
                        "`threshold` of an `llm-rubric` assertion must be between 0 and 1, not {threshold}"
                    ));
                }
                Check::LlmRubric {
                    rubric,
                    threshold,
                    model: optional_model(map.get("model"), kind)?,
                }
            }
            "judge" => {
                let agent = match map.get("agent") {
                    None | Some(Value::Null) => None,
                    Some(Value::String(agent)) if !agent.is_empty() => Some(agent.clone()),
                    Some(other) => {
                        return Err(format!(
                            "`agent` of a `judge` assertion must be an agent name, found {}",
                            kind_of(other)
                        ));
                    }
                };
                let model = optional_model(map.get("model"), kind)?;
                if agent.is_some() && model.is_some() {
                    return Err(
                        "a `judge` assertion with an `agent` uses that agent's model; drop `model`"
                            .to_owned(),
                    );
                }
                Check::Judge {
                    agent,
                    min_score: optional_number(map.get("min-score"), "min-score", kind)?
                        .unwrap_or(DEFAULT_MIN_SCORE),
                    model,
                }
            }
            other => {
                return Err(format!(
                    "unknown assertion type `{other}` (expected one of {})",
                    ASSERTION_TYPES
                        .iter()
                        .map(|kind| format!("`{kind}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
        };
        Ok(Self {
            spec: spec.clone(),
            check,
        })
    }

    /// The type name shown in results.
    pub fn kind(&self) -> &str {
        match &self.check {
            Check::Expected(_) => "expected",
            Check::Equals(_) => "equals",
            Check::Contains(_) => "contains",
            Check::NotContains(_) => "not-contains",
            Check::Regex(_) => "regex",
            Check::JsonSchema(_) => "json-schema",
            Check::JsonPathEquals { .. } => "json-path-equals",
            Check::MaxLatencyMs(_) => "max-latency-ms",
            Check::MaxTokens(_) => "max-tokens",
            Check::LlmRubric { .. } => "llm-rubric",
            Check::Judge { .. } => "judge",
        }
    }

    /// What a model-graded assertion asks of its judge (`None` for the others).
    pub fn judged(&self) -> Option<JudgeSpec> {
        match &self.check {
            Check::LlmRubric { rubric, model, .. } => Some(JudgeSpec {
                kind: JudgeKind::Rubric {
                    rubric: rubric.clone(),
                },
                model: model.clone(),
            }),
            Check::Judge { agent, model, .. } => Some(JudgeSpec {
                kind: agent.clone().map_or(JudgeKind::Evaluator, JudgeKind::Agent),
                model: model.clone(),
            }),
            _ => None,
        }
    }

    /// Whether this is the exact check of the case's `expected`.
    pub fn is_expected(&self) -> bool {
        matches!(self.check, Check::Expected(_))
    }

    /// Grades a judge's structured answer: `{pass, score, reason}` for `llm-rubric`,
    /// `{rating, reasoning, score}` for `judge`. `Err` says what is wrong with the answer.
    pub fn grade(&self, answer: &Value, judge: &str) -> Result<AssertionOutcome, String> {
        let number = |key: &str| answer.get(key).and_then(Value::as_f64);
        let text = |key: &str| answer.get(key).and_then(Value::as_str).map(str::to_owned);
        let (passed, score, reason, message) = match &self.check {
            Check::LlmRubric { threshold, .. } => {
                let (Some(pass), Some(score)) =
                    (answer.get("pass").and_then(Value::as_bool), number("score"))
                else {
                    return Err(format!(
                        "the answer {} is not `{{pass, score, reason}}`",
                        excerpt(&answer.to_string())
                    ));
                };
                let passed = pass && score >= *threshold;
                let message = (!passed).then(|| {
                    if pass {
                        format!("score {score} is below the threshold {threshold}")
                    } else {
                        "the judge did not pass the output".to_owned()
                    }
                });
                (passed, score, text("reason"), message)
            }
            Check::Judge { min_score, .. } => {
                let Some(score) = number("score") else {
                    return Err(format!(
                        "the answer {} has no numeric `score`",
                        excerpt(&answer.to_string())
                    ));
                };
                let passed = score >= *min_score;
                let message =
                    (!passed).then(|| format!("score {score} is below the minimum {min_score}"));
                (
                    passed,
                    score,
                    text("reasoning").or_else(|| text("reason")),
                    message,
                )
            }
            _ => return Err("not a model-graded assertion".to_owned()),
        };
        Ok(AssertionOutcome {
            kind: self.kind().to_owned(),
            passed,
            spec: Some(self.spec_without_type()),
            message,
            actual: Some(answer.clone()),
            score: Some(score),
            reason,
            judge: Some(judge.to_owned()),
        })
    }

    /// Checks the assertion.
    pub fn evaluate(&self, observed: &Observed<'_>) -> AssertionOutcome {
        let (passed, message, actual) = match &self.check {
            Check::Expected(expected) | Check::Equals(expected) => match expected {
                Value::String(text) => {
                    let actual = observed.text();
                    if actual == text.as_str() {
                        (true, None, None)
                    } else {
                        (
                            false,
                            Some(format!(
                                "output text {} does not equal {}",
                                quote(&actual),
                                quote(text)
                            )),
                            None,
                        )
                    }
                }
                _ if *without_meta(observed.output, expected) == *expected => (true, None, None),
                _ => (
                    false,
                    Some(format!(
                        "output {} does not equal {}",
                        excerpt(&observed.output.to_string()),
                        excerpt(&expected.to_string())
                    )),
                    None,
                ),
            },
            Check::Contains(needle) => {
                let found = observed.text().contains(needle.as_str());
                let message =
                    (!found).then(|| format!("output does not contain {}", quote(needle)));
                (found, message, None)
            }
            Check::NotContains(needle) => {
                let found = observed.text().contains(needle.as_str());
                let message = found.then(|| format!("output contains {}", quote(needle)));
                (!found, message, None)
            }
            Check::Regex(pattern) => {
                let found = pattern.is_match(&observed.text());
                let message =
                    (!found).then(|| format!("output does not match {}", quote(pattern.as_str())));
                (found, message, None)
            }
            Check::JsonSchema(validator) => {
                let errors: Vec<String> = validator
                    .iter_errors(observed.output)
                    .take(5)
                    .map(|error| {
                        let path = error.instance_path().to_string();
                        let path = if path.is_empty() {
                            "/".to_owned()
                        } else {
                            path
                        };
                        format!("at `{path}`: {error}")
                    })
                    .collect();
                if errors.is_empty() {
                    (true, None, None)
                } else {
                    (
                        false,
                        Some(format!(
                            "output does not match the schema: {}",
                            errors.join("; ")
                        )),
                        None,
                    )
                }
            }
            Check::JsonPathEquals { path, value } => {
                let nodes = path.query(observed.output).all();
                match nodes.as_slice() {
                    [node] if *node == value => (true, None, Some((*node).clone())),
                    [node] => (
                        false,
                        Some(format!(
                            "`{}` is {}, expected {}",
                            spec_path(&self.spec),
                            excerpt(&node.to_string()),
                            excerpt(&value.to_string())
                        )),
                        Some((*node).clone()),
                    ),
                    [] => (
                        false,
                        Some(format!("`{}` selects nothing", spec_path(&self.spec))),
                        None,
                    ),
                    many => (
                        false,
                        Some(format!(
                            "`{}` selects {} nodes, expected exactly one",
                            spec_path(&self.spec),
                            many.len()
                        )),
                        Some(Value::Array(
                            many.iter().map(|node| (*node).clone()).collect(),
                        )),
                    ),
                }
            }
            Check::MaxLatencyMs(limit) => {
                let took = observed.duration_ms;
                let passed = took <= *limit;
                let message = (!passed).then(|| format!("took {took} ms, more than {limit} ms"));
                (passed, message, Some(Value::from(took)))
            }
            Check::MaxTokens(limit) => {
                let used = observed.usage.input_tokens + observed.usage.output_tokens;
                let passed = used <= *limit;
                let message = (!passed).then(|| format!("used {used} tokens, more than {limit}"));
                (passed, message, Some(Value::from(used)))
            }
            // Graded by a judge (`grade`); reaching here means no judge was available.
            Check::LlmRubric { .. } | Check::Judge { .. } => (
                false,
                Some("no judge is available to grade this assertion".to_owned()),
                None,
            ),
        };
        AssertionOutcome {
            kind: self.kind().to_owned(),
            passed,
            spec: Some(self.spec_without_type()),
            message,
            actual,
            score: None,
            reason: None,
            judge: None,
        }
    }

    fn spec_without_type(&self) -> Value {
        match (&self.check, &self.spec) {
            (Check::Expected(value), _) => {
                let mut map = Map::new();
                map.insert("value".to_owned(), value.clone());
                Value::Object(map)
            }
            (_, Value::Object(map)) => Value::Object(
                map.iter()
                    .filter(|(key, _)| key.as_str() != "type")
                    .map(|(key, value)| (key.clone(), value.clone()))
                    .collect(),
            ),
            (_, other) => other.clone(),
        }
    }
}

fn spec_path(spec: &Value) -> &str {
    spec.get("path").and_then(Value::as_str).unwrap_or("$")
}

fn require<'a>(value: Option<&'a Value>, kind: &str) -> Result<&'a Value, String> {
    value.ok_or_else(|| format!("a `{kind}` assertion needs a `value`"))
}

fn require_string(value: Option<&Value>, kind: &str) -> Result<String, String> {
    match require(value, kind)? {
        Value::String(text) => Ok(text.clone()),
        other => Err(format!(
            "a `{kind}` assertion needs a string `value`, found {}",
            kind_of(other)
        )),
    }
}

fn require_count(value: Option<&Value>, kind: &str) -> Result<u64, String> {
    match require(value, kind)? {
        Value::Number(number) if number.as_u64().is_some() => Ok(number.as_u64().unwrap_or(0)),
        other => Err(format!(
            "a `{kind}` assertion needs a non-negative integer `value`, found {}",
            excerpt(&other.to_string())
        )),
    }
}

fn optional_number(value: Option<&Value>, key: &str, kind: &str) -> Result<Option<f64>, String> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(number)) => Ok(number.as_f64()),
        Some(other) => Err(format!(
            "`{key}` of a `{kind}` assertion must be a number, found {}",
            kind_of(other)
        )),
    }
}

fn optional_model(value: Option<&Value>, kind: &str) -> Result<Option<String>, String> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(model)) if !model.trim().is_empty() => Ok(Some(model.clone())),
        Some(other) => Err(format!(
            "`model` of a `{kind}` assertion must be a model like `openai:gpt-4o-mini`, found {}",
            kind_of(other)
        )),
    }
}

/// `a string`, `a number`, … for messages.
pub(crate) fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Text in backticks, shortened.
fn quote(text: &str) -> String {
    format!("`{}`", excerpt(text))
}

/// At most 120 characters of a text.
pub(crate) fn excerpt(text: &str) -> String {
    const LIMIT: usize = 120;
    if text.chars().count() <= LIMIT {
        text.to_owned()
    } else {
        let mut short: String = text.chars().take(LIMIT).collect();
        short.push('…');
        short
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn observed(output: &Value) -> Observed<'_> {
        Observed {
            output,
            text_key: "message",
            duration_ms: 250,
            usage: Usage {
                input_tokens: 10,
                output_tokens: 5,
            },
        }
    }

    fn check(spec: Value, output: Value) -> AssertionOutcome {
        Assertion::parse(&spec)
            .unwrap()
            .evaluate(&observed(&output))
    }

    #[test]
    fn deep_equality_ignores_aigne_metadata_unless_expected() {
        let output = json!({"sentiment": "positive", "$meta": {"retries": 1}});
        let equals =
            |value: Value| check(json!({"type": "equals", "value": value}), output.clone()).passed;
        assert!(equals(json!({"sentiment": "positive"})));
        assert!(equals(
            json!({"sentiment": "positive", "$meta": {"retries": 1}})
        ));
        assert!(!equals(
            json!({"sentiment": "positive", "$meta": {"retries": 2}})
        ));
        assert!(!equals(json!({"sentiment": "negative"})));
    }

    #[test]
    fn text_assertions_use_the_output_key() {
        let output = json!({"message": "Paris is the capital"});
        assert!(
            check(
                json!({"type": "contains", "value": "Paris"}),
                output.clone()
            )
            .passed
        );
        let failed = check(json!({"type": "contains", "value": "Lyon"}), output.clone());
        assert!(!failed.passed);
        assert_eq!(
            failed.message.as_deref(),
            Some("output does not contain `Lyon`")
        );
        assert!(
            check(
                json!({"type": "not-contains", "value": "Lyon"}),
                output.clone()
            )
            .passed
        );
        assert!(
            !check(
                json!({"type": "not-contains", "value": "Paris"}),
                output.clone()
            )
            .passed
        );
        assert!(
            check(
                json!({"type": "regex", "value": "^Paris\\b"}),
                output.clone()
            )
            .passed
        );
        assert!(
            !check(
                json!({"type": "regex", "value": "^capital"}),
                output.clone()
            )
            .passed
        );
        assert!(
            check(
                json!({"type": "equals", "value": "Paris is the capital"}),
                output.clone()
            )
            .passed
        );
        assert!(
            check(
                json!({"type": "equals", "value": {"message": "Paris is the capital"}}),
                output.clone()
            )
            .passed
        );
        assert!(!check(json!({"type": "equals", "value": {"message": "x"}}), output).passed);
    }

    #[test]
    fn structured_assertions() {
        let output = json!({"city": "Paris", "tags": ["a", "b"]});
        let schema = json!({"type": "object", "required": ["city"], "properties": {"city": {"type": "string"}}});
        assert!(
            check(
                json!({"type": "json-schema", "value": schema}),
                output.clone()
            )
            .passed
        );
        let failed = check(
            json!({"type": "json-schema", "value": {"type": "object", "required": ["country"]}}),
            output.clone(),
        );
        assert!(!failed.passed);
        assert!(failed.message.unwrap().contains("country"));
        let path = check(
            json!({"type": "json-path-equals", "path": "$.tags[1]", "value": "b"}),
            output.clone(),
        );
        assert!(path.passed);
        assert_eq!(path.actual, Some(json!("b")));
        let wrong = check(
            json!({"type": "json-path-equals", "path": "$.city", "value": "Lyon"}),
            output.clone(),
        );
        assert_eq!(
            wrong.message.as_deref(),
            Some("`$.city` is \"Paris\", expected \"Lyon\"")
        );
        let none = check(
            json!({"type": "json-path-equals", "path": "$.nope", "value": 1}),
            output,
        );
        assert_eq!(none.message.as_deref(), Some("`$.nope` selects nothing"));
    }

    #[test]
    fn budgets() {
        let output = json!("x");
        assert!(
            check(
                json!({"type": "max-latency-ms", "value": 250}),
                output.clone()
            )
            .passed
        );
        let slow = check(
            json!({"type": "max-latency-ms", "value": 100}),
            output.clone(),
        );
        assert_eq!(
            slow.message.as_deref(),
            Some("took 250 ms, more than 100 ms")
        );
        assert!(check(json!({"type": "max-tokens", "value": 15}), output.clone()).passed);
        let tokens = check(json!({"type": "max-tokens", "value": 14}), output);
        assert_eq!(tokens.actual, Some(json!(15)));
        assert!(!tokens.passed);
    }

    #[test]
    fn bad_assertions_are_rejected_with_reasons() {
        let error = |spec: Value| Assertion::parse(&spec).unwrap_err();
        assert!(error(json!({"type": "similar"})).starts_with("unknown assertion type `similar`"));
        assert!(error(json!({"type": "regex", "value": "("})).starts_with("invalid regex `(`"));
        assert!(
            error(json!({"type": "json-path-equals", "path": "$[", "value": 1}))
                .starts_with("invalid JSONPath")
        );
        assert!(
            error(json!({"type": "json-schema", "value": {"type": 7}}))
                .starts_with("invalid JSON Schema")
        );
        assert_eq!(
            error(json!({"type": "contains"})),
            "a `contains` assertion needs a `value`"
        );
        assert_eq!(
            error(json!({"type": "max-tokens", "value": -1})),
            "a `max-tokens` assertion needs a non-negative integer `value`, found -1"
        );
        assert_eq!(
            error(json!({"type": "contains", "value": "a", "x": 1})),
            "unknown key `x` in a `contains` assertion"
        );
        assert_eq!(
            error(json!("contains")),
            "an assertion must be an object like `{\"type\": \"contains\", \"value\": \"…\"}`, found a string"
        );
    }
}
