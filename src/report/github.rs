//! GitHub Actions: workflow commands on stderr (masks, groups, annotations, stop-commands),
//! step outputs in `$GITHUB_OUTPUT` and the Markdown step summary in `$GITHUB_STEP_SUMMARY`.
//!
//! Workflow commands go to stderr (the runner reads commands from both streams) so stdout stays
//! data. Every `$GITHUB_OUTPUT` value is written as `key<<DELIM` … `DELIM` with a fresh random
//! delimiter checked against the value (a fixed `EOF` lets model text inject outputs). Agent
//! text echoed in the log is wrapped in `::stop-commands::TOKEN` … `::TOKEN::`.

use std::io::Write;
use std::path::Path;

use crate::batch::CaseStatus;
use crate::batch::policy::percent;

use super::Brief;
use super::baseline::{BaselineStatus, BaselineSummary};
use super::summary::Summary;

/// GitHub shows at most 10 error annotations per step.
pub const MAX_ANNOTATIONS: usize = 10;

/// Budget of our step summary (GitHub's limit is 1 MiB per step).
pub const STEP_SUMMARY_BUDGET: usize = 1024 * 1024 - 4096;

/// A random token: 16 bytes of hex.
pub fn random_token() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}

/// `::add-mask::` lines for every secret (one per line of a multi-line secret).
pub fn mask_commands(secrets: &[String]) -> String {
    secrets
        .iter()
        .flat_map(|secret| secret.lines())
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(|line| format!("::add-mask::{}\n", escape_data(line)))
        .collect()
}

/// Escapes a workflow-command data value.
pub fn escape_data(value: &str) -> String {
    crate::text::escape_workflow_data(value)
}

/// Escapes a workflow-command property value (also `:` and `,`).
pub fn escape_property(value: &str) -> String {
    escape_data(value).replace(':', "%3A").replace(',', "%2C")
}

/// Wraps untrusted text so the runner executes no command in it.
pub fn stop_commands(text: &str) -> String {
    let mut token = random_token();
    while text.contains(&token) {
        token = random_token();
    }
    let mut wrapped = format!("::stop-commands::{token}\n{text}");
    if !text.ends_with('\n') {
        wrapped.push('\n');
    }
    wrapped.push_str(&format!("::{token}::\n"));
    wrapped
}

/// `::error file=…,line=…::` for the first [`MAX_ANNOTATIONS`] failed or errored cases (file
/// order), `::warning` for skipped lines (same cap); returns the commands and how many cases
/// were left out.
pub fn annotations(file: Option<&str>, briefs: &[Brief]) -> (String, usize) {
    let mut text = String::new();
    let mut bad: Vec<&Brief> = briefs
        .iter()
        .filter(|brief| matches!(brief.status, CaseStatus::Failed | CaseStatus::Errored))
        .collect();
    // Regressions first: they are what a pull request broke.
    bad.sort_by_key(|brief| {
        (
            brief.baseline != Some(BaselineStatus::Regressed),
            brief.line,
        )
    });
    let mut skipped: Vec<&Brief> = briefs
        .iter()
        .filter(|brief| brief.status == CaseStatus::Skipped)
        .collect();
    skipped.sort_by_key(|brief| brief.line);
    let location = |brief: &Brief| match file {
        Some(file) => format!("file={},line={},", escape_property(file), brief.line),
        None => String::new(),
    };
    for brief in bad.iter().take(MAX_ANNOTATIONS) {
        let title = if brief.baseline == Some(BaselineStatus::Regressed) {
            format!(
                "aigne-ci: case `{}` regressed ({}; passed in the baseline)",
                brief.id,
                brief.status.as_str()
            )
        } else {
            format!("aigne-ci: case `{}` {}", brief.id, brief.status.as_str())
        };
        text.push_str(&format!(
            "::error {}title={}::{}\n",
            location(brief),
            escape_property(&title),
            escape_data(brief.detail.as_deref().unwrap_or(brief.status.as_str()))
        ));
    }
    for brief in skipped.iter().take(MAX_ANNOTATIONS) {
        text.push_str(&format!(
            "::warning {}title={}::{}\n",
            location(brief),
            escape_property("aigne-ci: malformed entry skipped"),
            escape_data(brief.detail.as_deref().unwrap_or("skipped"))
        ));
    }
    (text, bad.len().saturating_sub(MAX_ANNOTATIONS))
}

/// Appends `key<<DELIM\nvalue\nDELIM\n` for every pair.
pub fn write_outputs(path: &Path, pairs: &[(&str, String)]) -> std::io::Result<()> {
    let mut text = String::new();
    for (key, value) in pairs {
        let mut delimiter = format!("ghadelimiter_{}", random_token());
        while value.contains(&delimiter) || key.contains(&delimiter) {
            delimiter = format!("ghadelimiter_{}", random_token());
        }
        text.push_str(&format!("{key}<<{delimiter}\n{value}\n{delimiter}\n"));
    }
    append(path, &text)
}

/// Appends text to a file (creating it).
pub fn append(path: &Path, text: &str) -> std::io::Result<()> {
    let mut file = fs_err::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    file.write_all(text.as_bytes())?;
    file.flush()
}

