//! `aigne-ci run [SOURCE] [AGENT]`: fetch → project → engine → batch → report.

use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::SystemTime;

use crate::batch::{
    self, BatchError, BatchSettings, Case, CaseExecution, CaseRunner, ErrorInfo, InputsSource,
    Judge, Policy, Repeat, Shard, StopReason, StopSignal, Usage,
};
use crate::cli::{EngineChoice, FailOn, OnInvalidInput, RunArgs, VerdictArgs};
use crate::engine::choice::{EngineKind, EngineRequest, UnsupportedFeature, choose_engine};
use crate::engine::js::{JsBridge, JsSettings};
use crate::engine::mcp::{McpPool, McpSettings};
use crate::engine::node::{NodeEngine, NodeEngineSettings, NodeInvokeRequest};
use crate::engine::npm::NpmSettings;
use crate::engine::subprocess::SubprocessLog;
use crate::engine::support;
use crate::engine::{Engine, EngineSettings, InvokeRequest};
use crate::error::{Error, error_chain};
use crate::exit_status::ExitStatus;
use crate::fetch;
use crate::model::registry::ModelRegistry;
use crate::model::settings::{ModelSettings, dotenv_secrets};
use crate::project::{AgentDef, Project};
use crate::report::FetchProgress;
use crate::report::{
    self, Baseline, InputsInfo, ProjectInfo, Redactor, RunContext, RunReporter, ShardInfo,
    SubprocessInfo,
};
use crate::settings::Environment;

use super::judge::ModelJudge;
use super::outputs;

