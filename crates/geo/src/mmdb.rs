//! Reading any vendor's mmdb file: MaxMind GeoIP2/GeoLite2 (City, Country, ASN, ISP), DB-IP,
//! IPinfo Lite and ip-location-db. One permissive record shape covers them all; what a file
//! provides is found at start-up from its metadata and a sample of its records.

use std::collections::BTreeSet;
use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ipnetwork::IpNetwork;
use maxminddb::{Mmap, Reader, WithinOptions};
use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};

/// What one database said about an address's network. Absent values stay `None`, never 0 or "".
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Facts {
    /// Autonomous system number.
    pub asn: Option<u32>,
    /// Autonomous system (or ISP) name.
    pub as_name: Option<Arc<str>>,
    /// ISO 3166-1 alpha-2 code of the country where the address is located.
    pub country_code: Option<Arc<str>>,
    /// English name of that country.
    pub country: Option<Arc<str>>,
    /// ISO 3166-2 code of the first (largest) subdivision, without the country prefix.
    pub subdivision_code: Option<Arc<str>>,
    /// English name of the first subdivision (a state, for most countries).
    pub subdivision: Option<Arc<str>>,
    /// English city name.
    pub city: Option<Arc<str>>,
    /// US metro (DMA) code.
    pub metro_code: Option<i32>,
    /// Latitude of the location.
    pub latitude: Option<f64>,
    /// Longitude of the location.
    pub longitude: Option<f64>,
    /// Postal code as the database spells it (only some countries have them).
    pub postal_code: Option<Arc<str>>,
    /// GeoNames id of the most specific place known (city, else first subdivision, else
    /// country), where the database has one (MaxMind and DB-IP do). Stable across database
    /// releases and spellings, so it identifies the place better than its names.
    pub geoname_id: Option<u32>,
}

impl Eq for Facts {}

impl std::hash::Hash for Facts {
    /// Coordinates hash by their bits, so facts can key a map (equal facts, equal bits).
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.asn.hash(state);
        self.as_name.hash(state);
        self.country_code.hash(state);
        self.country.hash(state);
        self.subdivision_code.hash(state);
        self.subdivision.hash(state);
        self.city.hash(state);
        self.metro_code.hash(state);
        self.latitude.map(f64::to_bits).hash(state);
        self.longitude.map(f64::to_bits).hash(state);
        self.postal_code.hash(state);
        self.geoname_id.hash(state);
    }
}

impl Facts {
    fn has_asn(&self) -> bool {
        self.asn.is_some() || self.as_name.is_some()
    }

    fn has_place(&self) -> bool {
        self.country_code.is_some()
            || self.country.is_some()
            || self.city.is_some()
            || self.latitude.is_some()
    }
}

/// What a database can answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Provides {
    /// ASN or AS name.
    pub asn: bool,
    /// Country, city or coordinates.
    pub place: bool,
}

/// Why a database could not be used.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The file cannot be opened or is not an mmdb file.
    #[error("{path}: {source}")]
    Open {
        /// The file.
        path: PathBuf,
        /// What the reader said.
        source: maxminddb::MaxMindDbError,
    },
    /// The records hold nothing flowatlas knows how to read.
    #[error(
        "{path}: database type {database_type:?} has records with keys {keys}, which hold neither an ASN nor a location flowatlas can read"
    )]
    UnknownLayout {
        /// The file.
        path: PathBuf,
        /// The metadata's `database_type`.
        database_type: String,
        /// Keys seen in sampled records.
        keys: String,
    },
    /// The database holds no record at all.
    #[error("{path}: database type {database_type:?} holds no records")]
    Empty {
        /// The file.
        path: PathBuf,
        /// The metadata's `database_type`.
        database_type: String,
    },
}

/// An open, memory-mapped database. Lookups take `&self`, so one can be shared across threads.
pub struct Database {
    path: PathBuf,
    reader: Reader<Mmap>,
    provides: Provides,
}

/// A lookup's answer: the network the address fell in (also when nothing was found there), and
/// where the data sits, which identifies it for caching.
pub struct Hit {
    /// The matched network.
    pub network: IpNetwork,
    /// Offset of the record in the data section; `None` when the address is in no network.
    pub data_offset: Option<usize>,
}

const SAMPLED_RECORDS: usize = 64;

