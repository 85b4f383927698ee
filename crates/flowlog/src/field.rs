//! The field catalogue: every field AWS writes in VPC and Transit Gateway flow logs.
//!
//! This list is the only place field names appear. The format parser, the record accessors,
//! the JSON column names and the documentation all read from it.

use std::fmt;
use std::sync::LazyLock;

/// How a field's text is typed when it is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// An IPv4 or IPv6 address.
    Ip,
    /// A non-negative integer no larger than `max`.
    Int {
        /// The largest valid value.
        max: i64,
    },
    /// Unix seconds. AWS writes seconds; values of 10^11 and above are taken as milliseconds and
    /// converted, because no flow log carries a date past the year 5000.
    Timestamp,
    /// One of a closed set of words; anything else is rejected because downstream counts depend on it.
    Choice(&'static [&'static str]),
    /// Free text (identifiers, ARNs, tag values).
    Text,
}

const PORT: Kind = Kind::Int { max: 65_535 };
const BYTE: Kind = Kind::Int { max: 255 };
const INT32: Kind = Kind::Int {
    max: i32::MAX as i64,
};
const INT64: Kind = Kind::Int { max: i64::MAX };

/// Every value AWS documents for `log-status`.
pub const LOG_STATUS_VALUES: &[&str] = &["OK", "NODATA", "SKIPDATA"];
/// Every value AWS documents for `action`.
pub const ACTION_VALUES: &[&str] = &["ACCEPT", "REJECT"];
/// Every value AWS documents for `flow-direction`.
pub const FLOW_DIRECTION_VALUES: &[&str] = &["ingress", "egress"];

macro_rules! catalogue {
    ($( $variant:ident = $name:literal, v $version:literal, $kind:expr, $doc:literal; )*) => {
        /// A flow-log field, named as AWS names it in formats and header lines.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u8)]
        pub enum Field {
            $( #[doc = $doc] $variant, )*
        }

        impl Field {
            /// Every field, in AWS's table order (VPC fields v2–v11, then Transit Gateway fields).
            pub const ALL: &'static [Field] = &[$(Field::$variant),*];

            /// The name AWS uses in `${...}` formats and header lines, e.g. `pkt-srcaddr`.
            pub const fn aws_name(self) -> &'static str {
                match self { $(Field::$variant => $name,)* }
            }

            /// The flow-log version that introduced the field (6 for Transit Gateway fields).
            pub const fn version(self) -> u8 {
                match self { $(Field::$variant => $version,)* }
            }

            /// How the field's value is typed.
            pub const fn kind(self) -> Kind {
                match self { $(Field::$variant => $kind,)* }
            }

            /// One line on what the field holds.
            pub const fn doc(self) -> &'static str {
                match self { $(Field::$variant => $doc,)* }
            }
        }
    };
}

