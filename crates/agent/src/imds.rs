//! Where the host runs, from the EC2 instance metadata service (IMDSv2): a session token from
//! `PUT /latest/api/token`, then the instance identity document (account, Region) and the
//! placement's Availability Zone ID with that token. Plain HTTP/1.1 over a TCP connection with
//! short timeouts: off EC2 (or with the metadata service unreachable, as from a container
//! whose hop limit is 1) the agent starts after at most [`BUDGET`], with the flags' location.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// The metadata service's address on every EC2 instance.
pub const DEFAULT_ENDPOINT: &str = "http://169.254.169.254";
/// The whole lookup (token, document, AZ ID) never takes longer than this.
pub const BUDGET: Duration = Duration::from_secs(2);
/// Lifetime asked for the session token; the agent uses it at once.
const TOKEN_TTL_SECONDS: u32 = 60;
/// Larger answers are not metadata: refused rather than buffered.
const MAX_RESPONSE_BYTES: u64 = 64 * 1024;

/// What the metadata service says about the instance's location.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InstanceLocation {
    /// `accountId` of the identity document.
    pub account_id: Option<String>,
    /// `region` of the identity document.
    pub region: Option<String>,
    /// `placement/availability-zone-id`, e.g. `use1-az4`.
    pub az_id: Option<String>,
}

/// Why the metadata service gave no location.
#[derive(Debug, thiserror::Error)]
pub enum ImdsError {
    /// The endpoint is not `http://host[:port]`.
    #[error("instance metadata endpoint `{0}`: expected http://host[:port]")]
    Endpoint(String),
    /// Connecting, sending or reading failed (or took longer than the budget).
    #[error("instance metadata {path}: {source}")]
    Io {
        /// The request's path.
        path: &'static str,
        /// What the system said.
        source: std::io::Error,
    },
    /// The service answered with another status than 200.
    #[error("instance metadata {path}: HTTP status {status}")]
    Status {
        /// The request's path.
        path: &'static str,
        /// The status code.
        status: u16,
    },
    /// The answer was not HTTP, or the document not JSON.
    #[error("instance metadata {path}: unreadable answer: {why}")]
    Answer {
        /// The request's path.
        path: &'static str,
        /// What was wrong.
        why: String,
    },
}

const TOKEN_PATH: &str = "/latest/api/token";
const DOCUMENT_PATH: &str = "/latest/dynamic/instance-identity/document";
const AZ_ID_PATH: &str = "/latest/meta-data/placement/availability-zone-id";

/// Asks the metadata service at `endpoint` (`http://host[:port]`) for the instance's account,
/// Region and Availability Zone ID with the IMDSv2 token protocol, within [`BUDGET`].
pub fn instance_location(endpoint: &str) -> Result<InstanceLocation, ImdsError> {
    let address = socket_address(endpoint)?;
    let deadline = Instant::now() + BUDGET;
    let ttl = TOKEN_TTL_SECONDS.to_string();
    let token = request(
        address,
        deadline,
        "PUT",
        TOKEN_PATH,
        ("X-aws-ec2-metadata-token-ttl-seconds", &ttl),
    )?;
    let token = token.trim();
    let document = request(
        address,
        deadline,
        "GET",
        DOCUMENT_PATH,
        ("X-aws-ec2-metadata-token", token),
    )?;
    let document: serde_json::Value =
        serde_json::from_str(&document).map_err(|error| ImdsError::Answer {
            path: DOCUMENT_PATH,
            why: error.to_string(),
        })?;
    let field = |name: &str| {
        document
            .get(name)
            .and_then(serde_json::Value::as_str)
            .filter(|value| !value.is_empty())
            .map(str::to_owned)
    };
    let az_id = request(
        address,
        deadline,
        "GET",
        AZ_ID_PATH,
        ("X-aws-ec2-metadata-token", token),
    )?;
    let az_id = az_id.trim();
    Ok(InstanceLocation {
        account_id: field("accountId"),
        region: field("region"),
        az_id: (!az_id.is_empty()).then(|| az_id.to_owned()),
    })
}

