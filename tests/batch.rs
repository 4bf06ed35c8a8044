//! Stage 4 through the library with an in-process fake runner: concurrency, sessions,
//! timeouts, stops, sharding; results read back from the files the reporter writes.

use std::collections::BTreeMap;
use std::num::NonZeroUsize;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aigne_ci::batch::inputs::{InputsFormat, parse_inputs};
use aigne_ci::batch::{
    self, BatchOutcome, BatchSettings, Case, CaseExecution, CaseRunner, CaseStatus, ErrorInfo,
    InvalidCase, Policy, Shard, StopReason, StopSignal, Usage,
};
use aigne_ci::cli::FailOn;
use aigne_ci::report::{
    self, InputsInfo, ProgressMode, ProjectInfo, Redactor, ReportSettings, ResultRecord,
    RunContext, RunReporter, ShardInfo, Summary,
};
use serde_json::{Value, json};

/// A runner driven by the input: `{"text": …}` answers `{"message": text}` after `delay_ms`
/// (tokio time), `{"fail": "why"}` errors, `{"hang": true}` never answers. It logs starts and
/// ends per line.
#[derive(Default)]
pub(crate) struct FakeRunner {
    pub log: Mutex<Vec<(String, usize)>>,
    pub running: Mutex<usize>,
    pub peak: Mutex<usize>,
}

#[async_trait::async_trait]
impl CaseRunner for FakeRunner {
    async fn run(&self, case: &Case) -> CaseExecution {
        {
            let mut running = self.running.lock().unwrap();
            *running += 1;
            let mut peak = self.peak.lock().unwrap();
            *peak = (*peak).max(*running);
        }
        self.log.lock().unwrap().push(("start".into(), case.line));
        let input = match &case.input {
            Value::String(text) => json!({"text": text}),
            other => other.clone(),
        };
        let delay = input["delay_ms"].as_u64().unwrap_or(10);
        if input["hang"] == json!(true) {
            futures::future::pending::<()>().await;
        }
        tokio::time::sleep(Duration::from_millis(delay)).await;
        self.log.lock().unwrap().push(("end".into(), case.line));
        *self.running.lock().unwrap() -= 1;
        if let Some(why) = input["fail"].as_str() {
            return CaseExecution::error(ErrorInfo::new("model", why));
        }
        let text = input["text"].as_str().unwrap_or("ok").to_owned();
        let mut execution = CaseExecution::output(json!({"message": text, "line": case.line}));
        execution.usage = Usage {
            input_tokens: 10,
            output_tokens: 3,
        };
        execution.model = Some("openai:gpt-4o-mini".into());
        execution
    }
}

pub(crate) fn settings(concurrency: usize) -> BatchSettings {
    BatchSettings {
        concurrency: NonZeroUsize::new(concurrency).unwrap(),
        case_timeout: Duration::from_secs(60),
        total_timeout: None,
        grace_period: Duration::from_secs(1),
        default_agent: "chat".into(),
        repeat: Default::default(),
    }
}

pub(crate) fn report_settings(dir: &Path) -> ReportSettings {
    ReportSettings {
        results_path: dir.join("results.jsonl"),
        summary_path: dir.join("summary.json"),
        junit_path: Some(dir.join("junit.xml")),
        github: None,
        progress: ProgressMode::Off,
        redactor: Redactor::new(["sk-secret-value-123".to_owned()]),
        inputs_file: Some("prompts.jsonl".into()),
        grace_period: Duration::from_secs(1),
        out_dir: dir.to_path_buf(),
        transcripts: true,
        html_path: None,
    }
}

pub(crate) fn context(lines: Vec<usize>, shard: Option<Shard>) -> RunContext {
    RunContext {
        project: ProjectInfo {
            source: "./project".into(),
            sha256: None,
            cache_hit: None,
            cache_key: None,
        },
        engine: "native".into(),
        engine_reason: Some("the native engine supports every feature of the project".into()),
        subprocesses: Vec::new(),
        model: None,
        agent: Some("chat".into()),
        inputs: InputsInfo {
            file: "prompts.jsonl".into(),
            cases: lines.len(),
            lines,
        },
        shard: shard.map(|shard| ShardInfo {
            index: shard.index,
            count: shard.count,
        }),
        policy: Policy {
            fail_on: FailOn::Failure,
            min_pass_rate: None,
        },
        started_at: std::time::SystemTime::now(),
        repeat: None,
        baseline: None,
    }
}

