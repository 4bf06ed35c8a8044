//! `aigne-ci inspect SOURCE`: fetch (stage 1) and load (stage 2) a project, and print JSON on
//! stdout describing its agents, the model each would use, and every feature it uses with
//! whether the native engine runs it.
//!
//! Output (`format_version` 1):
//! `{format_version, source, project_dir, sha256, cache_hit, project {name, description, file,
//! model}, agents [{name, type, description, file, line, alias, lists, input_schema,
//! output_schema, skills, model {spec, provider, name, supported} | {spec, error}}], features
//! [{feature, agent, file, line, supported, note?}], native {supported, unsupported [..]},
//! mcp_servers [{agent, file, line, transport, server, connected, name?, version?, tools
//! [{name, description}], error?}]}`.
//!
//! Each MCP server of a `type: mcp` agent is connected to (stdio servers started as `run` starts
//! them; not with `--deny-exec`), its tools listed, and shut down; a server that cannot be
//! started or reached, or does not answer within `MCP_TIMEOUT`, is reported with the reason.
//! The servers and their tools are also logged on stderr, for people.

use std::io::Write;
use std::sync::Arc;

use serde_json::{Map, Value, json};

use crate::cli::InspectArgs;
use crate::engine::mcp::{McpHttpTransport, McpPool, McpServerSpec, McpSettings};
use crate::engine::support;
use crate::error::Error;
use crate::exit_status::ExitStatus;
use crate::fetch;
use crate::model::{ModelRegistry, ModelSpec};
use crate::plan::InspectPlan;
use crate::process::SubprocessLog;
use crate::project::{AgentDef, AgentKind, ModelConfig, Project};
use crate::report::{self, FetchProgress};
use crate::settings::Environment;

/// Runs `inspect`.
pub(crate) async fn run(
    args: InspectArgs,
    environment: &Environment,
    late: &crate::secret::LateSecrets,
) -> Result<ExitStatus, Error> {
    let plan = InspectPlan::resolve(&args, environment)?;
    let redactor = environment.redactor(
        args.source_args
            .token
            .as_deref()
            .map(crate::secret::Secret::new)
            .as_ref(),
    );
    let reporter =
        FetchProgress::new(FetchProgress::stderr_is_terminal()).with_redactor(redactor.clone());
    let fetched = fetch::fetch(&plan.fetch, &reporter).await?;
    // The project's `.env` files count as they do for `run`, and are read before the project
    // loads, so that a load error is masked with their secrets.
    let (model_settings, secrets) = plan.model_settings(environment, &fetched.project_dir)?;
    let (redactor, _) = redactor.with(secrets.iter().cloned());
    late.add(secrets);
    let project =
        super::prepare::load_project(&fetched.project_dir, plan.files.load_settings()).await?;
    let registry = ModelRegistry::new(model_settings)?;
    let report = describe(&project, &registry);
    let mcp_servers = describe_mcp_servers(&project, plan.mcp.clone()).await;
    let mut document = Map::new();
    document.insert("format_version".to_owned(), json!(1));
    document.insert("source".to_owned(), json!(fetched.source));
    document.insert("project_dir".to_owned(), json!(fetched.project_dir));
    document.insert("sha256".to_owned(), json!(fetched.sha256));
    document.insert("cache_hit".to_owned(), json!(fetched.cache_hit));
    if let Value::Object(report) = report {
        document.extend(report);
    }
    document.insert("mcp_servers".to_owned(), Value::Array(mcp_servers));
    let mut document = Value::Object(document);
    redactor.redact_value(&mut document);
    let text = serde_json::to_string_pretty(&document)
        .map_err(|error| Error::usage(format!("cannot serialize the result: {error}"), None))?;
    let mut stdout = std::io::stdout().lock();
    // A closed stdout (e.g. `| head`) is not worth failing an inspection that succeeded.
    let _ = writeln!(stdout, "{text}");
    let _ = stdout.flush();
    Ok(ExitStatus::Success)
}

/// The project part of the report (everything but the fetch fields).
pub(crate) fn describe(project: &Project, registry: &ModelRegistry) -> Value {
    let agents: Vec<Value> = project
        .top_level_agents()
        .into_iter()
        .map(|agent| describe_agent(project, agent, registry))
        .collect();
    let features: Vec<Value> = project
        .features()
        .into_iter()
        .map(|used| {
            let mut entry = json!({
                "feature": used.feature.to_string(),
                "agent": used.agent,
                "file": used.location.path,
                "line": used.location.line,
                "supported": support::is_supported(&used.feature),
            });
            if let Some(note) = support::note(&used.feature) {
                entry["note"] = json!(note);
            }
            entry
        })
        .collect();
    let unsupported: Vec<String> = support::unsupported_features(project)
        .into_iter()
        .map(|used| {
            format!(
                "{} (agent `{}` at `{}`)",
                used.feature, used.agent, used.location
            )
        })
        .collect();
    json!({
        "project": {
            "name": project.name,
            "description": project.description,
            "file": project.file,
            "model": project.model.as_ref().map(model_config_json),
        },
        "agents": agents,
        "features": features,
        "native": {"supported": unsupported.is_empty(), "unsupported": unsupported},
    })
}

fn model_config_json(config: &ModelConfig) -> Value {
    json!({"model": config.model, "options": config.options})
}

