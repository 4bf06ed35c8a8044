//! Model strings → providers, exactly as AIGNE: `parseModel`
//! (`models/aigne-hub/src/utils/model.ts`), `formatModelName` and `findConfiguredProvider`
//! (`packages/cli/src/utils/aigne-hub/model.ts`), and [`ModelRegistry`], the
//! [`ModelResolver`] that builds ready chat models.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use regex::Regex;

use super::cassette::{self, Cassette};
use super::native::{NativeChatModel, NativeSettings};
use super::openai::{OpenAiChatModel, OpenAiSettings};
use super::providers::{self, HUB, HUB_DEFAULT_MODEL, Protocol, Provider};
use super::settings::ModelSettings;
use super::transport::{Transport, TransportSettings};
use super::types::ModelOptions;
use super::{ChatModel, ModelError, ModelResolver, ModelSpec};
use crate::secret::Secret;

/// `parseModel`'s result. `provider` keeps the case it was written in, dashes removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedModel {
    pub provider: String,
    /// `None` when the string named only a provider (`openai`).
    pub model: Option<String>,
}

/// `parseModel`: the first `:` after a `[\w-]+` prefix becomes `/`; the text before the first
/// `/` is the provider when `findModel` knows it, otherwise the whole string is a hub model.
pub fn parse_model(text: &str) -> ParsedModel {
    let prefix = text.find(':').filter(|&index| {
        index > 0
            && text[..index].chars().all(|character| {
                character.is_ascii_alphanumeric() || matches!(character, '_' | '-')
            })
    });
    let text = match prefix {
        Some(index) => format!("{}/{}", &text[..index], &text[index + 1..]),
        None => text.to_owned(),
    };
    // `(?<provider>[^/]*)(\/(?<name>.*))?`; `.` stops at a line break.
    let (provider, name) = match text.split_once('/') {
        Some((provider, rest)) => (
            provider.to_owned(),
            Some(rest.split(['\n', '\r']).next().unwrap_or("").to_owned()),
        ),
        None => (text.clone(), None),
    };
    let provider = provider.replace('-', "");
    if !provider.is_empty() && providers::find(&provider).is_some() {
        ParsedModel {
            provider,
            model: name,
        }
    } else {
        ParsedModel {
            provider: HUB.to_owned(),
            model: Some(text),
        }
    }
}

/// A routing decision: which provider, and the model name sent to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The provider as AIGNE names it after routing (`openai`, `deepseekchat`, `aignehub`).
    pub provider: String,
    /// The model (`None`: the provider's default).
    pub model: Option<String>,
}

struct ModelFamily {
    pattern: &'static str,
    vendor: &'static str,
    providers: &'static [&'static str],
}

/// `MODEL_CONFIGS` (`models/aigne-hub/src/utils/find-provider.ts`).
const MODEL_FAMILIES: &[ModelFamily] = &[
    ModelFamily {
        pattern: "^gemini|^imagen|^veo",
        vendor: "google",
        providers: &["google", "openrouter", "poe"],
    },
    ModelFamily {
        pattern: "^gpt-|^o[13]-|^dall-e-|^text-embedding|^sora-",
        vendor: "openai",
        providers: &["openai", "openrouter", "poe"],
    },
    ModelFamily {
        pattern: "^claude",
        vendor: "anthropic",
        providers: &["anthropic", "bedrock", "openrouter", "poe"],
    },
    ModelFamily {
        pattern: "^deepseek",
        vendor: "deepseek",
        providers: &["deepseek", "openrouter", "ollama"],
    },
    ModelFamily {
        pattern: "^grok",
        vendor: "xai",
        providers: &["xai", "openrouter", "poe"],
    },
    ModelFamily {
        pattern: "^doubao",
        vendor: "doubao",
        providers: &["doubao"],
    },
    ModelFamily {
        pattern: "^llama",
        vendor: "meta",
        providers: &["openrouter", "ollama", "bedrock"],
    },
    ModelFamily {
        pattern: "^mistral|^mixtral",
        vendor: "mistral",
        providers: &["openrouter", "ollama", "bedrock"],
    },
    ModelFamily {
        pattern: "^qwen",
        vendor: "qwen",
        providers: &["openrouter", "ollama", "bedrock"],
    },
    ModelFamily {
        pattern: "^gemma",
        vendor: "google",
        providers: &["openrouter", "ollama", "bedrock"],
    },
    ModelFamily {
        pattern: "^yi",
        vendor: "yi",
        providers: &["openrouter", "ollama", "bedrock"],
    },
    ModelFamily {
        pattern: "^phi",
        vendor: "microsoft",
        providers: &["openrouter", "ollama", "bedrock"],
    },
];

