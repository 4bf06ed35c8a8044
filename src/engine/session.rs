//! Conversation state across turns of one `session` (cases with the same session id).
//!
//! AIGNE keeps state only for agents that ask for it:
//! - `afs` with a `history` module: each turn's `[user message, agent/tool messages…]` is stored
//!   and later turns get them between the system message and the new user message
//!   (`prompt/agent-session.ts` `getMessages`);
//! - legacy `memory` (the CLI's `DefaultMemory`): each turn's `{input, output}` is recorded and
//!   later turns get up to 10 of them (the 5 most recent in order, preceded by older ones newest
//!   first) as text parts of the system message (`prompt-builder.ts` `convertMemoriesToMessages`).
//!
//! Every other agent is stateless, as in AIGNE.

use std::collections::HashMap;
use std::sync::Mutex;

use serde_json::{Map, Value};

use crate::model::types::{ChatMessage, ContentPart};

use super::yaml::to_yaml_string;

/// Whether an `afs` value only mounts the `history` module (which the engine emulates).
pub fn is_history_only_afs(afs: &Value) -> bool {
    match afs {
        Value::Bool(false) => true,
        Value::Object(map) => {
            let modules_ok = match map.get("modules") {
                Some(Value::Array(modules)) => {
                    !modules.is_empty()
                        && modules.iter().all(|module| {
                            let name = match module {
                                Value::String(name) => Some(name.as_str()),
                                Value::Object(entry) => entry.get("module").and_then(Value::as_str),
                                _ => None,
                            };
                            name == Some("history")
                        })
                }
                _ => false,
            };
            modules_ok && map.keys().all(|key| key == "modules")
        }
        _ => false,
    }
}

/// Whether an agent keeps AFS history.
pub fn keeps_history(afs: Option<&Value>) -> bool {
    afs.is_some_and(|afs| afs.is_object() && is_history_only_afs(afs))
}

type Key = (String, String);

/// One remembered turn: `(input, output)`.
type Memory = (Map<String, Value>, Map<String, Value>);

/// Per-(session, agent) state.
#[derive(Default)]
pub struct SessionStore {
    history: Mutex<HashMap<Key, Vec<ChatMessage>>>,
    memories: Mutex<HashMap<Key, Vec<Memory>>>,
}

impl SessionStore {
    /// Earlier turns' messages for this session and agent.
    pub fn history(&self, session: &str, agent: &str) -> Vec<ChatMessage> {
        self.history
            .lock()
            .ok()
            .and_then(|map| map.get(&(session.to_owned(), agent.to_owned())).cloned())
            .unwrap_or_default()
    }

    /// Appends one turn's messages.
    pub fn append_history(&self, session: &str, agent: &str, messages: Vec<ChatMessage>) {
        if let Ok(mut map) = self.history.lock() {
            map.entry((session.to_owned(), agent.to_owned()))
                .or_default()
                .extend(messages);
        }
    }

    /// Records one turn for legacy memory.
    pub fn record_memory(
        &self,
        session: &str,
        agent: &str,
        input: Map<String, Value>,
        output: Map<String, Value>,
    ) {
        if let Ok(mut map) = self.memories.lock() {
            map.entry((session.to_owned(), agent.to_owned()))
                .or_default()
                .push((input, output));
        }
    }

    /// Legacy memories as system-message parts, as `convertMemoriesToMessages` builds them.
    pub fn memory_parts(
        &self,
        session: &str,
        agent: &str,
        input_key: Option<&str>,
        output_key: &str,
    ) -> Vec<ContentPart> {
        let all = self
            .memories
            .lock()
            .ok()
            .and_then(|map| map.get(&(session.to_owned(), agent.to_owned())).cloned())
            .unwrap_or_default();
        const LIMIT: usize = 10;
        const RECENT: usize = 5;
        let recent_start = all.len().saturating_sub(RECENT);
        let recent: Vec<usize> = (recent_start..all.len()).collect();
        let related: Vec<usize> = (0..all.len())
            .rev()
            .take(LIMIT)
            .filter(|index| !recent.contains(index))
            .collect();
        let chosen: Vec<usize> = related.into_iter().chain(recent).collect();
        let chosen = &chosen[chosen.len().saturating_sub(LIMIT)..];
        let text = |value: &Value| match value {
            Value::String(text) => text.clone(),
            other => to_yaml_string(other),
        };
        let mut parts = Vec::new();
        for &index in chosen {
            let (input, output) = &all[index];
            if input.is_empty() && output.is_empty() {
                continue;
            }
            let input_text = input_key
                .and_then(|key| input.get(key))
                .filter(|v| super::is_truthy_value(v))
                .map(text)
                .unwrap_or_else(|| text(&Value::Object(input.clone())));
            let output_text = output
                .get(output_key)
                .filter(|v| super::is_truthy_value(v))
                .map(text)
                .unwrap_or_else(|| text(&Value::Object(output.clone())));
            parts.push(ContentPart::Text { text: input_text });
            parts.push(ContentPart::Text { text: output_text });
        }
        parts
    }
}
