//! The command line: clap-derive types only, no I/O.
//!
//! Doc comments are the help text. Every flag also reads `AIGNE_CI_<FLAG>` (see
//! [`crate::env_vars::EnvVars`]); clap gives the precedence flag > environment > default.
//! [`crate::settings`] turns these raw values into validated per-stage settings.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::env_vars::EnvVars;

/// Run AIGNE agent projects in CI: fetch and cache a project, run an agent over scripted
/// inputs, and report structured results.
#[derive(Debug, Parser)]
#[command(name = "aigne-ci", version, about, max_term_width = 100)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Fetch a project (stage 1 only) and print JSON describing the cached copy
    Fetch(FetchArgs),
    /// Load a project and print JSON: agents, schemas, models, and every feature used with
    /// whether the native engine supports it
    Inspect(InspectArgs),
    /// Run an agent over scripted inputs and report the results
    Run(Box<RunArgs>),
    /// Merge the results of shards (`--shard K/N`), recompute the summary and exit status
    Merge(MergeArgs),
    /// Upsert one comment with the run's results on the pull request of the current
    /// `pull_request` or `pull_request_target` event (a rerun edits it)
    Comment(CommentArgs),
}

/// Where the project comes from and how it is fetched and cached.
#[derive(Debug, Clone, Args)]
pub struct SourceArgs {
    /// Cache folder (default `${GITHUB_WORKSPACE:-$PWD}/.aigne-cache`)
    #[arg(long, env = EnvVars::AIGNE_CI_CACHE_DIR, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,

    /// Expected sha256 of the tarball (hex); a mismatch exits 3 and nothing is cached
    #[arg(long, env = EnvVars::AIGNE_CI_SHA256, value_name = "HEX")]
    pub sha256: Option<String>,

    /// Use only the cache; never touch the network
    #[arg(long, env = EnvVars::AIGNE_CI_OFFLINE, conflicts_with = "refresh")]
    pub offline: bool,

    /// Ignore any cached copy and download again
    #[arg(long, env = EnvVars::AIGNE_CI_REFRESH)]
    pub refresh: bool,

    /// Project folder inside the archive (for repository archives holding several projects)
    #[arg(long, env = EnvVars::AIGNE_CI_SUBDIR, value_name = "PATH")]
    pub subdir: Option<PathBuf>,

    /// Bearer token for private archives; sent only to the source URL's host
    /// (default: `GITHUB_TOKEN` for github.com hosts)
    #[arg(long, env = EnvVars::AIGNE_CI_TOKEN, value_name = "TOKEN", hide_env_values = true)]
    pub token: Option<String>,

    /// Maximum total bytes unpacked from an archive
    #[arg(long, env = EnvVars::AIGNE_CI_MAX_UNPACKED_BYTES, value_name = "BYTES", default_value_t = 1 << 30)]
    pub max_unpacked_bytes: u64,

    /// Maximum number of entries in an archive
    #[arg(long, env = EnvVars::AIGNE_CI_MAX_ENTRIES, value_name = "N", default_value_t = 100_000)]
    pub max_entries: u64,

    /// Connection timeout for downloads (e.g. `10s`)
    #[arg(long, env = EnvVars::AIGNE_CI_CONNECT_TIMEOUT, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub connect_timeout: std::time::Duration,

    /// Read timeout: longest pause allowed while a body arrives (e.g. `30s`)
    #[arg(long, env = EnvVars::AIGNE_CI_READ_TIMEOUT, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    pub read_timeout: std::time::Duration,

    /// Download attempts after the first on transient errors (connection, 408, 429, 5xx)
    #[arg(long, env = EnvVars::AIGNE_CI_HTTP_RETRIES, value_name = "N", default_value_t = 4)]
    pub http_retries: u32,

    /// Follow a redirect from https to http (refused by default: the tarball, and what the
    /// server sends with it, would travel unencrypted)
    #[arg(long, env = EnvVars::AIGNE_CI_ALLOW_INSECURE_REDIRECT)]
    pub allow_insecure_redirect: bool,
}

