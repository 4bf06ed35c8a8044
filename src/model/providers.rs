//! The provider table of AIGNE (`models/aigne-hub/src/utils/model.ts` `availableModels`, and each
//! provider's class): names, default models, key variables, base URLs, capability flags, the
//! routing facts of `find-provider.ts` (rank, how a model id is written for the provider) and
//! the placeholder credentials of a replay. Every fact about one provider is a field of its row:
//! no code elsewhere matches on a provider's id.

use crate::env_vars::EnvVars;

/// Which wire protocol a provider speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// OpenAI chat completions ([`super::openai`]).
    OpenAiCompatible,
    /// Its own protocol ([`super::native`]).
    Native(NativeProtocol),
}

/// The providers with their own protocol, each a module that builds its requests, reads its
/// answers and its settings from the environment; [`super::native`] dispatches on this.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NativeProtocol {
    /// [`super::anthropic`].
    Anthropic,
    /// [`super::gemini`].
    Gemini,
    /// [`super::bedrock`].
    Bedrock,
    /// [`super::hub`] (AIGNE Hub).
    Hub,
}

/// What differs between OpenAI-compatible providers (`OpenAIChatModel` subclass flags).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    pub supports_native_structured_outputs: bool,
    pub supports_tools_use_with_json_schema: bool,
    pub supports_parallel_tool_calls: bool,
    pub supports_tools_empty_parameters: bool,
    pub supports_tool_streaming: bool,
    pub supports_temperature: bool,
}

impl Capabilities {
    const ALL: Self = Self {
        supports_native_structured_outputs: true,
        supports_tools_use_with_json_schema: true,
        supports_parallel_tool_calls: true,
        supports_tools_empty_parameters: true,
        supports_tool_streaming: true,
        supports_temperature: true,
    };

    /// The flags for a provider and the constructor model (OpenAI's `o4-mini`/`o3-mini`
    /// presets apply to every OpenAI-compatible class, as they live in the base class).
    pub fn for_model(provider: &Provider, model: &str) -> Self {
        let mut capabilities = provider.capabilities;
        if matches!(model, "o4-mini" | "o3-mini") {
            capabilities.supports_parallel_tool_calls = false;
            capabilities.supports_temperature = false;
        }
        capabilities
    }
}

impl Provider {
    /// Every credential variable of the provider: its keys, then its other secrets.
    pub fn credentials(&self) -> impl Iterator<Item = &'static str> + use<> {
        self.key_variables
            .iter()
            .chain(self.secret_variables)
            .copied()
    }
}

/// How `resolveProviderModelId` (`find-provider.ts`) writes a model id for a provider, given
/// the vendor of the model's family (`claude-3` → `anthropic`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelIdStyle {
    /// As written.
    AsIs,
    /// `vendor.model` unless the id already has a `.` (Bedrock: `anthropic.claude-3`).
    VendorDot,
    /// `vendor/model` unless it already starts so (OpenRouter: `anthropic/claude-3`).
    VendorSlash,
}

impl ModelIdStyle {
    /// The id sent to the provider for `model` of `vendor`.
    pub fn apply(self, vendor: &str, model: &str) -> String {
        match self {
            Self::VendorDot if !model.contains('.') => format!("{vendor}.{model}"),
            Self::VendorSlash if !model.starts_with(&format!("{vendor}/")) => {
                format!("{vendor}/{model}")
            }
            _ => model.to_owned(),
        }
    }
}

