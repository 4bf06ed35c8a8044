//! [`NativeChatModel`]: the [`ChatModel`] of the providers with their own protocols (Anthropic,
//! Gemini, Bedrock, AIGNE Hub). Each call builds its wire request with the provider module,
//! sends it through the shared [`Transport`] (HTTP retries, timeouts, record/replay), parses the
//! answer, and applies AIGNE's `ChatModel` behaviour around it ([`super::common`]): tool names
//! sanitised and mapped back, arguments and structured output validated, framework retries.

use std::sync::Arc;

use async_trait::async_trait;

use super::common::{self, drop_unresolved_getters, is_valid_tool_name, sanitize_tool_name};
use super::providers::NativeProtocol;
use super::settings::ModelSettings;
use super::transport::{CheckEnd, RawAnswer, RawCall, Transport};
use super::types::{ChatRequest, ChatResponse, ModelOptions};
use super::wire::{Variables, WireError, WireRequest};
use super::{ChatModel, ModelError, anthropic, bedrock, gemini, hub};

impl Variables for ModelSettings {
    fn variable(&self, name: &str) -> Option<&str> {
        ModelSettings::variable(self, name)
    }
}

/// Variables with the provider's placeholder credentials
/// ([`super::providers::Provider::replay_variables`]), for replay (no key is needed to replay).
struct ReplayVariables<'a> {
    variables: &'a dyn Variables,
    placeholders: &'static [(&'static str, &'static str)],
}

impl Variables for ReplayVariables<'_> {
    fn variable(&self, name: &str) -> Option<&str> {
        self.variables.variable(name).or_else(|| {
            self.placeholders
                .iter()
                .find(|(variable, _)| *variable == name)
                .map(|(_, value)| *value)
        })
    }
}

/// Which protocol, with its settings.
enum Protocol {
    Anthropic(anthropic::AnthropicSettings),
    Gemini(gemini::GeminiSettings),
    Bedrock(bedrock::BedrockSettings),
    Hub {
        settings: hub::HubSettings,
        endpoint: tokio::sync::OnceCell<url::Url>,
    },
}

/// A native-protocol chat model bound to one provider and model.
pub struct NativeChatModel {
    provider: &'static str,
    model: String,
    protocol: Protocol,
    options: ModelOptions,
    cli_options: ModelOptions,
    transport: Arc<Transport>,
    framework_retries: u32,
    no_retry_delay: bool,
}

/// How [`NativeChatModel::new`] is configured.
pub struct NativeSettings<'a> {
    /// Our provider id: `anthropic`, `google`, `bedrock` or `aignehub`.
    pub provider: &'static str,
    /// Its placeholder credentials under replay, from the provider table.
    pub replay_variables: &'static [(&'static str, &'static str)],
    /// Its protocol, from the provider table.
    pub protocol: NativeProtocol,
    /// The model (`None`: the provider's default).
    pub model: Option<&'a str>,
    /// A base URL that replaces the provider's own (tests).
    pub base_url_override: Option<&'a str>,
    /// Constructor model options (project, then CLI).
    pub options: ModelOptions,
    pub cli_options: ModelOptions,
    pub framework_retries: u32,
    pub no_retry_delay: bool,
    /// Calls are answered from a cassette: credentials may be missing.
    pub replay: bool,
}

impl NativeChatModel {
    /// A model; a missing credential is [`ModelError::MissingKey`] (not under replay).
    pub fn new(
        settings: NativeSettings<'_>,
        variables: &dyn Variables,
        transport: Arc<Transport>,
    ) -> Result<Self, ModelError> {
        let replay = ReplayVariables {
            variables,
            placeholders: settings.replay_variables,
        };
        let variables: &dyn Variables = if settings.replay { &replay } else { variables };
        let provider = settings.provider;
        let error = |error: WireError| setup_error(provider, settings.model, error);
        let override_url = settings
            .base_url_override
            .map(|url| {
                url::Url::parse(url).map_err(|source| {
                    error(WireError::InvalidBaseUrl {
                        variable: "base URL override",
                        value: url.to_owned(),
                        source,
                    })
                })
            })
            .transpose()?;
        let (protocol, model) = match settings.protocol {
            NativeProtocol::Anthropic => {
                let mut config =
                    anthropic::AnthropicSettings::from_environment(variables, settings.model)
                        .map_err(error)?;
                if let Some(url) = override_url {
                    config.base_url = url;
                }
                let model = config.model.clone();
                (Protocol::Anthropic(config), model)
            }
            NativeProtocol::Gemini => {
                let mut config =
                    gemini::GeminiSettings::from_environment(variables, settings.model)
                        .map_err(error)?;
                if let Some(url) = override_url {
                    config.base_url = url;
                }
                let model = config.model.clone();
                (Protocol::Gemini(config), model)
            }
            NativeProtocol::Bedrock => {
                let mut config =
                    bedrock::BedrockSettings::from_environment(variables, settings.model)
                        .map_err(error)?;
                if let Some(url) = override_url {
                    config.endpoint = url;
                }
                let model = config.model.clone();
                (Protocol::Bedrock(config), model)
            }
            NativeProtocol::Hub => {
                let mut config =
                    hub::HubSettings::from_environment(variables, settings.model).map_err(error)?;
                if let Some(url) = override_url {
                    config.base_url = url;
                }
                let model = config.model.clone();
                (
                    Protocol::Hub {
                        settings: config,
                        endpoint: tokio::sync::OnceCell::new(),
                    },
                    model,
                )
            }
        };
        Ok(Self {
            provider,
            model,
            protocol,
            options: settings.options,
            cli_options: settings.cli_options,
            transport,
            framework_retries: settings.framework_retries,
            no_retry_delay: settings.no_retry_delay,
        })
    }

