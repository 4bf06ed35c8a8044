//! Verdicts through the library: repeats (flaky cases, min-pass, sessions repeated as whole
//! conversations), judges behind the batch's `Judge` seam (grades, errors, timeouts, tokens
//! apart), baselines and `merge`. The binary end to end (fake judge on loopback, replay, the
//! `aigne eval` evaluator against the reference runtime) is in `tests/verdicts_e2e.rs`.

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use aigne_ci::batch::assertion::JudgeKind;
use aigne_ci::batch::inputs::{InputsFormat, parse_inputs};
use aigne_ci::batch::{
    self, BatchSettings, Case, CaseExecution, CaseRunner, CaseStatus, ErrorInfo, Judge, JudgeReply,
    JudgeRequest, Repeat, StopSignal, Usage,
};
use aigne_ci::report::{self, Baseline, BaselineStatus, ResultRecord, RunReporter, Summary};
use serde_json::{Value, json};

use crate::batch::{context, report_settings, settings};

/// Answers `{"message": …}` from the input: `{"answers": [a, b, …]}` cycles through the answers,
/// one per call of that line (so repeated runs alternate); it records the session of each call.
#[derive(Default)]
struct Alternating {
    calls: Mutex<HashMap<usize, usize>>,
    sessions: Mutex<Vec<(usize, Option<String>)>>,
}

