//! Real network parts for the agent's tests: network namespaces joined by a veth pair or by a
//! user-space delay line (this kernel has no `sch_netem`), and a request/response TCP service.
//! Everything is created by the test, under unique names, and removed on drop. Needs root
//! (CI runs as root), `ip` and, for loss, `iptables`.

use std::fs::File;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::sched::{CloneFlags, setns};

/// The server's address: TEST-NET-2, public to the peer rules, and only ever routed inside the
/// test's namespaces.
pub const SERVER_IP: &str = "198.51.100.1";
/// A clients' address, in TEST-NET-3.
pub const CLIENT_IP: &str = "203.0.113.10";
/// Its /24.
pub const CLIENT_PREFIX: &str = "203.0.113.0/24";

/// A network namespace, deleted on drop.
pub struct Netns {
    /// Its name under `/var/run/netns`.
    pub name: String,
}

impl Netns {
    /// A new namespace named after the test process and `tag` (unique per test).
    pub fn new(tag: &str) -> Netns {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "fa-{}-{}-{tag}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        );
        run("ip", &["netns", "add", &name]);
        let netns = Netns { name };
        netns.ip(&["link", "set", "lo", "up"]);
        netns
    }

    /// `ip -n <name> <args>`, which must succeed.
    pub fn ip(&self, args: &[&str]) {
        let mut all = vec!["-n", &self.name];
        all.extend_from_slice(args);
        run("ip", &all);
    }

    /// A command run inside the namespace (`ip netns exec`), which must succeed.
    pub fn exec(&self, program: &str, args: &[&str]) {
        let mut all = vec!["netns", "exec", &self.name, program];
        all.extend_from_slice(args);
        run("ip", &all);
    }

    /// Runs `work` on a thread that has entered the namespace; sockets and devices it creates
    /// stay in the namespace whatever thread uses them later.
    pub fn run<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> T {
        self.spawn(work).join().expect("thread in the namespace")
    }