/// `aigne-ci fetch SOURCE`
#[derive(Debug, Clone, Args)]
pub struct FetchArgs {
    /// Project source: https/http/file URL, local folder, or path to `aigne.yaml`
    #[arg(value_name = "SOURCE", required_unless_present = "url")]
    pub source: Option<String>,

    /// Alias for SOURCE
    #[arg(long, env = EnvVars::AIGNE_CI_URL, conflicts_with = "source", value_name = "URL")]
    pub url: Option<String>,

    #[command(flatten)]
    pub source_args: SourceArgs,
}

/// What a project may read, for `run` and `inspect`.
#[derive(Debug, Clone, Args)]
pub struct FileArgs {
    /// Largest file a project may name (`aigne.yaml`, agents, prompts, includes, schemas, `.env`),
    /// and the longest line of an inputs file, e.g. `8MiB`, `512KiB`
    #[arg(long, env = EnvVars::AIGNE_CI_MAX_FILE_SIZE, value_name = "SIZE", default_value = "8MiB", value_parser = crate::project::files::parse_size)]
    pub max_file_size: u64,

    /// A folder outside the project that its files may name (repeatable; the environment
    /// variable takes a comma-separated list), e.g. a monorepo's shared prompts
    #[arg(long, env = EnvVars::AIGNE_CI_ALLOW_READ, value_name = "PATH", value_delimiter = ',')]
    pub allow_read: Vec<PathBuf>,
}

/// Which input an agent gets, for `run`.
#[derive(Debug, Clone, Args)]
pub struct InputArgs {
    /// Inputs file: `.jsonl`/`.ndjson`, `.json` (object or array), `.yaml` list; `-` = stdin
    #[arg(long, env = EnvVars::AIGNE_CI_INPUT, value_name = "FILE", conflicts_with_all = ["prompt", "input_json"])]
    pub input: Option<PathBuf>,

    /// One text input (goes to the agent's `input_key`, or `message`)
    #[arg(long, env = EnvVars::AIGNE_CI_PROMPT, value_name = "TEXT", conflicts_with = "input_json")]
    pub prompt: Option<String>,

    /// One inline JSON object as the input
    #[arg(long, env = EnvVars::AIGNE_CI_INPUT_JSON, value_name = "JSON")]
    pub input_json: Option<String>,

    /// What to do with a malformed line of the inputs file
    #[arg(long, env = EnvVars::AIGNE_CI_ON_INVALID_INPUT, value_enum, default_value_t = OnInvalidInput::Error)]
    pub on_invalid_input: OnInvalidInput,

    /// Largest inputs file (or stdin), e.g. `32MiB`, `1GiB`: a longer one is refused (exit 2)
    /// as soon as it gets there
    #[arg(long, env = EnvVars::AIGNE_CI_MAX_INPUTS_SIZE, value_name = "SIZE", default_value = "32MiB", value_parser = crate::project::files::parse_size)]
    pub max_inputs_size: u64,
}

/// `--on-invalid-input error|skip`
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum OnInvalidInput {
    /// Report every malformed line and exit 2 before any model call
    #[default]
    Error,
    /// Record malformed lines as skipped and run the rest
    Skip,
}

/// Model selection and options (precedence as AIGNE: flag > `MODEL` > `aigne.yaml`).
#[derive(Debug, Clone, Args)]
pub struct ModelArgs {
    /// Model as `provider:name` or `provider/name` (overrides every agent's model, as AIGNE does)
    #[arg(long, env = EnvVars::AIGNE_CI_MODEL, value_name = "PROVIDER:NAME")]
    pub model: Option<String>,

    /// Sampling temperature (0-2)
    #[arg(long, env = EnvVars::AIGNE_CI_TEMPERATURE)]
    pub temperature: Option<f64>,

    /// Nucleus sampling (0-1)
    #[arg(long, env = EnvVars::AIGNE_CI_TOP_P)]
    pub top_p: Option<f64>,

