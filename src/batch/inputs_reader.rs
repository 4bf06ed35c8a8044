//! Reading an inputs file or stdin with bounded memory and without holding the run: lines are
//! capped (`--max-file-size`), a line that is too long or not UTF-8 is set aside with its line
//! number (the rest of the file still reads), and the read happens on a thread of its own so the
//! caller's `select!` on `--total-timeout` and SIGINT/SIGTERM wins even when stdin never closes or
//! a FIFO never gets a writer.
//!
//! Hand-written (a line scanner over `BufRead::fill_buf`) because `BufRead::lines`/`read_line`
//! grow a line without bound and stop at the first invalid UTF-8 byte without saying where.

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;

use crate::project::files::human_size;
use crate::project::{Cancel, ReadLimits};

use super::assertion::excerpt;
use super::case::InvalidCase;
use super::error::BatchError;
use super::inputs::{Inputs, InputsFormat, InputsSource, parse_inputs_keeping};

/// The text of an inputs source, with the lines that could not be kept emptied.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BoundedText {
    /// Every line, `\n`-separated; a set-aside line is empty here.
    pub text: String,
    /// The lines set aside (too long, not UTF-8), in order: the first `keep` of them.
    pub set_aside: Vec<InvalidCase>,
    /// How many more lines were set aside (counted, not kept).
    pub more_set_aside: usize,
}

/// Reads `reader` to its end, keeping lines of at most `max_line` bytes, and the first `keep`
/// set-aside lines (the others are counted). A source longer than `max_total` bytes is an error
/// as soon as it gets there (`--max-inputs-size`: an endless stdin or FIFO cannot grow memory
/// until `--total-timeout`).
pub fn read_bounded_lines(
    reader: impl Read,
    max_line: u64,
    max_total: u64,
    keep: usize,
    cancel: &Cancel,
) -> std::io::Result<BoundedText> {
    let mut reader = BufReader::with_capacity(64 * 1024, reader);
    let mut out = BoundedText::default();
    let mut line = LineState::default();
    let mut total: u64 = 0;
    loop {
        if cancel.is_cancelled() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::Interrupted,
                "the run was stopped",
            ));
        }
        let chunk = match reader.fill_buf() {
            Ok(chunk) => chunk,
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(error),
        };
        if chunk.is_empty() {
            break;
        }
        let consumed = chunk.len();
        total += consumed as u64;
        if total > max_total {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "the inputs are larger than the {} cap (`--max-inputs-size`)",
                    human_size(max_total)
                ),
            ));
        }
        let mut rest = chunk;
        while let Some(end) = rest.iter().position(|&byte| byte == b'\n') {
            line.push(&rest[..end], max_line);
            line.finish(&mut out, max_line, keep, true);
            rest = &rest[end + 1..];
        }
        line.push(rest, max_line);
        reader.consume(consumed);
    }
    if line.length > 0 {
        line.finish(&mut out, max_line, keep, false);
    }
    Ok(out)
}

/// The line being read.
#[derive(Default)]
struct LineState {
    number: usize,
    bytes: Vec<u8>,
    /// Bytes seen on this line (kept or not).
    length: u64,
    oversized: bool,
}

impl LineState {
    fn push(&mut self, bytes: &[u8], max_line: u64) {
        self.length += bytes.len() as u64;
        if self.oversized {
            return;
        }
        self.bytes.extend_from_slice(bytes);
        if self.length > max_line {
            // Keep only the start, for the excerpt.
            self.oversized = true;
            self.bytes.truncate(200);
        }
    }

    fn finish(&mut self, out: &mut BoundedText, max_line: u64, keep: usize, newline: bool) {
        self.number += 1;
        let bytes = std::mem::take(&mut self.bytes);
        let message = if self.oversized {
            Some(format!(
                "the line is longer than the {} cap (`--max-file-size`)",
                human_size(max_line)
            ))
        } else {
            match std::str::from_utf8(&bytes) {
                Ok(text) => {
                    out.text.push_str(text);
                    None
                }
                Err(error) => Some(format!(
                    "invalid UTF-8 (column {})",
                    String::from_utf8_lossy(&bytes[..error.valid_up_to()])
                        .chars()
                        .count()
                        + 1
                )),
            }
        };
        if let Some(message) = message {
            if out.set_aside.len() < keep {
                out.set_aside.push(InvalidCase {
                    line: self.number,
                    message,
                    text: excerpt(String::from_utf8_lossy(&bytes).trim()),
                });
            } else {
                out.more_set_aside += 1;
            }
        }
        if newline {
            out.text.push('\n');
        }
        self.length = 0;
        self.oversized = false;
    }
}

