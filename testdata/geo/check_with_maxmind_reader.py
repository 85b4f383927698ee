"""Reads every test database with MaxMind's own reader (the `maxminddb` package, a second
engine) and checks it against its JSON source: each network's first address returns the data of
the most specific source network holding it, metadata matches, and unlisted addresses are empty.

    python3 testdata/geo/check_with_maxmind_reader.py
"""

import ipaddress
import json
import sys
from pathlib import Path

import maxminddb

HERE = Path(__file__).parent


def expected_for(address, networks):
    holding = [(net, data) for net, data in networks if address in net]
    if not holding:
        return None, 0
    net, data = max(holding, key=lambda item: item[0].prefixlen)
    return data, net.prefixlen


def check(source_path):
    source = json.loads(source_path.read_text())
    networks = [(ipaddress.ip_network(entry["network"]), entry["data"]) for entry in source["networks"]]
    reader = maxminddb.open_database(str(source_path.with_suffix(".mmdb")), maxminddb.MODE_FILE)
    problems = []
    meta = reader.metadata()
    for key in ("database_type", "ip_version", "build_epoch"):
        if getattr(meta, key) != source[key]:
            problems.append(f"metadata {key}: {getattr(meta, key)!r} != {source[key]!r}")
    probes = [net.network_address for net, _ in networks] + [net.broadcast_address for net, _ in networks]
    for address in probes:
        want, want_prefix = expected_for(address, networks)
        got, got_prefix = reader.get_with_prefix_len(str(address))
        if got != want:
            problems.append(f"{address}: {got!r} != {want!r}")
        elif got_prefix < want_prefix:
            problems.append(f"{address}: matched /{got_prefix}, shorter than /{want_prefix}")
    unlisted = "198.51.100.23"
    if reader.get(unlisted) is not None and not any(ipaddress.ip_address(unlisted) in n for n, _ in networks):
        problems.append(f"{unlisted} should be in no network")
    return problems


def main():
    sources = sorted(HERE.glob("*.json"))
    n_failed = 0
    for source_path in sources:
        problems = check(source_path)
        if problems:
            n_failed += 1
            print(f"{source_path.name}: FAILED")
            for problem in problems:
                print(f"  {problem}")
    print(f"mmdb check: {len(sources) - n_failed} passed, {n_failed} failed")
    sys.exit(1 if n_failed else 0)


if __name__ == "__main__":
    main()