    /// `Model.getModelOptions`: constructor options, then the call's, then the CLI's again.
    fn model_options(&self, request: &ChatRequest) -> ModelOptions {
        let mut merged = self.options.clone();
        for (key, value) in &request.model_options {
            merged.insert(key.clone(), value.clone());
        }
        for (key, value) in &self.cli_options {
            merged.insert(key.clone(), value.clone());
        }
        drop_unresolved_getters(merged)
    }

    fn wire_error(&self, model: &str, error: WireError) -> ModelError {
        call_error(self.provider, model, error)
    }

    /// Sends a request; `check_end` is the protocol's end-of-stream check for a streamed answer.
    async fn send(
        &self,
        model: &str,
        request: &WireRequest,
        case: Option<&str>,
        check_end: Option<CheckEnd>,
    ) -> Result<RawAnswer, ModelError> {
        self.send_within(model, request, case, None, check_end)
            .await
    }

    /// [`Self::send`] with a limit on the time until the response's headers.
    async fn send_within(
        &self,
        model: &str,
        request: &WireRequest,
        case: Option<&str>,
        header_timeout: Option<std::time::Duration>,
        check_end: Option<CheckEnd>,
    ) -> Result<RawAnswer, ModelError> {
        self.transport
            .send(RawCall {
                provider: self.provider,
                model,
                request,
                case,
                header_timeout,
                check_end,
            })
            .await
    }

    /// One call without framework retries: the provider's request(s), then the common
    /// post-processing.
    async fn process(&self, request: &ChatRequest) -> Result<ChatResponse, ModelError> {
        let mut input = request.clone();
        for tool in &mut input.tools {
            let name = sanitize_tool_name(&tool.name);
            if !is_valid_tool_name(&name) {
                return Err(ModelError::InvalidToolName { name });
            }
            tool.name = name;
        }
        input.model_options = self.model_options(request);
        let model = super::wire::model_name(&input.model_options, &self.model).to_owned();
        let case = request.case_label.as_deref();
        let response = match &self.protocol {
            Protocol::Anthropic(settings) => {
                let wire = anthropic::build_request(settings, &input)
                    .map_err(|error| self.wire_error(&model, error))?;
                let answer = self
                    .send(&model, &wire, case, Some(anthropic::check_end))
                    .await?;
                let mut response = anthropic::parse_stream(&answer.body)
                    .map_err(|error| self.wire_error(&model, error))?;
                response.attempts = answer.attempts;
                response
            }
            Protocol::Gemini(settings) => self.gemini(settings, &input, &model, case).await?,
            Protocol::Bedrock(settings) => self.bedrock(settings, &input, &model, case).await?,
            Protocol::Hub { settings, endpoint } => {
                let endpoint = endpoint
                    .get_or_try_init(|| async {
                        let discovery = hub::discovery_request(settings);
                        let answer = self
                            .send_within(
                                &model,
                                &discovery,
                                case,
                                Some(settings.discovery_timeout),
                                None,
                            )
                            .await?;
                        hub::chat_endpoint(settings, &answer.body)
                            .map_err(|error| self.wire_error(&model, error))
                    })
                    .await?;
                let wire = hub::build_request(settings, endpoint, &input)
                    .map_err(|error| self.wire_error(&model, error))?;
                let answer = self
                    .send_within(
                        &model,
                        &wire,
                        case,
                        Some(settings.chat_timeout),
                        Some(hub::check_end),
                    )
                    .await?;
                let mut response =
                    hub::parse_response(&answer.body, answer.content_type.as_deref())
                        .map_err(|error| self.wire_error(&model, error))?;
                response.attempts = answer.attempts;
                response
            }
        };
        common::postprocess(self.provider, &model, request, response)
    }

