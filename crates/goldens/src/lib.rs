//! Golden files for data-driven tests, the one way every crate's tests check them: a case's
//! rendered output is compared with a file under `testdata/`, and `UPDATE_EXPECT=1` rewrites
//! the file instead (review the diff before committing). A folder of cases runs as one test
//! that lists every differing case, not only the first.
//!
//! Only tests use this crate; it panics with the case's name, as an assertion does.

use std::path::{Path, PathBuf};

/// True when the run rewrites golden files (`UPDATE_EXPECT` is set).
pub fn updating() -> bool {
    std::env::var_os("UPDATE_EXPECT").is_some()
}

/// Compares `got` with the file at `path`. When they differ, the file is rewritten if
/// [`updating`], else the difference is returned as text naming the file.
pub fn compare(path: &Path, got: &str) -> Result<(), String> {
    let expected = std::fs::read_to_string(path).unwrap_or_default();
    if got == expected {
        return Ok(());
    }
    if updating() {
        std::fs::write(path, got)
            .unwrap_or_else(|error| panic!("{}: cannot rewrite: {error}", path.display()));
        return Ok(());
    }
    Err(format!(
        "{}\n--- expected\n{expected}--- got\n{got}",
        path.display()
    ))
}

/// Asserts that `got` equals the file at `path` (rewritten when [`updating`]), and returns
/// the file's text as it now stands.
pub fn assert_file(path: &Path, got: &str) -> String {
    if let Err(difference) = compare(path, got) {
        panic!("differs (UPDATE_EXPECT=1 rewrites): {difference}");
    }
    got.to_owned()
}

/// A case's name: its file name up to the first dot (`a.log.gz` → `a`), which names the
/// case's `.expected` file and any option files beside it.
pub fn case_name(path: &Path) -> String {
    let file_name = path.file_name().map(|name| name.to_string_lossy());
    let file_name = file_name.unwrap_or_default();
    file_name.split('.').next().unwrap_or_default().to_owned()
}

/// Runs every case in `folder` (files whose name `is_case` accepts, `.expected` files never):
/// `render` gives a case's output and whether it had any fault (a reject or an error). Every
/// case must have faults when `expect_faults` and none otherwise, and must render as its
/// `<case>.expected` file says.
pub fn run_folder(
    folder: &Path,
    expect_faults: bool,
    is_case: impl Fn(&str) -> bool,
    render: impl Fn(&Path) -> (String, bool),
) {
    let entries =
        std::fs::read_dir(folder).unwrap_or_else(|error| panic!("{}: {error}", folder.display()));
    let mut cases: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| {
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            !name.ends_with(".expected") && is_case(&name)
        })
        .collect();
    cases.sort();
    assert!(!cases.is_empty(), "no cases in {}", folder.display());
    let mut differences = Vec::new();
    for case in &cases {
        let (got, faulty) = render(case);
        assert_eq!(
            faulty,
            expect_faults,
            "{}: cases in {}/ must {}have rejects or errors:\n{got}",
            case.display(),
            folder.display(),
            if expect_faults { "" } else { "not " }
        );
        let expected_path = case.with_file_name(format!("{}.expected", case_name(case)));
        if let Err(difference) = compare(&expected_path, &got) {
            differences.push(difference);
        }
    }
    assert!(
        differences.is_empty(),
        "{} case(s) differ (UPDATE_EXPECT=1 rewrites):\n{}",
        differences.len(),
        differences.join("\n")
    );
}
