//! Rollups of small, hand-checkable logs: windows, directions, rejects, TCP flags, distinct
//! clients, prefixes, and the byte accounting that ties rows to records.

use std::path::Path;
use std::sync::Arc;

use flowatlas_flowlog::{Entry, Field, LogStatus, Options, Reader};
use flowatlas_geo::{Databases, Enricher, GeoConfig, PeerFinder, PeerRules};
use flowatlas_rollup::{Rollup, RollupConfig, ServiceLocation};

const LOG: &str = "version account-id interface-id vpc-id az-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status tcp-flags flow-direction
5 111122223333 eni-1 vpc-1 use1-az1 216.160.83.56 10.0.0.5 40000 443 6 10 1000 1780315201 1780315260 ACCEPT OK 2 ingress
5 111122223333 eni-1 vpc-1 use1-az1 10.0.0.5 216.160.83.56 443 40000 6 8 5000 1780315201 1780315260 ACCEPT OK 19 egress
5 111122223333 eni-1 vpc-1 use1-az1 216.160.83.99 10.0.0.5 40001 22 6 3 180 1780315230 1780315260 REJECT OK 2 ingress
5 111122223333 eni-1 vpc-1 use1-az1 216.160.83.56 10.0.0.5 40002 443 6 4 400 1780315501 1780315560 ACCEPT OK 4 ingress
5 111122223333 eni-1 vpc-1 use1-az1 2001:218:85a3::12 2600:1f18::10 40003 443 6 2 200 1780315210 1780315260 ACCEPT OK 2 ingress
5 111122223333 eni-1 vpc-1 use1-az1 2001:218:85a4::1 2600:1f18::10 40004 443 17 2 300 1780315210 1780315260 ACCEPT OK 2 ingress
5 111122223333 eni-1 vpc-1 use1-az1 10.0.0.5 10.0.0.6 5432 40005 6 9 900 1780315210 1780315260 ACCEPT OK 2 egress
5 111122223333 eni-1 vpc-1 use1-az1 52.95.128.179 10.0.0.5 443 40006 6 5 700 1780315210 1780315260 ACCEPT OK 18 ingress
5 111122223333 eni-1 - - - - - - - - - 1780315210 1780315260 - NODATA - -
";

fn geo(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/geo")
        .join(name)
}

/// The test databases of `testdata/geo` by file name, ASN then city.
fn databases(asn: &str, city: &str) -> Arc<Databases> {
    Arc::new(
        Databases::open(&GeoConfig {
            asn_dbs: vec![geo(asn)],
            geo_dbs: vec![geo(city)],
            prefixes: None,
        })
        .unwrap(),
    )
}

