//! `aigne-ci merge RESULTS...`: joins the `results.jsonl` of shards into one, reports duplicate
//! and missing lines, rewrites the summary (and JUnit, GitHub files), applies the policy and
//! exits like `run`.
//!
//! A RESULTS argument is a `results.jsonl` file or a folder holding one. The `summary.json` next
//! to it (same folder), when there is one, gives the inputs' lines (to find missing ones), the
//! project, engine, model and wall time of the shard.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::batch::{Policy, StopReason};
use crate::cli::MergeArgs;
use crate::error::Error;
use crate::exit_status::ExitStatus;
use crate::report::{
    self, Collected, InputsInfo, ResultRecord, ResultsWriter, RunContext, Summary,
};
use crate::settings::Environment;

use crate::plan::ReportPlan;

/// Runs the command.
pub(crate) async fn run(args: MergeArgs, environment: Environment) -> Result<ExitStatus, Error> {
    let started_at = SystemTime::now();
    let redactor = environment.redactor(None);
    let report_plan = ReportPlan::resolve(&args.outputs, &environment, std::time::Duration::ZERO);
    let _outputs = report_plan.lock_outputs()?;
    if report_plan.github_enabled() {
        report::announce_masks(&redactor);
    }
    let mut by_line: BTreeMap<usize, ResultRecord> = BTreeMap::new();
    let mut duplicates: Vec<usize> = Vec::new();
    let mut summaries: Vec<Summary> = Vec::new();
    let mut merged_from = Vec::new();
    let mut transcript_sources: BTreeMap<String, PathBuf> = BTreeMap::new();
    for argument in &args.results {
        let argument = environment.absolute(argument);
        let results_path = if argument.is_dir() {
            argument.join("results.jsonl")
        } else {
            argument
        };
        merged_from.push(results_path.display().to_string());
        let shard_out_dir = results_path
            .parent()
            .unwrap_or(Path::new("."))
            .to_path_buf();
        for mut record in report::read_results(&results_path)? {
            // The shard's transcript comes along (`None` when the shard's file is gone).
            record.transcript = record
                .transcript
                .take()
                .filter(|relative| report::transcripts::read(&shard_out_dir, relative).is_some());
            if let Some(relative) = &record.transcript {
                transcript_sources
                    .entry(relative.clone())
                    .or_insert_with(|| shard_out_dir.join(relative));
            }
            match by_line.entry(record.line) {
                std::collections::btree_map::Entry::Occupied(_) => duplicates.push(record.line),
                std::collections::btree_map::Entry::Vacant(slot) => {
                    slot.insert(record);
                }
            }
        }
        let summary_path = sibling_summary(&results_path);
        if summary_path.is_file() {
            summaries.push(report::read_summary(&summary_path)?);
        }
    }
    duplicates.sort_unstable();
    duplicates.dedup();

    let mut expected_lines: Vec<usize> = summaries
        .iter()
        .flat_map(|summary| summary.inputs.lines.iter().copied())
        .collect();
    expected_lines.sort_unstable();
    expected_lines.dedup();
    let missing: Vec<usize> = expected_lines
        .iter()
        .copied()
        .filter(|line| !by_line.contains_key(line))
        .collect();

    let report_settings = report_plan.settings(
        redactor,
        summaries
            .first()
            .map(|summary| summary.inputs.file.clone())
            .filter(|file| !file.starts_with('<') && !file.starts_with("--")),
    );
    copy_transcripts(
        &mut by_line,
        &transcript_sources,
        &report_settings.out_dir,
        report_settings.transcripts,
    )?;
    let mut writer = ResultsWriter::create(&report_settings.results_path)?;
    let mut collected = Collected::default();
    for record in by_line.values() {
        writer
            .write(record, &report_settings.redactor)
            .map_err(|source| report::ReportError::Write {
                path: report_settings.results_path.clone(),
                source,
            })?;
        collected.add(record, &report_settings.redactor);
    }
    drop(writer);

    let first = summaries.first();
    let stopped = if summaries.iter().any(|summary| summary.cancelled) {
        Some(StopReason::Interrupted)
    } else if summaries.iter().any(|summary| summary.timed_out) {
        Some(StopReason::TotalTimeout)
    } else {
        None
    };
    let context = RunContext {
        project: first
            .map(|summary| summary.project.clone())
            .unwrap_or_default(),
        engine: first
            .map(|summary| summary.engine.clone())
            .unwrap_or_else(|| "unknown".to_owned()),
        engine_reason: first.and_then(|summary| summary.engine_reason.clone()),
        subprocesses: first
            .map(|summary| summary.subprocesses.clone())
            .unwrap_or_default(),
        model: first.and_then(|summary| summary.model.clone()),
        agent: first.and_then(|summary| summary.agent.clone()),
        inputs: InputsInfo {
            file: first
                .map(|summary| summary.inputs.file.clone())
                .unwrap_or_default(),
            cases: expected_lines.len().max(by_line.len()),
            lines: if expected_lines.is_empty() {
                by_line.keys().copied().collect()
            } else {
                expected_lines.clone()
            },
        },
        shard: None,
        policy: Policy {
            fail_on: args.policy.fail_on,
            min_pass_rate: args.policy.min_pass_rate,
        },
        started_at,
        // Repeats and the baseline as the shards ran them; the per-case fields come with the
        // records.
        repeat: summaries
            .iter()
            .find_map(|summary| summary.repeat)
            .map(|repeat| (repeat.runs, repeat.min_pass)),
        baseline: summaries
            .iter()
            .find_map(|summary| summary.baseline.as_ref())
            .map(|baseline| (baseline.file.clone(), baseline.reference)),
    };
    let not_run: usize = missing.len();
    let wall_ms = summaries
        .iter()
        .map(|summary| summary.durations.wall_ms)
        .max()
        .unwrap_or(0);
    let mut problems = Vec::new();
    if !duplicates.is_empty() {
        problems.push(format!(
            "{} {} more than once (first kept): {}",
            duplicates.len(),
            if duplicates.len() == 1 {
                "line appears"
            } else {
                "lines appear"
            },
            list(&duplicates)
        ));
    }
    if !missing.is_empty() {
        problems.push(format!(
            "{} {} of the inputs missing from the shards: {}",
            missing.len(),
            if missing.len() == 1 { "line" } else { "lines" },
            list(&missing)
        ));
    }
    if summaries.is_empty() {
        report::human::eprint_line(
            "aigne-ci: warning: no `summary.json` beside the results, so missing lines cannot be found",
        );
    }
    for problem in &problems {
        report::human::eprint_line(&format!("aigne-ci: warning: {problem}"));
    }
    let summary = report::publish_with_problems(
        &report_settings,
        &context,
        &collected,
        not_run,
        stopped,
        wall_ms,
        merged_from,
        problems,
    )?;
    Ok(match stopped {
        Some(StopReason::Interrupted) => ExitStatus::Interrupted,
        Some(StopReason::TotalTimeout) => ExitStatus::TotalTimeout,
        None if summary.policy.holds => ExitStatus::Success,
        None => ExitStatus::PolicyFailed,
    })
}

