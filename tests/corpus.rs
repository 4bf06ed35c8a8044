//! The conformance corpus: projects of our own under `tests/fixtures/projects/corpus-*`, each
//! exercising the features real public AIGNE projects use (the framework's test agents, examples
//! and `aigne create` template, DocSmith, WebSmith), with inputs as their tests and apps give
//! them. Every case runs through the official runtime (`@aigne/cli`, via
//! `tests/conformance/corpus_reference.mjs`) and through the `aigne-ci` binary with
//! `--engine native` and `--engine auto`, all against the same fake OpenAI server; a case
//! conforms when its output (or, where the reference errors, its exact error text) and its request
//! bodies equal the reference's. A reply may name the text the request it answers holds
//! (`{"text": s, "when": t}`): the case makes its requests concurrently, in an order scheduling
//! decides, so its replies go by content and its request bodies are compared as a set.
//!
//! Each project holds `cases.json`: `[{id, agent, input, replies: [reply...], native?}]`, a reply
//! being `{"text": s}`, `{"json": v}` or `{"tool_calls": [{id, name, args}]}`; `native: false`
//! marks a case the native engine cannot run (its JavaScript needs npm packages that are not
//! installed, or it reaches a feature the native engine leaves to node); those cases are left out
//! of the `--engine native` run (which would stop before its first case, by design). Targets
//! (issue 16): `auto` conforms on every case, `native` on every other case; and `auto` decides per
//! case, so it runs every case not marked `native: false` in the native engine even when the
//! project also holds agents the native engine leaves to node.
//! The test needs node and the reference install (`AIGNE_CI_REF_AIGNE`) and the node engine
//! (`AIGNE_CI_TEST_NODE_ENGINE_DIR`); without them it fails when `CI` is set, else it is skipped.

use std::path::{Path, PathBuf};

use pretty_assertions::assert_eq;
use serde_json::{Value, json};

use crate::common;
use crate::common::fake_openai::{FakeOpenAi, FakeToolCall, Reply};

fn corpus_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/projects")
}

fn corpus_projects() -> Vec<PathBuf> {
    // `AIGNE_CI_CORPUS_DIRS` (paths joined as `PATH` joins them) measures other project folders
    // holding a `cases.json` instead, e.g. copies of the real projects with cases of one's own.
    if let Some(dirs) = std::env::var_os("AIGNE_CI_CORPUS_DIRS") {
        return std::env::split_paths(&dirs).collect();
    }
    let mut projects: Vec<PathBuf> = fs_err::read_dir(corpus_root())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            path.file_name()
                .is_some_and(|name| name.to_string_lossy().starts_with("corpus-"))
                && path.join("cases.json").is_file()
        })
        .collect();
    projects.sort();
    projects
}

struct Case {
    id: String,
    agent: String,
    input: Value,
    replies: Vec<Reply>,
    /// Per reply, the text a request must hold to get it (`when`); a case whose replies say it
    /// makes its requests concurrently (iterate_on with concurrency, parallel teams), in an
    /// order the engine's scheduling decides: its replies go by content and its request bodies
    /// are compared as a set.
    when: Vec<Option<String>>,
    native: bool,
}

fn reply(value: &Value) -> Reply {
    if let Some(text) = value.get("text").and_then(Value::as_str) {
        return Reply::text(text);
    }
    if let Some(json) = value.get("json") {
        return Reply::json(json.clone());
    }
    let calls = value["tool_calls"]
        .as_array()
        .unwrap_or_else(|| panic!("a reply is text, json or tool_calls: {value}"))
        .iter()
        .map(|call| {
            FakeToolCall::new(
                call["id"].as_str().unwrap(),
                call["name"].as_str().unwrap(),
                call["args"].clone(),
            )
        });
    Reply::tool_calls(calls)
}

