//! STAGE 3b: run one agent on one input, natively, as AIGNE's runtime does (`ai`, `team`,
//! `transform`).
//!
//! Input: a loaded [`Project`], a [`ModelResolver`] and an [`InvokeRequest`]. Output:
//! [`InvokeOutcome`] (the agent's output object, token usage, model calls) or [`InvokeError`].
//! Must not import `batch` or `report`.
//!
//! The contract the batch stage relies on: [`Engine::new`] once per run, then
//! [`Engine::invoke`] per case (concurrently from many tasks; turns of one `session` must be
//! invoked in order). Every agent invocation follows AIGNE's `Agent.invoke` lifecycle:
//! `default_input` merge → input validation (passthrough) → the kind's `process` → output must be
//! an object, validated → `include_input_in_output`. Dispatch on [`AgentKind`] is one `match` in
//! [`Engine::invoke_agent`]; kinds the native engine does not run (MCP, JS, function, image,
//! third-party types) return [`InvokeError::Unsupported`] naming the feature and file.

mod ai;
pub mod choice;
mod error;
mod hooks;
pub mod js;
mod js_agent;
pub mod line_child;
pub mod mcp;
pub mod node;
pub mod npm;
mod prompt;
pub mod route;
mod schema;
pub mod seam;
mod session;
mod skill;
pub mod support;
mod team;
pub mod template;
mod transform;
pub mod yaml;

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use futures::FutureExt;
use futures::future::BoxFuture;
use serde_json::{Map, Value};

use crate::model::types::Usage;
use crate::model::{ModelResolver, ModelSpec};
use crate::project::{AgentDef, AgentKind, ModelConfig, Project};
use crate::transcript::TranscriptRecorder;

pub use error::InvokeError;
pub use prompt::{merge_default_input, resolve_getters};
pub use schema::{to_model_schema, validate};
pub use transform::evaluate as evaluate_jsonata;

use session::SessionStore;

/// `--max-tool-result`'s default: the largest reply a JavaScript agent, an MCP tool or a node
/// engine case may send back.
pub const DEFAULT_MAX_TOOL_RESULT: usize = 16 * 1024 * 1024;

/// Engine limits and switches.
#[derive(Debug, Clone)]
pub struct EngineSettings {
    /// Most model turns in one AI agent's tool loop (AIGNE has no bound).
    pub max_tool_turns: u32,
    /// Most review rounds of a team's `reflection`, whatever its `max_iterations`.
    pub max_reflection_rounds: u64,
    /// Most items a team's `iterate_on` runs over.
    pub max_team_iterations: u64,
    /// The Node bridge that runs JavaScript agents ([`None`]: they are unsupported).
    pub js: Option<js::JsBridge>,
}

impl Default for EngineSettings {
    fn default() -> Self {
        Self {
            max_tool_turns: 64,
            max_reflection_rounds: 16,
            max_team_iterations: 1000,
            js: None,
        }
    }
}

/// One invocation: which agent, on what input.
#[derive(Debug, Clone)]
pub struct InvokeRequest {
    /// Agent name; `None` = the first of `agents:`.
    pub agent: Option<String>,
    /// The input: an object, or a string for the agent's `input_key` (or `message`).
    pub input: Value,
    /// Label of the case, attached to model requests (for cassettes and messages).
    pub case_label: String,
    /// Conversation id: turns with the same id see the earlier turns (for agents that keep
    /// history, as AIGNE's AFS history and legacy memory do).
    pub session: Option<String>,
}

/// What an invocation produced.
#[derive(Debug, Clone, PartialEq)]
pub struct InvokeOutcome {
    /// The agent's output object.
    pub output: Value,
    /// Tokens of every model call made.
    pub usage: Usage,
    /// The model that answered the last call (as the provider reports it, else as configured).
    pub model: Option<String>,
    /// How many model calls were made.
    pub model_calls: u32,
}

/// Runs agents of one project.
pub struct Engine {
    project: Arc<Project>,
    models: Arc<dyn ModelResolver>,
    settings: EngineSettings,
    sessions: SessionStore,
    js: js_agent::JsAgents,
    mcp: Arc<mcp::McpPool>,
}

