#!/usr/bin/env python3
"""flowatlas beside what users would otherwise pick, in one run (benches/README.md).

Builds flowatlas (release), writes the corpus (cached by size and seed), then runs every
contender in turn for several rounds, rotating the order each round so machine drift falls on
all of them alike, and measures wall time and peak RSS of each child process. Writes the
medians, the ratios against the issue's targets and the Lambda and Athena cost of a terabyte
to benches/RESULTS.md.

Usage: python3 benches/compare.py [--records N] [--rounds R] [--before BIN] [--results FILE]
"""

import argparse
import gzip
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

BENCHES = Path(__file__).resolve().parent
REPO = BENCHES.parent
CONTENDERS = BENCHES / "contenders"
PINNED = {"duckdb": "2.0.0", "maxminddb": "3.2.0", "pyarrow": "26.0.1"}

# Prices, us-east-1 (aws.amazon.com/lambda/pricing, aws.amazon.com/athena/pricing).
LAMBDA_ARM64_PER_GB_SECOND = 0.0000133334
LAMBDA_PER_MILLION_REQUESTS = 0.20
ATHENA_PER_TB_SCANNED = 5.00
BEFORE_AND_AFTER = "## Before and after (same run)"
WRITER_FLOOR = "## The Parquet writer alone"
# The settings `flowatlas-bench rewrite` writes with, by its output's keys.
REWRITE_ENCODINGS = {
    "as_written": "as flowatlas writes them",
    "uncompressed": "without compression",
    "plain": "plain",
}
# Lambda gives a function one full vCPU at 1,769 MB and a proportional share below.
LAMBDA_MB_PER_VCPU = 1769

# Targets of issue 8, as speed ratios (contender's time / flowatlas's time) in the same run.
TARGETS = [
    ("flowatlas, 1 thread, vs `gzip -dc`", "flowatlas-1", "gzip -dc", 0.8),
    ("flowatlas, all cores, vs `gzip -dc`", "flowatlas-all", "gzip -dc", 1.5),
    ("flowatlas vs DuckDB, 1 thread", "flowatlas-1", "duckdb-1", 2.0),
    ("flowatlas vs DuckDB, all cores", "flowatlas-all", "duckdb-all", 2.0),
    ("flowatlas vs the Python pipeline, 1 thread", "flowatlas-1", "python", 50.0),
    # Issue 17: as fast as decompression on one core, twice as fast on two, for busy
    # interfaces' objects and for small VPCs' objects alike.
    ("flowatlas, 1 thread, vs `gzip -dc` (issue 17)", "flowatlas-1", "gzip -dc", 1.0),
    ("flowatlas, all cores, vs `gzip -dc` (issue 17)", "flowatlas-all", "gzip -dc", 2.0),
    ("small objects, 1 thread, vs `gzip -dc`", "small-1", "gzip-small", 1.0),
    ("small objects, all cores, vs `gzip -dc`", "small-all", "gzip-small", 2.0),
]
# Issue 17: `--flows` per core.
FLOWS_TARGET_PER_S = 1_000_000
RSS_TARGET_MIB = 256
SMALL_CORPUS_RECORDS = 304 * 650
PARSE_TARGET_PER_S = 4_000_000


@dataclass
class Contender:
    key: str
    name: str
    threads: str
    enriches: str
    command: list
    out_dir: Path | None = None
    seconds: list = field(default_factory=list)
    peak_rss_kib: list = field(default_factory=list)
    outputs: list = field(default_factory=list)
    corpus: dict | None = None


