//! Hostile data against every output: secrets holding any character, common-word secrets,
//! workflow commands injected through names, files, model output and subprocess stderr, Markdown
//! in the step summary, concurrent runs on one out-dir, non-regular files at the output paths,
//! signals during a download and https→http redirects.

use std::path::Path;

use serde_json::Value;

use crate::common;
use crate::common::fake_openai::{FakeOpenAi, Reply};
use crate::report::parse_github_output;

/// A project with one `chat` agent.
fn project(dir: &Path) {
    fs_err::write(
        dir.join("aigne.yaml"),
        "name: hostile\nchat_model:\n  provider: openai\n  name: gpt-4o-mini\nagents:\n  - chat.yaml\n",
    )
    .unwrap();
    fs_err::write(
        dir.join("chat.yaml"),
        "name: chat\ninstructions: You are terse.\ninput_key: message\n",
    )
    .unwrap();
}

/// Lines of stderr that the runner would read as workflow commands, outside
/// `::stop-commands::` windows, other than the ones aigne-ci writes itself.
fn foreign_commands(stderr: &str) -> Vec<String> {
    const OURS: &[&str] = &[
        "::add-mask::",
        "::group::",
        "::endgroup::",
        "::error title=",
        "::error file=",
        "::warning title=",
        "::warning file=",
        "::notice title=",
        "::stop-commands::",
    ];
    let mut foreign = Vec::new();
    let mut window: Option<String> = None;
    for line in stderr.split(['\n', '\r']) {
        let trimmed = line.trim_start();
        if let Some(token) = &window {
            if trimmed == format!("::{token}::") {
                window = None;
            }
            continue;
        }
        if let Some(token) = trimmed.strip_prefix("::stop-commands::") {
            window = Some(token.to_owned());
            continue;
        }
        let command =
            trimmed.starts_with("::") && !OURS.iter().any(|ours| trimmed.starts_with(ours));
        if command || line.contains("##[") {
            foreign.push(line.to_owned());
        }
    }
    foreign
}

// ---------------------------------------------------------------------------------------------
// Item 4: secrets are masked as values, whatever characters they hold.

#[test]
fn secrets_holding_any_character_reach_no_output() {
    let dir = tempfile::tempdir().unwrap();
    project(dir.path());
    // Quotes, backslashes, a tab, an escape character and non-ASCII text; markers at both ends
    // and inside, so an escaped or partial copy is caught too.
    let variable = "zq7\"quote\\back\ttab\u{1b}[31m✓é-zq8";
    let api_key = "sk-zq1\"key\\with\ttab-0001";
    let token = "tk\"zq9\\tok-0001";
    let markers = ["zq7", "zq8", "zq1", "zq9"];
    let server = FakeOpenAi::start();
    server.set_default(Reply::text(&format!(
        "variable {variable} key {api_key} token {token} json {}",
        serde_json::to_string(variable).unwrap()
    )));
    let case = serde_json::json!({
        "id": format!("case {variable}"),
        "input": format!("tell {variable}"),
        "assert": [{"type": "contains", "value": format!("safe {api_key}")}],
        "metadata": {"note": token},
    });
    fs_err::write(dir.path().join("prompts.jsonl"), format!("{case}\n")).unwrap();
    let ran = common::run(
        common::command(dir.path())
            .env("OPENAI_BASE_URL", server.base_url())
            .env("OPENAI_API_KEY", api_key)
            .env("MY_SERVICE_TOKEN", variable)
            .env("GITHUB_ACTIONS", "true")
            .env("GITHUB_OUTPUT", dir.path().join("out"))
            .env("GITHUB_STEP_SUMMARY", dir.path().join("summary.md"))
            .args([
                "run",
                ".",
                "--input",
                "prompts.jsonl",
                "--junit",
                "junit.xml",
            ])
            .args(["--record", "cassette.jsonl", "--token", token]),
    );
    assert_eq!(ran.code, Some(1), "{}", ran.stderr);
    // The model saw the real values (the request carried them)...
    assert_eq!(
        server.requests()[0].header("authorization"),
        Some(format!("Bearer {api_key}").as_str())
    );
    // ...every one is announced to the runner before anything else...
    for secret in [variable, api_key, token] {
        assert!(
            ran.stderr.contains(&format!("::add-mask::{secret}\n")),
            "{secret}: {}",
            ran.stderr
        );
    }
    // ...and no other line of any stream or file holds any part of them.
    let files = [
        "aigne-ci-output/results.jsonl",
        "aigne-ci-output/summary.json",
        "junit.xml",
        "out",
        "summary.md",
        "cassette.jsonl",
    ];
    let mut outputs: Vec<(String, String)> = files
        .iter()
        .map(|file| {
            let text = fs_err::read_to_string(dir.path().join(file))
                .unwrap_or_else(|error| panic!("{file}: {error}"));
            ((*file).to_owned(), text)
        })
        .collect();
    outputs.push(("stdout".to_owned(), ran.stdout.clone()));
    let stderr: String = ran
        .stderr
        .lines()
        .filter(|line| !line.starts_with("::add-mask::"))
        .collect::<Vec<_>>()
        .join("\n");
    outputs.push(("stderr".to_owned(), stderr));
    for (name, text) in &outputs {
        for marker in markers {
            assert!(!text.contains(marker), "{marker} in {name}:\n{text}");
        }
    }
    // Masked value by value: the records keep their shape and the rest of their text.
    let record: Value = serde_json::from_str(outputs[0].1.lines().next().unwrap()).unwrap();
    assert_eq!(record["id"], "case ****");
    assert_eq!(record["input"], "tell ****");
    assert_eq!(record["metadata"], serde_json::json!({"note": "****"}));
    assert_eq!(record["status"], "failed");
    let message = record["output"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("variable **** key **** token **** json \"****\""),
        "{message}"
    );
    let outputs = parse_github_output(&fs_err::read_to_string(dir.path().join("out")).unwrap());
    assert_eq!(outputs["failed"], "1");
}

