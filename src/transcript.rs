//! What ran in one case: the tree of agent invocations and every model call, in order
//! ([`Transcript`]), and the [`TranscriptRecorder`] the engines write into while the case runs.
//!
//! A leaf module (it imports nothing from the crate): the engines record into it, the batch
//! carries the finished [`Transcript`] with the case's outcome, and the report writes it to
//! `<out-dir>/transcripts/<line>.json` (redacted like every other output). The JSON Schema is
//! `schemas/transcript.schema.json`.
//!
//! The tree is kept flat: every [`Invocation`] has an `id` and the `parent` it was invoked from
//! (`None` for the case's agent), in the order invocations started. A [`ModelCall`] names the
//! invocation that made it. Values are stored as JSON, and every string in them longer than
//! [`TEXT_CAP`] bytes is cut there with a note saying how much was left out, so a model message,
//! a tool result or a base64 file never grows a transcript without bound. The numbers of
//! invocations and model calls are capped too ([`MAX_INVOCATIONS`], [`MAX_MODEL_CALLS`]); what
//! is dropped is counted in [`Transcript::dropped`].

use std::sync::Mutex;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The format version of a transcript file.
pub const TRANSCRIPT_FORMAT_VERSION: u32 = 1;

/// Longest string kept in a recorded value, in bytes.
pub const TEXT_CAP: usize = 16 * 1024;

/// Most invocations kept per case.
pub const MAX_INVOCATIONS: usize = 2_000;

/// Most model calls kept per case.
pub const MAX_MODEL_CALLS: usize = 500;

/// One agent invocation: a team member, a transform, a skill, a hook, a JavaScript agent, an
/// MCP tool call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Invocation {
    /// Index of this invocation in [`Transcript::invocations`].
    pub id: usize,
    /// The invocation this one was made from (`None`: the case's agent).
    pub parent: Option<usize>,
    /// The agent's (or MCP tool's) name.
    pub agent: String,
    /// `ai`, `team`, `transform`, `function`, `mcp_tool`, … (the engine's word for it).
    pub kind: String,
    /// Milliseconds from the start of the case.
    pub started_ms: u64,
    /// How long it took; `None` when it never ended (timeout, cancellation).
    pub duration_ms: Option<u64>,
    /// The hook slot (`on_start`, `on_success`, `on_error`, `on_end`, `on_skill_start`,
    /// `on_skill_end`) this hook agent ran for, under the agent that declared the hook.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hook: Option<String>,
    /// The input it got.
    pub input: Value,
    /// What it returned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<Value>,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One call to a chat model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelCall {
    /// The invocation that made the call.
    pub invocation: Option<usize>,
    /// Provider id (`openai`, `anthropic`, …).
    pub provider: String,
    /// Model name sent to the provider.
    pub model: String,
    /// Milliseconds from the start of the case.
    pub started_ms: u64,
    /// The request as the engine built it: messages, tools, tool choice, response format,
    /// model options (the provider-neutral form each provider maps onto its wire format).
    pub request: Value,
    /// What the model answered (text, structured output, tool calls).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<Value>,
    /// Tokens of the call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Value>,
    /// From the request to the assembled answer (or the error), in milliseconds.
    pub latency_ms: Option<u64>,
    /// HTTP attempts the call took (1 = no retry), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempts: Option<u32>,
    /// Why the call failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Items over the per-case caps that were not kept.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dropped {
    pub invocations: usize,
    pub model_calls: usize,
}

/// What ran in one case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transcript {
    pub format_version: u32,
    /// The case's id and its line in the inputs file.
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub line: usize,
    /// `native` or `node`.
    pub engine: String,
    /// What this engine captures, and what it does not (one sentence each).
    pub captures: Vec<String>,
    /// Longest string kept, in bytes (longer ones are cut with a note).
    pub text_cap: usize,
    pub invocations: Vec<Invocation>,
    pub model_calls: Vec<ModelCall>,
    #[serde(default)]
    pub dropped: Dropped,
}

#[derive(Debug, Default)]
struct Recorded {
    invocations: Vec<Invocation>,
    model_calls: Vec<ModelCall>,
    dropped: Dropped,
    /// Extra notes (e.g. what the node engine reported it could not capture).
    notes: Vec<String>,
}

/// Collects one case's transcript while it runs. Shared by every task of the case; cheap when
/// nothing is recorded.
#[derive(Debug)]
pub struct TranscriptRecorder {
    engine: String,
    captures: Vec<String>,
    started: Instant,
    recorded: Mutex<Recorded>,
}

/// A started model call, finished with [`TranscriptRecorder::end_model_call`].
#[derive(Debug)]
pub struct PendingModelCall {
    index: Option<usize>,
    started: Instant,
}