def run_child(command, keep_stdout=True):
    """Runs a command; returns wall seconds, peak RSS (KiB) and stdout. Fails loudly.

    GNU time starts the command and reports its peak RSS: Linux carries a child's peak RSS
    across the exec from the process that forked it, so measured straight from Python every
    program would look at least as large as Python; GNU time's own few MB are the floor here.
    Output goes to temporary files, so a chatty child never blocks.
    """
    with tempfile.TemporaryFile() as stdout, tempfile.NamedTemporaryFile() as rss:
        started = time.perf_counter()
        child = subprocess.run(
            ["/usr/bin/time", "-f", "%M", "-o", rss.name, *map(str, command)],
            stdout=stdout if keep_stdout else subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        seconds = time.perf_counter() - started
        if child.returncode != 0:
            sys.exit(f"{' '.join(map(str, command))}: exit {child.returncode}\n"
                     f"{child.stderr.decode()}")
        stdout.seek(0)
        return seconds, int(Path(rss.name).read_text().split()[-1]), stdout.read().decode()


def cargo_target_dir():
    metadata = subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--no-deps"],
        cwd=REPO, check=True, capture_output=True, text=True,
    )
    return Path(json.loads(metadata.stdout)["target_directory"])


def build():
    subprocess.run(
        ["cargo", "build", "--release", "--locked", "-p", "flowatlas-cli",
         "-p", "flowatlas-benches", "--bins"],
        cwd=REPO, check=True,
    )
    release = cargo_target_dir() / "release"
    return release / "flowatlas", release / "flowatlas-bench"


def corpus(helper, records, seed, one_object=False, small=False):
    """The corpus for these parameters, written once and reused."""
    name = (f"{records}-records-seed-{seed}" + ("-one-object" if one_object else "")
            + ("-small-objects" if small else ""))
    folder = cargo_target_dir() / "bench-corpus" / name
    summary_path = folder / "corpus.json"
    if not summary_path.exists():
        shutil.rmtree(folder, ignore_errors=True)
        command = [helper, "corpus", "--records", str(records), "--seed", str(seed), folder]
        if one_object:
            command.insert(2, "--one-object")
        if small:
            command.insert(2, "--small-objects")
        _, _, output = run_child(command)
        summary_path.write_text(output)
    return json.loads(summary_path.read_text())


def check_versions():
    from importlib.metadata import version

    found = {package: version(package) for package in PINNED}
    for package, wanted in PINNED.items():
        if found[package] != wanted:
            print(f"warning: {package} {found[package]} (pinned: {wanted})", file=sys.stderr)
    return found


