//! Running the cases: bounded fan-out, sessions in order, per-case and total timeouts,
//! cancellation with a grace period, and one consumer that hands every outcome to the reporter.
//!
//! Shape (uv `pip/list.rs`, ripgrep's single writer): the cases are grouped into *units* (all
//! turns of a session, or one case), `stream::iter(units).map(run_unit).buffer_unordered(n)`
//! runs them, each unit sends its finished cases on a channel, and the one loop below drains
//! the channel and calls [`Reporter::on_case`] — so results are written one at a time, in the
//! order cases end, and nothing is interleaved. Everything runs in the caller's task; no case is
//! spawned, so dropping the driver cancels every in-flight case.
//!
//! Stopping ([`StopSignal`]): no new case starts (a session stops between turns), in-flight
//! cases get the grace period, then whatever is still running is dropped and recorded as
//! errored (`cancelled` or `total_timeout`). Cases never started are counted as `not_run`.

use std::collections::{BTreeMap, HashMap};
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use futures::StreamExt;
use serde_json::Value;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::assertion::{AssertionOutcome, Observed};
use super::case::{Case, InvalidCase};
use super::error::BatchError;
use super::outcome::{
    BatchOutcome, CaseExecution, CaseOutcome, CaseStatus, ErrorInfo, StopReason, Usage,
};
use super::{CaseRunner, Reporter};

/// How a batch runs.
#[derive(Debug, Clone)]
pub struct BatchSettings {
    /// Cases (or sessions) running at once.
    pub concurrency: NonZeroUsize,
    /// Time limit of one case.
    pub case_timeout: Duration,
    /// Time limit of the whole batch.
    pub total_timeout: Option<Duration>,
    /// How long in-flight cases may finish after a stop.
    pub grace_period: Duration,
    /// Agent of cases that name none.
    pub default_agent: String,
}

/// Asks a running batch to stop. Cloned into signal handlers; the first [`StopSignal::stop`]
/// wins and names the reason.
#[derive(Debug, Clone, Default)]
pub struct StopSignal {
    stop: CancellationToken,
    abandon: CancellationToken,
    reason: Arc<OnceLock<StopReason>>,
}

impl StopSignal {
    /// A signal nobody has raised.
    pub fn new() -> Self {
        Self::default()
    }

    /// Stop scheduling; in-flight cases get the grace period.
    pub fn stop(&self, reason: StopReason) {
        let _ = self.reason.set(reason);
        self.stop.cancel();
    }

    /// Stop now: drop in-flight cases without waiting for the grace period (a second signal).
    pub fn abandon(&self, reason: StopReason) {
        self.stop(reason);
        self.abandon.cancel();
    }

    /// Whether a stop was asked.
    pub fn is_stopped(&self) -> bool {
        self.stop.is_cancelled()
    }

    /// Resolves when a stop is asked.
    pub async fn stopped(&self) {
        self.stop.cancelled().await;
    }

    /// Why the run stops, once it does.
    pub fn reason(&self) -> Option<StopReason> {
        self.reason.get().copied()
    }
}

/// A case that started and has not ended.
struct Running {
    case: Arc<Case>,
    agent: String,
    started: Instant,
    /// What the case recorded so far, kept when it is abandoned.
    transcript: Option<Arc<crate::transcript::TranscriptRecorder>>,
}

type InFlight = Mutex<BTreeMap<usize, Running>>;

