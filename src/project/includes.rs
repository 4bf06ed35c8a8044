//! The files an instructions template pulls in by a literal name (`{% include "x" %}`,
//! `{% import %}`, `{% from … import %}`, `{% extends %}`), checked when the project loads: each
//! that exists must resolve inside the project and be a regular file within the size cap, so an
//! escape or a device is a load error naming the template's file and line. A missing file is left
//! to the renderer (AIGNE fails only when the include is reached); names computed at render time
//! go through the engine's confined loader ([`crate::engine::template`]).
//!
//! Kept apart from the template renderer on purpose: this is the trust boundary, the renderer is
//! Nunjucks fidelity.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use regex::Regex;

use super::error::{Location, ProjectError};
use super::files::{FileAccess, FileProblem, file_error};
use super::yaml::value_line;

/// How deep includes may nest (a cycle is cut by the visited set; this bounds a long chain).
const INCLUDE_DEPTH_LIMIT: usize = 32;

static LITERAL_INCLUDE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"\{%-?\s*(?:include|import|extends|from)\s+(?:"([^"]*)"|'([^']*)')"#)
        .unwrap_or_else(|_| unreachable!())
});

/// Where a template names `name` from the file `including`: relative to that file's folder, as
/// the engine's loader joins it.
pub(super) fn include_target(including: &Path, name: &str) -> PathBuf {
    let name_path = Path::new(name);
    if name_path.is_absolute() {
        return name_path.to_path_buf();
    }
    including.parent().unwrap_or(Path::new(".")).join(name_path)
}

/// Checks every literal include of `text` (the template of the file `path`), recursively.
/// `inline_in` is the text of `path` when the template is written inline in it (an agent file's
/// `instructions`), so errors name the file's line rather than the template's.
pub(super) fn check_includes(
    files: &FileAccess,
    text: &str,
    path: &Path,
    inline_in: Option<&str>,
) -> Result<(), ProjectError> {
    let mut visited = HashSet::new();
    check(files, text, path, inline_in, 0, &mut visited)
}

fn check(
    files: &FileAccess,
    text: &str,
    path: &Path,
    inline_in: Option<&str>,
    depth: usize,
    visited: &mut HashSet<PathBuf>,
) -> Result<(), ProjectError> {
    for captures in LITERAL_INCLUDE.captures_iter(text) {
        let Some(name) = captures.get(1).or_else(|| captures.get(2)) else {
            continue;
        };
        let template_line = 1 + text[..name.start()].matches('\n').count();
        let line = inline_in
            .and_then(|file_text| value_line(file_text, None, name.as_str()))
            .unwrap_or(template_line);
        let reference = Location::line(path, Some(line));
        let target = include_target(path, name.as_str());
        let included = match files.read_text_unlocated(&target) {
            Ok(included) => included,
            // Missing: the renderer reports it if the include is reached.
            Err(FileProblem::Io(error)) if error.kind() == std::io::ErrorKind::NotFound => {
                continue;
            }
            Err(problem) => return Err(file_error(&target, Some(&reference), problem)),
        };
        if depth >= INCLUDE_DEPTH_LIMIT {
            return Err(ProjectError::TooDeep {
                location: reference,
                limit: INCLUDE_DEPTH_LIMIT,
            });
        }
        if visited.insert(target.clone()) {
            check(files, &included, &target, None, depth + 1, visited)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::project::LoadSettings;

    #[test]
    fn literal_includes_are_checked_with_their_line() {
        let outer = tempfile::tempdir().unwrap();
        let root = outer.path().join("project");
        fs_err::create_dir_all(root.join("prompts")).unwrap();
        fs_err::write(outer.path().join("secret.txt"), "s").unwrap();
        fs_err::write(root.join("prompts/ok.md"), "{% include 'deeper.md' %}").unwrap();
        fs_err::write(root.join("prompts/deeper.md"), "fine").unwrap();
        let files = FileAccess::new(&root, &LoadSettings::default()).unwrap();
        let agent = root.join("agent.yaml");
        check_includes(
            &files,
            "{% include \"prompts/ok.md\" %}\n{% include \"missing.md\" %}",
            &agent,
            None,
        )
        .unwrap();
        let error = check_includes(
            &files,
            "line one\n{%- include \"../secret.txt\" -%}",
            &agent,
            None,
        )
        .unwrap_err();
        let ProjectError::File {
            reference, problem, ..
        } = &error
        else {
            panic!("{error}");
        };
        assert_eq!(reference.as_ref().and_then(|r| r.line), Some(2));
        assert!(
            matches!(problem.as_ref(), FileProblem::Outside { .. }),
            "{error}"
        );
        // A cycle ends.
        fs_err::write(root.join("a.md"), "{% include 'b.md' %}").unwrap();
        fs_err::write(root.join("b.md"), "{% include 'a.md' %}").unwrap();
        check_includes(&files, "{% include 'a.md' %}", &agent, None).unwrap();
    }
}