def contenders(flowatlas, helper, before, data, big, small, scratch, cores):
    objects = data["objects"]
    databases = ["--asn-db", data["asn_db"], "--geo-db", data["city_db"]]
    duckdb_sql = (CONTENDERS / "duckdb_rollup.sql").read_text()
    by_version = {2: [], 5: []}
    for path in objects:
        with gzip.open(path, "rt") as text:
            by_version[5 if len(text.readline().split()) > 14 else 2].append(path)
    if not (by_version[2] and by_version[5]):
        sys.exit("the corpus is too small to hold v2 and v5 objects: raise --records")

    def flowatlas_run(key, name, binary, threads, flows, corpus=data):
        out = scratch / key
        command = [binary, "process", "--json", "--out", out, "--threads", str(threads),
                   *databases, *(["--flows"] if flows else []), *corpus["objects"]]
        label = "1" if threads == 1 else f"all ({cores})"
        return Contender(key, name, label, "yes", command, out, corpus=corpus)

    def duckdb_run(key, threads):
        out = scratch / key
        sql = duckdb_sql.format(
            v2_objects=json.dumps(by_version[2]),
            v5_objects=json.dumps(by_version[5]),
            out=out / "rollup.parquet",
        )
        program = (
            "import duckdb, json, sys\n"
            f"db = duckdb.connect(config={{'threads': {threads}}})\n"
            "db.execute(sys.argv[1])\n"
            "total = db.execute('SELECT sum(bytes_in + bytes_out) FROM read_parquet(?)',\n"
            "                   [sys.argv[2]]).fetchone()[0]\n"
            "print(json.dumps({'ok_bytes': total}))\n"
        )
        command = [sys.executable, "-c", program, sql, out / "rollup.parquet"]
        label = "1" if threads == 1 else f"all ({cores})"
        return Contender(key, "DuckDB, per-window per-/24 sums", label, "no", command, out)

    runs = [
        Contender("gzip -dc", "`gzip -dc` (decompression only)", "1", "-",
                  ["gzip", "-dc", *objects]),
        Contender("inflate", "flowatlas's decoder (zlib-rs, decompression only)", "1", "-",
                  [helper, "gunzip", *objects]),
        flowatlas_run("flowatlas-1", "flowatlas process", flowatlas, 1, False),
        flowatlas_run("flowatlas-all", "flowatlas process", flowatlas, cores, False),
        flowatlas_run("flowatlas-flows-1", "flowatlas process --flows", flowatlas, 1, True),
        flowatlas_run("flowatlas-flows-all", "flowatlas process --flows", flowatlas, cores, True),
        duckdb_run("duckdb-1", 1),
        duckdb_run("duckdb-all", cores),
        Contender("python", "Python pipeline (maxminddb + pyarrow)", "1", "yes",
                  [sys.executable, CONTENDERS / "python_pipeline.py", data["asn_db"],
                   data["city_db"], scratch / "python", *objects], scratch / "python"),
        flowatlas_run("one-object", "flowatlas process, the corpus as one object", flowatlas,
                      1, False, big),
        flowatlas_run("one-object-flows", "flowatlas process --flows, one object", flowatlas,
                      1, True, big),
        Contender("gzip-small", "`gzip -dc`, small objects", "1", "-",
                  ["gzip", "-dc", *small["objects"]], corpus=small),
        Contender("inflate-small", "flowatlas's decoder, small objects", "1", "-",
                  [helper, "gunzip", *small["objects"]], corpus=small),
        flowatlas_run("small-1", "flowatlas process, small objects", flowatlas, 1, False,
                      small),
        flowatlas_run("small-all", "flowatlas process, small objects", flowatlas, cores,
                      False, small),
    ]
    if before:
        runs.append(flowatlas_run("before-1", f"flowatlas process before ({before.name})",
                                  before, 1, False))
        runs.append(flowatlas_run("before-all", f"flowatlas process before ({before.name})",
                                  before, cores, False))
        runs.append(flowatlas_run("before-small-1", f"before ({before.name}), small objects",
                                  before, 1, False, small))
        runs.append(flowatlas_run("before-small-all", f"before ({before.name}), small objects",
                                  before, cores, False, small))
    return runs


def set_aside(out_dir, name):
    """Moves an earlier run's output out of the way, to be deleted when every run is done.
    Deleting it here made the next run slower than the tool is: on a file system without a
    journal (this machine's ext4), creating a file passes over the inodes deleted in the last
    half-minute one by one, so a small-objects run after another's hundreds of deleted files
    paid for them in its system time."""
    if out_dir.exists():
        spent = out_dir.parent / "_spent"
        spent.mkdir(parents=True, exist_ok=True)
        out_dir.rename(spent / name)


def measure(runs, rounds):
    for round_index in range(rounds):
        shift = round_index % len(runs)
        for contender in runs[shift:] + runs[:shift]:
            if contender.out_dir:
                set_aside(contender.out_dir, f"{contender.key}-{round_index}")
                contender.out_dir.mkdir(parents=True)
            keep_stdout = not contender.key.startswith("gzip")
            seconds, rss, output = run_child(contender.command, keep_stdout)
            contender.seconds.append(seconds)
            contender.peak_rss_kib.append(rss)
            contender.outputs.append(output)
            print(f"round {round_index + 1}: {contender.key:<20} {seconds:7.2f} s "
                  f"{rss / 1024:7.1f} MiB", file=sys.stderr)


def check_agreement(by_key, data, small):
    """flowatlas, the Python pipeline and DuckDB must have summed the same traffic."""
    ok_bytes = {}
    for key in ("flowatlas-1", "python", "duckdb-1"):
        ok_bytes[key] = json.loads(by_key[key].outputs[-1].strip().splitlines()[-1])["ok_bytes"]
    if len(set(ok_bytes.values())) != 1:
        sys.exit(f"contenders disagree on the OK bytes: {ok_bytes}")
    records = json.loads(by_key["flowatlas-1"].outputs[-1])["records"]["read"]
    if records != data["records"]:
        sys.exit(f"flowatlas read {records} records of {data['records']}")
    small_records = json.loads(by_key["small-1"].outputs[-1])["records"]["read"]
    if small_records != small["records"]:
        sys.exit(f"flowatlas read {small_records} records of {small['records']}")
    return ok_bytes["flowatlas-1"]