impl Database {
    /// Opens and maps a database, then decides from sampled records what it provides.
    pub fn open(path: &Path) -> Result<Database, DbError> {
        let open_error = |source| DbError::Open {
            path: path.to_path_buf(),
            source,
        };
        let reader = map(path).map_err(open_error)?;
        let database_type = reader.metadata().database_type.clone();
        let mut provides = Provides {
            asn: false,
            place: false,
        };
        let mut keys = BTreeSet::new();
        let mut n_sampled = 0;
        let networks = reader
            .networks(WithinOptions::default())
            .map_err(open_error)?;
        for item in networks.take(SAMPLED_RECORDS) {
            let item = item.map_err(open_error)?;
            if let Some(map) = item
                .decode::<std::collections::BTreeMap<String, IgnoredAny>>()
                .ok()
                .flatten()
            {
                keys.extend(map.into_keys());
            }
            if let Ok(Some(record)) = item.decode::<RawRecord>() {
                let facts = record.into_facts();
                provides.asn |= facts.has_asn();
                provides.place |= facts.has_place();
            }
            n_sampled += 1;
        }
        if n_sampled == 0 {
            return Err(DbError::Empty {
                path: path.to_path_buf(),
                database_type,
            });
        }
        if !provides.asn && !provides.place {
            return Err(DbError::UnknownLayout {
                path: path.to_path_buf(),
                database_type,
                keys: keys.into_iter().collect::<Vec<_>>().join(", "),
            });
        }
        Ok(Database {
            path: path.to_path_buf(),
            reader,
            provides,
        })
    }

    /// The file it was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What it can answer.
    pub fn provides(&self) -> Provides {
        self.provides
    }

    /// The metadata's `database_type`, e.g. `GeoLite2-City`.
    pub fn database_type(&self) -> &str {
        &self.reader.metadata().database_type
    }

    /// When the database was built, in Unix seconds.
    pub fn build_epoch(&self) -> u64 {
        self.reader.metadata().build_epoch
    }

    /// Finds the network of an address. An IPv6 address in an IPv4-only file is in no network.
    pub fn find(&self, ip: IpAddr) -> Option<Hit> {
        if ip.is_ipv6() && self.reader.metadata().ip_version == 4 {
            return None;
        }
        let result = self.reader.lookup(ip).ok()?;
        let mut network = result.network().ok()?;
        if network.is_ipv4() != ip.is_ipv4() {
            // An IPv4 address that fell in an empty IPv6 network: no IPv4 address is in this
            // database, and the whole IPv4 space shares that answer.
            network = IpNetwork::new(IpAddr::from([0u8, 0, 0, 0]), 0).ok()?;
        }
        Some(Hit {
            network,
            data_offset: result.offset(),
        })
    }

    /// Decodes what the database says of an address (call after [`Database::find`] found data).
    pub fn facts(&self, ip: IpAddr) -> Facts {
        self.reader
            .lookup(ip)
            .ok()
            .and_then(|result| result.decode::<RawRecord>().ok().flatten())
            .map(RawRecord::into_facts)
            .unwrap_or_default()
    }
}

impl fmt::Debug for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Database")
            .field("path", &self.path)
            .field("database_type", &self.database_type())
            .field("provides", &self.provides)
            .finish()
    }
}

/// Maps a database file so every thread and every lookup shares one copy of it.
#[allow(unsafe_code)]
fn map(path: &Path) -> Result<Reader<Mmap>, maxminddb::MaxMindDbError> {
    // SAFETY: a mapped file must not be truncated while mapped. Database updaters (geoipupdate,
    // `mv` of a downloaded file) replace the file by rename, which leaves this mapping intact;
    // `Databases::changed` then tells the owner to map the new file. Writing into the file in place is
    // not supported and is documented as such.
    unsafe { Reader::open_mmap(path) }
}

/// Every key any supported vendor uses; unknown keys are ignored.
#[derive(Deserialize, Default)]
struct RawRecord {
    // MaxMind and DB-IP: nested maps with English names. IPinfo and ip-location-db: flat text.
    country: Option<PlaceField>,
    subdivisions: Option<Vec<Named>>,
    city: Option<PlaceField>,
    location: Option<Location>,
    postal: Option<Postal>,
    autonomous_system_number: Option<Number>,
    autonomous_system_organization: Option<String>,
    isp: Option<String>,
    // IPinfo Lite: `asn` is "AS15169".
    asn: Option<AsnText>,
    as_name: Option<String>,
    // ip-location-db and IPinfo flat keys.
    country_code: Option<String>,
    state1: Option<String>,
    postcode: Option<String>,
    latitude: Option<Number>,
    longitude: Option<Number>,
}

