//! Property test: random records in a random format, written as text the way AWS writes them,
//! read back equal — values, absences, order — whether the format comes from a header line or
//! is given explicitly.

use std::net::IpAddr;

use flowatlas_flowlog::{EARLIEST_TIME, Entry, Field, Format, Kind, Options, Reader, Value};
use proptest::prelude::*;

#[derive(Clone, Debug, PartialEq)]
enum Generated {
    Absent,
    Int(i64),
    Ip(IpAddr),
    Text(String),
}

fn value_for(field: Field) -> BoxedStrategy<Generated> {
    let present = match field.kind() {
        Kind::Int { max } => (0..=max).prop_map(Generated::Int).boxed(),
        // Times the reader accepts: none before its earliest, no upper bound set.
        Kind::Timestamp => (EARLIEST_TIME..99_999_999_999)
            .prop_map(Generated::Int)
            .boxed(),
        Kind::Ip => any::<IpAddr>().prop_map(Generated::Ip).boxed(),
        Kind::Choice(words) => proptest::sample::select(words)
            .prop_map(|word| Generated::Text(word.to_string()))
            .boxed(),
        // Any text without separators that is not the absent marker itself, with characters
        // of two, three and four bytes among ASCII: a text value is read as a slice of its
        // line, checked to be UTF-8 once per line.
        Kind::Text => "[A-Za-z0-9:/_.%=+éü日本🙂-]{1,40}"
            .prop_filter("`-` is absent", |text| text != "-")
            .prop_map(Generated::Text)
            .boxed(),
    };
    prop_oneof![1 => Just(Generated::Absent), 6 => present].boxed()
}

fn format_and_records() -> impl Strategy<Value = (Vec<Field>, Vec<Vec<Generated>>)> {
    proptest::sample::subsequence(Field::ALL.to_vec(), 1..=Field::ALL.len())
        .prop_shuffle()
        .prop_flat_map(|fields| {
            let row: Vec<BoxedStrategy<Generated>> =
                fields.iter().map(|&field| value_for(field)).collect();
            (Just(fields), proptest::collection::vec(row, 1..20))
        })
}

fn render(value: &Generated) -> String {
    match value {
        Generated::Absent => "-".to_string(),
        Generated::Int(int) => int.to_string(),
        Generated::Ip(ip) => ip.to_string(),
        Generated::Text(text) => text.clone(),
    }
}

fn read_back(text: String, options: &Options) -> Vec<Vec<Generated>> {
    let mut reader = Reader::new(std::io::Cursor::new(text), options).unwrap();
    let mut records = Vec::new();
    while let Some(entry) = reader.next_entry().unwrap() {
        let Entry::Record(record) = entry else {
            panic!("rejected: {entry:?}");
        };
        records.push(
            record
                .values()
                .map(|(_, value)| match value {
                    Value::Absent => Generated::Absent,
                    Value::Int(int) => Generated::Int(int),
                    Value::Ip(ip) => Generated::Ip(ip),
                    Value::Text(text) => Generated::Text(text.to_string()),
                })
                .collect(),
        );
    }
    let counts = reader.counts();
    assert_eq!(counts.read, counts.ok + counts.skipped);
    assert_eq!(counts.rejected, 0);
    records
}

proptest! {
    #[test]
    fn records_survive_text((fields, records) in format_and_records()) {
        let body: String = records
            .iter()
            .map(|record| record.iter().map(render).collect::<Vec<_>>().join(" ") + "\n")
            .collect();
        let names: Vec<&str> = fields.iter().map(|field| field.aws_name()).collect();

        let with_header = format!("{}\n{body}", names.join(" "));
        prop_assert_eq!(&read_back(with_header, &Options::default()), &records);

        let explicit = Options {
            format: Some(Format::from_fields(fields.clone()).unwrap()),
            ..Options::default()
        };
        prop_assert_eq!(&read_back(body, &explicit), &records);
    }
}

proptest! {
    /// Any text given as `--format` ends in a format or an error (a `$` without `{` once
    /// looped forever).
    #[test]
    fn any_format_text_terminates(spec in "[${} a-z_-]{0,40}") {
        match Format::parse(&spec) {
            Ok(format) => prop_assert!(!format.fields().is_empty()),
            Err(error) => prop_assert!(!error.to_string().is_empty()),
        }
    }
}
