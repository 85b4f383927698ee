//! The demo's world: cities shaped as GeoLite2 City records (GeoNames ids, a city without
//! subdivision, country-only places), the ISPs serving them, one client network per city and
//! ISP with a heavy-tailed weight, and the ASN and city databases that cover those networks —
//! each network split into subnets at scattered coordinates, as real databases place them.

use crate::DAY_START;
use crate::random::Random;

/// A place of the demo world, shaped as GeoLite2 City records are: GeoNames ids for the city,
/// its subdivision and its country; some cities have no subdivision, and some networks are
/// placed only in a country.
pub(crate) struct City {
    /// The city's name, or for a country-only place a label that is never written.
    pub(crate) name: &'static str,
    /// The city's GeoNames id; `None` for a network placed only in its country.
    pub(crate) geoname_id: Option<u32>,
    /// Code, name and GeoNames id of the first subdivision, when the city has one.
    pub(crate) subdivision: Option<(&'static str, &'static str, u32)>,
    /// Code, name and GeoNames id of the country.
    pub(crate) country: (&'static str, &'static str, u32),
    pub(crate) lat: f64,
    pub(crate) lon: f64,
    pub(crate) metro: Option<u16>,
}

const CITIES: &[City] = &[
    City {
        name: "New York",
        geoname_id: Some(5128581),
        subdivision: Some(("NY", "New York", 5128638)),
        country: ("US", "United States", 6252001),
        lat: 40.71,
        lon: -74.01,
        metro: Some(501),
    },
    City {
        name: "Los Angeles",
        geoname_id: Some(5368361),
        subdivision: Some(("CA", "California", 5332921)),
        country: ("US", "United States", 6252001),
        lat: 34.05,
        lon: -118.24,
        metro: Some(803),
    },
    City {
        name: "Chicago",
        geoname_id: Some(4887398),
        subdivision: Some(("IL", "Illinois", 4896861)),
        country: ("US", "United States", 6252001),
        lat: 41.88,
        lon: -87.63,
        metro: Some(602),
    },
    City {
        name: "Seattle",
        geoname_id: Some(5809844),
        subdivision: Some(("WA", "Washington", 5815135)),
        country: ("US", "United States", 6252001),
        lat: 47.61,
        lon: -122.33,
        metro: Some(819),
    },
    City {
        name: "Houston",
        geoname_id: Some(4699066),
        subdivision: Some(("TX", "Texas", 4736286)),
        country: ("US", "United States", 6252001),
        lat: 29.76,
        lon: -95.37,
        metro: Some(618),
    },
    City {
        name: "Boston",
        geoname_id: Some(4930956),
        subdivision: Some(("MA", "Massachusetts", 6254926)),
        country: ("US", "United States", 6252001),
        lat: 42.36,
        lon: -71.06,
        metro: Some(506),
    },
    City {
        name: "London",
        geoname_id: Some(2643743),
        subdivision: Some(("ENG", "England", 6269131)),
        country: ("GB", "United Kingdom", 2635167),
        lat: 51.51,
        lon: -0.13,
        metro: None,
    },
    City {
        name: "Manchester",
        geoname_id: Some(2643123),
        subdivision: Some(("ENG", "England", 6269131)),
        country: ("GB", "United Kingdom", 2635167),
        lat: 53.48,
        lon: -2.24,
        metro: None,
    },
    City {
        name: "Berlin",
        geoname_id: Some(2950159),
        subdivision: Some(("BE", "Land Berlin", 2950157)),
        country: ("DE", "Germany", 2921044),
        lat: 52.52,
        lon: 13.40,
        metro: None,
    },
    City {
        name: "Munich",
        geoname_id: Some(2867714),
        subdivision: Some(("BY", "Bavaria", 2951839)),
        country: ("DE", "Germany", 2921044),
        lat: 48.14,
        lon: 11.58,
        metro: None,
    },
    City {
        name: "Paris",
        geoname_id: Some(2988507),
        subdivision: Some(("IDF", "Île-de-France", 3012874)),
        country: ("FR", "France", 3017382),
        lat: 48.86,
        lon: 2.35,
        metro: None,
    },
    City {
        name: "São Paulo",
        geoname_id: Some(3448439),
        subdivision: Some(("SP", "São Paulo", 3448433)),
        country: ("BR", "Brazil", 3469034),
        lat: -23.55,
        lon: -46.63,
        metro: None,
    },
    City {
        name: "Tokyo",
        geoname_id: Some(1850147),
        subdivision: Some(("13", "Tokyo", 1850144)),
        country: ("JP", "Japan", 1861060),
        lat: 35.69,
        lon: 139.69,
        metro: None,
    },
    City {
        name: "Mumbai",
        geoname_id: Some(1275339),
        subdivision: Some(("MH", "Maharashtra", 1264418)),
        country: ("IN", "India", 1269750),
        lat: 19.08,
        lon: 72.88,
        metro: None,
    },
    City {
        name: "Sydney",
        geoname_id: Some(2147714),
        subdivision: Some(("NSW", "New South Wales", 2155400)),
        country: ("AU", "Australia", 2077456),
        lat: -33.87,
        lon: 151.21,
        metro: None,
    },
];