    /// Like [`Netns::run`], without waiting.
    pub fn spawn<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> JoinHandle<T> {
        let path = format!("/var/run/netns/{}", self.name);
        std::thread::spawn(move || {
            let file = File::open(&path).expect("namespace file");
            setns(&file, CloneFlags::CLONE_NEWNET).expect("setns");
            work()
        })
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

fn run(program: &str, args: &[&str]) {
    let output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|error| panic!("{program}: {error} (is it installed? see .ci/test)"));
    assert!(
        output.status.success(),
        "{program} {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Two namespaces, the clients' at one address (e.g. [`CLIENT_IP`]) and the server's at
/// [`SERVER_IP`], joined either by a veth pair or by a delay line.
pub struct Link {
    /// The clients' namespace.
    pub clients: Netns,
    /// The server's namespace.
    pub server: Netns,
    /// The delay line's one-way delay, microseconds (0 and unused for a veth pair).
    one_way_us: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl Link {
    /// A veth pair, no delay.
    pub fn veth(tag: &str, client_ip: &str) -> Link {
        let clients = Netns::new(&format!("{tag}c"));
        let server = Netns::new(&format!("{tag}s"));
        // Created in the clients' namespace, one end moved to the server's.
        clients.ip(&[
            "link",
            "add",
            "veth0",
            "type",
            "veth",
            "peer",
            "name",
            "veth1",
            "netns",
            &server.name,
        ]);
        clients.ip(&["addr", "add", &format!("{client_ip}/32"), "dev", "veth0"]);
        clients.ip(&["link", "set", "veth0", "up"]);
        server.ip(&["addr", "add", &format!("{SERVER_IP}/32"), "dev", "veth1"]);
        server.ip(&["link", "set", "veth1", "up"]);
        clients.ip(&["route", "add", &format!("{SERVER_IP}/32"), "dev", "veth0"]);
        server.ip(&["route", "add", &format!("{client_ip}/32"), "dev", "veth1"]);
        Link {
            clients,
            server,
            one_way_us: Arc::new(AtomicU64::new(0)),
            stop: Arc::new(AtomicBool::new(false)),
            threads: Vec::new(),
        }
    }

    /// TUN devices whose packets a user-space delay line holds `one_way` in each direction:
    /// the clients' namespace routes the server's address through it, the server's namespace
    /// routes the clients' prefix back.
    pub fn delayed(tag: &str, client_ip: &str, one_way: Duration) -> Link {
        let clients = Netns::new(&format!("{tag}c"));
        let server = Netns::new(&format!("{tag}s"));
        let tun = |netns: &Netns| {
            netns.run(|| {
                let mut config = tun::Configuration::default();
                config.tun_name("delay0").layer(tun::Layer::L3).mtu(1500);
                tun::create(&config).expect("TUN device")
            })
        };
        let client_side = tun(&clients);
        let server_side = tun(&server);
        clients.ip(&["addr", "add", &format!("{client_ip}/32"), "dev", "delay0"]);
        clients.ip(&["link", "set", "delay0", "up"]);
        clients.ip(&["route", "add", &format!("{SERVER_IP}/32"), "dev", "delay0"]);
        server.ip(&["addr", "add", &format!("{SERVER_IP}/32"), "dev", "delay0"]);
        server.ip(&["link", "set", "delay0", "up"]);
        server.ip(&["route", "add", &format!("{client_ip}/32"), "dev", "delay0"]);
        let stop = Arc::new(AtomicBool::new(false));
        let one_way_us = Arc::new(AtomicU64::new(one_way.as_micros() as u64));
        let (client_reader, client_writer) = client_side.split();
        let (server_reader, server_writer) = server_side.split();
        let mut threads = Vec::new();
        threads.extend(delay(
            client_reader,
            server_writer,
            one_way_us.clone(),
            stop.clone(),
        ));
        threads.extend(delay(
            server_reader,
            client_writer,
            one_way_us.clone(),
            stop.clone(),
        ));
        Link {
            clients,
            server,
            one_way_us,
            stop,
            threads,
        }
    }

    /// Raises a delay line's one-way delay for the packets read from now on (a path getting
    /// slower mid-run); packets already held keep their release time, so order is kept.
    pub fn raise_delay(&self, one_way: Duration) {
        assert!(
            !self.threads.is_empty(),
            "only a delay line's delay can change"
        );
        self.one_way_us
            .fetch_max(one_way.as_micros() as u64, Ordering::SeqCst);
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// One direction of the delay line: a reader stamps each packet with its release time, a
/// writer releases it then. The delay only ever grows, so order is kept.
fn delay(
    reader: tun::Reader,
    mut writer: tun::Writer,
    one_way_us: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
) -> [JoinHandle<()>; 2] {
    let (sender, receiver) = mpsc::channel::<(Instant, Vec<u8>)>();
    let read = std::thread::spawn(move || {
        let mut buffer = vec![0u8; 65_536];
        while !stop.load(Ordering::SeqCst) {
            match reader.recv_timeout(&mut buffer, Duration::from_millis(50)) {
                Ok(length) => {
                    let one_way = Duration::from_micros(one_way_us.load(Ordering::SeqCst));
                    let release = Instant::now() + one_way;
                    if sender.send((release, buffer[..length].to_vec())).is_err() {
                        return;
                    }
                }
                Err(error) if error.kind() == std::io::ErrorKind::TimedOut => {}
                Err(_) => return,
            }
        }
    });
    let write = std::thread::spawn(move || {
        for (release, packet) in receiver {
            let now = Instant::now();
            if release > now {
                std::thread::sleep(release - now);
            }
            // A packet the other side cannot take is lost, as on a real link.
            let _ = writer.write(&packet);
        }
    });
    [read, write]
}

/// A request/response service: each request is a 4-byte big-endian length, answered with
/// that many bytes. Listens in the namespace the caller is in, on every given port.
pub fn serve(ports: &[u16]) -> Vec<JoinHandle<()>> {
    ports
        .iter()
        .map(|&port| {
            let listener = TcpListener::bind((SERVER_IP, port)).expect("listen");
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    let Ok(mut stream) = stream else { return };
                    std::thread::spawn(move || {
                        let payload = vec![0x5a_u8; 1 << 20];
                        let mut request = [0u8; 4];
                        while stream.read_exact(&mut request).is_ok() {
                            let mut left = u32::from_be_bytes(request) as usize;
                            while left > 0 {
                                let chunk = left.min(payload.len());
                                if stream.write_all(&payload[..chunk]).is_err() {
                                    return;
                                }
                                left -= chunk;
                            }
                        }
                    });
                }
            })
        })
        .collect()
}

/// One client to the server's `port`: asks for `response_len` bytes at a time until `until`,
/// each request sent as soon as the previous answer is in (so the ACK of an answer's last
/// segment leaves at once, with the next request, and no delayed ACK inflates the RTT).
/// `pause` between an answer and the next request keeps the load below what the delay line
/// carries (its queues would otherwise drop packets, loss nobody injected). Returns the bytes
/// read.
pub fn client(port: u16, response_len: u32, pause: Duration, until: Instant) -> u64 {
    let server: SocketAddr = format!("{SERVER_IP}:{port}").parse().expect("address");
    let mut stream = TcpStream::connect_timeout(&server, Duration::from_secs(10)).expect("connect");
    let mut buffer = vec![0u8; 1 << 16];
    let mut total = 0u64;
    while Instant::now() < until {
        std::thread::sleep(pause);
        stream
            .write_all(&response_len.to_be_bytes())
            .expect("request");
        let mut left = response_len as usize;
        while left > 0 {
            let n_read = stream.read(&mut buffer[..left.min(1 << 16)]).expect("read");
            assert!(n_read > 0, "server closed");
            left -= n_read;
            total += n_read as u64;
        }
    }
    total
}
