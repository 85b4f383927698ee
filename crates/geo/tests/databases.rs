//! The vendor layouts, read from test databases built from `testdata/geo/*.json`, and the
//! enrichment built on them: nested networks, missing cities and names, overrides, the cache.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use flowatlas_geo::{Database, Databases, Enricher, GeoConfig, GeoError, write_mmdb};

fn geo_testdata(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/geo")
        .join(name)
}

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

#[test]
fn committed_databases_are_what_their_sources_build() {
    let mut n_checked = 0;
    for entry in std::fs::read_dir(geo_testdata("")).unwrap() {
        let source = entry.unwrap().path();
        if source
            .extension()
            .is_none_or(|extension| extension != "json")
        {
            continue;
        }
        let built = write_mmdb(&std::fs::read_to_string(&source).unwrap()).unwrap();
        let committed = std::fs::read(source.with_extension("mmdb")).unwrap();
        assert!(
            built == committed,
            "{} differs from its source; run flowatlas build-mmdb",
            source.display()
        );
        n_checked += 1;
    }
    assert_eq!(n_checked, 11);
}

/// GeoLite2 on real data: one city's networks at their own coordinates and postal codes, all
/// with the city's GeoNames id; a city without subdivision; a network placed only in its
/// country (the country's id); one with no place at all.
#[test]
fn geonames_ids_identify_places_however_networks_are_placed() {
    let db = Database::open(&geo_testdata("geolite2-city-scattered.mmdb")).unwrap();
    let london: Vec<_> = [
        "203.0.113.1",
        "203.0.113.17",
        "203.0.113.90",
        "2001:db8:ffff::1",
    ]
    .into_iter()
    .map(|address| db.facts(ip(address)))
    .collect();
    for facts in &london {
        assert_eq!(facts.geoname_id, Some(2643743));
        assert_eq!(facts.city.as_deref(), Some("London"));
        assert_eq!(facts.subdivision_code.as_deref(), Some("ENG"));
    }
    let places: std::collections::HashSet<String> = london
        .iter()
        .map(|facts| {
            format!(
                "{:?} {:?} {:?}",
                facts.latitude, facts.longitude, facts.postal_code
            )
        })
        .collect();
    assert_eq!(places.len(), london.len(), "each network placed apart");
    let singapore = db.facts(ip("203.0.113.100"));
    assert_eq!(
        (singapore.geoname_id, singapore.subdivision_code.as_deref()),
        (Some(1880252), None)
    );
    let germany = db.facts(ip("203.0.113.120"));
    assert_eq!(
        (
            germany.geoname_id,
            germany.country_code.as_deref(),
            germany.city.as_deref()
        ),
        (Some(2921044), Some("DE"), None)
    );
    let nowhere = db.facts(ip("203.0.113.130"));
    assert_eq!(
        (nowhere.geoname_id, nowhere.country_code.as_deref()),
        (None, None)
    );
}

#[test]
fn maxmind_city_layout() {
    let db = Database::open(&geo_testdata("geolite2-city.mmdb")).unwrap();
    assert!(db.provides().place && !db.provides().asn);
    assert_eq!(db.database_type(), "GeoLite2-City");
    assert_eq!(db.build_epoch(), 1_780_000_000);

    let facts = db.facts(ip("216.160.83.56"));
    assert_eq!(facts.country_code.as_deref(), Some("US"));
    assert_eq!(facts.country.as_deref(), Some("United States"));
    assert_eq!(facts.subdivision_code.as_deref(), Some("WA"));
    assert_eq!(facts.subdivision.as_deref(), Some("Washington"));
    assert_eq!(facts.city.as_deref(), Some("Milton"));
    assert_eq!(facts.metro_code, Some(819));
    assert_eq!(facts.postal_code.as_deref(), Some("98354"));
    assert_eq!(facts.latitude, Some(47.2513));

    // The first subdivision is the one reported, as Internet Monitor reports states.
    let facts = db.facts(ip("81.2.69.142"));
    assert_eq!(facts.subdivision_code.as_deref(), Some("ENG"));
    assert_eq!(facts.city.as_deref(), Some("Bracknell"));
    // A nested network wins inside its parent.
    assert_eq!(db.facts(ip("81.2.69.170")).city.as_deref(), Some("London"));
    let hit = db.find(ip("81.2.69.170")).unwrap();
    assert_eq!(hit.network.to_string(), "81.2.69.160/27");

    // Located in Bhutan, registered in Japan: the location is what counts. No city there.
    let facts = db.facts(ip("67.43.156.14"));
    assert_eq!(facts.country_code.as_deref(), Some("BT"));
    assert_eq!(facts.city, None);
    assert_eq!(facts.subdivision, None);

    // IPv6.
    assert_eq!(
        db.facts(ip("2001:218:85a3::12")).city.as_deref(),
        Some("Tokyo")
    );

    // In no network: found nowhere, nothing invented.
    let hit = db.find(ip("198.51.100.23")).unwrap();
    assert!(hit.data_offset.is_none());
    assert_eq!(db.facts(ip("198.51.100.23")), Default::default());
}

