//! [`AgentDef`]: one agent definition as AIGNE's loader sees it (`loader/agent-yaml.ts`,
//! `loader/index.ts` `parseAgent`, the `schema()` of each agent class), with a typed
//! [`AgentKind`] per `type`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{Map, Value};

use super::error::{Location, ProjectError};
use super::files::FileAccess;
use super::includes::check_includes;
use super::schema::load_io_schema;
use super::yaml::{camelize, key_line, read_yaml, value_line};

/// A model as a project or agent file writes it (`model`, `chat_model`, `image_model`):
/// `model` is the model string (or a `{$get}` getter); every other key (camelCase, values may
/// be `{$get: key}` getters) is a model option.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModelConfig {
    /// The model string, or a getter object.
    pub model: Option<Value>,
    /// Every other key.
    pub options: Map<String, Value>,
}

impl ModelConfig {
    /// Parses AIGNE's `chatModelSchema`: a string is `{model}`; an object is camelized and, when
    /// `model` is missing but both `provider` and `name` are set, `model = "provider:name"`.
    pub fn parse(value: &Value, allow_provider_name: bool) -> Result<Option<Self>, String> {
        match value {
            Value::Null => Ok(None),
            Value::String(text) if text.is_empty() => Ok(None),
            Value::String(text) => Ok(Some(Self {
                model: Some(Value::String(text.clone())),
                options: Map::new(),
            })),
            Value::Object(map) => {
                let mut options = camelize(map);
                options.retain(|_, value| !value.is_null());
                let mut model = options.shift_remove("model").filter(is_truthy);
                if model.is_none()
                    && allow_provider_name
                    && let (Some(provider), Some(name)) = (
                        options.get("provider").filter(|v| is_truthy(v)),
                        options.get("name").filter(|v| is_truthy(v)),
                    )
                {
                    model = Some(Value::String(format!(
                        "{}:{}",
                        js_string(provider),
                        js_string(name)
                    )));
                }
                Ok(Some(Self { model, options }))
            }
            other => Err(format!(
                "expected a model string or object, found {}",
                type_name(other)
            )),
        }
    }

    /// `{...self, ...other (non-null keys)}`: how a per-agent model extends the project's.
    pub fn extended_with(&self, other: &ModelConfig) -> ModelConfig {
        let mut merged = self.clone();
        if other.model.is_some() {
            merged.model.clone_from(&other.model);
        }
        for (key, value) in &other.options {
            merged.options.insert(key.clone(), value.clone());
        }
        merged
    }

    /// The model string, when it is a plain string.
    pub fn model_name(&self) -> Option<&str> {
        self.model.as_ref().and_then(Value::as_str)
    }
}

/// `instructions` item role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstructionRole {
    /// Rendered, merged into the system message.
    System,
    /// Rendered, merged into the user message.
    User,
    /// Not rendered; its text joins the user message.
    Agent,
}

/// One instruction item, with its text loaded (`url` items read at load time, as AIGNE does).
#[derive(Debug, Clone, PartialEq)]
pub struct Instruction {
    /// The role.
    pub role: InstructionRole,
    /// The template text.
    pub content: String,
    /// The file the text came from: `{% include %}` resolves against its folder.
    pub path: PathBuf,
    /// `cache_control`, as written.
    pub cache_control: Option<Value>,
}

/// `tool_choice`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToolChoiceDef {
    /// `auto`
    Auto,
    /// `none`
    None,
    /// `required`
    Required,
    /// `router`: one model call, the first tool call's agent answers.
    Router,
}

/// `type: ai` keys.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AiAgentDef {
    /// Instruction items (empty = none).
    pub instructions: Vec<Instruction>,
    /// `input_key`.
    pub input_key: Option<String>,
    /// `output_key` as written (the engine defaults it to `message`).
    pub output_key: Option<String>,
    /// `input_file_key`.
    pub input_file_key: Option<String>,
    /// `output_file_key`.
    pub output_file_key: Option<String>,
    /// `tool_choice`.
    pub tool_choice: Option<ToolChoiceDef>,
    /// `tool_calls_concurrency` (0 and absent mean 1).
    pub tool_calls_concurrency: Option<u64>,
    /// `keep_text_in_tool_uses`.
    pub keep_text_in_tool_uses: bool,
    /// `catch_tools_error` (default true).
    pub catch_tools_error: bool,
    /// `structured_stream_mode`.
    pub structured_stream_mode: bool,
    /// `session`, as written (camelized top level).
    pub session: Option<Value>,
}

