//! Server-sent events: splits a complete `text/event-stream` body into the `data` payloads of
//! its events (<https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation>).
//!
//! The whole body is read before parsing (the answer is assembled anyway, and the raw body is
//! what a cassette stores), so this works on a string rather than a byte stream.

/// One event: its `event` name (if any) and its `data` lines joined with `\n`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub event: Option<String>,
    pub data: String,
}

/// The longest line an event may hold, in bytes (one `data:` line is one provider chunk; a
/// chunk this long is not a chat answer).
pub const MAX_LINE_BYTES: usize = 4 * 1024 * 1024;

/// A line of the stream is longer than [`MAX_LINE_BYTES`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("an event line of the stream is longer than {limit} bytes", limit = MAX_LINE_BYTES)]
pub struct LineTooLong;

/// The events of a body, in order. Comment lines (`:`) and `id`/`retry` fields are ignored; an
/// event still open at the end of the body is kept (the body ended without its blank line:
/// [`ends_inside_an_event`] tells). A line longer than [`MAX_LINE_BYTES`] is an error.
pub fn parse(body: &str) -> Result<Vec<Event>, LineTooLong> {
    let mut events = Vec::new();
    let mut data: Option<String> = None;
    let mut event: Option<String> = None;
    let body = body.strip_prefix('\u{feff}').unwrap_or(body);
    for line in body.split('\n') {
        if line.len() > MAX_LINE_BYTES {
            return Err(LineTooLong);
        }
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() {
            if let Some(data) = data.take() {
                events.push(Event {
                    event: event.take(),
                    data,
                });
            }
            event = None;
            continue;
        }
        if line.starts_with(':') {
            continue;
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line, ""),
        };
        match field {
            "data" => match &mut data {
                Some(existing) => {
                    existing.push('\n');
                    existing.push_str(value);
                }
                None => data = Some(value.to_owned()),
            },
            "event" => event = Some(value.to_owned()),
            _ => {}
        }
    }
    if let Some(data) = data {
        events.push(Event { event, data });
    }
    Ok(events)
}

/// Whether the body stops inside an event (a field line not followed by the blank line that
/// ends an event): the connection closed mid-event. Trailing comment lines don't count.
pub fn ends_inside_an_event(body: &str) -> bool {
    let mut open = false;
    let mut lines = body.split('\n').peekable();
    while let Some(line) = lines.next() {
        let last = lines.peek().is_none();
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() {
            // The text after the final newline is no line at all when it is empty.
            open &= last;
        } else if !line.starts_with(':') {
            open = true;
        }
    }
    open
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_events() {
        let body = ": comment\ndata: {\"a\":1}\n\nevent: error\r\ndata: x\r\ndata: y\r\n\r\ndata: [DONE]\n\n";
        assert_eq!(
            parse(body).unwrap(),
            vec![
                Event {
                    event: None,
                    data: "{\"a\":1}".to_owned()
                },
                Event {
                    event: Some("error".to_owned()),
                    data: "x\ny".to_owned()
                },
                Event {
                    event: None,
                    data: "[DONE]".to_owned()
                },
            ]
        );
    }

    #[test]
    fn keeps_an_unterminated_last_event() {
        assert_eq!(parse("data: tail").unwrap().len(), 1);
        assert!(parse("").unwrap().is_empty());
        assert!(ends_inside_an_event("data: a\n\ndata: tail"));
        assert!(ends_inside_an_event("data: a\r\n"));
        assert!(!ends_inside_an_event("data: a\r\n\r\n: keep-alive\n"));
        assert!(!ends_inside_an_event(""));
    }

    #[test]
    fn a_line_over_the_cap_is_an_error() {
        let long = format!("data: {}\n\n", "x".repeat(MAX_LINE_BYTES));
        assert_eq!(parse(&long), Err(LineTooLong));
        let fits = format!("data: {}\n\n", "x".repeat(MAX_LINE_BYTES - 6));
        assert_eq!(parse(&fits).unwrap().len(), 1);
    }
}