/// `PROVIDER_RANK`, from the provider table (an id the table lacks ranks last).
fn rank(provider: &str) -> u8 {
    providers::by_id(provider).map_or(u8::MAX, |provider| provider.rank)
}

/// The patterns of [`MODEL_FAMILIES`], compiled once.
static FAMILY_PATTERNS: std::sync::LazyLock<Vec<Option<Regex>>> = std::sync::LazyLock::new(|| {
    MODEL_FAMILIES
        .iter()
        .map(|family| Regex::new(family.pattern).ok())
        .collect()
});

fn family(model: &str) -> Option<&'static ModelFamily> {
    let id = model.to_lowercase();
    MODEL_FAMILIES
        .iter()
        .zip(FAMILY_PATTERNS.iter())
        .find(|(_, pattern)| {
            pattern
                .as_ref()
                .is_some_and(|pattern| pattern.is_match(&id))
        })
        .map(|(family, _)| family)
}

/// `resolveProviderModelId`: the model id as the provider's row says to write it.
fn provider_model_id(provider: &str, model: &str) -> String {
    match (family(model), providers::by_id(provider)) {
        (Some(family), Some(provider)) => provider.model_id.apply(family.vendor, model),
        _ => model.to_owned(),
    }
}

/// `formatModelName` without the prompt: `has_key(provider)` tells whether a provider's key is
/// set. A provider with no key and no hub key is [`ModelError::MissingKey`].
pub fn route(text: &str, has_key: &dyn Fn(&Provider) -> bool) -> Result<Route, ModelError> {
    let parsed = parse_model(text);
    let name = parsed.model.clone().filter(|name| !name.is_empty());
    // findConfiguredProvider: only for the hub (bare names and `aignehub:<name>`).
    if parsed.provider.trim().to_lowercase() == HUB
        && let Some(name) = &name
        && let Some(family) = family(name)
    {
        let mut candidates: Vec<&str> = family.providers.to_vec();
        candidates.sort_by_key(|provider| rank(provider));
        for candidate in candidates {
            if let Some(provider) = providers::find(candidate)
                && has_key(provider)
            {
                return Ok(Route {
                    provider: candidate.to_owned(),
                    model: Some(provider_model_id(candidate, name)),
                });
            }
        }
    }
    let Some(provider) = providers::find(&parsed.provider) else {
        return Err(ModelError::UnsupportedProvider {
            provider: parsed.provider.clone(),
            model: name.unwrap_or_default(),
        });
    };
    if parsed.provider.contains(HUB) {
        return Ok(Route {
            provider: parsed.provider,
            model: Some(name.unwrap_or_else(|| HUB_DEFAULT_MODEL.to_owned())),
        });
    }
    if has_key(provider) {
        return Ok(Route {
            provider: parsed.provider,
            model: name,
        });
    }
    let hub = providers::find(HUB);
    if hub.is_some_and(has_key) {
        return Ok(Route {
            provider: HUB.to_owned(),
            model: Some(format!(
                "{}/{}",
                parsed.provider,
                name.as_deref().unwrap_or("undefined")
            )),
        });
    }
    Err(ModelError::MissingKey {
        provider: provider.id.to_owned(),
        model: name.unwrap_or_else(|| provider.default_model.to_owned()),
        variable: provider
            .key_variables
            .first()
            .copied()
            .unwrap_or("")
            .to_owned(),
    })
}

/// Where a spec goes, for `inspect` and results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedModel {
    /// Our provider id (`openai`, `aignehub`, …).
    pub provider: String,
    /// The model name sent to the provider.
    pub model: String,
    /// Whether this build can call the provider.
    pub supported: bool,
    /// The key variable to set, when the provider has no key (and none is needed under replay).
    pub missing_key: Option<String>,
}

/// The [`ModelResolver`] of a run: model strings routed as AIGNE, one shared [`Transport`],
/// models cached per provider/model/options.
pub struct ModelRegistry {
    settings: ModelSettings,
    transport: Arc<Transport>,
    cassette: Option<Arc<Cassette>>,
    models: Mutex<HashMap<String, Arc<dyn ChatModel>>>,
}

