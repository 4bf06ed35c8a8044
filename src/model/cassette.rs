//! Record/replay of model calls at the HTTP level (`--record FILE`, `--replay FILE`).
//!
//! # Cassette format (version 1)
//!
//! JSON lines, one interaction per line, appended (and flushed) as each call ends:
//!
//! ```json
//! {"version":1,"provider":"openai","method":"POST","path":"/v1/chat/completions",
//!  "case":"greeting","request":{...request JSON body as sent...},
//!  "status":200,"content_type":"text/event-stream","response":"data: {...}\n\n...data: [DONE]\n\n"}
//! ```
//!
//! * `provider` is our provider id, `path` the URL path (no host, no query: the base URL may
//!   differ between recording and replay), `request` the JSON body exactly as sent, `response`
//!   the raw body (SSE or JSON) of the final answer (after HTTP retries), `status` its status.
//!   `case` is informational (the case that made the call). A binary response (Bedrock's event
//!   stream) is stored base64-encoded with `"response_encoding":"base64"`; `method` is `GET`
//!   for AIGNE Hub's mount-point discovery, whose `request` is `null`.
//! * Secrets are stripped: no header and no query string is stored, and every string of the
//!   request body, the response, the path and the case name is masked by a [`Redactor`] (the
//!   values of credential variables from the environment and `.env` — see [`secret_values`] —
//!   whatever characters they hold, credentials of well-known formats, signed URL parameters),
//!   string by string: JSON keys and structure are kept, so replay still matches. A request is
//!   masked the same way before it is matched on replay.
//! * Replay matches on provider + path + canonical request body (object keys sorted). Identical
//!   requests are answered in recorded order; once they are used up, the last one is served
//!   again. A request with no match is a [`ModelError::CassetteMiss`] naming the case and the
//!   first place where the request differs from the closest recorded one. Replay needs no network
//!   and no key.
//! * Recording is safe under concurrency: each interaction is written as one whole line under a
//!   lock, by one writer.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::ModelError;
use crate::secret::Redactor;

/// The cassette format version.
pub const VERSION: u32 = 1;

/// One recorded model call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Interaction {
    pub version: u32,
    pub provider: String,
    pub method: String,
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub case: Option<String>,
    pub request: Value,
    pub status: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    pub response: String,
    /// `base64` when the response body is binary (Bedrock's event stream); absent for text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_encoding: Option<String>,
}

/// What a replayed call answers.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub status: u16,
    pub content_type: Option<String>,
    /// The body as it was received (base64 decoded).
    pub body: Vec<u8>,
}

type Key = (String, String, String);

/// The recorded answers for one request, served in order.
pub struct Queue {
    interactions: Vec<Interaction>,
    next: usize,
}

/// A cassette being recorded or replayed.
pub enum Cassette {
    /// Appends every call.
    Recorder {
        path: PathBuf,
        file: Mutex<fs_err::File>,
        redactor: Redactor,
    },
    /// Answers from the file.
    Player {
        path: PathBuf,
        queues: Mutex<HashMap<Key, Queue>>,
        all: Vec<Interaction>,
    },
}

impl Cassette {
    /// Creates (truncates) a cassette to record into. `secrets` are the values to strip.
    pub fn record(path: &Path, secrets: Vec<String>) -> Result<Self, ModelError> {
        if let Some(parent) = path
            .parent()
            .filter(|parent| !parent.as_os_str().is_empty())
        {
            fs_err::create_dir_all(parent).map_err(|error| cassette_error(path, &error))?;
        }
        // Only a new or regular file is written: never through a symlink (a checkout can plant
        // one where the workflow records), into a FIFO or a device.
        let file = crate::output_file::create_regular(path)
            .map_err(|error| cassette_error(path, &error))?;
        Ok(Self::Recorder {
            path: path.to_path_buf(),
            file: Mutex::new(file),
            redactor: Redactor::new(secrets),
        })
    }

