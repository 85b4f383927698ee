//! House rules that used to hold only by hand, checked on every test run (ARCHITECTURE.md,
//! "House rules"). Each rule lists every offending place, so one run shows all there is to fix.

use std::fs;
use std::path::{Path, PathBuf};

/// The repository's root: this crate lives in `crates/testkit`.
fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Every file under `dir`, sorted (build output excluded).
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if !path.is_dir() {
                files.push(path);
            } else if path.file_name().is_some_and(|name| name != "target") {
                pending.push(path);
            }
        }
    }
    files.sort();
    files
}

/// A library source file: under some crate's `src/`, not a binary's entry point.
struct Source {
    /// Path from the repository's root, for messages.
    name: String,
    text: String,
    /// `src/main.rs` or `src/bin/`: a binary may print.
    binary: bool,
    /// The test-support crate, whose code runs only under tests.
    test_support: bool,
}

impl Source {
    /// The lines before the file's `#[cfg(test)]` module (by house style, the last item).
    fn shipped_lines(&self) -> impl Iterator<Item = (usize, &str)> {
        self.text
            .lines()
            .enumerate()
            .take_while(|(_, line)| line.trim() != "#[cfg(test)]")
            .map(|(index, line)| (index + 1, line))
    }
}

fn sources() -> Vec<Source> {
    let root = repo();
    let mut sources = Vec::new();
    for crate_dir in fs::read_dir(root.join("crates")).unwrap() {
        let crate_dir = crate_dir.unwrap().path();
        let src = crate_dir.join("src");
        if !src.is_dir() {
            continue;
        }
        let test_support = crate_dir.ends_with("testkit");
        // The CLI's whole source is the binary: argument parsing and output are its job.
        let cli = crate_dir.ends_with("cli");
        for path in files_under(&src)
            .into_iter()
            .filter(|path| path.extension().is_some_and(|ext| ext == "rs"))
        {
            let relative = path.strip_prefix(&src).unwrap();
            sources.push(Source {
                name: path.strip_prefix(&root).unwrap().display().to_string(),
                text: fs::read_to_string(&path).unwrap(),
                binary: cli || relative == Path::new("main.rs") || relative.starts_with("bin"),
                test_support,
            });
        }
    }
    assert!(sources.len() > 50, "found only {} sources", sources.len());
    sources
}

fn assert_none(rule: &str, offences: Vec<String>) {
    assert!(offences.is_empty(), "{rule}:\n  {}", offences.join("\n  "));
}

#[test]
fn every_module_opens_with_a_doc_comment_saying_why_it_exists() {
    let offences = sources()
        .into_iter()
        .filter(|source| !source.text.trim_start().starts_with("//!"))
        .map(|source| source.name)
        .collect();
    assert_none("modules without an opening `//!` comment", offences);
}

#[test]
fn only_binaries_print() {
    const PRINTS: [&str; 5] = ["println!", "eprintln!", "print!(", "eprint!(", "dbg!"];
    let mut offences = Vec::new();
    for source in sources().iter().filter(|source| !source.binary) {
        for (number, line) in source.shipped_lines() {
            let code = line.split("//").next().unwrap_or_default();
            if PRINTS.iter().any(|print| code.contains(print)) {
                offences.push(format!("{}:{number}: {}", source.name, line.trim()));
            }
        }
    }
    assert_none(
        "libraries print (log with `tracing`, or return the text to the binary)",
        offences,
    );
}

#[test]
fn shipped_code_does_not_unwrap_and_every_expect_names_its_invariant() {
    let mut offences = Vec::new();
    for source in sources().iter().filter(|source| !source.test_support) {
        for (number, line) in source.shipped_lines() {
            let code = line.split("//").next().unwrap_or_default();
            // An `expect` states why it cannot fail, in a literal a reader can check.
            let bare_expect = code.contains(".expect(") && !code.contains(".expect(\"");
            if code.contains(".unwrap()") || bare_expect {
                offences.push(format!("{}:{number}: {}", source.name, line.trim()));
            }
        }
    }
    assert_none(
        "`unwrap` or an unexplained `expect` outside tests (return an error, or `expect(\"why it holds\")`)",
        offences,
    );
}

/// The words of an identifier or a sentence, lowercased, without articles.
fn words(text: &str) -> Vec<String> {
    let mut spaced = String::new();
    let mut previous_lower = false;
    for c in text.chars() {
        if c.is_uppercase() && previous_lower {
            spaced.push(' ');
        }
        previous_lower = c.is_lowercase() || c.is_ascii_digit();
        spaced.push(c);
    }
    spaced
        .to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty() && !["the", "a", "an", "its", "this", "of"].contains(word))
        .map(str::to_string)
        .collect()
}

/// The name an item line declares: `fn name`, `struct Name`, a field `name:` or a variant.
fn declared_name(line: &str) -> Option<&str> {
    let line = line.trim();
    let line = line
        .strip_prefix("pub(crate) ")
        .or_else(|| line.strip_prefix("pub "))
        .unwrap_or(line);
    for keyword in [
        "fn ", "struct ", "enum ", "trait ", "type ", "const ", "static ", "mod ",
    ] {
        if let Some(rest) = line.strip_prefix(keyword) {
            return rest
                .split(|c: char| !(c.is_alphanumeric() || c == '_'))
                .next();
        }
    }
    let name = line
        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .next()?;
    let rest = line[name.len()..].trim_start();
    let field_or_variant = rest.starts_with(':')
        || rest.starts_with(',')
        || rest.starts_with('(')
        || rest.starts_with('{');
    (!name.is_empty() && field_or_variant).then_some(name)
}

#[test]
fn no_doc_comment_only_repeats_its_items_name() {
    let mut offences = Vec::new();
    for source in sources() {
        let lines: Vec<&str> = source.text.lines().collect();
        for (index, line) in lines.iter().enumerate() {
            let Some(doc) = line.trim().strip_prefix("///") else {
                continue;
            };
            let is_doc = |i: usize| lines.get(i).is_some_and(|l| l.trim().starts_with("///"));
            if (index > 0 && is_doc(index - 1)) || is_doc(index + 1) {
                continue;
            }
            let Some(name) = lines.get(index + 1).and_then(|next| declared_name(next)) else {
                continue;
            };
            let (doc_words, name_words) = (words(doc), words(name));
            let repeats = doc_words
                .iter()
                .all(|word| name_words.contains(word) || name_words.contains(&format!("{word}s")));
            if !doc_words.is_empty() && repeats {
                offences.push(format!("{}:{}: {}", source.name, index + 1, line.trim()));
            }
        }
    }
    assert_none(
        "doc comments that only repeat their item's name (say what it means, or what it is for)",
        offences,
    );
}

#[test]
fn nothing_reads_the_shared_reference_folder() {
    // The developers' reference material lives outside the repository and is absent from a
    // user's clone: a build or test that reads it works only on our machines.
    let root = repo();
    // Spelled in two parts so that this file does not name the folder itself.
    let needles = [format!("..{}", "/shared/"), format!("/work{}", "/shared")];
    let mut offences = Vec::new();
    for dir in ["crates", "infra", "benches", "testdata", ".ci"] {
        for path in files_under(&root.join(dir)) {
            let Ok(text) = fs::read_to_string(&path) else {
                continue;
            };
            if needles.iter().any(|needle| text.contains(needle.as_str())) {
                offences.push(path.strip_prefix(&root).unwrap().display().to_string());
            }
        }
    }
    assert_none("files that refer to ../shared", offences);
}