/// `mode` of a team.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TeamMode {
    /// Members one after another, each seeing the previous outputs.
    #[default]
    Sequential,
    /// Members at once on the same input.
    Parallel,
}

/// `reflection` of a team.
#[derive(Debug, Clone, PartialEq)]
pub struct ReflectionDef {
    /// The reviewer agent.
    pub reviewer: Arc<AgentDef>,
    /// Output field of the reviewer that approves.
    pub is_approved: String,
    /// Rounds before giving up (default 3).
    pub max_iterations: u64,
    /// Return the last output instead of failing after `max_iterations`.
    pub return_last_on_max_iterations: bool,
    /// Error message after `max_iterations`.
    pub custom_error_message: Option<String>,
}

/// `type: team` keys.
#[derive(Debug, Clone, PartialEq)]
pub struct TeamAgentDef {
    /// `mode`.
    pub mode: TeamMode,
    /// `iterate_on`.
    pub iterate_on: Option<String>,
    /// `concurrency` (default 1).
    pub concurrency: u64,
    /// `iterate_with_previous_output`.
    pub iterate_with_previous_output: bool,
    /// `include_all_steps_output`.
    pub include_all_steps_output: bool,
    /// `reflection`.
    pub reflection: Option<ReflectionDef>,
}

/// What kind of agent a definition is, with the keys only that kind reads.
#[derive(Debug, Clone, PartialEq)]
pub enum AgentKind {
    /// `type: ai` (default).
    Ai(AiAgentDef),
    /// `type: team`.
    Team(TeamAgentDef),
    /// `type: transform`: the JSONata expression.
    Transform {
        /// `jsonata`.
        jsonata: String,
    },
    /// `type: mcp`: the server description as written (`url`, `command`, `args`, `env`, …).
    Mcp {
        /// Camelized keys other than the common agent keys.
        server: Map<String, Value>,
    },
    /// `type: function`: an inline JS body.
    Function {
        /// `process`: body of an async JS function `(input, options)`.
        process: String,
    },
    /// A `.js`/`.mjs`/`.ts`/`.mts` agent file (its default export is only known to Node).
    JsFile,
    /// `type: image`.
    Image {
        /// Instruction items.
        instructions: Vec<Instruction>,
        /// `input_file_key`.
        input_file_key: Option<String>,
    },
    /// Any other `type` (a module such as `@aigne/agent-library/orchestrator`).
    Other {
        /// The type name as written.
        type_name: String,
    },
}

impl AgentKind {
    /// The `type` name as AIGNE reads it (`js` for JS files).
    pub fn type_name(&self) -> &str {
        match self {
            Self::Ai(_) => "ai",
            Self::Team(_) => "team",
            Self::Transform { .. } => "transform",
            Self::Mcp { .. } => "mcp",
            Self::Function { .. } => "function",
            Self::JsFile => "js",
            Self::Image { .. } => "image",
            Self::Other { type_name } => type_name,
        }
    }
}

/// One `hooks` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct HookDef {
    /// `priority` (`low` default, `medium`, `high`).
    pub priority: String,
    /// `(slot, agent)` pairs: `onStart`, `onSuccess`, `onError`, `onEnd`, `onSkillStart`,
    /// `onSkillEnd`, `onHandoff`.
    pub slots: Vec<(String, Arc<AgentDef>)>,
}

/// One agent definition.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentDef {
    /// `name`, or AIGNE's class-name default (`AIAgent`, `TeamAgent`, …; file stem for JS files).
    pub name: String,
    /// The typed kind.
    pub kind: AgentKind,
    /// The file that defines it (the parent's file for inline definitions).
    pub path: PathBuf,
    /// The line of an inline definition in [`Self::path`].
    pub line: Option<usize>,
    /// `alias`.
    pub alias: Vec<String>,
    /// `description`.
    pub description: Option<String>,
    /// `model`: `{...aigne.model, ...agent.model}` when the agent sets one.
    pub model: Option<ModelConfig>,
    /// `image_model`, merged the same way.
    pub image_model: Option<ModelConfig>,
    /// `task_title`.
    pub task_title: Option<String>,
    /// `input_schema` with schema files inlined.
    pub input_schema: Option<Value>,
    /// `output_schema` with schema files inlined.
    pub output_schema: Option<Value>,
    /// `default_input` (values may be `{$get: key}`).
    pub default_input: Map<String, Value>,
    /// `include_input_in_output`.
    pub include_input_in_output: bool,
    /// `skills` (alias `tools` at file level).
    pub skills: Vec<Arc<AgentDef>>,
    /// `hooks` (the file's own, then those of a `{url, hooks}` reference).
    pub hooks: Vec<HookDef>,
    /// `memory`, as written (presence matters).
    pub memory: Option<Value>,
    /// `afs`, as written.
    pub afs: Option<Value>,
    /// Camelized keys no schema reads (passthrough; most have no effect).
    pub extra: Map<String, Value>,
    /// The whole definition, camelized, nulls removed (for the Node bridge and MCP).
    pub definition: Map<String, Value>,
}

