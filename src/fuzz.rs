//! Property tests standing in for fuzzing (cargo-fuzz needs a nightly toolchain): the inputs
//! parser and its bounded reader, the project loader, the template renderer, tar extraction and
//! the SSE parser, each on generated hostile input for a bounded number of cases
//! (`PROPTEST_CASES` raises it). Each asserts a property, not just "runs": no panic, an error
//! instead of a hang, every line accounted for, a round trip where one exists, nothing written
//! outside the destination.

use proptest::prelude::*;
use serde_json::json;

use crate::batch::inputs::{InputsFormat, parse_inputs};
use crate::batch::inputs_reader::read_bounded_lines;
use crate::engine::template::render;
use crate::fetch::extract::{ExtractLimits, unpack};
use crate::project::{Cancel, FileAccess, LoadSettings, Project};

/// 96 cases per target in `cargo test`; `.ci/run` raises it with `PROPTEST_CASES`.
fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(96);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Lines that look like inputs: JSON shapes, near-JSON, YAML-ish and raw noise.
fn input_line() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("{\"input\": \"x\"}".to_owned()),
        Just("{\"id\": 1, \"input\": {\"a\": 1}, \"assert\": [{\"type\": \"contains\", \"value\": \"x\"}]}".to_owned()),
        Just("\"text\"".to_owned()),
        Just("[1, 2]".to_owned()),
        Just("- input: x".to_owned()),
        Just(String::new()),
        "[{}\\[\\]\":,a-z0-9 \\\\]{0,40}",
        any::<String>().prop_map(|text| text.replace('\n', " ")),
    ]
}