/// Per-invocation state shared by nested agent calls.
struct Run {
    case_label: String,
    session: Option<String>,
    usage: Mutex<Usage>,
    model: Mutex<Option<String>>,
    model_calls: AtomicU32,
    /// What JavaScript agents of this invocation share (`userContext`).
    js: js_agent::JsCaseContext,
    /// Where the case's transcript is recorded (`None`: transcripts are off).
    transcript: Option<Arc<TranscriptRecorder>>,
}

tokio::task_local! {
    /// The transcript invocation the running code belongs to: the parent of the invocations and
    /// model calls it starts. Set around each agent invocation with `scope`, so it follows the
    /// nesting of futures (concurrent tool calls and team members included) without threading
    /// an id through every signature.
    static TRANSCRIPT_PARENT: Option<usize>;
}

/// The transcript invocation the caller runs in (see [`TRANSCRIPT_PARENT`]).
fn transcript_parent() -> Option<usize> {
    TRANSCRIPT_PARENT.try_with(|parent| *parent).ok().flatten()
}

/// What the native engine's transcripts hold (written into each transcript).
pub const NATIVE_TRANSCRIPT_CAPTURES: &[&str] = &[
    "every agent invocation (ai, team members, transforms, JavaScript agents and the agents they invoke) with its input and output or error; a hook agent's invocation names its slot (`hook`)",
    "every MCP tool call with its arguments and result",
    "every model call in order: provider, model, the provider-neutral request (messages, tools, tool choice, response format, options), the answer, usage, latency, HTTP attempts, error",
    "not captured: the provider-specific wire bodies (see --record for those)",
];

impl Run {
    fn record_call(&self, usage: &Usage, model: Option<String>) {
        if let Ok(mut total) = self.usage.lock() {
            total.add(usage);
        }
        if let Some(model) = model
            && let Ok(mut last) = self.model.lock()
        {
            *last = Some(model);
        }
        self.model_calls.fetch_add(1, Ordering::Relaxed);
    }
}

impl Engine {
    /// An engine for `project`, resolving models through `models`.
    pub fn new(
        project: Arc<Project>,
        models: Arc<dyn ModelResolver>,
        settings: EngineSettings,
    ) -> Self {
        Self {
            project,
            models,
            js: js_agent::JsAgents::new(settings.js.clone()),
            settings,
            sessions: SessionStore::default(),
            mcp: Arc::new(mcp::McpPool::default()),
        }
    }

    /// Uses `pool` for MCP servers (`type: mcp` skills): its settings (`--deny-exec`,
    /// `MCP_TIMEOUT`) and its subprocess log. Shut it down with [`mcp::McpPool::shutdown`]
    /// when the run ends; dropping it kills the servers too.
    pub fn with_mcp(mut self, pool: Arc<mcp::McpPool>) -> Self {
        self.mcp = pool;
        self
    }

    /// The MCP servers of this run (for shutdown and `summary.json`).
    pub fn mcp(&self) -> &Arc<mcp::McpPool> {
        &self.mcp
    }

    /// The project this engine runs.
    pub fn project(&self) -> &Arc<Project> {
        &self.project
    }

    /// Runs one agent on one input.
    pub async fn invoke(&self, request: InvokeRequest) -> Result<InvokeOutcome, InvokeError> {
        self.invoke_recorded(request, None).await
    }

    /// [`Engine::invoke`], recording what runs into `transcript`.
    pub async fn invoke_recorded(
        &self,
        request: InvokeRequest,
        transcript: Option<Arc<TranscriptRecorder>>,
    ) -> Result<InvokeOutcome, InvokeError> {
        let agent = self.find_agent(request.agent.as_deref()).await?;
        let input = match request.input {
            Value::Object(map) => map,
            Value::String(text) => {
                let mut map = Map::new();
                map.insert(agent.text_input_key().to_owned(), Value::String(text));
                map
            }
            Value::Null => Map::new(),
            other => {
                return Err(InvokeError::Schema {
                    agent: agent.name.clone(),
                    which: "input",
                    message: format!(
                        "expected an object or a string, found {}",
                        crate::project::type_name(&other)
                    ),
                });
            }
        };
        // A case without a session is a conversation of its own, as one `aigne run` is: an
        // agent with `memory` invoked twice in it (a reflection loop, a team) sees its earlier
        // turn, and nothing is kept after the case.
        let own_session = request.session.is_none().then(|| {
            static CASES: AtomicU64 = AtomicU64::new(0);
            format!("\u{0}case-{}", CASES.fetch_add(1, Ordering::Relaxed))
        });
        let run = Run {
            case_label: request.case_label,
            session: request.session.or_else(|| own_session.clone()),
            usage: Mutex::new(Usage::default()),
            model: Mutex::new(None),
            model_calls: AtomicU32::new(0),
            js: self.js.case_context(),
            transcript,
        };
        let output = self.invoke_agent(&run, &agent, input, None).await;
        if let Some(session) = &own_session {
            self.sessions.forget(session);
        }
        let output = output?;
        let usage = run.usage.lock().map(|u| *u).unwrap_or_default();
        let model = run.model.lock().ok().and_then(|m| m.clone());
        Ok(InvokeOutcome {
            output: Value::Object(output),
            usage,
            model,
            model_calls: run.model_calls.load(Ordering::Relaxed),
        })
    }