/// Places whose records are shaped unlike most: their networks join the world after the
/// weights of the cities above are set, so those keep their proportions across versions.
const ODD_PLACES: &[City] = &[
    // A city-state: GeoLite2 gives Singapore's networks a city and no subdivision.
    City {
        name: "Singapore",
        geoname_id: Some(1880252),
        subdivision: None,
        country: ("SG", "Singapore", 1880251),
        lat: 1.29,
        lon: 103.85,
        metro: None,
    },
    // Mobile networks are often placed only in their country, at its centroid.
    City {
        name: "(Germany)",
        geoname_id: None,
        subdivision: None,
        country: ("DE", "Germany", 2921044),
        lat: 51.30,
        lon: 9.49,
        metro: None,
    },
];

/// (AS number, name, countries it serves).
const ISPS: &[(u32, &str, &[&str])] = &[
    (64496, "Northwind Cable", &["US"]),
    (64497, "Bluewave Fiber", &["US"]),
    (64498, "Contoso Wireless", &["US", "GB", "DE"]),
    (64499, "Albion Broadband", &["GB"]),
    (64500, "Thames Mobile", &["GB"]),
    (64501, "Rheinnetz", &["DE"]),
    (64502, "Lumière Télécom", &["FR"]),
    (64503, "Sakura Hikari", &["JP"]),
    (64504, "Ipanema Net", &["BR"]),
    (64505, "Deccan Telecom", &["IN"]),
    (64506, "Harbour Internet", &["AU"]),
    (64507, "Merlion Broadband", &["SG"]),
    (
        65536,
        "Globex Transit",
        &["US", "GB", "DE", "FR", "JP", "BR", "IN", "AU", "SG"],
    ),
];

/// The mobile carrier, the one ISP with networks placed only in a country.
const MOBILE_ASN: u32 = 64498;

/// Networks the city database splits each city-network's prefix into, each placed apart (as
/// GeoLite2 places every network of a city at its own coordinates, with its own postal code and
/// accuracy radius): a /24 becomes four /26, a /48 four /50.
pub(crate) const SUBNETS_PER_NETWORK: u32 = 4;

/// A client network of the demo world.
pub(crate) struct Network {
    pub(crate) cidr: String,
    pub(crate) v6: bool,
    pub(crate) index: u32,
    pub(crate) asn: u32,
    pub(crate) as_name: &'static str,
    pub(crate) city: &'static City,
    pub(crate) weight: f64,
}

pub(crate) fn world() -> Vec<Network> {
    let mut networks = Vec::new();
    for city in CITIES {
        add_networks(city, &mut networks);
    }
    let n_weighted = networks.len();
    for city in ODD_PLACES {
        add_networks(city, &mut networks);
    }
    // Heavy-tailed: a few city-networks carry most traffic, in a seed-independent order; the
    // odd places' networks sit in the tail.
    for (rank, network) in networks.iter_mut().enumerate() {
        let shuffled = if rank < n_weighted {
            (rank * 7 + 3) % n_weighted
        } else {
            rank
        };
        network.weight = 1.0 / (shuffled as f64 + 1.0).powf(1.1);
    }
    networks
}

/// A city's network of every ISP serving its country (only the mobile carrier's where the
/// place is a country).
fn add_networks(city: &'static City, networks: &mut Vec<Network>) {
    for &(asn, as_name, countries) in ISPS {
        let country_only = city.geoname_id.is_none();
        if !countries.contains(&city.country.0) || (country_only && asn != MOBILE_ASN) {
            continue;
        }
        let index = networks.len() as u32;
        let v6 = index % 5 == 4;
        let cidr = if v6 {
            format!("2001:db8:{:x}::/48", 0x100 + index)
        } else {
            format!("198.{}.{}.0/24", 18 + index / 256, index % 256)
        };
        networks.push(Network {
            cidr,
            v6,
            index,
            asn,
            as_name,
            city,
            weight: 0.0,
        });
    }
}