proptest! {
    #![proptest_config(config())]

    /// JSON Lines: every non-blank line is either a case or a malformed entry, at its line.
    #[test]
    fn inputs_every_line_is_accounted_for(lines in prop::collection::vec(input_line(), 0..30)) {
        let text = lines.join("\n");
        let (cases, invalid) = parse_inputs(&text, InputsFormat::JsonLines);
        let mut seen: Vec<usize> = cases.iter().map(|case| case.line)
            .chain(invalid.iter().map(|invalid| invalid.line))
            .collect();
        seen.sort_unstable();
        let expected: Vec<usize> = text
            .strip_prefix('\u{feff}')
            .unwrap_or(&text)
            .lines()
            .enumerate()
            .filter(|(_, line)| !line.trim().is_empty())
            .map(|(index, _)| index + 1)
            .collect();
        prop_assert_eq!(seen, expected);
        // The other formats never panic either.
        for format in [InputsFormat::Json, InputsFormat::Yaml, InputsFormat::Sniff] {
            let _ = parse_inputs(&text, format);
        }
    }

    /// The bounded reader: UTF-8 lines within the cap come back unchanged; any input leaves
    /// one output line per input line and keeps at most the cap (plus an excerpt) per line.
    #[test]
    fn bounded_reader_round_trips_and_bounds(bytes in prop::collection::vec(any::<u8>(), 0..4096), cap in 1u64..256) {
        let read = read_bounded_lines(bytes.as_slice(), cap, u64::MAX, usize::MAX, &Cancel::default()).unwrap();
        let line_count = if bytes.is_empty() { 0 } else {
            bytes.split(|&byte| byte == b'\n').count() - usize::from(bytes.ends_with(b"\n"))
        };
        let out_lines = read.text.split('\n').count() - usize::from(read.text.ends_with('\n') || read.text.is_empty());
        prop_assert!(out_lines <= line_count.max(1));
        for line in read.text.split('\n') {
            prop_assert!(line.len() as u64 <= cap);
        }
        if let Ok(text) = std::str::from_utf8(&bytes)
            && text.split('\n').all(|line| line.len() as u64 <= cap)
        {
            prop_assert!(read.set_aside.is_empty());
            prop_assert_eq!(read.text.as_str(), text);
        }
    }

    /// Templates: any source renders or errors (no panic), and a generated `{% include %}` of a
    /// path outside the project never brings its text in.
    #[test]
    fn templates_never_panic_nor_escape(source in "[{}%#a-z \"'|.()\\[\\]0-9\\-+*/]{0,80}", name in "(\\.\\./){1,3}[a-z]{1,8}\\.md") {
        let outer = tempfile::tempdir().unwrap();
        let root = outer.path().join("a/b/c/project");
        fs_err::create_dir_all(&root).unwrap();
        for depth in 0..4 {
            let mut folder = root.clone();
            for _ in 0..depth { folder.pop(); }
            fs_err::write(folder.join(name.rsplit('/').next().unwrap()), "OUTSIDE").unwrap();
        }
        let files = FileAccess::new(&root, &LoadSettings::default()).unwrap();
        let agent = root.join("agent.yaml");
        let _ = render(&source, &agent, &json!({"x": 1, "items": [1, 2]}), &files);
        let included = render(&format!("{{% include \"{name}\" %}}"), &agent, &json!({}), &files);
        prop_assert!(included.is_err(), "{:?}", included);
        let dynamic = render("{% include n %}", &agent, &json!({"n": name}), &files);
        prop_assert!(!dynamic.map(|text| text.contains("OUTSIDE")).unwrap_or(false));
    }

    /// The project loader: any `aigne.yaml` and agent text loads or fails with an error (no
    /// panic), and no file outside the project ever ends up in a loaded instruction.
    #[test]
    fn loader_never_panics_nor_escapes(
        project in "(name: p\n)?(agents:\n( {2}- [a-z./]{1,12}\n){0,3})?[a-z_]{0,8}(: [a-z0-9\\[\\]{}./]{0,12})?\n",
        agent in "(instructions:\n  - url: (\\.\\./)?[a-z]{1,6}\\.md\n)?(type: (ai|team|transform))?\n(skills: \\[\\.\\./x\\.yaml\\])?\n",
    ) {
        let outer = tempfile::tempdir().unwrap();
        let root = outer.path().join("project");
        fs_err::create_dir_all(&root).unwrap();
        fs_err::write(root.join("aigne.yaml"), format!("{project}agents:\n  - a.yaml\n")).unwrap();
        fs_err::write(root.join("a.yaml"), &agent).unwrap();
        fs_err::write(outer.path().join("x.yaml"), "instructions: OUTSIDE").unwrap();
        for name in ["a.md", "b.md", "abc.md"] {
            fs_err::write(outer.path().join(name), "OUTSIDE").unwrap();
        }
        if let Ok(loaded) = Project::load(&root) {
            let text = format!("{loaded:?}");
            prop_assert!(!text.contains("OUTSIDE"));
        }
    }

    /// The SSE parser: any body parses or reports a too-long line; an event written as
    /// `data: X\n\n` comes back as X.
    #[test]
    fn sse_parses_any_body_and_round_trips(body in any::<String>(), payloads in prop::collection::vec("[a-zA-Z0-9{}\"]{0,40}", 0..8)) {
        let _ = crate::http::sse::parse(&body).map(Iterator::count);
        let _ = crate::http::sse::ends_inside_an_event(&body);
        let stream: String = payloads.iter().map(|data| format!("data: {data}\n\n")).collect();
        let events = crate::http::sse::parse(&stream).unwrap();
        let data: Vec<String> = events.map(|event| event.unwrap().data).collect();
        prop_assert_eq!(data, payloads);
    }

    /// Tar extraction: any bytes, and archives with hostile entry names, either unpack inside
    /// the destination or fail; nothing is ever written next to it.
    #[test]
    fn tar_extraction_stays_inside(noise in prop::collection::vec(any::<u8>(), 0..2048), names in prop::collection::vec("(\\.\\./|/|[a-z]{1,4}/){0,3}[a-z]{1,6}", 1..5)) {
        let outer = tempfile::tempdir().unwrap();
        let destination = outer.path().join("out");
        fs_err::create_dir_all(&destination).unwrap();
        let _ = unpack(noise.as_slice(), &destination, ExtractLimits::default());
        let mut builder = tar::Builder::new(Vec::new());
        for name in &names {
            let mut header = tar::Header::new_gnu();
            header.set_size(3);
            header.set_mode(0o644);
            header.set_entry_type(tar::EntryType::Regular);
            // Raw name bytes: `Header::set_path` refuses `..` itself.
            let bytes = name.as_bytes();
            let field = &mut header.as_old_mut().name;
            let length = bytes.len().min(field.len());
            field[..length].copy_from_slice(&bytes[..length]);
            header.set_cksum();
            builder.append(&header, &b"abc"[..]).unwrap();
        }
        let archive = builder.into_inner().unwrap();
        let _ = unpack(archive.as_slice(), &destination, ExtractLimits::default());
        let outside: Vec<_> = fs_err::read_dir(outer.path())
            .unwrap()
            .flatten()
            .map(|entry| entry.file_name())
            .filter(|name| name != "out")
            .collect();
        prop_assert!(outside.is_empty(), "{:?}", outside);
    }
}
