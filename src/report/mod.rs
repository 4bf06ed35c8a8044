//! STAGE 5: `results.jsonl`, `summary.json`, JUnit, GitHub step outputs and annotations, and the
//! human summary on stderr.
//!
//! Input: the [`CaseOutcome`]s of stage 4 (through [`RunReporter`], the batch's
//! [`crate::batch::Reporter`]) or the records of earlier runs (`merge`). Output: files, and text
//! on stderr. This stage and `diagnostics.rs` are the only ones that print. Every record is
//! masked by the [`Redactor`] string by string before it is serialised or rendered (keys and
//! structure untouched), so a secret a model echoes never reaches a file or the log, whatever
//! characters it holds; no line printed from data can start a workflow command.

pub mod baseline;
pub mod github;
pub mod html;
pub mod human;
pub mod junit;
pub mod lock;
pub mod record;
pub mod redact;
pub mod step_outputs;
pub mod summary;
pub mod transcripts;

mod fetch_progress;

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::batch::assertion::{excerpt, output_text};
use crate::batch::{CaseOutcome, CaseStatus, Reporter, StopReason};

pub use baseline::{Baseline, BaselineError, BaselineStatus};
pub use fetch_progress::FetchProgress;
pub use human::ProgressMode;
pub use record::{FORMAT_VERSION, ResultRecord};
pub use redact::Redactor;
pub use summary::{
    InputsInfo, ProjectInfo, RepeatInfo, RunContext, ShardInfo, SubprocessInfo, Summary, Tally,
    TokensInfo,
};

/// Stage 5 failed: an output file cannot be written or read.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// Writing a file failed.
    #[error("cannot write `{path}`")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Reading a file failed.
    #[error("cannot read `{path}`")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A results line is not a result record.
    #[error("`{path}` line {line} is not a results record")]
    Parse {
        path: PathBuf,
        line: usize,
        #[source]
        source: serde_json::Error,
    },
    /// Another run holds an output folder.
    #[error("`{folder}` is in use by another aigne-ci run ({holder})")]
    Busy {
        /// The output folder.
        folder: PathBuf,
        /// Who holds it (pid, command, start time), as its lock file says.
        holder: String,
    },
    /// An output folder's lock cannot be taken.
    #[error("cannot lock `{path}`")]
    Lock {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// JUnit serialisation failed.
    #[error("cannot render the JUnit report `{path}`")]
    Junit {
        path: PathBuf,
        #[source]
        source: quick_junit::SerializeError,
    },
}

impl crate::hint::Hint for ReportError {
    fn hint(&self) -> Option<String> {
        match self {
            Self::Busy { .. } => Some(
                "wait for that run to end, or give this one its own `--out-dir` (and `--output`, `--summary`, `--junit`)"
                    .to_owned(),
            ),
            Self::Write { source, .. } if source.kind() == std::io::ErrorKind::InvalidInput => {
                Some("remove it, or point the flag at a new file".to_owned())
            }
            _ => None,
        }
    }
}

/// GitHub Actions files (when the integration is on).
#[derive(Debug, Clone, Default)]
pub struct GithubSettings {
    /// `$GITHUB_OUTPUT`.
    pub output: Option<PathBuf>,
    /// `$GITHUB_STEP_SUMMARY`.
    pub step_summary: Option<PathBuf>,
}

/// Where and how to report.
#[derive(Debug, Clone)]
pub struct ReportSettings {
    pub results_path: PathBuf,
    pub summary_path: PathBuf,
    pub junit_path: Option<PathBuf>,
    /// `None` when the GitHub integration is off.
    pub github: Option<GithubSettings>,
    pub progress: ProgressMode,
    pub redactor: Redactor,
    /// The inputs file as named in annotations and messages (`None` for inline inputs).
    pub inputs_file: Option<String>,
    /// Grace period, for the "stopping" message.
    pub grace_period: Duration,
    /// The out-dir (transcripts are written under it, and named relative to it).
    pub out_dir: PathBuf,
    /// Whether per-case transcripts are written.
    pub transcripts: bool,
    /// Where `report.html` goes (`None`: `--report off`).
    pub html_path: Option<PathBuf>,
}

/// What the end-of-run reports need of one case (small, kept for every case).
#[derive(Debug, Clone)]
pub struct Brief {
    pub id: String,
    pub line: usize,
    pub agent: String,
    pub status: CaseStatus,
    pub duration_ms: u64,
    /// Why it did not pass.
    pub detail: Option<String>,
    /// Error kind of an errored case.
    pub error_kind: Option<String>,
    /// Start of the output text of a failed case.
    pub output_excerpt: Option<String>,
    /// Under `--repeat`: whether its runs disagreed, and how many passed of how many.
    pub flaky: bool,
    pub runs_passed: Option<(usize, usize)>,
    /// Under `--baseline`: how it compares.
    pub baseline: Option<BaselineStatus>,
}

