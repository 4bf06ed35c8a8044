//! Conversation state across turns of one `session` (cases with the same session id; a case
//! without one is a session of its own for the time it runs).
//!
//! AIGNE keeps state only for agents that ask for it. The native engine reproduces legacy
//! `memory` (the CLI's `DefaultMemory`): each turn's `{input, output}` is recorded and later turns
//! get up to 10 of them (the 5 most recent in order, preceded by older ones newest first) as text
//! parts of the system message (`prompt-builder.ts` `convertMemoriesToMessages`).
//!
//! Agents with an `afs` (e.g. a `history` module) are refused: besides the history, AIGNE offers
//! them its `afs_*` tools and extracts session facts with extra model calls, which this engine
//! does not do; `--engine auto` runs such projects in the node engine.

use std::collections::HashMap;
use std::sync::Mutex;

use serde_json::{Map, Value};

use crate::model::types::ContentPart;

use super::yaml::to_yaml_string;

/// A session and an agent instance: AIGNE keeps memory on the agent object, so two references to
/// one agent file from different teams (each loaded anew) remember apart, while a reflection loop
/// invoking the same member twice remembers across.
type Key = (String, usize);

/// One remembered turn: `(input, output)`.
type Memory = (Map<String, Value>, Map<String, Value>);

/// Per-(session, agent) state.
#[derive(Default)]
pub(super) struct SessionStore {
    memories: Mutex<HashMap<Key, Vec<Memory>>>,
}

impl SessionStore {
    /// Records one turn for legacy memory.
    pub(super) fn record_memory(
        &self,
        session: &str,
        agent: usize,
        input: Map<String, Value>,
        output: Map<String, Value>,
    ) {
        if let Ok(mut map) = self.memories.lock() {
            map.entry((session.to_owned(), agent))
                .or_default()
                .push((input, output));
        }
    }

    /// Drops what a session remembers (a case's own session, when the case ends).
    pub(super) fn forget(&self, session: &str) {
        if let Ok(mut map) = self.memories.lock() {
            map.retain(|(owner, _), _| owner != session);
        }
    }

    /// Legacy memories as system-message parts, as `convertMemoriesToMessages` builds them.
    pub(super) fn memory_parts(
        &self,
        session: &str,
        agent: usize,
        input_key: Option<&str>,
        output_key: &str,
    ) -> Vec<ContentPart> {
        let all = self
            .memories
            .lock()
            .ok()
            .and_then(|map| map.get(&(session.to_owned(), agent)).cloned())
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
