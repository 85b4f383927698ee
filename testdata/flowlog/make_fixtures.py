"""Regenerates the generated flow-log fixtures: one file per version with every field of that
version, the Transit Gateway default format, the canonical sample (as .log, .log.gz and
.log.parquet) and the Parquet error cases.

Field names and versions come from `flowatlas fields`, so this script holds no field list of
its own. Parquet files are written by pyarrow, a second engine, with the types AWS documents
(INT32 for version/ports/protocol/tcp-flags/traffic-path, INT64 for counts and times, STRING
otherwise; `-` is null). Run from the repository root:

    cargo build -p flowatlas-cli && python3 testdata/flowlog/make_fixtures.py target/debug/flowatlas

The hand-written fixtures (documented AWS examples, messy and malformed input) are not touched.
"""

import gzip
import io
import random
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

HERE = Path(__file__).parent
WINDOW_START = 1780315200  # 2026-06-01T12:00:00Z


def catalogue(binary):
    out = subprocess.run([binary, "fields"], check=True, capture_output=True, text=True).stdout
    fields = []
    for row in out.splitlines()[1:]:
        name, version, kind = row.split()[:3]
        fields.append((name, int(version), kind))
    return fields


def flow(version, peer, local, direction, action="ACCEPT", status="OK", seed=0):
    """Values for every field of one record, keyed by AWS name."""
    rng = random.Random(seed)
    ingress = direction == "ingress"
    src, dst = (peer, local) if ingress else (local, peer)
    sport, dport = (rng.randint(1024, 65535), 443) if ingress else (443, rng.randint(1024, 65535))
    start = WINDOW_START + rng.randint(0, 240)
    packets = rng.randint(1, 400)
    values = {
        "version": str(version),
        "account-id": "123456789012",
        "interface-id": "eni-0a1b2c3d4e5f60718",
        "srcaddr": src,
        "dstaddr": dst,
        "srcport": str(sport),
        "dstport": str(dport),
        "protocol": "6",
        "packets": str(packets),
        "bytes": str(packets * rng.randint(60, 1500)),
        "start": str(start),
        "end": str(start + rng.randint(0, 59)),
        "action": action,
        "log-status": status,
        "vpc-id": "vpc-0f1e2d3c4b5a69788",
        "subnet-id": "subnet-0123456789abcdef0",
        "instance-id": "i-0abcdef1234567890",
        "tcp-flags": "2" if ingress else "18",
        "type": "IPv6" if ":" in peer else "IPv4",
        "pkt-srcaddr": src,
        "pkt-dstaddr": dst,
        "region": "us-east-1",
        "az-id": "use1-az4",
        "sublocation-type": "-",
        "sublocation-id": "-",
        "pkt-src-aws-service": "-",
        "pkt-dst-aws-service": "-",
        "flow-direction": direction,
        "traffic-path": "-" if ingress else "8",
        "ecs-cluster-arn": "arn:aws:ecs:us-east-1:123456789012:cluster/web",
        "ecs-cluster-name": "web",
        "ecs-container-instance-arn": "-",
        "ecs-container-instance-id": "-",
        "ecs-container-id": "3f0c2a9d8e7b41c6a5d4e3f2a1b0c9d8",
        "ecs-second-container-id": "-",
        "ecs-service-name": "frontend",
        "ecs-task-definition-arn": "arn:aws:ecs:us-east-1:123456789012:task-definition/frontend:7",
        "ecs-task-arn": "arn:aws:ecs:us-east-1:123456789012:task/web/4b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e",
        "ecs-task-id": "4b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e",
        "reject-reason": "BPA" if action == "REJECT" else "-",
        "resource-id": "-",
        "encryption-status": "0",
        "instance-tag": "web%20tier",
        "instance-tag-2": "prod",
        "interface-tag": "-",
        "interface-tag-2": "-",
        "asg-tag": "frontend-asg",
        "asg-tag-2": "-",
        "interface-type": "-",
        "next-hop-interface-id": "-",
        "next-hop-subnet-id": "-",
        "next-hop-az-id": "-",
        "next-hop-vpc-id": "-",
        "next-hop-interface-type": "-",
    }
    if status != "OK":
        for name in ("srcaddr", "dstaddr", "srcport", "dstport", "protocol", "packets", "bytes",
                     "action", "tcp-flags", "pkt-srcaddr", "pkt-dstaddr", "flow-direction",
                     "traffic-path"):
            values[name] = "-"
    return values


