//! What the native providers (Anthropic, Gemini, Bedrock, AIGNE Hub) share: the HTTP request a
//! provider builds ([`WireRequest`]), the errors of building requests and reading answers
//! ([`WireError`]), and small helpers that mirror AIGNE utilities.

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::{Map, Value};

use crate::secret::Secret;
use crate::settings::Environment;

/// Where provider settings read variables (the environment, merged with `.env` files).
pub trait Variables {
    /// A variable's value, when set and not empty.
    fn variable(&self, name: &str) -> Option<&str>;
}

impl Variables for Environment {
    fn variable(&self, name: &str) -> Option<&str> {
        self.get(name)
    }
}

/// One HTTP request, fully built: the transport only sends it (and retries it).
#[derive(Debug, Clone)]
pub struct WireRequest {
    /// `POST` or `GET`.
    pub method: reqwest::Method,
    /// Where to send it.
    pub url: url::Url,
    /// Headers; credentials are marked sensitive (never printed, never recorded).
    pub headers: HeaderMap,
    /// The exact body bytes (JSON for every provider); empty for `GET`.
    pub body: Vec<u8>,
}

impl WireRequest {
    /// A `POST` of a JSON body.
    pub fn post_json(url: url::Url, body: &Value) -> Result<Self, WireError> {
        let mut headers = HeaderMap::new();
        headers.insert(
            reqwest::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        Ok(Self {
            method: reqwest::Method::POST,
            url,
            headers,
            body: serde_json::to_vec(body).map_err(|source| WireError::Encode { source })?,
        })
    }

    /// A `GET` with no body.
    pub fn get(url: url::Url) -> Self {
        Self {
            method: reqwest::Method::GET,
            url,
            headers: HeaderMap::new(),
            body: Vec::new(),
        }
    }

    /// Adds a plain header.
    pub fn header(&mut self, name: &'static str, value: &str) -> Result<(), WireError> {
        let value = HeaderValue::from_str(value).map_err(|_| WireError::InvalidHeader {
            name: name.to_owned(),
        })?;
        self.headers.insert(HeaderName::from_static(name), value);
        Ok(())
    }

    /// Adds a credential header, marked sensitive.
    pub fn secret_header(
        &mut self,
        name: &'static str,
        prefix: &str,
        secret: &Secret,
    ) -> Result<(), WireError> {
        let mut value =
            HeaderValue::from_str(&format!("{prefix}{}", secret.expose())).map_err(|_| {
                WireError::InvalidHeader {
                    name: name.to_owned(),
                }
            })?;
        value.set_sensitive(true);
        self.headers.insert(HeaderName::from_static(name), value);
        Ok(())
    }

    /// The body parsed back as JSON (tests and cassettes).
    pub fn json_body(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

/// Building a provider request or reading its answer failed.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    /// A credential the provider needs is not set.
    #[error("`{provider}` needs {what}: set {variables}")]
    MissingCredential {
        /// Provider id.
        provider: &'static str,
        /// What is missing (`an API key`, `a region`, …).
        what: &'static str,
        /// The variables that provide it, in backticks.
        variables: String,
        /// The (first) variable to set.
        variable: &'static str,
    },
    /// A base URL from the environment does not parse.
    #[error("`{variable}` is not a valid URL: `{value}`")]
    InvalidBaseUrl {
        /// The variable.
        variable: &'static str,
        /// Its value.
        value: String,
        /// Why.
        #[source]
        source: url::ParseError,
    },
    /// The conversation cannot be expressed in the provider's format (AIGNE throws the same).
    #[error("cannot build a `{provider}` request: {message}")]
    InvalidRequest {
        /// Provider id.
        provider: &'static str,
        /// What is wrong.
        message: String,
    },
    /// A header value holds characters HTTP does not allow.
    #[error("header `{name}` has a value that is not valid in HTTP")]
    InvalidHeader {
        /// Header name.
        name: String,
    },
    /// Serializing a body failed.
    #[error("cannot encode a request body")]
    Encode {
        /// Why.
        #[source]
        source: serde_json::Error,
    },
    /// The response stream broke its protocol (bad JSON, bad framing, unknown block).
    #[error("`{provider}` sent a malformed response: {message}")]
    MalformedResponse {
        /// Provider id.
        provider: &'static str,
        /// What is wrong.
        message: String,
    },
    /// A tool call's (or the JSON tool's) arguments are not valid JSON (AIGNE parses these
    /// strictly for Anthropic and Bedrock and does not retry).
    #[error("`{provider}` returned arguments for tool `{tool}` that are not valid JSON")]
    InvalidToolArguments {
        /// Provider id.
        provider: &'static str,
        /// Tool name.
        tool: String,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
    /// The provider reported an error inside a successful (200) response stream.
    #[error("`{provider}` reported an error: {message}")]
    Reported {
        /// Provider id.
        provider: &'static str,
        /// Its message.
        message: String,
        /// Its error type, when given (`overloaded_error`, `throttlingException`, …).
        kind: Option<String>,
    },
    /// Structured output is missing; AIGNE raises `StructuredOutputError`, which is retried.
    #[error("`{provider}`: {message}")]
    StructuredOutput {
        /// Provider id.
        provider: &'static str,
        /// AIGNE's message (`No JSON response from the model`, …).
        message: String,
    },
    /// AIGNE Hub mount point discovery failed.
    #[error("AIGNE Hub at `{origin}` has no AI Kit component in `__blocklet__.js`")]
    HubComponentNotFound {
        /// The hub origin.
        origin: String,
    },
}

impl WireError {
    /// Whether AIGNE retries the whole call on this error (`StructuredOutputError`).
    pub fn is_structured_output(&self) -> bool {
        matches!(self, Self::StructuredOutput { .. })
    }

    pub(crate) fn malformed(provider: &'static str, message: impl Into<String>) -> Self {
        Self::MalformedResponse {
            provider,
            message: message.into(),
        }
    }

    pub(crate) fn invalid(provider: &'static str, message: impl Into<String>) -> Self {
        Self::InvalidRequest {
            provider,
            message: message.into(),
        }
    }
}

/// An API key read from `primary`, else `fallback` (AIGNE's `ANTHROPIC_API_KEY` →
/// `CLAUDE_API_KEY`, `GEMINI_API_KEY` → `GOOGLE_API_KEY`).
pub fn api_key(
    environment: &dyn Variables,
    provider: &'static str,
    primary: &'static str,
    fallback: &'static str,
) -> Result<Secret, WireError> {
    environment
        .variable(primary)
        .or_else(|| environment.variable(fallback))
        .map(Secret::new)
        .ok_or_else(|| WireError::MissingCredential {
            provider,
            what: "an API key",
            variable: primary,
            variables: format!("`{primary}` or `{fallback}`"),
        })
}

/// A base URL from an environment variable, else the default.
pub fn base_url(
    value: Option<&str>,
    variable: &'static str,
    default: &str,
) -> Result<url::Url, WireError> {
    let raw = value.unwrap_or(default);
    url::Url::parse(raw).map_err(|source| WireError::InvalidBaseUrl {
        variable,
        value: raw.to_owned(),
        source,
    })
}

/// `base` joined with `path` segments, keeping any path prefix of `base` (like `ufo.joinURL`).
pub fn join_url(base: &url::Url, path: &str) -> url::Url {
    let mut url = base.clone();
    let prefix = url.path().trim_end_matches('/').to_owned();
    url.set_path(&format!("{prefix}/{}", path.trim_start_matches('/')));
    url
}

/// The model to use: `modelOptions.model` when set and not empty, else the configured one.
pub fn model_name<'a>(options: &'a Map<String, Value>, configured: &'a str) -> &'a str {
    options
        .get("model")
        .and_then(Value::as_str)
        .filter(|model| !model.is_empty())
        .unwrap_or(configured)
}

/// A number option (`temperature`, `topP`, …).
pub fn number_option(options: &Map<String, Value>, key: &str) -> Option<Value> {
    options.get(key).filter(|value| value.is_number()).cloned()
}

/// AIGNE's `isEmpty` for a schema: `{}` (or null).
pub fn is_empty_schema(schema: &Value) -> bool {
    match schema {
        Value::Null => true,
        Value::Object(map) => map.is_empty(),
        _ => false,
    }
}

/// Strict `JSON.parse` of tool arguments, where blank arguments mean `{}` (AIGNE's
/// `args.trim() ? parseJSON(args) : {}`).
pub fn parse_arguments(
    provider: &'static str,
    tool: &str,
    arguments: &str,
) -> Result<Value, WireError> {
    if arguments.trim().is_empty() {
        return Ok(Value::Object(Map::new()));
    }
    serde_json::from_str(arguments).map_err(|source| WireError::InvalidToolArguments {
        provider,
        tool: tool.to_owned(),
        source,
    })
}

/// `ChatModel.getMimeType` (the `mime` package): the type for the extension of a file name,
/// path or mime type (`image/png` → `png` → `image/png`).
pub fn mime_type(name: &str) -> Option<&'static str> {
    let last = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let extension = last.rsplit('.').next().unwrap_or(last).to_ascii_lowercase();
    Some(match extension.as_str() {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "svg" => "image/svg+xml",
        "bmp" => "image/bmp",
        "heic" => "image/heic",
        "pdf" => "application/pdf",
        "json" => "application/json",
        "txt" | "text" | "plain" => "text/plain",
        "md" | "markdown" => "text/markdown",
        "html" | "htm" => "text/html",
        "csv" => "text/csv",
        "mp3" | "mpeg" => "audio/mpeg",
        "wav" => "audio/wav",
        "mp4" => "video/mp4",
        _ => return None,
    })
}

/// The prompt AIGNE adds for JSON through a tool (`getJsonToolInputPrompt`,
/// `packages/core/src/utils/prompts.ts`).
pub fn json_tool_input_prompt(schema: &Value) -> String {
    format!(
        "Tool input must be a JSON object containing the following fields only.\n<json_fields>\n{schema}\n</json_fields>\nDo not include any explanations, comments, or Markdown formatting (such as triple backticks). Return only the raw JSON."
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_keeps_prefix() {
        let base = url::Url::parse("http://127.0.0.1:8/app/ai-kit/").unwrap();
        assert_eq!(
            join_url(&base, "/api/v2/chat").as_str(),
            "http://127.0.0.1:8/app/ai-kit/api/v2/chat"
        );
        let bare = url::Url::parse("https://api.anthropic.com").unwrap();
        assert_eq!(
            join_url(&bare, "v1/messages").as_str(),
            "https://api.anthropic.com/v1/messages"
        );
    }

    #[test]
    fn mime_from_type_or_name() {
        assert_eq!(mime_type("image/png"), Some("image/png"));
        assert_eq!(mime_type("photos/cat.JPG"), Some("image/jpeg"));
        assert_eq!(mime_type(""), None);
    }

    #[test]
    fn arguments_are_strict_but_blank_is_empty_object() {
        assert_eq!(
            parse_arguments("anthropic", "t", "  ").unwrap(),
            serde_json::json!({})
        );
        assert!(matches!(
            parse_arguments("anthropic", "t", "{\"a\":"),
            Err(WireError::InvalidToolArguments { .. })
        ));
    }

    #[test]
    fn secret_headers_are_sensitive() {
        let mut request =
            WireRequest::post_json(url::Url::parse("http://x/").unwrap(), &Value::Null).unwrap();
        request
            .secret_header("x-api-key", "", &Secret::new("k"))
            .unwrap();
        assert!(request.headers["x-api-key"].is_sensitive());
        assert!(!format!("{request:?}").contains("\"k\""));
    }
}
