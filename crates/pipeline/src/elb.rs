//! Load-balancer logs into the performance tables: each TLS handshake an ALB connection log or
//! an NLB access log times becomes one sample of its client's prefix, under `rtt_source =
//! tls_handshake`.
//!
//! A handshake happens once per connection and says nothing about bytes, so each weighs one
//! connection: its percentiles are per connection, where the agent's are per byte moved. A
//! handshake time is about one round trip plus both ends' processing, a proxy for the RTT,
//! which is why the rows carry their source and no percentile mixes the two.

use std::io::{Read, Seek, SeekFrom};
use std::sync::Arc;

use flowatlas_elblog::{ElbFile, Entry, LogKind, Options, Reader, parse_key, sniff_object};
use flowatlas_geo::Enricher;
use flowatlas_rollup::{
    PerformanceRollup, RttHistogram, RttSource, TcpMeasures, TcpStatsRow, WINDOW_SECONDS,
    client_prefix,
};
use flowatlas_store::Store;
use flowatlas_store::layout::{KeyLocation, location_from_key};

use crate::{
    Config, Error, FIRST_REJECTS_KEPT, ObjectReport, RejectsFile, Source, commit::commit_object,
};

/// Bytes of an object's beginning looked at to tell a load-balancer log by its content.
pub(crate) const HEAD_BYTES: usize = 16 * 1024;

