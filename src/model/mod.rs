//! STAGE 3a: chat models behind one trait, [`ChatModel`].
//!
//! Input: [`types::ChatRequest`] built by the engine. Output: [`types::ChatResponse`].
//! Must not import `engine`, `batch` or `report`.
//!
//! Layout: [`registry`] (model strings → providers, [`ModelRegistry`]), [`providers`] (the
//! provider table), [`settings`] (flags, environment and `.env` files), [`openai`] (the OpenAI
//! chat-completions wire format, used by every OpenAI-compatible provider), [`common`] (AIGNE's `ChatModel` behaviour shared by providers), [`transport`]
//! (HTTP retries and timeouts), [`cassette`] (record/replay). The native providers
//! [`anthropic`], [`gemini`], [`bedrock`] and [`hub`] build their requests and read their
//! answers with [`wire`].

pub mod anthropic;
pub mod bedrock;
pub mod cassette;
pub mod common;
pub mod gemini;
pub mod hub;
pub mod native;
pub mod openai;
pub mod providers;
pub mod registry;
pub mod settings;
pub mod transport;
pub mod types;
pub mod wire;

mod error;

pub use error::ModelError;
pub use registry::{ModelRegistry, ResolvedModel, parse_model};
pub use settings::{ModelFlags, ModelSettings};

use async_trait::async_trait;

use types::{ChatRequest, ChatResponse};

/// A chat model of one provider, bound to one model name.
#[async_trait]
pub trait ChatModel: Send + Sync {
    /// Provider id (`openai`, `anthropic`, …).
    fn provider(&self) -> &str;
    /// Model name sent to the provider.
    fn model(&self) -> &str;
    /// One call (the provider streams; the answer is assembled here), with the common
    /// behaviour of AIGNE's `ChatModel` around it: tool-name sanitising and mapping back,
    /// argument and structured-output validation, retries.
    async fn complete(&self, request: ChatRequest) -> Result<ChatResponse, ModelError>;
}

/// The model an agent asks for after loading: `{...aigne.model, ...agent.model}` (AIGNE's
/// `loader/index.ts` `parseAgent`). `options` keys are camelCase and may hold `{"$get": key}`
/// getters, which the engine resolves per call into [`types::ChatRequest::model_options`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModelSpec {
    /// Model string as written (`openai:gpt-4o-mini`, `gpt-4o`, …), if any.
    pub model: Option<String>,
    /// Every other key of the model object.
    pub options: types::ModelOptions,
}

/// Turns a [`ModelSpec`] into a ready [`ChatModel`], applying the run's overrides
/// (`--model` > `MODEL` > the project, as AIGNE) and the provider routing of AIGNE.
pub trait ModelResolver: Send + Sync {
    /// The model for this spec (clients may be shared between calls).
    fn resolve(&self, spec: &ModelSpec) -> Result<std::sync::Arc<dyn ChatModel>, ModelError>;
}
