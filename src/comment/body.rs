//! The comment's Markdown: a hidden marker naming the workflow and job (so a rerun finds and
//! edits its own comment), the counts and pass rate, Δ vs the baseline, the policy, the failing
//! and flaky cases in collapsed `<details>`, and a link to the run.
//!
//! Every text that comes from the run (ids, agents, reasons, outputs: model text) was masked
//! first and is written with [`inert`]: the step summary's [`cell`] escaping (no code span,
//! emphasis, link, image, HTML tag or table break can start) plus what only a comment needs, as
//! GitHub acts on comments: no `@name` mention, no `#123` reference and no bare URL autolink can
//! form (a zero-width space breaks each), so model output cannot notify people or link issues.

use crate::batch::CaseStatus;
use crate::batch::policy::percent;
use crate::report::baseline::BaselineStatus;
use crate::report::github::{cell, code_span};
use crate::report::{Brief, Summary};

/// GitHub refuses a comment body over 65,536 characters; the body stays under this many bytes.
pub const BODY_BUDGET: usize = 60_000;

/// Longest reason or output excerpt shown for one case (characters).
const DETAIL_CHARS: usize = 200;

/// The hidden marker of the comment of `workflow`'s `job`: an HTML comment (not rendered) whose
/// values are percent-encoded, so no name can end it early.
pub fn marker(workflow: &str, job: &str) -> String {
    let encode =
        |text: &str| url::form_urlencoded::byte_serialize(text.as_bytes()).collect::<String>();
    format!(
        "<!-- aigne-ci:comment workflow={} job={} -->",
        encode(workflow),
        encode(job)
    )
}

/// Untrusted text shown as it is in a comment (see the module's notes).
pub fn inert(text: &str) -> String {
    const ZWSP: &str = "&#8203;";
    let escaped = cell(text);
    let mut out = String::with_capacity(escaped.len() + 16);
    let mut rest = escaped.as_str();
    while let Some(character) = rest.chars().next() {
        let len = character.len_utf8();
        let lower = rest.get(..4).map(str::to_ascii_lowercase);
        match character {
            // `@name` would mention (and notify) someone; `#12` would link an issue.
            '@' | '#' => {
                out.push(character);
                // `&#…;` written by `cell` is an entity, not a reference: keep it whole.
                if !(character == '#' && out.ends_with("&#")) {
                    out.push_str(ZWSP);
                }
            }
            // `http://…` and `www.…` would become links (and backlink issues they name).
            ':' if rest.starts_with("://") => {
                out.push(':');
                out.push_str(ZWSP);
            }
            'w' | 'W' if lower.as_deref() == Some("www.") => {
                out.push_str(&rest[..3]);
                out.push_str(ZWSP);
                rest = &rest[3..];
                continue;
            }
            _ => out.push(character),
        }
        rest = &rest[len..];
    }
    out
}

/// What the comment shows of a run.
pub struct Content<'a> {
    pub summary: &'a Summary,
    /// Cases that failed, errored or were flaky (masked).
    pub cases: &'a [Brief],
    /// The run's page (`GITHUB_SERVER_URL/GITHUB_REPOSITORY/actions/runs/GITHUB_RUN_ID`).
    pub run_url: Option<&'a str>,
    /// The marker ([`marker`]).
    pub marker: &'a str,
}