impl RawRecord {
    fn into_facts(self) -> Facts {
        let text =
            |value: Option<String>| value.filter(|text| !text.is_empty()).map(Arc::<str>::from);
        let geoname = |named: &Named| named.geoname_id.and_then(Number::as_u32);
        let mut geoname_id = None;
        let (country_code, country) = match self.country {
            Some(PlaceField::Named(named)) => {
                geoname_id = geoname(&named).or(geoname_id);
                (named.iso_code, named.names.and_then(|names| names.en))
            }
            Some(PlaceField::Text(name)) => (None, Some(name)),
            None => (None, None),
        };
        let first_subdivision = self.subdivisions.and_then(|list| list.into_iter().next());
        let (subdivision_code, subdivision) = match first_subdivision {
            Some(named) => {
                geoname_id = geoname(&named).or(geoname_id);
                (named.iso_code, named.names.and_then(|names| names.en))
            }
            None => (None, self.state1),
        };
        let city = match self.city {
            Some(PlaceField::Named(named)) => {
                geoname_id = geoname(&named).or(geoname_id);
                named.names.and_then(|names| names.en)
            }
            Some(PlaceField::Text(name)) => Some(name),
            None => None,
        };
        let location = self.location.unwrap_or_default();
        let asn = self
            .autonomous_system_number
            .and_then(|number| number.as_u32())
            .or(self.asn.and_then(|asn| asn.0));
        Facts {
            asn: asn.filter(|&asn| asn != 0),
            as_name: text(
                self.autonomous_system_organization
                    .or(self.as_name)
                    .or(self.isp),
            ),
            country_code: text(country_code.or(self.country_code)),
            country: text(country),
            subdivision_code: text(subdivision_code),
            subdivision: text(subdivision),
            city: text(city),
            metro_code: location.metro_code.and_then(|number| number.as_i32()),
            latitude: location.latitude.or(self.latitude).and_then(Number::finite),
            longitude: location
                .longitude
                .or(self.longitude)
                .and_then(Number::finite),
            postal_code: text(self.postal.and_then(|postal| postal.code).or(self.postcode)),
            geoname_id,
        }
    }
}

#[derive(Deserialize, Default)]
struct Named {
    geoname_id: Option<Number>,
    iso_code: Option<String>,
    names: Option<Names>,
}

#[derive(Deserialize, Default)]
struct Names {
    en: Option<String>,
}

#[derive(Deserialize, Default)]
struct Location {
    latitude: Option<Number>,
    longitude: Option<Number>,
    metro_code: Option<Number>,
}

#[derive(Deserialize, Default)]
struct Postal {
    code: Option<String>,
}

/// `country` and `city` are maps in MaxMind-style files and plain names in flat ones.
enum PlaceField {
    Named(Named),
    Text(String),
}

impl<'de> Deserialize<'de> for PlaceField {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<PlaceField, D::Error> {
        struct PlaceVisitor;
        impl<'de> Visitor<'de> for PlaceVisitor {
            type Value = PlaceField;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a name or a map with names")
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<PlaceField, E> {
                Ok(PlaceField::Text(text.to_string()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<PlaceField, A::Error> {
                Named::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(PlaceField::Named)
            }
        }
        deserializer.deserialize_any(PlaceVisitor)
    }
}

/// A number stored as any of the format's integer or float types.
#[derive(Clone, Copy)]
struct Number(f64);

impl Number {
    fn finite(self) -> Option<f64> {
        self.0.is_finite().then_some(self.0)
    }

    fn as_u32(self) -> Option<u32> {
        (self.0 >= 0.0 && self.0 <= f64::from(u32::MAX) && self.0.fract() == 0.0)
            .then_some(self.0 as u32)
    }

    fn as_i32(self) -> Option<i32> {
        (self.0.abs() <= f64::from(i32::MAX) && self.0.fract() == 0.0).then_some(self.0 as i32)
    }
}

impl<'de> Deserialize<'de> for Number {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Number, D::Error> {
        struct NumberVisitor;
        impl Visitor<'_> for NumberVisitor {
            type Value = Number;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number")
            }
            fn visit_u64<E: de::Error>(self, value: u64) -> Result<Number, E> {
                Ok(Number(value as f64))
            }
            fn visit_i64<E: de::Error>(self, value: i64) -> Result<Number, E> {
                Ok(Number(value as f64))
            }
            fn visit_u128<E: de::Error>(self, value: u128) -> Result<Number, E> {
                Ok(Number(value as f64))
            }
            fn visit_f64<E: de::Error>(self, value: f64) -> Result<Number, E> {
                Ok(Number(value))
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<Number, E> {
                // Flat files write "" for unknown coordinates; that must not void the record.
                Ok(Number(text.trim().parse().unwrap_or(f64::NAN)))
            }
        }
        deserializer.deserialize_any(NumberVisitor)
    }
}

/// IPinfo writes ASNs as text (`AS15169`); anything else is taken as no ASN.
struct AsnText(Option<u32>);

impl<'de> Deserialize<'de> for AsnText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<AsnText, D::Error> {
        struct AsnVisitor;
        impl Visitor<'_> for AsnVisitor {
            type Value = AsnText;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an AS number")
            }
            fn visit_u64<E: de::Error>(self, value: u64) -> Result<AsnText, E> {
                Ok(AsnText(u32::try_from(value).ok()))
            }
            fn visit_i64<E: de::Error>(self, value: i64) -> Result<AsnText, E> {
                Ok(AsnText(u32::try_from(value).ok()))
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<AsnText, E> {
                let digits = text
                    .trim()
                    .trim_start_matches("AS")
                    .trim_start_matches("as");
                Ok(AsnText(digits.parse().ok()))
            }
        }
        deserializer.deserialize_any(AsnVisitor)
    }
}