def tgw_flow(seed):
    rng = random.Random(seed)
    start = WINDOW_START + rng.randint(0, 240)
    packets = rng.randint(1, 50)
    return {
        "version": "6", "resource-type": "TransitGatewayAttachment", "account-id": "123456789012",
        "tgw-id": "tgw-0a1b2c3d4e5f60718", "tgw-attachment-id": "tgw-attach-0a1b2c3d4e5f60718",
        "tgw-src-vpc-account-id": "123456789012", "tgw-dst-vpc-account-id": "210987654321",
        "tgw-src-vpc-id": "vpc-0aaa111122223333a", "tgw-dst-vpc-id": "vpc-0bbb444455556666b",
        "tgw-src-subnet-id": "subnet-0aaa111122223333a", "tgw-dst-subnet-id": "subnet-0bbb444455556666b",
        "tgw-src-eni": "eni-0aaa111122223333a", "tgw-dst-eni": "eni-0bbb444455556666b",
        "tgw-src-az-id": "use1-az1", "tgw-dst-az-id": "use1-az2",
        "tgw-pair-attachment-id": "tgw-attach-0bbb444455556666b",
        "srcaddr": "10.1.0.10", "dstaddr": "10.2.0.20", "srcport": str(rng.randint(1024, 65535)),
        "dstport": "5432", "protocol": "6", "packets": str(packets), "bytes": str(packets * 900),
        "start": str(start), "end": str(start + 30), "log-status": "OK", "type": "IPv4",
        "packets-lost-no-route": "0", "packets-lost-blackhole": str(rng.randint(0, 3)),
        "packets-lost-mtu-exceeded": "0", "packets-lost-ttl-expired": "0", "tcp-flags": "3",
        "region": "us-east-1", "flow-direction": "egress", "pkt-src-aws-service": "-",
        "pkt-dst-aws-service": "-",
    }


def write_text(path, names, rows, header=True):
    lines = [" ".join(names)] if header else []
    lines += [" ".join(row[name] for name in names) for row in rows]
    path.write_text("\n".join(lines) + "\n")


def versions(fields):
    out = HERE / "ok"
    for version in (2, 3, 4, 5, 7, 8, 9, 10, 11):
        names = [name for name, v, _ in fields if v <= version and v != 6]
        rows = [
            flow(version, "198.51.100.7", "10.0.1.5", "ingress", seed=1),
            flow(version, "198.51.100.7", "10.0.1.5", "egress", seed=2),
            flow(version, "2001:db8:85a3::8a2e:370:7334", "2600:1f18:abcd:1200::10", "ingress",
                 action="REJECT", seed=3),
            flow(version, "-", "-", "ingress", status="NODATA", seed=4),
        ]
        write_text(out / f"v{version}-all-fields.log", names, rows)
    tgw_names = list(tgw_flow(0).keys())
    write_text(out / "tgw-default-format.log", tgw_names, [tgw_flow(seed) for seed in range(3)])


SAMPLE_FORMAT = ("version srcaddr dstaddr srcport dstport protocol start end type packets bytes "
                 "account-id vpc-id subnet-id instance-id interface-id region az-id sublocation-type "
                 "sublocation-id action tcp-flags pkt-srcaddr pkt-dstaddr pkt-src-aws-service "
                 "pkt-dst-aws-service traffic-path flow-direction log-status").split()

SAMPLE_PEERS = ["81.2.69.142", "81.2.69.160", "89.160.20.112", "89.160.20.128", "175.16.199.7",
                "216.160.83.56", "67.43.156.14", "202.196.224.9", "2.125.160.216", "198.51.100.23",
                "203.0.113.77", "2001:218:85a3::12", "2a02:cf40:add::4", "52.95.128.179"]


def sample_rows():
    rng = random.Random(20260601)
    rows = []
    for idx in range(2000):
        peer = rng.choice(SAMPLE_PEERS)
        local = "2600:1f18:abcd:1200::10" if ":" in peer else f"10.0.{rng.randint(0, 3)}.{rng.randint(4, 250)}"
        direction = rng.choice(["ingress", "egress"])
        action = "REJECT" if rng.random() < 0.04 else "ACCEPT"
        status = "NODATA" if rng.random() < 0.005 else ("SKIPDATA" if rng.random() < 0.002 else "OK")
        row = flow(5, peer, local, direction, action=action, status=status, seed=idx)
        if peer == "52.95.128.179" and status == "OK":
            row["pkt-src-aws-service" if direction == "ingress" else "pkt-dst-aws-service"] = "S3"
        rows.append(row)
    return rows


