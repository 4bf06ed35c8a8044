//! AIGNE's lifecycle hooks (`hooks:`, spec §2.7), as `Agent.callHooks` runs them: the hook
//! entries of the agent sorted by priority (`high`, `medium`, `low`; stable), each entry's agents
//! for the slots asked for, in that order, each invoked with the event's payload plus `agent`;
//! their outputs shallow-merged; a truthy `retry` stops the rest.
//!
//! The payload's `agent` (and `skill`) is, in AIGNE, the agent object itself; here it is
//! `{name}` (what a hook agent can read of it in a template or JSONata); an `error` is
//! `{message}` (AIGNE's `Error` carries its `message`).

use std::sync::Arc;

use serde_json::{Map, Value, json};

use crate::project::{AgentDef, ModelConfig};

use super::skill::Skill;
use super::{Engine, InvokeError, Run, is_truthy_value};

/// Most times an `on_error` hook's `retry` runs an agent again (AIGNE has no bound).
pub(super) const MAX_HOOK_RETRIES: u32 = 64;

/// A hook slot, as the loader camelizes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Slot {
    Start,
    Success,
    Error,
    End,
    SkillStart,
    SkillEnd,
}

impl Slot {
    fn key(self) -> &'static str {
        match self {
            Self::Start => "onStart",
            Self::Success => "onSuccess",
            Self::Error => "onError",
            Self::End => "onEnd",
            Self::SkillStart => "onSkillStart",
            Self::SkillEnd => "onSkillEnd",
        }
    }

    /// The slot as a project file names it (`hooks: [{on_start: …}]`), for transcripts.
    pub(super) fn yaml_name(self) -> &'static str {
        match self {
            Self::Start => "on_start",
            Self::Success => "on_success",
            Self::Error => "on_error",
            Self::End => "on_end",
            Self::SkillStart => "on_skill_start",
            Self::SkillEnd => "on_skill_end",
        }
    }
}

/// `{name}`: what a hook sees of an agent.
pub(super) fn agent_ref(agent: &AgentDef) -> Value {
    json!({ "name": agent.name })
}

/// `{message}`: what a hook sees of an error.
pub(super) fn error_ref(error: &InvokeError) -> Value {
    json!({ "message": error.tool_message() })
}

fn priority_rank(priority: &str) -> u8 {
    match priority {
        "high" => 0,
        "medium" => 1,
        _ => 2,
    }
}

impl Engine {
    /// `callHooks(slots, payload)` of `agent`: runs each hook agent through
    /// [`Engine::invoke_hook`] and returns the merged outputs (empty when the agent has none).
    pub(super) async fn call_hooks(
        &self,
        run: &Run,
        agent: &AgentDef,
        slots: &[Slot],
        payload: Map<String, Value>,
    ) -> Result<Map<String, Value>, InvokeError> {
        let mut result = Map::new();
        if agent.hooks.is_empty() {
            return Ok(result);
        }
        let mut entries: Vec<_> = agent.hooks.iter().collect();
        entries.sort_by_key(|entry| priority_rank(&entry.priority));
        let mut hook_agents: Vec<(Slot, Arc<AgentDef>)> = Vec::new();
        for entry in entries {
            for slot in slots {
                if let Some((_, hook)) = entry.slots.iter().find(|(name, _)| name == slot.key()) {
                    hook_agents.push((*slot, Arc::clone(hook)));
                }
            }
        }
        for (slot, hook) in hook_agents {
            let mut input = payload.clone();
            input.insert("agent".to_owned(), agent_ref(agent));
            let output = self.invoke_hook(run, slot, &hook, input).await?;
            result.extend(output);
            if result.get("retry").is_some_and(is_truthy_value) {
                return Ok(result);
            }
        }
        Ok(result)
    }

    /// AIGNE's `invokeSkill`: a tool call of `caller`'s tool loop between its `on_skill_start`
    /// and `on_skill_end` hooks.
    pub(super) async fn invoke_skill_with_hooks(
        &self,
        run: &Run,
        caller: &AgentDef,
        skill: &Skill,
        input: Map<String, Value>,
        inherited: Option<&ModelConfig>,
    ) -> Result<Map<String, Value>, InvokeError> {
        if caller.hooks.is_empty() {
            return self.invoke_skill(run, skill, input, inherited).await;
        }
        let skill_ref = json!({ "name": skill.name() });
        let payload = Map::from_iter([
            ("skill".to_owned(), skill_ref),
            ("input".to_owned(), Value::Object(input.clone())),
        ]);
        self.call_hooks(run, caller, &[Slot::SkillStart], payload.clone())
            .await?;
        let result = self.invoke_skill(run, skill, input, inherited).await;
        let mut ended = payload;
        match &result {
            Ok(output) => ended.insert("output".to_owned(), Value::Object(output.clone())),
            Err(error) => ended.insert("error".to_owned(), error_ref(error)),
        };
        self.call_hooks(run, caller, &[Slot::SkillEnd], ended)
            .await?;
        result
    }

    /// One hook agent's invocation (AIGNE's `context.invoke(hook, {...payload, agent})`): a full
    /// agent invocation of its own, recorded in the transcript under the hooked agent's.
    pub(super) async fn invoke_hook(
        &self,
        run: &Run,
        slot: Slot,
        hook: &Arc<AgentDef>,
        input: Map<String, Value>,
    ) -> Result<Map<String, Value>, InvokeError> {
        self.invoke_agent_as(run, hook, input, None, Some(slot.yaml_name()))
            .await
    }
}