fn cases(project: &Path) -> Vec<Case> {
    let listed: Vec<Value> =
        serde_json::from_str(&fs_err::read_to_string(project.join("cases.json")).unwrap()).unwrap();
    listed
        .iter()
        .map(|case| Case {
            id: case["id"].as_str().unwrap().to_owned(),
            agent: case["agent"].as_str().unwrap().to_owned(),
            input: case["input"].clone(),
            replies: case["replies"]
                .as_array()
                .map(|replies| replies.iter().map(reply).collect())
                .unwrap_or_default(),
            when: case["replies"]
                .as_array()
                .map(|replies| {
                    replies
                        .iter()
                        .map(|reply| reply["when"].as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default(),
            native: case["native"].as_bool().unwrap_or(true),
        })
        .collect()
}

/// What one engine did with one case.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    /// `{"output": ...}` or `{"error": "..."}`.
    result: Value,
    /// The request bodies of this case (split by the reference's reply counts).
    bodies: Vec<Value>,
    /// The engine that ran it (`engine` of its result; none for the reference).
    engine: Option<String>,
}

/// Splits the bodies of a whole run into the cases', by the number of requests the reference made
/// for each (`counts`).
fn split_bodies(counts: &[usize], bodies: Vec<Value>) -> Vec<Vec<Value>> {
    let mut rest = bodies.into_iter();
    let mut out: Vec<Vec<Value>> = counts
        .iter()
        .map(|count| rest.by_ref().take(*count).collect())
        .collect();
    // Extra requests (an engine asking more than the reference) land on the last case.
    if let Some(last) = out.last_mut() {
        last.extend(rest);
    }
    out
}

/// The reference's view of each case, and the cases whose scripted replies are not as many as
/// the reference's chat requests (a fixture to correct).
/// A fake server answering the cases' requests: in order, except that a reply with a `when`
/// goes to the first request holding its text.
fn serve<C: std::borrow::Borrow<Case>>(cases: &[C]) -> FakeOpenAi {
    let server = FakeOpenAi::start();
    let scripted: Vec<(Option<String>, Reply)> = cases
        .iter()
        .flat_map(|case| {
            let case = case.borrow();
            case.when.clone().into_iter().zip(case.replies.clone())
        })
        .collect();
    let left = std::sync::Mutex::new(scripted);
    server.set_handler(move |request| {
        let mut left = left.lock().unwrap();
        let index = left
            .iter()
            .position(|(when, _)| {
                when.as_deref()
                    .is_some_and(|text| request.raw_body.contains(text))
            })
            .or_else(|| left.iter().position(|(when, _)| when.is_none()));
        match index {
            Some(index) => left.remove(index).1,
            // A request beyond the script: an error the engine reports (and the bodies differ).
            None => Reply::error(
                500,
                json!({"error": {"message": "corpus: no scripted reply left"}}),
            ),
        }
    });
    server
}

fn run_reference(reference: &Path, project: &Path, cases: &[Case]) -> (Vec<Seen>, Vec<String>) {
    let server = serve(cases);
    let dir = tempfile::tempdir().unwrap();
    let cases_file = dir.path().join("cases.json");
    let listed: Vec<Value> = cases
        .iter()
        .map(|case| json!({"id": case.id, "agent": case.agent, "input": case.input}))
        .collect();
    fs_err::write(&cases_file, serde_json::to_string(&listed).unwrap()).unwrap();
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance/corpus_reference.mjs");
    let mut command = std::process::Command::new("node");
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy().into_owned();
        if key.starts_with("OPENAI_") || key.starts_with("AIGNE_") || key == "MODEL" {
            command.env_remove(&key);
        }
    }
    let ran = command
        .arg(&script)
        .arg(reference)
        .arg(project)
        .arg(&cases_file)
        .current_dir(dir.path())
        .env("OPENAI_BASE_URL", server.base_url())
        .env("OPENAI_API_KEY", "sk-corpus")
        .env("HOME", dir.path())
        .output()
        .unwrap();
    assert!(
        ran.status.success(),
        "{}",
        String::from_utf8_lossy(&ran.stderr)
    );
    let results: Vec<Value> = String::from_utf8(ran.stdout)
        .unwrap()
        .lines()
        .filter(|line| line.starts_with('{'))
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(results.len(), cases.len(), "one reference result per case");
    // The script marks the end of each case with a request of its own.
    let mut per_case: Vec<Vec<Value>> = vec![Vec::new()];
    for request in server.requests() {
        if request.path.ends_with("/corpus-case-end") {
            per_case.push(Vec::new());
        } else {
            per_case.last_mut().unwrap().push(request.body);
        }
    }
    per_case.pop();
    assert_eq!(per_case.len(), cases.len(), "one end mark per case");
    let miscounted: Vec<String> = cases
        .iter()
        .zip(&per_case)
        .zip(&results)
        .filter_map(|((case, bodies), result)| {
            let chats = bodies.iter().filter(|body| body["messages"].is_array()).count();
            (chats != case.replies.len()).then(|| {
                format!(
                    "{}/{}: the reference made {chats} chat requests, cases.json scripts {} replies ({result})",
                    project.display(),
                    case.id,
                    case.replies.len()
                )
            })
        })
        .collect();
    let seen = results
        .into_iter()
        .zip(per_case)
        .map(|(result, bodies)| Seen {
            result,
            bodies,
            engine: None,
        })
        .collect();
    (seen, miscounted)
}

/// Runs `cases` through `aigne-ci run --engine ENGINE`; `counts`: how many requests the
/// reference made for each. When the run made a different number of requests in all, which
/// case made which is unknown: the cases then run again one run each, so that each is compared
/// with its own requests (and one case's extra request does not fail the next).
fn run_ours<C: std::borrow::Borrow<Case>>(
    engine: &str,
    node_engine: &Path,
    project: &Path,
    cases: &[C],
    counts: &[usize],
) -> Vec<Seen> {
    let (seen, total) = run_ours_once(engine, node_engine, project, cases, counts);
    if total == counts.iter().sum::<usize>() || cases.len() == 1 {
        return seen;
    }
    cases
        .iter()
        .zip(counts)
        .flat_map(|(case, count)| {
            run_ours_once(engine, node_engine, project, &[case.borrow()], &[*count]).0
        })
        .collect()
}

/// One run of `cases`; returns what each saw and the number of requests in all.
fn run_ours_once<C: std::borrow::Borrow<Case>>(
    engine: &str,
    node_engine: &Path,
    project: &Path,
    cases: &[C],
    counts: &[usize],
) -> (Vec<Seen>, usize) {
    let server = serve(cases);
    let dir = tempfile::tempdir().unwrap();
    let inputs: String = cases
        .iter()
        .map(|case| {
            let case = case.borrow();
            format!(
                "{}\n",
                json!({"id": case.id, "agent": case.agent, "input": case.input})
            )
        })
        .collect();
    fs_err::write(dir.path().join("inputs.jsonl"), inputs).unwrap();
    common::Run::in_dir(dir.path())
        .openai(&server, "sk-corpus")
        .env("HOME", dir.path())
        .arg("run")
        .arg(project)
        .args(["--input", "inputs.jsonl", "--concurrency", "1"])
        .args(["--fail-on", "never", "--engine", engine])
        .arg("--node-engine-dir")
        .arg(node_engine)
        .expect_exit(0)
        .run();
    let text = fs_err::read_to_string(dir.path().join("aigne-ci-output/results.jsonl")).unwrap();
    let mut records: Vec<Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    records.sort_by_key(|record| record["line"].as_u64());
    assert_eq!(records.len(), cases.len(), "{engine}: one result per case");
    let bodies = server.bodies();
    let total = bodies.len();
    let seen = records
        .into_iter()
        .zip(split_bodies(counts, bodies))
        .map(|(record, bodies)| {
            let result = match record["error"]["message"].as_str() {
                Some(message) => json!({"error": message}),
                None => json!({"output": record["output"]}),
            };
            let engine = record["engine"].as_str().map(str::to_owned);
            Seen {
                result,
                bodies,
                engine,
            }
        })
        .collect();
    (seen, total)
}

/// Whether ours conforms to the reference: equal bodies and output, the output's keys in the same
/// order (users see it as `JSON.stringify` prints it); for an error, our message is the
/// reference's text.
fn conforms(case: &Case, ours: &Seen, reference: &Seen) -> bool {
    let concurrent = case.when.iter().any(Option::is_some);
    let sorted = |bodies: &[Value]| {
        let mut texts: Vec<String> = bodies.iter().map(Value::to_string).collect();
        texts.sort();
        texts
    };
    let same_requests = match concurrent {
        true => sorted(&ours.bodies) == sorted(&reference.bodies),
        false => ours.bodies == reference.bodies,
    };
    if !same_requests {
        return false;
    }
    match (ours.result.get("error"), reference.result.get("error")) {
        // Users assert on `error.message`: it must be the reference's own text, in both engines.
        (Some(Value::String(ours)), Some(Value::String(theirs))) => ours == theirs,
        // Compared as text: `Value`'s equality ignores key order.
        (None, None) => {
            serde_json::to_string(&ours.result).unwrap()
                == serde_json::to_string(&reference.result).unwrap()
        }
        _ => false,
    }
}

/// A line for the test log (the pass-rate table).
fn say(text: &str) {
    let _ = std::io::Write::write_all(&mut std::io::stderr(), format!("{text}\n").as_bytes());
}

#[test]
fn corpus_conforms_to_the_official_runtime() {
    let reference = std::env::var_os("AIGNE_CI_REF_AIGNE").map(PathBuf::from);
    let node_engine = std::env::var_os("AIGNE_CI_TEST_NODE_ENGINE_DIR").map(PathBuf::from);
    let has_node = std::process::Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|output| output.status.success());
    let (Some(reference), Some(node_engine), true) = (reference, node_engine, has_node) else {
        assert!(
            std::env::var_os("CI").is_none(),
            "the corpus needs node, AIGNE_CI_REF_AIGNE and AIGNE_CI_TEST_NODE_ENGINE_DIR"
        );
        say("skipped: the corpus needs node and the official AIGNE install");
        return;
    };
    let mut table = Vec::new();
    let (mut total, mut native_cases, mut auto_ok, mut native_ok) = (0, 0, 0, 0);
    let mut failures = Vec::new();
    let mut dumped = Vec::new();
    for project in corpus_projects() {
        let name = project.file_name().unwrap().to_string_lossy().into_owned();
        let cases = cases(&project);
        let (official, miscounted) = run_reference(&reference, &project, &cases);
        failures.extend(miscounted);
        let counts: Vec<usize> = official.iter().map(|seen| seen.bodies.len()).collect();
        let auto = run_ours("auto", &node_engine, &project, &cases, &counts);
        // A case the native engine does not run would stop a native run before its first case
        // (exit 2, by design): only the others are run natively, in one run of their own.
        let (native_only, native_counts): (Vec<&Case>, Vec<usize>) = cases
            .iter()
            .zip(&counts)
            .filter(|(case, _)| case.native)
            .unzip();
        let mut ran_natively = if native_only.is_empty() {
            Vec::new()
        } else {
            run_ours(
                "native",
                &node_engine,
                &project,
                &native_only,
                &native_counts,
            )
        }
        .into_iter();
        let native: Vec<Seen> = cases
            .iter()
            .map(|case| match case.native {
                true => ran_natively.next().unwrap(),
                false => Seen {
                    result: json!({"error": "not run natively"}),
                    bodies: Vec::new(),
                    engine: None,
                },
            })
            .collect();
        for (index, case) in cases.iter().enumerate() {
            total += 1;
            let seen = |seen: &Seen| json!({"result": seen.result, "bodies": seen.bodies, "engine": seen.engine});
            dumped.push(
                json!({"case": format!("{name}/{}", case.id), "reference": seen(&official[index]), "auto": seen(&auto[index]), "native": seen(&native[index])})
                    .to_string(),
            );
            let auto_conforms = conforms(case, &auto[index], &official[index]);
            let native_conforms = conforms(case, &native[index], &official[index]);
            auto_ok += usize::from(auto_conforms);
            if case.native {
                native_cases += 1;
                native_ok += usize::from(native_conforms);
            }
            table.push(format!(
                "{name}/{}: auto {} native {}",
                case.id,
                if auto_conforms { "ok" } else { "DIFFERS" },
                match (case.native, native_conforms) {
                    (_, true) => "ok",
                    (false, false) => "n/a (left to node)",
                    (true, false) => "DIFFERS",
                }
            ));
            if !auto_conforms {
                failures.push(format!(
                    "{name}/{} auto:\n  ours: {:?}\n  reference: {:?}",
                    case.id, auto[index], official[index]
                ));
            }
            if case.native && auto[index].engine.as_deref() != Some("native") {
                failures.push(format!(
                    "{name}/{} auto: ran in {:?}, not the native engine that runs it",
                    case.id, auto[index].engine
                ));
            }
            if case.native && !native_conforms {
                failures.push(format!(
                    "{name}/{} native:\n  ours: {:?}\n  reference: {:?}",
                    case.id, native[index], official[index]
                ));
            }
        }
    }
    if let Some(dump) = std::env::var_os("AIGNE_CI_CORPUS_DUMP") {
        // Every case as the three runs saw it, one JSON line each, to study the differences.
        fs_err::write(dump, dumped.join("\n")).unwrap();
    }
    say(&table.join("\n"));
    say(&format!(
        "corpus: {total} cases; auto conforms on {auto_ok}/{total}; native on {native_ok}/{native_cases} it can run ({} left to node)",
        total - native_cases
    ));
    assert!(total > 0, "the corpus has cases");
    assert_eq!(failures, Vec::<String>::new());
}