impl Brief {
    /// The brief of a record (already redacted text is expected).
    pub fn of(record: &ResultRecord) -> Self {
        let output_excerpt = match (record.status, &record.output) {
            (CaseStatus::Failed, Some(output)) => Some(excerpt(&output_text(output, "message"))),
            _ => None,
        };
        Self {
            id: record.id.clone(),
            line: record.line,
            agent: record.agent.clone(),
            status: record.status,
            duration_ms: record.duration_ms,
            detail: record.detail(),
            error_kind: record.error.as_ref().map(|error| error.kind.clone()),
            output_excerpt,
            flaky: record.flaky == Some(true),
            runs_passed: (!record.runs.is_empty()).then(|| {
                (
                    record
                        .runs
                        .iter()
                        .filter(|run| run.status == CaseStatus::Passed)
                        .count(),
                    record.runs.len(),
                )
            }),
            baseline: record.baseline,
        }
    }

    /// ` (flaky, 2/3 runs passed, regressed)`, or nothing.
    pub fn tags(&self) -> String {
        let mut tags = Vec::new();
        if self.flaky {
            tags.push("flaky".to_owned());
        }
        if let Some((passed, runs)) = self.runs_passed {
            tags.push(format!("{passed}/{runs} runs passed"));
        }
        if let Some(status) = self.baseline
            && matches!(status, BaselineStatus::Regressed | BaselineStatus::Fixed)
        {
            tags.push(status.as_str().to_owned());
        }
        if tags.is_empty() {
            String::new()
        } else {
            format!(" ({})", tags.join(", "))
        }
    }

    /// The brief with every text masked.
    pub fn redacted(mut self, redactor: &Redactor) -> Self {
        let mask = |text: String| redactor.redact(&text).into_owned();
        self.id = mask(self.id);
        self.agent = mask(self.agent);
        self.detail = self.detail.map(mask);
        self.error_kind = self.error_kind.map(mask);
        self.output_excerpt = self.output_excerpt.map(mask);
        self
    }
}

/// Every case seen: totals and briefs.
#[derive(Debug, Clone, Default)]
pub struct Collected {
    pub tally: Tally,
    pub briefs: Vec<Brief>,
}

impl Collected {
    /// Adds one record.
    pub fn add(&mut self, record: &ResultRecord, redactor: &Redactor) {
        self.tally.add(record);
        self.briefs.push(Brief::of(record).redacted(redactor));
    }
}

/// Appends records to `results.jsonl`, one line per case, flushed at once.
pub struct ResultsWriter {
    path: PathBuf,
    file: std::io::BufWriter<fs_err::File>,
}

impl ResultsWriter {
    /// Creates (truncates) the results file and its folder.
    pub fn create(path: &Path) -> Result<Self, ReportError> {
        let write_error = |source| ReportError::Write {
            path: path.to_path_buf(),
            source,
        };
        if let Some(folder) = path.parent()
            && !folder.as_os_str().is_empty()
        {
            fs_err::create_dir_all(folder).map_err(write_error)?;
        }
        let file = lock::create_regular(path).map_err(write_error)?;
        Ok(Self {
            path: path.to_path_buf(),
            file: std::io::BufWriter::new(file),
        })
    }

