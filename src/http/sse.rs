//! Server-sent events (<https://html.spec.whatwg.org/multipage/server-sent-events.html>), the
//! one parser of the crate: the `sse-stream` crate (rmcp's own), behind two entry points —
//!
//! - [`parse`] / [`ends_inside_an_event`] for a provider's whole streamed answer (the body is
//!   read before parsing: the raw body is what a cassette stores and what a retry judges), with
//!   a cap of [`MAX_LINE_BYTES`] per line (the cap of a whole answer, `--max-response-size`, is
//!   the transport's). Events are parsed one at a time from borrowed pieces of the body, so an
//!   answer near the cap is held once, not once per copy;
//! - [`events`] for a live byte stream (MCP's legacy SSE transport), with a cap per event.
//!
//! What is written here is only what the crate does not do: the caps, and telling whether a
//! body stopped inside an event (the crate drops an unfinished event at the end of a stream).
//! `sse-stream` is stricter than the WHATWG algorithm in one way: a line that is neither a
//! comment nor a `data`/`event`/`id`/`retry` field is an error ([`SseError::Invalid`]), not
//! ignored.

use bytes::Bytes;
use futures::{Stream, StreamExt};
use sse_stream::SseStream;

/// One event: its `event` name (if any) and its `data` lines joined with `\n`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub event: Option<String>,
    pub data: String,
}

/// The longest line an event may hold, in bytes (one `data:` line is one provider chunk; a
/// chunk this long is not a chat answer).
pub const MAX_LINE_BYTES: usize = 4 * 1024 * 1024;

/// Why a body is not a readable event stream.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SseError {
    /// A line of the stream is longer than [`MAX_LINE_BYTES`].
    #[error("an event line of the stream is longer than {limit} bytes", limit = MAX_LINE_BYTES)]
    LineTooLong,
    /// The parser refused a line.
    #[error("the event stream is malformed: {0}")]
    Invalid(String),
}

/// How much of a body the parser is handed at a time: it never holds more than this, an
/// unfinished line and the events of one piece.
const PIECE_BYTES: usize = 64 * 1024;

/// The parser's items for `body`, then `tail`, one at a time: the body is handed over in
/// borrowed pieces, never copied whole, and nothing is collected (an answer near the
/// transport's cap must not be held twice or three times over).
fn parsed<'a>(
    body: &'a str,
    tail: &'static [u8],
) -> impl Iterator<Item = Result<sse_stream::Sse, sse_stream::Error>> + 'a {
    let pieces = body
        .as_bytes()
        .chunks(PIECE_BYTES)
        .chain(std::iter::once(tail))
        .map(Ok::<&[u8], std::convert::Infallible>);
    // The stream is in memory: every poll is ready, so this never blocks.
    futures::executor::block_on_stream(Box::pin(SseStream::from_bytes_stream(
        futures::stream::iter(pieces),
    )))
}

/// The events of a body, in order, parsed as they are taken (nothing is parsed ahead, nothing
/// is kept): an error ends the iteration. Comment lines (`:`), `id`/`retry` fields and events
/// without `data` are left out; an event still open at the end of the body is kept (the body
/// ended without its blank line: [`ends_inside_an_event`] tells). A line longer than
/// [`MAX_LINE_BYTES`] is an error before any event.
pub fn parse(body: &str) -> Result<impl Iterator<Item = Result<Event, SseError>> + '_, SseError> {
    if body.split('\n').any(|line| line.len() > MAX_LINE_BYTES) {
        return Err(SseError::LineTooLong);
    }
    let mut failed = false;
    // The blank line closes an event the body left open.
    Ok(parsed(body, b"\n\n")
        .map_while(move |item| {
            if failed {
                return None;
            }
            match item {
                Ok(sse) => Some(Ok(sse.data.map(|data| Event {
                    event: sse.event,
                    data,
                }))),
                Err(error) => {
                    failed = true;
                    Some(Err(SseError::Invalid(error.to_string())))
                }
            }
        })
        .filter_map(Result::transpose))
}

/// Whether the body stops inside an event (a field line not followed by the blank line that
/// ends an event): the connection closed mid-event. Trailing comment lines don't count. A body
/// the parser refuses is not "inside an event" ([`parse`] reports it).
pub fn ends_inside_an_event(body: &str) -> bool {
    // Counted as they come: an event is dropped as soon as it is counted.
    let count = |tail| {
        let mut items = 0usize;
        for item in parsed(body, tail) {
            item.ok()?;
            items += 1;
        }
        Some(items)
    };
    // An event that only a closing blank line brings out was open at the end.
    match (count(b""), count(b"\n\n")) {
        (Some(as_is), Some(closed)) => closed > as_is,
        _ => false,
    }
}

/// The events of a live byte stream, ended with an error once an unfinished event passes
/// `max_event_bytes` ([`limit_events`]).
pub fn events<E>(
    stream: impl Stream<Item = Result<Bytes, E>>,
    max_event_bytes: usize,
) -> impl Stream<Item = Result<sse_stream::Sse, sse_stream::Error>>
where
    E: std::error::Error + Send + Sync + 'static,
{
    SseStream::from_bytes_stream(limit_events(stream, max_event_bytes))
}

/// The error [`limit_events`] ends a stream with.
#[derive(Debug, thiserror::Error)]
#[error("an event is larger than {limit} bytes")]
pub struct EventTooLarge {
    /// The cap, in bytes.
    pub limit: usize,
}

