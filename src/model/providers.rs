//! The provider table of AIGNE (`models/aigne-hub/src/utils/model.ts` `availableModels`, and each
//! provider's class): names, default models, key variables, base URLs and capability flags.

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
    /// Variable that overrides the base URL, if any.
    pub base_url_variable: Option<&'static str>,
    pub default_base_url: &'static str,
    pub capabilities: Capabilities,
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
    }
}

const fn native(
    protocol: NativeProtocol,
    id: &'static str,
    class_names: &'static [&'static str],
    default_model: &'static str,
    key_variables: &'static [&'static str],
) -> Provider {
    Provider {
        id,
        class_names,
        protocol: Protocol::Native(protocol),
        default_model,
        key_variables,
        key_default: None,
        base_url_variable: None,
        default_base_url: "",
        capabilities: Capabilities::ALL,
    }
}

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
    ),
    native(
        NativeProtocol::Bedrock,
        super::bedrock::PROVIDER,
        &["BedrockChatModel"],
        super::bedrock::DEFAULT_MODEL,
        &["AWS_ACCESS_KEY_ID"],
    ),
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
    ),
    Provider {
        key_default: Some("ollama"),
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
    oai(
        "openrouter",
        &["OpenRouterChatModel"],
        "openai/gpt-4o",
        &["OPEN_ROUTER_API_KEY"],
        None,
        "https://openrouter.ai/api/v1",
        Capabilities::ALL,
    ),
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
    oai(
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
    ),
    native(
        NativeProtocol::Hub,
        super::hub::PROVIDER,
        &["AIGNEHubChatModel"],
        super::hub::DEFAULT_MODEL,
        &["AIGNE_HUB_API_KEY"],
    ),
];

/// LM Studio: not selectable from a model string (not in `availableModels`), only built
/// programmatically ([`lmstudio`]).
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

/// The LM Studio provider.
pub fn lmstudio() -> &'static Provider {
    &LMSTUDIO
}

/// Every variable that holds a provider credential (for masking and cassette scrubbing).
pub fn key_variables() -> impl Iterator<Item = &'static str> {
    PROVIDERS
        .iter()
        .chain(std::iter::once(&LMSTUDIO))
        .flat_map(|provider| provider.key_variables.iter().copied())
        .chain([
            "CLAUDE_API_KEY",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN",
            "BLOCKLET_AIGNE_API_CREDENTIAL",
        ])
}

#[cfg(test)]
mod tests {
    use super::*;

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