    /// Loads a cassette to replay.
    pub fn replay(path: &Path) -> Result<Self, ModelError> {
        let text = fs_err::read_to_string(path).map_err(|error| cassette_error(path, &error))?;
        let mut all = Vec::new();
        let mut queues: HashMap<Key, Queue> = HashMap::new();
        for (number, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let interaction: Interaction =
                serde_json::from_str(line).map_err(|error| ModelError::Cassette {
                    path: path.to_path_buf(),
                    message: format!("line {}: {error}", number + 1),
                })?;
            if interaction.version != VERSION {
                return Err(ModelError::Cassette {
                    path: path.to_path_buf(),
                    message: format!(
                        "line {}: format version {} is not supported (expected {VERSION})",
                        number + 1,
                        interaction.version
                    ),
                });
            }
            let key = key(
                &interaction.provider,
                &interaction.path,
                &interaction.request,
            );
            queues
                .entry(key)
                .or_insert_with(|| Queue {
                    interactions: Vec::new(),
                    next: 0,
                })
                .interactions
                .push(interaction.clone());
            all.push(interaction);
        }
        Ok(Self::Player {
            path: path.to_path_buf(),
            queues: Mutex::new(queues),
            all,
        })
    }

    /// Whether this cassette answers calls (no network).
    pub fn is_replay(&self) -> bool {
        matches!(self, Self::Player { .. })
    }

    /// The providers a replayed cassette holds answers for.
    pub fn providers(&self) -> Vec<String> {
        match self {
            Self::Player { all, .. } => {
                let mut providers: Vec<String> =
                    all.iter().map(|item| item.provider.clone()).collect();
                providers.sort();
                providers.dedup();
                providers
            }
            Self::Recorder { .. } => Vec::new(),
        }
    }

    /// Appends one interaction (recording), with secrets stripped.
    pub fn append(&self, mut interaction: Interaction) -> Result<(), ModelError> {
        let Self::Recorder {
            path,
            file,
            redactor,
        } = self
        else {
            return Ok(());
        };
        redactor.redact_value(&mut interaction.request);
        if interaction.response_encoding.is_none() {
            interaction.response = redact_body(
                &interaction.response,
                interaction.content_type.as_deref(),
                redactor,
            );
        }
        interaction.path = redactor.redact(&interaction.path).into_owned();
        interaction.case = interaction
            .case
            .map(|case| redactor.redact(&case).into_owned());
        let mut line =
            serde_json::to_string(&interaction).map_err(|error| ModelError::Cassette {
                path: path.clone(),
                message: error.to_string(),
            })?;
        line.push('\n');
        let mut file = file.lock().unwrap_or_else(|poison| poison.into_inner());
        file.write_all(line.as_bytes())
            .and_then(|()| file.flush())
            .map_err(|error| cassette_error(path, &error))
    }

    /// The recorded answer for a request (replaying).
    pub fn answer(
        &self,
        provider: &str,
        path_in_url: &str,
        request: &Value,
        case: Option<&str>,
    ) -> Result<Recorded, ModelError> {
        let Self::Player { path, queues, all } = self else {
            return Err(ModelError::Cassette {
                path: PathBuf::new(),
                message: "not a replay cassette".to_owned(),
            });
        };
        // Recorded requests were masked; a live one is masked the same way (credentials of
        // well-known formats, signed URL parameters) before it is compared.
        let mut masked = request.clone();
        Redactor::default().redact_value(&mut masked);
        let request = &masked;
        let mut queues = queues.lock().unwrap_or_else(|poison| poison.into_inner());
        if let Some(queue) = queues.get_mut(&key(provider, path_in_url, request)) {
            let index = queue.next.min(queue.interactions.len().saturating_sub(1));
            queue.next += 1;
            if let Some(found) = queue.interactions.get(index) {
                let body =
                    match found.response_encoding.as_deref() {
                        Some("base64") => BASE64.decode(&found.response).map_err(|error| {
                            ModelError::Cassette {
                                path: path.clone(),
                                message: format!("a base64 response does not decode: {error}"),
                            }
                        })?,
                        _ => found.response.clone().into_bytes(),
                    };
                return Ok(Recorded {
                    status: found.status,
                    content_type: found.content_type.clone(),
                    body,
                });
            }
        }
        Err(ModelError::CassetteMiss {
            cassette: path.clone(),
            case: case.unwrap_or("(no case)").to_owned(),
            provider: provider.to_owned(),
            path_in_url: path_in_url.to_owned(),
            diff: closest_difference(all, provider, path_in_url, request),
        })
    }
}

