//! An incremental Server-Sent Events decoder (the WHATWG rules `eventsource-parser` follows):
//! feed it bytes as they arrive, take whole events out.

/// One event: its `event:` name (empty for the default) and its joined `data:` lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field, or empty.
    pub event: String,
    /// The `data:` lines joined with `\n`.
    pub data: String,
}

/// Decoder state between chunks.
#[derive(Debug, Default)]
pub struct SseDecoder {
    buffer: Vec<u8>,
    event: String,
    data: Vec<String>,
    has_data: bool,
}

impl SseDecoder {
    /// Feeds bytes; returns the events they complete.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<SseEvent> {
        self.buffer.extend_from_slice(bytes);
        let mut events = Vec::new();
        while let Some(end) = self
            .buffer
            .iter()
            .position(|byte| *byte == b'\n' || *byte == b'\r')
        {
            // A lone `\r` at the end of a chunk may be the first half of `\r\n`.
            if self.buffer[end] == b'\r' && end + 1 == self.buffer.len() {
                break;
            }
            let line = String::from_utf8_lossy(&self.buffer[..end]).into_owned();
            let skip = if self.buffer[end] == b'\r' && self.buffer.get(end + 1) == Some(&b'\n') {
                2
            } else {
                1
            };
            self.buffer.drain(..end + skip);
            if let Some(event) = self.line(&line) {
                events.push(event);
            }
        }
        events
    }

    /// Ends the stream: an event not closed by a blank line is dropped, as browsers do; the
    /// return value says whether unconsumed data was left (a truncated stream).
    pub fn finish(&mut self) -> bool {
        let truncated = self.has_data || !self.buffer.iter().all(u8::is_ascii_whitespace);
        self.buffer.clear();
        self.data.clear();
        self.has_data = false;
        truncated
    }

    fn line(&mut self, line: &str) -> Option<SseEvent> {
        if line.is_empty() {
            if !self.has_data {
                self.event.clear();
                return None;
            }
            let event = SseEvent {
                event: std::mem::take(&mut self.event),
                data: self.data.join("\n"),
            };
            self.data.clear();
            self.has_data = false;
            return Some(event);
        }
        if line.starts_with(':') {
            return None;
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line, ""),
        };
        match field {
            "event" => self.event = value.to_owned(),
            "data" => {
                self.data.push(value.to_owned());
                self.has_data = true;
            }
            _ => {}
        }
        None
    }
}

/// Decodes a whole body at once.
pub fn decode_all(body: &[u8]) -> (Vec<SseEvent>, bool) {
    let mut decoder = SseDecoder::default();
    let events = decoder.feed(body);
    let truncated = decoder.finish();
    (events, truncated)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_across_chunks_and_line_endings() {
        let mut decoder = SseDecoder::default();
        let mut events = decoder.feed(b"event: message_start\ndata: {\"a\"");
        assert!(events.is_empty());
        events.extend(decoder.feed(b":1}\r"));
        events.extend(decoder.feed(b"\n\r\n: comment\ndata: x\ndata:y\n\n"));
        assert_eq!(
            events,
            vec![
                SseEvent {
                    event: "message_start".into(),
                    data: "{\"a\":1}".into()
                },
                SseEvent {
                    event: String::new(),
                    data: "x\ny".into()
                },
            ]
        );
        assert!(!decoder.finish());
    }

    #[test]
    fn truncated_stream_is_reported() {
        let (events, truncated) = decode_all(b"data: {\"a\":1}\n\ndata: {\"b\"");
        assert_eq!(events.len(), 1);
        assert!(truncated);
    }
}