/// Parses, optionally shards, runs and reports; returns the outcome, the records (in file
/// order) and the summary.
pub(crate) async fn run_text(
    text: &str,
    dir: &Path,
    batch_settings: &BatchSettings,
    shard: Option<Shard>,
    stop: &StopSignal,
    runner: &FakeRunner,
) -> (BatchOutcome, Vec<ResultRecord>, Summary) {
    let (cases, invalid) = parse_inputs(text, InputsFormat::JsonLines);
    let mut lines: Vec<usize> = cases
        .iter()
        .map(|case| case.line)
        .chain(invalid.iter().map(|invalid| invalid.line))
        .collect();
    lines.sort_unstable();
    let (cases, invalid) = match shard {
        Some(shard) => shard.select(cases, invalid),
        None => (cases, invalid),
    };
    let mut reporter = RunReporter::create(report_settings(dir)).unwrap();
    let outcome = batch::execute(cases, invalid, runner, batch_settings, stop, &mut reporter)
        .await
        .unwrap();
    let summary = reporter
        .finish(
            &context(lines, shard),
            outcome.not_run,
            outcome.stopped,
            outcome.wall_ms,
        )
        .unwrap();
    let mut records = report::read_results(&dir.join("results.jsonl")).unwrap();
    records.sort_by_key(|record| record.line);
    (outcome, records, summary)
}

fn statuses(records: &[ResultRecord]) -> Vec<(usize, CaseStatus)> {
    records
        .iter()
        .map(|record| (record.line, record.status))
        .collect()
}

#[tokio::test(start_paused = true)]
async fn every_case_is_reported_and_failures_never_stop_the_batch() {
    let dir = tempfile::tempdir().unwrap();
    let text = [
        r#"{"id": "a", "input": "Paris", "expected": "Paris"}"#,
        r#"{"id": "b", "input": "Lyon", "assert": [{"type": "contains", "value": "Paris"}]}"#,
        r#"{"id": "c", "input": {"fail": "boom"}}"#,
        r#"{"text": "x", "delay_ms": 5}"#,
        r#"{"id": "e", "input": "echo sk-secret-value-123"}"#,
    ]
    .join("\n");
    let runner = FakeRunner::default();
    let (outcome, records, summary) = run_text(
        &text,
        dir.path(),
        &settings(2),
        None,
        &StopSignal::new(),
        &runner,
    )
    .await;
    assert_eq!(
        statuses(&records),
        vec![
            (1, CaseStatus::Passed),
            (2, CaseStatus::Failed),
            (3, CaseStatus::Errored),
            (4, CaseStatus::Passed),
            (5, CaseStatus::Passed),
        ]
    );
    assert_eq!(outcome.counts.total, 5);
    assert_eq!(outcome.stopped, None);
    assert_eq!(
        records[1].assertions[0].message.as_deref(),
        Some("output does not contain `Paris`")
    );
    assert_eq!(records[2].error, Some(ErrorInfo::new("model", "boom")));
    assert_eq!(records[2].output, None);
    assert_eq!(records[0].usage.input_tokens, 10);
    assert_eq!(records[0].model.as_deref(), Some("openai:gpt-4o-mini"));
    // The secret the "model" echoed is redacted in the file.
    assert_eq!(
        records[4].output,
        Some(json!({"message": "echo ****", "line": 5}))
    );
    let raw = fs_err::read_to_string(dir.path().join("results.jsonl")).unwrap();
    assert!(!raw.contains("sk-secret-value-123"));
    assert_eq!(summary.counts.passed, 3);
    assert_eq!(summary.counts.failed, 1);
    assert_eq!(summary.counts.errored, 1);
    assert_eq!(summary.tokens.input_tokens, 40);
    assert_eq!(summary.conclusion, "failure");
    assert!(!summary.policy.holds);
    assert_eq!(summary.models, vec!["openai:gpt-4o-mini".to_owned()]);
    assert_eq!(*runner.peak.lock().unwrap(), 2);
}

#[tokio::test(start_paused = true)]
async fn concurrency_is_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let text: String = (0..40)
        .map(|index| {
            format!(
                "{{\"text\": \"{index}\", \"delay_ms\": {}}}\n",
                10 + index % 7
            )
        })
        .collect();
    let runner = FakeRunner::default();
    let (outcome, records, _) = run_text(
        &text,
        dir.path(),
        &settings(8),
        None,
        &StopSignal::new(),
        &runner,
    )
    .await;
    assert_eq!(outcome.counts.passed, 40);
    assert_eq!(records.len(), 40);
    assert_eq!(*runner.peak.lock().unwrap(), 8);
    // Every line of results.jsonl is a whole record (no interleaving).
    let raw = fs_err::read_to_string(dir.path().join("results.jsonl")).unwrap();
    assert_eq!(raw.lines().count(), 40);
}