    /// Presence penalty (-2..2)
    #[arg(long, env = EnvVars::AIGNE_CI_PRESENCE_PENALTY, allow_negative_numbers = true)]
    pub presence_penalty: Option<f64>,

    /// Frequency penalty (-2..2)
    #[arg(long, env = EnvVars::AIGNE_CI_FREQUENCY_PENALTY, allow_negative_numbers = true)]
    pub frequency_penalty: Option<f64>,

    /// Reasoning effort: `minimal`, `low`, `medium`, `high` or a token budget
    #[arg(long, env = EnvVars::AIGNE_CI_REASONING_EFFORT)]
    pub reasoning_effort: Option<String>,

    /// Retries of a model call on 429/5xx/network errors (honouring `Retry-After`)
    #[arg(long, env = EnvVars::AIGNE_CI_RETRIES, value_name = "N", default_value_t = 3)]
    pub retries: u32,

    /// Largest answer a model provider may send (bytes, or `8MiB`, `512KiB`); a larger one fails
    /// its case as soon as it passes the cap, before it is held whole
    #[arg(long, env = EnvVars::AIGNE_CI_MAX_RESPONSE_SIZE, value_name = "SIZE", default_value = "16MiB", value_parser = crate::project::files::parse_size)]
    pub max_response_size: u64,

    /// Record every model request/response to this cassette (secrets stripped)
    #[arg(long, env = EnvVars::AIGNE_CI_RECORD, value_name = "FILE", conflicts_with = "replay")]
    pub record: Option<PathBuf>,

    /// Answer model calls from this cassette: no network, no key
    #[arg(long, env = EnvVars::AIGNE_CI_REPLAY, value_name = "FILE")]
    pub replay: Option<PathBuf>,
}

/// `--engine auto|native|node`
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum EngineChoice {
    /// Per case: native when it supports every agent the case reaches, node otherwise
    #[default]
    Auto,
    /// The Rust implementation of the AIGNE runtime
    Native,
    /// The official AIGNE packages in a Node process
    Node,
}

/// `--fail-on error|failure|regression|never`: the policy's own type (the batch stage knows no clap), parsed
/// here.
pub use crate::batch::FailOn;

impl ValueEnum for FailOn {
    fn value_variants<'a>() -> &'a [Self] {
        &[Self::Error, Self::Failure, Self::Regression, Self::Never]
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        let help = match self {
            Self::Error => "Exit 1 only when a case errored",
            Self::Failure => "Exit 1 when a case failed or errored",
            Self::Regression => {
                "Exit 1 only when a case regressed against `--baseline` (passed there, not now)"
            }
            Self::Never => {
                "Never exit 1 for case results (usage, fetch and timeout codes still apply)"
            }
        };
        Some(clap::builder::PossibleValue::new(self.name()).help(help))
    }
}