INT32 = {"version", "srcport", "dstport", "protocol", "tcp-flags", "traffic-path"}
INT64 = {"packets", "bytes", "start", "end"}


def to_parquet(path, names, rows, column_names=None, row_group_size=500):
    arrays = []
    for name in names:
        values = [None if row[name] == "-" else row[name] for row in rows]
        if name in INT32:
            arrays.append(pa.array([None if v is None else int(v) for v in values], pa.int32()))
        elif name in INT64:
            arrays.append(pa.array([None if v is None else int(v) for v in values], pa.int64()))
        else:
            arrays.append(pa.array(values, pa.string()))
    columns = column_names or [name.replace("-", "_") for name in names]
    table = pa.Table.from_arrays(arrays, names=columns)
    pq.write_table(table, path, compression="gzip", row_group_size=row_group_size)


def sample():
    out = HERE / "sample"
    out.mkdir(exist_ok=True)
    stem = "123456789012_vpcflowlogs_us-east-1_fl-0a1b2c3d4e5f60718_20260601T1200Z_5f3a9c1e"
    rows = sample_rows()
    write_text(out / f"{stem}.log", SAMPLE_FORMAT, rows)
    text = (out / f"{stem}.log").read_bytes()
    with open(out / f"{stem}.log.gz", "wb") as raw:
        # mtime=0 keeps the file byte-for-byte reproducible.
        with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
            gz.write(text)
    to_parquet(out / f"{stem}.log.parquet", SAMPLE_FORMAT, rows)


def parquet_errors():
    out = HERE / "err"
    names = ["version", "srcaddr", "dstaddr", "dstport", "action", "log-status"]
    rows = [
        {"version": "5", "srcaddr": "198.51.100.7", "dstaddr": "10.0.1.5", "dstport": "443",
         "action": "ACCEPT", "log-status": "OK"},
        {"version": "5", "srcaddr": "not-an-address", "dstaddr": "10.0.1.5", "dstport": "443",
         "action": "ACCEPT", "log-status": "OK"},
        {"version": "5", "srcaddr": "198.51.100.7", "dstaddr": "10.0.1.5", "dstport": "70000",
         "action": "ACCEPT", "log-status": "OK"},
        {"version": "5", "srcaddr": "198.51.100.7", "dstaddr": "10.0.1.5", "dstport": "443",
         "action": "MAYBE", "log-status": "OK"},
        {"version": "5", "srcaddr": "-", "dstaddr": "-", "dstport": "-", "action": "-",
         "log-status": "NODATA"},
    ]
    to_parquet(out / "parquet-bad-values.log.parquet", names, rows)
    to_parquet(out / "parquet-unknown-column.log.parquet", names, rows[:1],
               column_names=["version", "srcaddr", "dstaddr", "dest_port", "action", "log_status"])


def parquet_corrupt_row_group():
    """Three row groups of two rows, the middle one with a page header overwritten: only its
    rows are lost, as one reject counting both."""
    names = ["version", "srcaddr", "dstaddr", "dstport", "action", "log-status"]
    rows = [
        {"version": "5", "srcaddr": f"198.51.100.{idx}", "dstaddr": "10.0.1.5", "dstport": "443",
         "action": "ACCEPT", "log-status": "OK"}
        for idx in range(1, 7)
    ]
    path = HERE / "err" / "parquet-corrupt-row-group.log.parquet"
    to_parquet(path, names, rows, row_group_size=2)
    column = pq.ParquetFile(path).metadata.row_group(1).column(1)
    offset = column.dictionary_page_offset or column.data_page_offset
    data = bytearray(path.read_bytes())
    data[offset:offset + 8] = b"\xff" * 8
    path.write_bytes(bytes(data))


def main():
    fields = catalogue(sys.argv[1])
    versions(fields)
    sample()
    parquet_errors()
    parquet_corrupt_row_group()


if __name__ == "__main__":
    main()