    /// Writes one record as a line and flushes it; every string in it is masked first.
    pub fn write(&mut self, record: &ResultRecord, redactor: &Redactor) -> std::io::Result<()> {
        let masked = redactor
            .redact_record(record)
            .map_err(std::io::Error::other)?;
        // Straight into the buffered file: a large output is not copied into a line first.
        serde_json::to_writer(&mut self.file, &masked).map_err(std::io::Error::other)?;
        self.file.write_all(b"\n")?;
        self.file.flush()
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Reads a `results.jsonl` file.
pub fn read_results(path: &Path) -> Result<Vec<ResultRecord>, ReportError> {
    let file = fs_err::File::open(path).map_err(|source| ReportError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let mut records = Vec::new();
    for (index, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|source| ReportError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        if line.trim().is_empty() {
            continue;
        }
        let record = serde_json::from_str(&line).map_err(|source| ReportError::Parse {
            path: path.to_path_buf(),
            line: index + 1,
            source,
        })?;
        records.push(record);
    }
    Ok(records)
}

/// Reads a `summary.json` file.
pub fn read_summary(path: &Path) -> Result<Summary, ReportError> {
    let text = fs_err::read_to_string(path).map_err(|source| ReportError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|source| ReportError::Parse {
        path: path.to_path_buf(),
        line: source.line(),
        source,
    })
}

/// Prints an agent output as JSON on stdout (the data of a one-input run), every string masked.
pub fn print_output(output: &serde_json::Value, redactor: &Redactor) {
    let mut output = output.clone();
    redactor.redact_value(&mut output);
    let text = serde_json::to_string_pretty(&output).unwrap_or_else(|_| output.to_string());
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{text}");
    let _ = stdout.flush();
}

/// One `aigne-ci: …` log line on stderr (e.g. which engine runs and why).
pub fn log_line(message: &str) {
    human::eprint(&format!("aigne-ci: {message}\n"));
}

/// A notice: a `::notice::` annotation inside GitHub Actions (with the line in the log), an
/// `aigne-ci: notice: …` line elsewhere; masked, and unable to start another command.
pub fn notice(message: &str, github_actions: bool, redactor: &Redactor) {
    let message = redactor.redact(message);
    if github_actions {
        human::eprint_commands(&format!(
            "::notice title=aigne-ci::{}\n",
            github::escape_data(&message)
        ));
    } else {
        human::eprint_line(&format!(
            "aigne-ci: notice: {}",
            crate::text::one_line(&message)
        ));
    }
}

/// Emits `::add-mask::` for every secret (first thing a run does in GitHub Actions).
pub fn announce_masks(redactor: &Redactor) {
    human::eprint_commands(&github::mask_commands(redactor.secrets()));
}

/// The batch's reporter for `run`: writes each case to `results.jsonl` as it ends, shows
/// progress and keeps the briefs for the end-of-run reports.
pub struct RunReporter {
    settings: ReportSettings,
    writer: ResultsWriter,
    collected: Collected,
    progress: human::Progress,
    single_output: Option<serde_json::Value>,
    baseline: Option<Baseline>,
}

impl RunReporter {
    /// Creates the results file.
    pub fn create(settings: ReportSettings) -> Result<Self, ReportError> {
        let writer = ResultsWriter::create(&settings.results_path)?;
        let progress = human::Progress::new(settings.progress);
        Ok(Self {
            settings,
            writer,
            collected: Collected::default(),
            progress,
            single_output: None,
            baseline: None,
        })
    }

    /// Compares every case with this baseline (`--baseline`).
    pub fn with_baseline(mut self, baseline: Baseline) -> Self {
        self.baseline = Some(baseline);
        self
    }

    /// The output of the last case, when the run had one case (for stdout).
    pub fn single_output(&self) -> Option<&serde_json::Value> {
        self.single_output.as_ref()
    }

    /// Writes the summary and the other end-of-run reports.
    pub fn finish(
        mut self,
        context: &RunContext,
        not_run: usize,
        stopped: Option<StopReason>,
        wall_ms: u64,
    ) -> Result<Summary, ReportError> {
        self.progress.finish();
        if let Some(baseline) = &self.baseline {
            self.collected.tally.baseline_missing = Some(baseline.missing());
        }
        publish(
            &self.settings,
            context,
            &self.collected,
            not_run,
            stopped,
            wall_ms,
            Vec::new(),
        )
    }
}

impl Reporter for RunReporter {
    fn on_start(&mut self, cases: usize) {
        if self.settings.github.is_some() {
            human::eprint_commands(&format!("::group::aigne-ci: running {cases} cases\n"));
        }
        self.progress.start(cases);
    }

    fn on_case(&mut self, outcome: &CaseOutcome) -> std::io::Result<()> {
        let mut record = ResultRecord::from(outcome);
        if let Some(baseline) = &mut self.baseline {
            record.baseline = baseline.compare(&record);
        }
        if self.settings.transcripts
            && let Some(transcript) = &outcome.transcript
        {
            record.transcript = Some(transcripts::write(
                &self.settings.out_dir,
                outcome,
                transcript,
                &self.settings.redactor,
            )?);
        }
        // Masked once, string by string, before anything is written or kept.
        let record = self
            .settings
            .redactor
            .redact_owned(record)
            .map_err(std::io::Error::other)?;
        self.writer
            .write(&record, &self.settings.redactor)
            .map_err(|error| {
                std::io::Error::new(
                    error.kind(),
                    format!("cannot write `{}`: {error}", self.writer.path().display()),
                )
            })?;
        self.collected.add(&record, &self.settings.redactor);
        if self.collected.tally.counts.total == 1 {
            self.single_output = record.output.clone();
        } else {
            self.single_output = None;
        }
        self.progress.case(record.status);
        Ok(())
    }

    fn on_stopping(&mut self, reason: StopReason, in_flight: usize) {
        self.progress
            .stopping(reason, in_flight, self.settings.grace_period);
    }
}

/// Writes `summary.json`, the JUnit file and the GitHub files, and prints the human summary.
pub fn publish(
    settings: &ReportSettings,
    context: &RunContext,
    collected: &Collected,
    not_run: usize,
    stopped: Option<StopReason>,
    wall_ms: u64,
    merged_from: Vec<String>,
) -> Result<Summary, ReportError> {
    publish_with_problems(
        settings,
        context,
        collected,
        not_run,
        stopped,
        wall_ms,
        merged_from,
        Vec::new(),
    )
}

/// [`publish`], with problems of a merge (duplicate or missing lines) that make the policy
/// fail.
#[allow(clippy::too_many_arguments)]
pub fn publish_with_problems(
    settings: &ReportSettings,
    context: &RunContext,
    collected: &Collected,
    not_run: usize,
    stopped: Option<StopReason>,
    wall_ms: u64,
    merged_from: Vec<String>,
    problems: Vec<String>,
) -> Result<Summary, ReportError> {
    let redactor = &settings.redactor;
    let mut summary = summary::build(
        context,
        &collected.tally,
        not_run,
        stopped,
        wall_ms,
        &settings.results_path,
        settings.junit_path.as_deref(),
    );
    summary.merged_from = merged_from;
    summary.report_file = settings
        .html_path
        .as_ref()
        .map(|path| path.display().to_string());
    if !problems.is_empty() {
        summary.policy.holds = false;
        summary.policy.reasons.extend(problems);
        if summary.conclusion == "success" {
            summary.conclusion = "failure".to_owned();
        }
    }
    // Every string of the summary is masked before it is written or rendered.
    let summary: Summary =
        redactor
            .redact_typed(&summary)
            .map_err(|source| ReportError::Write {
                path: settings.summary_path.clone(),
                source: std::io::Error::other(source),
            })?;
    let json = serde_json::to_string_pretty(&summary).map_err(|source| ReportError::Write {
        path: settings.summary_path.clone(),
        source: std::io::Error::other(source),
    })?;
    summary::write_atomic(&settings.summary_path, format!("{json}\n").as_bytes()).map_err(
        |source| ReportError::Write {
            path: settings.summary_path.clone(),
            source,
        },
    )?;
    if let Some(html_path) = &settings.html_path {
        html::write(
            html_path,
            &summary,
            &settings.results_path,
            &settings.out_dir,
            redactor,
        )?;
    }
    if let Some(junit_path) = &settings.junit_path {
        let xml =
            junit::render(&summary, &collected.briefs).map_err(|source| ReportError::Junit {
                path: junit_path.clone(),
                source,
            })?;
        summary::write_atomic(junit_path, xml.as_bytes()).map_err(|source| ReportError::Write {
            path: junit_path.clone(),
            source,
        })?;
    }
    let file_label = settings
        .inputs_file
        .as_deref()
        .unwrap_or(&summary.inputs.file);
    let summary_file = settings.summary_path.display().to_string();
    match &settings.github {
        Some(github_settings) => {
            human::eprint_commands("::endgroup::\n");
            let (annotations, left_out) =
                github::annotations(settings.inputs_file.as_deref(), &collected.briefs);
            let text = human::render(
                &summary,
                &collected.briefs,
                file_label,
                &summary_file,
                true,
                left_out,
            );
            // The human text neutralizes its data lines itself; the commands are ours.
            human::eprint_commands(&redactor.redact(&format!("{annotations}{text}")));
            if let Some(path) = &github_settings.output {
                let pairs: Vec<(&str, String)> = github::outputs(&summary, &settings.summary_path)
                    .into_iter()
                    .map(|(key, value)| (key, redactor.redact(&value).into_owned()))
                    .collect();
                github::write_outputs(path, &pairs).map_err(|source| ReportError::Write {
                    path: path.clone(),
                    source,
                })?;
            }
            if let Some(path) = &github_settings.step_summary {
                let markdown =
                    github::step_summary(&summary, &collected.briefs, github::STEP_SUMMARY_BUDGET);
                github::append(path, &redactor.redact(&markdown)).map_err(|source| {
                    ReportError::Write {
                        path: path.clone(),
                        source,
                    }
                })?;
            }
        }
        None => {
            let text = human::render(
                &summary,
                &collected.briefs,
                file_label,
                &summary_file,
                false,
                0,
            );
            human::eprint(&redactor.redact(&text));
        }
    }
    Ok(summary)
}
