//! `type: ai` (AIGNE `agents/ai-agent.ts` `_process`, `_processRouter`): build the request, call
//! the model, run tool calls through skills, loop until the model answers without tools.

use std::sync::Arc;

use futures::StreamExt;
use serde_json::{Map, Value, json};

use crate::model::types::{ChatMessage, ChatRequest, Content, ContentPart, Role, ToolCall};
use crate::project::{AgentDef, AiAgentDef, ModelConfig, ToolChoiceDef};

use super::error::InvokeError;
use super::prompt::{build_messages, resolve_getters, response_format, tool_choice};
use super::skill::Skill;
use super::yaml::to_yaml_string;
use super::{Engine, Run};

/// AIGNE's default `output_key`.
pub(super) const DEFAULT_OUTPUT_KEY: &str = "message";

impl Engine {
    pub(super) async fn run_ai(
        &self,
        run: &Run,
        agent: &Arc<AgentDef>,
        ai: &AiAgentDef,
        input: &Map<String, Value>,
        inherited: Option<&ModelConfig>,
    ) -> Result<Map<String, Value>, InvokeError> {
        let spec = self.model_spec(agent, inherited, input);
        let model = self
            .models
            .resolve(&spec)
            .map_err(|source| InvokeError::Model {
                agent: agent.name.clone(),
                source: Box::new(source),
            })?;
        let model_options = match resolve_getters(&Value::Object(spec.options.clone()), input) {
            Some(Value::Object(options)) => options,
            _ => Map::new(),
        };
        let output_key = ai.output_key.as_deref().unwrap_or(DEFAULT_OUTPUT_KEY);

        let memory_session = run.session.as_deref().filter(|_| agent.memory.is_some());
        let memory_parts = memory_session
            .map(|session| {
                self.sessions.memory_parts(
                    session,
                    memory_owner(agent),
                    ai.input_key.as_deref(),
                    output_key,
                )
            })
            .unwrap_or_default();
        let built = build_messages(agent, input, memory_parts, &self.project.files)?;

        // MCP agents are replaced by their servers' tools (connected once per run).
        let tools = self.skills(agent).await?;
        let definitions: Vec<_> = tools.iter().map(Skill::definition).collect();
        let mut request = ChatRequest {
            messages: Vec::new(),
            tool_choice: tool_choice(ai.tool_choice, !definitions.is_empty()),
            tools: definitions,
            response_format: response_format(agent.output_schema.as_ref()),
            model_options,
            case_label: Some(run.case_label.clone()),
        };
        let prefix: Vec<ChatMessage> = built.system.clone().into_iter().collect();
        // Children inherit this agent's model, else what this agent inherited.
        let child_model = agent.model.as_ref().or(inherited);

        if ai.tool_choice == Some(ToolChoiceDef::Router) {
            request.messages = prefix;
            request.messages.push(built.user.clone());
            let response = self
                .call_model(run, agent, model.as_ref(), request.clone())
                .await?;
            let Some(call) = response.tool_calls.first() else {
                return Err(InvokeError::Agent {
                    agent: agent.name.clone(),
                    message: "Router toolChoice requires exactly one tool to be executed"
                        .to_owned(),
                });
            };
            let tool = find_tool(agent, &tools, &call.name)?;
            // Router: arguments, then the input (input wins).
            let mut tool_input = arguments_object(&call.arguments);
            for (key, value) in input {
                tool_input.insert(key.clone(), value.clone());
            }
            return self.invoke_skill(run, &tool, tool_input, child_model).await;
        }

        let mut turn: Vec<ChatMessage> = vec![built.user.clone()];
        let mut turns = 0u32;
        loop {
            turns += 1;
            if turns > self.settings.max_tool_turns {
                return Err(InvokeError::ToolTurns {
                    agent: agent.name.clone(),
                    limit: self.settings.max_tool_turns,
                });
            }
            request.messages = prefix.iter().chain(turn.iter()).cloned().collect();
            let response = self
                .call_model(run, agent, model.as_ref(), request.clone())
                .await?;
            let text = response.text.clone().unwrap_or_default();
            if !text.is_empty() {
                // Thoughts are dropped from later requests (`getMessages` filters them).
                turn.push(ChatMessage {
                    role: Role::Agent,
                    content: Some(Content::Parts(vec![ContentPart::Text {
                        text: text.clone(),
                    }])),
                    tool_calls: Vec::new(),
                    tool_call_id: None,
                    name: None,
                });
            }
            if !response.tool_calls.is_empty() {
                let calls: Vec<(ToolCall, Skill)> = response
                    .tool_calls
                    .iter()
                    .map(|call| Ok((call.clone(), find_tool(agent, &tools, &call.name)?)))
                    .collect::<Result<_, InvokeError>>()?;
                let concurrency = ai.tool_calls_concurrency.unwrap_or(1).max(1) as usize;
                let results = futures::stream::iter(calls.into_iter().map(|(call, tool)| {
                    let mut tool_input = input.clone();
                    for (key, value) in arguments_object(&call.arguments) {
                        tool_input.insert(key, value);
                    }
                    async move {
                        let result = self
                            .invoke_skill_with_hooks(run, agent, &tool, tool_input, child_model)
                            .await;
                        (call, tool, result)
                    }
                }))
                .buffer_unordered(concurrency)
                .collect::<Vec<_>>()
                .await;
                let mut tool_messages = Vec::new();
                for (call, tool, result) in results {
                    let output = match result {
                        Ok(output) => Value::Object(output),
                        Err(error) if error.is_configuration_error() => return Err(error),
                        // A limit of aigne-ci's (a reply over `--max-tool-result`) fails the
                        // case: the model is not asked to work around it.
                        Err(error) if ai.catch_tools_error && !error.is_limit() => {
                            json!({"isError": true, "error": {"message": error.tool_message()}})
                        }
                        Err(error) => {
                            return Err(InvokeError::Tool {
                                agent: agent.name.clone(),
                                tool: tool.name().to_owned(),
                                source: Box::new(error),
                            });
                        }
                    };
                    tool_messages.push(ChatMessage {
                        role: Role::Tool,
                        content: Some(Content::Parts(vec![ContentPart::Text {
                            text: to_yaml_string(&output),
                        }])),
                        tool_calls: Vec::new(),
                        tool_call_id: Some(call.id.clone()),
                        name: None,
                    });
                }
                turn.push(ChatMessage {
                    role: Role::Agent,
                    content: None,
                    tool_calls: response.tool_calls.clone(),
                    tool_call_id: None,
                    name: None,
                });
                turn.extend(tool_messages);
                continue;
            }
            let mut result = Map::new();
            if let Some(Value::Object(json)) = &response.json {
                for (key, value) in json {
                    result.insert(key.clone(), value.clone());
                }
            }
            if !text.is_empty() {
                result.insert(output_key.to_owned(), Value::String(text));
            }
            if let Some(session) = memory_session {
                self.sessions.record_memory(
                    session,
                    memory_owner(agent),
                    input.clone(),
                    result.clone(),
                );
            }
            return Ok(result);
        }
    }

