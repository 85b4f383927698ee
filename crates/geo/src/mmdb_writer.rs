//! Writes MaxMind DB (`.mmdb`) files from a readable JSON source, for test and demo databases
//! that cover exactly the addresses they use. Output is deterministic: the same source always
//! gives the same bytes.
//!
//! The source is one JSON object:
//!
//! ```json
//! {"database_type": "GeoLite2-ASN", "ip_version": 6, "build_epoch": 1780000000,
//!  "languages": ["en"], "description": {"en": "test"},
//!  "types": {"metro_code": "uint16"},
//!  "networks": [{"network": "1.2.3.0/24", "data": {"autonomous_system_number": 64500}}]}
//! ```
//!
//! JSON integers are written as `uint32` (`uint64` when larger, `int32` when negative) unless
//! `types` names another type for that key (`uint16`, `uint32`, `uint64`, `int32`, `double`);
//! `metro_code` and `accuracy_radius` default to `uint16` as in MaxMind's databases. Floats are
//! `double`. Nested networks are allowed: the more specific one wins inside it.

use std::collections::BTreeMap;
use std::net::IpAddr;

use ipnetwork::IpNetwork;
use serde::Deserialize;
use serde_json::Value;

/// Why a source could not be written as a database.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The source is not the expected JSON.
    #[error("source: {0}")]
    Json(#[from] serde_json::Error),
    /// A network that cannot be parsed or placed.
    #[error("network {network:?}: {why}")]
    Network {
        /// The network as written.
        network: String,
        /// What is wrong with it.
        why: String,
    },
    /// A value the format cannot hold.
    #[error("key `{key}`: {why}")]
    Value {
        /// The map key under which the value sits.
        key: String,
        /// What is wrong with it.
        why: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Source {
    database_type: String,
    ip_version: u16,
    build_epoch: u64,
    #[serde(default)]
    languages: Vec<String>,
    #[serde(default)]
    description: BTreeMap<String, String>,
    #[serde(default)]
    types: BTreeMap<String, String>,
    networks: Vec<SourceNetwork>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SourceNetwork {
    network: String,
    data: Value,
}

/// A record of the search tree: empty, another node, or data at an offset of the data section.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Child {
    Empty,
    Node(u32),
    Data(u32),
}

const RECORD_SIZE_BITS: u16 = 32;
/// The largest size a control byte can say (65,821 + 2^24 - 1).
const MAX_ENCODED_SIZE: usize = 65_821 + 0xFF_FFFF;
const METADATA_MARKER: &[u8] = b"\xAB\xCD\xEFMaxMind.com";

/// Builds a database from its JSON source.
pub fn write_mmdb(source_json: &str) -> Result<Vec<u8>, WriteError> {
    let source: Source = serde_json::from_str(source_json)?;
    if source.ip_version != 4 && source.ip_version != 6 {
        return Err(WriteError::Value {
            key: "ip_version".to_string(),
            why: format!("{} is not 4 or 6", source.ip_version),
        });
    }

    let mut placed: Vec<(u8, u128, &Value)> = Vec::new();
    for entry in &source.networks {
        let bad = |why: &str| WriteError::Network {
            network: entry.network.clone(),
            why: why.to_string(),
        };
        let network: IpNetwork = entry
            .network
            .parse()
            .map_err(|_| bad("not a CIDR network"))?;
        let (bits, prefix) = match (network.ip(), source.ip_version) {
            // Keys are aligned to the top bit, so an IPv4 tree uses the first 32 bits.
            (IpAddr::V4(v4), 4) => (u128::from(u32::from(v4)) << 96, network.prefix()),
            // IPv4 networks live under ::/96 in an IPv6 tree.
            (IpAddr::V4(v4), _) => (u128::from(u32::from(v4)), network.prefix() + 96),
            (IpAddr::V6(_), 4) => return Err(bad("IPv6 network in an IPv4 database")),
            (IpAddr::V6(v6), _) => (u128::from(v6), network.prefix()),
        };
        if prefix == 0 {
            return Err(bad("a /0 network would cover everything"));
        }
        placed.push((prefix, bits, &entry.data));
    }
    // Shorter networks first, so a nested, longer one is carved out of its parent.
    placed.sort_by_key(|&(prefix, key, _)| (prefix, key));
    if let Some(pair) = placed
        .windows(2)
        .find(|pair| (pair[0].0, pair[0].1) == (pair[1].0, pair[1].1))
    {
        return Err(WriteError::Network {
            network: format!(
                "{} in the tree's bit order, prefix {}",
                pair[0].1, pair[0].0
            ),
            why: "listed twice".to_string(),
        });
    }

    let mut data = Vec::new();
    let mut offsets: BTreeMap<String, u32> = BTreeMap::new();
    let mut nodes: Vec<[Child; 2]> = vec![[Child::Empty; 2]];
    for (prefix, key, value) in placed {
        let canonical = value.to_string();
        let offset = match offsets.get(&canonical) {
            Some(&offset) => offset,
            None => {
                let offset = u32::try_from(data.len()).map_err(|_| WriteError::Value {
                    key: "networks".to_string(),
                    why: "the data section is too large for 32-bit records".to_string(),
                })?;
                encode(&mut data, value, None, &source.types)?;
                offsets.insert(canonical, offset);
                offset
            }
        };
        insert(&mut nodes, key, prefix, offset);
    }

    // Records are 32 bits: node count, the 16-byte separator and data offsets must all fit.
    let too_big = || WriteError::Value {
        key: "networks".to_string(),
        why: "the database is too large for 32-bit records".to_string(),
    };
    let node_count = u32::try_from(nodes.len()).map_err(|_| too_big())?;
    u32::try_from(data.len())
        .ok()
        .and_then(|len| len.checked_add(node_count)?.checked_add(16))
        .ok_or_else(too_big)?;
    let mut out = Vec::with_capacity(nodes.len() * 8 + data.len() + 256);
    for node in &nodes {
        for child in node {
            let record = match *child {
                Child::Empty => node_count,
                Child::Node(idx) => idx,
                Child::Data(offset) => node_count + 16 + offset,
            };
            out.extend_from_slice(&record.to_be_bytes());
        }
    }
    out.extend_from_slice(&[0u8; 16]);
    out.extend_from_slice(&data);
    out.extend_from_slice(METADATA_MARKER);
    let metadata = serde_json::json!({
        "binary_format_major_version": 2,
        "binary_format_minor_version": 0,
        "build_epoch": source.build_epoch,
        "database_type": source.database_type,
        "description": source.description,
        "ip_version": source.ip_version,
        "languages": source.languages,
        "node_count": node_count,
        "record_size": RECORD_SIZE_BITS,
    });
    let metadata_types: BTreeMap<String, String> = [
        ("binary_format_major_version", "uint16"),
        ("binary_format_minor_version", "uint16"),
        ("build_epoch", "uint64"),
        ("ip_version", "uint16"),
        ("node_count", "uint32"),
        ("record_size", "uint16"),
    ]
    .into_iter()
    .map(|(key, kind)| (key.to_string(), kind.to_string()))
    .collect();
    encode(&mut out, &metadata, None, &metadata_types)?;
    Ok(out)
}

/// Places `offset` at the network `key/prefix`, splitting any shorter network's leaf on the way.
fn insert(nodes: &mut Vec<[Child; 2]>, key: u128, prefix: u8, offset: u32) {
    let mut node = 0usize;
    for depth in 0..prefix {
        let bit = ((key >> (127 - depth)) & 1) as usize;
        if depth + 1 == prefix {
            nodes[node][bit] = Child::Data(offset);
            return;
        }
        node = match nodes[node][bit] {
            Child::Node(next) => next as usize,
            inherited => {
                // Empty, or a shorter network's data that both halves keep below the split.
                let next = nodes.len();
                nodes.push([inherited; 2]);
                nodes[node][bit] = Child::Node(next as u32);
                next
            }
        };
    }
}

fn control(out: &mut Vec<u8>, type_num: u8, size: usize) {
    let (size_bits, extra): (u8, Vec<u8>) = match size {
        0..=28 => (size as u8, Vec::new()),
        29..=284 => (29, vec![(size - 29) as u8]),
        285..=65_820 => (30, ((size - 285) as u16).to_be_bytes().to_vec()),
        // Larger sizes do not occur: strings and maps that big are refused by `encode`.
        _ => (
            31,
            ((size - 65_821).min(0xFF_FFFF) as u32).to_be_bytes()[1..].to_vec(),
        ),
    };
    if type_num <= 7 {
        out.push((type_num << 5) | size_bits);
    } else {
        out.push(size_bits);
        out.push(type_num - 7);
    }
    out.extend_from_slice(&extra);
}

fn encode_uint(out: &mut Vec<u8>, type_num: u8, value: u64) {
    let bytes = value.to_be_bytes();
    let skip = bytes.iter().take_while(|&&byte| byte == 0).count();
    control(out, type_num, 8 - skip);
    out.extend_from_slice(&bytes[skip..]);
}

fn encode(
    out: &mut Vec<u8>,
    value: &Value,
    key: Option<&str>,
    types: &BTreeMap<String, String>,
) -> Result<(), WriteError> {
    let key_name = key.unwrap_or("");
    let bad = |why: String| WriteError::Value {
        key: key_name.to_string(),
        why,
    };
    match value {
        Value::Null => return Err(bad("null cannot be stored; leave the key out".into())),
        Value::Bool(flag) => control(out, 14, usize::from(*flag)),
        Value::String(text) if text.len() >= MAX_ENCODED_SIZE => {
            return Err(bad(format!("a string of {} bytes is too long", text.len())));
        }
        Value::Array(items) if items.len() >= MAX_ENCODED_SIZE => {
            return Err(bad(format!(
                "an array of {} items is too long",
                items.len()
            )));
        }
        Value::Object(map) if map.len() >= MAX_ENCODED_SIZE => {
            return Err(bad(format!("a map of {} keys is too long", map.len())));
        }
        Value::String(text) => {
            control(out, 2, text.len());
            out.extend_from_slice(text.as_bytes());
        }
        Value::Array(items) => {
            control(out, 11, items.len());
            for item in items {
                encode(out, item, key, types)?;
            }
        }
        Value::Object(map) => {
            control(out, 7, map.len());
            for (name, item) in map {
                control(out, 2, name.len());
                out.extend_from_slice(name.as_bytes());
                encode(out, item, Some(name), types)?;
            }
        }
        Value::Number(number) => {
            let default_kind = match key_name {
                "metro_code" | "accuracy_radius" => "uint16",
                _ if number.is_f64() => "double",
                _ if number.as_i64().is_some_and(|int| int < 0) => "int32",
                _ if number.as_u64().is_some_and(|int| int > u64::from(u32::MAX)) => "uint64",
                _ => "uint32",
            };
            let kind = types.get(key_name).map_or(default_kind, String::as_str);
            let unsigned = || {
                number
                    .as_u64()
                    .ok_or_else(|| bad(format!("{number} is not an unsigned integer")))
            };
            match kind {
                "uint16" => {
                    let int = unsigned()?;
                    u16::try_from(int).map_err(|_| bad(format!("{int} does not fit uint16")))?;
                    encode_uint(out, 5, int);
                }
                "uint32" => {
                    let int = unsigned()?;
                    u32::try_from(int).map_err(|_| bad(format!("{int} does not fit uint32")))?;
                    encode_uint(out, 6, int);
                }
                "uint64" => encode_uint(out, 9, unsigned()?),
                "int32" => {
                    let int = number
                        .as_i64()
                        .and_then(|int| i32::try_from(int).ok())
                        .ok_or_else(|| bad(format!("{number} does not fit int32")))?;
                    control(out, 8, 4);
                    out.extend_from_slice(&int.to_be_bytes());
                }
                "double" => {
                    let float = number
                        .as_f64()
                        .ok_or_else(|| bad(format!("{number} is not a number")))?;
                    control(out, 3, 8);
                    out.extend_from_slice(&float.to_be_bytes());
                }
                other => return Err(bad(format!("unknown type {other:?}"))),
            }
        }
    }
    Ok(())
}