#[test]
fn rows_windows_directions_flags_and_accounting() {
    let databases = databases("geolite2-asn.mmdb", "geolite2-city.mmdb");
    let aws = r#"{"prefixes":[{"ip_prefix":"52.95.128.0/21","service":"S3"}]}"#;
    let rules = PeerRules::new(&[], Some(aws)).unwrap();
    let mut finder = PeerFinder::new(&rules);
    let mut enricher = Enricher::new(databases);
    let mut rollup = Rollup::new(RollupConfig {
        prefix_len_v4: 24,
        prefix_len_v6: 48,
        default_location: ServiceLocation {
            region: Some("us-east-1".into()),
            ..ServiceLocation::default()
        },
    });
    let mut reader = Reader::new(std::io::Cursor::new(LOG), &Options::default()).unwrap();
    let mut ok_bytes = 0;
    while let Some(entry) = reader.next_entry().unwrap() {
        let Entry::Record(record) = entry else {
            panic!("{entry:?}")
        };
        if record.status() != LogStatus::Ok {
            continue;
        }
        ok_bytes += record.int(Field::Bytes).unwrap_or(0);
        let peer = finder.find(&record);
        rollup.add(&record, &peer);
    }
    let (cities, prefixes, summary) = rollup.finish(Some(&mut enricher));

    // Milton, first window: the SYN in, the SYN-ACK+FIN out, and a rejected SYN from a second host.
    let milton = &cities[0];
    assert_eq!(milton.window_start, 1_780_315_200);
    assert_eq!(milton.client.city.as_deref(), Some("Milton"));
    assert_eq!(milton.client.asn, Some(64500));
    assert_eq!(milton.location.account_id.as_deref(), Some("111122223333"));
    assert_eq!(milton.location.region.as_deref(), Some("us-east-1"));
    assert_eq!(milton.location.az_id.as_deref(), Some("use1-az1"));
    let m = milton.measures;
    assert_eq!(
        (m.bytes_in, m.bytes_out, m.packets_in, m.packets_out),
        (1180, 5000, 13, 8)
    );
    assert_eq!((m.flows, m.accepted_flows, m.rejected_flows), (3, 2, 1));
    assert_eq!(
        (m.tcp_syn_in, m.tcp_synack_out, m.tcp_fin_out, m.tcp_rst_in),
        (2, 1, 1, 0)
    );
    assert_eq!(milton.client_ips, 2);

    // Tokyo: two addresses in one /48 and one /32 network; the UDP record carries no TCP flags.
    let tokyo = cities
        .iter()
        .find(|row| row.client.city.as_deref() == Some("Tokyo"))
        .unwrap();
    assert_eq!(
        (
            tokyo.measures.bytes_in,
            tokyo.client_ips,
            tokyo.measures.tcp_syn_in
        ),
        (500, 2, 1)
    );

    // The RST five minutes later is its own window.
    let later = cities
        .iter()
        .find(|row| row.window_start == 1_780_315_500)
        .unwrap();
    assert_eq!(
        (later.measures.tcp_rst_in, later.measures.bytes_in),
        (1, 400)
    );

    let v6_prefix = prefixes
        .iter()
        .find(|row| row.client_prefix.to_string() == "2001:218:85a3::/48")
        .unwrap();
    assert_eq!((v6_prefix.measures.flows, v6_prefix.client_ips), (1, 1));
    let v4_prefix = prefixes
        .iter()
        .find(|row| {
            row.client_prefix.to_string() == "216.160.83.0/24" && row.window_start == 1_780_315_200
        })
        .unwrap();
    assert_eq!(
        (v4_prefix.measures.flows, v4_prefix.client_asn),
        (3, Some(64500))
    );

    // Every OK record's bytes are in a row or in the summary.
    let in_rows: i64 = prefixes
        .iter()
        .map(|row| row.measures.bytes_in + row.measures.bytes_out)
        .sum();
    let in_cities: i64 = cities
        .iter()
        .map(|row| row.measures.bytes_in + row.measures.bytes_out)
        .sum();
    let elsewhere: i64 = summary.other_bytes.values().sum::<i64>() + summary.unwindowed_bytes;
    assert_eq!(in_rows, in_cities);
    assert_eq!(in_rows + elsewhere, ok_bytes);
    assert_eq!(summary.other_bytes["private"], 900);
    assert_eq!(summary.other_bytes["aws"], 700);
    assert_eq!(summary.internet_records, 6);
}

