//! `aigne-ci comment` against a fake GitHub API on loopback (tests/common/fake_github.rs): the
//! first run creates the comment, a rerun edits the same one, the marker is found on a later
//! page, GitHub Enterprise's `/api/v3` prefix, events without a pull request and a token that may
//! not write (notices, exit 0, no request), a lost creation answer, and hostile case output that
//! cannot inject markup, mentions or links, nor leak the token.

use std::path::Path;

use pretty_assertions::assert_eq;
use serde_json::{Value, json};

use crate::common::{
    self,
    fake_github::{Behaviour, Comment, FakeGithub},
};

const TOKEN: &str = "ghs_fakeTokenValue0123456789abcdefXYZ";
const HOSTILE: &str = "@octocat #1 [click](https://evil.example/x) ![img](https://evil.example/p.png) <img src=x onerror=alert(1)> </details></summary> | `code` **bold** www.evil.example";

/// A run's out-dir: 4 cases (one passed, one failed with hostile output that also echoes the
/// token, one errored that regressed, one flaky that passed), with a baseline and repeats.
pub(crate) fn out_dir(dir: &Path) {
    let out = dir.join("out");
    fs_err::create_dir_all(&out).unwrap();
    let record = |line: usize, id: &str, status: &str, output: Value| {
        json!({
            "format_version": 1, "id": id, "line": line, "agent": "chat",
            "input": {"message": format!("question {line}")}, "output": output, "status": status,
            "assertions": [{"type": "contains", "passed": status != "failed", "spec": {"value": "sunny"}, "message": format!("expected `sunny` in {HOSTILE}")}],
            "attempts": 1, "duration_ms": 100, "usage": {"input_tokens": 5, "output_tokens": 1},
            "model": "openai:gpt-4o-mini",
        })
    };
    let mut errored = record(3, "weather-3", "errored", Value::Null);
    errored["error"] = json!({"kind": "model_status", "message": "provider answered 500"});
    errored["baseline"] = json!("regressed");
    let mut flaky = record(4, "flaky-4", "passed", json!({"message": "ok"}));
    flaky["flaky"] = json!(true);
    flaky["runs"] = json!([
        {"status": "passed", "output": {"message": "ok"}, "attempts": 1, "duration_ms": 1, "usage": {"input_tokens": 1, "output_tokens": 1}},
        {"status": "failed", "output": {"message": "no"}, "attempts": 1, "duration_ms": 1, "usage": {"input_tokens": 1, "output_tokens": 1}},
    ]);
    let records = [
        record(1, "ok-1", "passed", json!({"message": "sunny"})),
        record(
            2,
            "hostile-2 @octocat",
            "failed",
            json!({"message": format!("token={TOKEN} {HOSTILE}")}),
        ),
        errored,
        flaky,
    ];
    let results: String = records.iter().map(|record| format!("{record}\n")).collect();
    fs_err::write(out.join("results.jsonl"), results).unwrap();
    let summary = json!({
        "format_version": 1, "aigne_ci_version": "0.1.0", "conclusion": "failure", "cancelled": false, "timed_out": false,
        "counts": {"total": 4, "passed": 2, "failed": 1, "errored": 1, "skipped": 0, "not_run": 0},
        "pass_rate": 0.5, "policy": {"fail_on": "failure", "min_pass_rate": null, "holds": false, "reasons": ["1 case failed", "1 case errored"]},
        "tokens": {"input_tokens": 20, "output_tokens": 4},
        "durations": {"wall_ms": 1000, "cases_ms": 400, "mean_ms": 100, "p50_ms": 100, "p95_ms": 100, "max_ms": 100},
        "project": {"source": "./project", "sha256": null, "cache_hit": null, "cache_key": null},
        "engine": "native", "model": "openai:gpt-4o-mini", "models": ["openai:gpt-4o-mini"], "agent": "chat",
        "inputs": {"file": "prompts.jsonl", "cases": 4, "lines": [1, 2, 3, 4]},
        "shard": null,
        "repeat": {"runs": 2, "min_pass": 1, "flaky": 1},
        "baseline": {"file": "base/results.jsonl", "regressed": 1, "fixed": 0, "passing": 2, "failing": 1, "new": 0, "missing": 0,
            "pass_rate_delta": -0.25, "tokens_delta": 3, "p50_ms_delta": -10, "p95_ms_delta": 5,
            "reference": {"cases": 4, "pass_rate": 0.75, "tokens": 21, "p50_ms": 110, "p95_ms": 95}},
        // Relative to the summary's folder; the comment finds it there.
        "results_file": "results.jsonl", "junit_file": null, "report_file": "report.html",
        "started_at": "2026-01-01T00:00:00Z", "finished_at": "2026-01-01T00:00:01Z"
    });
    fs_err::write(out.join("summary.json"), summary.to_string()).unwrap();
}

