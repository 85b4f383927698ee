//! Real parts on loopback for tests and benchmarks: moto's S3 server (PyPI `moto[server]`,
//! installed by the test command) on a free port, an `aws-sdk-s3` client for it, and child
//! processes that are killed when the test ends, however it ends; in [`netns`], network
//! namespaces with veth pairs or a delay line for the agent's tests; and [`agent_rows`] and
//! [`write_agent_window`], one host's window of agent rows shaped as on a real service; and
//! [`MetadataServer`], a mock of the EC2 instance metadata service (none can run here). Not part of the product.
#![deny(missing_docs)]

mod agent;
mod metadata;
pub mod netns;

pub use agent::{AGENT_PREFIXES, agent_rows, write_agent_window};
pub use metadata::{
    METADATA_ACCOUNT, METADATA_AZ_ID, METADATA_REGION, MetadataBehaviour, MetadataServer,
};

use std::collections::BTreeSet;
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;

/// Every file under `dir`, recursively, in name order.
pub fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).expect("a readable folder").flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(files_under(&path));
        } else {
            files.push(path);
        }
    }
    files.sort();
    files
}

/// DuckDB's check that two folders hold the same rollup rows: [`same_tables`] for
/// `city_networks` and `client_prefixes`, totalling bytes.
pub fn same_rollups(first: &std::path::Path, second: &std::path::Path) -> String {
    same_tables(
        first,
        second,
        &["city_networks", "client_prefixes"],
        "bytes_in + bytes_out",
    )
}

