//! Building an AI agent's model request (AIGNE `prompt/prompt-builder.ts` `buildMessages`,
//! `buildTools`, `buildResponseFormat`).

use serde_json::{Map, Value, json};

use crate::model::types::{
    ChatMessage, Content, ContentPart, ResponseFormat, Role, ToolChoice, ToolDefinition,
};
use crate::project::{AgentDef, AgentKind, FileAccess, InstructionRole, Location, ToolChoiceDef};

use super::error::InvokeError;
use super::schema::{is_empty_object, to_model_schema, with_input_key};
use super::template::render;

/// The system message (if any) and the user message of one AI agent turn.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct BuiltMessages {
    /// All system items merged into one message.
    pub system: Option<ChatMessage>,
    /// All user and agent items (and the `input_key` text) merged into one user message.
    pub user: ChatMessage,
}

/// `input_file_key`: the input's files (AIGNE's `fileUnionContentsSchema`: one
/// `{type: url|file|local, …}` or a list), after the message text. A `local` file is read and sent
/// inline, with its type guessed from its name, as AIGNE's `ChatModel` does before a call.
fn input_files(
    agent: &AgentDef,
    key: &str,
    value: Option<&Value>,
    files: &FileAccess,
) -> Result<Vec<ContentPart>, InvokeError> {
    let invalid = |message: String| InvokeError::Schema {
        agent: agent.name.clone(),
        which: "input",
        message: format!("`{key}`: {message}"),
    };
    let items: Vec<&Value> = match value {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) => items.iter().collect(),
        Some(item) => vec![item],
    };
    let mut parts = Vec::with_capacity(items.len());
    for item in items {
        let Some(fields) = item.as_object() else {
            return Err(invalid(format!("expected a file object, got `{item}`")));
        };
        let text = |name: &str| fields.get(name).and_then(Value::as_str).map(str::to_owned);
        let required = |name: &str| {
            text(name).ok_or_else(|| {
                invalid(format!(
                    "a `{}` file needs a string `{name}`",
                    text("type").unwrap_or_default()
                ))
            })
        };
        let mime_type = text("mimeType");
        let filename = text("filename");
        parts.push(match text("type").as_deref() {
            Some("url") => ContentPart::Url {
                url: required("url")?,
                mime_type,
                filename,
            },
            Some("file") => ContentPart::File {
                data: required("data")?,
                mime_type,
                filename,
            },
            Some("local") => {
                let path = required("path")?;
                // A case's own file (named by the inputs, not the project): bounded like every
                // read (a regular file within `--max-file-size`), not confined to the project.
                let bytes = crate::project::files::read_regular_file(
                    std::path::Path::new(&path),
                    files.limits(),
                )
                .map_err(|problem| InvokeError::Agent {
                    agent: agent.name.clone(),
                    message: format!("the input file `{path}` {problem}"),
                })?;
                let mime_type = mime_type.or_else(|| {
                    crate::model::common::mime_type_of(filename.as_deref().unwrap_or(&path))
                });
                ContentPart::File {
                    data: base64::Engine::encode(&base64::engine::general_purpose::STANDARD, bytes),
                    mime_type,
                    filename,
                }
            }
            other => {
                return Err(invalid(format!(
                    "a file's `type` must be `url`, `file` or `local`, not {}",
                    other.map_or("missing".to_owned(), |other| format!("`{other}`"))
                )));
            }
        });
    }
    Ok(parts)
}

/// The template variables: `userContext`, its fields, then the input's fields (later wins).
pub(super) fn template_variables(input: &Map<String, Value>) -> Value {
    let mut variables = Map::new();
    variables.insert("userContext".to_owned(), json!({}));
    for (key, value) in input {
        variables.insert(key.clone(), value.clone());
    }
    Value::Object(variables)
}

