//! The run plan: every flag, environment variable and `.env` file of a command, resolved once
//! into per-stage settings and validated here (ripgrep's `HiArgs`, uv's `*Settings::resolve`).
//!
//! This is the file to read to learn what a flag does to a run. Two steps:
//!
//! 1. [`RunPlan::resolve`] (no I/O): the `run` flags (clap has already merged each with its
//!    `AIGNE_CI_*` variable) and the [`Environment`] snapshot → one struct per stage:
//!    [`FetchSettings`] (stage 1), [`InputsPlan`] + [`BatchPlan`] (stage 4), [`ModelFlags`]
//!    (stage 3a), [`EnginePlan`] (stage 3b: native with its JS bridge, npm and MCP settings; node),
//!    [`ReportPlan`] (stage 5). Every range and combination is checked here, whatever engine
//!    runs (`--engine node --temperature 5` is refused like `--engine native --temperature 5`).
//! 2. [`RunPlan::with_project`], once the project is fetched and loaded: its `.env` files are
//!    read once ([`ProjectEnv`]), the trust check runs ([`trust`]: a project's `.env` cannot
//!    point the runner's keys elsewhere), the model settings are completed, and the engine of
//!    each case is chosen from the agents it reaches ([`crate::engine::route`]).
//!
//! What each flag does:
//!
//! | flag | stage | effect |
//! |---|---|---|
//! | `SOURCE`/`--url`, `--cache-dir`, `--sha256`, `--offline`, `--refresh`, `--subdir`, `--token`, `--max-unpacked-bytes`, `--max-entries`, `--connect-timeout`, `--read-timeout`, `--http-retries`, `--allow-insecure-redirect` | fetch | [`FetchSettings`] |
//! | `AGENT`/`--entry-agent` | engine, batch | the default agent of cases that name none |
//! | `--input`, `--prompt`, `--input-json`, `--on-invalid-input`, `--max-inputs-size`, `--shard` | batch | [`InputsPlan`] |
//! | `--concurrency`, `--timeout`, `--total-timeout`, `--grace-period`, `--fail-on`, `--min-pass-rate` | batch | [`BatchPlan`] |
//! | `--repeat`, `--repeat-min-pass`, `--baseline`, `--judge-model` | batch, report | [`BatchPlan`]: runs per case and how many must pass, the earlier results each case is compared with (read before the first case), the model of `llm-rubric`/`judge` assertions that name none |
//! | `--model`, `--temperature`, `--top-p`, `--presence-penalty`, `--frequency-penalty`, `--reasoning-effort`, `--retries`, `--record`, `--replay` | model | [`ModelFlags`] (native); the same options for the node engine |
//! | `--max-response-size` | model | [`ModelFlags`]: the largest answer body the native engine reads from a provider (refused as it passes the cap) |
//! | `--engine`, `--max-tool-turns`, `--max-reflection-rounds`, `--max-team-iterations`, `--deny-exec`, `--allow-install-scripts`, `--max-tool-result`, `--node-engine-version`, `--node-engine-dir` | engine | [`EnginePlan`] |
//! | `--max-file-size`, `--allow-read` | project, batch | [`FilesPlan`]: what the project may read and how big a file (or an inputs line) may be |
//! | `--trust-project-env` | plan | lets a project `.env` endpoint or proxy go with the runner's keys |
//! | `--out-dir`, `--output`, `--summary`, `--junit`, `--github`, `--transcripts`, `--report` | report | [`ReportPlan`] (transcripts are recorded by the engine of each case) |
//! | `--dry-run` | plan | prints the plan ([`dry_run`]) and exits 0: no model call, no subprocess |
//!
//! No module below `commands/` imports [`crate::cli`]: the stages see only what this file hands
//! them.

pub mod comment;
pub mod dotenv;
pub mod dry_run;
mod error;
pub mod trust;

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value, json};