/// What an object is, as far as load-balancer logs go.
pub(crate) enum ElbObject {
    /// A log read into the performance tables.
    Read(LogKind),
    /// A file of the load-balancer layout that carries no client timing.
    NotRead(&'static str),
    /// Not a load-balancer log.
    Other,
}

/// What an object is when its key follows one of AWS's layouts: a load-balancer log's, or a
/// VPC flow log's (its content is then not looked at: sniffing decoded the first bytes of
/// every object a second time, a few percent of a run over small objects). `None`: only the
/// content can tell ([`classify_by_head`]).
pub(crate) fn classify_by_key(key: &str) -> Option<ElbObject> {
    match parse_key(key).map(|elb_key| elb_key.file) {
        Some(ElbFile::Read { kind, .. }) => Some(ElbObject::Read(kind)),
        Some(ElbFile::NotRead(what)) => Some(ElbObject::NotRead(what)),
        None if location_from_key(key) != KeyLocation::default() => Some(ElbObject::Other),
        None => None,
    }
}

/// What an object whose key tells nothing is, by its first line (`head`: its first bytes,
/// gzip or text).
pub(crate) fn classify_by_head(head: &[u8]) -> ElbObject {
    sniff_object(head).map_or(ElbObject::Other, ElbObject::Read)
}

/// Reads up to [`HEAD_BYTES`] of `input` (fewer only at its end).
pub(crate) fn read_head(input: &mut impl Read) -> std::io::Result<Vec<u8>> {
    let mut head = Vec::with_capacity(HEAD_BYTES);
    input.take(HEAD_BYTES as u64).read_to_end(&mut head)?;
    Ok(head)
}

/// A local file's first bytes, with the file rewound; empty for files that cannot seek (pipes
/// are then told by their key alone).
pub(crate) fn file_head(file: &mut std::fs::File) -> std::io::Result<Vec<u8>> {
    if !file.metadata()?.is_file() {
        return Ok(Vec::new());
    }
    let head = read_head(file)?;
    file.seek(SeekFrom::Start(0))?;
    Ok(head)
}

/// One load-balancer log into `city_network_performance` and `prefix_performance`. Each
/// handshake is enriched by its client's address (which never leaves: only its prefix and the
/// enrichment's facts are written) and windowed by the log's time; the service location is the
/// key's account and Region, the load balancer the host. Rejected lines go to `_rejects/`, files
/// an earlier run of the same source wrote and this one did not are removed, and the manifest
/// is written last, as for flow logs.
pub(crate) fn process_elb<R: Read + Send + 'static>(
    input: R,
    kind: LogKind,
    source: &Source,
    config: &Config,
    store: &dyn Store,
    enricher: Option<&mut Enricher>,
) -> Result<ObjectReport, Error> {
    let object = source.name.as_str();
    let read_error = |error| Error::ReadElb {
        object: object.to_owned(),
        source: error,
    };
    let options = Options {
        kind: Some(kind),
        max_line_bytes: config.read.max_line_bytes,
        latest_time: source.read_options(&config.read).latest_time,
    };
    let mut reader = Reader::new(input, &options).map_err(read_error)?;
    let elb_key = parse_key(&source.key);
    let mut location = config.rollup.default_location.clone();
    let mut host: Arc<str> = Arc::from("-");
    if let Some(elb_key) = &elb_key {
        location.account_id = Some(elb_key.account_id.as_str().into());
        location.region = Some(elb_key.region.as_str().into());
        if let ElbFile::Read { load_balancer, .. } = &elb_key.file {
            host = load_balancer.as_str().into();
        }
    }
    let (prefix_len_v4, prefix_len_v6) = (config.rollup.prefix_len_v4, config.rollup.prefix_len_v6);
    let mut performance = PerformanceRollup::new(RttSource::TlsHandshake);
    let mut enricher = enricher;
    let mut rejects = RejectsFile::new(&config.out_dir, &source.id);
    let mut report = ObjectReport {
        n_objects: 1,
        object_bytes: source.size.unwrap_or(0),
        ..ObjectReport::default()
    };
    while let Some(entry) = reader.next_entry().map_err(read_error)? {
        let handshake = match entry {
            Entry::Handshake(handshake) => handshake,
            Entry::Skip(_) => continue,
            Entry::Reject(reject) => {
                let field = reject.field.map(|field| field.aws_name());
                rejects.write_value(crate::reject_value(
                    object,
                    reject.line,
                    field,
                    reject.reason,
                    &reject.value,
                    &reject.detail,
                    &reject.text,
                ))?;
                if report.first_rejects.len() < FIRST_REJECTS_KEPT {
                    report.first_rejects.push(format!("{object}: {reject}"));
                }
                continue;
            }
        };
        let enrichment = enricher
            .as_deref_mut()
            .map(|enricher| enricher.enrich(handshake.client_ip));
        let (bytes_in, bytes_out) = (
            handshake.received_bytes.unwrap_or(0),
            handshake.sent_bytes.unwrap_or(0),
        );
        report.ok_bytes = report
            .ok_bytes
            .saturating_add(bytes_in)
            .saturating_add(bytes_out);
        // One connection, one sample: the weight of a handshake is the connection it opened.
        let mut rtt = RttHistogram::default();
        rtt.record(handshake.handshake_us, 1);
        let row = TcpStatsRow {
            window_start: handshake.time - handshake.time.rem_euclid(WINDOW_SECONDS),
            location: location.clone(),
            host: host.clone(),
            client_prefix: client_prefix(handshake.client_ip, prefix_len_v4, prefix_len_v6),
            local_port: handshake.listener.parse().unwrap_or(0),
            measures: TcpMeasures {
                connections_new: 1,
                bytes_in,
                bytes_out,
                rtt_samples: 1,
                rtt_min_us: i64::from(handshake.handshake_us.max(1)),
                ..TcpMeasures::default()
            },
            rtt,
        };
        performance.add(&row, enrichment.as_deref());
    }
    report.counts = reader.counts();
    crate::write_performance(performance, source, config, &mut report).map_err(|error| {
        Error::Write {
            object: object.to_owned(),
            source: error,
        }
    })?;
    if let Some(rejects_file) = rejects.finish()? {
        report.files.push(rejects_file);
    }
    commit_object(config, store, source, &report)?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_in_an_aws_layout_is_classified_without_its_content() {
        let flow_logs = [
            "AWSLogs/123456789012/vpcflowlogs/us-east-1/2026/06/01/123456789012_vpcflowlogs_us-east-1_fl-0abc_20260601T1405Z_1a2b3c4d.log.gz",
            "logs/AWSLogs/aws-account-id=123456789012/aws-service=vpcflowlogs/aws-region=eu-west-1/year=2026/month=06/day=01/x.log.gz",
        ];
        for key in flow_logs {
            assert!(
                matches!(classify_by_key(key), Some(ElbObject::Other)),
                "{key}"
            );
        }
        let connection_log = "AWSLogs/123456789012/elasticloadbalancing/us-east-2/2026/06/01/conn_log_123456789012_elasticloadbalancing_us-east-2_app.my-alb.50dc6c495c0c9188_20260601T1205Z_198.51.100.7_2soosksg.log.gz";
        assert!(matches!(
            classify_by_key(connection_log),
            Some(ElbObject::Read(_))
        ));
        // Outside AWS's layouts only the content tells.
        for key in ["copied/by hand.log.gz", "AWSLogs/123/vpcflowlogs/x.log.gz"] {
            assert!(classify_by_key(key).is_none(), "{key}");
        }
    }
}
