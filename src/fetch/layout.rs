//! Where the project is inside an extracted archive or a folder: `aigne.yaml`/`aigne.yml` at
//! the root, or inside the single top-level folder (GitHub archives have one), or under
//! `--subdir` (looked up from the root, then from the single top-level folder).

use std::path::{Path, PathBuf};

/// The manifest file names, in order of preference.
pub const MANIFEST_NAMES: &[&str] = &["aigne.yaml", "aigne.yml"];

/// Whether `dir` holds a project manifest.
pub fn has_manifest(dir: &Path) -> bool {
    MANIFEST_NAMES.iter().any(|name| dir.join(name).is_file())
}

/// The project folder under `root`, or `Err(found)` with the folders (relative to `root`)
/// that do hold a manifest.
pub(crate) fn locate(root: &Path, subdir: Option<&Path>) -> Result<PathBuf, Vec<String>> {
    let single = single_top_folder(root);
    let candidates: Vec<PathBuf> = match subdir {
        Some(subdir) => std::iter::once(root.join(subdir))
            .chain(single.iter().map(|top| top.join(subdir)))
            .collect(),
        None => std::iter::once(root.to_path_buf()).chain(single).collect(),
    };
    for candidate in candidates {
        if has_manifest(&candidate) {
            // Resolve links, but stay inside the root.
            return match fs_err::canonicalize(&candidate) {
                Ok(real) if real.starts_with(root) => Ok(real),
                _ => Err(Vec::new()),
            };
        }
    }
    let mut found = Vec::new();
    find_manifests(root, root, 0, &mut found);
    found.sort();
    Err(found)
}

/// The only entry of `root` when it is a folder (ignoring macOS `._*`/`__MACOSX` leftovers).
fn single_top_folder(root: &Path) -> Option<PathBuf> {
    let mut entries = fs_err::read_dir(root).ok()?.flatten().filter(|entry| {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        !name.starts_with("._") && name != "__MACOSX"
    });
    let first = entries.next()?;
    if entries.next().is_some() {
        return None;
    }
    first
        .file_type()
        .ok()
        .filter(std::fs::FileType::is_dir)
        .map(|_| first.path())
}

const MAX_DEPTH: usize = 6;
const MAX_FOUND: usize = 20;

fn find_manifests(root: &Path, dir: &Path, depth: usize, found: &mut Vec<String>) {
    if depth > MAX_DEPTH || found.len() >= MAX_FOUND {
        return;
    }
    if has_manifest(dir) {
        let relative = dir.strip_prefix(root).unwrap_or(dir);
        let shown = if relative.as_os_str().is_empty() {
            ".".to_owned()
        } else {
            relative.display().to_string()
        };
        found.push(shown);
    }
    let Ok(entries) = fs_err::read_dir(dir) else {
        return;
    };
    let mut folders: Vec<PathBuf> = entries
        .flatten()
        .filter(|entry| entry.file_type().is_ok_and(|kind| kind.is_dir()))
        .filter(|entry| {
            let name = entry.file_name();
            name != "node_modules" && name != ".git"
        })
        .map(|entry| entry.path())
        .collect();
    folders.sort();
    for folder in folders {
        find_manifests(root, &folder, depth + 1, found);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(paths: &[&str]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for path in paths {
            let path = dir.path().join(path);
            fs_err::create_dir_all(path.parent().unwrap()).unwrap();
            fs_err::write(path, "name: x\n").unwrap();
        }
        dir
    }

    #[test]
    fn root_single_folder_and_subdir() {
        let dir = tree(&["aigne.yaml"]);
        let root = fs_err::canonicalize(dir.path()).unwrap();
        assert_eq!(locate(&root, None).unwrap(), root);

        let dir = tree(&["repo-main/aigne.yml", "repo-main/README.md"]);
        let root = fs_err::canonicalize(dir.path()).unwrap();
        assert_eq!(locate(&root, None).unwrap(), root.join("repo-main"));

        let dir = tree(&[
            "repo-main/examples/a/aigne.yaml",
            "repo-main/examples/b/aigne.yaml",
        ]);
        let root = fs_err::canonicalize(dir.path()).unwrap();
        assert_eq!(
            locate(&root, Some(Path::new("examples/b"))).unwrap(),
            root.join("repo-main/examples/b")
        );
        assert_eq!(
            locate(&root, Some(Path::new("repo-main/examples/a"))).unwrap(),
            root.join("repo-main/examples/a")
        );
        assert_eq!(
            locate(&root, None).unwrap_err(),
            vec![
                "repo-main/examples/a".to_owned(),
                "repo-main/examples/b".to_owned()
            ]
        );
        assert_eq!(
            locate(&root, Some(Path::new("examples/c")))
                .unwrap_err()
                .len(),
            2
        );
    }
}
