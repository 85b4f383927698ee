//! `flowatlas agent`: the round-trip times and retransmissions of a host's own TCP connections,
//! read from the kernel's `tcp_info` without eBPF or privileges, summed per 5-minute window,
//! client prefix and local port into the `tcp_stats` table (Linux only).
//!
//! # Overview
//!
//! - [`SockDiag`] asks NETLINK_SOCK_DIAG for every TCP socket with its `tcp_info` and listens
//!   for the kernel's destroy notifications, so short connections are seen with their final
//!   counters.
//! - [`Collector`] turns successive snapshots into per-socket deltas (bytes, segments,
//!   retransmissions), samples the smoothed RTT of sockets that moved data, weighted by the
//!   bytes moved, and sums them per window × client prefix × port into
//!   [`flowatlas_rollup::TcpStatsRow`]s. Only prefixes leave it, never a client address.
//! - [`Output`] writes each window as one Parquet file into a spool and hands it to a
//!   [`Destination`] ([`LocalFolder`], or S3 in the CLI), retrying until it lands.
//! - [`instance_location`] asks the EC2 instance metadata service (IMDSv2) for the account,
//!   Region and Availability Zone ID the rows carry, within a short budget.
//! - [`Agent`] ties them together: [`Agent::poll`] at each interval, [`Agent::drain_destroyed`]
//!   in between, [`Agent::shutdown`] to write the partial window.
#![deny(missing_docs)]

mod collect;
mod diag;
mod imds;
mod output;

pub use collect::{CollectConfig, Collector};
pub use diag::{DiagError, SockDiag, SocketSample, TcpCounters};
pub use imds::{BUDGET, DEFAULT_ENDPOINT, ImdsError, InstanceLocation, instance_location};
pub use output::{Delivery, Destination, LocalFolder, Output};

use flowatlas_rollup::TcpStatsRow;
use flowatlas_time::utc_ymd;

/// What one poll did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PollReport {
    /// Sockets in the dump (all TCP sockets in the dumped states).
    pub n_sockets: usize,
    /// Connections followed after the poll.
    pub n_tracked: usize,
    /// Rows of a window that ended and was written.
    pub n_rows_written: usize,
    /// Files delivered and still pending.
    pub delivery: Delivery,
}

/// The collector, its kernel sockets and its output.
pub struct Agent {
    diag: SockDiag,
    collector: Collector,
    output: Output,
    /// Part of every file name, so that an agent restarted within a window adds a file
    /// instead of replacing the one its predecessor wrote for the same window.
    run_id: String,
    /// Reused between polls: the dump's sockets.
    sockets: Vec<SocketSample>,
}

/// Why the agent could not poll.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// Asking the kernel failed.
    #[error(transparent)]
    Diag(#[from] DiagError),
}

impl Agent {
    /// An agent in the calling thread's network namespace. `started` (Unix seconds) names this
    /// run in file names.
    pub fn new(config: CollectConfig, output: Output, started: i64) -> Result<Agent, AgentError> {
        Ok(Agent {
            diag: SockDiag::open()?,
            collector: Collector::new(config),
            output,
            run_id: started.to_string(),
            sockets: Vec::new(),
        })
    }

    /// Takes the destroy notifications waiting; call it between polls (every 100 ms or so) so
    /// the kernel's buffer never fills.
    pub fn drain_destroyed(&mut self, now: i64) -> Result<usize, AgentError> {
        self.sockets.clear();
        self.diag.drain_destroyed(&mut self.sockets)?;
        let finished = self.collector.observe_destroyed(now, &self.sockets);
        self.write(finished);
        Ok(self.sockets.len())
    }

    /// Drains notifications, dumps every socket, and writes the previous window when `now`
    /// (Unix seconds) is in a new one; undelivered files are retried.
    pub fn poll(&mut self, now: i64) -> Result<PollReport, AgentError> {
        self.drain_destroyed(now)?;
        self.sockets.clear();
        self.diag.dump(&mut self.sockets)?;
        let finished = self.collector.observe_dump(now, &self.sockets);
        let n_rows_written = finished.len();
        let delivery = self.write(finished);
        Ok(PollReport {
            n_sockets: self.sockets.len(),
            n_tracked: self.collector.n_tracked(),
            n_rows_written,
            delivery,
        })
    }

    /// A last poll at `now`, then the partial window written: a restart or a deploy loses
    /// nothing but the connections' moves after this call.
    pub fn shutdown(mut self, now: i64) -> Result<PollReport, AgentError> {
        let mut report = self.poll(now)?;
        let rows = self.collector.finish();
        report.n_rows_written += rows.len();
        report.delivery = self.write(rows);
        Ok(report)
    }

    /// Notifications the kernel dropped because they were not drained in time.
    pub fn n_overruns(&self) -> u64 {
        self.diag.n_overruns
    }

    fn write(&mut self, rows: Vec<TcpStatsRow>) -> Delivery {
        let Some(window_start) = rows.first().map(|row| row.window_start) else {
            return self.output.flush();
        };
        let host = rows[0].host.clone();
        let name = format!("{host}-{}-{}", window_name(window_start), self.run_id);
        self.output.write_window(name, rows)
    }
}

/// `YYYYMMDDTHHMMZ` of a window start: sorts like time and is safe in an object key.
fn window_name(window_start: i64) -> String {
    let (year, month, day) = utc_ymd(window_start);
    let minutes = window_start.rem_euclid(86_400) / 60;
    format!(
        "{year:04}{month:02}{day:02}T{:02}{:02}Z",
        minutes / 60,
        minutes % 60
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn window_names_sort_like_time() {
        assert_eq!(super::window_name(1_780_315_500), "20260601T1205Z");
        assert_eq!(super::window_name(0), "19700101T0000Z");
    }
}
