//! Report settings shared by `run` and `merge`: output paths, GitHub mode, progress, secrets.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use crate::cli::{GithubMode, OutputArgs};
use crate::report::{GithubSettings, ProgressMode, Redactor, ReportSettings};
use crate::settings::Environment;

/// Whether the GitHub integration is on (`auto` = inside GitHub Actions).
pub(crate) fn github_enabled(mode: GithubMode, environment: &Environment) -> bool {
    match mode {
        GithubMode::On => true,
        GithubMode::Off => false,
        GithubMode::Auto => environment.in_github_actions(),
    }
}

/// The redactor of every secret in the environment.
pub(crate) fn redactor(environment: &Environment) -> Redactor {
    Redactor::new(environment.secret_values())
}

/// Resolves the output flags.
pub(crate) fn report_settings(
    outputs: &OutputArgs,
    environment: &Environment,
    redactor: Redactor,
    inputs_file: Option<String>,
    grace_period: Duration,
) -> ReportSettings {
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
    ReportSettings {
        results_path: place(&outputs.output, "results.jsonl"),
        summary_path: place(&outputs.summary, "summary.json"),
        junit_path: outputs
            .junit
            .as_ref()
            .map(|path| environment.absolute(path)),
        github,
        progress,
        redactor,
        inputs_file,
        grace_period,
    }
}
