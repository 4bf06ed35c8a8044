//! `aigne-ci run [SOURCE] [AGENT]`: the wiring of plan → fetch → project → engines → batch →
//! report. What each flag does is resolved in [`crate::plan`]; which engine runs each case, in
//! [`crate::engine::route`]; the engines themselves sit behind [`crate::engine::seam`].

use std::sync::Arc;
use std::time::SystemTime;

use crate::batch::assertion::JudgeKind;
use crate::batch::{
    self, BatchError, BatchSettings, Case, CaseRunner, Judge, StopReason, StopSignal,
};
use crate::cli::RunArgs;
use crate::engine::choice::EngineKind;
use crate::engine::route::route_cases;
use crate::engine::seam::{Engines, EnginesStart, NativeStart, NodeStart};
use crate::engine::subprocess::SubprocessLog;
use crate::error::Error;
use crate::exit_status::ExitStatus;
use crate::fetch;
use crate::model::ModelRegistry;
use crate::plan::RunPlan;
use crate::plan::dry_run::DryRun;
use crate::project::Project;
use crate::report::{
    self, Baseline, FetchProgress, InputsInfo, ProjectInfo, Redactor, RunContext, RunReporter,
    ShardInfo, SubprocessInfo,
};
use crate::settings::Environment;

use super::judge::ModelJudge;
use super::runner::RoutedRunner;
use super::signals::listen_for_signals;

