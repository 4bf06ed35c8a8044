//! `report.html` in a real headless Chromium (Debian's `chromium`, driven by playwright-core):
//! opened from `file://`, no console errors and no request leaves the file, every case id in the
//! table, a failing case expanded (its diff, assertions and transcript as a conversation), and
//! screenshots of both (kept in `target/tmp/report-html/` to look at). Also: `merge` writes one
//! for 10,000 cases under 10 MB, and `--report off` / `--report FILE`.
//!
//! Needs `chromium` and playwright-core (`.ci/run` installs both): `AIGNE_CI_TEST_CHROMIUM`
//! (default `/usr/bin/chromium`) and `AIGNE_CI_TEST_PLAYWRIGHT_DIR` (default
//! `~/.cache/aigne-ci-ci/playwright/node_modules/playwright-core`). Without them the tests fail
//! under `CI` and are skipped (saying so) elsewhere.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::common;
use crate::common::fake_openai::{FakeOpenAi, FakeToolCall, Reply};
use crate::transcripts::{SECRET, project};

/// Chromium and playwright-core, or `None` (skipped) outside CI.
fn browser() -> Option<(PathBuf, PathBuf)> {
    let chromium = std::env::var_os("AIGNE_CI_TEST_CHROMIUM")
        .map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from);
    let playwright = std::env::var_os("AIGNE_CI_TEST_PLAYWRIGHT_DIR").map_or_else(
        || {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
                .join(".cache/aigne-ci-ci/playwright/node_modules/playwright-core")
        },
        PathBuf::from,
    );
    let node = std::process::Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|output| output.status.success());
    if chromium.is_file() && playwright.join("package.json").is_file() && node {
        return Some((chromium, playwright));
    }
    let message = format!(
        "needs node, chromium at `{}` and playwright-core at `{}` (.ci/run installs them)",
        chromium.display(),
        playwright.display()
    );
    assert!(std::env::var_os("CI").is_none(), "{message}");
    let _ = std::io::Write::write_all(
        &mut std::io::stderr(),
        format!("skipped: {message}\n").as_bytes(),
    );
    None
}

/// Runs `tests/browser/report_check.mjs` on a page.
fn check_page(report: &Path, shots: &Path, failing: Option<&str>) -> Option<Value> {
    let (chromium, playwright) = browser()?;
    fs_err::create_dir_all(shots).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/report_check.mjs");
    let mut command = std::process::Command::new("node");
    command
        .arg(script)
        .arg(playwright)
        .arg(chromium)
        .arg(report)
        .arg(shots);
    if let Some(failing) = failing {
        command.arg(failing);
    }
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    Some(serde_json::from_slice(&output.stdout).unwrap())
}

fn shots_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("report-html")
        .join(name)
}

fn assert_png(path: &Path) {
    let bytes = fs_err::read(path).unwrap();
    assert!(
        bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
        "{}",
        path.display()
    );
    assert!(
        bytes.len() > 5_000,
        "{}: {} bytes",
        path.display(),
        bytes.len()
    );
}