def parse_speed(helper, data, rounds):
    best = None
    for _ in range(rounds):
        _, _, output = run_child([helper, "parse-text", *data["objects"]])
        result = json.loads(output)
        if best is None or result["seconds"] < best["seconds"]:
            best = result
    return best


def visible_parquet(table_dir):
    """A table's files a reader sees: no part of the path under the table starts with `_`
    or `.` (temporary and journal files)."""
    return sorted(
        str(path) for path in table_dir.rglob("*.parquet")
        if not any(part.startswith(("_", ".")) for part in path.relative_to(table_dir).parts)
    )


def writer_floor(helper, by_key, rounds):
    """What writing the rows costs in the Parquet writer alone, under everything that makes
    them: `flowatlas-bench rewrite` over the last round's files of the one-thread `--flows`
    run (its `flows` table) and of the one-thread runs over busy and small objects (their
    rollup tables). Medians of `rounds`."""
    floors = {}
    rollups = ["city_networks", "client_prefixes"]
    for key, contender, tables in (
        ("flows", "flowatlas-flows-1", ["flows"]),
        ("busy", "flowatlas-1", rollups),
        ("small", "small-1", rollups),
    ):
        out = by_key[contender].out_dir
        files = [path for table in tables for path in visible_parquet(out / table)]
        flag = ["--flows"] if key == "flows" else []
        results = [json.loads(run_child([helper, "rewrite", *flag, *files])[2])
                   for _ in range(rounds)]
        floors[key] = {"rows": results[0]["rows"], "files": results[0]["files"]}
        for encoding in REWRITE_ENCODINGS:
            floors[key][encoding] = {
                "seconds": statistics.median(result[encoding]["seconds"] for result in results),
                "bytes": results[0][encoding]["bytes"],
            }
    return floors


def writer_floor_lines(floors, median, records, small, parse, rounds):
    lines = [
        "",
        WRITER_FLOOR,
        "",
        "`flowatlas-bench rewrite` reads the files of the last round into memory, then times "
        "only writing their rows again, into memory (median of "
        f"{rounds} rounds): with the settings flowatlas writes them with, without compression, "
        "and plain (no compression, dictionaries or statistics: the least arrow-rs's writer "
        "does). Whatever makes the rows comes on top.",
        "",
        "| Rows | Settings | Time (s) | µs per row | Size (MB) |",
        "|---|---|---:|---:|---:|",
    ]
    labels = {
        "flows": "`flows` of the busy corpus",
        "busy": "rollup tables of the busy corpus",
        "small": "rollup tables of the small objects",
    }
    for key, floor in floors.items():
        for encoding, label in REWRITE_ENCODINGS.items():
            written = floor[encoding]
            lines.append(
                f"| {labels[key]} ({floor['rows']:,} rows, {floor['files']} files) | {label} | "
                f"{written['seconds']:.3f} | {written['seconds'] / floor['rows'] * 1e6:.2f} | "
                f"{written['bytes'] / 1e6:.1f} |"
            )
    # What no run can skip beside writing: decompressing with flowatlas's decoder, and parsing
    # at the rate of v2 text from memory (v5 lines, with twice the fields, parse slower).
    lines.append("")
    parse_rate = parse["records"] / parse["seconds"]
    for key, budget, inflate, n_records, run, goal in (
        ("flows", records / FLOWS_TARGET_PER_S, median["inflate"], records, "flowatlas-flows-1",
         f"`--flows` at {FLOWS_TARGET_PER_S / 1e6:.0f} M records/s per core"),
        ("busy", median["gzip -dc"], median["inflate"], records, "flowatlas-1",
         "Busy objects at 1.0× `gzip -dc` on one core"),
        ("small", median["gzip-small"], median["inflate-small"], small["records"], "small-1",
         "Small objects at 1.0× `gzip -dc` on one core"),
    ):
        writer = floors[key]["as_written"]["seconds"]
        parsing = n_records / parse_rate
        floor = writer + inflate + parsing
        lines.append(
            f"- {goal}: {budget:.3f} s for the corpus. Writing the rows alone took "
            f"{writer:.3f} s, decompressing {inflate:.3f} s, parsing at least "
            f"{parsing:.3f} s: {floor:.3f} s, {floor / budget:.0%} of it. The rest of the run "
            f"(finding peers, enriching, rolling up, making rows, opening objects, creating "
            f"files) took {median[run] - floor:.3f} s and would have to take "
            f"{max(budget - floor, 0):.3f} s."
        )
    return lines