/// `buildMessages` (§3.2): render, partition, add the `input_key` text, merge, fall back.
/// `extra_system` holds parts appended to the system list (legacy memories); templates include
/// files through `files`.
pub(super) fn build_messages(
    agent: &AgentDef,
    input: &Map<String, Value>,
    extra_system: Vec<ContentPart>,
    files: &FileAccess,
) -> Result<BuiltMessages, InvokeError> {
    let (instructions, input_key, input_file_key) = match &agent.kind {
        AgentKind::Ai(ai) => (
            &ai.instructions,
            ai.input_key.as_deref(),
            ai.input_file_key.as_deref(),
        ),
        _ => {
            return Err(InvokeError::Agent {
                agent: agent.name.clone(),
                message: "not an AI agent".to_owned(),
            });
        }
    };
    let variables = template_variables(input);
    let mut system_parts: Vec<ContentPart> = Vec::new();
    let mut user_parts: Vec<ContentPart> = Vec::new();
    let mut user_texts: Vec<String> = Vec::new();
    for item in instructions {
        match item.role {
            InstructionRole::Agent => {
                // Agent items are not rendered; their text joins the user message.
                user_parts.push(ContentPart::Text {
                    text: item.content.clone(),
                });
            }
            role => {
                let text =
                    render(&item.content, &item.path, &variables, files).map_err(|error| {
                        InvokeError::Template {
                            agent: agent.name.clone(),
                            location: Location::line(error.path.clone(), error.line),
                            message: error.message,
                        }
                    })?;
                if role == InstructionRole::System {
                    system_parts.push(ContentPart::Text { text });
                } else {
                    user_texts.push(text.clone());
                    user_parts.push(ContentPart::Text { text });
                }
            }
        }
    }
    system_parts.extend(extra_system);
    if let Some(key) = input_key
        && let Some(Value::String(message)) = input.get(key)
        && !message.is_empty()
        // Avoid a duplicate: the instructions may already contain the message.
        && !user_texts.iter().any(|text| text.contains(message.as_str()))
    {
        user_parts.push(ContentPart::Text {
            text: message.clone(),
        });
    }
    if let Some(key) = input_file_key {
        user_parts.extend(input_files(agent, key, input.get(key), files)?);
    }
    let mut system = (!system_parts.is_empty()).then(|| ChatMessage {
        role: Role::System,
        content: Some(Content::Parts(system_parts)),
        tool_calls: Vec::new(),
        tool_call_id: None,
        name: None,
    });
    let user_parts = if user_parts.is_empty() {
        match system.take() {
            Some(ChatMessage {
                content: Some(Content::Parts(parts)),
                ..
            }) => parts,
            _ => Vec::new(),
        }
    } else {
        user_parts
    };
    if user_parts.is_empty() {
        return Err(InvokeError::Agent {
            agent: agent.name.clone(),
            message: "User message cannot be empty.".to_owned(),
        });
    }
    Ok(BuiltMessages {
        system,
        user: ChatMessage {
            role: Role::User,
            content: Some(Content::Parts(user_parts)),
            tool_calls: Vec::new(),
            tool_call_id: None,
            name: None,
        },
    })
}

/// The tool definition of a skill: its name, description and input schema as AIGNE converts it
/// (`{}` when the schema has no properties).
pub(super) fn tool_definition(skill: &AgentDef) -> ToolDefinition {
    let input_key = skill.ai().and_then(|ai| ai.input_key.as_deref());
    let schema = with_input_key(skill.input_schema.as_ref(), input_key);
    let parameters = match schema {
        Some(schema) if !is_empty_object(&schema) => to_model_schema(&schema),
        _ => json!({}),
    };
    ToolDefinition {
        name: skill.name.clone(),
        description: skill.description.clone(),
        parameters,
    }
}

/// `toolChoice` as sent: the configured one (`router` → `required`), else `auto` when there
/// are tools.
pub(super) fn tool_choice(
    configured: Option<ToolChoiceDef>,
    has_tools: bool,
) -> Option<ToolChoice> {
    match configured {
        Some(ToolChoiceDef::Auto) => Some(ToolChoice::Auto),
        Some(ToolChoiceDef::None) => Some(ToolChoice::None),
        Some(ToolChoiceDef::Required) | Some(ToolChoiceDef::Router) => Some(ToolChoice::Required),
        None => has_tools.then_some(ToolChoice::Auto),
    }
}

/// `responseFormat` for an output schema with at least one property.
pub(super) fn response_format(output_schema: Option<&Value>) -> Option<ResponseFormat> {
    let schema = output_schema?;
    if is_empty_object(schema) {
        return None;
    }
    Some(ResponseFormat::JsonSchema {
        name: "output".to_owned(),
        description: None,
        schema: to_model_schema(schema),
        strict: true,
    })
}

/// Resolves `{$get: key}` getters against the input (recursively; nil values dropped).
pub fn resolve_getters(value: &Value, input: &Map<String, Value>) -> Option<Value> {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(key)) = map.get("$get") {
                return input.get(key).filter(|v| !v.is_null()).cloned();
            }
            Some(Value::Object(
                map.iter()
                    .filter_map(|(key, value)| {
                        resolve_getters(value, input).map(|value| (key.clone(), value))
                    })
                    .filter(|(_, value)| !value.is_null())
                    .collect(),
            ))
        }
        Value::Array(items) => Some(Value::Array(
            items
                .iter()
                .map(|item| resolve_getters(item, input).unwrap_or(Value::Null))
                .collect(),
        )),
        other => Some(other.clone()),
    }
}

/// `mergeDefaultInput`: literal defaults under the input, then `{$get}` defaults fill keys that
/// are still nil.
pub fn merge_default_input(
    defaults: &Map<String, Value>,
    input: Map<String, Value>,
) -> Map<String, Value> {
    let is_getter = |value: &Value| {
        value
            .as_object()
            .is_some_and(|map| map.contains_key("$get"))
    };
    let mut merged: Map<String, Value> = defaults
        .iter()
        .filter(|(_, value)| !is_getter(value))
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect();
    for (key, value) in input {
        merged.insert(key, value);
    }
    for (key, value) in defaults {
        if let Some(Value::String(source)) = value.get("$get")
            && merged.get(key).is_none_or(Value::is_null)
            && let Some(found) = merged.get(source).filter(|v| !v.is_null()).cloned()
        {
            merged.insert(key.clone(), found);
        }
    }
    merged
}