/// [`same_rollups`] for any tables: rows and the sum of `total` (an SQL expression) equal and
/// non-zero, and no row of either side missing from the other.
pub fn same_tables(
    first: &std::path::Path,
    second: &std::path::Path,
    tables: &[&str],
    total: &str,
) -> String {
    const CHECK: &str = r#"
import duckdb, json, sys
first, second, total = sys.argv[1], sys.argv[2], sys.argv[3]
out = {}
for table in sys.argv[4:]:
    a = f"read_parquet('{first}/{table}/**/*.parquet', hive_partitioning = false)"
    b = f"read_parquet('{second}/{table}/**/*.parquet', hive_partitioning = false)"
    q = lambda sql: duckdb.sql(sql).fetchall()[0][0]
    out[table] = {
        "rows": [q(f"SELECT count(*) FROM {a}"), q(f"SELECT count(*) FROM {b}")],
        "total": [int(q(f"SELECT sum({total}) FROM {a}")), int(q(f"SELECT sum({total}) FROM {b}"))],
        "only_in_first": q(f"SELECT count(*) FROM (SELECT * FROM {a} EXCEPT ALL SELECT * FROM {b})"),
        "only_in_second": q(f"SELECT count(*) FROM (SELECT * FROM {b} EXCEPT ALL SELECT * FROM {a})"),
    }
figures = json.dumps(out)
for sides in out.values():
    same = sides["rows"][0] == sides["rows"][1] > 0 and sides["total"][0] == sides["total"][1]
    if not same or sides["only_in_first"] or sides["only_in_second"]:
        sys.exit(f"the tables differ: {figures}")
print(figures)
"#;
    let output = Command::new("python3")
        .args(["-c", CHECK])
        .arg(first)
        .arg(second)
        .arg(total)
        .args(tables)
        .output()
        .expect("python3 runs");
    assert!(
        output.status.success(),
        "{} vs {}: {}",
        first.display(),
        second.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A child process killed when dropped.
pub struct Running(pub Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A loopback port nobody listens on (yet), and one this process has not handed out before:
/// the kernel may offer a port again once it is released, and two of a binary's tests, run at
/// once, would then start their servers on one port.
pub fn free_port() -> u16 {
    static HANDED_OUT: std::sync::Mutex<BTreeSet<u16>> = std::sync::Mutex::new(BTreeSet::new());
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .map(|address| address.port())
            .expect("a free loopback port");
        let mut handed_out = HANDED_OUT
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if handed_out.insert(port) {
            return port;
        }
    }
}

/// Waits until something listens on `port`; panics naming `what` after a minute.
pub fn wait_for_port(port: u16, what: &str) {
    let give_up = Instant::now() + Duration::from_secs(60);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < give_up,
            "{what} did not start listening on {port}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Starts a program with its output discarded; panics naming `what` if it cannot start.
pub fn spawn(command: &mut Command, what: &str) -> Running {
    Running(
        command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|error| {
                panic!("{what} must be installed (bash .ci/test installs it): {error}")
            }),
    )
}

/// moto's S3 server on a free loopback port, a runtime and a client for it.
pub struct S3Server {
    _server: Running,
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    /// Runs the client's futures.
    pub runtime: tokio::runtime::Runtime,
    /// Path-style client with dummy credentials.
    pub client: Client,
}

/// A Lambda client for a local runtime API emulator (`cargo lambda watch`) at `endpoint`.
pub fn lambda_client(runtime: &tokio::runtime::Runtime, endpoint: &str) -> aws_sdk_lambda::Client {
    let shared = runtime.block_on(
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_s3::config::Credentials::new(
                "testing", "testing", None, None, "test",
            ))
            .endpoint_url(endpoint)
            .load(),
    );
    aws_sdk_lambda::Client::new(&shared)
}

impl S3Server {
    /// Starts the server and creates `buckets`.
    pub fn start(buckets: &[&str]) -> S3Server {
        // A port free when picked can be bound by another test's server before this one binds
        // it: this server then exits, and another port is tried.
        let mut failures = Vec::new();
        for _ in 0..3 {
            match S3Server::try_start_on(free_port(), buckets) {
                Ok(server) => return server,
                Err(failure) => failures.push(failure),
            }
        }
        panic!("moto_server did not start: {}", failures.join("; "))
    }

    /// Starts the server on a chosen loopback port (of the calling thread's network namespace,
    /// which the server process inherits) and creates `buckets`.
    pub fn start_on(port: u16, buckets: &[&str]) -> S3Server {
        S3Server::try_start_on(port, buckets).unwrap_or_else(|failure| panic!("{failure}"))
    }

    fn try_start_on(port: u16, buckets: &[&str]) -> Result<S3Server, String> {
        let server = spawn(
            Command::new("moto_server").args(["-H", "127.0.0.1", "-p", &port.to_string()]),
            "moto_server (PyPI moto[server])",
        );
        wait_for_port(port, "moto_server");
        let endpoint = format!("http://127.0.0.1:{port}");
        let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
        let shared = runtime.block_on(
            aws_config::defaults(aws_config::BehaviorVersion::latest())
                .region(aws_config::Region::new("us-east-1"))
                .credentials_provider(aws_sdk_s3::config::Credentials::new(
                    "testing", "testing", None, None, "test",
                ))
                .endpoint_url(&endpoint)
                .load(),
        );
        let client = Client::from_conf(
            aws_sdk_s3::config::Builder::from(&shared)
                .force_path_style(true)
                .build(),
        );
        let mut s3 = S3Server {
            _server: server,
            endpoint,
            runtime,
            client,
        };
        for bucket in buckets {
            // CI once saw the port answer and the first request then refused: a refused or
            // dropped connection is tried again while the server runs, for a while.
            let give_up = Instant::now() + Duration::from_secs(30);
            loop {
                let created = s3
                    .runtime
                    .block_on(s3.client.create_bucket().bucket(*bucket).send());
                let error = match created {
                    Ok(_) => break,
                    Err(error) => error,
                };
                if let Ok(Some(status)) = s3._server.0.try_wait() {
                    return Err(format!("moto_server on port {port} exited ({status})"));
                }
                let unreachable = matches!(error, aws_sdk_s3::error::SdkError::DispatchFailure(_));
                if !unreachable || Instant::now() >= give_up {
                    return Err(format!("create bucket {bucket} on port {port}: {error:?}"));
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        }
        Ok(s3)
    }

    /// Puts an object.
    pub fn put(&self, bucket: &str, key: &str, body: Vec<u8>) {
        self.runtime
            .block_on(
                self.client
                    .put_object()
                    .bucket(bucket)
                    .key(key)
                    .body(ByteStream::from(body))
                    .send(),
            )
            .unwrap_or_else(|error| panic!("put s3://{bucket}/{key}: {error:?}"));
    }

    /// Every key of a bucket, in order.
    pub fn keys(&self, bucket: &str) -> Vec<String> {
        let mut keys = Vec::new();
        let mut token = None;
        loop {
            let page = self
                .runtime
                .block_on(
                    self.client
                        .list_objects_v2()
                        .bucket(bucket)
                        .set_continuation_token(token)
                        .send(),
                )
                .unwrap_or_else(|error| panic!("list {bucket}: {error:?}"));
            keys.extend(
                page.contents()
                    .iter()
                    .filter_map(|object| object.key().map(str::to_owned)),
            );
            token = page.next_continuation_token().map(str::to_owned);
            if token.is_none() {
                return keys;
            }
        }
    }

    /// An object's metadata (content type, cache control, ...).
    pub fn head(
        &self,
        bucket: &str,
        key: &str,
    ) -> aws_sdk_s3::operation::head_object::HeadObjectOutput {
        self.runtime
            .block_on(self.client.head_object().bucket(bucket).key(key).send())
            .unwrap_or_else(|error| panic!("head s3://{bucket}/{key}: {error:?}"))
    }

    /// An object's bytes.
    pub fn get(&self, bucket: &str, key: &str) -> Vec<u8> {
        self.runtime.block_on(async {
            let response = self
                .client
                .get_object()
                .bucket(bucket)
                .key(key)
                .send()
                .await
                .unwrap_or_else(|error| panic!("get s3://{bucket}/{key}: {error:?}"));
            response
                .body
                .collect()
                .await
                .expect("the body")
                .into_bytes()
                .to_vec()
        })
    }
}

/// An HTTP proxy in front of an S3-compatible server that answers chosen requests with an S3
/// error instead of forwarding them: throttling (503 SlowDown), missing objects (404), as S3
/// itself would. Everything else is forwarded unchanged, one request per connection.
pub struct FaultProxy {
    /// `http://127.0.0.1:PORT`, to use as the S3 endpoint.
    pub endpoint: String,
}

/// Decides, from a request's method and path, whether to fail it: `(status, S3 error code)`.
pub type FaultRule = dyn Fn(&str, &str) -> Option<(u16, &'static str)> + Send + Sync;

impl FaultProxy {
    /// Starts the proxy; it lives as long as the test process.
    pub fn start(upstream: &str, rule: Box<FaultRule>) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        let port = listener.local_addr().expect("its address").port();
        let upstream = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_owned();
        let rule: std::sync::Arc<FaultRule> = std::sync::Arc::from(rule);
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let upstream = upstream.clone();
                let rule = std::sync::Arc::clone(&rule);
                std::thread::spawn(move || {
                    let _ = serve(client, &upstream, rule.as_ref());
                });
            }
        });
        FaultProxy {
            endpoint: format!("http://127.0.0.1:{port}"),
        }
    }
}

