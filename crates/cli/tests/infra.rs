//! `infra/template.yaml` agrees with the code and passes `cfn-lint` (PyPI).
//!
//! Two blocks of the template are generated: the Glue database and tables, by `flowatlas schema
//! --ddl cloudformation` from the writers' column lists, and the Athena named queries, from
//! `infra/athena/*.sql`. The test fails when either block differs from what the code and the
//! SQL files give today; `UPDATE_EXPECT=1` rewrites them (review the diff).

mod support;

use std::path::Path;
use std::process::Command;

use support::{flowatlas_ok, repo};

const TEMPLATE: &str = "infra/template.yaml";
/// Where the tables are, as the template's parameters name it.
const LOCATION: &str = "s3://${DestinationBucketName}/${DestinationPrefix}";

/// The text between a block's start marker line and its end marker line.
fn block_bounds(template: &str, title: &str) -> (usize, usize) {
    let start_marker = format!("  # --- generated: {title} (crates/cli/tests/infra.rs) ---\n");
    let start = template
        .find(&start_marker)
        .unwrap_or_else(|| panic!("{TEMPLATE} lacks the marker line {start_marker:?}"))
        + start_marker.len();
    let end = start
        + template[start..]
            .find("  # --- end generated ---\n")
            .expect("the block's end marker");
    (start, end)
}

fn named_queries() -> String {
    let folder = Path::new(&repo("infra/athena")).to_path_buf();
    let mut files: Vec<_> = std::fs::read_dir(&folder)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "sql"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|path| {
            let name = path.file_stem().unwrap().to_string_lossy();
            flowatlas_tables::named_query_resource(&name, &std::fs::read_to_string(path).unwrap())
        })
        .collect()
}

#[test]
fn generated_blocks_match_the_code() {
    let path = repo(TEMPLATE);
    let mut template = std::fs::read_to_string(&path).unwrap();
    let glue = String::from_utf8(flowatlas_ok(&[
        "schema",
        "--ddl",
        "cloudformation",
        "--location",
        LOCATION,
    ]))
    .unwrap();
    let blocks = [
        ("flowatlas schema --ddl cloudformation", glue),
        ("named queries from infra/athena/*.sql", named_queries()),
    ];
    let update = std::env::var_os("UPDATE_EXPECT").is_some();
    for (title, expected) in blocks {
        let (start, end) = block_bounds(&template, title);
        if template[start..end] != expected {
            assert!(
                update,
                "{TEMPLATE}: the block \"{title}\" differs from what the code gives; rerun with UPDATE_EXPECT=1 and review the diff"
            );
            template.replace_range(start..end, &expected);
        }
    }
    if update {
        std::fs::write(&path, template).unwrap();
    }
}

#[test]
fn glue_tables_are_the_athena_ddl() {
    // Each table of `--ddl athena` is a Glue table of the template, column for column.
    let ddl = String::from_utf8(flowatlas_ok(&["schema", "--ddl", "athena"])).unwrap();
    let template = std::fs::read_to_string(repo(TEMPLATE)).unwrap();
    let mut n_tables = 0;
    for statement in ddl.split("CREATE EXTERNAL TABLE").skip(1) {
        n_tables += 1;
        let name = statement.split('`').nth(3).unwrap();
        assert!(
            template.contains(&format!("        Name: \"{name}\"\n")),
            "{name}"
        );
        for line in statement.lines().filter(|line| line.starts_with("  `")) {
            let column = line.split('`').nth(1).unwrap();
            let sql_type = line.split_whitespace().nth(1).unwrap();
            let entry = format!("Name: \"{column}\"\n              Type: \"{sql_type}\"\n");
            assert!(
                template.contains(&entry),
                "{name}.{column} {sql_type} is not in {TEMPLATE}"
            );
        }
    }
    assert!(n_tables >= 3);
}

#[test]
fn template_passes_cfn_lint() {
    let output = Command::new("cfn-lint")
        .arg(repo(TEMPLATE))
        .output()
        .expect("cfn-lint (PyPI) must be installed: bash .ci/test installs it");
    assert!(
        output.status.success(),
        "cfn-lint:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