impl AgentDef {
    /// The agents this one can invoke: its skills, its hooks' agents and a team's reviewer.
    pub fn children(&self) -> impl Iterator<Item = &Arc<AgentDef>> {
        let reviewer = match &self.kind {
            AgentKind::Team(team) => team
                .reflection
                .as_ref()
                .map(|reflection| &reflection.reviewer),
            _ => None,
        };
        self.skills
            .iter()
            .chain(
                self.hooks
                    .iter()
                    .flat_map(|hook| hook.slots.iter().map(|(_, agent)| agent)),
            )
            .chain(reviewer)
    }

    /// Where the agent is defined, for messages.
    pub fn location(&self) -> Location {
        Location::line(&self.path, self.line)
    }

    /// The AI agent keys, when this is an AI agent.
    pub fn ai(&self) -> Option<&AiAgentDef> {
        match &self.kind {
            AgentKind::Ai(ai) => Some(ai),
            _ => None,
        }
    }

    /// Where a text input goes: the AI agent's `input_key`, else `message` (as the official
    /// CLI assigns text input).
    pub fn text_input_key(&self) -> &str {
        self.ai()
            .and_then(|ai| ai.input_key.as_deref())
            .unwrap_or("message")
    }
}

/// Keys of the common agent schema (`getAgentSchema`), camelized.
const BASE_KEYS: &[&str] = &[
    "type",
    "name",
    "alias",
    "description",
    "model",
    "imageModel",
    "taskTitle",
    "taskRenderMode",
    "inputSchema",
    "defaultInput",
    "outputSchema",
    "includeInputInOutput",
    "hooks",
    "skills",
    "memory",
    "afs",
    "shareAFS",
];

/// Passthrough keys that AIGNE's constructors still read.
pub(super) const EFFECTIVE_PASSTHROUGH_KEYS: &[&str] = &[
    "retryOnError",
    "subscribeTopic",
    "publishTopic",
    "disableEvents",
    "maxRetrieveMemoryCount",
    "asyncMemoryRecord",
    "outputFileType",
    "memoryAgentsAsTools",
    "memoryPromptTemplate",
    "useMemoriesFromContext",
];

const NESTING_LIMIT: usize = 32;

/// Extra options a `{url, default_input, hooks}` reference applies to the loaded agent.
#[derive(Debug, Default)]
struct RefOptions {
    default_input: Option<Map<String, Value>>,
    hooks: Vec<HookDef>,
}

/// Loads agent files and nested references.
pub(crate) struct AgentLoader<'a> {
    /// The project's model, extended by per-agent models.
    pub project_model: Option<&'a ModelConfig>,
    /// The project's image model.
    pub project_image_model: Option<&'a ModelConfig>,
    /// Every file is read through it (confined to the project, regular, capped).
    pub files: &'a FileAccess,
}

/// A definition being read: camelized keys, the file, and where to point errors.
struct Source<'a> {
    path: &'a Path,
    text: Option<&'a str>,
    /// Line of an inline definition (all its errors point there).
    line: Option<usize>,
}

impl Source<'_> {
    /// Where a file named under `key` is referenced.
    fn reference(&self, key: &str) -> Location {
        Location::line(self.path, self.line_of(key))
    }

    /// Where the file `name`, under `key`, is referenced: the line that writes it.
    fn reference_to(&self, key: &str, name: &str) -> Location {
        let line = match (self.line, self.text) {
            (None, Some(text)) => value_line(text, self.line_of(key), name),
            _ => self.line_of(key),
        };
        Location::line(self.path, line)
    }

    fn line_of(&self, key: &str) -> Option<usize> {
        self.line
            .or_else(|| self.text.and_then(|text| key_line(text, &[key])))
    }

    fn invalid(&self, key: &str, message: impl Into<String>) -> ProjectError {
        ProjectError::Invalid {
            location: Location::line(self.path, self.line_of(key)),
            message: format!("`{key}`: {}", message.into()),
        }
    }
}

