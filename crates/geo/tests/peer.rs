//! Which side is the client, on AWS's documented examples and the cases around them.

use std::path::Path;

use flowatlas_flowlog::{Entry, Options, Reader};
use flowatlas_geo::{Direction, Peer, PeerFinder, PeerKind, PeerRules, Side};

fn peers_of(text: &str, rules: &PeerRules) -> Vec<Peer> {
    let mut reader =
        Reader::new(std::io::Cursor::new(text.to_string()), &Options::default()).unwrap();
    let mut finder = PeerFinder::new(rules);
    let mut peers = Vec::new();
    while let Some(entry) = reader.next_entry().unwrap() {
        let Entry::Record(record) = entry else {
            panic!("unexpected reject: {entry:?}");
        };
        peers.push(finder.find(&record));
    }
    peers
}

fn fixture(name: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../testdata/flowlog/ok")
            .join(name),
    )
    .unwrap()
}

fn summary(peer: &Peer) -> (Option<Side>, PeerKind, Option<String>, Option<Direction>) {
    (
        peer.side,
        peer.kind,
        peer.ip.map(|ip| ip.to_string()),
        peer.direction,
    )
}

#[test]
fn nat_gateway_example_uses_packet_addresses() {
    let peers = peers_of(
        &fixture("aws-example-nat-gateway.log"),
        &PeerRules::default(),
    );
    assert_eq!(
        summary(&peers[0]),
        (
            Some(Side::Dst),
            PeerKind::Internet,
            Some("203.0.113.5".into()),
            Some(Direction::Out)
        )
    );
    assert_eq!(
        summary(&peers[1]),
        (
            Some(Side::Src),
            PeerKind::Internet,
            Some("203.0.113.5".into()),
            Some(Direction::In)
        )
    );
}

#[test]
fn v5_example_pair_is_aws_s3_both_ways() {
    let peers = peers_of(
        &fixture("aws-examples-v5-custom.log"),
        &PeerRules::default(),
    );
    assert_eq!(
        summary(&peers[0]),
        (
            Some(Side::Src),
            PeerKind::Aws,
            Some("52.95.128.179".into()),
            Some(Direction::In)
        )
    );
    assert_eq!(
        summary(&peers[1]),
        (
            Some(Side::Dst),
            PeerKind::Aws,
            Some("52.95.128.179".into()),
            Some(Direction::Out)
        )
    );
    assert_eq!(peers[0].aws_service.as_deref(), Some("S3"));
}

#[test]
fn private_and_nodata_records_have_no_peer() {
    let peers = peers_of(&fixture("aws-examples-v2.log"), &PeerRules::default());
    let kinds: Vec<PeerKind> = peers.iter().map(|peer| peer.kind).collect();
    assert_eq!(
        kinds,
        [
            PeerKind::Private,
            PeerKind::Private,
            PeerKind::Unknown,
            PeerKind::Unknown
        ]
    );
    assert!(
        peers
            .iter()
            .all(|peer| peer.side.is_none() && peer.ip.is_none())
    );
}

const V5_HEADER: &str = "version interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status flow-direction";

#[test]
fn ipv6_public_to_public_follows_flow_direction_even_against_naive_order() {
    let text = format!(
        "{V5_HEADER}
5 eni-1 2001:db8:85a3::7 2600:1f18:abcd:1200::10 51234 443 6 10 900 1780315200 1780315259 ACCEPT OK ingress
5 eni-1 2600:1f18:abcd:1200::10 2001:db8:85a3::7 443 51234 6 12 9100 1780315200 1780315259 ACCEPT OK egress
"
    );
    let peers = peers_of(&text, &PeerRules::default());
    assert_eq!(
        summary(&peers[0]),
        (
            Some(Side::Src),
            PeerKind::Internet,
            Some("2001:db8:85a3::7".into()),
            Some(Direction::In)
        )
    );
    assert_eq!(
        summary(&peers[1]),
        (
            Some(Side::Dst),
            PeerKind::Internet,
            Some("2001:db8:85a3::7".into()),
            Some(Direction::Out)
        )
    );
}

#[test]
fn without_direction_the_interfaces_own_address_is_learned_or_it_stays_unknown() {
    let header = "version interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status";
    let own = "2600:1f18:abcd:1200::10";
    let mut text = format!("{header}\n");
    for idx in 0..12 {
        let client = format!("2001:db8:{idx:x}::7");
        if idx % 2 == 0 {
            text.push_str(&format!(
                "3 eni-1 {client} {own} 5000 443 6 1 60 1780315200 1780315201 ACCEPT OK\n"
            ));
        } else {
            text.push_str(&format!(
                "3 eni-1 {own} {client} 443 5000 6 1 60 1780315200 1780315201 ACCEPT OK\n"
            ));
        }
    }
    let peers = peers_of(&text, &PeerRules::default());
    // Too few records to know the interface's address: counted unknown, not guessed.
    assert!(peers[..7].iter().all(|peer| peer.kind == PeerKind::Unknown));
    // Then its own address is known, and the other side is the peer.
    for (idx, peer) in peers.iter().enumerate().skip(7) {
        assert_eq!(peer.kind, PeerKind::Internet, "record {idx}");
        assert_eq!(peer.ip.unwrap().to_string(), format!("2001:db8:{idx:x}::7"));
        assert_eq!(
            peer.side,
            Some(if idx % 2 == 0 { Side::Src } else { Side::Dst })
        );
    }

    // Declaring the VPC's range settles every record from the first.
    let rules = PeerRules::new(&["2600:1f18:abcd::/48".to_string()], None).unwrap();
    let peers = peers_of(&text, &rules);
    assert!(peers.iter().all(|peer| peer.kind == PeerKind::Internet));
}

#[test]
fn user_ip_ranges_make_aws_peers() {
    let json = r#"{"prefixes":[{"ip_prefix":"203.0.113.0/24","region":"us-east-1","service":"CLOUDFRONT"}]}"#;
    let rules = PeerRules::new(&[], Some(json)).unwrap();
    let peers = peers_of(&fixture("aws-example-nat-gateway.log"), &rules);
    assert_eq!(peers[0].kind, PeerKind::Aws);
    assert_eq!(peers[0].aws_service.as_deref(), Some("CLOUDFRONT"));
    let mut finder = PeerFinder::new(&rules);
    assert_eq!(finder.count(PeerKind::Aws), 0);
    let mut reader = Reader::new(
        std::io::Cursor::new(fixture("aws-example-nat-gateway.log")),
        &Options::default(),
    )
    .unwrap();
    while let Some(Entry::Record(record)) = reader.next_entry().unwrap() {
        finder.find(&record);
    }
    assert_eq!(finder.count(PeerKind::Aws), 2);
}

#[test]
fn ipv4_mapped_addresses_follow_the_ipv4_rules() {
    let text = format!(
        "{V5_HEADER}
5 eni-1 ::ffff:203.0.113.5 ::ffff:10.0.0.5 51234 443 6 10 900 1780315200 1780315259 ACCEPT OK ingress
"
    );
    let peers = peers_of(&text, &PeerRules::default());
    assert_eq!(
        summary(&peers[0]),
        (
            Some(Side::Src),
            PeerKind::Internet,
            Some("203.0.113.5".into()),
            Some(Direction::In)
        )
    );
    let own = PeerRules::new(&["203.0.113.0/24".to_string()], None).unwrap();
    assert_eq!(peers_of(&text, &own)[0].kind, PeerKind::Private);
}