impl ModelRegistry {
    /// A registry; opens the cassette when recording or replaying.
    pub fn new(settings: ModelSettings) -> Result<Self, ModelError> {
        let cassette = if let Some(path) = &settings.replay {
            Some(Arc::new(Cassette::replay(path)?))
        } else if let Some(path) = &settings.record {
            let known: Vec<&str> = providers::key_variables().collect();
            let mut secrets = cassette::secret_values(&settings.variables, &known);
            secrets.extend(settings.extra_secrets.iter().cloned());
            Some(Arc::new(Cassette::record(path, secrets)?))
        } else {
            None
        };
        let transport = Transport::new(
            TransportSettings {
                http: settings.http.clone(),
                request_timeout: settings.request_timeout,
                max_response_bytes: settings.max_response_bytes,
            },
            cassette.clone(),
        )?;
        Ok(Self {
            settings,
            transport: Arc::new(transport),
            cassette,
            models: Mutex::new(HashMap::new()),
        })
    }

    /// The settings in use.
    pub fn settings(&self) -> &ModelSettings {
        &self.settings
    }

    /// Whether a provider's key is set. Under replay, a provider with answers in the cassette
    /// counts as keyed, so that routing is the same as when it was recorded.
    fn has_key(&self, provider: &Provider) -> bool {
        if provider
            .key_variables
            .iter()
            .any(|variable| self.settings.variable(variable).is_some())
        {
            return true;
        }
        self.cassette.as_ref().is_some_and(|cassette| {
            cassette.is_replay() && cassette.providers().iter().any(|id| id == provider.id)
        })
    }

    /// The model string in force for a spec: `--model` > `MODEL` > the project.
    fn model_string(&self, spec: &ModelSpec) -> String {
        self.settings
            .model_override
            .clone()
            .or_else(|| spec.model.clone())
            .unwrap_or_default()
    }

    /// Where a spec's model goes, for `inspect`: never fails for a missing key (it is reported
    /// in [`ResolvedModel::missing_key`]).
    pub fn describe(&self, spec: &ModelSpec) -> Result<ResolvedModel, ModelError> {
        let route = match route(&self.model_string(spec), &|provider| self.has_key(provider)) {
            Ok(route) => route,
            Err(ModelError::MissingKey {
                provider,
                model,
                variable,
            }) => {
                let supported = providers::find(&provider).is_some_and(|found| {
                    matches!(
                        found.protocol,
                        Protocol::OpenAiCompatible | Protocol::Native(_)
                    )
                });
                return Ok(ResolvedModel {
                    provider,
                    model,
                    supported,
                    missing_key: Some(variable),
                });
            }
            Err(error) => return Err(error),
        };
        let provider =
            providers::find(&route.provider).ok_or_else(|| ModelError::UnsupportedProvider {
                provider: route.provider.clone(),
                model: route.model.clone().unwrap_or_default(),
            })?;
        let missing_key = (!self.has_key(provider)
            && provider.key_default.is_none()
            && !self.transport.is_replay())
        .then(|| {
            provider
                .key_variables
                .first()
                .copied()
                .unwrap_or("")
                .to_owned()
        });
        Ok(ResolvedModel {
            provider: provider.id.to_owned(),
            model: route
                .model
                .clone()
                .filter(|model| !model.is_empty())
                .unwrap_or_else(|| provider.default_model.to_owned()),
            supported: matches!(
                provider.protocol,
                Protocol::OpenAiCompatible | Protocol::Native(_)
            ),
            missing_key,
        })
    }

    /// A chat model of a provider given by id (`lmstudio` included, which no model string can
    /// select), bound to `model` (or the provider's default).
    pub fn chat_model(
        &self,
        provider_id: &str,
        model: Option<&str>,
        options: &ModelOptions,
    ) -> Result<Arc<dyn ChatModel>, ModelError> {
        let provider =
            providers::by_id(provider_id).ok_or_else(|| ModelError::UnsupportedProvider {
                provider: provider_id.to_owned(),
                model: model.unwrap_or_default().to_owned(),
            })?;
        self.build(provider, model, options)
    }

