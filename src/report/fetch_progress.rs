//! [`FetchProgress`]: stage 1's [`FetchReporter`] on stderr — an indicatif progress bar on a
//! TTY, plain log lines otherwise (CI logs).

use std::io::Write;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::fetch::{CacheHit, FetchReporter};
use crate::http::retry::RetryNotice;
use crate::secret::{Redactor, SafeUrl};

/// Reports fetch progress on stderr.
#[derive(Debug)]
pub struct FetchProgress {
    tty: bool,
    bar: Mutex<Option<ProgressBar>>,
    redactor: Redactor,
}

impl FetchProgress {
    /// A reporter that draws a bar when `tty`, and writes log lines otherwise.
    pub fn new(tty: bool) -> Self {
        Self {
            tty,
            bar: Mutex::new(None),
            redactor: Redactor::default(),
        }
    }

    /// The same, masking these secrets in every line (retry reasons quote server errors).
    pub fn with_redactor(mut self, redactor: Redactor) -> Self {
        self.redactor = redactor;
        self
    }

    /// Whether stderr is a terminal.
    pub fn stderr_is_terminal() -> bool {
        std::io::IsTerminal::is_terminal(&std::io::stderr())
    }

    fn line(&self, text: &str) {
        let text = self.redactor.redact(text);
        let text = crate::text::neutralize(&text);
        let text = text.as_ref();
        let bar = self.bar.lock().ok().and_then(|bar| bar.clone());
        match bar {
            Some(bar) => bar.println(text),
            None => {
                let _ = writeln!(std::io::stderr().lock(), "{text}");
            }
        }
    }

    fn finish_bar(&self) {
        if let Ok(mut bar) = self.bar.lock()
            && let Some(bar) = bar.take()
        {
            bar.finish_and_clear();
        }
    }
}

impl FetchReporter for FetchProgress {
    fn on_lock_wait(&self, lock: &Path) {
        self.line(&format!(
            "aigne-ci: waiting for another process to release `{}`",
            lock.display()
        ));
    }

    fn on_request(&self, url: &SafeUrl, conditional: bool) {
        if !self.tty {
            let what = if conditional {
                "revalidating"
            } else {
                "fetching"
            };
            self.line(&format!("aigne-ci: {what} `{url}`"));
        }
    }

    fn on_download_start(&self, source: &str, length: Option<u64>) {
        if !self.tty {
            return;
        }
        let bar = match length {
            Some(length) => {
                ProgressBar::with_draw_target(Some(length), ProgressDrawTarget::stderr())
            }
            None => ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()),
        };
        let template = if length.is_some() {
            "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}"
        } else {
            "{msg} {spinner} {bytes} {bytes_per_sec}"
        };
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(format!(
            "fetching {}",
            crate::text::one_line(&self.redactor.redact(source))
        ));
        bar.enable_steady_tick(Duration::from_millis(120));
        if let Ok(mut slot) = self.bar.lock()
            && let Some(old) = slot.replace(bar)
        {
            old.finish_and_clear();
        }
    }

    fn on_download_progress(&self, bytes: u64) {
        if let Ok(bar) = self.bar.lock()
            && let Some(bar) = bar.as_ref()
        {
            bar.set_position(bytes);
        }
    }

    fn on_download_end(&self, bytes: u64) {
        self.finish_bar();
        self.line(&format!("aigne-ci: downloaded and unpacked {bytes} bytes"));
    }

    fn on_retry(&self, url: &SafeUrl, notice: &RetryNotice) {
        self.finish_bar();
        let asked = notice
            .retry_after
            .map(|wait| format!(" (the server asked for Retry-After {}s)", wait.as_secs()))
            .unwrap_or_default();
        self.line(&format!(
            "aigne-ci: attempt {} at `{url}` failed: {}; retrying in {:.1}s{asked}",
            notice.attempt,
            notice.reason,
            notice.delay.as_secs_f64()
        ));
    }

    fn on_cache_hit(&self, source: &str, reason: CacheHit) {
        let why = match reason {
            CacheHit::Pinned => "the cached copy matches `--sha256`",
            CacheHit::NotModified => "the server answered 304 Not Modified",
            CacheHit::Offline => "`--offline`",
            CacheHit::Unchanged => "the file did not change",
        };
        self.line(&format!(
            "aigne-ci: using the cached copy of `{source}` ({why})"
        ));
    }
}
