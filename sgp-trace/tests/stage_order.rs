//! The runtime's stages import one way: each module of `src/` may use the stages above it
//! in [`STAGES`], never one below, so a newcomer can read the crate from the top and change
//! a stage without reading those after it. Paths into the crate go through a stage
//! (`crate::model::SpanItem`), not through the re-exports of `lib.rs`, so this check sees
//! every import.

use std::fs;
use std::path::{Path, PathBuf};

/// The stages, earliest first; `lib.rs` stands above them all.
const STAGES: [&str; 9] = [
    "diag", "json", "model", "stats", "queue", "export", "config", "runtime", "record",
];

#[test]
fn every_import_runs_from_a_later_stage_to_an_earlier_one() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut violations = Vec::new();
    for file in rust_files(&src) {
        let relative = file
            .strip_prefix(&src)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        if relative == "lib.rs" {
            continue;
        }
        let stage = stage_of(&relative);
        let own = stage_index(stage).unwrap_or_else(|| {
            panic!("{relative}: `{stage}` is not a stage; add it to STAGES in its place")
        });
        let code = without_comments(&fs::read_to_string(&file).unwrap());
        for used in crate_paths(&code) {
            match stage_index(&used) {
                Some(other) if other <= own => {}
                Some(_) => violations.push(format!("{relative} ({stage}) uses the later stage `{used}`")),
                None => violations.push(format!(
                    "{relative} uses `crate::{used}`: import it through its stage, not the crate root"
                )),
            }
        }
    }
    assert!(violations.is_empty(), "{}", violations.join("\n"));
}

#[test]
fn the_check_sees_grouped_nested_and_inline_paths() {
    let code = "use crate::{model::{Id, SpanItem}, queue};\nlet x = crate::stats::COUNTERS;";
    assert_eq!(crate_paths(code), ["model", "queue", "stats"]);
    assert_eq!(
        crate_paths(&without_comments("// crate::record\nuse crate::json;")),
        ["json"]
    );
    assert_eq!(crate_paths("use crate::Config;"), ["Config"]);
}

fn stage_of(relative: &str) -> &str {
    let first = relative.split('/').next().unwrap();
    first.strip_suffix(".rs").unwrap_or(first)
}

fn stage_index(name: &str) -> Option<usize> {
    STAGES.iter().position(|stage| *stage == name)
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            files.push(path);
        }
    }
    files.sort();
    files
}

/// The code without `//` comments, doc comments included: their links name paths too, and
/// a link is no import.
fn without_comments(code: &str) -> String {
    code.lines()
        .map(|line| line.find("//").map_or(line, |at| &line[..at]))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The first segment of every `crate::` path in `code`, in `use crate::{a::.., b}` groups too.
fn crate_paths(code: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        let preceded_by_ident = rest[..at]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || c == '_');
        rest = &rest[at + "crate::".len()..];
        if preceded_by_ident {
            continue;
        }
        if let Some(group) = rest.strip_prefix('{') {
            let end = closing_brace(group);
            found.extend(top_level_names(&group[..end]));
            rest = &group[end..];
        } else {
            found.push(identifier(rest).to_owned());
        }
    }
    found.sort();
    found.dedup();
    found
}

fn identifier(text: &str) -> &str {
    let end = text
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(text.len());
    &text[..end]
}

/// Where the group that `text` opens (its `{` already taken) closes.
fn closing_brace(text: &str) -> usize {
    let mut depth = 0;
    for (at, c) in text.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => return at,
            '}' => depth -= 1,
            _ => {}
        }
    }
    text.len()
}

/// The first segment of each path of a `use` group: `model::{Id, SpanItem}, queue` gives
/// `model` and `queue`.
fn top_level_names(group: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut depth = 0;
    let mut start = true;
    for (at, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => start = true,
            c if start && depth == 0 && !c.is_whitespace() => {
                names.push(identifier(&group[at..]).to_owned());
                start = false;
            }
            _ => {}
        }
    }
    names
}