    fn build(
        &self,
        provider: &'static Provider,
        model: Option<&str>,
        options: &ModelOptions,
    ) -> Result<Arc<dyn ChatModel>, ModelError> {
        let model = model
            .filter(|model| !model.is_empty())
            .unwrap_or(provider.default_model)
            .to_owned();
        // Constructor options: the project's, then the CLI's (`loadChatModel`).
        let mut constructor = options.clone();
        constructor.remove("model");
        for (key, value) in &self.settings.cli_options {
            constructor.insert(key.clone(), value.clone());
        }
        let cache_key = format!(
            "{}\u{0}{model}\u{0}{}",
            provider.id,
            serde_json::Value::Object(constructor.clone())
        );
        let mut models = self
            .models
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        if let Some(existing) = models.get(&cache_key) {
            return Ok(existing.clone());
        }
        if let Protocol::Native(protocol) = provider.protocol {
            let chat_model: Arc<dyn ChatModel> = Arc::new(NativeChatModel::new(
                NativeSettings {
                    provider: provider.id,
                    replay_variables: provider.replay_variables,
                    protocol,
                    model: Some(&model),
                    base_url_override: self
                        .settings
                        .base_url_overrides
                        .get(provider.id)
                        .map(String::as_str),
                    options: constructor,
                    cli_options: self.settings.cli_options.clone(),
                    framework_retries: self.settings.framework_retries,
                    no_retry_delay: self.settings.no_retry_delay,
                    replay: self.transport.is_replay(),
                },
                &self.settings,
                self.transport.clone(),
            )?);
            models.insert(cache_key, chat_model.clone());
            return Ok(chat_model);
        }
        let key = provider
            .key_variables
            .iter()
            .find_map(|variable| self.settings.variable(variable))
            .or(provider.key_default)
            .map(Secret::new);
        if key.is_none() && !self.transport.is_replay() {
            return Err(ModelError::MissingKey {
                provider: provider.id.to_owned(),
                model,
                variable: provider
                    .key_variables
                    .first()
                    .copied()
                    .unwrap_or("")
                    .to_owned(),
            });
        }
        let base_url = self
            .settings
            .base_url_overrides
            .get(provider.id)
            .map(String::as_str)
            .or_else(|| {
                provider
                    .base_url_variable
                    .and_then(|variable| self.settings.variable(variable))
            })
            .unwrap_or(provider.default_base_url);
        let base_url = url::Url::parse(base_url).map_err(|error| ModelError::InvalidSetting {
            name: provider.base_url_variable.unwrap_or("base URL").to_owned(),
            message: format!("`{base_url}` is not a URL: {error}"),
        })?;
        let chat_model: Arc<dyn ChatModel> = Arc::new(OpenAiChatModel::new(
            OpenAiSettings {
                provider,
                model,
                base_url,
                key,
                options: constructor,
                cli_options: self.settings.cli_options.clone(),
                framework_retries: self.settings.framework_retries,
                no_retry_delay: self.settings.no_retry_delay,
            },
            self.transport.clone(),
        )?);
        models.insert(cache_key, chat_model.clone());
        Ok(chat_model)
    }
}

impl ModelRegistry {
    /// A chat model for a model string as written (`openai:gpt-4o-mini`, `gpt-4o`, …), routed
    /// as AIGNE routes it but without the run's `--model` override: a judge's own model
    /// (`--judge-model`, an assertion's `model`) is not the agents'.
    pub fn resolve_exact(
        &self,
        text: &str,
        options: &ModelOptions,
    ) -> Result<Arc<dyn ChatModel>, ModelError> {
        let route = route(text, &|provider| self.has_key(provider))?;
        let provider =
            providers::find(&route.provider).ok_or_else(|| ModelError::UnsupportedProvider {
                provider: route.provider.clone(),
                model: route.model.clone().unwrap_or_default(),
            })?;
        self.build(provider, route.model.as_deref(), options)
    }
}

impl ModelResolver for ModelRegistry {
    fn resolve(&self, spec: &ModelSpec) -> Result<Arc<dyn ChatModel>, ModelError> {
        let route = route(&self.model_string(spec), &|provider| self.has_key(provider))?;
        let provider =
            providers::find(&route.provider).ok_or_else(|| ModelError::UnsupportedProvider {
                provider: route.provider.clone(),
                model: route.model.clone().unwrap_or_default(),
            })?;
        self.build(provider, route.model.as_deref(), &spec.options)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(provider: &str, model: Option<&str>) -> ParsedModel {
        ParsedModel {
            provider: provider.to_owned(),
            model: model.map(str::to_owned),
        }
    }

    #[test]
    fn parses_model_strings_as_aigne() {
        let cases = [
            ("", parsed("aignehub", Some(""))),
            ("gpt-4o", parsed("aignehub", Some("gpt-4o"))),
            (
                "claude-3-5-sonnet",
                parsed("aignehub", Some("claude-3-5-sonnet")),
            ),
            ("llama3", parsed("aignehub", Some("llama3"))),
            ("openai:gpt-4o", parsed("openai", Some("gpt-4o"))),
            ("openai/gpt-4o", parsed("openai", Some("gpt-4o"))),
            ("openai", parsed("openai", None)),
            ("ollama:llama3.2:3b", parsed("ollama", Some("llama3.2:3b"))),
            (
                "open-router:openai/gpt-4o",
                parsed("openrouter", Some("openai/gpt-4o")),
            ),
            (
                "google/gemini-2.5-pro",
                parsed("google", Some("gemini-2.5-pro")),
            ),
            (
                "aignehub:openai/gpt-5",
                parsed("aignehub", Some("openai/gpt-5")),
            ),
            ("lmstudio:foo", parsed("aignehub", Some("lmstudio/foo"))),
            ("deepseek-chat", parsed("deepseekchat", None)),
            ("foo/bar", parsed("aignehub", Some("foo/bar"))),
            (
                "bedrock:anthropic.claude-3-sonnet-20240229-v1:0",
                parsed("bedrock", Some("anthropic.claude-3-sonnet-20240229-v1:0")),
            ),
            ("OpenAI:gpt-4o", parsed("OpenAI", Some("gpt-4o"))),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_model(text), expected, "{text:?}");
        }
    }