/// Whether an error of [`events`] is [`limit_events`]'s cap.
pub fn is_event_too_large(error: &sse_stream::Error) -> bool {
    let sse_stream::Error::Body(source) = error else {
        return false;
    };
    source
        .downcast_ref::<std::io::Error>()
        .and_then(|error| error.get_ref())
        .is_some_and(|inner| inner.is::<EventTooLarge>())
}

/// Ends the byte stream with an error once an unfinished event (the bytes since the last blank
/// line, counted at chunk ends) passes `max` bytes, so that a server cannot make the parser
/// buffer without bound.
pub fn limit_events<E>(
    stream: impl Stream<Item = Result<Bytes, E>>,
    max: usize,
) -> impl Stream<Item = Result<Bytes, std::io::Error>>
where
    E: std::error::Error + Send + Sync + 'static,
{
    let mut pending = 0usize;
    let mut after_newline = false;
    let mut failed = false;
    stream
        .map(move |chunk| {
            let chunk = chunk.map_err(std::io::Error::other)?;
            for byte in chunk.iter() {
                match byte {
                    b'\n' if after_newline => pending = 0,
                    b'\n' => after_newline = true,
                    b'\r' => {}
                    _ => {
                        after_newline = false;
                        pending += 1;
                    }
                }
            }
            if pending > max {
                return Err(std::io::Error::other(EventTooLarge { limit: max }));
            }
            Ok(chunk)
        })
        .take_while(move |item| {
            let go = !failed;
            failed |= item.is_err();
            std::future::ready(go)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(body: &str) -> Result<Vec<Event>, SseError> {
        parse(body)?.collect()
    }

    #[test]
    fn splits_events() {
        let body = ": comment\ndata: {\"a\":1}\n\nevent: error\r\ndata: x\r\ndata: y\r\n\r\ndata: [DONE]\n\n";
        assert_eq!(
            all(body).unwrap(),
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
        assert_eq!(all("data: tail").unwrap().len(), 1);
        assert!(all("").unwrap().is_empty());
        assert!(ends_inside_an_event("data: a\n\ndata: tail"));
        assert!(ends_inside_an_event("data: a\r\n"));
        assert!(!ends_inside_an_event("data: a\r\n\r\n: keep-alive\n"));
        assert!(!ends_inside_an_event(""));
    }

    #[test]
    fn a_line_over_the_cap_is_an_error() {
        let long = format!("data: {}\n\n", "x".repeat(MAX_LINE_BYTES));
        assert_eq!(all(&long), Err(SseError::LineTooLong));
        let fits = format!("data: {}\n\n", "x".repeat(MAX_LINE_BYTES - 6));
        assert_eq!(all(&fits).unwrap().len(), 1);
    }

    #[test]
    fn events_come_one_at_a_time_and_an_error_ends_them() {
        // Pieces split lines and multi-byte characters (`é` is two bytes, and the first one
        // starts at byte 5): the parser joins them.
        let piece = "é".repeat(PIECE_BYTES);
        let body = format!("data:{piece}\n\ndata: b\n\n");
        let events: Vec<_> = parse(&body)
            .unwrap()
            .map(|event| event.unwrap().data)
            .collect();
        assert_eq!(events, [piece.clone(), "b".to_owned()]);
        // An error ends the events (the parser reports it before the events of its own piece,
        // hence the long comment line between).
        let comment = "c".repeat(PIECE_BYTES);
        let body = format!("data:{piece}\n\n:{comment}\nnot a field\n\ndata: c\n\n");
        let mut events = parse(&body).unwrap();
        assert_eq!(events.next().unwrap().unwrap().data, piece);
        assert!(matches!(events.next(), Some(Err(SseError::Invalid(_)))));
        assert!(events.next().is_none(), "nothing after an error");
    }

    #[tokio::test]
    async fn events_are_bounded() {
        let chunks = |parts: &[&'static str]| {
            futures::stream::iter(
                parts
                    .iter()
                    .map(|part| Ok::<_, std::io::Error>(Bytes::from_static(part.as_bytes())))
                    .collect::<Vec<_>>(),
            )
        };
        // Events finished within a chunk, and short unfinished ones, pass.
        let small = limit_events(chunks(&["data: 12345\n\n", "data: 678\r\n\r\ndata: 9"]), 8);
        let items: Vec<_> = small.collect().await;
        assert!(items.iter().all(Result::is_ok), "{items:?}");
        // One event over the bound (across chunks) ends the stream with an error.
        let big = limit_events(chunks(&["data: 12", "345\n", "data: 6\n\n", "data: 1"]), 8);
        let items: Vec<_> = big.collect().await;
        assert_eq!(items.len(), 2, "{items:?}");
        assert_eq!(
            items[1].as_ref().unwrap_err().to_string(),
            "an event is larger than 8 bytes"
        );
        let events: Vec<_> = events(chunks(&["event: endpoint\ndata: /m?s=1\n\n"]), 64)
            .collect()
            .await;
        assert_eq!(events.len(), 1);
        let event = events[0].as_ref().unwrap();
        assert_eq!(event.event.as_deref(), Some("endpoint"));
        assert_eq!(event.data.as_deref(), Some("/m?s=1"));
    }
}
