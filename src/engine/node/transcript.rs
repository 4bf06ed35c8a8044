//! The node host's agent events (see `host.mjs`) → a [`TranscriptRecorder`]: chat-model agents
//! become [`ModelCall`]s, every other agent an [`Invocation`], parents mapped from the runtime's
//! context ids to transcript ids.

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::Value;

use crate::transcript::{Invocation, ModelCall, TranscriptRecorder};

/// The runtime's tag of its chat-model agents.
const CHAT_MODEL_TAG: &str = "ChatModelAgent";

#[derive(Debug, Deserialize)]
struct Event {
    id: String,
    #[serde(default)]
    parent: Option<String>,
    #[serde(default)]
    agent: String,
    #[serde(default)]
    tag: String,
    #[serde(default)]
    started: Option<u64>,
    #[serde(default)]
    ended: Option<u64>,
    #[serde(default)]
    input: Value,
    #[serde(default)]
    output: Option<Value>,
    #[serde(default)]
    error: Option<Value>,
}

/// Adds the events of one case (in the order they started) to `recorder`.
pub(super) fn record_events(recorder: &TranscriptRecorder, events: Value) {
    let events: Vec<Event> = match serde_json::from_value(events) {
        Ok(events) => events,
        Err(error) => {
            recorder.note(&format!(
                "the node host's events could not be read: {error}"
            ));
            return;
        }
    };
    let origin = events.iter().filter_map(|event| event.started).min();
    let offset = |time: Option<u64>| match (time, origin) {
        (Some(time), Some(origin)) => time.saturating_sub(origin),
        _ => 0,
    };
    let mut ids: HashMap<String, usize> = HashMap::new();
    for event in events {
        let parent = event
            .parent
            .as_ref()
            .and_then(|parent| ids.get(parent).copied());
        let duration_ms = match (event.started, event.ended) {
            (Some(started), Some(ended)) => Some(ended.saturating_sub(started)),
            _ => None,
        };
        let error = event.error.map(|error| match error {
            Value::String(text) => text,
            other => other.to_string(),
        });
        if event.tag == CHAT_MODEL_TAG {
            let mut response = event.output.clone();
            let usage = response
                .as_mut()
                .and_then(Value::as_object_mut)
                .and_then(|response| response.remove("usage"));
            let model = event
                .output
                .as_ref()
                .and_then(|output| output.get("model"))
                .or_else(|| event.input.pointer("/modelOptions/model"))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            recorder.push_model_call(ModelCall {
                invocation: parent,
                provider: event.agent,
                model,
                started_ms: offset(event.started),
                request: event.input,
                response: if error.is_some() { None } else { response },
                usage,
                latency_ms: duration_ms,
                attempts: None,
                error,
            });
            continue;
        }
        let id = recorder.push_invocation(Invocation {
            id: 0,
            parent,
            agent: event.agent,
            kind: event.tag,
            started_ms: offset(event.started),
            duration_ms,
            hook: None,
            input: event.input,
            output: event.output,
            error,
        });
        if let Some(id) = id {
            ids.insert(event.id, id);
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn model_agents_become_model_calls_under_their_caller() {
        let recorder = TranscriptRecorder::new("node", &[]);
        record_events(
            &recorder,
            json!([
                {"id": "a", "parent": null, "agent": "chat", "tag": "AIAgent", "started": 100,
                 "ended": 180, "input": {"message": "hi"}, "output": {"message": "hello"}},
                {"id": "m", "parent": "a", "agent": "OpenAIChatModel", "tag": "ChatModelAgent",
                 "started": 110, "ended": 170, "input": {"messages": [], "modelOptions": {"model": "gpt-4o"}},
                 "output": {"text": "hello", "usage": {"inputTokens": 5, "outputTokens": 1}}},
                {"id": "t", "parent": "a", "agent": "fetch", "tag": "MCPTool", "started": 120,
                 "error": "boom"}
            ]),
        );
        let transcript = recorder.snapshot("c", 1);
        assert_eq!(transcript.invocations.len(), 2);
        assert_eq!(transcript.invocations[1].parent, Some(0));
        assert_eq!(transcript.invocations[1].error.as_deref(), Some("boom"));
        assert_eq!(transcript.invocations[1].duration_ms, None);
        let call = &transcript.model_calls[0];
        assert_eq!(call.invocation, Some(0));
        assert_eq!(call.model, "gpt-4o");
        assert_eq!(call.started_ms, 10);
        assert_eq!(call.latency_ms, Some(60));
        assert_eq!(
            call.usage,
            Some(json!({"inputTokens": 5, "outputTokens": 1}))
        );
        assert_eq!(call.response, Some(json!({"text": "hello"})));
    }
}