/// Runs the command.
pub(crate) async fn run(args: RunArgs, environment: Environment) -> Result<ExitStatus, Error> {
    let started_at = SystemTime::now();
    let redactor = outputs::redactor(&environment);
    if outputs::github_enabled(args.outputs.github, &environment) {
        // Before anything else prints.
        report::announce_masks(&redactor);
    }
    let stop = StopSignal::new();
    let _signals = listen_for_signals(stop.clone());

    // Inputs first: every malformed line is reported before the project loads or a model is
    // called.
    let source = inputs_source(&args)?;
    let inputs = batch::read_inputs(&source)?;
    if !inputs.invalid.is_empty() && args.inputs.on_invalid_input == OnInvalidInput::Error {
        return Err(BatchError::InvalidInputs {
            file: inputs.label,
            invalid: inputs.invalid,
        }
        .into());
    }
    if inputs.cases.is_empty() && inputs.invalid.is_empty() {
        return Err(BatchError::NoCases { file: inputs.label }.into());
    }
    let shard = args.shard.as_deref().map(Shard::parse).transpose()?;
    let all_lines = inputs.lines();
    let (cases, invalid) = match shard {
        Some(shard) => shard.select(inputs.cases, inputs.invalid),
        None => (inputs.cases, inputs.invalid),
    };
    let concurrency = NonZeroUsize::new(args.concurrency).ok_or(BatchError::Setting {
        flag: "concurrency",
        message: "must be at least 1".to_owned(),
    })?;
    let repeat = repeat_setting(&args.verdicts)?;
    if args.policy.fail_on == FailOn::Regression && args.verdicts.baseline.is_none() {
        return Err(Error::usage(
            "`--fail-on regression` needs `--baseline PATH`",
            Some(
                "pass the `results.jsonl` (or out-dir) of an earlier run, e.g. the base branch's"
                    .to_owned(),
            ),
        ));
    }
    // Read before anything runs: a missing or malformed baseline stops the run (exit 2).
    let baseline = args
        .verdicts
        .baseline
        .as_ref()
        .map(|path| Baseline::load(&environment.absolute(path)))
        .transpose()?;
    if let Some(rate) = args.policy.min_pass_rate
        && !(0.0..=1.0).contains(&rate)
    {
        return Err(BatchError::Setting {
            flag: "min-pass-rate",
            message: format!("must be between 0 and 1, not `{rate}`"),
        }
        .into());
    }

    let source_text = args
        .source
        .clone()
        .or_else(|| args.url.clone())
        .unwrap_or_else(|| ".".to_owned());
    // The total timeout bounds the whole command: the fetch and the engine start too. A signal
    // or the deadline during preparation stops it at once (nothing has run, nothing is lost).
    let deadline = args
        .total_timeout
        .map(|limit| tokio::time::Instant::now() + limit);
    let stopped_before_cases = |reason| Error::StoppedBeforeCases {
        reason,
        limit: args.total_timeout,
    };
    // The agent each case names (`None`: the entry agent).
    let case_agents: Vec<Option<String>> = cases.iter().map(|case| case.agent.clone()).collect();
    let judged = cases.iter().any(|case| {
        case.assertions
            .iter()
            .any(|assertion| assertion.judged().is_some())
    });
    let prepared = tokio::select! {
        prepared = prepare_engine(&args, &environment, &source_text, &case_agents, judged) => prepared?,
        () = stop.stopped() => return Err(stopped_before_cases(StopReason::Interrupted)),
        () = sleep_until(deadline) => return Err(stopped_before_cases(StopReason::TotalTimeout)),
    };
    // Keys from the project's `.env` files are masked like the environment's.
    let (redactor, added) = redactor.with(prepared.project_secrets.iter().cloned());
    if outputs::github_enabled(args.outputs.github, &environment) && !added.is_empty() {
        report::announce_masks(&Redactor::new(added));
    }

    // Whatever happens next (success, failure, total timeout, SIGINT/SIGTERM), the MCP servers
    // this run started are shut down gracefully before aigne-ci exits.
    let outcome: Result<ExitStatus, Error> = async {
        let settings = BatchSettings {
            concurrency,
            case_timeout: args.timeout,
            total_timeout: deadline
                .map(|deadline| deadline.saturating_duration_since(tokio::time::Instant::now())),
            grace_period: args.grace_period,
            default_agent: prepared.default_agent.clone(),
            repeat,
        };
        let report_settings = outputs::report_settings(
            &args.outputs,
            &environment,
            redactor,
            inputs.path.as_ref().map(|_| inputs.label.clone()),
            args.grace_period,
        );
        let mut context = RunContext {
            project: prepared.project.clone(),
            engine: prepared.engine.clone(),
            engine_reason: Some(prepared.engine_reason.clone()),
            subprocesses: Vec::new(),
            model: args.model.model.clone(),
            agent: Some(prepared.default_agent.clone()),
            inputs: InputsInfo {
                file: inputs.label.clone(),
                cases: all_lines.len(),
                lines: all_lines,
            },
            shard: shard.map(|shard| ShardInfo {
                index: shard.index,
                count: shard.count,
            }),
            policy: Policy {
                fail_on: args.policy.fail_on,
                min_pass_rate: args.policy.min_pass_rate,
            },
            started_at,
            repeat: (repeat.runs.get() > 1).then_some((repeat.runs.get(), repeat.min_pass)),
            baseline: baseline
                .as_ref()
                .map(|baseline| (baseline.file().display().to_string(), baseline.figures())),
        };
        let single = cases.len() + invalid.len() == 1 && inputs.path.is_none();
        let stdout_redactor = report_settings.redactor.clone();
        let mut reporter = RunReporter::create(report_settings)?;
        if let Some(baseline) = baseline {
            reporter = reporter.with_baseline(baseline);
        }
        let outcome = batch::execute_judged(
            cases,
            invalid,
            prepared.runner.as_ref(),
            prepared.judge.as_deref(),
            &settings,
            &stop,
            &mut reporter,
        )
        .await?;
        let single_output = reporter.single_output().cloned();
        context.subprocesses = prepared
            .subprocesses
            .records()
            .into_iter()
            .map(|record| SubprocessInfo {
                purpose: record.purpose,
                program: record.program.display().to_string(),
                args: record.args,
            })
            .collect();
        let summary =
            reporter.finish(&context, outcome.not_run, outcome.stopped, outcome.wall_ms)?;
        if single && let Some(output) = single_output {
            report::print_output(&output, &stdout_redactor);
        }
        Ok(match outcome.stopped {
            Some(StopReason::Interrupted) => ExitStatus::Interrupted,
            Some(StopReason::TotalTimeout) => ExitStatus::TotalTimeout,
            None if summary.policy.holds => ExitStatus::Success,
            None => ExitStatus::PolicyFailed,
        })
    }
    .await;
    prepared.shutdown().await;
    outcome
}