fn event(dir: &Path, head: &str) -> std::path::PathBuf {
    let path = dir.join("event.json");
    fs_err::write(
        &path,
        json!({
            "action": "synchronize", "number": 7,
            "pull_request": {"number": 7, "head": {"repo": {"full_name": head}}, "base": {"repo": {"full_name": "octo/repo"}}}
        })
        .to_string(),
    )
    .unwrap();
    path
}

/// `aigne-ci comment --out-dir out` as a `pull_request` job of workflow `CI`, job `eval`.
fn comment(dir: &Path, api_url: &str, event_name: &str) -> common::Ran {
    let event_path = event(dir, "octo/repo");
    let mut command = common::command(dir);
    command
        .args(["comment", "--out-dir", "out"])
        .env("GITHUB_API_URL", api_url)
        .env("GITHUB_REPOSITORY", "octo/repo")
        .env("GITHUB_EVENT_NAME", event_name)
        .env("GITHUB_EVENT_PATH", &event_path)
        .env("GITHUB_TOKEN", TOKEN)
        .env("GITHUB_WORKFLOW", "CI")
        .env("GITHUB_JOB", "eval")
        .env("GITHUB_SERVER_URL", "https://github.example")
        .env("GITHUB_RUN_ID", "4242");
    let ran = common::run(&mut command);
    assert_no_token(&ran);
    ran
}

/// The token appears nowhere but in the `::add-mask::` command that hides it in the log.
#[track_caller]
fn assert_no_token(ran: &common::Ran) {
    let stderr: String = ran
        .stderr
        .lines()
        .filter(|line| *line != format!("::add-mask::{TOKEN}"))
        .collect::<Vec<_>>()
        .join("\n");
    for (name, text) in [("stdout", &ran.stdout), ("stderr", &stderr)] {
        assert!(!text.contains(TOKEN), "the token is in {name}: {text}");
        assert!(
            !text.contains("fakeTokenValue"),
            "part of the token is in {name}: {text}"
        );
    }
}

const MARKER: &str = "<!-- aigne-ci:comment workflow=CI job=eval -->";

#[test]
fn first_run_creates_the_comment_and_a_rerun_edits_it() {
    let dir = tempfile::tempdir().unwrap();
    out_dir(dir.path());
    let github = FakeGithub::start(Behaviour::default(), Vec::new());

    let ran = comment(dir.path(), &github.api_url, "pull_request");
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    let printed: Value = serde_json::from_str(&ran.stdout).unwrap();
    assert_eq!(printed["comment"], "created", "{}", ran.stdout);
    let seen = github.seen();
    let calls: Vec<(String, String)> = seen
        .iter()
        .map(|seen| (seen.method.clone(), seen.target.clone()))
        .collect();
    assert_eq!(
        calls,
        [
            (
                "GET".to_owned(),
                "/repos/octo/repo/issues/7/comments?per_page=100".to_owned()
            ),
            (
                "POST".to_owned(),
                "/repos/octo/repo/issues/7/comments".to_owned()
            ),
        ]
    );
    for seen in &seen {
        assert_eq!(
            seen.authorization.as_deref(),
            Some(format!("Bearer {TOKEN}").as_str())
        );
    }
    let body = seen[1].body["body"].as_str().unwrap().to_owned();
    assert!(body.starts_with(MARKER), "{body}");
    for expected in [
        "aigne-ci: 2 of 4 passed (failure)",
        "| 4 | 2 | 1 | 1 | 0 | 0 | 50% | −25.0 pp |",
        "1 regressed · 0 fixed",
        "<details><summary>❌ Failing cases (2)</summary>",
        "<details><summary>🎲 Flaky cases (1)</summary>",
        "| 4 | flaky-4 | 1/2 |",
        "[workflow run](<https://github.example/octo/repo/actions/runs/4242>)",
        "2 runs per case, 1 must pass · 1 flaky",
    ] {
        assert!(
            body.contains(expected),
            "`{expected}` missing from:\n{body}"
        );
    }
    // Regressions first.
    let regressed = body.find("| 3 | weather-3 |").expect("the errored case");
    let failed = body.find("| 2 | hostile-2").expect("the failed case");
    assert!(regressed < failed, "{body}");
    assert_inert(&body);

    // A rerun: the same comment is edited, none is added.
    let ran = comment(dir.path(), &github.api_url, "pull_request");
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    let printed: Value = serde_json::from_str(&ran.stdout).unwrap();
    assert_eq!(printed["comment"], "updated", "{}", ran.stdout);
    let id = github.comments()[0].id;
    assert_eq!(printed["id"], id);
    let seen = github.seen();
    let calls: Vec<(String, String)> = seen[2..]
        .iter()
        .map(|seen| (seen.method.clone(), seen.target.clone()))
        .collect();
    assert_eq!(
        calls,
        [
            (
                "GET".to_owned(),
                "/repos/octo/repo/issues/7/comments?per_page=100".to_owned()
            ),
            (
                "PATCH".to_owned(),
                format!("/repos/octo/repo/issues/comments/{id}")
            ),
        ]
    );
    assert_eq!(github.comments().len(), 1);
    assert!(
        ran.stderr.contains("updated the pull-request comment"),
        "{}",
        ran.stderr
    );
}

