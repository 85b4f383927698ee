//! The kernel's view of TCP sockets through NETLINK_SOCK_DIAG: a dump of every socket with its
//! `tcp_info`, and the notifications the kernel sends as sockets are destroyed.
//!
//! Messages are encoded and decoded here by hand: the layouts are the stable uapi structs of
//! `linux/inet_diag.h` and `linux/tcp.h`, read field by field at fixed offsets (native byte
//! order, as netlink is), and a `tcp_info` shorter than a field's end leaves that field 0, so
//! older kernels give fewer counters rather than an error.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use netlink_sys::{Socket, SocketAddr as NetlinkAddr, protocols::NETLINK_SOCK_DIAG};

/// `SOCK_DIAG_BY_FAMILY`: the message type of requests and answers.
const SOCK_DIAG_BY_FAMILY: u16 = 20;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_DUMP: u16 = 0x300;
const NLMSG_HEADER_LEN: usize = 16;
/// `struct inet_diag_msg`: family, state, timer, retrans, the socket id, then five `u32`s.
const INET_DIAG_MSG_LEN: usize = 72;
/// `INET_DIAG_INFO`: the attribute that carries `struct tcp_info`.
const INET_DIAG_INFO: u16 = 2;
const AF_INET: u8 = 2;
const AF_INET6: u8 = 10;
const IPPROTO_TCP: u8 = 6;
/// Multicast groups of the destroy notifications (`SKNLGRP_INET_TCP_DESTROY`,
/// `SKNLGRP_INET6_TCP_DESTROY` in `linux/sock_diag.h`).
const GROUP_TCP4_DESTROY: u32 = 1;
const GROUP_TCP6_DESTROY: u32 = 3;
/// `TCP_LISTEN` in the kernel's state numbering.
pub(crate) const TCP_LISTEN: u8 = 10;
/// States dumped: every state that has a full socket with `tcp_info` (not SYN_RECV, whose
/// request sockets have none, and not TIME_WAIT, whose minisockets have none), plus LISTEN to
/// learn the service ports.
const DUMPED_STATES: u32 = (1 << 1) // ESTABLISHED
    | (1 << 2) // SYN_SENT
    | (1 << 4) // FIN_WAIT1
    | (1 << 5) // FIN_WAIT2
    | (1 << 7) // CLOSE
    | (1 << 8) // CLOSE_WAIT
    | (1 << 9) // LAST_ACK
    | (1 << 10) // LISTEN
    | (1 << 11); // CLOSING
/// Receive buffer for dump answers: the kernel fills up to a page-sized skb per message batch,
/// so a few pages are plenty and the buffer is reused across polls.
const RECV_BUFFER_LEN: usize = 64 * 1024;

/// The counters of one socket that the agent uses, from `struct tcp_info`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpCounters {
    /// `tcpi_rtt`: smoothed round-trip time, µs.
    pub rtt_us: u32,
    /// `tcpi_min_rtt`: windowed minimum round-trip time, µs.
    pub min_rtt_us: u32,
    /// `tcpi_total_retrans`: segments retransmitted over the socket's life.
    pub total_retrans: u32,
    /// `tcpi_bytes_acked`.
    pub bytes_acked: u64,
    /// `tcpi_bytes_received`.
    pub bytes_received: u64,
    /// `tcpi_data_segs_out`.
    pub data_segs_out: u32,
    /// `tcpi_bytes_retrans`.
    pub bytes_retrans: u64,
}

/// One socket as the kernel described it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SocketSample {
    /// The kernel's unique id of the socket (`idiag_cookie`).
    pub cookie: u64,
    /// TCP state in the kernel's numbering (1 ESTABLISHED … 10 LISTEN …).
    pub state: u8,
    /// Our address and port.
    pub local: SocketAddr,
    /// The peer's address and port (IPv4-mapped IPv6 addresses are given as IPv4).
    pub peer: SocketAddr,
    /// Its counters; `None` when the kernel sent no `tcp_info`.
    pub counters: Option<TcpCounters>,
}

/// Why the kernel could not be asked.
#[derive(Debug, thiserror::Error)]
pub enum DiagError {
    /// A netlink socket call failed.
    #[error("sock_diag {what}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// What the system said.
        source: io::Error,
    },
    /// The kernel answered a dump with an error.
    #[error("sock_diag dump: kernel error {0}")]
    Kernel(i32),
}

/// Sockets to NETLINK_SOCK_DIAG: one for dumps, one subscribed to destroy notifications.
/// Both belong to the network namespace of the thread that opened them.
pub struct SockDiag {
    dump: Socket,
    destroyed: Socket,
    buffer: Vec<u8>,
    sequence: u32,
    /// Notifications the kernel dropped because the receive buffer was full (`ENOBUFS`).
    pub n_overruns: u64,
}