#[test]
fn a_token_echoed_by_the_tarball_host_is_masked() {
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let token = "tk\"zq9\\echoed-0001";
    // A host that refuses the token and echoes the Authorization header in its body.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten().take(4) {
            let mut stream = stream;
            let mut request = vec![0u8; 8192];
            let read = stream.read(&mut request).unwrap_or(0);
            let request = String::from_utf8_lossy(&request[..read]).into_owned();
            let header = request
                .lines()
                .find(|line| line.to_ascii_lowercase().starts_with("authorization:"))
                .unwrap_or("")
                .to_owned();
            let body = format!("{{\"error\": \"bad credentials\", \"got\": {header:?}}}");
            let _ = write!(
                stream,
                "HTTP/1.1 401 Unauthorized\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    let ran = common::run(
        common::command(dir.path())
            .env("GITHUB_ACTIONS", "true")
            .args([
                "fetch",
                &format!("http://{address}/p.tgz"),
                "--cache-dir",
                "cache",
            ])
            .args(["--token", token]),
    );
    assert_eq!(ran.code, Some(3), "{}", ran.stderr);
    assert!(
        ran.stderr.starts_with(&format!("::add-mask::{token}\n")),
        "{}",
        ran.stderr
    );
    let rest: Vec<&str> = ran.stderr.lines().skip(1).collect();
    let rest = rest.join("\n");
    assert!(rest.contains("401"), "{rest}");
    assert!(!rest.contains("zq9"), "{rest}");
    assert!(rest.contains("Bearer ****"), "{rest}");
}