#[test]
fn report_html_shows_every_case_and_a_failing_one_in_chromium() {
    let dir = tempfile::tempdir().unwrap();
    project(dir.path());
    fs_err::write(
        dir.path().join("prompts.jsonl"),
        concat!(
            "{\"id\": \"tool-ok\", \"input\": \"apples\", \"tags\": [\"smoke\"]}\n",
            "{\"id\": \"wrong-answer\", \"input\": \"plums\", \"expected\": \"the right answer\\nline two\"}\n",
            "{\"id\": \"</script><img src=x onerror=alert(1)>\", \"input\": \"pears\"}\n",
        ),
    )
    .unwrap();
    let server = FakeOpenAi::start();
    server.set_handler(|request| {
        let text = request.body["messages"].to_string();
        if text.contains("pears") {
            return Reply::error(500, json!({"error": {"message": "the fake is down"}}));
        }
        if text.contains("plums") {
            return Reply::text(&format!("the wrong answer\nline two (key {SECRET})")).usage(9, 5);
        }
        if text.contains("a word: apple") {
            Reply::text("done").usage(13, 4)
        } else {
            Reply::tool_calls([FakeToolCall::new(
                "call_1",
                "lookup",
                json!({"word": "apple"}),
            )])
            .usage(11, 2)
        }
    });
    common::Run::in_dir(dir.path())
        .openai(&server, SECRET)
        .args(["run", ".", "crew", "--input", "prompts.jsonl"])
        .expect_exit(1)
        .run();
    let out = dir.path().join("aigne-ci-output");
    let report = out.join("report.html");
    let page = fs_err::read_to_string(&report).unwrap();
    assert!(!page.contains(SECRET));
    // The id that tries to close the data element is only ever escaped inside it.
    assert!(!page.contains("</script><img"));
    let summary: Value = common::summary(&out);
    assert_eq!(summary["report_file"], report.display().to_string());

    let shots = shots_dir("run");
    let Some(result) = check_page(&report, &shots, Some("wrong-answer")) else {
        return;
    };
    assert_eq!(result["errors"], json!([]), "{result:#}");
    let problems: Vec<&Value> = result["console"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|message| message["type"] == "error" || message["type"] == "warning")
        .collect();
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(
        result["requests"],
        json!([]),
        "the page reached out: {result:#}"
    );
    assert!(result["url"].as_str().unwrap().starts_with("file://"));
    assert_eq!(
        result["ids"],
        json!([
            "tool-ok",
            "wrong-answer",
            "</script><img src=x onerror=alert(1)>"
        ])
    );
    let header = result["header"].as_str().unwrap();
    for text in [
        "3\ncases",
        "1\npassed",
        "1\nfailed",
        "1\nerrored",
        "33.3%",
        "engine native",
    ] {
        assert!(header.contains(text), "{text:?} not in {header}");
    }
    assert_eq!(result["shown_without_passed"], "2 of 3 cases shown");
    let detail = result["detail"].as_str().unwrap();
    for text in [
        "Expected (−) vs actual (+)",
        "- the right answer",
        "+ the wrong answer",
        "expected\tfailed",
        "Transcript",
        "crew team",
        "writer ai",
        "model call 1 · openai gpt-4o-mini · by writer",
        "SYSTEM\nWrite about the topic.",
        "USER\ntopic: plums",
        "line two (key ****)",
    ] {
        assert!(detail.contains(text), "{text:?} not in:\n{detail}");
    }
    assert_eq!(result["detail_calls"], 1);
    assert!(detail.contains("+ line two (key ****)"), "{detail}");
    assert_eq!(result["diff_lines"], 4);
    assert_png(&shots.join("report.png"));
    assert_png(&shots.join("failing-case.png"));
    assert_png(&shots.join("failing-case-detail.png"));
}