#[tokio::test(start_paused = true)]
async fn sessions_run_in_file_order_one_turn_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    // Session s: lines 1, 3, 5 with decreasing delays (unordered runs would end 5, 3, 1).
    let text = [
        r#"{"input": {"delay_ms": 50}, "session": "s"}"#,
        r#"{"input": {"delay_ms": 5}}"#,
        r#"{"input": {"delay_ms": 30}, "session": "s"}"#,
        r#"{"input": {"delay_ms": 5}, "session": "t"}"#,
        r#"{"input": {"delay_ms": 10}, "session": "s"}"#,
    ]
    .join("\n");
    let runner = FakeRunner::default();
    let (_, records, _) = run_text(
        &text,
        dir.path(),
        &settings(4),
        None,
        &StopSignal::new(),
        &runner,
    )
    .await;
    assert_eq!(records.len(), 5);
    assert_eq!(records[0].session.as_deref(), Some("s"));
    let log = runner.log.lock().unwrap().clone();
    let session_events: Vec<(String, usize)> = log
        .into_iter()
        .filter(|(_, line)| [1, 3, 5].contains(line))
        .collect();
    let expected: Vec<(String, usize)> = [
        ("start", 1),
        ("end", 1),
        ("start", 3),
        ("end", 3),
        ("start", 5),
        ("end", 5),
    ]
    .into_iter()
    .map(|(event, line)| (event.to_owned(), line))
    .collect();
    assert_eq!(session_events, expected);
    // Other sessions ran alongside.
    assert!(*runner.peak.lock().unwrap() >= 2);
}

#[tokio::test(start_paused = true)]
async fn a_case_over_its_timeout_errors_and_the_rest_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let text = "{\"hang\": true}\n\"fine\"\n";
    let mut batch_settings = settings(1);
    batch_settings.case_timeout = Duration::from_millis(200);
    let runner = FakeRunner::default();
    let (_, records, _) = run_text(
        text,
        dir.path(),
        &batch_settings,
        None,
        &StopSignal::new(),
        &runner,
    )
    .await;
    assert_eq!(
        statuses(&records),
        vec![(1, CaseStatus::Errored), (2, CaseStatus::Passed)]
    );
    let error = records[0].error.clone().unwrap();
    assert_eq!(error.kind, "timeout");
    assert_eq!(
        error.message,
        "the case did not finish within `--timeout 200ms`"
    );
}

#[tokio::test(start_paused = true)]
async fn total_timeout_keeps_finished_cases_and_marks_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    // One quick case, one that hangs, then cases never started.
    let text = "{\"delay_ms\": 10}\n{\"hang\": true}\n{\"delay_ms\": 10}\n{\"delay_ms\": 10}\n";
    let mut batch_settings = settings(2);
    batch_settings.total_timeout = Some(Duration::from_millis(100));
    batch_settings.grace_period = Duration::from_millis(50);
    let runner = FakeRunner::default();
    let (outcome, records, summary) = run_text(
        text,
        dir.path(),
        &batch_settings,
        None,
        &StopSignal::new(),
        &runner,
    )
    .await;
    assert_eq!(outcome.stopped, Some(StopReason::TotalTimeout));
    // Lines 1 and 3 finished (3 took line 1's slot), 2 hung and was dropped, 4 started after
    // 3 ended only if time allowed: it did (20 ms < 100 ms), so every line but 2 passed.
    assert_eq!(
        statuses(&records),
        vec![
            (1, CaseStatus::Passed),
            (2, CaseStatus::Errored),
            (3, CaseStatus::Passed),
            (4, CaseStatus::Passed),
        ]
    );
    assert_eq!(records[1].error.as_ref().unwrap().kind, "total_timeout");
    assert!(summary.timed_out);
    assert_eq!(summary.conclusion, "timed_out");
}

#[tokio::test(start_paused = true)]
async fn a_stop_lets_running_cases_finish_within_the_grace_period() {
    let dir = tempfile::tempdir().unwrap();
    let text: String =
        (0..10).map(|_| "{\"delay_ms\": 100}\n").collect::<String>() + "{\"hang\": true}\n";
    let stop = StopSignal::new();
    let runner = Arc::new(FakeRunner::default());
    let stopper = {
        let stop = stop.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(150)).await;
            stop.stop(StopReason::Interrupted);
        })
    };
    let mut batch_settings = settings(2);
    batch_settings.grace_period = Duration::from_millis(500);
    let (outcome, records, summary) =
        run_text(&text, dir.path(), &batch_settings, None, &stop, &runner).await;
    stopper.await.unwrap();
    // Lines 1-2 end at 100 ms, 3-4 start and are in flight at 150 ms: they finish in the
    // grace period. Nothing else starts.
    assert_eq!(
        statuses(&records),
        vec![
            (1, CaseStatus::Passed),
            (2, CaseStatus::Passed),
            (3, CaseStatus::Passed),
            (4, CaseStatus::Passed),
        ]
    );
    assert_eq!(outcome.not_run, 7);
    assert!(summary.cancelled);
    assert_eq!(summary.counts.not_run, 7);
    assert_eq!(summary.conclusion, "cancelled");
}

