//! The agent's location from the EC2 instance metadata service, against a mock of it on
//! loopback (`flowatlas_testkit::MetadataServer`): no real metadata service can run off EC2.
//! The mock speaks IMDSv2's token protocol and refuses requests without the token, so a
//! client that skipped the token (IMDSv1) would fail here.

use flowatlas_agent::{ImdsError, instance_location};
use flowatlas_testkit::{
    METADATA_ACCOUNT, METADATA_AZ_ID, METADATA_REGION, MetadataBehaviour, MetadataServer,
};

#[test]
fn location_comes_from_the_token_protocol() {
    let server = MetadataServer::start(MetadataBehaviour::Answers);
    let location = instance_location(&server.endpoint).unwrap();
    assert_eq!(location.account_id.as_deref(), Some(METADATA_ACCOUNT));
    assert_eq!(location.region.as_deref(), Some(METADATA_REGION));
    assert_eq!(location.az_id.as_deref(), Some(METADATA_AZ_ID));
    assert_eq!(
        server.requests(),
        [
            "PUT /latest/api/token -> 200",
            "GET /latest/dynamic/instance-identity/document -> 200",
            "GET /latest/meta-data/placement/availability-zone-id -> 200",
        ]
    );
}

#[test]
fn an_unanswering_or_absent_service_gives_up() {
    let silent = MetadataServer::start(MetadataBehaviour::Silent);
    let error = instance_location(&silent.endpoint).unwrap_err();
    assert!(
        matches!(&error, ImdsError::Io { path: "/latest/api/token", source } if source.kind() == std::io::ErrorKind::WouldBlock || source.kind() == std::io::ErrorKind::TimedOut),
        "{error}"
    );
    // Nothing listens on a port just released.
    let port = flowatlas_testkit::free_port();
    let error = instance_location(&format!("http://127.0.0.1:{port}")).unwrap_err();
    assert!(matches!(error, ImdsError::Io { .. }), "{error}");
    assert!(matches!(
        instance_location("https://169.254.169.254"),
        Err(ImdsError::Endpoint(_))
    ));
}
