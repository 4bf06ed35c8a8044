//! `aigne-ci run [SOURCE] [AGENT]`: the wiring of plan → fetch → project → engines → batch →
//! report. What each flag does is resolved in [`crate::plan`]; which engine runs each case, in
//! [`crate::engine::route`]; the engines themselves sit behind [`crate::engine::seam`].

use std::time::SystemTime;

use crate::batch::error::LISTED_INVALID;
use crate::batch::{self, BatchError, BatchSettings, StopReason, StopSignal};
use crate::cli::RunArgs;
use crate::error::Error;
use crate::exit_status::ExitStatus;
use crate::plan::RunPlan;
use crate::report::{
    self, Baseline, InputsInfo, RunContext, RunReporter, ShardInfo, SubprocessInfo,
};
use crate::settings::Environment;

use super::prepare::{Prepared, prepare};
use super::signals::listen_for_signals;

/// Runs the command.
pub(crate) async fn run(
    args: RunArgs,
    environment: Environment,
    late: &crate::secret::LateSecrets,
) -> Result<ExitStatus, Error> {
    let started_at = SystemTime::now();
    let plan = RunPlan::resolve(&args, &environment)?;
    let redactor = environment.redactor(plan.fetch.token.as_ref());
    if plan.report.github_enabled() {
        // Before anything else prints.
        report::announce_masks(&redactor);
    }
    // One run at a time per output folder: refused before anything runs (a dry run writes
    // nothing).
    let _outputs = if plan.dry_run {
        None
    } else {
        Some(plan.report.lock_outputs()?)
    };
    let stop = StopSignal::new();
    let _signals = listen_for_signals(stop.clone());

    // The total timeout bounds the whole command: reading the inputs, the fetch and the engine
    // start too. A signal or the deadline during preparation stops it at once (nothing has run,
    // nothing is lost).
    let deadline = plan
        .batch
        .total_timeout
        .map(|limit| tokio::time::Instant::now() + limit);
    let stopped_before_cases = |reason, stage| Error::StoppedBeforeCases {
        reason,
        stage,
        limit: plan.batch.total_timeout,
    };
    // Inputs first: every malformed line is reported before the project loads or a model is
    // called. Stdin that never closes or a FIFO without a writer cannot hold the run.
    let inputs = tokio::select! {
        inputs = batch::read_inputs_interruptible(
            plan.inputs.source.clone(),
            plan.inputs.max_line,
            plan.inputs.max_total,
            // Skipped entries are each recorded; otherwise only a screenful is listed.
            if plan.inputs.skip_invalid { usize::MAX } else { LISTED_INVALID },
        ) => inputs?,
        () = stop.stopped() => return Err(stopped_before_cases(StopReason::Interrupted, READING)),
        () = sleep_until(deadline) => {
            return Err(stopped_before_cases(StopReason::TotalTimeout, READING));
        }
    };
    if !inputs.invalid.is_empty() && !plan.inputs.skip_invalid {
        return Err(BatchError::InvalidInputs {
            file: inputs.label,
            invalid: inputs.invalid,
            more: inputs.more_invalid,
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

    let prepared = tokio::select! {
        prepared = prepare(&plan, &environment, &cases, &invalid, inputs_file.clone(), late) => prepared?,
        () = stop.stopped() => return Err(stopped_before_cases(StopReason::Interrupted, PREPARING)),
        () = sleep_until(deadline) => {
            return Err(stopped_before_cases(StopReason::TotalTimeout, PREPARING));
        }
    };
    // Keys from the project's `.env` files are masked like the environment's (and were
    // announced with `::add-mask::` as soon as they were read).
    let (redactor, _) = redactor.with(late.values());
    let prepared = match prepared {
        Prepared::DryRun(document) => {
            report::print_output(&document, &redactor);
            return Ok(ExitStatus::Success);
        }
        Prepared::Run(prepared) => prepared,
    };

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

/// What a run stopped before its first case was doing.
const READING: &str = "reading the inputs";
const PREPARING: &str = "fetching the project and starting the engine";

/// Resolves at the deadline, or never without one.
async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
