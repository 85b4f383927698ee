"""The Python contender: what a typical Python Lambda does with one flow-log object per
invocation. It parses each gzip object with the standard library, looks the peer up with
MaxMind's reader, sums traffic per 5-minute window and city-network, and writes one Parquet
file per object with pyarrow. Run by benches/compare.py; prints its totals as JSON so the
harness can check it agrees with flowatlas.

Usage: python_pipeline.py ASN_DB CITY_DB OUT_DIR OBJECT...
"""

import gzip
import json
import os
import sys
from collections import defaultdict

import maxminddb
import pyarrow as pa
import pyarrow.parquet as pq


def is_local(address):
    # The corpus's service addresses are all in 10.0.0.0/8.
    return address.startswith("10.")


def process_object(path, asn_reader, city_reader, out_dir):
    sums = defaultdict(lambda: [0, 0, 0, 0])
    n_records = 0
    ok_bytes = 0
    with gzip.open(path, "rt") as lines:
        columns = next(lines).split()
        src, dst = columns.index("srcaddr"), columns.index("dstaddr")
        start, status = columns.index("start"), columns.index("log-status")
        n_bytes, packets = columns.index("bytes"), columns.index("packets")
        for line in lines:
            values = line.split()
            n_records += 1
            if values[status] != "OK":
                continue
            inbound = is_local(values[dst])
            peer = values[src] if inbound else values[dst]
            asn = asn_reader.get(peer) or {}
            city = city_reader.get(peer) or {}
            key = (
                int(values[start]) // 300 * 300,
                asn.get("autonomous_system_number"),
                asn.get("autonomous_system_organization"),
                city.get("country", {}).get("iso_code"),
                city.get("city", {}).get("names", {}).get("en"),
            )
            row = sums[key]
            flow_bytes = int(values[n_bytes])
            ok_bytes += flow_bytes
            row[0 if inbound else 1] += flow_bytes
            row[2] += int(values[packets])
            row[3] += 1
    keys = list(sums)
    table = pa.table(
        {
            "window_start": pa.array([k[0] * 1000 for k in keys], pa.timestamp("ms", tz="UTC")),
            "asn": pa.array([k[1] for k in keys], pa.int64()),
            "as_name": [k[2] for k in keys],
            "country_code": [k[3] for k in keys],
            "city": [k[4] for k in keys],
            "bytes_in": pa.array([sums[k][0] for k in keys], pa.int64()),
            "bytes_out": pa.array([sums[k][1] for k in keys], pa.int64()),
            "packets": pa.array([sums[k][2] for k in keys], pa.int64()),
            "records": pa.array([sums[k][3] for k in keys], pa.int64()),
        }
    )
    name = os.path.basename(path).removesuffix(".log.gz") + ".parquet"
    pq.write_table(table, os.path.join(out_dir, name), compression="zstd")
    return n_records, ok_bytes


def main():
    asn_db, city_db, out_dir, *objects = sys.argv[1:]
    os.makedirs(out_dir, exist_ok=True)
    asn_reader = maxminddb.open_database(asn_db)
    city_reader = maxminddb.open_database(city_db)
    n_records = ok_bytes = 0
    for path in objects:
        records, object_bytes = process_object(path, asn_reader, city_reader, out_dir)
        n_records += records
        ok_bytes += object_bytes
    print(json.dumps({"records": n_records, "ok_bytes": ok_bytes}))


if __name__ == "__main__":
    main()