/// Resolves at the deadline, or never without one.
async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// `--repeat N` and `--repeat-min-pass K` (1 <= K <= N; K defaults to N).
fn repeat_setting(verdicts: &VerdictArgs) -> Result<Repeat, Error> {
    let runs = NonZeroUsize::new(verdicts.repeat).ok_or(BatchError::Setting {
        flag: "repeat",
        message: "must be at least 1".to_owned(),
    })?;
    let min_pass = verdicts.repeat_min_pass.unwrap_or(runs.get());
    if min_pass == 0 || min_pass > runs.get() {
        return Err(BatchError::Setting {
            flag: "repeat-min-pass",
            message: format!(
                "must be between 1 and `--repeat` ({}), not `{min_pass}`",
                runs.get()
            ),
        }
        .into());
    }
    Ok(Repeat { runs, min_pass })
}

/// `--input`, `--prompt` or `--input-json`.
fn inputs_source(args: &RunArgs) -> Result<InputsSource, Error> {
    if let Some(path) = &args.inputs.input {
        return Ok(if path.as_os_str() == "-" {
            InputsSource::Stdin
        } else {
            InputsSource::File(path.clone())
        });
    }
    if let Some(prompt) = &args.inputs.prompt {
        return Ok(InputsSource::Prompt(prompt.clone()));
    }
    if let Some(json) = &args.inputs.input_json {
        return Ok(InputsSource::InputJson(json.clone()));
    }
    Err(Error::usage(
        "no inputs: pass `--input FILE`, `--prompt TEXT` or `--input-json JSON`",
        Some(
            "an inputs file holds one JSON value per line, e.g. `{\"message\": \"hello\"}`"
                .to_owned(),
        ),
    ))
}

/// What the batch needs from the earlier stages.
struct Prepared {
    runner: Arc<dyn CaseRunner>,
    /// Grades `llm-rubric` and `judge` assertions (when the cases have some).
    judge: Option<Arc<dyn Judge>>,
    default_agent: String,
    project: ProjectInfo,
    engine: String,
    engine_reason: String,
    /// Every subprocess the engine starts (read after the batch, for `summary.json`).
    subprocesses: SubprocessLog,
    /// The native engine's MCP servers.
    mcp: Option<Arc<McpPool>>,
    /// Secret values the project's `.env` files add to the environment.
    project_secrets: Vec<String>,
}

impl Prepared {
    /// Ends what the engine started: each MCP session is cancelled and each stdio server's stdin
    /// closed, then it gets a short grace to exit before its process group is killed.
    async fn shutdown(&self) {
        if let Some(mcp) = &self.mcp {
            mcp.shutdown().await;
        }
    }
}