/// Real databases place each network of a city apart: GeoLite2 gives every network its own
/// coordinates, postal code and accuracy radius, some cities have no subdivision, some networks
/// only a country. A city-network is still one row per window: (ASN, place), coordinates an
/// attribute taken from its busiest network.
#[test]
fn one_row_per_city_network_however_its_networks_are_placed() {
    let databases = databases(
        "geolite2-asn-scattered.mmdb",
        "geolite2-city-scattered.mmdb",
    );
    // Our IPv6 network, declared so its records' peer is known without learning it first.
    let rules = PeerRules::new(&["2600:1f18::/32".to_string()], None).unwrap();
    let mut finder = PeerFinder::new(&rules);
    let mut enricher = Enricher::new(databases);
    let mut rollup = Rollup::new(RollupConfig {
        prefix_len_v4: 24,
        prefix_len_v6: 48,
        default_location: ServiceLocation::default(),
    });
    // (client, bytes): AS64499's London spans five networks at five coordinates (the third
    // carries the most bytes), AS64500's London two; then Singapore (no subdivision), a
    // country-only network and one with no place at all.
    let clients: &[(&str, i64)] = &[
        ("203.0.113.5", 100),
        ("203.0.113.20", 200),
        ("203.0.113.40", 5000),
        ("203.0.113.50", 300),
        ("2001:db8:ffff::9", 400),
        ("203.0.113.70", 10),
        ("203.0.113.90", 20),
        ("203.0.113.100", 30),
        ("203.0.113.120", 40),
        ("203.0.113.130", 50),
    ];
    let mut log = String::from(
        "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n",
    );
    for (index, (client, bytes)) in clients.iter().enumerate() {
        let local = if client.contains(':') {
            "2600:1f18::10"
        } else {
            "10.0.0.5"
        };
        for window in [1_780_315_200, 1_780_315_500] {
            log.push_str(&format!(
                "5 111122223333 eni-1 {client} {local} {} 443 6 1 {bytes} {} {} ACCEPT OK\n",
                40_000 + index,
                window + 10,
                window + 60
            ));
        }
    }
    let mut reader = Reader::new(std::io::Cursor::new(log), &Options::default()).unwrap();
    while let Some(entry) = reader.next_entry().unwrap() {
        let Entry::Record(record) = entry else {
            panic!("{entry:?}")
        };
        let peer = finder.find(&record);
        rollup.add(&record, &peer);
    }
    let (cities, prefixes, _) = rollup.finish(Some(&mut enricher));
    let ids: Vec<String> = cities
        .iter()
        .filter(|row| row.window_start == 1_780_315_200)
        .map(|row| flowatlas_rollup::CityNetworkKey::of(&row.client).to_string())
        .collect();
    assert_eq!(
        ids,
        [
            "AS64499|geoname:2643743",
            "AS64511|||",
            "AS64498|geoname:2921044",
            "AS64500|geoname:2643743",
            "AS64507|geoname:1880252",
        ],
        "largest first (a tie by ASN), one row each"
    );
    assert_eq!(cities.len(), 2 * ids.len(), "the same in both windows");
    let london = &cities[0];
    assert_eq!(london.measures.bytes_in, 100 + 200 + 5000 + 300 + 400);
    assert_eq!(london.client_ips, 5);
    // The busiest network's coordinates; never a postal code.
    assert_eq!(
        (london.client.latitude, london.client.longitude),
        (Some(51.5142), Some(-0.0931))
    );
    assert_eq!(london.client.postal_code, None);
    let singapore = cities
        .iter()
        .find(|row| row.client.asn == Some(64507))
        .unwrap();
    assert_eq!(
        (
            singapore.client.city.as_deref(),
            singapore.client.subdivision_code.as_deref()
        ),
        (Some("Singapore"), None)
    );
    let country_only = cities
        .iter()
        .find(|row| row.client.asn == Some(64498))
        .unwrap();
    assert_eq!(
        (
            country_only.client.country_code.as_deref(),
            country_only.client.city.as_deref()
        ),
        (Some("DE"), None)
    );
    // Prefix rows name their city-network by the same id.
    let v6 = prefixes
        .iter()
        .find(|row| row.client_prefix.to_string() == "2001:db8:ffff::/48")
        .unwrap();
    assert_eq!(&*v6.city_network_id, "AS64499|geoname:2643743");
}

