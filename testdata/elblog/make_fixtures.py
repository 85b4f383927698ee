"""Regenerates the generated load-balancer log fixtures, written from the documented formats
(Elastic Load Balancing user guides: "Connection logs for your Application Load Balancer",
"Access logs for your Network Load Balancer"):

- `bucket/AWSLogs/123456789012/elasticloadbalancing/eu-west-2/2026/06/01/`: one ALB connection
  log, one NLB access log and one ALB access log (which flowatlas must skip), gzip, named as AWS
  names them. Clients are spread over the networks of `testdata/geo/*-scattered.mmdb` (London
  on two ISPs, Singapore, a country-only network in Germany, a network with no place), over
  networks the databases do not know, and over IPv6; listeners 443 and 8443 (ALB) and two TLS
  listeners (NLB); plain-HTTP connections and failed handshakes (`-`); one malformed line each.
- `bucket-expected.json`: what processing them must give, computed here from the generated
  lines, independently of the reader: handshakes, skipped and rejected lines per object, and
  handshakes per client prefix and source.
- `err/truncated.log.gz`, `err/overlong-line.log`, `err/garbage.log`: hostile input.

The hand-written cases in `ok/` and `err/` are not touched. Run from the repository root:

    python3 testdata/elblog/make_fixtures.py
"""

import gzip
import ipaddress
import json
import random
from pathlib import Path

HERE = Path(__file__).parent
WINDOW_START = 1780315200  # 2026-06-01T12:00:00Z
ACCOUNT = "123456789012"
REGION = "eu-west-2"
FOLDER = HERE / "bucket" / "AWSLogs" / ACCOUNT / "elasticloadbalancing" / REGION / "2026" / "06" / "01"

# (network, typical handshake ms, share): the RTT of each client network, as a TLS 1.3
# handshake sees it (about one round trip, plus a few ms of processing).
NETWORKS = [
    ("203.0.113.0/26", 24, 30),  # London, Albion Broadband
    ("203.0.113.64/27", 55, 15),  # London, Thames Mobile
    ("203.0.113.96/28", 190, 10),  # Singapore, Merlion Broadband
    ("203.0.113.112/28", 34, 8),  # Germany (no city), Contoso Wireless
    ("203.0.113.128/28", 12, 5),  # no place, Polder Hosting
    ("198.51.100.0/24", 95, 10),  # unknown to the databases
    ("192.0.2.0/24", 130, 7),  # unknown to the databases
    ("2001:db8:ffff::/48", 26, 10),  # London, Albion Broadband (IPv6)
    ("2001:db8:1::/48", 150, 5),  # unknown (IPv6)
]


def iso(seconds, micros=None):
    import datetime

    when = datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc)
    text = when.strftime("%Y-%m-%dT%H:%M:%S")
    return f"{text}.{micros:06d}Z" if micros is not None else text


def client(rng):
    network = ipaddress.ip_network(rng.choices(NETWORKS, [n[2] for n in NETWORKS])[0][0])
    typical = next(n[1] for n in NETWORKS if ipaddress.ip_network(n[0]) == network)
    offset = rng.randrange(1, min(network.num_addresses - 1, 1 << 20))
    address = network.network_address + offset
    # Heavy tail: a few handshakes take several times the typical (loss, a busy client).
    factor = rng.choice([4.0, 6.0]) if rng.random() < 0.03 else rng.uniform(0.85, 1.3)
    return address, typical * factor


def prefix_of(address):
    length = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{length}", strict=False))


def window_of(seconds):
    return seconds - seconds % 300


