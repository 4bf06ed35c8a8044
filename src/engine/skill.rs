//! [`Skill`]: what an AI agent can call as a tool — another agent, or one tool of an MCP server
//! (AIGNE `prompt-builder.ts` `buildTools`: global skills, then the agent's own; each MCP agent,
//! not invokable itself, is replaced by its server's tools; de-duplicated by name, first wins).

use std::sync::Arc;

use serde_json::{Map, Value, json};

use crate::model::types::ToolDefinition;
use crate::project::{AgentDef, AgentKind};

use super::error::InvokeError;
use super::mcp::{McpConnection, McpServerSpec, McpTool};
use super::prompt::tool_definition;
use super::schema::{is_empty_object, to_model_schema, validate};
use super::{Engine, Run};

/// One tool offered to the model.
#[derive(Clone)]
pub(super) enum Skill {
    /// An agent (its input schema is the tool's parameters).
    Agent(Arc<AgentDef>),
    /// A tool of a connected MCP server; `agent` is the `type: mcp` agent that brought it.
    Mcp {
        agent: Arc<AgentDef>,
        connection: Arc<McpConnection>,
        tool: McpTool,
    },
}

impl Skill {
    /// The tool name the model sees.
    pub(super) fn name(&self) -> &str {
        match self {
            Self::Agent(agent) => &agent.name,
            Self::Mcp { tool, .. } => &tool.name,
        }
    }

    /// The tool definition sent to the model.
    pub(super) fn definition(&self) -> ToolDefinition {
        match self {
            Self::Agent(agent) => tool_definition(agent),
            Self::Mcp { tool, .. } => ToolDefinition {
                name: tool.name.clone(),
                description: tool.description.clone(),
                parameters: if is_empty_object(&tool.input_schema) {
                    json!({})
                } else {
                    to_model_schema(&tool.input_schema)
                },
            },
        }
    }
}

impl Engine {
    /// The skills of an AI agent: global skills, then its own, MCP agents expanded into their
    /// servers' tools (connecting once per run), de-duplicated by name.
    pub(super) async fn skills(&self, agent: &AgentDef) -> Result<Vec<Skill>, InvokeError> {
        let mut skills: Vec<Skill> = Vec::new();
        for candidate in self.project.skills.iter().chain(agent.skills.iter()) {
            let expanded = match &candidate.kind {
                AgentKind::Mcp { server } => {
                    let connection = self.connect_mcp(candidate, server).await?;
                    connection
                        .tools()
                        .iter()
                        .map(|tool| Skill::Mcp {
                            agent: candidate.clone(),
                            connection: connection.clone(),
                            tool: tool.clone(),
                        })
                        .collect()
                }
                // A JS file is offered under the name its default export carries.
                _ => vec![Skill::Agent(self.resolve_js(candidate).await?)],
            };
            for skill in expanded {
                if !skills.iter().any(|seen| seen.name() == skill.name()) {
                    skills.push(skill);
                }
            }
        }
        Ok(skills)
    }

    /// Connects to the servers of the `type: mcp` agents among `agents`, concurrently (once per
    /// run: the connections are kept for the cases), as AIGNE connects when it loads a project.
    /// The first failure, in the order of `agents`, is returned.
    pub async fn connect_mcp_agents(
        &self,
        agents: &[Arc<AgentDef>],
    ) -> Result<Vec<Arc<McpConnection>>, InvokeError> {
        let connected =
            futures::future::join_all(agents.iter().filter_map(|agent| match &agent.kind {
                AgentKind::Mcp { server } => Some(self.connect_mcp(agent, server)),
                _ => None,
            }))
            .await;
        let mut connections: Vec<Arc<McpConnection>> = Vec::new();
        for connection in connected {
            let connection = connection?;
            if !connections
                .iter()
                .any(|known| Arc::ptr_eq(known, &connection))
            {
                connections.push(connection);
            }
        }
        Ok(connections)
    }

    /// The run's connection to an MCP agent's server.
    pub(super) async fn connect_mcp(
        &self,
        agent: &AgentDef,
        server: &Map<String, Value>,
    ) -> Result<Arc<McpConnection>, InvokeError> {
        let spec =
            McpServerSpec::from_agent_keys(server).map_err(|message| InvokeError::Agent {
                agent: agent.name.clone(),
                message,
            })?;
        self.mcp
            .connect(&spec)
            .await
            .map_err(|source| InvokeError::Mcp {
                agent: agent.name.clone(),
                location: agent.location(),
                source: Box::new(source),
            })
    }

    /// Runs one skill on `input` (the parent's input with the tool arguments on top).
    pub(super) async fn invoke_skill(
        &self,
        run: &Run,
        skill: &Skill,
        input: Map<String, Value>,
        inherited: Option<&crate::project::ModelConfig>,
    ) -> Result<Map<String, Value>, InvokeError> {
        match skill {
            Skill::Agent(agent) => self.invoke_agent(run, agent, input, inherited).await,
            Skill::Mcp {
                agent,
                connection,
                tool,
            } => {
                // AIGNE validates the input against the tool's schema (passthrough: extra keys,
                // such as the parent's input, are kept and sent along).
                if !is_empty_object(&tool.input_schema) {
                    validate(&tool.input_schema, &Value::Object(input.clone())).map_err(
                        |message| InvokeError::Schema {
                            agent: tool.name.clone(),
                            which: "input",
                            message,
                        },
                    )?;
                }
                let recorded = run.transcript.as_ref().map(|transcript| {
                    let id = transcript.begin_invocation(
                        super::transcript_parent(),
                        &tool.name,
                        "mcp_tool",
                        &Value::Object(input.clone()),
                    );
                    (transcript, id)
                });
                let result = connection.call(&tool.name, input).await;
                if let Some((transcript, id)) = recorded {
                    match &result {
                        Ok(output) => transcript.end_invocation(id, Ok(output)),
                        Err(error) => transcript.end_invocation(id, Err(super::error_text(error))),
                    }
                }
                let result = result.map_err(|source| InvokeError::Mcp {
                    agent: agent.name.clone(),
                    location: agent.location(),
                    source: Box::new(source),
                })?;
                Ok(match result {
                    Value::Object(map) => map,
                    _ => Map::new(),
                })
            }
        }
    }
}