/// No markup, mention, reference or link from case output survives; the token is masked.
#[track_caller]
fn assert_inert(body: &str) {
    // The case sections (the footer's run link is aigne-ci's own).
    let cases = &body[body.find("<details>").unwrap()..body.rfind("</details>").unwrap()];
    for forbidden in [
        "@octocat",
        "#1 ",
        "[click]",
        "](",
        "![",
        "<img",
        "</details></summary>",
        "https://evil",
        "www.evil",
        "**bold**",
        "`code`",
        TOKEN,
        "fakeTokenValue",
    ] {
        assert!(!cases.contains(forbidden), "`{forbidden}` in:\n{cases}");
    }
    // Each section closes once, where aigne-ci closes it, and opens with its own summary.
    assert_eq!(body.matches("</details>").count(), 2, "{body}");
    assert_eq!(body.matches("</summary>").count(), 2, "{body}");
    assert_eq!(body.matches("<details>").count(), 2, "{body}");
    // The escaped text is still there to read, and the masked token shows as masked.
    assert!(cases.contains("&#91;click&#93;"), "{cases}");
    assert!(cases.contains("token=&#42;&#42;&#42;&#42;"), "{cases}");
    // Every table row of the failing cases has its 6 cells (a `|` in the text did not add any).
    for row in cases.lines().filter(|line| line.starts_with("| 2 |")) {
        assert_eq!(row.matches(" | ").count(), 5, "{row}");
    }
}

#[test]
fn the_marker_is_found_on_a_later_page_of_github_enterprise() {
    let dir = tempfile::tempdir().unwrap();
    out_dir(dir.path());
    let others = |id: u64| Comment {
        id,
        body: format!("LGTM {id}"),
    };
    let github = FakeGithub::start(
        Behaviour {
            prefix: "/api/v3".to_owned(),
            page_size: 2,
            ..Behaviour::default()
        },
        vec![
            others(1),
            // Another job's comment, and a quote of ours: neither is this job's.
            Comment {
                id: 2,
                body: "<!-- aigne-ci:comment workflow=CI job=other -->\nold".to_owned(),
            },
            Comment {
                id: 3,
                body: format!("> {MARKER}\nquoted"),
            },
            Comment {
                id: 4,
                body: format!("{MARKER}\nold results"),
            },
            others(5),
        ],
    );
    let ran = comment(dir.path(), &github.api_url, "pull_request_target");
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    let calls: Vec<(String, String)> = github
        .seen()
        .iter()
        .map(|seen| (seen.method.clone(), seen.target.clone()))
        .collect();
    assert_eq!(
        calls,
        [
            (
                "GET".to_owned(),
                "/api/v3/repos/octo/repo/issues/7/comments?per_page=100".to_owned()
            ),
            (
                "GET".to_owned(),
                "/api/v3/repos/octo/repo/issues/7/comments?per_page=100&page=2".to_owned()
            ),
            (
                "PATCH".to_owned(),
                "/api/v3/repos/octo/repo/issues/comments/4".to_owned()
            ),
        ]
    );
    let comments = github.comments();
    assert_eq!(comments.len(), 5);
    assert!(comments[3].body.contains("aigne-ci: 2 of 4 passed"));
    assert_eq!(
        comments[1].body,
        "<!-- aigne-ci:comment workflow=CI job=other -->\nold"
    );
}