#[async_trait::async_trait]
impl CaseRunner for Alternating {
    async fn run(&self, case: &Case) -> CaseExecution {
        self.sessions
            .lock()
            .unwrap()
            .push((case.line, case.session.clone()));
        let call = {
            let mut calls = self.calls.lock().unwrap();
            let call = calls.entry(case.line).or_default();
            *call += 1;
            *call - 1
        };
        let answers = case.input["answers"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let answer = answers
            .get(call % answers.len().max(1))
            .and_then(Value::as_str)
            .unwrap_or("ok");
        if answer == "error" {
            return CaseExecution::error(ErrorInfo::new("model", "the model failed"));
        }
        let mut execution = CaseExecution::output(json!({ "message": answer }));
        execution.usage = Usage {
            input_tokens: 7,
            output_tokens: 2,
        };
        execution
    }
}

fn repeated(runs: usize, min_pass: usize) -> BatchSettings {
    let mut batch = settings(4);
    batch.repeat = Repeat {
        runs: NonZeroUsize::new(runs).unwrap(),
        min_pass,
    };
    batch
}

async fn run(
    text: &str,
    dir: &Path,
    batch_settings: &BatchSettings,
    runner: &dyn CaseRunner,
    judge: Option<&dyn Judge>,
    baseline: Option<Baseline>,
) -> (Vec<ResultRecord>, Summary) {
    let (cases, invalid) = parse_inputs(text, InputsFormat::JsonLines);
    assert!(invalid.is_empty(), "{invalid:?}");
    let lines: Vec<usize> = cases.iter().map(|case| case.line).collect();
    let mut context = context(lines, None);
    let runs = batch_settings.repeat.runs.get();
    context.repeat = (runs > 1).then_some((runs, batch_settings.repeat.min_pass));
    context.baseline = baseline
        .as_ref()
        .map(|baseline| (baseline.file().display().to_string(), baseline.figures()));
    let mut reporter = RunReporter::create(report_settings(dir)).unwrap();
    if let Some(baseline) = baseline {
        reporter = reporter.with_baseline(baseline);
    }
    let outcome = batch::execute_judged(
        cases,
        invalid,
        runner,
        judge,
        batch_settings,
        &StopSignal::new(),
        &mut reporter,
    )
    .await
    .unwrap();
    let summary = reporter
        .finish(&context, outcome.not_run, outcome.stopped, outcome.wall_ms)
        .unwrap();
    let mut records = report::read_results(&dir.join("results.jsonl")).unwrap();
    records.sort_by_key(|record| record.line);
    (records, summary)
}

fn statuses(record: &ResultRecord) -> Vec<CaseStatus> {
    record.runs.iter().map(|run| run.status).collect()
}

#[tokio::test]
async fn repeats_keep_every_run_and_mark_flaky_cases() {
    let dir = tempfile::tempdir().unwrap();
    let text = [
        r#"{"id": "steady", "input": {"answers": ["Paris"]}, "assert": [{"type": "contains", "value": "Paris"}]}"#,
        r#"{"id": "flip", "input": {"answers": ["Paris", "Lyon"]}, "assert": [{"type": "contains", "value": "Paris"}]}"#,
        r#"{"id": "broken", "input": {"answers": ["error", "Paris"]}, "assert": [{"type": "contains", "value": "Paris"}]}"#,
        r#"{"id": "never", "input": {"answers": ["Lyon"]}, "assert": [{"type": "contains", "value": "Paris"}]}"#,
    ]
    .join("\n");
    let runner = Alternating::default();
    let (records, summary) = run(&text, dir.path(), &repeated(3, 3), &runner, None, None).await;
    let by_id = |id: &str| records.iter().find(|record| record.id == id).unwrap();

    let steady = by_id("steady");
    assert_eq!(steady.status, CaseStatus::Passed);
    assert_eq!(steady.flaky, Some(false));
    assert_eq!(statuses(steady), vec![CaseStatus::Passed; 3]);
    // Tokens and attempts add up over the runs.
    assert_eq!(steady.usage.input_tokens, 21);
    assert_eq!(steady.attempts, 3);

    let flip = by_id("flip");
    assert_eq!(
        statuses(flip),
        vec![CaseStatus::Passed, CaseStatus::Failed, CaseStatus::Passed]
    );
    assert_eq!(flip.flaky, Some(true));
    assert_eq!(flip.status, CaseStatus::Failed, "3 of 3 must pass");
    assert_eq!(
        flip.output,
        Some(json!({"message": "Lyon"})),
        "the failed run"
    );
    assert_eq!(flip.runs[1].output, Some(json!({"message": "Lyon"})));
    let repeat = flip
        .assertions
        .iter()
        .find(|assertion| assertion.kind == "repeat")
        .unwrap();
    assert_eq!(
        repeat.message.as_deref(),
        Some("2 of 3 runs passed, fewer than `--repeat-min-pass 3`")
    );

    let broken = by_id("broken");
    assert_eq!(
        statuses(broken),
        vec![CaseStatus::Errored, CaseStatus::Passed, CaseStatus::Errored]
    );
    assert_eq!(broken.status, CaseStatus::Errored);
    assert_eq!(broken.error.as_ref().unwrap().kind, "model");
    assert_eq!(
        broken.runs[0].error.as_ref().unwrap().message,
        "the model failed"
    );

    let never = by_id("never");
    assert_eq!(never.status, CaseStatus::Failed);
    assert_eq!(never.flaky, Some(false));

    let repeat = summary.repeat.unwrap();
    assert_eq!((repeat.runs, repeat.min_pass, repeat.flaky), (3, 3, 2));
    assert_eq!(summary.counts.passed, 1);
    assert_eq!(summary.counts.total, 4, "one result per case, not per run");
    // Two runs of `broken` errored without tokens.
    assert_eq!(summary.tokens.input_tokens, 7 * 10);
}

#[tokio::test]
async fn min_pass_lets_a_flaky_case_pass() {
    let dir = tempfile::tempdir().unwrap();
    let text = [
        r#"{"id": "flip", "input": {"answers": ["Paris", "Lyon"]}, "assert": [{"type": "contains", "value": "Paris"}]}"#,
        r#"{"id": "rare", "input": {"answers": ["Lyon", "Lyon", "Paris"]}, "assert": [{"type": "contains", "value": "Paris"}]}"#,
    ]
    .join("\n");
    let runner = Alternating::default();
    let (records, summary) = run(&text, dir.path(), &repeated(3, 2), &runner, None, None).await;
    assert_eq!(records[0].status, CaseStatus::Passed, "2 of 3 passed");
    assert_eq!(records[0].flaky, Some(true));
    assert_eq!(records[0].output, Some(json!({"message": "Paris"})));
    assert_eq!(records[1].status, CaseStatus::Failed, "1 of 3 passed");
    assert_eq!(summary.counts.passed, 1);
    assert_eq!(summary.repeat.unwrap().flaky, 2);
    assert!(!summary.policy.holds);
}

#[tokio::test]
async fn a_session_repeats_as_a_whole_conversation() {
    let dir = tempfile::tempdir().unwrap();
    let text = [
        r#"{"id": "t1", "session": "s", "input": {"answers": ["hi"]}}"#,
        r#"{"id": "t2", "session": "s", "input": {"answers": ["bye"]}}"#,
    ]
    .join("\n");
    let runner = Alternating::default();
    let mut batch = repeated(2, 2);
    batch.concurrency = NonZeroUsize::new(1).unwrap();
    let (records, _) = run(&text, dir.path(), &batch, &runner, None, None).await;
    assert_eq!(records.len(), 2);
    assert!(records.iter().all(|record| record.runs.len() == 2));
    // Each run is its own conversation, turns in order; results keep the session as written.
    assert_eq!(
        *runner.sessions.lock().unwrap(),
        vec![
            (1, Some("s".to_owned())),
            (2, Some("s".to_owned())),
            (1, Some("s#run2".to_owned())),
            (2, Some("s#run2".to_owned())),
        ]
    );
    assert_eq!(records[0].session.as_deref(), Some("s"));
}

/// A judge in process: a rubric containing `strict` fails the output, `slow` never answers,
/// `broken` errors, `garbled` answers the wrong shape; the evaluator scores 5 when the output
/// text equals the expected `message`, else 2.
struct FakeJudge {
    requests: Mutex<Vec<JudgeRequest>>,
}

#[async_trait::async_trait]
impl Judge for FakeJudge {
    async fn judge(&self, request: &JudgeRequest) -> JudgeReply {
        self.requests.lock().unwrap().push(request.clone());
        let usage = Usage {
            input_tokens: 100,
            output_tokens: 20,
        };
        let judge = request.model.clone().unwrap_or("openai/judge".to_owned());
        let answer = match &request.kind {
            JudgeKind::Rubric { rubric } if rubric.contains("slow") => {
                futures::future::pending::<()>().await;
                unreachable!()
            }
            JudgeKind::Rubric { rubric } if rubric.contains("broken") => Err(ErrorInfo::new(
                "model",
                "provider `openai` answered 500 Internal Server Error",
            )),
            JudgeKind::Rubric { rubric } if rubric.contains("garbled") => Ok(json!({"ok": 1})),
            JudgeKind::Rubric { rubric } if rubric.contains("strict") => {
                Ok(json!({"pass": false, "score": 0.1, "reason": "too vague"}))
            }
            JudgeKind::Rubric { rubric } if rubric.contains("lenient") => {
                Ok(json!({"pass": true, "score": 0.4, "reason": "close"}))
            }
            JudgeKind::Rubric { .. } => {
                Ok(json!({"pass": true, "score": 0.9, "reason": "names the capital"}))
            }
            JudgeKind::Evaluator | JudgeKind::Agent(_) => {
                let same =
                    request.output["message"] == request.expected.clone().unwrap()["message"];
                let score = if same { 5 } else { 2 };
                Ok(
                    json!({"rating": "Good", "reasoning": format!("scored {score}"), "score": score}),
                )
            }
        };
        JudgeReply {
            answer,
            usage,
            judge,
        }
    }
}

#[tokio::test(start_paused = true)]
async fn judges_grade_error_and_time_out_and_their_tokens_are_apart() {
    let dir = tempfile::tempdir().unwrap();
    let text = [
        r#"{"id": "good", "input": {"answers": ["Paris"]}, "assert": [{"type": "llm-rubric", "value": "names the capital of France", "model": "openai:gpt-judge"}]}"#,
        r#"{"id": "strict", "input": {"answers": ["Paris"]}, "assert": [{"type": "llm-rubric", "value": "strict: a full sentence"}]}"#,
        r#"{"id": "threshold", "input": {"answers": ["Paris"]}, "assert": [{"type": "llm-rubric", "value": "lenient", "threshold": 0.5}]}"#,
        r#"{"id": "eval-pass", "input": {"answers": ["Paris"]}, "expected": {"message": "Paris"}, "assert": [{"type": "judge"}]}"#,
        r#"{"id": "eval-fail", "input": {"answers": ["Lyon"]}, "expected": {"message": "Paris"}, "assert": [{"type": "judge", "min-score": 3}]}"#,
        r#"{"id": "agent", "input": {"answers": ["Paris"]}, "expected": {"message": "Paris"}, "assert": [{"type": "judge", "agent": "grader"}]}"#,
        r#"{"id": "broken", "input": {"answers": ["Paris"]}, "assert": [{"type": "contains", "value": "Paris"}, {"type": "llm-rubric", "value": "broken"}]}"#,
        r#"{"id": "slow", "input": {"answers": ["Paris"]}, "assert": [{"type": "llm-rubric", "value": "slow"}]}"#,
        r#"{"id": "garbled", "input": {"answers": ["Paris"]}, "assert": [{"type": "llm-rubric", "value": "garbled"}]}"#,
    ]
    .join("\n");
    let runner = Alternating::default();
    let judge = FakeJudge {
        requests: Mutex::new(Vec::new()),
    };
    let mut batch = settings(4);
    batch.case_timeout = Duration::from_secs(30);
    let (records, summary) = run(&text, dir.path(), &batch, &runner, Some(&judge), None).await;
    let by_id = |id: &str| records.iter().find(|record| record.id == id).unwrap();

    let good = by_id("good");
    assert_eq!(good.status, CaseStatus::Passed);
    let graded = &good.assertions[0];
    assert_eq!(graded.kind, "llm-rubric");
    assert!(graded.passed);
    assert_eq!(graded.score, Some(0.9));
    assert_eq!(graded.reason.as_deref(), Some("names the capital"));
    assert_eq!(graded.judge.as_deref(), Some("openai:gpt-judge"));
    assert_eq!(good.usage.input_tokens, 7, "the agent's tokens");
    assert_eq!(good.judge_usage.input_tokens, 100, "the judge's, apart");

    let strict = by_id("strict");
    assert_eq!(strict.status, CaseStatus::Failed);
    assert_eq!(
        strict.assertions[0].message.as_deref(),
        Some("the judge did not pass the output")
    );
    assert_eq!(by_id("threshold").status, CaseStatus::Failed);
    assert_eq!(
        by_id("threshold").assertions[0].message.as_deref(),
        Some("score 0.4 is below the threshold 0.5")
    );

    assert_eq!(by_id("eval-pass").status, CaseStatus::Passed);
    assert_eq!(
        by_id("eval-pass").assertions.len(),
        1,
        "expected went to the judge"
    );
    let failed = by_id("eval-fail");
    assert_eq!(failed.status, CaseStatus::Failed);
    assert_eq!(
        failed.assertions[0].message.as_deref(),
        Some("score 2 is below the minimum 3")
    );
    assert_eq!(failed.assertions[0].reason.as_deref(), Some("scored 2"));
    assert_eq!(by_id("agent").status, CaseStatus::Passed);

    let broken = by_id("broken");
    assert_eq!(broken.status, CaseStatus::Errored);
    let error = broken.error.as_ref().unwrap();
    assert_eq!(error.kind, "judge");
    assert_eq!(
        error.message,
        "`llm-rubric` (openai/judge) failed: provider `openai` answered 500 Internal Server Error"
    );
    assert_eq!(
        broken.output,
        Some(json!({"message": "Paris"})),
        "the output is kept"
    );

    let slow = by_id("slow").error.clone().unwrap();
    assert_eq!(
        (slow.kind.as_str(), slow.message.as_str()),
        (
            "judge",
            "`llm-rubric` did not answer within `--timeout 30s`"
        )
    );
    let garbled = by_id("garbled").error.clone().unwrap();
    assert!(
        garbled.message.starts_with(
            "`llm-rubric` (openai/judge): the answer {\"ok\":1} is not `{pass, score, reason}`"
        ),
        "{}",
        garbled.message
    );

    // What the judges were asked.
    let requests = judge.requests.lock().unwrap();
    let agent = requests
        .iter()
        .find(|request| request.kind == JudgeKind::Agent("grader".to_owned()))
        .unwrap();
    assert_eq!(agent.expected, Some(json!({"message": "Paris"})));
    assert_eq!(agent.output, json!({"message": "Paris"}));
    assert_eq!(agent.agent, "chat");

    // Judge tokens: per result and one line of the summary, apart from the agents'.
    let judge_tokens = summary.tokens.judge.unwrap();
    assert_eq!(
        judge_tokens.input_tokens,
        100 * 8,
        "every judge that answered"
    );
    assert_eq!(summary.tokens.input_tokens, 7 * 9);
}

#[tokio::test]
async fn judged_assertions_without_a_judge_error_the_case() {
    let dir = tempfile::tempdir().unwrap();
    let text = r#"{"id": "x", "input": {"answers": ["Paris"]}, "assert": [{"type": "llm-rubric", "value": "names Paris"}]}"#;
    let (records, _) = run(
        text,
        dir.path(),
        &settings(1),
        &Alternating::default(),
        None,
        None,
    )
    .await;
    let error = records[0].error.clone().unwrap();
    assert_eq!(error.kind, "judge");
    assert_eq!(
        error.message,
        "`llm-rubric` needs a judge, and this run has none"
    );
}

#[test]
fn a_judge_without_expected_is_an_input_error() {
    let (cases, invalid) = parse_inputs(
        "{\"input\": \"q\", \"assert\": [{\"type\": \"judge\"}]}\n{\"input\": \"q\", \"assert\": [{\"type\": \"judge\", \"agent\": \"g\", \"model\": \"openai:x\"}]}\n{\"input\": \"q\", \"assert\": [{\"type\": \"llm-rubric\", \"value\": \"x\", \"threshold\": 2}]}\n",
        InputsFormat::JsonLines,
    );
    assert!(cases.is_empty());
    let messages: Vec<&str> = invalid
        .iter()
        .map(|invalid| invalid.message.as_str())
        .collect();
    assert_eq!(
        messages,
        vec![
            "a `judge` assertion needs the case's `expected`: the `aigne eval` evaluator compares the output with it",
            "`assert[0]`: a `judge` assertion with an `agent` uses that agent's model; drop `model`",
            "`assert[0]`: `threshold` of an `llm-rubric` assertion must be between 0 and 1, not 2",
        ]
    );
}

#[tokio::test]
async fn baselines_mark_every_status_and_fail_only_on_regressions() {
    let dir = tempfile::tempdir().unwrap();
    let base_dir = dir.path().join("base");
    let head_dir = dir.path().join("head");
    fs_err::create_dir_all(&base_dir).unwrap();
    fs_err::create_dir_all(&head_dir).unwrap();
    let contains = r#""assert": [{"type": "contains", "value": "Paris"}]"#;
    let base = [
        format!(r#"{{"id": "passing", "input": {{"answers": ["Paris"]}}, {contains}}}"#),
        format!(r#"{{"id": "regressed", "input": {{"answers": ["Paris"]}}, {contains}}}"#),
        format!(r#"{{"id": "fixed", "input": {{"answers": ["Lyon"]}}, {contains}}}"#),
        format!(r#"{{"id": "failing", "input": {{"answers": ["Lyon"]}}, {contains}}}"#),
        format!(r#"{{"id": "dropped", "input": {{"answers": ["Paris"]}}, {contains}}}"#),
    ]
    .join("\n");
    run(
        &base,
        &base_dir,
        &settings(2),
        &Alternating::default(),
        None,
        None,
    )
    .await;
    let head = [
        format!(r#"{{"id": "passing", "input": {{"answers": ["Paris"]}}, {contains}}}"#),
        format!(r#"{{"id": "regressed", "input": {{"answers": ["Lyon"]}}, {contains}}}"#),
        format!(r#"{{"id": "fixed", "input": {{"answers": ["Paris"]}}, {contains}}}"#),
        format!(r#"{{"id": "failing", "input": {{"answers": ["error"]}}, {contains}}}"#),
        format!(r#"{{"id": "added", "input": {{"answers": ["Paris"]}}, {contains}}}"#),
    ]
    .join("\n");
    let baseline = Baseline::load(&base_dir).unwrap();
    let (records, summary) = run(
        &head,
        &head_dir,
        &settings(2),
        &Alternating::default(),
        None,
        Some(baseline),
    )
    .await;
    let marks: Vec<(&str, Option<BaselineStatus>)> = records
        .iter()
        .map(|record| (record.id.as_str(), record.baseline))
        .collect();
    assert_eq!(
        marks,
        vec![
            ("passing", Some(BaselineStatus::Passing)),
            ("regressed", Some(BaselineStatus::Regressed)),
            ("fixed", Some(BaselineStatus::Fixed)),
            ("failing", Some(BaselineStatus::Failing)),
            ("added", Some(BaselineStatus::New)),
        ]
    );
    let baseline = summary.baseline.unwrap();
    assert_eq!(
        (
            baseline.regressed,
            baseline.fixed,
            baseline.passing,
            baseline.failing,
            baseline.new,
            baseline.missing
        ),
        (1, 1, 1, 1, 1, 1)
    );
    // 3 of 5 passed in both runs; the errored case used no tokens.
    assert_eq!(baseline.pass_rate_delta, Some(0.0));
    assert_eq!(baseline.tokens_delta, -9);
    assert_eq!(baseline.reference.cases, 5);
    assert!(baseline.file.ends_with("results.jsonl"));
}