fn cassette_error(path: &Path, error: &std::io::Error) -> ModelError {
    ModelError::Cassette {
        path: path.to_path_buf(),
        message: error.to_string(),
    }
}

fn key(provider: &str, path: &str, request: &Value) -> Key {
    (
        provider.to_owned(),
        path.to_owned(),
        serde_json::to_string(&canonical(request)).unwrap_or_default(),
    )
}

/// The value with object keys sorted, deeply.
pub fn canonical(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let sorted: BTreeMap<&String, Value> = map
                .iter()
                .map(|(key, value)| (key, canonical(value)))
                .collect();
            Value::Object(
                sorted
                    .into_iter()
                    .map(|(key, value)| (key.clone(), value))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(canonical).collect()),
        other => other.clone(),
    }
}

/// A response body with its secrets masked. A JSON body, and each JSON `data:` line of an event
/// stream, is masked string by string and written again (a model that quotes JSON puts a secret
/// there escaped twice); anything else is masked as text.
fn redact_body(body: &str, content_type: Option<&str>, redactor: &Redactor) -> String {
    let masked_json = |text: &str| -> Option<String> {
        let mut value: Value = serde_json::from_str(text).ok()?;
        redactor.redact_value(&mut value);
        serde_json::to_string(&value).ok()
    };
    let content_type = content_type.unwrap_or("").to_ascii_lowercase();
    let body = if content_type.contains("event-stream") {
        body.split_inclusive('\n')
            .map(|line| {
                let (content, end) = match line.strip_suffix('\n') {
                    Some(content) => (content, "\n"),
                    None => (line, ""),
                };
                match content.strip_prefix("data:") {
                    Some(data) => match masked_json(data.trim_start()) {
                        Some(masked) => format!("data: {masked}{end}"),
                        None => line.to_owned(),
                    },
                    None => line.to_owned(),
                }
            })
            .collect()
    } else if content_type.contains("json") {
        masked_json(body).unwrap_or_else(|| body.to_owned())
    } else {
        body.to_owned()
    };
    redactor.redact(&body).into_owned()
}

/// The values of variables that hold credentials: known key variables, plus any variable whose
/// name ends in `_KEY`, `_TOKEN`, `_SECRET` or `_PASSWORD`, or holds `CREDENTIAL`.
pub fn secret_values<'a>(
    variables: impl IntoIterator<Item = (&'a String, &'a String)>,
    known: &[&str],
) -> Vec<String> {
    variables
        .into_iter()
        .filter(|(name, value)| {
            !value.is_empty()
                && (known.contains(&name.as_str())
                    || name.ends_with("_KEY")
                    || name.ends_with("_TOKEN")
                    || name.ends_with("_SECRET")
                    || name.ends_with("_PASSWORD")
                    || name.contains("CREDENTIAL"))
        })
        .map(|(_, value)| value.clone())
        .collect()
}

/// Where `request` differs from the closest recorded request of the same provider and path.
fn closest_difference(all: &[Interaction], provider: &str, path: &str, request: &Value) -> String {
    let candidates: Vec<&Interaction> = all
        .iter()
        .filter(|item| item.provider == provider && item.path == path)
        .collect();
    if candidates.is_empty() {
        return if all.is_empty() {
            "the cassette is empty".to_owned()
        } else {
            format!("the cassette holds no call to provider `{provider}` at `{path}`")
        };
    }
    let request = canonical(request);
    let mut best: Option<(usize, String)> = None;
    for candidate in candidates {
        let recorded = canonical(&candidate.request);
        let mut differences = Vec::new();
        differences_between(&recorded, &request, String::new(), &mut differences);
        let count = differences.len();
        if best
            .as_ref()
            .is_none_or(|(best_count, _)| count < *best_count)
            && let Some(first) = differences.into_iter().next()
        {
            best = Some((count, first));
        }
    }
    match best {
        Some((count, first)) if count > 1 => {
            format!(
                "closest recorded request differs at {first} (and {} more)",
                count - 1
            )
        }
        Some((_, first)) => format!("closest recorded request differs at {first}"),
        None => "the request equals a recorded one".to_owned(),
    }
}