/// Fetches and loads the project and builds the engine.
async fn prepare_engine(
    args: &RunArgs,
    environment: &Environment,
    source: &str,
    case_agents: &[Option<String>],
    judged: bool,
) -> Result<Prepared, Error> {
    let fetch_settings = environment.fetch_settings(source.to_owned(), &args.source_args)?;
    let progress = FetchProgress::new(FetchProgress::stderr_is_terminal());
    let fetched = fetch::fetch(&fetch_settings, &progress).await?;
    let project = Arc::new(Project::load(&fetched.project_dir)?);
    let project_secrets = dotenv_secrets(environment, &fetched.project_dir)?;
    let agent_name = args.agent.clone().or_else(|| args.entry_agent.clone());
    // AIGNE names a JavaScript file's agent after its default export (`fn.name`), which only
    // node knows: a name the loader does not find may still be one, checked once the engine
    // is up.
    let entry = match project.agent(agent_name.as_deref()) {
        Ok(agent) => Some(agent.clone()),
        Err(_) if agent_name.is_some() && project.has_javascript_files() => None,
        Err(error) => return Err(error.into()),
    };
    let mut default_agent = match (&entry, &agent_name) {
        (Some(agent), _) => agent.name.clone(),
        (None, name) => name.clone().unwrap_or_default(),
    };
    let project_info = ProjectInfo {
        source: fetched.source.clone(),
        sha256: fetched.sha256.clone(),
        cache_hit: Some(fetched.cache_hit),
        cache_key: fetched.cache_key.clone(),
    };
    let unsupported: Vec<UnsupportedFeature> = support::unsupported_features(&project)
        .into_iter()
        .map(|used| UnsupportedFeature {
            feature: used.feature.to_string(),
            location: format!("agent `{}` at `{}`", used.agent, used.location),
        })
        .collect();
    let subprocesses = SubprocessLog::default();
    let decision = choose_engine(
        match args.engine {
            EngineChoice::Auto => EngineRequest::Auto,
            EngineChoice::Native => EngineRequest::Native,
            EngineChoice::Node => EngineRequest::Node,
        },
        &unsupported,
    );
    report::log_line(&format!(
        "engine: {} ({})",
        decision.engine, decision.reason
    ));
    if decision.engine == EngineKind::Node {
        // The official runtime calls its providers itself: a cassette would be silently
        // ignored, and a "replayed" run would reach the network with real keys.
        let cassette = [
            ("--replay", &args.model.replay),
            ("--record", &args.model.record),
        ]
        .into_iter()
        .find_map(|(flag, path)| path.as_ref().map(|path| (flag, path)));
        if let Some((flag, path)) = cassette {
            return Err(Error::usage(
                format!(
                    "`{flag} {}` works only with the native engine, and this run uses the node engine ({})",
                    path.display(),
                    decision.reason
                ),
                Some(
                    "pass `--engine native` (with `--engine auto`, the project uses a feature only the node engine runs)"
                        .to_owned(),
                ),
            ));
        }
        let node = NodeEngine::start(
            NodeEngineSettings {
                env: environment.variables.clone(),
                project_dir: fetched.project_dir.clone(),
                cache_dir: environment.cache_dir(args.source_args.cache_dir.as_ref()),
                version: args.node_engine_version.clone(),
                preinstalled: args.node_engine_dir.clone(),
                offline: args.source_args.offline,
                deny_exec: args.deny_exec,
                allow_install_scripts: args.allow_install_scripts,
                project_has_js: project.has_javascript(),
                case_timeout: args.timeout,
                model: args.model.model.clone(),
                model_options: node_model_options(&args.model),
            },
            subprocesses.clone(),
        )
        .await
        .map_err(|error| {
            let hint = error
                .hint()
                .unwrap_or_else(|| "install node and npm, or pass `--engine native`".to_owned());
            Error::usage(
                format!("cannot start the node engine: {}", error_chain(&error)),
                Some(hint),
            )
        })?;
        if entry.is_none()
            && !node
                .project()
                .agents
                .iter()
                .any(|agent| agent.name == default_agent)
            && let Err(error) = project.agent(agent_name.as_deref())
        {
            node.shutdown().await;
            return Err(error.into());
        }
        let runner: Arc<dyn CaseRunner> = Arc::new(NodeRunner {
            node,
            default_agent: default_agent.clone(),
            project: project.clone(),
        });
        // Judges call the native providers, whatever engine runs the cases.
        let judge = if judged {
            let settings =
                ModelSettings::resolve(&args.model, environment, Some(&fetched.project_dir))?;
            Some(judge_of(
                Arc::new(ModelRegistry::new(settings)?),
                project.clone(),
                args,
                runner.clone(),
            ))
        } else {
            None
        };
        return Ok(Prepared {
            runner,
            judge,
            default_agent,
            project: project_info,
            engine: "node".to_owned(),
            engine_reason: decision.reason,
            subprocesses,
            mcp: None,
            project_secrets,
        });
    }
    // The agents the cases run: what the checks before the first case look at.
    let mut roots: Vec<Arc<AgentDef>> = if case_agents.iter().any(Option::is_none) {
        match &entry {
            Some(agent) => vec![agent.clone()],
            // An exported JavaScript name: one of the JS files.
            None => project.javascript_files().into_iter().cloned().collect(),
        }
    } else {
        Vec::new()
    };
    roots.extend(
        case_agents
            .iter()
            .flatten()
            .filter_map(|name| project.agent(Some(name)).ok().cloned()),
    );
    let reachable = support::reachable_agents(&project, &roots);
    let exec_uses = support::exec_uses(&reachable);
    // `--engine native` on a project whose cases reach a feature the native engine lacks: one
    // error naming the feature and its file (exit 2), not an errored case per input.
    if let Some(error) = support::unsupported_error(&project, &reachable) {
        return Err(error.into());
    }
    if args.deny_exec {
        // Refuse before any case runs (exit 2), naming the agent and its file, rather than
        // erroring every case that reaches a stdio MCP server or a JavaScript agent.
        if let Some(error) = support::deny_exec_error(&exec_uses) {
            return Err(error.into());
        }
    }
    let model_settings =
        ModelSettings::resolve(&args.model, environment, Some(&fetched.project_dir))?;
    let registry = Arc::new(ModelRegistry::new(model_settings)?);
    // JavaScript agents run in one `node` child, started only if one is invoked.
    let js = JsBridge::start(
        JsSettings {
            env: environment.variables.clone(),
            working_dir: fetched.project_dir.clone(),
            script_dir: environment
                .cache_dir(args.source_args.cache_dir.as_ref())
                .join("node-bridge-v1"),
            call_timeout: args.timeout,
            deny_exec: args.deny_exec,
            agent_names: project
                .top_level_agents()
                .iter()
                .map(|agent| agent.name.clone())
                .collect(),
            // Installed before node first starts, so never for a run that runs no JavaScript.
            dependencies: Some(NpmSettings {
                env: environment.variables.clone(),
                deny_exec: args.deny_exec,
                allow_install_scripts: args.allow_install_scripts,
                offline: args.source_args.offline,
            }),
        },
        subprocesses.clone(),
    );
    // The project's npm dependencies go in before the first case when the run's agents reach
    // JavaScript: an install is no case's, and its failure is the run's (exit 2). JavaScript
    // reached otherwise (`context.invoke` by name) installs them when node first starts.
    if let Some(first) = exec_uses.iter().find(|used| used.node) {
        js.install_dependencies(&first.agent)
            .await
            .map_err(crate::engine::InvokeError::from)?;
    }
    // MCP servers connect before the first case and are shared by every case;
    // `Prepared::shutdown` ends them when the run ends (and, should that never run, dropping the pool kills every server
    // process group).
    let mcp = Arc::new(McpPool::new(
        McpSettings::resolve(environment, args.deny_exec),
        subprocesses.clone(),
    ));
    let engine = Engine::new(
        project.clone(),
        registry.clone(),
        EngineSettings {
            max_tool_turns: args.max_tool_turns,
            js: Some(js),
        },
    )
    .with_mcp(mcp.clone());
    if entry.is_none() {
        default_agent = engine.agent_name(Some(&default_agent)).await?;
    }
    // A missing key or an unknown provider fails every case the same way: say it once, exit 2.
    engine.check_models(&roots)?;
    // AIGNE connects to MCP servers when it loads the project: a server that cannot be started or
    // reached stops the run here (exit 2) instead of erroring every case.
    match engine.connect_mcp_agents(&reachable).await {
        Ok(connections) => {
            for connection in connections {
                report::log_line(&format!(
                    "mcp: connected to `{}` ({} tools)",
                    connection.label(),
                    connection.tools().len()
                ));
            }
        }
        Err(error) => {
            mcp.shutdown().await;
            return Err(error.into());
        }
    }
    let runner: Arc<dyn CaseRunner> = Arc::new(EngineRunner {
        engine,
        default_agent: default_agent.clone(),
    });
    let judge = judged.then(|| judge_of(registry, project, args, runner.clone()));
    Ok(Prepared {
        runner,
        judge,
        default_agent,
        project: project_info,
        engine: "native".to_owned(),
        engine_reason: decision.reason,
        subprocesses,
        mcp: Some(mcp),
        project_secrets,
    })
}