/// `aigne-ci run [SOURCE] [AGENT]`
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Project source: https/http/file URL, local folder, or path to `aigne.yaml` (default `.`)
    #[arg(value_name = "SOURCE")]
    pub source: Option<String>,

    /// Agent to run (default: the first entry of `agents:`)
    #[arg(value_name = "AGENT")]
    pub agent: Option<String>,

    /// Alias for SOURCE
    #[arg(long, env = EnvVars::AIGNE_CI_URL, conflicts_with = "source", value_name = "URL")]
    pub url: Option<String>,

    /// Alias for AGENT
    #[arg(long, env = EnvVars::AIGNE_CI_ENTRY_AGENT, conflicts_with = "agent", value_name = "NAME")]
    pub entry_agent: Option<String>,

    #[command(flatten)]
    pub source_args: SourceArgs,

    #[command(flatten)]
    pub inputs: InputArgs,

    #[command(flatten)]
    pub model: ModelArgs,

    /// Cases run at once
    #[arg(long, env = EnvVars::AIGNE_CI_CONCURRENCY, value_name = "N", default_value_t = 4)]
    pub concurrency: usize,

    /// Time limit per case (e.g. `2m`)
    #[arg(long, env = EnvVars::AIGNE_CI_TIMEOUT, value_name = "DURATION", default_value = "5m", value_parser = parse_duration)]
    pub timeout: std::time::Duration,

    /// Time limit for the whole run, counted from its start (fetch and engine start included);
    /// results so far are written and the exit code is 4
    #[arg(long, env = EnvVars::AIGNE_CI_TOTAL_TIMEOUT, value_name = "DURATION", value_parser = parse_duration)]
    pub total_timeout: Option<std::time::Duration>,

    /// Run only shard K of N (1-based), e.g. `2/4`
    #[arg(long, env = EnvVars::AIGNE_CI_SHARD, value_name = "K/N")]
    pub shard: Option<String>,

    /// After SIGINT/SIGTERM or the total timeout, how long running cases may still finish
    #[arg(long, env = EnvVars::AIGNE_CI_GRACE_PERIOD, value_name = "DURATION", default_value = "5s", value_parser = parse_duration)]
    pub grace_period: std::time::Duration,

    #[command(flatten)]
    pub policy: PolicyArgs,

    #[command(flatten)]
    pub verdicts: VerdictArgs,

    #[command(flatten)]
    pub outputs: OutputArgs,

    /// Engine that runs the agents
    #[arg(long, env = EnvVars::AIGNE_CI_ENGINE, value_enum, default_value_t = EngineChoice::Auto)]
    pub engine: EngineChoice,

    /// Most model turns in one tool loop before the case errors
    #[arg(long, env = EnvVars::AIGNE_CI_MAX_TOOL_TURNS, value_name = "N", default_value_t = 64)]
    pub max_tool_turns: u32,

    /// Most review rounds of a team's `reflection`, whatever its `max_iterations` says, before
    /// the case errors
    #[arg(long, env = EnvVars::AIGNE_CI_MAX_REFLECTION_ROUNDS, value_name = "N", default_value_t = 16, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_reflection_rounds: u64,

    /// Most items a team's `iterate_on` runs its members over in one case
    #[arg(long, env = EnvVars::AIGNE_CI_MAX_TEAM_ITERATIONS, value_name = "N", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_team_iterations: u64,

    /// Largest reply a tool may send back before the case errors: a JavaScript agent's result, an
    /// MCP server's answer (stdio, SSE or streamable HTTP), a case's reply from `--engine node`,
    /// e.g. `16MiB`
    #[arg(long, env = EnvVars::AIGNE_CI_MAX_TOOL_RESULT, value_name = "SIZE", default_value = "16MiB", value_parser = crate::project::files::parse_size)]
    pub max_tool_result: u64,

    #[command(flatten)]
    pub files: FileArgs,

    /// Refuse to run any JavaScript or subprocess from the project
    #[arg(long, env = EnvVars::AIGNE_CI_DENY_EXEC)]
    pub deny_exec: bool,

    /// Allow npm install scripts when installing project dependencies
    #[arg(long, env = EnvVars::AIGNE_CI_ALLOW_INSTALL_SCRIPTS)]
    pub allow_install_scripts: bool,

    /// `@aigne/cli` version that `--engine node` installs into the cache (with its matching
    /// `@aigne/core`)
    #[arg(long, env = EnvVars::AIGNE_CI_NODE_ENGINE_VERSION, value_name = "VERSION", default_value = "1.59.0")]
    pub node_engine_version: String,

    /// Folder that already holds `node_modules/@aigne/cli` for `--engine node` (nothing is
    /// installed)
    #[arg(long, env = EnvVars::AIGNE_CI_NODE_ENGINE_DIR, value_name = "DIR")]
    pub node_engine_dir: Option<PathBuf>,

    /// Let a provider endpoint or proxy set by the project's `.env` (`OPENAI_BASE_URL`,
    /// `HTTPS_PROXY`, …) go with keys from the environment (by default it is used only with a
    /// key the same `.env` sets)
    #[arg(long, env = EnvVars::AIGNE_CI_TRUST_PROJECT_ENV)]
    pub trust_project_env: bool,

    /// Print the run plan as JSON (engine per case and why, model per agent, keys found — names
    /// only —, MCP servers and subprocesses it would start, files it would read) and exit 0:
    /// no model call, no subprocess
    #[arg(long, env = EnvVars::AIGNE_CI_DRY_RUN)]
    pub dry_run: bool,
}

