//! The `application/vnd.amazon.eventstream` framing of ConverseStream, decoded by hand with
//! `crc32fast` (the format is four length/CRC fields and typed headers; `aws-smithy-eventstream`
//! would bring `aws-smithy-types` along for the same few lines).
//!
//! A message: total length (u32), headers length (u32), CRC32 of those 8 bytes, headers,
//! payload, CRC32 of everything before it. A header: name length (u8), name, type (u8), value.

/// One decoded message: its string headers and its payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Headers whose value is a string (`:event-type`, `:message-type`, …).
    pub headers: Vec<(String, String)>,
    /// The payload (JSON for Bedrock).
    pub payload: Vec<u8>,
}

impl Message {
    /// A string header by name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

/// A frame that breaks the format.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct FrameError(pub String);

const PRELUDE: usize = 12;
const MAX_MESSAGE: usize = 16 * 1024 * 1024;

/// Decoder state between chunks.
#[derive(Debug, Default)]
pub struct Decoder {
    buffer: Vec<u8>,
}

impl Decoder {
    /// Feeds bytes; returns the messages they complete.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<Vec<Message>, FrameError> {
        self.buffer.extend_from_slice(bytes);
        let mut messages = Vec::new();
        while self.buffer.len() >= PRELUDE {
            let total = read_u32(&self.buffer, 0) as usize;
            let headers_length = read_u32(&self.buffer, 4) as usize;
            if crc32fast::hash(&self.buffer[..8]) != read_u32(&self.buffer, 8) {
                return Err(FrameError("prelude checksum mismatch".into()));
            }
            if !(PRELUDE + 4..=MAX_MESSAGE).contains(&total) || PRELUDE + headers_length + 4 > total
            {
                return Err(FrameError(format!("invalid message length {total}")));
            }
            if self.buffer.len() < total {
                break;
            }
            let frame: Vec<u8> = self.buffer.drain(..total).collect();
            if crc32fast::hash(&frame[..total - 4]) != read_u32(&frame, total - 4) {
                return Err(FrameError("message checksum mismatch".into()));
            }
            let headers = parse_headers(&frame[PRELUDE..PRELUDE + headers_length])?;
            messages.push(Message {
                headers,
                payload: frame[PRELUDE + headers_length..total - 4].to_vec(),
            });
        }
        Ok(messages)
    }

    /// Whether bytes of an unfinished message are left (a truncated stream).
    pub fn has_remainder(&self) -> bool {
        !self.buffer.is_empty()
    }
}

fn read_u32(bytes: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

fn parse_headers(mut bytes: &[u8]) -> Result<Vec<(String, String)>, FrameError> {
    let short = || FrameError("truncated header".into());
    let mut headers = Vec::new();
    while !bytes.is_empty() {
        let name_length = usize::from(bytes[0]);
        let name = bytes.get(1..1 + name_length).ok_or_else(short)?;
        let name = String::from_utf8_lossy(name).into_owned();
        bytes = &bytes[1 + name_length..];
        let kind = *bytes.first().ok_or_else(short)?;
        bytes = &bytes[1..];
        let fixed = match kind {
            0 | 1 => Some(0),
            2 => Some(1),
            3 => Some(2),
            4 => Some(4),
            5 | 8 => Some(8),
            9 => Some(16),
            6 | 7 => None,
            other => return Err(FrameError(format!("unknown header type {other}"))),
        };
        match fixed {
            Some(length) => {
                bytes = bytes.get(length..).ok_or_else(short)?;
            }
            None => {
                let length_bytes = bytes.get(..2).ok_or_else(short)?;
                let length = usize::from(u16::from_be_bytes([length_bytes[0], length_bytes[1]]));
                let value = bytes.get(2..2 + length).ok_or_else(short)?;
                if kind == 7 {
                    headers.push((name, String::from_utf8_lossy(value).into_owned()));
                }
                bytes = &bytes[2 + length..];
            }
        }
    }
    Ok(headers)
}

/// Encodes a message with string headers (for fake servers in tests).
pub fn encode(headers: &[(&str, &str)], payload: &[u8]) -> Vec<u8> {
    let mut encoded_headers = Vec::new();
    for (name, value) in headers {
        encoded_headers.push(name.len() as u8);
        encoded_headers.extend_from_slice(name.as_bytes());
        encoded_headers.push(7);
        encoded_headers.extend_from_slice(&(value.len() as u16).to_be_bytes());
        encoded_headers.extend_from_slice(value.as_bytes());
    }
    let total = PRELUDE + encoded_headers.len() + payload.len() + 4;
    let mut message = Vec::with_capacity(total);
    message.extend_from_slice(&(total as u32).to_be_bytes());
    message.extend_from_slice(&(encoded_headers.len() as u32).to_be_bytes());
    let prelude_crc = crc32fast::hash(&message);
    message.extend_from_slice(&prelude_crc.to_be_bytes());
    message.extend_from_slice(&encoded_headers);
    message.extend_from_slice(payload);
    let crc = crc32fast::hash(&message);
    message.extend_from_slice(&crc.to_be_bytes());
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A frame built by an independent encoder (Python `zlib.crc32`, the layout of the AWS
    /// docs): `:event-type` = `messageStart`, payload `{"role": "assistant"}`.
    const FRAME_HEX: &str = "0000007700000052abb5d36e0b3a6576656e742d7479706507000c6d65737361676553746172740d3a636f6e74656e742d747970650700106170706c69636174696f6e2f6a736f6e0d3a6d6573736167652d747970650700056576656e747b22726f6c65223a2022617373697374616e74227d5be0d2f5";

    #[test]
    fn decodes_an_independently_encoded_frame_in_pieces() {
        let frame = hex::decode(FRAME_HEX).unwrap();
        let mut decoder = Decoder::default();
        assert!(decoder.feed(&frame[..20]).unwrap().is_empty());
        assert!(decoder.has_remainder());
        let messages = decoder.feed(&frame[20..]).unwrap();
        assert_eq!(messages.len(), 1);
        assert_eq!(messages[0].header(":event-type"), Some("messageStart"));
        assert_eq!(messages[0].header(":message-type"), Some("event"));
        assert_eq!(messages[0].payload, br#"{"role": "assistant"}"#);
        assert!(!decoder.has_remainder());
        assert_eq!(
            encode(
                &[
                    (":event-type", "messageStart"),
                    (":content-type", "application/json"),
                    (":message-type", "event")
                ],
                br#"{"role": "assistant"}"#
            ),
            frame
        );
    }

    #[test]
    fn rejects_corrupt_frames() {
        let mut frame = encode(&[(":event-type", "x")], b"{}");
        let last = frame.len() - 1;
        frame[last] ^= 1;
        assert_eq!(
            Decoder::default().feed(&frame).unwrap_err().0,
            "message checksum mismatch"
        );
        frame[0] ^= 1;
        assert_eq!(
            Decoder::default().feed(&frame).unwrap_err().0,
            "prelude checksum mismatch"
        );
    }
}