/// The comment's Markdown, within [`BODY_BUDGET`] bytes.
pub fn render(content: &Content<'_>) -> String {
    let summary = content.summary;
    let icon = match summary.conclusion.as_str() {
        "success" => "✅",
        "cancelled" | "timed_out" => "⚠️",
        _ => "❌",
    };
    let mut text = format!("{}\n", content.marker);
    text.push_str(&format!(
        "### {icon} aigne-ci: {} of {} passed ({})\n\n",
        summary.counts.passed,
        summary.counts.total,
        inert(&summary.conclusion)
    ));
    let delta = summary
        .baseline
        .as_ref()
        .and_then(|baseline| baseline.pass_rate_delta)
        .map(signed_points);
    text.push_str("| total | passed | failed | errored | skipped | not run | pass rate |");
    if delta.is_some() {
        text.push_str(" Δ pass rate |");
    }
    text.push_str("\n|---:|---:|---:|---:|---:|---:|---:|");
    if delta.is_some() {
        text.push_str("---:|");
    }
    text.push_str(&format!(
        "\n| {} | {} | {} | {} | {} | {} | {} |",
        summary.counts.total,
        summary.counts.passed,
        summary.counts.failed,
        summary.counts.errored,
        summary.counts.skipped,
        summary.counts.not_run,
        summary
            .pass_rate
            .map(percent)
            .unwrap_or_else(|| "–".to_owned()),
    ));
    if let Some(delta) = &delta {
        text.push_str(&format!(" {delta} |"));
    }
    text.push_str("\n\n");
    if let Some(baseline) = &summary.baseline {
        text.push_str(&format!(
            "**Δ vs baseline** {}: {} regressed · {} fixed · {} passing · {} failing · {} new · {} missing · tokens {} · p50 {} ms\n\n",
            code_span(&inert_path(&baseline.file)),
            baseline.regressed,
            baseline.fixed,
            baseline.passing,
            baseline.failing,
            baseline.new,
            baseline.missing,
            signed(baseline.tokens_delta),
            signed(baseline.p50_ms_delta),
        ));
    }
    if let Some(repeat) = summary.repeat {
        text.push_str(&format!(
            "**Repeat**: {} runs per case, {} must pass · {} flaky\n\n",
            repeat.runs, repeat.min_pass, repeat.flaky
        ));
    }
    if !summary.policy.holds {
        text.push_str(&format!(
            "**Policy** (`--fail-on {}`{}) does not hold: {}\n\n",
            inert(&summary.policy.fail_on),
            summary
                .policy
                .min_pass_rate
                .map(|rate| format!(", `--min-pass-rate {rate}`"))
                .unwrap_or_default(),
            inert(&crate::text::excerpt(
                &summary.policy.reasons.join("; "),
                1000
            ))
        ));
    }

    let footer = footer(content);
    let mut failing: Vec<&Brief> = content
        .cases
        .iter()
        .filter(|brief| matches!(brief.status, CaseStatus::Failed | CaseStatus::Errored))
        .collect();
    // Regressions first: they are what the pull request broke.
    failing.sort_by_key(|brief| {
        (
            brief.baseline != Some(BaselineStatus::Regressed),
            brief.line,
        )
    });
    let mut flaky: Vec<&Brief> = content.cases.iter().filter(|brief| brief.flaky).collect();
    flaky.sort_by_key(|brief| brief.line);

    // The flaky list is short and goes in whole unless the budget is tiny; the failing table
    // gets what is left.
    let flaky_section = (!flaky.is_empty()).then(|| {
        section(
            &format!("🎲 Flaky cases ({})", flaky.len()),
            "| line | id | runs passed |\n|---:|---|---:|\n",
            flaky.iter().map(|brief| {
                let (passed, runs) = brief.runs_passed.unwrap_or((0, 0));
                format!(
                    "| {} | {} | {passed}/{runs} |\n",
                    brief.line,
                    inert(&crate::text::excerpt(&brief.id, DETAIL_CHARS))
                )
            }),
            BODY_BUDGET / 4,
        )
    });
    if !failing.is_empty() {
        let used = text.len() + footer.len() + flaky_section.as_ref().map_or(0, String::len);
        text.push_str(&section(
            &format!("❌ Failing cases ({})", failing.len()),
            "| line | id | agent | status | why | output |\n|---:|---|---|---|---|---|\n",
            failing.iter().map(|brief| {
                format!(
                    "| {} | {} | {} | {}{} | {} | {} |\n",
                    brief.line,
                    inert(&crate::text::excerpt(&brief.id, DETAIL_CHARS)),
                    inert(&crate::text::excerpt(&brief.agent, DETAIL_CHARS)),
                    brief.status.as_str(),
                    inert(&brief.tags()),
                    inert(&crate::text::excerpt(
                        brief.detail.as_deref().unwrap_or(""),
                        DETAIL_CHARS
                    )),
                    inert(&crate::text::excerpt(
                        brief.output_excerpt.as_deref().unwrap_or(""),
                        DETAIL_CHARS
                    )),
                )
            }),
            BODY_BUDGET.saturating_sub(used),
        ));
    }
    if let Some(flaky_section) = flaky_section {
        text.push_str(&flaky_section);
    }
    text.push_str(&footer);
    text
}

