//! STAGE 2: a project folder → a typed [`Project`] (`aigne.yaml` and agent files), as AIGNE's
//! loader reads them (`packages/core/src/loader`).
//!
//! Pure: no network, no tokio. Must not import `fetch`, `model`, `engine`, `batch` or `report`.

mod agent;
mod error;
mod features;
pub mod files;
mod includes;
mod schema;
mod yaml;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{Map, Value};

pub use agent::{
    AgentDef, AgentKind, AiAgentDef, HookDef, Instruction, InstructionRole, ModelConfig,
    ReflectionDef, TeamAgentDef, TeamMode, ToolChoiceDef, is_truthy, type_name,
};
pub use error::{Location, ProjectError};
pub use features::{Feature, FeatureUse};
pub use files::{Cancel, FileAccess, FileProblem, LoadSettings, ReadLimits};
pub use yaml::camel_case;

use agent::AgentLoader;
use yaml::{camelize, key_line, read_yaml, value_line};

/// A `cli.agents` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct CliAgent {
    /// The agent (`None` for a pure command group).
    pub agent: Option<Arc<AgentDef>>,
    /// Overriding name.
    pub name: Option<String>,
    /// Overriding aliases.
    pub alias: Vec<String>,
    /// Overriding description.
    pub description: Option<String>,
    /// Sub-commands.
    pub agents: Vec<CliAgent>,
}

/// A loaded project.
#[derive(Debug, Clone, PartialEq)]
pub struct Project {
    /// The folder of `aigne.yaml`: paths in it resolve here.
    pub root_dir: PathBuf,
    /// `aigne.yaml` itself.
    pub file: PathBuf,
    /// `name`.
    pub name: Option<String>,
    /// `description`.
    pub description: Option<String>,
    /// `model` (alias `chat_model`).
    pub model: Option<ModelConfig>,
    /// `image_model`.
    pub image_model: Option<ModelConfig>,
    /// `agents`, in order (the first is the default agent).
    pub agents: Vec<Arc<AgentDef>>,
    /// `skills`: offered as tools to every AI agent.
    pub skills: Vec<Arc<AgentDef>>,
    /// `mcp_server.agents`.
    pub mcp_server_agents: Vec<Arc<AgentDef>>,
    /// `cli.chat`.
    pub cli_chat: Option<Arc<AgentDef>>,
    /// `cli.agents`.
    pub cli_agents: Vec<CliAgent>,
    /// What the project may read (its folder, `--allow-read`, the size cap): the engine reads
    /// `{% include %}`s through it.
    pub files: FileAccess,
}

impl Project {
    /// Loads a project from a folder holding `aigne.yaml`/`aigne.yml`, or from the file itself,
    /// with the default [`LoadSettings`] (the size cap, no folder but the project's).
    pub fn load(path: &Path) -> Result<Project, ProjectError> {
        Self::load_with(path, &LoadSettings::default())
    }