catalogue! {
    Version = "version", v 2, INT32, "Highest version among the fields of the log's format.";
    AccountId = "account-id", v 2, Kind::Text, "Account that owns the source interface; `unknown` for some AWS-managed interfaces.";
    InterfaceId = "interface-id", v 2, Kind::Text, "Network interface (ENI) that recorded the flow.";
    Srcaddr = "srcaddr", v 2, Kind::Ip, "Source address; the interface's own (private) address for outgoing traffic.";
    Dstaddr = "dstaddr", v 2, Kind::Ip, "Destination address; the interface's own (private) address for incoming traffic.";
    Srcport = "srcport", v 2, PORT, "Source port.";
    Dstport = "dstport", v 2, PORT, "Destination port.";
    Protocol = "protocol", v 2, BYTE, "IANA protocol number (6 TCP, 17 UDP, 1 ICMP).";
    Packets = "packets", v 2, INT64, "Packets in the flow during the aggregation interval.";
    Bytes = "bytes", v 2, INT64, "Bytes in the flow during the aggregation interval.";
    Start = "start", v 2, Kind::Timestamp, "Unix seconds of the first packet in the interval.";
    End = "end", v 2, Kind::Timestamp, "Unix seconds of the last packet in the interval.";
    Action = "action", v 2, Kind::Choice(ACTION_VALUES), "ACCEPT or REJECT (security group or network ACL).";
    LogStatus = "log-status", v 2, Kind::Choice(LOG_STATUS_VALUES), "OK, NODATA (no traffic) or SKIPDATA (records were dropped by AWS).";
    VpcId = "vpc-id", v 3, Kind::Text, "VPC of the interface.";
    SubnetId = "subnet-id", v 3, Kind::Text, "Subnet of the interface.";
    InstanceId = "instance-id", v 3, Kind::Text, "Instance attached to the interface, when the account owns it.";
    TcpFlags = "tcp-flags", v 3, BYTE, "OR of the TCP flags seen in the interval: FIN 1, SYN 2, RST 4, SYN-ACK 18.";
    Type = "type", v 3, Kind::Text, "Traffic type: IPv4, IPv6 or EFA.";
    PktSrcaddr = "pkt-srcaddr", v 3, Kind::Ip, "Packet-level source address (differs from srcaddr behind NAT gateways and for pod IPs).";
    PktDstaddr = "pkt-dstaddr", v 3, Kind::Ip, "Packet-level destination address.";
    Region = "region", v 4, Kind::Text, "Region of the interface.";
    AzId = "az-id", v 4, Kind::Text, "Availability Zone ID of the interface, e.g. use1-az4.";
    SublocationType = "sublocation-type", v 4, Kind::Text, "wavelength, outpost or localzone, when the interface is in one.";
    SublocationId = "sublocation-id", v 4, Kind::Text, "ID of the sublocation.";
    PktSrcAwsService = "pkt-src-aws-service", v 5, Kind::Text, "AWS ip-ranges subset that pkt-srcaddr belongs to, e.g. S3.";
    PktDstAwsService = "pkt-dst-aws-service", v 5, Kind::Text, "AWS ip-ranges subset that pkt-dstaddr belongs to.";
    FlowDirection = "flow-direction", v 5, Kind::Choice(FLOW_DIRECTION_VALUES), "ingress or egress, relative to the recording interface.";
    TrafficPath = "traffic-path", v 5, INT32, "Egress path code 1-8 (2 and 8: internet gateway).";
    EcsClusterArn = "ecs-cluster-arn", v 7, Kind::Text, "ECS cluster of the task that sent or received the traffic.";
    EcsClusterName = "ecs-cluster-name", v 7, Kind::Text, "ECS cluster name.";
    EcsContainerInstanceArn = "ecs-container-instance-arn", v 7, Kind::Text, "ECS container instance ARN, for tasks on EC2.";
    EcsContainerInstanceId = "ecs-container-instance-id", v 7, Kind::Text, "ECS container instance ID, for tasks on EC2.";
    EcsContainerId = "ecs-container-id", v 7, Kind::Text, "Runtime ID of the task's first container.";
    EcsSecondContainerId = "ecs-second-container-id", v 7, Kind::Text, "Runtime ID of the task's second container.";
    EcsServiceName = "ecs-service-name", v 7, Kind::Text, "ECS service that started the task.";
    EcsTaskDefinitionArn = "ecs-task-definition-arn", v 7, Kind::Text, "Task definition ARN.";
    EcsTaskArn = "ecs-task-arn", v 7, Kind::Text, "Task ARN.";
    EcsTaskId = "ecs-task-id", v 7, Kind::Text, "Task ID.";
    RejectReason = "reject-reason", v 8, Kind::Text, "Why traffic was rejected beyond security rules, e.g. BPA (block public access).";
    ResourceId = "resource-id", v 9, Kind::Text, "Resource that recorded the flow when there is no interface, e.g. a regional NAT gateway.";
    EncryptionStatus = "encryption-status", v 10, INT32, "0 clear, 1 Nitro-encrypted, 2 application-encrypted, 3 both.";
    InstanceTag = "instance-tag", v 11, Kind::Text, "Value of the first configured instance tag (percent-encoded).";
    InstanceTag2 = "instance-tag-2", v 11, Kind::Text, "Value of the second configured instance tag.";
    InterfaceTag = "interface-tag", v 11, Kind::Text, "Value of the first configured interface tag.";
    InterfaceTag2 = "interface-tag-2", v 11, Kind::Text, "Value of the second configured interface tag.";
    AsgTag = "asg-tag", v 11, Kind::Text, "Value of the first configured Auto Scaling group tag.";
    AsgTag2 = "asg-tag-2", v 11, Kind::Text, "Value of the second configured Auto Scaling group tag.";
    InterfaceType = "interface-type", v 11, Kind::Text, "Type of the recording interface, e.g. nat_gateway, vpc_endpoint.";
    NextHopInterfaceId = "next-hop-interface-id", v 11, Kind::Text, "Next-hop interface: the receiver for egress, the sender for ingress.";
    NextHopSubnetId = "next-hop-subnet-id", v 11, Kind::Text, "Subnet of the next-hop interface.";
    NextHopAzId = "next-hop-az-id", v 11, Kind::Text, "Availability Zone ID of the next-hop interface.";
    NextHopVpcId = "next-hop-vpc-id", v 11, Kind::Text, "VPC of the next-hop interface.";
    NextHopInterfaceType = "next-hop-interface-type", v 11, Kind::Text, "Type of the next-hop interface.";
    ResourceType = "resource-type", v 6, Kind::Text, "Transit Gateway logs: TransitGateway or TransitGatewayAttachment.";
    TgwId = "tgw-id", v 6, Kind::Text, "Transit gateway ID.";
    TgwAttachmentId = "tgw-attachment-id", v 6, Kind::Text, "Transit gateway attachment ID.";
    TgwSrcVpcAccountId = "tgw-src-vpc-account-id", v 6, Kind::Text, "Account of the source VPC.";
    TgwDstVpcAccountId = "tgw-dst-vpc-account-id", v 6, Kind::Text, "Account of the destination VPC.";
    TgwSrcVpcId = "tgw-src-vpc-id", v 6, Kind::Text, "Source VPC.";
    TgwDstVpcId = "tgw-dst-vpc-id", v 6, Kind::Text, "Destination VPC.";
    TgwSrcSubnetId = "tgw-src-subnet-id", v 6, Kind::Text, "Source subnet.";
    TgwDstSubnetId = "tgw-dst-subnet-id", v 6, Kind::Text, "Destination subnet.";
    TgwSrcEni = "tgw-src-eni", v 6, Kind::Text, "Source attachment ENI.";
    TgwDstEni = "tgw-dst-eni", v 6, Kind::Text, "Destination attachment ENI.";
    TgwSrcAzId = "tgw-src-az-id", v 6, Kind::Text, "Availability Zone ID of the source.";
    TgwDstAzId = "tgw-dst-az-id", v 6, Kind::Text, "Availability Zone ID of the destination.";
    TgwPairAttachmentId = "tgw-pair-attachment-id", v 6, Kind::Text, "Attachment on the other side of the transit gateway for this flow.";
    PacketsLostNoRoute = "packets-lost-no-route", v 6, INT64, "Packets dropped for lack of a route.";
    PacketsLostBlackhole = "packets-lost-blackhole", v 6, INT64, "Packets dropped by a blackhole route.";
    PacketsLostMtuExceeded = "packets-lost-mtu-exceeded", v 6, INT64, "Packets dropped for exceeding the MTU.";
    PacketsLostTtlExpired = "packets-lost-ttl-expired", v 6, INT64, "Packets dropped because their TTL expired.";
}