#[test]
fn asn_layouts_maxmind_isp_dbip_ipinfo() {
    let asn = Database::open(&geo_testdata("geolite2-asn.mmdb")).unwrap();
    assert!(asn.provides().asn && !asn.provides().place);
    assert_eq!(asn.facts(ip("81.2.69.142")).asn, Some(64497));
    // Nested: the /16 answers outside the /24.
    assert_eq!(
        asn.facts(ip("81.2.1.1")).as_name.as_deref(),
        Some("Example Transit Ltd")
    );
    // An AS without a name.
    let facts = asn.facts(ip("175.16.199.7"));
    assert_eq!((facts.asn, facts.as_name), (Some(64499), None));

    let isp = Database::open(&geo_testdata("geoip2-isp.mmdb")).unwrap();
    let facts = isp.facts(ip("2001:218:85a3::12"));
    assert_eq!(facts.asn, Some(65536));
    assert_eq!(facts.as_name.as_deref(), Some("Example IPv6 Carrier KK"));

    let dbip_asn = Database::open(&geo_testdata("dbip-asn-lite.mmdb")).unwrap();
    assert_eq!(dbip_asn.facts(ip("81.2.69.142")).asn, Some(64497));

    // IPinfo Lite: `asn` is text, and the same file also answers the country.
    let ipinfo = Database::open(&geo_testdata("ipinfo-lite.mmdb")).unwrap();
    assert!(ipinfo.provides().asn && ipinfo.provides().place);
    let facts = ipinfo.facts(ip("216.160.83.56"));
    assert_eq!(facts.asn, Some(64500));
    assert_eq!(facts.as_name.as_deref(), Some("Sample Cable Co"));
    assert_eq!(facts.country_code.as_deref(), Some("US"));
    assert_eq!(facts.country.as_deref(), Some("United States"));
}

#[test]
fn flat_layouts_dbip_city_and_ip_location_db() {
    let dbip = Database::open(&geo_testdata("dbip-city-lite.mmdb")).unwrap();
    let facts = dbip.facts(ip("81.2.69.142"));
    assert_eq!(facts.city.as_deref(), Some("London"));
    assert_eq!(facts.subdivision.as_deref(), Some("England"));
    assert_eq!(facts.subdivision_code, None);

    let v4 = Database::open(&geo_testdata("iplocationdb-city-ipv4.mmdb")).unwrap();
    let facts = v4.facts(ip("216.160.83.56"));
    assert_eq!(facts.city.as_deref(), Some("Milton"));
    assert_eq!(facts.subdivision.as_deref(), Some("Washington"));
    assert_eq!(facts.country_code.as_deref(), Some("US"));
    assert_eq!(facts.postal_code.as_deref(), Some("98354"));
    // An IPv6 address in an IPv4-only file is simply not there.
    assert!(v4.find(ip("2001:218:85a3::12")).is_none());
    let v6 = Database::open(&geo_testdata("iplocationdb-city-ipv6.mmdb")).unwrap();
    assert_eq!(
        v6.facts(ip("2001:218:85a3::12")).city.as_deref(),
        Some("Tokyo")
    );
    // Empty strings in flat files are absent values.
    assert_eq!(v6.facts(ip("2001:218:85a3::12")).postal_code, None);
}

#[test]
fn unreadable_layouts_and_wrong_paths_fail_at_start() {
    let message = Database::open(&geo_testdata("unknown-layout.mmdb"))
        .unwrap_err()
        .to_string();
    assert!(message.contains("\"Example-Weather\""), "{message}");
    assert!(message.contains("sky, temperature"), "{message}");

    let message = Database::open(&geo_testdata("no-such.mmdb"))
        .unwrap_err()
        .to_string();
    assert!(message.contains("no-such.mmdb"), "{message}");

    let message = Database::open(&geo_testdata("prefixes.csv"))
        .unwrap_err()
        .to_string();
    assert!(message.contains("prefixes.csv"), "{message}");

    let config = GeoConfig {
        asn_dbs: vec![geo_testdata("geolite2-city.mmdb")],
        ..GeoConfig::default()
    };
    let Err(GeoError::WrongKind { wanted, .. }) = Databases::open(&config) else {
        panic!("a city database is not an ASN source");
    };
    assert_eq!(wanted, "ASN");
}

