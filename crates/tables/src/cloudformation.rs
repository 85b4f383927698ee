//! The tables and their saved queries as CloudFormation resources (YAML to sit under a
//! template's `Resources:`): the Glue database and tables from the catalog, and Athena named
//! queries. Rendered here, beside the catalog, so the template's generated blocks come from
//! the same definitions as the files.

use serde_json::{Value, json};

/// The Glue resources as YAML lines indented to sit under a template's `Resources:`.
pub fn glue_resources(database: &str, location: &str) -> String {
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
    for table in crate::catalog_tables() {
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
            let escaped = crate::PARTITION_KEYS
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

/// An `AWS::Athena::NamedQuery` resource (YAML under `Resources:`) for the query `sql` saved
/// as `<name>.sql`: its leading `--` comment lines are the description, and it runs in the
/// template's `GlueDatabase` and `AthenaWorkGroup`.
pub fn named_query_resource(name: &str, sql: &str) -> String {
    let description: String = sql
        .lines()
        .take_while(|line| line.starts_with("--"))
        .map(|line| line.trim_start_matches('-').trim())
        .collect::<Vec<_>>()
        .join(" ");
    let mut yaml = format!(
        "  {}Query:\n    Type: AWS::Athena::NamedQuery\n    Properties:\n      \
         Name: \"flowatlas {name}\"\n      Description: {description:?}\n      \
         Database: !Ref GlueDatabase\n      WorkGroup: !Ref AthenaWorkGroup\n      \
         QueryString: |\n",
        camel_case(name)
    );
    for line in sql.trim_end().lines() {
        if line.is_empty() {
            yaml.push('\n');
        } else {
            yaml.push_str(&format!("        {line}\n"));
        }
    }
    yaml
}