/// The run's judge over `registry` (the wiring of [`ModelJudge`]).
fn judge_of(
    registry: Arc<ModelRegistry>,
    project: Arc<Project>,
    args: &RunArgs,
    runner: Arc<dyn CaseRunner>,
) -> Arc<dyn Judge> {
    Arc::new(ModelJudge::new(
        registry,
        project,
        args.verdicts.judge_model.clone(),
        runner,
    ))
}

/// `--temperature` and friends under the names the official CLI forwards to its model.
fn node_model_options(model: &crate::cli::ModelArgs) -> serde_json::Map<String, serde_json::Value> {
    let mut options = serde_json::Map::new();
    let numbers = [
        ("temperature", model.temperature),
        ("topP", model.top_p),
        ("presencePenalty", model.presence_penalty),
        ("frequencyPenalty", model.frequency_penalty),
    ];
    for (name, value) in numbers {
        if let Some(value) = value {
            options.insert(name.to_owned(), serde_json::json!(value));
        }
    }
    if let Some(effort) = &model.reasoning_effort {
        options.insert("reasoningEffort".to_owned(), serde_json::json!(effort));
    }
    options
}

/// The batch's [`CaseRunner`] over the official runtime in Node ([`NodeEngine`]).
struct NodeRunner {
    node: NodeEngine,
    default_agent: String,
    /// The project as the native loader reads it, for each agent's `input_key`.
    project: Arc<Project>,
}

