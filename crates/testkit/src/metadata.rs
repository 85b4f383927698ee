//! A stand-in for the EC2 instance metadata service on loopback. No real metadata service can
//! run off EC2, so this one is a mock: it speaks the IMDSv2 token protocol as AWS documents it
//! (`PUT /latest/api/token` with `X-aws-ec2-metadata-token-ttl-seconds` between 1 and 21600
//! gives a token; a GET without that token is refused with 401) and serves the instance
//! identity document and `placement/availability-zone-id` of a made-up instance. Or it accepts
//! connections and never answers, as an unreachable or firewalled service behaves.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

/// The made-up instance's account (`accountId` of its identity document).
pub const METADATA_ACCOUNT: &str = "210987654321";
/// `region` of the made-up instance's identity document.
pub const METADATA_REGION: &str = "ap-southeast-2";
/// What `placement/availability-zone-id` answers.
pub const METADATA_AZ_ID: &str = "apse2-az3";
const TOKEN: &str = "AQAEAFlowatlasTestToken==";

/// How the mock behaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetadataBehaviour {
    /// Answers as IMDSv2 does.
    Answers,
    /// Accepts connections, reads the request and never answers.
    Silent,
}

/// The mock, serving until the test process ends.
pub struct MetadataServer {
    /// `http://127.0.0.1:<port>`, for `AWS_EC2_METADATA_SERVICE_ENDPOINT`.
    pub endpoint: String,
    requests: Arc<Mutex<Vec<String>>>,
}

impl MetadataServer {
    /// Serves on a new loopback listener.
    pub fn start(behaviour: MetadataBehaviour) -> MetadataServer {
        MetadataServer::on(
            TcpListener::bind("127.0.0.1:0").expect("a loopback port"),
            behaviour,
        )
    }

    /// Serves on `listener` (bound in a network namespace, say).
    pub fn on(listener: TcpListener, behaviour: MetadataBehaviour) -> MetadataServer {
        let endpoint = format!("http://{}", listener.local_addr().expect("bound"));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = requests.clone();
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for stream in listener.incoming().flatten() {
                match behaviour {
                    MetadataBehaviour::Answers => {
                        if let Some(line) = answer(stream) {
                            seen.lock().expect("not poisoned").push(line);
                        }
                    }
                    // Kept open, unanswered, until the process ends.
                    MetadataBehaviour::Silent => held.push(stream),
                }
            }
        });
        MetadataServer { endpoint, requests }
    }

    /// The requests answered so far, as `<METHOD> <path> -> <status>`.
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().expect("not poisoned").clone()
    }
}

/// Reads one request and answers it; returns `<METHOD> <path> -> <status>`.
fn answer(stream: TcpStream) -> Option<String> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line).ok()?;
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 || line == "\r\n" {
            break;
        }
        if let Some((name, value)) = line.trim_end().split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
    }
    let header = |name: &str| {
        headers
            .iter()
            .find(|(found, _)| found == name)
            .map(|(_, value)| value.as_str())
    };
    let mut parts = request_line.split_whitespace();
    let (method, path) = (parts.next()?, parts.next()?);
    let authorised = header("x-aws-ec2-metadata-token") == Some(TOKEN);
    let (status, body) = match (method, path) {
        // IMDS refuses requests that went through a proxy.
        _ if header("x-forwarded-for").is_some() => (403, String::new()),
        ("PUT", "/latest/api/token") => match header("x-aws-ec2-metadata-token-ttl-seconds")
            .and_then(|ttl| ttl.parse::<u32>().ok())
        {
            Some(1..=21_600) => (200, TOKEN.to_owned()),
            _ => (400, String::new()),
        },
        ("GET", _) if !authorised => (401, String::new()),
        ("GET", "/latest/dynamic/instance-identity/document") => (
            200,
            format!(
                r#"{{
  "accountId" : "{METADATA_ACCOUNT}",
  "architecture" : "arm64",
  "availabilityZone" : "ap-southeast-2c",
  "imageId" : "ami-0abcdef1234567890",
  "instanceId" : "i-0123456789abcdef0",
  "instanceType" : "c7g.large",
  "pendingTime" : "2026-05-30T08:12:44Z",
  "privateIp" : "10.0.3.17",
  "region" : "{METADATA_REGION}",
  "version" : "2017-09-30"
}}"#
            ),
        ),
        ("GET", "/latest/meta-data/placement/availability-zone-id") => {
            (200, METADATA_AZ_ID.to_owned())
        }
        _ => (404, String::new()),
    };
    let mut stream = stream;
    write!(
        stream,
        "HTTP/1.1 {status} X\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .ok()?;
    Some(format!("{method} {path} -> {status}"))
}
