//! `--baseline PATH`: the results of an earlier run (e.g. the base branch's), compared case by
//! case with this run.
//!
//! A case matches a baseline case by `id`, then by agent + input when either side's id was
//! given by aigne-ci (`line-N`): an automatic id matches by id only when the input is the same
//! too, so inserting a line does not shift every comparison, and explicit ids on both sides are
//! authoritative. Each result gets `baseline`:
//!
//! | this run | baseline | `baseline` |
//! |---|---|---|
//! | passed | passed | `passing` |
//! | not passed | passed | `regressed` |
//! | passed | not passed | `fixed` |
//! | not passed | not passed | `failing` |
//! | any | no match | `new` |
//!
//! Skipped cases (malformed lines) are compared with nothing, on either side. The summary gets
//! the counts, the baseline cases this run did not have (`missing`) and the deltas of pass rate,
//! tokens and case-duration percentiles.

use std::collections::HashMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::batch::CaseStatus;

use super::record::ResultRecord;
use super::summary::percentile;

/// How a case compares with the baseline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BaselineStatus {
    /// No baseline case matches.
    New,
    /// Passed in the baseline, not now.
    Regressed,
    /// Did not pass in the baseline, passes now.
    Fixed,
    /// Passed in both.
    Passing,
    /// Passed in neither.
    Failing,
}

impl BaselineStatus {
    /// `new`, `regressed`, …
    pub fn as_str(self) -> &'static str {
        match self {
            Self::New => "new",
            Self::Regressed => "regressed",
            Self::Fixed => "fixed",
            Self::Passing => "passing",
            Self::Failing => "failing",
        }
    }
}

/// The baseline run's own figures (kept in `summary.json` so `merge` can recompute deltas).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct BaselineFigures {
    /// Cases compared with (skipped ones left out).
    pub cases: usize,
    pub pass_rate: Option<f64>,
    /// Input + output tokens of its cases, per run (a case repeated N times counts its tokens
    /// divided by N, so runs with different `--repeat` compare).
    pub tokens: u64,
    pub p50_ms: u64,
    pub p95_ms: u64,
}

/// `summary.json` `baseline`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BaselineSummary {
    /// The baseline `results.jsonl`.
    pub file: String,
    pub regressed: usize,
    pub fixed: usize,
    pub passing: usize,
    pub failing: usize,
    pub new: usize,
    /// Baseline cases this run did not have.
    pub missing: usize,
    /// This run's pass rate minus the baseline's (`null` when either ran no case).
    pub pass_rate_delta: Option<f64>,
    /// This run's tokens (agent, input + output, per run of each case) minus the baseline's.
    pub tokens_delta: i64,
    pub p50_ms_delta: i64,
    pub p95_ms_delta: i64,
    /// The baseline's own figures.
    pub reference: BaselineFigures,
}

/// A case's agent tokens (input + output) divided by its runs, rounded: what one run of it
/// cost, so a run under `--repeat 3` compares with a baseline that ran each case once.
pub fn tokens_per_run(record: &ResultRecord) -> u64 {
    let tokens = record.usage.input_tokens + record.usage.output_tokens;
    let runs = u64::try_from(record.runs.len().max(1)).unwrap_or(u64::MAX);
    (tokens + runs / 2) / runs
}

/// Why a baseline cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum BaselineError {
    /// The file (or the folder's `results.jsonl`) cannot be read.
    #[error("cannot read the baseline `{path}`")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A line is not a results record.
    #[error("the baseline `{path}` line {line} is not a results record")]
    Parse {
        path: PathBuf,
        line: usize,
        #[source]
        source: serde_json::Error,
    },
}

impl crate::hint::Hint for BaselineError {
    fn hint(&self) -> Option<String> {
        Some(
            "`--baseline` takes the `results.jsonl` (or the out-dir holding it) of an earlier `aigne-ci run`, e.g. restored with actions/cache or downloaded as an artifact"
                .to_owned(),
        )
    }
}

#[derive(Debug, Clone)]
struct Entry {
    passed: bool,
    matched: bool,
    /// Its id was `line-N` (given by aigne-ci, not the inputs file).
    automatic_id: bool,
}

/// A loaded baseline, matched against this run's cases one at a time.
#[derive(Debug, Clone)]
pub struct Baseline {
    file: PathBuf,
    entries: Vec<Entry>,
    by_id: HashMap<String, usize>,
    by_agent_input: HashMap<(String, String), usize>,
    figures: BaselineFigures,
}