/// One provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Provider {
    /// Our id (`openai`, `deepseek`, …), used in results and cassettes.
    pub id: &'static str,
    /// The names `findModel` matches against (the class name, plus `google` for Gemini).
    pub class_names: &'static [&'static str],
    pub protocol: Protocol,
    pub default_model: &'static str,
    /// Key variables; the first set one is used.
    pub key_variables: &'static [&'static str],
    /// The key used when none is set (`ollama`, LM Studio).
    pub key_default: Option<&'static str>,
    /// Variable that overrides the base URL, if any (a native provider's module reads its own;
    /// the trust check reads them all here).
    pub base_url_variable: Option<&'static str>,
    pub default_base_url: &'static str,
    pub capabilities: Capabilities,
    /// `PROVIDER_RANK`: when a bare model name could go to several keyed providers, the lowest
    /// rank wins (1: the vendor's own API; 2: Bedrock; 3: aggregators; 4: a local Ollama).
    pub rank: u8,
    /// How a routed model id is written for this provider.
    pub model_id: ModelIdStyle,
    /// Variables given a placeholder under replay, so that a native provider's settings build
    /// without a credential (an OpenAI-compatible one needs none: its key is optional there).
    pub replay_variables: &'static [(&'static str, &'static str)],
    /// Credentials the provider sends beyond [`Self::key_variables`] (which alone decide
    /// whether it is keyed): masked in every output, scrubbed from cassettes, and guarded by
    /// the trust check with the keys.
    pub secret_variables: &'static [&'static str],
}

const fn oai(
    id: &'static str,
    class_names: &'static [&'static str],
    default_model: &'static str,
    key_variables: &'static [&'static str],
    base_url_variable: Option<&'static str>,
    default_base_url: &'static str,
    capabilities: Capabilities,
) -> Provider {
    Provider {
        id,
        class_names,
        protocol: Protocol::OpenAiCompatible,
        default_model,
        key_variables,
        key_default: None,
        base_url_variable,
        default_base_url,
        capabilities,
        rank: 1,
        model_id: ModelIdStyle::AsIs,
        replay_variables: &[],
        secret_variables: &[],
    }
}

const fn native(
    protocol: NativeProtocol,
    id: &'static str,
    class_names: &'static [&'static str],
    default_model: &'static str,
    key_variables: &'static [&'static str],
    base_url_variable: &'static str,
    replay_variables: &'static [(&'static str, &'static str)],
) -> Provider {
    Provider {
        id,
        class_names,
        protocol: Protocol::Native(protocol),
        default_model,
        key_variables,
        key_default: None,
        base_url_variable: Some(base_url_variable),
        default_base_url: "",
        capabilities: Capabilities::ALL,
        rank: 1,
        model_id: ModelIdStyle::AsIs,
        replay_variables,
        secret_variables: &[],
    }
}

/// The placeholder every replayed credential gets.
const REPLAY: &str = "replay";