impl AgentLoader<'_> {
    /// Loads an agent file by extension; `reference` is where it is named.
    pub(super) fn load_file(
        &self,
        path: &Path,
        reference: Option<&Location>,
        depth: usize,
    ) -> Result<AgentDef, ProjectError> {
        self.load_file_with(path, reference, RefOptions::default(), depth)
    }

    fn load_file_with(
        &self,
        path: &Path,
        reference: Option<&Location>,
        options: RefOptions,
        depth: usize,
    ) -> Result<AgentDef, ProjectError> {
        if depth > NESTING_LIMIT {
            return Err(ProjectError::TooDeep {
                location: Location::file(path),
                limit: NESTING_LIMIT,
            });
        }
        let extension = path
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or_default();
        match extension {
            "yaml" | "yml" => {
                let file = read_yaml(self.files, path, reference)?;
                let Value::Object(mut raw) = file.value else {
                    return Err(ProjectError::Invalid {
                        location: Location::file(path),
                        message: "an agent file must hold a mapping".to_owned(),
                    });
                };
                // `loadAgentFromYamlFile`: type defaults to `ai`, `skills` to `tools`,
                // `model` to `chatModel`/`chat_model`.
                if raw.get("type").is_none_or(Value::is_null) {
                    raw.insert("type".to_owned(), Value::String("ai".to_owned()));
                }
                if raw.get("skills").is_none_or(Value::is_null)
                    && let Some(tools) = raw.get("tools").cloned()
                {
                    raw.insert("skills".to_owned(), tools);
                }
                let model = [
                    raw.get("model"),
                    raw.get("chatModel"),
                    raw.get("chat_model"),
                ]
                .into_iter()
                .flatten()
                .find(|v| is_truthy(v))
                .cloned();
                match model {
                    Some(model) => raw.insert("model".to_owned(), model),
                    None => raw.shift_remove("model"),
                };
                let source = Source {
                    path,
                    text: Some(&file.text),
                    line: None,
                };
                self.parse(&source, raw, options, depth)
            }
            "js" | "mjs" | "ts" | "mts" => {
                // Node reads the module; it must still be a regular file inside the project.
                self.files.check(path, reference)?;
                let stem = path
                    .file_stem()
                    .and_then(|s| s.to_str())
                    .unwrap_or("FunctionAgent")
                    .to_owned();
                let mut definition = Map::new();
                definition.insert("type".to_owned(), Value::String("js".to_owned()));
                let mut def = AgentDef {
                    name: stem,
                    kind: AgentKind::JsFile,
                    path: path.to_path_buf(),
                    line: None,
                    alias: Vec::new(),
                    description: None,
                    model: None,
                    image_model: None,
                    task_title: None,
                    input_schema: None,
                    output_schema: None,
                    default_input: options.default_input.unwrap_or_default(),
                    include_input_in_output: false,
                    skills: Vec::new(),
                    hooks: options.hooks,
                    memory: None,
                    afs: None,
                    extra: Map::new(),
                    definition,
                };
                def.definition
                    .insert("path".to_owned(), Value::String(path.display().to_string()));
                Ok(def)
            }
            _ => Err(ProjectError::UnsupportedFileType {
                path: path.to_path_buf(),
            }),
        }
    }

    /// `loadNestAgent`: a string path, an inline definition (has `type`), or
    /// `{url, default_input, hooks}`; paths resolve against `source`'s folder.
    fn load_nested(
        &self,
        source: &Source<'_>,
        key: &str,
        value: &Value,
        depth: usize,
    ) -> Result<AgentDef, ProjectError> {
        let base = source.path.parent().unwrap_or(Path::new("."));
        match value {
            Value::String(relative) => {
                let reference = source.reference_to(key, relative);
                self.load_file(&base.join(relative), Some(&reference), depth + 1)
            }
            Value::Object(map) if map.contains_key("type") => {
                let inline = Source {
                    path: source.path,
                    text: source.text,
                    line: source.line_of(key),
                };
                self.parse(&inline, map.clone(), RefOptions::default(), depth + 1)
            }
            Value::Object(map) => {
                let map = camelize(map);
                let Some(Value::String(url)) = map.get("url") else {
                    return Err(source.invalid(
                        key,
                        "expected an agent file path, `{url, default_input?, hooks?}` or an inline definition with `type`",
                    ));
                };
                let default_input = match map.get("defaultInput") {
                    None | Some(Value::Null) => None,
                    Some(Value::Object(input)) => Some(input.clone()),
                    Some(_) => return Err(source.invalid(key, "`default_input` must be a mapping")),
                };
                let hooks = match map.get("hooks") {
                    None | Some(Value::Null) => Vec::new(),
                    Some(hooks) => self.parse_hooks(source, key, hooks, depth)?,
                };
                self.load_file_with(
                    &base.join(url),
                    Some(&source.reference_to(key, url)),
                    RefOptions {
                        default_input,
                        hooks,
                    },
                    depth + 1,
                )
            }
            other => Err(source.invalid(
                key,
                format!("expected an agent reference, found {}", type_name(other)),
            )),
        }
    }

    fn parse_hooks(
        &self,
        source: &Source<'_>,
        key: &str,
        value: &Value,
        depth: usize,
    ) -> Result<Vec<HookDef>, ProjectError> {
        let items: Vec<&Value> = match value {
            Value::Array(items) => items.iter().filter(|v| !v.is_null()).collect(),
            Value::Null => Vec::new(),
            other => vec![other],
        };
        let mut hooks = Vec::new();
        for item in items {
            let Value::Object(map) = item else {
                return Err(source.invalid(key, "each hook must be a mapping"));
            };
            let map = camelize(map);
            let priority = match map.get("priority") {
                None | Some(Value::Null) => "low".to_owned(),
                Some(Value::String(p)) if ["low", "medium", "high"].contains(&p.as_str()) => {
                    p.clone()
                }
                Some(_) => {
                    return Err(source.invalid(key, "`priority` must be low, medium or high"));
                }
            };
            let mut slots = Vec::new();
            for slot in [
                "onStart",
                "onSuccess",
                "onError",
                "onEnd",
                "onSkillStart",
                "onSkillEnd",
                "onHandoff",
            ] {
                if let Some(agent) = map.get(slot).filter(|v| !v.is_null()) {
                    let agent = self.load_nested(source, key, agent, depth)?;
                    slots.push((slot.to_owned(), Arc::new(agent)));
                }
            }
            hooks.push(HookDef { priority, slots });
        }
        Ok(hooks)
    }

    /// `parseAgent` + the type-specific schema.
    fn parse(
        &self,
        source: &Source<'_>,
        raw: Map<String, Value>,
        options: RefOptions,
        depth: usize,
    ) -> Result<AgentDef, ProjectError> {
        if depth > NESTING_LIMIT {
            return Err(ProjectError::TooDeep {
                location: Location::line(source.path, source.line),
                limit: NESTING_LIMIT,
            });
        }
        let mut map = camelize(&raw);
        // `optionalize`: null means absent.
        map.retain(|_, value| !value.is_null());
        let definition = map.clone();

        let type_name = match map.shift_remove("type") {
            Some(Value::String(t)) => t,
            Some(_) => return Err(source.invalid("type", "must be a string")),
            None => return Err(source.invalid("type", "is required for inline agents")),
        };
        let name = take_string(source, &mut map, "name")?;
        let alias = take_string_list(source, &mut map, "alias")?;
        let description = take_string(source, &mut map, "description")?;
        let model = match map.remove("model") {
            Some(value) => ModelConfig::parse(&value, true)
                .map_err(|message| source.invalid("model", message))?,
            None => None,
        };
        let model = model.map(|own| match self.project_model {
            Some(project) => project.extended_with(&own),
            None => own,
        });
        let image_model = match map.remove("imageModel") {
            Some(value) => ModelConfig::parse(&value, false)
                .map_err(|message| source.invalid("imageModel", message))?,
            None => None,
        };
        let image_model = image_model.map(|own| match self.project_image_model {
            Some(project) => project.extended_with(&own),
            None => own,
        });
        let task_title = take_string(source, &mut map, "taskTitle")?;
        if let Some(mode) = map.remove("taskRenderMode")
            && !matches!(mode.as_str(), Some("hide" | "collapse"))
        {
            return Err(source.invalid("taskRenderMode", "must be `hide` or `collapse`"));
        }
        let input_schema = match map.remove("inputSchema") {
            Some(value) => Some(load_io_schema(
                self.files,
                source.path,
                &source.reference("inputSchema"),
                &value,
                &|message| source.invalid("inputSchema", message),
            )?),
            None => None,
        };
        let output_schema = match map.remove("outputSchema") {
            Some(value) => Some(load_io_schema(
                self.files,
                source.path,
                &source.reference("outputSchema"),
                &value,
                &|message| source.invalid("outputSchema", message),
            )?),
            None => None,
        };
        let default_input = match map.remove("defaultInput") {
            Some(Value::Object(input)) => input,
            Some(_) => return Err(source.invalid("defaultInput", "must be a mapping")),
            None => options.default_input.unwrap_or_default(),
        };
        let include_input_in_output =
            take_bool(source, &mut map, "includeInputInOutput")?.unwrap_or(false);
        let mut hooks = match map.remove("hooks") {
            Some(value) => self.parse_hooks(source, "hooks", &value, depth)?,
            None => Vec::new(),
        };
        hooks.extend(options.hooks);
        let skills = match map.remove("skills") {
            Some(Value::Array(items)) => {
                let mut skills = Vec::new();
                for item in &items {
                    skills.push(Arc::new(self.load_nested(source, "skills", item, depth)?));
                }
                skills
            }
            Some(_) => return Err(source.invalid("skills", "must be a list")),
            None => Vec::new(),
        };
        let memory = map.remove("memory");
        if let Some(memory) = &memory
            && !memory.is_boolean()
            && !memory.is_object()
        {
            return Err(source.invalid("memory", "must be a boolean or `{provider}`"));
        }
        let afs = map.remove("afs");
        map.remove("shareAFS");

        let (kind, default_name) = self.parse_kind(source, &type_name, &mut map, depth)?;
        // `tools` was copied to `skills` at file level; `chatModel` to `model`.
        map.remove("tools");
        map.remove("chatModel");
        Ok(AgentDef {
            name: name.unwrap_or_else(|| default_name.to_owned()),
            kind,
            path: source.path.to_path_buf(),
            line: source.line,
            alias,
            description,
            model,
            image_model,
            task_title,
            input_schema,
            output_schema,
            default_input,
            include_input_in_output,
            skills,
            hooks,
            memory,
            afs,
            extra: map,
            definition,
        })
    }

    fn parse_kind(
        &self,
        source: &Source<'_>,
        type_name: &str,
        map: &mut Map<String, Value>,
        depth: usize,
    ) -> Result<(AgentKind, &'static str), ProjectError> {
        Ok(match type_name {
            "ai" => {
                let instructions = match map.remove("instructions") {
                    Some(value) => parse_instructions(self.files, source, &value)?,
                    None => Vec::new(),
                };
                let tool_choice = match map.remove("toolChoice") {
                    None => None,
                    Some(Value::String(choice)) => Some(match choice.as_str() {
                        "auto" => ToolChoiceDef::Auto,
                        "none" => ToolChoiceDef::None,
                        "required" => ToolChoiceDef::Required,
                        "router" => ToolChoiceDef::Router,
                        _ => {
                            return Err(source
                                .invalid("toolChoice", "must be auto, none, required or router"));
                        }
                    }),
                    Some(_) => return Err(source.invalid("toolChoice", "must be a string")),
                };
                let session = map.remove("session");
                let ai = AiAgentDef {
                    instructions,
                    input_key: take_string(source, map, "inputKey")?,
                    output_key: take_string(source, map, "outputKey")?,
                    input_file_key: take_string(source, map, "inputFileKey")?,
                    output_file_key: take_string(source, map, "outputFileKey")?,
                    tool_choice,
                    tool_calls_concurrency: take_uint(source, map, "toolCallsConcurrency", 0)?,
                    keep_text_in_tool_uses: take_bool(source, map, "keepTextInToolUses")?
                        .unwrap_or(false),
                    catch_tools_error: take_bool(source, map, "catchToolsError")?.unwrap_or(true),
                    structured_stream_mode: take_bool(source, map, "structuredStreamMode")?
                        .unwrap_or(false),
                    session,
                };
                (AgentKind::Ai(ai), "AIAgent")
            }
            "team" => {
                let mode = match map.remove("mode") {
                    None => TeamMode::Sequential,
                    Some(Value::String(mode)) if mode == "sequential" => TeamMode::Sequential,
                    Some(Value::String(mode)) if mode == "parallel" => TeamMode::Parallel,
                    Some(_) => {
                        return Err(source.invalid("mode", "must be `sequential` or `parallel`"));
                    }
                };
                let iterate_on = take_string(source, map, "iterateOn")?;
                let concurrency = take_uint(source, map, "concurrency", 1)?.unwrap_or(1);
                let iterate_with_previous_output =
                    take_bool(source, map, "iterateWithPreviousOutput")?.unwrap_or(false);
                if concurrency != 1 && iterate_with_previous_output {
                    return Err(source.invalid(
                        "iterateWithPreviousOutput",
                        format!("cannot be used with concurrency > 1, concurrency: {concurrency}"),
                    ));
                }
                let include_all_steps_output =
                    take_bool(source, map, "includeAllStepsOutput")?.unwrap_or(false);
                let reflection = match map.remove("reflection") {
                    None => None,
                    Some(Value::Object(reflection)) => {
                        let mut reflection = camelize(&reflection);
                        reflection.retain(|_, v| !v.is_null());
                        let Some(reviewer) = reflection.get("reviewer") else {
                            return Err(source.invalid("reflection", "`reviewer` is required"));
                        };
                        let reviewer = self.load_nested(source, "reflection", reviewer, depth)?;
                        let Some(Value::String(is_approved)) =
                            reflection.get("isApproved").cloned()
                        else {
                            return Err(source.invalid(
                                "reflection",
                                "`is_approved` (an output field name) is required",
                            ));
                        };
                        let max_iterations =
                            take_uint(source, &mut reflection, "maxIterations", 1)?.unwrap_or(3);
                        Some(ReflectionDef {
                            reviewer: Arc::new(reviewer),
                            is_approved,
                            max_iterations,
                            return_last_on_max_iterations: take_bool(
                                source,
                                &mut reflection,
                                "returnLastOnMaxIterations",
                            )?
                            .unwrap_or(false),
                            custom_error_message: take_string(
                                source,
                                &mut reflection,
                                "customErrorMessage",
                            )?,
                        })
                    }
                    Some(_) => return Err(source.invalid("reflection", "must be a mapping")),
                };
                (
                    AgentKind::Team(TeamAgentDef {
                        mode,
                        iterate_on,
                        concurrency,
                        iterate_with_previous_output,
                        include_all_steps_output,
                        reflection,
                    }),
                    "TeamAgent",
                )
            }
            "transform" => {
                let Some(jsonata) = take_string(source, map, "jsonata")? else {
                    return Err(source.invalid("jsonata", "is required for `type: transform`"));
                };
                (AgentKind::Transform { jsonata }, "TransformAgent")
            }
            "mcp" => {
                let server = std::mem::take(map);
                if !server.contains_key("url") && !server.contains_key("command") {
                    return Err(source.invalid("type", "an MCP agent needs `url` or `command`"));
                }
                (AgentKind::Mcp { server }, "MCPAgent")
            }
            "function" => {
                let Some(process) = take_string(source, map, "process")? else {
                    return Err(source.invalid("process", "is required for `type: function`"));
                };
                (AgentKind::Function { process }, "FunctionAgent")
            }
            "image" => {
                let instructions = match map.remove("instructions") {
                    Some(value) => parse_instructions(self.files, source, &value)?,
                    None => {
                        return Err(source.invalid("instructions", "is required for `type: image`"));
                    }
                };
                (
                    AgentKind::Image {
                        instructions,
                        input_file_key: take_string(source, map, "inputFileKey")?,
                    },
                    "ImageAgent",
                )
            }
            other => (
                AgentKind::Other {
                    type_name: other.to_owned(),
                },
                "Agent",
            ),
        })
    }
}