    /// AIGNE's `Agent.invoke` for any agent kind. `inherited` is the model the caller passes
    /// down (`this.model || options.model`). Recorded in the case's transcript, if any.
    fn invoke_agent<'a>(
        &'a self,
        run: &'a Run,
        agent: &'a Arc<AgentDef>,
        input: Map<String, Value>,
        inherited: Option<&'a ModelConfig>,
    ) -> BoxFuture<'a, Result<Map<String, Value>, InvokeError>> {
        self.invoke_agent_as(run, agent, input, inherited, None)
    }

    /// [`Engine::invoke_agent`] of a hook agent, run for the hook slot `hook` (`on_start`, …):
    /// the transcript names the slot.
    fn invoke_agent_as<'a>(
        &'a self,
        run: &'a Run,
        agent: &'a Arc<AgentDef>,
        input: Map<String, Value>,
        inherited: Option<&'a ModelConfig>,
        hook: Option<&'static str>,
    ) -> BoxFuture<'a, Result<Map<String, Value>, InvokeError>> {
        let Some(transcript) = &run.transcript else {
            return self.invoke_agent_lifecycle(run, agent, input, inherited);
        };
        async move {
            let id = transcript.begin_invocation(
                transcript_parent(),
                &agent.name,
                agent.kind.type_name(),
                &Value::Object(input.clone()),
            );
            if let Some(slot) = hook {
                transcript.set_hook(id, slot);
            }
            let result = TRANSCRIPT_PARENT
                .scope(
                    id,
                    self.invoke_agent_lifecycle(run, agent, input, inherited),
                )
                .await;
            match &result {
                Ok(output) => transcript.end_invocation(id, Ok(&Value::Object(output.clone()))),
                Err(error) => transcript.end_invocation(id, Err(error_text(error))),
            }
            result
        }
        .boxed()
    }

    /// [`Engine::invoke_agent`] without the transcript.
    fn invoke_agent_lifecycle<'a>(
        &'a self,
        run: &'a Run,
        agent: &'a Arc<AgentDef>,
        input: Map<String, Value>,
        inherited: Option<&'a ModelConfig>,
    ) -> BoxFuture<'a, Result<Map<String, Value>, InvokeError>> {
        async move {
            // A JS file's name, schemas and default input live in its default export.
            let resolved;
            let agent = if matches!(agent.kind, AgentKind::JsFile) {
                resolved = self.resolve_js(agent).await?;
                &resolved
            } else {
                agent
            };
            self.check_supported(agent)?;
            let input = merge_default_input(&agent.default_input, input);
            if agent.hooks.is_empty() {
                let input = validate_input(agent, input)?;
                return self
                    .process_with_retries(run, agent, input, inherited)
                    .await;
            }
            // AIGNE's `invoke` (always streaming under `context.invoke`): `on_start` may replace
            // the input; a failure of `on_start` or of the input check runs `on_error`/`on_end`
            // before it is thrown. Failures of the work itself run them inside the retry loop.
            let mut current = input;
            let started = self
                .call_hooks(
                    run,
                    agent,
                    &[hooks::Slot::Start],
                    Map::from_iter([("input".to_owned(), Value::Object(current.clone()))]),
                )
                .await;
            let checked = started.and_then(|started| {
                if let Some(Value::Object(replaced)) = started.get("input") {
                    current = replaced.clone();
                }
                validate_input(agent, current.clone())
            });
            let current = match checked {
                Ok(parsed) => parsed,
                Err(error) => {
                    self.call_hooks(
                        run,
                        agent,
                        &[hooks::Slot::Error, hooks::Slot::End],
                        Map::from_iter([
                            ("input".to_owned(), Value::Object(current)),
                            ("error".to_owned(), hooks::error_ref(&error)),
                        ]),
                    )
                    .await?;
                    return Err(error);
                }
            };
            self.process_with_retries(run, agent, current, inherited)
                .await
        }
        .boxed()
    }

    /// The kind's work with `retry_on_error` and the `on_success` / `on_error` hooks (AIGNE's
    /// `processStreamingAndRetry`).
    async fn process_with_retries(
        &self,
        run: &Run,
        agent: &Arc<AgentDef>,
        input: Map<String, Value>,
        inherited: Option<&ModelConfig>,
    ) -> Result<Map<String, Value>, InvokeError> {
        let retry = RetryOnError::of(agent)?;
        let mut attempt = 0;
        let mut hook_retries = 0;
        loop {
            let result = match self.process_once(run, agent, &input, inherited).await {
                Ok(output) if agent.hooks.is_empty() => Ok(output),
                // `on_success` and `on_end` may replace the output.
                Ok(output) => self
                    .call_hooks(
                        run,
                        agent,
                        &[hooks::Slot::Success, hooks::Slot::End],
                        Map::from_iter([
                            ("input".to_owned(), Value::Object(input.clone())),
                            ("output".to_owned(), Value::Object(output.clone())),
                        ]),
                    )
                    .await
                    .map(|hooked| match hooked.get("output") {
                        Some(Value::Object(replaced)) => replaced.clone(),
                        _ => output,
                    }),
                Err(error) => Err(error),
            };
            match result {
                Ok(mut output) => {
                    if attempt > 0 {
                        // AIGNE marks an output that took retries.
                        let mut meta = match output.shift_remove("$meta") {
                            Some(Value::Object(meta)) => meta,
                            _ => Map::new(),
                        };
                        meta.insert("retries".to_owned(), Value::from(attempt));
                        output.insert("$meta".to_owned(), Value::Object(meta));
                    }
                    return Ok(output);
                }
                Err(error) if attempt < retry.retries && !error.is_configuration_error() => {
                    attempt += 1;
                    tokio::time::sleep(retry.delay(attempt)).await;
                }
                Err(error) => {
                    // `on_error` and `on_end` may ask for the agent to run again.
                    if !agent.hooks.is_empty() && !error.is_configuration_error() {
                        let hooked = self
                            .call_hooks(
                                run,
                                agent,
                                &[hooks::Slot::Error, hooks::Slot::End],
                                Map::from_iter([
                                    ("input".to_owned(), Value::Object(input.clone())),
                                    ("error".to_owned(), hooks::error_ref(&error)),
                                ]),
                            )
                            .await?;
                        if hooked.get("retry").is_some_and(is_truthy_value) {
                            hook_retries += 1;
                            if hook_retries > hooks::MAX_HOOK_RETRIES {
                                return Err(InvokeError::Agent {
                                    agent: agent.name.clone(),
                                    message: format!(
                                        "an `on_error` hook asked to retry more than {} times",
                                        hooks::MAX_HOOK_RETRIES
                                    ),
                                });
                            }
                            continue;
                        }
                    }
                    return Err(if attempt > 0 {
                        InvokeError::AfterRetries {
                            error: Box::new(error),
                            attempts: attempt + 1,
                        }
                    } else {
                        error
                    });
                }
            }
        }
    }

    /// One attempt of an agent (AIGNE's `process` and `processAgentOutput`): the kind's work,
    /// the output schema and `include_input_in_output`.
    async fn process_once(
        &self,
        run: &Run,
        agent: &Arc<AgentDef>,
        input: &Map<String, Value>,
        inherited: Option<&ModelConfig>,
    ) -> Result<Map<String, Value>, InvokeError> {
        let output = match &agent.kind {
            AgentKind::Ai(ai) => self.run_ai(run, agent, ai, input, inherited).await?,
            AgentKind::Team(team) => self.run_team(run, agent, team, input, inherited).await?,
            AgentKind::Transform { jsonata } => {
                transform::evaluate(jsonata, input).map_err(|message| InvokeError::Transform {
                    agent: agent.name.clone(),
                    message,
                })?
            }
            AgentKind::Function { .. } | AgentKind::JsFile => {
                self.run_js(run, agent, input).await?
            }
            AgentKind::Mcp { .. } | AgentKind::Image { .. } | AgentKind::Other { .. } => {
                return Err(unsupported(agent, agent_type_feature(agent)));
            }
        };
        let output = match &agent.output_schema {
            Some(schema) => {
                let output = Value::Object(output);
                validate(schema, &output).map_err(|message| InvokeError::Schema {
                    agent: agent.name.clone(),
                    which: "output",
                    message,
                })?;
                match schema::zod_parse(schema, output) {
                    Value::Object(parsed) => parsed,
                    _ => unreachable!("an object parses to an object"),
                }
            }
            None => output,
        };
        Ok(if agent.include_input_in_output {
            // AIGNE merges the streamed output with `{...input, ...output}`: the output's
            // keys come first, then the input's other keys.
            let mut merged = output.clone();
            for (key, value) in input {
                if !output.contains_key(key) {
                    merged.insert(key.clone(), value.clone());
                }
            }
            merged
        } else {
            output
        })
    }

    /// Features of one agent the native engine refuses to run (instead of running them
    /// differently from AIGNE).
    fn check_supported(&self, agent: &AgentDef) -> Result<(), InvokeError> {
        // Any AFS: AIGNE offers it as `afs_*` tools (and a `history` module extracts session facts
        // with extra model calls), which the native engine does not do.
        if agent
            .afs
            .as_ref()
            .is_some_and(|afs| *afs != Value::Bool(false))
        {
            return Err(unsupported(agent, "afs".to_owned()));
        }
        if let Some(ai) = agent.ai()
            && ai.structured_stream_mode
        {
            return Err(unsupported(agent, "structured_stream_mode".to_owned()));
        }
        Ok(())
    }

    /// Resolves the model of every AI agent reachable from `roots` (skills, hooks, reviewers,
    /// and the project's global skills), so that a missing key or an unknown provider stops the
    /// run before its first case instead of erroring every case. Models chosen by an input
    /// getter (`model: {$get: …}`) depend on the case and are left to the run.
    pub fn check_models(&self, roots: &[Arc<AgentDef>]) -> Result<(), InvokeError> {
        let mut seen = std::collections::HashSet::new();
        let mut pending: Vec<(Arc<AgentDef>, Option<ModelConfig>)> =
            roots.iter().map(|root| (root.clone(), None)).collect();
        let mut reaches_ai = false;
        while let Some((agent, inherited)) = pending.pop() {
            if !seen.insert(Arc::as_ptr(&agent)) {
                continue;
            }
            if matches!(agent.kind, AgentKind::Ai(_)) {
                reaches_ai = true;
                let config = agent
                    .model
                    .as_ref()
                    .or(inherited.as_ref())
                    .or(self.project.model.as_ref());
                let chosen_per_case = config
                    .and_then(|config| config.model.as_ref())
                    .is_some_and(|model| prompt::resolve_getters(model, &Map::new()).is_none());
                if !chosen_per_case {
                    let spec = self.model_spec(&agent, inherited.as_ref(), &Map::new());
                    if let Err(source) = self.models.resolve(&spec) {
                        return Err(InvokeError::ModelSetup {
                            agent: agent.name.clone(),
                            location: agent.location().to_string(),
                            source: Box::new(source),
                        });
                    }
                }
            }
            let child_model = agent.model.clone().or(inherited);
            pending.extend(
                agent
                    .children()
                    .map(|child| (child.clone(), child_model.clone())),
            );
            if pending.is_empty() && reaches_ai {
                // AIGNE offers the global skills to every AI agent.
                pending.extend(
                    self.project
                        .skills
                        .iter()
                        .filter(|skill| !seen.contains(&Arc::as_ptr(skill)))
                        .map(|skill| (skill.clone(), None)),
                );
            }
        }
        Ok(())
    }

    /// The model spec an AI agent uses: its own (already `{...aigne.model, ...agent.model}`),
    /// else the caller's, else the project's; getters in `model` resolve against the input.
    fn model_spec(
        &self,
        agent: &AgentDef,
        inherited: Option<&ModelConfig>,
        input: &Map<String, Value>,
    ) -> ModelSpec {
        let config = agent
            .model
            .as_ref()
            .or(inherited)
            .or(self.project.model.as_ref());
        match config {
            None => ModelSpec::default(),
            Some(config) => ModelSpec {
                model: config
                    .model
                    .as_ref()
                    .and_then(|model| resolve_getters(model, input))
                    .and_then(|model| model.as_str().map(str::to_owned)),
                options: config.options.clone(),
            },
        }
    }
}