/// Runs the cases and reports each as it ends. Malformed entries (`skipped`) are reported
/// first. Returns the totals; fails only when the reporter cannot record a case.
pub async fn execute(
    cases: Vec<Case>,
    skipped: Vec<InvalidCase>,
    runner: &dyn CaseRunner,
    settings: &BatchSettings,
    stop: &StopSignal,
    reporter: &mut dyn Reporter,
) -> Result<BatchOutcome, BatchError> {
    let started = Instant::now();
    let mut outcome = BatchOutcome::default();
    let case_count = cases.len();
    reporter.on_start(case_count + skipped.len());
    for invalid in skipped {
        let skipped = skipped_outcome(invalid, &settings.default_agent);
        record(&mut outcome, reporter, skipped)?;
    }

    let units = group_sessions(cases);
    let in_flight: InFlight = Mutex::new(BTreeMap::new());
    let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel::<CaseOutcome>();
    let driver = {
        let in_flight = &in_flight;
        async move {
            let sender = sender;
            futures::stream::iter(units)
                .take_while(|_| futures::future::ready(!stop.is_stopped()))
                .map(|unit| run_unit(unit, runner, settings, in_flight, &sender, stop))
                .buffer_unordered(settings.concurrency.get())
                .for_each(|()| futures::future::ready(()))
                .await;
        }
    };
    let mut driver = Box::pin(driver);
    let mut driver_done = false;
    let total_deadline = settings.total_timeout.map(|limit| started + limit);
    let mut grace_deadline: Option<Instant> = None;
    let mut abandoned = false;
    loop {
        tokio::select! {
            biased;
            received = receiver.recv() => match received {
                Some(case) => record(&mut outcome, reporter, case)?,
                None => break,
            },
            () = &mut driver, if !driver_done => driver_done = true,
            () = stop.abandon.cancelled(), if !driver_done => {
                abandoned = true;
                break;
            }
            () = stop.stop.cancelled(), if grace_deadline.is_none() => {
                grace_deadline = Some(Instant::now() + settings.grace_period);
                if let Some(reason) = stop.reason() {
                    reporter.on_stopping(reason, running_count(&in_flight));
                }
            }
            () = sleep_until(total_deadline), if total_deadline.is_some() && !stop.is_stopped() && !driver_done => {
                stop.stop(StopReason::TotalTimeout);
            }
            () = sleep_until(grace_deadline), if grace_deadline.is_some() && !driver_done => {
                abandoned = true;
                break;
            }
        }
    }
    if abandoned {
        // Cancels every in-flight case; what finished meanwhile is still in the channel.
        drop(driver);
        while let Ok(case) = receiver.try_recv() {
            record(&mut outcome, reporter, case)?;
        }
        let reason = stop.reason().unwrap_or(StopReason::Interrupted);
        let leftovers = std::mem::take(&mut *lock(&in_flight));
        for (_, running) in leftovers {
            let (kind, message) = match reason {
                StopReason::Interrupted => (
                    "cancelled",
                    "the run was interrupted and the case did not finish within the grace period",
                ),
                StopReason::TotalTimeout => (
                    "total_timeout",
                    "the total timeout ran out and the case did not finish within the grace period",
                ),
            };
            let duration_ms = millis(running.started.elapsed());
            let mut stopped = errored_outcome(
                &running.case,
                running.agent,
                ErrorInfo::new(kind, message),
                duration_ms,
            );
            stopped.engine = runner.engine(&running.case);
            stopped.transcript = running
                .transcript
                .map(|recorder| Arc::new(recorder.snapshot(&running.case.id, running.case.line)));
            record(&mut outcome, reporter, stopped)?;
        }
    }
    let ran = outcome.counts.total - outcome.counts.skipped;
    outcome.not_run = case_count.saturating_sub(ran);
    outcome.stopped = stop.reason();
    outcome.wall_ms = millis(started.elapsed());
    Ok(outcome)
}

fn lock(in_flight: &InFlight) -> std::sync::MutexGuard<'_, BTreeMap<usize, Running>> {
    in_flight
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn running_count(in_flight: &InFlight) -> usize {
    lock(in_flight).len()
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => futures::future::pending().await,
    }
}

fn record(
    outcome: &mut BatchOutcome,
    reporter: &mut dyn Reporter,
    case: CaseOutcome,
) -> Result<(), BatchError> {
    outcome.counts.add(case.status);
    outcome.usage.add(case.usage);
    reporter
        .on_case(&case)
        .map_err(|source| BatchError::Record {
            line: case.line,
            source,
        })
}

/// Sessions become one unit (turns in file order); other cases are units of one. Units keep
/// the file order of their first case.
fn group_sessions(cases: Vec<Case>) -> Vec<Vec<Case>> {
    let mut units: Vec<Vec<Case>> = Vec::new();
    let mut unit_of_session: HashMap<String, usize> = HashMap::new();
    for case in cases {
        if let Some(session) = &case.session {
            if let Some(&index) = unit_of_session.get(session) {
                units[index].push(case);
                continue;
            }
            unit_of_session.insert(session.clone(), units.len());
        }
        units.push(vec![case]);
    }
    units
}