    async fn gemini(
        &self,
        settings: &gemini::GeminiSettings,
        input: &ChatRequest,
        model: &str,
        case: Option<&str>,
    ) -> Result<ChatResponse, ModelError> {
        let error = |error| self.wire_error(model, error);
        let wire = gemini::build_request(settings, input).map_err(error)?;
        let answer = self
            .send(model, &wire, case, Some(gemini::check_end))
            .await?;
        let stream = gemini::parse_stream(&answer.body, input, &settings.model).map_err(error)?;
        let empty = stream.is_empty_answer();
        let mut first = stream.finish().map_err(error)?;
        first.attempts = answer.attempts;
        if !empty {
            return Ok(first);
        }
        // AIGNE asks again for `{output: string}` when a plain answer came back empty.
        let retry_input = gemini::empty_answer_retry(input);
        let no_response = || {
            self.wire_error(
                model,
                WireError::StructuredOutput {
                    provider: gemini::PROVIDER,
                    message: "No response from the model".into(),
                },
            )
        };
        let wire = gemini::build_request(settings, &retry_input).map_err(error)?;
        let answer = self
            .send(model, &wire, case, Some(gemini::check_end))
            .await
            .map_err(|_| no_response())?;
        let attempts = first.attempts + answer.attempts;
        let retry = gemini::parse_stream(&answer.body, &retry_input, &settings.model)
            .and_then(gemini::GeminiStream::finish)
            .map_err(|_| no_response())?;
        let mut merged = gemini::merge_empty_answer_retry(first, retry).map_err(error)?;
        merged.attempts = attempts;
        Ok(merged)
    }

    async fn bedrock(
        &self,
        settings: &bedrock::BedrockSettings,
        input: &ChatRequest,
        model: &str,
        case: Option<&str>,
    ) -> Result<ChatResponse, ModelError> {
        let error = |error| self.wire_error(model, error);
        let body = bedrock::build_body(input).map_err(error)?;
        let wire = settings
            .signed_request(model, "converse-stream", &body, chrono::Utc::now())
            .map_err(error)?;
        let answer = self
            .send(model, &wire, case, Some(bedrock::check_end))
            .await?;
        let mut first = bedrock::parse_stream(&answer.body, model).map_err(error)?;
        first.attempts = answer.attempts;
        let Some(schema) = bedrock::needs_structured_output_call(input, &first) else {
            return Ok(first);
        };
        let second_body = bedrock::structured_output_body(&body, &schema);
        let wire = settings
            .signed_request(model, "converse", &second_body, chrono::Utc::now())
            .map_err(error)?;
        let answer = self.send(model, &wire, case, None).await?;
        let mut merged =
            bedrock::parse_structured_output(&answer.body, &first, model).map_err(error)?;
        merged.attempts = first.attempts + answer.attempts;
        Ok(merged)
    }
}

/// A [`WireError`] met while setting a model up.
fn setup_error(provider: &str, model: Option<&str>, error: WireError) -> ModelError {
    let model = model.unwrap_or_default().to_owned();
    match error {
        WireError::MissingCredential { variable, .. } => ModelError::MissingKey {
            provider: provider.to_owned(),
            model,
            variable: variable.to_owned(),
        },
        other => call_error(provider, &model, other),
    }
}

/// A [`WireError`] of a call as a [`ModelError`].
fn call_error(provider: &str, model: &str, error: WireError) -> ModelError {
    let provider = provider.to_owned();
    let model = model.to_owned();
    match error {
        WireError::StructuredOutput { message, .. } => ModelError::StructuredOutput {
            provider,
            model,
            message,
        },
        WireError::MalformedResponse { message, .. } => ModelError::Protocol {
            provider,
            model,
            message,
        },
        error @ WireError::InvalidToolArguments { .. } => ModelError::Protocol {
            provider,
            model,
            message: crate::text::error_chain(&error),
        },
        WireError::Reported { message, kind, .. } => ModelError::Reported {
            provider,
            model,
            message,
            kind,
        },
        WireError::InvalidRequest { message, .. } => ModelError::InvalidRequest {
            provider,
            model,
            message,
        },
        WireError::MissingCredential {
            variables, what, ..
        } => ModelError::InvalidSetting {
            name: variables,
            message: format!("{what} is missing"),
        },
        error @ WireError::HubComponentNotFound { .. } => ModelError::InvalidSetting {
            name: crate::env_vars::EnvVars::AIGNE_HUB_API_URL.to_owned(),
            message: error.to_string(),
        },
        error @ (WireError::InvalidBaseUrl { .. }
        | WireError::InvalidHeader { .. }
        | WireError::Encode { .. }) => ModelError::InvalidSetting {
            name: format!("{provider} setting"),
            message: crate::text::error_chain(&error),
        },
    }
}

#[async_trait]
impl ChatModel for NativeChatModel {
    fn provider(&self) -> &str {
        self.provider
    }

    fn model(&self) -> &str {
        &self.model
    }

    async fn complete(&self, request: ChatRequest) -> Result<ChatResponse, ModelError> {
        common::with_framework_retries(self.framework_retries, self.no_retry_delay, || {
            self.process(&request)
        })
        .await
    }
}
