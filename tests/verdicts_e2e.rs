//! Verdicts through the binary: repeats against a fake model that alternates its answers, a
//! fake judge on loopback speaking the real wire with structured output (rubric grades, a
//! project evaluator agent, judge errors and timeouts, record and replay with no network), the
//! `aigne eval` evaluator's request compared byte for byte with the official CLI's, and
//! baselines (every status, `--fail-on regression`, a missing or malformed baseline, `merge`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};

use crate::common;
use crate::common::fake_openai::{FakeOpenAi, Reply, last_user_text};
use crate::report::parse_github_output;

/// `chat` answers the message; `grader` is an evaluator agent with `aigne eval`'s output shape.
fn project(dir: &Path) {
    fs_err::write(
        dir.join("aigne.yaml"),
        "name: verdicts\nchat_model:\n  provider: openai\n  name: gpt-4o-mini\nagents:\n  - chat.yaml\n  - grader.yaml\n",
    )
    .unwrap();
    fs_err::write(
        dir.join("chat.yaml"),
        "name: chat\ninstructions: You answer questions.\ninput_key: message\n",
    )
    .unwrap();
    fs_err::write(
        dir.join("grader.yaml"),
        "name: grader\ninstructions: |\n  Grade the output {{ output }} of the input {{ input }} against {{ expectedOutput }}.\noutput_schema:\n  type: object\n  properties:\n    rating: {type: string}\n    reasoning: {type: string}\n    score: {type: number}\n  required: [rating, reasoning, score]\n",
    )
    .unwrap();
}

/// `aigne-ci run .` in `dir` against the fake.
fn run_in(dir: &Path, server: &FakeOpenAi) -> common::Run {
    common::Run::in_dir(dir)
        .openai(server, "sk-verdicts-secret-0001")
        .args(["run", "."])
}

/// [`run_in`] as a `Command` (kept for tests written against it; new tests use [`run_in`]).
#[allow(
    dead_code,
    reason = "the former entry point, kept for tests on other branches"
)]
fn command(dir: &Path, server: &FakeOpenAi) -> std::process::Command {
    run_in(dir, server).into_command()
}

fn read_records(out: &Path) -> Vec<Value> {
    common::records(out)
}

fn read_summary(out: &Path) -> Value {
    common::summary(out)
}

fn is_judge(body: &Value) -> bool {
    body["response_format"]["json_schema"]["name"] == "grade"
}