pub(crate) fn database_sources(networks: &[Network]) -> (String, String) {
    let asn: Vec<serde_json::Value> = networks
        .iter()
        .map(|network| {
            serde_json::json!({"network": network.cidr, "data": {
                "autonomous_system_number": network.asn, "autonomous_system_organization": network.as_name}})
        })
        .collect();
    let city: Vec<serde_json::Value> = networks
        .iter()
        .flat_map(|network| (0..SUBNETS_PER_NETWORK).map(move |part| city_record(network, part)))
        .collect();
    let source = |database_type: &str, networks: Vec<serde_json::Value>| {
        serde_json::json!({"database_type": database_type, "ip_version": 6, "build_epoch": DAY_START,
            "languages": ["en"], "description": {"en": "flowatlas demo world"}, "networks": networks})
        .to_string()
    };
    (source("GeoLite2-ASN", asn), source("GeoLite2-City", city))
}

/// Where the city database places one of a network's subnets: coordinates scattered up to
/// about 25 km around the city (the country's centroid for a country-only place), an accuracy
/// radius and a postal code of its own.
pub(crate) struct SubnetPlace {
    pub(crate) latitude: f64,
    pub(crate) longitude: f64,
    pub(crate) accuracy_radius: u32,
    pub(crate) postal_code: String,
}

pub(crate) fn subnet_place(network: &Network, part: u32) -> SubnetPlace {
    let city = network.city;
    let mut scatter = Random(u64::from(network.index) << 8 | u64::from(part));
    let mut near =
        |center: f64| ((center + 0.25 * (2.0 * scatter.unit() - 1.0)) * 1e4).round() / 1e4;
    let (latitude, longitude) = match city.geoname_id {
        Some(_) => (near(city.lat), near(city.lon)),
        None => (city.lat, city.lon),
    };
    let accuracy_radius = match city.geoname_id {
        Some(_) => [5, 10, 20, 50, 100, 200, 500][scatter.below(7) as usize],
        None => 1000,
    };
    SubnetPlace {
        latitude,
        longitude,
        accuracy_radius,
        postal_code: format!("{}{}", &city.country.0[..1], 1000 + scatter.below(9000)),
    }
}

/// The city database's record of one of a network's subnets, shaped as GeoLite2 City's.
fn city_record(network: &Network, part: u32) -> serde_json::Value {
    let city = network.city;
    let place = subnet_place(network, part);
    let mut location = serde_json::json!({
        "latitude": place.latitude,
        "longitude": place.longitude,
        "accuracy_radius": place.accuracy_radius,
    });
    if let Some(metro) = city.metro {
        location["metro_code"] = metro.into();
    }
    let (code, name, geoname_id) = city.country;
    let mut data = serde_json::json!({
        "country": {"geoname_id": geoname_id, "iso_code": code, "names": {"en": name}},
        "location": location,
    });
    if let Some(city_geoname_id) = city.geoname_id {
        data["city"] =
            serde_json::json!({"geoname_id": city_geoname_id, "names": {"en": city.name}});
        data["postal"] = serde_json::json!({"code": place.postal_code});
        if let Some((code, name, geoname_id)) = city.subdivision {
            data["subdivisions"] = serde_json::json!([{"geoname_id": geoname_id, "iso_code": code, "names": {"en": name}}]);
        }
    }
    serde_json::json!({"network": subnet(network, part), "data": data})
}

/// One of the [`SUBNETS_PER_NETWORK`] equal parts of a network's prefix.
fn subnet(network: &Network, part: u32) -> String {
    if network.v6 {
        format!("2001:db8:{:x}:{:x}::/50", 0x100 + network.index, part << 14)
    } else {
        format!(
            "198.{}.{}.{}/26",
            18 + network.index / 256,
            network.index % 256,
            part * 64
        )
    }
}

pub(crate) fn host_of(network: &Network, random: &mut Random) -> String {
    let host = random.below(250) + 2;
    if network.v6 {
        let part = random.below(u64::from(SUBNETS_PER_NETWORK));
        format!(
            "2001:db8:{:x}:{:x}::{:x}",
            0x100 + network.index,
            part << 14,
            host
        )
    } else {
        format!(
            "198.{}.{}.{host}",
            18 + network.index / 256,
            network.index % 256
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_world_is_about_fifty_unrouted_city_networks() {
        let networks = world();
        assert!(
            (45..=55).contains(&networks.len()),
            "{} networks",
            networks.len()
        );
        for network in &networks {
            let allowed = if network.v6 {
                network.cidr.starts_with("2001:db8:")
            } else {
                network.cidr.starts_with("198.18.") || network.cidr.starts_with("198.19.")
            };
            assert!(allowed, "{}", network.cidr);
        }
        let countries: std::collections::BTreeSet<&str> = networks
            .iter()
            .map(|network| network.city.country.0)
            .collect();
        assert_eq!(countries.len(), 9);
        let (asn, city) = database_sources(&networks);
        assert!(
            flowatlas_geo::write_mmdb(&asn).is_ok() && flowatlas_geo::write_mmdb(&city).is_ok()
        );
    }
}
