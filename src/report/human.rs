//! What a person reads on stderr: progress while the run goes (an indicatif bar on a terminal,
//! a plain line now and then otherwise) and the summary at the end.

use std::fmt::Write as _;
use std::io::Write;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use crate::batch::policy::percent;
use crate::batch::{CaseStatus, StopReason};

use super::Brief;
use super::summary::Summary;
use crate::text::{neutralize, one_line};

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressMode {
    /// An indicatif bar (stderr is a terminal).
    Bar,
    /// A plain line every 10% of the cases or every 15 seconds.
    Lines,
    /// Nothing.
    Off,
}

/// Cases listed in the summary at most.
const MAX_LISTED: usize = 20;

/// Progress of a run.
pub struct Progress {
    mode: ProgressMode,
    bar: Option<ProgressBar>,
    total: usize,
    done: usize,
    not_passed: usize,
    started: Instant,
    last_line: Instant,
    next_step: usize,
}

impl Progress {
    /// Progress in this mode.
    pub fn new(mode: ProgressMode) -> Self {
        let now = Instant::now();
        Self {
            mode,
            bar: None,
            total: 0,
            done: 0,
            not_passed: 0,
            started: now,
            last_line: now,
            next_step: 0,
        }
    }

    /// The run starts with `total` cases.
    pub fn start(&mut self, total: usize) {
        self.total = total;
        self.started = Instant::now();
        self.last_line = self.started;
        self.next_step = step(total);
        if self.mode == ProgressMode::Bar {
            let bar = ProgressBar::new(total as u64);
            let style = ProgressStyle::with_template(
                "{bar:30} {pos}/{len} cases · {msg} · {elapsed} (eta {eta})",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar());
            bar.set_style(style);
            bar.set_message("0 not passed");
            self.bar = Some(bar);
        }
    }

    /// A case ended.
    pub fn case(&mut self, status: CaseStatus) {
        self.done += 1;
        if !matches!(status, CaseStatus::Passed) {
            self.not_passed += 1;
        }
        match self.mode {
            ProgressMode::Bar => {
                if let Some(bar) = &self.bar {
                    bar.set_message(format!("{} not passed", self.not_passed));
                    bar.inc(1);
                }
            }
            ProgressMode::Lines => {
                let now = Instant::now();
                if self.done >= self.next_step
                    || now.duration_since(self.last_line) >= Duration::from_secs(15)
                {
                    self.last_line = now;
                    while self.next_step <= self.done {
                        self.next_step += step(self.total);
                    }
                    let elapsed = self.started.elapsed();
                    let eta = if self.done > 0 && self.total > self.done {
                        let each = elapsed.as_secs_f64() / self.done as f64;
                        format!(
                            ", eta {}s",
                            (each * (self.total - self.done) as f64).ceil() as u64
                        )
                    } else {
                        String::new()
                    };
                    eprint_line(&format!(
                        "aigne-ci: {}/{} cases done, {} not passed, {}s{eta}",
                        self.done,
                        self.total,
                        self.not_passed,
                        elapsed.as_secs()
                    ));
                }
            }
            ProgressMode::Off => {}
        }
    }

    /// A stop was asked.
    pub fn stopping(&mut self, reason: StopReason, in_flight: usize, grace: Duration) {
        let what = match reason {
            StopReason::Interrupted => "interrupted",
            StopReason::TotalTimeout => "total timeout reached",
        };
        let text = format!(
            "aigne-ci: {what}: no new cases; waiting up to {} for {in_flight} running",
            humantime::format_duration(grace)
        );
        match &self.bar {
            Some(bar) => bar.println(text),
            None if self.mode != ProgressMode::Off => eprint_line(&text),
            None => {}
        }
    }

