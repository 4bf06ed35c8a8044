//! `type: team` (AIGNE `agents/team-agent.ts`): members invoked directly, sequentially or in
//! parallel, optionally over the items of an input array (`iterate_on`), optionally reviewed
//! (`reflection`).
//!
//! AIGNE streams chunks between members; every member's stream ends with its whole output as a
//! JSON delta, so merging whole outputs (shallow, later wins) gives the same result.

use std::sync::Arc;

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use serde_json::{Map, Value};

use crate::project::{AgentDef, ModelConfig, TeamAgentDef, TeamMode, is_truthy};

use super::error::InvokeError;
use super::{Engine, Run};

impl Engine {
    pub(super) async fn run_team(
        &self,
        run: &Run,
        agent: &Arc<AgentDef>,
        team: &TeamAgentDef,
        input: &Map<String, Value>,
        inherited: Option<&ModelConfig>,
    ) -> Result<Map<String, Value>, InvokeError> {
        if agent.skills.is_empty() {
            return Err(InvokeError::Agent {
                agent: agent.name.clone(),
                message: "TeamAgent must have at least one skill defined.".to_owned(),
            });
        }
        let child_model = agent.model.as_ref().or(inherited);
        let Some(reflection) = &team.reflection else {
            return self
                .team_round(run, agent, team, input.clone(), child_model)
                .await;
        };
        let mut state = input.clone();
        let mut iterations = 0;
        loop {
            let output = self
                .team_round(run, agent, team, state.clone(), child_model)
                .await?;
            merge_into(&mut state, &output);
            let review = self
                .invoke_agent(run, &reflection.reviewer, state.clone(), child_model)
                .await?;
            merge_into(&mut state, &review);
            if review.get(&reflection.is_approved).is_some_and(is_truthy) {
                return Ok(output);
            }
            iterations += 1;
            if iterations >= self.settings.max_reflection_rounds
                && iterations < reflection.max_iterations
            {
                // The project asks for more rounds than a CI run allows (a runaway review loop
                // spends a model call per member and round).
                return Err(InvokeError::LoopCeiling {
                    agent: agent.name.clone(),
                    what: format!(
                        "the reflection was not approved after {iterations} rounds (`max_iterations: {}`)",
                        reflection.max_iterations
                    ),
                    limit: self.settings.max_reflection_rounds,
                    flag: "max-reflection-rounds",
                });
            }
            if iterations >= reflection.max_iterations {
                if reflection.return_last_on_max_iterations {
                    return Ok(output);
                }
                return Err(InvokeError::Agent {
                    agent: agent.name.clone(),
                    message: reflection.custom_error_message.clone().unwrap_or_else(|| {
                        format!(
                            "Reflection mode exceeded max iterations {}. Please review the feedback and try again.",
                            reflection.max_iterations
                        )
                    }),
                });
            }
        }
    }