/// A run with `--baseline` and `--repeat`: the header shows the Δ pass rate in signed
/// percentage points, the regressed and fixed counts and the flaky count; the table marks each
/// case's comparison and filters by it and by flakiness.
#[test]
fn report_html_shows_the_baseline_delta_and_flaky_cases() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    let dir = tempfile::tempdir().unwrap();
    project(dir.path());
    fs_err::write(
        dir.path().join("prompts.jsonl"),
        concat!(
            "{\"id\": \"steady\", \"input\": \"apples\", \"expected\": \"ok\"}\n",
            "{\"id\": \"wobbly\", \"input\": \"plums\", \"expected\": \"ok\"}\n",
        ),
    )
    .unwrap();
    let server = FakeOpenAi::start();
    server.set_default(Reply::text("ok"));
    let run = |extra: &[&str], code: i32| {
        common::Run::in_dir(dir.path())
            .openai(&server, SECRET)
            .args([
                "run",
                ".",
                "crew",
                "--input",
                "prompts.jsonl",
                "--concurrency",
                "1",
            ])
            .args(extra)
            .expect_exit(code)
            .run();
    };
    run(&["--out-dir", "before"], 0);
    // Now `steady` always answers wrong (regressed) and `wobbly` alternates (flaky, passing
    // with one run of two).
    let plums = Arc::new(AtomicUsize::new(0));
    server.set_handler(move |request| {
        let text = request.body["messages"].to_string();
        if text.contains("apples") {
            Reply::text("wrong")
        } else if plums.fetch_add(1, Ordering::SeqCst).is_multiple_of(2) {
            Reply::text("ok")
        } else {
            Reply::text("wrong")
        }
    });
    run(
        &[
            "--out-dir",
            "after",
            "--baseline",
            "before/results.jsonl",
            "--repeat",
            "2",
            "--repeat-min-pass",
            "1",
        ],
        1,
    );
    let out = dir.path().join("after");
    let records = common::records(&out);
    assert_eq!(records[0]["baseline"], "regressed", "{:#}", records[0]);
    assert_eq!(records[1]["flaky"], true, "{:#}", records[1]);
    let Some(result) = check_page(&out.join("report.html"), &shots_dir("baseline"), None) else {
        return;
    };
    assert_eq!(result["errors"], json!([]), "{result:#}");
    let header = result["header"].as_str().unwrap();
    for text in [
        "−50 pp\nΔ pass rate vs baseline",
        "1\nregressed",
        "0\nfixed",
        "1\nflaky (of 2 runs, 1 must pass)",
        "2 cases, pass rate 100.0%",
    ] {
        assert!(header.contains(text), "{text:?} not in {header}");
    }
    assert_eq!(result["shown_regressed"], json!(["steady"]), "{result:#}");
    assert_eq!(result["shown_flaky"], json!(["wobbly"]), "{result:#}");
}

/// A shard's `results.jsonl` + `summary.json` + transcripts for `lines` (synthetic: what the
/// merge reads; the page is built from these).
/// `padding` bytes of text go into each case's output (and its transcript's answer).
fn synthetic_shard(dir: &Path, lines: std::ops::Range<usize>, total: usize, padding: usize) {
    let pad = "weather ".repeat(padding / 8);
    fs_err::create_dir_all(dir.join("transcripts")).unwrap();
    let mut results = String::new();
    for line in lines.clone() {
        let status = match line % 10 {
            0 => "failed",
            7 => "errored",
            _ => "passed",
        };
        let mut record = json!({
            "format_version": 1, "id": format!("case-{line:05}"), "line": line, "agent": "chat",
            "input": {"message": format!("question number {line} about the weather in city {}", line % 97)},
            "output": if status == "errored" { Value::Null } else { json!({"message": format!("answer {line}: it is sunny, {} degrees{pad}", line % 35)}) },
            "status": status,
            "assertions": [{"type": "contains", "passed": status != "failed", "spec": {"value": "sunny"}}],
            "attempts": 1, "duration_ms": 100 + line % 900,
            "usage": {"input_tokens": 50 + line % 20, "output_tokens": 10 + line % 7},
            "model": "gpt-4o-mini", "tags": ["bulk"],
            "transcript": format!("transcripts/{line}.json"),
        });
        if status == "errored" {
            record["error"] = json!({"kind": "model_status", "message": "provider `openai` answered with status 500"});
        }
        results.push_str(&format!("{record}\n"));
        let transcript = json!({
            "format_version": 1, "id": format!("case-{line:05}"), "line": line, "engine": "native",
            "captures": ["synthetic"], "text_cap": 16384,
            "invocations": [{"id": 0, "parent": null, "agent": "chat", "kind": "ai", "started_ms": 0,
                "duration_ms": 90, "input": record["input"], "output": record["output"]}],
            "model_calls": [{"invocation": 0, "provider": "openai", "model": "gpt-4o-mini", "started_ms": 1,
                "request": {"messages": [{"role": "system", "content": [{"type": "text", "text": "You answer questions about the weather, briefly and politely."}]},
                                         {"role": "user", "content": [{"type": "text", "text": record["input"]["message"]}]}]},
                "response": {"text": record["output"]["message"]}, "usage": record["usage"], "latency_ms": 88, "attempts": 1}],
            "dropped": {"invocations": 0, "model_calls": 0}
        });
        fs_err::write(
            dir.join(format!("transcripts/{line}.json")),
            transcript.to_string(),
        )
        .unwrap();
    }
    fs_err::write(dir.join("results.jsonl"), results).unwrap();
    let summary = json!({
        "format_version": 1, "aigne_ci_version": "0.1.0", "conclusion": "failure", "cancelled": false, "timed_out": false,
        "counts": {"total": 0, "passed": 0, "failed": 0, "errored": 0, "skipped": 0, "not_run": 0},
        "pass_rate": null, "policy": {"fail_on": "failure", "min_pass_rate": null, "holds": false, "reasons": []},
        "tokens": {"input_tokens": 0, "output_tokens": 0},
        "durations": {"wall_ms": 1000, "cases_ms": 0, "mean_ms": 0, "p50_ms": 0, "p95_ms": 0, "max_ms": 0},
        "project": {"source": "./project", "sha256": null, "cache_hit": null, "cache_key": null},
        "engine": "native", "model": "gpt-4o-mini", "models": ["gpt-4o-mini"], "agent": "chat",
        "inputs": {"file": "prompts.jsonl", "cases": total, "lines": lines.collect::<Vec<_>>()},
        "shard": null, "results_file": "results.jsonl", "junit_file": null,
        "started_at": "2026-01-01T00:00:00Z", "finished_at": "2026-01-01T00:00:01Z"
    });
    fs_err::write(dir.join("summary.json"), summary.to_string()).unwrap();
}