use crate::batch::{BatchError, FailOn, InputsSource, Policy, Repeat, Shard};
use crate::cli::{
    EngineChoice, FileArgs, GithubMode, InspectArgs, ModelArgs, OnInvalidInput, OutputArgs,
    PolicyArgs, RunArgs, SourceArgs, Switch, VerdictArgs,
};
use crate::engine::choice::EngineRequest;
use crate::engine::js::JsSettings;
use crate::engine::mcp::McpSettings;
use crate::engine::node::NodeEngineSettings;
use crate::engine::npm::NpmSettings;
use crate::env_vars::EnvVars;
use crate::fetch::cache::Bucket;
use crate::fetch::{ExtractLimits, FetchSettings};
use crate::model::settings::js_number;
use crate::model::types::ModelOptions;
use crate::model::{ModelError, ModelFlags, ModelSettings};
use crate::project::{LoadSettings, Project};
use crate::report::{GithubSettings, ProgressMode, Redactor, ReportSettings};
use crate::secret::Secret;
use crate::settings::Environment;

pub use dotenv::{DotEnvError, ProjectEnv};
pub use error::PlanError;

/// Everything `run` will do, resolved from the flags and the environment (step 1).
#[derive(Debug, Clone)]
pub struct RunPlan {
    /// `SOURCE`, `--url`, else `.`.
    pub source: String,
    /// `AGENT` / `--entry-agent` (`None`: the first entry of `agents:`).
    pub agent: Option<String>,
    /// Stage 1.
    pub fetch: FetchSettings,
    /// Where the cases come from.
    pub inputs: InputsPlan,
    /// Stage 4.
    pub batch: BatchPlan,
    /// Stage 3a (completed by [`RunPlan::with_project`] with the `.env` variables).
    pub model: ModelFlags,
    /// Stage 3b.
    pub engine: EnginePlan,
    /// Stage 5.
    pub report: ReportPlan,
    /// Stage 2: what the project may read.
    pub files: FilesPlan,
    /// `--trust-project-env`.
    pub trust_project_env: bool,
    /// `--dry-run`.
    pub dry_run: bool,
}

/// Where the cases come from.
#[derive(Debug, Clone)]
pub struct InputsPlan {
    /// `--input`, `--prompt` or `--input-json`.
    pub source: InputsSource,
    /// `--on-invalid-input skip`.
    pub skip_invalid: bool,
    /// `--shard K/N`.
    pub shard: Option<Shard>,
    /// `--max-file-size`: the longest line of an inputs file.
    pub max_line: u64,
    /// `--max-inputs-size`: the most bytes of an inputs file or stdin.
    pub max_total: u64,
}

/// What a project may read (`--max-file-size`, `--allow-read`), for `run` and `inspect`.
#[derive(Debug, Clone)]
pub struct FilesPlan {
    /// `--max-file-size`.
    pub max_file_size: u64,
    /// `--allow-read`, absolute.
    pub allow_read: Vec<PathBuf>,
}

impl FilesPlan {
    /// Resolves the flags.
    pub fn resolve(args: &FileArgs, environment: &Environment) -> Self {
        Self {
            max_file_size: args.max_file_size,
            allow_read: args
                .allow_read
                .iter()
                .filter(|path| !path.as_os_str().is_empty())
                .map(|path| environment.absolute(path))
                .collect(),
        }
    }

    /// The project loader's settings (a fresh cancel flag).
    pub fn load_settings(&self) -> LoadSettings {
        LoadSettings {
            max_file_size: Some(self.max_file_size),
            allow_read: self.allow_read.clone(),
            cancel: crate::project::Cancel::default(),
        }
    }
}

/// Stage 4: how the cases run and when the run fails.
#[derive(Debug, Clone)]
pub struct BatchPlan {
    /// `--concurrency`.
    pub concurrency: NonZeroUsize,
    /// `--timeout`.
    pub case_timeout: Duration,
    /// `--total-timeout`.
    pub total_timeout: Option<Duration>,
    /// `--grace-period`.
    pub grace_period: Duration,
    /// `--fail-on`, `--min-pass-rate`.
    pub policy: Policy,
    /// `--repeat`, `--repeat-min-pass`.
    pub repeat: Repeat,
    /// `--baseline`, absolute (read before the first case).
    pub baseline: Option<PathBuf>,
    /// `--judge-model`.
    pub judge_model: Option<String>,
}