def alb_connection_lines(rng, expected):
    lines = []
    for index in range(320):
        time = WINDOW_START + rng.randrange(0, 600)
        micros = rng.randrange(1_000_000)
        address, ms = client(rng)
        port = rng.randrange(1024, 65536)
        listener = rng.choice([443, 443, 443, 8443])
        trace = f"TID_{rng.getrandbits(128):032x}"
        roll = rng.random()
        if roll < 0.10:
            # A plain-HTTP listener: no TLS values at all.
            lines.append(f"{iso(time, micros)} {address} {port} 80 - - - - - - - {trace}")
            expected["skipped"] += 1
            continue
        if roll < 0.13:
            # Mutual TLS that failed verification: the connection was not established.
            lines.append(
                f'{iso(time, micros)} {address} {port} 8443 TLSv1.2 ECDHE-RSA-AES128-GCM-SHA256 '
                f'{ms / 1000:.3f} "CN=device-{index},O=Example Devices,C=GB" '
                f"NotBefore=2025-01-01T00:00:00Z;NotAfter=2026-01-01T00:00:00Z {rng.getrandbits(64):016X} "
                f"Failed:ClientCertExpired {trace}"
            )
            expected["skipped"] += 1
            continue
        if listener == 8443:
            cert = (
                f'"CN=device-{index},O=Example Devices,L=London,C=GB" '
                f"NotBefore=2026-01-01T00:00:00Z;NotAfter=2027-01-01T00:00:00Z {rng.getrandbits(64):016X}"
            )
        else:
            cert = "- - -"
        protocol, cipher = rng.choice(
            [("TLSv1.3", "TLS_AES_128_GCM_SHA256"), ("TLSv1.2", "ECDHE-RSA-AES128-GCM-SHA256")]
        )
        lines.append(
            f"{iso(time, micros)} {address} {port} {listener} {protocol} {cipher} {ms / 1000:.3f} {cert} Success {trace}"
        )
        expected["handshakes"] += 1
        key = f"{window_of(time)} {prefix_of(address)}"
        expected["per_window_prefix"][key] = expected["per_window_prefix"].get(key, 0) + 1
    # One malformed line: a latency that is no number.
    lines.insert(137, f"{iso(WINDOW_START + 99, 1)} 203.0.113.44 50999 443 TLSv1.3 TLS_AES_128_GCM_SHA256 0.0x4 - - - Success TID_0")
    expected["rejected"] += 1
    expected["reject_lines"].append([138, "tls_handshake_latency", "invalid_number"])
    return lines


def nlb_access_lines(rng, expected):
    lines = []
    listeners = ["g3d4b5e8bb8464cd", "a1b2c3d4e5f60718"]
    for index in range(220):
        created = WINDOW_START + rng.randrange(0, 600)
        ended = created + rng.randrange(1, 30)
        address, ms = client(rng)
        port = rng.randrange(1024, 65536)
        if address.version == 6:
            client_port = f"[{address}]:{port}" if index % 2 else f"{address}:{port}"
        else:
            client_port = f"{address}:{port}"
        listener = rng.choice(listeners)
        destination = "172.31.10.5:443" if listener == listeners[0] else "172.31.10.5:8443"
        received, sent = rng.randrange(200, 5000), rng.randrange(500, 200_000)
        connection_ms = int(ms) + rng.randrange(5, 3000)
        cert = f"arn:aws:acm:{REGION}:{ACCOUNT}:certificate/2a108f19-aded-46b0-8493-c63eb1ef4a99"
        sni = "api.example.com"
        if rng.random() < 0.06:
            # A failed handshake: no handshake time, no cipher, an alert from the client.
            lines.append(
                f"tls 2.0 {iso(ended)} net/api/1234567890abcdef {listener} {client_port} {destination} "
                f"{connection_ms} - 0 0 46 {cert} - - - - {sni} - - - {iso(created)}"
            )
            expected["skipped"] += 1
            continue
        tail = f"h2 h2 h2,http/1.1 {iso(created)}"
        if index % 25 == 0:
            # A line of the format before ALPN and the creation time were added (18 fields).
            line = (
                f"tls 2.0 {iso(ended)} net/api/1234567890abcdef {listener} {client_port} {destination} "
                f"{connection_ms} {int(ms)} {received} {sent} - {cert} - ECDHE-RSA-AES128-GCM-SHA256 tlsv12 - {sni}"
            )
            handshake_time = ended
        else:
            line = (
                f"tls 2.0 {iso(ended)} net/api/1234567890abcdef {listener} {client_port} {destination} "
                f"{connection_ms} {int(ms)} {received} {sent} - {cert} - TLS_AES_128_GCM_SHA256 tlsv13 - {sni} {tail}"
            )
            handshake_time = created
        lines.append(line)
        expected["handshakes"] += 1
        expected["bytes"] += received + sent
        key = f"{window_of(handshake_time)} {prefix_of(address)}"
        expected["per_window_prefix"][key] = expected["per_window_prefix"].get(key, 0) + 1
    # One malformed line: a client without its port.
    lines.insert(
        60,
        f"tls 2.0 {iso(WINDOW_START + 60)} net/api/1234567890abcdef {listeners[0]} 203.0.113.5 172.31.10.5:443 "
        f"40 12 100 100 - - - TLS_AES_128_GCM_SHA256 tlsv13 - api.example.com h2 h2 h2 {iso(WINDOW_START + 59)}",
    )
    expected["rejected"] += 1
    expected["reject_lines"].append([61, "client:port", "invalid_address"])
    return lines


