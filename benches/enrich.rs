//! Enrichment cost on a heavy-tailed address mix: a few networks carry most flows, as in real
//! traffic. Reports lookups/s (criterion) and the network-cache hit rate (stderr), to compare
//! with the per-record cost of parsing in `parse.rs`.

use std::hint::black_box;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use flowatlas_geo::{Databases, Enricher, GeoConfig, write_mmdb};

const N_NETWORKS: u32 = 20_000;
const N_ADDRESSES: usize = 1_000_000;

/// A /24 per network index, spread over the public IPv4 space.
fn network_base(idx: u32) -> u32 {
    (u32::from(Ipv4Addr::new(11, 0, 0, 0)) + idx.wrapping_mul(2_654_435_761) % 0xB000_0000)
        & 0xFFFF_FF00
}

fn database_files() -> (std::path::PathBuf, std::path::PathBuf) {
    let asn_networks: Vec<serde_json::Value> = (0..N_NETWORKS)
        .map(|idx| {
            serde_json::json!({"network": format!("{}/24", Ipv4Addr::from(network_base(idx))),
                "data": {"autonomous_system_number": 64_512 + idx % 1000, "autonomous_system_organization": format!("Network {}", idx % 1000)}})
        })
        .collect();
    let city_networks: Vec<serde_json::Value> = (0..N_NETWORKS)
        .map(|idx| {
            serde_json::json!({"network": format!("{}/24", Ipv4Addr::from(network_base(idx))),
                "data": {"country": {"iso_code": "GB", "names": {"en": "United Kingdom"}},
                         "subdivisions": [{"iso_code": "ENG", "names": {"en": "England"}}],
                         "city": {"names": {"en": format!("City {}", idx % 3000)}},
                         "location": {"latitude": 51.5, "longitude": -0.12, "metro_code": 500}}})
        })
        .collect();
    let source = |database_type: &str, networks: Vec<serde_json::Value>| {
        serde_json::json!({"database_type": database_type, "ip_version": 6, "build_epoch": 1_780_000_000u64,
            "languages": ["en"], "networks": networks})
        .to_string()
    };
    let folder = std::env::temp_dir().join(format!("flowatlas-bench-{}", std::process::id()));
    std::fs::create_dir_all(&folder).unwrap();
    let asn_path = folder.join("asn.mmdb");
    let city_path = folder.join("city.mmdb");
    std::fs::write(
        &asn_path,
        write_mmdb(&source("GeoLite2-ASN", asn_networks)).unwrap(),
    )
    .unwrap();
    std::fs::write(
        &city_path,
        write_mmdb(&source("GeoLite2-City", city_networks)).unwrap(),
    )
    .unwrap();
    (asn_path, city_path)
}

/// Addresses whose networks follow a steep power law; hosts within a network vary.
fn heavy_tailed_addresses() -> Vec<IpAddr> {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..N_ADDRESSES)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let uniform = (state >> 11) as f64 / (1u64 << 53) as f64;
            let network = (f64::from(N_NETWORKS) * uniform.powi(6)) as u32;
            IpAddr::V4(Ipv4Addr::from(
                network_base(network) | ((state >> 3) as u32 & 0xFF),
            ))
        })
        .collect()
}

fn bench(criterion: &mut Criterion) {
    let (asn_path, city_path) = database_files();
    let config = GeoConfig {
        asn_dbs: vec![asn_path],
        geo_dbs: vec![city_path],
        prefixes: None,
    };
    let databases = Arc::new(Databases::open(&config).unwrap());
    let addresses = heavy_tailed_addresses();

    let mut enricher = Enricher::new(databases.clone());
    for &ip in &addresses {
        black_box(enricher.enrich(ip));
    }
    let stats = enricher.stats();
    let _ = writeln!(
        std::io::stderr(),
        "enrich: {} addresses, {} distinct networks looked up, cache hit rate {:.2}%",
        stats.lookups,
        stats.lookups - stats.cache_hits,
        stats.cache_hits as f64 * 100.0 / stats.lookups as f64
    );

    let mut group = criterion.benchmark_group("enrich");
    group.sample_size(10);
    group.throughput(Throughput::Elements(N_ADDRESSES as u64));
    group.bench_function("heavy-tailed, warm cache", |bench| {
        bench.iter(|| {
            for &ip in &addresses {
                black_box(enricher.enrich(ip));
            }
        })
    });
    group.bench_function("heavy-tailed, cold cache", |bench| {
        bench.iter(|| {
            let mut cold = Enricher::new(databases.clone());
            for &ip in &addresses {
                black_box(cold.enrich(ip));
            }
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