impl SockDiag {
    /// Opens both sockets; reading `tcp_info` and joining the destroy groups need no privilege.
    pub fn open() -> Result<SockDiag, DiagError> {
        let io_error = |what| move |source| DiagError::Io { what, source };
        let mut dump = Socket::new(NETLINK_SOCK_DIAG).map_err(io_error("socket"))?;
        dump.bind_auto().map_err(io_error("bind"))?;
        dump.connect(&NetlinkAddr::new(0, 0))
            .map_err(io_error("connect"))?;
        let mut destroyed = Socket::new(NETLINK_SOCK_DIAG).map_err(io_error("socket"))?;
        destroyed.bind_auto().map_err(io_error("bind"))?;
        for group in [GROUP_TCP4_DESTROY, GROUP_TCP6_DESTROY] {
            destroyed
                .add_membership(group)
                .map_err(io_error("join destroy group"))?;
        }
        destroyed
            .set_non_blocking(true)
            .map_err(io_error("set non-blocking"))?;
        Ok(SockDiag {
            dump,
            destroyed,
            buffer: vec![0; RECV_BUFFER_LEN],
            sequence: 0,
            n_overruns: 0,
        })
    }

    /// Every TCP socket (IPv4 and IPv6) in the dumped states, appended to `out`.
    pub fn dump(&mut self, out: &mut Vec<SocketSample>) -> Result<(), DiagError> {
        for family in [AF_INET, AF_INET6] {
            self.sequence = self.sequence.wrapping_add(1);
            let request = dump_request(family, self.sequence);
            self.dump
                .send(&request, 0)
                .map_err(|source| DiagError::Io {
                    what: "send dump request",
                    source,
                })?;
            'answers: loop {
                let n_read = self
                    .dump
                    .recv(&mut &mut self.buffer[..], 0)
                    .map_err(|source| DiagError::Io {
                        what: "receive dump",
                        source,
                    })?;
                let received = &self.buffer[..n_read.min(self.buffer.len())];
                for message in messages(received) {
                    match message {
                        Message::Done => break 'answers,
                        Message::Error(0) => {}
                        Message::Error(code) => return Err(DiagError::Kernel(code)),
                        Message::Socket(sample) => out.push(sample),
                        Message::Other => {}
                    }
                }
            }
        }
        Ok(())
    }

    /// The destroy notifications waiting, appended to `out`; never blocks. Call it often
    /// enough that the receive buffer (about 200 KB, some 600 notifications) does not fill.
    pub fn drain_destroyed(&mut self, out: &mut Vec<SocketSample>) -> Result<(), DiagError> {
        loop {
            match self.destroyed.recv(&mut &mut self.buffer[..], 0) {
                Ok(n_read) => {
                    let received = &self.buffer[..n_read.min(self.buffer.len())];
                    out.extend(messages(received).filter_map(|message| match message {
                        Message::Socket(sample) => Some(sample),
                        _ => None,
                    }));
                }
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                // The kernel dropped notifications: those sockets are seen closing by their
                // absence from the next dump instead, without their last counters.
                Err(error) if error.raw_os_error() == Some(ENOBUFS) => self.n_overruns += 1,
                Err(source) => {
                    return Err(DiagError::Io {
                        what: "receive destroy notifications",
                        source,
                    });
                }
            }
        }
    }
}

/// `ENOBUFS` on Linux.
const ENOBUFS: i32 = 105;

/// A dump request: `nlmsghdr` then `inet_diag_req_v2` asking for `INET_DIAG_INFO`.
fn dump_request(family: u8, sequence: u32) -> Vec<u8> {
    const REQUEST_LEN: usize = NLMSG_HEADER_LEN + 56;
    let mut request = Vec::with_capacity(REQUEST_LEN);
    request.extend_from_slice(&(REQUEST_LEN as u32).to_ne_bytes());
    request.extend_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
    request.extend_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
    request.extend_from_slice(&sequence.to_ne_bytes());
    request.extend_from_slice(&0u32.to_ne_bytes());
    // The extension bit of attribute n is 1 << (n - 1).
    let extensions = 1u8 << (INET_DIAG_INFO - 1);
    request.extend_from_slice(&[family, IPPROTO_TCP, extensions, 0]);
    request.extend_from_slice(&DUMPED_STATES.to_ne_bytes());
    // The socket id (ports, addresses, interface, cookie) is ignored by a dump: zeros.
    request.resize(REQUEST_LEN, 0);
    request
}

enum Message {
    Socket(SocketSample),
    Error(i32),
    Done,
    Other,
}

/// The netlink messages of one datagram; a truncated message ends the datagram.
fn messages(mut datagram: &[u8]) -> impl Iterator<Item = Message> + '_ {
    std::iter::from_fn(move || {
        let length = read_u32(datagram, 0)? as usize;
        if length < NLMSG_HEADER_LEN || length > datagram.len() {
            return None;
        }
        let kind = read_u16(datagram, 4)?;
        let payload = &datagram[NLMSG_HEADER_LEN..length];
        datagram = datagram.get(align(length)..).unwrap_or_default();
        Some(match kind {
            NLMSG_DONE => Message::Done,
            NLMSG_ERROR => Message::Error(read_u32(payload, 0).map_or(0, |code| code as i32)),
            SOCK_DIAG_BY_FAMILY => match parse_socket(payload) {
                Some(sample) => Message::Socket(sample),
                None => Message::Other,
            },
            _ => Message::Other,
        })
    })
}

