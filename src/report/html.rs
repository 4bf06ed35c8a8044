//! `report.html`: one self-contained page (inline CSS and JavaScript, no network, a
//! Content-Security-Policy that allows nothing else) for people: the run's header, a filterable
//! and sortable table of every case, and, on demand, a case's input, output, expected-vs-actual
//! diff, assertions and transcript as a conversation.
//!
//! The page is `report.html` (beside this file) with the data embedded as one JSON document in a
//! `<script type="application/json">` element: the summary, every result record and the
//! transcripts. The JSON has every `<`, `>` and `&` written as `\u003c`, `\u003e`, `\u0026`, so no
//! text in it can close the element; the page's script puts every value in the page with
//! `textContent`, never as markup. The data comes from the files already written (and masked),
//! and every string of it passes through the [`Redactor`] again.
//!
//! Size: transcripts are embedded while the page stays under [`PAGE_BUDGET`] bytes, cases that
//! did not pass first; the others are named in the page and stay in `transcripts/`.

use std::path::Path;

use std::io::Write;

use serde_json::Value;

use super::summary::Summary;
use super::{Redactor, ReportError, ResultRecord, transcripts};

/// The page, with `/*AIGNE_CI_DATA*/` where the data goes.
const TEMPLATE: &str = include_str!("report.html");

/// Where the data goes in [`TEMPLATE`].
const DATA_MARKER: &str = "/*AIGNE_CI_DATA*/";

/// The page's size budget: transcripts are embedded while the page stays under it (the rest
/// stay in `transcripts/`); the cases themselves are always embedded.
pub const PAGE_BUDGET: usize = 9 * 1024 * 1024;

/// What the page needs to know of a case before writing it: the transcripts are chosen first.
struct CaseBrief {
    passed: bool,
    line: usize,
    transcript: Option<String>,
}

/// Writes the page for a run (atomically), streaming it: the cases are copied one at a time from
/// `results.jsonl` and the transcripts one at a time from `transcripts/`, so the memory a run
/// of 10,000 cases needs stays flat (the page itself stays under [`PAGE_BUDGET`] plus the cases).
pub fn write(
    path: &Path,
    summary: &Summary,
    results_path: &Path,
    out_dir: &Path,
    redactor: &Redactor,
) -> Result<(), ReportError> {
    let write_error = |source| ReportError::Write {
        path: path.to_path_buf(),
        source,
    };
    // Pass 1: each case's status and transcript, and the size of the cases' JSON.
    let mut briefs = Vec::new();
    let mut cases_size = 0usize;
    for_each_result(results_path, |record, size| {
        cases_size += size;
        briefs.push(CaseBrief {
            passed: matches!(record.status, crate::batch::CaseStatus::Passed),
            line: record.line,
            transcript: record.transcript,
        });
    })?;
    // Cases that did not pass get their transcripts in first, while the page stays in budget.
    briefs.sort_by_key(|brief| (brief.passed, brief.line));
    let base =
        TEMPLATE.len() + serde_json::to_string(summary).map_or(0, |text| text.len()) + cases_size;
    let budget = PAGE_BUDGET.saturating_sub(base);
    let mut embedded = Vec::new();
    let mut used = 0usize;
    let mut omitted = 0usize;
    for brief in briefs {
        let Some(relative) = brief.transcript else {
            continue;
        };
        let Some(size) = transcripts::size(out_dir, &relative) else {
            omitted += 1;
            continue;
        };
        // The escaping of `<`, `>` and `&` grows the text a little: keep a margin.
        if used + size + size / 16 > budget {
            omitted += 1;
            continue;
        }
        used += size;
        embedded.push(relative);
    }
    embedded.sort();

    let (head, tail) = TEMPLATE.split_once(DATA_MARKER).unwrap_or((TEMPLATE, ""));
    let page = AtomicPage::create(path).map_err(write_error)?;
    let mut out = std::io::BufWriter::new(page.file());
    let result: std::io::Result<()> = (|| {
        emit(&mut out, head)?;
        // The files it comes from are masked already; masked again, string by string, in case
        // a results file from elsewhere (`merge`) was not.
        let mut summary_value = serde_json::to_value(summary).map_err(std::io::Error::other)?;
        redactor.redact_value(&mut summary_value);
        emit(&mut out, "{\"summary\":")?;
        emit(&mut out, &script_safe_json(&summary_value))?;
        emit(&mut out, ",\"cases\":[")?;
        let mut first = true;
        let mut failure = None;
        let read = for_each_value(results_path, |mut value| {
            if failure.is_some() {
                return;
            }
            redactor.redact_value(&mut value);
            let separator = if first { "" } else { "," };
            first = false;
            if let Err(error) =
                emit(&mut out, separator).and_then(|()| emit(&mut out, &script_safe_json(&value)))
            {
                failure = Some(error);
            }
        });
        if let Some(error) = failure {
            return Err(error);
        }
        read.map_err(|error| std::io::Error::other(error.to_string()))?;
        emit(&mut out, "],\"transcripts\":{")?;
        let mut first = true;
        for relative in &embedded {
            let Some(mut transcript) = transcripts::read(out_dir, relative) else {
                continue;
            };
            redactor.redact_value(&mut transcript);
            if !first {
                emit(&mut out, ",")?;
            }
            first = false;
            emit(
                &mut out,
                &script_safe_json(&Value::String(relative.clone())),
            )?;
            emit(&mut out, ":")?;
            emit(&mut out, &script_safe_json(&transcript))?;
        }
        emit(&mut out, &format!("}},\"omitted_transcripts\":{omitted}}}"))?;
        emit(&mut out, tail)?;
        out.flush()
    })();
    drop(out);
    result.map_err(write_error)?;
    page.persist(path).map_err(write_error)
}