/// A collapsed `<details>` with a table: as many rows as fit in `budget` bytes, then a line
/// saying how many were left out.
fn section(
    title: &str,
    head: &str,
    rows: impl ExactSizeIterator<Item = String>,
    budget: usize,
) -> String {
    let total = rows.len();
    let open = format!("<details><summary>{title}</summary>\n\n{head}");
    let close = "\n</details>\n\n";
    let left_out =
        |left: usize| format!("\n_… {left} more in `results.jsonl` and `report.html`_\n");
    let mut text = open;
    for (index, row) in rows.enumerate() {
        let left = total - index;
        if text.len() + row.len() + left_out(left).len() + close.len() > budget {
            text.push_str(&left_out(left));
            text.push_str(close);
            return text;
        }
        text.push_str(&row);
    }
    text.push_str(close);
    text
}

fn footer(content: &Content<'_>) -> String {
    let summary = content.summary;
    let mut parts = Vec::new();
    if let Some(url) = content.run_url {
        parts.push(format!("[workflow run](<{url}>) (`report.html` and `results.jsonl` are where the workflow uploads them)"));
    }
    parts.push(format!("engine {}", inert(&summary.engine)));
    if let Some(model) = &summary.model {
        parts.push(format!("model {}", inert(model)));
    }
    parts.push(format!("aigne-ci {}", inert(&summary.aigne_ci_version)));
    format!("<sub>{}</sub>\n", parts.join(" · "))
}

/// A path inside a code span (its own escaping): only line breaks go.
fn inert_path(path: &str) -> String {
    crate::text::one_line(path).into_owned()
}

fn signed(value: i64) -> String {
    if value > 0 {
        format!("+{value}")
    } else {
        value.to_string()
    }
}

/// `+5.0 pp`, `−2.5 pp`.
fn signed_points(delta: f64) -> String {
    let points = (delta * 1000.0).round() / 10.0;
    if points > 0.0 {
        format!("+{points:.1} pp")
    } else if points < 0.0 {
        format!("−{:.1} pp", -points)
    } else {
        "±0.0 pp".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_cannot_be_closed_by_names() {
        assert_eq!(
            marker("CI", "eval"),
            "<!-- aigne-ci:comment workflow=CI job=eval -->"
        );
        let hostile = marker("a --> <b>", "x\ny");
        assert_eq!(hostile.matches("-->").count(), 1, "{hostile}");
        assert!(
            !hostile.contains('\n') && !hostile.contains("<b>"),
            "{hostile}"
        );
        assert_ne!(marker("a", "b c"), marker("a b", "c"));
    }

    #[test]
    fn inert_text_cannot_mention_link_or_mark_up() {
        let hostile = "@octocat see #12 at https://evil.example/x and www.evil.example ![i](http://x/y.png) [a](b) <img src=x> </details> | `c` *e*";
        let text = inert(hostile);
        for forbidden in [
            "@octocat",
            "#12 at",
            "https://",
            "http://",
            "www.",
            "![",
            "](",
            "<img",
            "</details>",
            "|",
            "`",
            "*e*",
        ] {
            assert!(!text.contains(forbidden), "`{forbidden}` in {text}");
        }
        // Entities written by the escaping stay whole.
        assert!(text.contains("&#91;a&#93;"), "{text}");
        assert_eq!(inert("plain text, 42%"), "plain text, 42%");
        assert_eq!(signed_points(-0.1), "−10.0 pp");
        assert_eq!(signed_points(0.05), "+5.0 pp");
    }
}
