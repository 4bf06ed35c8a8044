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
//!
//! Repeats (`--repeat N`): every unit runs N times, each run its own item of the stream (so a
//! few cases still fill the concurrency), a session as a whole conversation each time (its
//! turns see only the turns of the same run). The consumer gathers the N runs of a case and
//! records one outcome: passed when at least `min_pass` runs passed, with every run in `runs`
//! and `flaky` when they disagree. Runs of one unit are adjacent in the stream, so only the
//! cases in flight wait for their last run (memory stays flat).
//!
//! Judges: after the agent answers, model-graded assertions go to the [`Judge`] (each call
//! bounded by the case timeout); a judge that fails or times out errors the case, naming it.

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
use super::judge::{Judge, JudgeRequest};
use super::outcome::{
    BatchOutcome, CaseExecution, CaseOutcome, CaseStatus, ErrorInfo, RunOutcome, StopReason, Usage,
};
use super::{CaseRunner, Reporter};

/// `--repeat N` and `--repeat-min-pass K`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repeat {
    /// Runs of every case (N).
    pub runs: NonZeroUsize,
    /// Runs that must pass for the case to pass (K, 1 ≤ K ≤ N).
    pub min_pass: usize,
}

impl Default for Repeat {
    fn default() -> Self {
        Self {
            runs: NonZeroUsize::MIN,
            min_pass: 1,
        }
    }
}

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
    /// How often every case runs.
    pub repeat: Repeat,
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

/// Keyed by (line, run).
type InFlight = Mutex<BTreeMap<(usize, usize), Running>>;

/// One run of a case, as a unit sends it.
struct Ended {
    run: usize,
    outcome: CaseOutcome,
}

/// Runs the cases and reports each as it ends. Malformed entries (`skipped`) are reported
/// first. Returns the totals; fails only when the reporter cannot record a case. Model-graded
/// assertions error their case here: use [`execute_judged`] to grade them.
pub async fn execute(
    cases: Vec<Case>,
    skipped: Vec<InvalidCase>,
    runner: &dyn CaseRunner,
    settings: &BatchSettings,
    stop: &StopSignal,
    reporter: &mut dyn Reporter,
) -> Result<BatchOutcome, BatchError> {
    execute_judged(cases, skipped, runner, None, settings, stop, reporter).await
}

