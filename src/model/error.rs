//! [`ModelError`]: everything a model call can fail with, naming provider, model and status.
//!
//! Messages never hold a key: bodies are excerpts of what the provider sent back, and every
//! URL is shown masked.

use std::path::PathBuf;

/// A failed model call, or a model that cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The provider needs a key and none is set (environment or `.env` files).
    #[error("provider `{provider}` needs an API key for model `{model}`: `{variable}` is not set")]
    MissingKey {
        provider: String,
        model: String,
        /// The variable to set.
        variable: String,
    },
    /// The model string routes to a provider this build cannot call yet.
    #[error("provider `{provider}` (model `{model}`) is not supported yet")]
    UnsupportedProvider { provider: String, model: String },
    /// A value of the configuration is not usable (base URL, model option).
    #[error("invalid model setting `{name}`: {message}")]
    InvalidSetting { name: String, message: String },
    /// A `.env` file could not be read.
    #[error("cannot read `{}`", path.display())]
    DotEnv {
        path: PathBuf,
        #[source]
        source: dotenvy::Error,
    },
    /// The provider answered with a non-success status (after the HTTP retries).
    #[error(
        "provider `{provider}` (model `{model}`) answered with status {status} after {attempts} attempt(s): {message}"
    )]
    Status {
        provider: String,
        model: String,
        status: u16,
        attempts: u32,
        /// The provider's error message, or an excerpt of its body.
        message: String,
    },
    /// The request did not reach the provider or the answer was cut (after the HTTP retries).
    #[error(
        "request to provider `{provider}` (model `{model}`) at `{url}` failed after {attempts} attempt(s)"
    )]
    Network {
        provider: String,
        model: String,
        /// The masked URL.
        url: String,
        attempts: u32,
        #[source]
        source: reqwest::Error,
    },
    /// One attempt took longer than the request timeout, on every attempt.
    #[error(
        "request to provider `{provider}` (model `{model}`) at `{url}` timed out after {} ({attempts} attempt(s))",
        humantime::format_duration(*timeout)
    )]
    Timeout {
        provider: String,
        model: String,
        url: String,
        attempts: u32,
        timeout: std::time::Duration,
    },
    /// A streamed answer stopped before its protocol's end marker, on every attempt.
    #[error(
        "provider `{provider}` (model `{model}`) at `{url}` ended its answer early after {attempts} attempt(s): {message}"
    )]
    Truncated {
        provider: String,
        model: String,
        url: String,
        attempts: u32,
        /// What the stream lacks (`the stream ended before \`[DONE]\``).
        message: String,
    },
    /// The answer's body is larger than the cap (`--max-response-size`); it was never read whole.
    #[error(
        "provider `{provider}` (model `{model}`) at `{url}` sent an answer larger than the {} cap (`--max-response-size`)",
        crate::project::files::human_size(*.limit as u64)
    )]
    TooLarge {
        provider: String,
        model: String,
        url: String,
        limit: usize,
    },
    /// The HTTP client cannot be built (bad proxy).
    #[error(transparent)]
    Http(#[from] crate::http::HttpError),
    /// A file of a `url` content part could not be downloaded.
    #[error("cannot download `{url}` for the model: {message}")]
    Download { url: String, message: String },
    /// The provider sent something that is not the protocol (bad SSE, bad JSON).
    #[error("provider `{provider}` (model `{model}`) sent a malformed response: {message}")]
    Protocol {
        provider: String,
        model: String,
        message: String,
    },
    /// The model refused (`refusal` in the answer); not retried, as AIGNE.
    #[error("got refusal from LLM `{model}` of provider `{provider}`: {refusal}")]
    Refusal {
        provider: String,
        model: String,
        refusal: String,
    },
    /// The answer does not fit: unknown tool, invalid arguments, output not matching the schema.
    #[error("structured output error from `{provider}` model `{model}`: {message}")]
    StructuredOutput {
        provider: String,
        model: String,
        message: String,
    },
    /// A tool name that is not valid even after sanitising.
    #[error("tool name `{name}` can only contain letters, numbers, and underscores")]
    InvalidToolName { name: String },
    /// The last error after the framework retries (structured output and network errors).
    #[error("model call failed after {retries} retries")]
    Retried {
        retries: u32,
        #[source]
        source: Box<ModelError>,
    },
    /// The cassette file cannot be read or written.
    #[error("cassette `{}`: {message}", path.display())]
    Cassette { path: PathBuf, message: String },
    /// Replay found no recorded answer for a request.
    #[error(
        "no recorded answer in cassette `{}` for case `{case}` ({provider} {path_in_url}): {diff}",
        cassette.display()
    )]
    CassetteMiss {
        cassette: PathBuf,
        case: String,
        provider: String,
        path_in_url: String,
        /// Where the request differs from the closest recorded one.
        diff: String,
    },
    /// The provider reported an error inside an answer (an `error` event of a stream, a
    /// Bedrock exception frame).
    #[error("provider `{provider}` (model `{model}`) reported an error: {message}")]
    Reported {
        provider: String,
        model: String,
        message: String,
        /// The provider's error type (`overloaded_error`, `throttlingException`, …).
        kind: Option<String>,
    },
    /// The conversation cannot be put into the provider's format (AIGNE throws the same).
    #[error("cannot build a request for provider `{provider}` (model `{model}`): {message}")]
    InvalidRequest {
        provider: String,
        model: String,
        message: String,
    },
}