#[test]
fn repeats_mark_flaky_cases_and_min_pass_decides() {
    let dir = tempfile::tempdir().unwrap();
    project(dir.path());
    let server = FakeOpenAi::start();
    // Every question is answered `Paris`, then `Lyon`, then `Paris`, … per question.
    let seen = std::sync::Mutex::new(std::collections::HashMap::<String, usize>::new());
    server.set_handler(move |request| {
        let question = last_user_text(&request.body);
        let mut seen = seen.lock().unwrap();
        let count = seen.entry(question).or_default();
        *count += 1;
        Reply::text(if *count % 2 == 1 { "Paris" } else { "Lyon" }).usage(4, 1)
    });
    fs_err::write(
        dir.path().join("prompts.jsonl"),
        [
            r#"{"id": "capital", "input": "Capital of France?", "assert": [{"type": "contains", "value": "Paris"}]}"#,
            r#"{"id": "again", "input": "And again?", "assert": [{"type": "contains", "value": "Paris"}]}"#,
        ]
        .join("\n"),
    )
    .unwrap();
    run_in(dir.path(), &server)
        .args([
            "--input",
            "prompts.jsonl",
            "--repeat",
            "2",
            "--github",
            "on",
            // One at a time: the runs of a case reach the fake in order.
            "--concurrency",
            "1",
        ])
        .github_files()
        .expect_exit(1)
        .run();
    let out = dir.path().join("aigne-ci-output");
    let records = read_records(&out);
    for record in &records {
        assert_eq!(record["status"], "failed");
        assert_eq!(record["flaky"], true);
        let runs: Vec<&str> = record["runs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|run| run["status"].as_str().unwrap())
            .collect();
        assert_eq!(
            runs,
            vec!["passed", "failed"],
            "{records:?} {:?}",
            server
                .bodies()
                .iter()
                .map(last_user_text)
                .collect::<Vec<_>>()
        );
        assert_eq!(record["runs"][1]["output"], json!({"message": "Lyon"}));
        assert_eq!(record["usage"]["input_tokens"], 8);
    }
    assert_eq!(server.request_count(), 4);
    let summary = read_summary(&out);
    assert_eq!(
        summary["repeat"],
        json!({"runs": 2, "min_pass": 2, "flaky": 2})
    );
    let outputs = parse_github_output(&fs_err::read_to_string(dir.path().join("out")).unwrap());
    assert_eq!(outputs["flaky"], "2");
    assert_eq!(outputs["regressed"], "");
    let markdown = fs_err::read_to_string(dir.path().join("summary.md")).unwrap();
    assert!(
        markdown.contains(
            "Flaky cases (2): `capital` (line 1, 1/2 passed), `again` (line 2, 1/2 passed)"
        ),
        "{markdown}"
    );

    // One passing run of two is enough with `--repeat-min-pass 1`.
    let ran = run_in(dir.path(), &server)
        .args([
            "--input",
            "prompts.jsonl",
            "--repeat",
            "2",
            "--repeat-min-pass",
            "1",
        ])
        .expect_exit(0)
        .run();
    assert!(
        ran.stderr
            .contains("repeat: 2 runs per case, 1 must pass · 2 flaky"),
        "{}",
        ran.stderr
    );

    let ran = run_in(dir.path(), &server)
        .args([
            "--input",
            "prompts.jsonl",
            "--repeat",
            "2",
            "--repeat-min-pass",
            "3",
        ])
        .expect_exit(2)
        .run();
    assert!(
        ran.stderr
            .contains("`--repeat-min-pass` must be between 1 and `--repeat` (2), not `3`"),
        "{}",
        ran.stderr
    );
}

/// The fake answers the agent with the question's capital and grades with `{pass, score,
/// reason}`: a pass when the graded output says `Paris`.
fn grading_server() -> FakeOpenAi {
    let server = FakeOpenAi::start();
    server.set_handler(|request| {
        if is_judge(&request.body) {
            let text = last_user_text(&request.body);
            let output = text.split("<output>").nth(1).unwrap_or("");
            let pass = output.contains("Paris");
            Reply::json(json!({"pass": pass, "score": if pass { 0.9 } else { 0.2 }, "reason": if pass { "names Paris" } else { "wrong city" }}))
                .usage(50, 9)
        } else if request.body["response_format"]["json_schema"].is_object() {
            // The grader agent.
            Reply::json(json!({"rating": "Good", "reasoning": "close enough", "score": 4})).usage(30, 6)
        } else {
            let question = last_user_text(&request.body);
            Reply::text(if question.contains("France") { "Paris" } else { "Rome" }).usage(5, 1)
        }
    });
    server
}

#[test]
fn llm_rubric_grades_through_a_judge_on_loopback_and_replays_offline() {
    let dir = tempfile::tempdir().unwrap();
    project(dir.path());
    let server = grading_server();
    fs_err::write(
        dir.path().join("prompts.jsonl"),
        [
            r#"{"id": "france", "input": "Capital of France?", "assert": [{"type": "llm-rubric", "value": "Names Paris as the capital"}]}"#,
            r#"{"id": "italy", "input": "Capital of Italy?", "assert": [{"type": "llm-rubric", "value": "Names Paris as the capital"}]}"#,
            r#"{"id": "graded", "input": "Capital of France?", "expected": {"message": "Paris"}, "assert": [{"type": "judge", "agent": "grader", "min-score": 4}]}"#,
        ]
        .join("\n"),
    )
    .unwrap();
    let cassette = dir.path().join("cassette.json");
    let ran = run_in(dir.path(), &server)
        .args([
            "--input",
            "prompts.jsonl",
            "--judge-model",
            "openai:gpt-judge",
            "--concurrency",
            "1",
            "--record",
            cassette.to_str().unwrap(),
        ])
        .expect_exit(1)
        .run();
    let out = dir.path().join("aigne-ci-output");
    let records = read_records(&out);
    let france = &records[0];
    assert_eq!(france["status"], "passed");
    assert_eq!(france["assertions"][0]["score"], 0.9);
    assert_eq!(france["assertions"][0]["reason"], "names Paris");
    assert_eq!(france["assertions"][0]["judge"], "openai:gpt-judge");
    assert_eq!(
        france["usage"],
        json!({"input_tokens": 5, "output_tokens": 1})
    );
    assert_eq!(
        france["judge_usage"],
        json!({"input_tokens": 50, "output_tokens": 9})
    );
    let italy = &records[1];
    assert_eq!(italy["status"], "failed");
    assert_eq!(
        italy["assertions"][0]["message"],
        "the judge did not pass the output"
    );
    let graded = &records[2];
    assert_eq!(graded["status"], "passed", "{graded}");
    assert_eq!(graded["assertions"][0]["judge"], "agent:grader");
    assert_eq!(graded["assertions"][0]["reason"], "close enough");
    assert_eq!(
        graded["judge_usage"],
        json!({"input_tokens": 30, "output_tokens": 6})
    );
    let summary = read_summary(&out);
    assert_eq!(
        summary["tokens"],
        json!({"input_tokens": 15, "output_tokens": 3, "judge": {"input_tokens": 130, "output_tokens": 24}})
    );
    assert!(
        ran.stderr.contains("judge tokens: 130 in, 24 out"),
        "{}",
        ran.stderr
    );

    // The judge's request: the judge model, structured output, the rubric and the output.
    let bodies = server.bodies();
    let judge = bodies.iter().find(|body| is_judge(body)).unwrap();
    assert_eq!(judge["model"], "gpt-judge");
    assert_eq!(judge["messages"][0]["role"], "system");
    assert_eq!(judge["response_format"]["json_schema"]["strict"], true);
    assert_eq!(
        judge["response_format"]["json_schema"]["schema"]["required"],
        json!(["pass", "score", "reason"])
    );
    assert_eq!(
        last_user_text(judge),
        "<rubric>\nNames Paris as the capital\n</rubric>\n\n<input>\nCapital of France?\n</input>\n\n<output>\nParis\n</output>"
    );
    // The evaluator agent got `aigne eval`'s input: strings, JSON with two spaces.
    let grader = bodies
        .iter()
        .find(|body| body["response_format"]["json_schema"].is_object() && !is_judge(body))
        .unwrap();
    assert_eq!(
        last_user_text(grader),
        "Grade the output {\n  \"message\": \"Paris\"\n} of the input Capital of France? against {\n  \"message\": \"Paris\"\n}.\n"
    );
    assert_eq!(grader["model"], "gpt-4o-mini", "the agent's own model");

    // Replayed with no network and no key: the same verdicts.
    let requests = server.request_count();
    drop(server);
    let replayed = dir.path().join("replayed");
    common::Run::in_dir(dir.path())
        .args([
            "run",
            ".",
            "--input",
            "prompts.jsonl",
            "--judge-model",
            "openai:gpt-judge",
            "--concurrency",
            "1",
            "--replay",
            cassette.to_str().unwrap(),
            "--out-dir",
            replayed.to_str().unwrap(),
        ])
        .expect_exit(1)
        .run();
    assert_eq!(requests, 6);
    let again = read_records(&replayed);
    for (first, second) in records.iter().zip(&again) {
        assert_eq!(first["status"], second["status"]);
        assert_eq!(first["assertions"], second["assertions"]);
        assert_eq!(first["judge_usage"], second["judge_usage"]);
    }
}

#[test]
fn a_judge_that_fails_or_times_out_errors_the_case_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    project(dir.path());
    let server = FakeOpenAi::start();
    server.set_handler(|request| {
        if is_judge(&request.body) {
            if last_user_text(&request.body).contains("slow") {
                Reply::json(json!({"pass": true, "score": 1, "reason": "late"}))
                    .latency(Duration::from_secs(5))
            } else {
                Reply::error(500, json!({"error": {"message": "judge overloaded"}}))
            }
        } else {
            Reply::text("Paris")
        }
    });
    fs_err::write(
        dir.path().join("prompts.jsonl"),
        [
            r#"{"id": "fails", "input": "q1", "assert": [{"type": "llm-rubric", "value": "says Paris"}]}"#,
            r#"{"id": "slow", "input": "q2", "assert": [{"type": "llm-rubric", "value": "slow: says Paris"}]}"#,
        ]
        .join("\n"),
    )
    .unwrap();
    run_in(dir.path(), &server)
        .args([
            "--input",
            "prompts.jsonl",
            "--retries",
            "0",
            "--timeout",
            "1s",
        ])
        .expect_exit(1)
        .run();
    let records = read_records(&dir.path().join("aigne-ci-output"));
    let fails = &records[0];
    assert_eq!(fails["status"], "errored");
    assert_eq!(fails["error"]["kind"], "judge");
    let message = fails["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("`llm-rubric` (openai:gpt-4o-mini) failed: ")
            && message.contains("judge overloaded"),
        "{message}"
    );
    assert_eq!(fails["output"], json!({"message": "Paris"}));
    let slow = &records[1];
    assert_eq!(slow["status"], "errored");
    assert_eq!(
        slow["error"],
        json!({"kind": "judge", "message": "`llm-rubric` did not answer within `--timeout 1s`"})
    );
}

