//! Names of the GitHub step outputs `aigne-ci run` (and `merge`) write to `$GITHUB_OUTPUT`.
//!
//! This list is the contract with `action.yml`: the action forwards each of these as an output
//! of the same name, and `tests/action.rs` fails when the two disagree. The writer of
//! `$GITHUB_OUTPUT` must write exactly these names (a value may be empty when unknown, e.g. the
//! cache outputs of a project in the workspace).

/// Path of `results.jsonl`.
pub const RESULTS_FILE: &str = "results-file";
/// Path of `summary.json`.
pub const SUMMARY_FILE: &str = "summary-file";
/// Path of `report.html` (empty with `--report off`).
pub const REPORT_FILE: &str = "report-file";
/// Number of cases.
pub const TOTAL: &str = "total";
/// Cases that passed.
pub const PASSED: &str = "passed";
/// Cases whose expectations did not hold.
pub const FAILED: &str = "failed";
/// Cases that errored.
pub const ERRORED: &str = "errored";
/// Share of passed cases, 0 to 1.
pub const PASS_RATE: &str = "pass-rate";
/// Model input tokens of the run.
pub const INPUT_TOKENS: &str = "input-tokens";
/// Model output tokens of the run.
pub const OUTPUT_TOKENS: &str = "output-tokens";
/// `true` when the project came from the cache.
pub const CACHE_HIT: &str = "cache-hit";
/// The project's cache key (as `aigne-ci fetch` prints `cache_key`).
pub const CACHE_KEY: &str = "cache-key";
/// sha256 of the project tarball.
pub const PROJECT_SHA256: &str = "project-sha256";
/// Outcome of the run under the policy.
pub const CONCLUSION: &str = "conclusion";

/// Cases whose runs disagreed under `--repeat` (empty without repeats).
pub const FLAKY: &str = "flaky";
/// Cases that passed in `--baseline` and not now (empty without a baseline).
pub const REGRESSED: &str = "regressed";
/// Cases that did not pass in `--baseline` and pass now (empty without a baseline).
pub const FIXED: &str = "fixed";

/// Every step output, in the order they are written.
pub const STEP_OUTPUTS: &[&str] = &[
    RESULTS_FILE,
    SUMMARY_FILE,
    REPORT_FILE,
    TOTAL,
    PASSED,
    FAILED,
    ERRORED,
    PASS_RATE,
    INPUT_TOKENS,
    OUTPUT_TOKENS,
    CACHE_HIT,
    CACHE_KEY,
    PROJECT_SHA256,
    CONCLUSION,
    FLAKY,
    REGRESSED,
    FIXED,
];
