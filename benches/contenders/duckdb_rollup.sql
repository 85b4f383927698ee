-- The DuckDB contender: the same gzip objects, the same per-window, per-/24 sums, into one
-- Parquet file. No enrichment (DuckDB has no mmdb reader), so it does less work than flowatlas.
-- v2 and v5 objects are read by two scans, as a user who knows each flow log's format would:
-- one scan with union_by_name = true took five times as long. benches/compare.py substitutes
-- {v2_objects} and {v5_objects} (lists of paths) and {out}.
COPY (
    WITH records AS (
        SELECT "start", "account-id", srcaddr, dstaddr, "bytes", packets, "log-status"
        FROM read_csv({v2_objects}, delim = ' ', header = true, compression = 'gzip',
                      types = {{'start': 'BIGINT', 'bytes': 'BIGINT', 'packets': 'BIGINT'}})
        UNION ALL
        SELECT "start", "account-id", srcaddr, dstaddr, "bytes", packets, "log-status"
        FROM read_csv({v5_objects}, delim = ' ', header = true, compression = 'gzip',
                      types = {{'start': 'BIGINT', 'bytes': 'BIGINT', 'packets': 'BIGINT'}})
    ),
    flows AS (
        SELECT
            "start" - "start" % 300 AS window_start,
            "account-id" AS account_id,
            dstaddr LIKE '10.%' AS inbound,
            CASE WHEN dstaddr LIKE '10.%' THEN srcaddr ELSE dstaddr END AS peer,
            "bytes" AS flow_bytes,
            packets
        FROM records
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
