//! The run plan: `--dry-run`, the checks made once whatever engine runs, the engine chosen per
//! case, and the trust check of a project's `.env` (issue 12 items 1–2, issue 13 item 3).

use std::io::Read;
use std::path::Path;

use serde_json::{Value, json};

use crate::common;
use crate::common::fake_openai::{FakeOpenAi, Reply};

/// `chat` (native), `logo` (an image agent: node only), `team` (reaches `logo`), and `tools`
/// (offered a stdio MCP server that would leave a marker file if it ever started).
fn mixed_project(dir: &Path) {
    let write = |name: &str, text: &str| fs_err::write(dir.join(name), text).unwrap();
    write(
        "aigne.yaml",
        "chat_model:\n  provider: openai\n  name: gpt-4o-mini\nagents:\n  - chat.yaml\n  - logo.yaml\n  - team.yaml\n  - tools.yaml\n",
    );
    write(
        "chat.yaml",
        "name: chat\ninstructions:\n  url: chat-prompt.md\n",
    );
    write("chat-prompt.md", "Be terse.\n");
    write(
        "logo.yaml",
        "type: image\nname: logo\ninstructions: Draw.\n",
    );
    write(
        "team.yaml",
        "type: team\nname: team\nskills:\n  - logo.yaml\n",
    );
    write(
        "tools.yaml",
        "name: tools\ninstructions: Use tools.\nskills:\n  - server.yaml\n",
    );
    write(
        "server.yaml",
        "type: mcp\ncommand: sh\nargs: [\"-c\", \"touch mcp-started; sleep 5\"]\n",
    );
    write(
        "prompts.jsonl",
        "\"hello\"\n{\"id\": \"l\", \"agent\": \"logo\", \"input\": {\"message\": \"a cat\"}}\n{\"id\": \"t\", \"agent\": \"team\", \"input\": {\"message\": \"x\"}}\n{\"id\": \"m\", \"agent\": \"tools\", \"input\": {\"message\": \"y\"}}\n",
    );
}

/// A TCP host on loopback that counts connections (it must see none).
fn listener() -> common::server::RawLoopback {
    common::server::RawLoopback::serve(|mut stream| {
        let mut buffer = [0u8; 1024];
        let _ = stream.read(&mut buffer);
    })
}

