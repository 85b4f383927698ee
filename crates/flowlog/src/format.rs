//! Log formats: which fields a record holds, in which order.

use std::fmt;

use crate::field::{Field, Kind, N_FIELDS};

/// The fields of a flow log's records, in order. Built from an explicit format string, from a
/// header line, from Parquet column names, or the version 2 default.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Format {
    fields: Vec<Field>,
    /// Each field's kind, looked up once because typing a record needs them all.
    kinds: Vec<Kind>,
    /// Position of each catalogue field in `fields`, `NOT_PRESENT` when absent.
    positions: [u8; N_FIELDS],
}

const NOT_PRESENT: u8 = u8::MAX;

/// Why a format could not be built.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FormatError {
    /// The format names no field.
    #[error("the format names no field")]
    Empty,
    /// Names that are not flow-log fields.
    #[error("unknown field name{} {}", if .0.len() == 1 { "" } else { "s" }, quoted_list(.0))]
    UnknownFields(Vec<String>),
    /// A field named twice.
    #[error("field `{0}` appears more than once")]
    Duplicate(Field),
    /// A `${` without its `}`.
    #[error("unclosed `${{` in format near {0:?}")]
    Unclosed(String),
}

fn quoted_list(names: &[String]) -> String {
    names
        .iter()
        .map(|name| format!("`{name}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Format {
    /// Builds a format from fields in order.
    pub fn from_fields(fields: Vec<Field>) -> Result<Format, FormatError> {
        if fields.is_empty() {
            return Err(FormatError::Empty);
        }
        let mut positions = [NOT_PRESENT; N_FIELDS];
        for (position, &field) in fields.iter().enumerate() {
            if positions[field as usize] != NOT_PRESENT {
                return Err(FormatError::Duplicate(field));
            }
            // The catalogue has fewer than 255 fields and duplicates are refused, so this fits.
            positions[field as usize] = position as u8;
        }
        let kinds = fields.iter().map(|field| field.kind()).collect();
        Ok(Format {
            fields,
            kinds,
            positions,
        })
    }

    /// The default format of VPC flow logs: the 14 version 2 fields.
    pub fn default_v2() -> Format {
        let fields = Field::ALL
            .iter()
            .copied()
            .filter(|field| field.version() == 2)
            .collect();
        Format::from_fields(fields).expect("the catalogue's v2 fields are distinct")
    }

    /// Parses a format in AWS's `${field} ${field}` syntax or as plain field names separated by
    /// spaces. Field names may use `-` (AWS) or `_` (Parquet columns).
    pub fn parse(spec: &str) -> Result<Format, FormatError> {
        let mut names = Vec::new();
        let mut rest = spec.trim();
        while !rest.is_empty() {
            if let Some(after) = rest.strip_prefix("${") {
                let Some(close) = after.find('}') else {
                    return Err(FormatError::Unclosed(rest.chars().take(40).collect()));
                };
                names.push(after[..close].trim());
                rest = after[close + 1..].trim_start();
            } else {
                // A `$` not followed by `{` stays in the name, which is then reported as unknown.
                let end = rest
                    .char_indices()
                    .skip(1)
                    .find(|&(_, c)| c.is_whitespace() || c == '$')
                    .map_or(rest.len(), |(idx, _)| idx);
                names.push(&rest[..end]);
                rest = rest[end..].trim_start();
            }
        }
        Format::from_names(names)
    }

    /// Builds a format from field names, reporting every unknown name at once.
    pub fn from_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Format, FormatError> {
        let mut fields = Vec::new();
        let mut unknown = Vec::new();
        for name in names {
            match Field::from_name(name) {
                Some(field) => fields.push(field),
                None => unknown.push(name.to_string()),
            }
        }
        if !unknown.is_empty() {
            return Err(FormatError::UnknownFields(unknown));
        }
        Format::from_fields(fields)
    }

    /// The fields in record order.
    pub fn fields(&self) -> &[Field] {
        &self.fields
    }

    /// The kinds of the fields, in record order.
    pub(crate) fn kinds(&self) -> &[Kind] {
        &self.kinds
    }

    /// Where `field` sits in a record, if the format has it.
    #[inline]
    pub fn position(&self, field: Field) -> Option<usize> {
        match self.positions[field as usize] {
            NOT_PRESENT => None,
            position => Some(usize::from(position)),
        }
    }

    /// The highest version among the fields, which is what AWS writes in `version`.
    pub fn version(&self) -> u8 {
        self.fields
            .iter()
            .map(|field| field.version())
            .max()
            .unwrap_or(2)
    }
}

impl fmt::Display for Format {
    /// Writes the format in AWS's `${field}` syntax.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (idx, field) in self.fields.iter().enumerate() {
            if idx > 0 {
                f.write_str(" ")?;
            }
            write!(f, "${{{}}}", field.aws_name())?;
        }
        Ok(())
    }
}