async fn run_unit(
    unit: Vec<Case>,
    runner: &dyn CaseRunner,
    settings: &BatchSettings,
    in_flight: &InFlight,
    sender: &tokio::sync::mpsc::UnboundedSender<CaseOutcome>,
    stop: &StopSignal,
) {
    for case in unit {
        if stop.is_stopped() {
            return;
        }
        let case = Arc::new(case);
        let agent = case
            .agent
            .clone()
            .unwrap_or_else(|| settings.default_agent.clone());
        let started = Instant::now();
        let transcript = runner.transcript_recorder(&case);
        lock(in_flight).insert(
            case.line,
            Running {
                case: case.clone(),
                agent: agent.clone(),
                started,
                transcript: transcript.clone(),
            },
        );
        let result = tokio::time::timeout(
            settings.case_timeout,
            runner.run_recorded(&case, transcript.clone()),
        )
        .await;
        let duration_ms = millis(started.elapsed());
        lock(in_flight).remove(&case.line);
        let mut outcome = match result {
            Ok(execution) => finish(&case, agent, execution, duration_ms),
            Err(_) => errored_outcome(
                &case,
                agent,
                ErrorInfo::new(
                    "timeout",
                    format!(
                        "the case did not finish within `--timeout {}`",
                        humantime::format_duration(settings.case_timeout)
                    ),
                ),
                duration_ms,
            ),
        };
        outcome.engine = runner.engine(&case);
        outcome.transcript =
            transcript.map(|recorder| Arc::new(recorder.snapshot(&case.id, case.line)));
        // The receiver only goes away when the run is abandoned; then this case is dropped too.
        let _ = sender.send(outcome);
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// Applies the expectations to an execution.
pub fn finish(
    case: &Case,
    agent: String,
    execution: CaseExecution,
    duration_ms: u64,
) -> CaseOutcome {
    let CaseExecution {
        output,
        usage,
        model,
        attempts,
        output_key,
    } = execution;
    let (status, output, error, assertions) = match output {
        Ok(output) => {
            let observed = Observed {
                output: &output,
                text_key: output_key.as_deref().unwrap_or("message"),
                duration_ms,
                usage,
            };
            let assertions: Vec<AssertionOutcome> = case
                .assertions
                .iter()
                .map(|assertion| assertion.evaluate(&observed))
                .collect();
            let status = if assertions.iter().all(|assertion| assertion.passed) {
                CaseStatus::Passed
            } else {
                CaseStatus::Failed
            };
            (status, Some(output), None, assertions)
        }
        Err(error) => (CaseStatus::Errored, None, Some(error), Vec::new()),
    };
    CaseOutcome {
        id: case.id.clone(),
        line: case.line,
        session: case.session.clone(),
        agent,
        input: case.input.clone(),
        output,
        status,
        error,
        assertions,
        attempts,
        duration_ms,
        usage,
        model,
        tags: case.tags.clone(),
        metadata: case.metadata.clone(),
        engine: None,
        transcript: None,
    }
}

fn errored_outcome(case: &Case, agent: String, error: ErrorInfo, duration_ms: u64) -> CaseOutcome {
    let mut execution = CaseExecution::error(error);
    execution.attempts = 0;
    finish(case, agent, execution, duration_ms)
}

fn skipped_outcome(invalid: InvalidCase, agent: &str) -> CaseOutcome {
    CaseOutcome {
        id: format!("line-{}", invalid.line),
        line: invalid.line,
        session: None,
        agent: agent.to_owned(),
        input: Value::String(invalid.text),
        output: None,
        status: CaseStatus::Skipped,
        error: Some(ErrorInfo::new("invalid_input", invalid.message)),
        assertions: Vec::new(),
        attempts: 0,
        duration_ms: 0,
        usage: Usage::default(),
        model: None,
        tags: Vec::new(),
        metadata: None,
        engine: None,
        transcript: None,
    }
}
