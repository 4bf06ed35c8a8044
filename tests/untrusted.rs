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
    let ran = common::Run::in_dir(dir.path())
        .openai(&server, api_key)
        .env("MY_SERVICE_TOKEN", variable)
        .env("GITHUB_ACTIONS", "true")
        .github_files()
        .args([
            "run",
            ".",
            "--input",
            "prompts.jsonl",
            "--junit",
            "junit.xml",
        ])
        .args(["--record", "cassette.jsonl", "--token", token])
        .expect_exit(1)
        .run();
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
    let host = common::server::RawLoopback::serve(|mut stream| {
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
    });
    let address = host.address();
    let ran = common::Run::in_dir(dir.path())
        .env("GITHUB_ACTIONS", "true")
        .args([
            "fetch",
            &format!("http://{address}/p.tgz"),
            "--cache-dir",
            "cache",
        ])
        .args(["--token", token])
        .expect_exit(3)
        .run();
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
    let summary: Value = common::summary(&dir.path().join("merged"));
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
        let ran = common::Run::in_dir(dir.path())
            .openai(&server, "sk-injection-test-0001")
            .github_files()
            .args(["run", ".", "--input", inputs, "--github", github])
            .args([
                "--model",
                "openai:gpt-4o-mini\n::error::model-flag-injected",
            ])
            .expect_exit(1)
            .run();
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
    let ran = common::Run::in_dir(dir.path())
        .env("OPENAI_API_KEY", "sk-injection-test-0001")
        .env("GITHUB_ACTIONS", "true")
        .args([
            "run",
            ".",
            "nope\n::error::agent-injected",
            "--input",
            "prompts.jsonl",
        ])
        .expect_exit(2)
        .run();
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
    let ran = common::Run::in_dir(dir.path())
        .env("OPENAI_API_KEY", "sk-injection-test-0001")
        .env("GITHUB_ACTIONS", "true")
        .args(["run", ".", "--input", "prompts.jsonl"])
        .expect_exit(2)
        .run();
    assert!(ran.stderr.contains("mcp-injected"), "{}", ran.stderr);
    assert_eq!(
        foreign_commands(&ran.stderr),
        Vec::<String>::new(),
        "{}",
        ran.stderr
    );
}

// ---------------------------------------------------------------------------------------------
// Item 6: results are never mixed or replaced.