/// The input check (passthrough: extra keys allowed), with an AI agent's `input_key` added;
/// the input as zod parses it (see [`schema::zod_parse`]).
fn validate_input(
    agent: &AgentDef,
    input: Map<String, Value>,
) -> Result<Map<String, Value>, InvokeError> {
    let input_key = agent.ai().and_then(|ai| ai.input_key.as_deref());
    let Some(schema) = schema::with_input_key_check(agent.input_schema.as_ref(), input_key) else {
        return Ok(input);
    };
    let input = Value::Object(input);
    validate(&schema, &input).map_err(|message| InvokeError::Schema {
        agent: agent.name.clone(),
        which: "input",
        message,
    })?;
    match schema::zod_parse(&schema, input) {
        Value::Object(parsed) => Ok(parsed),
        _ => unreachable!("an object parses to an object"),
    }
}

/// AIGNE's `retryOnError` (`retry_on_error` in YAML; the loader camelizes only the top-level key,
/// so the options are read in camelCase): `true` is 3 retries; delays grow from `minTimeout` ms
/// (default 1000) by `factor` (default 2), doubled at random up to 2x with `randomize`.
struct RetryOnError {
    retries: u32,
    min_timeout_ms: f64,
    factor: f64,
    randomize: bool,
}

impl RetryOnError {
    /// AIGNE's `DEFAULT_RETRIES` for `retry_on_error: true`.
    const DEFAULT_RETRIES: u32 = 3;