/// The official install, or `None` (a failure when `CI` is set: the comparison must run there).
fn reference_install() -> Option<PathBuf> {
    let dir = std::env::var_os("AIGNE_CI_REF_AIGNE").map(PathBuf::from);
    let found = dir.filter(|dir| dir.join("node_modules/.bin/aigne").is_file());
    let has_node = std::process::Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|output| output.status.success());
    match found {
        Some(dir) if has_node => Some(dir),
        _ => {
            assert!(
                std::env::var_os("CI").is_none(),
                "the official `aigne` (AIGNE_CI_REF_AIGNE) and node are needed to compare with `aigne eval`"
            );
            None
        }
    }
}

/// The judge's request body of one item, as the official `aigne eval` sends it and as ours does.
#[test]
fn the_default_evaluator_sends_what_aigne_eval_sends() {
    let Some(reference) = reference_install() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    project(dir.path());
    let item_input = json!({"message": "Capital of France? Answer with \"one\" word — ü\n"});
    let expected = json!({"message": "Paris", "extra": [1, 2.5, true, null]});
    let replies = || {
        vec![
            Reply::text("Paris"),
            Reply::json(json!({"rating": "Very Good", "reasoning": "same", "score": 5})),
        ]
    };

    // The official CLI.
    let official = FakeOpenAi::start();
    official.push_all(replies());
    fs_err::write(
        dir.path().join("dataset.json"),
        json!([{"id": 1, "input": item_input, "expected": expected}]).to_string(),
    )
    .unwrap();
    let home = tempfile::tempdir().unwrap();
    let ran = std::process::Command::new(reference.join("node_modules/.bin/aigne"))
        .args(["eval", ".", "chat", "--dataset", "dataset.json"])
        .current_dir(dir.path())
        .env("OPENAI_BASE_URL", official.base_url())
        .env("OPENAI_API_KEY", "sk-test")
        .env("HOME", home.path())
        .env_remove("MODEL")
        .output()
        .unwrap();
    assert!(
        ran.status.success(),
        "{}{}",
        String::from_utf8_lossy(&ran.stdout),
        String::from_utf8_lossy(&ran.stderr)
    );
    let official_requests = official.requests();
    assert_eq!(official_requests.len(), 2, "one agent call, one judge call");

    // Ours, on the same item.
    let ours = FakeOpenAi::start();
    ours.push_all(replies());
    fs_err::write(
        dir.path().join("prompts.jsonl"),
        json!({"id": "1", "input": item_input, "expected": expected, "assert": [{"type": "judge"}]})
            .to_string(),
    )
    .unwrap();
    common::Run::in_dir(dir.path())
        .openai(&ours, "sk-test")
        .args(["run", ".", "chat", "--input", "prompts.jsonl"])
        .expect_exit(0)
        .run();
    let our_requests = ours.requests();
    assert_eq!(our_requests.len(), 2);
    assert_eq!(
        our_requests[1].raw_body, official_requests[1].raw_body,
        "the evaluator's request body"
    );
    let records = read_records(&dir.path().join("aigne-ci-output"));
    assert_eq!(records[0]["assertions"][0]["score"], 5.0);
    assert_eq!(records[0]["assertions"][0]["actual"]["rating"], "Very Good");
}