/// An `inet_diag_msg` and its attributes.
fn parse_socket(payload: &[u8]) -> Option<SocketSample> {
    if payload.len() < INET_DIAG_MSG_LEN {
        return None;
    }
    let family = payload[0];
    let state = payload[1];
    // Ports are in network byte order; addresses are 16 bytes, of which IPv4 uses 4.
    let local_port = u16::from_be_bytes([payload[4], payload[5]]);
    let peer_port = u16::from_be_bytes([payload[6], payload[7]]);
    let address = |offset: usize| -> Option<IpAddr> {
        let bytes: [u8; 16] = payload.get(offset..offset + 16)?.try_into().ok()?;
        match family {
            AF_INET => Some(IpAddr::V4(Ipv4Addr::new(
                bytes[0], bytes[1], bytes[2], bytes[3],
            ))),
            AF_INET6 => Some(IpAddr::V6(Ipv6Addr::from(bytes)).to_canonical()),
            _ => None,
        }
    };
    let local = SocketAddr::new(address(8)?, local_port);
    let peer = SocketAddr::new(address(24)?, peer_port);
    let cookie = u64::from(read_u32(payload, 44)?) | (u64::from(read_u32(payload, 48)?) << 32);
    let mut counters = None;
    let mut attributes = &payload[INET_DIAG_MSG_LEN..];
    while let (Some(length), Some(kind)) = (read_u16(attributes, 0), read_u16(attributes, 2)) {
        let length = usize::from(length);
        if length < 4 || length > attributes.len() {
            break;
        }
        if kind == INET_DIAG_INFO {
            counters = Some(parse_tcp_info(&attributes[4..length]));
        }
        attributes = attributes.get(align(length)..).unwrap_or_default();
    }
    Some(SocketSample {
        cookie,
        state,
        local,
        peer,
        counters,
    })
}

/// The fields of `struct tcp_info` the agent uses, at their uapi offsets.
fn parse_tcp_info(info: &[u8]) -> TcpCounters {
    let u32_at = |offset| read_u32(info, offset).unwrap_or(0);
    let u64_at = |offset| read_u64(info, offset).unwrap_or(0);
    TcpCounters {
        rtt_us: u32_at(68),
        total_retrans: u32_at(100),
        bytes_acked: u64_at(120),
        bytes_received: u64_at(128),
        min_rtt_us: u32_at(148),
        data_segs_out: u32_at(156),
        bytes_retrans: u64_at(208),
    }
}

/// Netlink messages and attributes are padded to 4 bytes.
fn align(length: usize) -> usize {
    (length + 3) & !3
}

fn read_u16(bytes: &[u8], offset: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(
        bytes.get(offset..offset + 2)?.try_into().ok()?,
    ))
}

fn read_u32(bytes: &[u8], offset: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(
        bytes.get(offset..offset + 4)?.try_into().ok()?,
    ))
}

fn read_u64(bytes: &[u8], offset: usize) -> Option<u64> {
    Some(u64::from_ne_bytes(
        bytes.get(offset..offset + 8)?.try_into().ok()?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The dump of this test's own connection over loopback: the kernel's answer, decoded, must
    /// name both ends and count the bytes the test moved.
    #[test]
    fn a_dump_shows_a_connection_with_its_counters() {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let server_addr = listener.local_addr().unwrap();
        let mut client = std::net::TcpStream::connect(server_addr).unwrap();
        let (mut server, _) = listener.accept().unwrap();
        let message = vec![7u8; 100_000];
        server.write_all(&message).unwrap();
        let mut received = vec![0u8; message.len()];
        client.read_exact(&mut received).unwrap();
        // One more round trip so that the last data is acknowledged to the server.
        client.write_all(b"x").unwrap();
        server.read_exact(&mut [0u8; 1]).unwrap();

        let mut diag = SockDiag::open().unwrap();
        let mut sockets = Vec::new();
        diag.dump(&mut sockets).unwrap();
        let client_addr = client.local_addr().unwrap();
        let served = sockets
            .iter()
            .find(|socket| socket.local == server_addr && socket.peer == client_addr)
            .expect("the accepted socket is in the dump");
        let counters = served.counters.expect("tcp_info was requested");
        assert_eq!(counters.bytes_acked, message.len() as u64);
        assert_eq!(counters.bytes_received, 1);
        assert!(counters.data_segs_out >= 1);
        assert!(counters.rtt_us > 0);
        assert!(
            sockets
                .iter()
                .any(|socket| socket.local == server_addr && socket.state == TCP_LISTEN)
        );
    }
}