#[test]
fn merge_writes_one_report_for_ten_thousand_cases_under_ten_megabytes() {
    let dir = tempfile::tempdir().unwrap();
    synthetic_shard(&dir.path().join("shard-1"), 1..5001, 10_000, 0);
    synthetic_shard(&dir.path().join("shard-2"), 5001..10_001, 10_000, 0);
    common::Run::in_dir(dir.path())
        .args(["merge", "shard-1", "shard-2", "--out-dir", "merged"])
        .expect_exit(1)
        .run();
    let merged = dir.path().join("merged");
    // The shards' transcripts came along, and the merged results name them.
    assert!(merged.join("transcripts/9999.json").is_file());
    let report = merged.join("report.html");
    let size = fs_err::metadata(&report).unwrap().len();
    assert!(size < 10 * 1024 * 1024, "report.html is {size} bytes");
    let page = fs_err::read_to_string(&report).unwrap();
    // Failing cases' transcripts are embedded first; the budget leaves some passed ones out.
    assert!(page.contains("\"transcripts/10.json\":{"));
    let Some(result) = check_page(&report, &shots_dir("merge-10000"), Some("case-00010")) else {
        return;
    };
    assert_eq!(result["errors"], json!([]), "{}", result["errors"]);
    let ids = result["ids"].as_array().unwrap();
    assert_eq!(ids.len(), 10_000);
    let expected: Vec<String> = (1..=10_000).map(|line| format!("case-{line:05}")).collect();
    assert_eq!(
        ids.iter()
            .map(|id| id.as_str().unwrap().to_owned())
            .collect::<Vec<_>>(),
        expected
    );
    assert!(
        result["detail"]
            .as_str()
            .unwrap()
            .contains("USER\nquestion number 10 about the weather"),
        "{}",
        result["detail"]
    );
    // Timings are printed for bench-style reading, never asserted.
    let _ = std::io::Write::write_all(
        &mut std::io::stderr(),
        format!(
            "10,000 cases: {size} bytes; ready {} ms, sort {} ms, filter {} ms, expand {} ms\n",
            result["ready_ms"], result["sort_ms"], result["filter_ms"], result["expand_ms"]
        )
        .as_bytes(),
    );
}