/// Pass/fail policy, shared by `run` and `merge`.
#[derive(Debug, Clone, Args)]
pub struct PolicyArgs {
    /// Which case results make the exit status 1
    #[arg(long, env = EnvVars::AIGNE_CI_FAIL_ON, value_enum, default_value_t = FailOn::Failure)]
    pub fail_on: FailOn,

    /// Minimum share of passed cases (0-1); below it the exit status is 1
    #[arg(long, env = EnvVars::AIGNE_CI_MIN_PASS_RATE, value_name = "R")]
    pub min_pass_rate: Option<f64>,
}

/// Repeats, baseline and judges of `run`.
#[derive(Debug, Clone, Args)]
pub struct VerdictArgs {
    /// Run every case N times (a session repeats as a whole conversation); each result keeps
    /// its `runs` and is `flaky` when they disagree
    #[arg(long, env = EnvVars::AIGNE_CI_REPEAT, value_name = "N", default_value_t = 1)]
    pub repeat: usize,

    /// Runs of a repeated case that must pass for it to pass (default: all N)
    #[arg(long, env = EnvVars::AIGNE_CI_REPEAT_MIN_PASS, value_name = "K")]
    pub repeat_min_pass: Option<usize>,

    /// Results of an earlier run (a `results.jsonl`, or the out-dir holding one) to compare
    /// with: each case is new, regressed, fixed, passing or failing
    #[arg(long, env = EnvVars::AIGNE_CI_BASELINE, value_name = "PATH")]
    pub baseline: Option<PathBuf>,

    /// Model of `llm-rubric` and `judge` assertions that name none (default: the agent's model)
    #[arg(long, env = EnvVars::AIGNE_CI_JUDGE_MODEL, value_name = "PROVIDER:NAME")]
    pub judge_model: Option<String>,
}

/// Where results go, shared by `run` and `merge`.
#[derive(Debug, Clone, Args)]
pub struct OutputArgs {
    /// Folder for `results.jsonl` and `summary.json`
    #[arg(long, env = EnvVars::AIGNE_CI_OUT_DIR, value_name = "DIR", default_value = "aigne-ci-output")]
    pub out_dir: PathBuf,

    /// Results file (default `<out-dir>/results.jsonl`)
    #[arg(long, env = EnvVars::AIGNE_CI_OUTPUT, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Summary file (default `<out-dir>/summary.json`)
    #[arg(long, env = EnvVars::AIGNE_CI_SUMMARY, value_name = "FILE")]
    pub summary: Option<PathBuf>,

    /// Also write a JUnit XML report here
    #[arg(long, env = EnvVars::AIGNE_CI_JUNIT, value_name = "FILE")]
    pub junit: Option<PathBuf>,

    /// GitHub Actions integration (step outputs, summary, annotations, masks)
    #[arg(long, env = EnvVars::AIGNE_CI_GITHUB, value_enum, default_value_t = GithubMode::Auto)]
    pub github: GithubMode,

    /// Per-case transcripts in `<out-dir>/transcripts/<line>.json` (agent invocations, model
    /// calls): `on` or `off`
    #[arg(long, env = EnvVars::AIGNE_CI_TRANSCRIPTS, value_enum, default_value_t = Switch::On)]
    pub transcripts: Switch,

    /// The self-contained HTML report: a file (default `<out-dir>/report.html`), or `off`
    #[arg(long, env = EnvVars::AIGNE_CI_REPORT, value_name = "FILE|off")]
    pub report: Option<PathBuf>,
}