#[test]
fn events_without_a_pull_request_and_forks_are_notices_without_a_request() {
    let dir = tempfile::tempdir().unwrap();
    out_dir(dir.path());
    let github = FakeGithub::start(Behaviour::default(), Vec::new());
    let ran = comment(dir.path(), &github.api_url, "push");
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    assert!(
        ran.stderr
            .contains("aigne-ci: notice: not a pull request event (`push`)"),
        "{}",
        ran.stderr
    );
    assert_eq!(
        serde_json::from_str::<Value>(&ran.stdout).unwrap()["comment"],
        "skipped"
    );

    // A fork's `pull_request`: its token is read-only.
    let event_path = event(dir.path(), "someone/repo");
    let mut command = common::command(dir.path());
    command
        .args(["comment", "--out-dir", "out"])
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_API_URL", &github.api_url)
        .env("GITHUB_REPOSITORY", "octo/repo")
        .env("GITHUB_EVENT_NAME", "pull_request")
        .env("GITHUB_EVENT_PATH", &event_path)
        .env("GITHUB_TOKEN", TOKEN);
    let ran = common::run(&mut command);
    assert_no_token(&ran);
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    assert!(
        ran.stderr
            .contains("::notice title=aigne-ci::pull request #7 comes from a fork (someone/repo)"),
        "{}",
        ran.stderr
    );
    assert!(github.seen().is_empty(), "{:?}", github.seen());
}

#[test]
fn a_token_that_may_not_write_is_a_notice() {
    let dir = tempfile::tempdir().unwrap();
    out_dir(dir.path());
    let github = FakeGithub::start(
        Behaviour {
            forbidden: true,
            ..Behaviour::default()
        },
        Vec::new(),
    );
    let ran = comment(dir.path(), &github.api_url, "pull_request");
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    assert!(
        ran.stderr
            .contains("403 Forbidden: Resource not accessible by integration")
            && ran.stderr.contains("`permissions: pull-requests: write`"),
        "{}",
        ran.stderr
    );
    assert_eq!(github.seen().len(), 1, "a 403 is not retried");
    assert!(github.comments().is_empty());
}

#[test]
fn a_lost_creation_answer_is_not_a_second_comment() {
    let dir = tempfile::tempdir().unwrap();
    out_dir(dir.path());
    let github = FakeGithub::start(
        Behaviour {
            lost_creations: 1,
            ..Behaviour::default()
        },
        Vec::new(),
    );
    let ran = comment(dir.path(), &github.api_url, "pull_request");
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    let methods: Vec<String> = github
        .seen()
        .iter()
        .map(|seen| seen.method.clone())
        .collect();
    assert_eq!(methods, ["GET", "POST", "GET", "PATCH"], "{}", ran.stderr);
    assert_eq!(github.comments().len(), 1);
    assert!(
        ran.stderr
            .contains("creating the comment failed (502 Bad Gateway)"),
        "{}",
        ran.stderr
    );
}

#[test]
fn api_errors_and_missing_results_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    // No summary: exit 2 with a hint, before any request.
    let github = FakeGithub::start(Behaviour::default(), Vec::new());
    let ran = comment(dir.path(), &github.api_url, "pull_request");
    assert_eq!(ran.code, Some(2), "{}", ran.stderr);
    assert!(
        ran.stderr.contains("error: cannot read the summary"),
        "{}",
        ran.stderr
    );
    assert!(
        ran.stderr.contains("hint: run `aigne-ci comment` after"),
        "{}",
        ran.stderr
    );
    assert!(github.seen().is_empty());

    // An API that is not there (a GitHub Enterprise URL without `/api/v3`): 404 is an error.
    out_dir(dir.path());
    let github = FakeGithub::start(
        Behaviour {
            prefix: "/api/v3".to_owned(),
            ..Behaviour::default()
        },
        Vec::new(),
    );
    let wrong = github.api_url.trim_end_matches("/api/v3").to_owned();
    let ran = comment(dir.path(), &wrong, "pull_request");
    assert_eq!(ran.code, Some(2), "{}", ran.stderr);
    assert!(
        ran.stderr
            .contains("GitHub API: cannot list the comments: 404 Not Found"),
        "{}",
        ran.stderr
    );
}
