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
//! Size: the page stays under [`PAGE_BUDGET`] bytes, whatever the cases hold: every case is in
//! it (cut to a fair share, each cut marked, when they do not all fit whole), then the
//! transcripts, cases that did not pass first, whole or cut while the budget allows; the others
//! are named in the page and stay in `transcripts/`.

use std::path::Path;

use std::io::Write;

use serde_json::Value;

use super::summary::Summary;
use super::{Redactor, ReportError, ResultRecord, transcripts};

/// The page, with `/*AIGNE_CI_DATA*/` where the data goes.
const TEMPLATE: &str = include_str!("report.html");

/// Where the data goes in [`TEMPLATE`].
const DATA_MARKER: &str = "/*AIGNE_CI_DATA*/";

/// The page's size budget (under the 10 MB target, with room for the page's own markup): the
/// cases are embedded first, each cut to a fair share when they do not all fit whole; then the
/// transcripts, cases that did not pass first, while what is left allows.
pub const PAGE_BUDGET: usize = 9 * 1024 * 1024;

/// The texts a table row shows (id, agent, tags, an assertion's type, an error) are never cut
/// shorter than this, whatever the page's budget.
const ROW_TEXT_FLOOR: usize = 256;

/// When the page must cut a case, its other texts are cut no shorter than this.
const MIN_TEXT_CAP: usize = 32;

/// The fields of a result that its table row shows: cut only past [`ROW_TEXT_FLOOR`].
const ROW_FIELDS: &[&str] = &[
    "id",
    "agent",
    "status",
    "model",
    "tags",
    "transcript",
    "baseline",
    "session",
    "flaky",
    "line",
    "attempts",
    "duration_ms",
    "usage",
    "format_version",
    "engine",
];

/// A transcript is embedded whole when it fits its share of what is left of the budget; else,
/// while at least this much is left, cut to its share (never less than this).
const TRANSCRIPT_FLOOR: usize = 64 * 1024;

/// What a JSON item costs besides its text, roughly (quotes, separators, a short key).
const ITEM_BYTES: usize = 8;

/// What the page needs to know of a case before writing it: the transcripts are chosen first.
struct CaseBrief {
    passed: bool,
    line: usize,
    transcript: Option<String>,
}