/// One request: read it, fail it or forward it with `Connection: close`, relay the answer.
fn serve(mut client: TcpStream, upstream: &str, rule: &FaultRule) -> std::io::Result<()> {
    use std::io::{BufRead, BufReader, Read, Write};
    let mut reader = BufReader::new(client.try_clone()?);
    let mut head = Vec::new();
    loop {
        let mut line = Vec::new();
        if reader.read_until(b'\n', &mut line)? == 0 {
            return Ok(());
        }
        let end = line == b"\r\n";
        let is_connection = line.to_ascii_lowercase().starts_with(b"connection:");
        if !end && !is_connection {
            head.extend_from_slice(&line);
        }
        if end {
            break;
        }
    }
    let head_text = String::from_utf8_lossy(&head).into_owned();
    let mut request_line = head_text.lines().next().unwrap_or_default().split(' ');
    let (method, path) = (
        request_line.next().unwrap_or_default(),
        request_line.next().unwrap_or_default(),
    );
    let length: usize = head_text
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    if let Some((status, code)) = rule(method, path) {
        let xml = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>injected by the test</Message></Error>"
        );
        let body = if method == "HEAD" { "" } else { xml.as_str() };
        write!(
            client,
            "HTTP/1.1 {status} Injected\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            xml.len()
        )?;
        return client.flush();
    }
    let mut server = TcpStream::connect(upstream)?;
    server.write_all(&head)?;
    server.write_all(b"Connection: close\r\n\r\n")?;
    server.write_all(&body)?;
    std::io::copy(&mut server, &mut client)?;
    client.flush()
}