/// [`execute`], with a [`Judge`] for the model-graded assertions.
pub async fn execute_judged(
    cases: Vec<Case>,
    skipped: Vec<InvalidCase>,
    runner: &dyn CaseRunner,
    judge: Option<&dyn Judge>,
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

    let runs = settings.repeat.runs.get();
    let units: Vec<Arc<Vec<Arc<Case>>>> = group_sessions(cases)
        .into_iter()
        .map(|unit| Arc::new(unit.into_iter().map(Arc::new).collect()))
        .collect();
    let items = units
        .into_iter()
        .flat_map(|unit| (0..runs).map(move |run| (unit.clone(), run)));
    let in_flight: InFlight = Mutex::new(BTreeMap::new());
    let mut gathered = Gathered::new(settings.repeat);
    let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel::<Ended>();
    let driver = {
        let in_flight = &in_flight;
        async move {
            let sender = sender;
            futures::stream::iter(items)
                .take_while(|_| futures::future::ready(!stop.is_stopped()))
                .map(|(unit, run)| {
                    run_unit(unit, run, runner, judge, settings, in_flight, &sender, stop)
                })
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
                Some(ended) => {
                    if let Some(case) = gathered.add(ended) {
                        record(&mut outcome, reporter, case)?;
                    }
                }
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
        while let Ok(ended) = receiver.try_recv() {
            if let Some(case) = gathered.add(ended) {
                record(&mut outcome, reporter, case)?;
            }
        }
        let reason = stop.reason().unwrap_or(StopReason::Interrupted);
        let leftovers = std::mem::take(&mut *lock(&in_flight));
        for ((_, run), running) in leftovers {
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
            if let Some(case) = gathered.add(Ended {
                run,
                outcome: stopped,
            }) {
                record(&mut outcome, reporter, case)?;
            }
        }
    }
    // Repeated cases a stop cut short: recorded with the runs they have.
    for case in gathered.drain() {
        record(&mut outcome, reporter, case)?;
    }
    let ran = outcome.counts.total - outcome.counts.skipped;
    outcome.not_run = case_count.saturating_sub(ran);
    outcome.stopped = stop.reason();
    outcome.wall_ms = millis(started.elapsed());
    Ok(outcome)
}

fn lock(in_flight: &InFlight) -> std::sync::MutexGuard<'_, BTreeMap<(usize, usize), Running>> {
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
    outcome.judge_usage.add(case.judge_usage);
    if case.flaky == Some(true) {
        outcome.flaky += 1;
    }
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

#[allow(clippy::too_many_arguments)]
async fn run_unit(
    unit: Arc<Vec<Arc<Case>>>,
    run: usize,
    runner: &dyn CaseRunner,
    judge: Option<&dyn Judge>,
    settings: &BatchSettings,
    in_flight: &InFlight,
    sender: &tokio::sync::mpsc::UnboundedSender<Ended>,
    stop: &StopSignal,
) {
    for case in unit.iter() {
        if stop.is_stopped() {
            return;
        }
        let agent = case
            .agent
            .clone()
            .unwrap_or_else(|| settings.default_agent.clone());
        let started = Instant::now();
        let transcript = runner.transcript_recorder(case);
        lock(in_flight).insert(
            (case.line, run),
            Running {
                case: case.clone(),
                agent: agent.clone(),
                started,
                transcript: transcript.clone(),
            },
        );
        // A repeated session is a new conversation each run: its turns see only the earlier
        // turns of the same run.
        let repeated;
        let runnable: &Case = match &case.session {
            Some(session) if run > 0 => {
                let mut copy = Case::clone(case);
                copy.session = Some(format!("{session}#run{}", run + 1));
                repeated = copy;
                &repeated
            }
            _ => case,
        };
        let result = tokio::time::timeout(
            settings.case_timeout,
            runner.run_recorded(runnable, transcript.clone()),
        )
        .await;
        let mut outcome = match result {
            Ok(execution) => {
                let duration_ms = millis(started.elapsed());
                conclude(case, agent, execution, duration_ms, judge, settings).await
            }
            Err(_) => errored_outcome(
                case,
                agent,
                ErrorInfo::new(
                    "timeout",
                    format!(
                        "the case did not finish within `--timeout {}`",
                        humantime::format_duration(settings.case_timeout)
                    ),
                ),
                millis(started.elapsed()),
            ),
        };
        lock(in_flight).remove(&(case.line, run));
        outcome.engine = runner.engine(case);
        outcome.transcript =
            transcript.map(|recorder| Arc::new(recorder.snapshot(&case.id, case.line)));
        // The receiver only goes away when the run is abandoned; then this case is dropped too.
        let _ = sender.send(Ended { run, outcome });
    }
}

/// The runs of repeated cases until each has all of them.
struct Gathered {
    repeat: Repeat,
    pending: HashMap<usize, Vec<Ended>>,
}

impl Gathered {
    fn new(repeat: Repeat) -> Self {
        Self {
            repeat,
            pending: HashMap::new(),
        }
    }

    /// Adds a run; returns the case once all its runs are in.
    fn add(&mut self, ended: Ended) -> Option<CaseOutcome> {
        if self.repeat.runs.get() == 1 {
            return Some(ended.outcome);
        }
        let line = ended.outcome.line;
        let runs = self.pending.entry(line).or_default();
        runs.push(ended);
        if runs.len() < self.repeat.runs.get() {
            return None;
        }
        let runs = self.pending.remove(&line).unwrap_or_default();
        Some(combine_runs(runs, self.repeat.min_pass))
    }

    /// Cases still missing runs (the run stopped), in file order.
    fn drain(&mut self) -> Vec<CaseOutcome> {
        let mut left: Vec<(usize, Vec<Ended>)> = self.pending.drain().collect();
        left.sort_by_key(|(line, _)| *line);
        left.into_iter()
            .map(|(_, runs)| combine_runs(runs, self.repeat.min_pass))
            .collect()
    }
}

/// One outcome from the runs of a case: passed when at least `min_pass` runs passed; else
/// failed when a run failed, else errored. The output, error and assertions are those of the
/// first run with that status; tokens and attempts are summed over the runs.
fn combine_runs(mut runs: Vec<Ended>, min_pass: usize) -> CaseOutcome {
    runs.sort_by_key(|ended| ended.run);
    let passes = runs
        .iter()
        .filter(|ended| ended.outcome.status == CaseStatus::Passed)
        .count();
    let status = if passes >= min_pass {
        CaseStatus::Passed
    } else if runs
        .iter()
        .any(|ended| ended.outcome.status == CaseStatus::Failed)
    {
        CaseStatus::Failed
    } else {
        CaseStatus::Errored
    };
    let flaky = runs
        .iter()
        .any(|ended| ended.outcome.status != runs[0].outcome.status);
    let records: Vec<RunOutcome> = runs
        .iter()
        .map(|ended| RunOutcome::of(&ended.outcome))
        .collect();
    let mut usage = Usage::default();
    let mut judge_usage = Usage::default();
    let mut attempts = 0u32;
    for ended in &runs {
        usage.add(ended.outcome.usage);
        judge_usage.add(ended.outcome.judge_usage);
        attempts = attempts.saturating_add(ended.outcome.attempts);
    }
    let chosen = runs
        .iter()
        .position(|ended| ended.outcome.status == status)
        .unwrap_or(0);
    let mut outcome = runs.swap_remove(chosen).outcome;
    if status == CaseStatus::Failed && outcome.status != CaseStatus::Failed {
        outcome.error = None;
    }
    outcome.status = status;
    outcome.usage = usage;
    outcome.judge_usage = judge_usage;
    outcome.attempts = attempts;
    outcome.runs = records;
    outcome.flaky = Some(flaky);
    if status == CaseStatus::Failed && passes > 0 {
        // Not every run failed: say how many passed.
        outcome.assertions.push(AssertionOutcome {
            kind: "repeat".to_owned(),
            passed: false,
            spec: Some(serde_json::json!({"min_pass": min_pass})),
            message: Some(format!(
                "{passes} of {} runs passed, fewer than `--repeat-min-pass {min_pass}`",
                outcome.runs.len()
            )),
            actual: Some(Value::from(passes)),
            score: None,
            reason: None,
            judge: None,
        });
    }
    outcome
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// Applies the expectations to an execution, asking the judge for the model-graded ones.
async fn conclude(
    case: &Case,
    agent: String,
    execution: CaseExecution,
    duration_ms: u64,
    judge: Option<&dyn Judge>,
    settings: &BatchSettings,
) -> CaseOutcome {
    let judged = execution.output.is_ok()
        && case
            .assertions
            .iter()
            .any(|assertion| assertion.judged().is_some());
    if !judged {
        return finish(case, agent, execution, duration_ms);
    }
    let output = execution.output.clone().unwrap_or(Value::Null);
    let text_key = execution
        .output_key
        .clone()
        .unwrap_or_else(|| "message".to_owned());
    let observed = Observed {
        output: &output,
        text_key: &text_key,
        duration_ms,
        usage: execution.usage,
    };
    let grades = case.assertions.iter().map(|assertion| {
        let agent = &agent;
        let output = &output;
        let text_key = &text_key;
        async move {
            let Some(spec) = assertion.judged() else {
                return (Ok(assertion.evaluate(&observed)), Usage::default());
            };
            let Some(judge) = judge else {
                return (
                    Err(ErrorInfo::new(
                        "judge",
                        format!("{} needs a judge, and this run has none", spec.kind.label()),
                    )),
                    Usage::default(),
                );
            };
            let request = JudgeRequest {
                kind: spec.kind.clone(),
                model: spec.model.clone(),
                agent: agent.clone(),
                input: case.input.clone(),
                output: output.clone(),
                text_key: text_key.clone(),
                expected: case.expected.clone(),
                case_label: format!("{} (line {})", case.id, case.line),
            };
            let reply =
                match tokio::time::timeout(settings.case_timeout, judge.judge(&request)).await {
                    Ok(reply) => reply,
                    Err(_) => {
                        return (
                            Err(ErrorInfo::new(
                                "judge",
                                format!(
                                    "{} did not answer within `--timeout {}`",
                                    spec.kind.label(),
                                    humantime::format_duration(settings.case_timeout)
                                ),
                            )),
                            Usage::default(),
                        );
                    }
                };
            let graded = match reply.answer {
                Ok(answer) => assertion.grade(&answer, &reply.judge).map_err(|problem| {
                    ErrorInfo::new(
                        "judge",
                        format!("{} ({}): {problem}", spec.kind.label(), reply.judge),
                    )
                }),
                Err(error) => Err(ErrorInfo::new(
                    "judge",
                    format!(
                        "{} ({}) failed: {}",
                        spec.kind.label(),
                        reply.judge,
                        error.message
                    ),
                )),
            };
            (graded, reply.usage)
        }
    });
    let graded = futures::future::join_all(grades).await;
    let mut judge_usage = Usage::default();
    let mut assertions = Vec::with_capacity(graded.len());
    let mut failure = None;
    for (result, usage) in graded {
        judge_usage.add(usage);
        match result {
            Ok(assertion) => assertions.push(assertion),
            Err(error) => {
                failure.get_or_insert(error);
            }
        }
    }
    let mut outcome = finish(case, agent, execution, duration_ms);
    outcome.judge_usage = judge_usage;
    match failure {
        Some(error) => {
            outcome.status = CaseStatus::Errored;
            outcome.error = Some(error);
            outcome.assertions = assertions;
        }
        None => {
            outcome.status = if assertions.iter().all(|assertion| assertion.passed) {
                CaseStatus::Passed
            } else {
                CaseStatus::Failed
            };
            outcome.assertions = assertions;
        }
    }
    outcome
}

/// Applies the expectations to an execution (model-graded ones fail: they need a judge).
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
        judge_usage: Usage::default(),
        runs: Vec::new(),
        flaky: None,
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
        judge_usage: Usage::default(),
        runs: Vec::new(),
        flaky: None,
        engine: None,
        transcript: None,
    }
}