fn enricher(with_prefixes: bool) -> Enricher {
    let config = GeoConfig {
        asn_dbs: vec![geo_testdata("geolite2-asn.mmdb")],
        geo_dbs: vec![
            geo_testdata("iplocationdb-city-ipv4.mmdb"),
            geo_testdata("geolite2-city.mmdb"),
        ],
        prefixes: with_prefixes.then(|| geo_testdata("prefixes.csv")),
    };
    Enricher::new(Arc::new(Databases::open(&config).unwrap()))
}

#[test]
fn enrichment_combines_sources_and_caches_by_network() {
    let mut enricher = enricher(false);
    let first = enricher.enrich(ip("216.160.83.56"));
    assert_eq!(first.facts.asn, Some(64500));
    assert_eq!(first.facts.city.as_deref(), Some("Milton"));
    assert_eq!(first.network.unwrap().to_string(), "216.160.83.0/24");
    // Another address of the same network comes from the cache, with the same answer.
    let second = enricher.enrich(ip("216.160.83.200"));
    assert_eq!(second, first);
    assert_eq!(enricher.stats().cache_hits, 1);

    // The geo files are tried in order: an IPv6 address skips the IPv4-only file.
    let tokyo = enricher.enrich(ip("2001:218:85a3::12"));
    assert_eq!(tokyo.facts.city.as_deref(), Some("Tokyo"));
    assert_eq!(tokyo.facts.asn, Some(65536));

    // Nested networks across databases: the narrower network keys the cache.
    let london = enricher.enrich(ip("81.2.69.170"));
    assert_eq!(london.network.unwrap().to_string(), "81.2.69.0/24");
    assert_eq!(london.facts.city.as_deref(), Some("Bracknell"));

    let nowhere = enricher.enrich(ip("198.51.100.23"));
    assert_eq!(nowhere.facts, Default::default());
    let stats = enricher.stats();
    assert_eq!(stats.lookups, 5);
    assert_eq!(stats.per_db.len(), 3);
}

#[test]
fn overrides_win_most_specific_first() {
    let mut enricher = enricher(true);
    let partner = enricher.enrich(ip("81.2.69.142"));
    assert_eq!(partner.facts.asn, Some(64510));
    assert_eq!(
        partner.facts.as_name.as_deref(),
        Some("Partner Office Network")
    );
    assert_eq!(partner.facts.city.as_deref(), Some("Reading"));
    assert_eq!(partner.network.unwrap().to_string(), "81.2.69.128/25");
    // Outside the override, inside the same database network: the database answers, even
    // though the wider network is now cached.
    let plain = enricher.enrich(ip("81.2.69.10"));
    assert_eq!(plain.facts.asn, Some(64497));
    assert_eq!(plain.facts.city.as_deref(), Some("Bracknell"));
    // An override of the name only keeps the rest.
    let lab = enricher.enrich(ip("2001:218:85a3::12"));
    assert_eq!(
        lab.facts.as_name.as_deref(),
        Some("Example Carrier Tokyo Lab")
    );
    assert_eq!(lab.facts.asn, Some(65536));
    assert_eq!(lab.facts.city.as_deref(), Some("Tokyo"));
    assert_eq!(enricher.stats().override_hits, 2);
}

#[test]
fn databases_are_shared_across_threads_and_reloaded_when_replaced() {
    fn shareable<T: Send + Sync>(_: &T) {}
    let folder = std::env::temp_dir().join(format!("flowatlas-reload-{}", std::process::id()));
    std::fs::create_dir_all(&folder).unwrap();
    let live = folder.join("asn.mmdb");
    std::fs::copy(geo_testdata("geolite2-asn.mmdb"), &live).unwrap();
    let config = GeoConfig {
        asn_dbs: vec![live.clone()],
        ..GeoConfig::default()
    };
    let databases = Databases::open(&config).unwrap();
    shareable(&databases);
    assert!(!databases.changed());

    // Replaced the way updaters do it: a new file renamed over the old one.
    let update = folder.join("asn.mmdb.new");
    std::fs::copy(geo_testdata("dbip-asn-lite.mmdb"), &update).unwrap();
    let later = std::time::SystemTime::now() + std::time::Duration::from_secs(5);
    std::fs::File::options()
        .write(true)
        .open(&update)
        .unwrap()
        .set_modified(later)
        .unwrap();
    std::fs::rename(&update, &live).unwrap();
    assert!(databases.changed());
    let databases = Databases::open(databases.config()).unwrap();
    let reloaded: Vec<&str> = databases.all().map(|db| db.database_type()).collect();
    assert_eq!(reloaded, ["DBIP-ASN-Lite (compat=GeoLite2-ASN)"]);

    // Enrichers on several threads share one set of databases.
    let databases = Arc::new(databases);
    let handles: Vec<_> = (0..2)
        .map(|_| {
            let databases = databases.clone();
            std::thread::spawn(move || Enricher::new(databases).enrich(ip("81.2.69.142")).facts.asn)
        })
        .collect();
    for handle in handles {
        assert_eq!(handle.join().unwrap(), Some(64497));
    }
    std::fs::remove_dir_all(&folder).unwrap();
}