impl Baseline {
    /// Reads a baseline: a `results.jsonl`, or a folder holding one.
    pub fn load(path: &Path) -> Result<Self, BaselineError> {
        let file = if path.is_dir() {
            path.join("results.jsonl")
        } else {
            path.to_path_buf()
        };
        let read_error = |source| BaselineError::Read {
            path: file.clone(),
            source,
        };
        let opened = fs_err::File::open(&file).map_err(read_error)?;
        let mut baseline = Self {
            file: file.clone(),
            entries: Vec::new(),
            by_id: HashMap::new(),
            by_agent_input: HashMap::new(),
            figures: BaselineFigures::default(),
        };
        let mut durations = Vec::new();
        let mut passed = 0usize;
        for (index, line) in std::io::BufReader::new(opened).lines().enumerate() {
            let line = line.map_err(read_error)?;
            if line.trim().is_empty() {
                continue;
            }
            let record: ResultRecord =
                serde_json::from_str(&line).map_err(|source| BaselineError::Parse {
                    path: file.clone(),
                    line: index + 1,
                    source,
                })?;
            if record.status == CaseStatus::Skipped {
                continue;
            }
            let position = baseline.entries.len();
            let is_passed = record.status == CaseStatus::Passed;
            passed += usize::from(is_passed);
            baseline.figures.tokens += tokens_per_run(&record);
            durations.push(record.duration_ms);
            baseline.entries.push(Entry {
                passed: is_passed,
                matched: false,
                automatic_id: record.id.starts_with("line-"),
            });
            baseline.by_id.entry(record.id.clone()).or_insert(position);
            baseline
                .by_agent_input
                .entry((record.agent.clone(), record.input.to_string()))
                .or_insert(position);
        }
        durations.sort_unstable();
        baseline.figures.cases = baseline.entries.len();
        baseline.figures.pass_rate =
            (!baseline.entries.is_empty()).then(|| passed as f64 / baseline.entries.len() as f64);
        baseline.figures.p50_ms = percentile(&durations, 0.5);
        baseline.figures.p95_ms = percentile(&durations, 0.95);
        Ok(baseline)
    }

    /// The baseline file.
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// The baseline's own figures.
    pub fn figures(&self) -> BaselineFigures {
        self.figures
    }

    /// Compares one case of this run (`None` for a skipped case).
    pub fn compare(&mut self, record: &ResultRecord) -> Option<BaselineStatus> {
        if record.status == CaseStatus::Skipped {
            return None;
        }
        let by_id = self.by_id.get(&record.id).copied();
        let key = (record.agent.clone(), record.input.to_string());
        let by_input = self.by_agent_input.get(&key).copied();
        let automatic_id = record.id.starts_with("line-");
        // Explicit ids on both sides are authoritative; the input decides when either id
        // was given by aigne-ci (and so moves with the line).
        let by_input =
            by_input.filter(|&position| automatic_id || self.entries[position].automatic_id);
        let found = match (by_id, by_input) {
            (Some(id), _) if !automatic_id => Some(id),
            (Some(id), Some(input)) if id == input => Some(id),
            (_, Some(input)) => Some(input),
            _ => None,
        };
        let now = record.status == CaseStatus::Passed;
        let Some(position) = found else {
            return Some(BaselineStatus::New);
        };
        let entry = &mut self.entries[position];
        entry.matched = true;
        Some(match (entry.passed, now) {
            (true, true) => BaselineStatus::Passing,
            (true, false) => BaselineStatus::Regressed,
            (false, true) => BaselineStatus::Fixed,
            (false, false) => BaselineStatus::Failing,
        })
    }

    /// Baseline cases no case of this run matched.
    pub fn missing(&self) -> usize {
        self.entries.iter().filter(|entry| !entry.matched).count()
    }
}

/// Counts of [`BaselineStatus`] over a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BaselineCounts {
    pub regressed: usize,
    pub fixed: usize,
    pub passing: usize,
    pub failing: usize,
    pub new: usize,
}

impl BaselineCounts {
    /// Counts one case.
    pub fn add(&mut self, status: BaselineStatus) {
        match status {
            BaselineStatus::New => self.new += 1,
            BaselineStatus::Regressed => self.regressed += 1,
            BaselineStatus::Fixed => self.fixed += 1,
            BaselineStatus::Passing => self.passing += 1,
            BaselineStatus::Failing => self.failing += 1,
        }
    }