/// Writes the page for a run (atomically), streaming it: the cases are copied one at a time from
/// `results.jsonl` and the transcripts one at a time from `transcripts/`, so the memory a run
/// of 10,000 cases needs stays flat.
///
/// Size: the page stays under [`PAGE_BUDGET`]. When the cases do not all fit whole, each gets a
/// fair share (the smaller ones whole, the larger ones cut to one level) and a cut case carries
/// `page_cut: true` with every cut marked `[cut here: …]` (the page points to the results file
/// for the whole record). Transcripts then share what is left, cut the same way (pointing to
/// their file) or left out (named in the page) when too little is left.
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
    // Pass 1: each case's status, transcript and size.
    let mut briefs = Vec::new();
    let mut sizes = Vec::new();
    for_each_result(results_path, |record, size| {
        sizes.push(size);
        briefs.push(CaseBrief {
            passed: matches!(record.status, crate::batch::CaseStatus::Passed),
            line: record.line,
            transcript: record.transcript,
        });
    })?;
    // Cases that did not pass get their transcripts in first.
    briefs.sort_by_key(|brief| (brief.passed, brief.line));
    let base = TEMPLATE.len() + serde_json::to_string(summary).map_or(0, |text| text.len()) + 256;
    // The escaping of `<`, `>` and `&` grows the text a little: keep a margin.
    let available = PAGE_BUDGET.saturating_sub(base);
    let level = fair_level(&sizes, available - available / 16);

    let (head, tail) = TEMPLATE.split_once(DATA_MARKER).unwrap_or((TEMPLATE, ""));
    let page = AtomicPage::create(path).map_err(write_error)?;
    let mut out = Counting::new(std::io::BufWriter::new(page.file()));
    let mut omitted = 0usize;
    let result: std::io::Result<()> = (|| {
        emit(&mut out, head)?;
        // The files it comes from are masked already; masked again, string by string, in case
        // a results file from elsewhere (`merge`) was not.
        let mut summary_value = serde_json::to_value(summary).map_err(std::io::Error::other)?;
        redactor.redact_value(&mut summary_value);
        emit(&mut out, "{\"summary\":")?;
        emit(&mut out, &script_safe_json(&summary_value))?;
        emit(&mut out, ",\"cases\":[")?;
        let mut index = 0usize;
        let mut failure = None;
        let read = for_each_value(results_path, |mut value| {
            if failure.is_some() {
                return;
            }
            redactor.redact_value(&mut value);
            let separator = if index == 0 { "" } else { "," };
            // Cut after masking: a cut never splits a secret the mask would then miss.
            let text = match level {
                Some(level) if sizes.get(index).is_some_and(|size| *size > level) => {
                    shrink_case(&value, level)
                }
                _ => script_safe_json(&value),
            };
            index += 1;
            if let Err(error) = emit(&mut out, separator).and_then(|()| emit(&mut out, &text)) {
                failure = Some(error);
            }
        });
        if let Some(error) = failure {
            return Err(error);
        }
        read.map_err(|error| std::io::Error::other(error.to_string()))?;
        emit(&mut out, "],\"transcripts\":{")?;
        // What is left for the transcripts, past what the page's end needs.
        let budget = PAGE_BUDGET.saturating_sub(out.count + tail.len() + 64);
        let mut used = 0usize;
        let mut first = true;
        let with_transcript = briefs
            .iter()
            .filter(|brief| brief.transcript.is_some())
            .count();
        let mut seen = 0usize;
        for brief in &briefs {
            let Some(relative) = &brief.transcript else {
                continue;
            };
            let left = budget.saturating_sub(used);
            let share = (left / (with_transcript - seen).max(1)).max(TRANSCRIPT_FLOOR);
            seen += 1;
            let Some(text) = page_transcript(out_dir, relative, redactor, share, left) else {
                omitted += 1;
                continue;
            };
            let key = script_safe_json(&Value::String(relative.clone()));
            let size = key.len() + 2 + text.len();
            if size > left {
                omitted += 1;
                continue;
            }
            used += size;
            if !first {
                emit(&mut out, ",")?;
            }
            first = false;
            emit(&mut out, &key)?;
            emit(&mut out, ":")?;
            emit(&mut out, &text)?;
        }
        emit(&mut out, &format!("}},\"omitted_transcripts\":{omitted}}}"))?;
        emit(&mut out, tail)?;
        out.flush()
    })();
    drop(out);
    result.map_err(write_error)?;
    page.persist(path).map_err(write_error)
}

/// The level that the cases' sizes are cut to so that they add up to `budget` at most (the
/// smaller ones whole, every larger one cut to the level), or `None` when all fit whole.
fn fair_level(sizes: &[usize], budget: usize) -> Option<usize> {
    if sizes.iter().sum::<usize>() <= budget {
        return None;
    }
    let mut sorted = sizes.to_vec();
    sorted.sort_unstable();
    let mut left = budget;
    for (index, size) in sorted.iter().enumerate() {
        let share = left / (sorted.len() - index);
        if *size > share {
            return Some(share);
        }
        left -= size;
    }
    None
}

/// A case's record cut to about `limit` bytes of page: its texts are cut to one cap, halved
/// until the record fits (or the cap reaches [`MIN_TEXT_CAP`]; the texts of its table row are
/// never cut shorter than [`ROW_TEXT_FLOOR`]). Returns the record as page JSON.
fn shrink_case(record: &Value, limit: usize) -> String {
    let mut cap = limit.max(MIN_TEXT_CAP);
    loop {
        let mut cut = cut_case(record, cap);
        if let Value::Object(map) = &mut cut {
            map.insert("page_cut".to_owned(), Value::Bool(true));
        }
        let text = script_safe_json(&cut);
        if text.len() <= limit || cap <= MIN_TEXT_CAP {
            return text;
        }
        cap = (cap / 2).max(MIN_TEXT_CAP);
    }
}

