//! The field catalogue: every field AWS documents for ALB connection logs and NLB access logs,
//! in the documented order.
//!
//! This list is the only place field names appear: the reader, the rejects, the goldens and
//! the documentation read from it. Sources: Elastic Load Balancing user guides, "Connection
//! logs for your Application Load Balancer" and "Access logs for your Network Load Balancer".

use std::fmt;

/// Which of the two logs a line belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LogKind {
    /// An Application Load Balancer's connection log: one line per connection attempt,
    /// `tls_handshake_latency` in seconds.
    AlbConnection,
    /// A Network Load Balancer's access log: TLS listeners only, one line per TLS connection,
    /// `tls_handshake_time` in milliseconds.
    NlbAccess,
}

impl LogKind {
    /// Both kinds.
    pub const ALL: [LogKind; 2] = [LogKind::AlbConnection, LogKind::NlbAccess];

    /// The kind's stable snake_case name.
    pub const fn name(self) -> &'static str {
        match self {
            LogKind::AlbConnection => "alb_connection",
            LogKind::NlbAccess => "nlb_access",
        }
    }

    /// The kind's fields, in the documented order.
    pub fn fields(self) -> &'static [Field] {
        let start = Field::ALL
            .iter()
            .position(|field| field.log() == self)
            .unwrap_or(0);
        let len = Field::ALL[start..]
            .iter()
            .take_while(|field| field.log() == self)
            .count();
        &Field::ALL[start..start + len]
    }

    /// Fields every line carries; the later ones were added by AWS over time and may be
    /// missing from older logs.
    pub fn n_required(self) -> usize {
        self.fields()
            .iter()
            .take_while(|field| field.required())
            .count()
    }
}

impl fmt::Display for LogKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How a field's text is typed when it is read. `-` is "not applicable" in every field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// ISO 8601 UTC time, `2023-10-04T17:33:29.574474Z` (ALB) or `2018-12-20T02:59:40` (NLB).
    Time,
    /// An IPv4 or IPv6 address.
    Ip,
    /// A port, 0–65535.
    Port,
    /// `address:port` (`[v6]:port` or `v6:port`).
    AddressPort,
    /// A duration in seconds with a fraction (millisecond precision).
    Seconds,
    /// A duration in milliseconds (a fraction is accepted).
    Millis,
    /// A non-negative integer.
    Count,
    /// One word of a closed set.
    Choice(&'static [&'static str]),
    /// Free text (names, ARNs, cipher suites); may be double-quoted.
    Text,
}

/// Values of the NLB `type` field: access logs are written for TLS listeners only.
pub const NLB_TYPE_VALUES: &[&str] = &["tls"];

macro_rules! catalogue {
    ($( $variant:ident = $name:literal, $log:ident, $kind:expr, $required:literal, $doc:literal; )*) => {
        /// A field of an ALB connection log or an NLB access log, named as AWS documents it.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Field {
            $( #[doc = $doc] $variant, )*
        }

        impl Field {
            /// Every field: the ALB connection log's, then the NLB access log's, each in the
            /// documented order.
            pub const ALL: &'static [Field] = &[$(Field::$variant),*];

            /// The name AWS documents, e.g. `tls_handshake_latency` or `client:port`.
            pub const fn aws_name(self) -> &'static str {
                match self { $(Field::$variant => $name,)* }
            }

            /// The log the field belongs to.
            pub const fn log(self) -> LogKind {
                match self { $(Field::$variant => LogKind::$log,)* }
            }

            /// How its value is typed.
            pub const fn kind(self) -> Kind {
                match self { $(Field::$variant => $kind,)* }
            }

            /// False for fields AWS appended later: older lines end before them.
            pub const fn required(self) -> bool {
                match self { $(Field::$variant => $required,)* }
            }

            /// One line on what the field holds.
            pub const fn doc(self) -> &'static str {
                match self { $(Field::$variant => $doc,)* }
            }
        }
    };
}