/// The step outputs of a run, named as [`super::step_outputs::STEP_OUTPUTS`] lists them.
pub fn outputs(summary: &Summary, summary_file: &Path) -> Vec<(&'static str, String)> {
    use super::step_outputs as names;
    let optional = |value: &Option<String>| value.clone().unwrap_or_default();
    vec![
        (names::RESULTS_FILE, summary.results_file.clone()),
        (names::SUMMARY_FILE, summary_file.display().to_string()),
        (names::REPORT_FILE, optional(&summary.report_file)),
        (names::TOTAL, summary.counts.total.to_string()),
        (names::PASSED, summary.counts.passed.to_string()),
        (names::FAILED, summary.counts.failed.to_string()),
        (names::ERRORED, summary.counts.errored.to_string()),
        (
            names::PASS_RATE,
            summary
                .pass_rate
                .map(|rate| format!("{rate:.4}"))
                .unwrap_or_default(),
        ),
        (names::INPUT_TOKENS, summary.tokens.input_tokens.to_string()),
        (
            names::OUTPUT_TOKENS,
            summary.tokens.output_tokens.to_string(),
        ),
        (
            names::CACHE_HIT,
            summary
                .project
                .cache_hit
                .map(|hit| hit.to_string())
                .unwrap_or_default(),
        ),
        (names::CACHE_KEY, optional(&summary.project.cache_key)),
        (names::PROJECT_SHA256, optional(&summary.project.sha256)),
        (names::CONCLUSION, summary.conclusion.clone()),
        (
            names::FLAKY,
            summary
                .repeat
                .map(|repeat| repeat.flaky.to_string())
                .unwrap_or_default(),
        ),
        (
            names::REGRESSED,
            summary
                .baseline
                .as_ref()
                .map(|baseline| baseline.regressed.to_string())
                .unwrap_or_default(),
        ),
        (
            names::FIXED,
            summary
                .baseline
                .as_ref()
                .map(|baseline| baseline.fixed.to_string())
                .unwrap_or_default(),
        ),
    ]
}

/// `2 regressed, 1 fixed, 10 passing, 3 failing, 1 new, 0 missing · pass rate −5.0 pp · …`
pub fn baseline_line(baseline: &BaselineSummary) -> String {
    let signed = |value: i64| {
        if value > 0 {
            format!("+{value}")
        } else {
            value.to_string()
        }
    };
    format!(
        "{} regressed, {} fixed, {} passing, {} failing, {} new, {} missing · pass rate {} · tokens {} · p50 {} ms · p95 {} ms (vs `{}`)",
        baseline.regressed,
        baseline.fixed,
        baseline.passing,
        baseline.failing,
        baseline.new,
        baseline.missing,
        baseline
            .pass_rate_delta
            .map(|delta| {
                let points = (delta * 1000.0).round() / 10.0;
                if points > 0.0 {
                    format!("+{points} pp")
                } else {
                    format!("{points} pp")
                }
            })
            .unwrap_or_else(|| "–".to_owned()),
        signed(baseline.tokens_delta),
        signed(baseline.p50_ms_delta),
        signed(baseline.p95_ms_delta),
        baseline.file
    )
}

/// Text shown as it is inside a Markdown table cell or after the start of a line: every
/// character that starts inline markup or HTML (`` ` ``, `*`, `_`, `~`, `$`, `[`, `]`, `<`, `>`,
/// `&`, `|`, `\`) is written as a numeric character reference, which GitHub's Markdown reads as
/// a literal character, never as markup (so no code span, emphasis, link, image, math or HTML
/// tag can start, and a `|` does not end the cell), and line breaks become spaces (a row stays
/// one row). A bare URL may still show as a link, with its own text.
pub fn cell(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '\r' | '\n' => escaped.push(' '),
            '\\' | '`' | '*' | '_' | '~' | '$' | '[' | ']' | '<' | '>' | '&' | '|' => {
                escaped.push_str(&format!("&#{};", u32::from(character)));
            }
            character => escaped.push(character),
        }
    }
    escaped
}

/// A Markdown code span showing `text` as it is: a fence of backticks longer than any run in
/// the text (padded with a space where the text starts or ends with one), line breaks as
/// spaces. Markup and HTML inside a code span are never rendered.
pub fn code_span(text: &str) -> String {
    let text = text.replace(['\r', '\n'], " ");
    let mut longest = 0;
    let mut run = 0;
    for character in text.chars() {
        if character == '`' {
            run += 1;
            longest = longest.max(run);
        } else {
            run = 0;
        }
    }
    let fence = "`".repeat(longest + 1);
    let pad = if text.starts_with('`') || text.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{text}{pad}{fence}")
}