fn describe_agent(project: &Project, agent: &Arc<AgentDef>, registry: &ModelRegistry) -> Value {
    let mut lists = Vec::new();
    let contains = |list: &[Arc<AgentDef>]| list.iter().any(|a| Arc::ptr_eq(a, agent));
    if contains(&project.agents) {
        lists.push("agents");
    }
    if contains(&project.skills) {
        lists.push("skills");
    }
    if contains(&project.mcp_server_agents) {
        lists.push("mcp_server");
    }
    if project
        .cli_chat
        .as_ref()
        .is_some_and(|a| Arc::ptr_eq(a, agent))
    {
        lists.push("cli.chat");
    }
    let model = if matches!(
        agent.kind,
        crate::project::AgentKind::Ai(_) | crate::project::AgentKind::Team(_)
    ) {
        let config = agent.model.as_ref().or(project.model.as_ref());
        let spec = ModelSpec {
            model: config.and_then(|c| c.model_name()).map(str::to_owned),
            options: config.map(|c| c.options.clone()).unwrap_or_default(),
        };
        Some(match registry.describe(&spec) {
            Ok(resolved) => {
                let mut model = json!({
                    "spec": spec.model,
                    "provider": resolved.provider,
                    "name": resolved.model,
                    "supported": resolved.supported,
                });
                // The variable to set (from the environment or the project's `.env`).
                if let Some(variable) = resolved.missing_key {
                    model["missing_key"] = json!(variable);
                }
                model
            }
            Err(error) => {
                let parsed = crate::model::parse_model(&spec.model.clone().unwrap_or_default());
                json!({
                    "spec": spec.model,
                    "provider": parsed.provider,
                    "name": parsed.model,
                    "error": error.to_string(),
                })
            }
        })
    } else {
        None
    };
    let input_key = agent.ai().and_then(|ai| ai.input_key.clone());
    json!({
        "name": agent.name,
        "type": agent.kind.type_name(),
        "description": agent.description,
        "file": agent.path,
        "line": agent.line,
        "alias": agent.alias,
        "lists": lists,
        "input_key": input_key,
        "input_schema": agent.input_schema,
        "output_schema": agent.output_schema,
        "skills": agent.skills.iter().map(|skill| skill.name.clone()).collect::<Vec<_>>(),
        "model": model,
    })
}

/// Every `type: mcp` agent of the project (top-level lists, skills, hooks, reviewers), once.
fn mcp_agents(project: &Project) -> Vec<Arc<AgentDef>> {
    fn walk(agent: &Arc<AgentDef>, out: &mut Vec<Arc<AgentDef>>, seen: &mut Vec<*const AgentDef>) {
        if seen.contains(&Arc::as_ptr(agent)) {
            return;
        }
        seen.push(Arc::as_ptr(agent));
        if matches!(agent.kind, AgentKind::Mcp { .. }) {
            out.push(agent.clone());
        }
        for child in agent.children() {
            walk(child, out, seen);
        }
    }
    let mut out = Vec::new();
    let mut seen = Vec::new();
    for agent in project.top_level_agents() {
        walk(agent, &mut out, &mut seen);
    }
    out
}

/// Connects to every MCP server (concurrently, one connection per distinct server), lists its
/// tools, shuts every server down, and describes each `type: mcp` agent's server.
async fn describe_mcp_servers(project: &Project, settings: McpSettings) -> Vec<Value> {
    let agents = mcp_agents(project);
    if agents.is_empty() {
        return Vec::new();
    }
    let pool = McpPool::new(settings, SubprocessLog::default());
    let described =
        futures::future::join_all(agents.iter().map(|agent| describe_mcp_server(&pool, agent)))
            .await;
    pool.shutdown().await;
    described
}

async fn describe_mcp_server(pool: &McpPool, agent: &AgentDef) -> Value {
    let AgentKind::Mcp { server } = &agent.kind else {
        return Value::Null;
    };
    let mut entry = json!({
        "agent": agent.name,
        "file": agent.path,
        "line": agent.line,
    });
    let spec = match McpServerSpec::from_agent_keys(server) {
        Ok(spec) => spec,
        Err(message) => {
            report::log_line(&format!(
                "mcp: agent `{}` at `{}`: {message}",
                agent.name,
                agent.location()
            ));
            entry["connected"] = json!(false);
            entry["tools"] = json!([]);
            entry["error"] = json!(message);
            return entry;
        }
    };
    let label = spec.label();
    entry["transport"] = json!(match (spec.is_stdio(), spec.transport) {
        (true, _) => "stdio",
        (false, McpHttpTransport::StreamableHttp) => "streamableHttp",
        (false, McpHttpTransport::Sse) => "sse",
    });
    entry["server"] = json!(label);
    match pool.connect(&spec).await {
        Ok(connection) => {
            let tools: Vec<Value> = connection
                .tools()
                .iter()
                .map(|tool| json!({"name": tool.name, "description": tool.description}))
                .collect();
            let reported = [connection.server_name(), connection.server_version()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" ");
            let mut lines = format!(
                "mcp: `{label}` ({}) for agent `{}`: {} tools",
                if reported.is_empty() {
                    "no server info"
                } else {
                    &reported
                },
                agent.name,
                tools.len()
            );
            for tool in connection.tools() {
                lines.push_str(&format!(
                    "\n  {}{}",
                    tool.name,
                    tool.description
                        .as_deref()
                        .map(|description| format!(" — {description}"))
                        .unwrap_or_default()
                ));
            }
            report::log_line(&lines);
            entry["connected"] = json!(true);
            entry["name"] = json!(connection.server_name());
            entry["version"] = json!(connection.server_version());
            entry["tools"] = Value::Array(tools);
        }
        Err(error) => {
            let message = crate::text::error_chain(&error);
            report::log_line(&format!(
                "mcp: `{label}` for agent `{}`: not connected: {message}",
                agent.name
            ));
            entry["connected"] = json!(false);
            entry["tools"] = json!([]);
            entry["error"] = json!(message);
        }
    }
    entry
}