/// Stage 3b: both engines' settings; which one runs a case is decided per case.
#[derive(Debug, Clone)]
pub struct EnginePlan {
    /// `--engine`.
    pub request: EngineRequest,
    /// `--max-tool-turns`.
    pub max_tool_turns: u32,
    /// `--max-reflection-rounds`.
    pub max_reflection_rounds: u64,
    /// `--max-team-iterations`.
    pub max_team_iterations: u64,
    /// `--max-tool-result`.
    pub max_tool_result: usize,
    /// `--deny-exec`.
    pub deny_exec: bool,
    /// `--allow-install-scripts`.
    pub allow_install_scripts: bool,
    /// `--offline` (npm and the node engine's packages never install).
    pub offline: bool,
    /// The cache root (`--cache-dir`): the node bridge's script, the node engine's packages.
    pub cache_dir: PathBuf,
    /// `--node-engine-version`.
    pub node_version: String,
    /// `--node-engine-dir`.
    pub node_dir: Option<PathBuf>,
    /// `--timeout` (a node host that does not answer within it is restarted).
    pub case_timeout: Duration,
    /// `--model` as the node engine forwards it.
    pub node_model: Option<String>,
    /// The model options as the official CLI forwards them (`temperature`, `topP`, …),
    /// validated like the native ones.
    pub node_model_options: Map<String, Value>,
    /// The cassette flag given (`--replay`/`--record`), which only the native engine honours.
    pub cassette: Option<(&'static str, PathBuf)>,
    /// MCP client settings (`MCP_TIMEOUT`, inherited variables, proxies).
    pub mcp: McpSettings,
    /// The environment subprocesses start with (node, npm).
    pub env: BTreeMap<String, String>,
    /// The folder aigne-ci was started from.
    pub current_dir: PathBuf,
}

impl EnginePlan {
    /// The node bridge of the native engine (JavaScript agents), for `project_dir`.
    pub fn js_settings(&self, project: &Project, project_dir: &Path) -> JsSettings {
        JsSettings {
            env: self.env.clone(),
            // Where aigne-ci was started, as under the official CLI (`process.cwd()`).
            working_dir: self.current_dir.clone(),
            project_dir: project_dir.to_path_buf(),
            script_dir: Bucket::NodeBridge.path(&self.cache_dir),
            call_timeout: self.case_timeout,
            max_result_bytes: self.max_tool_result,
            deny_exec: self.deny_exec,
            agent_names: project
                .top_level_agents()
                .iter()
                .map(|agent| agent.name.clone())
                .collect(),
            // Installed before node first starts, so never for a run that runs no JavaScript.
            dependencies: Some(self.npm_settings()),
        }
    }

    /// npm, for the project's dependencies.
    pub fn npm_settings(&self) -> NpmSettings {
        NpmSettings {
            env: self.env.clone(),
            deny_exec: self.deny_exec,
            allow_install_scripts: self.allow_install_scripts,
            offline: self.offline,
            state_dir: Bucket::NpmProjectState.path(&self.cache_dir),
        }
    }