    /// The run ended.
    pub fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

fn step(total: usize) -> usize {
    (total / 10).max(1)
}

/// Writes one line of text to stderr; no line of it can start a workflow command.
pub fn eprint_line(text: &str) {
    let mut stderr = std::io::stderr().lock();
    let _ = writeln!(stderr, "{}", crate::text::neutralize(text));
}

/// Writes text to stderr; no line of it can start a workflow command.
pub fn eprint(text: &str) {
    eprint_commands(&crate::text::neutralize(text));
}

/// Writes workflow commands built by aigne-ci (their data escaped, or wrapped in
/// `::stop-commands::`) to stderr as they are.
pub fn eprint_commands(text: &str) {
    let mut stderr = std::io::stderr().lock();
    let _ = stderr.write_all(text.as_bytes());
    let _ = stderr.flush();
}

/// The closing summary. `file` labels lines (`prompts.jsonl:3`). With `github`, the list of
/// cases (which quotes agent text) is a log group wrapped in `::stop-commands::`.
pub fn render(
    summary: &Summary,
    briefs: &[Brief],
    file: &str,
    summary_file: &str,
    github: bool,
    left_out_annotations: usize,
) -> String {
    // Lines that quote data (the model, file names, agent text) are neutralized; only the
    // commands built here (`::group::`, the `::stop-commands::` window, `::notice`) are not.
    let mut head = String::new();
    let counts = &summary.counts;
    let _ = writeln!(
        head,
        "aigne-ci: {} {} in {}: {} passed, {} failed, {} errored, {} skipped{}",
        counts.total,
        if counts.total == 1 { "case" } else { "cases" },
        humantime::format_duration(Duration::from_millis(summary.durations.wall_ms / 100 * 100)),
        counts.passed,
        counts.failed,
        counts.errored,
        counts.skipped,
        summary
            .pass_rate
            .map(|rate| format!(" (pass rate {})", percent(rate)))
            .unwrap_or_default()
    );
    let _ = writeln!(
        head,
        "tokens: {} in, {} out{}",
        summary.tokens.input_tokens,
        summary.tokens.output_tokens,
        summary
            .model
            .as_ref()
            .map(|model| format!(" · model {}", one_line(model)))
            .unwrap_or_default()
    );
    if let Some(judge) = summary.tokens.judge {
        let _ = writeln!(
            head,
            "judge tokens: {} in, {} out",
            judge.input_tokens, judge.output_tokens
        );
    }
    if let Some(repeat) = summary.repeat {
        let _ = writeln!(
            head,
            "repeat: {} runs per case, {} must pass · {} flaky",
            repeat.runs, repeat.min_pass, repeat.flaky
        );
    }
    if let Some(baseline) = &summary.baseline {
        let _ = writeln!(
            head,
            "baseline: {}",
            one_line(&super::github::baseline_line(baseline))
        );
    }
    let mut text = neutralize(&head).into_owned();
    let mut not_passed: Vec<&Brief> = briefs
        .iter()
        .filter(|brief| brief.status != CaseStatus::Passed)
        .collect();
    not_passed.sort_by_key(|brief| brief.line);
    if !not_passed.is_empty() {
        let mut list = String::new();
        for brief in not_passed.iter().take(MAX_LISTED) {
            let _ = writeln!(
                list,
                "  {file}:{} `{}` {}{}: {}",
                brief.line,
                brief.id,
                brief.status.as_str(),
                brief.tags(),
                brief.detail.as_deref().unwrap_or("")
            );
            if let Some(output) = &brief.output_excerpt {
                let _ = writeln!(list, "    output: {output}");
            }
        }
        if not_passed.len() > MAX_LISTED {
            let _ = writeln!(
                list,
                "  … and {} more (see `{}`)",
                not_passed.len() - MAX_LISTED,
                summary.results_file
            );
        }
        if github {
            let _ = writeln!(text, "::group::{} cases did not pass", not_passed.len());
            text.push_str(&super::github::stop_commands(&list));
            let _ = writeln!(text, "::endgroup::");
            if left_out_annotations > 0 {
                let _ = writeln!(
                    text,
                    "::notice title=aigne-ci::{left_out_annotations} more failed or errored cases are not annotated (GitHub shows 10); see {}",
                    super::github::escape_data(&summary.results_file)
                );
            }
        } else {
            let _ = writeln!(text, "cases that did not pass:");
            text.push_str(&neutralize(&list));
        }
    }
    let mut tail = String::new();
    if counts.not_run > 0 {
        let _ = writeln!(tail, "not run: {} cases (the run stopped)", counts.not_run);
    }
    match summary.conclusion.as_str() {
        "cancelled" => {
            let _ = writeln!(tail, "run interrupted: results so far are written");
        }
        "timed_out" => {
            let _ = writeln!(tail, "total timeout reached: results so far are written");
        }
        _ if !summary.policy.holds => {
            let _ = writeln!(
                tail,
                "policy does not hold (`--fail-on {}`): {}",
                summary.policy.fail_on,
                summary.policy.reasons.join("; ")
            );
        }
        _ => {}
    }
    let _ = writeln!(tail, "results: {}", summary.results_file);
    let _ = writeln!(tail, "summary: {summary_file}");
    if let Some(junit) = &summary.junit_file {
        let _ = writeln!(tail, "junit: {junit}");
    }
    if let Some(report) = &summary.report_file {
        let _ = writeln!(tail, "report: {report}");
    }
    text.push_str(&neutralize(&tail));
    text
}
