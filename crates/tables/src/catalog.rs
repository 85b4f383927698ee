//! The tables as a catalog (Glue, Athena, Hive) sees them: columns with SQL types, Hive
//! partitions `dt` and `hour`, and partition projection. One definition renders both the
//! Athena DDL and the Glue `TableInput` of a CloudFormation template, so they cannot disagree
//! with each other or with the writer.

use serde_json::{Value, json};

use crate::{ColumnKind, SCHEMA_VERSION};

/// One table's catalog entry.
pub struct CatalogTable {
    /// Name, also the folder under the output location.
    pub name: &'static str,
    /// What a row is.
    pub doc: &'static str,
    /// Columns in order: name, type, meaning.
    pub columns: Vec<(&'static str, ColumnKind, &'static str)>,
}

/// The Hive partition columns, in order.
pub const PARTITION_KEYS: [&str; 2] = ["dt", "hour"];

impl CatalogTable {
    /// Table properties: partition projection on `dt` (days since 2020) and `hour` (00–23), so
    /// no crawler or `MSCK REPAIR` is needed; `location` is the table's folder.
    fn properties(location: &str) -> Vec<(&'static str, String)> {
        vec![
            ("projection.enabled", "true".into()),
            ("projection.dt.type", "date".into()),
            ("projection.dt.format", "yyyy-MM-dd".into()),
            ("projection.dt.range", "2020-01-01,NOW".into()),
            ("projection.dt.interval", "1".into()),
            ("projection.dt.interval.unit", "DAYS".into()),
            ("projection.hour.type", "integer".into()),
            ("projection.hour.range", "0,23".into()),
            ("projection.hour.digits", "2".into()),
            (
                "storage.location.template",
                format!("{location}/dt=${{dt}}/hour=${{hour}}/"),
            ),
            ("parquet.compression", "ZSTD".into()),
            ("flowatlas.schema_version", SCHEMA_VERSION.into()),
        ]
    }

    /// `CREATE EXTERNAL TABLE` for Athena (and Hive/Spark). `location` is the table's folder,
    /// e.g. `s3://bucket/flowatlas/city_networks`.
    pub fn athena_ddl(&self, database: &str, location: &str) -> String {
        let location = location.trim_end_matches('/');
        let quote = |text: &str| text.replace('\'', "''");
        let columns: Vec<String> = self
            .columns
            .iter()
            .map(|(column, kind, doc)| {
                format!(
                    "  `{column}` {} COMMENT '{}'",
                    kind.athena_type(),
                    quote(doc)
                )
            })
            .collect();
        let partitions: Vec<String> = PARTITION_KEYS
            .iter()
            .map(|key| format!("`{key}` string"))
            .collect();
        let properties: Vec<String> = CatalogTable::properties(location)
            .iter()
            .map(|(key, value)| format!("  '{key}' = '{}'", quote(value)))
            .collect();
        format!(
            "CREATE EXTERNAL TABLE IF NOT EXISTS `{database}`.`{name}` (\n{columns}\n)\n\
             COMMENT '{doc}'\nPARTITIONED BY ({partitions})\nSTORED AS PARQUET\n\
             LOCATION '{location}/'\nTBLPROPERTIES (\n{properties}\n);\n",
            name = self.name,
            columns = columns.join(",\n"),
            doc = quote(self.doc),
            partitions = partitions.join(", "),
            properties = properties.join(",\n"),
        )
    }

    /// The `TableInput` of an `AWS::Glue::Table`: the same columns, partitions and properties
    /// as [`CatalogTable::athena_ddl`].
    pub fn glue_table_input(&self, location: &str) -> Value {
        let location = location.trim_end_matches('/');
        let mut parameters = serde_json::Map::new();
        parameters.insert("EXTERNAL".into(), "TRUE".into());
        parameters.insert("classification".into(), "parquet".into());
        for (key, value) in CatalogTable::properties(location) {
            parameters.insert(key.into(), value.into());
        }
        json!({
            "Name": self.name,
            "Description": self.doc,
            "TableType": "EXTERNAL_TABLE",
            "Parameters": parameters,
            "PartitionKeys": PARTITION_KEYS
                .iter()
                .map(|key| json!({"Name": key, "Type": "string"}))
                .collect::<Vec<_>>(),
            "StorageDescriptor": {
                "Columns": self
                    .columns
                    .iter()
                    .map(|(name, kind, doc)| json!({"Name": name, "Type": kind.athena_type(), "Comment": doc}))
                    .collect::<Vec<_>>(),
                "Location": format!("{location}/"),
                "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
                "OutputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
                "SerdeInfo": {
                    "SerializationLibrary": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe",
                },
            },
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn ddl_and_glue_agree() {
        for table in crate::catalog_tables() {
            let location = format!("s3://bucket/prefix/{}", table.name);
            let ddl = table.athena_ddl("flowatlas", &location);
            let glue = table.glue_table_input(&location);
            let columns = glue["StorageDescriptor"]["Columns"].as_array().unwrap();
            assert_eq!(columns.len(), table.columns.len());
            for column in columns {
                let line = format!(
                    "`{}` {} ",
                    column["Name"].as_str().unwrap(),
                    column["Type"].as_str().unwrap()
                );
                assert!(
                    ddl.contains(&line),
                    "{line} not in the DDL of {}",
                    table.name
                );
            }
            for (key, value) in glue["Parameters"].as_object().unwrap() {
                if key != "EXTERNAL" && key != "classification" {
                    let property = format!("'{key}' = '{}'", value.as_str().unwrap());
                    assert!(
                        ddl.contains(&property),
                        "{property} not in the DDL of {}",
                        table.name
                    );
                }
            }
        }
    }
}