    /// The node engine (the official runtime), for `project_dir`.
    pub fn node_settings(&self, project: &Project, project_dir: &Path) -> NodeEngineSettings {
        NodeEngineSettings {
            env: self.env.clone(),
            project_dir: project_dir.to_path_buf(),
            working_dir: self.current_dir.clone(),
            packages_dir: Bucket::NodeEngine.path(&self.cache_dir),
            npm_state_dir: Bucket::NpmProjectState.path(&self.cache_dir),
            version: self.node_version.clone(),
            preinstalled: self.node_dir.clone(),
            offline: self.offline,
            deny_exec: self.deny_exec,
            allow_install_scripts: self.allow_install_scripts,
            project_has_js: project.has_javascript(),
            case_timeout: self.case_timeout,
            max_reply_bytes: self.max_tool_result,
            max_reflection_rounds: self.max_reflection_rounds,
            max_team_iterations: self.max_team_iterations,
            model: self.node_model.clone(),
            model_options: self.node_model_options.clone(),
        }
    }
}

/// Stage 5: where results go.
#[derive(Debug, Clone)]
pub struct ReportPlan {
    /// `--output`, else `<out-dir>/results.jsonl`.
    pub results_path: PathBuf,
    /// `--summary`, else `<out-dir>/summary.json`.
    pub summary_path: PathBuf,
    /// `--junit`.
    pub junit_path: Option<PathBuf>,
    /// `--github` (`auto`: inside GitHub Actions): step outputs, summary, annotations, masks.
    pub github: Option<GithubSettings>,
    /// A progress bar on a terminal, lines otherwise.
    pub progress: ProgressMode,
    /// `--grace-period`, for the "stopping" message.
    pub grace_period: Duration,
    /// `--out-dir` (transcripts go under it).
    pub out_dir: PathBuf,
    /// `--transcripts on`: each case records what ran.
    pub transcripts: bool,
    /// `--report FILE|off`, else `<out-dir>/report.html`.
    pub html_path: Option<PathBuf>,
}

impl ReportPlan {
    /// Resolves the output flags (shared by `run` and `merge`).
    pub fn resolve(
        outputs: &OutputArgs,
        environment: &Environment,
        grace_period: Duration,
    ) -> Self {
        let out_dir = environment.absolute(&outputs.out_dir);
        let place = |flag: &Option<PathBuf>, default: &str| match flag {
            Some(path) => environment.absolute(path),
            None => out_dir.join(default),
        };
        let github = github_enabled(outputs.github, environment).then(|| GithubSettings {
            output: environment.runner.github_output.clone(),
            step_summary: environment.runner.github_step_summary.clone(),
        });
        let progress = if github.is_none() && std::io::stderr().is_terminal() {
            ProgressMode::Bar
        } else {
            ProgressMode::Lines
        };
        Self {
            results_path: place(&outputs.output, "results.jsonl"),
            summary_path: place(&outputs.summary, "summary.json"),
            junit_path: outputs
                .junit
                .as_ref()
                .map(|path| environment.absolute(path)),
            github,
            progress,
            grace_period,
            html_path: match &outputs.report {
                Some(path) if path.as_os_str() == "off" => None,
                Some(path) => Some(environment.absolute(path)),
                None => Some(out_dir.join("report.html")),
            },
            transcripts: outputs.transcripts == Switch::On,
            out_dir,
        }
    }

    /// Takes the output folders for this run (refused at once when another run holds one, or
    /// when an output path is not a regular file); held until the guard drops.
    pub fn lock_outputs(
        &self,
    ) -> Result<crate::report::lock::OutputLock, crate::report::ReportError> {
        let mut paths: Vec<&Path> = vec![&self.results_path, &self.summary_path];
        paths.extend(self.junit_path.as_deref());
        paths.extend(self.html_path.as_deref());
        crate::report::lock::lock_outputs(&self.out_dir, &paths)
    }

    /// Whether the GitHub integration is on.
    pub fn github_enabled(&self) -> bool {
        self.github.is_some()
    }

