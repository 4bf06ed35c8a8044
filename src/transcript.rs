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

/// Most bytes one recorded value keeps (its strings and keys, and [`ITEM_BYTES`] per item, an
/// estimate of its size in memory): past it, an array or an object keeps its first
/// items and a note saying how many more were left out.
pub const VALUE_CAP: usize = 256 * 1024;

/// Most bytes all the values of one case's transcript keep together (counted as for
/// [`VALUE_CAP`]); past it, a value is replaced by a note. Per-string and per-value caps alone
/// do not bound a case: a team fanning out over a team records every item's input again and
/// again (100 × 100 items recorded 829 MB before this cap).
pub const CASE_CAP: usize = 4 * 1024 * 1024;

/// What an item counts for [`VALUE_CAP`] and [`CASE_CAP`] besides its text: about what a
/// [`Value`] and a map entry take in memory, so that the caps bound memory, not just text.
const ITEM_BYTES: usize = 64;

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
    /// What the values kept so far count for [`CASE_CAP`].
    kept_bytes: usize,
}

impl Recorded {
    /// `value` as kept: within [`VALUE_CAP`] and what is left of [`CASE_CAP`].
    fn keep(&mut self, value: &Value) -> Value {
        let left = CASE_CAP.saturating_sub(self.kept_bytes);
        let mut budget = VALUE_CAP.min(left);
        let kept = cap_within(value, &mut budget);
        self.kept_bytes += VALUE_CAP.min(left) - budget;
        if self.kept_bytes >= CASE_CAP && left > 0 {
            self.notes.push(format!(
                "values recorded after the transcript reached its cap of {CASE_CAP} bytes were replaced by a note"
            ));
        }
        kept
    }
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
        let input = recorded.keep(input);
        recorded.invocations.push(Invocation {
            id,
            parent,
            agent: agent.to_owned(),
            kind: kind.to_owned(),
            started_ms,
            duration_ms: None,
            hook: None,
            input,
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
        let output = result.map(|output| recorded.keep(output));
        if let Some(invocation) = recorded.invocations.get_mut(id) {
            invocation.duration_ms = Some(now.saturating_sub(invocation.started_ms));
            match output {
                Ok(output) => invocation.output = Some(output),
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
        let request = recorded.keep(request);
        recorded.model_calls.push(ModelCall {
            invocation,
            provider: provider.to_owned(),
            model: model.to_owned(),
            started_ms,
            request,
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
        let result = result.map(|(response, usage)| (recorded.keep(response), usage.clone()));
        if let Some(call) = recorded.model_calls.get_mut(index) {
            call.latency_ms = Some(latency);
            call.attempts = attempts;
            match result {
                Ok((response, usage)) => {
                    call.response = Some(response);
                    call.usage = Some(usage);
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
        call.request = recorded.keep(&call.request);
        call.response = call
            .response
            .as_ref()
            .map(|response| recorded.keep(response));
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
        invocation.input = recorded.keep(&invocation.input);
        invocation.output = invocation
            .output
            .as_ref()
            .map(|output| recorded.keep(output));
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
    cut_text(text, TEXT_CAP)
}

/// `text` cut at `limit` bytes (on a character boundary) with a note, when it is longer.
fn cut_text(text: &str, limit: usize) -> String {
    if text.len() <= limit {
        return text.to_owned();
    }
    let mut end = limit;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!(
        "{}… [aigne-ci: cut at {limit} bytes, {} more bytes not kept]",
        &text[..end],
        text.len() - end
    )
}

/// `value` with every string longer than [`TEXT_CAP`] cut by [`cap_text`], and held to
/// [`VALUE_CAP`] as a whole.
pub fn cap_value(value: &Value) -> Value {
    let mut budget = VALUE_CAP;
    cap_within(value, &mut budget)
}

/// `value` within `budget` bytes (strings and keys, [`ITEM_BYTES`] per item), which it spends:
/// strings are cut at [`TEXT_CAP`] or what is left; once nothing is left, an array or an object
/// ends with a note counting what was left out.
fn cap_within(value: &Value, budget: &mut usize) -> Value {
    *budget = budget.saturating_sub(ITEM_BYTES);
    match value {
        Value::String(text) => {
            let kept = cut_text(text, TEXT_CAP.min(*budget));
            *budget = budget.saturating_sub(kept.len().min(text.len()));
            Value::String(kept)
        }
        Value::Array(items) => {
            let mut kept = Vec::new();
            for (index, item) in items.iter().enumerate() {
                if *budget == 0 {
                    kept.push(Value::String(format!(
                        "… [aigne-ci: {} more items not kept]",
                        items.len() - index
                    )));
                    break;
                }
                kept.push(cap_within(item, budget));
            }
            Value::Array(kept)
        }
        Value::Object(map) => {
            let mut kept = serde_json::Map::new();
            for (index, (key, item)) in map.iter().enumerate() {
                if *budget == 0 {
                    kept.insert(
                        "…".to_owned(),
                        Value::String(format!(
                            "[aigne-ci: {} more fields not kept]",
                            map.len() - index
                        )),
                    );
                    break;
                }
                *budget = budget.saturating_sub(key.len());
                kept.insert(key.clone(), cap_within(item, budget));
            }
            Value::Object(kept)
        }
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
    fn a_large_value_keeps_its_first_items_and_a_note() {
        let numbers: Vec<u64> = (0..100_000).collect();
        let capped = cap_value(&json!({"numbers": numbers, "after": "x"}));
        let kept = capped["numbers"].as_array().unwrap();
        assert!(kept.len() < 100_000 / 4, "{}", kept.len());
        let note = kept.last().unwrap().as_str().unwrap();
        assert!(
            note.starts_with("… [aigne-ci: ") && note.ends_with(" more items not kept]"),
            "{note}"
        );
        assert_eq!(kept[1], 1);
        assert_eq!(capped["…"], "[aigne-ci: 1 more fields not kept]");
        let small = json!({"a": [1, 2, {"b": "c"}]});
        assert_eq!(cap_value(&small), small);
    }

    #[test]
    fn a_case_records_a_bounded_amount_whatever_its_fan_out() {
        // A team fanning out over a team: every invocation gets the whole list again.
        let items: Vec<Value> = (0..5_000).map(|n| json!({"n": n})).collect();
        let input = json!({ "items": items });
        let recorder = TranscriptRecorder::new("native", &[]);
        for _ in 0..2_000 {
            let id = recorder.begin_invocation(None, "inner", "team", &input);
            recorder.end_invocation(id, Ok(&input));
        }
        let transcript = recorder.snapshot("c", 1);
        let size = serde_json::to_string(&transcript).unwrap().len();
        // 2000 × 2 × 5000 items were recorded whole before the case cap (over 400 MB).
        assert!(size < 8 * 1024 * 1024, "{size} bytes");
        assert_eq!(transcript.invocations.len(), 2_000);
        assert!(
            transcript
                .captures
                .iter()
                .any(|note| note.contains("reached its cap")),
            "{:?}",
            transcript.captures
        );
        let last = &transcript.invocations[1_999];
        assert_eq!(last.input["…"], "[aigne-ci: 1 more fields not kept]");
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
