//! Enrichment of peer addresses: ASN and place from the databases, user overrides on top, and a
//! cache keyed by matched network so one lookup answers every address in it.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use ipnetwork::IpNetwork;

use crate::mmdb::{Database, DbError, Facts};
use crate::peer::{Peer, PeerKind};
use crate::prefix_map::PrefixMap;

/// Where the databases and overrides come from.
#[derive(Clone, Debug, Default)]
pub struct GeoConfig {
    /// Files answering ASN and AS name, tried in order (e.g. an IPv4 and an IPv6 file).
    pub asn_dbs: Vec<PathBuf>,
    /// Files answering the place, tried in order.
    pub geo_dbs: Vec<PathBuf>,
    /// A CSV of `prefix,asn,as_name,country_code,city` that overrides the databases.
    pub prefixes: Option<PathBuf>,
}

/// Why enrichment could not start.
#[derive(Debug, thiserror::Error)]
pub enum GeoError {
    /// A database that cannot be used.
    #[error(transparent)]
    Db(#[from] DbError),
    /// A database given as an ASN source that holds no ASN (or a geo source with no place).
    #[error(
        "{path}: database type {database_type:?} has no {wanted} data; pass it as the other kind of database"
    )]
    WrongKind {
        /// The file.
        path: PathBuf,
        /// What the file's metadata says it holds, e.g. `GeoLite2-Country`.
        database_type: String,
        /// `ASN` or `location`.
        wanted: &'static str,
    },
    /// The overrides file cannot be read.
    #[error("{path}: {why}")]
    Prefixes {
        /// The file.
        path: PathBuf,
        /// What is wrong, with the line.
        why: String,
    },
}

/// A user's override for a prefix. Empty columns leave the database's answer in place.
#[derive(Clone, Debug, Default, PartialEq)]
struct Override {
    asn: Option<u32>,
    as_name: Option<Arc<str>>,
    country_code: Option<Arc<str>>,
    city: Option<Arc<str>>,
}

/// The enrichment of one address.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Enrichment {
    /// What is known of the address's network.
    pub facts: Facts,
    /// The most specific network that answered (database networks with data, override prefix).
    pub network: Option<IpNetwork>,
}

impl Enrichment {
    /// The AS number is what an ASN column holds; a name alone does not make it known.
    fn knows_asn(&self) -> bool {
        self.facts.asn.is_some()
    }

    fn knows_place(&self) -> bool {
        self.facts.country_code.is_some()
            || self.facts.country.is_some()
            || self.facts.city.is_some()
    }
}

struct Opened {
    db: Arc<Database>,
    modified: Option<SystemTime>,
}

/// The databases and overrides, loaded once and shared (wrap in `Arc` across threads).
pub struct Databases {
    config: GeoConfig,
    asn: Vec<Opened>,
    geo: Vec<Opened>,
    overrides: PrefixMap<Override>,
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path)
        .and_then(|meta| meta.modified())
        .ok()
}

impl Databases {
    /// Opens every database and the overrides; any unusable file is an error now, not empty
    /// columns later.
    pub fn open(config: &GeoConfig) -> Result<Databases, GeoError> {
        let open_all = |paths: &[PathBuf], wants_asn: bool| -> Result<Vec<Opened>, GeoError> {
            paths
                .iter()
                .map(|path| {
                    let db = Database::open(path)?;
                    let provides = db.provides();
                    if (wants_asn && !provides.asn) || (!wants_asn && !provides.place) {
                        return Err(GeoError::WrongKind {
                            path: path.clone(),
                            database_type: db.database_type().to_string(),
                            wanted: if wants_asn { "ASN" } else { "location" },
                        });
                    }
                    Ok(Opened {
                        db: Arc::new(db),
                        modified: modified(path),
                    })
                })
                .collect()
        };
        let overrides = match &config.prefixes {
            Some(path) => read_overrides(path)?,
            None => PrefixMap::default(),
        };
        Ok(Databases {
            config: config.clone(),
            asn: open_all(&config.asn_dbs, true)?,
            geo: open_all(&config.geo_dbs, false)?,
            overrides,
        })
    }

    /// True when a database file was replaced since it was opened: a long-running process then
    /// opens the databases again (with the same [`GeoConfig`]) and moves to new enrichers.
    pub fn changed(&self) -> bool {
        self.asn
            .iter()
            .chain(&self.geo)
            .any(|opened| modified(opened.db.path()) != opened.modified)
    }

    /// What they were opened from.
    pub fn config(&self) -> &GeoConfig {
        &self.config
    }

    /// Every open database: ASN sources, then place sources.
    pub fn all(&self) -> impl Iterator<Item = &Database> {
        self.asn.iter().chain(&self.geo).map(|opened| &*opened.db)
    }

    /// True when there is nothing to enrich with.
    pub fn is_empty(&self) -> bool {
        self.asn.is_empty() && self.geo.is_empty() && self.overrides.is_empty()
    }
}