/// Copies each kept record's transcript from its shard into the merged out-dir (or drops the
/// field with `--transcripts off`).
fn copy_transcripts(
    records: &mut BTreeMap<usize, ResultRecord>,
    sources: &BTreeMap<String, PathBuf>,
    out_dir: &Path,
    enabled: bool,
) -> Result<(), Error> {
    for record in records.values_mut() {
        let Some(relative) = record.transcript.clone() else {
            continue;
        };
        let source = sources.get(&relative);
        if !enabled || source.is_none() {
            record.transcript = None;
            continue;
        }
        let target = out_dir.join(&relative);
        if let Some(source) = source
            && *source != target
        {
            let write_error = |source| report::ReportError::Write {
                path: target.clone(),
                source,
            };
            if let Some(folder) = target.parent() {
                fs_err::create_dir_all(folder).map_err(write_error)?;
                if fs_err::symlink_metadata(folder)
                    .map_err(write_error)?
                    .file_type()
                    .is_symlink()
                {
                    return Err(write_error(std::io::Error::new(
                        std::io::ErrorKind::InvalidInput,
                        format!(
                            "`{}` is a symbolic link, not a folder: aigne-ci writes transcripts only into a folder of the out-dir",
                            folder.display()
                        ),
                    ))
                    .into());
                }
            }
            // Only a regular file is copied, and only onto a new or regular file: a symlink
            // planted in a shard or in the merged out-dir is never read or written through.
            let mut from = fs_err::File::open(source).map_err(write_error)?;
            let mut to = report::lock::create_fresh(&target).map_err(write_error)?;
            std::io::copy(&mut from, &mut to).map_err(write_error)?;
        }
    }
    Ok(())
}

fn sibling_summary(results: &Path) -> PathBuf {
    results.parent().map_or_else(
        || PathBuf::from("summary.json"),
        |folder| folder.join("summary.json"),
    )
}

/// `3, 7, 9` (at most 20, then `…`).
fn list(lines: &[usize]) -> String {
    let mut text: Vec<String> = lines.iter().take(20).map(usize::to_string).collect();
    if lines.len() > 20 {
        text.push("…".to_owned());
    }
    text.join(", ")
}
