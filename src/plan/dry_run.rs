//! `run --dry-run`: the plan as one JSON document, built without a model call and without
//! starting any subprocess.
//!
//! Output (`format_version` 1):
//! `{format_version, dry_run: true, source, project_dir, sha256, cache_hit, agent,
//! engine {requested, native_cases, node_cases}, cases [{id, line, agent, session?, engine,
//! engine_reason}], models [{agent, engine, spec, provider, name, missing_key?} | {agent,
//! engine, spec, error}], keys [{name, from}], mcp_servers [{agent, file, transport, server, engine}],
//! subprocesses [{purpose, program, engine, agent?}], judges [{assertion, model, from, cases}],
//! files [..], inputs {file, cases, invalid,
//! shard}, batch {concurrency, timeout_ms, total_timeout_ms, grace_period_ms, fail_on,
//! min_pass_rate}, outputs {results, summary, junit}, trust_project_env}`.
//!
//! `files` lists `aigne.yaml`, the file and instructions files of every agent the cases reach
//! (`..` folded), the `.env` files, the inputs file, the cassette of `--replay` and the results
//! of `--baseline` (templates' `{% include %}`s are read as they render).
//! `judges` lists the model-graded assertions (`llm-rubric`, `judge`) the cases hold, once per
//! kind and model: the model that would grade them (the assertion's `model`, else
//! `--judge-model`, else the case agent's model, else the project's; a `judge` agent's own
//! model is under `models`), where that choice came from, and how many cases use it.
//! `missing_key` names the variable a model's provider needs and does not have (not under
//! `--replay`, which needs no key): the run would fail its pre-flight for it.
//! `keys` names the provider credentials found and where (`environment` or the `.env` file):
//! names only, never values.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde_json::{Value, json};

use crate::batch::assertion::JudgeKind;
use crate::batch::{Case, InvalidCase};
use crate::engine::choice::EngineKind;
use crate::engine::mcp::{McpHttpTransport, McpServerSpec};
use crate::engine::route::{Routes, case_roots};
use crate::engine::support;
use crate::model::{ModelRegistry, ModelSpec};
use crate::project::{AgentDef, AgentKind, normalize};

use super::{ProjectPlan, RunPlan, trust};

/// What the document describes besides the plans.
pub struct DryRun<'a> {
    /// Step 1.
    pub plan: &'a RunPlan,
    /// Step 2.
    pub project: &'a ProjectPlan,
    /// Where the project came from: `{source, sha256, cache_hit}`.
    pub fetched: Value,
    /// The run's default agent.
    pub default_agent: &'a str,
    /// This shard's cases and malformed entries.
    pub cases: &'a [Case],
    /// Malformed entries (skipped).
    pub invalid: &'a [InvalidCase],
    /// The inputs file as named in messages, and whether it is a file.
    pub inputs_file: Option<String>,
    /// Each case agent's engine.
    pub routes: &'a Routes,
}

