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

use serde_json::{Map, Value};

use super::summary::{Summary, write_atomic};
use super::{Redactor, ReportError, ResultRecord, transcripts};

/// The page, with `/*AIGNE_CI_DATA*/` where the data goes.
const TEMPLATE: &str = include_str!("report.html");

/// Where the data goes in [`TEMPLATE`].
const DATA_MARKER: &str = "/*AIGNE_CI_DATA*/";

/// The page's size budget: transcripts are embedded while the page stays under it (the rest
/// stay in `transcripts/`); the cases themselves are always embedded.
pub const PAGE_BUDGET: usize = 9 * 1024 * 1024;

/// Renders the page for a run.
pub fn render(
    summary: &Summary,
    records: &[ResultRecord],
    out_dir: &Path,
    redactor: &Redactor,
) -> String {
    let mut order: Vec<&ResultRecord> = records.iter().collect();
    // Cases that did not pass get their transcripts in first.
    order.sort_by_key(|record| {
        (
            matches!(record.status, crate::batch::CaseStatus::Passed),
            record.line,
        )
    });
    let base = TEMPLATE.len()
        + serde_json::to_string(summary).map_or(0, |text| text.len())
        + serde_json::to_string(records).map_or(0, |text| text.len());
    let budget = PAGE_BUDGET.saturating_sub(base);
    let mut embedded = Map::new();
    let mut used = 0usize;
    let mut omitted = 0usize;
    for record in order {
        let Some(relative) = &record.transcript else {
            continue;
        };
        let Some(transcript) = transcripts::read(out_dir, relative) else {
            omitted += 1;
            continue;
        };
        let size = transcript.to_string().len();
        // The escaping of `<`, `>` and `&` grows the text a little: keep a margin.
        if used + size + size / 16 > budget {
            omitted += 1;
            continue;
        }
        used += size;
        embedded.insert(relative.clone(), transcript);
    }
    let mut data = serde_json::json!({
        "summary": summary,
        "cases": records,
        "transcripts": embedded,
        "omitted_transcripts": omitted,
    });
    // The files it comes from are masked already; masked again, string by string, in case a
    // results file from elsewhere (`merge`) was not.
    redactor.redact_value(&mut data);
    let json = script_safe_json(&data);
    TEMPLATE.replacen(DATA_MARKER, &json, 1)
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

/// Writes the page for a run (atomically).
pub fn write(
    path: &Path,
    summary: &Summary,
    records: &[ResultRecord],
    out_dir: &Path,
    redactor: &Redactor,
) -> Result<(), ReportError> {
    let page = render(summary, records, out_dir, redactor);
    write_atomic(path, page.as_bytes()).map_err(|source| ReportError::Write {
        path: path.to_path_buf(),
        source,
    })
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