def machine(versions):
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    memory_kib = next(
        int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal")
    )
    rustc = subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip()
    gzip = subprocess.run(["gzip", "--version"], capture_output=True, text=True).stdout
    return [
        f"CPU: {cpu}, {os.cpu_count()} cores; memory {memory_kib / 1024 / 1024:.0f} GiB",
        f"OS: {platform.system()} {platform.release()} ({platform.machine()})",
        f"{rustc}; {gzip.splitlines()[0]}; Python {platform.python_version()}; "
        + ", ".join(f"{package} {version}" for package, version in versions.items()),
    ]


def lambda_cost_per_tb(gzip_bytes_per_second, object_bytes):
    """Dollars to process 1 TB of gzip objects with one function per object.

    Below 1,769 MB Lambda's CPU share shrinks in proportion to memory, so the duration grows
    as the memory shrinks and the GB-seconds stay those of one full vCPU: the cost is the
    same at any memory size between what the run needed and 1,769 MB.
    """
    one_vcpu_seconds = 1e12 / gzip_bytes_per_second
    compute = one_vcpu_seconds * LAMBDA_MB_PER_VCPU / 1024 * LAMBDA_ARM64_PER_GB_SECOND
    requests = 1e12 / object_bytes / 1e6 * LAMBDA_PER_MILLION_REQUESTS
    return compute + requests