/// Reads and parses the cases of a source on a thread of its own; the returned future can be
/// dropped at any time (a timeout, a signal), which stops a read in progress between chunks and
/// abandons one blocked in the kernel (stdin that never closes, a FIFO without a writer), which
/// then ends with the process.
pub async fn read_inputs_interruptible(
    source: InputsSource,
    max_line: u64,
    max_total: u64,
    keep_invalid: usize,
) -> Result<Inputs, BatchError> {
    let limits = ReadLimits {
        max_file_size: max_line,
        cancel: Cancel::default(),
    };
    let cancel_on_drop = limits.cancel.on_drop();
    let (sender, receiver) = tokio::sync::oneshot::channel();
    let spawned = std::thread::Builder::new()
        .name("aigne-ci-inputs".to_owned())
        .spawn(move || {
            let _ = sender.send(read_inputs_bounded(
                &source,
                &limits,
                max_total,
                keep_invalid,
            ));
        });
    if let Err(source) = spawned {
        return Err(BatchError::ReadInputs {
            file: "inputs".to_owned(),
            source,
        });
    }
    let result = receiver.await.unwrap_or_else(|_| {
        Err(BatchError::ReadInputs {
            file: "inputs".to_owned(),
            source: std::io::Error::other("the inputs reader stopped"),
        })
    });
    cancel_on_drop.disarm();
    result
}

/// Reads and parses the cases of a source, each line within `limits.max_file_size` bytes,
/// keeping the first `keep_invalid` malformed entries (the others are counted).
pub fn read_inputs_bounded(
    source: &InputsSource,
    limits: &ReadLimits,
    max_total: u64,
    keep_invalid: usize,
) -> Result<Inputs, BatchError> {
    let (label, path, read, format) = match source {
        InputsSource::File(path) => {
            let label = path.display().to_string();
            let read = fs_err::File::open(path).and_then(|file| {
                read_bounded_lines(
                    file,
                    limits.max_file_size,
                    max_total,
                    keep_invalid,
                    &limits.cancel,
                )
            });
            (label, Some(path.clone()), read, InputsFormat::of_path(path))
        }
        InputsSource::Stdin => (
            "<stdin>".to_owned(),
            None,
            read_bounded_lines(
                std::io::stdin(),
                limits.max_file_size,
                max_total,
                keep_invalid,
                &limits.cancel,
            ),
            InputsFormat::Sniff,
        ),
        inline => return super::inputs::read_inputs(inline),
    };
    let bounded = read.map_err(|source| BatchError::ReadInputs {
        file: label.clone(),
        source,
    })?;
    from_bounded(label, path, bounded, format, keep_invalid)
}