    /// Cases matched with a baseline case.
    pub fn matched(&self) -> usize {
        self.regressed + self.fixed + self.passing + self.failing
    }
}

/// Difference of two counts as a signed number.
pub fn delta(now: u64, then: u64) -> i64 {
    i64::try_from(now).unwrap_or(i64::MAX) - i64::try_from(then).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn record(id: &str, input: serde_json::Value, status: &str) -> String {
        json!({"format_version": 1, "id": id, "line": 1, "agent": "chat", "input": input,
               "output": null, "status": status, "assertions": [], "attempts": 1,
               "duration_ms": 100, "usage": {"input_tokens": 10, "output_tokens": 5},
               "model": null})
        .to_string()
    }

    fn parse(line: &str) -> ResultRecord {
        serde_json::from_str(line).unwrap()
    }

    #[test]
    fn a_repeated_case_counts_its_tokens_per_run() {
        let run = json!({"status": "passed", "output": "x", "assertions": [], "attempts": 1,
                         "duration_ms": 100, "usage": {"input_tokens": 10, "output_tokens": 5}});
        let mut repeated: serde_json::Value =
            serde_json::from_str(&record("r", json!("r"), "passed")).unwrap();
        repeated["usage"] = json!({"input_tokens": 30, "output_tokens": 15});
        repeated["runs"] = json!([run, run, run]);
        repeated["flaky"] = json!(false);
        let repeated = parse(&repeated.to_string());
        assert_eq!(repeated.runs.len(), 3);
        assert_eq!(tokens_per_run(&repeated), 15);
        // Once, as a baseline that ran each case once would hold it: the same figure.
        assert_eq!(
            tokens_per_run(&parse(&record("r", json!("r"), "passed"))),
            15
        );
    }

    #[test]
    fn every_status_and_missing_cases() {
        let dir = tempfile::tempdir().unwrap();
        let lines = [
            record("a", json!("a"), "passed"),
            record("b", json!("b"), "passed"),
            record("c", json!("c"), "failed"),
            record("d", json!("d"), "errored"),
            record("gone", json!("gone"), "passed"),
            record("line-9", json!("moved"), "passed"),
            record("line-7", json!("skip"), "skipped"),
        ];
        fs_err::write(dir.path().join("results.jsonl"), lines.join("\n")).unwrap();
        let mut baseline = Baseline::load(dir.path()).unwrap();
        assert_eq!(baseline.figures().cases, 6);
        assert_eq!(baseline.figures().tokens, 90);
        let status = |baseline: &mut Baseline, id: &str, input: &str, status: &str| {
            baseline.compare(&parse(&record(id, json!(input), status)))
        };
        assert_eq!(
            status(&mut baseline, "a", "a", "passed"),
            Some(BaselineStatus::Passing)
        );
        assert_eq!(
            status(&mut baseline, "b", "b changed", "failed"),
            Some(BaselineStatus::Regressed)
        );
        assert_eq!(
            status(&mut baseline, "c", "c", "passed"),
            Some(BaselineStatus::Fixed)
        );
        assert_eq!(
            status(&mut baseline, "d", "d", "failed"),
            Some(BaselineStatus::Failing)
        );
        assert_eq!(
            status(&mut baseline, "z", "z", "passed"),
            Some(BaselineStatus::New)
        );
        // An automatic id matches by input: the line moved from 9 to 3.
        assert_eq!(
            status(&mut baseline, "line-3", "moved", "errored"),
            Some(BaselineStatus::Regressed)
        );
        // An automatic id with another input is new, not line 9's case.
        assert_eq!(
            status(&mut baseline, "line-9", "other", "passed"),
            Some(BaselineStatus::New)
        );
        assert_eq!(status(&mut baseline, "s", "s", "skipped"), None);
        assert_eq!(baseline.missing(), 1);
    }

    #[test]
    fn missing_and_malformed_files_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let error = Baseline::load(&dir.path().join("nope.jsonl")).unwrap_err();
        assert!(error.to_string().contains("nope.jsonl"), "{error}");
        let file = dir.path().join("bad.jsonl");
        fs_err::write(
            &file,
            format!("{}\n{{oops\n", record("a", json!("a"), "passed")),
        )
        .unwrap();
        let error = Baseline::load(&file).unwrap_err();
        assert_eq!(
            error.to_string(),
            format!(
                "the baseline `{}` line 2 is not a results record",
                file.display()
            )
        );
    }
}