#[test]
fn dry_run_prints_the_plan_and_starts_nothing() {
    let dir = tempfile::tempdir().unwrap();
    mixed_project(dir.path());
    fs_err::write(
        dir.path().join(".env"),
        "OPENAI_API_KEY=sk-dotenv-secret-value-123\n",
    )
    .unwrap();
    let server = FakeOpenAi::start();
    let ran = common::Run::in_dir(dir.path())
        .env("OPENAI_BASE_URL", server.base_url())
        .env("GEMINI_API_KEY", "gm-environment-secret-456")
        .args(["run", ".", "--input", "prompts.jsonl", "--dry-run"])
        .expect_exit(0)
        .run();
    let plan: Value = serde_json::from_str(&ran.stdout).unwrap();
    assert_eq!(plan["dry_run"], json!(true));
    let engines: Vec<(String, String)> = plan["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|case| {
            (
                case["agent"].as_str().unwrap().to_owned(),
                case["engine"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        engines,
        [
            ("chat", "native"),
            ("logo", "node"),
            ("team", "node"),
            ("tools", "native")
        ]
        .map(|(agent, engine)| (agent.to_owned(), engine.to_owned()))
    );
    assert_eq!(
        plan["cases"][0]["engine_reason"],
        "the native engine supports every feature agent `chat` reaches"
    );
    assert!(
        plan["cases"][2]["engine_reason"]
            .as_str()
            .unwrap()
            .starts_with("the native engine does not support `type: image` (agent `logo`"),
        "{}",
        plan["cases"][2]
    );
    assert_eq!(plan["engine"]["native_cases"], json!(2));
    assert_eq!(plan["engine"]["node_cases"], json!(2));
    // Key names and where they come from, never their values.
    let keys = plan["keys"].as_array().unwrap();
    let openai = keys
        .iter()
        .find(|key| key["name"] == "OPENAI_API_KEY")
        .unwrap();
    assert!(
        openai["from"].as_str().unwrap().ends_with(".env"),
        "{openai}"
    );
    assert!(
        keys.iter()
            .any(|key| key["name"] == "GEMINI_API_KEY" && key["from"] == "environment")
    );
    assert!(!ran.stdout.contains("sk-dotenv-secret") && !ran.stderr.contains("sk-dotenv-secret"));
    assert!(!ran.stdout.contains("gm-environment-secret"));
    // The model per agent, the MCP server and the subprocesses it would start.
    assert!(
        plan["models"]
            .as_array()
            .unwrap()
            .iter()
            .any(|model| model["agent"] == "chat" && model["provider"] == "openai"),
        "{}",
        plan["models"]
    );
    assert_eq!(plan["mcp_servers"][0]["transport"], "stdio");
    let purposes: Vec<&str> = plan["subprocesses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|process| process["purpose"].as_str().unwrap())
        .collect();
    assert_eq!(purposes, vec!["node-engine", "mcp-server"]);
    let files: Vec<&str> = plan["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|file| file.as_str().unwrap())
        .collect();
    assert!(files.iter().any(|file| file.ends_with("aigne.yaml")));
    assert!(
        files.iter().any(|file| file.ends_with("chat-prompt.md")),
        "{files:?}"
    );
    assert!(files.iter().any(|file| file.ends_with(".env")));
    assert!(files.iter().any(|file| file.ends_with("prompts.jsonl")));
    // Nothing ran: no model call, no server started, no results written.
    assert_eq!(server.request_count(), 0);
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert!(!dir.path().join("mcp-started").exists());
    assert!(!dir.path().join("aigne-ci-output").exists());
}

#[test]
fn model_options_are_checked_whatever_the_engine() {
    let dir = tempfile::tempdir().unwrap();
    mixed_project(dir.path());
    for engine in ["native", "node", "auto"] {
        let ran = common::Run::in_dir(dir.path())
            .args([
                "run",
                ".",
                "--prompt",
                "hi",
                "--engine",
                engine,
                "--temperature",
                "5",
            ])
            .expect_exit(2)
            .run();
        assert!(
            ran.stderr
                .contains("invalid model setting `--temperature`: `5` is not between 0 and 2"),
            "{engine}: {}",
            ran.stderr
        );
        // Refused before the project loads: no engine line.
        assert!(!ran.stderr.contains("engine:"), "{}", ran.stderr);
    }
}

/// `--engine auto` on a project that also lists an image agent: the cases that never reach it
/// run natively, and no node engine starts.
#[test]
fn auto_sends_only_the_cases_that_need_it_to_node() {
    let dir = tempfile::tempdir().unwrap();
    mixed_project(dir.path());
    fs_err::write(
        dir.path().join("chat.jsonl"),
        "\"one\"\n{\"id\": \"two\", \"agent\": \"chat\", \"input\": \"two\"}\n",
    )
    .unwrap();
    let server = FakeOpenAi::start();
    server.set_handler(|_| Reply::text("ok"));
    common::Run::in_dir(dir.path())
        .openai(&server, "sk-test")
        .args(["run", ".", "--input", "chat.jsonl"])
        .expect_exit(0)
        .run();
    let summary: Value = common::summary(&dir.path().join("aigne-ci-output"));
    assert_eq!(summary["engine"], "native");
    assert_eq!(summary["engines"], json!({"native": 2}));
    assert_eq!(summary["subprocesses"], json!([]));
    let text = fs_err::read_to_string(dir.path().join("aigne-ci-output/results.jsonl")).unwrap();
    for line in text.lines() {
        let record: Value = serde_json::from_str(line).unwrap();
        assert_eq!(record["engine"], "native");
        assert_eq!(
            record["engine_reason"],
            "the native engine supports every feature agent `chat` reaches"
        );
    }
}

/// Both engines serve one run: each case says which ran it, and the summary counts them.
#[test]
fn both_engines_serve_one_run() {
    let Some(packages) = std::env::var_os("AIGNE_CI_TEST_NODE_ENGINE_DIR") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must provide the node engine (AIGNE_CI_TEST_NODE_ENGINE_DIR)"
        );
        let _ = std::io::Write::write_all(
            &mut std::io::stderr(),
            b"skipped: AIGNE_CI_TEST_NODE_ENGINE_DIR is not set\n",
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| fs_err::write(dir.path().join(name), text).unwrap();
    write(
        "aigne.yaml",
        "chat_model:\n  provider: openai\n  name: gpt-4o-mini\nagents:\n  - chat.yaml\n  - hooked.yaml\n",
    );
    write("chat.yaml", "name: chat\ninstructions: Be terse.\n");
    write(
        "hooked.yaml",
        "name: hooked\ninstructions: Be terse.\nafs:\n  modules:\n    - history\n",
    );
    write("noop.yaml", "type: transform\nname: noop\njsonata: '{}'\n");
    write(
        "prompts.jsonl",
        "\"one\"\n{\"id\": \"h\", \"agent\": \"hooked\", \"input\": {\"message\": \"two\"}}\n",
    );
    let server = FakeOpenAi::start();
    server.set_handler(|_| Reply::text("ok"));
    common::Run::in_dir(dir.path())
        .openai(&server, "sk-test")
        .args(["run", ".", "--input", "prompts.jsonl", "--node-engine-dir"])
        .arg(&packages)
        .expect_exit(0)
        .run();
    let text = fs_err::read_to_string(dir.path().join("aigne-ci-output/results.jsonl")).unwrap();
    let mut engines: Vec<(String, String)> = text
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap())
        .map(|record| {
            (
                record["agent"].as_str().unwrap().to_owned(),
                record["engine"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    engines.sort();
    assert_eq!(
        engines,
        vec![
            ("chat".to_owned(), "native".to_owned()),
            ("hooked".to_owned(), "node".to_owned())
        ]
    );
    let summary: Value = common::summary(&dir.path().join("aigne-ci-output"));
    assert_eq!(summary["engine"], "native+node");
    assert_eq!(
        summary["engine_reason"],
        "per case: agents `chat` run natively, agents `hooked` need the node engine (each result's `engine_reason` says why)"
    );
    assert_eq!(summary["engines"], json!({"native": 1, "node": 1}));
    // One call per case; the official runtime's AFS `history` module may add its background
    // fact-extraction call for the node case, depending on when its event loop runs it.
    let requests = server.request_count();
    assert!((2..=3).contains(&requests), "{requests} model requests");
}

/// A project `.env` that points a provider (or a proxy) at its own host while the key comes
/// from the workflow: refused before any request, naming the file and the variable.
#[test]
fn a_project_env_cannot_redirect_the_runners_key() {
    let host = listener();
    let address = host.url();
    for (line, key) in [
        (format!("OPENAI_BASE_URL={address}/v1"), "OPENAI_API_KEY"),
        (format!("HTTPS_PROXY={address}"), "OPENAI_API_KEY"),
        (format!("AIGNE_HUB_API_URL={address}"), "AIGNE_HUB_API_KEY"),
        (
            format!("AWS_ENDPOINT_URL_BEDROCK_RUNTIME={address}"),
            "AWS_ACCESS_KEY_ID",
        ),
    ] {
        for engine in ["native", "node"] {
            let dir = tempfile::tempdir().unwrap();
            let project = dir.path().join("project");
            fs_err::create_dir(&project).unwrap();
            fs_err::write(
                project.join("aigne.yaml"),
                "model: openai:gpt-4o-mini\nagents:\n  - chat.yaml\n",
            )
            .unwrap();
            fs_err::write(project.join("chat.yaml"), "name: chat\ninstructions: hi\n").unwrap();
            fs_err::write(project.join(".env"), format!("{line}\n")).unwrap();
            let variable = line.split('=').next().unwrap();
            let ran = common::Run::in_dir(dir.path())
                .env(key, "runner-secret-key-value")
                .args(["run", "project", "--prompt", "hi", "--engine", engine])
                .expect_exit(2)
                .run();
            assert!(
                ran.stderr.contains(&format!(
                    "project/.env` sets `{variable}`, which would send `{key}` (from the environment) to a host the project chose"
                )),
                "{line} {engine}: {}",
                ran.stderr
            );
            assert!(ran.stderr.contains("--trust-project-env"), "{}", ran.stderr);
            assert!(!ran.stderr.contains("runner-secret-key-value"));
        }
    }
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert_eq!(host.connections(), 0);
}

/// The same `.env` with its own key, or the runner's key with `--trust-project-env`: used.
#[test]
fn a_project_env_endpoint_goes_with_its_own_key_or_when_trusted() {
    let server = FakeOpenAi::start();
    server.set_handler(|_| Reply::text("ok"));
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("project");
    fs_err::create_dir(&project).unwrap();
    fs_err::write(
        project.join("aigne.yaml"),
        "model: openai:gpt-4o-mini\nagents:\n  - chat.yaml\n",
    )
    .unwrap();
    fs_err::write(project.join("chat.yaml"), "name: chat\ninstructions: hi\n").unwrap();
    fs_err::write(
        project.join(".env"),
        format!(
            "OPENAI_BASE_URL={}\nOPENAI_API_KEY=sk-project-own-key\n",
            server.base_url()
        ),
    )
    .unwrap();
    common::Run::in_dir(dir.path())
        .args(["run", "project", "--prompt", "hi"])
        .expect_exit(0)
        .run();
    assert_eq!(server.request_count(), 1);

    fs_err::write(
        project.join(".env"),
        format!("OPENAI_BASE_URL={}\n", server.base_url()),
    )
    .unwrap();
    common::Run::in_dir(dir.path())
        .env("OPENAI_API_KEY", "sk-runner")
        .args(["run", "project", "--prompt", "hi"])
        .expect_exit(2)
        .run();
    for trust in [
        vec!["--trust-project-env"],
        Vec::new(), // through the variable below
    ] {
        let mut command = common::command(dir.path());
        command
            .env("OPENAI_API_KEY", "sk-runner")
            .args(["run", "project", "--prompt", "hi"])
            .args(&trust);
        if trust.is_empty() {
            command.env("AIGNE_CI_TRUST_PROJECT_ENV", "true");
        }
        let ran = common::run(&mut command);
        assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    }
    assert_eq!(server.request_count(), 3);
}

/// `inspect` reads the project's `.env` files as `run` does.
#[test]
fn inspect_reads_the_project_env_like_run() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| fs_err::write(dir.path().join(name), text).unwrap();
    write("aigne.yaml", "agents:\n  - chat.yaml\n");
    write("chat.yaml", "name: chat\ninstructions: hi\n");
    write(
        ".env",
        "MODEL=anthropic:claude-3-5-haiku-latest\nANTHROPIC_API_KEY=x\n",
    );
    let ran = common::Run::in_dir(dir.path())
        .args(["inspect", "."])
        .expect_exit(0)
        .run();
    let report: Value = serde_json::from_str(&ran.stdout).unwrap();
    assert_eq!(
        report["agents"][0]["model"]["provider"], "anthropic",
        "{report}"
    );
}

/// `inspect` names the key a model lacks, and a key in the project's `.env` counts as set.
#[test]
fn inspect_names_the_missing_key_unless_the_project_env_holds_it() {
    let project = [
        (
            "aigne.yaml",
            "model: openai:gpt-4o-mini\nagents:\n  - chat.yaml\n",
        ),
        ("chat.yaml", "name: chat\ninstructions: hi\n"),
    ];
    let inspect = |dotenv: Option<&str>| -> Value {
        let mut run = common::Run::new().project(&project);
        if let Some(text) = dotenv {
            run = run.file(".env", text);
        }
        let ran = run.args(["inspect", "."]).expect_exit(0).run();
        serde_json::from_str(&ran.stdout).unwrap()
    };
    let without = inspect(None);
    assert_eq!(
        without["agents"][0]["model"]["missing_key"], "OPENAI_API_KEY",
        "{without}"
    );
    let with = inspect(Some("OPENAI_API_KEY=sk-from-dotenv\n"));
    assert_eq!(with["agents"][0]["model"]["provider"], "openai", "{with}");
    assert!(
        with["agents"][0]["model"].get("missing_key").is_none(),
        "{with}"
    );
}

/// The dry run says which key a model lacks (so the run would stop), and lists every file it
/// would read: agents' files with `..` folded, the cassette of `--replay`, the baseline.
#[test]
fn dry_run_names_missing_keys_and_the_files_a_replay_reads() {
    let run = || {
        common::Run::new().project(&[
            (
                "aigne.yaml",
                "model: openai:gpt-4o-mini\nagents:\n  - agents/chat.yaml\n",
            ),
            (
                "agents/chat.yaml",
                "name: chat\ninstructions:\n  url: ../prompts/system.md\n",
            ),
            ("prompts/system.md", "Be terse.\n"),
            ("cassette.jsonl", ""),
            ("baseline.jsonl", ""),
        ])
    };
    let plan = |ran: common::Ran| -> Value { serde_json::from_str(&ran.stdout).unwrap() };

    let keyless = plan(
        run()
            .args(["run", ".", "--prompt", "hi", "--dry-run"])
            .expect_exit(0)
            .run(),
    );
    assert_eq!(
        keyless["models"][0]["missing_key"], "OPENAI_API_KEY",
        "{keyless}"
    );
    let files: Vec<&str> = keyless["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|file| file.as_str().unwrap())
        .collect();
    assert!(
        files
            .iter()
            .any(|file| file.ends_with("prompts/system.md") && !file.contains("..")),
        "{files:?}"
    );

    let replayed = plan(
        run()
            .args(["run", ".", "--prompt", "hi", "--dry-run"])
            .args(["--replay", "cassette.jsonl", "--baseline", "baseline.jsonl"])
            .expect_exit(0)
            .run(),
    );
    assert!(
        replayed["models"][0].get("missing_key").is_none(),
        "a replay needs no key: {replayed}"
    );
    let files = replayed["files"].to_string();
    assert!(files.contains("cassette.jsonl"), "{files}");
    assert!(files.contains("baseline.jsonl"), "{files}");
}

/// A case that times out still records the engine it was routed to.
#[test]
fn a_timed_out_case_records_its_engine() {
    let dir = tempfile::tempdir().unwrap();
    mixed_project(dir.path());
    let server = FakeOpenAi::start();
    server.set_handler(|_| Reply::text("late").latency(std::time::Duration::from_secs(3)));
    common::Run::in_dir(dir.path())
        .openai(&server, "sk-test")
        .args(["run", ".", "--prompt", "hi", "--timeout", "300ms"])
        .expect_exit(1)
        .run();
    let text = fs_err::read_to_string(dir.path().join("aigne-ci-output/results.jsonl")).unwrap();
    let record: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(record["error"]["kind"], "timeout");
    assert_eq!(record["engine"], "native");
    assert_eq!(
        record["engine_reason"],
        "the native engine supports every feature agent `chat` reaches"
    );
}

/// The stages see only what the plan hands them: no module below `commands/` (and outside the
/// plan, the composition root and the binary) names the command line.
#[test]
fn no_stage_imports_the_command_line() {
    fn walk(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in fs_err::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|extension| extension == "rs") {
                out.push(path);
            }
        }
    }
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    walk(&src, &mut files);
    let allowed = ["cli.rs", "lib.rs", "main.rs"];
    let offenders: Vec<String> = files
        .iter()
        .filter(|path| {
            let relative = path.strip_prefix(&src).unwrap();
            !(allowed.iter().any(|name| relative == Path::new(name))
                || relative.starts_with("commands")
                || relative.starts_with("plan"))
        })
        .filter(|path| {
            let text = fs_err::read_to_string(path).unwrap();
            text.lines().any(|line| {
                let line = line.trim_start();
                !line.starts_with("//") && line.contains("crate::cli")
            })
        })
        .map(|path| path.display().to_string())
        .collect();
    assert!(offenders.is_empty(), "{offenders:?}");
}

/// `src/plan/mod.rs` is the one file that says what each flag does to a run: every flag of
/// `run --help` is named in its table.
#[test]
fn the_plan_module_names_every_run_flag() {
    let help = common::Run::new()
        .args(["run", "--help"])
        .expect_exit(0)
        .run()
        .stdout;
    let doc: String =
        fs_err::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/plan/mod.rs"))
            .unwrap()
            .lines()
            .filter(|line| line.starts_with("//!"))
            .collect::<Vec<_>>()
            .join("\n");
    let flags: Vec<&str> = help
        .lines()
        .filter_map(|line| {
            // `      --concurrency <N>` or `  -c, --concurrency <N>`.
            let line = line.trim_start();
            let line = match line.as_bytes() {
                [b'-', b'-', ..] => line,
                [b'-', _, b',', b' ', b'-', b'-', ..] => &line[4..],
                _ => return None,
            };
            line.split([' ', '<', '=', ',']).next()
        })
        .filter(|flag| flag.starts_with("--") && *flag != "--help")
        .collect();
    assert!(flags.len() > 30, "{flags:?}");
    let missing: Vec<&&str> = flags
        .iter()
        .filter(|flag| !doc.contains(&format!("`{flag}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "not in src/plan/mod.rs's table: {missing:?}"
    );
}

/// The dry run names the model that would grade each kind of model-graded assertion, and
/// where that choice comes from, without calling it.
#[test]
fn dry_run_names_the_judge_models() {
    let rubric = r#"{"type": "llm-rubric", "value": "is polite"}"#;
    let own = r#"{"type": "llm-rubric", "value": "is short", "model": "openai:gpt-own"}"#;
    let lines = [
        format!(r#"{{"id": "a", "input": "hi", "assert": [{rubric}]}}"#),
        format!(r#"{{"id": "b", "input": "hi", "assert": [{rubric}, {own}]}}"#),
        r#"{"id": "c", "input": "hi"}"#.to_owned(),
    ];
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    let project = [
        (
            "aigne.yaml",
            "model: openai:gpt-4o-mini\nagents:\n  - chat.yaml\n",
        ),
        ("chat.yaml", "name: chat\ninstructions: hi\n"),
    ];
    let plan = |extra: &[&str]| -> Value {
        let ran = common::Run::new()
            .project(&project)
            .inputs(&lines)
            .env("OPENAI_API_KEY", "sk-test")
            .args(["run", ".", "--dry-run"])
            .args(extra)
            .expect_exit(0)
            .run();
        serde_json::from_str(&ran.stdout).unwrap()
    };
    let judges = |plan: &Value| -> Vec<(String, String, u64)> {
        plan["judges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|judge| {
                (
                    judge["model"].as_str().unwrap().to_owned(),
                    judge["from"].as_str().unwrap().to_owned(),
                    judge["cases"].as_u64().unwrap(),
                )
            })
            .collect()
    };
    let by_agent = plan(&[]);
    assert_eq!(
        judges(&by_agent),
        [
            (
                "openai:gpt-4o-mini".to_owned(),
                "agent `chat`".to_owned(),
                2
            ),
            ("openai:gpt-own".to_owned(), "assertion".to_owned(), 1),
        ],
        "{by_agent}"
    );
    let flagged = plan(&["--judge-model", "openai:gpt-judge"]);
    assert_eq!(
        judges(&flagged),
        [
            ("openai:gpt-judge".to_owned(), "--judge-model".to_owned(), 2),
            ("openai:gpt-own".to_owned(), "assertion".to_owned(), 1),
        ],
        "{flagged}"
    );
}