#[tokio::test(start_paused = true)]
async fn cases_still_running_after_the_grace_period_are_recorded_as_cancelled() {
    let dir = tempfile::tempdir().unwrap();
    // Line 2 runs 0-10 ms, line 3 10-20 ms (in flight at the stop, finishes in the grace
    // period), line 4 never starts, line 1 hangs past the grace period.
    let text = "{\"hang\": true}\n{\"delay_ms\": 10}\n{\"delay_ms\": 10}\n{\"delay_ms\": 10}\n";
    let stop = StopSignal::new();
    let stopper = {
        let stop = stop.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(15)).await;
            stop.stop(StopReason::Interrupted);
        })
    };
    let mut batch_settings = settings(2);
    batch_settings.grace_period = Duration::from_millis(100);
    let runner = FakeRunner::default();
    let (outcome, records, _) =
        run_text(text, dir.path(), &batch_settings, None, &stop, &runner).await;
    stopper.await.unwrap();
    assert_eq!(
        statuses(&records),
        vec![
            (1, CaseStatus::Errored),
            (2, CaseStatus::Passed),
            (3, CaseStatus::Passed)
        ]
    );
    assert_eq!(records[0].error.as_ref().unwrap().kind, "cancelled");
    assert_eq!(outcome.not_run, 1);
}

#[tokio::test(start_paused = true)]
async fn shards_cover_every_case_once_and_keep_sessions_whole() {
    let text: String = (1..=12)
        .map(|line| {
            if line % 4 == 0 {
                format!("{{\"input\": {{\"text\": \"{line}\"}}, \"session\": \"s\"}}\n")
            } else {
                format!("{{\"text\": \"{line}\"}}\n")
            }
        })
        .collect();
    let mut seen: BTreeMap<usize, usize> = BTreeMap::new();
    for index in 1..=3 {
        let dir = tempfile::tempdir().unwrap();
        let shard = Shard { index, count: 3 };
        let (_, records, summary) = run_text(
            &text,
            dir.path(),
            &settings(2),
            Some(shard),
            &StopSignal::new(),
            &FakeRunner::default(),
        )
        .await;
        assert_eq!(summary.shard, Some(ShardInfo { index, count: 3 }));
        assert_eq!(summary.inputs.lines, (1..=12).collect::<Vec<_>>());
        let session_lines: Vec<usize> = records
            .iter()
            .filter(|record| record.session.is_some())
            .map(|record| record.line)
            .collect();
        assert!(session_lines.is_empty() || session_lines == vec![4, 8, 12]);
        for record in records {
            *seen.entry(record.line).or_default() += 1;
        }
    }
    assert_eq!(
        seen.keys().copied().collect::<Vec<_>>(),
        (1..=12).collect::<Vec<_>>()
    );
    assert!(seen.values().all(|count| *count == 1));
}

#[tokio::test(start_paused = true)]
async fn skipped_lines_are_results_too() {
    let dir = tempfile::tempdir().unwrap();
    let (cases, invalid) = parse_inputs("\"ok\"\n{bad\n", InputsFormat::JsonLines);
    assert_eq!(
        invalid,
        vec![InvalidCase {
            line: 2,
            message: "invalid JSON: key must be a string (column 2)".into(),
            text: "{bad".into(),
        }]
    );
    let mut reporter = RunReporter::create(report_settings(dir.path())).unwrap();
    let runner = FakeRunner::default();
    let outcome = batch::execute(
        cases,
        invalid,
        &runner,
        &settings(1),
        &StopSignal::new(),
        &mut reporter,
    )
    .await
    .unwrap();
    assert_eq!(outcome.counts.skipped, 1);
    let records = report::read_results(&dir.path().join("results.jsonl")).unwrap();
    assert_eq!(records[0].status, CaseStatus::Skipped);
    assert_eq!(records[0].line, 2);
    assert_eq!(records[0].input, json!("{bad"));
    assert_eq!(records[0].error.as_ref().unwrap().kind, "invalid_input");
}