#[test]
fn a_second_run_on_a_busy_out_dir_is_refused_naming_the_first() {
    let dir = tempfile::tempdir().unwrap();
    project(dir.path());
    let server = FakeOpenAi::start();
    server.set_default(Reply::text("slow answer").latency(std::time::Duration::from_secs(3)));
    fs_err::write(dir.path().join("prompts.jsonl"), "\"a\"\n\"b\"\n").unwrap();
    let mut first = common::command(dir.path());
    first
        .env("OPENAI_BASE_URL", server.base_url())
        .env("OPENAI_API_KEY", "sk-lock-test-0001")
        .args(["run", ".", "--input", "prompts.jsonl"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut first = first.spawn().unwrap();
    let lock = dir.path().join("aigne-ci-output/.aigne-ci.lock");
    let started = std::time::Instant::now();
    while !fs_err::read_to_string(&lock).is_ok_and(|text| text.contains("pid")) {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "the first run never locked its out-dir"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let second = common::Run::in_dir(dir.path())
        .openai(&server, "sk-lock-test-0001")
        .args(["run", ".", "--input", "prompts.jsonl"])
        .run();
    let first_still_running = first.try_wait().unwrap().is_none();
    assert!(
        first_still_running,
        "the first run ended before the second started"
    );
    assert_eq!(second.code, Some(2), "{}", second.stderr);
    assert!(
        second.stderr.contains(&format!(
            "is in use by another aigne-ci run (pid {}",
            first.id()
        )),
        "{}",
        second.stderr
    );
    assert!(
        second.stderr.contains("hint: wait for that run to end"),
        "{}",
        second.stderr
    );
    // The first run's results are whole: two records, each one line of JSON.
    assert_eq!(first.wait().unwrap().code(), Some(0));
    let results = fs_err::read_to_string(dir.path().join("aigne-ci-output/results.jsonl")).unwrap();
    assert_eq!(results.lines().count(), 2, "{results}");
    for line in results.lines() {
        let record: Value = serde_json::from_str(line).unwrap();
        assert_eq!(record["status"], "passed");
    }
    // A crashed holder releases its lock: the OS drops it with the process.
    let mut killed = common::command(dir.path());
    killed
        .env("OPENAI_BASE_URL", server.base_url())
        .env("OPENAI_API_KEY", "sk-lock-test-0001")
        .args(["run", ".", "--input", "prompts.jsonl"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut killed = killed.spawn().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    killed.kill().unwrap();
    killed.wait().unwrap();
    server.set_default(Reply::text("fast"));
    common::Run::in_dir(dir.path())
        .openai(&server, "sk-lock-test-0001")
        .args(["run", ".", "--input", "prompts.jsonl"])
        .expect_exit(0)
        .run();
}

#[cfg(unix)]
#[test]
fn symlinks_fifos_and_folders_at_output_paths_are_never_replaced() {
    let dir = tempfile::tempdir().unwrap();
    project(dir.path());
    let server = FakeOpenAi::start();
    server.set_default(Reply::text("answer"));
    fs_err::write(dir.path().join("prompts.jsonl"), "\"a\"\n").unwrap();
    let target = dir.path().join("precious.txt");
    fs_err::write(&target, "keep me").unwrap();
    fs_err::os::unix::fs::symlink(&target, dir.path().join("link.json")).unwrap();
    let fifo = dir.path().join("fifo.json");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    fs_err::create_dir(dir.path().join("folder.xml")).unwrap();
    let cases: [(&str, &str, &str); 4] = [
        ("--summary", "link.json", "a symbolic link"),
        ("--summary", "fifo.json", "a FIFO"),
        ("--output", "fifo.json", "a FIFO"),
        ("--junit", "folder.xml", "a folder"),
    ];
    for (flag, path, kind) in cases {
        let ran = common::Run::in_dir(dir.path())
            .openai(&server, "sk-regular-test-0001")
            .args(["run", ".", "--input", "prompts.jsonl", flag, path])
            .expect_exit(2)
            .run();
        assert!(
            ran.stderr
                .contains(&format!("is {kind}, not a regular file")),
            "{flag} {path}: {}",
            ran.stderr
        );
        // Refused before any case ran.
        assert!(server.requests().is_empty(), "{flag} {path}");
    }
    assert_eq!(fs_err::read_to_string(&target).unwrap(), "keep me");
    assert!(
        fs_err::symlink_metadata(dir.path().join("link.json"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
}

#[test]
fn links_planted_among_the_transcripts_are_never_written_through() {
    let dir = tempfile::tempdir().unwrap();
    project(dir.path());
    let server = FakeOpenAi::start();
    server.set_default(Reply::text("answer"));
    fs_err::write(dir.path().join("prompts.jsonl"), "\"a\"\n").unwrap();
    let target = dir.path().join("precious.txt");
    fs_err::write(&target, "keep me").unwrap();
    let elsewhere = dir.path().join("elsewhere");
    fs_err::create_dir(&elsewhere).unwrap();
    // A checkout can carry these: the transcript of line 1, and the whole transcripts folder.
    let planted = [
        (
            "out-file",
            "transcripts/1.json",
            target.clone(),
            "a symbolic link, not a regular file",
        ),
        (
            "out-folder",
            "transcripts",
            elsewhere.clone(),
            "a symbolic link, not a folder",
        ),
    ];
    for (out_dir, link, points_to, refusal) in planted {
        let link = dir.path().join(out_dir).join(link);
        fs_err::create_dir_all(link.parent().unwrap()).unwrap();
        fs_err::os::unix::fs::symlink(&points_to, &link).unwrap();
        let ran = common::Run::in_dir(dir.path())
            .openai(&server, "sk-regular-test-0001")
            .args(["run", ".", "--input", "prompts.jsonl", "--out-dir", out_dir])
            .expect_exit(2)
            .run();
        assert!(ran.stderr.contains(refusal), "{out_dir}: {}", ran.stderr);
        assert!(
            fs_err::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink(),
            "{out_dir}"
        );
    }
    assert_eq!(fs_err::read_to_string(&target).unwrap(), "keep me");
    assert_eq!(fs_err::read_dir(&elsewhere).unwrap().count(), 0);
}

#[cfg(unix)]
#[test]
fn a_symlink_or_fifo_at_the_record_cassette_is_never_written_through() {
    let dir = tempfile::tempdir().unwrap();
    project(dir.path());
    let server = FakeOpenAi::start();
    server.set_default(Reply::text("answer"));
    fs_err::write(dir.path().join("prompts.jsonl"), "\"a\"\n").unwrap();
    let target = dir.path().join("precious.txt");
    fs_err::write(&target, "keep me").unwrap();
    // A checkout can carry a link where the workflow records its cassette.
    fs_err::os::unix::fs::symlink(&target, dir.path().join("cassette.jsonl")).unwrap();
    let fifo = dir.path().join("fifo.jsonl");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    for (path, kind) in [
        ("cassette.jsonl", "a symbolic link"),
        ("fifo.jsonl", "a FIFO"),
    ] {
        let ran = common::Run::in_dir(dir.path())
            .openai(&server, "sk-record-test-0001")
            .args(["run", ".", "--input", "prompts.jsonl", "--record", path])
            .expect_exit(2)
            .run();
        assert!(
            ran.stderr
                .contains(&format!("{path}` is {kind}, not a regular file")),
            "{path}: {}",
            ran.stderr
        );
        assert!(server.requests().is_empty(), "{path}");
    }
    assert_eq!(fs_err::read_to_string(&target).unwrap(), "keep me");
    assert!(
        fs_err::symlink_metadata(dir.path().join("cassette.jsonl"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    // A regular file there is replaced.
    fs_err::write(dir.path().join("old.jsonl"), "stale\n").unwrap();
    common::Run::in_dir(dir.path())
        .openai(&server, "sk-record-test-0001")
        .args([
            "run",
            ".",
            "--input",
            "prompts.jsonl",
            "--record",
            "old.jsonl",
        ])
        .expect_exit(0)
        .run();
    let recorded = fs_err::read_to_string(dir.path().join("old.jsonl")).unwrap();
    assert!(
        !recorded.contains("stale") && recorded.contains("chat/completions"),
        "{recorded}"
    );
}

#[cfg(unix)]
#[test]
fn merge_neither_reads_nor_writes_a_transcript_through_a_symlink() {
    let dir = tempfile::tempdir().unwrap();
    project(dir.path());
    let server = FakeOpenAi::start();
    server.set_default(Reply::text("answer"));
    fs_err::write(dir.path().join("prompts.jsonl"), "\"a\"\n\"b\"\n").unwrap();
    common::Run::in_dir(dir.path())
        .openai(&server, "sk-merge-test-0001")
        .args(["run", ".", "--input", "prompts.jsonl"])
        .expect_exit(0)
        .run();
    let shard = dir.path().join("aigne-ci-output/transcripts");
    assert!(shard.join("1.json").is_file() && shard.join("2.json").is_file());
    let target = dir.path().join("precious.txt");
    fs_err::write(&target, "keep me").unwrap();
    // A shard whose transcript of line 2 is a link to a file outside the out-dir: not copied.
    fs_err::remove_file(shard.join("2.json")).unwrap();
    fs_err::os::unix::fs::symlink("/dev/zero", shard.join("2.json")).unwrap();
    // A merged out-dir where the transcript of line 1 is a link: refused, never written through.
    let merged = dir.path().join("merged/transcripts");
    fs_err::create_dir_all(&merged).unwrap();
    fs_err::os::unix::fs::symlink(&target, merged.join("1.json")).unwrap();
    let ran = common::Run::in_dir(dir.path())
        .args(["merge", "aigne-ci-output", "--out-dir", "merged"])
        .expect_exit(2)
        .run();
    assert!(
        ran.stderr
            .contains("is a symbolic link, not a regular file"),
        "{}",
        ran.stderr
    );
    assert_eq!(fs_err::read_to_string(&target).unwrap(), "keep me");
    fs_err::remove_file(merged.join("1.json")).unwrap();
    common::Run::in_dir(dir.path())
        .args(["merge", "aigne-ci-output", "--out-dir", "merged"])
        .expect_exit(0)
        .run();
    assert!(merged.join("1.json").is_file());
    assert!(!merged.join("2.json").exists());
    let results = fs_err::read_to_string(dir.path().join("merged/results.jsonl")).unwrap();
    let transcripts: Vec<Value> = results
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap()["transcript"].clone())
        .collect();
    assert_eq!(
        transcripts,
        vec![Value::from("transcripts/1.json"), Value::Null]
    );
}

// ---------------------------------------------------------------------------------------------
// Item 9: signals during a download; https→http redirects.

/// A gzipped tarball holding one large, poorly compressible file.
fn big_tarball() -> Vec<u8> {
    use std::io::Write;
    let mut data = Vec::with_capacity(4 << 20);
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    while data.len() < 4 << 20 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        data.extend_from_slice(&state.to_le_bytes());
    }
    let mut builder = tar::Builder::new(Vec::new());
    for (name, contents) in [
        (
            "p/aigne.yaml",
            b"name: p\nagents:\n  - chat.yaml\n".to_vec(),
        ),
        ("p/big.bin", data),
    ] {
        let mut header = tar::Header::new_gnu();
        header.set_size(contents.len() as u64);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        builder
            .append_data(&mut header, name, contents.as_slice())
            .unwrap();
    }
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(&builder.into_inner().unwrap()).unwrap();
    encoder.finish().unwrap()
}

/// A host that sends the first 512 KiB of the tarball at once, then 1 KiB every 50 ms.
fn slow_tarball_host() -> (common::server::RawLoopback, String) {
    use std::io::{Read, Write};
    let body = big_tarball();
    let host = common::server::RawLoopback::serve(move |mut stream| {
        let mut request = [0u8; 4096];
        let _ = stream.read(&mut request);
        let head = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/gzip\r\ncontent-length: {}\r\n\r\n",
            body.len()
        );
        if stream.write_all(head.as_bytes()).is_err()
            || stream.write_all(&body[..512 * 1024]).is_err()
        {
            return;
        }
        for chunk in body[512 * 1024..].chunks(1024) {
            std::thread::sleep(std::time::Duration::from_millis(50));
            if stream.write_all(chunk).is_err() {
                return;
            }
        }
    });
    let url = format!("{}/p.tgz", host.url());
    (host, url)
}

/// Every folder under `root` whose name marks an entry being built.
fn staging_folders(root: &Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(folder) = pending.pop() {
        let Ok(entries) = fs_err::read_dir(&folder) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if entry.file_type().is_ok_and(|kind| kind.is_dir()) {
                if entry.file_name().to_string_lossy().contains(".tmp-") {
                    found.push(path.clone());
                }
                pending.push(path);
            }
        }
    }
    found
}

#[cfg(unix)]
#[test]
fn signals_during_a_download_exit_130_without_panic_or_staging() {
    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;
    let (_host, url) = slow_tarball_host();
    let dir = tempfile::tempdir().unwrap();
    fs_err::write(dir.path().join("prompts.jsonl"), "\"a\"\n").unwrap();
    let commands: [(&str, Vec<&str>); 2] = [
        ("fetch", vec!["fetch", url.as_str()]),
        (
            "run",
            vec!["run", "--url", url.as_str(), "--input", "prompts.jsonl"],
        ),
    ];
    for (round, signal) in [Signal::SIGTERM, Signal::SIGINT, Signal::SIGTERM]
        .into_iter()
        .enumerate()
    {
        for (name, args) in &commands {
            let cache = dir.path().join(format!("cache-{name}-{round}"));
            let mut command = common::command(dir.path());
            command
                .args(args)
                .arg("--cache-dir")
                .arg(&cache)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped());
            let child = command.spawn().unwrap();
            let started = std::time::Instant::now();
            // Signalled while the body is being unpacked into its staging folder.
            while staging_folders(&cache).is_empty() {
                assert!(
                    started.elapsed() < std::time::Duration::from_secs(30),
                    "{name}: the download never started"
                );
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
            kill(Pid::from_raw(child.id() as i32), signal).unwrap();
            let output = child.wait_with_output().unwrap();
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert_eq!(output.status.code(), Some(130), "{name} {signal}: {stderr}");
            assert!(!stderr.contains("panicked"), "{name} {signal}: {stderr}");
            assert!(stderr.contains("interrupted"), "{name} {signal}: {stderr}");
            assert_eq!(
                staging_folders(&cache),
                Vec::<std::path::PathBuf>::new(),
                "{name} {signal}: staging left behind"
            );
        }
    }
}