/// `aigne-ci inspect SOURCE`
#[derive(Debug, Clone, Args)]
pub struct InspectArgs {
    /// Project source: https/http/file URL, local folder, or path to `aigne.yaml` (default `.`)
    #[arg(value_name = "SOURCE")]
    pub source: Option<String>,

    /// Alias for SOURCE
    #[arg(long, env = EnvVars::AIGNE_CI_URL, conflicts_with = "source", value_name = "URL")]
    pub url: Option<String>,

    #[command(flatten)]
    pub source_args: SourceArgs,

    /// Model as `provider:name` (to show which model each agent would use)
    #[arg(long, env = EnvVars::AIGNE_CI_MODEL, value_name = "PROVIDER:NAME")]
    pub model: Option<String>,

    /// Do not start the project's stdio MCP servers to list their tools (they are reported as
    /// not connected)
    #[arg(long, env = EnvVars::AIGNE_CI_DENY_EXEC)]
    pub deny_exec: bool,

    #[command(flatten)]
    pub files: FileArgs,
}

/// `aigne-ci merge RESULTS...`
#[derive(Debug, Clone, Args)]
pub struct MergeArgs {
    /// `results.jsonl` files of the shards
    #[arg(value_name = "RESULTS", required = true)]
    pub results: Vec<PathBuf>,

    #[command(flatten)]
    pub policy: PolicyArgs,

    #[command(flatten)]
    pub outputs: OutputArgs,
}

/// `aigne-ci comment [--out-dir DIR]`
#[derive(Debug, Clone, Args)]
pub struct CommentArgs {
    /// Folder holding the run's `summary.json` (and `results.jsonl`)
    #[arg(long, env = EnvVars::AIGNE_CI_OUT_DIR, value_name = "DIR", default_value = "aigne-ci-output")]
    pub out_dir: PathBuf,

    /// Summary file (default `<out-dir>/summary.json`); its `results_file` names the results
    #[arg(long, env = EnvVars::AIGNE_CI_SUMMARY, value_name = "FILE")]
    pub summary: Option<PathBuf>,

    /// Token that may write pull-request comments (default: `GITHUB_TOKEN`)
    #[arg(long, env = EnvVars::AIGNE_CI_GITHUB_TOKEN, value_name = "TOKEN", hide_env_values = true)]
    pub github_token: Option<String>,

    /// Connection timeout for GitHub API calls (e.g. `10s`)
    #[arg(long, env = EnvVars::AIGNE_CI_CONNECT_TIMEOUT, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub connect_timeout: std::time::Duration,

    /// Read timeout: longest pause allowed while a GitHub API response arrives (e.g. `30s`)
    #[arg(long, env = EnvVars::AIGNE_CI_READ_TIMEOUT, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    pub read_timeout: std::time::Duration,

    /// GitHub API attempts after the first on transient errors (connection, 408, 429, 5xx)
    #[arg(long, env = EnvVars::AIGNE_CI_HTTP_RETRIES, value_name = "N", default_value_t = 4)]
    pub http_retries: u32,
}

/// `on` / `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Switch {
    #[default]
    On,
    Off,
}

/// `--github on|off|auto`
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum GithubMode {
    On,
    Off,
    #[default]
    Auto,
}

/// Parses `500ms`, `30s`, `2m`, `1h` (and bare seconds, `30`).
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let text = text.trim();
    if let Ok(seconds) = text.parse::<f64>()
        && seconds.is_finite()
        && seconds >= 0.0
    {
        return Ok(std::time::Duration::from_secs_f64(seconds));
    }
    humantime::parse_duration(text)
        .map_err(|error| format!("`{text}` is not a duration like `500ms`, `30s` or `2m`: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms").unwrap().as_millis(), 500);
        assert_eq!(parse_duration("2m").unwrap().as_secs(), 120);
        assert_eq!(parse_duration("1.5").unwrap().as_millis(), 1500);
        assert!(parse_duration("soon").is_err());
    }
}