def memory_size_mb(peak_rss_kib):
    """The smallest Lambda memory size (in steps of 64 MB, at least 128) above a peak RSS."""
    mib = peak_rss_kib / 1024
    return max(128, int(-(-mib * 1.1 // 64)) * 64)


def report(runs, data, big, small, ok_bytes, parse, floors, versions, rounds, results):
    by_key = {contender.key: contender for contender in runs}
    median = {key: statistics.median(c.seconds) for key, c in by_key.items()}
    peak = {key: max(c.peak_rss_kib) for key, c in by_key.items()}
    records, gzip_bytes, text_bytes = data["records"], data["gzip_bytes"], data["text_bytes"]
    object_bytes = gzip_bytes / len(data["objects"])
    lines = [
        "# Benchmark results",
        "",
        "Written by `python3 benches/compare.py` (see `benches/README.md`); every number below "
        "was measured in the run that wrote this file.",
        "",
        "## Machine",
        "",
        *[f"- {line}" for line in machine(versions)],
        f"- Run: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {rounds} rounds, "
        "contenders alternated, medians shown; peak RSS is the largest of the rounds",
        "",
        "## Corpus",
        "",
        f"- {records:,} records ({data['v5_records']:,} of them in v5 objects with all 29 v5 "
        f"fields, the rest default v2) in {len(data['objects'])} gzip objects under AWS's S3 key "
        f"layout: {gzip_bytes / 1e6:.1f} MB gzip, {text_bytes / 1e6:.1f} MB text "
        f"(objects of {min_max_object_mb(data)} MB)",
        f"- peers Zipf-distributed over {data['networks']:,} /24 networks (600 ASNs, 240 cities), "
        "a pair of records per accepted connection, rejected scans, UDP",
        f"- the one-object runs read the same number of records as a single object of "
        f"{big['gzip_bytes'] / 1e6:.1f} MB gzip ({big['text_bytes'] / 1e6:.1f} MB text)",
        f"- small objects (a small VPC's five minutes): {small['records']:,} records in "
        f"{len(small['objects'])} objects, {small['gzip_bytes'] / len(small['objects']) / 1e3:.1f} KB "
        f"gzip and {small['records'] / len(small['objects']):.0f} records each on average; "
        "the same world and databases",
        f"- every run summed the same {ok_bytes:,} OK bytes (flowatlas, DuckDB and the Python "
        "pipeline checked against each other)",
        "",
        "## Throughput and memory",
        "",
        "| Contender | Threads | Enriches | Time (s) | Records/s | gzip MB/s | text MB/s | Peak RSS (MiB) |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for contender in runs:
        key = contender.key
        seconds = median[key]
        read = contender.corpus or data
        lines.append(
            f"| {contender.name} | {contender.threads} | {contender.enriches} | {seconds:.2f} | "
            f"{read['records'] / seconds / 1e6:.2f} M | {read['gzip_bytes'] / seconds / 1e6:.1f} | "
            f"{read['text_bytes'] / seconds / 1e6:.1f} | {peak[key] / 1024:.1f} |"
        )
    lines += [
        "",
        "DuckDB computes per-window, per-/24 sums without enrichment (it has no mmdb reader), "
        "so it does less work than flowatlas and the Python pipeline. The one-object rows read "
        "the corpus as one object.",
        "",
        "## Against the targets",
        "",
        "| Target | Measured | Wanted | Met |",
        "|---|---:|---:|---|",
    ]
    for label, ours, theirs, wanted in TARGETS:
        ratio = median[theirs] / median[ours]
        lines.append(f"| {label} | {ratio:.2f}× | ≥ {wanted}× | {'yes' if ratio >= wanted else 'no'} |")
    flows_rate = records / median["flowatlas-flows-1"]
    lines.append(
        f"| `--flows`, 1 thread (issue 17) | {flows_rate / 1e6:.2f} M records/s | "
        f"≥ {FLOWS_TARGET_PER_S / 1e6:.0f} M | {'yes' if flows_rate >= FLOWS_TARGET_PER_S else 'no'} |"
    )
    single_object_peak = max(peak["one-object"], peak["one-object-flows"]) / 1024
    lines.append(
        f"| Peak RSS, one {big['gzip_bytes'] / 1e6:.0f} MB object (with and without `--flows`) | "
        f"{single_object_peak:.1f} MiB | < {RSS_TARGET_MIB} MiB | "
        f"{'yes' if single_object_peak < RSS_TARGET_MIB else 'no'} |"
    )
    parse_rate = parse["records"] / parse["seconds"]
    lines.append(
        f"| Parsing v2 text from memory, 1 core ({parse['records']:,} records) | "
        f"{parse_rate / 1e6:.2f} M records/s | ≥ {PARSE_TARGET_PER_S / 1e6:.0f} M | "
        f"{'yes' if parse_rate >= PARSE_TARGET_PER_S else 'no'} |"
    )
    lines += writer_floor_lines(floors, median, records, small, parse, rounds)
    if "before-1" in by_key:
        lines += [
            "",
            BEFORE_AND_AFTER,
            "",
            "| Objects | Threads | Before (s) | After (s) | Speed-up |",
            "|---|---|---:|---:|---:|",
        ]
        for before, after, corpus_name in (
            ("before-1", "flowatlas-1", "busy"),
            ("before-all", "flowatlas-all", "busy"),
            ("before-small-1", "small-1", "small"),
            ("before-small-all", "small-all", "small"),
        ):
            lines.append(
                f"| {corpus_name} | {by_key[after].threads} | {median[before]:.2f} | "
                f"{median[after]:.2f} | {median[before] / median[after]:.2f}× |"
            )
        lines += ["", "What the profile showed and what changed: [README.md](README.md#profile)."]
    lines += [
        "",
        "## Cost of 1 TB of gzip flow logs",
        "",
        f"Lambda on arm64 at ${LAMBDA_ARM64_PER_GB_SECOND:.10f} per GB-second and "
        f"${LAMBDA_PER_MILLION_REQUESTS:.2f} per million requests, one invocation per object "
        f"of this corpus's mean size ({object_bytes / 1e6:.2f} MB), at the one-thread "
        "throughput measured above. Lambda's CPU share is proportional to memory up to one "
        f"vCPU at {LAMBDA_MB_PER_VCPU} MB, so any memory size from the one the run needs to "
        f"{LAMBDA_MB_PER_VCPU} MB costs the same; above it a single thread gains nothing.",
        "",
        "| Route | Memory needed (MB) | Cost per TB |",
        "|---|---:|---:|",
    ]
    for key, label in (
        ("flowatlas-1", "flowatlas (rollups)"),
        ("flowatlas-flows-1", "flowatlas (rollups and `flows`)"),
        ("duckdb-1", "DuckDB (no enrichment)"),
        ("python", "Python pipeline"),
    ):
        needed = peak[key]
        if key.startswith("flowatlas"):
            needed = max(needed, peak["one-object-flows" if "flows" in key else "one-object"])
        cost = lambda_cost_per_tb(gzip_bytes / median[key], object_bytes)
        lines.append(f"| Lambda, {label} | {memory_size_mb(needed)} | ${cost:.2f} |")
    lines += [
        f"| Athena over the raw gzip text, per query (bytes scanned × ${ATHENA_PER_TB_SCANNED:.2f}/TB) "
        f"| - | ${ATHENA_PER_TB_SCANNED:.2f} |",
        "",
        "Athena's figure is paid again by every query over the raw logs; flowatlas's is paid "
        "once, and queries then scan the small rollup tables.",
        "",
    ]
    results.write_text("\n".join(lines + kept_sections(results, lines)))


def kept_sections(results, lines):
    """The sections of the results file that this script does not write (measured by hand or
    by the other benches), in their order, so that rewriting the file keeps them."""
    if not results.exists():
        return []
    # "Before and after" is this script's too, written only when given --before.
    written = {line for line in lines if line.startswith("## ")} | {BEFORE_AND_AFTER}
    kept, keeping = [], False
    for line in results.read_text().split("\n"):
        if line.startswith("## "):
            keeping = line not in written
        if keeping:
            kept.append(line)
    return kept


def min_max_object_mb(data):
    sizes = [os.path.getsize(path) for path in data["objects"]]
    return f"{min(sizes) / 1e6:.2f} to {max(sizes) / 1e6:.2f}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=2_000_000, help="corpus size")
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--before", type=Path, help="an earlier flowatlas binary to compare")
    parser.add_argument("--results", type=Path, default=BENCHES / "RESULTS.md")
    args = parser.parse_args()

    versions = check_versions()
    flowatlas, helper = build()
    data = corpus(helper, args.records, args.seed, one_object=False)
    big = corpus(helper, args.records, args.seed, one_object=True)
    # Issue 17's small-object corpus: about 304 objects of about 650 records.
    small = corpus(helper, SMALL_CORPUS_RECORDS, args.seed, small=True)
    cores = os.cpu_count() or 1
    scratch = cargo_target_dir() / "bench-scratch"
    runs = contenders(flowatlas, helper, args.before, data, big, small, scratch, cores)
    measure(runs, args.rounds)
    by_key = {contender.key: contender for contender in runs}
    ok_bytes = check_agreement(by_key, data, small)
    parse = parse_speed(helper, data, args.rounds)
    floors = writer_floor(helper, by_key, args.rounds)
    report(runs, data, big, small, ok_bytes, parse, floors, versions, args.rounds, args.results)
    shutil.rmtree(scratch, ignore_errors=True)
    print(f"wrote {args.results}", file=sys.stderr)


if __name__ == "__main__":
    main()