    fn of(agent: &AgentDef) -> Result<Self, InvokeError> {
        let invalid = |message: &str| InvokeError::RetrySetting {
            agent: agent.name.clone(),
            message: message.to_owned(),
        };
        let mut retry = Self {
            retries: 0,
            min_timeout_ms: 1000.0,
            factor: 2.0,
            randomize: false,
        };
        match agent.extra.get("retryOnError") {
            None | Some(Value::Null) | Some(Value::Bool(false)) => {}
            Some(Value::Bool(true)) => retry.retries = Self::DEFAULT_RETRIES,
            Some(Value::Object(options)) => {
                retry.retries = options
                    .get("retries")
                    .and_then(Value::as_u64)
                    .and_then(|retries| u32::try_from(retries).ok())
                    .ok_or_else(|| invalid("`retries` must be a non-negative integer"))?;
                if let Some(value) = options.get("minTimeout") {
                    retry.min_timeout_ms = value
                        .as_f64()
                        .filter(|ms| *ms >= 0.0)
                        .ok_or_else(|| invalid("`minTimeout` must be a number of ms >= 0"))?;
                }
                if let Some(value) = options.get("factor") {
                    retry.factor = value
                        .as_f64()
                        .filter(|factor| *factor >= 1.0)
                        .ok_or_else(|| invalid("`factor` must be a number >= 1"))?;
                }
                if let Some(value) = options.get("randomize") {
                    retry.randomize = value
                        .as_bool()
                        .ok_or_else(|| invalid("`randomize` must be true or false"))?;
                }
            }
            Some(_) => {
                return Err(invalid(
                    "expected true, false or {retries, minTimeout, factor, randomize}",
                ));
            }
        }
        Ok(retry)
    }

    /// The wait before attempt `attempt + 1` (AIGNE: `minTimeout * factor^(attempt-1)`).
    fn delay(&self, attempt: u32) -> std::time::Duration {
        let exponent = i32::try_from(attempt.saturating_sub(1)).unwrap_or(i32::MAX);
        let jitter = if self.randomize {
            1.0 + rand::random::<f64>()
        } else {
            1.0
        };
        let ms = self.min_timeout_ms * self.factor.powi(exponent) * jitter;
        std::time::Duration::from_secs_f64((ms / 1000.0).clamp(0.0, 3600.0))
    }
}

fn agent_type_feature(agent: &AgentDef) -> String {
    format!("type: {}", agent.kind.type_name())
}

fn unsupported(agent: &AgentDef, feature: String) -> InvokeError {
    InvokeError::Unsupported {
        agent: agent.name.clone(),
        feature,
        location: agent.location(),
    }
}

/// An error and its causes on one line, for transcripts.
pub(crate) fn error_text(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// JS truthiness of a JSON value.
pub(crate) fn is_truthy_value(value: &Value) -> bool {
    crate::project::is_truthy(value)
}

#[cfg(test)]
mod tests;