/// True when a line is shaped like a header: every token looks like a field name and at least
/// one is a known field. Data lines hold numbers, addresses, upper-case words or IDs, so they do
/// not pass; an unknown name in a real header is then reported, not taken for data.
pub(crate) fn looks_like_header(tokens: &[&str]) -> bool {
    let name_shaped = |token: &str| {
        let bytes = token.as_bytes();
        bytes.first().is_some_and(u8::is_ascii_lowercase)
            && bytes
                .iter()
                .all(|&b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
    };
    tokens.iter().all(|token| name_shaped(token))
        && tokens.iter().any(|token| Field::from_name(token).is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_format_is_the_v2_fields_in_aws_order() {
        let names: Vec<&str> = Format::default_v2()
            .fields()
            .iter()
            .map(|field| field.aws_name())
            .collect();
        assert_eq!(
            names.join(" "),
            "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status"
        );
    }

    #[test]
    fn aws_and_plain_syntax_agree() {
        let aws = Format::parse("${version} ${pkt-srcaddr}  ${flow-direction}").unwrap();
        let plain = Format::parse("version pkt_srcaddr flow-direction").unwrap();
        assert_eq!(aws, plain);
        assert_eq!(
            aws.to_string(),
            "${version} ${pkt-srcaddr} ${flow-direction}"
        );
        assert_eq!(aws.version(), 5);
        assert_eq!(aws.position(Field::FlowDirection), Some(2));
        assert_eq!(aws.position(Field::Srcaddr), None);
        // AWS writes formats without spaces between tokens too.
        assert_eq!(
            Format::parse("${version}${pkt-srcaddr} ${flow-direction}").unwrap(),
            aws
        );
    }

    #[test]
    fn bad_formats_are_named() {
        assert_eq!(
            Format::parse("${version} ${srcadr} bogus")
                .unwrap_err()
                .to_string(),
            "unknown field names `srcadr`, `bogus`"
        );
        assert_eq!(
            Format::parse("srcaddr srcaddr").unwrap_err(),
            FormatError::Duplicate(Field::Srcaddr)
        );
        assert_eq!(Format::parse("  ").unwrap_err(), FormatError::Empty);
        assert!(matches!(
            Format::parse("${version} ${srcaddr"),
            Err(FormatError::Unclosed(_))
        ));
        // A `$` without `{` must not loop: it is part of an unknown name.
        assert_eq!(
            Format::parse("$version $srcaddr").unwrap_err().to_string(),
            "unknown field names `$version`, `$srcaddr`"
        );
        assert!(Format::parse("$").is_err());
        assert!(Format::parse("version$").is_err());
    }

    #[test]
    fn header_shape() {
        assert!(looks_like_header(&["version", "account-id", "bogus-field"]));
        assert!(looks_like_header(&["account_id", "srcaddr"]));
        assert!(!looks_like_header(&["2", "123456789010", "eni-1"]));
        assert!(!looks_like_header(&["eni-1235b8ca", "vpc-abc"]));
        assert!(!looks_like_header(&["ACCEPT", "OK"]));
    }
}