    async fn call_model(
        &self,
        run: &Run,
        agent: &AgentDef,
        model: &dyn crate::model::ChatModel,
        request: ChatRequest,
    ) -> Result<crate::model::types::ChatResponse, InvokeError> {
        let pending = run.transcript.as_ref().map(|transcript| {
            let sent = serde_json::to_value(&request).unwrap_or(Value::Null);
            transcript.begin_model_call(
                super::transcript_parent(),
                model.provider(),
                model.model(),
                &sent,
            )
        });
        let result = model.complete(request).await;
        if let (Some(transcript), Some(pending)) = (&run.transcript, pending) {
            match &result {
                Ok(response) => {
                    let usage = serde_json::to_value(response.usage).unwrap_or(Value::Null);
                    let mut answer = serde_json::to_value(response).unwrap_or(Value::Null);
                    if let Value::Object(answer) = &mut answer {
                        answer.remove("usage");
                        answer.remove("attempts");
                    }
                    transcript.end_model_call(
                        pending,
                        Ok((&answer, &usage)),
                        Some(response.attempts),
                    );
                }
                Err(error) => transcript.end_model_call(
                    pending,
                    Err(super::error_text(error)),
                    error.attempts(),
                ),
            }
        }
        let response = result.map_err(|source| InvokeError::Model {
            agent: agent.name.clone(),
            source: Box::new(source),
        })?;
        run.record_call(
            &response.usage,
            response
                .model
                .clone()
                .or_else(|| Some(model.model().to_owned())),
        );
        Ok(response)
    }
}

fn find_tool(agent: &AgentDef, tools: &[Skill], name: &str) -> Result<Skill, InvokeError> {
    tools
        .iter()
        .find(|tool| tool.name() == name)
        .cloned()
        .ok_or_else(|| InvokeError::Agent {
            agent: agent.name.clone(),
            message: format!("Tool not found: {name}"),
        })
}

fn arguments_object(arguments: &Value) -> Map<String, Value> {
    match arguments {
        Value::Object(map) => map.clone(),
        _ => Map::new(),
    }
}

/// The agent instance whose memory a turn belongs to (see `session::Key`).
fn memory_owner(agent: &Arc<AgentDef>) -> usize {
    Arc::as_ptr(agent) as usize
}