/// Runs the command.
pub(crate) async fn run(args: RunArgs, environment: Environment) -> Result<ExitStatus, Error> {
    let started_at = SystemTime::now();
    let plan = RunPlan::resolve(&args, &environment)?;
    let redactor = Redactor::new(environment.secret_values());
    if plan.report.github_enabled() {
        // Before anything else prints.
        report::announce_masks(&redactor);
    }
    let stop = StopSignal::new();
    let _signals = listen_for_signals(stop.clone());

    // Inputs first: every malformed line is reported before the project loads or a model is
    // called.
    let inputs = batch::read_inputs(&plan.inputs.source)?;
    if !inputs.invalid.is_empty() && !plan.inputs.skip_invalid {
        return Err(BatchError::InvalidInputs {
            file: inputs.label,
            invalid: inputs.invalid,
        }
        .into());
    }
    if inputs.cases.is_empty() && inputs.invalid.is_empty() {
        return Err(BatchError::NoCases { file: inputs.label }.into());
    }
    let all_lines = inputs.lines();
    let (cases, invalid) = match plan.inputs.shard {
        Some(shard) => shard.select(inputs.cases, inputs.invalid),
        None => (inputs.cases, inputs.invalid),
    };
    let inputs_file = inputs.path.as_ref().map(|_| inputs.label.clone());
    // Read before anything runs: a missing or malformed baseline stops the run (exit 2).
    let baseline = plan
        .batch
        .baseline
        .as_deref()
        .map(Baseline::load)
        .transpose()?;

    // The total timeout bounds the whole command: the fetch and the engine start too. A signal
    // or the deadline during preparation stops it at once (nothing has run, nothing is lost).
    let deadline = plan
        .batch
        .total_timeout
        .map(|limit| tokio::time::Instant::now() + limit);
    let stopped_before_cases = |reason| Error::StoppedBeforeCases {
        reason,
        limit: plan.batch.total_timeout,
    };
    let prepared = tokio::select! {
        prepared = prepare(&plan, &environment, &cases, &invalid, inputs_file.clone()) => prepared?,
        () = stop.stopped() => return Err(stopped_before_cases(StopReason::Interrupted)),
        () = sleep_until(deadline) => return Err(stopped_before_cases(StopReason::TotalTimeout)),
    };
    let prepared = match prepared {
        Prepared::DryRun(document) => {
            report::print_output(&document, &redactor);
            return Ok(ExitStatus::Success);
        }
        Prepared::Run(prepared) => prepared,
    };
    // Keys from the project's `.env` files are masked like the environment's.
    let (redactor, added) = redactor.with(prepared.project_secrets.iter().cloned());
    if plan.report.github_enabled() && !added.is_empty() {
        report::announce_masks(&Redactor::new(added));
    }

    // Whatever happens next (success, failure, total timeout, SIGINT/SIGTERM), the servers and
    // hosts this run started are shut down gracefully before aigne-ci exits.
    let outcome: Result<ExitStatus, Error> = async {
        let settings = BatchSettings {
            concurrency: plan.batch.concurrency,
            case_timeout: plan.batch.case_timeout,
            total_timeout: deadline
                .map(|deadline| deadline.saturating_duration_since(tokio::time::Instant::now())),
            grace_period: plan.batch.grace_period,
            default_agent: prepared.runner.default_agent.clone(),
            repeat: plan.batch.repeat,
        };
        let report_settings = plan.report.settings(redactor, inputs_file.clone());
        let single = cases.len() + invalid.len() == 1 && inputs.path.is_none();
        let stdout_redactor = report_settings.redactor.clone();
        let mut reporter = RunReporter::create(report_settings)?;
        let context_baseline = baseline
            .as_ref()
            .map(|baseline| (baseline.file().display().to_string(), baseline.figures()));
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
        let context = RunContext {
            project: prepared.project.clone(),
            engine: prepared.engine.clone(),
            engine_reason: prepared.engine_reason.clone(),
            subprocesses: prepared
                .subprocesses
                .records()
                .into_iter()
                .map(|record| SubprocessInfo {
                    purpose: record.purpose,
                    program: record.program.display().to_string(),
                    args: record.args,
                })
                .collect(),
            model: plan.model.model.clone(),
            agent: Some(prepared.runner.default_agent.clone()),
            inputs: InputsInfo {
                file: inputs.label.clone(),
                cases: all_lines.len(),
                lines: all_lines,
            },
            shard: plan.inputs.shard.map(|shard| ShardInfo {
                index: shard.index,
                count: shard.count,
            }),
            policy: plan.batch.policy,
            started_at,
            repeat: (plan.batch.repeat.runs.get() > 1)
                .then_some((plan.batch.repeat.runs.get(), plan.batch.repeat.min_pass)),
            baseline: context_baseline,
        };
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
    prepared.runner.engines.shutdown().await;
    outcome
}

/// Whether a case has a model-graded assertion.
fn judged(cases: &[Case]) -> bool {
    cases.iter().any(|case| {
        case.assertions
            .iter()
            .any(|assertion| assertion.judged().is_some())
    })
}

/// Resolves at the deadline, or never without one.
async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// What the batch needs from the earlier stages, or the plan of a dry run.
enum Prepared {
    DryRun(serde_json::Value),
    Run(Box<Ready>),
}

/// The started engines and what the summary says about them.
struct Ready {
    runner: Arc<RoutedRunner>,
    /// Grades `llm-rubric` and `judge` assertions (when the cases have some).
    judge: Option<Arc<dyn Judge>>,
    project: ProjectInfo,
    /// `native`, `node`, or `native+node` when both serve the run.
    engine: String,
    /// Why, when one reason covers every case.
    engine_reason: Option<String>,
    /// Every subprocess the engines start (read after the batch, for `summary.json`).
    subprocesses: SubprocessLog,
    /// Secret values the project's `.env` files add to the environment.
    project_secrets: Vec<String>,
}

/// Fetches and loads the project, completes the plan with it, routes each case and starts the
/// engines the cases need (or, with `--dry-run`, describes all that and starts nothing).
async fn prepare(
    plan: &RunPlan,
    environment: &Environment,
    cases: &[Case],
    invalid: &[batch::InvalidCase],
    inputs_file: Option<String>,
) -> Result<Prepared, Error> {
    let progress = FetchProgress::new(FetchProgress::stderr_is_terminal());
    let fetched = fetch::fetch(&plan.fetch, &progress).await?;
    let project = Arc::new(Project::load(&fetched.project_dir)?);
    let project_plan = plan.with_project(environment, &project, &fetched.project_dir)?;
    // AIGNE names a JavaScript file's agent after its default export (`fn.name`), which only
    // an engine knows: a name the loader does not find may still be one.
    let default_agent = match project.agent(plan.agent.as_deref()) {
        Ok(agent) => agent.name.clone(),
        Err(_) if plan.agent.is_some() && project.has_javascript_files() => {
            plan.agent.clone().unwrap_or_default()
        }
        Err(error) => return Err(error.into()),
    };
    // The agents the cases run, and the project evaluator agents of their `judge` assertions.
    let mut case_agents: Vec<String> = cases
        .iter()
        .map(|case| case.agent.clone().unwrap_or_else(|| default_agent.clone()))
        .chain(cases.iter().flat_map(|case| {
            case.assertions.iter().filter_map(|assertion| {
                match assertion.judged().map(|spec| spec.kind) {
                    Some(JudgeKind::Agent(name)) => Some(name),
                    _ => None,
                }
            })
        }))
        .collect();
    case_agents.sort();
    case_agents.dedup();
    let routes = route_cases(plan.engine.request, &project, &case_agents);
    let mut reasons: Vec<(EngineKind, &str)> = routes
        .agents
        .values()
        .map(|route| (route.engine, route.reason.as_str()))
        .collect();
    reasons.sort();
    reasons.dedup();
    for (engine, reason) in &reasons {
        report::log_line(&format!("engine: {engine} ({reason})"));
    }
    let project_info = ProjectInfo {
        source: fetched.source.clone(),
        sha256: fetched.sha256.clone(),
        cache_hit: Some(fetched.cache_hit),
        cache_key: fetched.cache_key.clone(),
    };
    if plan.dry_run {
        let document = DryRun {
            plan,
            project: &project_plan,
            fetched: serde_json::json!({
                "source": fetched.source,
                "sha256": fetched.sha256,
                "cache_hit": fetched.cache_hit,
            }),
            default_agent: &default_agent,
            cases,
            invalid,
            inputs_file,
            routes: &routes,
        }
        .document();
        return Ok(Prepared::DryRun(document));
    }
    let engine = match (
        routes.uses(EngineKind::Native),
        routes.uses(EngineKind::Node),
    ) {
        (true, true) => "native+node".to_owned(),
        (false, true) => EngineKind::Node.to_string(),
        _ => EngineKind::Native.to_string(),
    };
    let engine_reason = match reasons.as_slice() {
        [(_, reason)] => Some((*reason).to_owned()),
        _ => None,
    };
    let subprocesses = SubprocessLog::default();
    let started = Engines::start(
        EnginesStart {
            project: project.clone(),
            routes,
            default_agent,
            default_agent_given: plan.agent.is_some(),
            native: NativeStart {
                model: project_plan.model.clone(),
                js: plan.engine.js_settings(&project, &fetched.project_dir),
                mcp: plan.engine.mcp.clone(),
                max_tool_turns: plan.engine.max_tool_turns,
                deny_exec: plan.engine.deny_exec,
            },
            node: NodeStart {
                node: plan.engine.node_settings(&project, &fetched.project_dir),
                cassette: plan.engine.cassette.clone(),
                reason: String::new(),
            },
        },
        subprocesses.clone(),
    )
    .await?;
    for note in &started.notes {
        report::log_line(note);
    }
    // Judges call the native providers whatever engine runs the cases: the native engine's
    // (one transport, one cassette), else providers of their own.
    let judge_models = match started.engines.model_registry() {
        Some(registry) => Some(registry),
        None if judged(cases) => Some(Arc::new(ModelRegistry::new(project_plan.model.clone())?)),
        None => None,
    };
    let runner = Arc::new(RoutedRunner {
        engines: started.engines,
        default_agent: started.default_agent,
        project: project.clone(),
        transcripts: plan.report.transcripts,
    });
    let judge = match judge_models {
        Some(registry) if judged(cases) => Some(Arc::new(ModelJudge::new(
            registry,
            project,
            plan.batch.judge_model.clone(),
            runner.clone() as Arc<dyn CaseRunner>,
        )) as Arc<dyn Judge>),
        _ => None,
    };
    Ok(Prepared::Run(Box::new(Ready {
        runner,
        judge,
        project: project_info,
        engine,
        engine_reason,
        subprocesses,
        project_secrets: project_plan.dotenv.secrets(),
    })))
}
