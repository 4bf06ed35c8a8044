//! `aigne-ci run` end to end: the binary, a project on disk and the fake OpenAI server.

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};

use crate::common;
use crate::common::fake_openai::{FakeOpenAi, Reply};
use crate::report::parse_github_output;

/// A project: `chat` answers the message; `memory_chat` remembers earlier turns (legacy `memory`).
fn project(dir: &Path) {
    fs_err::write(
        dir.join("aigne.yaml"),
        "name: e2e\nchat_model:\n  provider: openai\n  name: gpt-4o-mini\nagents:\n  - chat.yaml\n  - memory.yaml\n",
    )
    .unwrap();
    fs_err::write(
        dir.join("chat.yaml"),
        "name: chat\ninstructions: You are terse.\ninput_key: message\n",
    )
    .unwrap();
    fs_err::write(
        dir.join("memory.yaml"),
        "name: memory_chat\ninstructions: Remember things.\ninput_key: message\nmemory: true\n",
    )
    .unwrap();
}

/// The fake answers `echo: <last user message>`.
fn echo_server() -> FakeOpenAi {
    let server = FakeOpenAi::start();
    server.set_handler(|request| {
        Reply::text(&format!("echo: {}", request.last_user_text())).usage(7, 3)
    });
    server
}

/// `aigne-ci run .` in `dir` against the fake.
fn run_in(dir: &Path, server: &FakeOpenAi) -> common::Run {
    common::Run::in_dir(dir)
        .openai(server, "sk-e2e-secret-key-0001")
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

fn records(dir: &Path) -> Vec<Value> {
    common::records(&dir.join("aigne-ci-output"))
}

#[test]
fn every_input_shape_and_assertion_through_the_binary() {
    let dir = tempfile::tempdir().unwrap();
    project(dir.path());
    let server = echo_server();
    let lines = [
        r#""plain text""#,
        r#"{"message": "object input"}"#,
        r#"{"id": "exp", "input": "hello", "expected": "echo: hello"}"#,
        r#"{"id": "asserts", "input": {"message": "Paris"}, "assert": [{"type": "equals", "value": "echo: Paris"}, {"type": "contains", "value": "Paris"}, {"type": "not-contains", "value": "Lyon"}, {"type": "regex", "value": "^echo: P"}, {"type": "json-schema", "value": {"type": "object", "required": ["message"]}}, {"type": "json-path-equals", "path": "$.message", "value": "echo: Paris"}, {"type": "max-latency-ms", "value": 60000}, {"type": "max-tokens", "value": 10}]}"#,
        r#"{"id": "fails", "input": "x", "assert": [{"type": "contains", "value": "nope"}, {"type": "max-tokens", "value": 9}]}"#,
    ];
    fs_err::write(dir.path().join("prompts.jsonl"), lines.join("\n")).unwrap();
    let ran = run_in(dir.path(), &server)
        .args(["--input", "prompts.jsonl", "--junit", "junit.xml"])
        .expect_exit(1)
        .run();
    let records = records(dir.path());
    let statuses: Vec<(&str, &str)> = records
        .iter()
        .map(|record| {
            (
                record["id"].as_str().unwrap(),
                record["status"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        statuses,
        vec![
            ("line-1", "passed"),
            ("line-2", "passed"),
            ("exp", "passed"),
            ("asserts", "passed"),
            ("fails", "failed")
        ]
    );
    assert_eq!(records[0]["output"], json!({"message": "echo: plain text"}));
    assert_eq!(
        records[1]["usage"],
        json!({"input_tokens": 7, "output_tokens": 3})
    );
    assert_eq!(records[3]["assertions"].as_array().unwrap().len(), 8);
    let failed: Vec<&str> = records[4]["assertions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|assertion| assertion["message"].as_str().unwrap())
        .collect();
    assert_eq!(
        failed,
        vec![
            "output does not contain `nope`",
            "used 10 tokens, more than 9"
        ]
    );
    assert!(
        ran.stderr.contains("prompts.jsonl:5 `fails` failed"),
        "{}",
        ran.stderr
    );
    assert!(dir.path().join("junit.xml").is_file());
    let summary: Value = common::summary(&dir.path().join("aigne-ci-output"));
    assert_eq!(summary["counts"]["passed"], json!(4));
    assert_eq!(summary["engine"], json!("native"));
    assert_eq!(summary["agent"], json!("chat"));
    assert_eq!(server.requests().len(), 5);
}

#[test]
fn malformed_lines_stop_the_run_before_any_model_call() {
    let dir = tempfile::tempdir().unwrap();
    project(dir.path());
    let server = echo_server();
    fs_err::write(dir.path().join("prompts.jsonl"), "\"ok\"\n{bad\n7\n").unwrap();
    let ran = run_in(dir.path(), &server)
        .args(["--input", "prompts.jsonl"])
        .expect_exit(2)
        .run();
    assert!(ran.stderr.contains("error: 2 malformed entries in `prompts.jsonl`:\n  prompts.jsonl:2: invalid JSON: key must be a string (column 2)\n  prompts.jsonl:3: an entry must be a JSON object or string, found a number\n"), "{}", ran.stderr);
    assert!(
        ran.stderr
            .contains("hint: fix these entries, or pass `--on-invalid-input skip`"),
        "{}",
        ran.stderr
    );
    assert!(server.requests().is_empty());
    // With skip, the rest runs and the bad lines are recorded.
    run_in(dir.path(), &server)
        .args(["--input", "prompts.jsonl", "--on-invalid-input", "skip"])
        .expect_exit(0)
        .run();
    let statuses: Vec<String> = records(dir.path())
        .iter()
        .map(|record| record["status"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(statuses, vec!["passed", "skipped", "skipped"]);
}

#[test]
fn one_prompt_prints_its_output_on_stdout() {
    let dir = tempfile::tempdir().unwrap();
    project(dir.path());
    let server = echo_server();
    let ran = run_in(dir.path(), &server)
        .args(["--prompt", "hi"])
        .expect_exit(0)
        .run();
    assert_eq!(
        serde_json::from_str::<Value>(&ran.stdout).unwrap(),
        json!({"message": "echo: hi"})
    );
}

#[test]
fn github_files_and_log_commands() {
    let dir = tempfile::tempdir().unwrap();
    project(dir.path());
    let server = FakeOpenAi::start();
    // A hostile model: workflow commands and delimiter-like text in its answer.
    server.set_default(Reply::text(
        "::error::injected\nghadelimiter_x\n::add-mask::y sk-e2e-secret-key-0001",
    ));
    fs_err::write(
        dir.path().join("prompts.jsonl"),
        "{\"input\": \"a\", \"assert\": [{\"type\": \"contains\", \"value\": \"safe\"}]}\n",
    )
    .unwrap();
    let ran = run_in(dir.path(), &server)
        .args(["--input", "prompts.jsonl"])
        .env("GITHUB_ACTIONS", "true")
        .github_files()
        .expect_exit(1)
        .run();
    assert!(
        ran.stderr
            .starts_with("::add-mask::sk-e2e-secret-key-0001\n"),
        "{}",
        ran.stderr
    );
    assert!(ran.stderr.contains("::error file=prompts.jsonl,line=1,title=aigne-ci%3A case `line-1` failed::contains: output does not contain `safe`\n"), "{}", ran.stderr);
    // The model's text is echoed only between stop-commands markers.
    let start = ran.stderr.find("::stop-commands::").expect("stop-commands");
    let token = ran.stderr[start + 17..].lines().next().unwrap().to_owned();
    let end = ran.stderr.find(&format!("::{token}::")).expect("resume");
    let injected = ran.stderr.find("::error::injected").expect("echoed");
    assert!(start < injected && injected < end, "{}", ran.stderr);
    assert_eq!(
        ran.stderr.matches("sk-e2e-secret-key-0001").count(),
        1,
        "{}",
        ran.stderr
    );
    let outputs = parse_github_output(&fs_err::read_to_string(dir.path().join("out")).unwrap());
    assert_eq!(outputs["conclusion"], "failure");
    assert_eq!(outputs["failed"], "1");
    assert!(outputs["report-file"].ends_with("report.html"));
    assert_eq!(outputs.len(), 17);
    let markdown = fs_err::read_to_string(dir.path().join("summary.md")).unwrap();
    assert!(
        markdown.starts_with("## ❌ aigne-ci: 0 of 1 passed (failure)"),
        "{markdown}"
    );
    let results = fs_err::read_to_string(dir.path().join("aigne-ci-output/results.jsonl")).unwrap();
    assert!(!results.contains("sk-e2e-secret-key-0001"), "{results}");
}

#[test]
fn sessions_see_their_earlier_turns_in_file_order() {
    let dir = tempfile::tempdir().unwrap();
    project(dir.path());
    let server = echo_server();
    fs_err::write(
        dir.path().join("prompts.jsonl"),
        [
            r#"{"input": "one", "session": "a", "agent": "memory_chat"}"#,
            r#"{"input": "other", "session": "b", "agent": "memory_chat"}"#,
            r#"{"input": "two", "session": "a", "agent": "memory_chat"}"#,
        ]
        .join("\n"),
    )
    .unwrap();
    run_in(dir.path(), &server)
        .args(["--input", "prompts.jsonl", "--concurrency", "4"])
        .expect_exit(0)
        .run();
    let requests = server.requests();
    let second_turn = requests
        .iter()
        .find(|request| request.body["messages"].to_string().contains("\"two\""))
        .unwrap();
    let texts: Vec<String> = second_turn.body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|message| message["content"].to_string())
        .collect();
    let joined = texts.join("|");
    assert!(
        joined.contains("one") && joined.contains("echo: one"),
        "{joined}"
    );
    assert!(!joined.contains("other"), "{joined}");
}

fn wait_for(path: &Path, condition: impl Fn(&str) -> bool) {
    common::wait_until(&path.display().to_string(), || {
        fs_err::read_to_string(path).is_ok_and(|text| condition(&text))
    });
}

#[cfg(unix)]
fn signal_stops_the_run(signal: nix::sys::signal::Signal) {
    let dir = tempfile::tempdir().unwrap();
    project(dir.path());
    let server = FakeOpenAi::quick_then_slow();
    let text: String = (0..6).map(|index| format!("\"case {index}\"\n")).collect();
    fs_err::write(dir.path().join("prompts.jsonl"), text).unwrap();
    let running = run_in(dir.path(), &server)
        .args([
            "--input",
            "prompts.jsonl",
            "--concurrency",
            "1",
            "--grace-period",
            "200ms",
        ])
        .expect_exit(130)
        .spawn();
    let results = dir.path().join("aigne-ci-output/results.jsonl");
    wait_for(&results, |text| text.lines().count() == 1);
    running.signal(signal);
    running.wait();
    let records = records(dir.path());
    assert_eq!(records.len(), 2, "{records:?}");
    assert_eq!(records[0]["status"], json!("passed"));
    assert_eq!(records[1]["error"]["kind"], json!("cancelled"));
    let summary: Value = common::summary(&dir.path().join("aigne-ci-output"));
    assert_eq!(summary["cancelled"], json!(true));
    assert_eq!(summary["conclusion"], json!("cancelled"));
    assert_eq!(summary["counts"]["not_run"], json!(4));
}

#[cfg(unix)]
#[test]
fn sigterm_keeps_results_and_exits_130() {
    signal_stops_the_run(nix::sys::signal::Signal::SIGTERM);
}

#[cfg(unix)]
#[test]
fn sigint_keeps_results_and_exits_130() {
    signal_stops_the_run(nix::sys::signal::Signal::SIGINT);
}

#[test]
fn total_timeout_exits_4_with_results_so_far() {
    let dir = tempfile::tempdir().unwrap();
    project(dir.path());
    let server = FakeOpenAi::quick_then_slow();
    fs_err::write(dir.path().join("prompts.jsonl"), "\"a\"\n\"b\"\n\"c\"\n").unwrap();
    run_in(dir.path(), &server)
        .args([
            "--input",
            "prompts.jsonl",
            "--concurrency",
            "1",
            "--total-timeout",
            "1s",
            "--grace-period",
            "100ms",
        ])
        .expect_exit(4)
        .run();
    let records = records(dir.path());
    assert_eq!(records.len(), 2);
    assert_eq!(records[0]["status"], json!("passed"));
    assert_eq!(records[1]["error"]["kind"], json!("total_timeout"));
    let summary: Value = common::summary(&dir.path().join("aigne-ci-output"));
    assert_eq!(summary["timed_out"], json!(true));
    assert_eq!(summary["counts"]["not_run"], json!(1));
}

/// `--engine auto` runs this project natively and says why; `--engine node` runs the same
/// inputs through the official runtime with the same outputs.
#[test]
fn engine_choice_auto_is_native_and_node_gives_the_same_outputs() {
    let dir = tempfile::tempdir().unwrap();
    project(dir.path());
    fs_err::write(
        dir.path().join("prompts.jsonl"),
        "\"first question\"\n{\"id\": \"obj\", \"input\": {\"message\": \"second\"}}\n",
    )
    .unwrap();
    let server = echo_server();
    let ran = run_in(dir.path(), &server)
        .args(["--input", "prompts.jsonl"])
        .expect_exit(0)
        .run();
    assert!(
        ran.stderr
            .contains("engine: native (the native engine supports every feature"),
        "{}",
        ran.stderr
    );
    let native_summary: Value = common::summary(&dir.path().join("aigne-ci-output"));
    // No JavaScript and no MCP server in this project: the native run starts no subprocess.
    assert_eq!(native_summary["subprocesses"], json!([]));
    let native: Vec<Value> = records(dir.path())
        .into_iter()
        .map(|record| record["output"].clone())
        .collect();
    assert_eq!(
        native,
        vec![
            json!({"message": "echo: first question"}),
            json!({"message": "echo: second"})
        ]
    );

    // The node engine needs node and the official packages (CI pre-installs them).
    let Some(packages) = std::env::var_os("AIGNE_CI_TEST_NODE_ENGINE_DIR") else {
        common::skip("the node half needs AIGNE_CI_TEST_NODE_ENGINE_DIR");
        return;
    };
    let out = dir.path().join("node-out");
    let ran = run_in(dir.path(), &server)
        .args(["--input", "prompts.jsonl", "--engine", "node", "--out-dir"])
        .arg(&out)
        .arg("--node-engine-dir")
        .arg(&packages)
        .expect_exit(0)
        .run();
    assert!(
        ran.stderr
            .contains("engine: node (`--engine node` was given)"),
        "{}",
        ran.stderr
    );
    let text = fs_err::read_to_string(out.join("results.jsonl")).unwrap();
    let mut node: Vec<Value> = text
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap())
        .collect();
    node.sort_by_key(|record| record["line"].as_u64());
    let node: Vec<Value> = node
        .into_iter()
        .map(|record| record["output"].clone())
        .collect();
    assert_eq!(node, native);
    let summary: Value = common::summary(&out);
    assert_eq!(summary["engine"], "node");
    assert_eq!(summary["engine_reason"], "`--engine node` was given");
    let purposes: Vec<&str> = summary["subprocesses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|process| process["purpose"].as_str().unwrap())
        .collect();
    assert!(purposes.contains(&"node-engine"), "{purposes:?}");
}

/// Records without their timing, sorted by line: what must match between runs.
fn comparable(records: Vec<Value>) -> Vec<Value> {
    records
        .into_iter()
        .map(|mut record| {
            record["duration_ms"] = json!(0);
            record
        })
        .collect()
}

#[test]
fn run_shards_then_merge_equal_an_unsharded_run() {
    let dir = tempfile::tempdir().unwrap();
    project(dir.path());
    let server = echo_server();
    let lines = [
        r#""one""#,
        r#"{"input": "two", "session": "s", "agent": "memory_chat"}"#,
        r#"{"id": "fails", "input": "three", "assert": [{"type": "contains", "value": "nope"}]}"#,
        r#"{"input": "four", "session": "s", "agent": "memory_chat"}"#,
        r#""five""#,
        r#"{"id": "six", "input": "six", "expected": "echo: six"}"#,
        r#""seven""#,
    ];
    fs_err::write(dir.path().join("prompts.jsonl"), lines.join("\n")).unwrap();
    run_in(dir.path(), &server)
        .args(["--input", "prompts.jsonl", "--out-dir", "whole"])
        .expect_exit(1)
        .run();
    let whole_requests = server.requests().len();
    assert_eq!(whole_requests, 7);

    let mut shard_lines = Vec::new();
    for index in 1..=3 {
        let out = format!("shard-{index}");
        run_in(dir.path(), &server)
            .args([
                "--input",
                "prompts.jsonl",
                "--shard",
                &format!("{index}/3"),
                "--out-dir",
                &out,
                "--fail-on",
                "never",
            ])
            .expect_exit(0)
            .run();
        let text = fs_err::read_to_string(dir.path().join(&out).join("results.jsonl")).unwrap();
        let lines: Vec<u64> = text
            .lines()
            .map(|line| {
                serde_json::from_str::<Value>(line).unwrap()["line"]
                    .as_u64()
                    .unwrap()
            })
            .collect();
        shard_lines.push(lines);
    }
    // Every case ran in exactly one shard, and the session's two turns in the same one.
    let mut all: Vec<u64> = shard_lines.concat();
    all.sort_unstable();
    assert_eq!(all, (1..=7).collect::<Vec<u64>>());
    assert!(
        shard_lines
            .iter()
            .any(|lines| lines.contains(&2) && lines.contains(&4)),
        "{shard_lines:?}"
    );
    assert_eq!(server.requests().len(), 2 * whole_requests);

    let merged = common::Run::in_dir(dir.path())
        .args([
            "merge",
            "shard-1",
            "shard-2",
            "shard-3/results.jsonl",
            "--out-dir",
            "merged",
            "--junit",
            "merged/junit.xml",
        ])
        .run();
    // The failed case fails the default policy, as it does in the whole run.
    assert_eq!(merged.code, Some(1), "{}", merged.stderr);
    let read = |name: &str| {
        let text = fs_err::read_to_string(dir.path().join(name).join("results.jsonl")).unwrap();
        let mut records: Vec<Value> = text
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();
        records.sort_by_key(|record| record["line"].as_u64());
        comparable(records)
    };
    assert_eq!(read("merged"), read("whole"));
    let summary = |name: &str| -> Value { common::summary(&dir.path().join(name)) };
    let (merged_summary, whole_summary) = (summary("merged"), summary("whole"));
    assert_eq!(merged_summary["counts"], whole_summary["counts"]);
    assert_eq!(merged_summary["tokens"], whole_summary["tokens"]);
    assert_eq!(merged_summary["counts"]["failed"], json!(1));
    let junit = fs_err::read_to_string(dir.path().join("merged/junit.xml")).unwrap();
    assert!(junit.contains("tests=\"7\""), "{junit}");
}

#[test]
fn keys_from_project_dotenv_and_known_formats_never_reach_the_reports() {
    let dir = tempfile::tempdir().unwrap();
    project(dir.path());
    let dotenv_key = "dotenv-only-key-4242";
    let github_token = "ghp_abcdefghijklmnopqrstuvwxyz0123456789";
    fs_err::write(
        dir.path().join(".env"),
        format!("OPENAI_API_KEY={dotenv_key}\n"),
    )
    .unwrap();
    let server = FakeOpenAi::start();
    server.set_default(Reply::text(&format!(
        "the key is {dotenv_key} and a tool returned {github_token}"
    )));
    fs_err::write(
        dir.path().join("prompts.jsonl"),
        "{\"input\": \"a\", \"assert\": [{\"type\": \"contains\", \"value\": \"safe\"}]}\n",
    )
    .unwrap();
    let ran = common::Run::in_dir(dir.path())
        .env("OPENAI_BASE_URL", server.base_url())
        .args([
            "run",
            ".",
            "--input",
            "prompts.jsonl",
            "--junit",
            "junit.xml",
        ])
        .env("GITHUB_ACTIONS", "true")
        .github_files()
        .expect_exit(1)
        .run();
    // The key came from the project's `.env`: the model was called with it...
    let authorization = server.requests()[0]
        .headers
        .iter()
        .find(|(name, _)| name == "authorization")
        .map(|(_, value)| value.clone());
    assert_eq!(authorization, Some(format!("Bearer {dotenv_key}")));
    // ...and it is masked before any case output is printed.
    let mask = ran
        .stderr
        .find(&format!("::add-mask::{dotenv_key}\n"))
        .expect("mask");
    let echoed = ran.stderr.find("the key is").expect("echoed");
    assert!(mask < echoed, "{}", ran.stderr);
    assert!(
        ran.stderr
            .contains("the key is **** and a tool returned ****")
    );
    for file in [
        "aigne-ci-output/results.jsonl",
        "aigne-ci-output/summary.json",
        "junit.xml",
        "out",
        "summary.md",
    ] {
        let text = fs_err::read_to_string(dir.path().join(file)).unwrap();
        assert!(!text.contains(dotenv_key), "{file}: {text}");
        assert!(!text.contains(github_token), "{file}: {text}");
    }
    assert_eq!(ran.stderr.matches(dotenv_key).count(), 1, "{}", ran.stderr);
    assert!(!ran.stderr.contains(github_token), "{}", ran.stderr);
    assert!(!ran.stdout.contains(dotenv_key));
}

/// A tarball host that accepts connections and never answers.
fn silent_host() -> (common::server::RawLoopback, String) {
    let host = common::server::RawLoopback::silent();
    let url = format!("{}/project.tar.gz", host.url());
    (host, url)
}

#[test]
fn total_timeout_bounds_the_fetch_too() {
    let dir = tempfile::tempdir().unwrap();
    let (_host, url) = silent_host();
    fs_err::write(dir.path().join("prompts.jsonl"), "\"a\"\n").unwrap();
    let ran = common::Run::in_dir(dir.path())
        .args([
            "run",
            "--url",
            &url,
            "--input",
            "prompts.jsonl",
            "--cache-dir",
            "cache",
            "--total-timeout",
            "500ms",
        ])
        .expect_exit(4)
        .run();
    assert!(
        ran.stderr.contains(
            "error: the total timeout of 500ms ran out, before the first case (while fetching the project and starting the engine)"
        ),
        "{}",
        ran.stderr
    );
    assert!(
        ran.stderr
            .contains("hint: `--total-timeout` counts from the start")
    );
}

#[cfg(unix)]
#[test]
fn a_signal_during_the_fetch_exits_130_at_once() {
    let (host, url) = silent_host();
    let running = common::Run::new()
        .inputs(&[r#""a""#])
        .args(["run", "--url", &url, "--cache-dir", "cache"])
        .expect_exit(130)
        .spawn();
    // Once the download is under way, stop the run.
    host.wait_for_connections(1);
    std::thread::sleep(Duration::from_millis(100));
    running.signal(nix::sys::signal::Signal::SIGTERM);
    let ran = running.wait();
    assert!(
        ran.stderr
            .contains("error: interrupted, before the first case"),
        "{}",
        ran.stderr
    );
}

#[test]
fn a_missing_key_stops_the_run_before_the_first_case() {
    let dir = tempfile::tempdir().unwrap();
    project(dir.path());
    let server = echo_server();
    fs_err::write(
        dir.path().join("prompts.jsonl"),
        "\"a\"\n{\"input\": \"b\", \"agent\": \"memory_chat\"}\n",
    )
    .unwrap();
    let mut command = common::command(dir.path());
    command.env("OPENAI_BASE_URL", server.base_url()).args([
        "run",
        ".",
        "--input",
        "prompts.jsonl",
    ]);
    let ran = common::run(&mut command);
    assert_eq!(ran.code, Some(2), "{}", ran.stderr);
    assert!(
        ran.stderr.contains("cannot use its model\n  Caused by: provider `openai` needs an API key for model `gpt-4o-mini`: `OPENAI_API_KEY` is not set"),
        "{}",
        ran.stderr
    );
    assert!(
        ran.stderr.contains("hint: set `OPENAI_API_KEY`"),
        "{}",
        ran.stderr
    );
    assert!(server.requests().is_empty());
    assert!(!dir.path().join("aigne-ci-output/results.jsonl").exists());

    // A model chosen per case by an input getter is left to the case.
    fs_err::write(
        dir.path().join("chat.yaml"),
        "name: chat\ninstructions: You are terse.\ninput_key: message\nmodel:\n  model:\n    $get: model\n",
    )
    .unwrap();
    fs_err::write(
        dir.path().join("prompts.jsonl"),
        "{\"message\": \"a\", \"model\": \"openai:gpt-4o-mini\"}\n",
    )
    .unwrap();
    let ran = common::run(&mut command);
    assert_eq!(ran.code, Some(1), "{}", ran.stderr);
    assert!(
        ran.stderr
            .contains("errored: model: agent `chat`: model call failed"),
        "{}",
        ran.stderr
    );
}

/// The repository's example project.
fn example_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/hello")
}

/// The README's first command: the shipped project answered from the shipped cassette, with no
/// key and every network route closed (base URL on a closed port, proxies to a closed port).
#[test]
fn readme_example_replays_with_no_key_and_no_network() {
    let dir = tempfile::tempdir().unwrap();
    let example = example_dir();
    let closed = "http://127.0.0.1:9";
    let offline = |command: &mut std::process::Command| {
        command
            .env("OPENAI_BASE_URL", format!("{closed}/v1"))
            .env("HTTPS_PROXY", closed)
            .env("HTTP_PROXY", closed)
            .env("ALL_PROXY", closed);
    };
    let mut command = common::command(dir.path());
    offline(&mut command);
    command.arg("run").arg(&example).args([
        "--input".as_ref(),
        example.join("prompts.jsonl").as_os_str(),
        "--replay".as_ref(),
        example.join("cassette.jsonl").as_os_str(),
    ]);
    let ran = common::run(&mut command);
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    assert!(
        ran.stderr.contains("5 passed, 0 failed, 0 errored"),
        "{}",
        ran.stderr
    );
    // The closing lines name every file the run wrote, the HTML report included.
    for written in ["results.jsonl", "summary.json", "report.html"] {
        assert!(
            ran.stderr
                .lines()
                .any(|line| line.contains(": ") && line.ends_with(written)),
            "no line names {written}: {}",
            ran.stderr
        );
    }
    let replayed = records(dir.path());
    assert_eq!(replayed[3]["output"], json!({"sentiment": "positive"}));
    assert_eq!(replayed[4]["output"], json!({"sentiment": "negative"}));

    // A case the cassette does not hold is an error naming the case, not a network call.
    fs_err::write(
        dir.path().join("new.jsonl"),
        "{\"id\": \"new-question\", \"input\": \"Something never recorded\"}\n",
    )
    .unwrap();
    let mut command = common::command(dir.path());
    offline(&mut command);
    command.arg("run").arg(&example).args([
        "--input".as_ref(),
        "new.jsonl".as_ref(),
        "--replay".as_ref(),
        example.join("cassette.jsonl").as_os_str(),
    ]);
    let ran = common::run(&mut command);
    assert_eq!(ran.code, Some(1), "{}", ran.stderr);
    let missed = records(dir.path());
    assert_eq!(missed[0]["error"]["kind"], json!("model"), "{missed:?}");
    let message = missed[0]["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("no recorded answer in cassette") && message.contains("`new-question"),
        "{message}"
    );
}