impl ModelError {
    /// Whether AIGNE's `ChatModel` retries the whole call for this error. Its rule is
    /// "`StructuredOutputError` or `is-network-error`", but the OpenAI SDK wraps network failures
    /// in `APIConnectionError`, which `is-network-error` does not recognise (it wants a bare
    /// `TypeError`), so for OpenAI-compatible providers only structured-output errors are
    /// retried; network errors are retried by the HTTP layer (`--retries`).
    pub fn is_framework_retryable(&self) -> bool {
        matches!(self, Self::StructuredOutput { .. })
    }

    /// The HTTP status, when the provider answered with one.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Status { status, .. } => Some(*status),
            Self::Retried { source, .. } => source.status(),
            _ => None,
        }
    }

    /// HTTP attempts of the failed call, when the error counts them (for transcripts).
    pub fn attempts(&self) -> Option<u32> {
        match self {
            Self::Status { attempts, .. }
            | Self::Network { attempts, .. }
            | Self::Timeout { attempts, .. } => Some(*attempts),
            Self::Retried { source, .. } => source.attempts(),
            _ => None,
        }
    }

    /// A short kind for results (`model_status`, `model_network`, …).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::MissingKey { .. } => "missing_key",
            Self::UnsupportedProvider { .. } => "unsupported_provider",
            Self::InvalidSetting { .. } | Self::DotEnv { .. } => "model_config",
            Self::Status { .. } => "model_status",
            Self::Network { .. } => "model_network",
            Self::Timeout { .. } => "model_timeout",
            Self::Truncated { .. } => "model_truncated",
            Self::TooLarge { .. } => "model_too_large",
            Self::Download { .. } => "model_download",
            Self::Http(_) => "model_config",
            Self::Protocol { .. } => "model_protocol",
            Self::Refusal { .. } => "model_refusal",
            Self::StructuredOutput { .. } | Self::InvalidToolName { .. } => "structured_output",
            Self::Retried { source, .. } => source.kind(),
            Self::Cassette { .. } => "cassette",
            Self::CassetteMiss { .. } => "cassette_miss",
            Self::Reported { .. } => "model_reported",
            Self::InvalidRequest { .. } => "model_request",
        }
    }
}

impl crate::hint::Hint for ModelError {
    fn hint(&self) -> Option<String> {
        match self {
            Self::MissingKey { variable, .. } => Some(format!(
                "set `{variable}` in the environment (in GitHub Actions: `env: {variable}: ${{{{ secrets.{variable} }}}}`) or in a `.env` file, or pass `--replay FILE` to answer from a cassette"
            )),
            Self::UnsupportedProvider { .. } => Some(
                "name a provider AIGNE knows with `--model` (`openai:`, `anthropic:`, `gemini:`, `bedrock:`, `aignehub:`, `deepseek:`, `openrouter:`, `xai:`, `ollama:`, `doubao:`, `poe:`), or use `--engine node`"
                    .to_owned(),
            ),
            Self::Status { status: 401 | 403, .. } => {
                Some("check that the API key is valid for this provider".to_owned())
            }
            Self::Status { status: 429, .. } => Some(
                "the provider rate-limits this key: lower `--concurrency` or raise `--retries`"
                    .to_owned(),
            ),
            Self::CassetteMiss { .. } => Some(
                "record the cassette again with `--record FILE` after changing prompts, models or inputs"
                    .to_owned(),
            ),
            Self::TooLarge { .. } => Some(
                "an answer this large is not a chat answer; if it is expected, raise `--max-response-size` (`AIGNE_CI_MAX_RESPONSE_SIZE`)"
                    .to_owned(),
            ),
            Self::Retried { source, .. } => source.hint(),
            _ => None,
        }
    }
}