#[test]
fn a_full_rollup_hands_over_rows_that_add_up() {
    // 2,000 records from 1,000 distinct /24s (two addresses each), in two windows.
    let mut log =
        String::from("version srcaddr dstaddr packets bytes start end action log-status\n");
    for idx in 0..2_000u32 {
        let (third, second) = ((idx / 2) % 250, (idx / 2) / 250);
        let host = 1 + idx % 2;
        let start = 1_780_315_200 + (idx % 2) * 300;
        log.push_str(&format!(
            "5 89.{second}.{third}.{host} 10.0.0.5 1 {} {start} {start} ACCEPT OK\n",
            100 + idx
        ));
    }
    let rules = PeerRules::new(&[], None).unwrap();
    let config = RollupConfig {
        prefix_len_v4: 24,
        prefix_len_v6: 48,
        default_location: ServiceLocation::default(),
    };
    let budget = 100;
    let mut bounded = Rollup::new(config.clone()).with_row_budget(budget);
    let mut whole = Rollup::new(config);
    let mut finder = PeerFinder::new(&rules);
    let mut reader = Reader::new(std::io::Cursor::new(log), &Options::default()).unwrap();
    let (mut city_parts, mut prefix_parts, mut n_takes) = (Vec::new(), Vec::new(), 0);
    while let Some(entry) = reader.next_entry().unwrap() {
        let Entry::Record(record) = entry else {
            panic!("{entry:?}")
        };
        let peer = finder.find(&record);
        bounded.add(&record, &peer);
        whole.add(&record, &peer);
        if bounded.is_full() {
            let (cities, prefixes) = bounded.take_rows(None);
            // Each address held is counted once in a city-network row and once in a prefix
            // row; the rollup is full as soon as it holds its budget of them.
            let held: usize = cities.iter().map(|row| row.client_ips as usize).sum();
            assert_eq!(
                held, budget,
                "{held} addresses held for a budget of {budget}"
            );
            let in_prefixes: usize = prefixes.iter().map(|row| row.client_ips as usize).sum();
            assert_eq!(in_prefixes, held);
            city_parts.extend(cities);
            prefix_parts.extend(prefixes);
            n_takes += 1;
        }
    }
    let (cities, prefixes, summary) = bounded.finish(None);
    city_parts.extend(cities);
    prefix_parts.extend(prefixes);
    let (whole_cities, whole_prefixes, whole_summary) = whole.finish(None);
    assert!(n_takes >= 20, "{n_takes} takes");
    assert_eq!(summary, whole_summary);
    let total = |bytes: &mut dyn Iterator<Item = i64>| bytes.sum::<i64>();
    assert_eq!(
        total(&mut prefix_parts.iter().map(|row| row.measures.bytes())),
        total(&mut whole_prefixes.iter().map(|row| row.measures.bytes()))
    );
    assert_eq!(
        total(&mut city_parts.iter().map(|row| row.measures.bytes())),
        total(&mut whole_cities.iter().map(|row| row.measures.bytes()))
    );
    assert_eq!(
        total(&mut city_parts.iter().map(|row| row.measures.flows)),
        2_000
    );
    // Each (window, prefix) key has one record here, so no key is split across parts.
    assert_eq!(prefix_parts.len(), whole_prefixes.len());
}

#[test]
fn a_restarted_rollup_rolls_up_as_a_new_one() {
    let databases = databases(
        "geolite2-asn-scattered.mmdb",
        "geolite2-city-scattered.mmdb",
    );
    let rules = PeerRules::new(&[], None).unwrap();
    let mut enricher = Enricher::new(databases);
    let config = RollupConfig {
        prefix_len_v4: 24,
        prefix_len_v6: 48,
        default_location: ServiceLocation::default(),
    };
    // Two networks of AS64499's London, placed apart: the first object's bytes go mostly to
    // one, the second's to the other, so each object's row must take its own busiest network's
    // coordinates, not the one that was busiest before.
    let object = |heavy: &str, light: &str| {
        format!(
            "version srcaddr dstaddr packets bytes start end action log-status\n\
             2 {heavy} 10.0.0.5 1 9000 1780315210 1780315260 ACCEPT OK\n\
             2 {light} 10.0.0.5 1 10 1780315210 1780315260 ACCEPT OK\n"
        )
    };
    let first = object("203.0.113.40", "203.0.113.5");
    let second = object("203.0.113.5", "203.0.113.40");
    let roll = |rollup: &mut Rollup, log: &str, enricher: &mut Enricher| {
        let mut finder = PeerFinder::new(&rules);
        let mut reader =
            Reader::new(std::io::Cursor::new(log.to_owned()), &Options::default()).unwrap();
        while let Some(entry) = reader.next_entry().unwrap() {
            let Entry::Record(record) = entry else {
                panic!("{entry:?}")
            };
            let peer = finder.find(&record);
            rollup.add(&record, &peer);
        }
        let rows = rollup.take_rows(Some(enricher));
        (rows, rollup.summary().clone())
    };
    let mut reused = Rollup::new(config.clone());
    let ((first_cities, _), _) = roll(&mut reused, &first, &mut enricher);
    reused.restart(config.clone());
    let second_reused = roll(&mut reused, &second, &mut enricher);
    let second_fresh = roll(&mut Rollup::new(config), &second, &mut enricher);
    assert_eq!(second_reused, second_fresh);
    let ((second_cities, _), summary) = second_reused;
    assert_eq!(
        summary.internet_records, 2,
        "the first object's records are not counted"
    );
    assert_eq!((first_cities.len(), second_cities.len()), (1, 1));
    assert_eq!(second_cities[0].measures.bytes_in, 9010);
    assert_ne!(
        (
            first_cities[0].client.latitude,
            first_cities[0].client.longitude
        ),
        (
            second_cities[0].client.latitude,
            second_cities[0].client.longitude
        ),
        "each object's row is placed at its own busiest network"
    );
}