/// Writes text to the page.
fn emit(out: &mut impl Write, text: &str) -> std::io::Result<()> {
    out.write_all(text.as_bytes())
}

/// Calls `each` with every record of a `results.jsonl` file and the size of its line.
fn for_each_result(
    path: &Path,
    mut each: impl FnMut(ResultRecord, usize),
) -> Result<(), ReportError> {
    for_each_line(path, |line, number| {
        let record = serde_json::from_str(line).map_err(|source| ReportError::Parse {
            path: path.to_path_buf(),
            line: number,
            source,
        })?;
        each(record, line.len());
        Ok(())
    })
}

/// Calls `each` with every line of a `results.jsonl` file as a JSON value.
fn for_each_value(path: &Path, mut each: impl FnMut(Value)) -> Result<(), ReportError> {
    for_each_line(path, |line, number| {
        let value = serde_json::from_str(line).map_err(|source| ReportError::Parse {
            path: path.to_path_buf(),
            line: number,
            source,
        })?;
        each(value);
        Ok(())
    })
}

/// Calls `each` with every non-blank line of a file and its 1-based number.
fn for_each_line(
    path: &Path,
    mut each: impl FnMut(&str, usize) -> Result<(), ReportError>,
) -> Result<(), ReportError> {
    use std::io::BufRead;
    let read_error = |source| ReportError::Read {
        path: path.to_path_buf(),
        source,
    };
    let file = fs_err::File::open(path).map_err(read_error)?;
    for (index, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.map_err(read_error)?;
        if line.trim().is_empty() {
            continue;
        }
        each(&line, index + 1)?;
    }
    Ok(())
}

/// A page written beside its final path and renamed into place when complete, so a reader
/// never sees half a page; it refuses to replace anything but a regular file.
struct AtomicPage(tempfile::NamedTempFile);

impl AtomicPage {
    fn create(path: &Path) -> std::io::Result<Self> {
        super::lock::check_replaceable(path)?;
        let folder = match path.parent() {
            Some(folder) if !folder.as_os_str().is_empty() => folder,
            _ => Path::new("."),
        };
        fs_err::create_dir_all(folder)?;
        crate::atomic_file::temporary_in(folder).map(Self)
    }

    fn file(&self) -> &std::fs::File {
        self.0.as_file()
    }

    fn persist(self, path: &Path) -> std::io::Result<()> {
        self.0.persist(path).map(drop).map_err(|error| error.error)
    }
}

/// JSON that cannot end the `<script>` element it sits in (nor open a comment in it).
fn script_safe_json(value: &Value) -> String {
    let text = value.to_string();
    let mut safe = String::with_capacity(text.len() + text.len() / 64);
    for character in text.chars() {
        match character {
            '<' => safe.push_str("\\u003c"),
            '>' => safe.push_str("\\u003e"),
            '&' => safe.push_str("\\u0026"),
            '\u{2028}' => safe.push_str("\\u2028"),
            '\u{2029}' => safe.push_str("\\u2029"),
            other => safe.push(other),
        }
    }
    safe
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_json_cannot_close_its_script_element() {
        let value =
            serde_json::json!({"text": "</script><script>alert(1)</script> & <!-- \u{2028}"});
        let safe = script_safe_json(&value);
        assert!(!safe.contains('<') && !safe.contains('>') && !safe.contains('&'));
        assert_eq!(serde_json::from_str::<Value>(&safe).unwrap(), value);
    }

    #[test]
    fn the_template_has_one_data_marker() {
        assert_eq!(TEMPLATE.matches(DATA_MARKER).count(), 1);
    }
}