impl DryRun<'_> {
    /// The model-graded assertions of the cases, once per kind, model and origin.
    fn judges(&self) -> Vec<Value> {
        let project = &self.project.project;
        // (assertion, model, from) → cases.
        type Judge = (String, Option<String>, String);
        let mut judges: Vec<(Judge, usize)> = Vec::new();
        for case in self.cases {
            let agent = case.agent.as_deref().unwrap_or(self.default_agent);
            let mut seen = BTreeSet::new();
            for spec in case
                .assertions
                .iter()
                .filter_map(crate::batch::assertion::Assertion::judged)
            {
                let (model, from) = if let JudgeKind::Agent(name) = &spec.kind {
                    (None, format!("agent `{name}`"))
                } else if let Some(model) = spec.model {
                    (Some(model), "assertion".to_owned())
                } else if let Some(model) = &self.plan.batch.judge_model {
                    (Some(model.clone()), "--judge-model".to_owned())
                } else {
                    let config = project
                        .agent(Some(agent))
                        .ok()
                        .and_then(|agent| agent.model.as_ref())
                        .or(project.model.as_ref());
                    (
                        // `--model` / `MODEL` first, as the agent's own model resolves.
                        self.project
                            .model
                            .model_override
                            .clone()
                            .or_else(|| config.and_then(|c| c.model_name()).map(str::to_owned)),
                        format!("agent `{agent}`"),
                    )
                };
                let key = (spec.kind.label(), model, from);
                if !seen.insert(key.clone()) {
                    continue;
                }
                match judges.iter_mut().find(|(known, _)| *known == key) {
                    Some((_, cases)) => *cases += 1,
                    None => judges.push((key, 1)),
                }
            }
        }
        judges
            .into_iter()
            .map(|((assertion, model, from), cases)| {
                json!({"assertion": assertion, "model": model, "from": from, "cases": cases})
            })
            .collect()
    }

    /// The plan document.
    pub fn document(&self) -> Value {
        let project = &self.project.project;
        let route_of = |agent: &str| self.routes.of(agent);
        let cases: Vec<Value> = self
            .cases
            .iter()
            .map(|case| {
                let agent = case.agent.as_deref().unwrap_or(self.default_agent);
                let route = route_of(agent);
                let mut entry = json!({
                    "id": case.id,
                    "line": case.line,
                    "agent": agent,
                    "engine": route.map(|route| route.engine.to_string()),
                    "engine_reason": route.map(|route| route.reason.clone()),
                });
                if let Some(session) = &case.session {
                    entry["session"] = json!(session);
                }
                entry
            })
            .collect();
        let count = |engine: EngineKind| {
            self.cases
                .iter()
                .filter(|case| {
                    route_of(case.agent.as_deref().unwrap_or(self.default_agent))
                        .is_some_and(|route| route.engine == engine)
                })
                .count()
        };

        // The agents each engine would run, each once.
        let mut reached: Vec<(EngineKind, Arc<AgentDef>)> = Vec::new();
        let mut seen = BTreeSet::new();
        for (name, route) in &self.routes.agents {
            let roots = case_roots(project, name);
            for agent in support::reachable_agents(project, &roots) {
                if seen.insert((route.engine.to_string(), Arc::as_ptr(&agent) as usize)) {
                    reached.push((route.engine, agent));
                }
            }
        }

        // The model each AI or team agent would use (no cassette is opened, nothing is called).
        let mut settings = self.project.model.clone();
        let replay = settings.replay.is_some();
        settings.record = None;
        settings.replay = None;
        let registry = ModelRegistry::new(settings).ok();
        let models: Vec<Value> = reached
            .iter()
            .filter(|(_, agent)| matches!(agent.kind, AgentKind::Ai(_) | AgentKind::Team(_)))
            .map(|(engine, agent)| {
                let config = agent.model.as_ref().or(project.model.as_ref());
                let spec = ModelSpec {
                    model: config.and_then(|c| c.model_name()).map(str::to_owned),
                    options: config.map(|c| c.options.clone()).unwrap_or_default(),
                };
                let mut entry = json!({
                    "agent": agent.name,
                    "engine": engine.to_string(),
                    "spec": spec.model,
                });
                match registry.as_ref().map(|registry| registry.describe(&spec)) {
                    Some(Ok(resolved)) => {
                        entry["provider"] = json!(resolved.provider);
                        entry["name"] = json!(resolved.model);
                        if let Some(variable) = resolved.missing_key.filter(|_| !replay) {
                            entry["missing_key"] = json!(variable);
                        }
                    }
                    Some(Err(error)) => entry["error"] = json!(error.to_string()),
                    None => {}
                }
                entry
            })
            .collect();

        let keys: Vec<Value> = trust::credential_names()
            .into_iter()
            .filter(|name| self.project.dotenv.get(name).is_some())
            .map(|name| {
                json!({
                    "name": name,
                    "from": self
                        .project
                        .dotenv
                        .origin(name)
                        .map_or_else(|| "environment".to_owned(), |path| path.display().to_string()),
                })
            })
            .collect();

        let mut mcp_servers = Vec::new();
        let mut subprocesses = Vec::new();
        if self.routes.uses(EngineKind::Node) {
            subprocesses
                .push(json!({"purpose": "node-engine", "program": "node", "engine": "node"}));
        }
        let mut js_bridge = false;
        for (engine, agent) in &reached {
            match &agent.kind {
                AgentKind::Mcp { server } => {
                    let Ok(spec) = McpServerSpec::from_agent_keys(server) else {
                        continue;
                    };
                    mcp_servers.push(json!({
                        "agent": agent.name,
                        "file": agent.path,
                        "engine": engine.to_string(),
                        "transport": match (spec.is_stdio(), spec.transport) {
                            (true, _) => "stdio",
                            (false, McpHttpTransport::StreamableHttp) => "streamableHttp",
                            (false, McpHttpTransport::Sse) => "sse",
                        },
                        "server": spec.label(),
                    }));
                    if spec.is_stdio() {
                        subprocesses.push(json!({
                            "purpose": "mcp-server",
                            "program": spec.label(),
                            "engine": engine.to_string(),
                            "agent": agent.name,
                        }));
                    }
                }
                AgentKind::Function { .. } | AgentKind::JsFile
                    if *engine == EngineKind::Native && !js_bridge =>
                {
                    js_bridge = true;
                    subprocesses.push(json!({
                        "purpose": "js-bridge",
                        "program": "node",
                        "engine": "native",
                        "agent": agent.name,
                    }));
                }
                _ => {}
            }
        }
        let package_json = self.project.project_dir.join("package.json");
        if (js_bridge || (self.routes.uses(EngineKind::Node) && project.has_javascript()))
            && package_json.is_file()
        {
            subprocesses.push(json!({"purpose": "npm-install", "program": "npm"}));
        }

        let judges = self.judges();

        let mut files: Vec<String> = vec![project.file.display().to_string()];
        // Each agent's file and its instructions files (`{% include %}`s are read as they
        // render, so they are not listed).
        for (_, agent) in &reached {
            let instructions = agent
                .ai()
                .map(|ai| {
                    ai.instructions
                        .iter()
                        .map(|item| item.path.clone())
                        .collect()
                })
                .unwrap_or_else(Vec::new);
            for path in std::iter::once(agent.path.clone()).chain(instructions) {
                let path = normalize(&path).display().to_string();
                if !files.contains(&path) {
                    files.push(path);
                }
            }
        }
        files.extend(
            self.project
                .dotenv
                .files
                .iter()
                .map(|path| path.display().to_string()),
        );
        if let Some(file) = &self.inputs_file {
            files.push(file.clone());
        }
        files.extend(
            [&self.project.model.replay, &self.plan.batch.baseline]
                .into_iter()
                .flatten()
                .map(|path| path.display().to_string()),
        );

        let plan = self.plan;
        let millis =
            |duration: std::time::Duration| u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
        let mut document = json!({
            "format_version": 1,
            "dry_run": true,
            "agent": self.default_agent,
            "engine": {
                "requested": plan.engine.request,
                "native_cases": count(EngineKind::Native),
                "node_cases": count(EngineKind::Node),
            },
            "cases": cases,
            "models": models,
            "keys": keys,
            "mcp_servers": mcp_servers,
            "subprocesses": subprocesses,
            "judges": judges,
            "files": files,
            "inputs": {
                "file": self.inputs_file,
                "cases": self.cases.len(),
                "invalid": self.invalid.len(),
                "shard": plan.inputs.shard.map(|shard| format!("{}/{}", shard.index, shard.count)),
            },
            "batch": {
                "concurrency": plan.batch.concurrency.get(),
                "timeout_ms": millis(plan.batch.case_timeout),
                "total_timeout_ms": plan.batch.total_timeout.map(millis),
                "grace_period_ms": millis(plan.batch.grace_period),
                "fail_on": plan.batch.policy.fail_on.name(),
                "min_pass_rate": plan.batch.policy.min_pass_rate,
            },
            "outputs": {
                "results": plan.report.results_path,
                "summary": plan.report.summary_path,
                "junit": plan.report.junit_path,
            },
            "trust_project_env": plan.trust_project_env,
        });
        if let (Value::Object(document), Value::Object(fetched)) = (&mut document, &self.fetched) {
            for (key, value) in fetched {
                document.insert(key.clone(), value.clone());
            }
            document.insert("project_dir".to_owned(), json!(self.project.project_dir));
        }
        document
    }
}