impl TranscriptRecorder {
    /// A recorder for one case of `engine`, which captures what `captures` says.
    pub fn new(engine: &str, captures: &[&str]) -> Self {
        Self {
            engine: engine.to_owned(),
            captures: captures.iter().map(|text| (*text).to_owned()).collect(),
            started: Instant::now(),
            recorded: Mutex::new(Recorded::default()),
        }
    }

    fn recorded(&self) -> std::sync::MutexGuard<'_, Recorded> {
        self.recorded
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn elapsed_ms(&self, since: Instant) -> u64 {
        millis(since.saturating_duration_since(self.started))
    }

    /// An invocation starts; returns its id (`None` when over the cap).
    pub fn begin_invocation(
        &self,
        parent: Option<usize>,
        agent: &str,
        kind: &str,
        input: &Value,
    ) -> Option<usize> {
        let started_ms = self.elapsed_ms(Instant::now());
        let mut recorded = self.recorded();
        if recorded.invocations.len() >= MAX_INVOCATIONS {
            recorded.dropped.invocations += 1;
            return None;
        }
        let id = recorded.invocations.len();
        recorded.invocations.push(Invocation {
            id,
            parent,
            agent: agent.to_owned(),
            kind: kind.to_owned(),
            started_ms,
            duration_ms: None,
            hook: None,
            input: cap_value(input),
            output: None,
            error: None,
        });
        Some(id)
    }

    /// Marks an invocation as a hook agent run for `slot` (`on_start`, …).
    pub fn set_hook(&self, id: Option<usize>, slot: &str) {
        let Some(id) = id else { return };
        if let Some(invocation) = self.recorded().invocations.get_mut(id) {
            invocation.hook = Some(slot.to_owned());
        }
    }

    /// An invocation ended with an output or an error.
    pub fn end_invocation(&self, id: Option<usize>, result: Result<&Value, String>) {
        let Some(id) = id else { return };
        let now = self.elapsed_ms(Instant::now());
        let mut recorded = self.recorded();
        if let Some(invocation) = recorded.invocations.get_mut(id) {
            invocation.duration_ms = Some(now.saturating_sub(invocation.started_ms));
            match result {
                Ok(output) => invocation.output = Some(cap_value(output)),
                Err(error) => invocation.error = Some(cap_text(&error)),
            }
        }
    }

    /// A model call starts with `request` (serialised by the caller).
    pub fn begin_model_call(
        &self,
        invocation: Option<usize>,
        provider: &str,
        model: &str,
        request: &Value,
    ) -> PendingModelCall {
        let started = Instant::now();
        let started_ms = self.elapsed_ms(started);
        let mut recorded = self.recorded();
        if recorded.model_calls.len() >= MAX_MODEL_CALLS {
            recorded.dropped.model_calls += 1;
            return PendingModelCall {
                index: None,
                started,
            };
        }
        let index = recorded.model_calls.len();
        recorded.model_calls.push(ModelCall {
            invocation,
            provider: provider.to_owned(),
            model: model.to_owned(),
            started_ms,
            request: cap_value(request),
            response: None,
            usage: None,
            latency_ms: None,
            attempts: None,
            error: None,
        });
        PendingModelCall {
            index: Some(index),
            started,
        }
    }

    /// A model call ended: its answer (with usage) or its error, and its attempts when known.
    pub fn end_model_call(
        &self,
        pending: PendingModelCall,
        result: Result<(&Value, &Value), String>,
        attempts: Option<u32>,
    ) {
        let Some(index) = pending.index else { return };
        let latency = millis(pending.started.elapsed());
        let mut recorded = self.recorded();
        if let Some(call) = recorded.model_calls.get_mut(index) {
            call.latency_ms = Some(latency);
            call.attempts = attempts;
            match result {
                Ok((response, usage)) => {
                    call.response = Some(cap_value(response));
                    call.usage = Some(usage.clone());
                }
                Err(error) => call.error = Some(cap_text(&error)),
            }
        }
    }

    /// Adds a whole model call as reported after the fact (the node engine's events).
    pub fn push_model_call(&self, mut call: ModelCall) {
        let mut recorded = self.recorded();
        if recorded.model_calls.len() >= MAX_MODEL_CALLS {
            recorded.dropped.model_calls += 1;
            return;
        }
        call.request = cap_value(&call.request);
        call.response = call.response.as_ref().map(cap_value);
        call.error = call.error.as_deref().map(cap_text);
        recorded.model_calls.push(call);
    }