fn differences_between(recorded: &Value, request: &Value, at: String, out: &mut Vec<String>) {
    match (recorded, request) {
        (Value::Object(left), Value::Object(right)) => {
            for (key, value) in left {
                let pointer = format!("{at}/{key}");
                match right.get(key) {
                    Some(other) => differences_between(value, other, pointer, out),
                    None => out.push(format!(
                        "`{pointer}`: recorded {}, now absent",
                        excerpt(value)
                    )),
                }
            }
            for (key, value) in right {
                if !left.contains_key(key) {
                    out.push(format!(
                        "`{at}/{key}`: not recorded, now {}",
                        excerpt(value)
                    ));
                }
            }
        }
        (Value::Array(left), Value::Array(right)) if left.len() == right.len() => {
            for (index, (value, other)) in left.iter().zip(right).enumerate() {
                differences_between(value, other, format!("{at}/{index}"), out);
            }
        }
        (left, right) if left != right => out.push(format!(
            "`{}`: recorded {}, now {}",
            if at.is_empty() { "/" } else { &at },
            excerpt(left),
            excerpt(right)
        )),
        _ => {}
    }
}

fn excerpt(value: &Value) -> String {
    crate::text::excerpt(&value.to_string(), 80)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn interaction(request: Value, response: &str) -> Interaction {
        Interaction {
            version: VERSION,
            provider: "openai".to_owned(),
            method: "POST".to_owned(),
            path: "/v1/chat/completions".to_owned(),
            case: None,
            request,
            status: 200,
            content_type: None,
            response: response.to_owned(),
            response_encoding: None,
        }
    }

    #[test]
    fn records_scrubbed_and_replays_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.jsonl");
        let recorder = Cassette::record(&path, vec!["sk-secret-value".to_owned()]).unwrap();
        recorder
            .append(interaction(
                json!({"b": 1, "a": "sk-secret-value"}),
                "first",
            ))
            .unwrap();
        recorder
            .append(interaction(
                json!({"a": "sk-secret-value", "b": 1}),
                "second",
            ))
            .unwrap();
        let text = fs_err::read_to_string(&path).unwrap();
        assert!(!text.contains("sk-secret-value"), "{text}");
        let player = Cassette::replay(&path).unwrap();
        let request = json!({"a": "****", "b": 1});
        let answer = |player: &Cassette| {
            player
                .answer("openai", "/v1/chat/completions", &request, Some("c1"))
                .unwrap()
                .body
        };
        let answer = |player: &Cassette| String::from_utf8(answer(player)).unwrap();
        assert_eq!(answer(&player), "first");
        assert_eq!(answer(&player), "second");
        assert_eq!(answer(&player), "second");
        let miss = player
            .answer(
                "openai",
                "/v1/chat/completions",
                &json!({"a": "****", "b": 2}),
                Some("c9"),
            )
            .unwrap_err();
        assert_eq!(
            miss.to_string(),
            format!(
                "no recorded answer in cassette `{}` for case `c9` (openai /v1/chat/completions): closest recorded request differs at `/b`: recorded 1, now 2",
                path.display()
            )
        );
    }

    #[test]
    fn secret_values_by_name() {
        let variables: BTreeMap<String, String> = [
            ("OPENAI_API_KEY", "sk-1"),
            ("GITHUB_TOKEN", "ghp"),
            ("HOME", "/root"),
            ("OLLAMA_API_KEY", ""),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let mut values = secret_values(&variables, &[]);
        values.sort();
        assert_eq!(values, vec!["ghp", "sk-1"]);
    }
}