fn socket_address(endpoint: &str) -> Result<SocketAddr, ImdsError> {
    let bad = || ImdsError::Endpoint(endpoint.to_owned());
    let authority = endpoint
        .strip_prefix("http://")
        .ok_or_else(bad)?
        .trim_end_matches('/');
    if authority.is_empty() || authority.contains('/') {
        return Err(bad());
    }
    let with_port = if authority
        .rsplit_once(':')
        .is_some_and(|(_, port)| !port.is_empty() && port.bytes().all(|byte| byte.is_ascii_digit()))
        && !authority.ends_with(']')
    {
        authority.to_owned()
    } else {
        format!("{authority}:80")
    };
    // Resolving a name could block past the budget; the endpoint is an address in practice.
    with_port
        .to_socket_addrs()
        .ok()
        .and_then(|mut addresses| addresses.next())
        .ok_or_else(bad)
}

/// One request on its own connection (`Connection: close`); the body of a 200 answer.
fn request(
    address: SocketAddr,
    deadline: Instant,
    method: &str,
    path: &'static str,
    header: (&str, &str),
) -> Result<String, ImdsError> {
    let io_error = |source| ImdsError::Io { path, source };
    let left = || {
        deadline
            .checked_duration_since(Instant::now())
            .filter(|left| !left.is_zero())
            .ok_or_else(|| {
                io_error(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "no answer within the time allowed",
                ))
            })
    };
    let mut stream = TcpStream::connect_timeout(&address, left()?).map_err(io_error)?;
    stream.set_write_timeout(Some(left()?)).map_err(io_error)?;
    let (name, value) = header;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\n{name}: {value}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .map_err(io_error)?;
    let mut answer = Vec::new();
    let mut chunk = [0; 4096];
    loop {
        stream.set_read_timeout(Some(left()?)).map_err(io_error)?;
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => answer.extend_from_slice(&chunk[..n]),
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(io_error(error)),
        }
        if answer.len() as u64 > MAX_RESPONSE_BYTES {
            return Err(ImdsError::Answer {
                path,
                why: format!("more than {MAX_RESPONSE_BYTES} bytes"),
            });
        }
    }
    body_of(&answer, path)
}

/// The body of an HTTP/1.x answer with status 200 (read to the end of the connection).
fn body_of(answer: &[u8], path: &'static str) -> Result<String, ImdsError> {
    let unreadable = |why: &str| ImdsError::Answer {
        path,
        why: why.to_owned(),
    };
    let text = std::str::from_utf8(answer).map_err(|_| unreadable("not UTF-8"))?;
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| unreadable("no end of headers"))?;
    let status_line = head.lines().next().unwrap_or_default();
    let status: u16 = match status_line.split(' ').collect::<Vec<_>>()[..] {
        [version, status, ..] if version.starts_with("HTTP/1.") => {
            status.parse().map_err(|_| unreadable("no status code"))?
        }
        _ => return Err(unreadable("not an HTTP answer")),
    };
    if status != 200 {
        return Err(ImdsError::Status { path, status });
    }
    if head
        .lines()
        .any(|line| line.to_ascii_lowercase().starts_with("transfer-encoding:"))
    {
        return Err(unreadable(
            "chunked answers are not expected from the metadata service",
        ));
    }
    Ok(body.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_parse() {
        assert_eq!(
            socket_address("http://169.254.169.254").unwrap(),
            "169.254.169.254:80".parse().unwrap()
        );
        assert_eq!(
            socket_address("http://127.0.0.1:8111/").unwrap(),
            "127.0.0.1:8111".parse().unwrap()
        );
        assert_eq!(
            socket_address("http://[fd00:ec2::254]").unwrap(),
            "[fd00:ec2::254]:80".parse().unwrap()
        );
        for bad in [
            "169.254.169.254",
            "https://169.254.169.254",
            "http://",
            "http://a/b",
        ] {
            assert!(socket_address(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn answers_are_checked() {
        assert_eq!(
            body_of(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", "/x").unwrap(),
            "ok"
        );
        assert!(matches!(
            body_of(b"HTTP/1.1 401 Unauthorized\r\n\r\n", "/x"),
            Err(ImdsError::Status { status: 401, .. })
        ));
        assert!(body_of(b"SSH-2.0-OpenSSH\r\n\r\n", "/x").is_err());
        assert!(body_of(b"HTTP/1.1 200 OK\r\n", "/x").is_err());
    }
}
