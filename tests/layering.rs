//! The direction of the data flow, checked on the source: no import circle between the top-level
//! modules of `src/` (a folder or a file each), and no `crate::cli` below `src/commands/` (flags
//! are resolved once into settings; a stage takes its own settings, never the raw flags).
//!
//! A reference is any `crate::<module>` path outside comments (a `use`, a full path, a `use
//! crate::{a, b}` group); `lib.rs` and `main.rs` are the composition root and name every module.
//! Each rule has an explicit list of today's exceptions. An exception that no longer holds fails
//! the test too, so the lists only shrink.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Edges (`from`, `to`) allowed to close a circle (none: keep it that way).
const CIRCLE_EXCEPTIONS: &[(&str, &str)] = &[];

/// The modules that read the raw flags: the flags themselves, the commands, and the run plan
/// that resolves them into per-stage settings (issue 12: "no module below `commands/` imports
/// `cli`").
const CLI_READERS: &[&str] = &["cli", "commands", "plan"];

/// Files outside [`CLI_READERS`] that still read `crate::cli` (none today; keep it that way).
const CLI_EXCEPTIONS: &[&str] = &[];

fn source_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs_err::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            source_files(&path, out);
        } else if path.extension().is_some_and(|extension| extension == "rs") {
            out.push(path);
        }
    }
}

/// The source without comments (`//`, `///`, `//!` to the end of the line), so doc links
/// (`` [`crate::settings`] ``) are not imports.
fn code(text: &str) -> String {
    text.lines()
        .map(|line| match line.find("//") {
            // A `//` inside a string (`"http://…"`) is rare in paths; good enough here.
            Some(at) => &line[..at],
            None => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The top-level modules a source names through `crate::`.
fn references(code: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // `use crate::{a, b::c, d::{e, f}}`: the first segment of each top-level item.
            let mut depth = 0;
            let mut item = String::new();
            for character in group.chars() {
                match character {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        found.insert(first_segment(&item));
                        item.clear();
                        continue;
                    }
                    _ => {}
                }
                if depth == 0 {
                    item.push(character);
                }
            }
            found.insert(first_segment(&item));
        } else {
            found.insert(first_segment(rest));
        }
    }
    found.retain(|name| !name.is_empty() && name != "self");
    found
}

fn first_segment(text: &str) -> String {
    text.trim_start()
        .chars()
        .take_while(|character| character.is_ascii_alphanumeric() || *character == '_')
        .collect()
}

struct Source {
    /// Path below `src/`.
    relative: String,
    /// Its top-level module (`model` for `model/openai.rs`, `text` for `text.rs`).
    module: String,
    references: BTreeSet<String>,
}

fn sources() -> Vec<Source> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    source_files(&root, &mut files);
    files
        .into_iter()
        .filter_map(|path| {
            let relative = path
                .strip_prefix(&root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            if relative == "lib.rs" || relative == "main.rs" {
                return None;
            }
            let module = relative
                .split('/')
                .next()
                .unwrap()
                .trim_end_matches(".rs")
                .to_owned();
            let references = references(&code(&fs_err::read_to_string(&path).unwrap()));
            Some(Source {
                relative,
                module,
                references,
            })
        })
        .collect()
}

/// A circle through `start` in `graph`, as the path of module names.
fn circle_from(graph: &BTreeMap<String, BTreeSet<String>>, start: &str) -> Option<Vec<String>> {
    fn walk(
        graph: &BTreeMap<String, BTreeSet<String>>,
        start: &str,
        path: &mut Vec<String>,
        seen: &mut BTreeSet<String>,
    ) -> bool {
        let current = path.last().unwrap().clone();
        for next in graph.get(&current).into_iter().flatten() {
            if next == start {
                path.push(next.clone());
                return true;
            }
            if seen.insert(next.clone()) {
                path.push(next.clone());
                if walk(graph, start, path, seen) {
                    return true;
                }
                path.pop();
            }
        }
        false
    }
    let mut path = vec![start.to_owned()];
    let mut seen = BTreeSet::new();
    walk(graph, start, &mut path, &mut seen).then_some(path)
}

#[test]
fn no_import_circle_between_top_level_modules() {
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for source in sources() {
        for target in &source.references {
            if *target != source.module {
                graph
                    .entry(source.module.clone())
                    .or_default()
                    .insert(target.clone());
            }
        }
    }
    for (from, to) in CIRCLE_EXCEPTIONS {
        assert!(
            graph
                .get(*from)
                .is_some_and(|targets| targets.contains(*to)),
            "`{from}` no longer imports `{to}`: remove the exception from CIRCLE_EXCEPTIONS"
        );
        graph.get_mut(*from).unwrap().remove(*to);
    }
    let circles: Vec<String> = graph
        .keys()
        .filter_map(|module| circle_from(&graph, module))
        .map(|path| path.join(" → "))
        .collect();
    assert!(
        circles.is_empty(),
        "import circles between src/ modules (a stage must not reach back up):\n{}",
        circles.join("\n")
    );
}

#[test]
fn no_cli_import_below_commands() {
    let importers: BTreeSet<String> = sources()
        .into_iter()
        .filter(|source| {
            !CLI_READERS.contains(&source.module.as_str()) && source.references.contains("cli")
        })
        .map(|source| source.relative)
        .collect();
    let allowed: BTreeSet<String> = CLI_EXCEPTIONS
        .iter()
        .map(|path| (*path).to_owned())
        .collect();
    let new: Vec<_> = importers.difference(&allowed).collect();
    assert!(
        new.is_empty(),
        "these files import `crate::cli` (take resolved settings instead): {new:?}"
    );
    let stale: Vec<_> = allowed.difference(&importers).collect();
    assert!(
        stale.is_empty(),
        "these files no longer import `crate::cli`: remove them from CLI_EXCEPTIONS: {stale:?}"
    );
}

#[test]
fn references_are_read_from_paths_groups_and_not_comments() {
    let found = references(&code(
        "use crate::{model::{a, b}, text, self};\n/// see [`crate::batch`]\nlet x = crate::fetch::y();",
    ));
    assert_eq!(
        found,
        ["fetch", "model", "text"]
            .into_iter()
            .map(str::to_owned)
            .collect()
    );
}
