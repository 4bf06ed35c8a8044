//! `summary.json`: the totals of a run (or of merged shards), written atomically.
//!
//! The JSON Schema is `schemas/summary.schema.json`; `format_version` is shared with
//! `results.jsonl` ([`super::record::FORMAT_VERSION`]).

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::batch::{CaseStatus, Counts, FailOn, Policy, StopReason, Usage, Verdict};

use super::baseline::{BaselineCounts, BaselineFigures, BaselineSummary, delta};
use super::record::{FORMAT_VERSION, ResultRecord};

/// Where the project came from (stage 1).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProjectInfo {
    /// The source as given (URL with credentials masked, or a path).
    pub source: String,
    /// sha256 of the tarball (`None` for a local folder).
    pub sha256: Option<String>,
    /// Whether the cache had it.
    pub cache_hit: Option<bool>,
    /// The cache key (for `actions/cache`).
    pub cache_key: Option<String>,
}

/// The inputs of the run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InputsInfo {
    /// The inputs file as given (`<stdin>`, `--prompt`, `--input-json` for the others).
    pub file: String,
    /// Number of entries in the whole file (every shard), malformed ones included.
    pub cases: usize,
    /// Their lines: `merge` uses them to find missing lines.
    pub lines: Vec<usize>,
}

/// `--shard K/N`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardInfo {
    pub index: usize,
    pub count: usize,
}

/// Cases per status, plus those a stop left unstarted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CountsInfo {
    pub total: usize,
    pub passed: usize,
    pub failed: usize,
    pub errored: usize,
    pub skipped: usize,
    pub not_run: usize,
}

/// Case durations.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Durations {
    /// Wall time of the run (of the longest shard after a merge).
    pub wall_ms: u64,
    /// Sum of case durations.
    pub cases_ms: u64,
    pub mean_ms: u64,
    pub p50_ms: u64,
    pub p95_ms: u64,
    pub max_ms: u64,
}

/// The policy and whether it held.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicyInfo {
    pub fail_on: String,
    pub min_pass_rate: Option<f64>,
    pub holds: bool,
    pub reasons: Vec<String>,
}

/// Tokens of the run: the agents' (`input_tokens`, `output_tokens`) and, apart, the judges'.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokensInfo {
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// Tokens of the `llm-rubric` and `judge` assertions (absent when no judge ran).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub judge: Option<Usage>,
}

/// `--repeat N` of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepeatInfo {
    /// Runs of every case (N).
    pub runs: usize,
    /// Runs that must pass (K).
    pub min_pass: usize,
    /// Cases whose runs disagreed.
    pub flaky: usize,
}

/// `summary.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub format_version: u32,
    pub aigne_ci_version: String,
    /// `success`, `failure`, `cancelled` or `timed_out`.
    pub conclusion: String,
    pub cancelled: bool,
    pub timed_out: bool,
    pub counts: CountsInfo,
    /// passed / (passed + failed + errored); `null` when no case ran.
    pub pass_rate: Option<f64>,
    pub policy: PolicyInfo,
    pub tokens: TokensInfo,
    pub durations: Durations,
    pub project: ProjectInfo,
    pub engine: String,
    /// Why that engine runs (`--engine auto` decides per case from the agents it reaches).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine_reason: Option<String>,
    /// Cases per engine that ran them (`{"native": 3, "node": 1}`).
    #[serde(default)]
    pub engines: std::collections::BTreeMap<String, usize>,
    /// Every subprocess the run started (Node bridge, node engine, npm, stdio MCP servers).
    #[serde(default)]
    pub subprocesses: Vec<SubprocessInfo>,
    /// The model every case used (the `--model` override, or the only one seen).
    pub model: Option<String>,
    /// Every model seen, sorted.
    pub models: Vec<String>,
    /// The run's default agent.
    pub agent: Option<String>,
    pub inputs: InputsInfo,
    pub shard: Option<ShardInfo>,
    /// Shard summaries or results merged into this one (`merge` only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub merged_from: Vec<String>,
    /// `--repeat N` (N > 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeat: Option<RepeatInfo>,
    /// `--baseline`: how this run compares with the baseline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<BaselineSummary>,
    pub results_file: String,
    pub junit_file: Option<String>,
    /// `report.html` (`None` with `--report off`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report_file: Option<String>,
    pub started_at: String,
    pub finished_at: String,
}

