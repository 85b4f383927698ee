//! `flowatlas schema`: the tables' definitions, for Athena, for CloudFormation and for people.

use std::io::{self, Write};

use flowatlas_tables::catalog_tables;
use serde_json::{Value, json};

use crate::Outcome;

/// Print the catalog definitions of every table, generated from the same column lists the
/// Parquet writers use: Athena DDL (`CREATE EXTERNAL TABLE` with partition projection on `dt`
/// and `hour`), or the Glue database and tables as CloudFormation resources (YAML).
#[derive(clap::Args)]
pub struct Args {
    /// Which definitions to print.
    #[arg(long, value_enum, default_value = "athena")]
    ddl: Dialect,

    /// The Glue/Athena database.
    #[arg(long, default_value = "flowatlas")]
    database: String,

    /// Where the tables live: `<location>/<table>/dt=.../hour=...`. For CloudFormation it may
    /// use `${Parameter}` references (e.g. `s3://${DestinationBucketName}/${DestinationPrefix}`),
    /// which become `Fn::Sub`.
    #[arg(long, default_value = "s3://YOUR-BUCKET/flowatlas")]
    location: String,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Dialect {
    /// Athena (Hive) DDL.
    Athena,
    /// `AWS::Glue::Database` and `AWS::Glue::Table` resources, YAML.
    Cloudformation,
}

pub fn run(args: Args) -> anyhow::Result<Outcome> {
    let location = args.location.trim_end_matches('/');
    let mut out = io::stdout().lock();
    match args.ddl {
        Dialect::Athena => {
            for table in catalog_tables() {
                let table_location = format!("{location}/{}", table.name);
                writeln!(out, "{}", table.athena_ddl(&args.database, &table_location))?;
            }
        }
        Dialect::Cloudformation => {
            write!(out, "{}", cloudformation(&args.database, location))?;
        }
    }
    Ok(Outcome::Clean)
}

/// The Glue resources as YAML lines indented to sit under a template's `Resources:`.
fn cloudformation(database: &str, location: &str) -> String {
    let mut resources = vec![(
        "GlueDatabase".to_string(),
        "AWS::Glue::Database",
        json!({
            "CatalogId": {"Ref": "AWS::AccountId"},
            "DatabaseInput": {
                "Name": database,
                "Description": "flowatlas: internet traffic by ISP, city-network and client prefix, from VPC Flow Logs",
            },
        }),
    )];
    for table in catalog_tables() {
        let table_location = format!("{location}/{}", table.name);
        let mut input = table.glue_table_input(&table_location);
        substitute(&mut input);
        resources.push((
            format!("{}Table", camel_case(table.name)),
            "AWS::Glue::Table",
            json!({
                "CatalogId": {"Ref": "AWS::AccountId"},
                "DatabaseName": {"Ref": "GlueDatabase"},
                "TableInput": input,
            }),
        ));
    }
    let mut yaml = String::new();
    for (name, kind, properties) in resources {
        yaml.push_str(&format!("  {name}:\n    Type: {kind}\n    Properties:\n"));
        write_yaml(&mut yaml, &properties, 3);
    }
    yaml
}

/// Strings with `${Parameter}` references become `Fn::Sub`; the partition placeholders of
/// the projection template (`${dt}`, `${hour}`) are escaped so that `Fn::Sub` leaves them.
fn substitute(value: &mut Value) {
    match value {
        Value::String(text) if text.contains("${") => {
            let escaped = flowatlas_tables::PARTITION_KEYS
                .iter()
                .fold(text.clone(), |text, key| {
                    text.replace(&format!("${{{key}}}"), &format!("${{!{key}}}"))
                });
            if escaped.replace("${!", "").contains("${") {
                *value = json!({ "Fn::Sub": escaped });
            }
        }
        Value::Array(items) => items.iter_mut().for_each(substitute),
        Value::Object(map) => map.values_mut().for_each(substitute),
        _ => {}
    }
}

fn camel_case(snake: &str) -> String {
    snake
        .split('_')
        .map(|word| {
            let mut chars = word.chars();
            chars
                .next()
                .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// Block-style YAML; every string double-quoted (JSON escapes are valid YAML).
fn write_yaml(out: &mut String, value: &Value, depth: usize) {
    let indent = "  ".repeat(depth);
    match value {
        Value::Object(map) => {
            for (key, item) in map {
                match item {
                    Value::Object(inner) if !inner.is_empty() => {
                        out.push_str(&format!("{indent}{key}:\n"));
                        write_yaml(out, item, depth + 1);
                    }
                    Value::Array(items) if !items.is_empty() => {
                        out.push_str(&format!("{indent}{key}:\n"));
                        write_yaml(out, item, depth + 1);
                    }
                    scalar => out.push_str(&format!("{indent}{key}: {}\n", inline(scalar))),
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                match item {
                    Value::Object(map) if !map.is_empty() => {
                        let mut nested = String::new();
                        write_yaml(&mut nested, item, depth + 1);
                        // The first line of the mapping goes after the dash.
                        let nested =
                            nested.replacen(&format!("{indent}  "), &format!("{indent}- "), 1);
                        out.push_str(&nested);
                    }
                    scalar => out.push_str(&format!("{indent}- {}\n", inline(scalar))),
                }
            }
        }
        scalar => out.push_str(&format!("{indent}{}\n", inline(scalar))),
    }
}

fn inline(value: &Value) -> String {
    match value {
        Value::Object(map) if map.is_empty() => "{}".into(),
        Value::Array(items) if items.is_empty() => "[]".into(),
        other => other.to_string(),
    }
}