fn read_overrides(path: &Path) -> Result<PrefixMap<Override>, GeoError> {
    let error = |why: String| GeoError::Prefixes {
        path: path.to_path_buf(),
        why,
    };
    let text = std::fs::read_to_string(path).map_err(|io_error| error(io_error.to_string()))?;
    let mut overrides = PrefixMap::default();
    for (idx, line) in text.lines().enumerate() {
        let line_no = idx + 1;
        let line = line.trim_start_matches('\u{feff}').trim();
        if line.is_empty() || line.starts_with('#') || (line_no == 1 && line.starts_with("prefix"))
        {
            continue;
        }
        let columns: Vec<&str> = line.split(',').map(str::trim).collect();
        if columns.len() != 5 {
            return Err(error(format!(
                "line {line_no}: {} columns, expected 5 (prefix,asn,as_name,country_code,city; quoting is not supported, so names cannot contain commas)",
                columns.len()
            )));
        }
        let network: IpNetwork = columns[0].parse().map_err(|_| {
            error(format!(
                "line {line_no}: field `prefix`: {:?} is not a network",
                columns[0]
            ))
        })?;
        let asn = match columns[1] {
            "" => None,
            text => {
                let digits = text
                    .strip_prefix("AS")
                    .or_else(|| text.strip_prefix("as"))
                    .unwrap_or(text);
                let asn = digits.parse::<u32>().ok().filter(|&asn| asn != 0);
                Some(asn.ok_or_else(|| {
                    error(format!(
                        "line {line_no}: field `asn`: {text:?} is not an AS number (e.g. 64500 or AS64500)"
                    ))
                })?)
            }
        };
        let text = |value: &str| (!value.is_empty()).then(|| Arc::<str>::from(value));
        overrides.insert(
            network,
            Override {
                asn,
                as_name: text(columns[2]),
                country_code: text(columns[3]),
                city: text(columns[4]),
            },
        );
    }
    Ok(overrides)
}

/// Lookups and cache hits, per database and overall.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EnrichStats {
    /// Addresses enriched.
    pub lookups: u64,
    /// Answered from the network cache.
    pub cache_hits: u64,
    /// Per database (in [`Databases::all`] order): networks looked up (cache misses that reached
    /// it), and those found with data.
    pub per_db: Vec<(u64, u64)>,
    /// Addresses an override applied to.
    pub override_hits: u64,
    /// Addresses whose AS number is known (a name alone does not count).
    pub asn_known: u64,
    /// Addresses whose country or city is known.
    pub place_known: u64,
}

impl std::ops::AddAssign<&EnrichStats> for EnrichStats {
    /// Adds another enricher's counts; per-database counts add up position by position.
    fn add_assign(&mut self, other: &EnrichStats) {
        self.lookups += other.lookups;
        self.cache_hits += other.cache_hits;
        self.override_hits += other.override_hits;
        self.asn_known += other.asn_known;
        self.place_known += other.place_known;
        if self.per_db.len() < other.per_db.len() {
            self.per_db.resize(other.per_db.len(), (0, 0));
        }
        for (total, add) in self.per_db.iter_mut().zip(&other.per_db) {
            total.0 += add.0;
            total.1 += add.1;
        }
    }
}

/// Entries kept before the cache starts over; bounds memory on address-scanning traffic.
const MAX_CACHED_NETWORKS: usize = 1 << 20;

/// Enriches addresses for one thread, with its own cache over shared databases.
pub struct Enricher {
    databases: Arc<Databases>,
    cache: PrefixMap<Arc<Enrichment>>,
    stats: EnrichStats,
}

impl Enricher {
    /// An enricher over shared databases.
    pub fn new(databases: Arc<Databases>) -> Enricher {
        let n_dbs = databases.all().count();
        Enricher {
            databases,
            cache: PrefixMap::default(),
            stats: EnrichStats {
                per_db: vec![(0, 0); n_dbs],
                ..EnrichStats::default()
            },
        }
    }

    /// Counts so far.
    pub fn stats(&self) -> &EnrichStats {
        &self.stats
    }

    /// What is known of an address. Not found anywhere: every fact `None`.
    pub fn enrich(&mut self, ip: IpAddr) -> Arc<Enrichment> {
        // `::ffff:a.b.c.d` is the IPv4 address for every database and override.
        let ip = ip.to_canonical();
        let enrichment = self.enrich_uncounted(ip);
        self.stats.lookups += 1;
        self.stats.asn_known += u64::from(enrichment.knows_asn());
        self.stats.place_known += u64::from(enrichment.knows_place());
        enrichment
    }

    /// Enriches a record's peer when it is an internet peer: the only peers whose ASN and
    /// place describe a client. An AWS service's address says where AWS is, a private one
    /// nothing; the pipeline, `parse` and the tables all follow this one rule.
    pub fn enrich_peer(&mut self, peer: &Peer) -> Option<Arc<Enrichment>> {
        match (peer.kind, peer.ip) {
            (PeerKind::Internet, Some(ip)) => Some(self.enrich(ip)),
            _ => None,
        }
    }

