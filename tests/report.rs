//! Stage 5: the files a run writes, checked against the JSON Schemas in `schemas/`, parsed back
//! (GitHub outputs, step summary, JUnit), and `aigne-ci merge` through the binary.

use std::collections::BTreeMap;

use aigne_ci::batch::{Shard, StopSignal};
use aigne_ci::report::github;
use aigne_ci::report::{self, GithubSettings, ResultRecord};
use serde_json::{Value, json};

use crate::batch::{FakeRunner, report_settings, run_text, settings};
use crate::common::{self, assert_valid, schema};

/// Parses a `$GITHUB_OUTPUT` file the way the runner does (`key<<DELIM` … `DELIM`, or
/// `key=value`).
pub(crate) fn parse_github_output(text: &str) -> BTreeMap<String, String> {
    let mut values = BTreeMap::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if let Some((key, delimiter)) = line.split_once("<<") {
            let mut value = Vec::new();
            for next in lines.by_ref() {
                if next == delimiter {
                    break;
                }
                value.push(next);
            }
            values.insert(key.to_owned(), value.join("\n"));
        } else if let Some((key, value)) = line.split_once('=') {
            values.insert(key.to_owned(), value.to_owned());
        }
    }
    values
}

const MIXED: &str = r#"{"id": "a", "input": "Paris", "expected": "Paris", "tags": ["smoke"], "metadata": {"k": 1}}
{"id": "b", "input": "Lyon", "assert": [{"type": "contains", "value": "Paris"}, {"type": "max-tokens", "value": 100}]}
{"id": "c", "input": {"fail": "model said no"}}
{"input": {"text": "t"}, "session": "s1"}
{broken
"#;

#[tokio::test(start_paused = true)]
async fn results_and_summary_match_their_schemas() {
    let dir = tempfile::tempdir().unwrap();
    let runner = FakeRunner::default();
    let (_, records, summary) = run_text(
        MIXED,
        dir.path(),
        &settings(2),
        None,
        &StopSignal::new(),
        &runner,
    )
    .await;
    assert_eq!(records.len(), 5);
    let results = schema("results.schema.json");
    let text = fs_err::read_to_string(dir.path().join("results.jsonl")).unwrap();
    for line in text.lines() {
        let value: Value = serde_json::from_str(line).unwrap();
        assert_eq!(value["format_version"], json!(1));
        assert_valid(&results, &value);
    }
    let summary_value: Value = common::summary(dir.path());
    assert_valid(&schema("summary.schema.json"), &summary_value);
    assert_eq!(
        summary_value["counts"],
        json!({"total": 5, "passed": 2, "failed": 1, "errored": 1, "skipped": 1, "not_run": 0})
    );
    assert_eq!(summary_value["pass_rate"], json!(0.5));
    assert_eq!(
        summary_value["policy"]["reasons"],
        json!(["1 case failed", "1 case errored"])
    );
    assert_eq!(summary.inputs.lines, vec![1, 2, 3, 4, 5]);

    // A schema that fails on a wrong record (the check can fail).
    let mut wrong: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    wrong["status"] = json!("ok");
    assert!(!results.is_valid(&wrong));

    // JUnit: one test case per case, failures and errors typed.
    let junit = fs_err::read_to_string(dir.path().join("junit.xml")).unwrap();
    assert!(
        junit.contains(
            r#"<testsuite name="prompts.jsonl" tests="5" skipped="1" errors="1" failures="1""#
        ),
        "{junit}"
    );
    assert!(
        junit.contains(r#"<testcase name="b" classname="chat""#),
        "{junit}"
    );
    assert!(
        junit.contains(
            r#"<failure message="contains: output does not contain `Paris`">Lyon</failure>"#
        ),
        "{junit}"
    );
    assert!(
        junit.contains(r#"<error message="model: model said no" type="model""#),
        "{junit}"
    );
    assert!(junit.contains(r#"<skipped message="invalid_input: invalid JSON: key must be a string (column 2)" type="invalid_input"/>"#), "{junit}");
}

#[tokio::test(start_paused = true)]
async fn github_outputs_and_step_summary_parse_back() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings_with_github = report_settings(dir.path());
    settings_with_github.github = Some(GithubSettings {
        output: Some(dir.path().join("github_output")),
        step_summary: Some(dir.path().join("step_summary.md")),
    });
    let (cases, invalid) = aigne_ci::batch::inputs::parse_inputs(
        MIXED,
        aigne_ci::batch::inputs::InputsFormat::JsonLines,
    );
    let mut reporter = report::RunReporter::create(settings_with_github).unwrap();
    let runner = FakeRunner::default();
    let outcome = aigne_ci::batch::execute(
        cases,
        invalid,
        &runner,
        &settings(2),
        &StopSignal::new(),
        &mut reporter,
    )
    .await
    .unwrap();
    reporter
        .finish(
            &crate::batch::context(vec![1, 2, 3, 4, 5], None),
            outcome.not_run,
            outcome.stopped,
            outcome.wall_ms,
        )
        .unwrap();
    let raw = fs_err::read_to_string(dir.path().join("github_output")).unwrap();
    let outputs = parse_github_output(&raw);
    let expected: BTreeMap<String, String> = [
        (
            "results-file",
            dir.path().join("results.jsonl").display().to_string(),
        ),
        (
            "summary-file",
            dir.path().join("summary.json").display().to_string(),
        ),
        // This reporter runs with `--report off` (`html_path: None`).
        ("report-file", String::new()),
        ("total", "5".into()),
        ("passed", "2".into()),
        ("failed", "1".into()),
        ("errored", "1".into()),
        ("pass-rate", "0.5000".into()),
        ("input-tokens", "30".into()),
        ("output-tokens", "9".into()),
        ("cache-hit", String::new()),
        ("cache-key", String::new()),
        ("project-sha256", String::new()),
        ("conclusion", "failure".into()),
        ("flaky", String::new()),
        ("regressed", String::new()),
        ("fixed", String::new()),
    ]
    .into_iter()
    .map(|(key, value)| (key.to_owned(), value))
    .collect();
    assert_eq!(outputs, expected);
    // Each value has its own delimiter.
    let delimiters: std::collections::BTreeSet<&str> = raw
        .lines()
        .filter_map(|line| line.split_once("<<").map(|(_, delimiter)| delimiter))
        .collect();
    assert_eq!(delimiters.len(), 17);

    let markdown = fs_err::read_to_string(dir.path().join("step_summary.md")).unwrap();
    assert!(
        markdown.starts_with("## ❌ aigne-ci: 2 of 5 passed (failure)\n"),
        "{markdown}"
    );
    assert!(markdown.contains("| 2 | b | chat | failed |"), "{markdown}");
    assert!(
        markdown.contains("| 5 | line-5 | chat | skipped |"),
        "{markdown}"
    );
}

#[test]
fn delimiter_like_values_cannot_inject_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out");
    let hostile =
        "line one\nghadelimiter_00000000000000000000000000000000\nconclusion=success\n::error::x";
    github::write_outputs(
        &path,
        &[
            ("answer", hostile.to_owned()),
            ("conclusion", "failure".into()),
        ],
    )
    .unwrap();
    let outputs = parse_github_output(&fs_err::read_to_string(&path).unwrap());
    assert_eq!(outputs["answer"], hostile);
    assert_eq!(outputs["conclusion"], "failure");
    assert_eq!(outputs.len(), 2);
}

#[test]
fn step_summary_is_cut_to_its_budget_with_a_pointer() {
    let summary: report::Summary = serde_json::from_value(json!({
        "format_version": 1, "aigne_ci_version": "0", "conclusion": "failure", "cancelled": false,
        "timed_out": false,
        "counts": {"total": 500, "passed": 0, "failed": 500, "errored": 0, "skipped": 0, "not_run": 0},
        "pass_rate": 0.0,
        "policy": {"fail_on": "failure", "min_pass_rate": null, "holds": false, "reasons": ["500 cases failed"]},
        "tokens": {"input_tokens": 0, "output_tokens": 0},
        "durations": {"wall_ms": 1, "cases_ms": 1, "mean_ms": 1, "p50_ms": 1, "p95_ms": 1, "max_ms": 1},
        "project": {"source": ".", "sha256": null, "cache_hit": null, "cache_key": null},
        "engine": "native", "model": null, "models": [], "agent": "chat",
        "inputs": {"file": "p.jsonl", "cases": 500, "lines": []}, "shard": null,
        "results_file": "out/results.jsonl", "junit_file": null,
        "started_at": "", "finished_at": ""
    }))
    .unwrap();
    let briefs: Vec<report::Brief> = (1..=500)
        .map(|line| report::Brief {
            id: format!("case-{line}"),
            line,
            agent: "chat".into(),
            status: aigne_ci::batch::CaseStatus::Failed,
            duration_ms: 5,
            detail: Some(format!("equals: output <b>|{}</b>", "x".repeat(100))),
            error_kind: None,
            output_excerpt: None,
            flaky: false,
            runs_passed: None,
            baseline: None,
        })
        .collect();
    let markdown = github::step_summary(&summary, &briefs, 20_000);
    assert!(markdown.len() <= 20_000);
    assert!(markdown.contains("&#60;b&#62;&#124;x"), "cells are escaped");
    let last = markdown.lines().last().unwrap();
    assert!(
        last.starts_with('_') && last.ends_with("more rows — see `out/results.jsonl`_"),
        "{last}"
    );
    let rows = markdown
        .lines()
        .filter(|line| line.starts_with("| ") && line.contains("case-"))
        .count();
    let left: usize = last
        .trim_start_matches('_')
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(rows + left, 500);
}

fn comparable(records: Vec<ResultRecord>) -> Vec<Value> {
    let mut records = records;
    records.sort_by_key(|record| record.line);
    records
        .into_iter()
        .map(|record| {
            let mut value = serde_json::to_value(record).unwrap();
            value["duration_ms"] = json!(0);
            value
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn merged_shards_equal_an_unsharded_run() {
    let text: String = (1..=9)
        .map(|line| match line {
            3 => "{\"input\": {\"fail\": \"no\"}}\n".to_owned(),
            5 => "{\"input\": \"x\", \"assert\": [{\"type\": \"contains\", \"value\": \"y\"}]}\n"
                .to_owned(),
            6 | 8 => format!("{{\"input\": {{\"text\": \"{line}\"}}, \"session\": \"s\"}}\n"),
            _ => format!("\"{line}\"\n"),
        })
        .collect();
    let whole = tempfile::tempdir().unwrap();
    let (_, whole_records, whole_summary) = run_text(
        &text,
        whole.path(),
        &settings(3),
        None,
        &StopSignal::new(),
        &FakeRunner::default(),
    )
    .await;
    let root = tempfile::tempdir().unwrap();
    let mut shard_dirs = Vec::new();
    for index in 1..=3 {
        let dir = root.path().join(format!("shard-{index}"));
        fs_err::create_dir_all(&dir).unwrap();
        run_text(
            &text,
            &dir,
            &settings(3),
            Some(Shard { index, count: 3 }),
            &StopSignal::new(),
            &FakeRunner::default(),
        )
        .await;
        shard_dirs.push(dir);
    }
    let merged = root.path().join("merged");
    let ran = common::Run::in_dir(root.path())
        .args(["merge", "shard-1", "shard-2/results.jsonl", "shard-3"])
        .args(["--out-dir", "merged", "--junit", "merged/junit.xml"])
        .run();
    // One case failed and one errored: the policy does not hold, as in the whole run.
    assert_eq!(ran.code, Some(1), "{}", ran.stderr);
    assert!(ran.stderr.contains("aigne-ci: 9 cases"), "{}", ran.stderr);
    let merged_records = report::read_results(&merged.join("results.jsonl")).unwrap();
    assert_eq!(comparable(merged_records), comparable(whole_records));
    let merged_summary = report::read_summary(&merged.join("summary.json")).unwrap();
    assert_eq!(merged_summary.counts, whole_summary.counts);
    assert_eq!(merged_summary.tokens, whole_summary.tokens);
    assert_eq!(merged_summary.policy.reasons, whole_summary.policy.reasons);
    assert_eq!(merged_summary.merged_from.len(), 3);
    assert!(merged.join("junit.xml").is_file());

    // Missing and duplicate lines are reported and fail the policy.
    let ran = common::Run::in_dir(root.path())
        .args([
            "merge",
            "shard-1",
            "shard-1",
            "--out-dir",
            "partial",
            "--fail-on",
            "never",
        ])
        .expect_exit(1)
        .run();
    let shard_one = report::read_results(&shard_dirs[0].join("results.jsonl")).unwrap();
    let mut shard_one_lines: Vec<usize> = shard_one.iter().map(|record| record.line).collect();
    shard_one_lines.sort_unstable();
    let missing: Vec<String> = (1..=9)
        .filter(|line| !shard_one_lines.contains(line))
        .map(|line| line.to_string())
        .collect();
    assert!(
        ran.stderr.contains(&format!(
            "{} lines of the inputs missing from the shards: {}",
            missing.len(),
            missing.join(", ")
        )),
        "{}",
        ran.stderr
    );
    assert!(
        ran.stderr.contains(&format!(
            "{} lines appear more than once",
            shard_one_lines.len()
        )),
        "{}",
        ran.stderr
    );
    let partial = report::read_summary(&root.path().join("partial/summary.json")).unwrap();
    assert_eq!(partial.counts.not_run, missing.len());
    assert!(!partial.policy.holds);
}