def alb_access_lines():
    return [
        'https 2026-06-01T12:00:01.123456Z app/shop/50dc6c495c0c9188 203.0.113.7:50312 172.31.3.4:80 0.000 0.002 0.000 200 200 34 366 "GET https://shop.example.com:443/ HTTP/1.1" "curl/8.5.0" TLS_AES_128_GCM_SHA256 TLSv1.3 arn:aws:elasticloadbalancing:eu-west-2:123456789012:targetgroup/shop/73e2d6bc24d8a067 "Root=1-58337262-36d228ad5d99923122bbe354" "shop.example.com" "arn:aws:acm:eu-west-2:123456789012:certificate/12345678-1234-1234-1234-123456789012" 0 2026-06-01T12:00:01.120000Z "forward" "-" "-" "172.31.3.4:80" "200" "-" "-" TID_1',
    ]


def write_gzip(path, lines):
    path.parent.mkdir(parents=True, exist_ok=True)
    data = ("\n".join(lines) + "\n").encode()
    # mtime=0: the same input gives the same bytes.
    path.write_bytes(gzip.compress(data, mtime=0))


def main():
    rng = random.Random(19)
    summary = {}
    objects = {
        f"conn_log_{ACCOUNT}_elasticloadbalancing_{REGION}_app.shop.50dc6c495c0c9188_20260601T1210Z_172.31.3.4_1a2b3c4d.log.gz": alb_connection_lines,
        f"{ACCOUNT}_elasticloadbalancing_{REGION}_net.api.1234567890abcdef_20260601T1210Z_5e6f7a8b.log.gz": nlb_access_lines,
    }
    for name, make in objects.items():
        expected = {"handshakes": 0, "skipped": 0, "rejected": 0, "bytes": 0, "reject_lines": [], "per_window_prefix": {}}
        lines = make(rng, expected)
        write_gzip(FOLDER / name, lines)
        expected["read"] = len(lines)
        summary[name] = expected
    write_gzip(
        FOLDER / f"{ACCOUNT}_elasticloadbalancing_{REGION}_app.shop.50dc6c495c0c9188_20260601T1210Z_172.31.3.4_9f8e7d6c.log.gz",
        alb_access_lines(),
    )
    (HERE / "bucket-expected.json").write_text(json.dumps(summary, indent=1, sort_keys=True) + "\n")

    # Hostile input: a gzip stream cut in the middle, a line far over the limit, binary noise.
    noisy = random.Random(3)
    good = [
        f"2026-06-01T12:00:{index:02d}.{noisy.randrange(10**6):06d}Z 203.0.113.{noisy.randrange(256)} "
        f"{noisy.randrange(1024, 65536)} 443 TLSv1.3 TLS_AES_128_GCM_SHA256 0.0{noisy.randrange(10, 99)} - - - Success "
        f"TID_{noisy.getrandbits(128):032x}"
        for index in range(12)
    ]
    whole = gzip.compress(("\n".join(good) + "\n").encode(), mtime=0)
    (HERE / "err" / "truncated.log.gz").write_bytes(whole[: len(whole) // 2])
    overlong = good[0] + " " + "x" * 70_000
    (HERE / "err" / "overlong-line.log").write_text("\n".join([good[0], overlong, good[1]]) + "\n")
    noise = random.Random(7).randbytes(4096)
    (HERE / "err" / "garbage.log").write_bytes(b"\x00\x01\x02" + noise)


if __name__ == "__main__":
    main()