#[test]
fn report_off_and_report_file() {
    let dir = tempfile::tempdir().unwrap();
    project(dir.path());
    fs_err::write(dir.path().join("prompts.jsonl"), "\"plums\"\n").unwrap();
    let server = FakeOpenAi::start();
    server.set_default(Reply::text("ok"));
    let run = |extra: &[&str]| {
        common::Run::in_dir(dir.path())
            .openai(&server, SECRET)
            .args(["run", ".", "crew", "--input", "prompts.jsonl"])
            .args(extra)
            .expect_exit(0)
            .run();
    };
    run(&["--report", "off", "--out-dir", "off-out"]);
    assert!(!dir.path().join("off-out/report.html").exists());
    let summary: Value = common::summary(&dir.path().join("off-out"));
    assert!(summary.get("report_file").is_none());
    run(&["--report", "elsewhere/page.html", "--out-dir", "moved-out"]);
    assert!(!dir.path().join("moved-out/report.html").exists());
    let page = fs_err::read_to_string(dir.path().join("elsewhere/page.html")).unwrap();
    assert!(page.starts_with("<!doctype html>"));
    assert!(page.contains("\"id\":\"line-1\""));
}

/// Every file a run writes gets the mode of a plainly created file (0666 less the umask, 0644
/// usually), as a user and an artifact uploader expect: the files written whole through a
/// temporary file and a rename (`summary.json`, `report.html`, JUnit XML) used to keep the
/// temporary file's 0600.
#[cfg(unix)]
#[test]
fn output_files_get_the_mode_of_a_plain_file() {
    use std::os::unix::fs::PermissionsExt;

    let dir = tempfile::tempdir().unwrap();
    project(dir.path());
    fs_err::write(dir.path().join("prompts.jsonl"), "\"plums\"\n").unwrap();
    let server = FakeOpenAi::start();
    server.set_default(Reply::text("ok"));
    common::Run::in_dir(dir.path())
        .openai(&server, SECRET)
        .args(["run", ".", "crew", "--input", "prompts.jsonl"])
        .args(["--junit", "aigne-ci-output/junit.xml"])
        .expect_exit(0)
        .run();
    let out = dir.path().join("aigne-ci-output");
    // The test and the binary share the umask: a file created plainly here shows what to expect.
    let plain = out.join("plain");
    fs_err::write(&plain, "x").unwrap();
    let mode = |path: &Path| fs_err::metadata(path).unwrap().permissions().mode() & 0o777;
    let expected = mode(&plain);
    for name in [
        "results.jsonl",
        "summary.json",
        "report.html",
        "junit.xml",
        "transcripts/1.json",
    ] {
        assert_eq!(
            format!("{:o}", mode(&out.join(name))),
            format!("{expected:o}"),
            "{name}"
        );
    }
}

