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

/// The events of a body, in order. Comment lines (`:`) and `id`/`retry` fields are ignored; an
/// event still open at the end of the body is kept (the body ended without its blank line).
pub fn parse(body: &str) -> Vec<Event> {
    let mut events = Vec::new();
    let mut data: Option<String> = None;
    let mut event: Option<String> = None;
    let body = body.strip_prefix('\u{feff}').unwrap_or(body);
    for line in body.split('\n') {
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
    events
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_events() {
        let body = ": comment\ndata: {\"a\":1}\n\nevent: error\r\ndata: x\r\ndata: y\r\n\r\ndata: [DONE]\n\n";
        assert_eq!(
            parse(body),
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
        assert_eq!(parse("data: tail").len(), 1);
        assert!(parse("").is_empty());
    }
}
