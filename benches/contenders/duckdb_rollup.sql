-- The DuckDB contender: the same gzip objects, the same per-window, per-/24 sums, into one
-- Parquet file. No enrichment (DuckDB has no mmdb reader), so it does less work than flowatlas.
-- benches/compare.py substitutes {objects} (a list of paths) and {out}.
COPY (
    WITH flows AS (
        SELECT
            "start" - "start" % 300 AS window_start,
            "account-id" AS account_id,
            dstaddr LIKE '10.%' AS inbound,
            CASE WHEN dstaddr LIKE '10.%' THEN srcaddr ELSE dstaddr END AS peer,
            "bytes" AS flow_bytes,
            packets
        FROM read_csv(
            {objects},
            delim = ' ',
            header = true,
            union_by_name = true,
            compression = 'gzip',
            types = {{'start': 'BIGINT', 'bytes': 'BIGINT', 'packets': 'BIGINT',
                      'srcaddr': 'VARCHAR', 'dstaddr': 'VARCHAR', 'account-id': 'VARCHAR'}}
        )
        WHERE "log-status" = 'OK'
    )
    SELECT
        make_timestamp(window_start * 1000000) AS window_start,
        account_id,
        regexp_replace(peer, '\.[0-9]+$', '.0/24') AS client_prefix,
        sum(CASE WHEN inbound THEN flow_bytes ELSE 0 END) AS bytes_in,
        sum(CASE WHEN inbound THEN 0 ELSE flow_bytes END) AS bytes_out,
        sum(packets) AS packets,
        count(*) AS records
    FROM flows
    GROUP BY ALL
) TO '{out}' (FORMAT parquet, COMPRESSION zstd);
