//! `aigne-ci run [SOURCE] [AGENT]`: the wiring of plan → fetch → project → engines → batch →
//! report. What each flag does is resolved in [`crate::plan`]; which engine runs each case, in
//! [`crate::engine::route`]; the engines themselves sit behind [`crate::engine::seam`].

use std::time::SystemTime;

use crate::batch::{self, BatchError, BatchSettings, StopReason, StopSignal};
use crate::cli::RunArgs;
use crate::error::Error;
use crate::exit_status::ExitStatus;
use crate::plan::RunPlan;
use crate::report::{
    self, InputsInfo, Redactor, RunContext, RunReporter, ShardInfo, SubprocessInfo,
};
use crate::settings::Environment;

use super::prepare::{Prepared, prepare};
use super::signals::listen_for_signals;

/// Runs the command.
pub(crate) async fn run(args: RunArgs, environment: Environment) -> Result<ExitStatus, Error> {
    let started_at = SystemTime::now();
    let plan = RunPlan::resolve(&args, &environment)?;
    let redactor = environment.redactor(plan.fetch.token.as_ref());
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
        };
        let report_settings = plan.report.settings(redactor, inputs_file.clone());
        let single = cases.len() + invalid.len() == 1 && inputs.path.is_none();
        let stdout_redactor = report_settings.redactor.clone();
        let mut reporter = RunReporter::create(report_settings)?;
        let outcome = batch::execute(
            cases,
            invalid,
            &prepared.runner,
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

/// Resolves at the deadline, or never without one.
async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