/// One subprocess the run started: a project from a URL is code, so the summary says what ran.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubprocessInfo {
    /// Why it was started (`js-bridge`, `node-engine`, `npm-install`, `mcp-server`).
    pub purpose: String,
    /// The program.
    pub program: String,
    /// Its arguments.
    pub args: Vec<String>,
}

/// What the summary needs besides the cases.
#[derive(Debug, Clone)]
pub struct RunContext {
    pub project: ProjectInfo,
    pub engine: String,
    pub engine_reason: Option<String>,
    pub subprocesses: Vec<SubprocessInfo>,
    pub model: Option<String>,
    pub agent: Option<String>,
    pub inputs: InputsInfo,
    pub shard: Option<ShardInfo>,
    pub policy: Policy,
    pub started_at: std::time::SystemTime,
    /// `--repeat N` and `--repeat-min-pass K` (`None`: each case ran once).
    pub repeat: Option<(usize, usize)>,
    /// The baseline file and its figures (`--baseline`).
    pub baseline: Option<(String, BaselineFigures)>,
}

/// The totals of a run, accumulated one case at a time (small per case: 10,000 cases take
/// well under a megabyte).
#[derive(Debug, Clone, Default)]
pub struct Tally {
    pub counts: Counts,
    pub usage: Usage,
    pub judge_usage: Usage,
    /// Whether any case reported judge tokens (or a judged assertion).
    pub judged: bool,
    pub durations: Vec<u64>,
    pub models: std::collections::BTreeSet<String>,
    /// Cases whose runs disagreed.
    pub flaky: usize,
    /// Cases with a baseline status, per status.
    pub baseline: BaselineCounts,
    /// Whether any case carried a baseline status.
    pub compared: bool,
    /// Baseline cases no case matched (set by the reporter at the end).
    pub baseline_missing: Option<usize>,
    /// Cases per engine.
    pub engines: std::collections::BTreeMap<String, usize>,
    /// Agent tokens per run of each case (what the baseline's tokens are compared with).
    pub tokens_per_run: u64,
}

impl Tally {
    /// Counts one case.
    pub fn add(&mut self, record: &ResultRecord) {
        self.counts.add(record.status);
        self.usage.add(record.usage);
        self.tokens_per_run += super::baseline::tokens_per_run(record);
        self.judge_usage.add(record.judge_usage);
        if !record.judge_usage.is_zero()
            || record
                .assertions
                .iter()
                .any(|assertion| assertion.judge.is_some())
        {
            self.judged = true;
        }
        if record.flaky == Some(true) {
            self.flaky += 1;
        }
        if let Some(status) = record.baseline {
            self.compared = true;
            self.baseline.add(status);
        }
        if record.status != CaseStatus::Skipped {
            self.durations.push(record.duration_ms);
        }
        if let Some(engine) = &record.engine {
            *self.engines.entry(engine.clone()).or_default() += 1;
        }
        if let Some(model) = &record.model
            && !self.models.contains(model)
        {
            self.models.insert(model.clone());
        }
    }

    fn durations(&self, wall_ms: u64) -> Durations {
        let mut sorted = self.durations.clone();
        sorted.sort_unstable();
        let cases_ms: u64 = sorted.iter().sum();
        Durations {
            wall_ms,
            cases_ms,
            mean_ms: if sorted.is_empty() {
                0
            } else {
                cases_ms / sorted.len() as u64
            },
            p50_ms: percentile(&sorted, 0.5),
            p95_ms: percentile(&sorted, 0.95),
            max_ms: sorted.last().copied().unwrap_or(0),
        }
    }
}