    /// The report stage's settings, once the secrets and the inputs file are known.
    pub fn settings(&self, redactor: Redactor, inputs_file: Option<String>) -> ReportSettings {
        ReportSettings {
            results_path: self.results_path.clone(),
            summary_path: self.summary_path.clone(),
            junit_path: self.junit_path.clone(),
            github: self.github.clone(),
            progress: self.progress,
            redactor,
            inputs_file,
            grace_period: self.grace_period,
            out_dir: self.out_dir.clone(),
            transcripts: self.transcripts,
            html_path: self.html_path.clone(),
        }
    }
}

/// Whether the GitHub integration is on (`auto` = inside GitHub Actions).
pub fn github_enabled(mode: GithubMode, environment: &Environment) -> bool {
    match mode {
        GithubMode::On => true,
        GithubMode::Off => false,
        GithubMode::Auto => environment.in_github_actions(),
    }
}

/// `--fail-on`, `--min-pass-rate` (shared by `run` and `merge`), checked.
pub fn policy(args: &PolicyArgs) -> Result<Policy, PlanError> {
    if let Some(rate) = args.min_pass_rate
        && !(0.0..=1.0).contains(&rate)
    {
        return Err(BatchError::Setting {
            flag: "min-pass-rate",
            message: format!("must be between 0 and 1, not `{rate}`"),
        }
        .into());
    }
    Ok(Policy {
        fail_on: args.fail_on,
        min_pass_rate: args.min_pass_rate,
    })
}

/// `--repeat N` and `--repeat-min-pass K` (1 <= K <= N; K defaults to N).
fn repeat(verdicts: &VerdictArgs) -> Result<Repeat, PlanError> {
    let runs = NonZeroUsize::new(verdicts.repeat).ok_or(BatchError::Setting {
        flag: "repeat",
        message: "must be at least 1".to_owned(),
    })?;
    let min_pass = verdicts.repeat_min_pass.unwrap_or(runs.get());
    if min_pass == 0 || min_pass > runs.get() {
        return Err(BatchError::Setting {
            flag: "repeat-min-pass",
            message: format!(
                "must be between 1 and `--repeat` ({}), not `{min_pass}`",
                runs.get()
            ),
        }
        .into());
    }
    Ok(Repeat { runs, min_pass })
}

impl RunPlan {
    /// Step 1: the flags and the environment, validated. No file is read, nothing starts.
    pub fn resolve(args: &RunArgs, environment: &Environment) -> Result<Self, PlanError> {
        let source = args
            .source
            .clone()
            .or_else(|| args.url.clone())
            .unwrap_or_else(|| ".".to_owned());
        let inputs = InputsPlan {
            source: inputs_source(args)?,
            skip_invalid: args.inputs.on_invalid_input == OnInvalidInput::Skip,
            shard: args.shard.as_deref().map(Shard::parse).transpose()?,
            max_line: args.files.max_file_size,
            max_total: args.inputs.max_inputs_size,
        };
        let concurrency = NonZeroUsize::new(args.concurrency).ok_or(BatchError::Setting {
            flag: "concurrency",
            message: "must be at least 1".to_owned(),
        })?;
        if args.policy.fail_on == FailOn::Regression && args.verdicts.baseline.is_none() {
            return Err(PlanError::usage(
                "`--fail-on regression` needs `--baseline PATH`",
                Some(
                    "pass the `results.jsonl` (or out-dir) of an earlier run, e.g. the base branch's"
                        .to_owned(),
                ),
            ));
        }
        let batch = BatchPlan {
            concurrency,
            case_timeout: args.timeout,
            total_timeout: args.total_timeout,
            grace_period: args.grace_period,
            policy: policy(&args.policy)?,
            repeat: repeat(&args.verdicts)?,
            baseline: args
                .verdicts
                .baseline
                .as_ref()
                .map(|path| environment.absolute(path)),
            judge_model: args.verdicts.judge_model.clone(),
        };
        // The model flags are checked whatever engine runs: both forward them.
        let model = model_flags(&args.model, environment)?;
        let fetch = fetch_settings(environment, source.clone(), &args.source_args)?;
        // As given, for the message.
        let cassette = [
            ("--replay", &args.model.replay),
            ("--record", &args.model.record),
        ]
        .into_iter()
        .find_map(|(flag, path)| path.clone().map(|path| (flag, path)));
        let engine = EnginePlan {
            request: match args.engine {
                EngineChoice::Auto => EngineRequest::Auto,
                EngineChoice::Native => EngineRequest::Native,
                EngineChoice::Node => EngineRequest::Node,
            },
            max_tool_turns: args.max_tool_turns,
            max_reflection_rounds: args.max_reflection_rounds,
            max_team_iterations: args.max_team_iterations,
            max_tool_result: usize::try_from(args.max_tool_result).unwrap_or(usize::MAX),
            deny_exec: args.deny_exec,
            allow_install_scripts: args.allow_install_scripts,
            offline: args.source_args.offline,
            cache_dir: environment.cache_dir(args.source_args.cache_dir.as_ref()),
            node_version: args.node_engine_version.clone(),
            node_dir: args.node_engine_dir.clone(),
            case_timeout: args.timeout,
            node_model: args.model.model.clone(),
            node_model_options: node_model_options(&args.model),
            cassette,
            mcp: McpSettings {
                max_result_bytes: usize::try_from(args.max_tool_result).unwrap_or(usize::MAX),
                ..McpSettings::resolve(environment, args.deny_exec)
            },
            env: environment.variables.clone(),
            current_dir: environment.current_dir.clone(),
        };
        Ok(Self {
            source,
            agent: args.agent.clone().or_else(|| args.entry_agent.clone()),
            fetch,
            inputs,
            batch,
            model,
            engine,
            report: ReportPlan::resolve(&args.outputs, environment, args.grace_period),
            files: FilesPlan::resolve(&args.files, environment),
            trust_project_env: args.trust_project_env,
            dry_run: args.dry_run,
        })
    }

