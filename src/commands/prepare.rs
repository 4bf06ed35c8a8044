//! `run`'s preparation: fetch and load the project, complete the plan with it (its `.env`
//! files, the trust check), route each case to an engine and start the engines the cases need —
//! or, with `--dry-run`, describe all that and start nothing.

use std::sync::Arc;

use crate::batch::assertion::JudgeKind;
use crate::batch::{self, Case, CaseRunner, Judge};
use crate::engine::choice::EngineKind;
use crate::engine::route::route_cases;
use crate::engine::seam::{Engines, EnginesStart, NativeStart, NodeStart};
use crate::engine::subprocess::SubprocessLog;
use crate::error::Error;
use crate::fetch;
use crate::model::ModelRegistry;
use crate::plan::RunPlan;
use crate::plan::dry_run::DryRun;
use crate::project::{LoadSettings, Project};
use crate::report::{self, FetchProgress, ProjectInfo, Redactor};
use crate::secret::LateSecrets;
use crate::settings::Environment;

use super::judge::ModelJudge;
use super::runner::RoutedRunner;

/// What the batch needs from the earlier stages, or the plan of a dry run.
pub(crate) enum Prepared {
    DryRun(serde_json::Value),
    Run(Box<Ready>),
}

/// The started engines and what the summary says about them.
pub(crate) struct Ready {
    pub(crate) runner: Arc<RoutedRunner>,
    /// Grades `llm-rubric` and `judge` assertions (when the cases have some).
    pub(crate) judge: Option<Arc<dyn Judge>>,
    pub(crate) project: ProjectInfo,
    /// `native`, `node`, or `native+node` when both serve the run.
    pub(crate) engine: String,
    /// Why, when one reason covers every case.
    pub(crate) engine_reason: Option<String>,
    /// Every subprocess the engines start (read after the batch, for `summary.json`).
    pub(crate) subprocesses: SubprocessLog,
}

/// Fetches and loads the project, completes the plan with it, routes each case and starts the
/// engines the cases need (or, with `--dry-run`, describes all that and starts nothing).
pub(crate) async fn prepare(
    plan: &RunPlan,
    environment: &Environment,
    cases: &[Case],
    invalid: &[batch::InvalidCase],
    inputs_file: Option<String>,
    late: &LateSecrets,
) -> Result<Prepared, Error> {
    let redactor = environment.redactor(plan.fetch.token.as_ref());
    let progress =
        FetchProgress::new(FetchProgress::stderr_is_terminal()).with_redactor(redactor.clone());
    let fetched = fetch::fetch(&plan.fetch, &progress).await?;
    // The `.env` files first: their secrets are masked (and announced) before the project
    // loads, so no load error, warning or model check can print one.
    let dotenv = plan.read_project_env(environment, &fetched.project_dir)?;
    let redactor = mask_project_secrets(&redactor, dotenv.secrets(), late, plan);
    let project = Arc::new(load_project(&fetched.project_dir, plan.files.load_settings()).await?);
    let project_plan = plan.with_project(environment, &project, &fetched.project_dir, dotenv)?;
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
    // One sentence for the summary; each result carries its own case's reason.
    let engine_reason = match reasons.as_slice() {
        [] => None,
        [(_, reason)] => Some((*reason).to_owned()),
        _ if !routes.uses(EngineKind::Node) => {
            Some("the native engine supports every feature the cases' agents reach".to_owned())
        }
        _ if !routes.uses(EngineKind::Native) => Some(
            reasons
                .iter()
                .map(|(_, reason)| *reason)
                .collect::<Vec<_>>()
                .join("; "),
        ),
        _ => Some(format!(
            "per case: agents {} run natively, agents {} need the node engine (each result's `engine_reason` says why)",
            quoted(&routes.agents_on(EngineKind::Native)),
            quoted(&routes.agents_on(EngineKind::Node)),
        )),
    };
    // One line per engine in use: the native engine's agents together, each node reason once.
    let on_native = routes.agents_on(EngineKind::Native);
    if routes.uses(EngineKind::Native) {
        let reason = match reasons
            .iter()
            .filter(|(engine, _)| *engine == EngineKind::Native)
            .collect::<Vec<_>>()
            .as_slice()
        {
            [(_, reason)] => (*reason).to_owned(),
            _ => format!(
                "the native engine supports every feature agents {} reach",
                quoted(&on_native)
            ),
        };
        report::log_line(&format!("engine: native ({reason})"));
    }
    for (_, reason) in reasons
        .iter()
        .filter(|(engine, _)| *engine == EngineKind::Node)
    {
        report::log_line(&format!("engine: node ({reason})"));
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
                max_reflection_rounds: plan.engine.max_reflection_rounds,
                max_team_iterations: plan.engine.max_team_iterations,
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
    for warning in &started.warnings {
        crate::diagnostics::warn(
            &warning.message(),
            warning.failure.as_ref(),
            warning.failure.hint().as_deref(),
            plan.report.github_enabled(),
            &redactor,
        );
    }
    // Judges call the native providers whatever engine runs the cases: the native engine's
    // (one transport, one cassette), else providers of their own.
    let judged = judged(cases);
    let judge_models = match started.engines.model_registry() {
        Some(registry) => Some(registry),
        None if judged => Some(Arc::new(ModelRegistry::new(project_plan.model.clone())?)),
        None => None,
    };
    let runner = Arc::new(RoutedRunner {
        engines: started.engines,
        default_agent: started.default_agent,
        project: project.clone(),
        transcripts: plan.report.transcripts,
    });
    let judge = match judge_models {
        Some(registry) if judged => Some(Arc::new(ModelJudge::new(
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
    })))
}

/// Adds the secrets of the project's `.env` files to the run's masks: to `late` (so `main` masks
/// them in an error) and, in GitHub Actions, as `::add-mask::` right away. Returns the redactor
/// with them.
pub(crate) fn mask_project_secrets(
    redactor: &Redactor,
    secrets: Vec<String>,
    late: &LateSecrets,
    plan: &RunPlan,
) -> Redactor {
    late.add(secrets.iter().cloned());
    let (redactor, added) = redactor.with(secrets);
    if plan.report.github_enabled() && !added.is_empty() {
        report::announce_masks(&Redactor::new(added));
    }
    redactor
}

/// Whether a case has a model-graded assertion.
fn judged(cases: &[Case]) -> bool {
    cases.iter().any(|case| {
        case.assertions
            .iter()
            .any(|assertion| assertion.judged().is_some())
    })
}

/// Loads the project on a blocking thread, so the caller's `select!` on the total timeout and
/// the signals stays live; when that drops this future, the reads in progress stop.
pub(crate) async fn load_project(
    dir: &std::path::Path,
    settings: LoadSettings,
) -> Result<Project, Error> {
    let cancel_on_drop = settings.cancel.on_drop();
    let dir = dir.to_path_buf();
    let loaded = tokio::task::spawn_blocking(move || Project::load_with(&dir, &settings))
        .await
        .map_err(|error| Error::usage(format!("the project loader failed: {error}"), None))?;
    cancel_on_drop.disarm();
    Ok(loaded?)
}

/// `a`, `b` → "`a`, `b`".
fn quoted(names: &[&str]) -> String {
    names
        .iter()
        .map(|name| format!("`{name}`"))
        .collect::<Vec<_>>()
        .join(", ")
}