fn base_and_head(dir: &Path) -> (FakeOpenAi, PathBuf) {
    project(dir);
    // The model answers each question with what follows `say ` in it.
    let server = FakeOpenAi::start();
    server.set_handler(|request| {
        let question = last_user_text(&request.body);
        Reply::text(question.split("say ").nth(1).unwrap_or("?")).usage(3, 1)
    });
    let contains = r#""assert": [{"type": "contains", "value": "yes"}]"#;
    fs_err::write(
        dir.join("base.jsonl"),
        [
            format!(r#"{{"id": "passing", "input": "say yes", {contains}}}"#),
            format!(r#"{{"id": "regressed", "input": "say yes", {contains}}}"#),
            format!(r#"{{"id": "fixed", "input": "say no", {contains}}}"#),
            format!(r#"{{"id": "failing", "input": "say no", {contains}}}"#),
            format!(r#"{{"id": "dropped", "input": "say yes", {contains}}}"#),
        ]
        .join("\n"),
    )
    .unwrap();
    fs_err::write(
        dir.join("head.jsonl"),
        [
            format!(r#"{{"id": "passing", "input": "say yes", {contains}}}"#),
            format!(r#"{{"id": "regressed", "input": "say no", {contains}}}"#),
            format!(r#"{{"id": "fixed", "input": "say yes", {contains}}}"#),
            format!(r#"{{"id": "failing", "input": "say no", {contains}}}"#),
            format!(r#"{{"id": "added", "input": "say yes!", {contains}}}"#),
        ]
        .join("\n"),
    )
    .unwrap();
    let base = dir.join("base-out");
    run_in(dir, &server)
        .args(["--input", "base.jsonl", "--out-dir", base.to_str().unwrap()])
        .expect_exit(1)
        .run();
    (server, base)
}

#[test]
fn baselines_mark_regressions_and_fail_only_on_them() {
    let dir = tempfile::tempdir().unwrap();
    let (server, base) = base_and_head(dir.path());
    let head = dir.path().join("head-out");
    let ran = run_in(dir.path(), &server)
        .args([
            "--input",
            "head.jsonl",
            "--out-dir",
            head.to_str().unwrap(),
            "--baseline",
            base.to_str().unwrap(),
            "--fail-on",
            "regression",
            "--github",
            "on",
        ])
        .github_files()
        .expect_exit(1)
        .run();
    let marks: Vec<(String, String)> = read_records(&head)
        .iter()
        .map(|record| {
            (
                record["id"].as_str().unwrap().to_owned(),
                record["baseline"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expected: Vec<(String, String)> = [
        ("passing", "passing"),
        ("regressed", "regressed"),
        ("fixed", "fixed"),
        ("failing", "failing"),
        ("added", "new"),
    ]
    .iter()
    .map(|(id, mark)| ((*id).to_owned(), (*mark).to_owned()))
    .collect();
    assert_eq!(marks, expected);
    let summary = read_summary(&head);
    let baseline = &summary["baseline"];
    assert_eq!(
        (
            &baseline["regressed"],
            &baseline["fixed"],
            &baseline["passing"],
            &baseline["failing"],
            &baseline["new"],
            &baseline["missing"]
        ),
        (
            &json!(1),
            &json!(1),
            &json!(1),
            &json!(1),
            &json!(1),
            &json!(1)
        )
    );
    assert_eq!(baseline["pass_rate_delta"], json!(0.0));
    assert_eq!(
        baseline["file"],
        base.join("results.jsonl").display().to_string()
    );
    assert_eq!(
        summary["policy"]["reasons"],
        json!(["1 case regressed against the baseline"])
    );
    // The regression is annotated first, on its line; outputs count them.
    assert!(
        ran.stderr.contains("::error file=head.jsonl,line=2,title=aigne-ci%3A case `regressed` regressed (failed; passed in the baseline)::"),
        "{}",
        ran.stderr
    );
    let outputs = parse_github_output(&fs_err::read_to_string(dir.path().join("out")).unwrap());
    assert_eq!(
        (outputs["regressed"].as_str(), outputs["fixed"].as_str()),
        ("1", "1")
    );
    let markdown = fs_err::read_to_string(dir.path().join("summary.md")).unwrap();
    assert!(
        markdown.contains("Baseline: 1 regressed, 1 fixed, 1 passing, 1 failing, 1 new, 1 missing"),
        "{markdown}"
    );

    // Without the regression, old failures do not fail the run; under `--repeat 2` the tokens
    // are compared per run, so the same cases cost the same as the baseline that ran once.
    let again = dir.path().join("again");
    run_in(dir.path(), &server)
        .args([
            "--input",
            "head.jsonl",
            "--out-dir",
            again.to_str().unwrap(),
            "--baseline",
            head.join("results.jsonl").to_str().unwrap(),
            "--fail-on",
            "regression",
            "--repeat",
            "2",
        ])
        .expect_exit(0)
        .run();
    let again_summary = read_summary(&again);
    assert_eq!(again_summary["repeat"]["runs"], json!(2));
    assert_ne!(summary["tokens"]["input_tokens"], json!(0));
    assert_eq!(again_summary["baseline"]["tokens_delta"], json!(0));

    // `merge` keeps the marks and recomputes the counts.
    let merged = dir.path().join("merged");
    common::Run::in_dir(dir.path())
        .args([
            "merge",
            head.to_str().unwrap(),
            "--out-dir",
            merged.to_str().unwrap(),
            "--fail-on",
            "regression",
        ])
        .expect_exit(1)
        .run();
    let merged_summary = read_summary(&merged);
    assert_eq!(merged_summary["baseline"], summary["baseline"]);
    assert_eq!(read_records(&merged)[1]["baseline"], "regressed");
}

#[test]
fn a_missing_or_malformed_baseline_stops_the_run_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let (server, base) = base_and_head(dir.path());
    let requests = server.request_count();
    let missing = dir.path().join("nowhere/results.jsonl");
    let ran = run_in(dir.path(), &server)
        .args([
            "--input",
            "head.jsonl",
            "--baseline",
            missing.to_str().unwrap(),
        ])
        .expect_exit(2)
        .run();
    assert!(
        ran.stderr.contains(&format!(
            "error: cannot read the baseline `{}`",
            missing.display()
        )),
        "{}",
        ran.stderr
    );
    let malformed = base.join("results.jsonl");
    let mut text = fs_err::read_to_string(&malformed).unwrap();
    text.push_str("{not json\n");
    fs_err::write(&malformed, text).unwrap();
    let ran = run_in(dir.path(), &server)
        .args([
            "--input",
            "head.jsonl",
            "--baseline",
            base.to_str().unwrap(),
        ])
        .expect_exit(2)
        .run();
    assert!(
        ran.stderr.contains(&format!(
            "error: the baseline `{}` line 6 is not a results record",
            malformed.display()
        )),
        "{}",
        ran.stderr
    );
    let ran = run_in(dir.path(), &server)
        .args(["--input", "head.jsonl", "--fail-on", "regression"])
        .expect_exit(2)
        .run();
    assert!(
        ran.stderr
            .contains("`--fail-on regression` needs `--baseline PATH`")
    );
    assert_eq!(server.request_count(), requests, "no case ran");
}