/// The nearest-rank percentile of sorted values (0 when empty).
pub fn percentile(sorted: &[u64], fraction: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (fraction * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// How a run ended, for the conclusion and the exit status.
pub fn conclusion(stopped: Option<StopReason>, verdict: &Verdict) -> &'static str {
    match stopped {
        Some(StopReason::Interrupted) => "cancelled",
        Some(StopReason::TotalTimeout) => "timed_out",
        None if verdict.holds => "success",
        None => "failure",
    }
}

/// Builds the summary.
pub fn build(
    context: &RunContext,
    tally: &Tally,
    not_run: usize,
    stopped: Option<StopReason>,
    wall_ms: u64,
    results_file: &Path,
    junit_file: Option<&Path>,
) -> Summary {
    let regressed = context
        .baseline
        .is_some()
        .then_some(tally.baseline.regressed)
        .or(tally.compared.then_some(tally.baseline.regressed));
    let verdict = context.policy.evaluate_with(&tally.counts, regressed);
    let durations = tally.durations(wall_ms);
    let pass_rate = tally.counts.pass_rate();
    let baseline = context
        .baseline
        .as_ref()
        .map(|(file, figures)| BaselineSummary {
            file: file.clone(),
            regressed: tally.baseline.regressed,
            fixed: tally.baseline.fixed,
            passing: tally.baseline.passing,
            failing: tally.baseline.failing,
            new: tally.baseline.new,
            missing: tally
                .baseline_missing
                .unwrap_or_else(|| figures.cases.saturating_sub(tally.baseline.matched())),
            pass_rate_delta: match (pass_rate, figures.pass_rate) {
                (Some(now), Some(then)) => Some(((now - then) * 1e6).round() / 1e6),
                _ => None,
            },
            tokens_delta: delta(tally.tokens_per_run, figures.tokens),
            p50_ms_delta: delta(durations.p50_ms, figures.p50_ms),
            p95_ms_delta: delta(durations.p95_ms, figures.p95_ms),
            reference: *figures,
        });
    let models: Vec<String> = tally.models.iter().cloned().collect();
    let model = context
        .model
        .clone()
        .or_else(|| (models.len() == 1).then(|| models[0].clone()));
    Summary {
        format_version: FORMAT_VERSION,
        aigne_ci_version: env!("CARGO_PKG_VERSION").to_owned(),
        conclusion: conclusion(stopped, &verdict).to_owned(),
        cancelled: stopped == Some(StopReason::Interrupted),
        timed_out: stopped == Some(StopReason::TotalTimeout),
        counts: CountsInfo {
            total: tally.counts.total,
            passed: tally.counts.passed,
            failed: tally.counts.failed,
            errored: tally.counts.errored,
            skipped: tally.counts.skipped,
            not_run,
        },
        pass_rate,
        policy: PolicyInfo {
            fail_on: fail_on_name(context.policy.fail_on).to_owned(),
            min_pass_rate: context.policy.min_pass_rate,
            holds: verdict.holds,
            reasons: verdict.reasons,
        },
        tokens: TokensInfo {
            input_tokens: tally.usage.input_tokens,
            output_tokens: tally.usage.output_tokens,
            judge: tally.judged.then_some(tally.judge_usage),
        },
        durations,
        project: context.project.clone(),
        engine: context.engine.clone(),
        engine_reason: context.engine_reason.clone(),
        engines: tally.engines.clone(),
        subprocesses: context.subprocesses.clone(),
        model,
        models,
        agent: context.agent.clone(),
        inputs: context.inputs.clone(),
        shard: context.shard,
        merged_from: Vec::new(),
        repeat: context.repeat.map(|(runs, min_pass)| RepeatInfo {
            runs,
            min_pass,
            flaky: tally.flaky,
        }),
        baseline,
        results_file: results_file.display().to_string(),
        junit_file: junit_file.map(|path| path.display().to_string()),
        report_file: None,
        started_at: humantime::format_rfc3339_millis(context.started_at).to_string(),
        finished_at: humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string(),
    }
}

/// `error`, `failure`, `never`.
pub fn fail_on_name(fail_on: FailOn) -> &'static str {
    fail_on.name()
}

/// Writes a file atomically: a temp file in the same folder, then a rename. Only a new or
/// regular file is replaced (never a symlink, a folder, a FIFO or a device node).
pub fn write_atomic(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    super::lock::check_replaceable(path)?;
    let folder = match path.parent() {
        Some(folder) if !folder.as_os_str().is_empty() => folder,
        _ => Path::new("."),
    };
    fs_err::create_dir_all(folder)?;
    let mut file = crate::atomic_file::temporary_in(folder)?;
    file.write_all(contents)?;
    file.flush()?;
    file.persist(path).map_err(|error| error.error)?;
    Ok(())
}