    /// One run of the team without reflection: `iterate_on` or the mode directly.
    async fn team_round(
        &self,
        run: &Run,
        agent: &Arc<AgentDef>,
        team: &TeamAgentDef,
        input: Map<String, Value>,
        child_model: Option<&ModelConfig>,
    ) -> Result<Map<String, Value>, InvokeError> {
        let Some(key) = &team.iterate_on else {
            return self.team_mode(run, agent, team, input, child_model).await;
        };
        let mut items: Vec<Value> = match input.get(key) {
            Some(Value::Array(items)) => items.clone(),
            // (quirk) nil becomes `[nil]`, which then fails the object check.
            None | Some(Value::Null) => vec![Value::Null],
            Some(_) => Vec::new(),
        };
        if items.len() as u64 > self.settings.max_team_iterations {
            return Err(InvokeError::LoopCeiling {
                agent: agent.name.clone(),
                what: format!("`iterate_on: {key}` has {} items", items.len()),
                limit: self.settings.max_team_iterations,
                flag: "max-team-iterations",
            });
        }
        let mut results: Vec<Option<Map<String, Value>>> = vec![None; items.len()];
        let iteration_input = |items: &Vec<Value>, item: &Map<String, Value>| {
            let mut merged = input.clone();
            merged.insert(key.clone(), Value::Array(items.clone()));
            for (k, v) in item {
                merged.insert(k.clone(), v.clone());
            }
            merged
        };
        let item_object = |item: &Value| match item {
            Value::Object(map) => Ok(map.clone()),
            other => Err(InvokeError::Agent {
                agent: agent.name.clone(),
                message: format!("Expected {key} to be an object, got {}", js_typeof(other)),
            }),
        };
        if team.iterate_with_previous_output || team.concurrency <= 1 {
            for index in 0..items.len() {
                let item = item_object(&items[index])?;
                let output = self
                    .team_mode(
                        run,
                        agent,
                        team,
                        iteration_input(&items, &item),
                        child_model,
                    )
                    .await?;
                let mut result = output;
                result.shift_remove(key);
                if team.iterate_with_previous_output
                    && let Value::Object(previous) = &mut items[index]
                {
                    merge_into(previous, &result);
                }
                results[index] = Some(result);
            }
        } else {
            let concurrency = team.concurrency as usize;
            let mut pending = FuturesUnordered::new();
            let mut next = 0;
            let snapshot = items.clone();
            // After a failure no item starts (fastq's `killAndDrain`), but the items running
            // finish, as AIGNE's promises do; then the first failure is the team's.
            let mut failure = None;
            loop {
                while failure.is_none() && pending.len() < concurrency && next < snapshot.len() {
                    let index = next;
                    next += 1;
                    let item = match item_object(&snapshot[index]) {
                        Ok(item) => item,
                        Err(error) => {
                            failure = Some(error);
                            break;
                        }
                    };
                    let member_input = iteration_input(&snapshot, &item);
                    pending.push(async move {
                        (
                            index,
                            self.team_mode(run, agent, team, member_input, child_model)
                                .await,
                        )
                    });
                }
                let Some((index, output)) = pending.next().await else {
                    break;
                };
                match output {
                    Ok(mut result) => {
                        result.shift_remove(key);
                        results[index] = Some(result);
                    }
                    Err(error) => {
                        failure.get_or_insert(error);
                    }
                }
            }
            if let Some(error) = failure {
                return Err(error);
            }
        }
        let results = results
            .into_iter()
            .map(|result| Value::Object(result.unwrap_or_default()))
            .collect();
        let mut output = Map::new();
        output.insert(key.clone(), Value::Array(results));
        Ok(output)
    }

    /// `sequential` or `parallel` over the members.
    async fn team_mode(
        &self,
        run: &Run,
        agent: &Arc<AgentDef>,
        team: &TeamAgentDef,
        input: Map<String, Value>,
        child_model: Option<&ModelConfig>,
    ) -> Result<Map<String, Value>, InvokeError> {
        match team.mode {
            TeamMode::Sequential => {
                let mut accumulated = Map::new();
                let mut emitted = Map::new();
                let last = agent.skills.len() - 1;
                for (index, member) in agent.skills.iter().enumerate() {
                    let mut member_input = input.clone();
                    merge_into(&mut member_input, &accumulated);
                    let output = self
                        .invoke_agent(run, member, member_input, child_model)
                        .await?;
                    if team.include_all_steps_output || index == last {
                        merge_into(&mut emitted, &output);
                    }
                    merge_into(&mut accumulated, &output);
                }
                Ok(emitted)
            }
            TeamMode::Parallel => {
                let mut pending: FuturesUnordered<_> = agent
                    .skills
                    .iter()
                    .map(|member| self.invoke_agent(run, member, input.clone(), child_model))
                    .collect();
                // Outputs merge in completion order (later arrivals overwrite), as AIGNE's
                // interleaved JSON deltas do.
                // A member that fails does not stop the others: AIGNE has started them all (their
                // model requests are on the way) and a promise cannot be cancelled. They finish,
                // then the first failure is the team's.
                let mut merged = Map::new();
                let mut failure = None;
                while let Some(output) = pending.next().await {
                    match output {
                        Ok(output) if failure.is_none() => merge_into(&mut merged, &output),
                        Ok(_) => {}
                        Err(error) => {
                            failure.get_or_insert(error);
                        }
                    }
                }
                match failure {
                    Some(error) => Err(error),
                    None => Ok(merged),
                }
            }
        }
    }
}

fn merge_into(target: &mut Map<String, Value>, source: &Map<String, Value>) {
    for (key, value) in source {
        target.insert(key.clone(), value.clone());
    }
}

fn js_typeof(value: &Value) -> &'static str {
    match value {
        Value::Null => "undefined",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) | Value::Object(_) => "object",
    }
}