    /// Step 2a, right after the fetch and before the project loads: the `.env` files of the
    /// current and the project folder, read once (bounded and confined like every project
    /// file), so that their secrets are masked before anything about the project can print.
    pub fn read_project_env(
        &self,
        environment: &Environment,
        project_dir: &Path,
    ) -> Result<ProjectEnv, PlanError> {
        Ok(
            ProjectEnv::read(environment, project_dir, &self.files.load_settings())
                .map_err(ModelError::from)?,
        )
    }

    /// Step 2b, once the project is loaded: the trust check of its `.env` files; the model
    /// settings.
    pub fn with_project(
        &self,
        environment: &Environment,
        project: &Arc<Project>,
        project_dir: &Path,
        dotenv: ProjectEnv,
    ) -> Result<ProjectPlan, PlanError> {
        if !self.trust_project_env {
            trust::check(&dotenv)?;
        }
        let mut model = ModelSettings::resolve(&self.model, environment, dotenv.variables.clone());
        // `--token` is masked in a recorded cassette like the keys of the environment.
        model.extra_secrets.extend(
            self.fetch
                .token
                .iter()
                .map(|token| token.expose().to_owned()),
        );
        Ok(ProjectPlan {
            project: project.clone(),
            project_dir: project_dir.to_path_buf(),
            dotenv,
            model,
        })
    }
}

/// What the run knows once the project is loaded (step 2).
#[derive(Debug, Clone)]
pub struct ProjectPlan {
    /// The project, as the native loader reads it.
    pub project: Arc<Project>,
    /// Its folder.
    pub project_dir: PathBuf,
    /// The environment with its `.env` files.
    pub dotenv: ProjectEnv,
    /// Stage 3a, complete.
    pub model: ModelSettings,
}

/// `inspect`'s plan: the fetch, and the model settings the project's `.env` files complete (as
/// `run` reads them).
#[derive(Debug, Clone)]
pub struct InspectPlan {
    /// Stage 1.
    pub fetch: FetchSettings,
    /// `--model`.
    pub model: ModelFlags,
    /// MCP servers are started to list their tools (not with `--deny-exec`).
    pub mcp: McpSettings,
    /// What the project may read.
    pub files: FilesPlan,
}

impl InspectPlan {
    /// Resolves `inspect`'s flags.
    pub fn resolve(args: &InspectArgs, environment: &Environment) -> Result<Self, PlanError> {
        let source = args
            .source
            .clone()
            .or_else(|| args.url.clone())
            .unwrap_or_else(|| ".".to_owned());
        Ok(Self {
            fetch: fetch_settings(environment, source, &args.source_args)?,
            model: ModelFlags {
                model: args.model.clone().filter(|model| !model.is_empty()),
                ..ModelFlags::default()
            },
            mcp: McpSettings::resolve(environment, args.deny_exec),
            files: FilesPlan::resolve(&args.files, environment),
        })
    }