/// The Markdown step summary, within `budget` bytes: totals, then one row per case that did not
/// pass (file order), then the passed ones, cut with a pointer to `results.jsonl`.
pub fn step_summary(summary: &Summary, briefs: &[Brief], budget: usize) -> String {
    let icon = match summary.conclusion.as_str() {
        "success" => "✅",
        "cancelled" | "timed_out" => "⚠️",
        _ => "❌",
    };
    let mut text = format!(
        "## {icon} aigne-ci: {} of {} passed ({})\n\n",
        summary.counts.passed, summary.counts.total, summary.conclusion
    );
    text.push_str("| total | passed | failed | errored | skipped | not run | pass rate | input tokens | output tokens | wall time |\n");
    text.push_str("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    text.push_str(&format!(
        "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n\n",
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
        summary.tokens.input_tokens,
        summary.tokens.output_tokens,
        humantime::format_duration(std::time::Duration::from_millis(summary.durations.wall_ms)),
    ));
    if let Some(judge) = summary.tokens.judge {
        text.push_str(&format!(
            "Judge tokens (apart from the agents'): {} in, {} out\n\n",
            judge.input_tokens, judge.output_tokens
        ));
    }
    if let Some(repeat) = summary.repeat {
        text.push_str(&format!(
            "Repeat: {} runs per case, {} must pass · **{} flaky**\n\n",
            repeat.runs, repeat.min_pass, repeat.flaky
        ));
    }
    if let Some(baseline) = &summary.baseline {
        text.push_str(&format!("Baseline: {}\n\n", cell(&baseline_line(baseline))));
    }
    if !summary.policy.holds {
        text.push_str(&format!(
            "Policy (`--fail-on {}`{}) does not hold: {}\n\n",
            summary.policy.fail_on,
            summary
                .policy
                .min_pass_rate
                .map(|rate| format!(", `--min-pass-rate {rate}`"))
                .unwrap_or_default(),
            cell(&summary.policy.reasons.join("; "))
        ));
    }
    let mut flaky: Vec<&Brief> = briefs.iter().filter(|brief| brief.flaky).collect();
    if !flaky.is_empty() {
        flaky.sort_by_key(|brief| brief.line);
        text.push_str(&format!("Flaky cases ({}): ", flaky.len()));
        let listed: Vec<String> = flaky
            .iter()
            .take(50)
            .map(|brief| {
                let (passed, runs) = brief.runs_passed.unwrap_or((0, 0));
                format!(
                    "{} (line {}, {passed}/{runs} passed)",
                    code_span(&brief.id),
                    brief.line
                )
            })
            .collect();
        text.push_str(&listed.join(", "));
        if flaky.len() > 50 {
            text.push_str(&format!(", … {} more", flaky.len() - 50));
        }
        text.push_str("\n\n");
    }
    let mut ordered: Vec<&Brief> = briefs.iter().collect();
    ordered.sort_by_key(|brief| {
        (
            brief.status == CaseStatus::Passed,
            brief.baseline != Some(BaselineStatus::Regressed),
            brief.line,
        )
    });
    if ordered.is_empty() {
        return text;
    }
    text.push_str("| line | id | agent | status | ms | details |\n|---:|---|---|---|---:|---|\n");
    let pointer = |left: usize| {
        format!(
            "\n_{left} more rows — see {}_\n",
            code_span(&summary.results_file)
        )
    };
    for (index, brief) in ordered.iter().enumerate() {
        let row = format!(
            "| {} | {} | {} | {}{} | {} | {} |\n",
            brief.line,
            cell(&brief.id),
            cell(&brief.agent),
            brief.status.as_str(),
            brief.tags(),
            brief.duration_ms,
            cell(brief.detail.as_deref().unwrap_or(""))
        );
        let left = ordered.len() - index;
        if text.len() + row.len() + pointer(left).len() > budget {
            text.push_str(&pointer(left));
            return text;
        }
        text.push_str(&row);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_commands_wraps_with_a_fresh_token() {
        let wrapped = stop_commands("::error::pwned");
        let lines: Vec<&str> = wrapped.lines().collect();
        let token = lines[0].strip_prefix("::stop-commands::").unwrap();
        assert_eq!(token.len(), 32);
        assert_eq!(lines[1], "::error::pwned");
        assert_eq!(lines[2], format!("::{token}::"));
    }

    #[test]
    fn markdown_cells_and_code_spans_show_text_as_it_is() {
        let hostile =
            "a`b` ![img](http://x/y.png) [link](http://x) <img src=x> | *e* \\ \n::error::x";
        let escaped = cell(hostile);
        for markup in ["`", "![", "](", "<img", "|", "*e*", "\n"] {
            assert!(!escaped.contains(markup), "{markup} in {escaped}");
        }
        assert!(
            escaped.starts_with("a&#96;b&#96; !&#91;img&#93;(http://x/y.png)"),
            "{escaped}"
        );
        assert_eq!(cell("plain text, 42%"), "plain text, 42%");
        assert_eq!(code_span("a.jsonl"), "`a.jsonl`");
        assert_eq!(code_span("a``b"), "```a``b```");
        assert_eq!(code_span("`x"), "`` `x ``");
    }

    #[test]
    fn properties_are_escaped() {
        assert_eq!(escape_property("a:b,c%\n"), "a%3Ab%2Cc%25%0A");
        assert_eq!(
            mask_commands(&["one\ntwo".to_owned()]),
            "::add-mask::one\n::add-mask::two\n"
        );
    }
}
