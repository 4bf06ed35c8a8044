//! [`InvokeError`]: why one agent invocation failed, naming the agent (and tool, file, feature).

use crate::model::ModelError;
use crate::project::{Location, ProjectError};

use super::js::JsError;

/// One invocation failed. [`InvokeError::kind`] is the short class written to results.
#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    /// The model call failed.
    #[error("agent `{agent}`: model call failed")]
    Model {
        /// The agent.
        agent: String,
        /// Why.
        #[source]
        source: Box<ModelError>,
    },
    /// An AI agent's model cannot be set up (missing key, unknown provider); found before the
    /// first case.
    #[error("agent `{agent}` at `{location}` cannot use its model")]
    ModelSetup {
        /// The agent.
        agent: String,
        /// Its file.
        location: String,
        /// Why.
        #[source]
        source: Box<ModelError>,
    },
    /// The agent failed on its last attempt of `retry_on_error` (AIGNE appends the count).
    #[error("{error} (after {attempts} retries)")]
    AfterRetries {
        /// The error of the last attempt.
        #[source]
        error: Box<InvokeError>,
        /// Attempts made (AIGNE counts the first one too).
        attempts: u32,
    },
    /// `retry_on_error` is not AIGNE's `boolean | {retries, minTimeout, factor, randomize}`.
    #[error("agent `{agent}`: invalid `retry_on_error`: {message}")]
    RetrySetting {
        /// The agent.
        agent: String,
        /// What is wrong.
        message: String,
    },
    /// No model is configured for an AI agent.
    #[error(
        "agent `{agent}`: no model configured (set `model` in `aigne.yaml`, `--model` or `MODEL`)"
    )]
    NoModel {
        /// The agent.
        agent: String,
    },
    /// The agent's own logic failed (AIGNE throws an `Error`).
    #[error("agent `{agent}`: {message}")]
    Agent {
        /// The agent.
        agent: String,
        /// AIGNE's message where there is one.
        message: String,
    },
    /// An instruction template failed to render.
    #[error("agent `{agent}`: template `{location}`: {message}")]
    Template {
        /// The agent.
        agent: String,
        /// The template file and line.
        location: Location,
        /// What went wrong.
        message: String,
    },
    /// A tool (skill) call failed and `catch_tools_error` is off.
    #[error("agent `{agent}`: tool `{tool}` failed")]
    Tool {
        /// The calling agent.
        agent: String,
        /// The tool.
        tool: String,
        /// Why.
        #[source]
        source: Box<InvokeError>,
    },
    /// Input or output does not match the agent's schema.
    /// Worded as AIGNE's `checkArguments` words it, since users assert on it.
    #[error("Agent {agent} {which} check arguments error: {message}")]
    Schema {
        /// The agent.
        agent: String,
        /// `input` or `output`.
        which: &'static str,
        /// The validator's messages.
        message: String,
    },
    /// The tool loop ran more model turns than allowed.
    #[error("agent `{agent}`: the tool loop exceeded {limit} model turns")]
    ToolTurns {
        /// The agent.
        agent: String,
        /// `--max-tool-turns`.
        limit: u32,
    },
    /// A loop the project configures reached aigne-ci's ceiling (reflection rounds, team
    /// iterations).
    #[error("agent `{agent}`: {what}; stopped at the ceiling of {limit} (`--{flag}`)")]
    LoopCeiling {
        /// The agent.
        agent: String,
        /// Which loop, and what the project asked for.
        what: String,
        /// The ceiling.
        limit: u64,
        /// The flag that sets it.
        flag: &'static str,
    },
    /// A JSONata expression failed.
    #[error("agent `{agent}`: jsonata: {message}")]
    Transform {
        /// The agent.
        agent: String,
        /// The evaluator's message.
        message: String,
    },
    /// The invocation ran out of time.
    #[error("agent `{agent}`: timed out")]
    Timeout {
        /// The agent.
        agent: String,
    },
    /// The project uses a feature the native engine does not run.
    #[error(
        "agent `{agent}` at `{location}` uses `{feature}`, which the native engine does not support"
    )]
    Unsupported {
        /// The agent.
        agent: String,
        /// The feature.
        feature: String,
        /// Where it is used.
        location: Location,
    },
    /// The agent to run does not exist (or the project has none).
    #[error(transparent)]
    Project(#[from] ProjectError),
    /// A JavaScript agent failed (the error names the agent).
    #[error(transparent)]
    Js(#[from] JsError),
    /// `--deny-exec` is set and the run would start a subprocess (checked before any case runs).
    #[error(
        "refusing to run with `--deny-exec`: agent `{}` at `{}` starts {}{}",
        .first.agent,
        .first.location,
        .first.what,
        more_suffix(.more)
    )]
    DenyExec {
        /// The first agent that needs a subprocess, its file and what it starts.
        first: Box<super::support::ExecUse>,
        /// The other agents that need one.
        more: Vec<String>,
    },
    /// An MCP server (`type: mcp`) could not be started or reached, or a call to it failed.
    #[error("agent `{agent}` at `{location}`: MCP server failed")]
    Mcp {
        /// The `type: mcp` agent.
        agent: String,
        /// Its file.
        location: Location,
        /// Why (names the server and tool).
        #[source]
        source: Box<crate::engine::mcp::McpError>,
    },
}