    /// Loads a project: every file it names must resolve inside its folder (or an
    /// `--allow-read` folder) and be a regular file within the size cap; `settings.cancel`
    /// stops the reads.
    pub fn load_with(path: &Path, settings: &LoadSettings) -> Result<Project, ProjectError> {
        let file = find_aigne_file(path)?;
        let root_dir = file
            .parent()
            .map(Path::to_path_buf)
            .filter(|parent| !parent.as_os_str().is_empty())
            .unwrap_or_else(|| PathBuf::from("."));
        let files = FileAccess::new(&root_dir, settings)?;
        let parsed = read_yaml(&files, &file, None)?;
        let text = parsed.text.as_str();
        let invalid = |key: &str, message: String| ProjectError::Invalid {
            location: Location::line(&file, key_line(text, &[key])),
            message: format!("`{key}`: {message}"),
        };
        let raw = match parsed.value {
            Value::Object(map) => map,
            Value::Null => Map::new(),
            other => {
                return Err(ProjectError::Invalid {
                    location: Location::file(&file),
                    message: format!("expected a mapping, found {}", type_name(&other)),
                });
            }
        };
        // `model || chatModel || chat_model`, then camelize (unknown keys are dropped).
        let model_value = [
            raw.get("model"),
            raw.get("chatModel"),
            raw.get("chat_model"),
        ]
        .into_iter()
        .flatten()
        .find(|v| is_truthy(v))
        .cloned();
        let map = camelize(&raw);
        let string = |key: &str| -> Result<Option<String>, ProjectError> {
            match map.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(text)) => Ok(Some(text.clone())),
                Some(other) => Err(invalid(
                    key,
                    format!("expected a string, found {}", type_name(other)),
                )),
            }
        };
        let name = string("name")?;
        let description = string("description")?;
        let model = match &model_value {
            Some(value) => ModelConfig::parse(value, true).map_err(|m| invalid("model", m))?,
            None => None,
        };
        let image_model = match map.get("imageModel") {
            Some(value) => {
                ModelConfig::parse(value, false).map_err(|m| invalid("imageModel", m))?
            }
            None => None,
        };
        let paths = |value: Option<&Value>, key: &str| -> Result<Vec<String>, ProjectError> {
            match value {
                None | Some(Value::Null) => Ok(Vec::new()),
                Some(Value::Array(items)) => items
                    .iter()
                    .map(|item| match item {
                        Value::String(path) => Ok(path.clone()),
                        other => Err(invalid(
                            key,
                            format!("expected agent file paths, found {}", type_name(other)),
                        )),
                    })
                    .collect(),
                Some(other) => Err(invalid(
                    key,
                    format!(
                        "expected a list of agent file paths, found {}",
                        type_name(other)
                    ),
                )),
            }
        };
        let agent_paths = paths(map.get("agents"), "agents")?;
        let skill_paths = paths(map.get("skills"), "skills")?;
        let mcp_paths = match map.get("mcpServer") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Object(server)) => paths(server.get("agents"), "mcpServer")?,
            Some(_) => return Err(invalid("mcpServer", "expected a mapping".to_owned())),
        };
        let (cli_chat_path, cli_entries) = match map.get("cli") {
            None | Some(Value::Null) => (None, Vec::new()),
            Some(Value::Object(cli)) => {
                let chat = match cli.get("chat") {
                    None | Some(Value::Null) => None,
                    Some(Value::String(path)) => Some(path.clone()),
                    Some(_) => return Err(invalid("cli", "`chat` must be a path".to_owned())),
                };
                let entries = match cli.get("agents") {
                    None | Some(Value::Null) => Vec::new(),
                    Some(Value::Array(items)) => items
                        .iter()
                        .map(|item| parse_cli_entry(item).map_err(|m| invalid("cli", m)))
                        .collect::<Result<_, _>>()?,
                    Some(_) => return Err(invalid("cli", "`agents` must be a list".to_owned())),
                };
                (chat, entries)
            }
            Some(_) => return Err(invalid("cli", "expected a mapping".to_owned())),
        };

        // Load each referenced file once and share it between the lists; each is named at the
        // line of its list's key.
        let mut all_paths: Vec<(String, &str)> = Vec::new();
        all_paths.extend(agent_paths.iter().map(|path| (path.clone(), "agents")));
        all_paths.extend(skill_paths.iter().map(|path| (path.clone(), "skills")));
        all_paths.extend(mcp_paths.iter().map(|path| (path.clone(), "mcpServer")));
        all_paths.extend(cli_chat_path.iter().map(|path| (path.clone(), "cli")));
        let mut cli_urls = Vec::new();
        for entry in &cli_entries {
            entry.collect_urls(&mut cli_urls);
        }
        all_paths.extend(cli_urls.into_iter().map(|path| (path, "cli")));
        let loader = AgentLoader {
            project_model: model.as_ref(),
            project_image_model: image_model.as_ref(),
            files: &files,
        };
        let mut loaded: HashMap<PathBuf, Arc<AgentDef>> = HashMap::new();
        for (relative, key) in &all_paths {
            let full = normalize(&root_dir.join(relative));
            if loaded.contains_key(&full) {
                continue;
            }
            let reference =
                Location::line(&file, value_line(text, key_line(text, &[key]), relative));
            let agent = loader.load_file(&full, Some(&reference), 0)?;
            loaded.insert(full, Arc::new(agent));
        }
        let pick = |relative: &String| loaded.get(&normalize(&root_dir.join(relative))).cloned();
        let pick_all = |list: &[String]| list.iter().filter_map(&pick).collect::<Vec<_>>();
        let cli_agents = cli_entries
            .iter()
            .map(|entry| entry.resolve(&pick))
            .collect();
        Ok(Project {
            agents: pick_all(&agent_paths),
            skills: pick_all(&skill_paths),
            mcp_server_agents: pick_all(&mcp_paths),
            cli_chat: cli_chat_path.as_ref().and_then(pick),
            cli_agents,
            files,
            root_dir,
            file,
            name,
            description,
            model,
            image_model,
        })
    }

    /// The agent to run: by name (searching `agents`, then `skills`, `mcp_server`, `cli`), or
    /// the first of `agents:` when no name is given (as `aigne run` does).
    pub fn agent(&self, name: Option<&str>) -> Result<&Arc<AgentDef>, ProjectError> {
        let Some(name) = name else {
            return self.agents.first().ok_or_else(|| ProjectError::NoAgents {
                path: self.file.clone(),
            });
        };
        self.top_level_agents()
            .into_iter()
            .find(|agent| agent.name == name || agent.alias.iter().any(|a| a == name))
            .or_else(|| self.cli_agent(name))
            .ok_or_else(|| ProjectError::AgentNotFound {
                name: name.to_owned(),
                available: self.agents.iter().map(|a| a.name.clone()).collect(),
            })
    }

    /// An agent of the `cli:` tree by its command name there: the entry's `name` (else the
    /// agent's) or one of its aliases (the entry's `alias`, else the agent's), as the official
    /// CLI names its commands. A path of group names separated by spaces or `/`
    /// (`component push`, as `aigne run DIR component push` reaches it) walks the tree; a single
    /// name is also found inside groups, depth first, in file order.
    fn cli_agent(&self, name: &str) -> Option<&Arc<AgentDef>> {
        fn matches(entry: &CliAgent, word: &str) -> bool {
            let own = entry.agent.as_deref();
            let command = entry
                .name
                .as_deref()
                .or(own.map(|agent| agent.name.as_str()));
            let aliases = if entry.alias.is_empty() {
                own.map(|agent| agent.alias.as_slice()).unwrap_or_default()
            } else {
                entry.alias.as_slice()
            };
            command == Some(word) || aliases.iter().any(|alias| alias == word)
        }
        fn anywhere<'a>(entries: &'a [CliAgent], word: &str) -> Option<&'a Arc<AgentDef>> {
            entries.iter().find_map(|entry| {
                entry
                    .agent
                    .as_ref()
                    .filter(|_| matches(entry, word))
                    .or_else(|| anywhere(&entry.agents, word))
            })
        }
        let words: Vec<&str> = name
            .split(|c: char| c == '/' || c.is_whitespace())
            .filter(|word| !word.is_empty())
            .collect();
        if let [word] = words.as_slice() {
            return anywhere(&self.cli_agents, word);
        }
        let (last, groups) = words.split_last()?;
        let mut entries = self.cli_agents.as_slice();
        for group in groups {
            entries = &entries.iter().find(|entry| matches(entry, group))?.agents;
        }
        entries
            .iter()
            .find(|entry| matches(entry, last))
            .and_then(|entry| entry.agent.as_ref())
    }

    /// Every agent of `agents`, `skills`, `mcp_server`, `cli` (each once, in that order).
    pub fn top_level_agents(&self) -> Vec<&Arc<AgentDef>> {
        let mut out: Vec<&Arc<AgentDef>> = Vec::new();
        for agent in self
            .agents
            .iter()
            .chain(&self.skills)
            .chain(&self.mcp_server_agents)
            .chain(&self.cli_chat)
        {
            if !out.iter().any(|seen| Arc::ptr_eq(seen, agent)) {
                out.push(agent);
            }
        }
        fn walk<'a>(entries: &'a [CliAgent], out: &mut Vec<&'a Arc<AgentDef>>) {
            for entry in entries {
                if let Some(agent) = &entry.agent
                    && !out.iter().any(|seen| Arc::ptr_eq(seen, agent))
                {
                    out.push(agent);
                }
                walk(&entry.agents, out);
            }
        }
        walk(&self.cli_agents, &mut out);
        out
    }

    /// Every feature the project uses, with where (for `inspect` and engine support checks).
    pub fn features(&self) -> Vec<FeatureUse> {
        features::collect(self)
    }

    /// Whether a top-level agent is a JavaScript file, whose name AIGNE takes from its default
    /// export (known only once node loads it), so an agent name not found may still be one.
    pub fn has_javascript_files(&self) -> bool {
        !self.javascript_files().is_empty()
    }

    /// The top-level agents that are JavaScript files.
    pub fn javascript_files(&self) -> Vec<&Arc<AgentDef>> {
        self.top_level_agents()
            .into_iter()
            .filter(|agent| matches!(agent.kind, agent::AgentKind::JsFile))
            .collect()
    }

    /// Whether any agent is JavaScript (a `.js`/`.mjs` file or an inline `type: function`).
    pub fn has_javascript(&self) -> bool {
        self.features().iter().any(|used| {
            matches!(&used.feature, features::Feature::AgentType(kind) if kind == "js" || kind == "function")
        })
    }
}