/// A case's record with each of its fields held to `cap` bytes (those a table row shows to at
/// least [`ROW_TEXT_FLOOR`]); of its assertions, the type, result and score stay.
fn cut_case(record: &Value, cap: usize) -> Value {
    let Value::Object(map) = record else {
        return cut(record, cap);
    };
    let row_cap = cap.max(ROW_TEXT_FLOOR);
    let mut kept = serde_json::Map::new();
    for (key, value) in map {
        let value = match (key.as_str(), value) {
            ("assertions", Value::Array(assertions)) => {
                let mut budget = cap.saturating_mul(4).max(ROW_TEXT_FLOOR);
                let mut items = Vec::new();
                for (index, assertion) in assertions.iter().enumerate() {
                    if budget == 0 {
                        items.push(Value::String(format!(
                            "… [cut here: {} more assertions]",
                            assertions.len() - index
                        )));
                        break;
                    }
                    let item = match assertion {
                        Value::Object(fields) => Value::Object(
                            fields
                                .iter()
                                .map(|(name, field)| {
                                    let limit = match name.as_str() {
                                        "type" | "passed" | "score" => row_cap,
                                        _ => cap,
                                    };
                                    (name.clone(), cut(field, limit))
                                })
                                .collect(),
                        ),
                        other => cut(other, cap),
                    };
                    budget = budget.saturating_sub(item.to_string().len());
                    items.push(item);
                }
                Value::Array(items)
            }
            ("error", value) => cut(value, row_cap),
            (name, value) if ROW_FIELDS.contains(&name) => cut(value, row_cap),
            (_, value) => cut(value, cap),
        };
        kept.insert(key.clone(), value);
    }
    Value::Object(kept)
}

/// `value` held to `cap` bytes, texts included.
fn cut(value: &Value, cap: usize) -> Value {
    let mut budget = cap;
    cut_value(value, &mut budget, cap)
}

/// `value` within `budget` bytes (strings and keys, [`ITEM_BYTES`] per item), which it spends:
/// strings are cut at `text_cap` or what is left; once nothing is left, an array or an object
/// ends with a note counting what was left out. Every cut says `[cut here: …]`.
fn cut_value(value: &Value, budget: &mut usize, text_cap: usize) -> Value {
    *budget = budget.saturating_sub(ITEM_BYTES);
    match value {
        Value::String(text) => {
            let limit = text_cap.min(*budget);
            if text.len() <= limit {
                *budget -= text.len();
                return value.clone();
            }
            let mut end = limit;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            *budget -= end;
            Value::String(format!(
                "{}… [cut here: {} more bytes]",
                &text[..end],
                text.len() - end
            ))
        }
        Value::Array(items) => {
            let mut kept = Vec::new();
            for (index, item) in items.iter().enumerate() {
                if *budget == 0 {
                    kept.push(Value::String(format!(
                        "… [cut here: {} more items]",
                        items.len() - index
                    )));
                    break;
                }
                kept.push(cut_value(item, budget, text_cap));
            }
            Value::Array(kept)
        }
        Value::Object(map) => {
            let mut kept = serde_json::Map::new();
            for (index, (key, item)) in map.iter().enumerate() {
                if *budget == 0 {
                    kept.insert(
                        "…".to_owned(),
                        Value::String(format!("[cut here: {} more fields]", map.len() - index)),
                    );
                    break;
                }
                *budget = budget.saturating_sub(key.len());
                kept.insert(key.clone(), cut_value(item, budget, text_cap));
            }
            Value::Object(kept)
        }
        other => other.clone(),
    }
}