/// `availableModels()` in its order (the order decides substring matches).
pub const PROVIDERS: &[Provider] = &[
    oai(
        "openai",
        &["OpenAIChatModel"],
        "gpt-4o-mini",
        &["OPENAI_API_KEY"],
        Some("OPENAI_BASE_URL"),
        "https://api.openai.com/v1",
        Capabilities::ALL,
    ),
    native(
        NativeProtocol::Anthropic,
        super::anthropic::PROVIDER,
        &["AnthropicChatModel"],
        super::anthropic::DEFAULT_MODEL,
        // `CLAUDE_API_KEY` is the model's own fallback; counting it for routing too (the AIGNE
        // CLI checks only `ANTHROPIC_API_KEY`) lets it select Anthropic on its own.
        &["ANTHROPIC_API_KEY", "CLAUDE_API_KEY"],
        EnvVars::ANTHROPIC_BASE_URL,
        &[(EnvVars::ANTHROPIC_API_KEY, REPLAY)],
    ),
    Provider {
        rank: 2,
        model_id: ModelIdStyle::VendorDot,
        secret_variables: &[EnvVars::AWS_SECRET_ACCESS_KEY, EnvVars::AWS_SESSION_TOKEN],
        // And every `AWS_ENDPOINT_URL_*` (the trust check matches the prefix).
        ..native(
            NativeProtocol::Bedrock,
            super::bedrock::PROVIDER,
            &["BedrockChatModel"],
            super::bedrock::DEFAULT_MODEL,
            &["AWS_ACCESS_KEY_ID"],
            EnvVars::AWS_ENDPOINT_URL,
            &[
                (EnvVars::AWS_ACCESS_KEY_ID, REPLAY),
                (EnvVars::AWS_SECRET_ACCESS_KEY, REPLAY),
                (EnvVars::AWS_REGION, "us-east-1"),
            ],
        )
    },
    oai(
        "deepseek",
        &["DeepSeekChatModel"],
        "deepseek-chat",
        &["DEEPSEEK_API_KEY"],
        None,
        "https://api.deepseek.com",
        Capabilities {
            supports_native_structured_outputs: false,
            supports_tools_empty_parameters: false,
            ..Capabilities::ALL
        },
    ),
    native(
        NativeProtocol::Gemini,
        "google",
        &["GeminiChatModel", "google"],
        super::gemini::DEFAULT_MODEL,
        &["GEMINI_API_KEY", "GOOGLE_API_KEY"],
        EnvVars::GOOGLE_GEMINI_BASE_URL,
        &[(EnvVars::GEMINI_API_KEY, REPLAY)],
    ),
    Provider {
        key_default: Some("ollama"),
        rank: 4,
        ..oai(
            "ollama",
            &["OllamaChatModel"],
            "llama3.2",
            &["OLLAMA_API_KEY"],
            Some("OLLAMA_BASE_URL"),
            "http://localhost:11434/v1",
            Capabilities::ALL,
        )
    },
    Provider {
        rank: 3,
        model_id: ModelIdStyle::VendorSlash,
        ..oai(
            "openrouter",
            &["OpenRouterChatModel"],
            "openai/gpt-4o",
            &["OPEN_ROUTER_API_KEY"],
            None,
            "https://openrouter.ai/api/v1",
            Capabilities::ALL,
        )
    },
    oai(
        "xai",
        &["XAIChatModel"],
        "grok-4-latest",
        &["XAI_API_KEY"],
        None,
        "https://api.x.ai/v1",
        Capabilities {
            supports_tool_streaming: false,
            ..Capabilities::ALL
        },
    ),
    oai(
        "doubao",
        &["DoubaoChatModel"],
        "doubao-seed-1-6-250615",
        &["DOUBAO_API_KEY"],
        None,
        "https://ark.cn-beijing.volces.com/api/v3",
        Capabilities::ALL,
    ),
    Provider {
        rank: 3,
        ..oai(
            "poe",
            &["PoeChatModel"],
            "gpt-5-mini",
            &["POE_API_KEY"],
            None,
            "https://api.poe.com/v1",
            Capabilities {
                supports_parallel_tool_calls: false,
                ..Capabilities::ALL
            },
        )
    },
    Provider {
        // The credential a Blocklet server hands the hub client.
        secret_variables: &["BLOCKLET_AIGNE_API_CREDENTIAL"],
        ..native(
            NativeProtocol::Hub,
            super::hub::PROVIDER,
            &["AIGNEHubChatModel"],
            super::hub::DEFAULT_MODEL,
            &["AIGNE_HUB_API_KEY"],
            EnvVars::AIGNE_HUB_API_URL,
            &[(EnvVars::AIGNE_HUB_API_KEY, REPLAY)],
        )
    },
];

/// LM Studio: not selectable from a model string (not in `availableModels`), only built
/// programmatically (by id, [`by_id`]).
pub const LMSTUDIO: Provider = Provider {
    key_default: Some("not-required"),
    ..oai(
        "lmstudio",
        &["LMStudioChatModel"],
        "llama-3.2-3b-instruct",
        &["LM_STUDIO_API_KEY"],
        Some("LM_STUDIO_BASE_URL"),
        "http://localhost:1234/v1",
        Capabilities {
            supports_native_structured_outputs: false,
            ..Capabilities::ALL
        },
    )
};

/// The hub's id.
pub const HUB: &str = super::hub::PROVIDER;

