#!/usr/bin/env python3
"""Compaction of closed hours (issue 17, part 2): files per hour partition, bytes, and DuckDB
query time over a day of many small objects, before and after `flowatlas compact`.

A day of the small-object corpus (`flowatlas-bench corpus --small-objects`: objects of about
650 records every five minutes from each of eight interfaces) is processed the way S3 outputs
are written — one file per table, hour and object (`--batch-rows 1`; the Lambda and backfill
write each object alone) — and, for comparison, as `flowatlas process` batches by default
(one file per table, hour and worker). Then `flowatlas compact` merges every closed hour and
the same queries run again: per city-network daily sums over `city_networks` and
`client_prefixes`, as a dashboard would ask Athena, each run five times (best and median
reported). Release binaries; nothing here is asserted, only measured.

Usage: benches/compaction.py [--records N] [--keep DIR]
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import duckdb

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FLOWATLAS = os.path.join(ROOT, "target/release/flowatlas")
BENCH = os.path.join(ROOT, "target/release/flowatlas-bench")
TABLES = ["city_networks", "client_prefixes"]
QUERIES = {
    "city_networks": "SELECT city_network_id, CAST(window_start AS DATE) AS day, "
    "sum(bytes_in + bytes_out) AS bytes, sum(flows) AS flows "
    "FROM read_parquet('{files}') GROUP BY 1, 2",
    "client_prefixes": "SELECT city_network_id, CAST(window_start AS DATE) AS day, "
    "sum(bytes_in + bytes_out) AS bytes, count(DISTINCT client_prefix) AS prefixes "
    "FROM read_parquet('{files}') GROUP BY 1, 2",
}
RUNS = 5


def run(command, **kwargs):
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, **kwargs)
    return time.perf_counter() - started


def visible_files(out, table):
    """The table's files as Athena lists them: no name starting with `_` or `.`."""
    found = []
    for root, dirs, names in os.walk(os.path.join(out, table)):
        dirs[:] = [d for d in dirs if not d.startswith(("_", "."))]
        found += [os.path.join(root, n) for n in names
                  if n.endswith(".parquet") and not n.startswith(("_", "."))]
    return found


def measure(out):
    result = {}
    con = duckdb.connect()
    for table in TABLES:
        files = visible_files(out, table)
        per_hour = {}
        for path in files:
            per_hour.setdefault(os.path.dirname(path), []).append(os.path.getsize(path))
        sizes = [size for hour in per_hour.values() for size in hour]
        query = QUERIES[table].format(files=os.path.join(out, table, "dt=*", "hour=*", "*.parquet"))
        times = []
        answer = None
        for _ in range(RUNS):
            started = time.perf_counter()
            answer = con.execute(query).fetchall()
            times.append(time.perf_counter() - started)
        result[table] = {
            "files": len(files),
            "hours": len(per_hour),
            "files_per_hour": statistics.median(len(hour) for hour in per_hour.values()),
            "bytes": sum(sizes),
            "median_file_bytes": statistics.median(sizes),
            "query_best_s": min(times),
            "query_median_s": statistics.median(times),
            "groups": len(answer),
            "checksum": sum(row[2] for row in answer),
        }
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_500_000)
    parser.add_argument("--keep", help="work in this folder and keep it")
    args = parser.parse_args()
    work = args.keep or tempfile.mkdtemp(prefix="flowatlas-compaction-")
    os.makedirs(work, exist_ok=True)
    corpus_dir = os.path.join(work, "corpus")
    if not os.path.isdir(corpus_dir):
        subprocess.run([BENCH, "corpus", "--small-objects", "--records", str(args.records),
                        corpus_dir], check=True, stdout=subprocess.DEVNULL)
    logs = os.path.join(corpus_dir, "logs")
    geo = ["--asn-db", os.path.join(corpus_dir, "geo/asn.mmdb"),
           "--geo-db", os.path.join(corpus_dir, "geo/city.mmdb")]
    n_objects = sum(len(names) for _, _, names in os.walk(logs))
    report = {"objects": n_objects, "records": args.records}
    for shape, extra in [("per_object", ["--batch-rows", "1"]), ("batched", [])]:
        out = os.path.join(work, shape)
        shutil.rmtree(out, ignore_errors=True)
        process_s = run([FLOWATLAS, "process", "--threads", "2", *extra, *geo, "--out", out, logs])
        before = measure(out)
        compact_s = run([FLOWATLAS, "compact", "--data", out, "--older-than", "0"])
        after = measure(out)
        for table in TABLES:
            assert before[table]["checksum"] == after[table]["checksum"], (shape, table)
        report[shape] = {"process_s": process_s, "compact_s": compact_s,
                         "before": before, "after": after}
    json.dump(report, sys.stdout, indent=1)
    print()
    if not args.keep:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