/// A transcript as page JSON: whole when its file fits `share`; else, when `left` allows a
/// share, cut to it (its invocations to a third, its model calls to the rest, texts to an
/// eighth) and marked `page_cut`; else `None` (left out, named in the page). `None` too when
/// the file is missing or not ours.
fn page_transcript(
    out_dir: &Path,
    relative: &str,
    redactor: &Redactor,
    share: usize,
    left: usize,
) -> Option<String> {
    let size = transcripts::size(out_dir, relative)?;
    let whole = size + size / 16 <= share.min(left);
    if !whole && left < share {
        return None;
    }
    let mut transcript = transcripts::read(out_dir, relative)?;
    redactor.redact_value(&mut transcript);
    if whole {
        return Some(script_safe_json(&transcript));
    }
    let text_cap = (share / 8).clamp(1024, crate::transcript::TEXT_CAP);
    let Value::Object(map) = &transcript else {
        let mut budget = share;
        return Some(script_safe_json(&cut_value(
            &transcript,
            &mut budget,
            text_cap,
        )));
    };
    let mut kept = serde_json::Map::new();
    for (key, value) in map {
        let mut budget = match key.as_str() {
            "invocations" => share / 3,
            "model_calls" => share - share / 3,
            _ => ROW_TEXT_FLOOR,
        };
        kept.insert(key.clone(), cut_value(value, &mut budget, text_cap));
    }
    kept.insert("page_cut".to_owned(), Value::Bool(true));
    let text = script_safe_json(&Value::Object(kept));
    (text.len() <= left).then_some(text)
}

/// A writer that counts the bytes written through it.
struct Counting<W> {
    inner: W,
    count: usize,
}

impl<W: Write> Counting<W> {
    fn new(inner: W) -> Self {
        Self { inner, count: 0 }
    }
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let written = self.inner.write(buf)?;
        self.count += written;
        Ok(written)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
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

    #[test]
    fn the_fair_level_keeps_small_cases_whole_and_cuts_the_large_ones_to_one_level() {
        assert_eq!(fair_level(&[10, 20, 30], 60), None);
        assert_eq!(fair_level(&[], 0), None);
        // 10 and 20 whole; the two large ones share the other 70.
        assert_eq!(fair_level(&[10, 1000, 20, 5000], 100), Some(35));
        assert_eq!(fair_level(&[100; 10], 500), Some(50));
    }

    #[test]
    fn a_large_case_is_cut_to_its_share_keeping_its_row() {
        let record = serde_json::json!({
            "format_version": 1, "id": "big-one", "line": 7, "agent": "chat", "status": "failed",
            "input": {"message": "x".repeat(100_000)},
            "output": {"message": "é".repeat(100_000), "items": (0..5000).collect::<Vec<_>>()},
            "assertions": [{"type": "contains", "passed": false, "spec": {"value": "y".repeat(50_000)}}],
            "attempts": 1, "duration_ms": 5, "usage": {"input_tokens": 1, "output_tokens": 2},
            "tags": ["a", "b"], "transcript": "transcripts/7.json",
        });
        let text = shrink_case(&record, 2000);
        assert!(text.len() <= 2000, "{} bytes: {text}", text.len());
        let cut: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(cut["page_cut"], true);
        for key in [
            "id",
            "line",
            "agent",
            "status",
            "tags",
            "transcript",
            "usage",
        ] {
            assert_eq!(cut[key], record[key], "{key}");
        }
        assert_eq!(cut["assertions"][0]["type"], "contains");
        assert_eq!(cut["assertions"][0]["passed"], false);
        let input = cut["input"]["message"].as_str().unwrap();
        assert!(
            input.starts_with("xxx") && input.contains("[cut here: "),
            "{input}"
        );
        assert!(
            cut["output"]["message"]
                .as_str()
                .unwrap()
                .contains("more bytes]")
        );
    }

    #[test]
    fn cutting_marks_every_cut_and_keeps_what_fits() {
        let value =
            serde_json::json!({"a": "short", "b": ["one", "two", "three"], "c": "z".repeat(500)});
        assert_eq!(cut(&value, 10_000), value);
        let cut_down = cut(&value, 60);
        let text = cut_down.to_string();
        assert_eq!(cut_down["a"], "short");
        assert!(text.contains("[cut here: "), "{text}");
    }
}