    fn enrich_uncounted(&mut self, ip: IpAddr) -> Arc<Enrichment> {
        let from_databases = match self.cache.longest_match(ip) {
            Some((_, cached)) => {
                self.stats.cache_hits += 1;
                cached.clone()
            }
            None => {
                let (looked_up, scope) = self.look_up(ip);
                let looked_up = Arc::new(looked_up);
                if self.cache.len() >= MAX_CACHED_NETWORKS {
                    self.cache.clear();
                }
                if let Some(scope) = scope {
                    self.cache.insert(scope, looked_up.clone());
                }
                looked_up
            }
        };
        // Overrides are checked for every address, so a cached wider network never hides a
        // narrower override inside it.
        match self.databases.overrides.longest_match(ip) {
            None => from_databases,
            Some((prefix, user)) => {
                self.stats.override_hits += 1;
                let mut merged = (*from_databases).clone();
                apply(&mut merged.facts, user);
                let override_network = IpNetwork::new(ip, prefix)
                    .ok()
                    .map(|net| IpNetwork::new(net.network(), prefix));
                if let Some(Ok(network)) = override_network {
                    merged.network = Some(narrowest(merged.network, network));
                }
                Arc::new(merged)
            }
        }
    }

    /// Asks the databases; also returns the network over which every database's answer is the
    /// same (the narrowest network any of them matched, with data or not), which keys the cache.
    fn look_up(&mut self, ip: IpAddr) -> (Enrichment, Option<IpNetwork>) {
        let mut enrichment = Enrichment::default();
        let mut scope = None;
        let databases = self.databases.clone();
        let n_asn = databases.asn.len();
        let mut found_asn = false;
        for (idx, opened) in databases.asn.iter().enumerate() {
            if found_asn {
                break;
            }
            found_asn = self.consult(
                idx,
                &opened.db,
                ip,
                &mut enrichment,
                &mut scope,
                |facts, from| {
                    facts.asn = from.asn;
                    facts.as_name = from.as_name;
                },
            );
        }
        let mut found_place = false;
        for (idx, opened) in databases.geo.iter().enumerate() {
            if found_place {
                break;
            }
            found_place = self.consult(
                n_asn + idx,
                &opened.db,
                ip,
                &mut enrichment,
                &mut scope,
                |facts, from| {
                    let asn = facts.asn.take();
                    let as_name = facts.as_name.take();
                    *facts = Facts {
                        asn,
                        as_name,
                        ..from
                    };
                },
            );
        }
        (enrichment, scope)
    }

    /// Looks `ip` up in one database and takes what it knows; true when it had data.
    fn consult(
        &mut self,
        db_idx: usize,
        db: &Database,
        ip: IpAddr,
        enrichment: &mut Enrichment,
        scope: &mut Option<IpNetwork>,
        take: impl FnOnce(&mut Facts, Facts),
    ) -> bool {
        let Some(hit) = db.find(ip) else {
            return false;
        };
        self.stats.per_db[db_idx].0 += 1;
        *scope = Some(narrowest(*scope, hit.network));
        if hit.data_offset.is_none() {
            return false;
        }
        self.stats.per_db[db_idx].1 += 1;
        enrichment.network = Some(narrowest(enrichment.network, hit.network));
        take(&mut enrichment.facts, db.facts(ip));
        true
    }
}

/// Applies an override without leaving database facts that contradict it: a new AS drops the
/// old AS name, a new country drops the old country's places, a new city drops the old city's
/// coordinates and codes.
fn apply(facts: &mut Facts, user: &Override) {
    if user.asn.is_some() && user.asn != facts.asn {
        facts.asn = user.asn;
        facts.as_name = None;
    }
    if user.as_name.is_some() {
        facts.as_name = user.as_name.clone();
    }
    if user.country_code.is_some() && user.country_code != facts.country_code {
        facts.country_code = user.country_code.clone();
        facts.country = None;
        facts.subdivision_code = None;
        facts.subdivision = None;
        facts.city = None;
        facts.geoname_id = None;
        clear_city_details(facts);
    }
    if user.city.is_some() && user.city != facts.city {
        facts.city = user.city.clone();
        facts.geoname_id = None;
        clear_city_details(facts);
    }
}

fn clear_city_details(facts: &mut Facts) {
    facts.metro_code = None;
    facts.latitude = None;
    facts.longitude = None;
    facts.postal_code = None;
}

/// Of two networks holding the same address, the more specific (they are always nested).
fn narrowest(current: Option<IpNetwork>, other: IpNetwork) -> IpNetwork {
    match current {
        Some(network) if network.prefix() >= other.prefix() => network,
        _ => other,
    }
}