/// A run whose answers are too big for the page together (4 × 2.5 MB): the page stays under its
/// budget, names every case, and a big case shows its input and the start of its output with
/// the cut marked and the whole record pointed to; the small cases are whole.
#[test]
fn big_outputs_are_cut_to_keep_the_page_under_its_budget() {
    let dir = tempfile::tempdir().unwrap();
    project(dir.path());
    let mut prompts = String::new();
    for index in 1..=6 {
        let size = if index <= 4 { "big" } else { "small" };
        prompts.push_str(&format!(
            "{{\"id\": \"{size}-{index}\", \"input\": \"{size} plums {index}\", \"expected\": \"a short answer\"}}\n"
        ));
    }
    fs_err::write(dir.path().join("prompts.jsonl"), prompts).unwrap();
    let server = FakeOpenAi::start();
    server.set_handler(|request| {
        let text = request.body["messages"].to_string();
        if text.contains("big plums") {
            Reply::text(&format!("BEGIN {}", "lorem ipsum ".repeat(2_500_000 / 12)))
        } else {
            Reply::text("a small answer")
        }
    });
    common::Run::in_dir(dir.path())
        .openai(&server, SECRET)
        .args(["run", ".", "crew", "--input", "prompts.jsonl"])
        .expect_exit(1)
        .run();
    let out = dir.path().join("aigne-ci-output");
    let results = fs_err::metadata(out.join("results.jsonl")).unwrap().len();
    assert!(
        results > 10_000_000,
        "results.jsonl is only {results} bytes"
    );
    let report = out.join("report.html");
    let size = fs_err::metadata(&report).unwrap().len();
    assert!(
        size < 9 * 1024 * 1024 + 64 * 1024,
        "report.html is {size} bytes"
    );
    let page = fs_err::read_to_string(&report).unwrap();
    assert_eq!(
        page.matches("\"page_cut\":true").count(),
        4,
        "the four big cases are cut"
    );
    assert!(page.contains("\"output\":{\"message\":\"a small answer\"}"));
    let Some(result) = check_page(&report, &shots_dir("big-outputs"), Some("big-2")) else {
        return;
    };
    assert_eq!(result["errors"], json!([]), "{result:#}");
    assert_eq!(
        result["ids"],
        json!(["big-1", "big-2", "big-3", "big-4", "small-5", "small-6"])
    );
    let detail = result["detail"].as_str().unwrap();
    for text in [
        "Parts of this case are cut in this page to keep it under its size budget",
        "the whole record is in",
        "results.jsonl (the case of input line 2)",
        "big plums 2",
        "BEGIN lorem ipsum",
        "more bytes]",
    ] {
        assert!(
            detail.contains(text),
            "{text:?} not in the detail ({} bytes)",
            detail.len()
        );
    }
}

/// 10,000 cases of 1 KB answers each (13.7 MB of results): the page stays under 10 MB, holds every
/// case, cut to its share with the cut marked.
#[test]
fn ten_thousand_large_cases_stay_under_ten_megabytes() {
    let dir = tempfile::tempdir().unwrap();
    synthetic_shard(&dir.path().join("shard-1"), 1..5001, 10_000, 1024);
    synthetic_shard(&dir.path().join("shard-2"), 5001..10_001, 10_000, 1024);
    common::Run::in_dir(dir.path())
        .args(["merge", "shard-1", "shard-2", "--out-dir", "merged"])
        .expect_exit(1)
        .run();
    let merged = dir.path().join("merged");
    let results = fs_err::metadata(merged.join("results.jsonl"))
        .unwrap()
        .len();
    assert!(
        results > 13_000_000,
        "results.jsonl is only {results} bytes"
    );
    let report = merged.join("report.html");
    let size = fs_err::metadata(&report).unwrap().len();
    assert!(size < 10_000_000, "report.html is {size} bytes");
    let page = fs_err::read_to_string(&report).unwrap();
    let data = page.split("id=\"aigne-ci-data\">").nth(1).unwrap();
    let data = data.split("</script>").next().unwrap();
    let data: Value = serde_json::from_str(data).unwrap();
    let cases = data["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 10_000);
    for (index, case) in cases.iter().enumerate() {
        assert_eq!(case["id"], format!("case-{:05}", index + 1));
        assert!(
            case["status"].is_string() && case["transcript"].is_string(),
            "{case}"
        );
        // The errored cases have no answer: small, they stay whole.
        if case["status"] != "errored" {
            assert_eq!(case["page_cut"], true, "{case}");
            let output = case["output"]["message"].as_str().unwrap();
            assert!(output.contains("[cut here: "), "{case}");
        } else {
            assert!(case.get("page_cut").is_none(), "{case}");
        }
    }
    assert!(
        cases[9]["output"]["message"]
            .as_str()
            .unwrap()
            .starts_with("answer 10: it is sunny")
    );
}