/// Number of fields in the catalogue.
pub const N_FIELDS: usize = Field::ALL.len();

/// Column names (`aws_name` with `_` for `-`), built once.
static COLUMN_NAMES: LazyLock<Vec<String>> = LazyLock::new(|| {
    Field::ALL
        .iter()
        .map(|field| field.aws_name().replace('-', "_"))
        .collect()
});

impl Field {
    /// The snake_case name used for JSON keys, Parquet columns and SQL, e.g. `pkt_srcaddr`.
    pub fn column_name(self) -> &'static str {
        &COLUMN_NAMES[self as usize]
    }

    /// Looks a field up by its AWS name or its column name (`pkt-srcaddr` or `pkt_srcaddr`).
    pub fn from_name(name: &str) -> Option<Field> {
        let len = name.len();
        Field::ALL.iter().copied().find(|field| {
            let aws = field.aws_name().as_bytes();
            aws.len() == len
                && aws
                    .iter()
                    .zip(name.as_bytes())
                    .all(|(&a, &b)| a == b || (a == b'-' && b == b'_'))
        })
    }

    /// True for fields that only Transit Gateway flow logs carry.
    pub const fn is_transit_gateway_only(self) -> bool {
        (self as u8) >= (Field::ResourceType as u8)
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.aws_name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vpc_catalogue_has_54_fields_in_version_order() {
        let vpc: Vec<Field> = Field::ALL
            .iter()
            .copied()
            .filter(|field| !field.is_transit_gateway_only())
            .collect();
        assert_eq!(vpc.len(), 54);
        assert!(
            vpc.windows(2)
                .all(|pair| pair[0].version() <= pair[1].version())
        );
        let per_version = |max: u8| vpc.iter().filter(|f| f.version() <= max).count();
        assert_eq!(per_version(2), 14);
        assert_eq!(per_version(5), 29);
        assert_eq!(per_version(10), 42);
    }

    #[test]
    fn transit_gateway_fields_are_version_6() {
        let tgw: Vec<Field> = Field::ALL
            .iter()
            .copied()
            .filter(|field| field.is_transit_gateway_only())
            .collect();
        assert_eq!(tgw.len(), 18);
        assert!(tgw.iter().all(|field| field.version() == 6));
    }

    #[test]
    fn names_are_unique_and_round_trip() {
        for &field in Field::ALL {
            assert_eq!(Field::from_name(field.aws_name()), Some(field));
            assert_eq!(Field::from_name(field.column_name()), Some(field));
            assert!(!field.column_name().contains('-'));
        }
        assert_eq!(Field::from_name("srcaddr_"), None);
        assert_eq!(Field::from_name("pkt-srcaddr-x"), None);
        // `_` in an AWS name position that holds a letter is not a match.
        assert_eq!(Field::from_name("srcadd_"), None);
    }
}