/// `getInstructionsSchema`: a string, an item, or a list of items.
fn parse_instructions(
    files: &FileAccess,
    source: &Source<'_>,
    value: &Value,
) -> Result<Vec<Instruction>, ProjectError> {
    let instructions = match value {
        Value::String(text) => vec![Instruction {
            role: InstructionRole::System,
            content: text.clone(),
            path: source.path.to_path_buf(),
            cache_control: None,
        }],
        Value::Array(items) => items
            .iter()
            .map(|item| parse_instruction_item(files, source, item))
            .collect::<Result<_, _>>()?,
        item @ Value::Object(_) => vec![parse_instruction_item(files, source, item)?],
        other => {
            return Err(source.invalid(
                "instructions",
                format!(
                    "expected a string, an item or a list, found {}",
                    type_name(other)
                ),
            ));
        }
    };
    // The files a template includes by a literal name are checked now, so an escape or a
    // device is a load error; names computed at render time are checked by the engine.
    for instruction in &instructions {
        if instruction.role != InstructionRole::Agent {
            let inline_in = source.text.filter(|_| instruction.path == source.path);
            check_includes(files, &instruction.content, &instruction.path, inline_in)?;
        }
    }
    Ok(instructions)
}

fn parse_instruction_item(
    files: &FileAccess,
    source: &Source<'_>,
    item: &Value,
) -> Result<Instruction, ProjectError> {
    let Value::Object(map) = item else {
        return Err(source.invalid("instructions", "each item must be a mapping"));
    };
    let mut map = camelize(map);
    map.retain(|_, v| !v.is_null());
    let role = match map.get("role").and_then(Value::as_str) {
        None => InstructionRole::System,
        Some("system") => InstructionRole::System,
        Some("user") => InstructionRole::User,
        Some("agent") => InstructionRole::Agent,
        Some("tool") => {
            return Err(source.invalid(
                "instructions",
                "'tool' role is not allowed in instruction items",
            ));
        }
        Some(other) => {
            return Err(source.invalid(
                "instructions",
                format!("unknown role `{other}` (expected system, user or agent)"),
            ));
        }
    };
    let cache_control = map.get("cacheControl").cloned();
    if let Some(Value::String(url)) = map.get("url") {
        let path = Path::new(url);
        let path = if path.is_absolute() {
            path.to_path_buf()
        } else {
            source.path.parent().unwrap_or(Path::new(".")).join(path)
        };
        let content = files.read_text(&path, Some(&source.reference_to("instructions", url)))?;
        return Ok(Instruction {
            role,
            content,
            path,
            cache_control,
        });
    }
    if let Some(Value::String(content)) = map.get("content") {
        return Ok(Instruction {
            role,
            content: content.clone(),
            path: source.path.to_path_buf(),
            cache_control,
        });
    }
    Err(source.invalid(
        "instructions",
        "expected `content` or `url` in each instruction item",
    ))
}