catalogue! {
    AlbTimestamp = "timestamp", AlbConnection, Kind::Time, true, "When the load balancer established, or failed to establish, the connection (ISO 8601, microseconds).";
    AlbClientIp = "client_ip", AlbConnection, Kind::Ip, true, "Address of the requesting client (of a proxy in front of the load balancer, if any).";
    AlbClientPort = "client_port", AlbConnection, Kind::Port, true, "Port of the requesting client.";
    AlbListenerPort = "listener_port", AlbConnection, Kind::Port, true, "Port of the listener that received the connection.";
    AlbTlsProtocol = "tls_protocol", AlbConnection, Kind::Text, true, "TLS protocol of the connection; `-` when it is not TLS.";
    AlbTlsCipher = "tls_cipher", AlbConnection, Kind::Text, true, "TLS cipher suite; `-` when it is not TLS.";
    AlbTlsHandshakeLatency = "tls_handshake_latency", AlbConnection, Kind::Seconds, true, "Seconds, with millisecond precision, spent establishing the TLS handshake; `-` when there was no handshake or it failed.";
    AlbLeafClientCertSubject = "leaf_client_cert_subject", AlbConnection, Kind::Text, true, "Subject of the client's leaf certificate (mutual TLS), quoted; `-` otherwise.";
    AlbLeafClientCertValidity = "leaf_client_cert_validity", AlbConnection, Kind::Text, true, "Validity of the client's leaf certificate, `NotBefore=...;NotAfter=...`; `-` otherwise.";
    AlbLeafClientCertSerialNumber = "leaf_client_cert_serial_number", AlbConnection, Kind::Text, true, "Serial number of the client's leaf certificate; `-` otherwise.";
    AlbTlsVerifyStatus = "tls_verify_status", AlbConnection, Kind::Text, true, "`Success`, or `Failed:<reason>` for a connection that was not established.";
    AlbConnTraceId = "conn_trace_id", AlbConnection, Kind::Text, false, "Connection traceability ID, shared with the access log's entries of the connection (added later).";
    NlbType = "type", NlbAccess, Kind::Choice(NLB_TYPE_VALUES), true, "Type of listener: always `tls`.";
    NlbVersion = "version", NlbAccess, Kind::Text, true, "Version of the log entry format, e.g. 2.0.";
    NlbTime = "time", NlbAccess, Kind::Time, true, "When the TLS connection ended (ISO 8601).";
    NlbElb = "elb", NlbAccess, Kind::Text, true, "Resource ID of the load balancer, `net/<name>/<id>`.";
    NlbListener = "listener", NlbAccess, Kind::Text, true, "Resource ID of the TLS listener.";
    NlbClientPort = "client:port", NlbAccess, Kind::AddressPort, true, "Client address and port.";
    NlbDestinationPort = "destination:port", NlbAccess, Kind::AddressPort, true, "Destination address and port (the client's destination, or the load balancer's address with client IP preservation off).";
    NlbConnectionTime = "connection_time", NlbAccess, Kind::Millis, true, "Milliseconds from the connection's start to its close.";
    NlbTlsHandshakeTime = "tls_handshake_time", NlbAccess, Kind::Millis, true, "Milliseconds for the TLS handshake once the TCP connection was established, client-side delays included; `-` when there was none or it failed.";
    NlbReceivedBytes = "received_bytes", NlbAccess, Kind::Count, true, "Bytes the load balancer received from the client, after decryption.";
    NlbSentBytes = "sent_bytes", NlbAccess, Kind::Count, true, "Bytes the load balancer sent to the client, before encryption.";
    NlbIncomingTlsAlert = "incoming_tls_alert", NlbAccess, Kind::Text, true, "Integer value of a TLS alert received from the client; `-` when none.";
    NlbChosenCertArn = "chosen_cert_arn", NlbAccess, Kind::Text, true, "ARN of the certificate served to the client; `-` when none was valid.";
    NlbChosenCertSerial = "chosen_cert_serial", NlbAccess, Kind::Text, true, "Reserved for future use: always `-`.";
    NlbTlsCipher = "tls_cipher", NlbAccess, Kind::Text, true, "Cipher suite negotiated with the client (OpenSSL name); `-` when the negotiation failed.";
    NlbTlsProtocolVersion = "tls_protocol_version", NlbAccess, Kind::Text, true, "TLS protocol negotiated with the client, e.g. tlsv12; `-` when the negotiation failed.";
    NlbTlsNamedGroup = "tls_named_group", NlbAccess, Kind::Text, true, "Reserved for future use: always `-`.";
    NlbDomainName = "domain_name", NlbAccess, Kind::Text, true, "Server name indication the client sent; `-` when none.";
    NlbAlpnFeProtocol = "alpn_fe_protocol", NlbAccess, Kind::Text, false, "Application protocol negotiated with the client; `-` when none.";
    NlbAlpnBeProtocol = "alpn_be_protocol", NlbAccess, Kind::Text, false, "Application protocol negotiated with the target; `-` when none.";
    NlbAlpnClientPreferenceList = "alpn_client_preference_list", NlbAccess, Kind::Text, false, "Application protocols the client offered, in its order; `-` when none.";
    NlbTlsConnectionCreationTime = "tls_connection_creation_time", NlbAccess, Kind::Time, false, "When the TLS connection began (ISO 8601); `-` when not recorded.";
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
    fn documented_field_counts_and_order() {
        let alb = LogKind::AlbConnection.fields();
        assert_eq!(alb.len(), 12);
        assert_eq!(alb[0].aws_name(), "timestamp");
        assert_eq!(alb[6].aws_name(), "tls_handshake_latency");
        assert_eq!(LogKind::AlbConnection.n_required(), 11);
        let nlb = LogKind::NlbAccess.fields();
        assert_eq!(nlb.len(), 22);
        assert_eq!(nlb[5].aws_name(), "client:port");
        assert_eq!(nlb[8].aws_name(), "tls_handshake_time");
        assert_eq!(LogKind::NlbAccess.n_required(), 18);
        // Required fields come first: a line may only lack a tail.
        for kind in LogKind::ALL {
            let n_required = kind.n_required();
            assert!(kind.fields()[n_required..].iter().all(|f| !f.required()));
        }
    }

    #[test]
    fn names_are_unique_within_a_log() {
        for kind in LogKind::ALL {
            let mut names: Vec<&str> = kind.fields().iter().map(|f| f.aws_name()).collect();
            names.sort_unstable();
            names.dedup();
            assert_eq!(names.len(), kind.fields().len());
        }
    }
}