/// A `cli.agents` entry before agents are picked.
#[derive(Debug, Clone)]
struct CliEntry {
    url: Option<String>,
    name: Option<String>,
    alias: Vec<String>,
    description: Option<String>,
    agents: Vec<CliEntry>,
}

impl CliEntry {
    fn collect_urls(&self, out: &mut Vec<String>) {
        out.extend(self.url.iter().cloned());
        for entry in &self.agents {
            entry.collect_urls(out);
        }
    }

    fn resolve(&self, pick: &dyn Fn(&String) -> Option<Arc<AgentDef>>) -> CliAgent {
        CliAgent {
            agent: self.url.as_ref().and_then(pick),
            name: self.name.clone(),
            alias: self.alias.clone(),
            description: self.description.clone(),
            agents: self
                .agents
                .iter()
                .map(|entry| entry.resolve(pick))
                .collect(),
        }
    }
}

fn parse_cli_entry(value: &Value) -> Result<CliEntry, String> {
    match value {
        Value::String(url) => Ok(CliEntry {
            url: Some(url.clone()),
            name: None,
            alias: Vec::new(),
            description: None,
            agents: Vec::new(),
        }),
        Value::Object(map) => {
            let string = |key: &str| match map.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(text)) => Ok(Some(text.clone())),
                Some(_) => Err(format!("`{key}` of a cli entry must be a string")),
            };
            let alias = match map.get("alias") {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::Array(items)) => items
                    .iter()
                    .map(|i| {
                        i.as_str()
                            .map(str::to_owned)
                            .ok_or("`alias` must be strings")
                    })
                    .collect::<Result<_, _>>()?,
                Some(_) => return Err("`alias` must be a list".to_owned()),
            };
            let agents = match map.get("agents") {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::Array(items)) => items
                    .iter()
                    .map(parse_cli_entry)
                    .collect::<Result<_, _>>()?,
                Some(_) => return Err("`agents` of a cli entry must be a list".to_owned()),
            };
            Ok(CliEntry {
                url: string("url")?,
                name: string("name")?,
                alias,
                description: string("description")?,
                agents,
            })
        }
        other => Err(format!(
            "a cli entry must be a path or a mapping, found {}",
            type_name(other)
        )),
    }
}

/// `findAIGNEFile`.
fn find_aigne_file(path: &Path) -> Result<PathBuf, ProjectError> {
    let is_named = path
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n == "aigne.yaml" || n == "aigne.yml");
    let candidates = if is_named {
        vec![path.to_path_buf()]
    } else {
        vec![path.join("aigne.yaml"), path.join("aigne.yml")]
    };
    candidates
        .into_iter()
        .find(|candidate| candidate.is_file())
        .ok_or_else(|| ProjectError::NotFound {
            path: path.to_path_buf(),
        })
}

/// `path.join` semantics: drop `.` and fold `..` lexically.
pub fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests;