fn take_string(
    source: &Source<'_>,
    map: &mut Map<String, Value>,
    key: &str,
) -> Result<Option<String>, ProjectError> {
    match map.remove(key) {
        None => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(other) => Err(source.invalid(
            key,
            format!("expected a string, found {}", type_name(&other)),
        )),
    }
}

fn take_string_list(
    source: &Source<'_>,
    map: &mut Map<String, Value>,
    key: &str,
) -> Result<Vec<String>, ProjectError> {
    match map.remove(key) {
        None => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .into_iter()
            .map(|item| match item {
                Value::String(text) => Ok(text),
                other => Err(source.invalid(
                    key,
                    format!("expected strings, found {}", type_name(&other)),
                )),
            })
            .collect(),
        Some(other) => Err(source.invalid(
            key,
            format!("expected a list of strings, found {}", type_name(&other)),
        )),
    }
}

fn take_bool(
    source: &Source<'_>,
    map: &mut Map<String, Value>,
    key: &str,
) -> Result<Option<bool>, ProjectError> {
    match map.remove(key) {
        None => Ok(None),
        Some(Value::Bool(flag)) => Ok(Some(flag)),
        Some(other) => Err(source.invalid(
            key,
            format!("expected a boolean, found {}", type_name(&other)),
        )),
    }
}

fn take_uint(
    source: &Source<'_>,
    map: &mut Map<String, Value>,
    key: &str,
    minimum: u64,
) -> Result<Option<u64>, ProjectError> {
    match map.remove(key) {
        None => Ok(None),
        Some(Value::Number(number)) => match number.as_u64() {
            Some(value) if value >= minimum => Ok(Some(value)),
            _ => Err(source.invalid(key, format!("expected an integer ≥ {minimum}"))),
        },
        Some(other) => Err(source.invalid(
            key,
            format!("expected an integer, found {}", type_name(&other)),
        )),
    }
}

/// JS truthiness of a JSON value.
pub fn is_truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(flag) => *flag,
        Value::Number(number) => number.as_f64().is_some_and(|n| n != 0.0),
        Value::String(text) => !text.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
    }
}

fn js_string(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// A short name of a JSON value's type, for messages.
pub fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

/// Whether `key` is read by AIGNE although not in the schema.
pub(super) fn is_effective_passthrough(key: &str) -> bool {
    EFFECTIVE_PASSTHROUGH_KEYS.contains(&key)
}

/// Whether `key` is one of the common agent keys.
pub(super) fn is_base_key(key: &str) -> bool {
    BASE_KEYS.contains(&key)
}