fn from_bounded(
    label: String,
    path: Option<PathBuf>,
    bounded: BoundedText,
    format: InputsFormat,
    keep_invalid: usize,
) -> Result<Inputs, BatchError> {
    let BoundedText {
        text,
        set_aside,
        more_set_aside,
    } = bounded;
    let line_based = matches!(format, InputsFormat::JsonLines | InputsFormat::Sniff);
    if let Some(first) = set_aside.first()
        && !line_based
    {
        // A JSON or YAML document cannot lose a line and still parse.
        return Err(BatchError::UnreadableLine {
            file: label,
            line: first.line,
            message: first.message.clone(),
        });
    }
    let format = if set_aside.is_empty() {
        format
    } else {
        // Only a line-by-line file can report the others.
        InputsFormat::JsonLines
    };
    let parsed = parse_inputs_keeping(&text, format, keep_invalid);
    // Each list holds its first `keep_invalid` entries, so the first ones of both together are
    // among them.
    let mut invalid = parsed.invalid;
    invalid.extend(set_aside);
    invalid.sort_by_key(|invalid| invalid.line);
    let dropped = invalid.len().saturating_sub(keep_invalid);
    invalid.truncate(keep_invalid);
    Ok(Inputs {
        label,
        path,
        cases: parsed.cases,
        invalid,
        more_invalid: parsed.more_invalid + more_set_aside + dropped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(bytes: &[u8], max: u64) -> BoundedText {
        read_bounded_lines(bytes, max, u64::MAX, usize::MAX, &Cancel::default()).unwrap()
    }

    #[test]
    fn long_and_non_utf8_lines_are_set_aside_with_their_line() {
        let bounded = read(b"\"a\"\n\"bbbbbbbbbbbbbbbb\"\n\"c\xff\"\n\"d\"", 8);
        assert_eq!(bounded.text, "\"a\"\n\n\n\"d\"");
        let lines: Vec<(usize, &str)> = bounded
            .set_aside
            .iter()
            .map(|invalid| (invalid.line, invalid.message.as_str()))
            .collect();
        assert_eq!(
            lines,
            vec![
                (
                    2,
                    "the line is longer than the 8 bytes cap (`--max-file-size`)"
                ),
                (3, "invalid UTF-8 (column 3)")
            ]
        );
    }

    #[test]
    fn an_endless_line_keeps_memory_bounded() {
        // 64 MiB of zeros without a newline, read with a 1 KiB cap: only the excerpt is kept.
        let zeros = std::io::repeat(0).take(64 * 1024 * 1024);
        let bounded =
            read_bounded_lines(zeros, 1024, u64::MAX, usize::MAX, &Cancel::default()).unwrap();
        assert_eq!(bounded.set_aside.len(), 1);
        assert!(bounded.set_aside[0].text.len() <= 200);
        assert!(bounded.text.is_empty());
    }

    #[test]
    fn an_endless_source_stops_at_the_total_cap() {
        // Valid short lines without end: refused once the source passes the cap.
        let endless = std::io::repeat(b'\n');
        let error =
            read_bounded_lines(endless, 1024, 1 << 20, usize::MAX, &Cancel::default()).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("larger than the 1 MiB cap (`--max-inputs-size`)"),
            "{error}"
        );
        let fits = read_bounded_lines(&b"\"a\"\n"[..], 1024, 4, usize::MAX, &Cancel::default());
        assert_eq!(fits.unwrap().text, "\"a\"\n");
    }

    #[test]
    fn documents_refuse_a_lost_line_and_json_lines_report_it() {
        let bounded = read(b"[\n\"\xff\"\n]\n", 100);
        let error = from_bounded(
            "x.json".into(),
            None,
            bounded.clone(),
            InputsFormat::Json,
            usize::MAX,
        )
        .unwrap_err();
        assert!(
            error.to_string().contains("line 2"),
            "{error}: lines must be named"
        );
        let inputs = from_bounded(
            "x".into(),
            None,
            read(b"\"ok\"\n\"\xff\"\n", 100),
            InputsFormat::Sniff,
            usize::MAX,
        )
        .unwrap();
        assert_eq!(inputs.cases.len(), 1);
        assert_eq!(inputs.invalid[0].line, 2);
    }

    #[test]
    fn only_the_first_malformed_entries_are_kept_and_the_rest_counted() {
        let text = b"{bad\n\"\xff\"\n\"ok\"\n\"\xfe\"\n{bad\n42\n\"0123456789abcdef\"\n";
        let bounded = read_bounded_lines(&text[..], 12, u64::MAX, 2, &Cancel::default()).unwrap();
        assert_eq!(bounded.set_aside.len(), 2);
        assert_eq!(bounded.more_set_aside, 1);
        let inputs = from_bounded("x".into(), None, bounded, InputsFormat::JsonLines, 2).unwrap();
        assert_eq!(inputs.cases.len(), 1);
        let lines: Vec<usize> = inputs.invalid.iter().map(|invalid| invalid.line).collect();
        assert_eq!(lines, vec![1, 2]);
        assert_eq!(inputs.more_invalid, 4);
        // Kept without a bound, the same text lists all six.
        let inputs = from_bounded(
            "x".into(),
            None,
            read(text, 12),
            InputsFormat::JsonLines,
            usize::MAX,
        )
        .unwrap();
        assert_eq!((inputs.invalid.len(), inputs.more_invalid), (6, 0));
    }

    #[test]
    fn a_cancelled_read_stops() {
        let cancel = Cancel::default();
        cancel.cancel();
        let error = read_bounded_lines(std::io::repeat(b'x'), 10, u64::MAX, usize::MAX, &cancel)
            .unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::Interrupted);
    }
}