    /// Adds a whole invocation as reported after the fact; its `id` is reassigned and returned.
    pub fn push_invocation(&self, mut invocation: Invocation) -> Option<usize> {
        let mut recorded = self.recorded();
        if recorded.invocations.len() >= MAX_INVOCATIONS {
            recorded.dropped.invocations += 1;
            return None;
        }
        invocation.id = recorded.invocations.len();
        invocation.input = cap_value(&invocation.input);
        invocation.output = invocation.output.as_ref().map(cap_value);
        invocation.error = invocation.error.as_deref().map(cap_text);
        let id = invocation.id;
        recorded.invocations.push(invocation);
        Some(id)
    }

    /// Adds a sentence to [`Transcript::captures`].
    pub fn note(&self, text: &str) {
        self.recorded().notes.push(text.to_owned());
    }

    /// What was recorded so far (the case may still be running when it timed out), for the
    /// case `id` at `line`.
    pub fn snapshot(&self, id: &str, line: usize) -> Transcript {
        let recorded = self.recorded();
        let mut captures = self.captures.clone();
        captures.extend(recorded.notes.iter().cloned());
        Transcript {
            format_version: TRANSCRIPT_FORMAT_VERSION,
            id: id.to_owned(),
            line,
            engine: self.engine.clone(),
            captures,
            text_cap: TEXT_CAP,
            invocations: recorded.invocations.clone(),
            model_calls: recorded.model_calls.clone(),
            dropped: recorded.dropped,
        }
    }
}

fn millis(duration: std::time::Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// `text`, cut at [`TEXT_CAP`] bytes (on a character boundary) with a note of what was cut.
pub fn cap_text(text: &str) -> String {
    if text.len() <= TEXT_CAP {
        return text.to_owned();
    }
    let mut end = TEXT_CAP;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!(
        "{}… [aigne-ci: cut at {TEXT_CAP} bytes, {} more bytes not kept]",
        &text[..end],
        text.len() - end
    )
}

/// `value` with every string longer than [`TEXT_CAP`] cut by [`cap_text`].
pub fn cap_value(value: &Value) -> Value {
    match value {
        Value::String(text) if text.len() > TEXT_CAP => Value::String(cap_text(text)),
        Value::Array(items) => Value::Array(items.iter().map(cap_value).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(key, value)| (key.clone(), cap_value(value)))
                .collect(),
        ),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn long_strings_are_cut_with_a_note() {
        let long = "é".repeat(TEXT_CAP); // 2 bytes each
        let capped = cap_value(&json!({"messages": [{"content": long}], "n": 1}));
        let text = capped["messages"][0]["content"]
            .as_str()
            .unwrap_or_default();
        assert!(text.len() < TEXT_CAP + 100, "{}", text.len());
        assert!(
            text.ends_with(&format!(
                "… [aigne-ci: cut at {TEXT_CAP} bytes, {} more bytes not kept]",
                TEXT_CAP
            )),
            "{}",
            &text[text.len() - 80..]
        );
        assert_eq!(capped["n"], 1);
        assert_eq!(cap_text("short"), "short");
    }

    #[test]
    fn records_a_tree_and_model_calls_in_order() {
        let recorder = TranscriptRecorder::new("native", &["everything"]);
        let team = recorder.begin_invocation(None, "team", "team", &json!({"q": 1}));
        let member = recorder.begin_invocation(team, "writer", "ai", &json!({"q": 1}));
        let call = recorder.begin_model_call(member, "openai", "gpt-4o", &json!({"messages": []}));
        recorder.end_model_call(
            call,
            Ok((&json!({"text": "hi"}), &json!({"input_tokens": 3}))),
            Some(2),
        );
        recorder.end_invocation(member, Ok(&json!({"message": "hi"})));
        recorder.end_invocation(team, Err("boom".to_owned()));
        let transcript = recorder.snapshot("c", 1);
        assert_eq!(transcript.invocations.len(), 2);
        assert_eq!(transcript.invocations[1].parent, Some(0));
        assert_eq!(transcript.invocations[0].error.as_deref(), Some("boom"));
        assert_eq!(transcript.model_calls[0].invocation, Some(1));
        assert_eq!(transcript.model_calls[0].attempts, Some(2));
        assert_eq!(
            transcript.model_calls[0].response,
            Some(json!({"text": "hi"}))
        );
        assert!(transcript.invocations[1].duration_ms.is_some());
    }

    #[test]
    fn counts_what_goes_over_the_caps() {
        let recorder = TranscriptRecorder::new("native", &[]);
        for _ in 0..MAX_MODEL_CALLS + 3 {
            let call = recorder.begin_model_call(None, "p", "m", &Value::Null);
            recorder.end_model_call(call, Err("x".to_owned()), None);
        }
        let transcript = recorder.snapshot("c", 1);
        assert_eq!(transcript.model_calls.len(), MAX_MODEL_CALLS);
        assert_eq!(transcript.dropped.model_calls, 3);
    }
}