#[async_trait::async_trait]
impl CaseRunner for NodeRunner {
    async fn run(&self, case: &Case) -> CaseExecution {
        let agent = case.agent.as_deref().unwrap_or(&self.default_agent);
        // A text case goes to the agent's `input_key` (or `message`), as the official CLI
        // assigns text input.
        let input = match &case.input {
            serde_json::Value::String(text) => {
                let key = self
                    .project
                    .agent(Some(agent))
                    .map_or("message", |agent| agent.text_input_key());
                serde_json::json!({ key: text })
            }
            other => other.clone(),
        };
        let request = NodeInvokeRequest {
            agent: agent.to_owned(),
            input,
            user_context: None,
            session: case.session.clone(),
        };
        match self.node.invoke(&request).await {
            Ok(outcome) => CaseExecution {
                output: Ok(outcome.output),
                usage: Usage {
                    input_tokens: outcome.usage.input_tokens,
                    output_tokens: outcome.usage.output_tokens,
                },
                model: None,
                attempts: 1,
                output_key: None,
            },
            Err(error) => CaseExecution::error(ErrorInfo::new(error.kind(), error_chain(&error))),
        }
    }
}

/// The batch's [`CaseRunner`] over the native [`Engine`].
struct EngineRunner {
    engine: Engine,
    default_agent: String,
}

#[async_trait::async_trait]
impl CaseRunner for EngineRunner {
    async fn run(&self, case: &Case) -> CaseExecution {
        let agent = case.agent.as_deref().unwrap_or(&self.default_agent);
        let output_key = self
            .engine
            .project()
            .agent(Some(agent))
            .ok()
            .and_then(|agent| agent.ai().and_then(|ai| ai.output_key.clone()));
        let request = InvokeRequest {
            agent: Some(agent.to_owned()),
            input: case.input.clone(),
            case_label: format!("{} (line {})", case.id, case.line),
            session: case.session.clone(),
        };
        match self.engine.invoke(request).await {
            Ok(outcome) => CaseExecution {
                output: Ok(outcome.output),
                usage: Usage {
                    input_tokens: outcome.usage.input_tokens,
                    output_tokens: outcome.usage.output_tokens,
                },
                model: outcome.model,
                attempts: outcome.model_calls,
                output_key,
            },
            Err(error) => {
                let mut execution =
                    CaseExecution::error(ErrorInfo::new(error.kind(), error_chain(&error)));
                execution.output_key = output_key;
                execution
            }
        }
    }
}

/// Turns SIGINT/SIGTERM into stops: the first stops scheduling (grace period), the second
/// drops the running cases. The handlers are installed before this returns (so a signal that
/// comes right after is never the default "terminate"); the task ends with the returned guard.
fn listen_for_signals(stop: StopSignal) -> SignalGuard {
    let mut signals = Signals::install();
    let task = tokio::spawn(async move {
        let mut count = 0;
        while signals.next().await {
            count += 1;
            if count == 1 {
                stop.stop(StopReason::Interrupted);
            } else {
                stop.abandon(StopReason::Interrupted);
            }
        }
    });
    SignalGuard(task)
}

/// Aborts the signal task when dropped.
struct SignalGuard(tokio::task::JoinHandle<()>);

impl Drop for SignalGuard {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(unix)]
struct Signals {
    interrupt: Option<tokio::signal::unix::Signal>,
    terminate: Option<tokio::signal::unix::Signal>,
}

#[cfg(unix)]
impl Signals {
    fn install() -> Self {
        use tokio::signal::unix::{SignalKind, signal};
        Self {
            interrupt: signal(SignalKind::interrupt()).ok(),
            terminate: signal(SignalKind::terminate()).ok(),
        }
    }

    /// Waits for the next signal; `false` when none can come.
    async fn next(&mut self) -> bool {
        async fn receive(signal: &mut Option<tokio::signal::unix::Signal>) -> Option<()> {
            match signal {
                Some(signal) => signal.recv().await,
                None => futures::future::pending().await,
            }
        }
        if self.interrupt.is_none() && self.terminate.is_none() {
            return false;
        }
        tokio::select! {
            received = receive(&mut self.interrupt) => received.is_some(),
            received = receive(&mut self.terminate) => received.is_some(),
        }
    }
}

#[cfg(not(unix))]
struct Signals;

#[cfg(not(unix))]
impl Signals {
    fn install() -> Self {
        Self
    }

    async fn next(&mut self) -> bool {
        tokio::signal::ctrl_c().await.is_ok()
    }
}