    /// The model settings with the project's `.env` files, read once (bounded and confined
    /// like every project file), and the secret values those files add.
    pub fn model_settings(
        &self,
        environment: &Environment,
        project_dir: &Path,
    ) -> Result<(ModelSettings, Vec<String>), PlanError> {
        let dotenv = ProjectEnv::read(environment, project_dir, &self.files.load_settings())
            .map_err(ModelError::from)?;
        let secrets = dotenv.secrets();
        Ok((
            ModelSettings::resolve(&self.model, environment, dotenv.variables),
            secrets,
        ))
    }
}

/// Stage 1 settings for `source` from the `SourceArgs` flags (which clap already merged with
/// their `AIGNE_CI_*` variables) and the environment (`GITHUB_TOKEN`, proxies, cache default).
/// Shared by `run`, `fetch` and `inspect`.
pub fn fetch_settings(
    environment: &Environment,
    source: String,
    args: &SourceArgs,
) -> Result<FetchSettings, PlanError> {
    let sha256 = args.sha256.as_deref().map(parse_sha256).transpose()?;
    if args.max_entries == 0 || args.max_unpacked_bytes == 0 {
        return Err(PlanError::usage(
            "`--max-entries` and `--max-unpacked-bytes` must be greater than 0",
            None,
        ));
    }
    Ok(FetchSettings {
        source,
        current_dir: environment.current_dir.clone(),
        cache_dir: environment.cache_dir(args.cache_dir.as_ref()),
        sha256,
        offline: args.offline,
        refresh: args.refresh,
        subdir: args.subdir.clone(),
        token: args
            .token
            .as_deref()
            .filter(|token| !token.is_empty())
            .map(Secret::new),
        github_token: environment.get(EnvVars::GITHUB_TOKEN).map(Secret::new),
        limits: ExtractLimits {
            max_unpacked_bytes: args.max_unpacked_bytes,
            max_entries: args.max_entries,
        },
        http: crate::http::HttpSettings {
            allow_insecure_redirect: args.allow_insecure_redirect,
            ..environment.http_settings(args.connect_timeout, args.read_timeout, args.http_retries)
        },
    })
}

/// `--sha256`: 64 hex digits (an optional `sha256:` prefix is accepted), lower-cased.
fn parse_sha256(text: &str) -> Result<String, PlanError> {
    let trimmed = text.trim();
    let digits = trimmed.strip_prefix("sha256:").unwrap_or(trimmed);
    if digits.len() == 64 && digits.chars().all(|c| c.is_ascii_hexdigit()) {
        Ok(digits.to_ascii_lowercase())
    } else {
        Err(PlanError::usage(
            format!("`--sha256 {text}` is not a sha256 digest (64 hex digits)"),
            Some("compute it with `sha256sum project.tar.gz`".to_owned()),
        ))
    }
}

/// The model settings `run` resolves for a project folder: the model flags, the environment and
/// the `.env` files of the current and the project folder (no trust check).
pub fn model_settings(
    args: &ModelArgs,
    environment: &Environment,
    project_dir: &Path,
) -> Result<ModelSettings, PlanError> {
    let flags = model_flags(args, environment)?;
    let dotenv = ProjectEnv::read(environment, project_dir, &LoadSettings::default())
        .map_err(ModelError::from)?;
    Ok(ModelSettings::resolve(
        &flags,
        environment,
        dotenv.variables,
    ))
}

/// `--input`, `--prompt` or `--input-json`.
fn inputs_source(args: &RunArgs) -> Result<InputsSource, PlanError> {
    if let Some(path) = &args.inputs.input {
        return Ok(if path.as_os_str() == "-" {
            InputsSource::Stdin
        } else {
            InputsSource::File(path.clone())
        });
    }
    if let Some(prompt) = &args.inputs.prompt {
        return Ok(InputsSource::Prompt(prompt.clone()));
    }
    if let Some(json) = &args.inputs.input_json {
        return Ok(InputsSource::InputJson(json.clone()));
    }
    Err(PlanError::usage(
        "no inputs: pass `--input FILE`, `--prompt TEXT` or `--input-json JSON`",
        Some(
            "an inputs file holds one JSON value per line, e.g. `{\"message\": \"hello\"}`"
                .to_owned(),
        ),
    ))
}

/// The model flags, each checked against its range (AIGNE's camelCase option names).
pub fn model_flags(args: &ModelArgs, environment: &Environment) -> Result<ModelFlags, PlanError> {
    Ok(ModelFlags {
        model: args.model.clone().filter(|model| !model.is_empty()),
        options: model_options(args)?,
        retries: args.retries,
        max_response_bytes: usize::try_from(args.max_response_size).unwrap_or(usize::MAX),
        record: args.record.as_ref().map(|path| environment.absolute(path)),
        replay: args.replay.as_ref().map(|path| environment.absolute(path)),
    })
}

fn model_options(args: &ModelArgs) -> Result<ModelOptions, ModelError> {
    let mut options = ModelOptions::new();
    let ranged = |name: &str, value: f64, low: f64, high: f64| {
        if value.is_finite() && (low..=high).contains(&value) {
            Ok(js_number(value))
        } else {
            Err(ModelError::InvalidSetting {
                name: format!("--{name}"),
                message: format!("`{value}` is not between {low} and {high}"),
            })
        }
    };
    if let Some(value) = args.temperature {
        options.insert(
            "temperature".to_owned(),
            ranged("temperature", value, 0.0, 2.0)?,
        );
    }
    if let Some(value) = args.top_p {
        options.insert("topP".to_owned(), ranged("top-p", value, 0.0, 1.0)?);
    }
    if let Some(value) = args.frequency_penalty {
        options.insert(
            "frequencyPenalty".to_owned(),
            ranged("frequency-penalty", value, -2.0, 2.0)?,
        );
    }
    if let Some(value) = args.presence_penalty {
        options.insert(
            "presencePenalty".to_owned(),
            ranged("presence-penalty", value, -2.0, 2.0)?,
        );
    }
    if let Some(effort) = &args.reasoning_effort {
        let value = match effort.as_str() {
            "minimal" | "low" | "medium" | "high" => json!(effort),
            other => match other.parse::<f64>() {
                Ok(number) if number.is_finite() && number >= 0.0 => js_number(number),
                _ => {
                    return Err(ModelError::InvalidSetting {
                        name: "--reasoning-effort".to_owned(),
                        message: format!(
                            "`{other}` is not `minimal`, `low`, `medium`, `high` or a token budget"
                        ),
                    });
                }
            },
        };
        options.insert("reasoningEffort".to_owned(), value);
    }
    Ok(options)
}

/// `--temperature` and friends under the names the official CLI forwards to its model (as
/// given: the official CLI parses them itself).
fn node_model_options(model: &ModelArgs) -> Map<String, Value> {
    let mut options = Map::new();
    let numbers = [
        ("temperature", model.temperature),
        ("topP", model.top_p),
        ("presencePenalty", model.presence_penalty),
        ("frequencyPenalty", model.frequency_penalty),
    ];
    for (name, value) in numbers {
        if let Some(value) = value {
            options.insert(name.to_owned(), json!(value));
        }
    }
    if let Some(effort) = &model.reasoning_effort {
        options.insert("reasoningEffort".to_owned(), json!(effort));
    }
    options
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[test]
    fn sha256_pins() {
        let digest = "AB".repeat(32);
        assert_eq!(parse_sha256(&digest).unwrap(), "ab".repeat(32));
        assert_eq!(
            parse_sha256(&format!("sha256:{digest}")).unwrap(),
            "ab".repeat(32)
        );
        assert!(parse_sha256("abc").is_err());
        assert!(parse_sha256(&"zz".repeat(32)).is_err());
    }
    use crate::cli::{Cli, Command};

    fn plan(args: &[&str]) -> Result<RunPlan, PlanError> {
        let cli = Cli::try_parse_from(
            ["aigne-ci", "run", "--prompt", "hi"]
                .iter()
                .chain(args)
                .copied(),
        )
        .unwrap();
        let Command::Run(args) = cli.command else {
            unreachable!()
        };
        let environment = Environment::from_variables(BTreeMap::new(), PathBuf::from("/work"));
        RunPlan::resolve(&args, &environment)
    }

    #[test]
    fn model_flags_are_checked_for_every_engine() {
        for engine in ["auto", "native", "node"] {
            let error = plan(&["--engine", engine, "--temperature", "5"]).unwrap_err();
            assert_eq!(
                crate::text::error_chain(&error),
                "invalid model setting `--temperature`: `5` is not between 0 and 2",
                "{engine}"
            );
        }
        let plan = plan(&["--engine", "node", "--temperature", "1", "--top-p", "0.5"]).unwrap();
        assert_eq!(plan.engine.request, EngineRequest::Node);
        assert_eq!(plan.model.options["temperature"], json!(1));
        assert_eq!(
            plan.engine.node_model_options,
            json!({"temperature": 1.0, "topP": 0.5})
                .as_object()
                .unwrap()
                .clone()
        );
    }

    #[test]
    fn the_node_engine_version_default_is_the_pinned_one() {
        let plan = plan(&[]).unwrap();
        assert_eq!(
            plan.engine.node_version,
            crate::engine::node::DEFAULT_AIGNE_CLI_VERSION
        );
    }

    #[test]
    fn batch_settings_are_checked() {
        assert!(plan(&["--concurrency", "0"]).is_err());
        assert!(plan(&["--min-pass-rate", "1.5"]).is_err());
        assert!(plan(&["--shard", "3/2"]).is_err());
        let plan = plan(&["--concurrency", "2", "--shard", "1/2", "--replay", "c.json"]).unwrap();
        assert_eq!(plan.batch.concurrency.get(), 2);
        assert_eq!(plan.inputs.shard.map(|shard| shard.count), Some(2));
        assert_eq!(
            plan.engine.cassette,
            Some(("--replay", PathBuf::from("c.json")))
        );
        assert_eq!(plan.source, ".");
    }
}