#[test]
fn a_common_word_in_a_secret_variable_does_not_break_merge() {
    let dir = tempfile::tempdir().unwrap();
    project(dir.path());
    let server = FakeOpenAi::start();
    server.set_default(Reply::text("the status is passed"));
    fs_err::write(dir.path().join("prompts.jsonl"), "\"a\"\n\"b\"\n").unwrap();
    let with_common_words = |command: &mut std::process::Command| {
        command
            .env("OPENAI_BASE_URL", server.base_url())
            .env("OPENAI_API_KEY", "sk-common-word-test-0001")
            .env("SORT_KEY", "status")
            .env("RESULT_TOKEN", "passed");
    };
    let mut run = common::command(dir.path());
    with_common_words(&mut run);
    let ran = common::run(run.args(["run", ".", "--input", "prompts.jsonl"]));
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    let results = fs_err::read_to_string(dir.path().join("aigne-ci-output/results.jsonl")).unwrap();
    for line in results.lines() {
        let record: Value = serde_json::from_str(line).unwrap();
        assert_eq!(record["status"], "passed", "{line}");
        assert_eq!(
            record["output"]["message"], "the status is passed",
            "{line}"
        );
    }
    let mut merge = common::command(dir.path());
    with_common_words(&mut merge);
    let merged = common::run(merge.args(["merge", "aigne-ci-output", "--out-dir", "merged"]));
    assert_eq!(merged.code, Some(0), "{}", merged.stderr);
    let summary: Value = serde_json::from_str(
        &fs_err::read_to_string(dir.path().join("merged/summary.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(summary["counts"]["passed"], 2);
}

// ---------------------------------------------------------------------------------------------
// Item 5: no workflow command from data.

#[test]
fn names_files_model_output_and_flags_start_no_workflow_command() {
    let dir = tempfile::tempdir().unwrap();
    project(dir.path());
    let server = FakeOpenAi::start();
    // Model output: commands on their own lines, Markdown that would render, an old-style
    // command and a backtick that breaks a code span.
    server.set_default(Reply::text(
        "ok\n::error::model-injected\n  ::set-output name=x::y\n##[error]old-style ` ![img](http://evil.test/x.png) [link](http://evil.test) <img src=x>",
    ));
    let inputs = "p\n::error::file-injected.jsonl";
    fs_err::write(
        dir.path().join(inputs),
        "{\"id\": \"x\\n::error::id-injected\", \"input\": \"a\", \"assert\": [{\"type\": \"contains\", \"value\": \"safe\"}]}\n",
    )
    .unwrap();
    for github in ["on", "off"] {
        let ran = common::run(
            common::command(dir.path())
                .env("OPENAI_BASE_URL", server.base_url())
                .env("OPENAI_API_KEY", "sk-injection-test-0001")
                .env("GITHUB_OUTPUT", dir.path().join("out"))
                .env("GITHUB_STEP_SUMMARY", dir.path().join("summary.md"))
                .args(["run", ".", "--input", inputs, "--github", github])
                .args([
                    "--model",
                    "openai:gpt-4o-mini\n::error::model-flag-injected",
                ]),
        );
        assert_eq!(ran.code, Some(1), "{}", ran.stderr);
        assert!(ran.stderr.contains("model-injected"), "{}", ran.stderr);
        assert!(ran.stderr.contains("file-injected"), "{}", ran.stderr);
        assert!(ran.stderr.contains("model-flag-injected"), "{}", ran.stderr);
        assert_eq!(
            foreign_commands(&ran.stderr),
            Vec::<String>::new(),
            "--github {github}:\n{}",
            ran.stderr
        );
    }
    // The step summary shows the text; none of it renders as Markdown or HTML.
    let markdown = fs_err::read_to_string(dir.path().join("summary.md")).unwrap();
    for markup in ["![", "](", "<img", "`` "] {
        assert!(!markdown.contains(markup), "{markup} in:\n{markdown}");
    }
    // The case id's line break is a space: the row stays one row.
    assert!(
        markdown.contains("| x ::error::id-injected |"),
        "{markdown}"
    );
}

#[test]
fn an_agent_name_and_a_subprocess_stderr_start_no_workflow_command() {
    let dir = tempfile::tempdir().unwrap();
    project(dir.path());
    fs_err::write(dir.path().join("prompts.jsonl"), "\"a\"\n").unwrap();
    // An agent that is not there, named with a command on its second line.
    let ran = common::run(
        common::command(dir.path())
            .env("OPENAI_API_KEY", "sk-injection-test-0001")
            .env("GITHUB_ACTIONS", "true")
            .args([
                "run",
                ".",
                "nope\n::error::agent-injected",
                "--input",
                "prompts.jsonl",
            ]),
    );
    assert_eq!(ran.code, Some(2), "{}", ran.stderr);
    assert!(ran.stderr.contains("agent-injected"), "{}", ran.stderr);
    assert_eq!(
        foreign_commands(&ran.stderr),
        Vec::<String>::new(),
        "{}",
        ran.stderr
    );

    // A stdio MCP server that writes commands to its stderr and exits: the error quotes its
    // stderr tail.
    fs_err::write(
        dir.path().join("aigne.yaml"),
        "name: hostile\nchat_model:\n  provider: openai\n  name: gpt-4o-mini\nagents:\n  - chat.yaml\n",
    )
    .unwrap();
    fs_err::write(
        dir.path().join("chat.yaml"),
        "name: chat\ninstructions: hi\nskills:\n  - tools.yaml\n",
    )
    .unwrap();
    fs_err::write(
        dir.path().join("tools.yaml"),
        "type: mcp\ncommand: sh\nargs:\n  - -c\n  - \"printf 'starting\\n::error::mcp-injected\\n##[error]old\\n' >&2; exit 3\"\n",
    )
    .unwrap();
    let ran = common::run(
        common::command(dir.path())
            .env("OPENAI_API_KEY", "sk-injection-test-0001")
            .env("GITHUB_ACTIONS", "true")
            .args(["run", ".", "--input", "prompts.jsonl"]),
    );
    assert_eq!(ran.code, Some(2), "{}", ran.stderr);
    assert!(ran.stderr.contains("mcp-injected"), "{}", ran.stderr);
    assert_eq!(
        foreign_commands(&ran.stderr),
        Vec::<String>::new(),
        "{}",
        ran.stderr
    );
}