/// AIGNE Hub's default model.
pub const HUB_DEFAULT_MODEL: &str = super::hub::DEFAULT_MODEL;

/// `findModel(provider)`: the first provider whose class name (lowercase) contains the
/// lowercase, dash-free `name`.
pub fn find(name: &str) -> Option<&'static Provider> {
    let needle = name.to_lowercase().replace('-', "");
    PROVIDERS.iter().find(|provider| {
        provider
            .class_names
            .iter()
            .any(|class| class.to_lowercase().contains(&needle))
    })
}

/// The provider whose id is `id` (LM Studio included), exactly.
pub fn by_id(id: &str) -> Option<&'static Provider> {
    PROVIDERS
        .iter()
        .chain(std::iter::once(&LMSTUDIO))
        .find(|provider| provider.id == id)
}

/// Every variable that holds a provider credential (for masking and cassette scrubbing).
pub fn key_variables() -> impl Iterator<Item = &'static str> {
    PROVIDERS
        .iter()
        .chain(std::iter::once(&LMSTUDIO))
        .flat_map(|provider| provider.credentials())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_native_provider_names_its_endpoint_variable() {
        for provider in PROVIDERS {
            if matches!(provider.protocol, Protocol::Native(_)) {
                assert!(provider.base_url_variable.is_some(), "{}", provider.id);
            }
        }
        let bedrock = by_id("bedrock").unwrap();
        assert_eq!(
            bedrock.credentials().collect::<Vec<_>>(),
            [
                "AWS_ACCESS_KEY_ID",
                "AWS_SECRET_ACCESS_KEY",
                "AWS_SESSION_TOKEN"
            ]
        );
    }

    #[test]
    fn model_ids_are_written_as_each_provider_expects() {
        let id = |provider: &str, vendor: &str, model: &str| {
            by_id(provider).unwrap().model_id.apply(vendor, model)
        };
        assert_eq!(id("bedrock", "anthropic", "claude-3"), "anthropic.claude-3");
        assert_eq!(
            id("bedrock", "anthropic", "anthropic.claude-3"),
            "anthropic.claude-3"
        );
        assert_eq!(id("openrouter", "meta", "llama3"), "meta/llama3");
        assert_eq!(id("openrouter", "meta", "meta/llama3"), "meta/llama3");
        assert_eq!(id("ollama", "deepseek", "deepseek-r1"), "deepseek-r1");
        assert_eq!(id("openai", "openai", "gpt-4o"), "gpt-4o");
    }

    #[test]
    fn only_native_providers_have_replay_placeholders_and_each_covers_its_first_key() {
        for provider in PROVIDERS.iter().chain(std::iter::once(&LMSTUDIO)) {
            match provider.protocol {
                Protocol::Native(_) => assert!(
                    provider
                        .replay_variables
                        .iter()
                        .any(|(name, _)| Some(name) == provider.key_variables.first()),
                    "{} replays without its key variable",
                    provider.id
                ),
                Protocol::OpenAiCompatible => assert!(provider.replay_variables.is_empty()),
            }
        }
    }

    #[test]
    fn find_is_a_substring_match_in_order() {
        assert_eq!(find("openai").map(|p| p.id), Some("openai"));
        assert_eq!(find("open-router").map(|p| p.id), Some("openrouter"));
        assert_eq!(find("chat").map(|p| p.id), Some("openai"));
        assert_eq!(find("ai").map(|p| p.id), Some("openai"));
        assert_eq!(find("gemini").map(|p| p.id), Some("google"));
        assert_eq!(find("google").map(|p| p.id), Some("google"));
        assert_eq!(find("deepseekchat").map(|p| p.id), Some("deepseek"));
        assert_eq!(find("AIGNE-Hub").map(|p| p.id), Some("aignehub"));
        assert_eq!(find("claude"), None);
        assert_eq!(find("grok"), None);
        assert_eq!(find("lmstudio"), None);
    }
}