#[test]
fn overrides_drop_contradicted_facts_and_mapped_addresses_are_ipv4() {
    let mut enricher = enricher(true);
    // The override moves the city: the database's coordinates and postcode for Bracknell go.
    let partner = enricher.enrich(ip("81.2.69.142"));
    assert_eq!(partner.facts.country_code.as_deref(), Some("GB"));
    assert_eq!(partner.facts.subdivision.as_deref(), Some("England"));
    assert_eq!(
        (partner.facts.latitude, partner.facts.postal_code.clone()),
        (None, None)
    );

    let mapped = enricher.enrich(ip("::ffff:216.160.83.56"));
    assert_eq!(mapped.facts.city.as_deref(), Some("Milton"));
    assert_eq!(mapped.network.unwrap().to_string(), "216.160.83.0/24");
}

#[test]
fn bad_override_files_and_sources_are_refused() {
    let folder = std::env::temp_dir().join(format!("flowatlas-overrides-{}", std::process::id()));
    std::fs::create_dir_all(&folder).unwrap();
    let csv = folder.join("prefixes.csv");
    for (content, expected) in [
        ("10.0.0.0/8,AS0,Zero,,\n", "line 1: field `asn`"),
        (
            "prefix,asn,as_name,country_code,city\n10.0.0.0/33,1,x,,\n",
            "line 2: field `prefix`",
        ),
        (
            "10.0.0.0/8,64500,Name, with comma,GB,\n",
            "quoting is not supported",
        ),
    ] {
        std::fs::write(&csv, content).unwrap();
        let config = GeoConfig {
            prefixes: Some(csv.clone()),
            ..GeoConfig::default()
        };
        let message = Databases::open(&config).err().unwrap().to_string();
        assert!(message.contains(expected), "{message}");
    }
    std::fs::remove_dir_all(&folder).unwrap();

    let source = |ip_version: u16, networks: &str| {
        format!(
            r#"{{"database_type":"t","ip_version":{ip_version},"build_epoch":1,"networks":[{networks}]}}"#
        )
    };
    let one = r#"{"network":"10.0.0.0/8","data":{"a":1}}"#;
    assert!(
        write_mmdb(&source(5, one))
            .unwrap_err()
            .to_string()
            .contains("not 4 or 6")
    );
    assert!(
        write_mmdb(&source(6, &format!("{one},{one}")))
            .unwrap_err()
            .to_string()
            .contains("listed twice")
    );
    assert!(write_mmdb(&source(4, r#"{"network":"2001:db8::/32","data":{"a":1}}"#)).is_err());
    assert!(write_mmdb(&source(4, one)).is_ok());
}

#[test]
fn asn_known_counts_the_asn_not_the_as_name() {
    let folder = std::env::temp_dir().join(format!("flowatlas-asn-known-{}", std::process::id()));
    std::fs::create_dir_all(&folder).unwrap();
    let csv = folder.join("prefixes.csv");
    // One network known by name only, one by number and name.
    std::fs::write(
        &csv,
        "198.51.100.0/24,,Name Only Carrier,,\n203.0.113.0/24,64500,Numbered Carrier,,\n",
    )
    .unwrap();
    let config = GeoConfig {
        prefixes: Some(csv),
        ..GeoConfig::default()
    };
    let mut enricher = Enricher::new(Arc::new(Databases::open(&config).unwrap()));
    let named = enricher.enrich(ip("198.51.100.7"));
    assert_eq!(
        (named.facts.asn, named.facts.as_name.as_deref()),
        (None, Some("Name Only Carrier"))
    );
    enricher.enrich(ip("203.0.113.9"));
    let stats = enricher.stats();
    assert_eq!((stats.lookups, stats.asn_known), (2, 1));
    std::fs::remove_dir_all(&folder).unwrap();
}