    fn keys(set: &'static [&'static str]) -> impl Fn(&Provider) -> bool {
        move |provider: &Provider| {
            provider
                .key_variables
                .iter()
                .any(|variable| set.contains(variable))
        }
    }

    fn routed(provider: &str, model: Option<&str>) -> Route {
        Route {
            provider: provider.to_owned(),
            model: model.map(str::to_owned),
        }
    }

    #[test]
    fn routes_as_the_aigne_cli() {
        let openai = keys(&["OPENAI_API_KEY"]);
        assert_eq!(
            route("gpt-4o", &openai).unwrap(),
            routed("openai", Some("gpt-4o"))
        );
        assert_eq!(
            route("openai:gpt-4o", &openai).unwrap(),
            routed("openai", Some("gpt-4o"))
        );
        assert_eq!(route("openai", &openai).unwrap(), routed("openai", None));
        // Bare names go to the first keyed provider by rank, with the id rewritten.
        let router = keys(&["OPEN_ROUTER_API_KEY", "OLLAMA_API_KEY"]);
        assert_eq!(
            route("gpt-4o", &router).unwrap(),
            routed("openrouter", Some("openai/gpt-4o"))
        );
        assert_eq!(
            route("llama3", &router).unwrap(),
            routed("openrouter", Some("meta/llama3"))
        );
        assert_eq!(
            route("deepseek-r1", &keys(&["OLLAMA_API_KEY"])).unwrap(),
            routed("ollama", Some("deepseek-r1"))
        );
        assert_eq!(
            route("aignehub:gpt-4o", &openai).unwrap(),
            routed("openai", Some("gpt-4o"))
        );
        // The deepseek-chat quirk: a provider-only string.
        assert_eq!(
            route("deepseek-chat", &keys(&["DEEPSEEK_API_KEY"])).unwrap(),
            routed("deepseekchat", None)
        );
        // Nothing keyed: the hub.
        let none = keys(&[]);
        assert_eq!(
            route("", &none).unwrap(),
            routed("aignehub", Some("openai/gpt-5-mini"))
        );
        assert_eq!(
            route("gpt-4o", &none).unwrap(),
            routed("aignehub", Some("gpt-4o"))
        );
        // An explicit provider without its key: rerouted through the hub when it has a key…
        let hub = keys(&["AIGNE_HUB_API_KEY"]);
        assert_eq!(
            route("xai:grok-3", &hub).unwrap(),
            routed("aignehub", Some("xai/grok-3"))
        );
        assert_eq!(
            route("xai", &hub).unwrap(),
            routed("aignehub", Some("xai/undefined"))
        );
        // …else a missing-key error naming the variable.
        let error = route("deepseek:deepseek-chat", &none).unwrap_err();
        assert_eq!(
            error.to_string(),
            "provider `deepseek` needs an API key for model `deepseek-chat`: `DEEPSEEK_API_KEY` is not set"
        );
    }

    #[test]
    fn rewrites_provider_model_ids() {
        assert_eq!(
            provider_model_id("bedrock", "claude-3"),
            "anthropic.claude-3"
        );
        assert_eq!(
            provider_model_id("bedrock", "anthropic.claude-3"),
            "anthropic.claude-3"
        );
        assert_eq!(provider_model_id("openrouter", "gemma-2"), "google/gemma-2");
        assert_eq!(provider_model_id("openai", "gpt-4o"), "gpt-4o");
        assert_eq!(provider_model_id("openrouter", "unknown"), "unknown");
    }
}