fn more_suffix(more: &[String]) -> String {
    if more.is_empty() {
        String::new()
    } else {
        format!(
            " (and {} more: {})",
            more.len(),
            more.iter()
                .map(|agent| format!("`{agent}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    }
}

impl InvokeError {
    /// A short class: `model`, `agent`, `template`, `tool`, `schema`, `timeout`, `unsupported`,
    /// `project`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Model { .. } | Self::ModelSetup { .. } | Self::NoModel { .. } => "model",
            Self::Agent { .. }
            | Self::ToolTurns { .. }
            | Self::LoopCeiling { .. }
            | Self::Transform { .. } => "agent",
            Self::Template { .. } => "template",
            Self::Tool { .. } => "tool",
            Self::Schema { .. } => "schema",
            Self::Timeout { .. } => "timeout",
            Self::Unsupported { .. } => "unsupported",
            Self::Project(_) | Self::DenyExec { .. } => "project",
            Self::Js(
                JsError::Thrown { .. }
                | JsError::Exited { .. }
                | JsError::Protocol { .. }
                | JsError::TooLarge { .. },
            ) => "agent",
            Self::Js(JsError::Timeout { .. }) => "timeout",
            Self::Js(_) => "project",
            Self::Mcp { .. } => "mcp",
            Self::AfterRetries { error, .. } => error.kind(),
            Self::RetrySetting { .. } => "project",
        }
    }

    /// Whether this is a configuration problem of the whole run (exit 2) rather than a failed
    /// case: an unsupported feature, a missing agent, no model.
    pub fn is_configuration_error(&self) -> bool {
        match self {
            Self::Unsupported { .. }
            | Self::Project(_)
            | Self::NoModel { .. }
            | Self::RetrySetting { .. }
            | Self::DenyExec { .. } => true,
            Self::AfterRetries { error, .. } => error.is_configuration_error(),
            // `--deny-exec` against a project that starts servers is a setting of the run.
            Self::Mcp { source, .. } => matches!(
                source.as_ref(),
                crate::engine::mcp::McpError::DenyExec { .. }
                    | crate::engine::mcp::McpError::NoServer
            ),
            // A JS file that does not load, or no way to run it, stops the run.
            Self::Js(error) => matches!(
                error,
                JsError::Denied { .. }
                    | JsError::NodeMissing { .. }
                    | JsError::Spawn { .. }
                    | JsError::WriteScript { .. }
                    | JsError::Load { .. }
                    | JsError::NotCallable { .. }
            ),
            _ => false,
        }
    }

    /// Whether an aigne-ci limit on untrusted output stopped it (a tool reply over
    /// `--max-tool-result`): such an error fails the case even under `catch_tools_error`.
    pub fn is_limit(&self) -> bool {
        match self {
            Self::Js(JsError::TooLarge { .. }) => true,
            Self::Mcp { source, .. } => source.is_limit(),
            Self::Tool { source, .. } | Self::AfterRetries { error: source, .. } => {
                source.is_limit()
            }
            _ => false,
        }
    }

    /// The error's `message` as the official runtime words it where it raises this error itself
    /// (an agent's own `Error`, a JavaScript function's, a schema check, a failed tool's error
    /// passed on, with ` (after N retries)`); else our message and its causes.
    pub fn runtime_message(&self) -> String {
        match self {
            Self::Agent { message, .. } | Self::Js(JsError::Thrown { message, .. }) => {
                message.clone()
            }
            // `StructuredOutputError` (a reply that does not fit the schema), after AIGNE's
            // retries of the model call.
            Self::Model { source, .. } => match source.as_ref() {
                ModelError::StructuredOutput { message, .. } => message.clone(),
                ModelError::Retried { retries, source } => match source.as_ref() {
                    ModelError::StructuredOutput { message, .. } => {
                        format!("{message} (after {retries} retries)")
                    }
                    _ => crate::text::error_chain(self),
                },
                _ => crate::text::error_chain(self),
            },
            // With `catch_tools_error: false` AIGNE throws the tool's error itself (an
            // aigne-ci limit keeps naming the tool: the runtime has no such error).
            Self::Tool { source, .. } if !source.is_limit() => source.runtime_message(),
            Self::AfterRetries { error, attempts } => {
                format!("{} (after {attempts} retries)", error.runtime_message())
            }
            other => crate::text::error_chain(other),
        }
    }

    /// The message AIGNE would put in a tool error result (`{isError, error: {message}}`):
    /// the runtime's own message, without our agent prefix.
    pub(crate) fn tool_message(&self) -> String {
        match self {
            Self::Agent { message, .. }
            | Self::Transform { message, .. }
            | Self::Js(JsError::Thrown { message, .. }) => {
                return message.clone();
            }
            // AIGNE's error as the last attempt threw it, with our count of retries.
            Self::AfterRetries { error, attempts } => {
                return format!("{} (after {attempts} retries)", error.tool_message());
            }
            // The MCP error names server and tool already.
            Self::Mcp { source, .. } => {
                let mut message = source.to_string();
                let mut inner = std::error::Error::source(source.as_ref());
                while let Some(error) = inner {
                    message.push_str(": ");
                    message.push_str(&error.to_string());
                    inner = error.source();
                }
                return message;
            }
            _ => {}
        }
        let mut message = self.to_string();
        let mut source = std::error::Error::source(self);
        while let Some(inner) = source {
            message.push_str(": ");
            message.push_str(&inner.to_string());
            source = inner.source();
        }
        message
    }
}

impl crate::hint::Hint for InvokeError {
    fn hint(&self) -> Option<String> {
        match self {
            Self::Unsupported { .. } => Some(
                "run `aigne-ci inspect` to list the features the project uses; `--engine node` runs it with the official AIGNE runtime".to_owned(),
            ),
            Self::DenyExec { .. } => Some(
                "drop `--deny-exec` (`AIGNE_CI_DENY_EXEC`) to let the project start these subprocesses, or run an agent that needs none".to_owned(),
            ),
            Self::ToolTurns { .. } => Some("raise `--max-tool-turns` if the agent needs more turns".to_owned()),
            Self::LoopCeiling { flag, .. } => Some(format!("raise `--{flag}` if the project really needs more")),
            Self::Project(error) => crate::hint::Hint::hint(error),
            Self::Js(error) => error.hint(),
            Self::Mcp { source, .. } => crate::hint::Hint::hint(source.as_ref()),
            Self::ModelSetup { source, .. } => crate::hint::Hint::hint(source.as_ref()),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Results record the runtime's own text (as `aigne run` and the node engine report it);
    /// diagnostics keep naming the agent and the tool.
    #[test]
    fn runtime_messages_drop_our_context() {
        let thrown = InvokeError::Js(JsError::Thrown {
            agent: "evaluate".to_owned(),
            message: "cannot evaluate 2^8".to_owned(),
            stack: None,
        });
        let tool = InvokeError::Tool {
            agent: "assistant".to_owned(),
            tool: "evaluate".to_owned(),
            source: Box::new(thrown),
        };
        assert_eq!(tool.runtime_message(), "cannot evaluate 2^8");
        assert!(
            crate::text::error_chain(&tool)
                .starts_with("agent `assistant`: tool `evaluate` failed")
        );
        let retried = InvokeError::AfterRetries {
            error: Box::new(InvokeError::Agent {
                agent: "checked".to_owned(),
                message: "User message cannot be empty.".to_owned(),
            }),
            attempts: 3,
        };
        assert_eq!(
            retried.runtime_message(),
            "User message cannot be empty. (after 3 retries)"
        );
        let timeout = InvokeError::Timeout {
            agent: "slow".to_owned(),
        };
        assert_eq!(timeout.runtime_message(), "agent `slow`: timed out");
    }
}
